//! The peer links on virtual time: every test drives one member's state
//! machine with made-up events and reads the actions it queues.

use super::*;
use crate::serve::triad_auth::{KeyMismatch, NonceError};
use wire::io::LinkError;

const KEY: [u8; 32] = [7; 32];
const HEARTBEAT: u64 = 500;
const ELECTION: u64 = 2_000;

fn plan(me: u64) -> TriadPlan {
    crate::serve::triad::loopback_plan(me)
}

fn addr(member: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, member as u8], 27000))
}

/// Nonces 1, 2, 3... filled into every byte: fresh, and known to the test.
struct Counting(u8);

impl NonceSource for Counting {
    fn fresh(&mut self) -> Result<[u8; NONCE_LEN], NonceError> {
        self.0 += 1;
        Ok([self.0; NONCE_LEN])
    }
}

/// A random source that always fails.
struct Broken;

impl NonceSource for Broken {
    fn fresh(&mut self) -> Result<[u8; NONCE_LEN], NonceError> {
        Err(NonceError)
    }
}

fn timing() -> Timing {
    Timing::new(HEARTBEAT, ELECTION)
}

fn member(me: u64, key: Option<&[u8]>) -> PeerLinks {
    PeerLinks::new(
        &plan(me),
        key.map(TriadKey::new),
        Box::new(Counting(0)),
        timing(),
        0,
    )
}

fn drain(l: &mut PeerLinks) -> Vec<Action> {
    std::iter::from_fn(|| l.poll_action()).collect()
}

fn logs(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(_, line) => Some(line.as_str()),
            _ => None,
        })
        .collect()
}

fn out(m: u64) -> LinkId {
    LinkId::new(m, LinkKind::Out)
}

fn hello_from(m: u64, nonce: Vec<u8>, proof: Vec<u8>) -> Message {
    Message::TriadHello(TriadHello {
        member: m as u32,
        cluster: plan(1).cluster,
        nonce: Blob(nonce),
        proof: Blob(proof),
    })
}

fn raft(bytes: &[u8]) -> Message {
    Message::TriadRaft(wire::TriadRaft {
        payload: Blob(bytes.to_vec()),
    })
}

/// Member 1 dials member 2 at `now` (the address already looked up, or
/// looked up now), up to the connect under way.
fn dial_2(l: &mut PeerLinks, now: u64) {
    l.handle_timeout(now);
    for a in drain(l) {
        if let Action::Resolve { member, .. } = a {
            l.handle_resolved(member, Ok(vec![addr(member)]), now);
        }
    }
    drain(l);
}

/// Member 1's link to member 2 up to ready, without a key.
fn ready_2(l: &mut PeerLinks, now: u64) {
    dial_2(l, now);
    l.handle_connected(2);
    drain(l);
    let heard = l.handle_frame(out(2), hello_from(2, Vec::new(), Vec::new()), now);
    assert_eq!(heard.unwrap(), Heard::Nothing);
    drain(l);
}

#[test]
fn the_first_dial_looks_the_host_up_then_connects_then_says_hello() {
    let mut l = member(1, None);
    assert_eq!(l.poll_timeout(), 0, "both peers are due at once");
    l.handle_timeout(0);
    assert_eq!(
        drain(&mut l),
        vec![
            Action::Resolve {
                member: 2,
                host: "127.0.0.2".into(),
                port: 27000
            },
            Action::Resolve {
                member: 3,
                host: "127.0.0.3".into(),
                port: 27000
            },
        ]
    );
    l.handle_resolved(2, Ok(vec![addr(2)]), 0);
    assert_eq!(
        drain(&mut l),
        vec![Action::Dial {
            member: 2,
            addr: addr(2)
        }]
    );
    l.handle_connected(2);
    assert_eq!(
        drain(&mut l),
        vec![Action::Send {
            link: out(2),
            msg: hello_from(1, Vec::new(), Vec::new()),
        }]
    );
    let heard = l.handle_frame(out(2), hello_from(2, Vec::new(), Vec::new()), 10);
    assert_eq!(heard.unwrap(), Heard::Nothing);
    assert_eq!(
        logs(&drain(&mut l)),
        vec!["Connected to 127.0.0.2 (member 2) at 127.0.0.2:27000"]
    );
    // A keepalive at once, then every heartbeat.
    l.handle_timeout(10);
    let sent = drain(&mut l);
    assert!(
        matches!(&sent[..], [Action::Send { link, msg: Message::Heartbeat(_) }] if *link == out(2)),
        "{sent:?}"
    );
}

#[test]
fn dial_backoff_grows_and_caps_and_a_failure_is_logged_once() {
    let mut l = member(1, None);
    let mut now = 0;
    let mut delays = Vec::new();
    let mut lines = Vec::new();
    for _ in 0..6 {
        dial_2(&mut l, now);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let why = DialFailure::Connect {
            addr: addr(2),
            source: refused,
        };
        l.handle_dial_failed(2, &why, now);
        l.handle_dial_failed(3, &why, now);
        lines.extend(logs(&drain(&mut l)).into_iter().map(String::from));
        let next = l.poll_timeout();
        delays.push(next - now);
        now = next;
    }
    assert_eq!(delays, vec![200, 400, 800, 1_000, 1_000, 1_000]);
    // One line per member, not one per retry.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0]
        .starts_with("Cannot connect to 127.0.0.2 (member 2): connect to 127.0.0.2:27000: "));
    assert!(lines[0].ends_with("; retrying"));
}

#[test]
fn a_handshake_then_resets_the_backoff() {
    let mut l = member(1, None);
    let mut now = 0;
    for _ in 0..4 {
        dial_2(&mut l, now);
        for m in [2, 3] {
            let refused = std::io::ErrorKind::ConnectionRefused.into();
            l.handle_closed(out(m), LinkEnd::Connect(refused), now);
        }
        drain(&mut l);
        now = l.poll_timeout();
    }
    ready_2(&mut l, now);
    l.handle_closed(out(2), LinkEnd::Link(LinkError::Closed), now);
    let actions = drain(&mut l);
    assert_eq!(
        logs(&actions),
        vec!["Lost connection to 127.0.0.2 (member 2): closed by peer"]
    );
    assert!(actions.contains(&Action::Close(out(2))));
    assert!(actions.contains(&Action::Unreachable(2)));
    l.handle_timeout(now + DIAL_FIRST_MS - 1);
    assert!(
        !drain(&mut l)
            .iter()
            .any(|a| matches!(a, Action::Dial { member: 2, .. })),
        "not before the first delay"
    );
    l.handle_timeout(now + DIAL_FIRST_MS);
    assert!(drain(&mut l).contains(&Action::Dial {
        member: 2,
        addr: addr(2)
    }));
}

#[test]
fn a_dial_with_no_answer_is_closed_and_retried_later() {
    let mut l = member(1, None);
    dial_2(&mut l, 0);
    l.handle_connected(2);
    drain(&mut l);
    let handshake = timing().handshake_ms;
    l.handle_timeout(handshake - 1);
    assert!(drain(&mut l).is_empty(), "early calls do nothing");
    l.handle_timeout(handshake);
    let actions = drain(&mut l);
    assert!(actions.contains(&Action::Close(out(2))));
    assert!(actions.contains(&Action::Unreachable(2)));
    assert!(logs(&actions).contains(
        &"Cannot connect to 127.0.0.2 (member 2): 127.0.0.2:27000: no answer from 127.0.0.2:27000 within 2000 ms; retrying"
    ));
    l.handle_timeout(handshake + DIAL_FIRST_MS);
    assert!(drain(&mut l).contains(&Action::Dial {
        member: 2,
        addr: addr(2)
    }));
}

#[test]
fn a_silent_peer_times_out_and_one_that_talks_does_not() {
    let mut l = member(1, None);
    ready_2(&mut l, 0);
    let stale = timing().stale_ms;
    // Keepalives go out every heartbeat while it answers now and then.
    let mut keepalives = 0;
    let mut now = 0;
    while now < 2 * stale {
        now += HEARTBEAT;
        if now < stale {
            let heard = l.handle_frame(out(2), raft(&[1]), now).unwrap();
            assert_eq!(heard, Heard::Raft(vec![1]));
        }
        l.handle_timeout(now);
        let actions = drain(&mut l);
        keepalives += actions
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Send {
                        msg: Message::Heartbeat(_),
                        ..
                    }
                )
            })
            .count();
        if actions.contains(&Action::Close(out(2))) {
            assert!(logs(&actions)
                .contains(&"Lost connection to 127.0.0.2 (member 2): nothing heard for 6000 ms"));
            assert!(actions.contains(&Action::Unreachable(2)));
            break;
        }
    }
    // Last heard just before `stale`; closed `stale` after that.
    let last_heard = (stale - 1) / HEARTBEAT * HEARTBEAT;
    assert_eq!(now, last_heard + stale);
    assert!(keepalives >= (now / HEARTBEAT) as usize - 1, "{keepalives}");
}

#[test]
fn an_error_or_a_stray_message_ends_a_dial() {
    let mut l = member(1, None);
    dial_2(&mut l, 0);
    l.handle_connected(2);
    let err = Message::Error(wire::ErrorReply {
        code: -15,
        minor: 0,
        text: "go away".into(),
    });
    let end = l.handle_frame(out(2), err, 0).unwrap_err();
    assert_eq!(end.to_string(), "refused: go away (-15)");
    let end = l.handle_frame(out(2), raft(&[1]), 0).unwrap_err();
    assert_eq!(end.to_string(), "unexpected message 0x51");
    let stranger = Message::TriadHello(TriadHello {
        member: 3,
        cluster: "0badf00d".into(),
        nonce: Blob(Vec::new()),
        proof: Blob(Vec::new()),
    });
    let end = l.handle_frame(out(2), stranger, 0).unwrap_err();
    assert_eq!(
        end.to_string(),
        format!(
            "127.0.0.2:27000 answered as member 3 of triad 0badf00d, not member 2 of {}",
            plan(1).cluster
        )
    );
}

#[test]
fn the_dialer_checks_the_acceptors_proof_then_proves_its_own() {
    let mut l = member(1, Some(&KEY));
    dial_2(&mut l, 0);
    l.handle_connected(2);
    let sent = drain(&mut l);
    let ours = match &sent[..] {
        [Action::Send {
            msg: Message::TriadHello(h),
            ..
        }] => h.nonce.0.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ours, vec![1; NONCE_LEN], "the first nonce of the source");
    let theirs = [9u8; NONCE_LEN];
    let t = Transcript {
        cluster: &plan(1).cluster,
        dialer: 1,
        acceptor: 2,
        dialer_nonce: &ours,
        acceptor_nonce: &theirs,
    };
    let key = TriadKey::new(&KEY);
    let proof = key.prove(Side::Acceptor, &t);
    let heard = l.handle_frame(out(2), hello_from(2, theirs.to_vec(), proof), 0);
    assert_eq!(heard.unwrap(), Heard::Nothing);
    let actions = drain(&mut l);
    match &actions[0] {
        Action::Send {
            link,
            msg: Message::TriadProof(p),
        } if *link == out(2) => assert!(key.verify(Side::Dialer, &t, &p.proof.0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        logs(&actions),
        vec!["Connected to 127.0.0.2 (member 2) at 127.0.0.2:27000"]
    );
}

#[test]
fn an_acceptor_with_another_key_fails_the_dial() {
    let mut l = member(1, Some(&KEY));
    dial_2(&mut l, 0);
    l.handle_connected(2);
    drain(&mut l);
    let theirs = [9u8; NONCE_LEN];
    let t = Transcript {
        cluster: &plan(1).cluster,
        dialer: 1,
        acceptor: 2,
        dialer_nonce: &[1; NONCE_LEN],
        acceptor_nonce: &theirs,
    };
    let proof = TriadKey::new(&[8; 32]).prove(Side::Acceptor, &t);
    let end = l
        .handle_frame(out(2), hello_from(2, theirs.to_vec(), proof), 0)
        .unwrap_err();
    l.handle_closed(out(2), end, 0);
    let actions = drain(&mut l);
    assert_eq!(
        logs(&actions),
        vec!["Cannot connect to 127.0.0.2 (member 2): 127.0.0.2:27000: 127.0.0.2:27000 did not prove the triad key: its key differs from this member's; retrying"]
    );
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            Action::Send {
                msg: Message::TriadProof(_),
                ..
            }
        )),
        "no proof of ours to a member that did not prove"
    );
}

#[test]
fn key_use_that_differs_fails_the_dial_on_both_sides() {
    // We have a key, the member we dialed has none.
    let mut l = member(1, Some(&KEY));
    dial_2(&mut l, 0);
    l.handle_connected(2);
    let end = l
        .handle_frame(out(2), hello_from(2, Vec::new(), Vec::new()), 0)
        .unwrap_err();
    assert_eq!(
        end.to_string(),
        "member 2 at 127.0.0.2:27000 has no triad key but member 1 has one: give all three members the same key"
    );
    // We have none, it has one.
    let mut l = member(1, None);
    dial_2(&mut l, 0);
    l.handle_connected(2);
    let end = l
        .handle_frame(out(2), hello_from(2, vec![9; NONCE_LEN], vec![0; 32]), 0)
        .unwrap_err();
    assert!(end
        .to_string()
        .starts_with("member 2 at 127.0.0.2:27000 uses a triad key but member 1 has none"));
}

/// Member 1 accepts member 2's keyed hello (challenge `nd`); returns the
/// challenge member 1 answered with.
fn accept_keyed(l: &mut PeerLinks, nd: &[u8], now: u64) -> Vec<u8> {
    assert_eq!(l.accepts_as(), LinkKind::Proving);
    l.handle_accepted(2, addr(2), nd.to_vec(), now);
    match &drain(l)[..] {
        [Action::Send {
            link,
            msg: Message::TriadHello(h),
        }] if *link == LinkId::new(2, LinkKind::Proving) => {
            let t = Transcript {
                cluster: &plan(1).cluster,
                dialer: 2,
                acceptor: 1,
                dialer_nonce: nd,
                acceptor_nonce: &h.nonce.0,
            };
            assert!(TriadKey::new(&KEY).verify(Side::Acceptor, &t, &h.proof.0));
            h.nonce.0.clone()
        }
        other => panic!("{other:?}"),
    }
}

fn proof_from_2(key: &[u8], nd: &[u8], na: &[u8]) -> Message {
    let t = Transcript {
        cluster: &plan(1).cluster,
        dialer: 2,
        acceptor: 1,
        dialer_nonce: nd,
        acceptor_nonce: na,
    };
    Message::TriadProof(TriadProof {
        proof: Blob(TriadKey::new(key).prove(Side::Dialer, &t)),
    })
}

#[test]
fn a_good_proof_makes_the_link_inbound_and_raft_hears_it() {
    let mut l = member(1, Some(&KEY));
    let nd = [5u8; NONCE_LEN];
    let na = accept_keyed(&mut l, &nd, 0);
    let proving = LinkId::new(2, LinkKind::Proving);
    // Nothing reaches raft before the proof.
    let heard = l.handle_frame(proving, proof_from_2(&KEY, &nd, &na), 3);
    assert_eq!(heard.unwrap(), Heard::Promoted);
    let actions = drain(&mut l);
    assert_eq!(actions[0], Action::Promote { member: 2 });
    assert_eq!(
        logs(&actions),
        vec!["Triad connection from 127.0.0.2 (member 2) at 127.0.0.2:27000 (triad key checked)"]
    );
    let inbound = LinkId::new(2, LinkKind::In);
    assert_eq!(
        l.handle_frame(inbound, raft(&[4]), 4).unwrap(),
        Heard::Raft(vec![4])
    );
    assert_eq!(l.heard(4), vec![2]);
    // The proving deadline is gone with the proof.
    l.handle_timeout(10 * timing().handshake_ms);
    assert!(!drain(&mut l)
        .iter()
        .any(|a| matches!(a, Action::Close(l) if l.kind != LinkKind::Out)));
}

#[test]
fn a_proof_failure_is_refused_and_logged_once_per_burst() {
    let mut l = member(1, Some(&KEY));
    let proving = LinkId::new(2, LinkKind::Proving);
    let refused = "Refused a triad connection from 127.0.0.2:27000 (member 2): it did not prove the triad key: its key differs from this member's";
    for (n, now) in [(1, 0), (0, 1_000), (1, 31_000)] {
        let nd = [5u8; NONCE_LEN];
        let na = accept_keyed(&mut l, &nd, now);
        let end = l
            .handle_frame(proving, proof_from_2(&[8; 32], &nd, &na), now)
            .unwrap_err();
        l.handle_closed(proving, end, now);
        let actions = drain(&mut l);
        assert_eq!(actions[0], Action::Close(proving));
        let expected: Vec<&str> = std::iter::repeat_n(refused, n).collect();
        assert_eq!(logs(&actions), expected, "at {now}");
    }
    assert_eq!(l.heard(31_000), Vec::<u64>::new(), "raft never heard it");
}

#[test]
fn raft_before_the_proof_is_refused_as_such() {
    let mut l = member(1, Some(&KEY));
    accept_keyed(&mut l, &[5; NONCE_LEN], 0);
    let proving = LinkId::new(2, LinkKind::Proving);
    let end = l.handle_frame(proving, raft(&[1]), 0).unwrap_err();
    assert_eq!(
        end.to_string(),
        "it sent message 0x51 before proving the triad key"
    );
}

#[test]
fn a_link_that_never_proves_is_refused_after_the_handshake_time() {
    let mut l = member(1, Some(&KEY));
    accept_keyed(&mut l, &[5; NONCE_LEN], 100);
    let ms = timing().handshake_ms;
    assert!(l.poll_timeout() <= 100 + ms);
    l.handle_timeout(100 + ms - 1);
    assert!(!drain(&mut l).contains(&Action::Close(LinkId::new(2, LinkKind::Proving))));
    l.handle_timeout(100 + ms);
    let actions = drain(&mut l);
    assert!(actions.contains(&Action::Close(LinkId::new(2, LinkKind::Proving))));
    assert!(logs(&actions).contains(&"Refused a triad connection from 127.0.0.2:27000 (member 2): it did not prove the triad key within 2000 ms"));
}

#[test]
fn a_dialer_hanging_up_while_proving_is_no_news() {
    let mut l = member(1, Some(&KEY));
    accept_keyed(&mut l, &[5; NONCE_LEN], 0);
    let proving = LinkId::new(2, LinkKind::Proving);
    l.handle_closed(proving, LinkEnd::Link(LinkError::Closed), 0);
    assert_eq!(drain(&mut l), vec![Action::Close(proving)]);
}

#[test]
fn without_a_key_an_accepted_link_is_inbound_at_once() {
    let mut l = member(1, None);
    assert_eq!(l.accepts_as(), LinkKind::In);
    l.handle_accepted(3, addr(3), Vec::new(), 7);
    let inbound = LinkId::new(3, LinkKind::In);
    let actions = drain(&mut l);
    assert_eq!(
        logs(&actions),
        vec!["Triad connection from 127.0.0.3 (member 3) at 127.0.0.3:27000"]
    );
    assert!(actions.contains(&Action::Send {
        link: inbound,
        msg: hello_from(1, Vec::new(), Vec::new()),
    }));
    assert_eq!(l.heard(7), vec![3]);
    let end = l.handle_frame(inbound, hello_from(3, Vec::new(), Vec::new()), 8);
    assert_eq!(end.unwrap_err().to_string(), "unexpected message 0x50");
    l.handle_closed(inbound, LinkEnd::Link(LinkError::Closed), 8);
    assert_eq!(
        logs(&drain(&mut l)),
        vec!["Connection from 127.0.0.3 (member 3) at 127.0.0.3:27000 closed: closed by peer"]
    );
    // An answer that could not be written says so.
    l.handle_accepted(3, addr(3), Vec::new(), 9);
    drain(&mut l);
    l.handle_closed(inbound, LinkEnd::Answer(LinkError::WriteZero), 9);
    assert_eq!(
        logs(&drain(&mut l)),
        vec![
            "Connection from 127.0.0.3 (member 3) at 127.0.0.3:27000 failed: peer stopped reading"
        ]
    );
}

#[test]
fn without_random_bytes_nothing_is_dialed_or_answered() {
    let mut l = PeerLinks::new(
        &plan(1),
        Some(TriadKey::new(&KEY)),
        Box::new(Broken),
        timing(),
        0,
    );
    l.handle_timeout(0);
    drain(&mut l);
    l.handle_resolved(2, Ok(vec![addr(2)]), 0);
    let actions = drain(&mut l);
    assert_eq!(
        logs(&actions),
        vec!["Cannot connect to 127.0.0.2 (member 2): cannot read random bytes for a triad nonce; retrying"]
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::Dial { .. })));
    l.handle_accepted(3, addr(3), vec![5; NONCE_LEN], 0);
    let actions = drain(&mut l);
    assert_eq!(
        logs(&actions),
        vec!["Cannot answer the triad connection from 127.0.0.3:27000: cannot read random bytes for a triad nonce"]
    );
    assert!(actions.contains(&Action::Close(LinkId::new(3, LinkKind::Proving))));
}

#[test]
fn a_host_that_does_not_resolve_is_retried() {
    let mut l = member(1, None);
    l.handle_timeout(0);
    drain(&mut l);
    l.handle_resolved(2, Err(std::io::Error::other("no such host")), 0);
    l.handle_resolved(3, Ok(Vec::new()), 0);
    assert_eq!(
        logs(&drain(&mut l)),
        vec![
            "Cannot connect to 127.0.0.2 (member 2): cannot resolve 127.0.0.2: no such host; retrying",
            "Cannot connect to 127.0.0.3 (member 3): 127.0.0.3 has no address; retrying",
        ]
    );
    assert_eq!(l.poll_timeout(), DIAL_FIRST_MS);
    l.handle_timeout(DIAL_FIRST_MS);
    assert_eq!(drain(&mut l).len(), 2, "both looked up again");
}

#[test]
fn raft_goes_out_on_ready_links_only_and_is_dropped_when_backed_up() {
    let mut l = member(1, None);
    l.handle_raft_out(2, vec![1], 0);
    assert!(drain(&mut l).is_empty(), "not connected: raft sends again");
    ready_2(&mut l, 0);
    l.handle_raft_out(2, vec![1], MAX_PEER_OUTPUT - 1);
    assert_eq!(
        drain(&mut l),
        vec![Action::Send {
            link: out(2),
            msg: raft(&[1])
        }]
    );
    let mut warned = Vec::new();
    for n in 1..=5 {
        l.handle_raft_out(2, vec![1], MAX_PEER_OUTPUT);
        if !logs(&drain(&mut l)).is_empty() {
            warned.push(n);
        }
    }
    assert_eq!(warned, vec![1, 2, 4], "logged at each power of two");
}

#[test]
fn how_peers_look_from_here() {
    let mut l = member(1, None);
    assert_eq!(
        l.view(2, 0).unwrap().reason,
        "down: never heard from",
        "at start"
    );
    assert_eq!(l.view(1, 0), None, "not a peer");
    ready_2(&mut l, 1_000);
    assert_eq!(
        l.view(2, 1_500),
        Some(PeerView {
            up: true,
            reason: "heard from 500 ms ago".into()
        })
    );
    assert_eq!(l.heard(1_500), vec![2]);
    assert_eq!(
        l.view(2, 1_000 + ELECTION).unwrap().reason,
        "down: last heard from 2000 ms ago"
    );
    assert!(l.heard(1_000 + ELECTION).is_empty());
    l.handle_closed(
        out(3),
        LinkEnd::Connect(std::io::Error::other("refused")),
        1_500,
    );
    assert_eq!(
        l.view(3, 1_500).unwrap().reason,
        "down: 127.0.0.3:27000: connect: refused"
    );
}

#[test]
fn hellos_on_lmgrds_port_are_checked() {
    let p = plan(1);
    let hello = |m: u32, cluster: &str, nonce: Vec<u8>| TriadHello {
        member: m,
        cluster: cluster.into(),
        nonce: Blob(nonce),
        proof: Blob(Vec::new()),
    };
    assert_eq!(check_hello(&p, false, &hello(2, &p.cluster, vec![])), Ok(2));
    assert_eq!(
        check_hello(&p, true, &hello(3, &p.cluster, vec![0; NONCE_LEN])),
        Ok(3)
    );
    let other = check_hello(&p, false, &hello(2, "x\ny", vec![])).unwrap_err();
    assert_eq!(
        other.to_string(),
        format!(
            "it is a member of another triad (SERVER lines {} here, {} there)",
            p.cluster,
            wire::text::escape("x\ny")
        ),
        "what a stranger says is escaped"
    );
    for m in [0, 1, 4] {
        assert_eq!(
            check_hello(&p, false, &hello(m, &p.cluster, vec![])),
            Err(HelloRefusal::NotAPeer(u64::from(m)))
        );
    }
    assert!(matches!(
        check_hello(&p, true, &hello(2, &p.cluster, vec![])),
        Err(HelloRefusal::Key(KeyMismatch::PeerHasNone { .. }))
    ));
    assert!(matches!(
        check_hello(&p, false, &hello(2, &p.cluster, vec![1])),
        Err(HelloRefusal::Key(KeyMismatch::OnlyPeerHasOne { .. }))
    ));
    assert_eq!(
        check_hello(&p, true, &hello(2, &p.cluster, vec![1; 5])),
        Err(HelloRefusal::ChallengeSize(5))
    );
}
