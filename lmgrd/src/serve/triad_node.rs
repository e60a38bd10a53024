//! A triad member's I/O, driven by lmgrd's mio loop: the consensus member
//! (`triad::Member`), the connections to the two other lmgrds, and the
//! socket pair to each vendor daemon. What to decide is elsewhere: the
//! links' dialing, handshake and keepalives in `peer_links.rs`, the log
//! entries and roles in `triad.rs`, consensus in the `triad` crate. This
//! module moves bytes and keeps the bookkeeping: `peers.rs` the members'
//! connections, `vendors.rs` the vendor daemons' links and the committed
//! batches they are sent.
//!
//! # Links between members
//!
//! Every member dials both others on their SERVER line's address, sends
//! `TriadHello { member, cluster, nonce }` and waits for the same back
//! before it sends anything else: the answer shows it reached the member it
//! meant, of the same triad, and the wait keeps the accepting side's
//! client-sized decoder from ever holding a raft frame. With a triad key
//! (`triad_auth`), the answer also carries the acceptor's proof of the key,
//! which the dialer checks before it sends its own (`TriadProof`) and then
//! raft messages; the acceptor holds the link apart (a *proving* link, its
//! own token) and hands nothing from it to raft until that proof checked.
//! Without a key, links are taken on the hello alone (and lmgrd warns at
//! start); a key on one side only fails the link, logged on both. A link
//! whose peer sends a bad frame is closed and logged; the others carry on.
//! Messages for a peer that is not connected, or whose output has piled
//! up, are dropped: raft sends again.
//!
//! # Links to vendor daemons
//!
//! A vendor daemon's socket pair carries `Propose` up and `Replicate` and
//! `TriadRole` down. A (re)started daemon is sent every committed payload of
//! its vendor, then the current role; then each new commit as it comes, and
//! each change of role. A daemon that was told it serves and is then told it
//! does not is *spent*: it is expected to exit, its proposals are dropped,
//! and its exit is no crash (it is restarted at once as a standby).

mod peers;
mod vendors;

use super::answer::TriadView;
use super::peer_links::{HelloRefusal, LinkId, LinkKind, PeerLinks, Timing};
use super::triad::{quorum_line, role_lines, Replay, Role, TriadPlan};
use super::triad_auth::{SystemNonces, TriadKey};
use mio::{Registry, Token};
use peers::PeerConn;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use triad::{Event, Member, MemberConfig, Store};
use vendors::VendorLink;
use wire::codec::Blob;
use wire::{TriadHello, TriadMember};

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

/// What a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Peer(LinkId),
    Vendor(usize),
}

pub fn target(token: Token) -> Option<Target> {
    let peer = |base: usize, kind: LinkKind| {
        let member = token.0.checked_sub(base).filter(|m| (1..=3).contains(m))?;
        Some(Target::Peer(LinkId::new(member as u64, kind)))
    };
    match token.0 {
        t if (VENDOR_LINK_BASE..VENDOR_LINK_BASE * 2).contains(&t) => {
            Some(Target::Vendor(t - VENDOR_LINK_BASE))
        }
        _ => peer(PEER_OUT_BASE, LinkKind::Out)
            .or_else(|| peer(PEER_IN_BASE, LinkKind::In))
            .or_else(|| peer(PEER_PROVING_BASE, LinkKind::Proving)),
    }
}

/// The token of a peer link.
fn token(link: LinkId) -> Token {
    let base = match link.kind {
        LinkKind::Out => PEER_OUT_BASE,
        LinkKind::In => PEER_IN_BASE,
        LinkKind::Proving => PEER_PROVING_BASE,
    };
    Token(base + link.member as usize)
}

/// Why a triad member cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TriadError {
    #[error("cannot open the triad store \"{}\": {source}", path.display())]
    Store {
        path: PathBuf,
        source: triad::StoreError,
    },
    #[error("triad: {0}")]
    Member(#[from] triad::Error),
}

/// This lmgrd as a member of its triad.
pub struct TriadNode {
    plan: TriadPlan,
    store_path: PathBuf,
    member: Member,
    /// When to dial, the handshakes, keepalives: decided there.
    links: PeerLinks,
    /// The connections of the links `links` knows of.
    conns: HashMap<LinkId, PeerConn>,
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
    /// The other members' addresses, as last resolved.
    peer_ips: Vec<std::net::IpAddr>,
}

impl TriadNode {
    /// The other members' addresses, as resolved so far.
    pub fn peer_ips(&self) -> &[std::net::IpAddr] {
        &self.peer_ips
    }

    /// Opens the store and starts the member. `wait_s` is `lmgrd -t`;
    /// `key` the triad key, `None` for unauthenticated links.
    pub fn new(
        plan: TriadPlan,
        store_path: &Path,
        wait_s: u32,
        key: Option<&[u8]>,
        now: u64,
    ) -> Result<TriadNode, TriadError> {
        let store = Store::open(store_path).map_err(|source| TriadError::Store {
            path: store_path.to_path_buf(),
            source,
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
        let member = Member::new(cfg, store, now)?;
        let links = PeerLinks::new(
            &plan,
            key.map(TriadKey::new),
            Box::new(SystemNonces),
            Timing::new(heartbeat_ms, election_ms),
            now,
        );
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
            links,
            conns: HashMap::new(),
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
            peer_ips: Vec::new(),
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
            Target::Peer(link) => self.on_peer(registry, link, readable, writable, now),
            Target::Vendor(idx) => self.on_vendor(registry, idx, readable, writable),
        }
    }

    /// Runs what is due and carries out what the member asks: call once
    /// per turn of the loop, after its events. Returns why when the member
    /// has failed (its store), and lmgrd must stop.
    pub fn pump(&mut self, registry: &Registry, now: u64) -> Option<String> {
        self.member.tick(now);
        self.links.handle_timeout(now);
        self.carry_out_links(registry, now);
        let mut fatal = self.drain(registry, now);
        if !self.proposals.is_empty() {
            self.propose_pending(now);
            fatal = fatal.or(self.drain(registry, now));
        }
        self.flush_peers(registry, now);
        self.update_role(now);
        self.flush_vendors(registry);
        self.update_quorum(now);
        fatal
    }

    /// Moves every transmit to its peer and every event to its place.
    fn drain(&mut self, registry: &Registry, now: u64) -> Option<String> {
        let mut fatal = None;
        loop {
            let mut any = false;
            while let Some(t) = self.member.poll_transmit() {
                any = true;
                let backlog = self
                    .conns
                    .get(&LinkId::new(t.to, LinkKind::Out))
                    .map_or(0, |c| c.out.pending());
                self.links.handle_raft_out(t.to, t.payload, backlog);
                self.carry_out_links(registry, now);
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
        self.tell_vendors(&reason);
    }

    fn update_quorum(&mut self, now: u64) {
        let heard = self.links.heard(now);
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
        let mut at = self.member.poll_timeout().min(self.links.poll_timeout());
        if !self.ever_quorum && !self.wait_logged {
            at = at.min(self.wait_until);
        }
        at
    }
}

/// What lmgrd's answers to clients read of the triad (`answer.rs`).
impl TriadView for TriadNode {
    fn plan(&self) -> &TriadPlan {
        &self.plan
    }

    fn role(&self) -> Role {
        self.role
    }

    fn reason(&self, now: u64) -> String {
        self.member.status(now).reason
    }

    fn may_serve(&self, vendor: usize) -> bool {
        TriadNode::may_serve(self, vendor)
    }

    fn members(&self, now: u64) -> Vec<TriadMember> {
        let reason = self.reason(now);
        self.plan
            .lines
            .iter()
            .map(|l| {
                let (up, reason) = match self.links.view(l.member, now) {
                    Some(p) => (p.up, p.reason),
                    None => (true, reason.clone()),
                };
                TriadMember {
                    line: l.member as u32,
                    host: l.host.clone(),
                    port: l.port,
                    up,
                    master: self.role.master == Some(l.member),
                    reason,
                }
            })
            .collect()
    }

    fn check_hello(&self, h: &TriadHello) -> Result<u64, HelloRefusal> {
        self.links.check_hello(&self.plan, h)
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

    #[test]
    fn tokens_map_to_their_links() {
        let link = |m, kind| Some(Target::Peer(LinkId::new(m, kind)));
        assert_eq!(target(Token(PEER_OUT_BASE + 2)), link(2, LinkKind::Out));
        assert_eq!(target(Token(PEER_IN_BASE + 3)), link(3, LinkKind::In));
        assert_eq!(target(Token(VENDOR_LINK_BASE + 5)), Some(Target::Vendor(5)));
        assert_eq!(
            target(Token(PEER_PROVING_BASE + 1)),
            link(1, LinkKind::Proving)
        );
        assert_eq!(target(Token(PEER_OUT_BASE)), None);
        assert_eq!(target(Token(16)), None);
        for m in 1..=3 {
            for kind in [LinkKind::Out, LinkKind::In, LinkKind::Proving] {
                let l = LinkId::new(m, kind);
                assert_eq!(target(token(l)), Some(Target::Peer(l)));
            }
        }
    }
}
