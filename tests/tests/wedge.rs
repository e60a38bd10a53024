//! lmgrd and the vendor daemon against clients that try to take them
//! over: idle connections until no descriptor is left, more connections
//! than MAX_CONNECTIONS or than one address may hold, peers that write
//! requests without reading the replies, heartbeat storms, and peers that
//! never finish their first message or a frame. Each attack is bounded in
//! connections and time; good clients are timed while it runs.
//!
//! The figures asserted here are the ones `docs/security.md` states.

use e2e::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::io::Link;
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(20);

/// One attack at a time: each opens hundreds of connections (whose local
/// ports another test's daemon could otherwise pick) and times clients.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}
/// The open-file limit the exhaustion test runs the daemons under.
const FD_LIMIT: u64 = 256;
/// Idle connections opened against each daemon in that test: more than
/// the limit.
const IDLE: usize = 300;
/// A good client's checkout p99 while a storm runs, and lmgrd's peak RSS
/// growth during a StatusQuery blast (see docs/security.md).
const P99_BOUND: Duration = Duration::from_millis(250);
/// The slowest new client (lookup, Hello, checkout) during a storm.
const NEW_CLIENT_BOUND: Duration = Duration::from_secs(1);
const BLAST_RSS_BOUND_KIB: u64 = 16 * 1024;
/// lmgrd's peak RSS growth while 800 connections hold incomplete frames
/// of 64 KB (52 MB of them): the 32 MiB bound and the allocator's due.
const PARTIAL_RSS_BOUND_KIB: u64 = 40 * 1024;
/// How long each storm runs.
const STORM: Duration = Duration::from_secs(4);

/// lmgrd's soft open-file limit once it serves, in the exhaustion test.
const LOWERED_LIMIT: u64 = 128;

/// Sets the soft open-file limit of the running process `pid`.
fn set_soft_limit(pid: u32, soft: u64) {
    let rl = libc::rlimit {
        rlim_cur: soft,
        rlim_max: FD_LIMIT,
    };
    // SAFETY: prlimit reads the struct we own; the process is our child.
    let rc = unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &rl, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("running");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A connection to `to` from the loopback address `from`.
fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(from, 0).into()).unwrap();
    s.connect_timeout(&to.into(), Duration::from_secs(5))
        .expect("the kernel completes the connection");
    s.into()
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn hello_msg(user: &str) -> Message {
    Message::Hello(wire::Hello {
        identity: e2e::client_identity(user, 0),
    })
}

/// Says hello on `s` and returns the answer (a Welcome, or a refusal).
fn hello_on(s: TcpStream) -> (Link<TcpStream>, Option<Message>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut link = Link::new(s, 1 << 20);
    let _ = link.send(&hello_msg("e2e"));
    let reply = link.recv().ok();
    (link, reply)
}

fn expect_refusal(reply: Option<Message>, code: i32, minor: i32) -> String {
    match reply {
        Some(Message::Error(e)) if e.code == code && e.minor == minor => e.text,
        other => panic!("expected error {code} (minor {minor}), got {other:?}"),
    }
}

/// Starts lmgrd on the demo license with `options` as its vendor daemon's
/// options file, with `env`, its open-file limit (soft and hard: both
/// daemons raise the soft one to the hard one) at `fd_limit` if given.
fn start(tag: &str, options: &str, env: &[(&str, &str)], fd_limit: Option<u64>) -> Server {
    let dir = tempdir(tag);
    let port = free_port();
    let license = license_with_options("demo.lic", &dir, port, options);
    let mut cmd = Command::new(bin("lmgrd"));
    cmd.arg("-z").arg("-c").arg(&license);
    cmd.envs(env.iter().copied());
    if let Some(n) = fd_limit {
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Server::start_command(cmd, &license, port)
}

/// Lines of the log from `daemon` containing `needle`.
fn count_lines(server: &Server, daemon: &str, needle: &str) -> usize {
    let tag = format!("({daemon}) ");
    server
        .log_text()
        .lines()
        .filter(|l| l.contains(&tag) && l.contains(needle))
        .count()
}

/// Opens `n` idle connections to `to`, spread over 127.0.0.2 to .5 so that
/// no address reaches its own limit first.
fn idle_connections(to: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| connect_from(loopback(2 + (i % 4) as u8), to))
        .collect()
}

/// Waits until a new client gets its answer from `what`; returns how long
/// that took.
fn time_to_serve(what: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !what() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no client served within 5 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

#[test]
fn exhausted_descriptors_never_wedge_either_daemon() {
    let _serial = one_at_a_time();
    let server = start("wedge-fds", "", &[], Some(FD_LIMIT));
    let lmgrd_pid = server.child.id();
    let vendord_pid = server.vendord_pid() as u32;
    let lmgrd = server.lmgrd_addr();
    let vendord = server.vendord_addr();
    let mut good_lmgrd = Peer::hello(lmgrd, "good", 1);
    let mut good_vendord = Peer::hello(vendord, "good", 2);

    // lmgrd: its soft limit lowered under it, below the connection limit
    // it worked out at start, so that accepting really fails with EMFILE;
    // then more idle connections than it has descriptors for.
    set_soft_limit(lmgrd_pid, LOWERED_LIMIT);
    let idle = idle_connections(lmgrd, IDLE);
    server.wait_log(
        WAIT,
        "(lmgrd) Refusing new connections: This license server system can handle no more \
         concurrent clients since it is out of file descriptors",
    );
    // (Descriptors opened before the limit was lowered may lie above it.)
    assert!(open_fds(lmgrd_pid) as u64 <= FD_LIMIT);
    // Its clients are still served meanwhile; a new one is refused in
    // words it understands.
    let lookup = Message::VendorLookup(wire::VendorLookup {
        vendor: "demo".into(),
    });
    assert!(matches!(
        good_lmgrd.request(&lookup),
        Message::VendorInfo(_)
    ));
    let (_, reply) = hello_on(connect_from(loopback(1), lmgrd));
    expect_refusal(reply, lmerr::LM_SERVER_MAXED_OUT, 3);
    // The attackers go: the next client is served within a second.
    drop(idle);
    let took = time_to_serve(|| matches!(Peer::try_vendor_port(lmgrd, "demo"), Some(Ok(_))));
    eprintln!("lmgrd served a new client {took:?} after the idle connections closed");
    assert!(
        took < Duration::from_secs(1),
        "lmgrd served again after {took:?}"
    );
    assert_eq!(
        count_lines(&server, "lmgrd", "Refusing new connections"),
        1,
        "one line for the burst:\n{}",
        server.log_text()
    );

    // The vendor daemon, likewise, against the connection limit it set
    // below its descriptors (FD_LIMIT less those kept back).
    let idle = idle_connections(vendord, IDLE);
    server.wait_log(WAIT, "(demo) Refusing new connections");
    assert!(open_fds(vendord_pid) as u64 <= FD_LIMIT);
    let h = good_vendord
        .checkout_handle(1, "f1", 1)
        .expect("a client connected before is served");
    let (_, reply) = hello_on(connect_from(loopback(1), vendord));
    expect_refusal(reply, lmerr::LM_VD_MAX_CLIENTS_REACHED, 1);
    drop(idle);
    let took = time_to_serve(|| {
        Peer::try_hello(vendord, "next", 3)
            .is_some_and(|mut p| p.checkout_handle(1, "f1", 1).is_ok())
    });
    eprintln!("vendord served a new client {took:?} after the idle connections closed");
    assert!(
        took < Duration::from_secs(1),
        "vendord served again after {took:?}"
    );
    assert_ne!(h, 0);
    assert_eq!(count_lines(&server, "demo", "Refusing new connections"), 1);
    // Once quiet, each burst is summed up with its count.
    server.wait_log(
        WAIT,
        "connection(s) refused because the process is out of file descriptors",
    );
    server.wait_log(
        WAIT,
        "connection(s) refused because the connection limit is reached",
    );
}

#[test]
fn max_connections_and_the_per_address_limit_refuse_with_237() {
    let _serial = one_at_a_time();
    let server = start(
        "wedge-max",
        "MAX_CONNECTIONS 4\n",
        &[("LM_MAX_CONNECTIONS_PER_ADDRESS", "3")],
        None,
    );
    let vendord = server.vendord_addr();
    server.wait_log(WAIT, "(demo) Connection limits: 4 in all, 3 per address");
    // Three from one address; the fourth from it is refused.
    let mut held: Vec<Peer> = (0..3).map(|i| Peer::hello(vendord, "u", 10 + i)).collect();
    let (_, reply) = hello_on(connect_from(loopback(1), vendord));
    let text = expect_refusal(reply, lmerr::LM_VD_MAX_CLIENTS_REACHED, 2);
    assert!(text.contains("at most 3 per address"), "{text}");
    // Another address gets the last slot; beyond it, MAX_CONNECTIONS.
    let (_other, reply) = hello_on(connect_from(loopback(2), vendord));
    assert!(matches!(reply, Some(Message::Welcome(_))), "{reply:?}");
    let (_, reply) = hello_on(connect_from(loopback(3), vendord));
    let text = expect_refusal(reply, lmerr::LM_VD_MAX_CLIENTS_REACHED, 1);
    assert!(text.contains("limit of 4 client connections"), "{text}");
    // An application is told the same, in FLEXlm's words.
    let out = Command::new(bin("lmflex"))
        .args(["f1", "--hold", "0"])
        .env("LM_LICENSE_FILE", server.at())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("-237,"), "{said}");
    // Those let in are served; when one goes, its slot is free again.
    assert!(held[0].checkout_handle(1, "f1", 1).is_ok());
    held.pop();
    wait_until(WAIT, "a slot to free up", || {
        Peer::try_hello(vendord, "again", 20).is_some()
    });

    // lmgrd applies the per-address limit too (its own error, -106).
    let lmgrd = server.lmgrd_addr();
    let _a = Peer::hello(lmgrd, "a", 0);
    let _b = Peer::hello(lmgrd, "b", 0);
    let _c = Peer::hello(lmgrd, "c", 0);
    let (_, reply) = hello_on(connect_from(loopback(1), lmgrd));
    expect_refusal(reply, lmerr::LM_SERVER_MAXED_OUT, 2);
    assert!(Peer::try_vendor_port(SocketAddr::new(loopback(1), server.port), "demo").is_none());
}

/// Checkouts and checkins by one good client for `STORM`, on a connection
/// it holds (as an application does); the latencies of its checkouts,
/// sorted. A new client's whole way (lmgrd's lookup, Hello, checkout) is
/// timed too, once per 50 checkouts, as the last element's rival: the
/// slowest of those is returned second.
fn good_client_checkouts(server: &Server) -> (Vec<Duration>, Duration) {
    let port = Peer::vendor_port(server.lmgrd_addr(), "demo").expect("vendor lookup");
    let vendord = SocketAddr::from(([127, 0, 0, 1], port));
    let mut p = Peer::hello(vendord, "good", 0);
    let deadline = Instant::now() + STORM;
    let mut took = Vec::new();
    let mut slowest_new = Duration::ZERO;
    let mut req = 0;
    while Instant::now() < deadline {
        req += 1;
        if req % 50 == 1 {
            let start = Instant::now();
            let port = Peer::vendor_port(server.lmgrd_addr(), "demo").expect("vendor lookup");
            let mut fresh = Peer::hello(SocketAddr::from(([127, 0, 0, 1], port)), "new", 0);
            fresh.checkout_handle(1, "f1", 1).expect("granted");
            slowest_new = slowest_new.max(start.elapsed());
        }
        let start = Instant::now();
        let handle = p.checkout_handle(req, "f1", 1).expect("granted");
        took.push(start.elapsed());
        let reply = p.request(&Message::Checkin(wire::Checkin { req, handle }));
        assert!(matches!(reply, Message::CheckedIn(_)), "{reply:?}");
    }
    took.sort();
    (took, slowest_new)
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

/// Writes `frame` on `s` over and over until `stop`, never reading.
fn blast(mut s: TcpStream, frame: Vec<u8>, stop: Arc<AtomicBool>) {
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let burst: Vec<u8> = frame.repeat(64);
    while !stop.load(Ordering::Relaxed) {
        match s.write(&burst) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

#[test]
fn a_status_query_blast_leaves_lmgrd_small_and_clients_served() {
    let _serial = one_at_a_time();
    let server = start("wedge-blast", "", &[], None);
    let pid = server.child.id();
    let baseline = good_client_checkouts(&server);
    let before = status_kib(pid, "VmHWM");
    let stop = Arc::new(AtomicBool::new(false));
    let mut frame = Vec::new();
    Message::StatusQuery(wire::StatusQuery {
        feature: String::new(),
        ..Default::default()
    })
    .encode(&mut frame);
    let blasters: Vec<_> = (0..4)
        .map(|_| {
            let s = TcpStream::connect(server.lmgrd_addr()).unwrap();
            let (frame, stop) = (frame.clone(), Arc::clone(&stop));
            std::thread::spawn(move || blast(s, frame, stop))
        })
        .collect();
    let during = good_client_checkouts(&server);
    let peak = status_kib(pid, "VmHWM");
    stop.store(true, Ordering::Relaxed);
    for b in blasters {
        b.join().unwrap();
    }
    eprintln!(
        "lmgrd StatusQuery blast: {} checkouts, p99 {:?}, slowest new client {:?} \
         (before: {} checkouts, p99 {:?}, {:?}); peak RSS {} -> {} KiB",
        during.0.len(),
        p99(&during.0),
        during.1,
        baseline.0.len(),
        p99(&baseline.0),
        baseline.1,
        before,
        peak
    );
    assert!(
        peak <= before + BLAST_RSS_BOUND_KIB,
        "lmgrd's peak RSS grew from {before} KiB to {peak} KiB"
    );
    assert!(
        p99(&during.0) < P99_BOUND && during.1 < NEW_CLIENT_BOUND,
        "checkout p99 {:?}, a new client's {:?} during the blast",
        p99(&during.0),
        during.1
    );
}

#[test]
fn a_heartbeat_storm_does_not_hold_up_checkouts() {
    let _serial = one_at_a_time();
    let server = start("wedge-storm", "", &[], None);
    let vendord = server.vendord_addr();
    let vendord_pid = server.vendord_pid() as u32;
    let baseline = good_client_checkouts(&server);
    let before = status_kib(vendord_pid, "VmHWM");
    let stop = Arc::new(AtomicBool::new(false));
    let mut frame = Vec::new();
    Message::Heartbeat(wire::Heartbeat {
        seq: 1,
        idle: false,
    })
    .encode(&mut frame);
    let mut threads = Vec::new();
    for i in 0..60u64 {
        let s = TcpStream::connect(vendord).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut link = Link::new(s.try_clone().unwrap(), 1 << 20);
        link.send(&hello_msg(&format!("storm{i}"))).unwrap();
        assert!(matches!(link.recv(), Ok(Message::Welcome(_))));
        // This storm reads its acknowledgements: it is never paused, so
        // only the share per turn keeps it from the others.
        let mut reader = s.try_clone().unwrap();
        let stop_r = Arc::clone(&stop);
        threads.push(std::thread::spawn(move || {
            reader
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            while !stop_r.load(Ordering::Relaxed) {
                match reader.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        }));
        let (frame, stop) = (frame.clone(), Arc::clone(&stop));
        threads.push(std::thread::spawn(move || blast(s, frame, stop)));
    }
    let during = good_client_checkouts(&server);
    let peak = status_kib(vendord_pid, "VmHWM");
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    eprintln!(
        "vendord heartbeat storm: {} checkouts, p99 {:?}, slowest new client {:?} \
         (before: {} checkouts, p99 {:?}, {:?}); peak RSS {before} -> {peak} KiB",
        during.0.len(),
        p99(&during.0),
        during.1,
        baseline.0.len(),
        p99(&baseline.0),
        baseline.1
    );
    assert!(
        peak <= before + BLAST_RSS_BOUND_KIB,
        "vendord's peak RSS grew from {before} KiB to {peak} KiB"
    );
    assert!(
        p99(&during.0) < P99_BOUND && during.1 < NEW_CLIENT_BOUND,
        "checkout p99 {:?}, a new client's {:?} during the storm",
        p99(&during.0),
        during.1
    );
}

/// Reads from `s` until the server closes it; panics after `within`.
fn wait_closed(mut s: TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("not closed within {within:?}: {e}"),
        }
        assert!(start.elapsed() < within, "not closed within {within:?}");
    }
}

#[test]
fn silent_slow_and_deaf_peers_are_closed_after_their_deadline() {
    let _serial = one_at_a_time();
    let server = start("wedge-slow", "", &[("LM_PEER_TIMEOUT_MS", "500")], None);
    let lmgrd = server.lmgrd_addr();
    let vendord = server.vendord_addr();
    server.wait_log(WAIT, "(lmgrd) Connection limits: ");
    let limit = Duration::from_secs(5);

    // A connection that never says anything.
    let silent = TcpStream::connect(lmgrd).unwrap();
    let took = wait_closed(silent, limit);
    assert!(took >= Duration::from_millis(400), "closed after {took:?}");
    server.wait_log(WAIT, "no whole message within 500 ms");

    // One that stops one byte short of a frame, after its Hello.
    let (mut link, reply) = hello_on(TcpStream::connect(vendord).unwrap());
    assert!(matches!(reply, Some(Message::Welcome(_))));
    let mut frame = Vec::new();
    Message::Heartbeat(wire::Heartbeat {
        seq: 1,
        idle: false,
    })
    .encode(&mut frame);
    frame.pop();
    link.send_bytes(&frame).unwrap();
    let (stream, _) = link.into_parts();
    wait_closed(stream, limit);
    server.wait_log(WAIT, "a frame left incomplete for 500 ms");

    // One that asks for status and never reads the answers.
    let stop = Arc::new(AtomicBool::new(false));
    let mut query = Vec::new();
    Message::StatusQuery(wire::StatusQuery {
        feature: String::new(),
        ..Default::default()
    })
    .encode(&mut query);
    let deaf = TcpStream::connect(lmgrd).unwrap();
    let writer = deaf.try_clone().unwrap();
    let stop_w = Arc::clone(&stop);
    let t = std::thread::spawn(move || blast(writer, query, stop_w));
    server.wait_log(WAIT, "does not read its replies");
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    drop(deaf);

    // Good clients were served throughout.
    assert!(Peer::vendor_port(lmgrd, "demo").is_ok());
}

#[test]
fn incomplete_frames_are_bounded_in_memory_in_total() {
    let _serial = one_at_a_time();
    let server = start("wedge-partial", "", &[], None);
    let pid = server.child.id();
    let lmgrd = server.lmgrd_addr();
    let before = status_kib(pid, "VmHWM");
    // Each connection: a frame announcing 65,000 bytes, 1,000 short.
    let mut partial = Vec::new();
    Message::Error(wire::ErrorReply {
        code: 0,
        minor: 0,
        text: "x".repeat(64_990),
    })
    .encode(&mut partial);
    partial.truncate(partial.len() - 1_000);
    let n = 800;
    let held: Vec<TcpStream> = (0..n)
        .map(|i| {
            let mut s = connect_from(loopback(2 + (i % 4) as u8), lmgrd);
            s.write_all(&partial).unwrap();
            s
        })
        .collect();
    // 32 MiB hold 512 such frames (64 KiB buffers); each connection after
    // that is closed when it would go over.
    server.wait_log_count(
        WAIT,
        "incomplete frames of all connections exceed",
        n - 512 - 8,
    );
    let peak = status_kib(pid, "VmHWM");
    eprintln!(
        "lmgrd with {n} incomplete frames of {} bytes: peak RSS {before} -> {peak} KiB",
        partial.len()
    );
    assert!(
        peak <= before + PARTIAL_RSS_BOUND_KIB,
        "lmgrd's peak RSS grew from {before} KiB to {peak} KiB"
    );
    assert!(Peer::vendor_port(lmgrd, "demo").is_ok());
    drop(held);
}
