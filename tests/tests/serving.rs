//! lmgrd + vendord + clients, all real processes on loopback.

use e2e::*;
use std::process::{Command, Stdio};
use std::time::Duration;
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(20);

fn demo_server(tag: &str) -> Server {
    let dir = tempdir(tag);
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    Server::start(&license, port, &[])
}

fn vendord_addr(s: &Server) -> std::net::SocketAddr {
    let port = Peer::vendor_port(s.lmgrd_addr(), "demo").expect("demo is up");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn checkouts_up_to_the_count_then_maxusers_and_checkin_frees() {
    let server = demo_server("count");
    let addr = vendord_addr(&server);
    let mut users: Vec<Peer> = (0..5)
        .map(|i| Peer::hello(addr, &format!("user{i}"), 100 + i))
        .collect();
    let mut handles = Vec::new();
    for (i, p) in users.iter_mut().take(4).enumerate() {
        match p.checkout(i as u32, "f1", 1) {
            Message::Granted(g) => handles.push(g.handle),
            other => panic!("checkout {i}: {other:?}"),
        }
    }
    match users[4].checkout(9, "f1", 1) {
        Message::Denied(d) => {
            assert_eq!((d.code, d.minor), (lmerr::LM_MAXUSERS, 342));
            assert_eq!(d.text, "Licensed number of users already reached.");
        }
        other => panic!("fifth checkout: {other:?}"),
    }
    server.wait_log(
        WAIT,
        "DENIED: \"f1\" user4@e2e-host  (Licensed number of users already reached. (-4,342))",
    );
    match users[0].request(&Message::Checkin(wire::Checkin {
        req: 10,
        handle: handles[0],
    })) {
        Message::CheckedIn(c) => assert_eq!(c.handle, handles[0]),
        other => panic!("checkin: {other:?}"),
    }
    server.wait_log(WAIT, "IN: \"f1\" user0@e2e-host");
    assert!(matches!(
        users[4].checkout(11, "f1", 1),
        Message::Granted(_)
    ));
}

#[test]
fn a_closed_or_killed_client_frees_its_seats() {
    let server = demo_server("kill");
    let lic = format!("{}@localhost", server.port);
    // Four real applications hold all four seats.
    let mut apps: Vec<_> = (0..4)
        .map(|_| {
            Command::new(bin("lmflex"))
                .args(["f1", "--hold", "600"])
                .env("LM_LICENSE_FILE", &lic)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    server.wait_log_count(WAIT, "OUT: \"f1\"", 4);
    let addr = vendord_addr(&server);
    let mut me = Peer::hello(addr, "newcomer", 7);
    assert!(matches!(me.checkout(1, "f1", 1), Message::Denied(_)));
    apps[0].kill().unwrap();
    apps[0].wait().unwrap();
    server.wait_log(WAIT, "IN: \"f1\"");
    assert!(matches!(me.checkout(2, "f1", 1), Message::Granted(_)));
    for app in &mut apps[1..] {
        let _ = app.kill();
        let _ = app.wait();
    }
}

#[test]
fn lmgrd_restarts_a_killed_vendord_and_clients_get_their_seats_back() {
    let server = demo_server("restart");
    let lic = format!("{}@localhost", server.port);
    let mut apps: Vec<_> = (0..2)
        .map(|_| {
            Command::new(bin("lmflex"))
                .args(["f1", "--hold", "600"])
                .env("LM_LICENSE_FILE", &lic)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    server.wait_log_count(WAIT, "OUT: \"f1\"", 2);
    let old = server.vendord_pid();
    unsafe { libc::kill(old, libc::SIGKILL) };
    server.wait_log(WAIT, "REStarted demo");
    server.wait_log_count(WAIT, "using TCP-port", 2);
    // Both applications reconnect and take their seats again.
    server.wait_log_count(Duration::from_secs(60), "OUT: \"f1\"", 4);
    let addr = vendord_addr(&server);
    let mut me = Peer::hello(addr, "newcomer", 8);
    assert!(
        matches!(me.checkout(1, "f1", 2), Message::Granted(_)),
        "two seats are left"
    );
    match me.checkout(2, "f1", 1) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_MAXUSERS, "never more than four"),
        other => panic!("{other:?}"),
    }
    for app in &mut apps {
        let _ = app.kill();
        let _ = app.wait();
    }
}

#[test]
fn sigterm_stops_lmgrd_and_leaves_no_vendor_daemon() {
    let mut server = demo_server("term");
    let pid = server.vendord_pid();
    assert!(alive(pid));
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(WAIT), Some(0));
    wait_until(WAIT, "vendord to be gone", || !alive(pid));
    // The reader thread may still be taking the last lines from the pipe.
    server.wait_log(WAIT, "EXITING DUE TO SIGNAL 15");
}

#[test]
fn a_malformed_frame_closes_only_that_connection() {
    let server = demo_server("garbage");
    let addr = vendord_addr(&server);
    let mut good = Peer::hello(addr, "good", 1);
    let mut bad = Peer::connect(addr);
    bad.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(bad.recv().is_none(), "the bad peer is disconnected");
    server.wait_log(WAIT, "malformed");
    assert!(matches!(good.checkout(1, "f1", 1), Message::Granted(_)));
    // lmgrd's own port behaves the same.
    let mut bad = Peer::connect(server.lmgrd_addr());
    bad.send_raw(&[0x4c, 0x4d, 1, 0x10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert!(bad.recv().is_none());
    assert!(Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok());
}

#[test]
fn a_tampered_line_is_never_served() {
    let dir = tempdir("tampered");
    let port = free_port();
    let license = license_with_port("tampered.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let addr = vendord_addr(&server);
    let mut p = Peer::hello(addr, "joe", 3);
    match p.checkout(1, "cad_pro", 1) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_BADCODE, "{d:?}"),
        other => panic!("tampered line served: {other:?}"),
    }
    assert!(matches!(p.checkout(2, "cad_view", 1), Message::Granted(_)));
}

#[test]
fn lmflex_against_lmgrd_and_the_debug_log() {
    let server = demo_server("lmflex");
    let lic = format!("{}@localhost", server.port);
    let out = Command::new(bin("lmflex"))
        .args(["f1", "--hold", "0"])
        .env("LM_LICENSE_FILE", &lic)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Checkout succeeded: f1"), "{text}");
    server.wait_log(WAIT, "OUT: \"f1\"");
    server.wait_log(WAIT, "IN: \"f1\"");
    let out = Command::new(bin("lmflex"))
        .args(["f1", "--count", "5", "--hold", "0"])
        .env("LM_LICENSE_FILE", &lic)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("error:-26,"), "{text}");
    server.wait_log(WAIT, "DENIED: \"f1\"");
    let out = Command::new(bin("lmflex"))
        .args(["nosuch", "--hold", "0"])
        .env("LM_LICENSE_FILE", &lic)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    server.wait_log(WAIT, "UNSUPPORTED: \"nosuch\"");
}

#[test]
fn lmgrd_answers_unknown_vendors_and_down_vendors() {
    let server = demo_server("lookup");
    match Peer::vendor_port(server.lmgrd_addr(), "nobody") {
        Err(e) => assert_eq!(e.code, lmerr::LM_NOSERVSUPP),
        Ok(p) => panic!("unknown vendor answered with port {p}"),
    }
}
