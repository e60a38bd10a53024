//! The SIGN= field of a license line: what it holds (our Ed25519
//! signature with its key id, a FLEXlm key we cannot check, or damage),
//! read and written. The model keeps it per line; [`crate::signature`]
//! makes and checks what it holds.

use ed25519_dalek::Signature;
use std::fmt::Write as _;
use std::sync::Arc;

/// Prefix of our SIGN= values; FLEXlm's own signatures never contain `:`.
pub const SIGN_PREFIX: &str = "ED25519:";

/// What a line's SIGN= (or legacy key) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignField {
    /// No SIGN=, AUTH= or legacy key at all.
    Missing,
    /// Our Ed25519 signature, with the id of the key that made it.
    Ed25519 {
        key_id: [u8; 4],
        signature: [u8; 64],
    },
    /// A FLEXlm key or signature we cannot verify.
    Legacy(String),
    /// Looked like ours but is damaged.
    Malformed(String),
}

impl SignField {
    /// Reads a SIGN= value. White space anywhere is ignored, so the value
    /// may be wrapped across continuation lines.
    pub fn parse(value: &str) -> SignField {
        if value.is_ascii() {
            // Our own signatures are ASCII and short: decode them in place.
            let mut buf = [0u8; 160];
            let mut len = 0;
            for &b in value.as_bytes() {
                if matches!(b, b'\t'..=b'\r' | b' ') {
                    continue;
                }
                if len == buf.len() {
                    len = usize::MAX;
                    break;
                }
                buf[len] = b;
                len += 1;
            }
            if len != usize::MAX {
                let compact = std::str::from_utf8(&buf[..len]).unwrap_or_default();
                return SignField::parse_compact(compact);
            }
        }
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        SignField::parse_compact(&compact)
    }

    /// Reads a SIGN= value that has no white space left.
    fn parse_compact(compact: &str) -> SignField {
        let Some(rest) = strip_prefix_ignore_case(compact, SIGN_PREFIX) else {
            return SignField::Legacy(compact.to_string());
        };
        let Some((kid, sig)) = rest.split_once(':') else {
            return SignField::Malformed("expected ED25519:<key id>:<signature>".into());
        };
        match (decode_hex::<4>(kid), decode_hex::<64>(sig)) {
            (Some(key_id), Some(signature)) => SignField::Ed25519 { key_id, signature },
            (None, _) => {
                SignField::Malformed(format!("key id `{kid}` is not 8 hexadecimal digits"))
            }
            (_, None) => SignField::Malformed("the signature is not 128 hexadecimal digits".into()),
        }
    }

    /// The value to write after `SIGN=`, quoted, in groups that can wrap.
    pub fn format(key_id: [u8; 4], signature: &Signature) -> String {
        let hex = encode_hex(&signature.to_bytes());
        let groups: Vec<&str> = hex
            .as_bytes()
            .chunks(32)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        format!(
            "\"{SIGN_PREFIX}{}:{}\"",
            encode_hex(&key_id),
            groups.join(" ")
        )
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        // As `u8::from_str_radix(pair, 16)`, which also takes a `+` sign.
        *slot = match pair[0] {
            b'+' => digit(pair[1])?,
            hi => digit(hi)? << 4 | digit(pair[1])?,
        };
    }
    Some(out)
}

/// A license line as its publisher signed it: the signed content (see
/// [`crate::signature`]) and its Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLine {
    pub content: Arc<[u8]>,
    pub key_id: [u8; 4],
    pub signature: [u8; 64],
}
