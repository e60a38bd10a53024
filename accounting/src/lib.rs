//! License accounting as a pure state machine.
//!
//! The core owns no socket, no clock and no thread. The event loop turns
//! bytes into [`wire::Message`]s and calls one method per event, passing
//! `now` (milliseconds; the core only compares and subtracts them, and uses
//! `now / 1000` as the Unix time of a checkout, so the driver should pass
//! milliseconds since the Unix epoch from a clock that does not go back).
//! Each call returns [`Effects`]: replies per connection, connections to
//! close, and debug-log lines. Nothing else leaves the core.
//!
//! Call order for one connection: [`Core::connect`] (its `Hello`), then any
//! number of [`Core::checkout`], [`Core::checkin`], [`Core::heartbeat`],
//! [`Core::status`] and [`Core::admin`], then [`Core::disconnect`] when the
//! socket goes. [`Core::handle_message`] does that dispatch for a decoded
//! message. Independently, call [`Core::tick`] when [`Core::next_deadline`]
//! has passed (an early tick does nothing), [`Core::set_today`] when the
//! local date changes, and [`Core::shutdown`] once before exiting.
//!
//! Invariant: in every counted pool, the seats in use never exceed the
//! licenses issued for today plus the OVERDRAFT.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
mod admin_ops;
mod borrow;
mod checkout;
mod connections;
mod counters;
mod denial;
pub mod expiry;
mod invariants;
mod log;
mod policy;
mod release;
mod reload;
mod replica;
mod report;
mod status;
pub use status::{fit_holders, STATUS_PAGE_BYTES, STATUS_PAGE_SCAN};
#[cfg(test)]
mod tests;
mod timers;

pub use connections::refuse_field;
pub use counters::Counters;
pub use denial::Denial;
pub use log::{InReason, LogEvent};
pub use replica::{Batch, Change, Delta, Seat, SeatKey, SuiteSeat};

use grammar::hostid::{self, HostId, HostIdentity};
use grammar::options::{Client as OptClient, FeatureCtx, MaxId, Options, ReservationId, WhoKind};
use grammar::pool::{Pool, PoolSet};
use grammar::publisher::{BorrowSeal, DaemonKeys};
use grammar::{Date, DupGroup, Version};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use wire::lmerr;
use wire::{
    admin_op, AdminReply, AdminRequest, Checkin, Checkout, ClientIdentity, Denied, ErrorReply,
    FeatureStatus, Granted, Heartbeat, Holder, LineProof, Message, ReturnBorrow, Revoked,
    StatusQuery, StatusReply, Welcome,
};

/// A client connection, as the event loop numbers them. Never reused
/// while the core still knows the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Hashes connection ids and the event loop's tokens: numbers the loop
/// hands out, never chosen by a peer, so a multiplicative hash spreads them
/// well at a fraction of the default hasher's cost (they are looked up
/// several times per request).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A hash table keyed by ids or tokens.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Why a feature has no pool although the license file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawn {
    /// All its lines had expired when the file was read (the last on this
    /// date).
    Expired(grammar::Expiry),
    /// Its lines failed signature verification.
    BadSignature,
}

/// What the core needs to know besides the pools.
#[derive(Debug, Clone)]
pub struct Config {
    /// The vendor name: `Welcome.server` and `Status.server`.
    pub vendor: String,
    /// The daemon's version, as `Welcome` and `Status` report it.
    pub version: String,
    /// Host name and port reported in `Status`.
    pub host: String,
    /// The port the daemon listens on, shown in status replies.
    pub port: u16,
    /// How often clients are asked to send a heartbeat (milliseconds).
    pub heartbeat_interval_ms: u32,
    /// Seats of a connection silent for this long are reclaimed.
    pub timeout_ms: u32,
    /// SUITE_DUP_GROUP of each suite feature (from its enabling line).
    pub suite_dup_groups: BTreeMap<String, DupGroup>,
    /// Features the file names but the core has no pool for, and why.
    pub withdrawn: BTreeMap<String, Withdrawn>,
    /// The options file (INCLUDE, EXCLUDE, MAX, RESERVE...); empty when none.
    pub options: std::sync::Arc<Options>,
    /// The vendor's minimum for the options file's TIMEOUT/TIMEOUTALL, in
    /// seconds: a smaller value in the options file is raised to this, so
    /// that a site cannot reclaim seats from users who paused for a moment.
    pub min_timeout_secs: u32,
    /// Whether a report log is kept: only then does the core describe each
    /// event in [`Effects::report`] (it costs allocations per checkout).
    pub report: bool,
    /// Whether this daemon is part of a triad: only then does the core
    /// describe each seat taken or freed in [`Effects::changes`].
    pub replicate: bool,
    /// The publisher's keys built into this daemon: the borrow-sealing key
    /// signs each borrow's terms ([`Granted::seal`]). `None` (tests):
    /// borrows are not sealed.
    pub keys: Option<std::sync::Arc<DaemonKeys>>,
}

impl Config {
    /// Defaults: 30 s heartbeats, 120 s timeout.
    pub fn new(vendor: &str) -> Self {
        Config {
            vendor: vendor.to_string(),
            version: wire::version().to_string(),
            host: String::new(),
            port: 0,
            heartbeat_interval_ms: 30_000,
            timeout_ms: 120_000,
            suite_dup_groups: BTreeMap::new(),
            withdrawn: BTreeMap::new(),
            options: std::sync::Arc::new(Options::default()),
            min_timeout_secs: 900,
            report: false,
            replicate: false,
            keys: None,
        }
    }
}

/// The signed lines behind `pool`, as a grant carries them.
fn proof_of(pool: &Pool) -> Vec<LineProof> {
    pool.proof
        .iter()
        .map(|l| LineProof {
            content: wire::codec::Blob(l.content.to_vec()),
            key_id: u32::from_be_bytes(l.key_id),
            signature: wire::codec::Blob(l.signature.to_vec()),
        })
        .collect()
}

/// The daemon's seal over a borrow's terms, for the borrower's record.
fn seal(
    keys: &DaemonKeys,
    vendor: &str,
    granted: &Granted,
    co: &Checkout,
    holding: &Holding,
) -> wire::codec::Blob {
    let terms = BorrowSeal {
        vendor,
        feature: &granted.feature,
        version: &granted.version,
        count: granted.count,
        expiry: &granted.expiry,
        until: co.borrow_until,
        handle: granted.handle,
        user: &holding.user,
        host: &holding.host,
    };
    wire::codec::Blob(keys.seal(&terms).to_vec())
}

/// A connection the event loop should close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The connection.
    pub conn: ConnId,
    /// For the log, when the peer did something wrong.
    pub reason: Option<String>,
}

/// What one event produced.
#[derive(Debug, Default)]
#[must_use]
pub struct Effects {
    /// Messages to send, in order.
    pub replies: Vec<(ConnId, Message)>,
    /// Connections to close (after sending what `replies` has for them).
    pub close: Vec<Close>,
    /// Debug-log lines, in order.
    pub log: Vec<LogEvent>,
    /// An administrator asked the daemon to shut down.
    pub shutdown: bool,
    /// Borrowed seats taken or given back, in order. The event loop makes
    /// them durable before it sends `replies`, so a client never holds a
    /// borrow that a restarted daemon would not know.
    pub borrows: Vec<BorrowChange>,
    /// Accounting changes for the triad to replicate (when
    /// [`Config::replicate`] is set), in order.
    pub changes: Vec<Delta>,
    /// Report-log records (when [`Config::report`] is set), in order. Their
    /// `time` is left 0: the event loop stamps them when it writes them.
    pub report: Vec<reportlog::Record>,
}

impl Effects {
    fn reply(&mut self, conn: ConnId, m: Message) {
        self.replies.push((conn, m));
    }

    fn close(&mut self, conn: ConnId, reason: Option<String>) {
        self.close.push(Close { conn, reason });
    }

    /// Appends `other`'s effects after ours.
    pub fn extend(&mut self, other: Effects) {
        self.replies.extend(other.replies);
        self.close.extend(other.close);
        self.log.extend(other.log);
        self.shutdown |= other.shutdown;
        self.borrows.extend(other.borrows);
        self.report.extend(other.report);
        self.changes.extend(other.changes);
    }
}

/// Usage of one pool, for status and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    /// The feature.
    pub feature: String,
    /// The version, as the license line writes it.
    pub version: String,
    /// Whether the pool is counted (uncounted lines have no seat limit).
    pub counted: bool,
    /// Licenses usable today.
    pub issued: u32,
    /// Seats the OVERDRAFT allows beyond the count.
    pub overdraft: u32,
    /// Seats taken (shared checkouts count once).
    pub in_use: u32,
}

/// Which checkouts share a seat: equal keys in one pool share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum DupKey {
    /// Shares with nobody: the handle it belongs to.
    Alone(u64),
    /// Shares with every checkout that agrees on the fields of `mask`
    /// (fields outside the mask are empty).
    Shared {
        mask: u8,
        user: String,
        host: String,
        display: String,
    },
}

const MASK_USER: u8 = 1;
const MASK_HOST: u8 = 2;
const MASK_DISPLAY: u8 = 4;
const MASK_VENDOR: u8 = 8;
const MASK_SITE: u8 = 0x10;

/// The DUP_GROUP a request's mask asks for (0: none).
fn dup_group_of_mask(mask: u8) -> Option<DupGroup> {
    if mask & MASK_SITE != 0 {
        Some(DupGroup::Site)
    } else if mask & (MASK_USER | MASK_HOST | MASK_DISPLAY | MASK_VENDOR) != 0 {
        Some(DupGroup::Mask {
            user: mask & MASK_USER != 0,
            host: mask & MASK_HOST != 0,
            display: mask & MASK_DISPLAY != 0,
            vendor: mask & MASK_VENDOR != 0,
        })
    } else {
        None
    }
}

fn dup_key(group: Option<DupGroup>, who: &ClientIdentity, handle: u64) -> DupKey {
    let pick = |on: bool, v: &str| if on { v.to_string() } else { String::new() };
    match group {
        None | Some(DupGroup::None) => DupKey::Alone(handle),
        Some(DupGroup::Site) => DupKey::Shared {
            mask: MASK_SITE,
            user: String::new(),
            host: String::new(),
            display: String::new(),
        },
        Some(DupGroup::Mask {
            user,
            host,
            display,
            vendor,
        }) => DupKey::Shared {
            mask: [
                (user, MASK_USER),
                (host, MASK_HOST),
                (display, MASK_DISPLAY),
                (vendor, MASK_VENDOR),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |m, (_, bit)| m | bit),
            user: pick(user, &who.user),
            host: pick(host, &who.host),
            display: pick(display, &who.display),
        },
    }
}

/// Checkouts sharing one or more seats.
#[derive(Debug, Default)]
struct Group {
    /// Seats taken: the largest count among the members.
    count: u32,
    /// Handle → licenses it asked for.
    members: BTreeMap<u64, u32>,
}

#[derive(Debug)]
struct PoolState {
    pool: Pool,
    /// `pool.issued(today)`.
    issued: u32,
    /// `pool.is_active(today)`.
    active: bool,
    /// Sum of the groups' counts. For a counted pool,
    /// `in_use <= issued + overdraft` at all times.
    in_use: u32,
    groups: BTreeMap<DupKey, Group>,
    /// The line's OVERDRAFT, lowered by the options file's MAX_OVERDRAFT.
    overdraft: u32,
    /// For USER_BASED/HOST_BASED lines: who the INCLUDE lines name.
    based: Option<Based>,
}

/// A USER_BASED or HOST_BASED pool: only the users (hosts) the options
/// file INCLUDEs may use it, each taking one seat however many times they
/// check it out.
#[derive(Debug, Clone)]
struct Based {
    by_host: bool,
    listed: BTreeSet<String>,
    /// USER_BASED=n, or the line's count.
    limit: u32,
}

impl Based {
    /// More names listed than the line allows: FLEXlm refuses the feature.
    fn overfull(&self) -> bool {
        self.listed.len() > self.limit as usize
    }
}

impl PoolState {
    fn new(pool: Pool, today: Date) -> PoolState {
        PoolState {
            issued: pool.issued(today),
            active: pool.is_active(today),
            in_use: 0,
            groups: BTreeMap::new(),
            overdraft: pool.overdraft,
            based: None,
            pool,
        }
    }

    fn capacity(&self) -> u32 {
        self.issued.saturating_add(self.overdraft)
    }

    /// Seats `count` licenses take in this pool: one per user (host) in a
    /// USER_BASED (HOST_BASED) pool.
    fn seats(&self, count: u32) -> u32 {
        if self.based.is_some() {
            1
        } else {
            count
        }
    }

    /// Seats a checkout of `count` under `key` would add.
    fn extra(&self, key: &DupKey, count: u32) -> u32 {
        match self.groups.get(key) {
            Some(g) => count.saturating_sub(g.count),
            None => count,
        }
    }

    fn fits(&self, key: &DupKey, count: u32) -> bool {
        !self.pool.counted || self.in_use.saturating_add(self.extra(key, count)) <= self.capacity()
    }

    fn join(&mut self, key: DupKey, handle: u64, count: u32) {
        let g = self.groups.entry(key).or_default();
        g.members.insert(handle, count);
        let new = g.count.max(count);
        self.in_use += new - g.count;
        g.count = new;
    }

    /// Removes `handle` from its group. Returns the seats freed and, if
    /// the group lives on, a remaining member (who inherits the seats the
    /// leaver's reservation paid for).
    fn leave(&mut self, key: &DupKey, handle: u64) -> (u32, Option<u64>) {
        let Some(g) = self.groups.get_mut(key) else {
            return (0, None);
        };
        g.members.remove(&handle);
        let new = g.members.values().copied().max().unwrap_or(0);
        let freed = g.count - new;
        self.in_use -= freed;
        g.count = new;
        let heir = g.members.keys().next().copied();
        if g.members.is_empty() {
            self.groups.remove(key);
        }
        (freed, heir)
    }

    /// Why this pool cannot serve `wanted` today, if it cannot.
    fn unusable(&self, today: Date, wanted: &Version) -> Option<Denial> {
        if !self.active {
            let starts_later = self
                .pool
                .contributions
                .iter()
                .any(|c| !c.expiry.is_expired(today) && c.start.is_some_and(|s| s > today));
            return Some(if starts_later {
                Denial::TooEarly
            } else {
                Denial::Expired
            });
        }
        (self.pool.version < *wanted).then_some(Denial::VersionTooHigh)
    }
}

/// A connection that said Hello. Its machine's identity for hostid
/// matching ([`host_identity`]) is derived when a node-locked pool needs it,
/// not kept: most connections never need it, and a daemon may hold tens of
/// thousands of connections.
#[derive(Debug)]
struct Conn {
    identity: ClientIdentity,
    /// Who the options file sees: built the first time a rule needs it
    /// (a daemon without options file never does; it may hold tens of
    /// thousands of connections).
    client: OnceCell<Box<OptClient>>,
    /// Time of the last message from this connection.
    last_heard: u64,
    /// Time of the last sign of a user at work: any request but a
    /// heartbeat that says the application is idle (options TIMEOUT).
    active_at: u64,
    /// The shortest TIMEOUT of the checkouts it holds, in ms.
    timeout_ms: Option<u64>,
    handles: BTreeSet<u64>,
}

impl Conn {
    /// Who the options file sees.
    fn client(&self) -> &OptClient {
        self.client
            .get_or_init(|| Box::new(options_client(&self.identity)))
    }
}

/// One granted checkout.
#[derive(Debug)]
struct Holding {
    conn: ConnId,
    req: u32,
    feature: String,
    pool: usize,
    key: DupKey,
    count: u32,
    /// For a SUITE component: the suite pool and the key of its seat.
    suite: Option<(usize, DupKey)>,
    started_ms: u64,
    user: String,
    host: String,
    display: String,
    pid: u32,
    /// The client's job id: a job that reconnects (to this daemon, or to
    /// the new master of a triad) gets its seats back.
    job: u64,
    /// The version asked for, as the client wrote it.
    requested: String,
    /// Options-file accounting this checkout counts towards.
    quota: Quota,
    /// Set once checked in under LINGER: the seat stays taken until then.
    linger_until: Option<u64>,
    /// The options file's TIMEOUT for this checkout, in ms.
    timeout_ms: Option<u64>,
    /// A borrowed seat: taken until then (ms), connected or not.
    borrow_until: Option<u64>,
    /// For a borrowed seat: the SHA-256 of the secret an early return must
    /// show (`wire::borrow_key`). `None` for a borrow from before return
    /// secrets: only an administrator (lmremove) ends it early.
    return_hash: Option<Box<[u8; wire::borrow_key::LEN]>>,
    /// Taken over from an old master: freed then (ms) unless its job
    /// reconnects.
    orphan_until: Option<u64>,
}

/// The owner of a seat that belongs to no connection any more: one that
/// lingers, or a borrowed one whose client went away.
const DETACHED: ConnId = ConnId(u64::MAX);

/// A borrowed checkout as the daemon stores it, so that it outlives the
/// daemon: restored into the core at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowRecord {
    /// The checkout's handle.
    pub handle: u64,
    /// The feature.
    pub feature: String,
    /// The pool's version (the line's, not the one asked for).
    pub version: String,
    /// How many seats.
    pub count: u32,
    /// The user, as the client names it.
    pub user: String,
    /// The client's host name.
    pub host: String,
    /// The client's display.
    pub display: String,
    /// The client process.
    pub pid: u32,
    /// The version the client asked for.
    pub requested: String,
    /// When the checkout was granted (milliseconds since the Unix epoch).
    pub started_ms: u64,
    /// When the borrow ends (milliseconds since the Unix epoch).
    pub until_ms: u64,
    /// The SHA-256 of the borrower's return secret; empty for a borrow
    /// from before return secrets (only lmremove ends it early).
    pub return_hash: Vec<u8>,
}

/// A change to the durable set of borrowed seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BorrowChange {
    /// A seat was borrowed: keep it.
    Add(BorrowRecord),
    /// The seat was returned or its borrow ran out.
    Remove(u64),
}

/// What a checkout counts against in the options file: the MAX rules that
/// apply to its client and the reservation (if any) its seats came from.
#[derive(Debug, Default, Clone)]
struct Quota {
    maxes: Vec<MaxId>,
    count: u32,
    reservation: Option<(ReservationId, u32)>,
}

/// Where a checkout would go.
struct Plan {
    pool: usize,
    key: DupKey,
    suite: Option<(usize, DupKey)>,
    /// Seats taken from a reservation of the client's, if any.
    reservation: Option<(ReservationId, u32)>,
}

/// The accounting state of one vendor daemon.
#[derive(Debug)]
pub struct Core {
    config: Config,
    today: Date,
    pools: Vec<PoolState>,
    /// Pool indices per feature, in the order of precedence.
    by_feature: BTreeMap<String, Vec<usize>>,
    /// Connections and checkouts are boxed: a table or B-tree node keeps
    /// its values inline and is often half full, which for values of a few
    /// hundred bytes costs more than the values themselves. Connections are
    /// only ever looked up by id, never walked in order: a hash table.
    conns: IdMap<ConnId, Box<Conn>>,
    holdings: BTreeMap<u64, Box<Holding>>,
    /// `(last_heard, conn)` of every connection holding seats, so the
    /// next timeout is the first entry.
    idle: BTreeSet<(u64, ConnId)>,
    /// `(job, conn)` of every connection whose Hello gave a job id, so a
    /// reconnecting job finds its old connections without a scan.
    jobs: BTreeSet<(u64, ConnId)>,
    next_handle: u64,
    /// `(until, handle)` of checked-in seats that linger (options LINGER).
    lingering: BTreeSet<(u64, u64)>,
    /// Checkouts waiting for a seat, per feature, first come first served.
    queue: BTreeMap<String, std::collections::VecDeque<(ConnId, Checkout)>>,
    /// Licenses held per options-file MAX rule.
    max_use: Vec<u32>,
    /// Seats taken per options-file RESERVE line.
    reserve_use: Vec<u32>,
    /// `(active_at + timeout, conn)` of connections holding checkouts
    /// with an options-file TIMEOUT.
    timeouts: BTreeSet<(u64, ConnId)>,
    /// `(until, handle)` of borrowed seats.
    borrowed: BTreeSet<(u64, u64)>,
    /// A standby of a triad: its seats are the master's, applied from the
    /// replicated log, and belong to no connection here.
    standby: bool,
    /// `(until, handle)` of seats a new master took over from the old one
    /// and whose application has not reconnected yet.
    orphans: BTreeSet<(u64, u64)>,
    /// The same seats as `(job, handle)`: an application that reconnects
    /// finds its own among thousands without looking at the others (after a
    /// failover every application reconnects at once).
    orphans_by_job: BTreeSet<(u64, u64)>,
    /// What this daemon has done, for the metrics.
    counters: Counters,
}

impl Core {
    /// A core serving `pools` (only those of `config.vendor` are used), for
    /// the local date `today`.
    pub fn new(pools: PoolSet, today: Date, config: Config) -> Core {
        let mut core = Core {
            pools: Vec::new(),
            by_feature: BTreeMap::new(),
            conns: HashMap::default(),
            holdings: BTreeMap::new(),
            idle: BTreeSet::new(),
            jobs: BTreeSet::new(),
            next_handle: 1,
            lingering: BTreeSet::new(),
            queue: BTreeMap::new(),
            max_use: vec![0; config.options.max_rule_count()],
            reserve_use: vec![0; config.options.reservation_count()],
            timeouts: BTreeSet::new(),
            borrowed: BTreeSet::new(),
            standby: false,
            orphans: BTreeSet::new(),
            orphans_by_job: BTreeSet::new(),
            counters: Counters::default(),
            today,
            config,
        };
        for pool in pools.pools {
            if pool.vendor != core.config.vendor {
                continue;
            }
            core.by_feature
                .entry(pool.feature.clone())
                .or_default()
                .push(core.pools.len());
            core.pools.push(PoolState::new(pool, today));
        }
        core.apply_pool_options();
        core
    }

    /// What this daemon has done since it started (the metrics' counters).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration the core runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Settings the event loop changes after start (triad membership).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Sets the port reported in `Status` (known once the listener is bound).
    pub fn set_port(&mut self, port: u16) {
        self.config.port = port;
    }

    /// The date the core judges expiry and START by.
    pub fn today(&self) -> Date {
        self.today
    }

    /// Dispatches a message from `conn`. Messages a client never sends, a
    /// second Hello, and license requests before Hello close the connection.
    pub fn handle_message(&mut self, now: u64, conn: ConnId, msg: Message) -> Effects {
        let known = self.conns.contains_key(&conn);
        match msg {
            Message::Hello(h) if !known => self.connect(now, conn, h.identity),
            Message::Hello(_) => {
                let mut fx = Effects::default();
                fx.close(conn, Some("second Hello on one connection".into()));
                fx
            }
            Message::Checkout(c) if known => self.checkout(now, conn, &c),
            Message::Checkin(c) if known => self.checkin(now, conn, &c),
            Message::Heartbeat(h) if known => self.heartbeat(now, conn, &h),
            Message::ReturnBorrow(r) if known => self.return_borrow(now, conn, &r),
            Message::Checkout(_)
            | Message::Checkin(_)
            | Message::Heartbeat(_)
            | Message::ReturnBorrow(_) => {
                let mut fx = Effects::default();
                fx.close(conn, Some("license request before Hello".into()));
                fx
            }
            Message::StatusQuery(q) => {
                self.touch(conn, now);
                self.status(conn, &q)
            }
            Message::Admin(a) => {
                self.touch(conn, now);
                self.admin(now, conn, &a)
            }
            other => {
                let mut fx = Effects::default();
                fx.close(
                    conn,
                    Some(format!("unexpected message type 0x{:02x}", other.kind())),
                );
                fx
            }
        }
    }
}

/// What the store keeps of a borrowed checkout.
fn borrow_record(handle: u64, h: &Holding, pools: &[PoolState]) -> BorrowRecord {
    BorrowRecord {
        handle,
        feature: h.feature.clone(),
        version: pools[h.pool].pool.version.as_written().to_string(),
        count: h.count,
        user: h.user.clone(),
        host: h.host.clone(),
        display: h.display.clone(),
        pid: h.pid,
        requested: h.requested.clone(),
        started_ms: h.started_ms,
        until_ms: h.borrow_until.unwrap_or(0),
        return_hash: h
            .return_hash
            .as_deref()
            .map(|h| h.to_vec())
            .unwrap_or_default(),
    }
}

/// A return hash as a holding keeps it: exactly [`wire::borrow_key::LEN`]
/// bytes, else none.
fn return_hash_of(bytes: &[u8]) -> Option<Box<[u8; wire::borrow_key::LEN]>> {
    <[u8; wire::borrow_key::LEN]>::try_from(bytes)
        .ok()
        .map(Box::new)
}

/// Who the options file sees. The address is the first `INTERNET=` id the
/// client reports; the project is its `LM_PROJECT`.
fn options_client(id: &ClientIdentity) -> OptClient {
    let client = OptClient::new(&id.user, &id.host, &id.display).with_project(&id.project);
    let address = id.hostids.iter().find_map(|h| {
        h.strip_prefix("INTERNET=")?
            .parse::<std::net::IpAddr>()
            .ok()
    });
    match address {
        Some(a) => client.with_address(a),
        None => client,
    }
}

/// What a client's Hello says about its machine, for hostid matching.
pub fn host_identity(id: &ClientIdentity) -> HostIdentity {
    let mut who = HostIdentity {
        hostname: id.host.clone(),
        user: id.user.clone(),
        display: id.display.clone(),
        ..HostIdentity::default()
    };
    for text in &id.hostids {
        match HostId::parse(text) {
            Ok(HostId::Hex { value, .. }) => who.hex_ids.push(value),
            Ok(HostId::Internet([Some(a), Some(b), Some(c), Some(d)])) => {
                who.addresses.push(std::net::Ipv4Addr::new(a, b, c, d));
            }
            Ok(HostId::Other { kind, value }) => who.others.push((kind, value)),
            _ => {}
        }
    }
    who
}
