//! Borrow records read back from their stores: vendord's borrow store and
//! the client's (`client::borrow_record`), both our own versioned codecs
//! over plain bytes (redb holds only `u64` and `&[u8]` keys and values).
//! No panic; what decodes encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        if let Some(r) = vendord::borrow_store::decode(7, bytes) {
            assert_eq!(r.handle, 7);
            let again = vendord::borrow_store::encode(&r);
            assert_eq!(vendord::borrow_store::decode(7, &again), Some(r));
            // Records are written in the latest layout; one of layout 1
            // (no return hash) reads, and is written back in layout 2.
            if bytes.first() != Some(&1) {
                assert_eq!(again, bytes);
            }
        }
    } else {
        // A client record is a key and a value: the selector's other bits
        // say where the key ends, so both halves are damaged at will (a
        // damaged or edited store file hands these bytes to the decoder).
        let cut = usize::from(which >> 1).min(bytes.len());
        let (key, value) = bytes.split_at(cut);
        let decoded = client::borrow_record::decode(key, value);
        if let Ok(r) = decoded {
            assert_eq!(client::borrow_record::encode_key(&r.vendor, &r.feature), key);
            assert_eq!(client::borrow_record::encode_value(&r), value);
        }
        let _ = client::borrow_record::until_of(value);
    }
});
