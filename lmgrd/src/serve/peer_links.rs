//! The links between the members of a triad, as a pure state machine: when
//! to dial the two other members and how long to back off, the handshake
//! (our hello, their hello, and with a triad key the challenge and
//! response of `triad_auth`), keepalives, and when a stuck or silent link
//! is closed. It owns no socket and reads no clock: `triad_node` holds the
//! connections, tells it what happened with the time, and carries out the
//! actions it queues.
//!
//! # Driving it
//!
//! Inputs, each with `now` in milliseconds of lmgrd's clock:
//!
//! - [`PeerLinks::handle_timeout`] once per turn of the loop: dials the
//!   members that are due, closes links past their deadline, queues
//!   keepalives. Calling it early does nothing.
//! - [`PeerLinks::handle_resolved`] answers a [`Action::Resolve`];
//!   [`PeerLinks::handle_dial_failed`] a [`Action::Dial`] whose connect
//!   could not start, and [`PeerLinks::handle_connected`] one whose connect
//!   completed.
//! - [`PeerLinks::handle_accepted`]: a member's hello, accepted on lmgrd's
//!   port, took the slot [`PeerLinks::accepts_as`] names.
//! - [`PeerLinks::handle_frame`] for each frame read from a link, and
//!   [`PeerLinks::handle_closed`] when a link ends (the peer hung up, a
//!   read or write failed, a frame was refused).
//! - [`PeerLinks::handle_raft_out`] for each message raft sends.
//!
//! After each input, drain [`PeerLinks::poll_action`] until it returns
//! `None` and carry the actions out in order (a `Close` names a link as it
//! was when queued, so the queue must not outlive the next input);
//! [`PeerLinks::poll_timeout`] says when `handle_timeout` next has work.
//!
//! # The links of one member
//!
//! Each member dials both others and sends its raft messages on the link
//! it dialed (`Out`); it reads theirs on the links it accepted (`In`). So
//! there is no rule about which of two crossing connections wins. With a
//! triad key, an accepted link is held apart (`Proving`) until the dialer's
//! proof checked, and nothing read from it reaches raft before.

mod hello;
mod reasons;
mod refusals;

pub use hello::{check_hello, HelloRefusal};
pub use reasons::{DialFailure, LinkEnd};
pub use refusals::refusal_line;

use super::triad::TriadPlan;
use super::triad_auth::{self, NonceSource, Side, Transcript, TriadKey, NONCE_LEN};
use log::Level;
use refusals::Refusals;
use std::collections::VecDeque;
use std::net::SocketAddr;
use wire::codec::Blob;
use wire::{Message, TriadHello, TriadProof};

/// The first delay before a failed dial is retried; it doubles up to
/// [`DIAL_MAX_MS`].
pub const DIAL_FIRST_MS: u64 = 200;
/// The longest delay between two dials of one member.
pub const DIAL_MAX_MS: u64 = 1_000;
/// Output for one peer beyond this is dropped (raft sends again).
pub const MAX_PEER_OUTPUT: usize = 8 << 20;
/// Which of a member's connections a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// The one this member dialed: it sends its raft messages there.
    Out,
    /// One the member dialed to us, hello answered (and key proved).
    In,
    /// One the member dialed to us, waiting for its proof of the key.
    Proving,
}

/// One link: whose, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId {
    pub member: u64,
    pub kind: LinkKind,
}

impl LinkId {
    pub fn new(member: u64, kind: LinkKind) -> LinkId {
        LinkId { member, kind }
    }
}

/// What the state machine asks `triad_node` to do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Look up the addresses of `host`, and give them to
    /// [`PeerLinks::handle_resolved`].
    Resolve {
        member: u64,
        host: String,
        port: u16,
    },
    /// Start a non-blocking connect to `addr` for the member's `Out` link.
    Dial { member: u64, addr: SocketAddr },
    /// Queue `msg` on `link`.
    Send { link: LinkId, msg: Message },
    /// The member's `Proving` link proved the key: it becomes its `In`
    /// link, replacing any older one.
    Promote { member: u64 },
    /// Drop the link's connection.
    Close(LinkId),
    /// Tell raft that messages to this member were lost.
    Unreachable(u64),
    /// A debug-log line.
    Log(Level, String),
}

/// What a frame read from a link comes to, when it does not end the link.
#[derive(Debug, PartialEq)]
pub enum Heard {
    /// Nothing more to do (a keepalive, a step of the handshake).
    Nothing,
    /// A raft message from the link's member, for raft to step.
    Raft(Vec<u8>),
    /// The link proved the key and is now the member's `In` link: carry
    /// out the `Promote` before reading on from it as such.
    Promoted,
}

/// The links' clocks, from raft's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a dial may take, hello included, and how long a member
    /// that dialed us has to prove the key.
    pub handshake_ms: u64,
    /// A ready link on which nothing was heard for this long is closed.
    pub stale_ms: u64,
    /// How often a ready link carries a keepalive, so that two followers
    /// raft keeps silent still know each other is up.
    pub keepalive_ms: u64,
    /// A member heard from within this long counts as up.
    pub up_ms: u64,
}

impl Timing {
    /// The timing for raft's heartbeat and election timeout.
    pub fn new(heartbeat_ms: u64, election_ms: u64) -> Timing {
        let floor = election_ms.max(1_000);
        Timing {
            handshake_ms: floor,
            stale_ms: 3 * floor,
            keepalive_ms: heartbeat_ms,
            up_ms: election_ms,
        }
    }
}

/// The state of the link a member dials.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    /// No link; the next dial is due at `next_dial`.
    Idle { next_dial: u64 },
    /// Waiting for the addresses of the member's host.
    Resolving,
    /// The connect is under way; `nonce` is our challenge (empty without
    /// a key).
    Connecting {
        addr: SocketAddr,
        since: u64,
        nonce: Vec<u8>,
    },
    /// Our hello went out; waiting for the member's.
    Hello {
        addr: SocketAddr,
        since: u64,
        nonce: Vec<u8>,
    },
    /// Both sides know each other: raft messages flow.
    Ready {
        addr: SocketAddr,
        next_keepalive: u64,
    },
}

/// An accepted link waiting for its dialer's proof of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proving {
    addr: SocketAddr,
    dialer_nonce: Vec<u8>,
    acceptor_nonce: [u8; NONCE_LEN],
    since: u64,
}

/// Everything about one of the two other members.
#[derive(Debug)]
struct Peer {
    member: u64,
    label: String,
    host: String,
    port: u16,
    /// Its host's addresses, looked up at the first dial; dials go round
    /// them.
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    out: Out,
    /// The delay before the next retry, after a failed dial.
    backoff: u64,
    /// The address of its established accepted link.
    inbound: Option<SocketAddr>,
    proving: Option<Proving>,
    /// Last time any frame came from this member.
    last_heard: Option<u64>,
    /// The last dial failure logged, so a member that stays down is logged
    /// once rather than at every retry.
    last_error: Option<String>,
    /// Raft messages dropped because it did not read.
    dropped: u64,
}

/// How one peer looks from here, for lmstat and the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// Heard from within [`Timing::up_ms`].
    pub up: bool,
    /// Why it is up or down, in words.
    pub reason: String,
}

/// This member's links to the two others.
pub struct PeerLinks {
    me: u64,
    cluster: String,
    peers: Vec<Peer>,
    /// The triad key; `None`: links are not authenticated.
    key: Option<TriadKey>,
    nonces: Box<dyn NonceSource>,
    timing: Timing,
    refusals: Refusals,
    actions: VecDeque<Action>,
}

impl PeerLinks {
    /// Links to the two other members of `plan`, the first dials due at
    /// `now`.
    pub fn new(
        plan: &TriadPlan,
        key: Option<TriadKey>,
        nonces: Box<dyn NonceSource>,
        timing: Timing,
        now: u64,
    ) -> PeerLinks {
        let peers = plan
            .peers()
            .map(|m| {
                let l = plan.line(m);
                Peer {
                    member: m,
                    label: l.label(),
                    host: l.host.clone(),
                    port: l.port,
                    addrs: Vec::new(),
                    next_addr: 0,
                    out: Out::Idle { next_dial: now },
                    backoff: DIAL_FIRST_MS,
                    inbound: None,
                    proving: None,
                    last_heard: None,
                    last_error: None,
                    dropped: 0,
                }
            })
            .collect();
        PeerLinks {
            me: plan.me,
            cluster: plan.cluster.clone(),
            peers,
            key,
            nonces,
            timing,
            refusals: Refusals::default(),
            actions: VecDeque::new(),
        }
    }

    /// Whether links are authenticated with a triad key.
    pub fn keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The next thing to do, in order.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> u64 {
        let t = self.timing;
        self.peers
            .iter()
            .flat_map(|p| {
                let out = match p.out {
                    Out::Idle { next_dial } => next_dial,
                    Out::Resolving => u64::MAX,
                    Out::Connecting { since, .. } | Out::Hello { since, .. } => {
                        since + t.handshake_ms
                    }
                    Out::Ready { next_keepalive, .. } => next_keepalive,
                };
                let proving = p
                    .proving
                    .as_ref()
                    .map_or(u64::MAX, |v| v.since + t.handshake_ms);
                [out, proving]
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    fn index(&self, member: u64) -> Option<usize> {
        self.peers.iter().position(|p| p.member == member)
    }

    fn log(&mut self, level: Level, line: String) {
        self.actions.push_back(Action::Log(level, line));
    }

    // ------------------------------------------------------------ dialing

    /// Time passed: dials what is due, closes links past their deadline,
    /// queues keepalives.
    pub fn handle_timeout(&mut self, now: u64) {
        for i in 0..self.peers.len() {
            self.dial_if_due(i, now);
        }
        self.watch_out_links(now);
        self.watch_proving_links(now);
    }

    fn dial_if_due(&mut self, i: usize, now: u64) {
        let p = &mut self.peers[i];
        match p.out {
            Out::Idle { next_dial } if now >= next_dial => {}
            _ => return,
        }
        if p.addrs.is_empty() {
            // Looked up at the dial rather than at start-up, so a member
            // whose name does not resolve yet is found once it does.
            p.out = Out::Resolving;
            let (member, host, port) = (p.member, p.host.clone(), p.port);
            self.actions
                .push_back(Action::Resolve { member, host, port });
            return;
        }
        self.dial(i, now);
    }

    /// The addresses of a member's host, as [`Action::Resolve`] asked.
    pub fn handle_resolved(
        &mut self,
        member: u64,
        found: std::io::Result<Vec<SocketAddr>>,
        now: u64,
    ) {
        let Some(i) = self.index(member) else {
            return;
        };
        let p = &mut self.peers[i];
        if p.out != Out::Resolving {
            return;
        }
        match found {
            Err(source) => {
                let host = p.host.clone();
                self.dial_failed(i, &DialFailure::Resolve { host, source }, now);
            }
            Ok(addrs) if addrs.is_empty() => {
                let host = p.host.clone();
                self.dial_failed(i, &DialFailure::NoAddress(host), now);
            }
            Ok(addrs) => {
                p.addrs = addrs;
                self.dial(i, now);
            }
        }
    }

    /// Dials the member's next address.
    fn dial(&mut self, i: usize, now: u64) {
        let p = &mut self.peers[i];
        let addr = p.addrs[p.next_addr % p.addrs.len()];
        p.next_addr = p.next_addr.wrapping_add(1);
        let nonce = if self.keyed() {
            match self.nonces.fresh() {
                Ok(n) => n.to_vec(),
                Err(e) => return self.dial_failed(i, &DialFailure::Nonce(e), now),
            }
        } else {
            Vec::new()
        };
        let p = &mut self.peers[i];
        p.out = Out::Connecting {
            addr,
            since: now,
            nonce,
        };
        let member = p.member;
        self.actions.push_back(Action::Dial { member, addr });
    }

    /// The connect an [`Action::Dial`] asked for could not start.
    pub fn handle_dial_failed(&mut self, member: u64, why: &DialFailure, now: u64) {
        let Some(i) = self.index(member) else {
            return;
        };
        if matches!(self.peers[i].out, Out::Connecting { .. }) {
            self.dial_failed(i, why, now);
        }
    }

    fn dial_failed(&mut self, i: usize, why: &DialFailure, now: u64) {
        self.log_dial_failure(i, why.to_string());
        self.schedule_redial(i, now);
    }

    fn log_dial_failure(&mut self, i: usize, why: String) {
        let p = &mut self.peers[i];
        if p.last_error.as_deref() != Some(why.as_str()) {
            let line = format!("Cannot connect to {}: {why}; retrying", p.label);
            p.last_error = Some(why);
            self.log(Level::Info, line);
        }
    }

    fn schedule_redial(&mut self, i: usize, now: u64) {
        let p = &mut self.peers[i];
        p.out = Out::Idle {
            next_dial: now + p.backoff,
        };
        p.backoff = (p.backoff * 2).min(DIAL_MAX_MS);
    }

    /// A dial's connect completed: our hello goes out.
    pub fn handle_connected(&mut self, member: u64) {
        let Some(i) = self.index(member) else {
            return;
        };
        let Out::Connecting { addr, since, nonce } = self.peers[i].out.clone() else {
            return;
        };
        let hello = self.hello(Blob(nonce.clone()), Blob(Vec::new()));
        self.peers[i].out = Out::Hello { addr, since, nonce };
        self.actions.push_back(Action::Send {
            link: LinkId::new(member, LinkKind::Out),
            msg: hello,
        });
    }

    fn hello(&self, nonce: Blob, proof: Blob) -> Message {
        Message::TriadHello(TriadHello {
            member: self.me as u32,
            cluster: self.cluster.clone(),
            nonce,
            proof,
        })
    }

    // ------------------------------------------------------------ accepting

    /// Which slot a connection accepted from a member takes: `Proving`
    /// with a key, `In` without.
    pub fn accepts_as(&self) -> LinkKind {
        if self.keyed() {
            LinkKind::Proving
        } else {
            LinkKind::In
        }
    }

    /// Whether a `TriadHello` on lmgrd's port comes from one of our peers.
    pub fn check_hello(&self, plan: &TriadPlan, h: &TriadHello) -> Result<u64, HelloRefusal> {
        check_hello(plan, self.keyed(), h)
    }

    /// A connection from `member` at `addr`, whose hello
    /// [`check_hello`](Self::check_hello) passed, now holds the slot
    /// [`accepts_as`](Self::accepts_as) names (any older one there is
    /// gone). `dialer_nonce` is the hello's challenge (empty without a
    /// key). Our hello answers it: with a key, it carries our challenge and
    /// our proof, and the link proves before raft hears from it.
    pub fn handle_accepted(
        &mut self,
        member: u64,
        addr: SocketAddr,
        dialer_nonce: Vec<u8>,
        now: u64,
    ) {
        let Some(i) = self.index(member) else {
            return;
        };
        let Some(key) = &self.key else {
            let p = &mut self.peers[i];
            let line = format!("Triad connection from {} at {addr}", p.label);
            p.inbound = Some(addr);
            p.last_heard = Some(now);
            self.log(Level::Info, line);
            let hello = self.hello(Blob(Vec::new()), Blob(Vec::new()));
            let link = LinkId::new(member, LinkKind::In);
            self.actions.push_back(Action::Send { link, msg: hello });
            return;
        };
        let link = LinkId::new(member, LinkKind::Proving);
        let acceptor_nonce = match self.nonces.fresh() {
            Ok(n) => n,
            Err(why) => {
                self.peers[i].proving = None;
                self.log(
                    Level::Warn,
                    format!("Cannot answer the triad connection from {addr}: {why}"),
                );
                self.actions.push_back(Action::Close(link));
                return;
            }
        };
        let t = Transcript {
            cluster: &self.cluster,
            dialer: member,
            acceptor: self.me,
            dialer_nonce: &dialer_nonce,
            acceptor_nonce: &acceptor_nonce,
        };
        let proof = key.prove(Side::Acceptor, &t);
        let hello = self.hello(Blob(acceptor_nonce.to_vec()), Blob(proof));
        // Only one link of a member proves at a time; one that has not yet
        // is dropped for the newer (the established link stays).
        self.peers[i].proving = Some(Proving {
            addr,
            dialer_nonce,
            acceptor_nonce,
            since: now,
        });
        self.actions.push_back(Action::Send { link, msg: hello });
    }

    /// Logs a refused triad connection when it is news: once per address
    /// and reason, until it has been quiet for a while, so a member
    /// retrying with the wrong key (or a stranger knocking) does not fill
    /// the log.
    pub fn refuse(&mut self, addr: SocketAddr, member: u64, why: &str, now: u64) {
        if self.refusals.is_news(addr.ip(), why, now) {
            self.log(Level::Warn, refusal_line(addr, member, why));
        }
    }

    // ------------------------------------------------------------ frames

    /// A frame read from `link`. An error means the link must end: pass it
    /// to [`handle_closed`](Self::handle_closed) and read no more from it.
    pub fn handle_frame(&mut self, link: LinkId, m: Message, now: u64) -> Result<Heard, LinkEnd> {
        let Some(i) = self.index(link.member) else {
            return Ok(Heard::Nothing);
        };
        match link.kind {
            LinkKind::Out => self.frame_on_out(i, m, now),
            LinkKind::In if self.peers[i].inbound.is_some() => self.raft_frame(i, m, now),
            LinkKind::In => Ok(Heard::Nothing),
            LinkKind::Proving => self.frame_on_proving(i, m, now),
        }
    }

    fn frame_on_out(&mut self, i: usize, m: Message, now: u64) -> Result<Heard, LinkEnd> {
        match (&self.peers[i].out, m) {
            (Out::Hello { .. }, Message::TriadHello(h)) => {
                self.answered(i, h, now)?;
                Ok(Heard::Nothing)
            }
            (Out::Ready { .. }, m @ (Message::TriadRaft(_) | Message::Heartbeat(_))) => {
                self.raft_frame(i, m, now)
            }
            (_, Message::Error(e)) => Err(LinkEnd::Refused {
                text: e.text,
                code: e.code,
            }),
            (_, other) => Err(LinkEnd::Unexpected(other.kind())),
        }
    }

    /// A raft message or keepalive on a ready link.
    fn raft_frame(&mut self, i: usize, m: Message, now: u64) -> Result<Heard, LinkEnd> {
        let p = &mut self.peers[i];
        match m {
            Message::TriadRaft(r) => {
                p.last_heard = Some(now);
                Ok(Heard::Raft(r.payload.0))
            }
            Message::Heartbeat(_) => {
                p.last_heard = Some(now);
                Ok(Heard::Nothing)
            }
            other => Err(LinkEnd::Unexpected(other.kind())),
        }
    }

    /// The member we dialed answered our hello: it must be the member we
    /// meant, of our triad, and with a key it must prove it, after which
    /// we prove ours.
    fn answered(&mut self, i: usize, h: TriadHello, now: u64) -> Result<(), LinkEnd> {
        let p = &self.peers[i];
        let Out::Hello { addr, nonce, .. } = &p.out else {
            return Ok(());
        };
        let (addr, member) = (*addr, p.member);
        if u64::from(h.member) != member || h.cluster != self.cluster {
            return Err(LinkEnd::WrongMember {
                addr,
                member: h.member,
                cluster: h.cluster,
                want: member,
                want_cluster: self.cluster.clone(),
            });
        }
        let peer = format!("member {member} at {addr}");
        let us = format!("member {}", self.me);
        triad_auth::key_use(self.key.is_some(), !h.nonce.0.is_empty(), &peer, &us)?;
        if let Some(key) = &self.key {
            let t = Transcript {
                cluster: &self.cluster,
                dialer: self.me,
                acceptor: member,
                dialer_nonce: nonce,
                acceptor_nonce: &h.nonce.0,
            };
            if !key.verify(Side::Acceptor, &t, &h.proof.0) {
                return Err(LinkEnd::AcceptorProof(addr));
            }
            let proof = Blob(key.prove(Side::Dialer, &t));
            self.actions.push_back(Action::Send {
                link: LinkId::new(member, LinkKind::Out),
                msg: Message::TriadProof(TriadProof { proof }),
            });
        }
        let p = &mut self.peers[i];
        p.out = Out::Ready {
            addr,
            next_keepalive: now,
        };
        p.last_heard = Some(now);
        p.backoff = DIAL_FIRST_MS;
        p.last_error = None;
        let line = format!("Connected to {} at {addr}", p.label);
        self.log(Level::Info, line);
        Ok(())
    }

    /// The first frame of a proving link must be a good proof; once it
    /// is, the link becomes the member's inbound link.
    fn frame_on_proving(&mut self, i: usize, m: Message, now: u64) -> Result<Heard, LinkEnd> {
        let (Some(key), Some(v)) = (&self.key, &self.peers[i].proving) else {
            return Ok(Heard::Nothing);
        };
        let member = self.peers[i].member;
        let proof = match m {
            Message::TriadProof(pr) => pr.proof.0,
            other => return Err(LinkEnd::Unproven(other.kind())),
        };
        let t = Transcript {
            cluster: &self.cluster,
            dialer: member,
            acceptor: self.me,
            dialer_nonce: &v.dialer_nonce,
            acceptor_nonce: &v.acceptor_nonce,
        };
        if !key.verify(Side::Dialer, &t, &proof) {
            return Err(LinkEnd::DialerProof);
        }
        let addr = v.addr;
        let p = &mut self.peers[i];
        p.proving = None;
        p.inbound = Some(addr);
        p.last_heard = Some(now);
        let line = format!(
            "Triad connection from {} at {addr} (triad key checked)",
            p.label
        );
        self.actions.push_back(Action::Promote { member });
        self.log(Level::Info, line);
        Ok(Heard::Promoted)
    }

    // ------------------------------------------------------------ closing

    /// `link` ended for `why` (its connection is to be dropped, if the
    /// caller has not already).
    pub fn handle_closed(&mut self, link: LinkId, why: LinkEnd, now: u64) {
        let Some(i) = self.index(link.member) else {
            return;
        };
        match link.kind {
            LinkKind::Out => self.close_out(i, &why, now),
            LinkKind::In => self.close_in(i, &why),
            LinkKind::Proving => self.close_proving(i, &why, now),
        }
    }

    fn close_out(&mut self, i: usize, why: &LinkEnd, now: u64) {
        let p = &mut self.peers[i];
        let member = p.member;
        match &p.out {
            Out::Idle { .. } | Out::Resolving => return,
            Out::Ready { .. } => {
                let line = format!("Lost connection to {}: {why}", p.label);
                p.last_error = None;
                self.log(Level::Info, line);
            }
            Out::Connecting { addr, .. } | Out::Hello { addr, .. } => {
                let why = format!("{addr}: {why}");
                self.log_dial_failure(i, why);
            }
        }
        self.actions
            .push_back(Action::Close(LinkId::new(member, LinkKind::Out)));
        self.schedule_redial(i, now);
        self.actions.push_back(Action::Unreachable(member));
    }

    fn close_in(&mut self, i: usize, why: &LinkEnd) {
        let p = &mut self.peers[i];
        let Some(addr) = p.inbound.take() else {
            return;
        };
        let (level, line) = match why {
            LinkEnd::Answer(e) => (
                Level::Info,
                format!("Connection from {} at {addr} failed: {e}", p.label),
            ),
            LinkEnd::Watch(e) => (
                Level::Warn,
                format!(
                    "cannot watch the connection from {} at {addr}: {e}",
                    p.label
                ),
            ),
            why => (
                Level::Info,
                format!("Connection from {} at {addr} closed: {why}", p.label),
            ),
        };
        let member = p.member;
        self.actions
            .push_back(Action::Close(LinkId::new(member, LinkKind::In)));
        self.log(level, line);
    }

    fn close_proving(&mut self, i: usize, why: &LinkEnd, now: u64) {
        let p = &mut self.peers[i];
        let Some(v) = p.proving.take() else {
            return;
        };
        let member = p.member;
        self.actions
            .push_back(Action::Close(LinkId::new(member, LinkKind::Proving)));
        match why {
            LinkEnd::Answer(e) => {
                let line = format!("Connection from {} at {} failed: {e}", p.label, v.addr);
                self.log(Level::Info, line);
            }
            // A dialer that gives up is no news; one that misbehaves is.
            why if why.is_hang_up() => {}
            why => self.refuse(v.addr, member, &why.to_string(), now),
        }
    }

    /// Closes dials that do not finish their handshake in time and ready
    /// links whose member fell silent, and queues keepalives.
    fn watch_out_links(&mut self, now: u64) {
        let t = self.timing;
        for i in 0..self.peers.len() {
            let p = &mut self.peers[i];
            let silent = p
                .last_heard
                .is_none_or(|at| now.saturating_sub(at) >= t.stale_ms);
            match &mut p.out {
                Out::Connecting { addr, since, .. } | Out::Hello { addr, since, .. }
                    if now >= *since + t.handshake_ms =>
                {
                    let why = LinkEnd::NoAnswer {
                        addr: *addr,
                        ms: t.handshake_ms,
                    };
                    self.close_out(i, &why, now);
                }
                Out::Ready { .. } if silent => self.close_out(i, &LinkEnd::Silent(t.stale_ms), now),
                Out::Ready { next_keepalive, .. } if now >= *next_keepalive => {
                    *next_keepalive = now + t.keepalive_ms;
                    let link = LinkId::new(p.member, LinkKind::Out);
                    let msg = Message::Heartbeat(wire::Heartbeat {
                        seq: 0,
                        idle: false,
                    });
                    self.actions.push_back(Action::Send { link, msg });
                }
                _ => {}
            }
        }
    }

    /// Refuses accepted links that did not prove the key in time.
    fn watch_proving_links(&mut self, now: u64) {
        let ms = self.timing.handshake_ms;
        for i in 0..self.peers.len() {
            let late = self.peers[i]
                .proving
                .as_ref()
                .is_some_and(|v| now >= v.since + ms);
            if late {
                self.close_proving(i, &LinkEnd::ProofTimeout(ms), now);
            }
        }
    }

    // ------------------------------------------------------------ raft

    /// Raft has a message for `to`; `backlog` is what is still unwritten
    /// on its `Out` link. It goes out on a ready link that is not backed
    /// up; otherwise it is dropped, as raft sends again.
    pub fn handle_raft_out(&mut self, to: u64, payload: Vec<u8>, backlog: usize) {
        let Some(i) = self.index(to) else {
            return;
        };
        let p = &mut self.peers[i];
        if !matches!(p.out, Out::Ready { .. }) {
            // Not connected: raft sends again once it is.
            return;
        }
        if backlog < MAX_PEER_OUTPUT {
            self.actions.push_back(Action::Send {
                link: LinkId::new(to, LinkKind::Out),
                msg: Message::TriadRaft(wire::TriadRaft {
                    payload: Blob(payload),
                }),
            });
            return;
        }
        p.dropped += 1;
        if p.dropped.is_power_of_two() {
            let line = format!(
                "{} is not reading: {} messages for it dropped",
                p.label, p.dropped
            );
            self.log(Level::Warn, line);
        }
    }

    // ------------------------------------------------------------ views

    /// The members heard from within [`Timing::up_ms`].
    pub fn heard(&self, now: u64) -> Vec<u64> {
        self.peers
            .iter()
            .filter(|p| self.is_up(p, now))
            .map(|p| p.member)
            .collect()
    }

    fn is_up(&self, p: &Peer, now: u64) -> bool {
        p.last_heard
            .is_some_and(|t| now.saturating_sub(t) < self.timing.up_ms)
    }

    /// How `member` looks from here; `None` for a member that is not a
    /// peer.
    pub fn view(&self, member: u64, now: u64) -> Option<PeerView> {
        let p = self.peers.iter().find(|p| p.member == member)?;
        let heard = p.last_heard.map(|t| now.saturating_sub(t));
        let up = self.is_up(p, now);
        let reason = match (heard, &p.last_error) {
            (Some(ms), _) if up => format!("heard from {ms} ms ago"),
            (_, Some(e)) => format!("down: {e}"),
            (Some(ms), None) => format!("down: last heard from {ms} ms ago"),
            (None, None) => "down: never heard from".to_string(),
        };
        Some(PeerView { up, reason })
    }
}

#[cfg(test)]
mod tests;
