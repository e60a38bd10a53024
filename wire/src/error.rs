//! Why bytes from a peer were refused.

/// A frame-level problem: the connection cannot continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not a license-manager frame (starts with {0:02x?})")]
    BadMagic([u8; 2]),
    #[error("unsupported protocol version {0}")]
    Version(u8),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("frame checksum mismatch")]
    Checksum,
}

/// A frame arrived intact but its content makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("message ends early, reading {0}")]
    Truncated(&'static str),
    #[error("{0} is not valid UTF-8")]
    Utf8(&'static str),
    #[error("{0} extra bytes after the message")]
    Trailing(usize),
    #[error("bad value for {0}")]
    BadValue(&'static str),
}
