//! What a peer says about itself reaches the debug log and lmstat only as
//! one line of its own: a Hello whose strings could forge a line is
//! refused (LM_BADPARAM naming the field), and names as long as the
//! limits allow never blind lmstat.

use e2e::*;
use std::process::Command;
use std::time::Duration;
use wire::{lmerr, ClientIdentity, Message};

const WAIT: Duration = Duration::from_secs(20);

fn identity(user: &str, host: &str, display: &str) -> ClientIdentity {
    ClientIdentity {
        user: user.into(),
        host: host.into(),
        display: display.into(),
        pid: std::process::id(),
        platform: "x64_lsb".into(),
        client_version: "e2e".into(),
        ..ClientIdentity::default()
    }
}

/// Connects to `addr` and says Hello as `id`; returns the link and the
/// answer.
fn hello_as(addr: std::net::SocketAddr, id: ClientIdentity) -> (Peer, Message) {
    let mut p = Peer::connect(addr);
    let reply = p.request(&Message::Hello(wire::Hello { identity: id }));
    (p, reply)
}

fn lmstat(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin("lmutil"))
        .arg("lmstat")
        .args(args)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .expect("lmutil runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_newline_in_a_hello_is_refused_and_forges_no_log_line() {
    let server = Server::demo("inject");
    let forged = "e2e-host\n12:00:00 (demo) IN: \"f1\" boss@ws9  ";
    for addr in [server.vendord_addr(), server.lmgrd_addr()] {
        let (mut p, reply) = hello_as(addr, identity("joe", forged, "/dev/null"));
        match reply {
            Message::Error(e) => {
                assert_eq!(e.code, lmerr::LM_BADPARAM, "{e:?}");
                assert!(
                    e.text.contains("Hello host") && e.text.contains("U+000A"),
                    "{e:?}"
                );
            }
            other => panic!("{addr}: {other:?}"),
        }
        assert!(p.recv().is_none(), "{addr} closed the connection");
    }
    // A bidi override in a feature name is refused the same way.
    let mut p = Peer::hello(server.vendord_addr(), "ann", 1);
    match p.checkout(1, "f1\u{202e}", 1) {
        Message::Denied(d) => {
            assert_eq!(d.code, lmerr::LM_BADPARAM);
            assert!(d.detail.contains("Checkout feature"), "{d:?}");
        }
        other => panic!("{other:?}"),
    }
    // Each refusal is one line naming the peer's address.
    server.wait_log_count(WAIT, "refused: Hello host", 2);
    server.wait_log(WAIT, "refused: Checkout feature");
    // Good clients are served meanwhile.
    let mut good = Peer::hello(server.vendord_addr(), "carl", 2);
    assert!(matches!(good.checkout(1, "f1", 1), Message::Granted(_)));
    server.wait_log(WAIT, "OUT: \"f1\" carl@e2e-host");
    let log = server.log_text();
    assert!(
        !log.lines().any(|l| l.contains("boss@ws9")),
        "no forged line: {log}"
    );
    for line in log.lines().filter(|l| l.contains("refused: ")) {
        assert!(line.contains("127.0.0.1:"), "{line}");
    }
}

#[test]
fn lmstat_shows_what_fits_says_what_it_left_out_and_fails_when_a_daemon_cannot_be_read() {
    let server = Server::demo("lmstat-long");
    let addr = server.vendord_addr();
    let host = "h".repeat(wire::text::MAX_HOST);
    let display = "d".repeat(wire::text::MAX_DISPLAY);
    // f1 has 4 seats: 4 holders and 96 waiters, every one with names as
    // long as the limits allow: far more than one 64 KiB reply holds.
    let mut peers = Vec::new();
    for i in 0..100u32 {
        let user = format!("{i:03}{}", "u".repeat(wire::text::MAX_USER - 3));
        let (mut p, reply) = hello_as(addr, identity(&user, &host, &display));
        assert!(matches!(reply, Message::Welcome(_)), "{reply:?}");
        let reply = p.request(&Message::Checkout(wire::Checkout {
            req: 1,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            queue: true,
            ..wire::Checkout::default()
        }));
        match reply {
            Message::Granted(_) => assert!(i < 4),
            Message::Denied(d) => assert_eq!(d.code, lmerr::LM_FEATQUEUE, "{d:?}"),
            other => panic!("{other:?}"),
        }
        peers.push(p);
    }
    let (code, text) = lmstat(&["-a", "-c", &server.at()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Total of 4 licenses issued;  Total of 4 licenses in use"),
        "{text}"
    );
    assert!(text.contains(&format!("000{}", "u".repeat(125))), "{text}");
    let shown = text.lines().filter(|l| l.contains(&host)).count();
    let note = text
        .lines()
        .find(|l| l.contains("more users not shown"))
        .unwrap_or_else(|| panic!("no note of what was left out: {text}"));
    let left_out: usize = note
        .trim()
        .trim_start_matches('(')
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    assert!(shown > 50 && shown + left_out == 100, "{shown} + {note}");

    // A vendor daemon that does not answer: lmstat says so and fails.
    let vd = server.vendord_pid();
    unsafe { libc::kill(vd, libc::SIGSTOP) };
    let (code, text) = lmstat(&["-a", "-t", "1", "-c", &server.at()]);
    unsafe { libc::kill(vd, libc::SIGCONT) };
    assert_eq!(code, Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("demo: "))
        .unwrap_or_else(|| panic!("no vendor daemon line: {text}"));
    assert!(line.contains("(-52,"), "{line}");
    // Nothing listening at all: the same.
    let (code, text) = lmstat(&["-a", "-c", &format!("{}@localhost", free_port())]);
    assert_eq!(code, Some(1), "{text}");
    drop(peers);
}

#[test]
fn lmstat_lists_every_holder_of_hundreds_with_long_names_page_by_page() {
    let dir = tempdir("lmstat-pages");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    resign_with_count(
        &license,
        "FEATURE f1 demo 1.0 permanent 4",
        "FEATURE f1 demo 1.0 permanent 1000",
    );
    let server = Server::start(&license, port, &[]);
    let addr = server.vendord_addr();
    let host = "h".repeat(wire::text::MAX_HOST);
    let display = "d".repeat(wire::text::MAX_DISPLAY);
    // 600 holders of about 350 bytes each: three frames' worth, a dozen
    // pages.
    let holders = 600u32;
    let mut peers = Vec::new();
    for i in 0..holders {
        let user = format!("{i:03}{}", "u".repeat(wire::text::MAX_USER - 3));
        let (mut p, reply) = hello_as(addr, identity(&user, &host, &display));
        assert!(matches!(reply, Message::Welcome(_)), "{reply:?}");
        match p.checkout(1, "f1", 1) {
            Message::Granted(_) => {}
            other => panic!("{other:?}"),
        }
        peers.push(p);
    }
    let (code, text) = lmstat(&["-a", "-c", &server.at()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("Total of 1000 licenses issued;  Total of 600 licenses in use"),
        "{text}"
    );
    let mut shown: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&host))
        .map(|l| &l.trim_start()[..3])
        .collect();
    assert!(!text.contains("not shown"), "{text}");
    shown.sort_unstable();
    shown.dedup();
    assert_eq!(shown.len(), holders as usize, "each holder once");
    drop(peers);
}
