//! lmgrd's event loop: one mio `Poll` for the client port, the vendor
//! daemons' notify pipes and signals, and in a triad the links to the other
//! members and to the vendor daemons (`triad_node.rs`). Decisions are made
//! elsewhere: about children by the supervisor, about mastership by the
//! triad member, about what to answer a client by `answer.rs`, about an
//! lmreread by `reread.rs`; this module reads, writes and carries them out.

use super::answer::{self, Client, Reply, TriadView, View};
use super::children;
use super::config::{self, ServeConfig, DEFAULT_PORTS};
use super::peer_links;
use super::reread::{self, RereadError};
use super::supervisor::{Action, Policy, Supervisor};
use super::triad::{self, TriadPlan};
use super::triad_node::{self, TriadNode, VENDOR_LINK_BASE};
use crate::args::Args;
use accounting::admin::AdminPolicy;
use grammar::HostIdentity;
use hostenv::admin_socket::{self, AdminSocket, ConnAuth, Sorted, Stream};
use hostenv::conn_guard::Next;
use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wire::frame::DEFAULT_MAX_PAYLOAD;
use wire::io::{FrameReader, LinkError, OutBuf};
use wire::lmerr;
use wire::{AdminReply, ErrorReply, Message};

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The local admin socket (`hostenv::admin_socket`).
const ADMIN_SOCKET: Token = Token(2);
/// Notify pipes use tokens NOTIFY_BASE + vendor index.
const NOTIFY_BASE: usize = 1 << 30;
/// Client connections use tokens from here up to the triad's vendor links
/// (1 << 29); tokens 5 to 11 are the links to the other members.
const CONN_BASE: usize = 16;
/// A peer that lets this much output pile up is dropped.
const MAX_PENDING_OUTPUT: usize = 1 << 20;
/// Client connections lmgrd holds at once (fewer if the open-file limit
/// leaves less room): clients only ask it where a vendor daemon is, and
/// the tools its status, and then go.
pub const MAX_CONNECTIONS: usize = 4096;

struct Conn {
    stream: Stream,
    peer: SocketAddr,
    /// How it came (TCP or the admin socket), for admin requests.
    auth: ConnAuth,
    reader: FrameReader,
    out: OutBuf,
    user: String,
    host: String,
}

impl Conn {
    fn new(stream: Stream, peer: SocketAddr, auth: ConnAuth) -> Conn {
        Conn {
            stream,
            peer,
            auth,
            reader: FrameReader::new(DEFAULT_MAX_PAYLOAD),
            out: OutBuf::new(),
            user: String::new(),
            host: String::new(),
        }
    }
}

struct Notify {
    fd: OwnedFd,
    pid: i32,
    buf: Vec<u8>,
}

pub struct Daemon {
    poll: Poll,
    listener: TcpListener,
    port: u16,
    signals: Signals,
    conns: HashMap<usize, Conn>,
    next_conn: usize,
    supervisor: Supervisor,
    config: ServeConfig,
    /// The license list lmgrd was given (reread from it).
    list: String,
    /// The license files served, in order.
    licenses: Vec<PathBuf>,
    /// What every vendor daemon is told.
    common: children::Common,
    notifies: HashMap<usize, Notify>,
    epoch: Instant,
    args: Args,
    hostname: String,
    stopping: Option<String>,
    next_timestamp: u64,
    policy: AdminPolicy,
    /// Where local administrators connect (none if it could not be made).
    admin_socket: Option<AdminSocket>,
    me: HostIdentity,
    lmgrd_dir: PathBuf,
    /// Set when the license file has three SERVER lines.
    triad: Option<TriadNode>,
    /// Told once listening and every vendor daemon has started (or failed
    /// once): the background parent's pipe, and systemd.
    ready: Option<Readiness>,
    /// Our exit status once stopped.
    exit_code: i32,
    /// Connection limits, each connection's share of a turn, deadlines.
    guard: hostenv::conn_guard::ConnGuard,
}

/// Who waits to hear that lmgrd serves.
pub struct Readiness {
    /// The pipe to the shell-facing parent process (no `-z`).
    pub parent: Option<OwnedFd>,
    /// Where lmgrd's debug log is, for the parent's message on failure.
    pub console: super::console::Console,
}

/// Binds the SERVER port, or the first free one of 27000-27009, on `ip`
/// (every IPv4 interface when `None`), with the deep accept queue of
/// `hostenv::accept::bind_listener`: after a failover every application
/// looks the new master up at once, and with the kernel's usual 128 the
/// SYNs beyond it were dropped and retried by TCP 1, 3, 7 and 15 s later.
fn bind(ip: Option<IpAddr>, port: Option<u16>) -> io::Result<(TcpListener, u16)> {
    let ip = ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let ports: Vec<u16> = port.map_or_else(|| DEFAULT_PORTS.collect(), |p| vec![p]);
    let mut last = io::Error::other("no port to try");
    for p in ports {
        match hostenv::accept::bind_listener(SocketAddr::new(ip, p)) {
            Ok(l) => return Ok((l, p)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Daemon {
    pub fn new(
        config: ServeConfig,
        list: String,
        licenses: Vec<PathBuf>,
        args: Args,
        me: HostIdentity,
        lmgrd_dir: PathBuf,
        common: children::Common,
    ) -> io::Result<Daemon> {
        let hostname = me.hostname.clone();
        let policy = AdminPolicy {
            no_lmdown: args.disable_lmdown,
            no_lmremove: args.disable_lmremove,
            local_only: args.local_only,
            admins_only: args.restrict_admin,
        };
        let listen_ip = args.bind.or_else(|| {
            config.triad.as_ref().and_then(|plan| {
                let host = &plan.mine().host;
                let resolved: Vec<IpAddr> = (host.as_str(), 0u16)
                    .to_socket_addrs()
                    .map(|a| a.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                triad::listen_ip(host, &resolved)
            })
        });
        // Read before binding the port, so a bad key stops lmgrd at once.
        let key = match &config.triad {
            Some(_) => triad_key(args.triad_key.as_deref(), &common.state_dir)?,
            None => None,
        };
        let (mut listener, port) = bind(listen_ip, config.port).map_err(|e| {
            let on = listen_ip.map_or_else(String::new, |ip| format!(" of {ip}"));
            io::Error::new(
                e.kind(),
                match config.port {
                    Some(p) => format!("cannot listen on port {p}{on}: {e}"),
                    None => format!("cannot listen on any port of 27000-27009{on}: {e}"),
                },
            )
        })?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGCHLD, SIGTERM, SIGINT, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let admin_socket = bind_admin_socket(&poll, &common.state_dir, port);
        let supervisor = Supervisor::new(
            config.vendors.iter().map(|v| v.name.clone()),
            Policy::default(),
        );
        let minutes = u64::from(args.timestamp_minutes.unwrap_or(360).max(1));
        let epoch = Instant::now();
        let triad = match &config.triad {
            Some(plan) => {
                let store = args
                    .triad_store
                    .clone()
                    .unwrap_or_else(|| default_store(&common.state_dir, plan));
                let wait = args.connect_timeout.unwrap_or(DEFAULT_TRIAD_WAIT_S);
                Some(
                    TriadNode::new(plan.clone(), &store, wait, key.as_ref().map(|k| &k[..]), 0)
                        .map_err(io::Error::other)?,
                )
            }
            None => None,
        };
        Ok(Daemon {
            poll,
            listener,
            port,
            signals,
            conns: HashMap::new(),
            next_conn: CONN_BASE,
            supervisor,
            config,
            list,
            licenses,
            common,
            notifies: HashMap::new(),
            epoch,
            args,
            hostname,
            stopping: None,
            next_timestamp: minutes * 60_000,
            policy,
            admin_socket,
            me,
            lmgrd_dir,
            triad,
            ready: None,
            exit_code: 0,
            guard: hostenv::conn_guard::ConnGuard::new(
                None,
                Some(MAX_CONNECTIONS),
                lmerr::LM_SERVER_MAXED_OUT,
            ),
        })
    }

    /// Where this lmgrd can be reached from this machine: its listening
    /// address, or loopback when it listens on every address.
    pub fn loopback_addr(&self) -> SocketAddr {
        let mut addr = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], self.port)));
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        addr
    }

    /// Who to tell once serving (see [`Readiness`]).
    pub fn tell_when_ready(&mut self, readiness: Readiness) {
        self.ready = Some(readiness);
    }

    /// Start-up is over when every vendor daemon is up or has failed once.
    /// If one refused to run at all, lmgrd stops with `EXIT_CONFIG` rather
    /// than look healthy while serving less than it was asked to.
    fn check_started(&mut self) {
        if self.ready.is_none() || self.stopping.is_some() || !self.supervisor.settled() {
            return;
        }
        let Some(readiness) = self.ready.take() else {
            return;
        };
        let refused = self.supervisor.refused_names().join(", ");
        if !refused.is_empty() {
            let why = format!(
                "vendor daemon(s) {refused} cannot run as configured (see the lines above)"
            );
            readiness.console.fail(&why);
            self.exit_code = i32::from(hostenv::state_dir::EXIT_CONFIG);
            self.stop_with(format!("EXITING: {why}"), false);
            return;
        }
        if let Some(pipe) = readiness.parent {
            let _ = std::fs::File::from(pipe).write_all(b"R");
        }
        let status = format!(
            "serving on port {}: {} vendor daemon(s)",
            self.port,
            self.supervisor.len()
        );
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&status),
        ]);
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Runs until shut down and every vendor daemon has exited.
    pub fn run(mut self) -> io::Result<i32> {
        log::info!("lmgrd tcp-port {}", self.port);
        if let Some(limits) = self.guard.describe() {
            log::info!("{limits}");
        }
        self.log_guard_notes();
        log::info!("Starting vendor daemons ... ");
        let mut events = Events::with_capacity(256);
        loop {
            // The triad first: after a restart its store's entries must be
            // in the replay list before a vendor daemon is started.
            self.pump_triad();
            let now = self.now();
            let actions = self.supervisor.tick(now);
            self.carry_out(actions);
            self.check_started();
            if self.stopping.is_some() && self.supervisor.all_stopped() {
                break;
            }
            if now >= self.next_timestamp {
                log::info!("TIMESTAMP {}", logfmt::timestamp_date());
                let minutes = u64::from(self.args.timestamp_minutes.unwrap_or(360).max(1));
                self.next_timestamp = now + minutes * 60_000;
            }
            let deadline = self
                .supervisor
                .next_deadline()
                .unwrap_or(u64::MAX)
                .min(self.next_timestamp)
                .min(
                    self.triad
                        .as_ref()
                        .map_or(u64::MAX, TriadNode::next_deadline),
                )
                .min(self.guard.next_due().unwrap_or(u64::MAX));
            let timeout = if self.guard.busy() {
                // A connection is owed a read: no sleeping.
                Duration::ZERO
            } else {
                Duration::from_millis(deadline.saturating_sub(self.now()).min(60_000))
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let owed = self.guard.take_turn();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    ADMIN_SOCKET => self.accept_admin(),
                    SIGNALS => self.on_signals(),
                    Token(t) if t >= NOTIFY_BASE => self.on_notify(t - NOTIFY_BASE),
                    token if self.triad.is_some() && triad_node::target(token).is_some() => {
                        let now = self.now();
                        if let (Some(node), Some(t)) =
                            (self.triad.as_mut(), triad_node::target(token))
                        {
                            node.on_event(
                                self.poll.registry(),
                                t,
                                event.is_readable() || event.is_read_closed(),
                                event.is_writable(),
                                now,
                            );
                        }
                    }
                    Token(t) => self.on_conn(t, event.is_readable(), event.is_writable()),
                }
            }
            for t in owed {
                self.on_conn(t, true, false);
            }
            self.guard_housekeeping();
        }
        let reason = self.stopping.clone().unwrap_or_default();
        log::info!("{reason}");
        Ok(self.exit_code)
    }

    /// Lets the triad member do what is due; a failed member stops lmgrd.
    fn pump_triad(&mut self) {
        let now = self.now();
        let Some(node) = self.triad.as_mut() else {
            return;
        };
        if let Some(e) = node.pump(self.poll.registry(), now) {
            log::error!("The triad member failed: {e}");
            self.stop_with(format!("EXITING: triad member failed: {e}"), false);
        }
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Log(line) => log::info!("{line}"),
                Action::Signal { pid, signal } => children::signal(pid, signal),
                Action::Spawn(idx) => self.spawn(idx),
            }
        }
    }

    fn spawn(&mut self, idx: usize) {
        let spec = self.config.vendors[idx].clone();
        let restarts = self.supervisor.restart_count(idx);
        let now = self.now();
        let link = match self.triad.as_mut() {
            Some(node) => match node.vendor_link(self.poll.registry(), idx, &spec.name, now) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    let msg = format!("cannot make the triad link for {}: {e}", spec.name);
                    let actions = self.supervisor.spawn_failed(idx, &msg, now);
                    self.carry_out(actions);
                    return;
                }
            },
            None => None,
        };
        let borrows = self.triad.as_ref().map(|t| {
            let store = t.store_path();
            store.with_file_name(format!("{}-line{}.borrows", spec.name, t.plan().me))
        });
        let triad = link.as_ref().zip(borrows.as_deref());
        let spawned = children::spawn(&spec, &self.common, restarts, self.policy, triad);
        // The child has its own copy of its end now; closing ours lets lmgrd
        // see the link close when the child goes.
        drop(link);
        if let Some(node) = self.triad.as_mut() {
            match &spawned {
                Ok(started) => node.vendor_started(idx, started.pid),
                Err(_) => node.vendor_not_started(self.poll.registry(), idx),
            }
        }
        match spawned {
            Ok(started) => {
                // The `Started` line follows once the daemon reports its port.
                if let Some(port) = spec.port {
                    log::info!("Using vendor daemon port {port} specified in license file");
                }
                let raw = started.notify.as_raw_fd();
                if let Err(e) = self.poll.registry().register(
                    &mut SourceFd(&raw),
                    Token(NOTIFY_BASE + idx),
                    Interest::READABLE,
                ) {
                    log::warn!("cannot watch {}'s start-up pipe: {e}", spec.name);
                }
                if let Some(old) = self.notifies.insert(
                    idx,
                    Notify {
                        fd: started.notify,
                        pid: started.pid,
                        buf: Vec::new(),
                    },
                ) {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&old.fd.as_raw_fd()));
                }
                self.supervisor.spawned(idx, started.pid, now);
            }
            Err(e) => {
                let msg = format!("{}: {e}", spec.program.display());
                let actions = self.supervisor.spawn_failed(idx, &msg, now);
                self.carry_out(actions);
            }
        }
    }

    fn on_notify(&mut self, idx: usize) {
        let Some(n) = self.notifies.get_mut(&idx) else {
            return;
        };
        if let Some(port) = children::read_port(&n.fd, &mut n.buf) {
            let pid = n.pid;
            if let Some(done) = self.notifies.remove(&idx) {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&done.fd.as_raw_fd()));
            }
            let actions = self.supervisor.port_reported(pid, port);
            self.carry_out(actions);
        }
    }

    fn on_signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for sig in pending {
            match sig {
                SIGCHLD => {
                    for exit in children::reap() {
                        let now = self.now();
                        let planned = self
                            .triad
                            .as_mut()
                            .is_some_and(|t| t.vendor_exited(self.poll.registry(), exit.pid));
                        let actions = if planned {
                            self.supervisor.exited_planned(exit.pid, &exit.how, now)
                        } else if exit.refused {
                            self.supervisor.refused(exit.pid, &exit.how)
                        } else {
                            self.supervisor.exited(exit.pid, &exit.how, now)
                        };
                        self.carry_out(actions);
                    }
                }
                SIGHUP => self.reopen_log(),
                other => self.begin_shutdown(other, false),
            }
        }
    }

    /// SIGHUP, after logrotate renamed the debug log: lmgrd and its vendor
    /// daemons (SIGUSR1) reopen it. Lines written meanwhile went to the
    /// renamed file, so none is lost. (lmreread rereads the license.)
    fn reopen_log(&mut self) {
        let Some(path) = self.common.debug_log.clone() else {
            log::info!("SIGHUP received: no debug log file to reopen (use lmreread to reread)");
            return;
        };
        match super::console::open_log(&path, true) {
            Ok(()) => log::info!("Debug log reopened: {}", path.display()),
            Err(e) => log::error!("Cannot reopen the debug log {}: {e}", path.display()),
        }
        for pid in self.supervisor.pids() {
            children::signal(pid, SIGUSR1);
        }
    }

    /// Stops every vendor daemon, then lmgrd, with FLEXlm's lines: lmdown
    /// (`requested`) ends as a SIGTERM does, with `EXITING DUE TO SIGNAL 15`.
    fn begin_shutdown(&mut self, signal: i32, requested: bool) {
        self.stop_with(logfmt::banner::exiting(signal), requested);
    }

    fn stop_with(&mut self, last_line: String, requested: bool) {
        if self.stopping.is_some() {
            return;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        log::info!("{}", logfmt::banner::WILL_SHUT_DOWN);
        // FLEXlm leaves an unprefixed blank line here.
        logfmt::write_raw("\n");
        self.stopping = Some(last_line);
        let now = self.now();
        let actions = self.supervisor.shutdown(now);
        self.carry_out(actions);
        if requested {
            log::info!("{}", logfmt::banner::SHUTDOWN_REQUESTED);
        }
    }

    /// Someone connected to the admin socket: kept like a TCP client (the
    /// guard's limits and deadlines apply), with the kernel's word on who
    /// it is.
    fn accept_admin(&mut self) {
        let Some(socket) = &self.admin_socket else {
            return;
        };
        let next_conn = &mut self.next_conn;
        let (accepted, result) = socket.accept_all(self.poll.registry(), || take_token(next_conn));
        let now = self.now();
        let unix_peer = SocketAddr::from(([0, 0, 0, 0], 0));
        for (token, stream, cred) in accepted {
            self.guard.opened(token, unix_peer, now);
            self.conns
                .insert(token, Conn::new(stream, unix_peer, ConnAuth::Kernel(cred)));
        }
        if let Err(e) = result {
            log::warn!("admin socket: accept failed: {e}");
        }
    }

    /// Accepts what the listener has waiting, as the guard admits it
    /// (those over a limit are refused with -106 and closed there).
    fn accept(&mut self) {
        let now = self.now();
        if let Some(node) = &self.triad {
            self.guard.set_peers(node.peer_ips());
        }
        for (mut stream, peer) in self.guard.accept(&self.listener, now) {
            let token = take_token(&mut self.next_conn);
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, Token(token), interest)
            {
                self.guard.not_opened(peer);
                log::warn!("Cannot watch the connection from {peer}: {e}");
                continue;
            }
            let _ = stream.set_nodelay(true);
            // The address this client reached, as the kernel says (the
            // listener may be on every address).
            let local = stream
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            self.guard.opened(token, peer, now);
            self.conns.insert(
                token,
                Conn::new(Stream::Tcp(stream), peer, ConnAuth::tcp(local, peer)),
            );
        }
        self.log_guard_notes();
    }

    /// Connections past a deadline are closed; a listener that stopped
    /// short of its queue is accepted from again.
    fn guard_housekeeping(&mut self) {
        let now = self.now();
        for (token, why) in self.guard.expired(now) {
            self.close_conn(token, &why);
        }
        if self.guard.accept_due(now) {
            self.accept();
        }
        self.log_guard_notes();
    }

    fn log_guard_notes(&mut self) {
        for note in self.guard.take_notes() {
            log::warn!("{note}");
        }
    }

    fn close_conn(&mut self, token: usize, reason: &str) {
        if let Some(mut c) = self.conns.remove(&token) {
            if !reason.is_empty() {
                log::info!("closing connection from {}: {reason}", c.peer);
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        self.guard.closed(token);
    }

    fn on_conn(&mut self, token: usize, readable: bool, writable: bool) {
        let mut close = None;
        if readable {
            close = self.read_conn(token);
        }
        if close.is_none() && (writable || readable) {
            close = self.flush(token);
        }
        if let Some(reason) = close {
            self.close_conn(token, &reason);
        }
    }

    /// Reads what the peer sent, answering each message as soon as it is
    /// whole (so no more than one frame is ever buffered), until it would
    /// block, its share of this turn is spent, or its unread replies reach
    /// the guard's cap (checked before each request, so no reply is queued
    /// over it). Returns a reason when the connection must close ("" for a
    /// plain hang-up).
    fn read_conn(&mut self, token: usize) -> Option<String> {
        let mut buf = [0u8; 8192];
        let mut budget = hostenv::fairness::Budget::per_turn();
        loop {
            let now = self.now();
            let c = self.conns.get_mut(&token)?;
            let pending = c.out.pending();
            let step = self.guard.step(
                token,
                &mut budget,
                &mut c.reader,
                &mut c.stream,
                &mut buf,
                pending,
                now,
            );
            let m = match step {
                Next::Message(m) => m,
                Next::Wait => return None,
                Next::Failed(e) => {
                    // Send what we owe before closing, when we can.
                    let _ = self.flush(token);
                    return Some(close_reason(&e));
                }
                Next::Drop(why) => return Some(why),
            };
            if let Message::TriadHello(h) = m {
                // The dialing side waits for our answer before it sends
                // more, so the client-sized reader here never holds a raft
                // frame: anything after the hello is refused.
                let alone = matches!(c.reader.next(&mut c.stream, &mut buf), Ok(None))
                    && c.reader.buffered() == 0;
                return self.adopt_peer(token, h, alone);
            }
            if let Err(e) = wire::text::check_request(&m) {
                // A string that could forge a log line or outgrow its
                // field: refused, named, and the connection closed.
                if let Some(c) = self.conns.get_mut(&token) {
                    c.out.push(&Message::Error(ErrorReply {
                        code: lmerr::LM_BADPARAM,
                        minor: 0,
                        text: format!("{} {e}", lmerr::text(lmerr::LM_BADPARAM)),
                    }));
                }
                let _ = self.flush(token);
                return Some(format!("refused: {e}"));
            }
            if let Some(reply) = self.handle(token, m) {
                if let Some(c) = self.conns.get_mut(&token) {
                    c.out.push(&reply);
                }
            }
        }
    }

    /// Another lmgrd of the triad introduced itself on the client port: if
    /// it is one of ours, the triad node takes the connection over.
    /// `alone`: nothing came after the hello (see
    /// [`answer::triad_hello`]).
    fn adopt_peer(&mut self, token: usize, hello: wire::TriadHello, alone: bool) -> Option<String> {
        let c = self.conns.get(&token)?;
        let (peer, on_admin_socket) = (c.peer, matches!(c.stream, Stream::Unix(_)));
        let triad = self.triad.as_ref().map(|t| t as &dyn TriadView);
        let member = match answer::triad_hello(triad, &hello, on_admin_socket, alone) {
            Ok(m) => m,
            Err(refusal) => {
                let why = refusal.to_string();
                if refusal.is_logged() {
                    self.log_triad_refusal(peer, u64::from(hello.member), &why);
                }
                if let Some(reply) = refusal.reply() {
                    if let Some(c) = self.conns.get_mut(&token) {
                        c.out.push(&reply);
                    }
                    let _ = self.flush(token);
                }
                return Some(why);
            }
        };
        let c = self.conns.remove(&token)?;
        self.guard.closed(token);
        let Stream::Tcp(stream) = c.stream else {
            return None;
        };
        let now = self.now();
        let nonce = hello.nonce.0;
        if let Some(node) = self.triad.as_mut() {
            node.adopt(self.poll.registry(), stream, c.peer, member, nonce, now);
        }
        None
    }

    /// A member retrying (or a stranger knocking) is logged once per
    /// address and reason, not at every try.
    fn log_triad_refusal(&mut self, peer: SocketAddr, member: u64, why: &str) {
        let now = self.now();
        match self.triad.as_mut() {
            Some(node) => node.refuse(self.poll.registry(), peer, member, why, now),
            None => log::warn!("{}", peer_links::refusal_line(peer, member, why)),
        }
    }

    fn flush(&mut self, token: usize) -> Option<String> {
        let c = self.conns.get_mut(&token)?;
        if let Err(e) = c.out.write_to(&mut c.stream) {
            return Some(close_reason(&e));
        }
        self.guard.wrote(token, c.out.pending());
        (c.out.pending() > MAX_PENDING_OUTPUT).then(|| "too much unread output".to_string())
    }

    /// What the answers see of lmgrd now.
    fn view(&self) -> View<'_> {
        View {
            supervisor: &self.supervisor,
            triad: self.triad.as_ref().map(|t| t as &dyn TriadView),
            port: self.port,
            hostname: &self.hostname,
            licenses: &self.licenses,
            policy: self.policy,
            now: self.now(),
        }
    }

    /// Answers one request of connection `token` (`answer.rs` decides)
    /// and carries out what the answer asks.
    fn handle(&mut self, token: usize, m: Message) -> Option<Message> {
        let request = if answer::is_admin(&m) {
            // Who asks is what the connection proves.
            let state_dir = &self.common.state_dir;
            let token_key = |name: &str| hostenv::admin_tokens::key(state_dir, name);
            let gate = admin_socket::Gate {
                port: self.port,
                socket: self.admin_socket.as_ref().map(|s| s.path.as_path()),
                token_key: &token_key,
            };
            self.conns.get_mut(&token)?.auth.sort(m, &gate)
        } else {
            Sorted::Other(m)
        };
        let c = self.conns.get(&token)?;
        let client = Client {
            user: &c.user,
            host: &c.host,
        };
        let outcome = answer::answer(&self.view(), &client, request);
        for action in outcome.actions {
            self.carry_out_answer(token, action);
        }
        Some(match outcome.reply {
            Reply::Now(m) => m,
            Reply::AfterReread { vendor } => Message::AdminReply(self.reread(&vendor)),
        })
    }

    fn carry_out_answer(&mut self, token: usize, action: answer::Action) {
        match action {
            answer::Action::Identify { user, host } => {
                if let Some(c) = self.conns.get_mut(&token) {
                    (c.user, c.host) = (user, host);
                }
            }
            answer::Action::Log(line) => log::info!("{line}"),
            answer::Action::ShutDown => self.begin_shutdown(libc::SIGTERM, true),
            answer::Action::StopVendor(vendor) => {
                let now = self.now();
                let actions = self.supervisor.stop_one(&vendor, now);
                self.carry_out(actions);
            }
        }
    }

    /// lmreread: read the license files again; if they can be served,
    /// start new vendor daemons, stop removed ones and tell the others
    /// (SIGHUP) to reread too.
    fn reread(&mut self, vendor: &str) -> AdminReply {
        let read = self.read_again();
        if let Err(refusal) = reread::check(read.as_ref().map(|(_, c)| c), vendor) {
            if let Some(line) = refusal.log {
                log::info!("{line}");
            }
            return refusal.reply;
        }
        let Ok((licenses, fresh)) = read else {
            return reread::done();
        };
        self.licenses = licenses;
        let now = self.now();
        let actions = reread::apply(&mut self.config, &mut self.supervisor, &fresh, vendor, now);
        self.carry_out(actions);
        reread::done()
    }

    /// The license list read again: the files served and their
    /// configuration. Problems in the files are logged as they are found.
    fn read_again(&self) -> Result<(Vec<PathBuf>, ServeConfig), RereadError> {
        let hostenv::license_list::Combined { served, skipped } = config::read_list(&self.list)?;
        super::console::log_license_problems(&served, &skipped);
        let fresh = config::from_files(&served, &self.me, &self.lmgrd_dir, self.args.server_line)?;
        Ok((served.into_iter().map(|(p, _)| p).collect(), fresh))
    }
}

/// Binds lmgrd's admin socket in the state directory and watches it; a
/// daemon that cannot still serves, its administrators' requests coming
/// over TCP (where `-2 -p` refuses them).
fn bind_admin_socket(poll: &Poll, state_dir: &std::path::Path, port: u16) -> Option<AdminSocket> {
    let path = admin_socket::path(state_dir, "lmgrd", port);
    let bound = AdminSocket::bind(path.clone()).and_then(|mut s| {
        poll.registry()
            .register(&mut s.listener, ADMIN_SOCKET, Interest::READABLE)
            .map(|()| s)
    });
    match bound {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!(
                "No local admin socket at {}: {e}; admin requests come over TCP only",
                path.display()
            );
            None
        }
    }
}

/// How long a triad member waits quietly for a majority at start-up when
/// `-t` does not say: FLEXlm's default.
const DEFAULT_TRIAD_WAIT_S: u32 = 10;

/// Where a triad member keeps its raft state unless `-triad-store` says:
/// in the state directory, named by its SERVER line, so three members
/// sharing a directory (one test machine) each have their own.
/// The triad key: `-triad-key FILE`, else `triad.key` in the state
/// directory when there is one. Without one, lmgrd warns that its triad
/// links are not authenticated.
fn triad_key(
    given: Option<&std::path::Path>,
    state_dir: &std::path::Path,
) -> io::Result<Option<[u8; hostenv::triad_key::KEY_LEN]>> {
    let default = state_dir.join(hostenv::triad_key::FILE);
    let path = given.unwrap_or(&default);
    let key = hostenv::triad_key::load(path, given.is_none())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    match &key {
        Some(_) => log::info!(
            "Triad links are authenticated with the key in \"{}\"",
            path.display()
        ),
        None => log::warn!(
            "WARNING: triad links are not authenticated: anyone who can reach this port with the license file can pose as a member. Create a key with `lmutil lmtriadkey -o {}` (mode 0600), copy it to all three members, and restart them one at a time (or name it with -triad-key)",
            path.display()
        ),
    }
    Ok(key)
}

fn default_store(state_dir: &std::path::Path, plan: &TriadPlan) -> PathBuf {
    state_dir.join(format!("lmgrd-line{}.triad", plan.me))
}

/// What the debug log says when a client connection ends: nothing for a
/// plain hang-up.
fn close_reason(e: &LinkError) -> String {
    if e.is_hang_up() {
        String::new()
    } else {
        e.to_string()
    }
}

/// The token for a new client connection: the next one, wrapping round
/// below the vendor links' tokens.
fn take_token(next_conn: &mut usize) -> usize {
    let token = *next_conn;
    *next_conn = if token + 1 >= VENDOR_LINK_BASE {
        CONN_BASE
    } else {
        token + 1
    };
    token
}
