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

pub mod admin;
mod denial;
pub mod expiry;
mod log;
mod replica;
#[cfg(test)]
mod tests;

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
    admin_op, AdminReply, AdminRequest, Checkin, Checkout, ClientIdentity, Denied, FeatureStatus,
    Granted, Heartbeat, Holder, LineProof, Message, ReturnBorrow, Revoked, StatusQuery,
    StatusReply, Welcome,
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
    pub port: u16,
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
    pub feature: String,
    pub version: String,
    pub counted: bool,
    /// Licenses usable today.
    pub issued: u32,
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
    pub handle: u64,
    pub feature: String,
    /// The pool's version (the line's, not the one asked for).
    pub version: String,
    pub count: u32,
    pub user: String,
    pub host: String,
    pub display: String,
    pub pid: u32,
    pub requested: String,
    pub started_ms: u64,
    pub until_ms: u64,
}

/// A change to the durable set of borrowed seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BorrowChange {
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

    /// Applies the options file to every pool: MAX_OVERDRAFT, and who a
    /// USER_BASED/HOST_BASED line is for.
    fn apply_pool_options(&mut self) {
        let options = std::sync::Arc::clone(&self.config.options);
        for p in &mut self.pools {
            let ctx = FeatureCtx::from_pool(&p.pool);
            p.overdraft = options.effective_overdraft(&ctx, p.pool.overdraft);
            let (by_host, n) = match (p.pool.user_based, p.pool.host_based) {
                (Some(n), _) => (false, n),
                (None, Some(n)) => (true, n),
                (None, None) => {
                    p.based = None;
                    continue;
                }
            };
            let mut listed = BTreeSet::new();
            for who in options.include_list(&ctx) {
                let names: Vec<String> = match (by_host, who.kind) {
                    (false, WhoKind::User) | (true, WhoKind::Host) => vec![who.name.clone()],
                    (false, WhoKind::Group) => options.group(&who.name).unwrap_or(&[]).to_vec(),
                    (true, WhoKind::HostGroup) => {
                        options.host_group(&who.name).unwrap_or(&[]).to_vec()
                    }
                    _ => Vec::new(),
                };
                listed.extend(names);
            }
            p.based = Some(Based {
                by_host,
                listed,
                limit: n.unwrap_or(p.pool.issued(self.today)),
            });
        }
    }

    /// USER_BASED/HOST_BASED lines whose INCLUDE lists name more users
    /// (hosts) than they allow, as log lines: FLEXlm refuses those
    /// features (-84) until the options file is fixed.
    pub fn option_problems(&self) -> Vec<String> {
        self.pools
            .iter()
            .filter_map(|p| {
                let b = p.based.as_ref()?;
                b.overfull().then(|| {
                    format!(
                        "{} is {}: the options file INCLUDEs {} {} but the license allows {}; the feature is refused until this is fixed",
                        p.pool.feature,
                        if b.by_host { "HOST_BASED" } else { "USER_BASED" },
                        b.listed.len(),
                        if b.by_host { "hosts" } else { "users" },
                        b.limit
                    )
                })
            })
            .collect()
    }

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

    pub fn today(&self) -> Date {
        self.today
    }

    /// The pools served, in order.
    pub fn pools(&self) -> impl Iterator<Item = &grammar::pool::Pool> {
        self.pools.iter().map(|p| &p.pool)
    }

    /// Feature names served, in the order of the license file.
    pub fn features(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.pools
            .iter()
            .filter(|p| seen.insert(p.pool.feature.clone()))
            .map(|p| p.pool.feature.clone())
            .collect()
    }

    /// Usage of every pool, in pool order.
    pub fn usage(&self) -> Vec<PoolUsage> {
        self.pools
            .iter()
            .map(|p| PoolUsage {
                feature: p.pool.feature.clone(),
                version: p.pool.version.as_written().to_string(),
                counted: p.pool.counted,
                issued: p.issued,
                overdraft: p.overdraft,
                in_use: p.in_use,
            })
            .collect()
    }

    /// Number of checkouts held (shared ones each count).
    pub fn holdings(&self) -> usize {
        self.holdings.len()
    }

    /// Whether the core knows `conn` (it said Hello and was not closed).
    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Handles held by `conn`, in order.
    pub fn handles_of(&self, conn: ConnId) -> Vec<u64> {
        self.conns
            .get(&conn)
            .map(|c| c.handles.iter().copied().collect())
            .unwrap_or_default()
    }

    /// When [`Core::tick`] next has work: the earliest time a connection
    /// holding seats times out.
    pub fn next_deadline(&self) -> Option<u64> {
        let timeout = self
            .idle
            .first()
            .map(|(last, _)| last.saturating_add(u64::from(self.config.timeout_ms)));
        let linger = self.lingering.first().map(|(until, _)| *until);
        let idle = self.timeouts.first().map(|(at, _)| *at);
        let borrow = self.borrowed.first().map(|(until, _)| *until);
        let orphan = self.orphans.first().map(|(until, _)| *until);
        if self.standby {
            // The master keeps a standby's seats: no timer runs here.
            return None;
        }
        [timeout, linger, idle, borrow, orphan]
            .into_iter()
            .flatten()
            .min()
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

    /// A client introduced itself. If another connection of the same job
    /// (same non-zero job id, user and host) still holds seats, they move
    /// to this connection, are listed in `Welcome.held`, and the old
    /// connection is closed.
    pub fn connect(&mut self, now: u64, conn: ConnId, identity: ClientIdentity) -> Effects {
        let mut fx = Effects::default();
        if self.conns.contains_key(&conn) {
            fx.close(conn, Some("second Hello on one connection".into()));
            return fx;
        }
        let mut moved: BTreeSet<u64> = BTreeSet::new();
        if identity.job != 0 {
            let job = identity.job;
            let old: Vec<ConnId> = self
                .jobs
                .range((job, ConnId(0))..=(job, ConnId(u64::MAX)))
                .map(|&(_, id)| id)
                .filter(|id| {
                    self.conns.get(id).is_some_and(|c| {
                        !c.handles.is_empty()
                            && c.identity.user == identity.user
                            && c.identity.host == identity.host
                    })
                })
                .collect();
            for id in old {
                let Some(c) = self.conns.remove(&id) else {
                    continue;
                };
                self.jobs.remove(&(job, id));
                self.idle.remove(&(c.last_heard, id));
                if let Some(t) = c.timeout_ms {
                    self.timeouts.remove(&(c.active_at.saturating_add(t), id));
                }
                for h in &c.handles {
                    if let Some(holding) = self.holdings.get_mut(h) {
                        holding.conn = conn;
                    }
                }
                fx.log.push(LogEvent::Note(format!(
                    "{}@{} reconnected: {} license checkout(s) kept",
                    identity.user,
                    identity.host,
                    c.handles.len()
                )));
                moved.extend(c.handles);
                fx.close(id, None);
            }
        }
        if identity.job != 0 && !self.orphans.is_empty() {
            let mine: Vec<u64> = self
                .orphans
                .iter()
                .map(|(_, h)| *h)
                .filter(|h| {
                    self.holdings.get(h).is_some_and(|h| {
                        h.job == identity.job
                            && h.user == identity.user
                            && h.host.eq_ignore_ascii_case(&identity.host)
                    })
                })
                .collect();
            for handle in mine {
                if let Some(h) = self.holdings.get_mut(&handle) {
                    if let Some(until) = h.orphan_until.take() {
                        self.orphans.remove(&(until, handle));
                    }
                    h.conn = conn;
                    moved.insert(handle);
                }
            }
            if !moved.is_empty() {
                fx.log.push(LogEvent::Note(format!(
                    "{}@{} reattached: {} license checkout(s) kept from the previous master",
                    identity.user,
                    identity.host,
                    moved.len()
                )));
            }
        }
        let held = moved.iter().map(|h| self.granted(*h)).collect();
        if !moved.is_empty() {
            self.idle.insert((now, conn));
        }
        if identity.job != 0 {
            self.jobs.insert((identity.job, conn));
        }
        self.conns.insert(
            conn,
            Box::new(Conn {
                client: OnceCell::new(),
                identity,
                last_heard: now,
                active_at: now,
                timeout_ms: None,
                handles: moved,
            }),
        );
        self.reindex_timeout(conn);
        fx.reply(
            conn,
            Message::Welcome(Welcome {
                server: self.config.vendor.clone(),
                version: self.config.version.clone(),
                heartbeat_interval_ms: self.config.heartbeat_interval_ms,
                timeout_ms: self.config.timeout_ms,
                held,
            }),
        );
        fx
    }

    /// The `Granted` describing an existing checkout (for `Welcome.held`).
    fn granted(&self, handle: u64) -> Granted {
        let h = &self.holdings[&handle];
        let pool = &self.pools[h.pool].pool;
        Granted {
            req: h.req,
            handle,
            feature: h.feature.clone(),
            version: pool.version.as_written().to_string(),
            count: h.count,
            expiry: pool.expiry().to_string(),
            proof: proof_of(pool),
            seal: wire::codec::Blob::default(),
        }
    }

    /// Records activity from `conn`, moving its timeout.
    fn touch(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.handles.is_empty() {
            self.idle.remove(&(c.last_heard, conn));
            self.idle.insert((now.max(c.last_heard), conn));
        }
        c.last_heard = now.max(c.last_heard);
    }

    /// Records a sign of the user at work (for TIMEOUT), and activity.
    fn activity(&mut self, conn: ConnId, now: u64) {
        self.touch(conn, now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let before = c.active_at;
        c.active_at = now.max(c.active_at);
        if let Some(t) = c.timeout_ms {
            self.timeouts.remove(&(before.saturating_add(t), conn));
            self.timeouts.insert((c.active_at.saturating_add(t), conn));
        }
    }

    /// Recomputes a connection's shortest TIMEOUT after its checkouts
    /// changed, and its place in the timeout index.
    fn reindex_timeout(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let t = c
            .handles
            .iter()
            .filter_map(|h| self.holdings.get(h))
            .filter(|h| h.borrow_until.is_none())
            .filter_map(|h| h.timeout_ms)
            .min();
        let (active_at, old) = (c.active_at, c.timeout_ms);
        if let Some(old) = old {
            self.timeouts.remove(&(active_at.saturating_add(old), conn));
        }
        if let Some(t) = t {
            self.timeouts.insert((active_at.saturating_add(t), conn));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.timeout_ms = t;
        }
    }

    pub fn heartbeat(&mut self, now: u64, conn: ConnId, hb: &Heartbeat) -> Effects {
        let mut fx = Effects::default();
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("heartbeat before Hello".into()));
            return fx;
        }
        if hb.idle {
            self.touch(conn, now);
        } else {
            self.activity(conn, now);
        }
        fx.reply(
            conn,
            Message::HeartbeatAck(Heartbeat {
                seq: hb.seq,
                idle: false,
            }),
        );
        fx
    }

    /// A request for `co.count` licenses of `co.feature` at version
    /// `co.version` or later.
    pub fn checkout(&mut self, now: u64, conn: ConnId, co: &Checkout) -> Effects {
        let mut fx = Effects::default();
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("checkout before Hello".into()));
            return fx;
        }
        self.activity(conn, now);
        let handle = self.next_handle;
        let c = &self.conns[&conn];
        let (user, host) = (c.identity.user.clone(), c.identity.host.clone());
        match self.plan(c, co, handle, now) {
            Ok(plan) => {
                self.next_handle += 1;
                let display = c.identity.display.clone();
                let pid = c.identity.pid;
                let job = c.identity.job;
                let pool = &mut self.pools[plan.pool];
                let before = pool.in_use;
                pool.join(plan.key.clone(), handle, pool.seats(co.count));
                let added = pool.in_use - before;
                let mut granted = Granted {
                    req: co.req,
                    handle,
                    feature: co.feature.clone(),
                    version: pool.pool.version.as_written().to_string(),
                    count: co.count,
                    expiry: pool.pool.expiry().to_string(),
                    proof: proof_of(&pool.pool),
                    seal: wire::codec::Blob::default(),
                };
                fx.log.push(LogEvent::Out {
                    feature: co.feature.clone(),
                    user: user.clone(),
                    host: host.clone(),
                    count: co.count,
                });
                if let Some((s, key)) = &plan.suite {
                    let suite = &mut self.pools[*s];
                    suite.join(key.clone(), handle, co.count);
                    fx.log.push(LogEvent::Out {
                        feature: suite.pool.feature.clone(),
                        user: user.clone(),
                        host: host.clone(),
                        count: co.count,
                    });
                }
                self.holdings.insert(
                    handle,
                    Box::new(Holding {
                        conn,
                        req: co.req,
                        feature: co.feature.clone(),
                        pool: plan.pool,
                        key: plan.key,
                        count: co.count,
                        suite: plan.suite,
                        started_ms: now,
                        user,
                        host,
                        display,
                        pid,
                        job,
                        requested: co.version.clone(),
                        quota: Quota::default(),
                        linger_until: None,
                        timeout_ms: None,
                        borrow_until: None,
                        orphan_until: None,
                    }),
                );
                let borrowing = co.borrow_until > 0;
                let quota =
                    self.take_quota(plan.pool, conn, co.count, plan.reservation, !borrowing);
                let ctx = FeatureCtx::from_pool(&self.pools[plan.pool].pool);
                let timeout = self
                    .config
                    .options
                    .timeout(&ctx)
                    .map(|t| u64::from(t.max(self.config.min_timeout_secs)) * 1000);
                if let Some(h) = self.holdings.get_mut(&handle) {
                    h.quota = quota;
                    h.timeout_ms = timeout;
                    if borrowing {
                        let until = co.borrow_until.saturating_mul(1000);
                        h.borrow_until = Some(until);
                        self.borrowed.insert((until, handle));
                        fx.borrows
                            .push(BorrowChange::Add(borrow_record(handle, h, &self.pools)));
                        if let Some(keys) = &self.config.keys {
                            granted.seal = seal(keys, &self.config.vendor, &granted, co, h);
                        }
                    }
                }
                let c = self.conns.get_mut(&conn).expect("invariant: checked above");
                if c.handles.is_empty() {
                    self.idle.insert((c.last_heard, conn));
                }
                c.handles.insert(handle);
                // Only a checkout with a TIMEOUT can change the connection's
                // shortest one (most daemons have none: keep it off the path).
                if timeout.is_some() {
                    self.reindex_timeout(conn);
                }
                if self.config.replicate {
                    fx.changes.push(Delta::Grant(handle));
                }
                if self.config.report {
                    let kind = if borrowing {
                        reportlog::Kind::Borrow
                    } else {
                        reportlog::Kind::Checkout
                    };
                    self.report_holding(&mut fx, kind, handle, added);
                }
                fx.reply(conn, Message::Granted(granted));
            }
            Err(d)
                if co.queue
                    && matches!(
                        d,
                        Denial::MaxUsers | Denial::ReservedForOthers | Denial::OverMax
                    ) =>
            {
                // The client asked to wait: it hears -35 now and a Granted
                // with the same request number once a seat is free.
                self.queue
                    .entry(co.feature.clone())
                    .or_default()
                    .push_back((conn, co.clone()));
                if self.config.report {
                    self.report_request(&mut fx, reportlog::Kind::Queued, conn, co, 0);
                }
                fx.log.push(LogEvent::Queued {
                    feature: co.feature.clone(),
                    user,
                    host,
                });
                fx.reply(
                    conn,
                    Message::Denied(Denied {
                        req: co.req,
                        code: lmerr::LM_FEATQUEUE,
                        minor: 0,
                        text: lmerr::text(lmerr::LM_FEATQUEUE).to_string(),
                        detail: String::new(),
                    }),
                );
            }
            Err(d) => {
                // Someone is already waiting for this feature: say so.
                let d = if d == Denial::MaxUsers
                    && self.queue.get(&co.feature).is_some_and(|q| !q.is_empty())
                {
                    Denial::UsersQueued
                } else {
                    d
                };
                let (code, minor) = (d.code(), d.minor());
                if self.config.report {
                    self.report_request(&mut fx, reportlog::Kind::Denied, conn, co, code);
                }
                let feature = co.feature.clone();
                fx.log.push(if d.is_unsupported() {
                    LogEvent::Unsupported {
                        feature,
                        user,
                        host,
                        code,
                        minor,
                    }
                } else {
                    LogEvent::Denied {
                        feature,
                        user,
                        host,
                        code,
                        minor,
                    }
                });
                fx.reply(
                    conn,
                    Message::Denied(Denied {
                        req: co.req,
                        code,
                        minor,
                        text: d.text().to_string(),
                        detail: self.denial_detail(conn, &co.feature, d),
                    }),
                );
            }
        }
        fx
    }

    /// What a refusal's text does not say: for -9 the hostids on both
    /// sides, for -10 the date. Empty for the others.
    fn denial_detail(&self, conn: ConnId, feature: &str, d: Denial) -> String {
        let pools = || {
            self.by_feature
                .get(feature)
                .into_iter()
                .flatten()
                .map(|&i| &self.pools[i].pool)
        };
        match d {
            Denial::NotThisHost => {
                let locked: Vec<String> = pools()
                    .filter(|p| p.is_node_locked())
                    .filter_map(|p| p.hostids.as_deref().map(hostid::display_list))
                    .collect();
                let Some(c) = self.conns.get(&conn) else {
                    return String::new();
                };
                denial::hostid_detail(&locked, &c.identity.host, &c.identity.hostids)
            }
            Denial::Expired => {
                let last = match self.config.withdrawn.get(feature) {
                    Some(Withdrawn::Expired(on)) => Some(*on),
                    _ => pools().map(|p| p.expiry()).max_by_key(|e| match e {
                        grammar::Expiry::Permanent => (1, None),
                        grammar::Expiry::On(d) => (0, Some(*d)),
                    }),
                };
                last.map_or_else(String::new, |e| denial::expired_detail(feature, &e))
            }
            _ => String::new(),
        }
    }

    /// Chooses the pool (and suite pool) for a checkout, or says why none.
    ///
    /// Candidate order: node-locked pools whose hostid matches the client,
    /// then pools that are not node-locked, each in the order of
    /// precedence. A pool where the client's DUP_GROUP already holds a seat
    /// that covers the request is preferred, since it costs nothing.
    fn plan(&self, c: &Conn, co: &Checkout, handle: u64, now: u64) -> Result<Plan, Denial> {
        let version = if co.version.trim().is_empty() {
            "0"
        } else {
            co.version.trim()
        };
        let (Some(wanted), true) = (Version::parse(version), co.count > 0) else {
            return Err(Denial::BadParam);
        };
        let borrowing = co.borrow_until > 0;
        if borrowing && co.borrow_until.saturating_mul(1000) <= now {
            return Err(Denial::BadParam);
        }
        let Some(indices) = self.by_feature.get(&co.feature) else {
            return Err(match self.config.withdrawn.get(&co.feature) {
                Some(Withdrawn::Expired(_)) => Denial::Expired,
                Some(Withdrawn::BadSignature) => Denial::BadCode,
                None => Denial::NoFeature,
            });
        };
        let mut best: Option<Denial> = None;
        let mut note = |d: Denial| {
            if best.is_none_or(|b| d.closeness() > b.closeness()) {
                best = Some(d);
            }
        };
        let who = OnceCell::new();
        let mut order = Vec::with_capacity(indices.len());
        for &i in indices {
            let p = &self.pools[i].pool;
            if p.is_node_locked() {
                if p.hostids.as_deref().is_some_and(|ids| {
                    hostid::any_matches(ids, who.get_or_init(|| host_identity(&c.identity)))
                }) {
                    order.push(i);
                } else {
                    note(Denial::NotThisHost);
                }
            }
        }
        order.extend(
            indices
                .iter()
                .copied()
                .filter(|&i| !self.pools[i].pool.is_node_locked()),
        );

        let key_in = |i: usize| {
            let p = &self.pools[i];
            if borrowing {
                // A borrowed seat leaves with its client: it shares with no one.
                return DupKey::Alone(handle);
            }
            if let Some(b) = &p.based {
                let group = if b.by_host {
                    DupGroup::Mask {
                        user: false,
                        host: true,
                        display: false,
                        vendor: false,
                    }
                } else {
                    DupGroup::Mask {
                        user: true,
                        host: false,
                        display: false,
                        vendor: false,
                    }
                };
                return dup_key(Some(group), &c.identity, handle);
            }
            dup_key(
                p.pool.dup_group.or(dup_group_of_mask(co.dup_group)),
                &c.identity,
                handle,
            )
        };
        // A seat this client's group already holds covers the request.
        for &i in &order {
            let p = &self.pools[i];
            if borrowing || p.unusable(self.today, &wanted).is_some() {
                continue;
            }
            let key = key_in(i);
            let seats = p.seats(co.count);
            if !(p.groups.contains_key(&key)
                && p.fits(&key, seats)
                && self.options_allow(p, c, co.count, false).is_ok())
            {
                continue;
            }
            // A bigger count than the group holds adds seats: those must
            // respect the reservations like any other.
            let Ok(reservation) = self.reserved_room(p, c, p.extra(&key, seats)) else {
                continue;
            };
            if let Ok(suite) = self.plan_suite(i, c, &who, co, handle) {
                return Ok(Plan {
                    pool: i,
                    key,
                    suite,
                    reservation,
                });
            }
        }
        for &i in &order {
            let p = &self.pools[i];
            if let Some(d) = p.unusable(self.today, &wanted) {
                note(d);
                continue;
            }
            let seats = p.seats(co.count);
            if p.pool.counted && seats > p.capacity() {
                note(Denial::TooMany);
                continue;
            }
            if let Err(d) = self.options_allow(p, c, co.count, borrowing) {
                note(d);
                continue;
            }
            if borrowing {
                if let Err(d) = self.borrow_allowed(p, c, co, now) {
                    note(d);
                    continue;
                }
            }
            let key = key_in(i);
            if !p.fits(&key, seats) {
                note(Denial::MaxUsers);
                continue;
            }
            let reservation = match self.reserved_room(p, c, p.extra(&key, seats)) {
                Ok(r) => r,
                Err(d) => {
                    note(d);
                    continue;
                }
            };
            match self.plan_suite(i, c, &who, co, handle) {
                Ok(suite) => {
                    return Ok(Plan {
                        pool: i,
                        key,
                        suite,
                        reservation,
                    })
                }
                Err(d) => note(d),
            }
        }
        Err(best.unwrap_or(Denial::NoFeature))
    }

    /// The options file's INCLUDE/EXCLUDE and MAX rules (for a borrow:
    /// INCLUDE_BORROW/EXCLUDE_BORROW instead of MAX, which FLEXlm documents
    /// as not limiting borrowing) for `count` more licenses of `p` to `c`,
    /// and who a USER_BASED/HOST_BASED pool is for.
    fn options_allow(
        &self,
        p: &PoolState,
        c: &Conn,
        count: u32,
        borrowing: bool,
    ) -> Result<(), Denial> {
        if let Some(b) = &p.based {
            if b.overfull() {
                return Err(Denial::UserBased);
            }
            let name = if b.by_host {
                &c.identity.host
            } else {
                &c.identity.user
            };
            if !b.listed.contains(name) {
                return Err(Denial::NotIncluded);
            }
        }
        let options = &self.config.options;
        if options.statements().is_empty() {
            return Ok(());
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let excluded = |d: grammar::options::Denial| match d.code() {
            lmerr::LM_FEATEXCLUDE => Denial::Excluded,
            _ => Denial::NotIncluded,
        };
        options.access(&ctx, c.client()).map_err(excluded)?;
        if borrowing {
            return options.borrow_access(&ctx, c.client()).map_err(excluded);
        }
        options
            .check_max(&ctx, c.client(), count, |id| self.max_use[id.index()])
            .map_err(|_| Denial::OverMax)
    }

    /// BORROW rules for a borrow of `co` from `p`: the line allows it, the
    /// period fits BORROW= and MAX_BORROW_HOURS, it is not a SUITE
    /// component, and BORROW_LOWWATER seats stay unborrowed.
    fn borrow_allowed(
        &self,
        p: &PoolState,
        _c: &Conn,
        co: &Checkout,
        now: u64,
    ) -> Result<(), Denial> {
        let Some(hours) = p.pool.borrow_hours else {
            return Err(Denial::NoBorrowSupport);
        };
        if p.pool.suite.is_some() || p.pool.package.is_some() {
            return Err(Denial::BorrowComponent);
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let options = &self.config.options;
        let allowed_ms = u64::from(options.effective_borrow_hours(&ctx, hours)) * 3_600_000;
        if co.borrow_until.saturating_mul(1000) > now.saturating_add(allowed_ms) {
            return Err(Denial::BorrowTooLong);
        }
        let lowwater = options.borrow_lowwater(&ctx).unwrap_or(0);
        let borrowed: u32 = self
            .borrowed
            .iter()
            .filter_map(|(_, h)| self.holdings.get(h))
            .filter(|h| std::ptr::eq(&self.pools[h.pool], p))
            .map(|h| h.count)
            .sum();
        if borrowed.saturating_add(co.count) > p.issued.saturating_sub(lowwater) {
            return Err(Denial::NoneToBorrow);
        }
        Ok(())
    }

    /// Whether `extra` new seats of pool `p` may go to `c` given the
    /// RESERVE lines: seats reserved for others and not in use stay free
    /// for them. Returns the reservation of `c`'s the seats come from.
    /// Reservations count per feature, over all of its pools.
    fn reserved_room(
        &self,
        p: &PoolState,
        c: &Conn,
        extra: u32,
    ) -> Result<Option<(ReservationId, u32)>, Denial> {
        if !p.pool.counted || extra == 0 || self.config.options.reservation_count() == 0 {
            return Ok(None);
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let mut unused = 0u32;
        let mut mine: Option<(ReservationId, u32)> = None;
        for r in self.config.options.reservations(&ctx) {
            let room = r.count().saturating_sub(self.reserve_use[r.id().index()]);
            if mine.is_none() && room > 0 && r.applies_to(c.client()) {
                mine = Some((r.id(), room.min(extra)));
            }
            unused = unused.saturating_add(room);
        }
        let from_mine = mine.map_or(0, |(_, n)| n);
        let needed = p
            .in_use
            .saturating_add(extra - from_mine)
            .saturating_add(unused);
        if needed > p.capacity() {
            return Err(Denial::ReservedForOthers);
        }
        Ok(mine.filter(|(_, n)| *n > 0))
    }

    /// Counts a granted checkout against the options file's MAX and
    /// RESERVE lines.
    fn take_quota(
        &mut self,
        pool: usize,
        conn: ConnId,
        count: u32,
        reservation: Option<(ReservationId, u32)>,
        count_max: bool,
    ) -> Quota {
        let options = std::sync::Arc::clone(&self.config.options);
        let ctx = FeatureCtx::from_pool(&self.pools[pool].pool);
        let maxes: Vec<MaxId> = match self.conns.get(&conn) {
            Some(c) if count_max && options.max_rule_count() > 0 => {
                options.limits(&ctx, c.client()).map(|r| r.id()).collect()
            }
            _ => Vec::new(),
        };
        for id in &maxes {
            self.max_use[id.index()] += count;
        }
        if let Some((id, n)) = reservation {
            self.reserve_use[id.index()] += n;
        }
        Quota {
            maxes,
            count,
            reservation,
        }
    }

    /// A checkout left, freeing `freed` seats of its group. Its
    /// reservation gets back at most those: seats that stay in use by the
    /// rest of the group (`heir`) stay counted against the reservation.
    fn give_back_quota(&mut self, quota: &Quota, freed: u32, heir: Option<u64>) {
        for id in &quota.maxes {
            if let Some(used) = self.max_use.get_mut(id.index()) {
                *used = used.saturating_sub(quota.count);
            }
        }
        let Some((id, n)) = quota.reservation else {
            return;
        };
        let mut back = n.min(freed);
        let kept = n - back;
        let heir = heir.filter(|_| kept > 0);
        let inherited = heir.and_then(|h| self.holdings.get_mut(&h)).and_then(|h| {
            match &mut h.quota.reservation {
                r @ None => {
                    *r = Some((id, kept));
                    Some(())
                }
                Some((same, m)) if *same == id => {
                    *m += kept;
                    Some(())
                }
                Some(_) => None,
            }
        });
        if kept > 0 && inherited.is_none() {
            back = n;
        }
        if let Some(used) = self.reserve_use.get_mut(id.index()) {
            *used = used.saturating_sub(back);
        }
    }

    /// For a SUITE component in pool `component`: the suite pool and seat
    /// that go with it (`Ok(None)` for an ordinary pool). `who` is the
    /// client's machine, derived on first use.
    #[allow(clippy::type_complexity)]
    fn plan_suite(
        &self,
        component: usize,
        c: &Conn,
        who: &OnceCell<HostIdentity>,
        co: &Checkout,
        handle: u64,
    ) -> Result<Option<(usize, DupKey)>, Denial> {
        let Some(suite) = &self.pools[component].pool.suite else {
            return Ok(None);
        };
        let Some(indices) = self.by_feature.get(suite) else {
            return Err(Denial::MaxUsers);
        };
        let mut best = Denial::MaxUsers;
        let any = Version::parse("0").expect("invariant: 0 is a version");
        for &i in indices {
            let p = &self.pools[i];
            if p.pool.is_node_locked()
                && !p.pool.hostids.as_deref().is_some_and(|ids| {
                    hostid::any_matches(ids, who.get_or_init(|| host_identity(&c.identity)))
                })
            {
                continue;
            }
            if let Some(d) = p.unusable(self.today, &any) {
                if d.closeness() < best.closeness() {
                    best = d;
                }
                continue;
            }
            let group = self
                .config
                .suite_dup_groups
                .get(suite)
                .copied()
                .or(p.pool.dup_group)
                .or(dup_group_of_mask(co.dup_group));
            let key = dup_key(group, &c.identity, handle);
            if p.fits(&key, co.count) {
                return Ok(Some((i, key)));
            }
        }
        Err(best)
    }

    /// Returns a checkout. Only the connection holding `ci.handle` may.
    pub fn checkin(&mut self, now: u64, conn: ConnId, ci: &Checkin) -> Effects {
        let mut fx = Effects::default();
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("checkin before Hello".into()));
            return fx;
        }
        self.activity(conn, now);
        if self
            .holdings
            .get(&ci.handle)
            .is_some_and(|h| h.conn == conn)
        {
            self.release_or_linger(now, ci.handle, &mut fx);
            fx.reply(
                conn,
                Message::CheckedIn(Checkin {
                    req: ci.req,
                    handle: ci.handle,
                }),
            );
            self.serve_queue(now, &mut fx);
        } else {
            fx.reply(
                conn,
                Message::Denied(Denied {
                    req: ci.req,
                    code: lmerr::LM_NEVERCHECKOUT,
                    minor: 0,
                    text: lmerr::text(lmerr::LM_NEVERCHECKOUT).to_string(),
                    detail: String::new(),
                }),
            );
        }
        fx
    }

    /// Frees a checkout's seats and logs `IN:`.
    fn release(&mut self, handle: u64, reason: Option<InReason>, fx: &mut Effects) {
        let Some(h) = self.holdings.remove(&handle) else {
            return;
        };
        if let Some(until) = h.linger_until {
            self.lingering.remove(&(until, handle));
        }
        if let Some(until) = h.borrow_until {
            self.borrowed.remove(&(until, handle));
            fx.borrows.push(BorrowChange::Remove(handle));
        }
        let (freed, heir) = self.pools[h.pool].leave(&h.key, handle);
        self.give_back_quota(&h.quota, freed, heir);
        self.orphans.remove(&(h.orphan_until.unwrap_or(0), handle));
        if self.config.replicate {
            fx.changes.push(Delta::Release(handle));
        }
        if self.config.report {
            let kind = match (reason, h.borrow_until) {
                (Some(InReason::Inactive), _) => reportlog::Kind::Reclaimed,
                (Some(InReason::Removed), _) => reportlog::Kind::Removed,
                (_, Some(_)) => reportlog::Kind::Return,
                _ => reportlog::Kind::Checkin,
            };
            let record = self.holding_record(kind, handle, &h, freed);
            fx.report.push(record);
        }
        fx.log.push(LogEvent::In {
            feature: h.feature.clone(),
            user: h.user.clone(),
            host: h.host.clone(),
            count: h.count,
            reason,
        });
        if let Some((s, key)) = &h.suite {
            self.pools[*s].leave(key, handle);
            fx.log.push(LogEvent::In {
                feature: self.pools[*s].pool.feature.clone(),
                user: h.user.clone(),
                host: h.host.clone(),
                count: h.count,
                reason,
            });
        }
        if let Some(c) = self.conns.get_mut(&h.conn) {
            c.handles.remove(&handle);
            if c.handles.is_empty() {
                self.idle.remove(&(c.last_heard, h.conn));
            }
        }
        if h.timeout_ms.is_some() {
            self.reindex_timeout(h.conn);
        }
    }

    /// The seat stays taken but no longer belongs to its connection (it
    /// lingers, or it is borrowed and its client went away).
    fn detach(&mut self, handle: u64) {
        let Some(h) = self.holdings.get_mut(&handle) else {
            return;
        };
        let conn = std::mem::replace(&mut h.conn, DETACHED);
        let timed = h.timeout_ms.is_some();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.handles.remove(&handle);
            if c.handles.is_empty() {
                self.idle.remove(&(c.last_heard, conn));
            }
        }
        if timed {
            self.reindex_timeout(conn);
        }
    }

    /// The connection is gone: everything it held is released.
    pub fn disconnect(&mut self, now: u64, conn: ConnId) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.conns.remove(&conn) else {
            return fx;
        };
        self.idle.remove(&(c.last_heard, conn));
        self.jobs.remove(&(c.identity.job, conn));
        if let Some(t) = c.timeout_ms {
            self.timeouts.remove(&(c.active_at.saturating_add(t), conn));
        }
        for h in c.handles {
            self.release_or_linger(now, h, &mut fx);
        }
        self.leave_queues(conn);
        self.serve_queue(now, &mut fx);
        fx
    }

    /// Seats came free: grant waiting checkouts in the order they came,
    /// stopping at the first that still does not fit.
    fn serve_queue(&mut self, now: u64, fx: &mut Effects) {
        let features: Vec<String> = self.queue.keys().cloned().collect();
        for feature in features {
            while let Some((conn, co)) = self.queue.get(&feature).and_then(|q| q.front()).cloned() {
                let Some(c) = self.conns.get(&conn) else {
                    self.pop_waiter(&feature);
                    continue;
                };
                if self.plan(c, &co, self.next_handle, now).is_err() {
                    break;
                }
                let (user, host) = (c.identity.user.clone(), c.identity.host.clone());
                self.pop_waiter(&feature);
                if self.config.report {
                    self.report_request(fx, reportlog::Kind::Dequeued, conn, &co, 0);
                }
                fx.log.push(LogEvent::Dequeued {
                    feature: feature.clone(),
                    user,
                    host,
                });
                let granted = self.checkout(now, conn, &Checkout { queue: false, ..co });
                fx.extend(granted);
            }
        }
    }

    fn pop_waiter(&mut self, feature: &str) {
        if let Some(q) = self.queue.get_mut(feature) {
            q.pop_front();
            if q.is_empty() {
                self.queue.remove(feature);
            }
        }
    }

    /// Drops a connection's queued checkouts.
    fn leave_queues(&mut self, conn: ConnId) {
        self.queue.retain(|_, q| {
            q.retain(|(c, _)| *c != conn);
            !q.is_empty()
        });
    }

    /// A checkin or an application's exit: the seat is freed now, or, when
    /// the options file sets LINGER for the feature, once that many
    /// seconds have passed. A lingering seat belongs to no connection.
    fn release_or_linger(&mut self, now: u64, handle: u64, fx: &mut Effects) {
        let Some(h) = self.holdings.get(&handle) else {
            return;
        };
        if h.borrow_until.is_some() {
            // A borrowed seat is the client's until the borrow ends,
            // whatever the application does.
            self.detach(handle);
            return;
        }
        let ctx = FeatureCtx::from_pool(&self.pools[h.pool].pool);
        let secs = self.config.options.effective_linger(&ctx, 0);
        if secs == 0 {
            self.release(handle, None, fx);
            return;
        }
        let until = now.saturating_add(u64::from(secs) * 1000);
        if let Some(h) = self.holdings.get_mut(&handle) {
            h.linger_until = Some(until);
        }
        self.lingering.insert((until, handle));
        self.detach(handle);
    }

    /// Reclaims the seats of connections silent for `timeout_ms` or more
    /// (`IN: ... (INACTIVE)`) and closes them. Returns what happened and
    /// the next deadline.
    pub fn tick(&mut self, now: u64) -> (Effects, Option<u64>) {
        let mut fx = Effects::default();
        if self.standby {
            return (fx, None);
        }
        let timeout = u64::from(self.config.timeout_ms);
        while let Some(&(last, conn)) = self.idle.first() {
            if now.saturating_sub(last) < timeout {
                break;
            }
            self.idle.remove(&(last, conn));
            let Some(c) = self.conns.remove(&conn) else {
                continue;
            };
            self.jobs.remove(&(c.identity.job, conn));
            if let Some(t) = c.timeout_ms {
                self.timeouts.remove(&(c.active_at.saturating_add(t), conn));
            }
            for h in c.handles {
                if self
                    .holdings
                    .get(&h)
                    .is_some_and(|h| h.borrow_until.is_some())
                {
                    self.detach(h);
                } else {
                    self.release(h, Some(InReason::Inactive), &mut fx);
                }
            }
            fx.close(conn, None);
        }
        while let Some(&(at, conn)) = self.timeouts.first() {
            if at > now {
                break;
            }
            self.reclaim_idle(now, conn, &mut fx);
        }
        while let Some(&(until, handle)) = self.lingering.first() {
            if until > now {
                break;
            }
            self.lingering.remove(&(until, handle));
            self.release(handle, None, &mut fx);
        }
        while let Some(&(until, handle)) = self.orphans.first() {
            if until > now {
                break;
            }
            self.release(handle, Some(InReason::Inactive), &mut fx);
        }
        while let Some(&(until, handle)) = self.borrowed.first() {
            if until > now {
                break;
            }
            let holder = self.holdings.get(&handle).map(|h| h.conn);
            self.release(handle, None, &mut fx);
            if let Some(conn) = holder.filter(|c| *c != DETACHED) {
                fx.reply(
                    conn,
                    Message::Revoked(Revoked {
                        handle,
                        code: lmerr::LM_BORROW_EXPIRED,
                        text: lmerr::text(lmerr::LM_BORROW_EXPIRED).to_string(),
                    }),
                );
            }
        }
        if !fx.log.is_empty() {
            self.serve_queue(now, &mut fx);
        }
        (fx, self.next_deadline())
    }

    /// TIMEOUT: the checkouts of `conn` whose TIMEOUT has passed since
    /// its user was last active go back (`IN: ... (INACTIVE)`); the
    /// application hears `Revoked` and keeps its connection.
    fn reclaim_idle(&mut self, now: u64, conn: ConnId, fx: &mut Effects) {
        let Some(c) = self.conns.get(&conn) else {
            self.timeouts.retain(|(_, id)| *id != conn);
            return;
        };
        let idle_for = now.saturating_sub(c.active_at);
        let expired: Vec<u64> = c
            .handles
            .iter()
            .copied()
            .filter(|h| {
                self.holdings.get(h).is_some_and(|h| {
                    h.borrow_until.is_none() && h.timeout_ms.is_some_and(|t| idle_for >= t)
                })
            })
            .collect();
        for handle in expired {
            self.release(handle, Some(InReason::Inactive), fx);
            fx.reply(
                conn,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_SERVER_REMOVED,
                    text: "License reclaimed: idle longer than the TIMEOUT in the options file."
                        .into(),
                }),
            );
        }
        self.reindex_timeout(conn);
    }

    /// lmborrow -return: the seat of `r.feature` this user borrowed on this
    /// host comes back before its time.
    pub fn return_borrow(&mut self, now: u64, conn: ConnId, r: &ReturnBorrow) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.conns.get(&conn) else {
            fx.close(conn, Some("return before Hello".into()));
            return fx;
        };
        let (user, host) = (&c.identity.user, &c.identity.host);
        let found = self.borrowed.iter().map(|(_, h)| *h).find(|h| {
            self.holdings.get(h).is_some_and(|h| {
                h.feature == r.feature && h.user == *user && h.host.eq_ignore_ascii_case(host)
            })
        });
        self.activity(conn, now);
        match found {
            Some(handle) => {
                self.release(handle, None, &mut fx);
                fx.reply(conn, Message::CheckedIn(Checkin { req: r.req, handle }));
                self.serve_queue(now, &mut fx);
            }
            None => fx.reply(
                conn,
                Message::Denied(Denied {
                    req: r.req,
                    code: lmerr::LM_UNBORROWED_ALREADY,
                    minor: 0,
                    text: lmerr::text(lmerr::LM_UNBORROWED_ALREADY).to_string(),
                    detail: String::new(),
                }),
            ),
        }
        fx
    }

    /// Borrowed seats stored by an earlier run of the daemon, taken again
    /// at start-up (before any client connects). Those whose borrow has
    /// ended, or whose feature is no longer served, are dropped from the
    /// store.
    pub fn restore_borrows(&mut self, now: u64, records: Vec<BorrowRecord>) -> Effects {
        let mut fx = Effects::default();
        for rec in records {
            self.next_handle = self.next_handle.max(rec.handle.saturating_add(1));
            let pool = self.by_feature.get(&rec.feature).and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|&i| self.pools[i].pool.version.as_written() == rec.version)
                    .or_else(|| ids.first().copied())
            });
            let (Some(pool), true) = (pool, rec.until_ms > now) else {
                fx.log.push(LogEvent::Note(format!(
                    "Borrowed license \"{}\" of {}@{} ended while the daemon was down",
                    rec.feature, rec.user, rec.host
                )));
                fx.borrows.push(BorrowChange::Remove(rec.handle));
                continue;
            };
            let key = DupKey::Alone(rec.handle);
            let p = &mut self.pools[pool];
            p.join(key.clone(), rec.handle, p.seats(rec.count));
            fx.log.push(LogEvent::Note(format!(
                "Borrowed license \"{}\" of {}@{} kept until {}",
                rec.feature,
                rec.user,
                rec.host,
                rec.until_ms / 1000
            )));
            self.borrowed.insert((rec.until_ms, rec.handle));
            self.holdings.insert(
                rec.handle,
                Box::new(Holding {
                    conn: DETACHED,
                    req: 0,
                    feature: rec.feature,
                    pool,
                    key,
                    count: rec.count,
                    suite: None,
                    started_ms: rec.started_ms,
                    user: rec.user,
                    host: rec.host,
                    display: rec.display,
                    pid: rec.pid,
                    job: 0,
                    requested: rec.requested,
                    quota: Quota::default(),
                    linger_until: None,
                    timeout_ms: None,
                    borrow_until: Some(rec.until_ms),
                    orphan_until: None,
                }),
            );
        }
        fx
    }

    /// A report-log record of a held checkout; `count` is the seats the
    /// event took or freed.
    fn holding_record(
        &self,
        kind: reportlog::Kind,
        handle: u64,
        h: &Holding,
        count: u32,
    ) -> reportlog::Record {
        let pool = &self.pools[h.pool];
        reportlog::Record {
            version: h.requested.clone(),
            user: h.user.clone(),
            host: h.host.clone(),
            display: h.display.clone(),
            project: self
                .conns
                .get(&h.conn)
                .map(|c| c.identity.project.clone())
                .unwrap_or_default(),
            count,
            issued: pool.issued,
            handle,
            ..reportlog::Record::new(0, kind, &h.feature)
        }
    }

    fn report_holding(&self, fx: &mut Effects, kind: reportlog::Kind, handle: u64, count: u32) {
        if let Some(h) = self.holdings.get(&handle) {
            let record = self.holding_record(kind, handle, h, count);
            fx.report.push(record);
        }
    }

    /// A report-log record of a request that got no seat (yet).
    fn report_request(
        &self,
        fx: &mut Effects,
        kind: reportlog::Kind,
        conn: ConnId,
        co: &Checkout,
        error: i32,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let issued = self
            .by_feature
            .get(&co.feature)
            .map_or(0, |ids| ids.iter().map(|&i| self.pools[i].issued).sum());
        fx.report.push(reportlog::Record {
            version: co.version.clone(),
            user: c.identity.user.clone(),
            host: c.identity.host.clone(),
            display: c.identity.display.clone(),
            project: c.identity.project.clone(),
            count: co.count,
            issued,
            error,
            ..reportlog::Record::new(0, kind, &co.feature)
        });
    }

    /// A `Held` record per checkout, for the start of a new report-log
    /// file (lmswitchr, lmnewlog), so each file can be read on its own.
    pub fn held_records(&self) -> Vec<reportlog::Record> {
        self.holdings
            .iter()
            .map(|(handle, h)| self.holding_record(reportlog::Kind::Held, *handle, h, h.count))
            .collect()
    }

    /// Turns report-log records on or off (see [`Config::report`]).
    pub fn set_report(&mut self, on: bool) {
        self.config.report = on;
    }

    /// The local date changed: pools follow their lines' START and expiry
    /// dates. If a pool now has fewer licenses than are in use, the newest
    /// checkouts are revoked until it fits.
    pub fn set_today(&mut self, today: Date) -> Effects {
        let mut fx = Effects::default();
        if today == self.today {
            return fx;
        }
        self.today = today;
        for i in 0..self.pools.len() {
            let p = &mut self.pools[i];
            let was_active = p.active;
            p.issued = p.pool.issued(today);
            p.active = p.pool.is_active(today);
            if was_active && !p.active {
                fx.log.push(LogEvent::Expired {
                    feature: p.pool.feature.clone(),
                });
            }
        }
        if self.standby {
            // The master revokes what no longer fits; its releases arrive
            // through the triad's log.
            return fx;
        }
        loop {
            let over = |p: &PoolState| p.pool.counted && p.in_use > p.capacity();
            let victim = self.holdings.iter().rev().find_map(|(handle, h)| {
                let in_over = over(&self.pools[h.pool])
                    || h.suite.as_ref().is_some_and(|(s, _)| over(&self.pools[*s]));
                in_over.then_some((*handle, h.conn))
            });
            let Some((handle, conn)) = victim else {
                break;
            };
            self.release(handle, Some(InReason::Expired), &mut fx);
            fx.reply(
                conn,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_LONGGONE,
                    text: lmerr::text(lmerr::LM_LONGGONE).to_string(),
                }),
            );
        }
        fx
    }

    /// A new options file (lmreread). Current checkouts keep their seats;
    /// the MAX counts are recomputed under the new rules, and seats that
    /// came from reservations stop counting as reserved.
    pub fn set_options(&mut self, options: std::sync::Arc<Options>) {
        self.config.options = options;
        self.max_use = vec![0; self.config.options.max_rule_count()];
        self.reserve_use = vec![0; self.config.options.reservation_count()];
        let held: Vec<(u64, usize, ConnId, u32, bool)> = self
            .holdings
            .iter()
            .map(|(handle, h)| (*handle, h.pool, h.conn, h.count, h.borrow_until.is_none()))
            .collect();
        for (handle, pool, conn, count, count_max) in held {
            let quota = self.take_quota(pool, conn, count, None, count_max);
            if let Some(h) = self.holdings.get_mut(&handle) {
                h.quota = quota;
            }
        }
        self.apply_pool_options();
    }

    /// lmreread: serve `pools` from now on, keeping every checkout.
    ///
    /// A checkout stays in the new pool with the same feature, version,
    /// hostids, counting and suite; new counts apply at once. A pool that
    /// no longer exists keeps its current holders until they check in, but
    /// takes no new checkouts. If a pool now has fewer licenses than are in
    /// use, holders keep their seats and newcomers are refused until enough
    /// are returned (the overdraft lasts only as long as the old
    /// checkouts, as in FLEXlm).
    pub fn reload(&mut self, pools: PoolSet, today: Date, withdrawn: BTreeMap<String, Withdrawn>) {
        let old = std::mem::take(&mut self.pools);
        self.by_feature.clear();
        self.today = today;
        self.config.withdrawn = withdrawn;
        for pool in pools.pools {
            if pool.vendor != self.config.vendor {
                continue;
            }
            self.by_feature
                .entry(pool.feature.clone())
                .or_default()
                .push(self.pools.len());
            self.pools.push(PoolState::new(pool, today));
        }
        let identity = |p: &Pool| {
            (
                p.feature.clone(),
                p.version.clone(),
                p.hostids.as_deref().map(grammar::hostid::display_list),
                p.counted,
                p.suite.clone(),
            )
        };
        let mut moved_to = Vec::with_capacity(old.len());
        for state in old {
            let target = self
                .pools
                .iter()
                .position(|n| identity(&n.pool) == identity(&state.pool));
            let idx = match target {
                Some(i) => i,
                None if state.groups.is_empty() => {
                    moved_to.push(usize::MAX);
                    continue;
                }
                None => {
                    // Retired: visible in status, closed to new checkouts.
                    self.pools.push(PoolState {
                        groups: BTreeMap::new(),
                        in_use: 0,
                        ..state
                    });
                    self.pools.len() - 1
                }
            };
            let dest = &mut self.pools[idx];
            for (key, group) in state.groups {
                for (handle, count) in group.members {
                    dest.join(key.clone(), handle, count);
                }
            }
            moved_to.push(idx);
        }
        for h in self.holdings.values_mut() {
            h.pool = moved_to[h.pool];
            if let Some((s, _)) = &mut h.suite {
                *s = moved_to[*s];
            }
        }
        self.apply_pool_options();
    }

    /// The daemon is stopping: every seat is released and logged as
    /// `IN: ... (SHUTDOWN)`.
    pub fn shutdown(&mut self) -> Effects {
        let mut fx = Effects::default();
        // Borrowed seats stay taken in the store for the next run.
        let handles: Vec<u64> = self
            .holdings
            .iter()
            .filter(|(_, h)| h.borrow_until.is_none())
            .map(|(handle, _)| *handle)
            .collect();
        for h in handles {
            self.release(h, Some(InReason::Shutdown), &mut fx);
        }
        self.conns.clear();
        self.idle.clear();
        self.jobs.clear();
        self.timeouts.clear();
        fx
    }

    /// Usage per pool (all features, or those named `q.feature`).
    pub fn status(&self, conn: ConnId, q: &StatusQuery) -> Effects {
        let mut fx = Effects::default();
        fx.reply(conn, Message::Status(self.status_reply(&q.feature)));
        fx
    }

    /// What `Status` answers for `feature` (empty: every feature).
    pub fn status_reply(&self, feature: &str) -> StatusReply {
        let mut holders: Vec<Vec<Holder>> = self.pools.iter().map(|_| Vec::new()).collect();
        for (handle, h) in &self.holdings {
            let ctx = FeatureCtx::from_pool(&self.pools[h.pool].pool);
            let holder = Holder {
                queued: false,
                borrow_until: h.borrow_until.map_or(0, |u| u / 1000),
                linger: match h.borrow_until {
                    // FLEXlm shows a borrow as its length, in seconds.
                    Some(until) => ((until.saturating_sub(h.started_ms)) / 1000) as u32,
                    None => self.config.options.effective_linger(&ctx, 0),
                },
                user: h.user.clone(),
                host: h.host.clone(),
                display: h.display.clone(),
                version: self.pools[h.pool].pool.version.as_written().to_string(),
                handle: *handle,
                started: h.started_ms / 1000,
                count: h.count,
                pid: h.pid,
                requested_version: h.requested.clone(),
            };
            if let Some((s, _)) = &h.suite {
                holders[*s].push(Holder {
                    version: self.pools[*s].pool.version.as_written().to_string(),
                    ..holder.clone()
                });
            }
            holders[h.pool].push(holder);
        }
        // Waiters show under the first pool of their feature.
        for (feature, waiters) in &self.queue {
            let Some(&pool) = self.by_feature.get(feature).and_then(|ids| ids.first()) else {
                continue;
            };
            for (conn, co) in waiters {
                let Some(c) = self.conns.get(conn) else {
                    continue;
                };
                holders[pool].push(Holder {
                    user: c.identity.user.clone(),
                    host: c.identity.host.clone(),
                    display: c.identity.display.clone(),
                    version: self.pools[pool].pool.version.as_written().to_string(),
                    handle: 0,
                    started: c.last_heard / 1000,
                    count: co.count,
                    pid: c.identity.pid,
                    requested_version: co.version.clone(),
                    queued: true,
                    borrow_until: 0,
                    linger: 0,
                });
            }
        }

        // RESERVE lines go with a feature's first pool, as lmstat prints
        // them once per feature.
        let mut listed: BTreeSet<String> = BTreeSet::new();
        let features = self
            .pools
            .iter()
            .zip(holders)
            .filter(|(p, _)| feature.is_empty() || p.pool.feature == feature)
            .map(|(p, holders)| FeatureStatus {
                name: p.pool.feature.clone(),
                version: p.pool.version.as_written().to_string(),
                counted: p.pool.counted,
                issued: p.issued,
                in_use: p.in_use,
                expiry: p.pool.expiry().to_string(),
                holders,
                hostids: p
                    .pool
                    .hostids
                    .as_deref()
                    .map(hostid::display_list)
                    .unwrap_or_default(),
                vendor_string: p.pool.vendor_string.clone().unwrap_or_default(),
                reservations: self.reservations_of(&p.pool, &mut listed),
            })
            .collect();
        StatusReply {
            server: self.config.vendor.clone(),
            version: self.config.version.clone(),
            host: self.config.host.clone(),
            port: self.config.port,
            vendors: Vec::new(),
            features,
            license_files: Vec::new(),
            triad: Vec::new(),
        }
    }

    /// The RESERVE lines of `pool`'s feature, the first time the feature
    /// is `listed`; nothing for its other pools.
    fn reservations_of(
        &self,
        pool: &Pool,
        listed: &mut BTreeSet<String>,
    ) -> Vec<wire::ReservationStatus> {
        if !listed.insert(pool.feature.clone()) {
            return Vec::new();
        }
        let ctx = FeatureCtx::from_pool(pool);
        self.config
            .options
            .reservations(&ctx)
            .map(|r| wire::ReservationStatus {
                count: r.count(),
                kind: r.who().kind.keyword().to_string(),
                name: r.who().name.clone(),
            })
            .collect()
    }

    /// lmremove (by user, host and display, or by handle) and lmdown.
    /// Removed checkouts are revoked: their holder gets `Revoked`.
    pub fn admin(&mut self, now: u64, conn: ConnId, req: &AdminRequest) -> Effects {
        let mut fx = Effects::default();
        let reply = |fx: &mut Effects, code: i32, text: String| {
            fx.reply(conn, Message::AdminReply(AdminReply { code, text }));
        };
        if !req.vendor.is_empty() && req.vendor != self.config.vendor {
            reply(
                &mut fx,
                lmerr::LM_NOSERVSUPP,
                format!("This is the vendor daemon of {}.", self.config.vendor),
            );
            return fx;
        }
        let victims: Vec<(u64, ConnId)> = match req.op {
            admin_op::REMOVE_USER => self
                .holdings
                .iter()
                .filter(|(_, h)| {
                    (req.feature.is_empty() || h.feature == req.feature)
                        && h.user == req.user
                        && h.host.eq_ignore_ascii_case(&req.host)
                        && (req.display.is_empty() || h.display == req.display)
                })
                .map(|(handle, h)| (*handle, h.conn))
                .collect(),
            admin_op::REMOVE_HANDLE => self
                .holdings
                .get(&req.handle)
                .filter(|h| req.feature.is_empty() || h.feature == req.feature)
                .map(|h| (req.handle, h.conn))
                .into_iter()
                .collect(),
            admin_op::SHUTDOWN if !self.borrowed.is_empty() && !req.force => {
                reply(
                    &mut fx,
                    lmerr::LM_BORROW_DOWN,
                    format!(
                        "{} ({} license(s) borrowed; use -force: they stay borrowed across the restart)",
                        lmerr::text(lmerr::LM_BORROW_DOWN),
                        self.borrowed.len()
                    ),
                );
                return fx;
            }
            admin_op::SHUTDOWN => {
                reply(&mut fx, 0, "Shutting down.".into());
                fx.shutdown = true;
                return fx;
            }
            _ => {
                reply(
                    &mut fx,
                    lmerr::LM_BADPARAM,
                    "The vendor daemon does not do this; ask lmgrd.".into(),
                );
                return fx;
            }
        };
        // A lingering seat is no one's any more: FLEXlm refuses to remove
        // it. A borrowed one may be in use on a laptop far away: the same.
        let (lingering, victims): (Vec<_>, Vec<_>) =
            victims.into_iter().partition(|(handle, _)| {
                self.holdings
                    .get(handle)
                    .is_some_and(|h| h.linger_until.is_some() || h.borrow_until.is_some())
            });
        if victims.is_empty() {
            let code = if lingering.is_empty() {
                lmerr::LM_NEVERCHECKOUT
            } else {
                lmerr::LM_REMOVE_LINGER
            };
            reply(&mut fx, code, lmerr::text(code).into());
            return fx;
        }
        let n = victims.len();
        for (handle, holder) in victims {
            self.release(handle, Some(InReason::Removed), &mut fx);
            fx.reply(
                holder,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_SERVER_REMOVED,
                    text: "License removed by the administrator.".into(),
                }),
            );
        }
        reply(&mut fx, 0, format!("Removed {n} license checkout(s)."));
        self.serve_queue(now, &mut fx);
        fx
    }

    /// Checks every internal invariant; used by tests.
    #[cfg(test)]
    fn check_invariants(&self) {
        for (i, p) in self.pools.iter().enumerate() {
            let sum: u32 = p.groups.values().map(|g| g.count).sum();
            assert_eq!(p.in_use, sum, "pool {i} in_use");
            // in_use <= capacity is the callers' property to check: a
            // reread that lowers a count leaves holders over it.
            for g in p.groups.values() {
                assert!(!g.members.is_empty());
                assert_eq!(g.count, g.members.values().copied().max().unwrap_or(0));
                for h in g.members.keys() {
                    assert!(self.holdings.contains_key(h), "dangling member {h}");
                }
            }
        }
        for (handle, h) in &self.holdings {
            assert_eq!(
                self.orphans
                    .contains(&(h.orphan_until.unwrap_or(0), *handle)),
                h.orphan_until.is_some()
            );
            if h.conn == DETACHED {
                assert!(
                    self.standby
                        || h.linger_until.is_some()
                        || h.borrow_until.is_some()
                        || h.orphan_until.is_some(),
                    "detached holding {handle} neither lingers, is borrowed nor orphaned"
                );
            } else {
                let c = self
                    .conns
                    .get(&h.conn)
                    .expect("holding of a live connection");
                assert!(c.handles.contains(handle));
            }
            assert_eq!(
                self.lingering
                    .contains(&(h.linger_until.unwrap_or(0), *handle)),
                h.linger_until.is_some()
            );
            assert_eq!(
                self.borrowed
                    .contains(&(h.borrow_until.unwrap_or(0), *handle)),
                h.borrow_until.is_some()
            );
            assert!(self.pools[h.pool].groups[&h.key]
                .members
                .contains_key(handle));
            if let Some((s, key)) = &h.suite {
                assert!(self.pools[*s].groups[key].members.contains_key(handle));
            }
        }
        for (id, c) in &self.conns {
            assert_eq!(
                self.idle.contains(&(c.last_heard, *id)),
                !c.handles.is_empty(),
                "idle index of {id:?}"
            );
        }
        assert_eq!(
            self.idle.len(),
            self.conns
                .values()
                .filter(|c| !c.handles.is_empty())
                .count()
        );
        let jobs: BTreeSet<(u64, ConnId)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.identity.job != 0)
            .map(|(id, c)| (c.identity.job, *id))
            .collect();
        assert_eq!(self.jobs, jobs, "job index");
        let timeouts: BTreeSet<(u64, ConnId)> = self
            .conns
            .iter()
            .filter_map(|(id, c)| Some((c.active_at.saturating_add(c.timeout_ms?), *id)))
            .collect();
        assert_eq!(self.timeouts, timeouts, "timeout index");
        assert_eq!(
            self.lingering.len() + self.borrowed.len(),
            self.holdings
                .values()
                .filter(|h| h.linger_until.is_some() || h.borrow_until.is_some())
                .count()
        );
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
    }
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
