//! TIMEOUT and borrowing through real lmgrd and vendord processes.

use e2e::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(20);

fn vendord(s: &Server, vendor: &str) -> std::net::SocketAddr {
    std::net::SocketAddr::from((
        [127, 0, 0, 1],
        Peer::vendor_port(s.lmgrd_addr(), vendor).unwrap(),
    ))
}

/// Sends a heartbeat and reads up to its ack; true if a `Revoked` came
/// before it.
fn beat(peer: &mut Peer, idle: bool) -> bool {
    peer.send(&Message::Heartbeat(wire::Heartbeat { seq: 1, idle }));
    let mut revoked = false;
    loop {
        match peer.recv() {
            Some(Message::HeartbeatAck(_)) => return revoked,
            Some(Message::Revoked(_)) => revoked = true,
            other => panic!("expected a heartbeat ack, got {other:?}"),
        }
    }
}

#[test]
fn timeout_reclaims_the_seat_of_an_idle_application_only() {
    let dir = tempdir("timeout");
    let port = free_port();
    let license = license_with_options("demo.lic", &dir, port, "TIMEOUT f1 3\n");
    // The vendor's minimum TIMEOUT is normally 900 s; this daemon allows 1.
    let server = Server::start_with_env(&license, port, &[], &[("VENDORD_MIN_TIMEOUT", "1")]);
    let addr = vendord(&server, "demo");
    let mut idle = Peer::hello(addr, "dozer", 1);
    let mut busy = Peer::hello(addr, "worker", 2);
    assert!(matches!(idle.checkout(1, "f1", 1), Message::Granted(_)));
    assert!(matches!(busy.checkout(1, "f1", 1), Message::Granted(_)));
    assert_eq!(in_use(addr, "f1"), 2);
    // Both applications keep heart-beating; only one has a user at work.
    let deadline = Instant::now() + WAIT;
    let mut reclaimed = false;
    while !reclaimed {
        assert!(
            Instant::now() < deadline,
            "no reclaim; log:\n{}",
            server.log_text()
        );
        reclaimed = beat(&mut idle, true);
        assert!(!beat(&mut busy, false), "the active user lost its seat");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.wait_log(WAIT, "IN: \"f1\" dozer@e2e-host  (INACTIVE)");
    assert_eq!(in_use(addr, "f1"), 1);
    assert!(!server.log_text().contains("worker@e2e-host  (INACTIVE)"));
    // The idle application's connection stays: it may check out again.
    assert!(matches!(idle.checkout(2, "f1", 1), Message::Granted(_)));
}

/// The return secret of the raw borrows below (a real client draws one
/// per borrow).
const SECRET: [u8; 32] = [3; 32];

fn borrow(peer: &mut Peer, feature: &str, hours: u64) -> Message {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    peer.request(&Message::Checkout(wire::Checkout {
        req: 9,
        feature: feature.into(),
        version: "1.0".into(),
        count: 1,
        dup_group: 0,
        queue: false,
        borrow_until: now + hours * 3600,
        return_hash: wire::codec::Blob(wire::borrow_key::return_hash(&SECRET).to_vec()),
    }))
}

fn give_back(peer: &mut Peer, feature: &str, secret: &[u8]) -> Message {
    peer.request(&Message::ReturnBorrow(wire::ReturnBorrow {
        req: 3,
        feature: feature.into(),
        secret: wire::codec::Blob(secret.to_vec()),
    }))
}

#[test]
fn a_borrowed_seat_survives_kill_9_of_vendord_and_lmgrd() {
    let dir = tempdir("borrow");
    let port = free_port();
    let license = license_with_port("floating.lic", &dir, port);
    let mut server = Server::start(&license, port, &[]);
    let addr = vendord(&server, "demo");
    {
        let mut laptop = Peer::hello(addr, "traveller", 1);
        match borrow(&mut laptop, "solver", 73) {
            Message::Denied(d) => assert_eq!(d.code, lmerr::LM_BORROW_TOOLONG, "{d:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            borrow(&mut laptop, "solver", 24),
            Message::Granted(_)
        ));
        // The laptop leaves the network with its seat.
    }
    let all_three = |addr| {
        let mut desk = Peer::hello(addr, "desk", 5);
        desk.checkout(1, "solver", 3)
    };
    // Whether or not the daemon has seen the laptop go, the seat is taken.
    assert!(matches!(all_three(addr), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS));

    // kill -9 of the vendor daemon: lmgrd restarts it, the seat stays taken.
    let old = server.vendord_pid();
    unsafe { libc::kill(old, libc::SIGKILL) };
    server.wait_log(WAIT, "REStarted demo");
    server.wait_log(
        WAIT,
        "Borrowed license \"solver\" of traveller@e2e-host kept until",
    );
    let addr = vendord(&server, "demo");
    assert_eq!(in_use(addr, "solver"), 1);
    assert!(matches!(all_three(addr), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS));

    // kill -9 of lmgrd (its vendor daemon goes with it), then a new start.
    let vd = server.vendord_pid();
    server.signal(libc::SIGKILL);
    server.wait_exit(WAIT);
    wait_until(WAIT, "the vendor daemon to die with lmgrd", || !alive(vd));
    drop(server);
    let server = Server::start(&license, port, &[]);
    server.wait_log(
        WAIT,
        "Borrowed license \"solver\" of traveller@e2e-host kept until",
    );
    let addr = vendord(&server, "demo");
    assert_eq!(in_use(addr, "solver"), 1);
    assert!(matches!(all_three(addr), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS));

    // Someone claiming the traveller's user and host, without the secret
    // (none, a wrong one, the hash itself), cannot return it: the hash
    // survived both restarts in the borrow store.
    let mut forger = Peer::hello(addr, "traveller", 8);
    for secret in [
        &[][..],
        &[0; 32][..],
        &wire::borrow_key::return_hash(&SECRET)[..],
    ] {
        let reply = give_back(&mut forger, "solver", secret);
        assert!(
            matches!(&reply, Message::Denied(d) if d.code == lmerr::LM_NOTLICADMIN),
            "{reply:?}"
        );
        assert_eq!(in_use(addr, "solver"), 1);
    }
    server.wait_log(
        WAIT,
        "Refused the early return of borrowed \"solver\" claimed by traveller@e2e-host: not the borrower's secret",
    );

    // Back in the office: the early return frees the seat for everyone.
    let mut laptop = Peer::hello(addr, "traveller", 7);
    let reply = give_back(&mut laptop, "solver", &SECRET);
    assert!(matches!(reply, Message::CheckedIn(_)), "{reply:?}");
    assert!(matches!(all_three(addr), Message::Granted(_)));
}

#[test]
fn the_report_log_records_usage_that_lmreport_summarises() {
    let (dir, server) = with_report_log("reportlog", "usage.rl");
    let addr = vendord(&server, "demo");
    let mut a = Peer::hello(addr, "alice", 1);
    let mut b = Peer::hello(addr, "bob", 2);
    let Message::Granted(g) = a.checkout(1, "f1", 3) else {
        panic!("alice gets three")
    };
    assert!(matches!(b.checkout(1, "f1", 2), Message::Denied(d) if d.code == lmerr::LM_MAXUSERS));
    assert!(matches!(
        a.request(&Message::Checkin(wire::Checkin {
            req: 2,
            handle: g.handle
        })),
        Message::CheckedIn(_)
    ));
    // lmnewlog moves the log aside so that it can be read while the
    // daemon goes on in a fresh one.
    let (f1, text) = rotated_f1(&server, "day1.rl");
    assert_eq!(f1["peak"]["seats"], 3, "{text}");
    let days = f1["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{text}");
    assert_eq!(days[0]["checkouts"], 1, "{text}");
    assert_eq!(
        days[0]["denials"].as_object().map(|d| d.len()),
        Some(1),
        "{text}"
    );
    // The daemon writes on in a new usage.rl, in the state directory:
    // nothing goes beside the license.
    assert!(server.state_dir.join("usage.rl").exists());
    assert!(!dir.join("usage.rl").exists());
}

/// lmgrd on demo.lic whose vendor daemon keeps the report log `+file`
/// (in the state directory), once it has opened it.
fn with_report_log(tag: &str, file: &str) -> (std::path::PathBuf, Server) {
    let dir = tempdir(tag);
    let port = free_port();
    let options = format!("REPORTLOG +{file}\n");
    let license = license_with_options("demo.lic", &dir, port, &options);
    let server = Server::start(&license, port, &[]);
    server.wait_log(WAIT, "Report log: ");
    (dir, server)
}

/// Moves the demo daemon's report log aside as `name` (lmnewlog), so that
/// it can be read while the daemon goes on in a fresh one, and returns
/// feature f1 of its lmreport summary, with the whole summary as text.
fn rotated_f1(server: &Server, name: &str) -> (serde_json::Value, String) {
    lmutil_ok(&["lmnewlog", "-c", &server.at(), "demo", name]);
    let rotated = server.state_dir.join(name);
    let out = lmutil_ok(&["lmreport", "-f", rotated.to_str().unwrap(), "-json"]);
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = summary.to_string();
    let f1 = summary["features"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["feature"] == "f1"))
        .unwrap_or_else(|| panic!("no f1 in {text}"))
        .clone();
    (f1, text)
}

/// kill -9 of the vendor daemon right after it answered: every checkout a
/// client heard of is in the report log once the restarted daemon has it.
#[test]
fn report_records_survive_a_kill_of_the_vendor_daemon() {
    let (_dir, server) = with_report_log("reportlog-kill", "kill.rl");
    let mut p = Peer::hello(vendord(&server, "demo"), "kim", 1);
    const ROUNDS: u32 = 25;
    for req in 0..ROUNDS {
        let Message::Granted(g) = p.checkout(req * 2, "f1", 1) else {
            panic!("granted")
        };
        let reply = p.request(&Message::Checkin(wire::Checkin {
            req: req * 2 + 1,
            handle: g.handle,
        }));
        assert!(matches!(reply, Message::CheckedIn(_)), "{reply:?}");
    }
    let pid = server.vendord_pid();
    // SAFETY: a plain kill(2) of the test's own child's child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    server.wait_log_count(WAIT, "Report log: ", 2);
    wait_until(WAIT, "the restarted vendor daemon", || {
        Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok_and(|p| p != 0)
    });
    let (f1, summary) = rotated_f1(&server, "killed.rl");
    assert_eq!(f1["checkouts"], ROUNDS, "{summary}");
}

/// Reads an application's stdout lines into a shared list.
fn watch(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::BufRead;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let sink = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

fn lmflex(args: &[&str], lic: &str, home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin("lmflex"));
    cmd.args(args)
        .env("LM_LICENSE_FILE", lic)
        .env("HOME", home)
        .env("LM_BORROW_STORE", home.join("borrows"))
        .env_remove("LM_BORROW")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    cmd
}

#[test]
fn a_queued_application_gets_its_seat_when_one_frees_and_lmstat_shows_it_waiting() {
    let dir = tempdir("queue-lmflex");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let lic = format!("{port}@localhost");
    let addr = vendord(&server, "demo");
    let mut holder = Peer::hello(addr, "holder", 1);
    let Message::Granted(g) = holder.checkout(1, "f1", 4) else {
        panic!("all four seats")
    };
    let mut app = lmflex(&["f1", "--queue", "--hold", "600"], &lic, &dir)
        .spawn()
        .unwrap();
    let out = watch(&mut app);
    wait_until(WAIT, "lmflex to queue", || {
        out.lock().unwrap().iter().any(|l| l == "QUEUED f1")
    });
    server.wait_log(WAIT, "QUEUED: \"f1\"");
    let stat = std::process::Command::new(bin("lmutil"))
        .args(["lmstat", "-c", &lic, "-f", "f1"])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout).to_string();
    assert!(stat.contains("queued for 1 license"), "{stat}");
    // Another newcomer is told others are waiting.
    let mut late = Peer::hello(addr, "late", 2);
    assert!(
        matches!(late.checkout(1, "f1", 1), Message::Denied(d) if d.code == lmerr::LM_USERSQUEUED)
    );
    // The holder checks in: the waiting application gets its seat.
    holder.request(&Message::Checkin(wire::Checkin {
        req: 2,
        handle: g.handle,
    }));
    wait_until(WAIT, "lmflex to get its seat", || {
        out.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("Checkout succeeded: f1"))
    });
    server.wait_log(WAIT, "DEQUEUED: \"f1\"");
    let _ = app.kill();
    let _ = app.wait();
}

#[test]
fn lmflex_borrows_and_then_runs_with_the_server_gone() {
    let dir = tempdir("borrow-lmflex");
    let port = free_port();
    let license = license_with_port("floating.lic", &dir, port);
    let mut server = Server::start(&license, port, &[]);
    let lic = format!("{port}@localhost");
    let until = {
        let out = std::process::Command::new("date")
            .args(["-d", "+2 days", "+%d-%b-%Y"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_lowercase()
    };
    let out = lmflex(
        &["solver", "1.5", "--borrow-until", &until, "--hold", "0"],
        &lic,
        &dir,
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("BORROWED solver until"), "{text}");
    assert!(!text.contains("(local)"), "{text}");
    server.wait_log(WAIT, "OUT: \"solver\"");
    // The application ended, the seat stays borrowed.
    assert_eq!(in_use(vendord(&server, "demo"), "solver"), 1);
    // The laptop is offline now: the server is gone.
    server.signal(libc::SIGTERM);
    server.wait_exit(WAIT);
    let out = lmflex(&["solver", "1.5", "--hold", "0"], &lic, &dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("(local)"), "{text}");
}
