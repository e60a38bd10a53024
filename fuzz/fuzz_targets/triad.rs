//! The triad's byte codecs, fed by peers and by its store: raft messages,
//! log entries, hard and membership state, snapshot metadata, proposal
//! batches, and vendord's replicated accounting batches. None may panic;
//! whatever decodes encodes back to the same bytes (the encodings are
//! canonical), and decodes again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use triad::codec;
use accounting::Batch;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(m) = codec::decode_message(bytes) {
                let again = codec::encode_message(&m);
                assert_eq!(again, bytes);
                assert_eq!(codec::decode_message(&again).as_ref(), Ok(&m));
            }
        }
        1 => {
            if let Ok(e) = codec::decode_entry(bytes) {
                let again = codec::encode_entry(&e);
                assert_eq!(again, bytes);
                assert_eq!(codec::decode_entry(&again).as_ref(), Ok(&e));
            }
        }
        2 => {
            if let Ok(h) = codec::decode_hard_state(bytes) {
                assert_eq!(codec::encode_hard_state(&h), bytes);
            }
        }
        3 => {
            if let Ok(c) = codec::decode_conf_state(bytes) {
                let again = codec::encode_conf_state(&c);
                assert_eq!(again, bytes);
                assert_eq!(codec::decode_conf_state(&again).as_ref(), Ok(&c));
            }
        }
        4 => {
            if let Ok(m) = codec::decode_snapshot_metadata(bytes) {
                let again = codec::encode_snapshot_metadata(&m);
                assert_eq!(again, bytes);
                assert_eq!(codec::decode_snapshot_metadata(&again).as_ref(), Ok(&m));
            }
        }
        5 => {
            if let Ok(payloads) = triad::member::decode_batch(bytes) {
                let total: usize = payloads.iter().map(Vec::len).sum();
                assert!(total <= bytes.len());
                let batch: Vec<_> = payloads
                    .iter()
                    .cloned()
                    .map(|p| (triad::ProposalId(0), p))
                    .collect();
                let proposer = u64::from_be_bytes(bytes[1..9].try_into().unwrap());
                let incarnation = u64::from_be_bytes(bytes[9..17].try_into().unwrap());
                let again = triad::member::encode_batch(proposer, incarnation, &batch);
                assert_eq!(again, bytes);
            }
        }
        _ => {
            if let Ok(b) = Batch::decode(bytes) {
                let again = b.encode();
                assert_eq!(Batch::decode(&again).as_ref(), Ok(&b));
                assert_eq!(Batch::header(&again).ok(), Some((b.origin, b.seq)));
            }
        }
    }
});
