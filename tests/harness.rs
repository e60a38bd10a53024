//! Helpers for end-to-end tests: start real `lmgrd` (which starts real
//! `vendord`), on ports chosen at run time, watch their debug log, and talk
//! to them with the wire protocol or with `lmflex`.
//!
//! The binaries are found next to the test executable's directory
//! (`target/<profile>/`); `cargo test --workspace` builds them.

pub mod http;
#[path = "unit.rs"]
pub mod unit;

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::frame::DEFAULT_MAX_PAYLOAD;
use wire::io::Link;
use wire::{ClientIdentity, Message};

/// `target/<profile>`, where cargo puts the workspace's binaries: the
/// directory above a test executable's `deps/`, or a binary's own.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("target dir");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target dir").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace` (cargo test --workspace does)",
        p.display()
    );
    p
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
}

/// Runs `lmutil` with `args` (without the caller's LM_LICENSE_FILE),
/// checks that it succeeded and returns its standard output.
pub fn lmutil_ok(args: &[&str]) -> String {
    let out = Command::new(bin("lmutil"))
        .args(args)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .expect("lmutil runs");
    assert!(
        out.status.success(),
        "lmutil {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The identity the tests' bare peers say Hello with.
pub fn client_identity(user: &str, job: u64) -> ClientIdentity {
    ClientIdentity {
        user: user.into(),
        host: "e2e-host".into(),
        display: "/dev/null".into(),
        pid: std::process::id(),
        platform: "x64_lsb".into(),
        hostids: vec![],
        client_version: "e2e".into(),
        job,
        project: String::new(),
    }
}

/// A port that was free a moment ago, below the kernel's range of
/// ephemeral ports: a port the kernel picked (`bind(0)`) may be taken a
/// moment later as the local end of some outgoing connection (the tests
/// that open hundreds of them make that likely), and the daemon's listener
/// would then fail to bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .clamp(LOW + 1_000, 65_535);
    let span = high - LOW;
    // Test processes that run at once start at different places.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + n) % span;
        if TcpListener::bind(("0.0.0.0", port as u16)).is_ok() {
            return port as u16;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh directory for one test.
pub fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies an example license into `dir` with its SERVER port replaced (the
/// port is not signed). No key goes beside it: the demo vendor daemon and
/// lmflex have the demo publisher's keys built in.
pub fn license_with_port(example: &str, dir: &Path, port: u16) -> PathBuf {
    let text = with_port(
        &std::fs::read_to_string(examples().join(example)).unwrap(),
        port,
    );
    let path = dir.join(example);
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for `cond`, polling, until `within` has passed.
pub fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running lmgrd and its debug log.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    /// When each line of `log` arrived (same index).
    pub arrived: Arc<Mutex<Vec<Instant>>>,
    pub dir: PathBuf,
    /// The license file lmgrd was started with.
    pub license: PathBuf,
    /// Where lmgrd and its vendor daemons write (`LM_STATE_DIR`): `state`
    /// beside the license unless the command names one.
    pub state_dir: PathBuf,
}

impl Server {
    /// Starts lmgrd on `demo.lic` with a free port, in a fresh directory.
    pub fn demo(tag: &str) -> Server {
        let dir = tempdir(tag);
        let port = free_port();
        Server::start(&license_with_port("demo.lic", &dir, port), port, &[])
    }

    /// Starts `lmgrd -z -c license` with extra args and waits until the
    /// vendor daemon is up.
    pub fn start(license: &Path, port: u16, extra: &[&str]) -> Server {
        Server::start_with_env(license, port, extra, &[])
    }

    /// [`Server::start`] with environment variables for lmgrd and the
    /// vendor daemons it starts.
    pub fn start_with_env(
        license: &Path,
        port: u16,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let mut cmd = Command::new(bin("lmgrd"));
        cmd.arg("-z").arg("-c").arg(license).args(extra);
        cmd.envs(env.iter().copied());
        Server::start_command(cmd, license, port)
    }

    /// Starts lmgrd as `cmd` says (a wrapper such as `ip netns exec` may
    /// come first) and waits until its vendor daemon is up.
    pub fn start_command(mut cmd: Command, license: &Path, port: u16) -> Server {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        cmd.env_remove("LM_LICENSE_FILE");
        if !cmd.get_envs().any(|(k, _)| k == "LM_PUBLIC_KEY_PATH") {
            cmd.env_remove("LM_PUBLIC_KEY_PATH");
        }
        let dir = license.parent().unwrap().to_path_buf();
        let state_dir = match cmd.get_envs().find(|(k, _)| *k == "LM_STATE_DIR") {
            Some((_, Some(v))) => PathBuf::from(v),
            _ => {
                let state = dir.join("state");
                cmd.env("LM_STATE_DIR", &state);
                state
            }
        };
        let mut child = cmd.spawn().expect("lmgrd starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            let arrived = Arc::clone(&arrived);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // Both under the log's lock, so the indices agree.
                    let mut lines = log.lock().unwrap();
                    lines.push(line);
                    arrived.lock().unwrap().push(Instant::now());
                }
            });
        }
        let server = Server {
            child,
            port,
            log,
            arrived,
            dir,
            license: license.to_path_buf(),
            state_dir,
        };
        server.wait_log(Duration::from_secs(20), "using TCP-port");
        server
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// When the first log line containing `needle` arrived.
    pub fn arrival_of(&self, needle: &str) -> Option<Instant> {
        let lines = self.log.lock().unwrap();
        let i = lines.iter().position(|l| l.contains(needle))?;
        self.arrived.lock().unwrap().get(i).copied()
    }

    /// Waits until a debug-log line contains `needle`; returns that line.
    pub fn wait_log(&self, within: Duration, needle: &str) -> String {
        self.wait_log_count(within, needle, 1)
    }

    /// Waits until `n` lines contain `needle`; returns the last.
    pub fn wait_log_count(&self, within: Duration, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + within;
        loop {
            {
                let log = self.log.lock().unwrap();
                let hits: Vec<&String> = log.iter().filter(|l| l.contains(needle)).collect();
                if hits.len() >= n {
                    return hits[n - 1].clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {n} log line(s) with {needle:?} within {within:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of the vendor daemon from the latest "Started"/"REStarted"
    /// line (`Started demo (internet tcp_port N pid P)`).
    pub fn vendord_pid(&self) -> i32 {
        let log = self.log.lock().unwrap();
        let line = log
            .iter()
            .rev()
            .find(|l| l.contains("tarted demo (internet tcp_port "))
            .expect("vendor daemon started");
        line.rsplit("pid ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap()
    }

    pub fn lmgrd_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `port@localhost`, as `-c` and `LM_LICENSE_FILE` take it.
    pub fn at(&self) -> String {
        format!("{}@localhost", self.port)
    }

    /// Where the demo vendor daemon listens, as lmgrd says.
    pub fn vendord_addr(&self) -> SocketAddr {
        let port = Peer::vendor_port(self.lmgrd_addr(), "demo")
            .unwrap_or_else(|e| panic!("vendor lookup of demo: {e:?}"));
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Stops lmgrd with SIGTERM and waits for it to exit; returns its
    /// status code.
    pub fn stop(&mut self, within: Duration) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.wait_exit(within)
    }

    /// Sends a signal to lmgrd.
    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits for lmgrd to exit; returns its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "lmgrd did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True while a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// A bare protocol client, for precise tests.
pub struct Peer {
    link: Link<TcpStream>,
}

impl Peer {
    pub fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            link: Link::new(stream, DEFAULT_MAX_PAYLOAD),
        }
    }

    pub fn send(&mut self, m: &Message) {
        self.link.send(m).unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.link.send_bytes(bytes);
    }

    /// The next message; `None` when the peer closed the connection (or
    /// sent what is not a message, or did not answer in time).
    pub fn recv(&mut self) -> Option<Message> {
        self.link.recv().ok()
    }

    pub fn request(&mut self, m: &Message) -> Message {
        self.send(m);
        self.recv().expect("a reply")
    }

    /// Connects and says hello as `user@host`.
    pub fn hello(addr: SocketAddr, user: &str, job: u64) -> Peer {
        match Peer::try_hello(addr, user, job) {
            Some(p) => p,
            None => panic!("no Welcome from {addr}"),
        }
    }

    /// [`Peer::hello`], or `None` when the server cannot be reached or
    /// does not welcome us (a triad member that is not the master).
    pub fn try_hello(addr: SocketAddr, user: &str, job: u64) -> Option<Peer> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut p = Peer {
            link: Link::new(stream, DEFAULT_MAX_PAYLOAD),
        };
        let identity = client_identity(user, job);
        p.send(&Message::Hello(wire::Hello { identity }));
        match p.recv()? {
            Message::Welcome(_) => Some(p),
            _ => None,
        }
    }

    /// Asks lmgrd where `vendor` listens.
    pub fn vendor_port(lmgrd: SocketAddr, vendor: &str) -> Result<u16, wire::ErrorReply> {
        Peer::try_vendor_port(lmgrd, vendor)
            .unwrap_or_else(|| panic!("no answer from lmgrd at {lmgrd}"))
    }

    /// [`Peer::vendor_port`], or `None` when lmgrd cannot be reached or
    /// does not answer (a triad member that is down or stopped).
    pub fn try_vendor_port(
        lmgrd: SocketAddr,
        vendor: &str,
    ) -> Option<Result<u16, wire::ErrorReply>> {
        let mut p = Peer::try_hello(lmgrd, "lookup", 0)?;
        p.send(&Message::VendorLookup(wire::VendorLookup {
            vendor: vendor.into(),
        }));
        match p.recv()? {
            Message::VendorInfo(i) => Some(Ok(i.port)),
            Message::Error(e) => Some(Err(e)),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Checks out `count` of `feature`.
    pub fn checkout(&mut self, req: u32, feature: &str, count: u32) -> Message {
        self.request(&Message::Checkout(wire::Checkout {
            req,
            feature: feature.into(),
            version: "1.0".into(),
            count,
            ..wire::Checkout::default()
        }))
    }

    /// [`Peer::checkout`]: the handle when granted, else the reply as text.
    pub fn checkout_handle(&mut self, req: u32, feature: &str, count: u32) -> Result<u64, String> {
        match self.checkout(req, feature, count) {
            Message::Granted(g) => Ok(g.handle),
            other => Err(format!("{other:?}")),
        }
    }
}

/// `text` (a license file) with every SERVER line's port set to `port`
/// (the port is not signed).
pub fn with_port(text: &str, port: u16) -> String {
    text.lines()
        .map(|l| {
            if !l.starts_with("SERVER ") {
                return format!("{l}\n");
            }
            let mut parts: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            match parts.get(3) {
                Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => parts[3] = port.to_string(),
                _ => parts.insert(3.min(parts.len()), port.to_string()),
            }
            format!("{}\n", parts.join(" "))
        })
        .collect()
}

/// TEST ONLY: the second publisher's license (`tests/keys/testvendor.lic`,
/// served by the `testvendor` daemon), written into `dir` with `port`.
pub fn testvendor_license(dir: &Path, port: u16) -> PathBuf {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys");
    let text = std::fs::read_to_string(keys.join("testvendor.lic")).unwrap();
    let path = dir.join("testvendor.lic");
    std::fs::write(&path, with_port(&text, port)).unwrap();
    path
}

/// [`license_with_port`] with `OPTIONS=demo.opt` on its VENDOR line (not
/// signed, so an administrator may add it) and `options` in that file.
pub fn license_with_options(example: &str, dir: &Path, port: u16, options: &str) -> PathBuf {
    let license = license_with_port(example, dir, port);
    let text = std::fs::read_to_string(&license)
        .unwrap()
        .replace("VENDOR demo\n", "VENDOR demo OPTIONS=demo.opt\n");
    std::fs::write(&license, text).unwrap();
    std::fs::write(dir.join("demo.opt"), options).unwrap();
    license
}

/// `text` (a license file) with its SERVER lines replaced by `servers`, in
/// order: hosts, ports and SERVER keywords are not signed.
pub fn with_servers(text: &str, servers: &[String]) -> String {
    let mut out: String = servers.iter().map(|s| format!("{s}\n")).collect();
    for l in text.lines().filter(|l| !l.starts_with("SERVER ")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Changes a signed count in place and signs the file again with the demo key.
pub fn resign_with_count(license: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(license).unwrap().replace(from, to);
    std::fs::write(license, text).unwrap();
    sign_with_demo_key(license);
}

/// Signs `license` in place with the demo publisher's key.
pub fn sign_with_demo_key(license: &Path) {
    let key = examples().join("demo.key");
    lmutil_ok(&[
        "lmcrypt",
        "-key",
        key.to_str().unwrap(),
        license.to_str().unwrap(),
    ]);
}

/// Seats of `feature` in use, as the vendor daemon at `vendord` counts them.
pub fn in_use(vendord: SocketAddr, feature: &str) -> u32 {
    let mut p = Peer::connect(vendord);
    match p.request(&Message::StatusQuery(wire::StatusQuery {
        feature: feature.into(),
        ..Default::default()
    })) {
        Message::Status(s) => s.features.iter().map(|f| f.in_use).sum(),
        other => panic!("expected Status, got {other:?}"),
    }
}
