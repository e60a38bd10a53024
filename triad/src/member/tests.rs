//! Unit tests of one member and of three wired together directly. The
//! randomised fault simulation is in `tests/sim`.

// raft's generated types: set field by field.
#![allow(clippy::field_reassign_with_default)]

use super::*;
use crate::store::SharedMemory;
use proptest::prelude::*;

fn member(id: u64, store: Store, now: u64) -> Member {
    Member::new(MemberConfig::new(id), store, now).unwrap()
}

/// Three members on a perfect network, stepped in lock step every 10 ms.
struct Trio {
    now: u64,
    members: Vec<Member>,
}

impl Trio {
    fn new() -> Self {
        let members = (1..=3)
            .map(|id| member(id, Store::in_memory().unwrap(), 0))
            .collect();
        Trio { now: 0, members }
    }

    fn pump(&mut self) -> Vec<(u64, Event)> {
        let mut events = Vec::new();
        loop {
            let mut moved = false;
            for i in 0..3 {
                while let Some(t) = self.members[i].poll_transmit() {
                    moved = true;
                    let from = i as u64 + 1;
                    let now = self.now;
                    self.members[t.to as usize - 1]
                        .step(now, from, &t.payload)
                        .unwrap();
                }
                while let Some(e) = self.members[i].poll_event() {
                    events.push((i as u64 + 1, e));
                }
            }
            if !moved {
                return events;
            }
        }
    }

    fn run(&mut self, ms: u64) -> Vec<(u64, Event)> {
        let mut events = Vec::new();
        let end = self.now + ms;
        while self.now < end {
            self.now += 10;
            for m in &mut self.members {
                m.tick(self.now);
            }
            events.extend(self.pump());
        }
        events
    }

    fn serving(&self) -> Vec<u64> {
        (1..=3)
            .filter(|&id| self.members[id as usize - 1].is_serving(self.now))
            .collect()
    }
}

#[test]
fn the_primary_becomes_master_and_commits_a_batch() {
    let mut t = Trio::new();
    let events = t.run(2_000);
    assert_eq!(t.serving(), vec![1]);
    assert!(events.contains(&(1, Event::Serving(true))));
    assert!(events.contains(&(3, Event::Master(Some(1)))));
    let now = t.now;
    let a = t.members[0].propose(now, b"a".to_vec()).unwrap();
    let b = t.members[0].propose(now, b"b".to_vec()).unwrap();
    assert_eq!(
        t.members[2].propose(now, b"x".to_vec()),
        Err(ProposeError::NotLeader)
    );
    let events = t.run(100);
    // Both payloads went into one entry, applied everywhere in order.
    let applied: Vec<_> = events
        .iter()
        .filter_map(|(id, e)| match e {
            Event::Apply { index, payload } => Some((*id, *index, payload.clone())),
            _ => None,
        })
        .collect();
    for id in 1..=3 {
        let mine: Vec<_> = applied.iter().filter(|(i, _, _)| *i == id).collect();
        assert_eq!(mine.len(), 2, "member {id}: {applied:?}");
        assert_eq!(mine[0].1, mine[1].1, "one entry");
        assert_eq!(mine[0].2, b"a");
        assert_eq!(mine[1].2, b"b");
    }
    assert!(events.contains(&(1, Event::Committed(a))));
    assert!(events.contains(&(1, Event::Committed(b))));
    let s = t.members[0].status(t.now);
    assert!(s
        .reason
        .starts_with("master: majority of 2/3 acknowledged within"));
    assert_eq!(
        t.members[1].status(t.now).reason,
        "standby: master is member 1"
    );
}

#[test]
fn a_lone_member_reports_no_quorum() {
    let mut m = member(2, Store::in_memory().unwrap(), 0);
    m.tick(5_000);
    while m.poll_transmit().is_some() {}
    assert!(!m.is_serving(5_000));
    assert_eq!(m.master(5_000), None);
    assert_eq!(m.status(5_000).reason, "no quorum: heard from 0 of 2 peers");
}

#[test]
fn the_tertiary_never_campaigns_on_its_own() {
    let mut m = member(3, Store::in_memory().unwrap(), 0);
    for now in (0..20_000).step_by(100) {
        m.tick(now);
        assert!(m.poll_transmit().is_none(), "tertiary sent at {now}");
    }
}

#[test]
fn messages_from_strangers_or_misaddressed_are_refused() {
    let mut m = member(1, Store::in_memory().unwrap(), 0);
    let mut msg = Message::default();
    msg.msg_type = MessageType::MsgHeartbeat;
    msg.from = 2;
    msg.to = 1;
    msg.term = 1;
    let ok = codec::encode_message(&msg);
    assert_eq!(m.step(0, 4, &ok), Err(StepError::UnknownPeer(4)));
    assert_eq!(m.step(0, 1, &ok), Err(StepError::UnknownPeer(1)));
    assert!(matches!(
        m.step(0, 3, &ok),
        Err(StepError::Misaddressed { .. })
    ));
    assert!(matches!(m.step(0, 2, b"junk"), Err(StepError::Decode(_))));
    for t in [
        MessageType::MsgHup,
        MessageType::MsgPropose,
        MessageType::MsgTransferLeader,
    ] {
        let mut bad = msg.clone();
        bad.msg_type = t;
        assert_eq!(
            m.step(0, 2, &codec::encode_message(&bad)),
            Err(StepError::Refused(t))
        );
    }
    let mut bad = msg.clone();
    bad.commit = 5; // we have no entry 5
    assert!(matches!(
        m.step(0, 2, &codec::encode_message(&bad)),
        Err(StepError::Inconsistent(_))
    ));
    let mut bad = msg;
    bad.msg_type = MessageType::MsgAppend;
    let mut e = Entry::default();
    e.index = 7; // should be 1
    e.term = 1;
    bad.set_entries(vec![e].into());
    assert!(matches!(
        m.step(0, 2, &codec::encode_message(&bad)),
        Err(StepError::Inconsistent(_))
    ));
}

fn vote_request(from: u64, to: u64, term: u64, transfer: bool) -> Vec<u8> {
    let mut msg = Message::default();
    msg.msg_type = MessageType::MsgRequestVote;
    msg.from = from;
    msg.to = to;
    msg.term = term;
    if transfer {
        msg.context = CAMPAIGN_TRANSFER.to_vec().into();
    }
    codec::encode_message(&msg)
}

fn granted(m: &mut Member) -> bool {
    let mut granted = false;
    while let Some(t) = m.poll_transmit() {
        let msg = codec::decode_message(&t.payload).unwrap();
        if msg.msg_type == MessageType::MsgRequestVoteResponse && !msg.reject {
            granted = true;
        }
    }
    granted
}

#[test]
fn a_restarted_member_waits_an_election_timeout_before_voting() {
    let mem = SharedMemory::new();
    {
        let mut m = member(1, Store::open_backend(mem.clone()).unwrap(), 0);
        m.step(0, 2, &vote_request(2, 1, 1, false)).unwrap();
        assert!(granted(&mut m));
    }
    let mut m = member(1, Store::open_backend(mem).unwrap(), 10_000);
    assert_eq!(m.hard_state().vote, 2, "the vote survived");
    m.step(10_500, 3, &vote_request(3, 1, 2, false)).unwrap();
    assert!(!granted(&mut m), "voted within the quiet period");
    m.step(11_100, 3, &vote_request(3, 1, 2, false)).unwrap();
    assert!(granted(&mut m));
}

#[test]
fn a_forced_vote_does_not_break_a_lease() {
    let mut t = Trio::new();
    t.run(2_000);
    assert_eq!(t.serving(), vec![1]);
    // Member 2 forges a transfer campaign: the tertiary, which just heard
    // from the master, must not vote for it.
    let now = t.now;
    let term = t.members[2].term() + 1;
    t.members[2]
        .step(now, 2, &vote_request(2, 3, term, true))
        .unwrap();
    assert!(!granted(&mut t.members[2]));
    assert_eq!(t.members[2].term(), term - 1, "term unchanged");
}

#[test]
fn timing_from_the_license_file() {
    let d = MemberConfig::new(1);
    assert_eq!(d.lease_ms(), 850);
    assert_eq!(d.election_ms(), 1_000);
    let c = MemberConfig::new(1).with_license_timing(Some(2), None);
    assert_eq!(c.heartbeat_ticks, 20);
    assert_eq!(c.election_ticks, 70, "3*2 + (2-1) seconds");
    let c = MemberConfig::new(1).with_license_timing(Some(1), Some(1));
    assert_eq!(c.election_ticks, 32, "kept above three heartbeats");
    assert!(MemberConfig::new(4).validate().is_err());
    let mut bad = MemberConfig::new(1);
    bad.election_ticks = 3;
    assert!(bad.validate().is_err());
}

proptest! {
    #[test]
    fn batches_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..6)) {
        let batch: Vec<_> = payloads.iter().cloned().enumerate().map(|(i, p)| (ProposalId(i as u64), p)).collect();
        prop_assert_eq!(decode_batch(&encode_batch(2, 9, &batch)), Ok(payloads));
    }

    #[test]
    fn batch_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = decode_batch(&bytes);
    }
}
