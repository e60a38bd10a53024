//! The event loop: one thread, one `mio::Poll`, non-blocking sockets read
//! and written until `WouldBlock` (with `wire::io`), and the accounting
//! [`Core`] fed with each message as soon as it is whole, the time and the
//! date.
//!
//! Each connection has a frame reader (at most one frame of 64 KiB and one
//! read are ever buffered) and an output buffer, both holding memory only while they
//! hold bytes (most connections are idle most of the time, and there may be
//! tens of thousands of them); a peer that lets more than
//! [`MAX_PENDING_OUTPUT`] bytes pile up is disconnected. A malformed frame
//! closes that connection only, with the reason and the peer's address in
//! the log. The poll timeout is the core's next deadline, so no timer
//! thread is needed. SIGTERM and SIGINT arrive as poll events.
//!
//! The core's debug-log lines (OUT:, IN:, DENIED: ...) are gathered in a
//! [`LogBatch`] and written together at the end of each turn of the loop,
//! one `write(2)` per batch of at most `PIPE_BUF` bytes, instead of one per
//! line: under load, a write per checkout would cost as much as the
//! checkout itself. Lines logged directly flush the batch first, so the
//! order of lines is kept.

use crate::router::{self, Route};
use accounting::admin::{AdminKind, Requester};
use accounting::{Close, ConnId, Core, Effects, IdMap, LogEvent};
use hostenv::admin_socket::{self, AdminSocket, ConnAuth, Sorted, Stream};
use hostenv::conn_guard::Next;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wire::io::{FrameReader, LinkError, OutBuf};
use wire::{admin_op, lmerr, AdminReply, Message, MessageRef};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The socket to lmgrd in a triad (never a connection's token: those count
/// up from `FIRST_CONN`).
const TRIAD: Token = Token(usize::MAX - 1);
/// The local admin socket (`hostenv::admin_socket`).
const ADMIN_SOCKET: Token = Token(usize::MAX - 2);
const FIRST_CONN: usize = 2;

/// Largest frame payload accepted from a client.
pub const MAX_FRAME: usize = 64 * 1024;
/// A client that leaves this much unread output is disconnected.
pub const MAX_PENDING_OUTPUT: usize = 1024 * 1024;
/// How often the date is looked at (expiry and START take effect at midnight).
const DATE_CHECK_MS: u64 = 60_000;
/// FLEXlm daemons write a `TIMESTAMP` line every six hours.
const TIMESTAMP_MS: u64 = 6 * 3600 * 1000;
/// Size of the buffer sockets are read into.
const READ_BUF: usize = 16 * 1024;
/// Largest batch of log text written at once, prefixes included: a write
/// of at most `PIPE_BUF` bytes to a pipe is never interleaved with another
/// process's (lmgrd shares our standard output).
const LOG_BATCH_BYTES: usize = 4096;

/// Where the local date comes from; injectable for tests.
pub type Today = fn() -> grammar::Date;

/// The local date now.
pub fn local_today() -> grammar::Date {
    let t = logfmt::local_now();
    grammar::Date::new(t.year, t.month, t.day).unwrap_or(grammar::Date {
        year: t.year,
        month: 1,
        day: 1,
    })
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM or SIGINT: shut down in order.
    Signal(i32),
    /// lmdown: shut down in order.
    AdminShutdown,
    /// In a triad, lmgrd's link is gone or unreadable: exit at once with
    /// status 4, nothing more said to anyone.
    LostLmgrd,
    /// In a triad, this member is no longer the master: exit at once with
    /// status 3 (lmgrd starts it again as a standby), answering nothing
    /// that was not committed.
    Demoted,
}

impl Stopped {
    /// The status the process exits with when the loop ends this way
    /// without a shutdown in order.
    pub fn abrupt_exit_status(self) -> Option<u8> {
        match self {
            Stopped::LostLmgrd => Some(4),
            Stopped::Demoted => Some(3),
            Stopped::Signal(_) | Stopped::AdminShutdown => None,
        }
    }
}

struct Connection {
    stream: Stream,
    peer: SocketAddr,
    /// How it came (TCP or the admin socket), for admin requests.
    auth: ConnAuth,
    reader: FrameReader,
    out: OutBuf,
    /// Its replies wait for the end of the turn (see [`Server::deliver`]).
    held: bool,
}

/// Debug-log lines waiting to be written, as one multi-line message.
struct LogBatch {
    text: String,
    /// Lines in `text`.
    lines: usize,
    /// Length of the `HH:MM:SS (vendor) ` prefix the logger adds per line.
    prefix_len: usize,
    /// Where a message goes: the logger.
    sink: fn(&str),
}

impl LogBatch {
    fn new(vendor: &str) -> LogBatch {
        LogBatch {
            text: String::new(),
            lines: 0,
            prefix_len: logfmt::line_prefix(&logfmt::local_now(), vendor).len(),
            sink: |message| log::info!("{message}"),
        }
    }

    /// Bytes the logger writes for a message of `text_len` bytes in
    /// `lines` lines: a prefix per line, and the final newline.
    fn rendered(&self, text_len: usize, lines: usize) -> usize {
        text_len + 1 + lines * self.prefix_len
    }

    fn push(&mut self, event: &LogEvent) {
        let mark = self.text.len();
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        let start = self.text.len();
        let _ = write!(self.text, "{event}");
        let line = &self.text[start..];
        if line.is_empty() || line.ends_with('\n') {
            // The logger reads such a message differently inside a batch
            // (a blank line, or a trailing newline it strips): what was
            // gathered goes first, then this one alone.
            if mark > 0 {
                (self.sink)(&self.text[..mark]);
            }
            (self.sink)(&self.text[start..]);
            self.text.clear();
            self.lines = 0;
            return;
        }
        let added = 1 + line.bytes().filter(|&b| b == b'\n').count();
        if self.lines > 0 && self.rendered(self.text.len(), self.lines + added) > LOG_BATCH_BYTES {
            // What was gathered goes; this line starts the next batch
            // (moved to the front of the buffer, not copied out of it).
            (self.sink)(&self.text[..mark]);
            self.text.drain(..start);
            self.lines = 0;
        }
        self.lines += added;
    }

    /// Writes what is gathered.
    fn flush(&mut self) {
        if !self.text.is_empty() {
            (self.sink)(&self.text);
            self.text.clear();
        }
        self.lines = 0;
    }
}

/// The vendor daemon's listener, connections and core.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    signals: Signals,
    conns: IdMap<usize, Connection>,
    next_token: usize,
    core: Core,
    started: Instant,
    started_unix_ms: u64,
    today: Today,
    next_date_check: u64,
    next_timestamp: u64,
    stop: Option<Stopped>,
    /// Set when the loop must end at once, without a shutdown in order.
    abort: Option<Stopped>,
    /// Connection limits, each connection's share of a turn, deadlines.
    guard: hostenv::conn_guard::ConnGuard,
    /// Where to reread the license from on SIGHUP (lmreread via lmgrd).
    reread: Option<(
        std::path::PathBuf,
        std::sync::Arc<grammar::publisher::DaemonKeys>,
    )>,
    reread_pending: bool,
    admin: accounting::admin::AdminPolicy,
    /// Where local administrators connect (none if it could not be made).
    admin_socket: Option<AdminSocket>,
    /// lmswitch's directory when the administrator named one (`--log-dir`).
    log_dir: Option<PathBuf>,
    read_buf: Vec<u8>,
    /// An empty output buffer that keeps its capacity, lent to the
    /// connection being answered and taken back once its output is sent.
    spare_out: Vec<u8>,
    /// Connections an event's replies went to (kept for its capacity).
    touched: Vec<usize>,
    /// Connections owed a read this turn (kept for its capacity).
    owed: Vec<usize>,
    /// Effects handed to the core for each request and taken back once
    /// carried out, so that their lists keep their room from one request
    /// to the next.
    spare_fx: Effects,
    /// Connections whose replies wait for the end of the turn, when a
    /// report log is open: the turn's records are spooled first.
    held_output: Vec<usize>,
    /// The core's log lines not yet written.
    log: LogBatch,
    /// Where borrowed seats are made durable.
    borrows: Option<crate::borrow_store::BorrowStore>,
    /// The report log, when the options file asks for one.
    report: Option<crate::report::Report>,
    /// Report records of this turn of the loop, handed over together at
    /// its end: one spool write per turn; the writer thread commits as
    /// many turns at once as have come while it waited for the disk.
    report_batch: Vec<reportlog::Record>,
    /// The link to lmgrd when it is a member of a triad.
    triad: Option<crate::triad_link::TriadLink>,
    /// Where a borrow store is opened once a reread brings the first
    /// borrowable line (none is opened before: nothing to keep).
    borrow_store_path: Option<PathBuf>,
    /// Days before expiry from which served lines are warned about.
    expiry_days: u32,
    /// The day the expiry warnings were last logged.
    expiry_warned: Option<grammar::Date>,
    /// How long checkouts took to answer (the metrics).
    latency: crate::stats::Latency,
}

impl Server {
    /// Binds `addr`, ready to serve `core`. The core learns the port.
    pub fn bind(addr: SocketAddr, mut core: Core, today: Today) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = hostenv::accept::bind_listener(addr)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        core.set_port(listener.local_addr()?.port());
        let guard = hostenv::conn_guard::ConnGuard::new(
            max_connections(&core.config().options),
            None,
            lmerr::LM_VD_MAX_CLIENTS_REACHED,
        );
        let started_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(Server {
            poll,
            listener,
            signals,
            conns: IdMap::default(),
            next_token: FIRST_CONN,
            started: Instant::now(),
            started_unix_ms,
            today,
            next_date_check: started_unix_ms + DATE_CHECK_MS,
            next_timestamp: started_unix_ms + TIMESTAMP_MS,
            stop: None,
            abort: None,
            guard,
            reread: None,
            reread_pending: false,
            admin: accounting::admin::AdminPolicy::default(),
            admin_socket: None,
            log_dir: None,
            read_buf: vec![0; READ_BUF],
            spare_out: Vec::new(),
            touched: Vec::new(),
            owed: Vec::new(),
            spare_fx: Effects::default(),
            held_output: Vec::new(),
            log: LogBatch::new(&core.config().vendor),
            borrows: None,
            report: None,
            report_batch: Vec::new(),
            triad: None,
            borrow_store_path: None,
            expiry_days: crate::args::DEFAULT_EXPIRY_WARNING_DAYS,
            expiry_warned: None,
            latency: crate::stats::Latency::default(),
            core,
        })
    }

    /// Serves as one member of a triad: a standby until lmgrd says this
    /// member is the master; accounting changes go through lmgrd.
    pub fn join_triad(&mut self, mut link: crate::triad_link::TriadLink) -> io::Result<()> {
        self.poll.registry().register(
            link.source(),
            TRIAD,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.core.config_mut().replicate = true;
        self.core.set_standby(true);
        self.triad = Some(link);
        log::info!("Member of a triad: standby until lmgrd says this member is the master");
        Ok(())
    }

    /// What lmgrd said on the triad link.
    fn on_triad(&mut self) {
        let Some(link) = self.triad.as_mut() else {
            return;
        };
        let got = match link.read() {
            Ok(got) => got,
            Err(e) => {
                self.log.flush();
                log::error!("Lost the link to lmgrd ({e}): exiting");
                self.abort = Some(Stopped::LostLmgrd);
                return;
            }
        };
        let now = self.now();
        for m in got {
            if self.abort.is_some() {
                return;
            }
            match m {
                crate::triad_link::FromLmgrd::Committed(held) => {
                    for h in held {
                        self.carry_out(h.fx, h.arrived);
                    }
                }
                crate::triad_link::FromLmgrd::Reset(changes) => {
                    self.core.reset_standby();
                    let fx = self.core.apply_changes(changes);
                    for line in &fx.log {
                        self.log.push(line);
                    }
                }
                crate::triad_link::FromLmgrd::Apply(changes) => {
                    let fx = self.core.apply_changes(changes);
                    for line in &fx.log {
                        self.log.push(line);
                    }
                    if let (Some(store), false) = (&self.borrows, fx.borrows.is_empty()) {
                        let _ = store.apply(&fx.borrows);
                    }
                }
                crate::triad_link::FromLmgrd::Role {
                    serving,
                    master,
                    reason,
                } => self.on_role(now, serving, master, &reason),
                crate::triad_link::FromLmgrd::Bad(why) => {
                    self.log.flush();
                    log::error!("lmgrd sent {why}: exiting");
                    self.abort = Some(Stopped::LostLmgrd);
                    return;
                }
            }
        }
    }

    fn on_role(&mut self, now: u64, serving: bool, master: u32, reason: &str) {
        let Some(link) = self.triad.as_mut() else {
            return;
        };
        let was = link.serving;
        link.serving = serving;
        link.master = master;
        self.log.flush();
        match (was, serving) {
            (false, true) => {
                let grace = u64::from(self.core.config().timeout_ms);
                self.core.promote(now, grace);
                log::info!(
                    "This member is now the triad's master ({reason}): serving; {} seat(s) taken over",
                    self.core.holdings()
                );
            }
            (true, false) => {
                // Checkouts not yet committed must not be answered, and
                // this core may hold seats the triad never committed: start
                // again as a standby, replayed from the committed log.
                log::warn!("This member is no longer the triad's master ({reason}): restarting as a standby");
                self.abort = Some(Stopped::Demoted);
            }
            _ => log::info!("Triad: standby ({reason})"),
        }
    }

    /// A standby refuses everything but status, naming the master.
    fn not_master(&self, conn: ConnId) -> Effects {
        let master = self.triad.as_ref().map_or(0, |l| l.master);
        let text = if master == 0 {
            "This member of the triad is not serving: no master has a majority.".to_string()
        } else {
            format!("This member of the triad is not the master; member {master} is.")
        };
        Effects {
            replies: vec![(
                conn,
                Message::Error(wire::ErrorReply {
                    code: lmerr::LM_NOSERVER,
                    minor: 0,
                    text,
                }),
            )],
            close: vec![Close { conn, reason: None }],
            ..Effects::default()
        }
    }

    /// Whether client license requests are answered here: always, but in
    /// a triad only on the master.
    fn serving(&self) -> bool {
        self.triad.as_ref().is_none_or(|l| l.serving)
    }

    /// Opens, keeps or closes the report log as the options file says
    /// (at start-up and after each reread).
    pub fn configure_report(&mut self) {
        let options = std::sync::Arc::clone(&self.core.config().options);
        let options_file =
            (!options.name().is_empty()).then(|| std::path::Path::new(options.name()));
        let wanted = options.report_log().map(|f| {
            (
                crate::report::requested_path(options_file, &f.path),
                f.append,
            )
        });
        let now_secs = self.now() / 1000;
        self.flush_report();
        match (&mut self.report, wanted) {
            (Some(open), Some((path, _))) if open.path() == path => {}
            (_, wanted) => {
                self.log.flush();
                if let Some(mut old) = self.report.take() {
                    let _ = old.write(
                        now_secs,
                        vec![reportlog::Record::marker(0, reportlog::Kind::Stop)],
                    );
                }
                self.report = wanted.and_then(|(path, append)| {
                    crate::report::Report::open(&path, append, now_secs)
                        .map_err(|e| log::error!("Cannot open the report log: {e}"))
                        .ok()
                });
                if let Some(report) = &mut self.report {
                    let _ = report.write(now_secs, self.core.held_records());
                }
            }
        }
        self.core.set_report(self.report.is_some());
    }

    /// lmswitchr and lmnewlog, when a report log is open.
    fn report_admin(&mut self, msg: &Message, conn: ConnId) -> Option<Effects> {
        let Message::Admin(req) = msg else {
            return None;
        };
        if !matches!(
            req.op,
            admin_op::SWITCH_REPORT_LOG | admin_op::NEW_REPORT_LOG
        ) {
            return None;
        }
        // What this turn recorded belongs in the old file.
        self.flush_report();
        let report = self.report.as_mut()?;
        let now_secs = (self.started_unix_ms + self.started.elapsed().as_millis() as u64) / 1000;
        let held = self.core.held_records();
        let confined = if req.path.is_empty() {
            Ok(None)
        } else {
            crate::log_switch::report_path(report.path(), &req.path).map(Some)
        };
        let (code, text) = match (req.op, confined) {
            (_, Err(why)) => {
                log::warn!("Report log switch refused: {why}; the report log stays");
                (
                    lmerr::LM_BADPARAM,
                    format!("cannot switch the report log to {}: {why}", req.path),
                )
            }
            (admin_op::SWITCH_REPORT_LOG, Ok(path)) => {
                let path = path.unwrap_or_default();
                report.switch(&path, held, now_secs)
            }
            (admin_op::NEW_REPORT_LOG, Ok(renamed)) => {
                report.new_log(renamed.as_deref(), held, now_secs)
            }
            _ => return None,
        };
        Some(Effects {
            replies: vec![(conn, Message::AdminReply(AdminReply { code, text }))],
            ..Effects::default()
        })
    }

    /// Keeps borrowed seats in `store` from now on, after taking back the
    /// ones an earlier run left there.
    pub fn keep_borrows_in(
        &mut self,
        store: crate::borrow_store::BorrowStore,
    ) -> Result<(), crate::borrow_store::StoreError> {
        let (records, problems) = store.load()?;
        for problem in problems {
            log::warn!("{problem}");
        }
        self.borrows = Some(store);
        let now = self.now();
        let fx = self.core.restore_borrows(now, records);
        self.apply(fx);
        self.log.flush();
        Ok(())
    }

    /// Where to open a borrow store if a reread brings borrowable lines.
    pub fn borrow_store_at(&mut self, path: PathBuf) {
        self.borrow_store_path = Some(path);
    }

    /// Warn in the debug log, once a day, of served lines that expire
    /// within `days` days (0: never).
    pub fn expiry_warnings(&mut self, days: u32) {
        self.expiry_days = days;
    }

    /// On SIGUSR1 (log rotation), reopen `path`: the debug log lmgrd
    /// opened, unless DEBUGLOG or lmswitch has moved ours elsewhere.
    pub fn reopen_log_on_usr1(&mut self, path: Option<PathBuf>) {
        let mut current = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none() {
            *current = path;
        }
    }

    /// Logs the day's expiry warnings, unless already done today.
    fn warn_expiry(&mut self) {
        let today = self.core.today();
        if self.expiry_warned == Some(today) {
            return;
        }
        self.expiry_warned = Some(today);
        let soon = accounting::expiry::expiring(self.core.pools(), today, self.expiry_days);
        if !soon.is_empty() {
            self.log.flush();
        }
        for e in soon {
            log::warn!("{e}");
        }
    }

    /// Opens the borrow store the first time the license allows borrowing.
    fn open_borrow_store_if_needed(&mut self) {
        if self.borrows.is_some() || self.triad.is_some() {
            return;
        }
        let Some(path) = self.borrow_store_path.clone() else {
            return;
        };
        if !self.core.pools().any(|p| p.borrow_hours.is_some()) {
            return;
        }
        let opened = crate::borrow_store::BorrowStore::open(&path);
        if let Err(e) = opened.and_then(|store| self.keep_borrows_in(store)) {
            self.log.flush();
            log::error!("{e}: borrowing is refused until the store can be opened");
        }
    }

    /// On SIGHUP, reread `license`, verify it with the publisher's
    /// built-in `keys` and serve the new pools, keeping current checkouts.
    pub fn reread_from(
        &mut self,
        license: std::path::PathBuf,
        keys: std::sync::Arc<grammar::publisher::DaemonKeys>,
    ) {
        self.reread = Some((license, keys));
    }

    fn debug_log_dir(&self) -> Option<PathBuf> {
        current_log_dir(self.log_dir.as_deref())
    }

    /// Restrictions lmgrd passed on (`-x lmdown`, `-x lmremove`, `-local`, `-2 -p`).
    pub fn set_admin_policy(&mut self, policy: accounting::admin::AdminPolicy) {
        self.admin = policy;
    }

    /// lmswitch writes only in `dir` (else the current debug log's).
    pub fn log_dir(&mut self, dir: Option<PathBuf>) {
        self.log_dir = dir;
    }

    /// Binds this daemon's admin socket in `state_dir`, named by the
    /// vendor and the TCP port; without one, admin requests come over
    /// TCP only (where `-2 -p` refuses them).
    pub fn open_admin_socket(&mut self, state_dir: &Path) {
        let Ok(port) = self.local_addr().map(|a| a.port()) else {
            return;
        };
        let path = admin_socket::path(state_dir, &self.core.config().vendor, port);
        let bound = AdminSocket::bind(path.clone()).and_then(|mut s| {
            self.poll
                .registry()
                .register(&mut s.listener, ADMIN_SOCKET, Interest::READABLE)
                .map(|()| s)
        });
        match bound {
            Ok(s) => self.admin_socket = Some(s),
            Err(e) => log::warn!(
                "No local admin socket at {}: {e}; admin requests come over TCP only",
                path.display()
            ),
        }
    }

    /// Someone connected to the admin socket: kept like a TCP client (the
    /// guard's limits and deadlines apply), with the kernel's word on who
    /// it is.
    fn accept_admin(&mut self) {
        let Some(socket) = &self.admin_socket else {
            return;
        };
        let next_token = &mut self.next_token;
        let (accepted, result) = socket.accept_all(self.poll.registry(), || {
            *next_token += 1;
            *next_token - 1
        });
        let now = self.now();
        let peer = SocketAddr::from(([0, 0, 0, 0], 0));
        for (token, stream, cred) in accepted {
            self.guard.opened(token, peer, now);
            self.conns.insert(
                token,
                Connection {
                    stream,
                    peer,
                    auth: ConnAuth::Kernel(cred),
                    reader: FrameReader::new(MAX_FRAME),
                    out: OutBuf::new(),
                    held: false,
                },
            );
        }
        if let Err(e) = result {
            self.log.flush();
            log::warn!("admin socket: accept failed: {e}");
        }
    }

    /// An admin message, with who sends it as the connection proves
    /// (`hostenv::admin_socket`); `None` when it was answered already.
    fn sort_admin(&mut self, token: usize, msg: Message) -> Option<(Message, Option<Requester>)> {
        let state_dir = hostenv::state_dir::get();
        let token_key =
            |name: &str| state_dir.and_then(|dir| hostenv::admin_tokens::key(dir, name));
        let port = self.listener.local_addr().map_or(0, |a| a.port());
        let gate = admin_socket::Gate {
            port,
            socket: self.admin_socket.as_ref().map(|s| s.path.as_path()),
            token_key: &token_key,
        };
        let c = self.conns.get_mut(&token)?;
        match c.auth.sort(msg, &gate) {
            Sorted::Other(msg) => Some((msg, None)),
            Sorted::Request(req, who) => Some((Message::Admin(req), Some(who))),
            Sorted::Answer(reply) => {
                if let Message::AdminReply(r) = &reply {
                    self.log.flush();
                    log::info!("Admin request refused: {}", r.text);
                }
                let conn = ConnId(token as u64);
                self.apply(Effects {
                    replies: vec![(conn, reply)],
                    ..Effects::default()
                });
                None
            }
        }
    }

    /// Why the admin request `msg` from `who` must be refused, if it must.
    fn admin_refusal(
        &mut self,
        msg: &Message,
        who: &Requester,
    ) -> Option<accounting::admin::Refusal> {
        let Message::Admin(req) = msg else {
            return None;
        };
        let kind = AdminKind::of(req.op);
        let refusal = self.admin.check(kind, who).err()?;
        self.log.flush();
        log::info!(
            "{} request from {} refused: {}",
            kind.tool(),
            who.describe(),
            refusal.text
        );
        Some(refusal)
    }

    fn reread_license(&mut self) {
        let Some((path, keys)) = self.reread.clone() else {
            return;
        };
        self.log.flush();
        log::info!("{}", logfmt::banner::VENDOR_REREADING);
        let today = (self.today)();
        match crate::startup::load_license(&path, keys.publisher(), today) {
            Ok(licensed) => {
                for problem in &licensed.problems {
                    log::info!("{problem}");
                }
                self.core.reload(licensed.pools, today, licensed.withdrawn);
                self.guard
                    .set_max_connections(max_connections(&licensed.options));
                self.core.set_options(std::sync::Arc::new(licensed.options));
                for problem in self.core.option_problems() {
                    log::warn!("{problem}");
                }
                self.configure_report();
                self.write_report(vec![reportlog::Record::marker(0, reportlog::Kind::Reread)]);
                self.open_borrow_store_if_needed();
                self.expiry_warned = None;
                let host = self.core.config().host.clone();
                log::info!(
                    "{}",
                    crate::startup::started_message(&host, &self.core.features())
                );
            }
            Err(e) => log::error!(
                "Cannot reread license file {}: {e}; still serving the old one",
                path.display()
            ),
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Milliseconds since the Unix epoch, advancing with the monotonic clock.
    fn now(&self) -> u64 {
        self.started_unix_ms + self.started.elapsed().as_millis() as u64
    }

    /// Serves until SIGTERM, SIGINT or an admin shutdown; then releases
    /// every seat (`IN: ... (SHUTDOWN)`) and closes every connection.
    pub fn run(&mut self) -> io::Result<Stopped> {
        let mut events = Events::with_capacity(1024);
        self.warn_expiry();
        if let Some(limits) = self.guard.describe() {
            self.log.flush();
            log::info!("{limits}");
        }
        self.log_guard_notes();
        loop {
            let now = self.now();
            let wake = [
                self.core.next_deadline(),
                Some(self.next_date_check),
                Some(self.next_timestamp),
                self.guard.next_due(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now);
            // Round up so we do not wake a millisecond early and spin; no
            // sleep at all while a connection is owed a read.
            let timeout = if self.guard.busy() || !self.held_output.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_millis(wake.saturating_sub(now) + 1)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let mut owed = std::mem::take(&mut self.owed);
            self.guard.take_turn_into(&mut owed);
            for event in events.iter() {
                if let Some(why) = self.abort {
                    return Ok(why);
                }
                match event.token() {
                    LISTENER => self.accept(),
                    ADMIN_SOCKET => self.accept_admin(),
                    TRIAD => {
                        if event.is_readable() || event.is_read_closed() {
                            self.on_triad();
                        }
                        if let Some(link) = self.triad.as_mut() {
                            let _ = link.flush();
                        }
                    }
                    SIGNALS => {
                        for sig in self.signals.pending() {
                            if sig == SIGHUP {
                                self.reread_pending = true;
                            } else if sig == SIGUSR1 {
                                self.log.flush();
                                reopen_debug_log();
                            } else {
                                self.stop.get_or_insert(Stopped::Signal(sig));
                            }
                        }
                    }
                    Token(t) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(t);
                        }
                        if event.is_writable() {
                            self.flush(t);
                        }
                    }
                }
            }
            for &t in &owed {
                self.read(t);
            }
            self.owed = owed;
            self.guard_housekeeping();
            if let Some(why) = self.abort {
                return Ok(why);
            }
            self.housekeeping();
            self.send_held_output();
            self.log.flush();
            if std::mem::take(&mut self.reread_pending) {
                self.reread_license();
                self.send_held_output();
            }
            if let Some(stopped) = self.stop {
                self.shut_down(stopped);
                return Ok(stopped);
            }
        }
    }

    /// Connections past a deadline are closed; a listener that stopped
    /// short of its queue is accepted from again.
    fn guard_housekeeping(&mut self) {
        let now = self.now();
        for (token, why) in self.guard.expired(now) {
            self.close(token, Some(why));
        }
        if self.guard.accept_due(now) {
            self.accept();
        }
        self.log_guard_notes();
    }

    fn log_guard_notes(&mut self) {
        let notes = self.guard.take_notes();
        if !notes.is_empty() {
            self.log.flush();
        }
        for note in notes {
            log::warn!("{note}");
        }
    }

    /// Timeouts, the date, and TIMESTAMP lines.
    fn housekeeping(&mut self) {
        let now = self.now();
        if self.core.next_deadline().is_some_and(|d| d <= now) {
            let (fx, _) = self.core.tick(now);
            self.apply(fx);
        }
        if now >= self.next_date_check {
            self.next_date_check = now + DATE_CHECK_MS;
            let fx = self.core.set_today((self.today)());
            self.apply(fx);
        }
        self.warn_expiry();
        if now >= self.next_timestamp {
            self.next_timestamp = now + TIMESTAMP_MS;
            self.log.flush();
            log::info!("TIMESTAMP {}", logfmt::timestamp_date());
        }
    }

    fn shut_down(&mut self, why: Stopped) {
        self.log.flush();
        match why {
            // lmgrd stops its vendor daemons with SIGTERM.
            Stopped::Signal(libc::SIGTERM) | Stopped::AdminShutdown => {
                log::info!("{}", logfmt::banner::VENDOR_SHUTDOWN_REQUESTED)
            }
            Stopped::Signal(sig) => log::info!("Shutting down because of signal {sig}"),
            Stopped::LostLmgrd | Stopped::Demoted => {}
        }
        let product = logfmt::banner::Product::ours(wire::version(), wire::platform());
        logfmt::write_raw(&format!(
            "{}\n",
            logfmt::banner::vendor_shut_down(
                &product,
                &self.core.config().vendor,
                &self.core.config().host
            )
        ));
        let fx = self.core.shutdown();
        for line in &fx.log {
            self.log.push(line);
        }
        self.log.flush();
        let mut records = fx.report;
        records.push(reportlog::Record::marker(0, reportlog::Kind::Stop));
        self.write_report(records);
        self.flush_report();
        // Closing the report log waits for its writer to commit the rest.
        self.report = None;
        for (_, mut c) in self.conns.drain() {
            let _ = c.out.write_to(&mut c.stream);
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Accepts what the listener has waiting, as the guard admits it
    /// (those over a limit are refused with -237 and closed there).
    fn accept(&mut self) {
        let now = self.now();
        for (mut stream, peer) in self.guard.accept(&self.listener, now) {
            let token = self.next_token;
            self.next_token += 1;
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                Token(token),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.guard.not_opened(peer);
                self.log.flush();
                log::warn!("Cannot watch the connection from {peer}: {e}");
                continue;
            }
            let _ = stream.set_nodelay(true);
            keep_alive(&stream);
            self.guard.opened(token, peer, now);
            self.conns.insert(
                token,
                Connection {
                    auth: ConnAuth::tcp(local_addr_of(&stream), peer),
                    stream: Stream::Tcp(stream),
                    peer,
                    reader: FrameReader::new(MAX_FRAME),
                    out: OutBuf::new(),
                    held: false,
                },
            );
        }
        self.log_guard_notes();
    }

    /// Reads what `token`'s peer sent, serving each message as soon as it
    /// is whole, until it would block or its share of this turn is spent
    /// (the guard then owes it a read next turn).
    fn read(&mut self, token: usize) {
        let mut buf = std::mem::take(&mut self.read_buf);
        self.read_into(token, &mut buf);
        self.read_buf = buf;
    }

    fn read_into(&mut self, token: usize, buf: &mut [u8]) {
        let mut budget = hostenv::fairness::Budget::per_turn();
        while self.abort.is_none() {
            let now = self.now();
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            let pending = c.out.pending();
            match self.guard.step_ready(
                token,
                &mut budget,
                &mut c.reader,
                &mut c.stream,
                buf,
                pending,
                now,
            ) {
                Next::Message(()) => {}
                Next::Wait => return,
                Next::Failed(LinkError::Closed) => {
                    self.close(token, None);
                    return;
                }
                Next::Failed(e) => {
                    self.close(token, Some(e.to_string()));
                    return;
                }
                Next::Drop(why) => {
                    self.close(token, Some(why));
                    return;
                }
            }
            // The message is decoded where it lies (in `buf`, or in the
            // reader's buffer): the reader is taken out of the connection
            // while the message borrows it, and put back after.
            let peer = c.peer;
            let mut reader = std::mem::replace(&mut c.reader, FrameReader::new(MAX_FRAME));
            match reader.message(buf) {
                Ok(Some(msg)) => self.serve(token, peer, msg),
                Ok(None) => {}
                Err(e) => {
                    self.close(token, Some(e.to_string()));
                    return;
                }
            }
            match self.conns.get_mut(&token) {
                Some(c) => c.reader = reader,
                None => return,
            }
        }
    }

    /// Answers one message from `token`.
    fn serve(&mut self, token: usize, peer: SocketAddr, msg: MessageRef<'_>) {
        let (msg, who) = match msg {
            MessageRef::Other(
                m @ (Message::Admin(_) | Message::AdminFor(_) | Message::AdminAccessQuery(_)),
            ) => match self.sort_admin(token, m) {
                Some((m, who)) => (MessageRef::Other(m), who),
                None => return,
            },
            m => (m, None),
        };
        let admin = match &msg {
            MessageRef::Other(m @ Message::Admin(_)) => Some(m),
            _ => None,
        };
        if admin.is_some() {
            // Admin requests may log directly, or move the log
            // (lmswitch): what is gathered goes first.
            self.log.flush();
        }
        let arrived = matches!(msg, MessageRef::Checkout(_)).then(Instant::now);
        let now = self.now();
        let conn = ConnId(token as u64);
        let refusal = match (&who, admin) {
            (Some(w), Some(m)) => self.admin_refusal(m, w),
            _ => None,
        };
        let ctx = router::Context {
            peer_is_local: who
                .as_ref()
                .map_or(peer.ip().is_loopback(), Requester::is_local),
            serving: self.serving(),
            report_log_open: self.report.is_some(),
        };
        let route = router::route_request(&msg, ctx, refusal);
        let fx = match (route, msg) {
            (Route::Core, msg) => {
                let mut fx = std::mem::take(&mut self.spare_fx);
                self.core.handle_request(now, conn, msg, &mut fx);
                fx
            }
            (Route::BadField(e), msg) => accounting::refuse_field(conn, &msg.into_owned(), &e),
            (Route::Refused(refusal), _) => refusal_reply(conn, refusal),
            (Route::RemoteShutdown, _) => refuse_remote_shutdown(conn),
            (Route::NotMaster, _) => self.not_master(conn),
            (Route::ReportLog | Route::LogSwitch, msg) => {
                let msg = msg.into_owned();
                let dir = self.debug_log_dir();
                self.report_admin(&msg, conn)
                    .or_else(|| switch_log(&msg, conn, dir))
                    .unwrap_or_default()
            }
            (Route::Stats, _) => {
                let reply =
                    crate::stats::reply(self.core.counters(), &self.latency, self.conns.len());
                Effects {
                    replies: vec![(conn, Message::Stats(reply))],
                    ..Effects::default()
                }
            }
            (Route::Usage, msg) => {
                let days = match msg {
                    MessageRef::Other(Message::UsageQuery(q)) => q.days,
                    _ => 0,
                };
                let daily = self.report.as_ref().map(crate::report::Report::daily_use);
                Effects {
                    replies: vec![(conn, Message::Usage(crate::stats::usage_reply(daily, days)))],
                    ..Effects::default()
                }
            }
        };
        self.apply_timed(fx, arrived);
    }

    fn flush(&mut self, token: usize) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if let Err(e) = c.out.write_to(&mut c.stream) {
            self.close(token, Some(e.to_string()));
            return;
        }
        self.guard.wrote(token, c.out.pending());
        if c.out.is_empty() && c.out.capacity() > 0 {
            let out = c.out.take_allocation();
            if self.spare_out.capacity() == 0 {
                self.spare_out = out;
            }
        }
    }

    /// Queues `records` (stamped now) for the end of this turn.
    fn write_report(&mut self, mut records: Vec<reportlog::Record>) {
        self.queue_report(&mut records);
    }

    /// Moves `records` (stamped now) to this turn's batch, leaving the
    /// vector empty with its room.
    fn queue_report(&mut self, records: &mut Vec<reportlog::Record>) {
        if self.report.is_none() {
            records.clear();
            return;
        }
        let now_secs = self.now() / 1000;
        self.report_batch.extend(records.drain(..).map(|mut r| {
            r.time = now_secs;
            r
        }));
    }

    /// Hands the turn's report records to the log (spooled now, committed
    /// in one transaction by its writer thread).
    fn flush_report(&mut self) {
        if self.report_batch.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.report_batch);
        if let Some(report) = &mut self.report {
            // A batch the writer is done with comes back, with its room.
            self.report_batch = report.spare_batch();
            if let Err(e) = report.append(records) {
                self.log.flush();
                log::error!(
                    "Report log {}: {e}; no longer written",
                    report.path().display()
                );
                self.report = None;
                self.core.set_report(false);
            }
        }
    }

    /// Carries out what the core decided. Borrowed seats are made durable
    /// before any reply goes out.
    fn apply(&mut self, fx: Effects) {
        self.apply_timed(fx, None);
    }

    /// [`Server::apply`] for the answer to a checkout that `arrived` then:
    /// its answer time is counted once it goes out.
    fn apply_timed(&mut self, mut fx: Effects, arrived: Option<Instant>) {
        if self.abort.is_some() {
            return;
        }
        if let Some(link) = self.triad.as_mut() {
            if !fx.changes.is_empty() || link.holding() {
                // Nothing of this turn shows (replies, log lines, report
                // records) before the majority holds its changes: a log
                // that says OUT is a seat every member knows.
                let deltas = std::mem::take(&mut fx.changes);
                let held = crate::triad_link::Held {
                    seq: None,
                    fx,
                    arrived,
                };
                if deltas.is_empty() {
                    link.wait_behind(held);
                } else {
                    let (origin, seq) = link.next_batch();
                    link.propose(self.core.encode_batch(origin, seq, &deltas), held);
                }
                if let Err(e) = link.flush() {
                    self.log.flush();
                    log::error!("Lost the link to lmgrd ({e}): exiting");
                    self.abort = Some(Stopped::LostLmgrd);
                }
                return;
            }
        }
        self.carry_out(fx, arrived);
    }

    /// Writes a turn's log lines, report records and borrow changes, and
    /// sends its replies (in a triad, once committed).
    fn carry_out(&mut self, mut fx: Effects, arrived: Option<Instant>) {
        let options = std::sync::Arc::clone(&self.core.config().options);
        for line in &fx.log {
            if line.class().is_some_and(|class| options.nolog(class)) {
                continue;
            }
            self.log.push(line);
        }
        if !fx.report.is_empty() {
            self.queue_report(&mut fx.report);
        }
        if let (Some(store), false) = (&self.borrows, fx.borrows.is_empty()) {
            if let Err(e) = store.apply(&fx.borrows) {
                self.log.flush();
                log::error!("{e}: borrowed seats taken now will not survive a restart");
            }
        }
        self.deliver(&mut fx);
        if let Some(arrived) = arrived {
            self.latency.observe(arrived.elapsed());
        }
        // Its lists (and grants) serve the next request.
        self.core.recycle(&mut fx);
        if self.spare_fx.replies.capacity() < fx.replies.capacity() {
            self.spare_fx = fx;
        }
    }

    /// Sends replies and closes connections, as decided (and, in a triad,
    /// committed).
    fn deliver(&mut self, fx: &mut Effects) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        for (conn, msg) in &fx.replies {
            let token = conn.0 as usize;
            let Some(c) = self.conns.get_mut(&token) else {
                continue;
            };
            if c.out.capacity() == 0 {
                c.out = OutBuf::with_spare(std::mem::take(&mut self.spare_out));
            }
            c.out.push(msg);
            if !touched.contains(&token) {
                touched.push(token);
            }
        }
        for &token in &touched {
            if self.report.is_some() {
                // With a report log, no client hears of a turn's work before
                // its records are spooled (in the kernel's hands: a crash of
                // this daemon loses none of them): one spool write at the end
                // of the turn, then the replies (`send_held_output`).
                if let Some(c) = self.conns.get_mut(&token) {
                    if !std::mem::replace(&mut c.held, true) {
                        self.held_output.push(token);
                    }
                }
                continue;
            }
            self.send(token);
        }
        self.touched = touched;
        for Close { conn, reason } in fx.close.drain(..) {
            self.close(conn.0 as usize, reason);
        }
        if fx.shutdown {
            self.stop.get_or_insert(Stopped::AdminShutdown);
        }
    }

    /// Writes what `token` has queued; a client that lets its replies pile
    /// up is closed.
    fn send(&mut self, token: usize) {
        self.flush(token);
        if self
            .conns
            .get(&token)
            .is_some_and(|c| c.out.pending() > MAX_PENDING_OUTPUT)
        {
            self.close(
                token,
                Some(format!(
                    "client does not read its replies ({} bytes pending)",
                    MAX_PENDING_OUTPUT
                )),
            );
        }
    }

    /// The end of a turn with a report log open: its records are spooled,
    /// then the replies held for them go out.
    fn send_held_output(&mut self) {
        self.flush_report();
        let held = std::mem::take(&mut self.held_output);
        for &token in &held {
            if let Some(c) = self.conns.get_mut(&token) {
                c.held = false;
                self.send(token);
            }
        }
        self.held_output = held;
        self.held_output.clear();
    }

    /// Closes a connection (after a last try at sending what is queued) and
    /// releases whatever it held.
    fn close(&mut self, token: usize, reason: Option<String>) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = c.out.write_to(&mut c.stream);
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.guard.closed(token);
        if let Some(reason) = reason {
            self.log.flush();
            log::warn!("Closing connection from {}: {reason}", c.peer);
        }
        drop(c);
        let now = self.now();
        let fx = self.core.disconnect(now, ConnId(token as u64));
        self.apply(fx);
    }
}

fn refusal_reply(conn: ConnId, r: accounting::admin::Refusal) -> Effects {
    Effects {
        replies: vec![(
            conn,
            Message::AdminReply(AdminReply {
                code: r.code,
                text: r.text,
            }),
        )],
        ..Effects::default()
    }
}

/// lmswitch: send this daemon's debug log to a new file from now on, in
/// the log directory `dir` only (`crate::log_switch`). The file must not
/// exist yet (FLEXlm refuses to overwrite a log). Report-log requests are
/// answered here too while there is no report log.
fn switch_log(msg: &Message, conn: ConnId, dir: Option<PathBuf>) -> Option<Effects> {
    let Message::Admin(req) = msg else {
        return None;
    };
    let (code, text) = match req.op {
        admin_op::SWITCH_LOG => match switch_debug_log(&req.path, dir) {
            Ok(path) => (0, format!("debug log switched to {}", path.display())),
            Err(e) => {
                let text = format!("cannot switch the debug log to {}: {e}", req.path);
                log::warn!("lmswitch refused: {text}; logging on here");
                (lmerr::LM_BADPARAM, text)
            }
        },
        admin_op::SWITCH_REPORT_LOG | admin_op::NEW_REPORT_LOG => (
            lmerr::LM_NOSERVSUPP,
            "this vendor daemon keeps no report log (set REPORTLOG in the options file)"
                .to_string(),
        ),
        _ => return None,
    };
    Some(Effects {
        replies: vec![(conn, Message::AdminReply(AdminReply { code, text }))],
        ..Effects::default()
    })
}

/// Why lmswitch could not move the debug log.
#[derive(Debug, thiserror::Error)]
enum SwitchLogError {
    #[error(
        "this vendor daemon has no log directory (no debug log file, no state directory, no --log-dir)"
    )]
    NoDirectory,
    /// Refused by the rules of `log_switch` (its words).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Redirect(#[from] io::Error),
}

fn switch_debug_log(requested: &str, dir: Option<PathBuf>) -> Result<PathBuf, SwitchLogError> {
    let dir = dir.ok_or(SwitchLogError::NoDirectory)?;
    let (file, path) =
        crate::log_switch::create_in(&dir, requested).map_err(|r| SwitchLogError::Refused(r.0))?;
    log::info!("Switching debug log to {}", path.display());
    redirect_log(&file)?;
    remember_log_file(path.clone());
    log::info!("Debug log switched here by lmswitch");
    Ok(path)
}

/// The directory lmswitch may write in (`crate::log_switch::debug_log_dir`).
fn current_log_dir(configured: Option<&Path>) -> Option<PathBuf> {
    let current = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    crate::log_switch::debug_log_dir(configured, current.as_deref(), hostenv::state_dir::get())
}

/// The file this daemon's debug log goes to, reopened on SIGUSR1: the one
/// lmgrd opened for us, or DEBUGLOG's, or lmswitch's. `None` when the log
/// is a pipe or a terminal.
static LOG_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

fn remember_log_file(path: PathBuf) {
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(path);
}

/// After logrotate renamed the debug log: lines written until now went to
/// the renamed file (none lost); from now on they go to a new one.
fn reopen_debug_log() {
    let Some(path) = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
        return;
    };
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    match opened.and_then(|f| redirect_log(&f)) {
        Ok(()) => log::info!("Debug log reopened: {}", path.display()),
        Err(e) => log::error!("Cannot reopen the debug log {}: {e}", path.display()),
    }
}

/// Every later line goes to `file`: the logger writes to standard output.
fn redirect_log(file: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 onto our own standard output descriptor.
    if unsafe { libc::dup2(file.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The options file's DEBUGLOG: this vendor daemon's lines go to their own
/// file (`+path` appends, a bare path starts it afresh), relative paths
/// being taken from the state directory.
pub fn apply_debug_log(options: &grammar::options::Options) {
    let Some(wanted) = options.debug_log() else {
        return;
    };
    let options_file = (!options.name().is_empty()).then(|| std::path::Path::new(options.name()));
    let path = crate::report::requested_path(options_file, &wanted.path);
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(wanted.append)
        .write(true)
        .truncate(!wanted.append)
        .open(&path);
    match opened.and_then(|f| {
        log::info!(
            "Debug log of this vendor daemon: {} (DEBUGLOG)",
            path.display()
        );
        redirect_log(&f)
    }) {
        Ok(()) => {
            remember_log_file(path.clone());
            log::info!("Debug log started here (DEBUGLOG in {})", options.name())
        }
        Err(e) => log::error!("DEBUGLOG {}: {e}; logging on as before", path.display()),
    }
}

/// Only a process on this machine (lmgrd, or lmdown run here) may stop the
/// vendor daemon directly.
fn refuse_remote_shutdown(conn: ConnId) -> Effects {
    Effects {
        replies: vec![(
            conn,
            Message::AdminReply(AdminReply {
                code: lmerr::LM_MUST_BE_LOCAL,
                text: lmerr::text(lmerr::LM_MUST_BE_LOCAL).to_string(),
            }),
        )],
        ..Effects::default()
    }
}

/// The options file's MAX_CONNECTIONS (none: as many as the open-file
/// limit leaves room for).
fn max_connections(options: &grammar::options::Options) -> Option<usize> {
    options
        .max_connections()
        .and_then(|n| usize::try_from(n).ok())
}

/// The address a TCP client reached (for a listener on every address,
/// the kernel's answer for this connection); unspecified if unknown, which
/// no peer matches.
fn local_addr_of(stream: &TcpStream) -> SocketAddr {
    stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Turns on TCP keepalive, so a client machine that vanished without
/// closing its connections does not keep them open for ever (connections
/// holding seats also time out in the core; idle ones only this way).
fn keep_alive(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| {
        // SAFETY: setsockopt reads one int from a live local.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 120);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 30);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 4);
}

/// A vendor daemon's first log line: our product and version where FLEXlm
/// prints `FlexNet Licensing version v11.16.2.1 build 244538 x64_lsb`.
pub fn product_banner() -> String {
    logfmt::banner::vendor_version(&logfmt::banner::Product::ours(
        wire::version(),
        wire::platform(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static WRITTEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn batch() -> LogBatch {
        WRITTEN.with(|w| w.borrow_mut().clear());
        LogBatch {
            sink: |m| WRITTEN.with(|w| w.borrow_mut().push(m.to_string())),
            ..LogBatch::new("demo")
        }
    }

    fn written() -> Vec<String> {
        WRITTEN.with(|w| w.borrow().clone())
    }

    fn out(user: &str) -> LogEvent {
        LogEvent::Out {
            feature: "f1".into(),
            user: user.into(),
            host: "ws1".into(),
            count: 1,
        }
    }

    #[test]
    fn lines_are_written_together_in_order() {
        let mut b = batch();
        b.push(&out("a"));
        b.push(&LogEvent::Note("two\nlines".into()));
        b.push(&out("b"));
        assert!(written().is_empty());
        b.flush();
        b.flush();
        assert_eq!(
            written(),
            ["OUT: \"f1\" a@ws1  \ntwo\nlines\nOUT: \"f1\" b@ws1  "]
        );
    }

    #[test]
    fn blank_and_newline_ended_messages_go_alone() {
        let mut b = batch();
        b.push(&out("a"));
        b.push(&LogEvent::Note(String::new()));
        b.push(&LogEvent::Note("end\n".into()));
        b.push(&out("b"));
        b.flush();
        assert_eq!(
            written(),
            ["OUT: \"f1\" a@ws1  ", "", "end\n", "OUT: \"f1\" b@ws1  "]
        );
    }

    #[test]
    fn a_batch_never_renders_longer_than_pipe_buf() {
        let mut b = batch();
        let users: Vec<String> = (0..500).map(|i| format!("user{i}")).collect();
        for u in &users {
            b.push(&out(u));
        }
        b.flush();
        let w = written();
        assert!(w.len() > 1);
        let prefix = logfmt::line_prefix(&logfmt::local_now(), "demo").len();
        for m in &w {
            let lines = m.split('\n').count();
            assert!(
                m.len() + 1 + lines * prefix <= LOG_BATCH_BYTES,
                "{}",
                m.len()
            );
        }
        let lines: Vec<&str> = w.iter().flat_map(|m| m.split('\n')).collect();
        assert_eq!(lines.len(), users.len());
        for (line, u) in lines.iter().zip(&users) {
            assert_eq!(*line, format!("OUT: \"f1\" {u}@ws1  "));
        }
    }
}
