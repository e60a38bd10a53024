//! The `ck=` checksum: a short number an administrator can compare after
//! typing a line in by hand.
//!
//! Our checksum is CRC-32 (IEEE) of the line's signed content followed by its
//! SIGN= value with white space removed, reduced modulo 256. By default the
//! text is lowercased first, so the check ignores case as FLEXlm's does;
//! `lmcksum -k` keeps case. Like the signature, it ignores lowercase
//! attributes (so `ck=` itself, `sort=` and the administrator's notes) and
//! everything an administrator may edit.

use crate::model::{Entry, LicenseFile};
use crate::signature::{entry_sign_field, signed_content, SignField};

/// The checksum of an entry, or `None` for lines without one (SERVER,
/// VENDOR, USE_SERVER).
pub fn entry_checksum(file: &LicenseFile, entry: &Entry, case_sensitive: bool) -> Option<u8> {
    let content = signed_content(file, entry)?;
    Some(checksum(content, entry_sign_field(entry), case_sensitive))
}

/// The checksum of signed content with the given SIGN= field.
pub fn checksum(content: Vec<u8>, sign: Option<&SignField>, case_sensitive: bool) -> u8 {
    let mut bytes = content;
    match sign {
        Some(SignField::Ed25519 { key_id, signature }) => {
            bytes.extend_from_slice(&key_id[..]);
            bytes.extend_from_slice(&signature[..]);
        }
        Some(SignField::Legacy(text) | SignField::Malformed(text)) => {
            bytes.extend_from_slice(text.as_bytes())
        }
        _ => {}
    }
    if !case_sensitive {
        bytes.make_ascii_lowercase();
    }
    (crc32fast::hash(&bytes) % 256) as u8
}

/// The `ck=` value the line carries, if any.
pub fn written_checksum(entry: &Entry) -> Option<u32> {
    match &entry.kind {
        crate::model::EntryKind::Feature(f) => f.ck,
        crate::model::EntryKind::FeatureSet(fs) => fs.ck,
        crate::model::EntryKind::Package(p) => p
            .attributes
            .iter()
            .find(|a| a.name == "ck")
            .and_then(|a| a.value.as_ref()?.trim().parse().ok()),
        _ => None,
    }
}
