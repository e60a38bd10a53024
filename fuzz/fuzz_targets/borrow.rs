//! Borrow records read back from their stores: vendord's borrow store
//! (our own layout) and the client's (`redb` tuple values). No panic; what
//! decodes encodes back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redb::Value;

/// The client store's value: (version, count, expiry, borrowed_at, until,
/// server, handle, seal), as `client::borrow` declares it.
type ClientValue<'a> = (&'a str, u32, &'a str, u64, u64, &'a str, u64, &'a [u8]);

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        if let Some(r) = vendord::borrow_store::decode(7, bytes) {
            assert_eq!(r.handle, 7);
            assert_eq!(vendord::borrow_store::encode(&r), bytes);
        }
    } else {
        // redb checks its pages, not the values in them; a damaged or
        // edited store file hands these bytes straight to the decoder.
        let v = <ClientValue<'_> as Value>::from_bytes(bytes);
        let again = <ClientValue<'_> as Value>::as_bytes(&v);
        let back = <ClientValue<'_> as Value>::from_bytes(again.as_ref());
        assert_eq!(back, v);
    }
});
