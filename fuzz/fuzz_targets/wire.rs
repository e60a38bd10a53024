//! The TCP protocol's decoders: `Message::decode` on one payload, and the
//! incremental `MessageDecoder` on a byte stream cut into chunks. Neither
//! may panic; what decodes must encode and decode back to itself; the
//! decoder never holds more than it was fed. Decoding in place
//! (`MessageRef::decode`) must agree with `Message::decode` on every payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::{Message, MessageDecoder, MessageRef};

fn round_trips(m: &Message) {
    let bytes = m.to_frame_bytes();
    let mut d = MessageDecoder::new(bytes.len());
    d.feed(&bytes);
    let back = d.next_message().expect("own encoding decodes");
    assert_eq!(back.as_ref(), Some(m), "decode(encode(m)) != m");
    assert_eq!(d.buffered(), 0);
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    if head & 1 == 0 {
        // One payload: the next byte is the message type.
        let Some((&kind, payload)) = rest.split_first() else {
            return;
        };
        let decoded = Message::decode(kind, payload);
        let in_place = MessageRef::decode(kind, payload).map(MessageRef::into_owned);
        assert_eq!(in_place, decoded, "decoding in place differs");
        if let Ok(m) = decoded {
            assert_eq!(m.kind(), kind);
            round_trips(&m);
        }
        return;
    }
    // A stream fed in chunks of 1..=128 bytes.
    let chunk = usize::from(head >> 1) + 1;
    let mut d = MessageDecoder::new(wire::frame::DEFAULT_MAX_PAYLOAD);
    let mut fed = 0;
    for piece in rest.chunks(chunk) {
        d.feed(piece);
        fed += piece.len();
        assert!(d.buffered() <= fed, "buffered more than fed");
        loop {
            match d.next_message() {
                Ok(Some(m)) => round_trips(&m),
                Ok(None) => break,
                // A bad frame ends the connection.
                Err(_) => return,
            }
        }
    }
});
