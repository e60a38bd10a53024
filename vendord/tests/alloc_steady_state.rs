//! The vendor daemon's serving path allocates nothing once it is warm.
//!
//! A counting global allocator, the real event loop (`vendord::server`)
//! serving a license signed here with the demo publisher's key, in a
//! thread of this process, and a client in the test's own thread that
//! talks to it over loopback TCP. After a warm-up, the test counts the
//! allocations the server's thread makes over many Checkout → Granted →
//! Checkin → CheckedIn cycles (on a plain feature and on a DUP_GROUP one),
//! and over many heartbeats of a connection that holds a seat, and asserts
//! that there are none. A second test does the same with many connections
//! in step, which the loop serves several to a turn.
//!
//! Only the server's thread is counted: it sets a thread-local flag before
//! it serves, and the allocator looks at that flag. The client thread may
//! then allocate as it likes (it decodes the replies with `wire`, which is
//! simpler and checks more than reading raw bytes) without blurring the
//! figure, and the test harness's own threads are never counted. Between
//! two readings of the counter the client has had every reply it waited
//! for, so the window covers whole cycles; whatever the server does at the
//! edges of the window (the end of a turn) belongs to a warm cycle too.
//!
//! With `ALLOC_TRACE=1` every counted allocation in a measured window
//! prints a backtrace, which is how the allocations were found:
//! `ALLOC_TRACE=1 cargo test -p vendord --test alloc_steady_state -- --nocapture`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wire::{Checkin, Checkout, ClientIdentity, Heartbeat, Hello, Message};

struct Counting;

/// Measuring windows open (each test has its own server and counter;
/// they may run at the same time): only then are allocations traced.
static WINDOWS: AtomicU32 = AtomicU32::new(0);
/// `ALLOC_TRACE` was set.
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set on a server's thread: the counter of its allocations (and
    /// reallocations).
    static COUNTER: Cell<Option<&'static AtomicU64>> = const { Cell::new(None) };
    /// A backtrace is being taken (its own allocations are not counted).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let Some(counter) = COUNTER.try_with(Cell::get).ok().flatten() else {
        return;
    };
    if TRACING.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    counter.fetch_add(1, Ordering::Relaxed);
    if TRACE.load(Ordering::Relaxed) && WINDOWS.load(Ordering::Relaxed) > 0 {
        TRACING.with(|t| t.set(true));
        let trace = std::backtrace::Backtrace::force_capture();
        eprintln!("allocation on the server's thread:\n{trace}");
        TRACING.with(|t| t.set(false));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// bookkeeping around it allocates nothing (an atomic add, thread-local
// flags with constant initialisers).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Cycles before counting starts.
const WARM_UP: u32 = 1_000;
/// Cycles counted, unless `ALLOC_CYCLES` says otherwise (a trace of one
/// cycle is easier to read than one of ten thousand).
fn cycles() -> u32 {
    std::env::var("ALLOC_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Seats of each feature: enough for every connection of the tests.
const SEATS: u32 = 1_000;

/// A license of the demo vendor, signed here with the demo publisher's
/// key (which the daemon has built in): `f1` floating, `f2` shared by
/// user and host (DUP_GROUP=UH).
fn signed_license(dir: &Path) -> PathBuf {
    let f1 = format!("FEATURE f1 demo 1.0 permanent {SEATS} NOTICE=\"allocation test\"");
    let f2 = format!("FEATURE f2 demo 2.5 permanent {SEATS} DUP_GROUP=UH");
    let lines = ["SERVER this_host ANY", "VENDOR demo", &f1, &f2];
    common::sign_lines(dir, "alloc.lic", &lines, |l| l.starts_with("FEATURE"))
}

/// A server running in a thread of this process.
struct Served {
    addr: SocketAddr,
    /// Allocations its thread has made.
    allocs: &'static AtomicU64,
}

impl Served {
    /// Allocations the server's thread made while `work` ran.
    fn measured(&self, work: impl FnOnce()) -> u64 {
        let before = self.allocs.load(Ordering::SeqCst);
        WINDOWS.fetch_add(1, Ordering::SeqCst);
        work();
        WINDOWS.fetch_sub(1, Ordering::SeqCst);
        self.allocs.load(Ordering::SeqCst) - before
    }
}

/// The debug log goes where the daemon's would, through the same logger,
/// only into /dev/null: its formatting is part of each cycle.
fn log_to_null() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .expect("/dev/null");
        let log = logfmt::DebugLog::new("demo").with_fd(null.as_raw_fd());
        // The logger outlives the tests; so must its descriptor.
        std::mem::forget(null);
        logfmt::try_init(log).expect("the only logger of this test binary");
    });
}

/// Starts the real event loop on a signed license, on a loopback port of
/// the system's choosing, in a thread whose allocations are counted.
fn start_server() -> Served {
    TRACE.store(
        std::env::var_os("ALLOC_TRACE").is_some_and(|v| v != "0"),
        Ordering::SeqCst,
    );
    log_to_null();
    let allocs: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let license = signed_license(dir.path());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("vendord".into())
        .spawn(move || {
            let keys = vendord::daemon::demo_keys();
            let today = vendord::server::local_today();
            let licensed = vendord::startup::load_license(&license, keys.publisher(), today)
                .expect("the signed license");
            assert!(licensed.problems.is_empty(), "{:?}", licensed.problems);
            drop(dir);
            let mut config = accounting::Config::new("demo");
            licensed.configure(&mut config);
            config.keys = Some(Arc::new(keys));
            let core = accounting::Core::new(licensed.pools, today, config);
            let addr: SocketAddr = "127.0.0.1:0".parse().expect("an address");
            let mut server =
                vendord::server::Server::bind(addr, core, vendord::server::local_today)
                    .expect("bind a loopback port");
            tx.send(server.local_addr().expect("its address"))
                .expect("the test waits for the address");
            COUNTER.with(|c| c.set(Some(allocs)));
            // Serves until the process ends with the test.
            let _ = server.run();
        })
        .expect("start the server's thread");
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server starts");
    Served { addr, allocs }
}

/// A client that sends frames and waits for each reply.
struct Client {
    stream: TcpStream,
    /// Replies are read into this, whole frames at a time.
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, user: &str) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut c = Client {
            stream,
            buf: vec![0; wire::frame::HEADER_LEN + wire::frame::DEFAULT_MAX_PAYLOAD],
        };
        let hello = Message::Hello(Hello {
            identity: ClientIdentity {
                user: user.into(),
                host: "ws1".into(),
                display: "ws1:0".into(),
                pid: 4242,
                platform: "x64_lsb".into(),
                hostids: vec!["INTERNET=127.0.0.1".into()],
                client_version: "test".into(),
                job: 77,
                project: String::new(),
            },
        });
        match c.ask(&hello.to_frame_bytes()) {
            Message::Welcome(w) => assert_eq!(w.server, "demo"),
            other => panic!("expected Welcome, got {other:?}"),
        }
        c
    }

    /// Sends one encoded frame and reads the one reply.
    fn ask(&mut self, frame: &[u8]) -> Message {
        self.send(frame);
        self.recv()
    }

    fn send(&mut self, frame: &[u8]) {
        self.stream.write_all(frame).expect("send");
    }

    /// The next reply.
    fn recv(&mut self) -> Message {
        let header = wire::frame::HEADER_LEN;
        self.stream
            .read_exact(&mut self.buf[..header])
            .expect("a reply header");
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        self.stream
            .read_exact(&mut self.buf[header..header + len])
            .expect("a reply payload");
        let mut d = wire::MessageDecoder::new(wire::frame::DEFAULT_MAX_PAYLOAD);
        d.feed(&self.buf[..header + len]);
        d.next_message()
            .expect("a well-formed reply")
            .expect("a whole reply")
    }
}

fn checkout_frame(req: u32, feature: &str) -> Vec<u8> {
    Message::Checkout(Checkout {
        req,
        feature: feature.into(),
        version: "1.0".into(),
        count: 1,
        ..Checkout::default()
    })
    .to_frame_bytes()
}

/// One checkout and its checkin, with the replies checked.
fn cycle(c: &mut Client, checkout: &[u8], checkin: &mut Vec<u8>) {
    let handle = match c.ask(checkout) {
        Message::Granted(g) => g.handle,
        other => panic!("expected Granted, got {other:?}"),
    };
    checkin.clear();
    Message::Checkin(Checkin { req: 2, handle }).encode(checkin);
    match c.ask(checkin) {
        Message::CheckedIn(ci) => assert_eq!(ci.handle, handle),
        other => panic!("expected CheckedIn, got {other:?}"),
    }
}

fn per_cycle(allocs: u64, cycles: u32) -> f64 {
    allocs as f64 / f64::from(cycles)
}

fn granted(m: Message) -> u64 {
    match m {
        Message::Granted(g) => g.handle,
        other => panic!("expected Granted, got {other:?}"),
    }
}

fn report(results: &[(String, u64)], cycles: u32) {
    for (what, allocs) in results {
        eprintln!(
            "{what}: {allocs} allocations on the server's thread in {cycles} cycles after \
             warm-up ({:.2} per cycle)",
            per_cycle(*allocs, cycles)
        );
    }
}

#[test]
fn checkout_checkin_and_heartbeat_allocate_nothing_once_warm() {
    let cycles = cycles();
    let server = start_server();
    let mut checkin = Vec::new();
    let mut results = Vec::new();

    // f1: a plain floating feature; f2: DUP_GROUP=UH, so each checkout
    // joins the seat its user and host share.
    for feature in ["f1", "f2"] {
        let mut c = Client::connect(server.addr, &format!("user-{feature}"));
        let checkout = checkout_frame(1, feature);
        for _ in 0..WARM_UP {
            cycle(&mut c, &checkout, &mut checkin);
        }
        let allocs = server.measured(|| {
            for _ in 0..cycles {
                cycle(&mut c, &checkout, &mut checkin);
            }
        });
        results.push((format!("checkout+checkin of {feature}"), allocs));
    }

    // Heartbeats of a connection that holds a seat (its place in the
    // timeout index moves with each one).
    let mut c = Client::connect(server.addr, "holder");
    granted(c.ask(&checkout_frame(1, "f1")));
    let beat = Message::Heartbeat(Heartbeat {
        seq: 1,
        idle: false,
    })
    .to_frame_bytes();
    let mut heartbeat = || match c.ask(&beat) {
        Message::HeartbeatAck(a) => assert_eq!(a.seq, 1),
        other => panic!("expected HeartbeatAck, got {other:?}"),
    };
    for _ in 0..WARM_UP {
        heartbeat();
    }
    let allocs = server.measured(|| {
        for _ in 0..cycles {
            heartbeat();
        }
    });
    results.push(("heartbeat".to_string(), allocs));

    report(&results, cycles);
    for (what, allocs) in &results {
        assert_eq!(*allocs, 0, "{what} allocated once warm");
    }
}

/// Connections served together: each round sends a checkout on every one
/// before reading the grants, then a checkin on every one, so that the
/// loop serves many in one turn, and seats, indexes and log lines of many
/// holders are in play at once.
const CONNECTIONS: usize = 100;
/// Rounds before counting, and rounds counted.
const WARM_UP_ROUNDS: u32 = 50;
const ROUNDS: u32 = 100;

#[test]
fn many_connections_in_step_allocate_nothing_once_warm() {
    let server = start_server();
    let mut clients: Vec<Client> = (0..CONNECTIONS)
        .map(|i| Client::connect(server.addr, &format!("user{i}")))
        .collect();
    let checkout = checkout_frame(1, "f1");
    let mut handles = vec![0u64; CONNECTIONS];
    let mut checkin = Vec::new();
    let mut round = |clients: &mut [Client]| {
        for c in clients.iter_mut() {
            c.send(&checkout);
        }
        for (c, h) in clients.iter_mut().zip(&mut handles) {
            *h = granted(c.recv());
        }
        for (c, &h) in clients.iter_mut().zip(&handles) {
            checkin.clear();
            Message::Checkin(Checkin { req: 2, handle: h }).encode(&mut checkin);
            c.send(&checkin);
        }
        for (c, &h) in clients.iter_mut().zip(&handles) {
            match c.recv() {
                Message::CheckedIn(ci) => assert_eq!(ci.handle, h),
                other => panic!("expected CheckedIn, got {other:?}"),
            }
        }
    };
    for _ in 0..WARM_UP_ROUNDS {
        round(&mut clients);
    }
    let cycles = ROUNDS * CONNECTIONS as u32;
    let cycled = server.measured(|| {
        for _ in 0..ROUNDS {
            round(&mut clients);
        }
    });

    // Every connection holds a seat and heartbeats, all in step.
    for c in &mut clients {
        granted(c.ask(&checkout));
    }
    let beat = Message::Heartbeat(Heartbeat {
        seq: 7,
        idle: false,
    })
    .to_frame_bytes();
    let beats = |clients: &mut [Client]| {
        for c in clients.iter_mut() {
            c.send(&beat);
        }
        for c in clients.iter_mut() {
            match c.recv() {
                Message::HeartbeatAck(a) => assert_eq!(a.seq, 7),
                other => panic!("expected HeartbeatAck, got {other:?}"),
            }
        }
    };
    for _ in 0..WARM_UP_ROUNDS {
        beats(&mut clients);
    }
    let beaten = server.measured(|| {
        for _ in 0..ROUNDS {
            beats(&mut clients);
        }
    });
    let results = [
        (
            format!("checkout+checkin, {CONNECTIONS} connections in step"),
            cycled,
        ),
        (format!("heartbeat, {CONNECTIONS} holders in step"), beaten),
    ];
    report(&results, cycles);
    for (what, allocs) in &results {
        assert_eq!(*allocs, 0, "{what} allocated once warm");
    }
}
