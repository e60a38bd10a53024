//! A blocking connection that speaks the protocol: `wire::io::Link` over a
//! `TcpStream`, with the client's errors.

use crate::error::{minor, LmError, Step};
use crate::local::io_text;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use wire::frame::DEFAULT_MAX_PAYLOAD;
use wire::io::{Link, LinkError};
use wire::{lmerr, FrameError, Message, ProtocolError};

/// Why no message could be read.
#[derive(Debug)]
pub(crate) enum RecvError {
    /// The peer closed the connection.
    Closed,
    /// Nothing arrived within the read timeout.
    Timeout,
    Io(std::io::Error),
    Protocol(ProtocolError),
}

impl RecvError {
    /// The FLEXlm error for this failure while `doing` something.
    pub(crate) fn to_lm(&self, doing: &str) -> LmError {
        match self {
            RecvError::Closed => LmError::new(
                lmerr::LM_CANTREAD,
                minor::READ,
                Step::Handshake,
                format!("{doing}: the server closed the connection"),
            ),
            RecvError::Timeout => LmError::new(
                lmerr::LM_NOSERVRESP,
                minor::NO_REPLY,
                Step::Handshake,
                format!("{doing}: no reply in time"),
            ),
            RecvError::Io(e) => LmError::new(
                lmerr::LM_CANTREAD,
                minor::READ,
                Step::Handshake,
                format!("{doing}: {}", io_text(e)),
            )
            .with_errno(e.raw_os_error()),
            RecvError::Protocol(ProtocolError::Frame(FrameError::Version(v))) => LmError::new(
                lmerr::LM_BADCOMM,
                minor::PROTOCOL_VERSION,
                Step::ProtocolVersion,
                format!(
                    "{doing}: the server speaks protocol version {v}, this client version {}",
                    wire::frame::VERSION
                ),
            ),
            RecvError::Protocol(p) => LmError::new(
                lmerr::LM_BADCOMM,
                minor::BAD_DATA,
                Step::Handshake,
                format!("{doing}: {p}"),
            ),
        }
    }
}

/// One TCP connection to lmgrd or a vendor daemon.
#[derive(Debug)]
pub(crate) struct Conn {
    link: Link<TcpStream>,
    pub(crate) peer: SocketAddr,
}

impl Conn {
    /// Connects within `connect_timeout`; reads then wait at most
    /// `io_timeout` (`None`: forever).
    pub(crate) fn connect(
        addr: SocketAddr,
        connect_timeout: Duration,
        io_timeout: Option<Duration>,
    ) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, connect_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(io_timeout)?;
        stream.set_write_timeout(io_timeout)?;
        Ok(Conn {
            link: Link::new(stream, DEFAULT_MAX_PAYLOAD),
            peer: addr,
        })
    }

    /// Changes how long reads wait (`None`: until a message or EOF).
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.link.stream().set_read_timeout(t)
    }

    /// A second handle on the socket, for writing from another thread.
    pub(crate) fn writer(&self) -> std::io::Result<TcpStream> {
        self.link.stream().try_clone()
    }

    pub(crate) fn send(&mut self, msg: &Message) -> std::io::Result<()> {
        send_on(self.link.stream_mut(), msg)
    }

    /// The next message, waiting as the read timeout allows.
    pub(crate) fn recv(&mut self) -> Result<Message, RecvError> {
        self.link.recv().map_err(|e| match e {
            LinkError::Closed => RecvError::Closed,
            LinkError::Malformed(p) => RecvError::Protocol(p),
            e if e.is_timeout() => RecvError::Timeout,
            e => RecvError::Io(e.into()),
        })
    }

    /// Closes both directions, waking a thread blocked in `recv`.
    pub(crate) fn shutdown(&self) {
        let _ = self.link.stream().shutdown(std::net::Shutdown::Both);
    }
}

/// Writes one framed message.
pub(crate) fn send_on(stream: &mut TcpStream, msg: &Message) -> std::io::Result<()> {
    stream.write_all(&msg.to_frame_bytes())
}

/// The FLEXlm error for a failed TCP connect to lmgrd: refused and other
/// failures are LM_CANTCONNECT (-15), a host that does not answer is
/// LM_HOSTDOWN (-96).
pub(crate) fn connect_error(e: &std::io::Error, detail: String) -> LmError {
    let errno = e.raw_os_error();
    let unreachable = matches!(
        errno,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ETIMEDOUT)
    ) || e.kind() == ErrorKind::TimedOut;
    let text = if e.kind() == ErrorKind::TimedOut && errno.is_none() {
        "Connection timed out".to_string()
    } else {
        io_text(e)
    };
    let detail = format!("{detail}: {text}");
    if unreachable {
        LmError::new(lmerr::LM_HOSTDOWN, minor::HOST_DOWN, Step::Connect, detail)
            .with_errno(errno.or(Some(libc::ETIMEDOUT)))
    } else {
        LmError::new(lmerr::LM_CANTCONNECT, minor::CONNECT, Step::Connect, detail).with_errno(errno)
    }
}

/// A message that makes no sense at this point of the conversation.
pub(crate) fn unexpected(doing: &str, msg: &Message) -> LmError {
    LmError::new(
        lmerr::LM_BADCOMM,
        minor::UNEXPECTED,
        Step::Handshake,
        format!("{doing}: unexpected message type 0x{:02x}", msg.kind()),
    )
}
