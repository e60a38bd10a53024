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
        if let Some(signature) = decode_groups(digits) {
            return Some(SignField::Ed25519 { key_id, signature });
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

/// The signature as [`SignField::format`] writes it: four groups of 32
/// digits with one space between them. Each pair of digits is decoded
/// without a branch; an invalid digit has high bits set in [`HEX`], and
/// any is found once at the end.
fn decode_groups(digits: &[u8]) -> Option<[u8; 64]> {
    const GROUP: usize = 32;
    if digits.len() != 4 * GROUP + 3 {
        return None;
    }
    let mut signature = [0u8; 64];
    let mut seen = 0u8;
    for (g, out) in signature.chunks_exact_mut(GROUP / 2).enumerate() {
        let start = g * (GROUP + 1);
        if g > 0 && digits[start - 1] != b' ' {
            return None;
        }
        let group = &digits[start..start + GROUP];
        for (slot, pair) in out.iter_mut().zip(group.chunks_exact(2)) {
            let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
            seen |= hi | lo;
            *slot = hi << 4 | lo;
        }
    }
    (seen < 16).then_some(signature)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The value as the general path reads it, whatever the shortcuts do.
    fn general(value: &str) -> SignField {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        SignField::parse_compact(&compact)
    }

    fn formatted(key_id: [u8; 4], bytes: [u8; 64]) -> String {
        let sig = Signature::from_bytes(&bytes);
        let quoted = SignField::format(key_id, &sig);
        quoted.trim_matches('"').to_string()
    }

    #[test]
    fn our_format_reads_back() {
        let bytes: [u8; 64] = std::array::from_fn(|i| (i * 37 + 5) as u8);
        let value = formatted([0xDE, 0xAD, 0xBE, 0xEF], bytes);
        let want = SignField::Ed25519 {
            key_id: [0xDE, 0xAD, 0xBE, 0xEF],
            signature: bytes,
        };
        assert_eq!(SignField::parse(&value), want);
        assert_eq!(SignField::parse(&value.to_lowercase()), want);
        // Wrapped elsewhere than between the groups, or not at all.
        let unbroken: String = value.split(' ').collect();
        assert_eq!(SignField::parse(&unbroken), want);
        let rewrapped = format!("{} \t\n {}", &unbroken[..50], &unbroken[50..]);
        assert_eq!(SignField::parse(&rewrapped), want);
    }

    #[test]
    fn damaged_signatures_read_as_the_general_path_reads_them() {
        let bytes = [7u8; 64];
        let value = formatted([1, 2, 3, 4], bytes);
        for bad in [
            value.replacen('7', "g", 1),
            value.replacen('0', "+", 1),
            value.replacen(' ', "", 1) + "0",
            value[..value.len() - 1].to_string(),
            value.replacen(' ', ":", 1),
            value.replacen("ED25519:01", "ED25519:0x", 1),
        ] {
            assert_eq!(SignField::parse(&bad), general(&bad), "{bad}");
        }
    }

    proptest! {
        /// Every shortcut gives what the general path gives, on values
        /// near our format and on any text.
        #[test]
        fn shortcuts_agree_with_the_general_path(
            bytes in proptest::array::uniform32(any::<u8>()),
            more in proptest::array::uniform32(any::<u8>()),
            edits in proptest::collection::vec((any::<usize>(), prop_oneof![
                Just(' '), Just('\t'), Just('+'), Just(':'), Just('g'), Just('é'), Just('A'), Just('0'),
            ], any::<bool>()), 0..4),
        ) {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&bytes);
            sig[32..].copy_from_slice(&more);
            let mut value: Vec<char> = formatted([9, 8, 7, 6], sig).chars().collect();
            for (at, c, insert) in edits {
                let at = at % (value.len() + 1);
                if insert || at == value.len() {
                    value.insert(at, c);
                } else {
                    value[at] = c;
                }
            }
            let value: String = value.into_iter().collect();
            prop_assert_eq!(SignField::parse(&value), general(&value));
        }

        #[test]
        fn any_text_reads_as_the_general_path_does(value in ".*") {
            prop_assert_eq!(SignField::parse(&value), general(&value));
        }
    }
}
