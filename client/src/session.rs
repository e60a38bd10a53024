//! One job's connection to one license server: finding the vendor daemon
//! through lmgrd, checking licenses out and in, heartbeats, and
//! reconnecting.
//!
//! Each session has two threads. The *reader* owns the socket's reading
//! side: it hands replies to the thread waiting for them (by request
//! number), counts heartbeat acknowledgements and notes revocations. The
//! *keeper* sends a heartbeat every `heartbeat_interval_ms` of the
//! vendor daemon's `Welcome`, declares the connection dead when the reader
//! saw it close or nothing was heard for two intervals plus the I/O
//! timeout, and then reconnects: lmgrd again (the vendor daemon may have
//! moved to another port), `Hello` with the same job id, and for every
//! license the server did not give back in `Welcome.held`, a new checkout.
//! Application threads only send requests and wait for their replies.
//!
//! A checkout that asked to wait in the queue is answered LM_FEATQUEUE at
//! once; its request number then stays in `State::queue` and the reader
//! turns the `Granted` that comes later under the same number into a seat
//! (or gives it straight back when the application stopped waiting). The
//! vendor daemon forgets a waiter whose connection closes, so a lost
//! connection ends every wait with an error.
//!
//! A borrowed seat is held by the borrow on the server, connected or not:
//! it is never checked out again after a reconnect, never reported lost,
//! and alone it does not keep a connection being re-established.

use crate::conn::{send_on, unexpected, Conn};
use crate::error::{minor, LmError, Step};
use crate::event::{lock, Events, JobEvent};
use crate::local::io_text;
use crate::policy::{FailurePolicy, Verdict};
use crate::route::{establish, Reached, Route};
use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use wire::{lmerr, Checkin, Checkout, ClientIdentity, Granted, Message, Welcome};

/// The heartbeat interval when a server asks for none.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(120);
/// The shortest heartbeat interval we honour.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// Timeouts and retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) retry_initial: Duration,
    pub(crate) retry_max: Duration,
    pub(crate) retry_count: u32,
    pub(crate) dup_group: u8,
    /// What happens to held seats while the server is unreachable.
    pub(crate) policy: FailurePolicy,
}

/// What every session of a job shares.
#[derive(Debug)]
pub(crate) struct JobCtx {
    pub(crate) vendor: String,
    /// Sent in every `Hello`; its `job` never changes.
    pub(crate) identity: ClientIdentity,
    pub(crate) settings: Settings,
    pub(crate) events: Events,
    /// The application says its user is idle (FLEXlm's lc_idle): every
    /// heartbeat carries it.
    pub(crate) idle: AtomicBool,
}

impl crate::route::Caller for JobCtx {
    fn vendor(&self) -> &str {
        &self.vendor
    }
    fn identity(&self) -> &ClientIdentity {
        &self.identity
    }
    fn timeouts(&self) -> (Duration, Duration) {
        (self.settings.connect_timeout, self.settings.io_timeout)
    }
}

/// The delay before reconnect attempt `attempt` (1-based): doubling from
/// `initial`, at most `max`.
pub(crate) fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    initial.saturating_mul(factor).min(max)
}

/// Reconnect attempts made quickly after losing a triad's master: a new
/// master is normally elected within about two seconds, and waiting a
/// doubling backoff would keep the application away for longer than that.
pub(crate) const TRIAD_FAST_RETRIES: u32 = 15;
const TRIAD_FAST_DELAY: Duration = Duration::from_millis(200);

/// The delay before reconnect attempt `attempt` to a route of `servers`
/// servers: for a triad, [`TRIAD_FAST_RETRIES`] attempts every 200 ms
/// first, then the usual backoff.
pub(crate) fn reconnect_delay(attempt: u32, servers: usize, s: &Settings) -> Duration {
    if servers > 1 && attempt <= TRIAD_FAST_RETRIES {
        return TRIAD_FAST_DELAY.min(s.retry_initial);
    }
    let counted = if servers > 1 {
        attempt - TRIAD_FAST_RETRIES
    } else {
        attempt
    };
    backoff(counted, s.retry_initial, s.retry_max)
}

/// After how many failed attempts the seats are reported lost: the
/// triad's quick attempts do not count against the application's
/// retry count.
pub(crate) fn attempts_before_lost(servers: usize, s: &Settings) -> u32 {
    if servers > 1 {
        s.retry_count.saturating_add(TRIAD_FAST_RETRIES)
    } else {
        s.retry_count
    }
}

/// Whether a seat is still ours.
#[derive(Debug, Clone)]
pub(crate) enum SeatState {
    Held,
    /// Reconnecting failed or the server would not give it back; a later
    /// reconnect tries again.
    Lost(LmError),
    /// The server took it back; it is not asked for again.
    Revoked(LmError),
}

impl Seat {
    /// True if the seat is held only thanks to a grace period (a borrow
    /// needs none).
    fn in_grace(&self) -> bool {
        matches!(self.state, SeatState::Held) && self.borrow_until == 0
    }
}

#[derive(Debug, Clone)]
struct Seat {
    id: u64,
    feature: String,
    /// The version asked for (the minimum), for checking out again.
    version: String,
    count: u32,
    handle: u64,
    state: SeatState,
    /// Unix time the borrow ends; 0 for an ordinary checkout.
    borrow_until: u64,
}

/// A checkout waiting in the vendor daemon's queue.
#[derive(Debug)]
struct Queued {
    req: u32,
    /// The version asked for (the minimum), for checking out again.
    version: String,
    borrow_until: u64,
    /// The application no longer wants it: a late grant is checked in.
    abandoned: bool,
    /// `None` while waiting; the seat (id in `seats`) and grant, or why
    /// the wait ended.
    outcome: Option<Result<(u64, Granted), LmError>>,
}

/// What a checkout request came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The seat's id in this session, and the grant.
    Granted(u64, Granted),
    /// Waiting in the queue under this request number; the error is the
    /// vendor daemon's LM_FEATQUEUE answer.
    Queued(u32, LmError),
}

/// Where a queued checkout stands.
#[derive(Debug)]
pub(crate) enum QueueState {
    Waiting,
    Granted(u64, Granted),
    Failed(LmError),
}

#[derive(Debug)]
struct Link {
    writer: TcpStream,
    generation: u64,
}

#[derive(Debug)]
struct State {
    link: Option<Link>,
    /// The vendor daemon's address of the current (or last) connection.
    vendor_addr: Option<SocketAddr>,
    /// Counts connections; a reader or reply of an older one is ignored.
    generation: u64,
    /// Why the current connection is to be given up, once known.
    lost: Option<String>,
    closed: bool,
    waiting: HashSet<u32>,
    replies: HashMap<u32, Message>,
    next_req: u32,
    next_seq: u32,
    next_seat: u64,
    last_heard: Instant,
    last_sent: Instant,
    interval: Duration,
    seats: Vec<Seat>,
    queue: Vec<Queued>,
    /// Send a heartbeat now (the idle state changed), not at the interval.
    beat_now: bool,
    error: Option<LmError>,
    reconnects: u64,
    /// When the latest reconnects succeeded (at most [`RECENT_RECONNECTS`]).
    reconnected_at: Vec<Instant>,
    heartbeats_acked: u64,
    /// Since when the server cannot be reached; `None` while connected.
    unreachable: Option<Unreachable>,
    readers: Vec<JoinHandle<()>>,
}

/// How many reconnect times a session remembers, for
/// [`Session::reconnects_within`].
const RECENT_RECONNECTS: usize = 64;

/// A connection loss in progress.
#[derive(Debug, Clone, Copy)]
struct Unreachable {
    since: Instant,
    /// The same moment on the calendar, to tell users when a grace period ends.
    wall: SystemTime,
    /// Reconnect attempts that failed since.
    failed: u32,
}

/// A snapshot for `Job::status`.
#[derive(Debug, Clone)]
pub(crate) struct SessionStatus {
    pub(crate) connected: bool,
    pub(crate) held: usize,
    pub(crate) reconnects: u64,
    pub(crate) heartbeats_acked: u64,
    pub(crate) error: Option<LmError>,
    /// Reconnect attempts failed since the connection was lost.
    pub(crate) failed_attempts: u32,
    /// While held seats live on a grace period: when it ends.
    pub(crate) grace_until: Option<SystemTime>,
}

#[derive(Debug)]
struct Shared {
    route: Route,
    ctx: Arc<JobCtx>,
    state: Mutex<State>,
    changed: Condvar,
}

/// What [`Session::open`] found.
#[derive(Debug)]
pub(crate) enum Opened {
    New(Arc<Session>),
    /// The vendor daemon at this address already has a session.
    Existing(SocketAddr),
}

/// A job's connection to one server.
#[derive(Debug)]
pub(crate) struct Session {
    shared: Arc<Shared>,
    keeper: Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    /// Connects (lmgrd, then the vendor daemon) and starts the threads.
    /// When lmgrd names a vendor daemon for which `known` is true, stops
    /// there: a job keeps one connection per vendor daemon, since a second
    /// `Hello` with the same job id would take the first one's seats.
    pub(crate) fn open(
        route: Route,
        ctx: Arc<JobCtx>,
        known: &dyn Fn(SocketAddr) -> bool,
    ) -> Result<Opened, LmError> {
        let (conn, welcome) = match establish(&route, &ctx, known)? {
            Reached::New(conn, welcome) => (conn, welcome),
            Reached::Existing(addr) => return Ok(Opened::Existing(addr)),
        };
        let now = Instant::now();
        let shared = Arc::new(Shared {
            route,
            ctx,
            state: Mutex::new(State {
                link: None,
                vendor_addr: None,
                generation: 0,
                lost: None,
                closed: false,
                waiting: HashSet::new(),
                replies: HashMap::new(),
                next_req: 1,
                next_seq: 1,
                next_seat: 1,
                last_heard: now,
                last_sent: now,
                interval: DEFAULT_HEARTBEAT,
                seats: Vec::new(),
                queue: Vec::new(),
                beat_now: false,
                error: None,
                reconnects: 0,
                reconnected_at: Vec::new(),
                heartbeats_acked: 0,
                unreachable: None,
                readers: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        {
            let mut st = lock(&shared.state);
            install(&shared, &mut st, conn, &welcome)
                .map_err(|e| e.on_entry(&shared.route.entry))?;
        }
        let keeper_shared = Arc::clone(&shared);
        let keeper = std::thread::Builder::new()
            .name("lm-keeper".into())
            .spawn(move || keep(&keeper_shared))
            .map_err(|e| thread_error(&e))?;
        Ok(Opened::New(Arc::new(Session {
            shared,
            keeper: Mutex::new(Some(keeper)),
        })))
    }

    pub(crate) fn route(&self) -> &Route {
        &self.shared.route
    }

    /// The vendor daemon this session talks to.
    pub(crate) fn vendor_addr(&self) -> Option<SocketAddr> {
        lock(&self.shared.state).vendor_addr
    }

    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.shared.state).closed
    }

    /// True if any seat is held or waiting to be re-acquired, or a
    /// checkout the application still wants is queued.
    pub(crate) fn holds_seats(&self) -> bool {
        let st = lock(&self.shared.state);
        st.seats
            .iter()
            .any(|s| !matches!(s.state, SeatState::Revoked(_)))
            || st.queue.iter().any(|q| !q.abandoned)
    }

    /// Sends a heartbeat now rather than at the next interval.
    pub(crate) fn beat_now(&self) {
        lock(&self.shared.state).beat_now = true;
        self.shared.changed.notify_all();
    }

    pub(crate) fn status(&self) -> SessionStatus {
        let st = lock(&self.shared.state);
        let grace_until = match (self.shared.ctx.settings.policy, st.unreachable) {
            (FailurePolicy::Grace(period), Some(u)) if st.seats.iter().any(Seat::in_grace) => {
                Some(u.wall + period)
            }
            _ => None,
        };
        SessionStatus {
            failed_attempts: st.unreachable.map_or(0, |u| u.failed),
            grace_until,
            connected: st.link.is_some(),
            held: st
                .seats
                .iter()
                .filter(|s| matches!(s.state, SeatState::Held))
                .count(),
            reconnects: st.reconnects,
            heartbeats_acked: st.heartbeats_acked,
            error: st.error.clone(),
        }
    }

    /// Checks `count` licenses of `feature` (at least `version`) out,
    /// borrowing until `borrow_until` (Unix time) when it is not 0. With
    /// `queue`, a checkout that finds no free seat waits in the vendor
    /// daemon's queue ([`Outcome::Queued`]).
    pub(crate) fn checkout(
        &self,
        feature: &str,
        version: &str,
        count: u32,
        queue: bool,
        borrow_until: u64,
        return_hash: Vec<u8>,
    ) -> Result<Outcome, LmError> {
        let shared = &self.shared;
        let st = lock(&shared.state);
        let dup_group = shared.ctx.settings.dup_group;
        // A queued request is registered before it is sent: the grant may
        // follow the LM_FEATQUEUE answer before this thread wakes up.
        let register = |st: &mut State, req: u32| {
            if queue {
                st.queue.push(Queued {
                    req,
                    version: version.to_string(),
                    borrow_until,
                    abandoned: false,
                    outcome: None,
                });
            }
        };
        let (mut st, req, reply) = request(shared, st, "checkout", register, |req| {
            Message::Checkout(Checkout {
                borrow_until,
                return_hash: wire::codec::Blob(return_hash.clone()),
                req,
                feature: feature.to_string(),
                version: version.to_string(),
                count,
                dup_group,
                queue,
            })
        });
        let entry = shared.route.entry.clone();
        let denied = |d: &wire::Denied| {
            LmError::from_server(
                d.code,
                d.minor,
                &d.text,
                Step::CheckoutDenied,
                match d.detail.as_str() {
                    "" => format!(
                        "checkout of {feature} from {}: denied by the vendor daemon",
                        shared.route.entry
                    ),
                    why => format!(
                        "checkout of {feature} from {}: denied by the vendor daemon: {why}",
                        shared.route.entry
                    ),
                },
            )
            .on_entry(&entry)
        };
        let waits =
            matches!(&reply, Ok(Message::Denied(d)) if queue && d.code == lmerr::LM_FEATQUEUE);
        if !waits {
            st.queue.retain(|q| q.req != req);
        }
        match reply.map_err(|e| e.on_entry(&entry))? {
            Message::Granted(g) => {
                let id = st.next_seat;
                st.next_seat += 1;
                st.seats.push(Seat {
                    id,
                    feature: feature.to_string(),
                    version: version.to_string(),
                    count,
                    handle: g.handle,
                    state: SeatState::Held,
                    borrow_until,
                });
                Ok(Outcome::Granted(id, g))
            }
            Message::Denied(d) if waits => Ok(Outcome::Queued(req, denied(&d))),
            Message::Denied(d) => Err(denied(&d)),
            other => Err(unexpected("checkout", &other).on_entry(&entry)),
        }
    }

    /// Waits until the queued checkout `req` is granted or fails, at most
    /// `timeout` (`None`: as long as it takes). A grant or failure is
    /// handed out once.
    pub(crate) fn wait_queued(&self, req: u32, timeout: Option<Duration>) -> QueueState {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = lock(&self.shared.state);
        loop {
            let Some(i) = st.queue.iter().position(|q| q.req == req) else {
                return QueueState::Failed(LmError::new(
                    lmerr::LM_BADPARAM,
                    minor::BAD_PARAM,
                    Step::CheckoutDenied,
                    format!(
                        "queued checkout at {} was already taken or cancelled",
                        self.shared.route.entry
                    ),
                ));
            };
            if st.queue[i].outcome.is_some() {
                let q = st.queue.remove(i);
                return match q.outcome {
                    Some(Ok((id, g))) => QueueState::Granted(id, g),
                    Some(Err(e)) => QueueState::Failed(e),
                    None => QueueState::Waiting,
                };
            }
            let left = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return QueueState::Waiting;
                    }
                    Some(d - now)
                }
                None => None,
            };
            st = match left {
                Some(left) => {
                    self.shared
                        .changed
                        .wait_timeout(st, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
                None => self
                    .shared
                    .changed
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            };
        }
    }

    /// The application stops waiting for `req`: a grant that already came
    /// is checked in, one still to come will be.
    pub(crate) fn abandon_queued(&self, req: u32) {
        let seat = {
            let mut st = lock(&self.shared.state);
            let Some(i) = st.queue.iter().position(|q| q.req == req) else {
                return;
            };
            match &st.queue[i].outcome {
                None => {
                    st.queue[i].abandoned = true;
                    None
                }
                Some(Ok((id, _))) => {
                    let id = *id;
                    st.queue.remove(i);
                    Some(id)
                }
                Some(Err(_)) => {
                    st.queue.remove(i);
                    None
                }
            }
        };
        if let Some(id) = seat {
            let _ = self.checkin(id);
        }
    }

    /// Returns a seat. A seat the server no longer has for us (lost,
    /// revoked, or the connection is down) is just forgotten: a closed
    /// connection has released it already.
    pub(crate) fn checkin(&self, seat: u64) -> Result<(), LmError> {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        let Some(idx) = st.seats.iter().position(|s| s.id == seat) else {
            return Ok(());
        };
        let s = st.seats.remove(idx);
        if !matches!(s.state, SeatState::Held) || st.link.is_none() {
            return Ok(());
        }
        let (_st, _req, reply) = request(
            shared,
            st,
            "checkin",
            |_, _| {},
            |req| {
                Message::Checkin(Checkin {
                    req,
                    handle: s.handle,
                })
            },
        );
        match reply {
            Ok(Message::CheckedIn(_)) => Ok(()),
            Ok(Message::Denied(d)) => Err(LmError::from_server(
                d.code,
                d.minor,
                &d.text,
                Step::Checkin,
                format!("checkin of {} at {}", s.feature, shared.route.entry),
            )),
            Ok(other) => Err(unexpected("checkin", &other)),
            Err(mut e) => {
                e.step = Step::Checkin;
                Err(e)
            }
        }
        .map_err(|e| e.on_entry(&shared.route.entry))
    }

    /// How many reconnects succeeded within `window` of now.
    pub(crate) fn reconnects_within(&self, window: Duration) -> usize {
        let st = lock(&self.shared.state);
        st.reconnected_at
            .iter()
            .filter(|t| t.elapsed() <= window)
            .count()
    }

    /// `Ok` while the seat is held; why not otherwise.
    pub(crate) fn seat_status(&self, seat: u64) -> Result<(), LmError> {
        let st = lock(&self.shared.state);
        match st.seats.iter().find(|s| s.id == seat).map(|s| &s.state) {
            Some(SeatState::Held) | None => Ok(()),
            Some(SeatState::Lost(e) | SeatState::Revoked(e)) => Err(e.clone()),
        }
    }

    /// The seat's current handle at the server.
    pub(crate) fn seat_handle(&self, seat: u64) -> Option<u64> {
        let st = lock(&self.shared.state);
        st.seats.iter().find(|s| s.id == seat).map(|s| s.handle)
    }

    /// Closes the connection (the server releases what it still holds)
    /// and tells the threads to stop. It does not wait for them, so it may
    /// be called with any lock held; see [`Session::join`].
    pub(crate) fn close(&self) {
        let mut st = lock(&self.shared.state);
        st.closed = true;
        if let Some(link) = st.link.take() {
            let _ = link.writer.shutdown(std::net::Shutdown::Both);
        }
        st.generation += 1;
        end_waits(&self.shared, &mut st, "the connection was closed");
        self.shared.changed.notify_all();
    }

    /// Closes, then waits for the threads to end; a thread of the session
    /// itself (running an event callback) is not waited for. Call it with
    /// no lock held: a callback may be waiting for one.
    pub(crate) fn join(&self) {
        self.close();
        let readers = std::mem::take(&mut lock(&self.shared.state).readers);
        let keeper = lock(&self.keeper).take();
        let me = std::thread::current().id();
        for t in keeper.into_iter().chain(readers) {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

fn thread_error(e: &std::io::Error) -> LmError {
    LmError::new(
        lmerr::LM_CANTCONNECT,
        minor::CONNECT,
        Step::Connect,
        format!("cannot start a thread: {}", io_text(e)),
    )
}

/// Sends the request `build(req)` on the current connection and waits for
/// the reply with the same `req`; `register(state, req)` runs just before
/// sending. Gives the lock back with the request number and the result.
fn request<'a>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
    doing: &str,
    register: impl FnOnce(&mut State, u32),
    build: impl FnOnce(u32) -> Message,
) -> (MutexGuard<'a, State>, u32, Result<Message, LmError>) {
    let req = st.next_req;
    st.next_req = st.next_req.wrapping_add(1).max(1);
    if st.link.is_some() {
        register(&mut st, req);
    }
    let Some(link) = st.link.as_mut() else {
        let detail = format!(
            "{doing} at {}: the connection is being re-established",
            shared.route.entry
        );
        let e = LmError::new(
            lmerr::LM_HOSTDOWN,
            minor::RECONNECTING,
            Step::Keepalive,
            detail,
        );
        return (st, req, Err(e));
    };
    let generation = link.generation;
    if let Err(e) = send_on(&mut link.writer, &build(req)) {
        st.lost = Some(format!("write failed: {}", io_text(&e)));
        shared.changed.notify_all();
        let err = LmError::new(
            lmerr::LM_CANTWRITE,
            minor::WRITE,
            Step::Keepalive,
            format!("{doing} at {}: {}", shared.route.entry, io_text(&e)),
        )
        .with_errno(e.raw_os_error());
        return (st, req, Err(err));
    }
    st.waiting.insert(req);
    let deadline = Instant::now() + shared.ctx.settings.io_timeout;
    loop {
        if let Some(reply) = st.replies.remove(&req) {
            st.waiting.remove(&req);
            return (st, req, Ok(reply));
        }
        if st.generation != generation || st.lost.is_some() || st.closed {
            st.waiting.remove(&req);
            let e = LmError::new(
                lmerr::LM_CANTREAD,
                minor::READ,
                Step::Keepalive,
                format!(
                    "{doing} at {}: the connection was lost before the reply",
                    shared.route.entry
                ),
            );
            return (st, req, Err(e));
        }
        let now = Instant::now();
        if now >= deadline {
            st.waiting.remove(&req);
            // A reply may still come and grant a seat we would not know
            // of: give the connection up, so the server releases it.
            st.lost = Some(format!("no reply to {doing} in time"));
            shared.changed.notify_all();
            let e = LmError::new(
                lmerr::LM_NOSERVRESP,
                minor::NO_REPLY,
                Step::Keepalive,
                format!("{doing} at {}: no reply in time", shared.route.entry),
            );
            return (st, req, Err(e));
        }
        st = shared
            .changed
            .wait_timeout(st, deadline - now)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// Makes `conn` the session's connection and starts its reader.
fn install(
    shared: &Arc<Shared>,
    st: &mut State,
    conn: Conn,
    welcome: &Welcome,
) -> Result<(), LmError> {
    let writer = conn.writer().map_err(|e| {
        LmError::new(
            lmerr::LM_CANTCONNECT,
            minor::CONNECT,
            Step::Connect,
            format!("cannot share the socket: {}", io_text(&e)),
        )
    })?;
    st.generation += 1;
    let generation = st.generation;
    let now = Instant::now();
    st.vendor_addr = Some(conn.peer);
    st.link = Some(Link { writer, generation });
    st.lost = None;
    st.interval = match welcome.heartbeat_interval_ms {
        0 => DEFAULT_HEARTBEAT,
        ms => Duration::from_millis(u64::from(ms)).max(MIN_HEARTBEAT),
    };
    st.last_heard = now;
    st.last_sent = now;
    st.readers.retain(|t| !t.is_finished());
    let reader_shared = Arc::clone(shared);
    let reader = std::thread::Builder::new()
        .name("lm-reader".into())
        .spawn(move || read_loop(&reader_shared, conn, generation))
        .map_err(|e| thread_error(&e))?;
    st.readers.push(reader);
    shared.changed.notify_all();
    Ok(())
}

/// The reader thread: replies, acknowledgements, revocations.
fn read_loop(shared: &Shared, mut conn: Conn, generation: u64) {
    if conn.set_read_timeout(None).is_err() {
        return;
    }
    loop {
        let received = conn.recv();
        let mut events = Vec::new();
        {
            let mut st = lock(&shared.state);
            if st.generation != generation || st.closed {
                return;
            }
            let msg = match received {
                Ok(m) => m,
                Err(e) => {
                    if st.lost.is_none() {
                        st.lost = Some(e.to_lm("reading").detail);
                    }
                    shared.changed.notify_all();
                    return;
                }
            };
            st.last_heard = Instant::now();
            if let Some(req) = reply_req(&msg) {
                if st.waiting.contains(&req) && !st.replies.contains_key(&req) {
                    st.replies.insert(req, msg);
                } else if let Some(i) = st
                    .queue
                    .iter()
                    .position(|q| q.req == req && q.outcome.is_none())
                {
                    queued_reply(shared, &mut st, i, msg);
                }
                shared.changed.notify_all();
                continue;
            }
            match msg {
                Message::HeartbeatAck(_) => st.heartbeats_acked += 1,
                Message::Revoked(r) => {
                    let entry = shared.route.entry.clone();
                    if let Some(seat) = st.seats.iter_mut().find(|s| s.handle == r.handle) {
                        let error = LmError::from_server(
                            r.code,
                            0,
                            &r.text,
                            Step::Keepalive,
                            format!("{} revoked by the server at {entry}", seat.feature),
                        )
                        .on_entry(&entry);
                        seat.state = SeatState::Revoked(error.clone());
                        events.push(JobEvent::Revoked {
                            feature: seat.feature.clone(),
                            error,
                        });
                    }
                }
                Message::Error(e) => {
                    st.lost = Some(format!(
                        "the server reported {}",
                        lmerr::short_form(e.code, e.minor)
                    ));
                    shared.changed.notify_all();
                    return;
                }
                _ => {}
            }
            shared.changed.notify_all();
        }
        for e in &events {
            shared.ctx.events.emit(e);
        }
    }
}

/// A later answer to the queued checkout `st.queue[i]`: the grant becomes a
/// seat (or is given back at once when nobody waits any more); a refusal
/// other than "still queued" ends the wait.
fn queued_reply(shared: &Shared, st: &mut State, i: usize, msg: Message) {
    match msg {
        Message::Granted(g) if st.queue[i].abandoned => {
            st.queue.remove(i);
            let req = st.next_req;
            st.next_req = st.next_req.wrapping_add(1).max(1);
            let checkin = Message::Checkin(Checkin {
                req,
                handle: g.handle,
            });
            if let Some(link) = st.link.as_mut() {
                if let Err(e) = send_on(&mut link.writer, &checkin) {
                    st.lost = Some(format!("write failed: {}", io_text(&e)));
                }
            }
        }
        Message::Granted(g) => {
            let id = st.next_seat;
            st.next_seat += 1;
            let borrow_until = st.queue[i].borrow_until;
            let version = st.queue[i].version.clone();
            st.seats.push(Seat {
                id,
                feature: g.feature.clone(),
                version,
                count: g.count,
                handle: g.handle,
                state: SeatState::Held,
                borrow_until,
            });
            st.queue[i].outcome = Some(Ok((id, g)));
        }
        Message::Denied(d) if d.code == lmerr::LM_FEATQUEUE => {}
        Message::Denied(_) if st.queue[i].abandoned => {
            st.queue.remove(i);
        }
        Message::Denied(d) => {
            let entry = &shared.route.entry;
            st.queue[i].outcome = Some(Err(LmError::from_server(
                d.code,
                d.minor,
                &d.text,
                Step::CheckoutDenied,
                format!("queued checkout at {entry}: denied by the vendor daemon"),
            )
            .on_entry(entry)));
        }
        _ => {}
    }
}

/// Ends every wait in the queue: the connection that held the place is
/// gone (`why`).
fn end_waits(shared: &Shared, st: &mut State, why: &str) {
    st.queue.retain(|q| !(q.abandoned && q.outcome.is_none()));
    for q in st.queue.iter_mut().filter(|q| q.outcome.is_none()) {
        q.outcome = Some(Err(LmError::new(
            lmerr::LM_CANTREAD,
            minor::READ,
            Step::Keepalive,
            format!(
                "queued at {}: {why}; the place in the queue is gone",
                shared.route.entry
            ),
        )
        .on_entry(&shared.route.entry)));
    }
}

/// The keeper thread: heartbeats, noticing a dead connection, reconnecting.
fn keep(shared: &Arc<Shared>) {
    let io_timeout = shared.ctx.settings.io_timeout;
    loop {
        let mut st = lock(&shared.state);
        if st.closed {
            return;
        }
        if st.link.is_none() || st.lost.is_some() {
            let reason = st
                .lost
                .take()
                .unwrap_or_else(|| "connection closed".to_string());
            if let Some(link) = st.link.take() {
                let _ = link.writer.shutdown(std::net::Shutdown::Both);
            }
            st.generation += 1;
            end_waits(shared, &mut st, &reason);
            shared.changed.notify_all();
            // Borrowed seats stay the job's without a connection.
            let wanted = st
                .seats
                .iter()
                .any(|s| !matches!(s.state, SeatState::Revoked(_)) && s.borrow_until == 0);
            if !wanted {
                // Nothing to keep: the job opens a new connection when it
                // needs one.
                st.closed = true;
                return;
            }
            if st.unreachable.is_none() {
                st.unreachable = Some(Unreachable {
                    since: Instant::now(),
                    wall: SystemTime::now(),
                    failed: 0,
                });
            }
            drop(st);
            shared.ctx.events.emit(&JobEvent::ConnectionLost {
                server: shared.route.entry.clone(),
                reason: reason.clone(),
            });
            reconnect(shared, &reason);
            continue;
        }
        let now = Instant::now();
        let dead_after = st.interval * 2 + io_timeout;
        if now.duration_since(st.last_heard) > dead_after {
            st.lost = Some(format!(
                "nothing heard from the vendor daemon for {} ms",
                dead_after.as_millis()
            ));
            continue;
        }
        let next_beat = st.last_sent + st.interval;
        if now >= next_beat || st.beat_now {
            st.beat_now = false;
            let seq = st.next_seq;
            st.next_seq = st.next_seq.wrapping_add(1);
            let idle = shared.ctx.idle.load(Ordering::SeqCst);
            let beat = Message::Heartbeat(wire::Heartbeat { seq, idle });
            let sent = match st.link.as_mut() {
                Some(link) => send_on(&mut link.writer, &beat),
                None => continue,
            };
            if let Err(e) = sent {
                st.lost = Some(format!("heartbeat not sent: {}", io_text(&e)));
                continue;
            }
            st.last_sent = now;
            continue;
        }
        let wake = next_beat.min(st.last_heard + dead_after + Duration::from_millis(1));
        let _unused = shared
            .changed
            .wait_timeout(st, wake.saturating_duration_since(now))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}

/// Reconnects with backoff until connected or closed, applying the job's
/// failure policy to the held seats on the way (`reason`: why the
/// connection was lost).
fn reconnect(shared: &Arc<Shared>, reason: &str) {
    let settings = &shared.ctx.settings;
    let server = shared.route.entry.clone();
    let mut error = LmError::new(
        lmerr::LM_CANTCONNECT,
        minor::CONNECT,
        Step::Keepalive,
        format!("the connection to {server} was lost ({reason}); reconnecting"),
    )
    .on_entry(&server);
    announce_grace(shared);
    let mut attempt = 0u32;
    loop {
        if lock(&shared.state).closed {
            return;
        }
        judge(shared, attempt, &error);
        let result =
            establish(&shared.route, &shared.ctx, &|_| false).and_then(|reached| match reached {
                Reached::New(conn, welcome) => Ok((reconcile(shared, conn, &welcome)?, welcome)),
                Reached::Existing(addr) => Err(LmError::new(
                    lmerr::LM_BADCOMM,
                    minor::UNEXPECTED,
                    Step::Keepalive,
                    format!("reconnecting to {}: {addr} taken", shared.route.entry),
                )),
            });
        match result {
            Ok(((conn, kept, reacquired, lost), welcome)) => {
                let mut st = lock(&shared.state);
                if st.closed {
                    conn.shutdown();
                    return;
                }
                if let Err(e) = install(shared, &mut st, conn, &welcome) {
                    st.error = Some(e);
                    continue;
                }
                st.reconnects += 1;
                if st.reconnected_at.len() == RECENT_RECONNECTS {
                    st.reconnected_at.remove(0);
                }
                st.reconnected_at.push(Instant::now());
                st.unreachable = None;
                st.error = lost.first().map(|(_, e)| e.clone());
                drop(st);
                for (feature, error) in lost {
                    shared
                        .ctx
                        .events
                        .emit(&JobEvent::LicenseLost { feature, error });
                }
                shared.ctx.events.emit(&JobEvent::Reconnected {
                    server,
                    kept,
                    reacquired,
                });
                return;
            }
            Err(e) => {
                attempt += 1;
                error = e.on_entry(&server);
                {
                    let mut st = lock(&shared.state);
                    st.error = Some(error.clone());
                    if let Some(u) = st.unreachable.as_mut() {
                        u.failed = attempt;
                    }
                }
                shared.ctx.events.emit(&JobEvent::ReconnectFailed {
                    server: server.clone(),
                    attempt,
                    error: error.clone(),
                });
                let grace_left = judge(shared, attempt, &error);
                let mut delay = reconnect_delay(attempt, shared.route.servers.len(), settings);
                if let Some(left) = grace_left {
                    // Wake when the grace period ends, to report the loss on time.
                    delay = delay.min(left);
                }
                let deadline = Instant::now() + delay;
                let mut st = lock(&shared.state);
                while !st.closed {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = shared
                        .changed
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

/// Tells the application that its licenses live on a grace period, if
/// the policy gives one and some are held.
fn announce_grace(shared: &Shared) {
    let FailurePolicy::Grace(period) = shared.ctx.settings.policy else {
        return;
    };
    let until = {
        let st = lock(&shared.state);
        match st.unreachable {
            Some(u) if st.seats.iter().any(Seat::in_grace) => u.wall + period,
            _ => return,
        }
    };
    shared.ctx.events.emit(&JobEvent::InGrace {
        server: shared.route.entry.clone(),
        until,
    });
}

/// Applies the failure policy after `failed` failed reconnect attempts:
/// held seats it gives up are marked lost (with `error`) and reported.
/// Returns how long a grace period has left, if one runs.
fn judge(shared: &Shared, failed: u32, error: &LmError) -> Option<Duration> {
    let settings = &shared.ctx.settings;
    let allowed = attempts_before_lost(shared.route.servers.len(), settings);
    let mut newly_lost = Vec::new();
    let left = {
        let mut st = lock(&shared.state);
        let since = st.unreachable?.since;
        match settings.policy.verdict(failed, allowed, since.elapsed()) {
            Verdict::Keep => None,
            Verdict::Grace { left } => Some(left),
            Verdict::Lose => {
                for seat in st.seats.iter_mut().filter(|s| s.in_grace()) {
                    seat.state = SeatState::Lost(error.clone());
                    newly_lost.push(seat.feature.clone());
                }
                None
            }
        }
    };
    for feature in newly_lost {
        shared.ctx.events.emit(&JobEvent::LicenseLost {
            feature,
            error: error.clone(),
        });
    }
    left
}

type Reconciled = (Conn, Vec<String>, Vec<String>, Vec<(String, LmError)>);

/// After a reconnect: keeps the seats the server gave back, checks out
/// again those it did not, and returns seats it holds that we no longer
/// want. Runs before the new connection's reader starts.
fn reconcile(shared: &Shared, mut conn: Conn, welcome: &Welcome) -> Result<Reconciled, LmError> {
    let wanted: Vec<Seat> = lock(&shared.state)
        .seats
        .iter()
        .filter(|s| !matches!(s.state, SeatState::Revoked(_)))
        .cloned()
        .collect();
    let mut held: Vec<Option<&Granted>> = welcome.held.iter().map(Some).collect();
    let mut take = |pred: &dyn Fn(&Granted) -> bool| {
        held.iter_mut()
            .find(|g| g.is_some_and(pred))
            .and_then(Option::take)
    };
    let mut matched: Vec<(u64, Option<u64>)> = Vec::new();
    for seat in &wanted {
        let by_handle = take(&|g: &Granted| g.handle == seat.handle);
        let found = by_handle
            .or_else(|| take(&|g: &Granted| g.feature == seat.feature && g.count == seat.count));
        matched.push((seat.id, found.map(|g| g.handle)));
    }
    let orphans: Vec<u64> = held.iter().flatten().map(|g| g.handle).collect();

    let entry = &shared.route.entry;
    let mut next = lock(&shared.state).next_req;
    let mut handles: Vec<(u64, u64)> = Vec::new();
    let mut kept = Vec::new();
    let mut reacquired = Vec::new();
    let mut lost: Vec<(u64, String, LmError)> = Vec::new();
    for handle in orphans {
        let _ = exchange(&mut conn, &mut next, entry, |req| {
            Message::Checkin(Checkin { req, handle })
        });
    }
    for (seat, (id, found)) in wanted.iter().zip(matched) {
        if let Some(handle) = found {
            handles.push((id, handle));
            kept.push(seat.feature.clone());
            continue;
        }
        if seat.borrow_until != 0 {
            // The borrow holds it on the server, whichever connection.
            handles.push((id, seat.handle));
            kept.push(seat.feature.clone());
            continue;
        }
        let reply = exchange(&mut conn, &mut next, entry, |req| {
            Message::Checkout(Checkout {
                borrow_until: 0,
                return_hash: wire::codec::Blob::default(),
                req,
                feature: seat.feature.clone(),
                version: seat.version.clone(),
                count: seat.count,
                dup_group: shared.ctx.settings.dup_group,
                queue: false,
            })
        })?;
        match reply {
            Message::Granted(g) => {
                handles.push((id, g.handle));
                reacquired.push(seat.feature.clone());
            }
            Message::Denied(d) => {
                let e = LmError::from_server(
                    d.code,
                    d.minor,
                    &d.text,
                    Step::CheckoutDenied,
                    format!(
                        "checking {} out again after reconnecting to {entry}: denied",
                        seat.feature
                    ),
                )
                .on_entry(entry);
                lost.push((id, seat.feature.clone(), e));
            }
            other => return Err(unexpected("checkout after reconnect", &other)),
        }
    }

    let mut st = lock(&shared.state);
    st.next_req = next;
    let mut abandoned = Vec::new();
    for (id, handle) in handles {
        match st.seats.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.handle = handle;
                s.state = SeatState::Held;
            }
            // Checked in while we were reconnecting.
            None => abandoned.push(handle),
        }
    }
    let mut lost_out = Vec::new();
    for (id, feature, e) in lost {
        if let Some(s) = st.seats.iter_mut().find(|s| s.id == id) {
            s.state = SeatState::Lost(e.clone());
            lost_out.push((feature, e));
        }
    }
    drop(st);
    for handle in abandoned {
        let _ = exchange(&mut conn, &mut next, entry, |req| {
            Message::Checkin(Checkin { req, handle })
        });
    }
    lock(&shared.state).next_req = next;
    Ok((conn, kept, reacquired, lost_out))
}

/// The number of the request a reply answers, for replies that have one.
fn reply_req(msg: &Message) -> Option<u32> {
    match msg {
        Message::Granted(g) => Some(g.req),
        Message::Denied(d) => Some(d.req),
        Message::CheckedIn(c) => Some(c.req),
        _ => None,
    }
}

/// Sends one request on a connection no reader owns yet and waits for its
/// reply, skipping anything else (heartbeat acknowledgements).
fn exchange(
    conn: &mut Conn,
    next: &mut u32,
    entry: &str,
    build: impl FnOnce(u32) -> Message,
) -> Result<Message, LmError> {
    let want = *next;
    *next = next.wrapping_add(1).max(1);
    conn.send(&build(want)).map_err(|e| {
        LmError::new(
            lmerr::LM_CANTWRITE,
            minor::WRITE,
            Step::Keepalive,
            format!("re-establishing {entry}: {}", io_text(&e)),
        )
        .with_errno(e.raw_os_error())
    })?;
    loop {
        let m = conn
            .recv()
            .map_err(|e| e.to_lm(&format!("re-establishing {entry}")))?;
        if reply_req(&m) == Some(want) {
            return Ok(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let seq: Vec<Duration> = (1..=6).map(|a| backoff(a, ms(100), ms(1000))).collect();
        assert_eq!(
            seq,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(backoff(1000, ms(100), ms(1000)), ms(1000));
        assert_eq!(backoff(0, ms(100), ms(1000)), ms(100));
    }

    #[test]
    fn a_triad_is_retried_quickly_first_and_its_quick_tries_do_not_lose_seats() {
        let ms = Duration::from_millis;
        let s = Settings {
            connect_timeout: ms(5000),
            io_timeout: ms(5000),
            retry_initial: ms(1000),
            retry_max: ms(60_000),
            retry_count: 5,
            dup_group: 0,
            policy: FailurePolicy::AfterRetries,
        };
        let triad: Vec<Duration> = (1..=17).map(|a| reconnect_delay(a, 3, &s)).collect();
        assert!(triad[..15].iter().all(|d| *d == ms(200)), "{triad:?}");
        assert_eq!(&triad[15..], &[ms(1000), ms(2000)]);
        let single: Vec<Duration> = (1..=3).map(|a| reconnect_delay(a, 1, &s)).collect();
        assert_eq!(single, [ms(1000), ms(2000), ms(4000)]);
        assert_eq!(attempts_before_lost(1, &s), 5);
        assert_eq!(attempts_before_lost(3, &s), 20);
    }
}
