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
        if let Some(ours) = SignField::parse_ours(value.as_bytes()) {
            return ours;
        }
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

    /// One pass over a well-formed signature of ours, the case every
    /// signed line has: the prefix and key id unbroken, then 128 hex digits
    /// that white space may split. `None` for anything else, which the
    /// general path reads (and words the error for).
    fn parse_ours(value: &[u8]) -> Option<SignField> {
        let (head, digits) = value.split_at_checked(SIGN_PREFIX.len() + 9)?;
        let (prefix, kid) = head.split_at(SIGN_PREFIX.len());
        if !prefix.eq_ignore_ascii_case(SIGN_PREFIX.as_bytes()) || kid[8] != b':' {
            return None;
        }
        let mut key_id = [0u8; 4];
        for (slot, pair) in key_id.iter_mut().zip(kid.chunks_exact(2)) {
            *slot = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
        }
        // The digits' values first, then the bytes from pairs of them.
        let mut values = [0u8; 128];
        let mut n = 0;
        for &b in digits {
            let d = HEX[usize::from(b)];
            if d < 16 {
                *values.get_mut(n)? = d;
                n += 1;
            } else if d != BLANK {
                return None;
            }
        }
        if n != values.len() {
            return None;
        }
        let mut signature = [0u8; 64];
        for (slot, pair) in signature.iter_mut().zip(values.chunks_exact(2)) {
            *slot = pair[0] << 4 | pair[1];
        }
        Some(SignField::Ed25519 { key_id, signature })
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

/// Per byte: the value of a hexadecimal digit (either case), [`BLANK`] for
/// the white space a value may be wrapped at, else [`NOT_HEX`].
const HEX: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            b'\t'..=b'\r' | b' ' => BLANK,
            _ => NOT_HEX,
        };
        b += 1;
    }
    table
};
const BLANK: u8 = 0xFE;
const NOT_HEX: u8 = 0xFF;

/// The value of one hexadecimal digit (either case).
fn hex_value(b: u8) -> Option<u8> {
    let d = HEX[usize::from(b)];
    (d < 16).then_some(d)
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        // As `u8::from_str_radix(pair, 16)`, which also takes a `+` sign.
        *slot = match pair[0] {
            b'+' => hex_value(pair[1])?,
            hi => hex_value(hi)? << 4 | hex_value(pair[1])?,
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
