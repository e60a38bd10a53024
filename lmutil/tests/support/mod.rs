//! Helpers for lmutil's end-to-end tests: a real lmgrd (which starts a
//! real vendord) on a port chosen at run time, its debug log, a bare
//! protocol client, and running lmutil with a clean environment.
//!
//! lmgrd, vendord and lmflex are found in `target/<profile>/`, next to the
//! directory of the test executable; `cargo test --workspace` builds them.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::{ClientIdentity, Message, MessageDecoder};

pub const WAIT: Duration = Duration::from_secs(20);

// The process-level helpers are the end-to-end crate's own.
#[allow(unused_imports)]
pub use e2e::{alive, bin, examples, free_port, license_with_port, tempdir, wait_until};

/// A running lmgrd and its debug log.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    pub dir: PathBuf,
    pub license: PathBuf,
}

impl Server {
    /// Starts `lmgrd -z -c <demo.lic with a free port>` and waits until the
    /// vendor daemon is up.
    pub fn demo(tag: &str) -> Server {
        let dir = tempdir(tag);
        let port = free_port();
        let license = license_with_port("demo.lic", &dir, port);
        let mut cmd = Command::new(bin("lmgrd"));
        cmd.arg("-z").arg("-c").arg(&license);
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .env_remove("LM_LICENSE_FILE")
            .env_remove("LM_PUBLIC_KEY_PATH");
        let mut child = cmd.spawn().expect("lmgrd starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let streams: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for stream in streams {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let server = Server {
            child,
            port,
            log,
            dir,
            license,
        };
        server.wait_log("using TCP-port");
        server
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until `n` debug-log lines contain `needle`.
    pub fn wait_log_count(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let hits = self
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count();
            if hits >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} log line(s) with {needle:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_log(&self, needle: &str) {
        self.wait_log_count(needle, 1);
    }

    /// The pid of the vendor daemon from the latest "Started" line.
    pub fn vendord_pid(&self) -> i32 {
        let log = self.log.lock().unwrap();
        let line = log
            .iter()
            .rev()
            .find(|l| l.contains("tarted demo (pid "))
            .expect("vendor daemon started");
        line.rsplit("pid ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap()
    }

    /// `port@localhost`.
    pub fn at(&self) -> String {
        format!("{}@localhost", self.port)
    }

    pub fn lmgrd_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Where the demo vendor daemon listens.
    pub fn vendord_addr(&self) -> SocketAddr {
        let mut p = Peer::hello(self.lmgrd_addr(), "lookup", "/dev/null");
        match p.request(&Message::VendorLookup(wire::VendorLookup {
            vendor: "demo".into(),
        })) {
            Message::VendorInfo(i) => SocketAddr::from(([127, 0, 0, 1], i.port)),
            other => panic!("vendor lookup: {other:?}"),
        }
    }

    pub fn stop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait_exit();
    }

    /// Waits for lmgrd to exit.
    pub fn wait_exit(&mut self) {
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "lmgrd did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bare protocol client.
pub struct Peer {
    stream: TcpStream,
    decoder: MessageDecoder,
}

impl Peer {
    /// Connects and says hello as `user` on host `e2e-host`.
    pub fn hello(addr: SocketAddr, user: &str, display: &str) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut p = Peer {
            stream,
            decoder: MessageDecoder::default(),
        };
        let identity = ClientIdentity {
            user: user.into(),
            host: "e2e-host".into(),
            display: display.into(),
            pid: std::process::id(),
            platform: "x64_lsb".into(),
            hostids: vec![],
            client_version: "e2e".into(),
            job: 0,
            project: String::new(),
        };
        match p.request(&Message::Hello(wire::Hello { identity })) {
            Message::Welcome(_) => p,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    pub fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.to_frame_bytes()).unwrap();
    }

    /// The next message; `None` when the connection closed or timed out.
    pub fn recv(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(Some(m)) = self.decoder.next_message() {
                return Some(m);
            }
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.feed(&buf[..n]),
            }
        }
    }

    pub fn request(&mut self, m: &Message) -> Message {
        self.send(m);
        self.recv().expect("a reply")
    }

    /// Checks out `count` of `feature`; the handle when granted, else the
    /// reply.
    pub fn checkout(&mut self, req: u32, feature: &str, count: u32) -> Result<u64, String> {
        match self.request(&Message::Checkout(wire::Checkout {
            borrow_until: 0,
            req,
            feature: feature.into(),
            version: "1.0".into(),
            count,
            dup_group: 0,
            queue: false,
        })) {
            Message::Granted(g) => Ok(g.handle),
            other => Err(format!("{other:?}")),
        }
    }
}

/// A directory to use as HOME, so no real `~/.flexlmrc` is read.
pub fn home(tag: &str) -> PathBuf {
    tempdir(&format!("home-{tag}"))
}

/// Runs `lmutil args...` with no license variables and HOME set to `home`.
pub fn lmutil(args: &[&str], home: &Path) -> Output {
    run_as(&bin_lmutil(), args, home, None)
}

pub fn bin_lmutil() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lmutil"))
}

/// Runs `program args...` with a clean license environment, feeding
/// `stdin` when given.
pub fn run_as(program: &Path, args: &[&str], home: &Path, stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.ends_with("_LICENSE_FILE") {
            cmd.env_remove(k);
        }
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("lmutil runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("lmutil finishes")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
