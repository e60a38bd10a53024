//! One borrowed license as the borrowing machine records it, and its
//! bytes in the local borrow store.
//!
//! The store (`crate::borrow::BorrowStore`) is a `redb` database whose
//! keys and values are plain bytes in this module's codec, never `redb`'s
//! own tuple or string types: `redb` checks its pages but decodes a tuple
//! or a `&str` value without checking it, so a damaged or edited file
//! (the user's own) could make the application panic. Here every length
//! is checked (the `wire` crate's bounded codec), the layout is
//! versioned, and bytes that are not a record are an error the store
//! reports (with the file and the key) and skips.

use wire::codec::{Blob, Reader, Wire, Writer};

/// One borrowed license, as recorded on the borrowing machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowRecord {
    pub vendor: String,
    pub feature: String,
    /// The version granted (the license line's).
    pub version: String,
    pub count: u32,
    /// The license line's expiry, as a license file writes it.
    pub expiry: String,
    /// Unix time of the checkout.
    pub borrowed_at: u64,
    /// Unix time the borrow ends.
    pub until: u64,
    /// The search-path entry of the server that lent it (`port@host`, a
    /// triad or a license file), where an early return goes.
    pub server: String,
    /// The server's handle for the seat.
    pub handle: u64,
    /// The vendor daemon's seal over the terms above and the borrower's
    /// user and host (`grammar::publisher::BorrowSeal`): a record edited
    /// afterwards no longer verifies, and is not honoured.
    pub seal: Vec<u8>,
    /// The secret whose SHA-256 the borrowing checkout sent
    /// (`wire::borrow_key`): the server takes the license back early only
    /// from whoever shows it. Never sent anywhere but in that return.
    pub secret: Vec<u8>,
}

impl BorrowRecord {
    /// True if and only if the borrow is over at `now`.
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.until
    }
}

wire::wire_struct!(
    /// A record's key: one record per vendor and feature.
    StoredKey { vendor: String, feature: String }
);

wire::wire_struct!(
    /// A record's value, after its layout byte.
    StoredValue {
        version: String,
        count: u32,
        expiry: String,
        borrowed_at: u64,
        until: u64,
        server: String,
        handle: u64,
        seal: Blob,
        secret: Blob,
    }
);

/// The layout of values written now.
pub const LAYOUT: u8 = 1;

/// Why stored bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the key is not a vendor and feature: {0}")]
    Key(wire::DecodeError),
    #[error("the value is not a borrow record: {0}")]
    Value(wire::DecodeError),
    #[error("the value has layout {0}, which this version does not read")]
    Layout(u8),
}

/// Whole bytes as one `T`, every byte used.
fn read_all<T: Wire>(bytes: &[u8]) -> Result<T, wire::DecodeError> {
    let mut r = Reader::new(bytes);
    let v = T::get(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// The key of `vendor`'s `feature`.
pub fn encode_key(vendor: &str, feature: &str) -> Vec<u8> {
    let mut w = Writer::default();
    wire::codec::put_str(vendor, &mut w);
    wire::codec::put_str(feature, &mut w);
    w.buf
}

/// The vendor and feature of a key.
pub fn decode_key(bytes: &[u8]) -> Result<(String, String), RecordError> {
    let k: StoredKey = read_all(bytes).map_err(RecordError::Key)?;
    Ok((k.vendor, k.feature))
}

/// A record's value.
pub fn encode_value(r: &BorrowRecord) -> Vec<u8> {
    let mut w = Writer::default();
    LAYOUT.put(&mut w);
    StoredValue {
        version: r.version.clone(),
        count: r.count,
        expiry: r.expiry.clone(),
        borrowed_at: r.borrowed_at,
        until: r.until,
        server: r.server.clone(),
        handle: r.handle,
        seal: Blob(r.seal.clone()),
        secret: Blob(r.secret.clone()),
    }
    .put(&mut w);
    w.buf
}

/// The record stored under `key` with `value`; any damage is an error,
/// never a panic.
pub fn decode(key: &[u8], value: &[u8]) -> Result<BorrowRecord, RecordError> {
    let (vendor, feature) = decode_key(key)?;
    let (&layout, rest) = value
        .split_first()
        .ok_or(RecordError::Value(wire::DecodeError::Truncated("layout")))?;
    if layout != LAYOUT {
        return Err(RecordError::Layout(layout));
    }
    let v: StoredValue = read_all(rest).map_err(RecordError::Value)?;
    Ok(BorrowRecord {
        vendor,
        feature,
        version: v.version,
        count: v.count,
        expiry: v.expiry,
        borrowed_at: v.borrowed_at,
        until: v.until,
        server: v.server,
        handle: v.handle,
        seal: v.seal.0,
        secret: v.secret.0,
    })
}

/// When a record's value says the borrow ends, without decoding the rest
/// (purging); `None` when the value is damaged.
pub fn until_of(value: &[u8]) -> Option<u64> {
    let (&layout, rest) = value.split_first()?;
    if layout != LAYOUT {
        return None;
    }
    read_all::<StoredValue>(rest).ok().map(|v| v.until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> BorrowRecord {
        BorrowRecord {
            vendor: "demo".into(),
            feature: "f1".into(),
            version: "1.0".into(),
            count: 2,
            expiry: "permanent".into(),
            borrowed_at: 1000,
            until: 5000,
            server: "27000@localhost".into(),
            handle: 7,
            seal: vec![1, 2, 3],
            secret: vec![9; 32],
        }
    }

    #[test]
    fn a_record_round_trips() {
        let r = record();
        let (k, v) = (encode_key(&r.vendor, &r.feature), encode_value(&r));
        assert_eq!(decode(&k, &v), Ok(r));
        assert_eq!(until_of(&v), Some(5000));
    }

    #[test]
    fn damage_is_an_error() {
        let r = record();
        let (k, v) = (encode_key(&r.vendor, &r.feature), encode_value(&r));
        assert!(matches!(decode(&k[..3], &v), Err(RecordError::Key(_))));
        assert!(matches!(
            decode(&k, &v[..v.len() - 1]),
            Err(RecordError::Value(_))
        ));
        assert!(matches!(decode(&k, &[]), Err(RecordError::Value(_))));
        let mut other = v.clone();
        other[0] = 7;
        assert_eq!(decode(&k, &other), Err(RecordError::Layout(7)));
        let mut longer = v;
        longer.push(0);
        assert!(decode(&k, &longer).is_err(), "trailing bytes");
    }

    proptest! {
        /// Any bytes decode to a record or an error, never a panic; a
        /// record encodes back to the same bytes.
        #[test]
        fn any_bytes_are_a_record_or_an_error(k in any::<Vec<u8>>(), v in any::<Vec<u8>>()) {
            if let Ok(r) = decode(&k, &v) {
                prop_assert_eq!(encode_key(&r.vendor, &r.feature), k);
                prop_assert_eq!(encode_value(&r), v);
            }
        }
    }
}
