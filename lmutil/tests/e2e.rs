//! lmutil's tools against real lmgrd and vendord processes on loopback.

mod support;

use std::process::{Command, Stdio};
use support::*;
use wire::Message;

/// The host lmgrd reports from the `License server status: port@host` line.
fn server_host(out: &str, port: u16) -> String {
    let label = out
        .lines()
        .find_map(|l| l.strip_prefix("License server status: "))
        .unwrap_or_else(|| panic!("no status line in\n{out}"));
    label
        .strip_prefix(&format!("{port}@"))
        .unwrap_or_else(|| panic!("status line `{label}` is not for port {port}"))
        .to_string()
}

/// The handle of `user`'s checkout in `lmstat -a` output.
fn handle_of(out: &str, user: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("    {user} ")))
        .unwrap_or_else(|| panic!("no checkout of {user} in\n{out}"));
    let inner = line.split(") (").nth(1).expect("server part");
    inner
        .split([' ', ')'])
        .nth(1)
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no handle in `{line}`"))
}

#[test]
fn lmstat_shows_checkouts_then_the_server_down() {
    let mut server = Server::demo("lmstat");
    let home = home("lmstat");
    let mut peer = Peer::hello(server.vendord_addr(), "e2e-user", 0);
    let handle = peer.checkout_handle(1, "f1", 1).expect("granted");
    let mut app = Command::new(bin("lmflex"))
        .args(["f1", "--count", "2", "--hold", "600"])
        .env("LM_LICENSE_FILE", server.at())
        .env("HOME", &home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lmflex starts");
    server.wait_log_count(WAIT, "OUT: \"f1\"", 2);

    let out = lmutil(&["lmstat", "-a", "-c", &server.at()], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let host = server_host(&text, server.port);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("lmutil - lm license manager v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(lines[1].starts_with("Flexible License Manager status on "));
    for expected in [
        format!(
            "    License file(s) on {host}: {}:",
            server.license.display()
        ),
        format!(
            "{host}: license server UP (MASTER) v{}",
            env!("CARGO_PKG_VERSION")
        ),
        format!("Vendor daemon status (on {host}):"),
        format!("      demo: UP v{}", env!("CARGO_PKG_VERSION")),
        "Feature usage info:".to_string(),
        "Users of f1:  (Total of 4 licenses issued;  Total of 3 licenses in use)".to_string(),
        "\"f1\" v1.0, vendor: demo, expiry: permanent(no expiration date)".to_string(),
        "  floating license".to_string(),
        "Users of f2:  (Total of 2 licenses issued;  Total of 0 licenses in use)".to_string(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "no `{expected}` in\n{text}"
        );
    }
    let mine = format!(
        "    e2e-user e2e-host /dev/null (v1.0) ({host}/{} {handle}), start ",
        server.port
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&mine) && !l.contains("licenses")),
        "no `{mine}...` in\n{text}"
    );
    assert!(
        lines.iter().any(
            |l| l.contains(&format!("({host}/{} ", server.port)) && l.ends_with(", 2 licenses")
        ),
        "lmflex's two licenses are not shown in\n{text}"
    );

    // The same through the license file, and as `lmstat` through a link.
    let link = home.join("lmstat");
    std::os::unix::fs::symlink(bin_lmutil(), &link).unwrap();
    let license = server.license.display().to_string();
    let out = run_as(&link, &["-a", "-c", &license], &home, None);
    let text = stdout(&out);
    assert!(text.starts_with("lmstat - lm license manager v"), "{text}");
    assert!(
        text.contains(&format!("    License file(s) on {host}: {license}:\n")),
        "{text}"
    );
    assert!(text.contains("Total of 3 licenses in use"), "{text}");

    // Options that narrow the report.
    let text = stdout(&lmutil(&["lmstat", "-f", "f2", "-c", &server.at()], &home));
    assert!(
        text.contains("Users of f2:") && !text.contains("Users of f1:"),
        "{text}"
    );
    let text = stdout(&lmutil(&["lmstat", "-A", "-c", &server.at()], &home));
    assert!(
        text.contains("Users of f1:") && !text.contains("Users of f2:"),
        "{text}"
    );
    let text = stdout(&lmutil(
        &["lmstat", "-S", "demo", "-c", &server.at()],
        &home,
    ));
    assert!(
        text.contains("Users of features served by demo:\n"),
        "{text}"
    );
    let text = stdout(&lmutil(&["lmstat", "-c", &server.at()], &home));
    assert!(
        text.contains("      demo: UP v") && !text.contains("Users of"),
        "{text}"
    );
    let text = stdout(&lmutil(&["lmstat", "-i", "-c", &license], &home));
    let f1_row = "\nf1                               1.0          4           demo         permanent(no expiration date)\n";
    assert!(text.contains(f1_row), "{text}");
    // Through port@host, the same rows from the server, and a note saying so.
    let text = stdout(&lmutil(&["lmstat", "-i", "-c", &server.at()], &home));
    assert!(text.contains(f1_row), "{text}");
    assert!(
        text.contains("\nf2                               2.5          2           demo         permanent(no expiration date)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "\n{}: as its license server serves them\n",
            server.at()
        )),
        "{text}"
    );
    let text = stdout(&lmutil(&["lmstat", "-i", "f2", "-c", &server.at()], &home));
    assert!(text.contains("\nf2 ") && !text.contains("\nf1 "), "{text}");

    // The path kept by lmpath is used when neither -c nor LM_LICENSE_FILE is.
    let out = lmutil(&["lmpath", "-add", "all", &server.at()], &home);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&lmutil(&["lmstat", "-a"], &home));
    assert!(text.contains("Total of 3 licenses in use"), "{text}");

    let _ = app.kill();
    let _ = app.wait();
    server.stop(WAIT);
    let out = lmutil(&["lmstat", "-a", "-c", &server.at()], &home);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.ends_with(
            "\nError getting status: Cannot connect to license server system. (-15,10:111 \"Connection refused\")\n"
        ),
        "{text}"
    );
    let text = stdout(&lmutil(&["lmstat", "-lm", "-c", &server.at()], &home));
    assert!(
        text.contains("\nlmgrd is not running: Cannot connect to license server system. (-15,10:111 \"Connection refused\")\n"),
        "{text}"
    );
    // lmstat -i no longer prints an empty table without a word.
    let text = stdout(&lmutil(&["lmstat", "-i", "-c", &server.at()], &home));
    assert!(
        text.contains(&format!(
            "\n{}: Error getting status: Cannot connect to license server system. (-15,10:111 \"Connection refused\")\n",
            server.at()
        )),
        "{text}"
    );
    finish(server, &home);
}

#[test]
fn lmdown_q_stops_lmgrd_and_its_vendor_daemon() {
    let mut server = Server::demo("lmdown");
    let home = home("lmdown");
    let vendord = server.vendord_pid();
    assert!(alive(vendord));
    // Answering "n" changes nothing.
    let out = run_as(
        &bin_lmutil(),
        &["lmdown", "-c", &server.at()],
        &home,
        Some("n\n"),
    );
    let text = stdout(&out);
    assert!(
        text.contains("\n   Port@Host            Vendors\n1) "),
        "{text}"
    );
    assert!(text.contains(" demo \n\nAre you sure (y/n)?  "), "{text}");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "lmgrd still runs"
    );

    let out = lmutil(&["lmdown", "-q", "-c", &server.at()], &home);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).ends_with("\n    1 lm License Server shut down\n"),
        "{}",
        stdout(&out)
    );
    server.wait_exit(WAIT);
    wait_until(WAIT, "vendord to exit", || !alive(vendord));
    finish(server, &home);
}

#[test]
fn lmremove_frees_seats_by_handle_and_by_user() {
    let server = Server::demo("lmremove");
    let home = home("lmremove");
    let addr = server.vendord_addr();
    let mut holders: Vec<Peer> = (0..4)
        .map(|i| Peer::hello(addr, &format!("holder{i}"), 0))
        .collect();
    for (i, p) in holders.iter_mut().enumerate() {
        p.checkout_handle(i as u32, "f1", 1).expect("granted");
    }
    let mut newcomer = Peer::hello(addr, "newcomer", 0);
    assert!(
        newcomer.checkout_handle(10, "f1", 1).is_err(),
        "all four seats are taken"
    );

    // lmdiag explains why f1 cannot be checked out, and that f2 can.
    let out = lmutil(
        &["lmdiag", "-n", "-c", &server.license.display().to_string()],
        &home,
    );
    let text = stdout(&out);
    assert!(
        text.contains("\"f1\" v1.0, vendor: demo\n")
            && text.contains(
                "This license cannot be checked out because:\n\tLicensed number of users already reached. (-4,342)\n"
            ),
        "{text}"
    );
    assert!(text.contains("\"f2\" v2.5, vendor: demo\n"), "{text}");
    assert!(text.contains("This license can be checked out\n"), "{text}");
    assert_eq!(out.status.code(), Some(1));

    let text = stdout(&lmutil(&["lmstat", "-a", "-c", &server.at()], &home));
    let handle = handle_of(&text, "holder2");
    let out = lmutil(
        &[
            "lmremove",
            "-h",
            "f1",
            "localhost",
            &server.port.to_string(),
            &handle.to_string(),
        ],
        &home,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    match holders[2].recv() {
        Some(Message::Revoked(r)) => assert_eq!(r.handle, handle),
        other => panic!("holder2 was not told: {other:?}"),
    }
    server.wait_log(WAIT, "IN: \"f1\" holder2@e2e-host  (REMOVED)");
    assert!(
        newcomer.checkout_handle(11, "f1", 1).is_ok(),
        "the freed seat is taken"
    );
    let text = stdout(&lmutil(&["lmstat", "-a", "-c", &server.at()], &home));
    assert!(!text.contains("    holder2 "), "{text}");
    assert!(
        text.contains("    newcomer e2e-host /dev/null (v1.0)"),
        "{text}"
    );

    // A handle nobody holds.
    let out = lmutil(
        &[
            "lmremove",
            "-h",
            "f1",
            "localhost",
            &server.port.to_string(),
            "999999",
        ],
        &home,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Feature was never checked out. (-41,0)"),
        "{}",
        stderr(&out)
    );

    // By user, host and display.
    let out = lmutil(
        &[
            "lmremove",
            "-c",
            &server.at(),
            "f1",
            "holder0",
            "e2e-host",
            "/dev/null",
        ],
        &home,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(matches!(holders[0].recv(), Some(Message::Revoked(_))));
    server.wait_log(WAIT, "IN: \"f1\" holder0@e2e-host  (REMOVED)");
    finish(server, &home);
}

/// A license with a counted line locked to a host that is not this one,
/// and a floating line, signed with the demo key, for a server on `port`.
fn locked_license(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("locked.lic");
    std::fs::write(
        &path,
        format!(
            "SERVER this_host ANY {port}\nVENDOR demo\n\
             FEATURE locked demo 1.0 permanent 2 HOSTID=17009999\n\
             FEATURE f1 demo 1.0 permanent 4\n"
        ),
    )
    .unwrap();
    std::fs::copy(examples().join("demo.key"), dir.join("demo.key")).unwrap();
    std::fs::copy(examples().join("demo.pub"), dir.join("demo.pub")).unwrap();
    let out = Command::new(bin_lmutil())
        .args(["lmcrypt", "-key", "demo.key", "locked.lic"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

/// The block lmdiag prints for `feature`, from its header to the rule.
fn lmdiag_block<'a>(text: &'a str, feature: &str) -> &'a str {
    let start = text
        .find(&format!("\"{feature}\" v"))
        .unwrap_or_else(|| panic!("no {feature} in\n{text}"));
    let len = text[start..].find("\n----").unwrap_or(text.len() - start);
    &text[start..start + len]
}

#[test]
fn lmdiag_says_the_same_through_the_file_and_port_at_host() {
    let dir = tempdir("lmdiag");
    let home = home("lmdiag");
    let port = free_port();
    let license = locked_license(&dir, port);
    let mut server = Server::start(&license, port, &[]);
    let file = license.display().to_string();
    let via_file = stdout(&lmutil(&["lmdiag", "-n", "-c", &file, "locked"], &home));
    let via_port = stdout(&lmutil(
        &["lmdiag", "-n", "-c", &server.at(), "locked"],
        &home,
    ));
    for text in [&via_file, &via_port] {
        let block = lmdiag_block(text, "locked");
        // A line locked to a host is no floating license, whichever way.
        assert!(
            block.contains("  nodelocked license, locked to \"17009999\"  no expiration date\n"),
            "{text}"
        );
        // The refusal names both sides and the command that shows ids.
        assert!(
            block.contains("This license cannot be checked out because:\n\tInvalid host. (-9,0)\n"),
            "{text}"
        );
        assert!(
            block.contains("locked to HOSTID=\"17009999\"")
                && block.contains("the client machine ")
                && block.contains("lmutil lmhostid"),
            "{text}"
        );
    }

    // With the server down: the same reason both ways, never "no line".
    server.stop(WAIT);
    let refused =
        "This license cannot be checked out because:\n\tCannot connect to license server system. (-15,10:111 \"Connection refused\")\n";
    let via_file = stdout(&lmutil(&["lmdiag", "-n", "-c", &file, "f1"], &home));
    let out = lmutil(&["lmdiag", "-n", "-c", &server.at(), "f1"], &home);
    let via_port = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(via_file.contains(refused), "{via_file}");
    assert!(via_port.contains(refused), "{via_port}");
    assert!(!via_port.contains("No license line"), "{via_port}");
    finish(server, &home);
}
