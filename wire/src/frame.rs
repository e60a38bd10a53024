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

/// Appends a frame carrying `payload` to `out`.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start..start + 8]);
    crc.update(payload);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out.extend_from_slice(payload);
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

    /// Adds bytes read from the peer.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
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

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..];
        if avail.len() >= 2 && avail[..2] != MAGIC {
            return Err(FrameError::BadMagic([avail[0], avail[1]]));
        }
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        if avail[2] != VERSION {
            return Err(FrameError::Version(avail[2]));
        }
        let len = u32::from_be_bytes([avail[4], avail[5], avail[6], avail[7]]) as usize;
        if len > self.max_payload {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_payload,
            });
        }
        if avail.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let want = u32::from_be_bytes([avail[8], avail[9], avail[10], avail[11]]);
        let payload = &avail[HEADER_LEN..HEADER_LEN + len];
        let mut crc = crc32fast::Hasher::new();
        crc.update(&avail[..8]);
        crc.update(payload);
        if crc.finalize() != want {
            return Err(FrameError::Checksum);
        }
        let frame = Frame {
            kind: avail[3],
            payload: payload.to_vec(),
        };
        self.start += HEADER_LEN + len;
        // Keep the buffer from growing without bound on a busy connection.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(frame))
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
