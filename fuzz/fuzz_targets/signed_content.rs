//! What an application reads from a grant: the signed content of license
//! lines (`content_fields`), SIGN= values, and the grant proof check.
//! Content is signed with the demo key so that the check gets past the
//! signature to the line reader. Nothing may panic; content built from
//! fields reads back as those fields.
#![no_main]

use grammar::publisher::{Publisher, SignedLine};
use grammar::signature::{content_fields, read_pem_private_key, sign_content, SignField};
use grammar::{Date, Version};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const DEMO_KEY: &str = include_str!("../../examples/licenses/demo.key");

fn signed(content: &[u8]) -> SignedLine {
    static KEY: OnceLock<ed25519_dalek::SigningKey> = OnceLock::new();
    let key = KEY.get_or_init(|| read_pem_private_key(DEMO_KEY, "demo.key").unwrap());
    let (_, field) = sign_content(content, key);
    let SignField::Ed25519 { key_id, signature } = field else {
        panic!("sign_content made {field:?}");
    };
    SignedLine {
        content: Arc::from(content),
        key_id,
        signature,
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = SignField::parse(&text);

    if let Some(fields) = content_fields(data) {
        // Rebuilding the content from its fields gives the same bytes.
        let mut again = b"lmsign1\n".to_vec();
        for f in &fields {
            again.extend_from_slice(format!("{}:{f}\n", f.len()).as_bytes());
        }
        assert_eq!(again, data);
    }

    let publisher = Publisher::demo();
    let today = Date::new(2024, 6, 15).unwrap();
    let version = Version::parse("1.0").unwrap();
    let proof = [signed(data)];
    let _ = publisher.check_grant(&proof, "f1", &version, today);
    // A proof whose lines are split at a byte of the input.
    if let Some(at) = data.iter().position(|&b| b == 0) {
        let proof = [signed(&data[..at]), signed(&data[at + 1..])];
        let _ = publisher.check_grant(&proof, "f1", &version, today);
    }
    // Unsigned bytes are refused, never read.
    let forged = SignedLine {
        content: Arc::from(data),
        key_id: proof[0].key_id,
        signature: [0; 64],
    };
    assert!(publisher
        .check_grant(&[forged], "f1", &version, today)
        .is_err());
});
