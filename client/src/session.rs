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
//! What the session holds (seats, queued checkouts, whether the server is
//! away, what a reconnect gives back) is decided by the pure
//! [`SeatTable`] (`seats.rs`); when to retry, by [`Retry`] (`retry.rs`).
//! This module owns the threads, the sockets and the clock, and tells the
//! table what happened and when.
//!
//! A checkout that asked to wait in the queue is answered LM_FEATQUEUE at
//! once; its request number then stays in the table's queue and the
//! reader turns the `Granted` that comes later under the same number into
//! a seat (or gives it straight back when the application stopped
//! waiting). The vendor daemon forgets a waiter whose connection closes,
//! so a lost connection ends every wait with an error.

use crate::conn::{send_on, unexpected, Conn};
use crate::error::{minor, LmError, Step};
use crate::event::{lock, Events, JobEvent};
use crate::local::io_text;
use crate::policy::FailurePolicy;
use crate::retry::Retry;
use crate::route::{establish, Reached, Route};
use crate::seats::{Ask, QueueAnswer, QueuePoll, Reattached, SeatTable};
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
    pub(crate) retry: Retry,
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
    last_heard: Instant,
    last_sent: Instant,
    interval: Duration,
    table: SeatTable,
    /// Send a heartbeat now (the idle state changed), not at the interval.
    beat_now: bool,
    error: Option<LmError>,
    reconnects: u64,
    /// When the latest reconnects succeeded (at most [`RECENT_RECONNECTS`]).
    reconnected_at: Vec<Instant>,
    heartbeats_acked: u64,
    readers: Vec<JoinHandle<()>>,
}

/// How many reconnect times a session remembers, for
/// [`Session::reconnects_within`].
const RECENT_RECONNECTS: usize = 64;

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
                last_heard: now,
                last_sent: now,
                interval: DEFAULT_HEARTBEAT,
                table: SeatTable::default(),
                beat_now: false,
                error: None,
                reconnects: 0,
                reconnected_at: Vec::new(),
                heartbeats_acked: 0,
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
        lock(&self.shared.state).table.holds_or_waits()
    }

    /// Sends a heartbeat now rather than at the next interval.
    pub(crate) fn beat_now(&self) {
        lock(&self.shared.state).beat_now = true;
        self.shared.changed.notify_all();
    }

    pub(crate) fn status(&self) -> SessionStatus {
        let st = lock(&self.shared.state);
        SessionStatus {
            failed_attempts: st.table.failed_attempts(),
            grace_until: st.table.grace_until(self.shared.ctx.settings.policy),
            connected: st.link.is_some(),
            held: st.table.held(),
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
        let ask = Ask {
            feature,
            version,
            count,
            borrow_until,
        };
        // A queued request is registered before it is sent: the grant may
        // follow the LM_FEATQUEUE answer before this thread wakes up.
        let register = |st: &mut State, req: u32| {
            if queue {
                st.table.enqueue(req, &ask);
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
            st.table.not_queued(req);
        }
        match reply.map_err(|e| e.on_entry(&entry))? {
            Message::Granted(g) => {
                let id = st.table.checkout_granted(req, &ask, g.handle);
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
            match st.table.poll_queued(req) {
                QueuePoll::Unknown => {
                    return QueueState::Failed(LmError::new(
                        lmerr::LM_BADPARAM,
                        minor::BAD_PARAM,
                        Step::CheckoutDenied,
                        format!(
                            "queued checkout at {} was already taken or cancelled",
                            self.shared.route.entry
                        ),
                    ))
                }
                QueuePoll::Done(Ok((id, g))) => return QueueState::Granted(id, g),
                QueuePoll::Done(Err(e)) => return QueueState::Failed(e),
                QueuePoll::Waiting => {}
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
        let seat = lock(&self.shared.state).table.abandon_queued(req);
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
        let Some(s) = st.table.check_in(seat) else {
            return Ok(());
        };
        if st.link.is_none() {
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
        lock(&self.shared.state).table.seat_status(seat)
    }

    /// The seat's current handle at the server.
    pub(crate) fn seat_handle(&self, seat: u64) -> Option<u64> {
        lock(&self.shared.state).table.seat_handle(seat)
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
        let why = queue_gone(&self.shared, "the connection was closed");
        st.table.end_waits(&why);
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
                } else if st.table.is_queued(req) {
                    queued_reply(shared, &mut st, req, msg);
                }
                shared.changed.notify_all();
                continue;
            }
            match msg {
                Message::HeartbeatAck(_) => st.heartbeats_acked += 1,
                Message::Revoked(r) => {
                    let entry = &shared.route.entry;
                    let revoked = st.table.revoke(r.handle, |feature| {
                        LmError::from_server(
                            r.code,
                            0,
                            &r.text,
                            Step::Keepalive,
                            format!("{feature} revoked by the server at {entry}"),
                        )
                        .on_entry(entry)
                    });
                    if let Some((feature, error)) = revoked {
                        events.push(JobEvent::Revoked { feature, error });
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

/// A later answer to the queued checkout `req`: the table makes a seat of
/// a grant, or ends the wait; a grant nobody waits for any more is
/// checked in at once.
fn queued_reply(shared: &Shared, st: &mut State, req: u32, msg: Message) {
    let answer = match msg {
        Message::Granted(g) => QueueAnswer::Granted(g),
        Message::Denied(d) if d.code == lmerr::LM_FEATQUEUE => QueueAnswer::StillQueued,
        Message::Denied(d) => {
            let entry = &shared.route.entry;
            QueueAnswer::Refused(
                LmError::from_server(
                    d.code,
                    d.minor,
                    &d.text,
                    Step::CheckoutDenied,
                    format!("queued checkout at {entry}: denied by the vendor daemon"),
                )
                .on_entry(entry),
            )
        }
        _ => return,
    };
    let Some(handle) = st.table.queued_answer(req, answer) else {
        return;
    };
    let req = st.next_req;
    st.next_req = st.next_req.wrapping_add(1).max(1);
    let checkin = Message::Checkin(Checkin { req, handle });
    if let Some(link) = st.link.as_mut() {
        if let Err(e) = send_on(&mut link.writer, &checkin) {
            st.lost = Some(format!("write failed: {}", io_text(&e)));
        }
    }
}

/// Why every wait in the queue ended: the connection that held the place
/// is gone (`why`).
fn queue_gone(shared: &Shared, why: &str) -> LmError {
    LmError::new(
        lmerr::LM_CANTREAD,
        minor::READ,
        Step::Keepalive,
        format!(
            "queued at {}: {why}; the place in the queue is gone",
            shared.route.entry
        ),
    )
    .on_entry(&shared.route.entry)
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
            let why = queue_gone(shared, &reason);
            let wanted = st
                .table
                .connection_lost(Instant::now(), SystemTime::now(), &why);
            shared.changed.notify_all();
            if !wanted {
                // Nothing to keep (borrowed seats stay the job's without a
                // connection): the job opens a new connection when it needs
                // one.
                st.closed = true;
                return;
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
/// connection was lost). The waits are spread at random ([`Retry`]), so
/// that the holders one crash disconnected do not all come back at once.
fn reconnect(shared: &Arc<Shared>, reason: &str) {
    let retry = shared.ctx.settings.retry;
    let servers = shared.route.servers.len();
    let mut rng = rand::thread_rng();
    let server = shared.route.entry.clone();
    let mut error = LmError::new(
        lmerr::LM_CANTCONNECT,
        minor::CONNECT,
        Step::Keepalive,
        format!("the connection to {server} was lost ({reason}); reconnecting"),
    )
    .on_entry(&server);
    announce_grace(shared);
    // A restrictive policy gives the seats up now, not after the first wait.
    judge(shared, 0, &error);
    let mut attempt = 0u32;
    let mut wait = retry.first_delay(servers, &mut rng);
    loop {
        if !pause(shared, wait) {
            return;
        }
        // The wait may have ended a grace period: report the loss on time.
        judge(shared, attempt, &error);
        wait = Duration::ZERO;
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
            Ok(((conn, reattached), welcome)) => {
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
                st.table.reconnected();
                st.error = reattached.lost.first().map(|(_, e)| e.clone());
                drop(st);
                for (feature, error) in reattached.lost {
                    shared
                        .ctx
                        .events
                        .emit(&JobEvent::LicenseLost { feature, error });
                }
                shared.ctx.events.emit(&JobEvent::Reconnected {
                    server,
                    kept: reattached.kept,
                    reacquired: reattached.reacquired,
                });
                return;
            }
            Err(e) => {
                attempt += 1;
                error = e.on_entry(&server);
                {
                    let mut st = lock(&shared.state);
                    st.error = Some(error.clone());
                    st.table.attempt_failed(attempt);
                }
                shared.ctx.events.emit(&JobEvent::ReconnectFailed {
                    server: server.clone(),
                    attempt,
                    error: error.clone(),
                });
                let grace_left = judge(shared, attempt, &error);
                wait = retry.delay(attempt, servers, &mut rng);
                if let Some(left) = grace_left {
                    // Wake when the grace period ends, to report the loss on time.
                    wait = wait.min(left);
                }
            }
        }
    }
}

/// Waits `delay`, or less if the session is closed meanwhile. Returns
/// false if and only if it was closed.
fn pause(shared: &Shared, delay: Duration) -> bool {
    let deadline = Instant::now() + delay;
    let mut st = lock(&shared.state);
    while !st.closed {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        st = shared
            .changed
            .wait_timeout(st, deadline - now)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
    false
}

/// Tells the application that its licenses live on a grace period, if
/// the policy gives one and some are held.
fn announce_grace(shared: &Shared) {
    let policy = shared.ctx.settings.policy;
    let Some(until) = lock(&shared.state).table.grace_until(policy) else {
        return;
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
    let allowed = settings
        .retry
        .attempts_before_lost(shared.route.servers.len());
    let judgement =
        lock(&shared.state)
            .table
            .judge(Instant::now(), settings.policy, failed, allowed, error);
    for feature in judgement.newly_lost {
        shared.ctx.events.emit(&JobEvent::LicenseLost {
            feature,
            error: error.clone(),
        });
    }
    judgement.grace_left
}

/// After a reconnect: carries out the table's plan against the vendor
/// daemon's `Welcome`. Handles nobody claims are checked in first, then
/// the seats not given back are checked out again, one by one; what the
/// application checked in meanwhile is given back. Runs before the new
/// connection's reader starts, so the replies are read here.
fn reconcile(
    shared: &Shared,
    mut conn: Conn,
    welcome: &Welcome,
) -> Result<(Conn, Reattached), LmError> {
    let plan = lock(&shared.state).table.plan_reconcile(&welcome.held);
    let entry = &shared.route.entry;
    let mut next = lock(&shared.state).next_req;
    for &handle in &plan.orphans {
        let _ = exchange(&mut conn, &mut next, entry, |req| {
            Message::Checkin(Checkin { req, handle })
        });
    }
    let mut again = Vec::with_capacity(plan.again.len());
    for seat in plan.again {
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
        let result = match reply {
            Message::Granted(g) => Ok(g.handle),
            Message::Denied(d) => Err(LmError::from_server(
                d.code,
                d.minor,
                &d.text,
                Step::CheckoutDenied,
                format!(
                    "checking {} out again after reconnecting to {entry}: denied",
                    seat.feature
                ),
            )
            .on_entry(entry)),
            other => return Err(unexpected("checkout after reconnect", &other)),
        };
        again.push((seat, result));
    }

    let reattached = {
        let mut st = lock(&shared.state);
        st.next_req = next;
        st.table.apply_reconcile(plan.kept, again)
    };
    for &handle in &reattached.abandoned {
        let _ = exchange(&mut conn, &mut next, entry, |req| {
            Message::Checkin(Checkin { req, handle })
        });
    }
    lock(&shared.state).next_req = next;
    Ok((conn, reattached))
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
