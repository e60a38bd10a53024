//! The stored form of a [`Record`]: compact, versioned, strict.
//!
//! ```text
//! byte 0      format version (1)
//! byte 1      kind code (Kind::code)
//! varint      time        (seconds since the epoch)
//! varint      count
//! varint      issued
//! varint      handle
//! zigzag      error       (a signed varint)
//! 6 × string  feature, version, user, host, display, project
//!             each a varint byte length (at most MAX_FIELD) + UTF-8
//! ```
//!
//! Varints are LEB128, little-endian groups of 7 bits, at most 10 bytes,
//! in their shortest form.
//! Decoding rejects an unknown version or kind, a truncated value, an
//! overlong varint, a string over `MAX_FIELD` or not UTF-8, and trailing
//! bytes: a record either reads back exactly or is reported as damaged.
//! A later format gets a new version byte; version 1 is never reinterpreted.

use crate::record::{Kind, Record};

/// The format version this crate writes.
pub const FORMAT_VERSION: u8 = 1;

/// The longest string field, in bytes. Longer values are cut (at a
/// character boundary) when encoded: a report log is not the place to keep
/// a client's 10 kB display name, and a bound keeps decoding cheap.
pub const MAX_FIELD: usize = 1024;

/// Why stored bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end inside a value.
    #[error("record truncated at byte {at}")]
    Truncated { at: usize },
    /// The record was written by a format this build does not know.
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    /// The kind code is not one this build knows.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// A varint runs past 10 bytes or past 64 bits, or is padded.
    #[error("overlong number at byte {at}")]
    Overlong { at: usize },
    /// A number does not fit its field.
    #[error("{field} {value} out of range")]
    OutOfRange { field: &'static str, value: u64 },
    /// A string field is longer than `MAX_FIELD`.
    #[error("{field} is {len} bytes long, more than {MAX_FIELD}")]
    TooLong { field: &'static str, len: u64 },
    /// A string field is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 { field: &'static str },
    /// Bytes follow the record.
    #[error("{0} bytes after the record")]
    Trailing(usize),
}

/// Appends the encoding of `r` to `out`.
pub fn encode(r: &Record, out: &mut Vec<u8>) {
    out.push(FORMAT_VERSION);
    out.push(r.kind.code());
    put_varint(out, r.time);
    put_varint(out, u64::from(r.count));
    put_varint(out, u64::from(r.issued));
    put_varint(out, r.handle);
    put_varint(out, zigzag(i64::from(r.error)));
    for s in [
        &r.feature, &r.version, &r.user, &r.host, &r.display, &r.project,
    ] {
        let s = cut(s);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

/// The encoding of `r` as a new vector.
pub fn to_bytes(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + r.feature.len() + r.user.len() + r.host.len());
    encode(r, &mut out);
    out
}

/// Decodes exactly one record from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut d = Decoder { bytes, at: 0 };
    let version = d.byte()?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let code = d.byte()?;
    let kind = Kind::from_code(code).ok_or(DecodeError::UnknownKind(code))?;
    let time = d.varint()?;
    let count = d.u32("count")?;
    let issued = d.u32("issued")?;
    let handle = d.varint()?;
    let raw = d.varint()?;
    let error = i32::try_from(unzigzag(raw)).map_err(|_| DecodeError::OutOfRange {
        field: "error",
        value: raw,
    })?;
    let feature = d.string("feature")?;
    let version = d.string("version")?;
    let user = d.string("user")?;
    let host = d.string("host")?;
    let display = d.string("display")?;
    let project = d.string("project")?;
    if d.at != bytes.len() {
        return Err(DecodeError::Trailing(bytes.len() - d.at));
    }
    Ok(Record {
        time,
        kind,
        feature,
        version,
        user,
        host,
        display,
        project,
        count,
        issued,
        handle,
        error,
    })
}

/// `s` cut to at most `MAX_FIELD` bytes, at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_FIELD {
        return s;
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over the bytes of one record.
struct Decoder<'a> {
    bytes: &'a [u8],
    /// Invariant: `at <= bytes.len()`.
    at: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(DecodeError::Truncated { at: self.at })?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            if i == 9 && bits > 1 {
                return Err(DecodeError::Overlong { at: start });
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                // A final zero group after the first byte is a padded form
                // of a shorter number: refused, so each record has exactly
                // one encoding.
                if i > 0 && b == 0 {
                    return Err(DecodeError::Overlong { at: start });
                }
                return Ok(v);
            }
        }
        Err(DecodeError::Overlong { at: start })
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| DecodeError::OutOfRange { field, value: v })
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.varint()?;
        if len > MAX_FIELD as u64 {
            return Err(DecodeError::TooLong { field, len });
        }
        // Bounded by MAX_FIELD above, so the cast cannot truncate.
        let len = len as usize;
        let end = self.at + len;
        let slice = self.bytes.get(self.at..end).ok_or(DecodeError::Truncated {
            at: self.bytes.len(),
        })?;
        let s = std::str::from_utf8(slice).map_err(|_| DecodeError::NotUtf8 { field })?;
        self.at = end;
        Ok(s.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Record {
        Record {
            time: 1_767_600_000,
            kind: Kind::Denied,
            feature: "f1".into(),
            version: "1.0".into(),
            user: "joe".into(),
            host: "ws1".into(),
            display: "/dev/pts/1".into(),
            project: "apollo".into(),
            count: 2,
            issued: 4,
            handle: 300,
            error: -4,
        }
    }

    #[test]
    fn known_bytes() {
        let mut r = Record::marker(300, Kind::Start);
        r.error = -1;
        // version, kind, time 300 = ac 02, count, issued, handle, error -1 = 1,
        // then six empty strings.
        assert_eq!(
            to_bytes(&r),
            [1, 11, 0xac, 0x02, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(decode(&to_bytes(&r)), Ok(r));
    }

    #[test]
    fn round_trip_of_a_full_record() {
        let r = sample();
        assert_eq!(decode(&to_bytes(&r)), Ok(r));
    }

    #[test]
    fn long_fields_are_cut_at_a_character_boundary() {
        let mut r = sample();
        r.display = "é".repeat(MAX_FIELD); // 2 bytes each
        let back = decode(&to_bytes(&r)).unwrap();
        assert_eq!(back.display.len(), MAX_FIELD);
        assert!(r.display.starts_with(&back.display));
        r.user = format!("x{}", "é".repeat(MAX_FIELD / 2));
        let back = decode(&to_bytes(&r)).unwrap();
        assert_eq!(back.user.len(), MAX_FIELD - 1);
    }

    #[test]
    fn damage_is_named() {
        let good = to_bytes(&sample());
        assert_eq!(decode(&[]), Err(DecodeError::Truncated { at: 0 }));
        assert_eq!(decode(&[2, 1]), Err(DecodeError::UnknownVersion(2)));
        assert_eq!(decode(&[1, 99]), Err(DecodeError::UnknownKind(99)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Trailing(1)));
        assert!(matches!(
            decode(&good[..good.len() - 1]),
            Err(DecodeError::Truncated { .. })
        ));
        let overlong = [
            1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ];
        assert_eq!(decode(&overlong), Err(DecodeError::Overlong { at: 2 }));
        let padded = [1, 1, 0x80, 0x00];
        assert_eq!(decode(&padded), Err(DecodeError::Overlong { at: 2 }));
        // count = 2^32 does not fit a u32.
        let big = [1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(
            decode(&big),
            Err(DecodeError::OutOfRange {
                field: "count",
                value: 1 << 32
            })
        );
        let mut bad_utf8 = vec![1, 1, 0, 0, 0, 0, 0, 2, 0xc3, 0x28];
        bad_utf8.extend([0; 5]);
        assert_eq!(
            decode(&bad_utf8),
            Err(DecodeError::NotUtf8 { field: "feature" })
        );
        let too_long = [1, 1, 0, 0, 0, 0, 0, 0x81, 0x08];
        assert_eq!(
            decode(&too_long),
            Err(DecodeError::TooLong {
                field: "feature",
                len: 1025
            })
        );
    }

    #[test]
    fn extreme_numbers_round_trip() {
        let mut r = sample();
        r.time = u64::MAX;
        r.handle = u64::MAX;
        r.count = u32::MAX;
        r.issued = u32::MAX;
        for error in [i32::MIN, i32::MAX, 0, -1] {
            r.error = error;
            assert_eq!(decode(&to_bytes(&r)), Ok(r.clone()));
        }
    }

    pub(crate) fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-z0-9./:_-]{1,12}",
            proptest::string::string_regex(".{0,40}").expect("valid regex"),
        ]
    }

    pub(crate) fn any_record() -> impl Strategy<Value = Record> {
        (
            any::<u64>(),
            proptest::sample::select(Kind::ALL.to_vec()),
            (field(), field(), field(), field(), field(), field()),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<i32>(),
        )
            .prop_map(
                |(
                    time,
                    kind,
                    (feature, version, user, host, display, project),
                    count,
                    issued,
                    handle,
                    error,
                )| Record {
                    time,
                    kind,
                    feature,
                    version,
                    user,
                    host,
                    display,
                    project,
                    count,
                    issued,
                    handle,
                    error,
                },
            )
    }

    proptest! {
        #[test]
        fn records_round_trip(records in proptest::collection::vec(any_record(), 0..20)) {
            for r in &records {
                prop_assert_eq!(&decode(&to_bytes(r)).unwrap(), r);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn damaged_records_never_panic(r in any_record(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
            let mut bytes = to_bytes(&r);
            let i = at.index(bytes.len());
            bytes[i] = b;
            if let Ok(back) = decode(&bytes) {
                // A change that still decodes must re-encode to the same bytes:
                // the encoding has one form per record.
                prop_assert_eq!(to_bytes(&back), bytes);
            }
        }
    }
}
