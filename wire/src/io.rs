//! Framed I/O over anything that reads and writes bytes: the one place
//! where the daemons' event loops and the blocking clients move frames
//! between a stream and [`Message`]s.
//!
//! It owns no socket: [`FrameReader`] and [`OutBuf`] are handed the stream
//! (`impl Read`, `impl Write`) on each call, so the same code serves a
//! non-blocking mio socket (a call ends at `WouldBlock`), a blocking
//! `TcpStream` ([`Link`]) and an in-memory buffer in a test.
//!
//! Every buffer is bounded. The reader decodes after every read, so a
//! frame announcing more than the reader's limit is refused as soon as its
//! header arrives, and a peer that streams bytes without completing a
//! frame is refused once they exceed one frame: what is buffered never
//! exceeds one frame plus one read. The writer's backlog is the caller's
//! to bound ([`OutBuf::pending`]), as only the caller knows whether the
//! peer is a client that stopped reading or a member catching up.

use crate::frame::{parse_frame, HEADER_LEN};
use crate::{Message, MessageDecoder, MessageRef, ProtocolError};
use std::io::{self, ErrorKind, Read, Write};

/// Why a framed link cannot go on. Its text is what the daemons log as the
/// reason a connection closed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The peer closed its end (a read returned 0 bytes).
    #[error("closed by peer")]
    Closed,
    /// Reading failed.
    #[error("read error: {0}")]
    Read(io::Error),
    /// Writing failed.
    #[error("write error: {0}")]
    Write(io::Error),
    /// The stream accepted no bytes.
    #[error("peer stopped reading")]
    WriteZero,
    /// The peer's bytes are not our protocol, or a frame is too large.
    #[error("malformed frame: {0}")]
    Malformed(#[from] ProtocolError),
}

impl From<LinkError> for io::Error {
    /// For callers that speak `io::Result`: the I/O error itself where
    /// there is one.
    fn from(e: LinkError) -> io::Error {
        match e {
            LinkError::Read(e) | LinkError::Write(e) => e,
            LinkError::Closed => ErrorKind::UnexpectedEof.into(),
            LinkError::WriteZero => ErrorKind::WriteZero.into(),
            LinkError::Malformed(p) => io::Error::new(ErrorKind::InvalidData, p),
        }
    }
}

impl LinkError {
    /// Whether a blocking link's read timed out (the stream's read
    /// timeout passed with no whole message).
    pub fn is_timeout(&self) -> bool {
        matches!(self, LinkError::Read(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }

    /// Whether the peer simply went away (rather than misbehaving or an
    /// I/O error).
    pub fn is_hang_up(&self) -> bool {
        matches!(self, LinkError::Closed)
    }
}

/// What one step of a [`FrameReader`] came to.
// A `Message` is moved out at once to be matched; boxing it would cost an
// allocation per message on the serving path to save a copy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Step {
    /// A whole message.
    Message(Message),
    /// One read of this many bytes, which completed no message.
    Read(usize),
    /// The stream would block, with no whole message buffered.
    Blocked,
}

/// What one step of [`FrameReader::step_ready`] came to. A whole message
/// is left where it is, to be decoded in place by [`FrameReader::message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A whole message is ready.
    Message,
    /// One read of this many bytes, which completed no message.
    Read(usize),
    /// The stream would block, with no whole message buffered.
    Blocked,
}

/// Where the whole frame announced by [`Ready::Message`] lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whole {
    /// At the front of the reader's own buffer.
    Buffered,
    /// At the start of the caller's read buffer: `len` bytes, frame type
    /// `kind` (already checked).
    Scratch { kind: u8, len: usize },
}

/// The read half of a framed link: a message decoder that never holds
/// more than one frame of at most `max_payload` bytes plus one read.
///
/// A read that brings a whole frame while nothing is buffered is decoded
/// where it was read, in the caller's buffer, and only the bytes after it
/// (if any) are kept: a connection that sends one request at a time and
/// waits for the answer never makes its reader allocate.
#[derive(Debug)]
pub struct FrameReader {
    decoder: MessageDecoder,
    max_payload: usize,
    /// A whole frame announced by `step_ready` and not yet taken.
    whole: Option<Whole>,
}

impl FrameReader {
    /// A reader refusing frames whose payload exceeds `max_payload`.
    pub fn new(max_payload: usize) -> FrameReader {
        FrameReader {
            decoder: MessageDecoder::new(max_payload),
            max_payload,
            whole: None,
        }
    }

    /// Bytes received and not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// The memory its buffer holds: what a daemon counts against its bound
    /// on incomplete frames. None while nothing is buffered.
    pub fn allocated(&self) -> usize {
        self.decoder.capacity()
    }

    /// Adds bytes that came another way (a handshake read elsewhere).
    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.feed(bytes);
    }

    /// The next whole message already buffered, without reading.
    pub fn buffered_message(&mut self) -> Result<Option<Message>, LinkError> {
        // A frame announced at the front of the buffer is the next one.
        if self.whole == Some(Whole::Buffered) {
            self.whole = None;
        }
        match self.decoder.next_message()? {
            Some(m) => Ok(Some(m)),
            None => {
                if self.decoder.buffered() == 0 {
                    // Nothing pending: give the buffer back, so an idle
                    // connection costs no more than its bookkeeping.
                    self.decoder = MessageDecoder::new(self.max_payload);
                }
                Ok(None)
            }
        }
    }

    /// The next whole message: one already buffered, or one completed by
    /// reading from `src` into `scratch` (as often as it takes, decoding
    /// after every read). `Ok(None)` when `src` would block first.
    pub fn next<R: Read>(
        &mut self,
        src: &mut R,
        scratch: &mut [u8],
    ) -> Result<Option<Message>, LinkError> {
        loop {
            if let Some(m) = self.buffered_message()? {
                return Ok(Some(m));
            }
            match src.read(scratch) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => self.decoder.feed(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Read(e)),
            }
        }
    }

    /// One step: a message already buffered, else one read (decoded at
    /// once). An event loop that gives each peer a budget per turn counts
    /// the steps, so a peer sending faster than it is served cannot keep
    /// the loop reading from it alone.
    pub fn step<R: Read>(&mut self, src: &mut R, scratch: &mut [u8]) -> Result<Step, LinkError> {
        Ok(match self.step_ready(src, scratch)? {
            Ready::Message => match self.message(scratch)? {
                Some(m) => Step::Message(m.into_owned()),
                None => Step::Blocked,
            },
            Ready::Read(n) => Step::Read(n),
            Ready::Blocked => Step::Blocked,
        })
    }

    /// [`step`](Self::step) without decoding: it says whether a whole
    /// message is ready, and [`message`](Self::message) then decodes it
    /// where it lies. A whole frame found in what was just read stays in
    /// `scratch`, so the same `scratch`, unchanged, must be passed to
    /// `message`, and the message taken before the next step or
    /// [`feed`](Self::feed). (Two calls rather than one that returns the
    /// borrowed message: a loop that reads again after a step that
    /// completed nothing could not otherwise borrow the reader anew.)
    pub fn step_ready<R: Read>(
        &mut self,
        src: &mut R,
        scratch: &mut [u8],
    ) -> Result<Ready, LinkError> {
        if self.whole.is_some() {
            return Ok(Ready::Message);
        }
        if self.decoder.buffered() > 0 {
            if self.decoder.has_frame()? {
                self.whole = Some(Whole::Buffered);
                return Ok(Ready::Message);
            }
        } else if self.decoder.capacity() > 0 {
            // Nothing pending: give the buffer back, so an idle
            // connection costs no more than its bookkeeping.
            self.decoder = MessageDecoder::new(self.max_payload);
        }
        loop {
            match src.read(scratch) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => return self.arrived(&scratch[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Ready::Blocked),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Read(e)),
            }
        }
    }

    /// `read` came from the peer (into the caller's buffer).
    fn arrived(&mut self, read: &[u8]) -> Result<Ready, LinkError> {
        if self.decoder.buffered() == 0 {
            let first = parse_frame(read, self.max_payload).map_err(ProtocolError::from)?;
            if let Some((frame, len)) = first {
                // Only what follows the frame is kept; the frame is
                // decoded where it was read.
                if len < read.len() {
                    self.decoder.feed(&read[len..]);
                }
                self.whole = Some(Whole::Scratch {
                    kind: frame.kind,
                    len,
                });
                return Ok(Ready::Message);
            }
        }
        self.decoder.feed(read);
        if self.decoder.has_frame()? {
            self.whole = Some(Whole::Buffered);
            return Ok(Ready::Message);
        }
        Ok(Ready::Read(read.len()))
    }

    /// The message [`step_ready`](Self::step_ready) announced, decoded in
    /// place: its strings borrow from `scratch` (the buffer passed to that
    /// step) or from the reader. `Ok(None)` when none was announced.
    pub fn message<'a>(
        &'a mut self,
        scratch: &'a [u8],
    ) -> Result<Option<MessageRef<'a>>, LinkError> {
        let (kind, payload) = match self.whole.take() {
            None => return Ok(None),
            Some(Whole::Scratch { kind, len }) => match scratch.get(HEADER_LEN..len) {
                Some(payload) => (kind, payload),
                // Not the buffer the frame was read into: it is lost.
                None => return Ok(None),
            },
            Some(Whole::Buffered) => match self.decoder.next_frame_ref()? {
                Some(f) => (f.kind, f.payload),
                None => return Ok(None),
            },
        };
        MessageRef::decode(kind, payload)
            .map(Some)
            .map_err(|e| LinkError::Malformed(e.into()))
    }

    /// Hands each message to `on` as soon as it is whole, until `src`
    /// would block. Stops at the first error, the link's or `on`'s.
    pub fn each<R: Read, E: From<LinkError>>(
        &mut self,
        src: &mut R,
        scratch: &mut [u8],
        mut on: impl FnMut(Message) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(m) = self.next(src, scratch)? {
            on(m)?;
        }
        Ok(())
    }

    /// Every message `src` has for us now, until it would block. On an
    /// error, the messages that came before it are returned with it.
    pub fn drain<R: Read>(
        &mut self,
        src: &mut R,
        scratch: &mut [u8],
    ) -> (Vec<Message>, Option<LinkError>) {
        let mut messages = Vec::new();
        loop {
            match self.next(src, scratch) {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => return (messages, None),
                Err(e) => return (messages, Some(e)),
            }
        }
    }
}

/// Bytes waiting to be written, with a write position so that a large
/// backlog is not shifted on every partial write.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl OutBuf {
    /// An empty buffer (allocates nothing).
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// A buffer that reuses `spare`'s allocation.
    pub fn with_spare(mut spare: Vec<u8>) -> OutBuf {
        spare.clear();
        OutBuf { buf: spare, pos: 0 }
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether everything queued has been written.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// The allocation behind the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The bytes queued and not yet written.
    pub fn queued(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Queues `m`.
    pub fn push(&mut self, m: &Message) {
        m.encode(self.tail());
    }

    /// The end of the queue, to encode into directly.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        &mut self.buf
    }

    /// Gives the (empty) allocation away, leaving an unallocated buffer.
    pub fn take_allocation(&mut self) -> Vec<u8> {
        self.pos = 0;
        let mut v = std::mem::take(&mut self.buf);
        v.clear();
        v
    }

    /// Writes to `w` until everything is written or `w` would block.
    pub fn write_to<W: Write>(&mut self, w: &mut W) -> Result<(), LinkError> {
        while self.pos < self.buf.len() {
            match w.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(LinkError::WriteZero),
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(LinkError::Write(e)),
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        Ok(())
    }
}

/// A blocking request/reply link over a stream (a `TcpStream` with read
/// and write timeouts, usually): what the client library, the admin tools
/// and the tests use to talk to lmgrd and the vendor daemons.
#[derive(Debug)]
pub struct Link<S> {
    stream: S,
    reader: FrameReader,
    scratch: Box<[u8]>,
}

impl<S: Read + Write> Link<S> {
    /// A link refusing frames larger than `max_payload`.
    pub fn new(stream: S, max_payload: usize) -> Link<S> {
        Link {
            stream,
            reader: FrameReader::new(max_payload),
            scratch: vec![0u8; 16 * 1024].into_boxed_slice(),
        }
    }

    /// The stream, to set timeouts or read its addresses.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Bytes received and not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// Sends `m` whole.
    pub fn send(&mut self, m: &Message) -> Result<(), LinkError> {
        let mut bytes = Vec::new();
        m.encode(&mut bytes);
        self.send_bytes(&bytes)
    }

    /// Sends raw bytes whole (tests send malformed frames this way).
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream.write_all(bytes).map_err(|e| match e.kind() {
            ErrorKind::WriteZero => LinkError::WriteZero,
            _ => LinkError::Write(e),
        })
    }

    /// The next message. A read timeout on the stream comes back as an
    /// error for which [`LinkError::is_timeout`] holds.
    pub fn recv(&mut self) -> Result<Message, LinkError> {
        match self.reader.next(&mut self.stream, &mut self.scratch)? {
            Some(m) => Ok(m),
            None => Err(LinkError::Read(ErrorKind::WouldBlock.into())),
        }
    }

    /// Sends `m` and waits for the next message.
    pub fn request(&mut self, m: &Message) -> Result<Message, LinkError> {
        self.send(m)?;
        self.recv()
    }

    /// The stream back, with whatever was buffered and not yet returned.
    pub fn into_parts(self) -> (S, FrameReader) {
        (self.stream, self.reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_frame, HEADER_LEN, MAGIC, VERSION};
    use crate::{FrameError, Heartbeat, MessageRef};
    use std::collections::VecDeque;

    /// A stream that hands out its chunks one read at a time, then blocks
    /// (or ends), counting how many bytes were read from it.
    struct Chunks {
        chunks: VecDeque<Vec<u8>>,
        read: usize,
        end: bool,
        written: Vec<u8>,
        accept: usize,
    }

    impl Chunks {
        fn new(chunks: Vec<Vec<u8>>, end: bool) -> Chunks {
            Chunks {
                chunks: chunks.into(),
                read: 0,
                end,
                written: Vec::new(),
                accept: usize::MAX,
            }
        }
    }

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut c) = self.chunks.pop_front() else {
                return if self.end {
                    Ok(0)
                } else {
                    Err(ErrorKind::WouldBlock.into())
                };
            };
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.chunks.push_front(c.split_off(n));
            }
            self.read += n;
            Ok(n)
        }
    }

    impl Write for Chunks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.accept == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.accept);
            self.accept -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn hb(seq: u32) -> Message {
        Message::Heartbeat(Heartbeat { seq, idle: false })
    }

    fn bytes(ms: &[Message]) -> Vec<u8> {
        let mut v = Vec::new();
        for m in ms {
            m.encode(&mut v);
        }
        v
    }

    #[test]
    fn messages_come_out_one_at_a_time_then_would_block() {
        let all = bytes(&[hb(1), hb(2), hb(3)]);
        let (a, b) = all.split_at(7);
        let mut src = Chunks::new(vec![a.to_vec(), b.to_vec()], false);
        let mut r = FrameReader::new(1024);
        let mut scratch = [0u8; 4096];
        for want in 1..=3 {
            assert_eq!(r.next(&mut src, &mut scratch).unwrap(), Some(hb(want)));
        }
        assert_eq!(r.next(&mut src, &mut scratch).unwrap(), None);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_step_reads_at_most_once() {
        let all = bytes(&[hb(1), hb(2)]);
        let (a, b) = all.split_at(5);
        let mut src = Chunks::new(vec![a.to_vec(), b.to_vec()], false);
        let mut r = FrameReader::new(1024);
        let mut scratch = [0u8; 4096];
        assert_eq!(r.step(&mut src, &mut scratch).unwrap(), Step::Read(5));
        assert_eq!(r.buffered(), 5);
        assert_eq!(
            r.step(&mut src, &mut scratch).unwrap(),
            Step::Message(hb(1))
        );
        assert_eq!(
            r.step(&mut src, &mut scratch).unwrap(),
            Step::Message(hb(2))
        );
        assert_eq!(r.step(&mut src, &mut scratch).unwrap(), Step::Blocked);
        assert_eq!(r.buffered(), 0);
    }

    /// Every message `src` yields through `step_ready` and `message`,
    /// with the last step's outcome.
    fn in_place(r: &mut FrameReader, src: &mut Chunks, scratch: &mut [u8]) -> Vec<Message> {
        let mut got = Vec::new();
        loop {
            match r.step_ready(src, scratch).unwrap() {
                Ready::Message => {
                    let m = r.message(scratch).unwrap().expect("announced");
                    got.push(m.into_owned());
                }
                Ready::Read(_) => {}
                Ready::Blocked => return got,
            }
        }
    }

    #[test]
    fn a_frame_read_whole_is_decoded_where_it_was_read() {
        let co = Message::Checkout(crate::Checkout {
            req: 1,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            ..crate::Checkout::default()
        });
        let mut src = Chunks::new(
            vec![bytes(std::slice::from_ref(&co)), bytes(&[hb(2)])],
            false,
        );
        let mut r = FrameReader::new(1024);
        let mut scratch = [0u8; 4096];
        assert_eq!(
            r.step_ready(&mut src, &mut scratch).unwrap(),
            Ready::Message
        );
        // Announcing again changes nothing until the message is taken.
        assert_eq!(
            r.step_ready(&mut src, &mut scratch).unwrap(),
            Ready::Message
        );
        let m = r.message(&scratch).unwrap().unwrap();
        let MessageRef::Checkout(c) = &m else {
            panic!("{m:?}");
        };
        assert!(scratch.as_ptr_range().contains(&c.feature.as_ptr()));
        assert_eq!(m.into_owned(), co);
        assert_eq!(r.allocated(), 0, "nothing was buffered");
        assert_eq!(r.message(&scratch).unwrap(), None);
        assert_eq!(
            r.step_ready(&mut src, &mut scratch).unwrap(),
            Ready::Message
        );
        assert_eq!(r.message(&scratch).unwrap().unwrap().into_owned(), hb(2));
        assert_eq!(
            r.step_ready(&mut src, &mut scratch).unwrap(),
            Ready::Blocked
        );
        assert_eq!(r.allocated(), 0);
    }

    #[test]
    fn what_follows_a_frame_in_a_read_is_kept_for_the_next_steps() {
        let mut src = Chunks::new(vec![bytes(&[hb(1), hb(2), hb(3)])], false);
        let mut r = FrameReader::new(1024);
        let mut scratch = [0u8; 4096];
        assert_eq!(
            in_place(&mut r, &mut src, &mut scratch),
            [hb(1), hb(2), hb(3)]
        );
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.allocated(), 0, "an idle reader gives its buffer back");
    }

    #[test]
    fn a_payload_that_does_not_decode_is_refused_when_taken() {
        let mut bad = Vec::new();
        encode_frame(0x04, &[0, 0, 0, 1, 0, 9], &mut bad);
        let mut src = Chunks::new(vec![bad], false);
        let mut r = FrameReader::new(1024);
        let mut scratch = [0u8; 64];
        assert_eq!(
            r.step_ready(&mut src, &mut scratch).unwrap(),
            Ready::Message
        );
        assert!(matches!(r.message(&scratch), Err(LinkError::Malformed(_))));
    }

    proptest::proptest! {
        /// Whatever the reads are cut into, the messages in place are the
        /// messages, in order.
        #[test]
        fn in_place_steps_see_every_message_in_order(
            seqs in proptest::collection::vec(0u32..1000, 1..20),
            cuts in proptest::collection::vec(1usize..40, 1..40),
        ) {
            let msgs: Vec<Message> = seqs.iter().map(|&s| hb(s)).collect();
            let all = bytes(&msgs);
            let mut chunks = Vec::new();
            let mut at = 0;
            for &c in cuts.iter().cycle() {
                if at == all.len() {
                    break;
                }
                let end = (at + c).min(all.len());
                chunks.push(all[at..end].to_vec());
                at = end;
            }
            let mut src = Chunks::new(chunks, false);
            let mut r = FrameReader::new(1024);
            let mut scratch = [0u8; 64];
            proptest::prop_assert_eq!(in_place(&mut r, &mut src, &mut scratch), msgs);
            proptest::prop_assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn end_of_stream_and_drain() {
        let mut src = Chunks::new(vec![bytes(&[hb(1), hb(2)])], true);
        let mut r = FrameReader::new(1024);
        let (got, err) = r.drain(&mut src, &mut [0u8; 64]);
        assert_eq!(got, vec![hb(1), hb(2)]);
        assert!(err.is_some_and(|e| e.is_hang_up()));
    }

    #[test]
    fn an_oversize_announcement_is_refused_before_its_payload_is_read() {
        let mut header = Vec::new();
        header.extend_from_slice(&MAGIC);
        header.push(VERSION);
        header.push(1);
        header.extend_from_slice(&(1u32 << 30).to_be_bytes());
        header.extend_from_slice(&[0; 4]);
        assert_eq!(header.len(), HEADER_LEN);
        // The payload would follow in 1 GiB of chunks; only the header and
        // the first chunk are ever read.
        let mut chunks = vec![header];
        chunks.extend((0..1000).map(|_| vec![0u8; 4096]));
        let mut src = Chunks::new(chunks, false);
        let mut r = FrameReader::new(64 * 1024);
        let err = r.next(&mut src, &mut [0u8; 4096]).unwrap_err();
        assert!(
            matches!(
                err,
                LinkError::Malformed(ProtocolError::Frame(FrameError::TooLarge { .. }))
            ),
            "{err}"
        );
        assert_eq!(src.read, HEADER_LEN);
    }

    #[test]
    fn a_stream_that_never_completes_a_frame_is_refused_within_one_frame() {
        // A valid header announcing the largest payload allowed, then an
        // endless stream: the frame "completes" at the limit and its
        // checksum fails, so no more than one frame and one read is held.
        let max = 8 * 1024;
        let mut head = Vec::new();
        encode_frame(1, &vec![0u8; max], &mut head);
        head.truncate(HEADER_LEN);
        let mut chunks = vec![head];
        chunks.extend((0..10_000).map(|_| vec![0x5Au8; 1000]));
        let mut src = Chunks::new(chunks, false);
        let mut r = FrameReader::new(max);
        let scratch_len = 1000;
        let err = r.next(&mut src, &mut vec![0u8; scratch_len]).unwrap_err();
        assert!(matches!(err, LinkError::Malformed(_)), "{err}");
        assert!(src.read <= HEADER_LEN + max + scratch_len, "{}", src.read);
        // Garbage that is not a frame at all is refused at its first bytes.
        let mut src = Chunks::new(vec![vec![0xAB; 1000]; 100], false);
        let mut r = FrameReader::new(max);
        assert!(r.next(&mut src, &mut [0u8; 1000]).is_err());
        assert_eq!(src.read, 1000);
    }

    #[test]
    fn out_buf_writes_until_blocked_and_keeps_its_place() {
        let mut out = OutBuf::new();
        assert_eq!(out.capacity(), 0);
        out.push(&hb(1));
        out.push(&hb(2));
        let want = bytes(&[hb(1), hb(2)]);
        let mut dst = Chunks::new(Vec::new(), false);
        dst.accept = 5;
        out.write_to(&mut dst).unwrap();
        assert_eq!(out.pending(), want.len() - 5);
        dst.accept = usize::MAX;
        out.write_to(&mut dst).unwrap();
        assert!(out.is_empty());
        assert_eq!(dst.written, want);
        let spare = out.take_allocation();
        assert!(spare.capacity() > 0 && spare.is_empty());
        assert_eq!(out.capacity(), 0);
    }

    #[test]
    fn out_buf_reports_a_stream_that_takes_nothing() {
        struct Zero;
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = OutBuf::new();
        out.push(&hb(1));
        assert!(matches!(out.write_to(&mut Zero), Err(LinkError::WriteZero)));
    }

    #[test]
    fn a_blocking_link_asks_and_answers() {
        let mut src = Chunks::new(vec![bytes(&[hb(7)])], true);
        src.accept = usize::MAX;
        let mut link = Link::new(src, 1024);
        assert_eq!(link.request(&hb(1)).unwrap(), hb(7));
        assert_eq!(link.stream().written, bytes(&[hb(1)]));
        assert!(matches!(link.recv(), Err(LinkError::Closed)));
    }
}
