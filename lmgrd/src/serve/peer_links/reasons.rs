//! Why a dial or a link between members ends, in types: the text of each
//! is the reason the debug log gives, and what to do about one (whether
//! the peer merely hung up, say) is a match on it.

use crate::serve::triad_auth::{KeyMismatch, NonceError};
use std::net::SocketAddr;
use wire::io::LinkError;

/// Why a dial did not get as far as a connection.
#[derive(Debug, thiserror::Error)]
pub enum DialFailure {
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot watch the connection to {addr}: {source}")]
    Watch {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Nonce(#[from] NonceError),
}

/// Why a link to a peer member ended. The text is the reason logged.
#[derive(Debug, thiserror::Error)]
pub enum LinkEnd {
    /// Reading or writing failed, the peer hung up or sent a bad frame.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Our dial's connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Our answer to the member's hello could not be written.
    #[error(transparent)]
    Answer(LinkError),
    /// The connection could not be watched once it proved the key.
    #[error("cannot watch the connection: {0}")]
    Watch(std::io::Error),
    #[error("unexpected message 0x{0:02x}")]
    Unexpected(u8),
    #[error("bad raft message: {0}")]
    BadRaft(#[from] triad::StepError),
    /// The member answered with an error.
    #[error("refused: {text} ({code})")]
    Refused { text: String, code: i32 },
    #[error("{addr} answered as member {member} of triad {cluster}, not member {want} of {want_cluster}")]
    WrongMember {
        addr: SocketAddr,
        member: u32,
        cluster: String,
        want: u64,
        want_cluster: String,
    },
    #[error(transparent)]
    KeyMismatch(#[from] KeyMismatch),
    /// The member we dialed answered with a wrong proof.
    #[error("{0} did not prove the triad key: its key differs from this member's")]
    AcceptorProof(SocketAddr),
    /// The member that dialed us sent a wrong proof. Its address is left
    /// out: the refusal's log line has it, and repeats are told apart by
    /// the reason.
    #[error("it did not prove the triad key: its key differs from this member's")]
    DialerProof,
    #[error("it sent message 0x{0:02x} before proving the triad key")]
    Unproven(u8),
    #[error("no answer from {addr} within {ms} ms")]
    NoAnswer { addr: SocketAddr, ms: u64 },
    #[error("nothing heard for {0} ms")]
    Silent(u64),
    #[error("it did not prove the triad key within {0} ms")]
    ProofTimeout(u64),
}

impl LinkEnd {
    /// Whether the peer simply went away.
    pub fn is_hang_up(&self) -> bool {
        matches!(self, LinkEnd::Link(e) if e.is_hang_up())
    }
}
