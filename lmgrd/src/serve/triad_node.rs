//! A triad member's I/O, driven by lmgrd's mio loop: the consensus member
//! (`triad::Member`), the links to the two other lmgrds, and the socket
//! pair to each vendor daemon. What to decide is in `triad.rs` and in the
//! `triad` crate; this module moves bytes and keeps the bookkeeping.
//!
//! # Links between members
//!
//! Every member dials both others on their SERVER line's address (a
//! non-blocking connect, retried every 200 ms, backing off to 1 s), sends
//! `TriadHello { member, cluster, nonce }` and waits for the same back
//! before it sends anything else: the answer shows it reached the member it
//! meant, of the same triad, and the wait keeps the accepting side's
//! client-sized decoder from ever holding a raft frame. With a triad key
//! (`triad_auth`), the answer also carries the acceptor's proof of the key,
//! which the dialer checks before it sends its own (`TriadProof`) and then
//! raft messages; the acceptor holds the link apart (a *proving* link, its
//! own token) and hands nothing from it to raft until that proof checked.
//! Without a key, links are taken on the hello alone (and lmgrd warns at
//! start); a key on one side only fails the link, logged on both. Each member sends its own raft
//! messages (and a keepalive `Heartbeat` every heartbeat interval, so two
//! followers that raft keeps silent still know each other is up) on the
//! connection it dialed, and reads its peers' on the connections it
//! accepted; so there is no rule about which of two crossing connections
//! wins. A link whose peer sends a bad frame is closed and logged; the
//! others carry on. Messages for a peer that is not connected, or whose
//! output has piled up, are dropped: raft sends again.
//!
//! # Links to vendor daemons
//!
//! A vendor daemon's socket pair carries `Propose` up and `Replicate` and
//! `TriadRole` down. A (re)started daemon is sent every committed payload of
//! its vendor, then the current role; then each new commit as it comes, and
//! each change of role. A daemon that was told it serves and is then told it
//! does not is *spent*: it is expected to exit, its proposals are dropped,
//! and its exit is no crash (it is restarted at once as a standby).

use super::triad::{
    quorum_line, role_lines, Replay, Role, TriadPlan, VendorEntry, MINOR_NOT_MASTER,
    MINOR_NO_MASTER,
};
use super::triad_auth::{self, Side, Transcript, TriadKey, NONCE_LEN};
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use triad::{Event, Member, MemberConfig, Store};
use wire::codec::Blob;
use wire::io::{FrameReader, LinkError, OutBuf};
use wire::{lmerr, ErrorReply, Message, TriadHello, TriadMember, TriadProof};

/// Outbound links use tokens `PEER_OUT_BASE + member`.
pub const PEER_OUT_BASE: usize = 4;
/// Accepted links use tokens `PEER_IN_BASE + member`.
pub const PEER_IN_BASE: usize = 8;
/// Accepted links whose dialer has not proved the triad key yet use tokens
/// `PEER_PROVING_BASE + member`.
pub const PEER_PROVING_BASE: usize = 12;
/// Vendor daemon links use tokens `VENDOR_LINK_BASE + vendor index`.
pub const VENDOR_LINK_BASE: usize = 1 << 29;

/// Largest frame read from a peer or a vendor daemon: raft sends at least
/// one whole entry per message, and one vendor batch can be large.
const MAX_FRAME: usize = 16 << 20;
/// How much is read from a link at once (decoded before the next read).
const READ_CHUNK: usize = 64 * 1024;
/// Output for one peer beyond this is dropped (raft sends again).
const MAX_PEER_OUTPUT: usize = 8 << 20;
const DIAL_FIRST_MS: u64 = 200;
const DIAL_MAX_MS: u64 = 1_000;
/// A refused triad connection is logged again only after this long without
/// another from the same address for the same reason.
const REFUSAL_QUIET_MS: u64 = 30_000;
/// Addresses remembered for that, at most.
const MAX_REFUSALS: usize = 256;

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    PeerOut(u64),
    PeerIn(u64),
    PeerProving(u64),
    Vendor(usize),
}

pub fn target(token: Token) -> Option<Target> {
    match token.0 {
        t if (PEER_OUT_BASE + 1..=PEER_OUT_BASE + 3).contains(&t) => {
            Some(Target::PeerOut((t - PEER_OUT_BASE) as u64))
        }
        t if (PEER_IN_BASE + 1..=PEER_IN_BASE + 3).contains(&t) => {
            Some(Target::PeerIn((t - PEER_IN_BASE) as u64))
        }
        t if (PEER_PROVING_BASE + 1..=PEER_PROVING_BASE + 3).contains(&t) => {
            Some(Target::PeerProving((t - PEER_PROVING_BASE) as u64))
        }
        t if (VENDOR_LINK_BASE..VENDOR_LINK_BASE * 2).contains(&t) => {
            Some(Target::Vendor(t - VENDOR_LINK_BASE))
        }
        _ => None,
    }
}

/// Why a link to a peer member or a vendor daemon ended.
#[derive(Debug, thiserror::Error)]
enum LinkEnd {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("unexpected message 0x{0:02x}")]
    Unexpected(u8),
    #[error("bad raft message: {0}")]
    BadRaft(String),
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
    #[error("{0}")]
    KeyMismatch(String),
    #[error("{0} did not prove the triad key: its key differs from this member's")]
    BadProof(String),
    #[error("it sent message 0x{0:02x} before proving the triad key")]
    Unproven(u8),
}

impl LinkEnd {
    fn is_hang_up(&self) -> bool {
        matches!(self, LinkEnd::Link(e) if e.is_hang_up())
    }
}

/// A raft message or keepalive from member `from` on a ready link.
fn on_raft(
    raft: &mut Member,
    last_heard: &mut Option<u64>,
    from: u64,
    now: u64,
    m: Message,
) -> Result<(), LinkEnd> {
    match m {
        Message::TriadRaft(r) => {
            *last_heard = Some(now);
            raft.step(now, from, &r.payload.0)
                .map_err(|e| LinkEnd::BadRaft(e.to_string()))
        }
        Message::Heartbeat(_) => {
            *last_heard = Some(now);
            Ok(())
        }
        other => Err(LinkEnd::Unexpected(other.kind())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// The non-blocking connect is under way.
    Connecting,
    /// Our `TriadHello` went out; waiting for the peer's.
    Hello,
    /// Both sides know each other: raft messages flow.
    Ready,
}

struct Outbound {
    stream: TcpStream,
    addr: SocketAddr,
    state: OutState,
    reader: FrameReader,
    out: OutBuf,
    /// When the connect started (handshake deadline).
    since: u64,
    next_keepalive: u64,
    /// Our challenge in the hello (empty without a key).
    nonce: Vec<u8>,
}

struct Inbound {
    stream: TcpStream,
    addr: SocketAddr,
    reader: FrameReader,
    out: OutBuf,
}

/// An accepted link waiting for its dialer's proof of the key.
struct Proving {
    conn: Inbound,
    dialer_nonce: Vec<u8>,
    acceptor_nonce: [u8; NONCE_LEN],
    since: u64,
}

/// When each (address, reason) of a refused connection was last seen: a
/// burst of refusals (a member retrying with the wrong key, a stranger
/// knocking) is news once, and again after `REFUSAL_QUIET_MS` of quiet.
#[derive(Default)]
struct Refusals {
    seen: HashMap<(IpAddr, String), u64>,
}

impl Refusals {
    fn is_news(&mut self, ip: IpAddr, why: &str, now: u64) -> bool {
        if self.seen.len() >= MAX_REFUSALS {
            self.seen
                .retain(|_, at| now.saturating_sub(*at) < REFUSAL_QUIET_MS);
            if self.seen.len() >= MAX_REFUSALS {
                self.seen.clear();
            }
        }
        let last = self.seen.insert((ip, why.to_string()), now);
        last.is_none_or(|at| now.saturating_sub(at) >= REFUSAL_QUIET_MS)
    }
}

/// Everything about one of the two other members.
struct Peer {
    member: u64,
    label: String,
    host: String,
    port: u16,
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    out: Option<Outbound>,
    inbound: Option<Inbound>,
    proving: Option<Proving>,
    next_dial: u64,
    backoff: u64,
    /// Last time any frame came from this member.
    last_heard: Option<u64>,
    /// The last dial failure logged, so a member that stays down is logged
    /// once rather than every retry.
    last_error: Option<String>,
    dropped: u64,
}

struct VendorLink {
    name: String,
    stream: UnixStream,
    reader: FrameReader,
    out: OutBuf,
    pid: Option<i32>,
    /// What the daemon was last told about serving.
    told: Option<bool>,
    /// Told it serves, then that it does not: it exits.
    spent: bool,
    dropped_logged: bool,
}

impl VendorLink {
    fn tell(&mut self, role: Role, member: u64, term: u64, reason: &str) {
        if self.spent {
            return;
        }
        if self.told == Some(true) && !role.serving {
            self.spent = true;
        }
        self.told = Some(role.serving);
        self.out.push(&Message::TriadRole(wire::TriadRole {
            serving: role.serving,
            member: member as u32,
            master: role.master.unwrap_or(0) as u32,
            term,
            reason: reason.to_string(),
        }));
    }
}

/// This lmgrd as a member of its triad.
pub struct TriadNode {
    plan: TriadPlan,
    store_path: PathBuf,
    member: Member,
    peers: Vec<Peer>,
    vendors: HashMap<usize, VendorLink>,
    /// Pids of spent vendor daemons that have not exited yet.
    spent_pids: HashSet<i32>,
    replay: Replay,
    /// Log entries applied since the last compaction, and how many make one.
    since_compaction: u64,
    compact_every: u64,
    /// Proposals read from vendor daemons, proposed at the next pump once
    /// the member's events are drained (serving is judged only then).
    proposals: Vec<(usize, Blob)>,
    role: Role,
    quorum: bool,
    ever_quorum: bool,
    /// `-t`: when start-up stops waiting quietly for a majority.
    wait_until: u64,
    wait_s: u32,
    wait_logged: bool,
    heartbeat_ms: u64,
    election_ms: u64,
    /// The triad key; `None`: links are not authenticated.
    key: Option<TriadKey>,
    /// Refused connections, for logging each burst once.
    refusals: Refusals,
}

impl TriadNode {
    /// Opens the store and starts the member. `wait_s` is `lmgrd -t`;
    /// `key` the triad key, `None` for unauthenticated links.
    pub fn new(
        plan: TriadPlan,
        store_path: &Path,
        wait_s: u32,
        key: Option<&[u8]>,
        now: u64,
    ) -> Result<TriadNode, String> {
        let store = Store::open(store_path).map_err(|e| {
            format!(
                "cannot open the triad store \"{}\": {e}",
                store_path.display()
            )
        })?;
        let mut cfg = MemberConfig::new(plan.me)
            .with_license_timing(plan.heartbeat_interval, plan.server_timeout);
        cfg.primary_is_master = plan.primary_is_master;
        cfg.seed = random_seed();
        let heartbeat_ms = cfg.tick_ms * cfg.heartbeat_ticks as u64;
        let election_ms = cfg.election_ms();
        log::info!(
            "Triad member {} of 3 ({}, {}): heartbeat {heartbeat_ms} ms, server timeout {election_ms} ms, lease {} ms{}",
            plan.me,
            ["primary", "secondary", "tertiary"][plan.me as usize - 1],
            plan.mine().port_at_host(),
            cfg.lease_ms(),
            if plan.primary_is_master { ", PRIMARY_IS_MASTER" } else { "" }
        );
        let member = Member::new(cfg, store, now).map_err(|e| format!("triad: {e}"))?;
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
                    out: None,
                    inbound: None,
                    proving: None,
                    next_dial: now,
                    backoff: DIAL_FIRST_MS,
                    last_heard: None,
                    last_error: None,
                    dropped: 0,
                }
            })
            .collect();
        log::info!(
            "Waiting up to {wait_s} s for the other members ({}) to form a majority",
            plan.peers()
                .map(|m| plan.line(m).port_at_host())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(TriadNode {
            plan,
            store_path: store_path.to_path_buf(),
            member,
            peers,
            vendors: HashMap::new(),
            spent_pids: HashSet::new(),
            replay: Replay::default(),
            since_compaction: 0,
            compact_every: compact_every(),
            proposals: Vec::new(),
            role: Role::default(),
            quorum: false,
            ever_quorum: false,
            wait_until: now + u64::from(wait_s) * 1000,
            wait_s,
            wait_logged: false,
            heartbeat_ms,
            election_ms,
            key: key.map(TriadKey::new),
            refusals: Refusals::default(),
        })
    }

    pub fn plan(&self) -> &TriadPlan {
        &self.plan
    }

    /// Where the member keeps its raft state; this member's other files
    /// (its vendor daemons' borrow stores) go beside it.
    pub fn store_path(&self) -> &Path {
        &self.store_path
    }

    fn peer_mut(&mut self, member: u64) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.member == member)
    }

    // ------------------------------------------------------------ peers

    /// Whether a `TriadHello` on lmgrd's port comes from a peer of ours;
    /// the member number when it does, why not otherwise.
    pub fn check_hello(&self, h: &TriadHello) -> Result<u64, String> {
        if h.cluster != self.plan.cluster {
            return Err(format!(
                "it is a member of another triad (SERVER lines {} here, {} there)",
                self.plan.cluster,
                // Anyone may send a TriadHello to the client port: what it
                // says goes into the log escaped.
                wire::text::Esc(&h.cluster)
            ));
        }
        let m = u64::from(h.member);
        if !(1..=3).contains(&m) || m == self.plan.me {
            return Err(format!(
                "it says it is member {m}, which is not one of our two peers"
            ));
        }
        let (peer, us) = (format!("member {m}"), format!("member {}", self.plan.me));
        let ours = self.key.is_some();
        if let Some(why) = triad_auth::key_mismatch(ours, !h.nonce.0.is_empty(), &peer, &us) {
            return Err(why);
        }
        if self.key.is_some() && h.nonce.0.len() != NONCE_LEN {
            return Err(format!(
                "its challenge is {} bytes, not {NONCE_LEN}",
                h.nonce.0.len()
            ));
        }
        Ok(m)
    }

    /// Whether a refused triad connection from `addr` for `why` is news:
    /// once per address and reason, until it has been quiet for a while,
    /// so a member retrying with the wrong key (or a stranger knocking)
    /// does not fill the log.
    pub fn refusal_is_news(&mut self, addr: SocketAddr, why: &str, now: u64) -> bool {
        self.refusals.is_news(addr.ip(), why, now)
    }

    /// Logs a refused triad connection when it is news.
    fn log_refusal(&mut self, addr: SocketAddr, member: u64, why: &str, now: u64) {
        if self.refusal_is_news(addr, why, now) {
            log::warn!("Refused a triad connection from {addr} (member {member}): {why}");
        }
    }

    /// Takes over a connection accepted on lmgrd's port whose hello
    /// [`check_hello`](Self::check_hello) accepted.
    /// `dialer_nonce` is the hello's nonce (empty without a key).
    pub fn adopt(
        &mut self,
        registry: &Registry,
        mut stream: TcpStream,
        addr: SocketAddr,
        member: u64,
        dialer_nonce: Vec<u8>,
        now: u64,
    ) {
        let token = Token(PEER_IN_BASE + member as usize);
        if let Err(e) =
            registry.reregister(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            log::warn!("cannot watch the connection from member {member} at {addr}: {e}");
            return;
        }
        let mut hello = TriadHello {
            member: self.plan.me as u32,
            cluster: self.plan.cluster.clone(),
            nonce: Blob(Vec::new()),
            proof: Blob(Vec::new()),
        };
        let mut conn = Inbound {
            stream,
            addr,
            reader: FrameReader::new(MAX_FRAME),
            out: OutBuf::default(),
        };
        if let Some(key) = &self.key {
            let acceptor_nonce = match triad_auth::nonce() {
                Ok(n) => n,
                Err(why) => {
                    log::warn!("Cannot answer the triad connection from {addr}: {why}");
                    let _ = registry.deregister(&mut conn.stream);
                    return;
                }
            };
            let t = Transcript {
                cluster: &self.plan.cluster,
                dialer: member,
                acceptor: self.plan.me,
                dialer_nonce: &dialer_nonce,
                acceptor_nonce: &acceptor_nonce,
            };
            hello.proof = Blob(key.prove(Side::Acceptor, &t));
            hello.nonce = Blob(acceptor_nonce.to_vec());
            conn.out.push(&Message::TriadHello(hello));
            let token = Token(PEER_PROVING_BASE + member as usize);
            if let Err(e) = registry.reregister(
                &mut conn.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                log::warn!("cannot watch the connection from member {member} at {addr}: {e}");
                return;
            }
            let Some(peer) = self.peers.iter_mut().find(|p| p.member == member) else {
                return;
            };
            if let Err(why) = conn.out.write_to(&mut conn.stream) {
                log::info!("Connection from {} at {addr} failed: {why}", peer.label);
                let _ = registry.deregister(&mut conn.stream);
                return;
            }
            let proving = Proving {
                conn,
                dialer_nonce,
                acceptor_nonce,
                since: now,
            };
            // Only one link of a member proves at a time; one that has not
            // yet is dropped for the newer (the established link stays).
            if let Some(mut old) = peer.proving.replace(proving) {
                let _ = registry.deregister(&mut old.conn.stream);
            }
            return;
        }
        conn.out.push(&Message::TriadHello(hello));
        let Some(peer) = self.peers.iter_mut().find(|p| p.member == member) else {
            return;
        };
        log::info!("Triad connection from {} at {addr}", peer.label);
        peer.last_heard = Some(now);
        if let Err(why) = conn.out.write_to(&mut conn.stream) {
            log::info!("Connection from {} at {addr} failed: {why}", peer.label);
            let _ = registry.deregister(&mut conn.stream);
            return;
        }
        if let Some(mut old) = peer.inbound.replace(conn) {
            // Its previous connection is from before a restart or a cut.
            let _ = registry.deregister(&mut old.stream);
        }
    }

    /// Dials the peers that have no link and are due.
    fn dial(&mut self, registry: &Registry, now: u64) {
        let me = self.plan.me;
        for p in &mut self.peers {
            if p.out.is_some() || now < p.next_dial {
                continue;
            }
            if p.addrs.is_empty() {
                // Resolved here rather than at start-up so a member whose
                // name does not resolve yet is found once it does.
                match (p.host.as_str(), p.port).to_socket_addrs() {
                    Ok(a) => p.addrs = a.collect(),
                    Err(e) => {
                        let why = format!("cannot resolve {}: {e}", p.host);
                        log_dial_failure(p, why);
                        schedule_redial(p, now);
                        continue;
                    }
                }
                if p.addrs.is_empty() {
                    log_dial_failure(p, format!("{} has no address", p.host));
                    schedule_redial(p, now);
                    continue;
                }
            }
            let addr = p.addrs[p.next_addr % p.addrs.len()];
            p.next_addr = p.next_addr.wrapping_add(1);
            let mut stream = match TcpStream::connect(addr) {
                Ok(s) => s,
                Err(e) => {
                    log_dial_failure(p, format!("connect to {addr}: {e}"));
                    schedule_redial(p, now);
                    continue;
                }
            };
            let token = Token(PEER_OUT_BASE + p.member as usize);
            if let Err(e) =
                registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            {
                log_dial_failure(p, format!("cannot watch the connection to {addr}: {e}"));
                schedule_redial(p, now);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let nonce = match &self.key {
                None => Vec::new(),
                Some(_) => match triad_auth::nonce() {
                    Ok(n) => n.to_vec(),
                    Err(why) => {
                        let _ = registry.deregister(&mut stream);
                        log_dial_failure(p, why);
                        schedule_redial(p, now);
                        continue;
                    }
                },
            };
            let mut out = OutBuf::default();
            out.push(&Message::TriadHello(TriadHello {
                member: me as u32,
                cluster: self.plan.cluster.clone(),
                nonce: Blob(nonce.clone()),
                proof: Blob(Vec::new()),
            }));
            p.out = Some(Outbound {
                stream,
                addr,
                state: OutState::Connecting,
                reader: FrameReader::new(MAX_FRAME),
                out,
                since: now,
                next_keepalive: now,
                nonce,
            });
        }
    }

    /// How long a dial may take, hello included, before it is retried.
    fn handshake_ms(&self) -> u64 {
        self.election_ms.max(1_000)
    }

    /// Closes outbound links that do not finish their handshake in time or
    /// whose peer fell silent, and sends keepalives.
    fn watch_links(&mut self, registry: &Registry, now: u64) {
        let handshake = self.handshake_ms();
        let stale = 3 * self.election_ms.max(1_000);
        let heartbeat = self.heartbeat_ms;
        let mut to_close = Vec::new();
        for p in &mut self.peers {
            let Some(out) = p.out.as_mut() else { continue };
            match out.state {
                OutState::Connecting | OutState::Hello if now >= out.since + handshake => {
                    to_close.push((
                        p.member,
                        format!("no answer from {} within {handshake} ms", out.addr),
                    ));
                }
                OutState::Ready if p.last_heard.is_none_or(|t| now.saturating_sub(t) >= stale) => {
                    to_close.push((p.member, format!("nothing heard for {stale} ms")));
                }
                OutState::Ready if now >= out.next_keepalive => {
                    out.next_keepalive = now + heartbeat;
                    out.out.push(&Message::Heartbeat(wire::Heartbeat {
                        seq: 0,
                        idle: false,
                    }));
                }
                _ => {}
            }
        }
        for (m, why) in to_close {
            self.close_out(registry, m, &why, now);
        }
        let mut unproven = Vec::new();
        for p in &mut self.peers {
            if p.proving
                .as_ref()
                .is_some_and(|v| now >= v.since + handshake)
            {
                if let Some(mut v) = p.proving.take() {
                    let _ = registry.deregister(&mut v.conn.stream);
                    unproven.push((v.conn.addr, p.member));
                }
            }
        }
        for (addr, m) in unproven {
            let why = format!("it did not prove the triad key within {handshake} ms");
            self.log_refusal(addr, m, &why, now);
        }
    }

    fn close_out(&mut self, registry: &Registry, member: u64, why: &str, now: u64) {
        let Some(p) = self.peer_mut(member) else {
            return;
        };
        let Some(mut out) = p.out.take() else {
            return;
        };
        let _ = registry.deregister(&mut out.stream);
        if out.state == OutState::Ready {
            log::info!("Lost connection to {}: {why}", p.label);
            p.last_error = None;
        } else {
            log_dial_failure(p, format!("{}: {why}", out.addr));
        }
        schedule_redial(p, now);
        self.member.report_unreachable(member);
    }

    fn close_in(&mut self, registry: &Registry, member: u64, why: &str) {
        let Some(p) = self.peer_mut(member) else {
            return;
        };
        if let Some(mut conn) = p.inbound.take() {
            let _ = registry.deregister(&mut conn.stream);
            log::info!("Connection from {} at {} closed: {why}", p.label, conn.addr);
        }
    }

    fn on_peer_out(
        &mut self,
        registry: &Registry,
        member: u64,
        readable: bool,
        writable: bool,
        now: u64,
    ) {
        let Some(p) = self.peers.iter_mut().find(|p| p.member == member) else {
            return;
        };
        let Some(out) = p.out.as_mut() else {
            return;
        };
        if out.state == OutState::Connecting {
            match connect_result(&out.stream) {
                None => return,
                Some(Err(e)) => {
                    let why = format!("connect: {e}");
                    self.close_out(registry, member, &why, now);
                    return;
                }
                Some(Ok(())) => out.state = OutState::Hello,
            }
        }
        let mut close: Option<LinkEnd> = None;
        if readable {
            let mut buf = [0u8; READ_CHUNK];
            let cluster = &self.plan.cluster;
            let me = self.plan.me;
            let key = self.key.as_ref();
            let raft = &mut self.member;
            let read = out
                .reader
                .each(&mut out.stream, &mut buf, |m| match (out.state, m) {
                    (OutState::Hello, Message::TriadHello(h)) => {
                        if u64::from(h.member) != member || &h.cluster != cluster {
                            return Err(LinkEnd::WrongMember {
                                addr: out.addr,
                                member: h.member,
                                cluster: h.cluster,
                                want: member,
                                want_cluster: cluster.clone(),
                            });
                        }
                        let peer = format!("member {member} at {}", out.addr);
                        let us = format!("member {me}");
                        let theirs = !h.nonce.0.is_empty();
                        if let Some(why) =
                            triad_auth::key_mismatch(key.is_some(), theirs, &peer, &us)
                        {
                            return Err(LinkEnd::KeyMismatch(why));
                        }
                        if let Some(key) = key {
                            let t = Transcript {
                                cluster,
                                dialer: me,
                                acceptor: member,
                                dialer_nonce: &out.nonce,
                                acceptor_nonce: &h.nonce.0,
                            };
                            if !key.verify(Side::Acceptor, &t, &h.proof.0) {
                                return Err(LinkEnd::BadProof(out.addr.to_string()));
                            }
                            out.out.push(&Message::TriadProof(TriadProof {
                                proof: Blob(key.prove(Side::Dialer, &t)),
                            }));
                        }
                        out.state = OutState::Ready;
                        out.next_keepalive = now;
                        p.last_heard = Some(now);
                        p.backoff = DIAL_FIRST_MS;
                        p.last_error = None;
                        log::info!("Connected to {} at {}", p.label, out.addr);
                        Ok(())
                    }
                    (OutState::Ready, m @ (Message::TriadRaft(_) | Message::Heartbeat(_))) => {
                        on_raft(raft, &mut p.last_heard, member, now, m)
                    }
                    (_, Message::Error(e)) => Err(LinkEnd::Refused {
                        text: e.text,
                        code: e.code,
                    }),
                    (_, other) => Err(LinkEnd::Unexpected(other.kind())),
                });
            close = read.err();
        }
        if close.is_none() && (writable || readable) {
            close = self
                .peer_mut(member)
                .and_then(|p| p.out.as_mut())
                .and_then(|out| out.out.write_to(&mut out.stream).err().map(LinkEnd::from));
        }
        if let Some(why) = close {
            self.close_out(registry, member, &why.to_string(), now);
        }
    }

    fn on_peer_in(
        &mut self,
        registry: &Registry,
        member: u64,
        readable: bool,
        writable: bool,
        now: u64,
    ) {
        let Some(p) = self.peers.iter_mut().find(|p| p.member == member) else {
            return;
        };
        let Some(conn) = p.inbound.as_mut() else {
            return;
        };
        let mut close: Option<LinkEnd> = None;
        if readable {
            let mut buf = [0u8; READ_CHUNK];
            let raft = &mut self.member;
            let read = conn.reader.each(&mut conn.stream, &mut buf, |m| {
                on_raft(raft, &mut p.last_heard, member, now, m)
            });
            close = read.err();
        }
        if close.is_none() && (writable || readable) {
            close = self
                .peer_mut(member)
                .and_then(|p| p.inbound.as_mut())
                .and_then(|c| c.out.write_to(&mut c.stream).err().map(LinkEnd::from));
        }
        if let Some(why) = close {
            self.close_in(registry, member, &why.to_string());
        }
    }

    /// An accepted link whose dialer must prove the key: its first message
    /// is the proof, checked before anything after it reaches raft. Once it
    /// checked, the link replaces the member's inbound link.
    fn on_peer_proving(
        &mut self,
        registry: &Registry,
        member: u64,
        readable: bool,
        writable: bool,
        now: u64,
    ) {
        let Some(key) = self.key.as_ref() else {
            return;
        };
        let Some(p) = self.peers.iter_mut().find(|p| p.member == member) else {
            return;
        };
        let Some(v) = p.proving.as_mut() else {
            return;
        };
        let mut proven = false;
        let mut close: Option<LinkEnd> = None;
        if readable {
            let mut buf = [0u8; READ_CHUNK];
            let raft = &mut self.member;
            let t = Transcript {
                cluster: &self.plan.cluster,
                dialer: member,
                acceptor: self.plan.me,
                dialer_nonce: &v.dialer_nonce,
                acceptor_nonce: &v.acceptor_nonce,
            };
            let read = v.conn.reader.each(&mut v.conn.stream, &mut buf, |m| {
                if proven {
                    return on_raft(raft, &mut p.last_heard, member, now, m);
                }
                match m {
                    Message::TriadProof(pr) if key.verify(Side::Dialer, &t, &pr.proof.0) => {
                        proven = true;
                        p.last_heard = Some(now);
                        Ok(())
                    }
                    // Not the address: the refusal's log line has it, and
                    // the reason is what repeats are told apart by.
                    Message::TriadProof(_) => Err(LinkEnd::BadProof("it".into())),
                    other => Err(LinkEnd::Unproven(other.kind())),
                }
            });
            close = read.err();
        }
        if !proven {
            if close.is_none() && writable {
                close = p
                    .proving
                    .as_mut()
                    .and_then(|v| v.conn.out.write_to(&mut v.conn.stream).err())
                    .map(LinkEnd::from);
            }
            if let Some(why) = close {
                if let Some(mut v) = p.proving.take() {
                    let _ = registry.deregister(&mut v.conn.stream);
                    if !why.is_hang_up() {
                        self.log_refusal(v.conn.addr, member, &why.to_string(), now);
                    }
                }
            }
            return;
        }
        let Some(mut v) = p.proving.take() else {
            return;
        };
        let token = Token(PEER_IN_BASE + member as usize);
        if let Err(e) = registry.reregister(
            &mut v.conn.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!(
                "cannot watch the connection from {} at {}: {e}",
                p.label,
                v.conn.addr
            );
            let _ = registry.deregister(&mut v.conn.stream);
            return;
        }
        log::info!(
            "Triad connection from {} at {} (triad key checked)",
            p.label,
            v.conn.addr
        );
        if let Some(mut old) = p.inbound.replace(v.conn) {
            // Its previous connection is from before a restart or a cut.
            let _ = registry.deregister(&mut old.stream);
        }
        if let Some(why) = close {
            self.close_in(registry, member, &why.to_string());
        }
    }

    fn send_raft(&mut self, to: u64, payload: Vec<u8>) {
        let Some(p) = self.peer_mut(to) else {
            return;
        };
        match p.out.as_mut() {
            Some(out) if out.state == OutState::Ready && out.out.pending() < MAX_PEER_OUTPUT => {
                out.out.push(&Message::TriadRaft(wire::TriadRaft {
                    payload: Blob(payload),
                }));
            }
            Some(out) if out.state == OutState::Ready => {
                p.dropped += 1;
                if p.dropped.is_power_of_two() {
                    log::warn!(
                        "{} is not reading: {} messages for it dropped",
                        p.label,
                        p.dropped
                    );
                }
            }
            // Not connected: raft sends again once it is.
            _ => {}
        }
    }

    fn flush_peers(&mut self, registry: &Registry, now: u64) {
        let mut failed = Vec::new();
        for p in &mut self.peers {
            if let Some(out) = p.out.as_mut() {
                if out.state != OutState::Connecting {
                    if let Err(why) = out.out.write_to(&mut out.stream) {
                        failed.push(p.member);
                        p.last_error = Some(why.to_string());
                    }
                }
            }
        }
        for m in failed {
            let why = self
                .peer_mut(m)
                .and_then(|p| p.last_error.take())
                .unwrap_or_default();
            self.close_out(registry, m, &why, now);
        }
    }

    // ------------------------------------------------------ vendor daemons

    /// Creates the socket pair for vendor daemon `idx` about to be started,
    /// queues its replay and role, and returns the child's end.
    pub fn vendor_link(
        &mut self,
        registry: &Registry,
        idx: usize,
        name: &str,
        now: u64,
    ) -> io::Result<OwnedFd> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        let mut stream = UnixStream::from_std(ours);
        registry.register(
            &mut stream,
            Token(VENDOR_LINK_BASE + idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut link = VendorLink {
            name: name.to_string(),
            stream,
            reader: FrameReader::new(MAX_FRAME),
            out: OutBuf::default(),
            pid: None,
            told: None,
            spent: false,
            dropped_logged: false,
        };
        if let Some((index, summary)) = self.replay.of(name) {
            link.out.push(&Message::Replicate(wire::Replicate {
                index,
                payload: Blob(summary),
            }));
            log::info!(
                "Sending {name} the {} seat(s) the triad holds (log entry {index})",
                self.replay.seats(name)
            );
        }
        let reason = self.member.status(now).reason;
        link.tell(self.role, self.plan.me, self.member.term(), &reason);
        if let Some(mut old) = self.vendors.insert(idx, link) {
            let _ = registry.deregister(&mut old.stream);
        }
        Ok(theirs.into())
    }

    /// The daemon of link `idx` was started with this pid.
    pub fn vendor_started(&mut self, idx: usize, pid: i32) {
        if let Some(l) = self.vendors.get_mut(&idx) {
            l.pid = Some(pid);
        }
    }

    /// Starting the daemon of link `idx` failed: forget the link.
    pub fn vendor_not_started(&mut self, registry: &Registry, idx: usize) {
        if let Some(mut l) = self.vendors.remove(&idx) {
            let _ = registry.deregister(&mut l.stream);
        }
    }

    /// A vendor daemon exited. True when that was expected: it was spent.
    pub fn vendor_exited(&mut self, registry: &Registry, pid: i32) -> bool {
        let planned = self.spent_pids.remove(&pid);
        let idx = self
            .vendors
            .iter()
            .find(|(_, l)| l.pid == Some(pid))
            .map(|(i, _)| *i);
        if let Some(idx) = idx {
            let planned = planned || self.vendors[&idx].spent;
            self.vendor_not_started(registry, idx);
            return planned;
        }
        planned
    }

    /// Whether vendor daemon `idx` may be handed to clients: this member
    /// serves and the daemon was told so.
    pub fn may_serve(&self, idx: usize) -> bool {
        self.role.serving
            && self
                .vendors
                .get(&idx)
                .is_some_and(|l| l.told == Some(true) && !l.spent)
    }

    fn on_vendor(&mut self, registry: &Registry, idx: usize, readable: bool, writable: bool) {
        let Some(link) = self.vendors.get_mut(&idx) else {
            return;
        };
        let mut close: Option<LinkEnd> = None;
        if readable {
            let mut buf = [0u8; READ_CHUNK];
            let proposals = &mut self.proposals;
            let read = link.reader.each(&mut link.stream, &mut buf, |m| match m {
                Message::Propose(p) => {
                    proposals.push((idx, p.payload));
                    Ok(())
                }
                other => Err(LinkEnd::Unexpected(other.kind())),
            });
            close = read.err();
        }
        let Some(link) = self.vendors.get_mut(&idx) else {
            return;
        };
        if close.is_none() && (readable || writable) {
            if let Err(why) = link.out.write_to(&mut link.stream) {
                close = Some(LinkEnd::Link(why));
            }
        }
        if let Some(why) = close {
            if let Some(mut l) = self.vendors.remove(&idx) {
                // A spent daemon (told it no longer serves) is expected to
                // exit: its hang-up is not news.
                if !(why.is_hang_up() && l.spent) {
                    log::info!("Link to vendor daemon {} closed: {why}", l.name);
                }
                if l.spent {
                    if let Some(pid) = l.pid {
                        self.spent_pids.insert(pid);
                    }
                }
                let _ = registry.deregister(&mut l.stream);
            }
        }
    }

    /// Proposes what vendor daemons asked for, if they still may.
    fn propose_pending(&mut self, now: u64) {
        let serving = self.member.is_serving(now);
        for (idx, payload) in std::mem::take(&mut self.proposals) {
            let Some(link) = self.vendors.get_mut(&idx) else {
                continue;
            };
            // A daemon proposes from its own state, which is the majority's
            // only while it has been told it serves and nothing since.
            if !(serving && self.role.serving && link.told == Some(true) && !link.spent) {
                if !link.dropped_logged {
                    link.dropped_logged = true;
                    log::info!(
                        "{}: dropped a batch proposed while this server is not the master",
                        link.name
                    );
                }
                continue;
            }
            let entry = VendorEntry {
                vendor: link.name.clone(),
                payload,
            };
            if let Err(e) = self.member.propose(now, entry.encode()) {
                log::info!("{}: batch not proposed: {e}", link.name);
            }
        }
    }

    fn flush_vendors(&mut self, registry: &Registry) {
        let mut failed = Vec::new();
        for (idx, l) in &mut self.vendors {
            if let Err(why) = l.out.write_to(&mut l.stream) {
                failed.push((*idx, why));
            }
        }
        for (idx, why) in failed {
            if let Some(mut l) = self.vendors.remove(&idx) {
                log::info!("Link to vendor daemon {} closed: {why}", l.name);
                if l.spent {
                    if let Some(pid) = l.pid {
                        self.spent_pids.insert(pid);
                    }
                }
                let _ = registry.deregister(&mut l.stream);
            }
        }
    }

    fn apply(&mut self, index: u64, payload: &[u8]) {
        match VendorEntry::decode(payload) {
            Ok(e) => {
                if !self.replay.push(&e.vendor, index, &e.payload.0) {
                    log::warn!(
                        "triad log entry {index} for {} is out of order or not a batch: skipped",
                        e.vendor
                    );
                    return;
                }
                for l in self.vendors.values_mut().filter(|l| l.name == e.vendor) {
                    // Spent daemons too: their held replies may go once
                    // their batch is committed, whoever masters now.
                    l.out.push(&Message::Replicate(wire::Replicate {
                        index,
                        payload: e.payload.clone(),
                    }));
                }
            }
            Err(why) => log::error!("triad log entry {index} is unreadable ({why}): skipped"),
        }
        self.since_compaction += 1;
        if self.since_compaction >= self.compact_every {
            self.compact(index);
        }
    }

    /// Replaces the log up to `index` with the seats it adds up to, so the
    /// store and lmgrd's memory follow the seats in use, not the history.
    fn compact(&mut self, index: u64) {
        self.since_compaction = 0;
        match self.member.compact(index, self.replay.encode()) {
            Ok(()) => log::info!("Triad log compacted up to entry {index}"),
            Err(e) => log::warn!("Cannot compact the triad log to entry {index}: {e}"),
        }
    }

    /// The master sent a compacted state (this member was too far behind,
    /// or lmgrd restarted on a compacted store): it replaces what the
    /// vendor daemons hold.
    fn restore(&mut self, index: u64, data: &[u8]) {
        match Replay::decode(data) {
            Ok(replay) => {
                self.replay = replay;
                for l in self.vendors.values_mut() {
                    if let Some((i, summary)) = self.replay.of(&l.name) {
                        l.out.push(&Message::Replicate(wire::Replicate {
                            index: i,
                            payload: Blob(summary),
                        }));
                    }
                }
                log::info!("Triad state taken from a snapshot up to log entry {index}");
            }
            Err(why) => log::error!(
                "the triad snapshot up to entry {index} is unreadable ({why}): vendor daemons keep what they had"
            ),
        }
    }

    // ------------------------------------------------------------ driving

    /// Handles readiness on one of the triad's tokens.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        t: Target,
        readable: bool,
        writable: bool,
        now: u64,
    ) {
        match t {
            Target::PeerOut(m) => self.on_peer_out(registry, m, readable, writable, now),
            Target::PeerIn(m) => self.on_peer_in(registry, m, readable, writable, now),
            Target::PeerProving(m) => self.on_peer_proving(registry, m, readable, writable, now),
            Target::Vendor(idx) => self.on_vendor(registry, idx, readable, writable),
        }
    }

    /// Runs what is due and carries out what the member asks: call once
    /// per turn of the loop, after its events. Returns an error when the
    /// member has failed (its store), and lmgrd must stop.
    pub fn pump(&mut self, registry: &Registry, now: u64) -> Option<String> {
        self.member.tick(now);
        self.dial(registry, now);
        self.watch_links(registry, now);
        let mut fatal = self.drain(now);
        if !self.proposals.is_empty() {
            self.propose_pending(now);
            fatal = fatal.or(self.drain(now));
        }
        self.flush_peers(registry, now);
        self.update_role(now);
        self.flush_vendors(registry);
        self.update_quorum(now);
        fatal
    }

    /// Moves every transmit to its peer and every event to its place.
    fn drain(&mut self, _now: u64) -> Option<String> {
        let mut fatal = None;
        loop {
            let mut any = false;
            while let Some(t) = self.member.poll_transmit() {
                any = true;
                self.send_raft(t.to, t.payload);
            }
            while let Some(ev) = self.member.poll_event() {
                any = true;
                match ev {
                    Event::Apply { index, payload } => self.apply(index, &payload),
                    Event::Restore { index, data } => self.restore(index, &data),
                    Event::Failed(e) => fatal = Some(e),
                    // Serving and master are read from the member below,
                    // after every entry is handed on; proposals' fates reach
                    // the vendor daemon as Replicate or as a role change.
                    _ => {}
                }
            }
            if !any {
                return fatal;
            }
        }
    }

    fn update_role(&mut self, now: u64) {
        let new = Role {
            serving: self.member.is_serving(now),
            master: self.member.master(now),
        };
        if new == self.role {
            return;
        }
        let reason = self.member.status(now).reason;
        for line in role_lines(&self.plan, self.role, new, &reason) {
            log::info!("{line}");
        }
        self.role = new;
        let term = self.member.term();
        for l in self.vendors.values_mut() {
            let was = l.spent;
            l.tell(new, self.plan.me, term, &reason);
            if l.spent && !was {
                if let Some(pid) = l.pid {
                    self.spent_pids.insert(pid);
                }
            }
        }
    }

    fn heard(&self, now: u64) -> Vec<u64> {
        self.peers
            .iter()
            .filter(|p| {
                p.last_heard
                    .is_some_and(|t| now.saturating_sub(t) < self.election_ms)
            })
            .map(|p| p.member)
            .collect()
    }

    fn update_quorum(&mut self, now: u64) {
        let heard = self.heard(now);
        let has = !heard.is_empty();
        if let Some(line) = quorum_line(&self.plan, self.quorum, has, &heard) {
            log::info!("{line}");
        }
        self.quorum = has;
        self.ever_quorum |= has;
        if !self.ever_quorum && !self.wait_logged && now >= self.wait_until {
            self.wait_logged = true;
            log::info!(
                "No majority of the triad within {} s of start-up: serving nothing until another member answers; still trying",
                self.wait_s
            );
        }
    }

    /// When [`pump`](Self::pump) next has something to do.
    pub fn next_deadline(&self) -> u64 {
        let mut at = self.member.poll_timeout();
        let handshake = self.handshake_ms();
        for p in &self.peers {
            let t = match &p.out {
                None => p.next_dial,
                Some(o) if o.state == OutState::Ready => o.next_keepalive,
                Some(o) => o.since + handshake,
            };
            at = at.min(t);
            if let Some(v) = &p.proving {
                at = at.min(v.since + handshake);
            }
        }
        if !self.ever_quorum && !self.wait_logged {
            at = at.min(self.wait_until);
        }
        at
    }

    // ------------------------------------------------------------ answers

    /// Why this member does not hand out vendor daemons now, or `None`
    /// when it serves. LM_BUSYNEWSERV (-23, "License server system
    /// temporarily busy (new server connecting)") is FLEXlm's error for a
    /// server that cannot serve while the triad settles; the client moves on
    /// to the next server of the triad. The text names the master when
    /// there is one.
    pub fn refusal(&self, now: u64) -> Option<ErrorReply> {
        if self.role.serving {
            return None;
        }
        let base = lmerr::text(lmerr::LM_BUSYNEWSERV);
        Some(match self.role.master {
            Some(m) if m != self.plan.me => ErrorReply {
                code: lmerr::LM_BUSYNEWSERV,
                minor: MINOR_NOT_MASTER,
                text: format!(
                    "{base} This license server is not the master; the master is {}.",
                    self.plan.line(m).port_at_host()
                ),
            },
            _ => ErrorReply {
                code: lmerr::LM_BUSYNEWSERV,
                minor: MINOR_NO_MASTER,
                text: format!("{base} No master: {}.", self.member.status(now).reason),
            },
        })
    }

    /// The three members as this one sees them, for lmstat and lmdiag.
    pub fn members(&self, now: u64) -> Vec<TriadMember> {
        let status = self.member.status(now);
        self.plan
            .lines
            .iter()
            .map(|l| {
                let master = self.role.master == Some(l.member);
                if l.member == self.plan.me {
                    return TriadMember {
                        line: l.member as u32,
                        host: l.host.clone(),
                        port: l.port,
                        up: true,
                        master,
                        reason: status.reason.clone(),
                    };
                }
                let p = self.peers.iter().find(|p| p.member == l.member);
                let heard = p.and_then(|p| p.last_heard).map(|t| now.saturating_sub(t));
                let up = heard.is_some_and(|ms| ms < self.election_ms);
                let reason = match (heard, p.and_then(|p| p.last_error.clone())) {
                    (Some(ms), _) if up => format!("heard from {ms} ms ago"),
                    (_, Some(e)) => format!("down: {e}"),
                    (Some(ms), None) => format!("down: last heard from {ms} ms ago"),
                    (None, None) => "down: never heard from".to_string(),
                };
                TriadMember {
                    line: l.member as u32,
                    host: l.host.clone(),
                    port: l.port,
                    up,
                    master,
                    reason,
                }
            })
            .collect()
    }
}

fn schedule_redial(p: &mut Peer, now: u64) {
    p.next_dial = now + p.backoff;
    p.backoff = (p.backoff * 2).min(DIAL_MAX_MS);
}

fn log_dial_failure(p: &mut Peer, why: String) {
    if p.last_error.as_deref() != Some(why.as_str()) {
        log::info!("Cannot connect to {}: {why}; retrying", p.label);
    }
    p.last_error = Some(why);
}

/// `None` while a non-blocking connect is under way.
fn connect_result(stream: &TcpStream) -> Option<io::Result<()>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Some(Err(e)),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
        Err(e) => Some(Err(e)),
    }
}

/// A seed for election timeouts that differs between runs and machines.
fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_ne_bytes(bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// How many applied log entries make a compaction: 4,096, or
/// `LMGRD_TRIAD_COMPACT_EVERY` (tests use a few, to exercise it).
fn compact_every() -> u64 {
    std::env::var("LMGRD_TRIAD_COMPACT_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Write};
    use wire::MessageDecoder;

    #[test]
    fn a_burst_of_refusals_is_news_once_per_address_and_reason() {
        let mut r = Refusals::default();
        let a = IpAddr::from([127, 0, 0, 2]);
        let b = IpAddr::from([127, 0, 0, 3]);
        assert!(r.is_news(a, "bad proof", 0));
        assert!(!r.is_news(a, "bad proof", 1_000));
        assert!(!r.is_news(a, "bad proof", 1_000 + REFUSAL_QUIET_MS - 1));
        assert!(r.is_news(a, "no key", 2_000), "another reason");
        assert!(r.is_news(b, "bad proof", 2_000), "another address");
        // Still retrying: the burst goes on, quiet is counted from the last.
        assert!(!r.is_news(a, "bad proof", 2 * REFUSAL_QUIET_MS - 2));
        assert!(r.is_news(a, "bad proof", 4 * REFUSAL_QUIET_MS));
        // Many addresses do not grow it without bound.
        for i in 0..(3 * MAX_REFUSALS as u32) {
            r.is_news(IpAddr::from(i.to_be_bytes()), "x", 10 * REFUSAL_QUIET_MS);
        }
        assert!(r.seen.len() <= MAX_REFUSALS);
    }

    #[test]
    fn tokens_map_to_their_links() {
        assert_eq!(target(Token(PEER_OUT_BASE + 2)), Some(Target::PeerOut(2)));
        assert_eq!(target(Token(PEER_IN_BASE + 3)), Some(Target::PeerIn(3)));
        assert_eq!(target(Token(VENDOR_LINK_BASE + 5)), Some(Target::Vendor(5)));
        assert_eq!(
            target(Token(PEER_PROVING_BASE + 1)),
            Some(Target::PeerProving(1))
        );
        assert_eq!(target(Token(PEER_OUT_BASE)), None);
        assert_eq!(target(Token(16)), None);
    }

    #[test]
    fn out_buffer_writes_what_the_socket_takes() {
        struct Slow(Vec<u8>, usize);
        impl Write for Slow {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.1 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = b.len().min(self.1).min(7);
                self.1 -= n;
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let m = Message::TriadRaft(wire::TriadRaft {
            payload: Blob(vec![7; 40]),
        });
        let mut out = OutBuf::default();
        out.push(&m);
        out.push(&m);
        let total = out.pending();
        let mut w = Slow(Vec::new(), 30);
        out.write_to(&mut w).unwrap();
        assert_eq!(out.pending(), total - 30);
        w.1 = usize::MAX;
        out.write_to(&mut w).unwrap();
        assert_eq!(out.pending(), 0);
        let mut dec = MessageDecoder::new(MAX_FRAME);
        dec.feed(&w.0);
        assert_eq!(dec.next_message().unwrap(), Some(m.clone()));
        assert_eq!(dec.next_message().unwrap(), Some(m));
    }

    #[test]
    fn a_daemon_told_it_serves_then_not_is_spent() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut l = VendorLink {
            name: "demo".into(),
            stream: UnixStream::from_std(a),
            reader: FrameReader::new(wire::frame::DEFAULT_MAX_PAYLOAD),
            out: OutBuf::default(),
            pid: Some(1),
            told: None,
            spent: false,
            dropped_logged: false,
        };
        let standby = Role {
            serving: false,
            master: Some(1),
        };
        let master = Role {
            serving: true,
            master: Some(2),
        };
        l.tell(standby, 2, 1, "standby");
        assert!(!l.spent);
        l.tell(master, 2, 2, "master");
        assert_eq!((l.told, l.spent), (Some(true), false));
        l.tell(standby, 2, 3, "lost");
        assert!(l.spent);
        let before = l.out.pending();
        l.tell(master, 2, 4, "again");
        assert_eq!(
            l.out.pending(),
            before,
            "a spent daemon is told nothing more"
        );
        let mut dec = MessageDecoder::default();
        dec.feed(l.out.queued());
        let mut roles = Vec::new();
        while let Ok(Some(Message::TriadRole(r))) = dec.next_message() {
            roles.push((r.serving, r.master, r.term));
        }
        assert_eq!(roles, vec![(false, 1, 1), (true, 2, 2), (false, 1, 3)]);
    }
}
