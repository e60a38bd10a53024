//! Our own binary encoding of message fields: fixed-width big-endian
//! integers, strings and lists with a 16-bit length. No schema compiler and
//! no general-purpose parser ever reads network bytes.

use crate::error::DecodeError;

/// Bytes being written.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

/// Bytes being read; every read checks the length first.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A `String` field, borrowed from the bytes (the same checks as
    /// decoding a `String`, without the copy).
    pub fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = u16::get(self)? as usize;
        let b = self.take(n, "string")?;
        std::str::from_utf8(b).map_err(|_| DecodeError::Utf8("string"))
    }

    /// A [`Blob`] field, borrowed from the bytes.
    pub fn blob(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = u32::get(self)? as usize;
        self.take(n, "blob")
    }

    /// Fails unless every byte was used.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// A value that can go on the wire.
pub trait Wire: Sized {
    fn put(&self, w: &mut Writer);
    fn get(r: &mut Reader) -> Result<Self, DecodeError>;
}

macro_rules! int_wire {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, w: &mut Writer) {
                w.buf.extend_from_slice(&self.to_be_bytes());
            }
            fn get(r: &mut Reader) -> Result<Self, DecodeError> {
                let b = r.take(std::mem::size_of::<$t>(), stringify!($t))?;
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                Ok(<$t>::from_be_bytes(a))
            }
        }
    )*};
}
int_wire!(u8, u16, u32, u64, i32, i64);

impl Wire for bool {
    fn put(&self, w: &mut Writer) {
        w.buf.push(u8::from(*self));
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        match u8::get(r)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue("bool")),
        }
    }
}

/// Writes `s` as a `String` field, without owning it.
pub fn put_str(s: &str, w: &mut Writer) {
    // Longer strings are cut at a character boundary; no field needs more.
    let mut end = s.len().min(u16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (end as u16).put(w);
    w.buf.extend_from_slice(&s.as_bytes()[..end]);
}

impl Wire for String {
    fn put(&self, w: &mut Writer) {
        put_str(self, w);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        r.str().map(str::to_owned)
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, w: &mut Writer) {
        let n = self.len().min(u16::MAX as usize);
        (n as u16).put(w);
        for item in &self[..n] {
            item.put(w);
        }
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u16::get(r)? as usize;
        // Each element takes at least one byte: a short payload cannot make
        // us reserve a large vector.
        let mut v = Vec::with_capacity(n.min(r.buf.len()));
        for _ in 0..n {
            v.push(T::get(r)?);
        }
        Ok(v)
    }
}

/// Opaque bytes with a 32-bit length: payloads of other layers (a raft
/// message, a replicated batch) that may exceed the 64 KiB of a `Vec`.
/// The frame's own limit still bounds them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

impl Wire for Blob {
    fn put(&self, w: &mut Writer) {
        (self.0.len() as u32).put(w);
        w.buf.extend_from_slice(&self.0);
    }
    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        r.blob().map(|b| Blob(b.to_vec()))
    }
}

/// Declares a struct whose fields go on the wire in order.
#[macro_export]
macro_rules! wire_struct {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
        // A message without fields (a bare query) uses neither argument.
        #[allow(unused_variables)]
        impl $crate::codec::Wire for $name {
            fn put(&self, w: &mut $crate::codec::Writer) {
                $(self.$field.put(w);)*
            }
            fn get(r: &mut $crate::codec::Reader) -> Result<Self, $crate::error::DecodeError> {
                Ok($name { $($field: <$ty as $crate::codec::Wire>::get(r)?),* })
            }
        }
    };
}
