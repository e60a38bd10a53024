//! Report-log records as read back from the store: never a panic, and a
//! record that decodes encodes to exactly the bytes it came from (the
//! format is canonical: shortest varints, no trailing bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = reportlog::codec::decode(data) {
        assert_eq!(reportlog::codec::to_bytes(&r), data);
    }
});
