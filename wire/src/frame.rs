//! Frames: a fixed 12-byte header, then the payload.
//!
//! ```text
//! offset  size  field
//!      0     2  magic 0x4C 0x4D ("LM")
//!      2     1  protocol version (1)
//!      3     1  message type
//!      4     4  payload length, big-endian
//!      8     4  CRC-32 (IEEE) of bytes 0..8 and the payload, big-endian
//!     12     n  payload
//! ```
//!
//! The decoder is incremental and owns no socket: bytes go in as they
//! arrive, whole frames come out. A bad header or checksum is fatal for the
//! connection: after an error the stream cannot be resynchronised, so the
//! caller closes it.

use crate::error::FrameError;

pub const MAGIC: [u8; 2] = *b"LM";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 12;
/// Default upper bound on a payload; a peer announcing more is cut off
/// before we buffer it.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 * 1024;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// A whole frame inside a byte buffer: its payload is borrowed, not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    pub kind: u8,
    pub payload: &'a [u8],
}

/// Appends a frame carrying `payload` to `out`.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    out.extend_from_slice(payload);
    seal_frame(kind, out, start);
}

/// Writes the header of the frame that starts at `out[start]`, whose
/// payload was written after `HEADER_LEN` bytes reserved for it: the
/// payload is encoded in place, with no buffer of its own. `encode_frame`
/// gives the same bytes.
pub(crate) fn seal_frame(kind: u8, out: &mut [u8], start: usize) {
    let len = (out.len() - start - HEADER_LEN) as u32;
    let frame = &mut out[start..];
    frame[..2].copy_from_slice(&MAGIC);
    frame[2] = VERSION;
    frame[3] = kind;
    frame[4..8].copy_from_slice(&len.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..8]);
    crc.update(&frame[HEADER_LEN..]);
    let crc = crc.finalize();
    frame[8..HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
}

/// The frame `bytes` start with and the number of bytes it takes, or
/// `Ok(None)` while it is incomplete. A header that cannot start a frame
/// of ours is refused as soon as its bytes are there (the magic from the
/// first two, the version and the length from the whole header), so a
/// peer cannot make us wait for a payload we would refuse.
pub fn parse_frame(
    bytes: &[u8],
    max_payload: usize,
) -> Result<Option<(FrameRef<'_>, usize)>, FrameError> {
    if bytes.len() >= 2 && bytes[..2] != MAGIC {
        return Err(FrameError::BadMagic([bytes[0], bytes[1]]));
    }
    if bytes.len() < HEADER_LEN {
        return Ok(None);
    }
    if bytes[2] != VERSION {
        return Err(FrameError::Version(bytes[2]));
    }
    let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if len > max_payload {
        return Err(FrameError::TooLarge {
            len,
            max: max_payload,
        });
    }
    if bytes.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let want = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let payload = &bytes[HEADER_LEN..HEADER_LEN + len];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes[..8]);
    crc.update(payload);
    if crc.finalize() != want {
        return Err(FrameError::Checksum);
    }
    Ok(Some((
        FrameRef {
            kind: bytes[3],
            payload,
        },
        HEADER_LEN + len,
    )))
}

/// Turns a byte stream into frames.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by returned frames.
    start: usize,
    max_payload: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl Decoder {
    pub fn new(max_payload: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            start: 0,
            max_payload,
        }
    }

    /// The largest payload accepted.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Forgets consumed bytes. Done before the buffer is looked at or
    /// added to, not after a frame is returned: a returned frame may still
    /// borrow them.
    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            // Keep the buffer from growing without bound on a busy connection.
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Adds bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The memory the buffer holds (at least [`buffered`](Self::buffered)).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether a whole, valid frame is buffered, without taking it.
    pub fn has_frame(&self) -> Result<bool, FrameError> {
        parse_frame(&self.buf[self.start..], self.max_payload).map(|f| f.is_some())
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        Ok(self.next_frame_ref()?.map(|f| Frame {
            kind: f.kind,
            payload: f.payload.to_vec(),
        }))
    }

    /// The next complete frame, its payload borrowed from the buffer;
    /// `Ok(None)` if more bytes are needed.
    pub fn next_frame_ref(&mut self) -> Result<Option<FrameRef<'_>>, FrameError> {
        self.compact();
        match parse_frame(&self.buf[self.start..], self.max_payload)? {
            Some((frame, used)) => {
                self.start += used;
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(kind, payload, &mut v);
        v
    }

    #[test]
    fn byte_by_byte() {
        let mut bytes = framed(7, b"hello");
        bytes.extend(framed(8, b""));
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for b in bytes {
            d.feed(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                Frame {
                    kind: 7,
                    payload: b"hello".to_vec()
                },
                Frame {
                    kind: 8,
                    payload: vec![]
                }
            ]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn rejects_damage() {
        let mut d = Decoder::default();
        d.feed(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(d.next_frame(), Err(FrameError::BadMagic(*b"GE")));

        let mut bytes = framed(1, b"abc");
        bytes[13] ^= 1;
        let mut d = Decoder::default();
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Err(FrameError::Checksum));

        let mut bytes = framed(1, b"abc");
        bytes[2] = 9;
        let mut d = Decoder::default();
        d.feed(&bytes);
        assert_eq!(d.next_frame(), Err(FrameError::Version(9)));
    }

    #[test]
    fn a_frame_encoded_in_place_is_the_same_frame() {
        for payload in [&b""[..], b"x", &[0xa5; 300]] {
            let mut whole = b"before".to_vec();
            encode_frame(9, payload, &mut whole);
            let mut in_place = b"before".to_vec();
            in_place.extend_from_slice(&[0xff; HEADER_LEN]);
            in_place.extend_from_slice(payload);
            seal_frame(9, &mut in_place, 6);
            assert_eq!(in_place, whole);
        }
    }

    #[test]
    fn a_borrowed_frame_is_the_owned_one() {
        let mut bytes = framed(7, b"hello");
        bytes.extend(framed(8, b"more"));
        let (first, used) = parse_frame(&bytes, 64).unwrap().unwrap();
        assert_eq!((first.kind, first.payload, used), (7, &b"hello"[..], 17));
        assert_eq!(parse_frame(&bytes[..used - 1], 64), Ok(None));
        let mut d = Decoder::default();
        d.feed(&bytes);
        assert!(d.has_frame().unwrap());
        assert_eq!(d.next_frame_ref().unwrap(), Some(first));
        assert_eq!(
            d.next_frame().unwrap(),
            Some(Frame {
                kind: 8,
                payload: b"more".to_vec()
            })
        );
        assert!(!d.has_frame().unwrap());
        assert_eq!(d.next_frame_ref().unwrap(), None);
    }

    #[test]
    fn oversize_is_refused_from_the_header_alone() {
        let mut d = Decoder::new(16);
        let bytes = framed(1, &[0u8; 17]);
        d.feed(&bytes[..HEADER_LEN]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        );
    }
}
