//! An immutable string that keeps short text inline.
//!
//! A license line holds many short strings: attribute names (`HOSTID`,
//! `ISSUED`), most attribute values (dates, serial numbers, hostids) and
//! versions. As `String`s each was a heap allocation, and allocating and
//! freeing them was the largest cost of parsing a large license file. A
//! `SmallStr` is as large as a `String` and stores up to [`INLINE`] bytes
//! without touching the heap; longer text goes into one boxed `str`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes stored without an allocation (the size of a `String`, less the
/// length byte and the tag).
pub const INLINE: usize = 22;

#[derive(Clone)]
pub struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl SmallStr {
    pub fn new(text: &str) -> SmallStr {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallStr(Repr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            SmallStr(Repr::Heap(text.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let text = bytes.get(..usize::from(*len)).unwrap_or_default();
                // SAFETY: `Inline` is only built by `new`, which copies all
                // the bytes of a `&str` and sets `len` to their number; the
                // bytes are never changed afterwards. They are UTF-8. (This
                // is read for every comparison of names and versions, so
                // checking them again each time was a noticeable cost.)
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Repr::Heap(text) => text,
        }
    }
}

impl Default for SmallStr {
    fn default() -> SmallStr {
        SmallStr::new("")
    }
}

impl Deref for SmallStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SmallStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SmallStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SmallStr {
    fn from(text: &str) -> SmallStr {
        SmallStr::new(text)
    }
}

impl From<String> for SmallStr {
    /// Keeps the string's allocation when the text does not fit in place.
    fn from(text: String) -> SmallStr {
        if text.len() <= INLINE {
            SmallStr::new(&text)
        } else {
            SmallStr(Repr::Heap(text.into_boxed_str()))
        }
    }
}

impl From<SmallStr> for String {
    fn from(text: SmallStr) -> String {
        match text.0 {
            Repr::Heap(boxed) => boxed.into_string(),
            Repr::Inline { .. } => text.as_str().to_string(),
        }
    }
}

impl PartialEq for SmallStr {
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SmallStr {}

impl PartialEq<str> for SmallStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SmallStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SmallStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SmallStr> for str {
    fn eq(&self, other: &SmallStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SmallStr> for &str {
    fn eq(&self, other: &SmallStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<SmallStr> for String {
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for SmallStr {
    fn partial_cmp(&self, other: &SmallStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallStr {
    fn cmp(&self, other: &SmallStr) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for SmallStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl serde::Serialize for SmallStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_text_whatever_its_length() {
        for text in ["", "HOSTID", "1-jan-2030", &"é".repeat(11), &"x".repeat(23)] {
            let s = SmallStr::new(text);
            assert_eq!(s.as_str(), text);
            assert_eq!(s, text);
            assert_eq!(format!("{s:?}"), format!("{text:?}"));
        }
    }

    #[test]
    fn short_text_stays_inline() {
        assert!(matches!(
            SmallStr::new(&"x".repeat(INLINE)).0,
            Repr::Inline { .. }
        ));
        assert!(matches!(
            SmallStr::new(&"x".repeat(INLINE + 1)).0,
            Repr::Heap(_)
        ));
        assert_eq!(
            std::mem::size_of::<SmallStr>(),
            std::mem::size_of::<String>()
        );
    }
}
