//! Report-log records as read back from the store: never a panic, and a
//! record that decodes encodes to exactly the bytes it came from (the
//! format is canonical: shortest varints, no trailing bytes). The same
//! bytes read as a spool (what a crash left beside the log): never a
//! panic, and the whole frames found encode back to the prefix they came
//! from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = reportlog::codec::decode(data) {
        assert_eq!(reportlog::codec::to_bytes(&r), data);
    }
    let (frames, used) = reportlog::spool::decode_frames(data);
    assert!(used <= data.len());
    let mut again = Vec::new();
    for (sid, r) in &frames {
        reportlog::spool::encode_frame(*sid, r, &mut again);
    }
    assert_eq!(again, &data[..used]);
});
