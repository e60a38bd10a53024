//! One triad member as a pure state machine: raft plus the rules FLEXlm's
//! three-server redundancy adds on top (who may be master, the serving lease,
//! handing mastership back to the primary).
//!
//! No I/O, no clock, no thread: the caller passes the time (`now`, monotonic
//! milliseconds) into every input, and drains what the member wants done with
//! the `poll_*` functions, quinn-proto style:
//!
//! ```text
//! inputs:  tick(now)  step(now, from, bytes)  propose(now, payload)  compact(..)
//! outputs: poll_transmit() -> bytes for a peer     (send in order, may drop)
//!          poll_event()    -> Apply / Committed / Dropped / Restore / Serving / Master
//!          poll_timeout()  -> when to call tick next
//! queries: is_serving(now)  master(now)  status(now)
//! ```
//!
//! Everything raft asks to persist is written to the [`Store`] before the
//! messages of the same cycle are queued, so by the time a vote or an
//! acknowledgement leaves the member, it survives a crash.
//!
//! # Who is master
//!
//! The members are numbered by SERVER line: 1 primary, 2 secondary, 3 tertiary.
//! Raft elects a leader; on top of that:
//!
//! * The tertiary never serves. Its election timer never fires and it drops
//!   `MsgTimeoutNow`, so normally it only votes. One case forces it to lead
//!   for a moment: it may hold entries (even committed ones) that the
//!   surviving primary or secondary lacks, and raft lets only a leader pass
//!   them on. When a candidate whose log is older than the tertiary's asks
//!   for its vote and no leader is alive, the tertiary campaigns, and as
//!   leader hands leadership to the primary (or else the secondary) as soon
//!   as it has caught up. It never proposes and never takes a lease.
//! * The primary's election timeout is drawn from `[E, 1.5E)` ticks and the
//!   secondary's from `[1.5E, 2E)`, so when both start together the primary
//!   campaigns first, and when the master is lost the secondary still takes
//!   over within `2E` ticks.
//! * With `primary_is_master`, a leader other than the primary hands
//!   leadership to it (`transfer_leader`) once it is back and has every
//!   committed entry.
//!
//! # The serving lease: never two masters at once
//!
//! Raft leadership alone can overlap: a leader cut off from the others goes on
//! believing it leads until check-quorum notices, while the others elect a new
//! one. So "serving" is narrower than "leader":
//!
//! `is_serving(now)` holds when this member is leader, is not handing
//! leadership over, a majority (itself and one peer) acknowledged a heartbeat
//! round the leader started at time `t` in its current term, `now < t + lease`,
//! and the application has been handed every entry committed when that round
//! started. The rounds are raft `read_index` requests made every heartbeat
//! interval with `t` as context.
//!
//! Why that is safe, with `lease = (E - 1) * tick - tick / 2` where `E` is the
//! election timeout in ticks: a new leader needs the vote of a majority, which
//! shares a member `N` with the majority that acknowledged round `t`. `N`
//! acknowledged in the old term, so it voted in the new term *after* it
//! received the heartbeat (receiving it at a higher term, it would have refused
//! it). With check-quorum, a member that has heard from a leader ignores vote
//! and pre-vote requests until `E` of its own ticks have passed, that is more
//! than `(E - 1) * tick` after the heartbeat, which itself came after `t`. So
//! the new leader exists only after `t + (E - 1) * tick`, when the old lease
//! has run out, and it starts serving only after its own round. The half tick
//! covers clock-rate differences. Two things could break the argument, and
//! the member rules them out:
//!
//! * Raft lets a *transfer* campaign bypass that rule. A member honours a
//!   forced vote only if it is the leader and is itself transferring to that
//!   candidate (it stops serving when it starts the transfer and then steps
//!   down by voting); anyone else treats it as a normal vote. A delayed
//!   `MsgTimeoutNow` can therefore start an election but never win one against
//!   a live lease.
//! * A member that restarts forgets when it last heard from the leader. It
//!   ignores vote requests for its first `E` ticks, as if it had just heard
//!   from one.
//!
//! Ticks are counted from `now`, and any ticks that fell due are run *before*
//! a message is stepped, so a tick is never counted after a heartbeat that
//! arrived later than the tick's time.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use raft::eraftpb::{Entry, EntryType, HardState, Message, MessageType};
use raft::{Config, RawNode, StateRole, CAMPAIGN_TRANSFER, INVALID_ID};

use crate::codec;
use crate::store::{Store, StoreError, VOTERS};

/// The primary's member id (first SERVER line).
pub const PRIMARY: u64 = 1;
/// The secondary's member id (second SERVER line).
pub const SECONDARY: u64 = 2;
/// The tertiary's member id (third SERVER line): votes, never master.
pub const TERTIARY: u64 = 3;

/// Default tick: 100 ms.
pub const DEFAULT_TICK_MS: u64 = 100;
/// Default heartbeat: every tick (100 ms).
pub const DEFAULT_HEARTBEAT_TICKS: usize = 1;
/// Default election timeout: 10 ticks (1 s); the lease is then 850 ms and a
/// lost master is replaced within 2 s plus a few round trips.
pub const DEFAULT_ELECTION_TICKS: usize = 10;

/// Upper end of the range raft draws election timeouts from. raft is given
/// `[E, RAFT_MAX_TIMEOUT)`, so its own draws are almost surely far above `2E`;
/// the member spots them and replaces them with one from its own seeded
/// generator (deterministic simulations, and the per-member ranges below).
const RAFT_MAX_TIMEOUT: usize = 1 << 40;
/// The tertiary's election timeout: never reached. It campaigns only when a
/// candidate shows it is needed (see `tertiary_must_lead`).
const NEVER: usize = RAFT_MAX_TIMEOUT - 1;

/// How one member is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// 1 primary, 2 secondary, 3 tertiary (SERVER line order).
    pub id: u64,
    /// Length of a tick in milliseconds.
    pub tick_ms: u64,
    /// Heartbeat (and lease renewal) interval in ticks.
    pub heartbeat_ticks: usize,
    /// Election timeout `E` in ticks: a follower that has not heard from the
    /// master for `E` ticks (primary) or `1.5E` ticks (secondary) campaigns.
    pub election_ticks: usize,
    /// PRIMARY_IS_MASTER: the primary takes mastership back when it returns.
    pub primary_is_master: bool,
    /// Seed of the generator for election timeouts. Use a random seed in a
    /// daemon, a fixed one in simulations.
    pub seed: u64,
    /// Most proposal bytes batched into one log entry.
    pub max_batch_bytes: usize,
    /// Most entry bytes in one append message.
    pub max_msg_bytes: u64,
}

impl MemberConfig {
    /// The defaults for member `id`: 100 ms ticks, heartbeat every tick,
    /// election timeout 10 ticks.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            tick_ms: DEFAULT_TICK_MS,
            heartbeat_ticks: DEFAULT_HEARTBEAT_TICKS,
            election_ticks: DEFAULT_ELECTION_TICKS,
            primary_is_master: false,
            seed: id,
            max_batch_bytes: 32 * 1024,
            max_msg_bytes: 48 * 1024,
        }
    }

    /// Timing from the license file's SERVER lines. `heartbeat_interval_s`
    /// (`HEARTBEAT_INTERVAL=`) sets the heartbeat; `server_timeout_s`
    /// (`SERVER_TIMEOUT=`) sets the election timeout. Without SERVER_TIMEOUT
    /// the timeout follows FLEXlm's rule for the interval `s`, `3s + (s - 1)`
    /// seconds. Zero or absent values keep the defaults. The election timeout
    /// is kept at least `3 * heartbeat + 2` ticks so a lease outlives a
    /// heartbeat interval.
    pub fn with_license_timing(
        mut self,
        heartbeat_interval_s: Option<u32>,
        server_timeout_s: Option<u32>,
    ) -> Self {
        let per_s = (1000 / self.tick_ms.max(1)).max(1) as usize;
        if let Some(s) = heartbeat_interval_s.filter(|s| *s > 0) {
            self.heartbeat_ticks = s as usize * per_s;
            self.election_ticks = (4 * s as usize - 1) * per_s;
        }
        if let Some(t) = server_timeout_s.filter(|t| *t > 0) {
            self.election_ticks = t as usize * per_s;
        }
        self.election_ticks = self.election_ticks.max(3 * self.heartbeat_ticks + 2);
        self
    }

    /// How long a heartbeat round acknowledged by a majority lets the leader
    /// serve: `(E - 1) * tick - tick / 2` milliseconds (see the module docs).
    pub fn lease_ms(&self) -> u64 {
        (self.election_ticks as u64 - 1) * self.tick_ms - self.tick_ms / 2
    }

    /// How long a member goes without hearing from the master before it
    /// counts it lost: the election timeout.
    pub fn election_ms(&self) -> u64 {
        self.election_ticks as u64 * self.tick_ms
    }

    fn validate(&self) -> Result<(), Error> {
        if !VOTERS.contains(&self.id) {
            return Err(Error::Config(format!(
                "member id {} is not 1, 2 or 3",
                self.id
            )));
        }
        if self.tick_ms == 0 || self.heartbeat_ticks == 0 {
            return Err(Error::Config("tick and heartbeat must be positive".into()));
        }
        if self.election_ticks < 3 * self.heartbeat_ticks + 2 {
            return Err(Error::Config(format!(
                "election timeout of {} ticks is too short for a heartbeat of {} ticks",
                self.election_ticks, self.heartbeat_ticks
            )));
        }
        Ok(())
    }

    /// The range `[lo, hi)` this member draws its election timeout from.
    fn timeout_range(&self) -> (usize, usize) {
        let e = self.election_ticks;
        match self.id {
            PRIMARY => (e, e + e / 2),
            SECONDARY => (e + e / 2, 2 * e),
            _ => (NEVER, NEVER + 1),
        }
    }
}

/// A member failure that stops it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work.
    #[error("triad config: {0}")]
    Config(String),
    /// The durable store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// raft refused to start on the stored state.
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a message from a peer was not stepped. The caller may log it; the
/// member is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The sender is not one of the other two members.
    #[error("message from unknown member {0}")]
    UnknownPeer(u64),
    /// The bytes are not a message.
    #[error("undecodable message: {0}")]
    Decode(#[from] codec::DecodeError),
    /// The message names another sender or receiver than the connection's.
    #[error("message claims to be from {claimed} to {to}")]
    Misaddressed {
        /// The `from` field.
        claimed: u64,
        /// The `to` field.
        to: u64,
    },
    /// A message type members never send each other.
    #[error("message type {0:?} is not accepted from the network")]
    Refused(MessageType),
    /// A message whose contents contradict themselves or our log.
    #[error("inconsistent message: {0}")]
    Inconsistent(&'static str),
    /// The member has stopped after a storage failure.
    #[error("member has failed")]
    Failed,
}

/// Why a proposal was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// Only the master proposes; this member is not raft leader (or is
    /// handing leadership over). Point the client to [`Member::master`].
    #[error("not the master")]
    NotLeader,
}

/// Identifies one proposal of this member (unique for the process's life).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProposalId(pub u64);

/// Bytes to send to a peer, in order. Losing some is fine (raft resends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The peer's member id.
    pub to: u64,
    /// One encoded raft message ([`codec::decode_message`] reads it).
    pub payload: Vec<u8>,
}

/// What the member reports to the application, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Replace the application state with this snapshot, taken after log
    /// index `index` (after a restart from a compacted log, or when this member
    /// was too far behind).
    Restore {
        /// Last log index the snapshot includes.
        index: u64,
        /// The application's snapshot bytes.
        data: Vec<u8>,
    },
    /// Apply this committed payload. Every member sees the same payloads in
    /// the same order; after a restart they are replayed from the log.
    Apply {
        /// Log index of the entry (several payloads may share one).
        index: u64,
        /// What was proposed.
        payload: Vec<u8>,
    },
    /// A proposal of ours committed; its `Apply` came just before. Only now
    /// may the client be told it succeeded.
    Committed(ProposalId),
    /// A proposal of ours will never commit (leadership was lost and its log
    /// slot went to another entry, or it was never appended).
    Dropped(ProposalId),
    /// A proposal of ours whose fate the log no longer tells: a snapshot
    /// replaced the part of the log it was in. Its effect, if any, is in the
    /// `Restore` that came just before.
    Unknown(ProposalId),
    /// This member started (`true`) or stopped (`false`) serving.
    Serving(bool),
    /// The member this one believes is master changed.
    Master(Option<u64>),
    /// The store failed; the member stopped. The daemon should exit.
    Failed(String),
}

/// raft's role of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Raft leader (serving only while its lease holds).
    Leader,
    /// Following a leader or waiting for one.
    Follower,
    /// Asking for votes.
    Candidate,
}

/// A summary for status tools (lmstat, lmdiag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// This member's id.
    pub id: u64,
    /// Raft term.
    pub term: u64,
    /// Raft role.
    pub role: Role,
    /// Whether this member serves now.
    pub serving: bool,
    /// Who this member believes is master.
    pub master: Option<u64>,
    /// How many of the two peers this member heard from within an election
    /// timeout.
    pub peers_heard: usize,
    /// Highest log index handed to the application.
    pub applied: u64,
    /// One line for lmdiag, e.g. "master: majority of 2/3 acknowledged
    /// within 120 ms" or "standby: master is member 1".
    pub reason: String,
}

/// A lease earned by a heartbeat round a majority acknowledged.
#[derive(Debug, Clone, Copy)]
struct Lease {
    /// When the round started.
    since: u64,
    /// The term it was earned in.
    term: u64,
    /// The commit index when the round started: serve only once applied.
    read_index: u64,
}

/// A batch of our proposals in one log entry, until it commits or is lost.
#[derive(Debug)]
struct InFlight {
    index: u64,
    term: u64,
    ids: Vec<ProposalId>,
}

/// The member's generator for election timeouts (splitmix64): seeded, so a
/// simulation replays exactly.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo).max(1) as u64) as usize
    }
}

/// One member of the triad.
pub struct Member {
    cfg: MemberConfig,
    raw: RawNode<Store>,
    rng: Rng,
    incarnation: u64,

    origin: u64,
    ticks: u64,
    now: u64,
    /// Ticks during which vote requests are ignored after (re)start.
    quiet_ticks: u64,
    last_heard: [Option<u64>; 4],

    lease: Option<Lease>,
    /// Outstanding heartbeat rounds: context number -> (start time, term).
    rounds: BTreeMap<u64, (u64, u64)>,
    next_round: u64,
    ticks_since_round: usize,
    /// Term in which the first round after the first commit was started.
    round_term: u64,
    last_transfer_tick: Option<u64>,
    was_transferring: bool,

    snapshots_sent: Vec<u64>,
    next_pid: u64,
    queued: Vec<(ProposalId, Vec<u8>)>,
    in_flight: VecDeque<InFlight>,

    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Highest index whose events are queued.
    applied_queued: u64,
    /// Highest index whose events the application has taken.
    applied_taken: u64,
    reported_serving: bool,
    reported_master: Option<u64>,
    dirty: bool,
    failed: Option<String>,
}

impl fmt::Debug for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.cfg.id)
            .field("term", &self.raw.raft.term)
            .field("state", &self.raw.raft.state)
            .field("leader", &self.raw.raft.leader_id)
            .field("applied", &self.applied_taken)
            .field("elapsed", &self.raw.raft.election_elapsed)
            .field("timeout", &self.raw.raft.randomized_election_timeout())
            .field("ticks", &self.ticks)
            .field("quiet", &self.quiet_ticks)
            .field("last_index", &self.raw.raft.raft_log.last_index())
            .field("last_term", &self.raw.raft.raft_log.last_term())
            .finish()
    }
}

impl Member {
    /// Starts a member on its store at time `now`. After a restart the
    /// events replay the state: a `Restore` if the log was compacted, then
    /// an `Apply` for every committed payload.
    pub fn new(cfg: MemberConfig, store: Store, now: u64) -> Result<Self, Error> {
        cfg.validate()?;
        let incarnation = store.incarnation();
        let fresh = store.hard_state().term == 0;
        let snapshot = store.app_snapshot().map(|(i, d)| (i, d.to_vec()));
        let rcfg = Config {
            id: cfg.id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            min_election_tick: cfg.election_ticks,
            max_election_tick: RAFT_MAX_TIMEOUT,
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: cfg.max_msg_bytes,
            max_inflight_msgs: 64,
            ..Config::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&rcfg, store, &logger).map_err(|e| Error::Raft(e.to_string()))?;
        let mut m = Member {
            rng: Rng(cfg.seed ^ cfg.id.rotate_left(32) ^ incarnation.rotate_left(48)),
            // A member that has never been in a term cannot have acknowledged
            // anyone's lease: it need not wait before voting.
            quiet_ticks: if fresh { 0 } else { cfg.election_ticks as u64 },
            cfg,
            raw,
            incarnation,
            origin: now,
            ticks: 0,
            now,
            last_heard: [None; 4],
            lease: None,
            rounds: BTreeMap::new(),
            next_round: 1,
            ticks_since_round: 0,
            round_term: 0,
            last_transfer_tick: None,
            was_transferring: false,
            snapshots_sent: Vec::new(),
            next_pid: 1,
            queued: Vec::new(),
            in_flight: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            applied_queued: 0,
            applied_taken: 0,
            reported_serving: false,
            reported_master: None,
            dirty: true,
            failed: None,
        };
        if let Some((index, data)) = snapshot {
            m.events.push_back(Event::Restore { index, data });
            m.applied_queued = index;
        }
        m.after_raft_call();
        Ok(m)
    }

    /// This member's configuration.
    pub fn config(&self) -> &MemberConfig {
        &self.cfg
    }

    /// Advances time. Call at [`Member::poll_timeout`] (earlier or later is
    /// harmless).
    pub fn tick(&mut self, now: u64) {
        self.advance(now);
    }

    /// Steps a message that arrived from member `from` (as the transport
    /// authenticated it).
    pub fn step(&mut self, now: u64, from: u64, bytes: &[u8]) -> Result<(), StepError> {
        if self.failed.is_some() {
            return Err(StepError::Failed);
        }
        if from == self.cfg.id || !VOTERS.contains(&from) {
            return Err(StepError::UnknownPeer(from));
        }
        let mut msg = codec::decode_message(bytes)?;
        if msg.from != from || msg.to != self.cfg.id {
            return Err(StepError::Misaddressed {
                claimed: msg.from,
                to: msg.to,
            });
        }
        self.check(&msg)?;
        // Ticks that fell due before this message arrived run first.
        self.advance(now);
        self.last_heard[from as usize] = Some(now);

        use MessageType::*;
        let mut catch_up = None;
        let mut retry = false;
        match msg.msg_type {
            MsgRequestVote | MsgRequestPreVote => {
                if self.ticks < self.quiet_ticks {
                    return Ok(()); // just restarted: as if in a leader's lease
                }
                catch_up = self.tertiary_must_lead(&msg);
                let r = &self.raw.raft;
                let transferring_to_sender =
                    r.state == StateRole::Leader && r.lead_transferee == Some(from);
                if msg.context.as_ref() == CAMPAIGN_TRANSFER && !transferring_to_sender {
                    msg.context = Vec::new().into();
                }
            }
            MsgRequestPreVoteResponse => {
                // Refused only because our term is behind (we missed a vote
                // round while down or cut off): try again at once at the
                // current term instead of waiting a whole election timeout.
                let r = &self.raw.raft;
                if msg.reject
                    && msg.term > r.term
                    && r.state == StateRole::PreCandidate
                    && self.cfg.id != TERTIARY
                {
                    retry = true;
                }
            }
            MsgTimeoutNow => {
                let r = &self.raw.raft;
                if self.cfg.id == TERTIARY || from != r.leader_id || msg.term != r.term {
                    return Ok(());
                }
            }
            _ => {}
        }
        // A refusal by raft (e.g. a response from an unknown peer) leaves it
        // unchanged; we checked the sender already, so nothing to report.
        let _ = self.raw.step(msg);
        self.after_raft_call();
        let r = &self.raw.raft;
        if retry && r.state == StateRole::Follower && r.leader_id == INVALID_ID {
            let _ = self.raw.campaign();
            self.after_raft_call();
        }
        if let Some(term) = catch_up {
            let r = &mut self.raw.raft;
            if r.state == StateRole::Follower && r.term < term {
                r.become_follower(term, INVALID_ID);
            }
            let _ = self.raw.campaign();
            self.after_raft_call();
        }
        self.dirty = true;
        Ok(())
    }

    /// The tertiary leads only in one case: a candidate asks for its vote
    /// with a log older than the tertiary's, there is no live leader, so the
    /// tertiary holds entries (perhaps committed ones) the candidate lacks and
    /// nobody else will give it. It then campaigns at once (at the candidate's
    /// term, so its pre-vote is not refused as stale), and once leader hands
    /// over as soon as the candidate has caught up. Returns the term to move
    /// to before campaigning.
    fn tertiary_must_lead(&self, msg: &Message) -> Option<u64> {
        let r = &self.raw.raft;
        if self.cfg.id != TERTIARY || r.state == StateRole::Leader {
            return None;
        }
        let (last_term, last_index) = (r.raft_log.last_term(), r.raft_log.last_index());
        let behind =
            msg.log_term < last_term || (msg.log_term == last_term && msg.index < last_index);
        let leaderless = r.leader_id == INVALID_ID || r.election_elapsed >= r.election_timeout();
        if !behind || !leaderless {
            return None;
        }
        // A pre-vote asks for the term after the candidate's current one.
        Some(if msg.msg_type == MessageType::MsgRequestPreVote {
            msg.term.saturating_sub(1)
        } else {
            msg.term
        })
    }

    /// Checks a decoded message against what raft would otherwise panic on.
    fn check(&self, msg: &Message) -> Result<(), StepError> {
        use MessageType::*;
        match msg.msg_type {
            MsgHup | MsgBeat | MsgUnreachable | MsgSnapStatus | MsgCheckQuorum | MsgPropose
            | MsgTransferLeader | MsgReadIndex | MsgReadIndexResp => {
                return Err(StepError::Refused(msg.msg_type));
            }
            _ => {}
        }
        if msg.term == 0 {
            return Err(StepError::Inconsistent("term 0 is for local messages"));
        }
        let last = self.raw.raft.raft_log.last_index();
        match msg.msg_type {
            MsgAppend => {
                if msg.log_term > msg.term {
                    return Err(StepError::Inconsistent("log term after message term"));
                }
                let mut expect = msg.index;
                for e in msg.entries.iter() {
                    expect = expect
                        .checked_add(1)
                        .ok_or(StepError::Inconsistent("index overflow"))?;
                    if e.index != expect || e.term > msg.term || e.term < msg.log_term {
                        return Err(StepError::Inconsistent("entries out of order"));
                    }
                }
            }
            MsgHeartbeat if msg.commit > last && msg.term >= self.raw.raft.term => {
                return Err(StepError::Inconsistent("heartbeat commits past our log"));
            }
            MsgSnapshot => {
                let snap = msg
                    .snapshot
                    .as_ref()
                    .ok_or(StepError::Inconsistent("snapshot message without snapshot"))?;
                let meta = snap.get_metadata();
                if meta.get_conf_state().voters != VOTERS || meta.term > msg.term {
                    return Err(StepError::Inconsistent("snapshot of another membership"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Proposes a payload (a checkout, checkin or reclaim). Proposals made
    /// before the next `poll_*` call go into one log entry. The outcome comes
    /// as [`Event::Committed`] (after the payload's [`Event::Apply`]) or
    /// [`Event::Dropped`]. Check [`Member::is_serving`] first before granting
    /// anything based on the applied state.
    pub fn propose(&mut self, now: u64, payload: Vec<u8>) -> Result<ProposalId, ProposeError> {
        self.advance(now);
        let r = &self.raw.raft;
        if self.failed.is_some()
            || self.cfg.id == TERTIARY
            || r.state != StateRole::Leader
            || r.lead_transferee.is_some()
        {
            return Err(ProposeError::NotLeader);
        }
        let id = ProposalId(self.next_pid);
        self.next_pid += 1;
        self.queued.push((id, payload));
        self.dirty = true;
        Ok(id)
    }

    /// Tells raft the connection to `peer` is down, so it stops streaming
    /// entries to it until it answers again.
    pub fn report_unreachable(&mut self, peer: u64) {
        if VOTERS.contains(&peer) && peer != self.cfg.id {
            self.raw.report_unreachable(peer);
            self.dirty = true;
        }
    }

    /// Discards the log up to `index` (at most what the application has
    /// taken), keeping `data`, the application's state after `index`, as the
    /// snapshot for members too far behind and for restarts.
    pub fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), Error> {
        if index > self.applied_taken() {
            return Err(Error::Config(format!(
                "cannot compact to {index}: only {} applied",
                self.applied_taken()
            )));
        }
        self.raw.mut_store().compact(index, data)?;
        Ok(())
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.flush();
        self.transmits.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.flush();
        let ev = self.events.pop_front()?;
        match &ev {
            Event::Apply { index, .. } => {
                // Payloads of one entry are queued together: the entry is
                // taken when its last payload is.
                let more = self
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Apply { index: j, .. } if j == index));
                let done = if more { *index - 1 } else { *index };
                self.applied_taken = self.applied_taken.max(done);
            }
            Event::Restore { index, .. } => {
                self.applied_taken = self.applied_taken.max(*index);
            }
            _ => {}
        }
        if self.events.is_empty() {
            self.applied_taken = self.applied_taken.max(self.applied_queued);
        }
        Some(ev)
    }

    /// When [`Member::tick`] should be called next: the next tick, or the end
    /// of the lease if that comes first.
    #[must_use]
    pub fn poll_timeout(&self) -> u64 {
        let next_tick = self.origin + (self.ticks + 1) * self.cfg.tick_ms;
        match self.lease_end() {
            Some(end) if end > self.now => next_tick.min(end),
            _ => next_tick,
        }
    }

    /// Whether this member is the master and may serve now (see the module
    /// docs). Drain [`Member::poll_event`] first: serving also needs every
    /// entry committed when the lease began to have been taken.
    pub fn is_serving(&self, now: u64) -> bool {
        let r = &self.raw.raft;
        self.failed.is_none()
            && self.cfg.id != TERTIARY
            && r.state == StateRole::Leader
            && r.lead_transferee.is_none()
            && self.lease.is_some_and(|l| {
                l.term == r.term
                    && now < l.since + self.cfg.lease_ms()
                    && self.applied_taken() >= l.read_index
            })
    }

    fn lease_end(&self) -> Option<u64> {
        self.lease.map(|l| l.since + self.cfg.lease_ms())
    }

    fn applied_taken(&self) -> u64 {
        if self.events.is_empty() {
            self.applied_taken.max(self.applied_queued)
        } else {
            self.applied_taken
        }
    }

    /// Who this member believes is master: itself while leader, else the
    /// leader it heard from within an election timeout.
    pub fn master(&self, now: u64) -> Option<u64> {
        let r = &self.raw.raft;
        if self.failed.is_some() {
            return None;
        }
        if r.state == StateRole::Leader {
            // A leading tertiary only hands over; it is never master.
            return (self.cfg.id != TERTIARY).then_some(self.cfg.id);
        }
        let leader = r.leader_id;
        if leader == INVALID_ID || !VOTERS.contains(&leader) {
            return None;
        }
        let heard = self.last_heard[leader as usize]?;
        (now.saturating_sub(heard) < self.cfg.election_ms()).then_some(leader)
    }

    /// raft's role.
    pub fn role(&self) -> Role {
        match self.raw.raft.state {
            StateRole::Leader => Role::Leader,
            StateRole::Follower => Role::Follower,
            StateRole::Candidate | StateRole::PreCandidate => Role::Candidate,
        }
    }

    /// Raft's current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// Highest log index whose payloads the application has taken.
    pub fn applied(&self) -> u64 {
        self.applied_taken()
    }

    /// The hard state (term, vote, commit) as the store holds it; the commit
    /// index may be one write ahead of the disk.
    pub fn hard_state(&self) -> HardState {
        self.raw.store().hard_state().clone()
    }

    fn peers_heard(&self, now: u64) -> usize {
        VOTERS
            .iter()
            .filter(|&&p| p != self.cfg.id)
            .filter(|&&p| {
                self.last_heard[p as usize]
                    .is_some_and(|t| now.saturating_sub(t) < self.cfg.election_ms())
            })
            .count()
    }

    /// A summary for status tools, with the reason for lmdiag.
    pub fn status(&self, now: u64) -> Status {
        let serving = self.is_serving(now);
        let master = self.master(now);
        let peers_heard = self.peers_heard(now);
        let r = &self.raw.raft;
        let reason = if let Some(err) = &self.failed {
            format!("failed: {err}")
        } else if serving {
            let age = self.lease.map_or(0, |l| now.saturating_sub(l.since));
            format!("master: majority of 2/3 acknowledged within {age} ms")
        } else if r.state == StateRole::Leader && self.cfg.id == TERTIARY {
            match r.lead_transferee {
                Some(t) => format!("tertiary: handing the log over to member {t}"),
                None => "tertiary: leading only until the primary or secondary catches up".into(),
            }
        } else if r.state == StateRole::Leader {
            match r.lead_transferee {
                Some(t) => format!("handing mastership to member {t}"),
                None => format!(
                    "master elect: waiting for a majority to acknowledge (heard from {peers_heard} of 2 peers)"
                ),
            }
        } else if let Some(m) = master {
            format!("standby: master is member {m}")
        } else if peers_heard == 0 {
            "no quorum: heard from 0 of 2 peers".to_string()
        } else {
            format!("electing: no master, heard from {peers_heard} of 2 peers")
        };
        Status {
            id: self.cfg.id,
            term: r.term,
            role: self.role(),
            serving,
            master,
            peers_heard,
            applied: self.applied_taken(),
            reason,
        }
    }

    // ------------------------------------------------------------ internals

    /// Runs the ticks due by `now`.
    fn advance(&mut self, now: u64) {
        if now < self.now || self.failed.is_some() {
            return;
        }
        self.now = now;
        let due = (now - self.origin) / self.cfg.tick_ms;
        // After a long stall, do not replay more than two election timeouts.
        let cap = 2 * self.cfg.election_ticks as u64;
        if due > self.ticks + cap {
            self.ticks = due - cap;
        }
        while self.ticks < due {
            self.ticks += 1;
            self.one_tick();
        }
        self.report(now);
    }

    fn one_tick(&mut self) {
        self.raw.tick();
        self.after_raft_call();
        self.dirty = true;
        if self.raw.raft.state != StateRole::Leader {
            return;
        }
        self.ticks_since_round += 1;
        if self.ticks_since_round >= self.cfg.heartbeat_ticks {
            self.start_round();
        }
        self.maybe_hand_over();
    }

    /// Starts a heartbeat round whose majority acknowledgement renews the
    /// lease from now.
    fn start_round(&mut self) {
        let r = &self.raw.raft;
        if self.cfg.id == TERTIARY || r.state != StateRole::Leader || r.lead_transferee.is_some() {
            return;
        }
        self.ticks_since_round = 0;
        if r.commit_to_current_term() {
            self.round_term = r.term;
        }
        let n = self.next_round;
        self.next_round += 1;
        self.rounds.insert(n, (self.now, r.term));
        while self.rounds.len() > 64 {
            self.rounds.pop_first();
        }
        self.raw.read_index(n.to_be_bytes().to_vec());
    }

    /// Hands leadership over when another member should have it: with
    /// PRIMARY_IS_MASTER, the primary once it is back and holds every
    /// committed entry; from the tertiary, the primary or else the secondary,
    /// as soon as one of them has caught up.
    fn maybe_hand_over(&mut self) {
        let targets: &[u64] = match self.cfg.id {
            TERTIARY => &[PRIMARY, SECONDARY],
            SECONDARY if self.cfg.primary_is_master => &[PRIMARY],
            _ => return,
        };
        let r = &self.raw.raft;
        if r.lead_transferee.is_some() || !r.commit_to_current_term() {
            return;
        }
        if let Some(t) = self.last_transfer_tick {
            let backoff = if self.cfg.id == TERTIARY { 1 } else { 2 };
            if self.ticks < t + backoff * self.cfg.election_ticks as u64 {
                return; // the last attempt failed recently
            }
        }
        let window = self.cfg.heartbeat_ticks as u64 * self.cfg.tick_ms * 2;
        let target = targets.iter().copied().find(|&id| {
            let heard = self.last_heard[id as usize]
                .is_some_and(|t| self.now.saturating_sub(t) < window.max(self.cfg.tick_ms * 2));
            r.prs()
                .get(id)
                .is_some_and(|pr| heard && pr.recent_active && pr.matched >= r.raft_log.committed)
        });
        if let Some(target) = target {
            self.last_transfer_tick = Some(self.ticks);
            // Stop serving before the transfer can make another leader.
            self.lease = None;
            self.rounds.clear();
            self.raw.transfer_leader(target);
            self.after_raft_call();
        }
    }

    /// Called after anything that may have made raft reset its election
    /// timer: replace raft's own draw with ours, and drop the lease when the
    /// term or role changed.
    fn after_raft_call(&mut self) {
        let r = &mut self.raw.raft;
        let drawn = r.randomized_election_timeout();
        if drawn >= 4 * self.cfg.election_ticks && drawn != NEVER {
            let (lo, hi) = self.cfg.timeout_range();
            r.set_randomized_election_timeout(self.rng.range(lo, hi));
        }
        let leading = r.state == StateRole::Leader;
        if !leading || self.lease.is_some_and(|l| l.term != r.term) {
            self.lease = None;
        }
        if !leading {
            self.rounds.clear();
            self.round_term = 0;
        }
        let transferring = leading && r.lead_transferee.is_some();
        if transferring {
            self.lease = None;
        }
        if self.was_transferring && !transferring && leading {
            // The transfer was abandoned: renew at once.
            self.ticks_since_round = self.cfg.heartbeat_ticks;
        }
        self.was_transferring = transferring;
    }

    /// Turns queued proposals into log entries and handles raft's output
    /// until there is none.
    fn flush(&mut self) {
        if !self.dirty || self.failed.is_some() {
            return;
        }
        self.dirty = false;
        self.propose_queued();
        for _ in 0..16 {
            // A new leader starts its first round as soon as it has committed
            // in its term, rather than waiting for the next heartbeat.
            let r = &self.raw.raft;
            if r.state == StateRole::Leader
                && self.cfg.id != TERTIARY
                && r.lead_transferee.is_none()
                && r.commit_to_current_term()
                && self.round_term != r.term
            {
                self.start_round();
            }
            if !self.raw.has_ready() {
                break;
            }
            if let Err(e) = self.handle_ready() {
                self.fail(e.to_string());
                return;
            }
        }
        // Still more to do (a long chain of readies): come back next poll.
        self.dirty = self.raw.has_ready();
        self.after_raft_call();
        self.report(self.now);
    }

    fn fail(&mut self, why: String) {
        self.lease = None;
        self.events.push_back(Event::Failed(why.clone()));
        self.failed = Some(why);
        if self.reported_serving {
            self.reported_serving = false;
            self.events.push_back(Event::Serving(false));
        }
    }

    fn propose_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut self.queued);
        let mut batch: Vec<(ProposalId, Vec<u8>)> = Vec::new();
        let mut size = 0;
        for (id, payload) in queued {
            if !batch.is_empty() && size + payload.len() > self.cfg.max_batch_bytes {
                self.propose_batch(std::mem::take(&mut batch));
                size = 0;
            }
            size += payload.len();
            batch.push((id, payload));
        }
        if !batch.is_empty() {
            self.propose_batch(batch);
        }
    }

    fn propose_batch(&mut self, batch: Vec<(ProposalId, Vec<u8>)>) {
        let ids: Vec<ProposalId> = batch.iter().map(|(id, _)| *id).collect();
        let data = encode_batch(self.cfg.id, self.incarnation, &batch);
        let r = &self.raw.raft;
        let ok = r.state == StateRole::Leader
            && r.lead_transferee.is_none()
            && self.raw.propose(Vec::new(), data).is_ok();
        if ok {
            let r = &self.raw.raft;
            self.in_flight.push_back(InFlight {
                index: r.raft_log.last_index(),
                term: r.term,
                ids,
            });
        } else {
            self.events.extend(ids.into_iter().map(Event::Dropped));
        }
    }

    fn handle_ready(&mut self) -> Result<(), StoreError> {
        let mut rd = self.raw.ready();
        let snapshot = (!rd.snapshot().is_empty()).then(|| rd.snapshot().clone());
        // Persist first: nothing below may leave before it is durable.
        self.raw
            .mut_store()
            .persist(snapshot.as_ref(), rd.entries(), rd.hs())?;
        if let Some(s) = snapshot {
            let index = s.get_metadata().index;
            while let Some(f) = self.in_flight.front() {
                if f.index > index {
                    break;
                }
                if let Some(f) = self.in_flight.pop_front() {
                    self.events.extend(f.ids.into_iter().map(Event::Unknown));
                }
            }
            self.events.push_back(Event::Restore {
                index,
                data: s.data.to_vec(),
            });
            self.applied_queued = self.applied_queued.max(index);
        }
        let mut msgs = rd.take_messages();
        msgs.extend(rd.take_persisted_messages());
        self.queue_messages(msgs);
        let committed = rd.take_committed_entries();
        self.apply(committed);
        let read_states = rd.take_read_states();
        self.on_read_states(read_states);
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            // Written with the next transaction: a commit index that lags on
            // disk only means fewer entries replayed at once after a restart.
            self.raw.mut_store().note_commit(commit);
        }
        let msgs = light.take_messages();
        self.queue_messages(msgs);
        let committed = light.take_committed_entries();
        self.apply(committed);
        self.raw.advance_apply();
        // The transport may lose a snapshot without telling us. Report it
        // sent at once: raft then probes the peer, and sends a new snapshot
        // if the peer still lacks it, instead of waiting forever.
        for to in std::mem::take(&mut self.snapshots_sent) {
            self.raw.report_snapshot(to, raft::SnapshotStatus::Finish);
        }
        Ok(())
    }

    fn queue_messages(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            if m.to == self.cfg.id || !VOTERS.contains(&m.to) {
                continue;
            }
            if m.msg_type == MessageType::MsgSnapshot {
                self.snapshots_sent.push(m.to);
            }
            self.transmits.push_back(Transmit {
                to: m.to,
                payload: codec::encode_message(&m),
            });
        }
    }

    fn apply(&mut self, entries: Vec<Entry>) {
        for e in entries {
            if e.index <= self.applied_queued {
                continue;
            }
            self.applied_queued = e.index;
            let mut ours: Option<Vec<ProposalId>> = None;
            while let Some(f) = self.in_flight.front() {
                if f.index > e.index {
                    break;
                }
                let Some(f) = self.in_flight.pop_front() else {
                    break;
                };
                if f.index == e.index && f.term == e.term {
                    ours = Some(f.ids);
                } else {
                    self.events.extend(f.ids.into_iter().map(Event::Dropped));
                }
            }
            if e.entry_type == EntryType::EntryNormal && !e.data.is_empty() {
                // Entries come from the leader's log; one that does not decode
                // is skipped the same way on every member.
                if let Ok(payloads) = decode_batch(&e.data) {
                    for payload in payloads {
                        self.events.push_back(Event::Apply {
                            index: e.index,
                            payload,
                        });
                    }
                }
            }
            if let Some(ids) = ours {
                self.events.extend(ids.into_iter().map(Event::Committed));
            }
        }
    }

    fn on_read_states(&mut self, states: Vec<raft::ReadState>) {
        let r = &self.raw.raft;
        if r.state != StateRole::Leader || r.lead_transferee.is_some() {
            return;
        }
        for rs in states {
            let Ok(ctx) = <[u8; 8]>::try_from(rs.request_ctx.as_slice()) else {
                continue;
            };
            let n = u64::from_be_bytes(ctx);
            let Some((since, term)) = self.rounds.get(&n).copied() else {
                continue;
            };
            // Older rounds will never be needed: this one is later.
            self.rounds.retain(|k, _| *k > n);
            if term != r.term {
                continue;
            }
            let newer = match self.lease {
                Some(l) => l.since <= since,
                None => true,
            };
            if newer {
                self.lease = Some(Lease {
                    since,
                    term,
                    read_index: rs.index,
                });
            }
        }
    }

    /// Queues `Serving` / `Master` events for changes since the last report.
    fn report(&mut self, now: u64) {
        if self.failed.is_some() {
            return;
        }
        let serving = self.is_serving(now);
        if serving != self.reported_serving {
            self.reported_serving = serving;
            self.events.push_back(Event::Serving(serving));
        }
        let master = self.master(now);
        if master != self.reported_master {
            self.reported_master = master;
            self.events.push_back(Event::Master(master));
        }
    }
}

/// Encodes a batch of proposals as one entry's data: version, proposer,
/// incarnation, count, then each payload length-prefixed.
pub fn encode_batch(proposer: u64, incarnation: u64, batch: &[(ProposalId, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + batch.iter().map(|(_, p)| p.len() + 4).sum::<usize>());
    out.push(codec::VERSION);
    out.extend_from_slice(&proposer.to_be_bytes());
    out.extend_from_slice(&incarnation.to_be_bytes());
    out.extend_from_slice(&(batch.len() as u32).to_be_bytes());
    for (_, p) in batch {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The payloads of a batch that [`encode_batch`] wrote (public for the
/// fuzz targets: entries arrive from peers).
pub fn decode_batch(data: &[u8]) -> Result<Vec<Vec<u8>>, codec::DecodeError> {
    use codec::DecodeError::{TooLong, TrailingData, UnexpectedEnd, Version};
    let take = |rest: &mut &[u8], n: usize| -> Result<Vec<u8>, codec::DecodeError> {
        if rest.len() < n {
            return Err(UnexpectedEnd);
        }
        let (h, t) = rest.split_at(n);
        *rest = t;
        Ok(h.to_vec())
    };
    let u32_of = |b: Vec<u8>| -> usize {
        let mut a = [0u8; 4];
        a.copy_from_slice(&b);
        u32::from_be_bytes(a) as usize
    };
    let mut rest = data;
    let v = take(&mut rest, 1)?;
    if v[0] != codec::VERSION {
        return Err(Version(v[0]));
    }
    take(&mut rest, 16)?; // proposer and incarnation: for the proposer only
    let n = u32_of(take(&mut rest, 4)?);
    if n.saturating_mul(4) > rest.len() {
        return Err(TooLong {
            what: "batch",
            len: n as u64,
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32_of(take(&mut rest, 4)?);
        out.push(take(&mut rest, len)?);
    }
    if !rest.is_empty() {
        return Err(TrailingData(rest.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
