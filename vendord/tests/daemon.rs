//! The real `vendord` binary, spoken to over TCP.

mod common;

use common::licenses;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::io::{Link, LinkError};
use wire::{Checkin, Checkout, ClientIdentity, Hello, Message, StatusQuery, Welcome};

const WAIT: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds or the deadline passes.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(5));
    }
}

/// A running vendord, killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    /// Holds the daemon's borrow store.
    _state: tempfile::TempDir,
}

impl Daemon {
    fn start(license: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with_fds(license, extra, &[])
    }

    /// Starts vendord with `inherit` descriptors left open across exec.
    fn start_with_fds(license: &Path, extra: &[&str], inherit: &[i32]) -> Daemon {
        let inherit = inherit.to_vec();
        let mut fds = [0i32; 2];
        // SAFETY: pipe2 fills our array with two new descriptors.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
            0,
            "pipe2"
        );
        // SAFETY: both descriptors are new and ours.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let write_fd = write.as_raw_fd();
        let state = tempfile::tempdir().expect("state dir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vendord"));
        cmd.arg("-c")
            .arg(license)
            .args(["--vendor", "demo", "--port", "0", "--notify-fd"])
            .arg(write_fd.to_string())
            .arg("--borrow-store")
            .arg(state.path().join("demo.borrows"))
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .env_remove("LM_PUBLIC_KEY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: only fcntl between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in std::iter::once(&write_fd).chain(&inherit) {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start vendord");
        drop(write);

        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });

        let port = read_port(read);
        Daemon {
            child,
            port,
            log,
            _state: state,
        }
    }

    fn demo(extra: &[&str]) -> Daemon {
        Daemon::start(&licenses().join("demo.lic"), extra)
    }

    fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn wait_for_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut found = None;
        wait_until(what, || {
            found = self.lines().into_iter().find(|l| pred(l));
            found.is_some()
        });
        found.unwrap()
    }

    fn client(&self, user: &str) -> Client {
        Client::connect(self.port, user, 0)
    }

    fn in_use(&self, feature: &str) -> u32 {
        let mut tool = Client::raw(self.port);
        tool.send(&Message::StatusQuery(StatusQuery {
            feature: feature.into(),
            ..Default::default()
        }));
        match tool.recv() {
            Message::Status(s) => s.features.iter().map(|f| f.in_use).sum(),
            other => panic!("expected Status, got {other:?}"),
        }
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_until("vendord to exit", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `<port>\n` from the notify pipe.
fn read_port(read: OwnedFd) -> u16 {
    let mut file = std::fs::File::from(read);
    let mut text = String::new();
    let mut byte = [0u8; 1];
    let deadline = Instant::now() + WAIT;
    while !text.ends_with('\n') {
        assert!(Instant::now() < deadline, "no port on the notify pipe");
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one descriptor we own.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        match file.read(&mut byte) {
            Ok(1) => text.push(byte[0] as char),
            other => panic!("notify pipe closed early ({other:?}), read {text:?}"),
        }
    }
    text.trim().parse().expect("a port number")
}

struct Client {
    link: Link<TcpStream>,
    next_req: u32,
}

impl Client {
    fn raw(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            link: Link::new(stream, wire::frame::DEFAULT_MAX_PAYLOAD),
            next_req: 1,
        }
    }

    fn connect(port: u16, user: &str, job: u64) -> Client {
        let mut c = Client::raw(port);
        let w = c.hello(user, job);
        assert_eq!(w.server, "demo");
        c
    }

    fn hello(&mut self, user: &str, job: u64) -> Welcome {
        self.send(&Message::Hello(Hello {
            identity: ClientIdentity {
                user: user.into(),
                host: "ws1".into(),
                display: ":0".into(),
                pid: std::process::id(),
                platform: "x64_lsb".into(),
                hostids: vec![],
                client_version: "test".into(),
                job,
                project: String::new(),
            },
        }));
        match self.recv() {
            Message::Welcome(w) => w,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    fn send(&mut self, m: &Message) {
        self.link.send(m).expect("send");
    }

    fn recv(&mut self) -> Message {
        match self.link.recv() {
            Ok(m) => m,
            Err(LinkError::Closed) => panic!("server closed the connection"),
            Err(e) => panic!("reading a well-formed reply: {e}"),
        }
    }

    fn checkout(&mut self, feature: &str, count: u32) -> Message {
        let req = self.next_req;
        self.next_req += 1;
        self.send(&Message::Checkout(Checkout {
            req,
            feature: feature.into(),
            version: "1.0".into(),
            count,
            ..Checkout::default()
        }));
        let m = self.recv();
        match &m {
            Message::Granted(g) => assert_eq!(g.req, req),
            Message::Denied(d) => assert_eq!(d.req, req),
            other => panic!("expected Granted or Denied, got {other:?}"),
        }
        m
    }

    fn granted(&mut self, feature: &str) -> u64 {
        match self.checkout(feature, 1) {
            Message::Granted(g) => g.handle,
            other => panic!("expected Granted, got {other:?}"),
        }
    }

    /// True once the server has closed the connection (within the deadline).
    fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.link.stream_mut().read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e) => panic!("waiting for close: {e}"),
            }
        }
        false
    }
}

#[test]
fn four_seats_then_denied_then_freed() {
    let d = Daemon::demo(&[]);
    let mut clients: Vec<Client> = (1..=5).map(|i| d.client(&format!("user{i}"))).collect();
    let mut handles = Vec::new();
    for c in &mut clients[..4] {
        handles.push(c.granted("f1"));
    }
    match clients[4].checkout("f1", 1) {
        Message::Denied(den) => {
            assert_eq!((den.code, den.minor), (-4, 342));
            assert_eq!(den.text, "Licensed number of users already reached.");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    let denied = d.wait_for_line("the DENIED line", |l| l.contains("DENIED:"));
    assert!(
        denied.ends_with(
            "(demo) DENIED: \"f1\" user5@ws1  (Licensed number of users already reached. (-4,342))"
        ),
        "{denied}"
    );
    let out = d.wait_for_line("an OUT line", |l| l.contains("OUT: \"f1\" user1@ws1"));
    assert!(out.ends_with("(demo) OUT: \"f1\" user1@ws1  "), "{out:?}");
    assert_eq!(&out[2..3], ":");

    // A checkin frees a seat.
    clients[0].send(&Message::Checkin(Checkin {
        req: 99,
        handle: handles[0],
    }));
    assert!(matches!(clients[0].recv(), Message::CheckedIn(c) if c.handle == handles[0]));
    clients[4].granted("f1");
    assert_eq!(d.in_use("f1"), 4);

    // Closing a connection frees its seats.
    let gone = clients.remove(1);
    drop(gone);
    wait_until("the closed connection's seat", || d.in_use("f1") == 3);
    clients[0].granted("f1");
}

#[test]
fn garbage_closes_only_that_connection() {
    let d = Daemon::demo(&[]);
    let mut good = d.client("joe");
    let mut bad = Client::raw(d.port);
    bad.link
        .stream_mut()
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .expect("send garbage");
    assert!(bad.is_closed(), "the garbage connection stays open");
    let line = d.wait_for_line("the reason", |l| l.contains("malformed frame"));
    assert!(line.contains("127.0.0.1:"), "{line}");
    good.granted("f1");
    good.granted("f2");
    assert_eq!(d.in_use(""), 2);
}

#[test]
fn tampered_lines_are_never_granted() {
    let d = Daemon::start(&licenses().join("tampered.lic"), &[]);
    let mut c = d.client("joe");
    for _ in 0..3 {
        match c.checkout("cad_pro", 1) {
            Message::Denied(den) => assert_eq!(den.code, -8),
            other => panic!("a tampered line was served: {other:?}"),
        }
    }
    c.granted("cad_view");
    let line = d.wait_for_line("the refusal at start-up", |l| l.contains("not serving"));
    assert!(line.contains("cad_pro"), "{line}");
    assert!(
        line.contains("tampered.lic:"),
        "names the file and line: {line}"
    );
    assert!(line.contains("LM_BADCODE (-8)"), "{line}");
}

#[test]
fn sigterm_logs_shutdown_and_exits_zero() {
    let mut d = Daemon::demo(&[]);
    let started = d.wait_for_line("the start-up line", |l| l.contains("Server started on"));
    assert!(started.contains("for:\tf1"), "{started:?}");
    let mut joe = d.client("joe");
    let mut ann = d.client("ann");
    joe.granted("f1");
    ann.granted("f2");
    // SAFETY: signals our own child.
    assert_eq!(unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) }, 0);
    let status = d.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?} signal {:?}",
        status.signal()
    );
    wait_until("the SHUTDOWN lines", || {
        let lines = d.lines();
        lines
            .iter()
            .any(|l| l.ends_with("(demo) IN: \"f1\" joe@ws1  (SHUTDOWN)"))
            && lines
                .iter()
                .any(|l| l.ends_with("(demo) IN: \"f2\" ann@ws1  (SHUTDOWN)"))
    });
}

#[test]
fn silent_clients_are_timed_out() {
    let d = Daemon::demo(&["--timeout", "1", "--heartbeat-interval", "1"]);
    let mut c = d.client("joe");
    let mut probe = d.client("probe");
    probe.send(&Message::Heartbeat(wire::Heartbeat {
        seq: 3,
        idle: false,
    }));
    assert!(matches!(probe.recv(), Message::HeartbeatAck(h) if h.seq == 3));
    c.granted("f1");
    assert!(c.is_closed(), "the silent client was not disconnected");
    d.wait_for_line("the INACTIVE line", |l| {
        l.ends_with("IN: \"f1\" joe@ws1  (INACTIVE)")
    });
    assert_eq!(d.in_use("f1"), 0);
}

#[test]
fn a_reconnecting_job_gets_its_seats_back() {
    let d = Daemon::demo(&[]);
    let mut first = Client::connect(d.port, "joe", 4242);
    let h = first.granted("f1");
    let mut second = Client::raw(d.port);
    let w = second.hello("joe", 4242);
    assert_eq!(w.held.iter().map(|g| g.handle).collect::<Vec<_>>(), vec![h]);
    assert!(first.is_closed());
    assert_eq!(d.in_use("f1"), 1);
    second.send(&Message::Checkin(Checkin { req: 1, handle: h }));
    assert!(matches!(second.recv(), Message::CheckedIn(_)));
    assert_eq!(d.in_use("f1"), 0);
}

#[test]
fn bad_command_lines_print_usage() {
    for args in [
        &["-c", "x.lic", "--vendor", "demo", "--bogus"][..],
        &["--vendor", "demo"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_vendord"))
            .args(args)
            .output()
            .expect("run vendord");
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: vendord"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vendord"))
        .args(["-c", "/nonexistent/license.dat", "--vendor", "demo"])
        .output()
        .expect("run vendord");
    // A restart would not help: the status tells lmgrd not to try.
    assert_eq!(
        out.status.code(),
        Some(i32::from(hostenv::state_dir::EXIT_CONFIG))
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("(demo) Cannot read license file"));
}

/// A license signed here with the demo publisher's key: one signed line
/// with an OVERDRAFT, one unsigned line.
fn signed_license(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vendord-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let lines = [
        "SERVER this_host ANY",
        "VENDOR demo",
        "FEATURE big demo 2.0 permanent 2 OVERDRAFT=1",
        "FEATURE nosig demo 1.0 permanent 5",
    ];
    common::sign_lines(&dir, "signed.lic", &lines, |l| l.contains(" big "))
}

#[test]
fn a_license_signed_here_is_served_with_its_overdraft() {
    let path = signed_license("overdraft");
    let d = Daemon::start(&path, &[]);
    let mut clients: Vec<Client> = (0..4).map(|i| d.client(&format!("u{i}"))).collect();
    for c in &mut clients[..3] {
        c.granted("big");
    }
    assert!(matches!(clients[3].checkout("big", 1), Message::Denied(den) if den.code == -4));
    assert!(matches!(clients[3].checkout("nosig", 1), Message::Denied(den) if den.code == -8));
    drop(d);
    let _ = std::fs::remove_dir_all(path.parent().expect("a directory"));
}

/// Plays lmgrd's part of a triad on the other end of `--triad-fd`.
struct FakeLmgrd {
    link: Link<std::os::unix::net::UnixStream>,
}

impl FakeLmgrd {
    fn send(&mut self, m: &Message) {
        self.link.send(m).expect("to vendord");
    }

    fn recv(&mut self) -> Message {
        match self.link.recv() {
            Ok(m) => m,
            Err(LinkError::Closed) => panic!("vendord closed the triad link"),
            Err(e) => panic!("reading a well-formed message from vendord: {e}"),
        }
    }

    /// Reads the next proposal and commits it at `index`.
    fn commit_next(&mut self, index: u64) {
        let Message::Propose(p) = self.recv() else {
            panic!("expected a proposal")
        };
        self.send(&Message::Replicate(wire::Replicate {
            index,
            payload: p.payload,
        }));
    }

    fn role(&mut self, serving: bool, master: u32) {
        self.send(&Message::TriadRole(wire::TriadRole {
            serving,
            member: 1,
            master,
            term: 1,
            reason: "test".into(),
        }));
    }
}

fn triad_member() -> (Daemon, FakeLmgrd) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(WAIT)).unwrap();
    let fd = theirs.as_raw_fd().to_string();
    let d = Daemon::start_with_fds(
        &licenses().join("demo.lic"),
        &["--triad-fd", &fd],
        &[theirs.as_raw_fd()],
    );
    drop(theirs);
    (
        d,
        FakeLmgrd {
            link: Link::new(ours, 16 << 20),
        },
    )
}

#[test]
fn in_a_triad_a_grant_is_only_answered_once_the_majority_committed_it() {
    let (d, mut lmgrd) = triad_member();
    // A standby refuses license requests, naming no master yet.
    let mut early = Client::raw(d.port);
    early.send(&Message::Hello(Hello::default()));
    assert!(matches!(early.recv(), Message::Error(e) if e.code == wire::lmerr::LM_NOSERVER));
    lmgrd.role(true, 1);
    d.wait_for_line("serving", |l| l.contains("is now the triad's master"));
    let mut joe = Client::connect(d.port, "joe", 7);
    joe.send(&Message::Checkout(Checkout {
        req: 1,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 1,
        ..Checkout::default()
    }));
    let Message::Propose(p) = lmgrd.recv() else {
        panic!("expected a proposal")
    };
    // Nothing reaches the client before the commit.
    joe.link
        .stream()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        joe.link.stream_mut().read(&mut buf).is_err(),
        "answered before the commit"
    );
    joe.link.stream().set_read_timeout(Some(WAIT)).unwrap();
    lmgrd.send(&Message::Replicate(wire::Replicate {
        index: 1,
        payload: p.payload,
    }));
    assert!(matches!(joe.recv(), Message::Granted(g) if g.req == 1));
}

#[test]
fn a_triad_standby_applies_the_log_and_once_promoted_gives_jobs_their_seats_back() {
    use accounting::{Batch, Change, Seat, SeatKey};
    let (d, mut lmgrd) = triad_member();
    lmgrd.role(false, 2);
    // Three of f1's four seats are held on the master, one by job 7.
    let seat = |handle, user: &str, job| Seat {
        handle,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 1,
        key: SeatKey::default(),
        user: user.into(),
        host: "ws1".into(),
        job,
        requested: "1.0".into(),
        ..Seat::default()
    };
    let batch = Batch {
        origin: 42,
        seq: 1,
        changes: vec![
            Change::Grant(Box::new(seat(10, "joe", 7))),
            Change::Grant(Box::new(seat(11, "ann", 8))),
            Change::Grant(Box::new(seat(12, "bob", 9))),
            Change::Release(11),
            Change::Grant(Box::new(seat(13, "eve", 5))),
        ],
    };
    lmgrd.send(&Message::Replicate(wire::Replicate {
        index: 1,
        payload: wire::codec::Blob(batch.encode()),
    }));
    lmgrd.role(true, 1);
    d.wait_for_line("promotion", |l| l.contains("3 seat(s) taken over"));
    assert_eq!(d.in_use("f1"), 3);
    // joe's application reconnects with its job id: its seat comes back.
    let mut joe = Client::raw(d.port);
    let w = joe.hello("joe", 7);
    assert_eq!(
        w.held.iter().map(|g| g.handle).collect::<Vec<_>>(),
        vec![10]
    );
    // A newcomer finds one seat, not the ones still held.
    let mut new = Client::connect(d.port, "new", 1);
    new.send(&Message::Checkout(Checkout {
        req: 1,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 1,
        ..Checkout::default()
    }));
    lmgrd.commit_next(2);
    assert!(matches!(new.recv(), Message::Granted(_)));
    assert!(matches!(new.checkout("f1", 1), Message::Denied(d) if d.code == -4));
}

#[test]
fn a_triad_standby_takes_lmgrds_summary_of_a_compacted_log_in_place_of_what_it_had() {
    use accounting::{Batch, Change, Seat};
    let (d, mut lmgrd) = triad_member();
    lmgrd.role(false, 2);
    let seat = |handle| Seat {
        handle,
        feature: "f1".into(),
        version: "1.0".into(),
        count: 1,
        user: format!("u{handle}"),
        host: "ws1".into(),
        ..Seat::default()
    };
    let send = |lmgrd: &mut FakeLmgrd, index, batch: Batch| {
        lmgrd.send(&Message::Replicate(wire::Replicate {
            index,
            payload: wire::codec::Blob(batch.encode()),
        }));
    };
    let grants = |hs: &[u64]| {
        hs.iter()
            .map(|h| Change::Grant(Box::new(seat(*h))))
            .collect()
    };
    send(
        &mut lmgrd,
        1,
        Batch {
            origin: 5,
            seq: 1,
            changes: grants(&[1, 2, 3]),
        },
    );
    wait_until("three seats on the standby", || d.in_use("f1") == 3);
    // The log was compacted: one seat is held now, the others were freed.
    send(&mut lmgrd, 9, Batch::summary(vec![seat(3)]));
    wait_until("the summary to replace them", || d.in_use("f1") == 1);
}
