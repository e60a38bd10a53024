//! The license manager's TCP protocol, with no I/O inside.
//!
//! [`frame`] cuts a byte stream into checked, bounded frames; [`message`]
//! gives each frame a typed meaning. [`MessageDecoder`] does both, so a
//! daemon's event loop only moves bytes: read into `feed`, call `next_message`
//! until it returns `Ok(None)`, and close the connection on `Err`. [`io`]
//! does that over any `Read + Write` for the event loops and the blocking
//! clients alike.
//! The format is documented in `docs/protocol.md`.

pub mod admin_access;
pub mod borrow_key;
pub mod codec;
pub mod error;
pub mod frame;
pub mod io;
pub mod lmerr;
pub mod message;
pub mod text;
pub mod version;

pub use error::{DecodeError, FrameError};
pub use frame::{Decoder, Frame};
pub use message::*;
pub use version::{platform, version};

/// Why a peer's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Bytes in, messages out.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    frames: Decoder,
}

impl MessageDecoder {
    pub fn new(max_payload: usize) -> Self {
        MessageDecoder {
            frames: Decoder::new(max_payload),
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.frames.feed(bytes);
    }

    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// The memory its buffer holds.
    pub fn capacity(&self) -> usize {
        self.frames.capacity()
    }

    /// Whether a whole, valid frame is buffered.
    pub fn has_frame(&self) -> Result<bool, ProtocolError> {
        Ok(self.frames.has_frame()?)
    }

    /// The next whole frame, borrowed from the buffer.
    pub fn next_frame_ref(&mut self) -> Result<Option<frame::FrameRef<'_>>, ProtocolError> {
        Ok(self.frames.next_frame_ref()?)
    }

    /// The next whole message, or `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        match self.frames.next_frame()? {
            Some(f) => Ok(Some(Message::decode(f.kind, &f.payload)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
