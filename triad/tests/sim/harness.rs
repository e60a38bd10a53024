//! A deterministic simulation of the three members on virtual time.
//!
//! The network delays, drops, reorders and cuts messages (each direction of
//! each link on its own); members crash (dropped with everything in memory)
//! and restart from what their store persisted. A toy accounting state
//! machine (issued = `seats`; grant and release proposals) is replicated
//! through committed entries, and the invariants are checked after every
//! virtual step:
//!
//! * at most one member serves at any moment, and never the tertiary;
//! * every member's applied history is a prefix of one history;
//! * seats in use never exceed the seats issued;
//! * a serving master has applied every grant acknowledged to a client.
//!
//! Everything random comes from one seeded generator, so a seed replays.

use std::collections::{BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use triad::{Event, Member, MemberConfig, ProposalId, SharedMemory, Store};

/// A toy accounting operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Grant(u64),
    Release(u64),
}

impl Op {
    fn encode(self) -> Vec<u8> {
        let (tag, c) = match self {
            Op::Grant(c) => (0u8, c),
            Op::Release(c) => (1u8, c),
        };
        let mut v = vec![tag];
        v.extend_from_slice(&c.to_be_bytes());
        v
    }
    fn decode(b: &[u8]) -> Op {
        let c = u64::from_be_bytes(b[1..9].try_into().expect("9-byte op"));
        if b[0] == 0 {
            Op::Grant(c)
        } else {
            Op::Release(c)
        }
    }
}

/// The replicated state of one member's application.
#[derive(Debug, Default, Clone)]
pub struct App {
    pub history: Vec<Op>,
    pub in_use: BTreeSet<u64>,
    compacted_at: usize,
}

impl App {
    fn snapshot(&self) -> Vec<u8> {
        self.history.iter().flat_map(|op| op.encode()).collect()
    }
    fn restore(data: &[u8]) -> App {
        let mut app = App::default();
        for chunk in data.chunks(9) {
            app.apply_op(Op::decode(chunk), usize::MAX);
        }
        app.compacted_at = app.history.len();
        app
    }
    fn apply_op(&mut self, op: Op, seats: usize) {
        self.history.push(op);
        match op {
            Op::Grant(c) => {
                assert!(self.in_use.insert(c), "client {c} granted twice");
                assert!(
                    self.in_use.len() <= seats,
                    "over-issued: {} seats in use of {seats}",
                    self.in_use.len()
                );
            }
            Op::Release(c) => {
                self.in_use.remove(&c);
            }
        }
    }
}

pub struct Node {
    pub id: u64,
    backend: SharedMemory,
    pub member: Option<Member>,
    pub app: App,
    pending: HashMap<ProposalId, Op>,
    pending_grants: usize,
    pending_release: BTreeSet<u64>,
}

struct Packet {
    at: u64,
    seq: u64,
    from: u64,
    to: u64,
    payload: Vec<u8>,
}

/// Knobs of one simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub primary_is_master: bool,
    pub seats: usize,
    /// Compact a member's log every this many applied operations (0: never).
    pub compact_every: usize,
    /// Run the toy clients.
    pub clients: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            primary_is_master: false,
            seats: 5,
            compact_every: 40,
            clients: true,
        }
    }
}

pub struct Sim {
    pub cfg: SimConfig,
    pub now: u64,
    pub rng: StdRng,
    pub nodes: Vec<Node>,
    net: Vec<Packet>,
    seq: u64,
    /// `cut[from][to]`: that direction drops everything.
    pub cut: [[bool; 4]; 4],
    /// Probability of losing a message.
    pub loss: f64,
    /// Delay range of a message, ms.
    pub delay: (u64, u64),
    /// The longest applied history seen.
    canonical: Vec<Op>,
    /// Highest position in `canonical` acknowledged to a client.
    acked_upto: Option<usize>,
    next_client: u64,
    next_client_action: u64,
    /// Who served at the last check (for traces and figures).
    pub serving: Option<u64>,
    /// (time, who serves) each time it changed.
    pub serving_log: Vec<(u64, Option<u64>)>,
    pub acked: usize,
    pub trace: u64,
}

pub fn member_config(id: u64, pim: bool, seed: u64) -> MemberConfig {
    let mut c = MemberConfig::new(id);
    c.primary_is_master = pim;
    c.seed = seed;
    c
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Self {
        let rng = StdRng::seed_from_u64(cfg.seed);
        let mut sim = Sim {
            cfg,
            now: 0,
            rng,
            nodes: Vec::new(),
            net: Vec::new(),
            seq: 0,
            cut: [[false; 4]; 4],
            loss: 0.0,
            delay: (1, 5),
            canonical: Vec::new(),
            acked_upto: None,
            next_client: 1,
            next_client_action: 0,
            serving: None,
            serving_log: Vec::new(),
            acked: 0,
            trace: 0xcbf2_9ce4_8422_2325,
        };
        for id in 1..=3 {
            sim.nodes.push(Node {
                id,
                backend: SharedMemory::new(),
                member: None,
                app: App::default(),
                pending: HashMap::new(),
                pending_grants: 0,
                pending_release: BTreeSet::new(),
            });
        }
        sim
    }

    fn mix(&mut self, v: u64) {
        self.trace = (self.trace ^ v).wrapping_mul(0x100_0000_01b3);
    }

    /// Starts (or restarts) member `id` from its persisted store.
    pub fn start(&mut self, id: u64) {
        let seed = self.rng.gen();
        let cfg = member_config(id, self.cfg.primary_is_master, seed);
        let node = &mut self.nodes[id as usize - 1];
        assert!(node.member.is_none(), "member {id} already up");
        let store = Store::open_backend(node.backend.clone()).expect("open store");
        node.member = Some(Member::new(cfg, store, self.now).expect("start member"));
        node.app = App::default();
        self.mix(id);
    }

    /// Crashes member `id`: everything it had in memory is gone.
    pub fn crash(&mut self, id: u64) {
        let node = &mut self.nodes[id as usize - 1];
        node.member = None;
        node.pending.clear();
        node.pending_grants = 0;
        node.pending_release.clear();
        self.mix(100 + id);
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.nodes[id as usize - 1].member.is_some()
    }

    /// Each member's status, for failure messages.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match &n.member {
                Some(m) => out.push_str(&format!("\n  {:?} {:?}", m.status(self.now), m)),
                None => out.push_str(&format!("\n  member {} down", n.id)),
            }
        }
        out
    }

    pub fn heal(&mut self) {
        self.cut = [[false; 4]; 4];
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut_link(&mut self, a: u64, b: u64) {
        self.cut[a as usize][b as usize] = true;
        self.cut[b as usize][a as usize] = true;
    }

    /// Cuts every link of `id`.
    pub fn isolate(&mut self, id: u64) {
        for o in 1..=3 {
            if o != id {
                self.cut_link(id, o);
            }
        }
    }

    /// Which member serves now (asserting there is at most one).
    pub fn who_serves(&self) -> Option<u64> {
        let serving: Vec<u64> = self
            .nodes
            .iter()
            .filter(|n| n.member.as_ref().is_some_and(|m| m.is_serving(self.now)))
            .map(|n| n.id)
            .collect();
        assert!(
            serving.len() <= 1,
            "seed {}: members {serving:?} serve at once at {} ms",
            self.cfg.seed,
            self.now
        );
        serving.first().copied()
    }

    fn drain(&mut self) {
        for i in 0..3 {
            while let Some(m) = self.nodes[i].member.as_mut() {
                if let Some(t) = m.poll_transmit() {
                    self.send(i as u64 + 1, t.to, t.payload);
                } else if let Some(ev) = m.poll_event() {
                    self.on_event(i, ev);
                } else {
                    self.maybe_compact(i);
                    break;
                }
            }
        }
    }

    /// Compacts at a point where every event is taken, so the application
    /// state is exactly the state after the applied index.
    fn maybe_compact(&mut self, i: usize) {
        let every = self.cfg.compact_every;
        let node = &mut self.nodes[i];
        if every == 0 || node.app.history.len() < node.app.compacted_at + every {
            return;
        }
        if let Some(m) = node.member.as_mut() {
            let idx = m.applied();
            if m.compact(idx, node.app.snapshot()).is_ok() {
                node.app.compacted_at = node.app.history.len();
            }
        }
    }

    fn send(&mut self, from: u64, to: u64, payload: Vec<u8>) {
        if self.cut[from as usize][to as usize] || self.rng.gen_bool(self.loss) {
            return;
        }
        let at = self.now + self.rng.gen_range(self.delay.0..=self.delay.1);
        self.seq += 1;
        self.net.push(Packet {
            at,
            seq: self.seq,
            from,
            to,
            payload,
        });
    }

    fn on_event(&mut self, i: usize, ev: Event) {
        let seats = self.cfg.seats;
        let node = &mut self.nodes[i];
        match ev {
            Event::Restore { data, .. } => {
                node.app = App::restore(&data);
                let h = node.app.history.clone();
                self.check_prefix(&h);
            }
            Event::Apply { payload, .. } => {
                node.app.apply_op(Op::decode(&payload), seats);
                let h = node.app.history.clone();
                self.check_prefix(&h);
            }
            Event::Committed(id) => {
                let op = node
                    .pending
                    .remove(&id)
                    .expect("committed an unknown proposal");
                let pos = node
                    .app
                    .history
                    .iter()
                    .rposition(|o| *o == op)
                    .expect("committed op was applied");
                match op {
                    Op::Grant(_) => node.pending_grants -= 1,
                    Op::Release(c) => {
                        node.pending_release.remove(&c);
                    }
                }
                self.acked += 1;
                self.acked_upto = Some(self.acked_upto.map_or(pos, |p| p.max(pos)));
            }
            Event::Dropped(id) | Event::Unknown(id) => {
                if let Some(op) = node.pending.remove(&id) {
                    match op {
                        Op::Grant(_) => node.pending_grants -= 1,
                        Op::Release(c) => {
                            node.pending_release.remove(&c);
                        }
                    }
                }
            }
            Event::Failed(e) => panic!("member {} failed: {e}", i + 1),
            Event::Serving(_) | Event::Master(_) => {}
        }
    }

    fn check_prefix(&mut self, h: &[Op]) {
        let n = h.len().min(self.canonical.len());
        assert_eq!(
            &h[..n],
            &self.canonical[..n],
            "seed {}: applied histories diverge",
            self.cfg.seed
        );
        if h.len() > self.canonical.len() {
            self.canonical.extend_from_slice(&h[self.canonical.len()..]);
        }
    }

    fn check(&mut self) {
        let who = self.who_serves();
        if let Some(id) = who {
            assert_ne!(id, 3, "seed {}: the tertiary serves", self.cfg.seed);
            let node = &self.nodes[id as usize - 1];
            if let Some(p) = self.acked_upto {
                assert!(
                    node.app.history.len() > p,
                    "seed {}: master {id} serves without acknowledged op {p} (has {})",
                    self.cfg.seed,
                    node.app.history.len()
                );
            }
        }
        if who != self.serving {
            self.serving = who;
            self.serving_log.push((self.now, who));
            self.mix(self.now ^ who.unwrap_or(0) << 40);
        }
    }

    fn clients(&mut self) {
        if !self.cfg.clients || self.now < self.next_client_action {
            return;
        }
        self.next_client_action = self.now + self.rng.gen_range(30..150);
        let seats = self.cfg.seats;
        for i in 0..3 {
            let now = self.now;
            let Some(m) = self.nodes[i].member.as_ref() else {
                continue;
            };
            if !m.is_serving(now) {
                continue;
            }
            let n = self.rng.gen_range(1..=3);
            for _ in 0..n {
                let node = &self.nodes[i];
                let free = seats.saturating_sub(node.app.in_use.len() + node.pending_grants);
                let releasable: Vec<u64> = node
                    .app
                    .in_use
                    .iter()
                    .filter(|c| !node.pending_release.contains(c))
                    .copied()
                    .collect();
                let op = if free > 0 && (releasable.is_empty() || self.rng.gen_bool(0.6)) {
                    let c = self.next_client;
                    self.next_client += 1;
                    Op::Grant(c)
                } else if !releasable.is_empty() {
                    Op::Release(releasable[self.rng.gen_range(0..releasable.len())])
                } else {
                    break;
                };
                let node = &mut self.nodes[i];
                let Some(m) = node.member.as_mut() else { break };
                if let Ok(id) = m.propose(now, op.encode()) {
                    node.pending.insert(id, op);
                    match op {
                        Op::Grant(_) => node.pending_grants += 1,
                        Op::Release(c) => {
                            node.pending_release.insert(c);
                        }
                    }
                }
            }
        }
    }

    /// Runs until virtual time `end`, checking invariants at every step.
    pub fn run_until(&mut self, end: u64) {
        loop {
            self.drain();
            self.check();
            self.clients();
            self.drain();
            self.check();
            let mut next = end;
            if let Some(p) = self.net.iter().map(|p| p.at).min() {
                next = next.min(p);
            }
            for n in &self.nodes {
                if let Some(m) = &n.member {
                    next = next.min(m.poll_timeout());
                }
            }
            if self.cfg.clients {
                next = next.min(self.next_client_action);
            }
            if next > end || (next == end && self.now == end) {
                break;
            }
            self.now = self.now.max(next);
            self.deliver();
            for i in 0..3 {
                let now = self.now;
                if let Some(m) = self.nodes[i].member.as_mut() {
                    if m.poll_timeout() <= now {
                        m.tick(now);
                    }
                }
            }
        }
        self.now = end;
        self.check();
    }

    fn deliver(&mut self) {
        let now = self.now;
        let mut due: Vec<Packet> = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].at <= now {
                due.push(self.net.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.seq));
        let verbose = std::env::var_os("TRIAD_SIM_TRACE").is_some();
        for p in due {
            self.mix(p.seq);
            if verbose {
                if let Ok(m) = triad::codec::decode_message(&p.payload) {
                    eprintln!(
                        "{now:>6} {}->{} {:?} term {} idx {} logterm {} commit {} n {} rej {} up {}",
                        p.from,
                        p.to,
                        m.msg_type,
                        m.term,
                        m.index,
                        m.log_term,
                        m.commit,
                        m.entries.len(),
                        m.reject,
                        self.nodes[p.to as usize - 1].member.is_some()
                    );
                }
            }
            if let Some(m) = self.nodes[p.to as usize - 1].member.as_mut() {
                // Steps may be refused (e.g. inconsistent); that is the
                // member's business, not a simulation failure.
                let _ = m.step(now, p.from, &p.payload);
            }
        }
    }

    /// Runs until someone serves or `limit` passes; returns when.
    pub fn until_serving(&mut self, limit: u64) -> Option<(u64, u64)> {
        let end = self.now + limit;
        while self.now < end {
            let step = (self.now + 10).min(end);
            self.run_until(step);
            if let Some(id) = self.serving {
                return Some((self.now, id));
            }
        }
        None
    }

    /// Runs until member `id` serves or `limit` passes; returns when.
    pub fn until_serves(&mut self, id: u64, limit: u64) -> Option<u64> {
        let end = self.now + limit;
        while self.now < end {
            let step = (self.now + 10).min(end);
            self.run_until(step);
            if self.serving == Some(id) {
                return Some(self.now);
            }
        }
        None
    }
}
