//! Feature versions: decimal numbers such as `1`, `2.300` or `10.5`.
//!
//! FLEXlm compares versions as numbers, so `1.0`, `1.00` and `1.000` are the
//! same version and `1.10` is older than `1.9`. We compare the digits
//! exactly instead of going through floating point.

use crate::small_str::SmallStr;
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;

/// A feature version as written, with where its normalised numeric value
/// sits in the text. One `SmallStr` and offsets rather than three
/// `String`s: every FEATURE line and every pool holds a version, and
/// versions are short, so this never allocates in practice.
#[derive(Debug, Clone)]
pub struct Version {
    text: SmallStr,
    /// `text[int_start..int_end]`: integer part without leading zeros
    /// ("" for zero).
    int_start: u32,
    int_end: u32,
    /// `text[frac_start..frac_end]`: fraction digits without trailing zeros.
    frac_start: u32,
    frac_end: u32,
}

impl Version {
    /// Parses `digits[.digits]` or `.digits`. Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return None;
        }
        let frac_start = text.len() - frac.len();
        let offset = |n: usize| u32::try_from(n).ok();
        Some(Version {
            text: SmallStr::new(text),
            int_start: offset(int.len() - int.trim_start_matches('0').len())?,
            int_end: offset(int.len())?,
            frac_start: offset(frac_start)?,
            frac_end: offset(frac_start + frac.trim_end_matches('0').len())?,
        })
    }

    // Digits are ASCII: compare bytes, without the character-boundary
    // checks of slicing a `str` (versions are compared in every sort).
    fn int(&self) -> &[u8] {
        let b = self.text.as_bytes();
        b.get(self.int_start as usize..self.int_end as usize)
            .unwrap_or_default()
    }

    fn frac(&self) -> &[u8] {
        let b = self.text.as_bytes();
        b.get(self.frac_start as usize..self.frac_end as usize)
            .unwrap_or_default()
    }

    /// The version exactly as the license file wrote it.
    pub fn as_written(&self) -> &str {
        &self.text
    }

    /// The shortest form with the same value: `1.000` becomes `1.0`.
    pub fn normalized(&self) -> String {
        let part = |digits: &[u8]| match std::str::from_utf8(digits) {
            Ok("") | Err(_) => "0".to_string(),
            Ok(d) => d.to_string(),
        };
        format!("{}.{}", part(self.int()), part(self.frac()))
    }

    /// Number of digits after the point, as written.
    pub fn decimals(&self) -> usize {
        self.text.split_once('.').map_or(0, |(_, f)| f.len())
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.int()
            .len()
            .cmp(&other.int().len())
            .then_with(|| self.int().cmp(other.int()))
            .then_with(|| self.frac().cmp(other.frac()))
    }
}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.int().hash(state);
        self.frac().hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_written())
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_written())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: &str) -> Version {
        Version::parse(t).unwrap()
    }

    #[test]
    fn numeric_comparison() {
        assert_eq!(v("1.0"), v("1.000"));
        assert_eq!(v("1"), v("1.0"));
        assert_eq!(v("01.50"), v("1.5"));
        assert!(v("1.10") < v("1.9"));
        assert!(v("10.0") > v("9.999"));
        assert_eq!(v("2.300"), v("2.3"));
        assert!(v(".5") < v("1"));
        assert_eq!(v("0"), v("0.000"));
    }

    #[test]
    fn normal_form() {
        assert_eq!(v("1.000").normalized(), "1.0");
        assert_eq!(v("002.30").normalized(), "2.3");
        assert_eq!(v(".5").normalized(), "0.5");
        assert_eq!(v("2.300").decimals(), 3);
    }

    #[test]
    fn refuses_non_numbers() {
        for t in ["", ".", "1.2.3", "v1", "1,0", "-1"] {
            assert!(Version::parse(t).is_none(), "{t}");
        }
    }
}
