//! The options file, through real lmgrd and vendord processes.

use e2e::*;
use std::time::Duration;
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(20);

/// demo.lic with `OPTIONS=demo.opt` on its VENDOR line (not signed, so an
/// administrator may add it) and the options file beside it.
fn server_with_options(tag: &str, options: &str) -> Server {
    let dir = tempdir(tag);
    let port = free_port();
    let license = license_with_options("demo.lic", &dir, port, options);
    Server::start(&license, port, &[])
}

fn vendord(s: &Server) -> std::net::SocketAddr {
    std::net::SocketAddr::from((
        [127, 0, 0, 1],
        Peer::vendor_port(s.lmgrd_addr(), "demo").unwrap(),
    ))
}

#[test]
fn an_excluded_user_is_refused_with_flexlms_code() {
    let server = server_with_options("exclude", "# site rules\nEXCLUDE f1 USER mallory\n");
    server.wait_log(WAIT, "Using options file");
    let addr = vendord(&server);
    let mut mallory = Peer::hello(addr, "mallory", 1);
    match mallory.checkout(1, "f1", 1) {
        Message::Denied(d) => {
            assert_eq!(d.code, lmerr::LM_FEATEXCLUDE);
            assert_eq!(d.text, "User/host on EXCLUDE list for feature.");
        }
        other => panic!("{other:?}"),
    }
    server.wait_log(
        WAIT,
        "DENIED: \"f1\" mallory@e2e-host  (User/host on EXCLUDE list for feature. (-38,0))",
    );
    let mut alice = Peer::hello(addr, "alice", 2);
    assert!(matches!(alice.checkout(1, "f1", 1), Message::Granted(_)));
}

#[test]
fn a_reservation_is_honoured() {
    let server = server_with_options("reserve", "RESERVE 3 f1 USER alice\n");
    let addr = vendord(&server);
    let mut bob = Peer::hello(addr, "bob", 1);
    assert!(matches!(bob.checkout(1, "f1", 1), Message::Granted(_)));
    match bob.checkout(2, "f1", 1) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_RESVFOROTHERS, "{d:?}"),
        other => panic!("{other:?}"),
    }
    let mut alice = Peer::hello(addr, "alice", 2);
    for req in 0..3 {
        assert!(matches!(alice.checkout(req, "f1", 1), Message::Granted(_)));
    }
}

#[test]
fn a_bad_options_line_is_reported_and_the_rest_applies() {
    let server = server_with_options(
        "badopt",
        "EXCLUDE f1 SOMETHING mallory\nEXCLUDE f1 USER mallory\n",
    );
    server.wait_log(WAIT, "demo.opt:1:");
    let addr = vendord(&server);
    let mut mallory = Peer::hello(addr, "mallory", 1);
    assert!(
        matches!(mallory.checkout(1, "f1", 1), Message::Denied(d) if d.code == lmerr::LM_FEATEXCLUDE)
    );
}

#[test]
fn linger_releases_the_seat_after_its_time() {
    let server = server_with_options("linger", "LINGER f2 5\n");
    let addr = vendord(&server);
    let mut a = Peer::hello(addr, "a", 1);
    let mut b = Peer::hello(addr, "b", 2);
    let mut c = Peer::hello(addr, "c", 3);
    let Message::Granted(g) = a.checkout(1, "f2", 1) else {
        panic!("first seat")
    };
    assert!(matches!(b.checkout(1, "f2", 1), Message::Granted(_)));
    assert!(matches!(
        a.request(&Message::Checkin(wire::Checkin {
            req: 2,
            handle: g.handle
        })),
        Message::CheckedIn(_)
    ));
    // Checked in, but the seat lingers: nobody else gets it yet.
    assert!(matches!(c.checkout(1, "f2", 1), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS));
    server.wait_log(WAIT, "IN: \"f2\" a@e2e-host");
    assert!(matches!(c.checkout(2, "f2", 1), Message::Granted(_)));
}

#[test]
fn a_queued_checkout_is_granted_when_a_seat_frees() {
    let server = server_with_options("queue", "");
    let addr = vendord(&server);
    let mut a = Peer::hello(addr, "a", 1);
    let mut b = Peer::hello(addr, "b", 2);
    let mut waiter = Peer::hello(addr, "waiter", 3);
    let Message::Granted(first) = a.checkout(1, "f2", 1) else {
        panic!("seat 1")
    };
    assert!(matches!(b.checkout(1, "f2", 1), Message::Granted(_)));
    let reply = waiter.request(&Message::Checkout(wire::Checkout {
        req: 42,
        feature: "f2".into(),
        version: "1.0".into(),
        count: 1,
        dup_group: 0,
        queue: true,
        borrow_until: 0,
        return_hash: Default::default(),
    }));
    assert!(
        matches!(&reply, Message::Denied(d) if d.code == lmerr::LM_FEATQUEUE),
        "{reply:?}"
    );
    server.wait_log(WAIT, "QUEUED: \"f2\" waiter@e2e-host");
    assert!(matches!(
        a.request(&Message::Checkin(wire::Checkin {
            req: 2,
            handle: first.handle
        })),
        Message::CheckedIn(_)
    ));
    match waiter.recv() {
        Some(Message::Granted(g)) => assert_eq!((g.req, g.feature.as_str()), (42, "f2")),
        other => panic!("the waiter got {other:?}"),
    }
    server.wait_log(WAIT, "DEQUEUED: \"f2\" waiter@e2e-host");
}

#[test]
fn debuglog_sends_the_vendor_daemons_lines_to_their_own_file() {
    let server = server_with_options("debuglog", "DEBUGLOG +demo-debug.log\nNOLOG IN\n");
    server.wait_log(WAIT, "Debug log of this vendor daemon:");
    let addr = vendord(&server);
    let mut alice = Peer::hello(addr, "alice", 1);
    let Message::Granted(g) = alice.checkout(1, "f1", 1) else {
        panic!("granted")
    };
    alice.request(&Message::Checkin(wire::Checkin {
        req: 2,
        handle: g.handle,
    }));
    // A relative DEBUGLOG is in the state directory, not the license's.
    let file = server.state_dir.join("demo-debug.log");
    assert!(!server.dir.join("demo-debug.log").exists());
    wait_until(WAIT, "OUT: in the DEBUGLOG file", || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("OUT: \"f1\" alice@e2e-host"))
    });
    // lmgrd's log no longer has the vendor daemon's checkouts, and NOLOG IN
    // kept the checkin out of both.
    assert!(!server.log_text().contains("OUT: \"f1\" alice"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("IN: \"f1\" alice"), "{text}");
}
