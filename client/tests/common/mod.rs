//! Scripted fake servers for the client's tests: a tiny lmgrd and a tiny
//! vendor daemon on 127.0.0.1, speaking the `wire` protocol, recording
//! every message they receive.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wire::*;

/// How long any test waits for a condition before failing.
pub const WAIT: Duration = Duration::from_secs(10);

type Handler<S> = fn(&mut S, usize, &Message) -> Vec<Message>;

struct Inner<S> {
    script: S,
    /// (connection number, message) in arrival order.
    log: Vec<(usize, Message)>,
    conns: Vec<TcpStream>,
    stop: bool,
}

struct Shared<S> {
    inner: Mutex<Inner<S>>,
    changed: Condvar,
    handler: Handler<S>,
}

/// A server on 127.0.0.1:<some port> answering with `handler`.
pub struct Fake<S: Send + 'static> {
    pub addr: SocketAddr,
    shared: Arc<Shared<S>>,
    acceptor: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: Send + 'static> Fake<S> {
    pub fn start(script: S, handler: Handler<S>) -> Fake<S> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                script,
                log: Vec::new(),
                conns: Vec::new(),
                stop: false,
            }),
            changed: Condvar::new(),
            handler,
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let id = {
                    let mut inner = lock(&s.inner);
                    if inner.stop {
                        return;
                    }
                    inner.conns.push(stream.try_clone().expect("clone stream"));
                    inner.conns.len() - 1
                };
                let s2 = Arc::clone(&s);
                std::thread::spawn(move || serve(&s2, stream, id));
            }
        });
        Fake {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Reads or changes the script.
    pub fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        f(&mut lock(&self.shared.inner).script)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<(usize, Message)> {
        lock(&self.shared.inner).log.clone()
    }

    /// Waits until `cond(messages)` holds; false when `WAIT` passes first.
    pub fn wait_until(&self, cond: impl Fn(&[(usize, Message)]) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut inner = lock(&self.shared.inner);
        loop {
            if cond(&inner.log) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = self
                .shared
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Closes every connection from the server side.
    pub fn drop_connections(&self) {
        for c in &lock(&self.shared.inner).conns {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Sends `msg` on every open connection.
    pub fn push(&self, msg: &Message) {
        for c in &mut lock(&self.shared.inner).conns {
            let _ = c.write_all(&msg.to_frame_bytes());
        }
    }

    /// Sends `msg` on connection `conn` only.
    pub fn push_to(&self, conn: usize, msg: &Message) {
        if let Some(c) = lock(&self.shared.inner).conns.get_mut(conn) {
            let _ = c.write_all(&msg.to_frame_bytes());
        }
    }

    /// Stops listening and closes every connection.
    pub fn stop(&mut self) {
        lock(&self.shared.inner).stop = true;
        self.drop_connections();
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl<S: Send + 'static> Drop for Fake<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve<S>(shared: &Shared<S>, mut stream: TcpStream, id: usize) {
    let mut decoder = MessageDecoder::new(wire::frame::DEFAULT_MAX_PAYLOAD);
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.feed(&buf[..n]);
        while let Ok(Some(msg)) = decoder.next_message() {
            let mut inner = lock(&shared.inner);
            if inner.stop {
                return;
            }
            let replies = (shared.handler)(&mut inner.script, id, &msg);
            inner.log.push((id, msg));
            for r in replies {
                if stream.write_all(&r.to_frame_bytes()).is_err() {
                    return;
                }
            }
            shared.changed.notify_all();
        }
    }
}

// ---------------------------------------------------------------------------
// lmgrd

pub struct LmgrdScript {
    pub vendor: String,
    pub vendor_port: u16,
    /// Answer VendorLookup with this error instead.
    pub error: Option<(i32, i32)>,
}

pub fn lmgrd(vendor_port: u16) -> Fake<LmgrdScript> {
    Fake::start(
        LmgrdScript {
            vendor: "demo".into(),
            vendor_port,
            error: None,
        },
        lmgrd_handler,
    )
}

fn lmgrd_handler(s: &mut LmgrdScript, _conn: usize, msg: &Message) -> Vec<Message> {
    match msg {
        Message::Hello(_) => vec![Message::Welcome(Welcome {
            server: "lmgrd".into(),
            version: "test".into(),
            heartbeat_interval_ms: 0,
            timeout_ms: 0,
            held: vec![],
        })],
        Message::VendorLookup(v) => {
            let err = if let Some((code, minor)) = s.error {
                Some((code, minor))
            } else if v.vendor != s.vendor {
                Some((lmerr::LM_NOSERVSUPP, 1))
            } else {
                None
            };
            vec![match err {
                Some((code, minor)) => Message::Error(ErrorReply {
                    code,
                    minor,
                    text: lmerr::text(code).into(),
                }),
                None => Message::VendorInfo(VendorInfo {
                    vendor: v.vendor.clone(),
                    port: s.vendor_port,
                }),
            }]
        }
        _ => vec![],
    }
}

// ---------------------------------------------------------------------------
// vendor daemon

/// A grant as the demo publisher's vendor daemon makes it: with the
/// demo-signed line `FEATURE <feature> demo <version> permanent <count>`
/// behind it and, for a borrow until `(end, user, host)`, the demo
/// daemon's seal over its terms.
pub fn demo_grant(
    req: u32,
    handle: u64,
    feature: &str,
    version: &str,
    count: u32,
    borrow: Option<(u64, &str, &str)>,
) -> Granted {
    use grammar::publisher::{BorrowSeal, DaemonKeys, DEMO_PUBLIC_KEYS};
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses");
    let key = grammar::signature::read_private_key(&examples.join("demo.key")).expect("demo.key");
    let text = format!("FEATURE {feature} demo {version} permanent {count}\n");
    let file = grammar::parse_license("fake.lic", &text);
    let content = grammar::signature::signed_content(&file, &file.entries[0]).expect("signed");
    let (_, field) = grammar::signature::sign_content(&content, &key);
    let grammar::signature::SignField::Ed25519 { key_id, signature } = field else {
        unreachable!("sign_content makes Ed25519 fields")
    };
    let mut g = Granted {
        req,
        handle,
        feature: feature.into(),
        version: version.into(),
        count,
        expiry: "permanent".into(),
        proof: vec![LineProof {
            content: codec::Blob(content),
            key_id: u32::from_be_bytes(key_id),
            signature: codec::Blob(signature.to_vec()),
        }],
        seal: codec::Blob::default(),
    };
    if let Some((until, user, host)) = borrow {
        let seal_key = std::fs::read_to_string(examples.join("demo-seal.key")).expect("seal key");
        let keys = DaemonKeys::from_pem("demo", DEMO_PUBLIC_KEYS, &seal_key).expect("demo keys");
        let terms = BorrowSeal {
            vendor: "demo",
            feature,
            version,
            count,
            expiry: "permanent",
            until,
            handle,
            user,
            host,
        };
        g.seal = codec::Blob(keys.seal(&terms).to_vec());
    }
    g
}

pub struct VendorScript {
    pub heartbeat_interval_ms: u32,
    /// Deny every checkout with (code, minor).
    pub deny: Option<(i32, i32)>,
    /// On a Hello from a job that holds seats, give them back (the old
    /// connection "still holds them"); otherwise they were released.
    pub return_held: bool,
    pub held: HashMap<u64, Vec<Granted>>,
    pub conn_job: HashMap<usize, u64>,
    /// The user and host each connection's Hello named (borrow seals
    /// are made for them).
    pub conn_who: HashMap<usize, (String, String)>,
    /// Grant with no signed line behind it (as a daemon serving a license
    /// the publisher never signed would).
    pub unsigned_grants: bool,
    pub next_handle: u64,
    /// Answer every checkout that asks to queue with LM_FEATQUEUE; the
    /// test grants it later with `push_to`.
    pub queue_all: bool,
    /// Features lent out: `ReturnBorrow` of one of them succeeds once.
    pub borrowed: Vec<String>,
}

pub fn vendor(heartbeat_interval_ms: u32) -> Fake<VendorScript> {
    Fake::start(
        VendorScript {
            heartbeat_interval_ms,
            deny: None,
            return_held: true,
            held: HashMap::new(),
            conn_job: HashMap::new(),
            conn_who: HashMap::new(),
            unsigned_grants: false,
            next_handle: 100,
            queue_all: false,
            borrowed: Vec::new(),
        },
        vendor_handler,
    )
}

fn vendor_handler(s: &mut VendorScript, conn: usize, msg: &Message) -> Vec<Message> {
    match msg {
        Message::Hello(h) => {
            let job = h.identity.job;
            s.conn_job.insert(conn, job);
            s.conn_who
                .insert(conn, (h.identity.user.clone(), h.identity.host.clone()));
            let held = if s.return_held {
                s.held.get(&job).cloned().unwrap_or_default()
            } else {
                s.held.remove(&job);
                Vec::new()
            };
            vec![Message::Welcome(Welcome {
                server: "demo".into(),
                version: "test".into(),
                heartbeat_interval_ms: s.heartbeat_interval_ms,
                timeout_ms: s.heartbeat_interval_ms.saturating_mul(4),
                held,
            })]
        }
        Message::Checkout(c) if c.queue && s.queue_all => vec![Message::Denied(Denied {
            req: c.req,
            code: lmerr::LM_FEATQUEUE,
            minor: 0,
            text: lmerr::text(lmerr::LM_FEATQUEUE).into(),
            detail: String::new(),
        })],
        Message::ReturnBorrow(r) => match s.borrowed.iter().position(|f| *f == r.feature) {
            Some(i) => {
                s.borrowed.remove(i);
                vec![Message::CheckedIn(Checkin {
                    req: r.req,
                    handle: 1,
                })]
            }
            None => vec![Message::Denied(Denied {
                req: r.req,
                code: lmerr::LM_UNBORROWED_ALREADY,
                minor: 0,
                text: lmerr::text(lmerr::LM_UNBORROWED_ALREADY).into(),
                detail: String::new(),
            })],
        },
        Message::Checkout(c) => {
            if let Some((code, minor)) = s.deny {
                return vec![Message::Denied(Denied {
                    req: c.req,
                    code,
                    minor,
                    text: lmerr::text(code).into(),
                    detail: String::new(),
                })];
            }
            let handle = s.next_handle;
            s.next_handle += 1;
            let who = s.conn_who.get(&conn).cloned().unwrap_or_default();
            let borrow = (c.borrow_until > 0).then_some((c.borrow_until, &who.0[..], &who.1[..]));
            let mut g = demo_grant(c.req, handle, &c.feature, &c.version, c.count, borrow);
            if s.unsigned_grants {
                g.proof.clear();
            }
            let job = s.conn_job.get(&conn).copied().unwrap_or_default();
            s.held.entry(job).or_default().push(g.clone());
            vec![Message::Granted(g)]
        }
        Message::Checkin(c) => {
            let job = s.conn_job.get(&conn).copied().unwrap_or_default();
            if let Some(v) = s.held.get_mut(&job) {
                v.retain(|g| g.handle != c.handle);
            }
            vec![Message::CheckedIn(c.clone())]
        }
        Message::Heartbeat(h) => vec![Message::HeartbeatAck(h.clone())],
        _ => vec![],
    }
}

// ---------------------------------------------------------------------------
// helpers on message logs

pub fn count(log: &[(usize, Message)], pred: impl Fn(&Message) -> bool) -> usize {
    log.iter().filter(|(_, m)| pred(m)).count()
}

pub fn hello_jobs(log: &[(usize, Message)]) -> Vec<u64> {
    log.iter()
        .filter_map(|(_, m)| match m {
            Message::Hello(h) => Some(h.identity.job),
            _ => None,
        })
        .collect()
}

pub fn is_checkout(m: &Message) -> bool {
    matches!(m, Message::Checkout(_))
}

pub fn is_heartbeat(m: &Message) -> bool {
    matches!(m, Message::Heartbeat(_))
}

pub fn is_checkin(m: &Message) -> bool {
    matches!(m, Message::Checkin(_))
}

/// The checkouts received, with their connection.
pub fn checkouts(log: &[(usize, Message)]) -> Vec<(usize, Checkout)> {
    log.iter()
        .filter_map(|(conn, m)| match m {
            Message::Checkout(c) => Some((*conn, c.clone())),
            _ => None,
        })
        .collect()
}

pub fn is_lookup(m: &Message) -> bool {
    matches!(m, Message::VendorLookup(_))
}
