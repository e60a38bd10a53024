//! A reconnect storm: many holders of a triad, each keeping one seat, that
//! all lose their vendor daemon at once (its master was killed) and must
//! find the new master and get their seats back.
//!
//! Each holder behaves like an application built on the client library:
//! it asks a member's lmgrd where the vendor daemon is (`VendorLookup`),
//! says `Hello` to it as the same job every time, and checks one seat out.
//! When its connection drops it retries the members in turn, with the
//! client library's policy for a triad (quick rounds 100 to 200 ms apart,
//! then a doubling backoff lengthened by up to a tenth), until a vendor
//! daemon welcomes it. The `Welcome` of a new master lists the seats the job still holds:
//! a holder whose seat is listed is *back*; one whose seat is missing has
//! *lost* it (and checks out again: *regained*); a seat listed that is not
//! the holder's own is *foreign* (given twice).
//!
//! The worker talks to its parent as `lmload worker` does: `ready` once
//! every holder has its seat, `settled` once every holder that went down is
//! back (or lost its seat and checked out again), and one `storm ...` line
//! on `stop`.

use crate::control::{self, Got, Timers, STDIN};
use crate::hist::Histogram;
use crate::net;
use crate::worker::{mix, next_reply, Reply};
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wire::{Checkout, ClientIdentity, Heartbeat, Hello, Message, VendorLookup};

/// What one storm worker does.
#[derive(Debug, Clone)]
pub struct StormConfig {
    /// The members' lmgrd, in the license's order.
    pub lmgrd: Vec<SocketAddr>,
    pub vendor: String,
    pub feature: String,
    pub connections: usize,
    /// Global index of this worker's first holder (job ids, user names and
    /// source addresses).
    pub first: usize,
    pub spread: usize,
    /// Heartbeat interval while a seat is held.
    pub interval_ms: u64,
    /// Rounds of the members retried every `retry_fast_ms` first (a new
    /// master is usually elected within two seconds), as the client library
    /// does for a triad.
    pub retry_fast_rounds: u32,
    pub retry_fast_ms: u64,
    /// Then the delay doubles from `retry_initial_ms` up to `retry_max_ms`.
    /// Every delay is drawn between half and all of its value.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Holders being set up at once (before the storm).
    pub window: usize,
}

/// Where a holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started yet (set-up window).
    New,
    /// Connecting to, then talking to, a member's lmgrd.
    LookupConnect,
    LookupHello,
    LookupAsk,
    /// Connecting to, then talking to, the vendor daemon it named.
    VendorConnect,
    VendorHello,
    Checkout,
    Held,
    /// Waiting out the retry delay.
    Waiting,
}

struct Holder {
    stream: Option<mio::net::TcpStream>,
    phase: Phase,
    /// The member tried now (index into `lmgrd`).
    member: usize,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// The seat held (0: none yet).
    handle: u64,
    /// Rounds of the members that failed since the last success.
    attempt: u32,
    /// Members tried in the current round.
    tried: usize,
    /// Wall-clock µs when its vendor daemon went away, and when it was back.
    down_at: Option<u64>,
    back_at: Option<u64>,
    hb_seq: u32,
}

/// What a storm worker reports on `stop`.
#[derive(Debug, Default, Clone)]
pub struct StormReport {
    pub held: u64,
    pub failed: u64,
    pub back: u64,
    pub lost: u64,
    pub regained: u64,
    pub foreign: u64,
    /// Holders that went down and were not back at `stop`.
    pub unresolved: u64,
    pub attempts: u64,
    pub first_down_us: u64,
    pub last_back_us: u64,
    /// Per holder: from its own disconnection to its seat back.
    pub reattach: Histogram,
}

impl StormReport {
    pub fn encode(&self) -> String {
        format!(
            "storm held={} failed={} back={} lost={} regained={} foreign={} unresolved={} \
             attempts={} first_down_us={} last_back_us={} reattach={}",
            self.held,
            self.failed,
            self.back,
            self.lost,
            self.regained,
            self.foreign,
            self.unresolved,
            self.attempts,
            self.first_down_us,
            self.last_back_us,
            self.reattach.encode()
        )
    }

    pub fn decode(line: &str) -> Option<StormReport> {
        let rest = line.strip_prefix("storm ")?;
        let mut r = StormReport::default();
        for field in rest.split_whitespace() {
            let (k, v) = field.split_once('=')?;
            if k == "reattach" {
                r.reattach = Histogram::decode(v)?;
                continue;
            }
            let v: u64 = v.parse().ok()?;
            let slot = match k {
                "held" => &mut r.held,
                "failed" => &mut r.failed,
                "back" => &mut r.back,
                "lost" => &mut r.lost,
                "regained" => &mut r.regained,
                "foreign" => &mut r.foreign,
                "unresolved" => &mut r.unresolved,
                "attempts" => &mut r.attempts,
                "first_down_us" => &mut r.first_down_us,
                "last_back_us" => &mut r.last_back_us,
                _ => continue,
            };
            *slot = v;
        }
        Some(r)
    }

    /// Adds `other` (another worker's report) to this one.
    pub fn merge(&mut self, other: &StormReport) {
        self.held += other.held;
        self.failed += other.failed;
        self.back += other.back;
        self.lost += other.lost;
        self.regained += other.regained;
        self.foreign += other.foreign;
        self.unresolved += other.unresolved;
        self.attempts += other.attempts;
        self.first_down_us = match (self.first_down_us, other.first_down_us) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        self.last_back_us = self.last_back_us.max(other.last_back_us);
        self.reattach.merge(&other.reattach);
    }
}

/// The delay before retry number `attempt` (1 for the first): doubling
/// from `initial` up to `max`, then drawn between half and all of that
/// ("equal jitter"), so that thousands of holders that failed in the same
/// millisecond do not all come back in the same millisecond, while none
/// retries at once or later than the cap. `draw` is any 64-bit value.
pub fn retry_delay(attempt: u32, initial: Duration, max: Duration, draw: u64) -> Duration {
    let doubled = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let base = doubled.min(max).as_micros() as u64;
    let half = base / 2;
    Duration::from_micros(half + draw % (base - half + 1))
}

/// The delay before backoff retry number `attempt` (1 for the first):
/// doubling from `initial` up to `max`, lengthened by up to a tenth.
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration, draw: u64) -> Duration {
    let doubled = initial.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let base = doubled.min(max).as_micros() as u64;
    Duration::from_micros(base + draw % (base / 10 + 1))
}

/// Holder `index`'s source address: 127.1.1.1 and up, never the address of
/// a triad member (127.0.0.x), so that the daemons can tell the members'
/// own links from this load.
fn source_for(index: usize, spread: usize) -> std::net::Ipv4Addr {
    let n = (index % spread.max(1)) as u32 + 1;
    std::net::Ipv4Addr::new(127, 1 + (n >> 16) as u8, (n >> 8) as u8 + 1, n as u8)
}

/// Microseconds since the Unix epoch: the parent compares these across
/// processes with the moment it killed the master.
fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Storm {
    cfg: StormConfig,
    poll: Poll,
    holders: Vec<Holder>,
    timers: Timers,
    setting_up: usize,
    started: usize,
    report: StormReport,
    draws: u64,
    pid: u32,
    frame: Vec<u8>,
    /// `LMLOAD_DEBUG` set: every failed connection is told on stderr.
    debug: bool,
}

/// Runs a storm worker until `stop` or end of input.
pub fn run(cfg: StormConfig) -> io::Result<()> {
    let poll = Poll::new()?;
    control::watch_stdin(&poll)?;
    let pid = std::process::id();
    let mut s = Storm {
        holders: (0..cfg.connections)
            .map(|i| Holder {
                stream: None,
                phase: Phase::New,
                member: 0,
                inbuf: Vec::new(),
                out: Vec::new(),
                handle: 0,
                attempt: 0,
                tried: 0,
                down_at: None,
                back_at: None,
                hb_seq: mix(i as u64) as u32,
            })
            .collect(),
        cfg,
        poll,
        timers: BinaryHeap::new(),
        setting_up: 0,
        started: 0,
        report: StormReport::default(),
        draws: u64::from(pid),
        pid,
        frame: Vec::new(),
        debug: std::env::var_os("LMLOAD_DEBUG").is_some(),
    };
    s.serve()
}

impl Storm {
    fn serve(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 64 * 1024];
        let mut commands = control::Commands::default();
        let (mut ready_sent, mut settled_sent) = (false, false);
        loop {
            while self.started < self.holders.len() && self.setting_up < self.cfg.window {
                let i = self.started;
                self.started += 1;
                self.setting_up += 1;
                self.lookup(i);
            }
            if !ready_sent && self.started == self.holders.len() && self.setting_up == 0 {
                println!(
                    "ready established={} failed={}",
                    self.report.held, self.report.failed
                );
                ready_sent = true;
            }
            if ready_sent && !settled_sent && self.settled() {
                println!("settled");
                settled_sent = true;
            }
            if !control::wait(&mut self.poll, &mut events, &self.timers)? {
                continue;
            }
            for event in events.iter() {
                if event.token() == STDIN {
                    let (lines, ended) = commands.read(&mut buf);
                    if ended || lines.iter().any(|l| l == "stop") {
                        return self.finish();
                    }
                    continue;
                }
                let i = event.token().0;
                if self.holders[i].stream.is_none() {
                    continue;
                }
                match self.holders[i].phase {
                    Phase::LookupConnect | Phase::VendorConnect => {
                        if event.is_error() || event.is_write_closed() {
                            if self.debug {
                                eprintln!("lmload storm-worker: connect event {event:?}");
                            }
                            self.failed(i);
                        } else if event.is_writable() {
                            self.connected(i);
                        }
                        continue;
                    }
                    _ => {}
                }
                if event.is_writable() && !self.holders[i].out.is_empty() {
                    self.flush(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(i, &mut buf);
                }
            }
            self.fire_timers();
        }
    }

    /// Every holder that went down is back, and at least one went down.
    fn settled(&self) -> bool {
        let mut any = false;
        for h in &self.holders {
            if h.down_at.is_some() {
                any = true;
                if h.back_at.is_none() {
                    return false;
                }
            }
        }
        any
    }

    fn draw(&mut self) -> u64 {
        self.draws = self.draws.wrapping_add(1);
        mix(self.draws)
    }

    fn identity(&self, i: usize, user: String) -> ClientIdentity {
        let global = (self.cfg.first + i) as u64;
        ClientIdentity {
            user,
            host: "lmload".into(),
            display: "/dev/null".into(),
            pid: self.pid,
            platform: "x64_lsb".into(),
            hostids: vec![],
            client_version: "lmload".into(),
            job: (u64::from(self.pid) << 32) | (global + 1),
            project: String::new(),
        }
    }

    fn connect(&mut self, i: usize, to: SocketAddr, phase: Phase) {
        let source = Some(source_for(self.cfg.first + i, self.cfg.spread));
        match net::connect_from(source, to) {
            Ok(mut stream) => {
                let registered = self.poll.registry().register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                );
                let h = &mut self.holders[i];
                h.phase = phase;
                h.inbuf.clear();
                h.out.clear();
                h.stream = Some(stream);
                if registered.is_err() {
                    self.failed(i);
                }
            }
            Err(e) => {
                if self.debug {
                    eprintln!("lmload storm-worker: connect to {to}: {e}");
                }
                self.holders[i].phase = phase;
                self.failed(i);
            }
        }
    }

    /// Asks the current member's lmgrd where the vendor daemon is.
    fn lookup(&mut self, i: usize) {
        let to = self.cfg.lmgrd[self.holders[i].member];
        self.connect(i, to, Phase::LookupConnect);
    }

    fn connected(&mut self, i: usize) {
        let Some(stream) = self.holders[i].stream.as_ref() else {
            return;
        };
        if !matches!(stream.take_error(), Ok(None)) {
            self.failed(i);
            return;
        }
        if stream.peer_addr().is_err() {
            return;
        }
        let (next, user) = match self.holders[i].phase {
            Phase::LookupConnect => (Phase::LookupHello, "lookup".to_string()),
            _ => (Phase::VendorHello, format!("u{}", self.cfg.first + i)),
        };
        self.holders[i].phase = next;
        let hello = Message::Hello(Hello {
            identity: self.identity(i, user),
        });
        self.send(i, &hello);
    }

    /// Holder `i`'s link failed or was refused: it tries the next member,
    /// at once while some member of this round is left, else after a delay
    /// (as the client library goes through a triad's list quickly before
    /// it backs off). A holder that had its seat notes when it went down.
    fn failed(&mut self, i: usize) {
        let now_us = wall_us();
        let members = self.cfg.lmgrd.len();
        let h = &mut self.holders[i];
        if let Some(mut s) = h.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        let was = h.phase;
        if self.debug {
            eprintln!(
                "lmload storm-worker: holder {i} failed while {was:?} (member {})",
                h.member
            );
        }
        h.phase = Phase::Waiting;
        h.member = (h.member + 1) % members;
        self.report.attempts += 1;
        if was == Phase::Held {
            h.down_at = Some(now_us);
            h.back_at = None;
            h.attempt = 0;
            h.tried = 0;
            if self.report.first_down_us == 0 || now_us < self.report.first_down_us {
                self.report.first_down_us = now_us;
            }
        }
        if was == Phase::Held {
            // The first try after the loss waits up to half a quick retry,
            // as the client library does, so that every application a crash
            // disconnected does not come back in the same millisecond.
            let wait = self.draw() % (self.cfg.retry_fast_ms * 500 + 1);
            self.timers
                .push(Reverse((Instant::now() + Duration::from_micros(wait), i)));
            return;
        }
        h.tried += 1;
        if h.tried < members {
            self.timers.push(Reverse((Instant::now(), i)));
            return;
        }
        h.tried = 0;
        h.attempt += 1;
        let attempt = h.attempt;
        let draw = self.draw();
        let c = &self.cfg;
        let ms = Duration::from_millis;
        let delay = match attempt.checked_sub(c.retry_fast_rounds) {
            None | Some(0) => retry_delay(1, ms(c.retry_fast_ms), ms(c.retry_fast_ms), draw),
            // As the client library: the backoff keeps its whole wait and
            // adds up to a tenth, so the spread never shortens an outage
            // the application rides out.
            Some(n) => backoff_delay(n, ms(c.retry_initial_ms), ms(c.retry_max_ms), draw),
        };
        self.timers.push(Reverse((Instant::now() + delay, i)));
    }

    fn send(&mut self, i: usize, msg: &Message) {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        msg.encode(&mut frame);
        self.holders[i].out.extend_from_slice(&frame);
        self.frame = frame;
        self.flush(i);
    }

    fn flush(&mut self, i: usize) {
        let h = &mut self.holders[i];
        let Some(stream) = h.stream.as_mut() else {
            return;
        };
        if control::write_out(stream, &mut h.out).is_err() {
            self.failed(i);
        }
    }

    fn read(&mut self, i: usize, buf: &mut [u8]) {
        loop {
            let Some(stream) = self.holders[i].stream.as_mut() else {
                return;
            };
            match control::read_in(stream, buf) {
                Got::Bytes(n) => {
                    self.holders[i].inbuf.extend_from_slice(&buf[..n]);
                    if !self.replies(i) || n < buf.len() {
                        return;
                    }
                }
                Got::Nothing => return,
                Got::Closed => {
                    self.failed(i);
                    return;
                }
            }
        }
    }

    /// Acts on the whole frames read; false when the link was given up.
    fn replies(&mut self, i: usize) -> bool {
        let mut at = 0;
        loop {
            let reply = match next_reply(&self.holders[i].inbuf[at..]) {
                Ok(Some((reply, len))) => {
                    at += len;
                    reply
                }
                Ok(None) => break,
                Err(_) => {
                    self.failed(i);
                    return false;
                }
            };
            if !self.reply(i, reply) {
                return false;
            }
        }
        self.holders[i].inbuf.drain(..at);
        true
    }

    fn reply(&mut self, i: usize, reply: Reply) -> bool {
        let phase = self.holders[i].phase;
        match (phase, reply) {
            (Phase::LookupHello, Reply::Other(Message::Welcome(_))) => {
                self.holders[i].phase = Phase::LookupAsk;
                let ask = Message::VendorLookup(VendorLookup {
                    vendor: self.cfg.vendor.clone(),
                });
                self.send(i, &ask);
            }
            (Phase::LookupAsk, Reply::Other(Message::VendorInfo(v))) => {
                if let Some(mut s) = self.holders[i].stream.take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
                let mut to = self.cfg.lmgrd[self.holders[i].member];
                to.set_port(v.port);
                self.connect(i, to, Phase::VendorConnect);
                return false;
            }
            (Phase::VendorHello, Reply::Other(Message::Welcome(w))) => {
                let handle = self.holders[i].handle;
                if handle == 0 {
                    self.checkout(i);
                    return true;
                }
                let ours = w.held.iter().any(|g| g.handle == handle);
                let foreign = w.held.iter().filter(|g| g.handle != handle).count();
                self.report.foreign += foreign as u64;
                if ours {
                    self.back(i);
                } else {
                    self.report.lost += 1;
                    self.checkout(i);
                }
            }
            (Phase::Checkout, Reply::Granted { handle, .. }) => {
                let first = self.holders[i].handle == 0;
                self.holders[i].handle = handle;
                if first {
                    self.setting_up -= 1;
                    self.report.held += 1;
                    self.holders[i].phase = Phase::Held;
                    self.holders[i].attempt = 0;
                    self.holders[i].tried = 0;
                    self.schedule_heartbeat(i);
                } else {
                    self.report.regained += 1;
                    self.back(i);
                }
            }
            (Phase::Held, Reply::HeartbeatAck) => {}
            // A standby that does not serve, a member without a vendor
            // daemon, a denial: try elsewhere.
            (phase, other) => {
                if self.report.attempts < 5 {
                    eprintln!(
                        "lmload storm-worker: {other:?} while {phase:?}; trying the next member"
                    );
                }
                self.failed(i);
                return false;
            }
        }
        true
    }

    fn checkout(&mut self, i: usize) {
        self.holders[i].phase = Phase::Checkout;
        let co = Message::Checkout(Checkout {
            req: 1,
            feature: self.cfg.feature.clone(),
            version: "1.0".into(),
            count: 1,
            ..Checkout::default()
        });
        self.send(i, &co);
    }

    /// Holder `i` has its seat again.
    fn back(&mut self, i: usize) {
        let now_us = wall_us();
        let h = &mut self.holders[i];
        h.phase = Phase::Held;
        h.attempt = 0;
        h.tried = 0;
        if h.down_at.is_some() && h.back_at.is_none() {
            h.back_at = Some(now_us);
            self.report.back += 1;
            let down = h.down_at.unwrap_or(now_us);
            self.report
                .reattach
                .record(now_us.saturating_sub(down).saturating_mul(1000));
            self.report.last_back_us = self.report.last_back_us.max(now_us);
        }
        self.schedule_heartbeat(i);
    }

    fn schedule_heartbeat(&mut self, i: usize) {
        let interval = self.cfg.interval_ms.max(1);
        let phase = self.draw() % interval;
        let due = Instant::now() + Duration::from_millis(interval / 2 + phase / 2);
        self.timers.push(Reverse((due, i)));
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((due, i))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            match self.holders[i].phase {
                Phase::Waiting => self.lookup(i),
                Phase::Held => {
                    let h = &mut self.holders[i];
                    h.hb_seq = h.hb_seq.wrapping_add(1);
                    let beat = Message::Heartbeat(Heartbeat {
                        seq: h.hb_seq,
                        idle: false,
                    });
                    self.send(i, &beat);
                    let next = now + Duration::from_millis(self.cfg.interval_ms.max(1));
                    self.timers.push(Reverse((next, i)));
                }
                _ => {}
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.report.unresolved = self
            .holders
            .iter()
            .filter(|h| h.down_at.is_some() && h.back_at.is_none())
            .count() as u64;
        self.report.failed = self.holders.iter().filter(|h| h.handle == 0).count() as u64;
        let line = self.report.encode();
        let mut out = io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retries_double_to_the_cap_and_stay_within_half_and_all_of_it() {
        for (attempt, base) in [(1, 50), (2, 100), (3, 200), (5, 800), (6, 1000), (40, 1000)] {
            for draw in [0, 1, 7, 12_345, u64::MAX / 3, u64::MAX] {
                let d = retry_delay(attempt, ms(50), ms(1000), draw);
                assert!(
                    d >= ms(base / 2) && d <= ms(base),
                    "{attempt} {draw}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn the_backoff_is_never_shortened_and_grows_by_a_tenth_at_most() {
        for (attempt, base) in [(1, 1000), (2, 2000), (7, 60_000), (40, 60_000)] {
            for draw in [0, 1, 99_999, u64::MAX] {
                let d = backoff_delay(attempt, ms(1000), ms(60_000), draw);
                assert!(
                    d >= ms(base) && d <= ms(base + base / 10),
                    "{attempt}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn holders_failing_together_spread_their_retries() {
        let delays: Vec<Duration> = (0..1000u64)
            .map(|n| retry_delay(1, ms(200), ms(2000), mix(n)))
            .collect();
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*min < ms(110) && *max > ms(190), "{min:?}..{max:?}");
        let mut distinct = delays.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 900, "{} distinct of 1000", distinct.len());
    }

    #[test]
    fn reports_round_trip_and_merge() {
        let mut a = StormReport {
            held: 10,
            back: 9,
            lost: 1,
            regained: 1,
            attempts: 30,
            first_down_us: 500,
            last_back_us: 900,
            ..StormReport::default()
        };
        a.reattach.record(1_000_000);
        let decoded = StormReport::decode(&a.encode()).unwrap();
        assert_eq!(decoded.encode(), a.encode());
        let b = StormReport {
            held: 5,
            back: 5,
            first_down_us: 400,
            last_back_us: 1200,
            ..StormReport::default()
        };
        a.merge(&b);
        assert_eq!(
            (a.held, a.back, a.first_down_us, a.last_back_us),
            (15, 14, 400, 1200)
        );
    }
}
