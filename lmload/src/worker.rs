//! One client process: a mio loop over many connections, each a closed
//! loop (one request outstanding at a time).
//!
//! The parent talks to a worker over its standard streams. The worker opens
//! its connections (a bounded number being set up at once, so the server's
//! accept queue never overflows), prints `ready ...` once every connection
//! is set up or has failed, starts counting on a `go` line, and on `stop`
//! (or end of input) stops counting, lets the requests in flight finish (so
//! every socket closes cleanly), prints one `result ...` line and exits.
//! Requests keep flowing before `go`; only the counting waits for it.

use crate::control::{self, Got, STDIN};
use crate::hist::Histogram;
use crate::net;
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wire::frame::{DEFAULT_MAX_PAYLOAD, HEADER_LEN, MAGIC, VERSION};
use wire::{Checkin, Checkout, ClientIdentity, Heartbeat, Hello, Message};

/// Size of an echo request and of its reply.
pub const ECHO_SIZE: usize = 64;

/// Type codes of the replies read in place on the hot path
/// (docs/protocol.md); what lmload sends is encoded by `wire` itself.
const HEARTBEAT_ACK: u8 = 0x05;
const GRANTED: u8 = 0x21;
const CHECKED_IN: u8 = 0x24;
/// How long requests in flight may take to finish after `stop`.
const DRAIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 64 bytes out, 64 bytes back, again.
    Echo,
    /// Hello, then Checkout → Granted → Checkin → CheckedIn, again (after
    /// the think time, if any).
    License,
    /// Hello (and a checkout of one seat, if a feature is given), then a
    /// Heartbeat every interval.
    Held,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "echo" => Some(Mode::Echo),
            "license" => Some(Mode::License),
            "held" => Some(Mode::Held),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Echo => "echo",
            Mode::License => "license",
            Mode::Held => "held",
        }
    }
}

/// What one worker does.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub target: SocketAddr,
    pub mode: Mode,
    pub connections: usize,
    /// Global index of this worker's first connection (for source
    /// addresses, user names and job ids).
    pub first: usize,
    /// Number of loopback source addresses to spread over (1: no bind).
    pub spread: usize,
    /// License mode: the feature checked out and in. Held mode: the feature
    /// each connection keeps one seat of (empty: none).
    pub feature: String,
    pub interval_ms: u64,
    /// License mode: pause between a checkin and the next checkout.
    pub think_us: u64,
    /// Connections being set up at once.
    pub window: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Welcoming,
    /// Held mode: waiting for the seat it keeps.
    Holding,
    WaitGranted,
    WaitCheckedIn,
    WaitEcho,
    /// License mode: waiting out the think time.
    Thinking,
    Held,
    /// Stopped: nothing in flight, nothing more to send.
    Idle,
    Dead,
}

struct Conn {
    /// `None` once the connection failed or was closed.
    stream: Option<mio::net::TcpStream>,
    state: State,
    /// Bytes received and not yet taken as frames.
    inbuf: Vec<u8>,
    echo_got: usize,
    out: Vec<u8>,
    sent_at: Instant,
    hb_seq: u32,
    /// When the unanswered heartbeat went out.
    hb_pending: Option<Instant>,
}

impl Conn {
    /// Whether a request or heartbeat of this connection awaits its answer.
    fn in_flight(&self) -> bool {
        match self.state {
            State::Dead | State::Idle | State::Thinking => false,
            State::Held => self.hb_pending.is_some(),
            _ => true,
        }
    }
}

/// Counters a worker reports.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub window_ns: u64,
    pub requests: u64,
    pub errors: u64,
    pub established: u64,
    pub failed: u64,
    pub closed: u64,
    pub hb_sent: u64,
    pub hb_acked: u64,
    pub hb_missed: u64,
    pub hb_max_ns: u64,
    /// Checkout (license) or round trip (echo).
    pub latency: Histogram,
    /// Checkin (license).
    pub checkin: Histogram,
}

impl Report {
    pub fn encode(&self) -> String {
        format!(
            "result window_ns={} requests={} errors={} established={} failed={} closed={} \
             hb_sent={} hb_acked={} hb_missed={} hb_max_ns={} hist={} checkin={}",
            self.window_ns,
            self.requests,
            self.errors,
            self.established,
            self.failed,
            self.closed,
            self.hb_sent,
            self.hb_acked,
            self.hb_missed,
            self.hb_max_ns,
            self.latency.encode(),
            self.checkin.encode()
        )
    }

    pub fn decode(line: &str) -> Option<Report> {
        let rest = line.strip_prefix("result ")?;
        let mut r = Report::default();
        for field in rest.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            match k {
                "hist" => r.latency = Histogram::decode(v)?,
                "checkin" => r.checkin = Histogram::decode(v)?,
                _ => {}
            }
            if k == "hist" || k == "checkin" {
                continue;
            }
            let v: u64 = v.parse().ok()?;
            match k {
                "window_ns" => r.window_ns = v,
                "requests" => r.requests = v,
                "errors" => r.errors = v,
                "established" => r.established = v,
                "failed" => r.failed = v,
                "closed" => r.closed = v,
                "hb_sent" => r.hb_sent = v,
                "hb_acked" => r.hb_acked = v,
                "hb_missed" => r.hb_missed = v,
                "hb_max_ns" => r.hb_max_ns = v,
                _ => {}
            }
        }
        Some(r)
    }
}

/// A frame from the server: the replies on the hot path are read in place
/// (no allocation), any other message is decoded in full. One lives at a
/// time, on the stack: its size does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reply {
    Granted { req: u32, handle: u64 },
    CheckedIn,
    HeartbeatAck,
    Other(Message),
}

/// The frame at the start of `data`, checked as `wire::frame` checks it,
/// and its length; `Ok(None)` until it is whole.
pub(crate) fn next_reply(data: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    if data.len() < HEADER_LEN {
        return Ok(None);
    }
    if data[..2] != MAGIC || data[2] != VERSION {
        return Err(format!("bad frame header {:02x?}", &data[..4]));
    }
    let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
    if len > DEFAULT_MAX_PAYLOAD {
        return Err(format!("frame of {len} bytes"));
    }
    if data.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = &data[HEADER_LEN..HEADER_LEN + len];
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data[..8]);
    crc.update(payload);
    if crc.finalize().to_be_bytes() != data[8..12] {
        return Err("frame checksum mismatch".into());
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let reply = match data[3] {
        GRANTED if len >= 12 => Reply::Granted {
            req: be32(&payload[..4]),
            handle: u64::from(be32(&payload[4..8])) << 32 | u64::from(be32(&payload[8..12])),
        },
        CHECKED_IN => Reply::CheckedIn,
        HEARTBEAT_ACK => Reply::HeartbeatAck,
        kind => Reply::Other(Message::decode(kind, payload).map_err(|e| e.to_string())?),
    };
    Ok(Some((reply, HEADER_LEN + len)))
}

/// A small deterministic generator, for heartbeat phases.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Worker {
    cfg: WorkerConfig,
    poll: Poll,
    conns: Vec<Conn>,
    /// Connections started but not yet set up.
    setting_up: usize,
    measuring: bool,
    /// Set at `stop`: no new requests.
    draining: Option<Instant>,
    report: Report,
    /// When a connection next has something to send: a heartbeat (held
    /// mode) or a checkout after thinking (license mode).
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    interval: Duration,
    think: Duration,
    /// The checkout request, framed once: one request is outstanding per
    /// connection, so its request number need not change.
    checkout_frame: Vec<u8>,
    /// Scratch space for encoding.
    frame: Vec<u8>,
    echo_frame: [u8; ECHO_SIZE],
    pid: u32,
}

/// The heartbeat a held connection sends: never idle, so that the daemon
/// treats the load as active users.
fn heartbeat(seq: u32) -> Message {
    Message::Heartbeat(Heartbeat { seq, idle: false })
}

/// Runs a worker until `stop` or end of input on standard input.
pub fn run(cfg: WorkerConfig) -> io::Result<()> {
    let poll = Poll::new()?;
    control::watch_stdin(&poll)?;
    let checkout_frame = Message::Checkout(Checkout {
        req: 1,
        feature: cfg.feature.clone(),
        version: "1.0".into(),
        count: 1,
        dup_group: 0,
        queue: false,
        borrow_until: 0,
        return_hash: wire::codec::Blob::default(),
    })
    .to_frame_bytes();
    let mut w = Worker {
        interval: Duration::from_millis(cfg.interval_ms.max(1)),
        think: Duration::from_micros(cfg.think_us),
        poll,
        conns: Vec::with_capacity(cfg.connections),
        setting_up: 0,
        measuring: false,
        draining: None,
        report: Report::default(),
        timers: BinaryHeap::new(),
        checkout_frame,
        frame: Vec::new(),
        echo_frame: [b'x'; ECHO_SIZE],
        pid: std::process::id(),
        cfg,
    };
    w.serve()
}

impl Worker {
    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 64 * 1024];
        let mut commands = control::Commands::default();
        let mut ready_sent = false;
        let mut started = Instant::now();
        loop {
            while self.conns.len() < self.cfg.connections && self.setting_up < self.cfg.window {
                self.open()?;
            }
            let set_up = self.report.established + self.report.failed;
            if !ready_sent && set_up == self.cfg.connections as u64 {
                println!(
                    "ready established={} failed={}",
                    self.report.established, self.report.failed
                );
                ready_sent = true;
            }
            if !control::wait(&mut self.poll, &mut events, &self.timers)? {
                continue;
            }
            for event in events.iter() {
                if event.token() == STDIN {
                    let (lines, ended) = commands.read(&mut buf);
                    for line in lines {
                        match line.as_str() {
                            "go" => {
                                self.measuring = true;
                                started = Instant::now();
                            }
                            "stop" => self.stop(started),
                            _ => {}
                        }
                    }
                    if ended {
                        self.stop(started);
                    }
                    continue;
                }
                let i = event.token().0;
                if self.conns[i].state == State::Dead {
                    continue;
                }
                if self.conns[i].state == State::Connecting {
                    if event.is_error() || event.is_write_closed() {
                        self.fail(i);
                        continue;
                    }
                    if !event.is_writable() {
                        continue;
                    }
                    let Some(stream) = self.conns[i].stream.as_ref() else {
                        continue;
                    };
                    if !matches!(stream.take_error(), Ok(None)) {
                        self.fail(i);
                        continue;
                    }
                    if stream.peer_addr().is_err() {
                        continue;
                    }
                    self.connected(i);
                    continue;
                }
                if event.is_writable() && !self.conns[i].out.is_empty() {
                    self.flush(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(i, &mut buf);
                }
            }
            self.fire_timers();
            if let Some(since) = self.draining {
                if since.elapsed() > DRAIN || !self.conns.iter().any(Conn::in_flight) {
                    return self.finish();
                }
            }
        }
    }

    /// Ends the measured window and starts draining.
    fn stop(&mut self, started: Instant) {
        if self.draining.is_some() {
            return;
        }
        self.report.window_ns = if self.measuring {
            started.elapsed().as_nanos() as u64
        } else {
            0
        };
        self.measuring = false;
        self.draining = Some(Instant::now());
    }

    fn open(&mut self) -> io::Result<()> {
        let i = self.conns.len();
        let global = self.cfg.first + i;
        let source = net::source_for(global, self.cfg.spread);
        let stream = match net::connect_from(source, self.cfg.target) {
            Ok(s) => Some(s),
            Err(e) => {
                if self.report.failed < 5 {
                    eprintln!("lmload worker: connect #{global} from {source:?}: {e}");
                }
                None
            }
        };
        let ok = stream.is_some();
        self.conns.push(Conn {
            stream,
            state: State::Connecting,
            inbuf: Vec::new(),
            echo_got: 0,
            out: Vec::new(),
            sent_at: Instant::now(),
            hb_seq: 0,
            hb_pending: None,
        });
        self.setting_up += 1;
        if !ok {
            self.fail(i);
            return Ok(());
        }
        if let Some(stream) = self.conns[i].stream.as_mut() {
            self.poll.registry().register(
                stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        Ok(())
    }

    /// Connection `i` could not be set up.
    fn fail(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let was = c.state;
        c.state = State::Dead;
        if let Some(mut stream) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        if matches!(was, State::Connecting | State::Welcoming | State::Holding) {
            self.setting_up -= 1;
            self.report.failed += 1;
        } else {
            self.report.closed += 1;
        }
    }

    fn set_up(&mut self, i: usize) {
        self.setting_up -= 1;
        self.report.established += 1;
        if self.cfg.mode == Mode::Held {
            let phase = mix(self.cfg.first as u64 + i as u64) % self.interval.as_millis() as u64;
            let due = Instant::now() + Duration::from_millis(phase);
            self.timers.push(Reverse((due, i)));
        }
    }

    fn connected(&mut self, i: usize) {
        match self.cfg.mode {
            Mode::Echo => {
                self.set_up(i);
                self.send_echo(i);
            }
            Mode::License | Mode::Held => {
                let global = (self.cfg.first + i) as u64;
                let identity = ClientIdentity {
                    user: format!("u{global}"),
                    host: "lmload".into(),
                    display: "/dev/null".into(),
                    pid: self.pid,
                    platform: "x64_lsb".into(),
                    hostids: vec![],
                    client_version: "lmload".into(),
                    job: (u64::from(self.pid) << 32) | (global + 1),
                    project: String::new(),
                };
                self.conns[i].state = State::Welcoming;
                let frame = Message::Hello(Hello { identity }).to_frame_bytes();
                self.send(i, &frame);
            }
        }
    }

    fn send_echo(&mut self, i: usize) {
        if self.draining.is_some() {
            self.conns[i].state = State::Idle;
            return;
        }
        self.conns[i].state = State::WaitEcho;
        self.conns[i].sent_at = Instant::now();
        let frame = self.echo_frame;
        self.send(i, &frame);
    }

    fn send_checkout(&mut self, i: usize, next: State) {
        if self.draining.is_some() {
            self.conns[i].state = State::Idle;
            return;
        }
        let c = &mut self.conns[i];
        c.state = next;
        c.sent_at = Instant::now();
        let frame = std::mem::take(&mut self.checkout_frame);
        self.send(i, &frame);
        self.checkout_frame = frame;
    }

    /// Encodes `msg` with the protocol's own encoder and sends it: a
    /// message that gains a field cannot silently break the benchmark.
    fn send_message(&mut self, i: usize, msg: &Message) {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        msg.encode(&mut frame);
        self.send(i, &frame);
        self.frame = frame;
    }

    /// Writes `bytes` now, queueing what the socket does not take.
    fn send(&mut self, i: usize, bytes: &[u8]) {
        let c = &mut self.conns[i];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        if !c.out.is_empty() {
            c.out.extend_from_slice(bytes);
            return;
        }
        let mut sent = 0;
        while sent < bytes.len() {
            match stream.write(&bytes[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.fail(i);
                    return;
                }
            }
        }
        c.out.extend_from_slice(&bytes[sent..]);
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        if control::write_out(stream, &mut c.out).is_err() {
            self.fail(i);
        }
    }

    fn read(&mut self, i: usize, buf: &mut [u8]) {
        loop {
            let Some(stream) = self.conns[i].stream.as_mut() else {
                return;
            };
            match control::read_in(stream, buf) {
                Got::Bytes(n) => {
                    if self.cfg.mode == Mode::Echo {
                        self.echo_bytes(i, n);
                    } else {
                        self.conns[i].inbuf.extend_from_slice(&buf[..n]);
                        self.replies(i);
                    }
                    if n < buf.len() {
                        // A short read drained the socket; the next bytes
                        // raise a new edge.
                        return;
                    }
                }
                Got::Nothing => return,
                Got::Closed => {
                    self.fail(i);
                    return;
                }
            }
        }
    }

    fn echo_bytes(&mut self, i: usize, n: usize) {
        let c = &mut self.conns[i];
        c.echo_got += n;
        while self.conns[i].echo_got >= ECHO_SIZE {
            self.conns[i].echo_got -= ECHO_SIZE;
            self.completed(i, true);
            self.send_echo(i);
        }
    }

    /// One request answered: a checkout or echo (`main`), or a checkin.
    fn completed(&mut self, i: usize, main: bool) {
        if !self.measuring {
            return;
        }
        self.report.requests += 1;
        let ns = self.conns[i].sent_at.elapsed().as_nanos() as u64;
        if main {
            self.report.latency.record(ns);
        } else {
            self.report.checkin.record(ns);
        }
    }

    /// Serves the whole frames in connection `i`'s input.
    fn replies(&mut self, i: usize) {
        let mut at = 0;
        loop {
            let reply = match next_reply(&self.conns[i].inbuf[at..]) {
                Ok(Some((reply, len))) => {
                    at += len;
                    reply
                }
                Ok(None) => break,
                Err(e) => {
                    self.error(format!("bad frame from the server: {e}"));
                    self.fail(i);
                    return;
                }
            };
            if !self.reply(i, reply) {
                return;
            }
        }
        let c = &mut self.conns[i];
        if at == c.inbuf.len() {
            c.inbuf.clear();
        } else {
            c.inbuf.drain(..at);
        }
    }

    /// Acts on one reply; false when the connection was given up.
    fn reply(&mut self, i: usize, reply: Reply) -> bool {
        let state = self.conns[i].state;
        match (state, reply) {
            (State::Welcoming, Reply::Other(Message::Welcome(_))) => match self.cfg.mode {
                Mode::License => {
                    self.set_up(i);
                    self.send_checkout(i, State::WaitGranted);
                }
                _ if self.cfg.feature.is_empty() => {
                    self.conns[i].state = State::Held;
                    self.set_up(i);
                }
                _ => self.send_checkout(i, State::Holding),
            },
            (State::Holding, Reply::Granted { .. }) => {
                self.conns[i].state = State::Held;
                self.set_up(i);
            }
            (State::WaitGranted, Reply::Granted { .. }) if self.draining.is_some() => {
                self.conns[i].state = State::Idle;
            }
            (State::WaitGranted, Reply::Granted { req, handle }) => {
                self.completed(i, true);
                self.conns[i].state = State::WaitCheckedIn;
                self.conns[i].sent_at = Instant::now();
                self.send_message(i, &Message::Checkin(Checkin { req, handle }));
            }
            (State::WaitCheckedIn, Reply::CheckedIn) => {
                self.completed(i, false);
                if self.think.is_zero() {
                    self.send_checkout(i, State::WaitGranted);
                } else {
                    self.conns[i].state = State::Thinking;
                    self.timers.push(Reverse((Instant::now() + self.think, i)));
                }
            }
            (_, Reply::HeartbeatAck) => {
                if let Some(t) = self.conns[i].hb_pending.take() {
                    self.report.hb_acked += 1;
                    let ns = t.elapsed().as_nanos() as u64;
                    self.report.hb_max_ns = self.report.hb_max_ns.max(ns);
                }
            }
            (_, Reply::Other(Message::Denied(d))) => {
                self.error(format!("denied: {} ({},{})", d.text, d.code, d.minor));
                self.fail(i);
                return false;
            }
            (_, other) => {
                self.error(format!("unexpected {other:?} in state {state:?}"));
                self.fail(i);
                return false;
            }
        }
        true
    }

    fn error(&mut self, text: String) {
        if self.report.errors < 5 {
            eprintln!("lmload worker: {text}");
        }
        self.report.errors += 1;
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((due, i))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            match self.conns[i].state {
                State::Thinking => {
                    self.send_checkout(i, State::WaitGranted);
                    continue;
                }
                State::Held if self.draining.is_none() => {}
                _ => continue,
            }
            if self.conns[i].hb_pending.is_some() {
                self.report.hb_missed += 1;
            }
            let c = &mut self.conns[i];
            c.hb_seq = c.hb_seq.wrapping_add(1);
            c.hb_pending = Some(now);
            let seq = c.hb_seq;
            self.report.hb_sent += 1;
            self.send_message(i, &heartbeat(seq));
            let mut next = due + self.interval;
            if next <= now {
                next = now + self.interval;
            }
            self.timers.push(Reverse((next, i)));
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        let now = Instant::now();
        for c in &self.conns {
            if c.state != State::Dead
                && c.hb_pending
                    .is_some_and(|t| now.duration_since(t) > self.interval)
            {
                self.report.hb_missed += 1;
            }
        }
        let line = self.report.encode();
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::Granted;

    #[test]
    fn hot_path_codes_are_the_protocol_s() {
        let hb = Heartbeat {
            seq: 1,
            idle: false,
        };
        assert_eq!(Message::HeartbeatAck(hb).kind(), HEARTBEAT_ACK);
        assert_eq!(Message::Granted(Granted::default()).kind(), GRANTED);
        assert_eq!(Message::CheckedIn(Checkin::default()).kind(), CHECKED_IN);
    }

    #[test]
    fn what_lmload_sends_decodes_as_the_daemon_decodes_it() {
        // The frames a vendor daemon receives from lmload, read back with
        // the protocol's own decoder.
        let mut decoder = wire::MessageDecoder::new(DEFAULT_MAX_PAYLOAD);
        let sent = [
            heartbeat(7),
            Message::Checkin(Checkin { req: 1, handle: 42 }),
        ];
        let mut bytes = Vec::new();
        for m in &sent {
            m.encode(&mut bytes);
        }
        decoder.feed(&bytes);
        let back: Vec<Message> = std::iter::from_fn(|| decoder.next_message().transpose())
            .collect::<Result<_, _>>()
            .expect("well-formed frames");
        assert_eq!(back, sent);
        assert!(matches!(&back[0], Message::Heartbeat(h) if h.seq == 7 && !h.idle));
    }

    #[test]
    fn replies_are_read_in_place_and_checked() {
        let granted = Message::Granted(Granted {
            req: 7,
            handle: 0x0102_0304_0506_0708,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            proof: vec![wire::LineProof::default()],
            seal: wire::codec::Blob::default(),
        });
        let mut bytes = granted.to_frame_bytes();
        let whole = bytes.len();
        Message::CheckedIn(Checkin { req: 7, handle: 9 }).encode(&mut bytes);
        for cut in 0..HEADER_LEN + 12 {
            assert!(next_reply(&bytes[..cut]).unwrap().is_none());
        }
        match next_reply(&bytes).unwrap() {
            Some((Reply::Granted { req, handle }, n)) => {
                assert_eq!((req, handle, n), (7, 0x0102_0304_0506_0708, whole));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            next_reply(&bytes[whole..]).unwrap(),
            Some((Reply::CheckedIn, _))
        ));
        let mut welcome = Message::Welcome(wire::Welcome::default()).to_frame_bytes();
        assert!(matches!(
            next_reply(&welcome).unwrap(),
            Some((Reply::Other(Message::Welcome(_)), _))
        ));
        let last = welcome.len() - 1;
        welcome[last] ^= 1;
        assert!(next_reply(&welcome).is_err());
    }
}
