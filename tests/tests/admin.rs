//! lmreread and lmgrd's admin restrictions, against real processes.

use e2e::*;
use std::process::Command;
use std::time::Duration;
use wire::{admin_op, lmerr, AdminRequest, Message};

const WAIT: Duration = Duration::from_secs(20);

fn admin(lmgrd: std::net::SocketAddr, op: u8, vendor: &str) -> wire::AdminReply {
    let mut p = Peer::hello(lmgrd, "root", 0);
    match p.request(&Message::Admin(AdminRequest {
        op,
        vendor: vendor.into(),
        ..Default::default()
    })) {
        Message::AdminReply(r) => r,
        other => panic!("{other:?}"),
    }
}

fn f1_usage(vendord: std::net::SocketAddr) -> (u32, u32) {
    let mut p = Peer::hello(vendord, "status", 0);
    match p.request(&Message::StatusQuery(wire::StatusQuery {
        feature: "f1".into(),
        ..Default::default()
    })) {
        Message::Status(s) => {
            let f = &s.features[0];
            (f.issued, f.in_use)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lmreread_applies_a_new_count_without_dropping_holders() {
    let dir = tempdir("reread");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let vendord = std::net::SocketAddr::from((
        [127, 0, 0, 1],
        Peer::vendor_port(server.lmgrd_addr(), "demo").unwrap(),
    ));
    let mut holders: Vec<Peer> = (0..3)
        .map(|i| Peer::hello(vendord, &format!("h{i}"), 10 + i))
        .collect();
    for (i, h) in holders.iter_mut().enumerate() {
        assert!(matches!(h.checkout(i as u32, "f1", 1), Message::Granted(_)));
    }
    // Fewer licenses than are in use: holders keep theirs, newcomers wait.
    resign_with_count(
        &license,
        "FEATURE f1 demo 1.0 permanent 4",
        "FEATURE f1 demo 1.0 permanent 2",
    );
    let reply = admin(server.lmgrd_addr(), admin_op::REREAD, "");
    assert_eq!(
        (reply.code, reply.text.as_str()),
        (0, "lmreread successful")
    );
    server.wait_log(WAIT, "(demo) Rereading license file...");
    wait_until(WAIT, "the new count", || f1_usage(vendord) == (2, 3));
    let mut newcomer = Peer::hello(vendord, "newcomer", 99);
    assert!(
        matches!(newcomer.checkout(1, "f1", 1), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS)
    );
    // The old connections still work: a heartbeat and a checkin.
    assert!(matches!(
        holders[0].request(&Message::Heartbeat(wire::Heartbeat {
            seq: 1,
            idle: false
        })),
        Message::HeartbeatAck(_)
    ));
    // More licenses apply at once.
    resign_with_count(
        &license,
        "FEATURE f1 demo 1.0 permanent 2",
        "FEATURE f1 demo 1.0 permanent 6",
    );
    assert_eq!(admin(server.lmgrd_addr(), admin_op::REREAD, "demo").code, 0);
    wait_until(WAIT, "the raised count", || f1_usage(vendord).0 == 6);
    assert!(matches!(newcomer.checkout(2, "f1", 1), Message::Granted(_)));
    assert!(
        !server.log_text().contains("REStarted"),
        "the vendor daemon was not restarted"
    );
}

#[test]
fn x_lmdown_refuses_shutdown() {
    let dir = tempdir("xlmdown");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let mut server = Server::start(&license, port, &["-x", "lmdown"]);
    let reply = admin(server.lmgrd_addr(), admin_op::SHUTDOWN, "");
    assert_eq!(reply.code, lmerr::LM_NOTLICADMIN, "{reply:?}");
    assert!(reply.text.contains("-x lmdown"));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "lmgrd is still running"
    );
    assert!(Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok());
    // It still stops on SIGTERM, as the documentation tells administrators.
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(WAIT), Some(0));
}

#[test]
fn lmdown_vendor_stops_one_daemon_and_lmreread_brings_it_back() {
    let dir = tempdir("downvendor");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let pid = server.vendord_pid();
    assert_eq!(
        admin(server.lmgrd_addr(), admin_op::SHUTDOWN, "demo").code,
        0
    );
    wait_until(WAIT, "vendord to stop", || !alive(pid));
    match Peer::vendor_port(server.lmgrd_addr(), "demo") {
        Err(e) => assert_eq!(e.code, lmerr::LM_VENDOR_DOWN),
        Ok(p) => panic!("still up on {p}"),
    }
    assert_eq!(admin(server.lmgrd_addr(), admin_op::REREAD, "").code, 0);
    server.wait_log_count(WAIT, "using TCP-port", 2);
    assert!(Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok());
}

#[test]
fn lmswitch_moves_the_vendor_daemon_log_to_a_new_file() {
    let dir = tempdir("switch");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let vendord = std::net::SocketAddr::from((
        [127, 0, 0, 1],
        Peer::vendor_port(server.lmgrd_addr(), "demo").unwrap(),
    ));
    // lmswitch writes only in the log directory: with the log on a pipe,
    // the state directory.
    let new_log = server.state_dir.join("demo-new.log");
    let mut admin_peer = Peer::hello(vendord, "root", 0);
    let req = AdminRequest {
        op: admin_op::SWITCH_LOG,
        vendor: "demo".into(),
        path: new_log.display().to_string(),
        ..Default::default()
    };
    match admin_peer.request(&Message::Admin(req.clone())) {
        Message::AdminReply(r) => assert_eq!(r.code, 0, "{r:?}"),
        other => panic!("{other:?}"),
    }
    server.wait_log(WAIT, "Switching debug log to");
    let mut user = Peer::hello(vendord, "switcher", 5);
    assert!(matches!(user.checkout(1, "f1", 1), Message::Granted(_)));
    wait_until(WAIT, "OUT in the new log", || {
        std::fs::read_to_string(&new_log).is_ok_and(|t| t.contains("OUT: \"f1\" switcher@e2e-host"))
    });
    assert!(
        !server.log_text().contains("OUT: \"f1\" switcher@"),
        "the old log no longer gets vendor lines"
    );
    // An existing file is never overwritten.
    match admin_peer.request(&Message::Admin(req)) {
        Message::AdminReply(r) => assert_ne!(r.code, 0),
        other => panic!("{other:?}"),
    }
}

/// `-2 -p`: lmdown from an ordinary user is refused, and the user is the
/// one the kernel reports for the connection (the tool runs as `nobody`).
#[test]
fn two_p_refuses_lmdown_from_an_ordinary_user() {
    use std::os::unix::process::CommandExt;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the client as another user");
        return;
    }
    let dir = tempdir("twop");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let server = Server::start(&license, port, &["-2", "-p"]);
    // nobody may not be able to enter the checkout (a clone under a
    // `mktemp -d` directory, mode 700): run a copy from a directory it can.
    let scratch = e2e::unit::scratch_root("twop");
    e2e::unit::copy_binaries(&["lmutil"], &scratch);
    let out = Command::new(scratch.join("lmutil"))
        .args(["lmdown", "-q", "-c", &format!("{port}@localhost")])
        .current_dir(&scratch)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Not a license administrator"), "{text}");
    server.wait_log(WAIT, "refused");
    assert!(
        Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok(),
        "still serving"
    );
    // root may.
    lmutil_ok(&["lmdown", "-q", "-c", &format!("{port}@localhost")]);
}
