//! Everything that keeps one peer from taking a daemon's loop, memory or
//! descriptors from the others, in one object both daemons' loops drive:
//!
//! - who is let in ([`Acceptor`], [`Admission`]);
//! - how much of a turn a connection gets ([`Budget`]) and who is owed
//!   more ([`Backlog`]);
//! - a connection whose replies pile up unread is not read from until it
//!   drains (the output cap is checked before a request is read, so no
//!   reply is queued over it), and is closed if it does not drain in time;
//! - deadlines to send a first message and to complete a started frame
//!   ([`Deadlines`]);
//! - a bound on the bytes of incomplete frames held for all connections
//!   together (each one's is bounded by its `FrameReader`).
//!
//! The loop passes the time in; the sockets stay the loop's.
//!
//! [`Admission`]: crate::admission::Admission

use crate::accept::Acceptor;
use crate::admission::Limits;
use crate::deadlines::{Deadline, Deadlines};
use crate::fairness::{Backlog, Budget};
use mio::net::{TcpListener, TcpStream};
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use wire::io::{FrameReader, LinkError, Step};
use wire::Message;

/// How long a connection has, by default, to send its first message, to
/// complete a frame, and to read replies held back for it.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Sets all three of those (milliseconds).
pub const TIMEOUT_ENV: &str = "LM_PEER_TIMEOUT_MS";
/// Overrides the connection limit per address.
pub const PER_ADDRESS_ENV: &str = "LM_MAX_CONNECTIONS_PER_ADDRESS";
/// A connection with more unsent output than this is not read from.
pub const PAUSE_OUTPUT_AT: usize = 64 * 1024;
/// Memory held for incomplete frames of all connections together (their
/// readers' buffers); the connection that would go over is closed.
pub const MAX_PARTIAL_TOTAL: usize = 32 << 20;

/// What a connection must do in how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub greeting_ms: u64,
    pub frame_ms: u64,
    pub drain_ms: u64,
}

impl Timeouts {
    pub fn all(ms: u64) -> Timeouts {
        Timeouts {
            greeting_ms: ms,
            frame_ms: ms,
            drain_ms: ms,
        }
    }

    fn of(&self, what: Deadline) -> u64 {
        match what {
            Deadline::Greeting => self.greeting_ms,
            Deadline::Frame => self.frame_ms,
            Deadline::Drain => self.drain_ms,
        }
    }
}

/// A number from the environment, with a note when it is not one.
fn env_number(name: &str, notes: &mut Vec<String>) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            notes.push(format!("{name}={text:?} is not a positive number: ignored"));
            None
        }
    }
}

/// What the loop does next with a connection it is reading.
#[derive(Debug)]
pub enum Next {
    /// Serve this message, then ask again.
    Message(Message),
    /// Nothing more this turn (it would block, its share is spent, or its
    /// replies must drain first); it is read again when due.
    Wait,
    /// The link failed (or the peer hung up: [`LinkError::is_hang_up`]).
    Failed(LinkError),
    /// Close it for this reason.
    Drop(String),
}

#[derive(Debug)]
struct PeerState {
    addr: SocketAddr,
    /// The memory its reader held after the last step.
    buffered: usize,
    /// Not read from until its output drains.
    paused: bool,
}

/// The guard of one daemon's client connections.
#[derive(Debug)]
pub struct ConnGuard {
    acceptor: Acceptor,
    deadlines: Deadlines,
    backlog: Backlog,
    peers: HashMap<usize, PeerState>,
    partial_total: usize,
    timeouts: Timeouts,
    /// The daemon's own cap when MAX_CONNECTIONS does not say.
    default_max: Option<usize>,
    per_address: Option<usize>,
    fd_limit: u64,
    /// Whether the administrator set a limit (the limits are then logged).
    set_by_admin: bool,
}

impl ConnGuard {
    /// A guard for a daemon that accepts at most `max_connections` as the
    /// administrator set it, else `default_max` (`None`: as many as the
    /// open-file limit leaves room for), refusing others with error
    /// `refusal_code`. Raises the open-file limit, and reads
    /// [`TIMEOUT_ENV`] and [`PER_ADDRESS_ENV`]; what it has to say about
    /// them is in [`take_notes`](Self::take_notes).
    pub fn new(
        max_connections: Option<usize>,
        default_max: Option<usize>,
        refusal_code: i32,
    ) -> ConnGuard {
        let fd_limit = crate::fd_limit::raise_open_files_limit();
        let mut notes = Vec::new();
        let timeout = env_number(TIMEOUT_ENV, &mut notes);
        let per_address =
            env_number(PER_ADDRESS_ENV, &mut notes).and_then(|n| usize::try_from(n).ok());
        let mut guard = ConnGuard::with(
            Limits::new(max_connections.or(default_max), fd_limit, per_address),
            Timeouts::all(timeout.unwrap_or(DEFAULT_TIMEOUT_MS)),
            refusal_code,
        );
        guard.default_max = default_max;
        guard.per_address = per_address;
        guard.fd_limit = fd_limit;
        guard.set_by_admin =
            max_connections.is_some() || timeout.is_some() || per_address.is_some();
        for n in notes {
            guard.acceptor.admission_mut().note(n);
        }
        guard
    }

    /// A guard with these limits and timeouts, nothing read from the
    /// process or its environment.
    pub fn with(limits: Limits, timeouts: Timeouts, refusal_code: i32) -> ConnGuard {
        ConnGuard {
            acceptor: Acceptor::new(limits, refusal_code),
            deadlines: Deadlines::new(),
            backlog: Backlog::new(),
            peers: HashMap::new(),
            partial_total: 0,
            timeouts,
            default_max: Some(limits.max_connections),
            per_address: Some(limits.per_address),
            fd_limit: u64::MAX,
            set_by_admin: false,
        }
    }

    /// The other triad members' addresses, let in beyond the limits
    /// ([`crate::admission::PEER_HEADROOM`]).
    pub fn set_peers(&mut self, peers: &[std::net::IpAddr]) {
        self.acceptor.admission_mut().set_peers(peers);
    }

    pub fn limits(&self) -> Limits {
        self.acceptor.admission().limits()
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A new connection limit (MAX_CONNECTIONS after a reread).
    pub fn set_max_connections(&mut self, max_connections: Option<usize>) {
        self.set_by_admin |= max_connections.is_some();
        let limits = Limits::new(
            max_connections.or(self.default_max),
            self.fd_limit,
            self.per_address,
        );
        self.acceptor.admission_mut().set_limits(limits);
    }

    /// Connections held.
    pub fn connections(&self) -> usize {
        self.acceptor.admission().total()
    }

    /// Memory held for incomplete frames of all connections.
    pub fn partial_bytes(&self) -> usize {
        self.partial_total
    }

    /// Accepts what the listener has waiting: the connections let in.
    /// Each must be [`opened`](Self::opened) or [`not_opened`](Self::not_opened).
    pub fn accept(&mut self, listener: &TcpListener, now: u64) -> Vec<(TcpStream, SocketAddr)> {
        self.acceptor.accept(listener, now)
    }

    /// Whether the loop must accept again now, without an event.
    pub fn accept_due(&self, now: u64) -> bool {
        self.acceptor.retry_due(now)
    }

    /// A connection let in is being served as `token`.
    pub fn opened(&mut self, token: usize, addr: SocketAddr, now: u64) {
        self.peers.insert(
            token,
            PeerState {
                addr,
                buffered: 0,
                paused: false,
            },
        );
        self.deadlines
            .set(token, Deadline::Greeting, now + self.timeouts.greeting_ms);
    }

    /// A connection let in could not be served after all.
    pub fn not_opened(&mut self, addr: SocketAddr) {
        self.acceptor.release(addr);
    }

    /// `token` is closed (or handed over to something else).
    pub fn closed(&mut self, token: usize) {
        if let Some(p) = self.peers.remove(&token) {
            self.partial_total = self.partial_total.saturating_sub(p.buffered);
            self.acceptor.release(p.addr);
        }
        self.deadlines.forget(token);
        self.backlog.forget(token);
    }

    /// The next step of reading `token`: its reader, its stream, a read
    /// buffer, its unsent output now, and what is left of its share of
    /// this turn.
    #[allow(clippy::too_many_arguments)]
    pub fn step<R: Read>(
        &mut self,
        token: usize,
        budget: &mut Budget,
        reader: &mut FrameReader,
        src: &mut R,
        scratch: &mut [u8],
        pending_out: usize,
        now: u64,
    ) -> Next {
        let Some(p) = self.peers.get_mut(&token) else {
            return Next::Drop("not a known connection".into());
        };
        if pending_out > PAUSE_OUTPUT_AT {
            if !p.paused {
                p.paused = true;
                self.deadlines
                    .set(token, Deadline::Drain, now + self.timeouts.drain_ms);
                // Its frame waits on us now, not on the peer: its clock
                // starts again when it is read again.
                self.deadlines.clear(token, Deadline::Frame);
            }
            return Next::Wait;
        }
        loop {
            if budget.spent() {
                self.backlog.owe(token);
                return Next::Wait;
            }
            let step = reader.step(src, scratch);
            // The allocation, not just the bytes: that is the memory.
            let held = reader.allocated();
            self.partial_total = (self.partial_total + held).saturating_sub(p.buffered);
            p.buffered = held;
            match step {
                Ok(Step::Message(m)) => {
                    budget.spend_frame();
                    self.deadlines.clear(token, Deadline::Greeting);
                    self.deadlines.clear(token, Deadline::Frame);
                    return Next::Message(m);
                }
                Ok(Step::Read(n)) => {
                    budget.spend_bytes(n);
                    self.deadlines
                        .start(token, Deadline::Frame, now + self.timeouts.frame_ms);
                    if self.partial_total > MAX_PARTIAL_TOTAL {
                        return Next::Drop(format!(
                            "incomplete frames of all connections exceed {MAX_PARTIAL_TOTAL} bytes"
                        ));
                    }
                }
                Ok(Step::Blocked) => {
                    if reader.buffered() == 0 {
                        self.deadlines.clear(token, Deadline::Frame);
                    } else {
                        self.deadlines
                            .start(token, Deadline::Frame, now + self.timeouts.frame_ms);
                    }
                    return Next::Wait;
                }
                Err(e) => return Next::Failed(e),
            }
        }
    }

    /// `token`'s output was written down to `pending_out` bytes: if it had
    /// stopped being read, it is read again next turn.
    pub fn wrote(&mut self, token: usize, pending_out: usize) {
        let Some(p) = self.peers.get_mut(&token) else {
            return;
        };
        if p.paused && pending_out <= PAUSE_OUTPUT_AT {
            p.paused = false;
            self.deadlines.clear(token, Deadline::Drain);
            self.backlog.owe(token);
        }
    }

    /// Connections owed a read this turn (read them before sleeping).
    pub fn take_turn(&mut self) -> Vec<usize> {
        self.backlog.take_turn()
    }

    /// Whether some connection is owed a read: the loop must not sleep.
    pub fn busy(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Connections that missed a deadline, with the reason to close them.
    pub fn expired(&mut self, now: u64) -> Vec<(usize, String)> {
        self.acceptor.tick(now);
        self.deadlines
            .expired(now)
            .into_iter()
            .map(|(token, what)| (token, what.reason(self.timeouts.of(what))))
            .collect()
    }

    /// When the guard next has something to do (a deadline, a retry of
    /// the listener, the end of a burst of refusals).
    pub fn next_due(&self) -> Option<u64> {
        [self.deadlines.next_due(), self.acceptor.next_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Lines for the debug log since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        self.acceptor.take_notes()
    }

    /// A line saying what the limits are, for the start-up log, when the
    /// administrator set one (the defaults are documented, and FLEXlm's
    /// start-up lines have no such line).
    pub fn describe(&self) -> Option<String> {
        let l = self.limits();
        self.set_by_admin.then(|| {
            format!(
                "Connection limits: {} in all, {} per address; {} ms to send a first message \
                 or finish a frame",
                l.max_connections, l.per_address, self.timeouts.greeting_ms
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io::{self, ErrorKind};
    use wire::Heartbeat;

    /// A stream handing out its chunks one read at a time, then blocking.
    struct Chunks(VecDeque<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(c) = self.0.pop_front() else {
                return Err(ErrorKind::WouldBlock.into());
            };
            buf[..c.len()].copy_from_slice(&c);
            Ok(c.len())
        }
    }

    fn hb(seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        Message::Heartbeat(Heartbeat { seq, idle: false }).encode(&mut v);
        v
    }

    fn guard() -> ConnGuard {
        let limits = Limits {
            max_connections: 10,
            per_address: 10,
        };
        ConnGuard::with(limits, Timeouts::all(1_000), -237)
    }

    fn addr() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    fn messages(g: &mut ConnGuard, token: usize, r: &mut FrameReader, src: &mut Chunks) -> usize {
        let mut budget = Budget::new(3, usize::MAX);
        let mut n = 0;
        while let Next::Message(_) = g.step(token, &mut budget, r, src, &mut [0u8; 256], 0, 0) {
            n += 1;
        }
        n
    }

    #[test]
    fn a_share_per_turn_and_the_rest_next_turn() {
        let mut g = guard();
        g.opened(1, addr(), 0);
        let mut src = Chunks((0..7).map(hb).collect());
        let mut r = FrameReader::new(1024);
        assert_eq!(messages(&mut g, 1, &mut r, &mut src), 3);
        assert!(g.busy());
        assert_eq!(g.take_turn(), [1]);
        assert_eq!(messages(&mut g, 1, &mut r, &mut src), 3);
        assert_eq!(g.take_turn(), [1]);
        assert_eq!(messages(&mut g, 1, &mut r, &mut src), 1);
        assert!(!g.busy());
    }

    #[test]
    fn the_first_message_must_come_in_time() {
        let mut g = guard();
        g.opened(1, addr(), 0);
        g.opened(2, addr(), 0);
        let mut src = Chunks([hb(1)].into());
        let mut r = FrameReader::new(1024);
        assert_eq!(messages(&mut g, 2, &mut r, &mut src), 1);
        assert_eq!(g.next_due(), Some(1_000));
        let expired = g.expired(1_000);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].0, 1);
        assert!(expired[0].1.contains("no whole message within 1000 ms"));
    }

    #[test]
    fn a_frame_started_must_be_finished_in_time() {
        let mut g = guard();
        g.opened(1, addr(), 0);
        let whole = hb(1);
        let mut src = Chunks([whole[..5].to_vec()].into());
        let mut r = FrameReader::new(1024);
        let mut budget = Budget::per_turn();
        let scratch = &mut [0u8; 64];
        assert!(matches!(
            g.step(1, &mut budget, &mut r, &mut src, scratch, 0, 100),
            Next::Wait
        ));
        assert!(
            (5..=64).contains(&g.partial_bytes()),
            "{}",
            g.partial_bytes()
        );
        // More bytes of the same frame do not push the deadline back.
        src.0.push_back(whole[5..7].to_vec());
        assert!(matches!(
            g.step(1, &mut budget, &mut r, &mut src, scratch, 0, 900),
            Next::Wait
        ));
        let expired = g.expired(1_100);
        let reasons: Vec<&str> = expired.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(expired.len(), 2, "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("frame left incomplete")));
        g.closed(1);
        assert_eq!(g.partial_bytes(), 0);
        assert_eq!(g.connections(), 0);
    }

    #[test]
    fn a_connection_that_does_not_read_is_paused_then_closed() {
        let mut g = guard();
        g.opened(1, addr(), 0);
        let mut src = Chunks([hb(1)].into());
        let mut r = FrameReader::new(1024);
        let mut budget = Budget::per_turn();
        let scratch = &mut [0u8; 64];
        let over = PAUSE_OUTPUT_AT + 1;
        assert!(matches!(
            g.step(1, &mut budget, &mut r, &mut src, scratch, over, 10),
            Next::Wait
        ));
        // Nothing was read while paused.
        assert_eq!(src.0.len(), 1);
        // It drains: it is owed a read next turn.
        g.wrote(1, 0);
        assert_eq!(g.take_turn(), [1]);
        assert!(matches!(
            g.step(1, &mut budget, &mut r, &mut src, scratch, 0, 20),
            Next::Message(_)
        ));
        // It stops reading for good: closed after the drain timeout.
        let _ = g.step(1, &mut budget, &mut r, &mut src, scratch, over, 30);
        assert!(g.expired(1_029).iter().all(|(t, _)| *t != 1));
        let expired = g.expired(1_030);
        assert_eq!(expired.len(), 1);
        assert!(expired[0].1.contains("does not read its replies"));
    }

    #[test]
    fn incomplete_frames_are_bounded_in_total() {
        let mut g = guard();
        let mut readers = Vec::new();
        let big = {
            let mut v = Vec::new();
            wire::frame::encode_frame(1, &vec![0u8; 60_000], &mut v);
            v.truncate(v.len() - 1);
            v
        };
        let per_conn = big.len();
        let fits = MAX_PARTIAL_TOTAL / per_conn;
        let mut dropped = None;
        for token in 0..fits + 2 {
            g.opened(token, addr(), 0);
            let mut r = FrameReader::new(64 * 1024);
            let mut src = Chunks([big.clone()].into());
            let mut budget = Budget::per_turn();
            let mut scratch = vec![0u8; 64 * 1024];
            match g.step(token, &mut budget, &mut r, &mut src, &mut scratch, 0, 0) {
                Next::Wait => readers.push(r),
                Next::Drop(why) => {
                    dropped = Some((token, why));
                    g.closed(token);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        let (token, why) = dropped.expect("the total bound is enforced");
        assert_eq!(token, fits, "{why}");
        assert!(g.partial_bytes() <= MAX_PARTIAL_TOTAL);
    }
}
