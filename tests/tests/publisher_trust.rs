//! Publisher trust through real processes: only keys built into the
//! publisher's vendor daemon and application count. A customer's own key,
//! wherever it is put, licenses nothing; a daemon built with it cannot
//! grant to the publisher's application; an edited borrow record is
//! refused; the genuine license keeps working throughout.

use e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(15);

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("keys")
}

fn lmutil(dir: &Path, args: &[&str]) {
    let out = Command::new(bin("lmutil"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("lmutil");
    assert!(
        out.status.success(),
        "lmutil {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a customer does: `lmcrypt -genkey demo` in a directory of their
/// own, then signs `lines` (of vendor demo) with that key. Returns the
/// signed text; the customer's `demo.pub` is in `dir`.
fn customer_signed(dir: &Path, lines: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    if !dir.join("demo.key").exists() {
        lmutil(dir, &["lmcrypt", "-genkey", "demo", "-dir", "."]);
    }
    std::fs::write(dir.join("forged.lic"), lines).unwrap();
    lmutil(dir, &["lmcrypt", "-key", "demo.key", "forged.lic"]);
    std::fs::read_to_string(dir.join("forged.lic")).unwrap()
}

/// The demo license on `port` with the customer's widget line added.
fn demo_with_forged_widget(dir: &Path, port: u16) -> PathBuf {
    let license = license_with_port("demo.lic", dir, port);
    let forged = customer_signed(
        &dir.join("customer"),
        "FEATURE widget demo 9.9 permanent 1000\n",
    );
    let mut text = std::fs::read_to_string(&license).unwrap();
    text.push_str(&forged);
    std::fs::write(&license, text).unwrap();
    license
}

fn lmflex(args: &[&str], license_path: &str, home: &Path) -> Output {
    Command::new(bin("lmflex"))
        .args(args)
        .arg("--hold")
        .arg("0")
        .env("LM_LICENSE_FILE", license_path)
        .env("HOME", home)
        .env("LM_BORROW_STORE", home.join("borrows"))
        .env_remove("LM_BORROW")
        .env_remove("LM_PUBLIC_KEY_PATH")
        .output()
        .expect("lmflex")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The refusal of the forged line: -8 to a client, the log names the file
/// and line; the genuine f1 is still served.
fn assert_widget_refused(server: &Server, license: &Path, home: &Path) {
    let log = server.wait_log(WAIT, "not serving FEATURE \"widget\"");
    let line = log
        .lines()
        .find(|l| l.contains("not serving FEATURE \"widget\""))
        .unwrap();
    assert!(
        line.contains(&format!("{}:", license.display())) && line.contains("LM_BADCODE (-8)"),
        "{line}"
    );
    let vendor = server.vendord_addr();
    let mut peer = Peer::hello(vendor, "mallory", 1);
    match peer.checkout(1, "widget", 500) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_BADCODE, "{d:?}"),
        other => panic!("the forged line was served: {other:?}"),
    }
    let lic = server.at();
    let out = lmflex(&["widget", "9.9"], &lic, home);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("error:-8,"), "{}", text(&out));
    let out = lmflex(&["f1"], &lic, home);
    assert!(out.status.success(), "genuine f1: {}", text(&out));
}

#[test]
fn a_customer_key_beside_the_license_is_ignored() {
    let dir = tempdir("trust-beside-license");
    let port = free_port();
    let license = demo_with_forged_widget(&dir, port);
    std::fs::copy(dir.join("customer/demo.pub"), dir.join("demo.pub")).unwrap();
    let server = Server::start(&license, port, &[]);
    assert_widget_refused(&server, &license, &dir);
    server.wait_log(WAIT, "Ignoring public key file");
}

#[test]
fn a_customer_key_on_lm_public_key_path_is_ignored() {
    let dir = tempdir("trust-key-path");
    let port = free_port();
    let license = demo_with_forged_widget(&dir, port);
    let path = dir.join("customer").display().to_string();
    let server = Server::start_with_env(&license, port, &[], &[("LM_PUBLIC_KEY_PATH", &path)]);
    assert_widget_refused(&server, &license, &dir);
    server.wait_log(WAIT, "Ignoring public key file");
}

#[test]
fn a_customer_key_beside_the_binaries_is_ignored() {
    let dir = tempdir("trust-beside-binaries");
    let port = free_port();
    let license = demo_with_forged_widget(&dir, port);
    let bin_copy = dir.join("bin");
    std::fs::create_dir_all(&bin_copy).unwrap();
    for b in ["lmgrd", "vendord"] {
        std::fs::copy(bin(b), bin_copy.join(b)).unwrap();
    }
    std::fs::copy(dir.join("customer/demo.pub"), bin_copy.join("demo.pub")).unwrap();
    let mut cmd = Command::new(bin_copy.join("lmgrd"));
    cmd.arg("-z").arg("-c").arg(&license);
    let server = Server::start_command(cmd, &license, port);
    assert_widget_refused(&server, &license, &dir);
    server.wait_log(WAIT, "Ignoring public key file");
}

#[test]
fn an_application_refuses_an_uncounted_line_its_publisher_did_not_sign() {
    let dir = tempdir("trust-uncounted");
    let forged = customer_signed(
        &dir.join("customer"),
        "FEATURE gadget demo 1.0 permanent uncounted HOSTID=ANY\n",
    );
    let license = dir.join("gadget.lic");
    std::fs::write(&license, forged).unwrap();
    // The customer's key beside the license and on the key path: ignored.
    std::fs::copy(dir.join("customer/demo.pub"), dir.join("demo.pub")).unwrap();
    let out = Command::new(bin("lmflex"))
        .args(["gadget", "--hold", "0"])
        .env("LM_LICENSE_FILE", &license)
        .env("LM_PUBLIC_KEY_PATH", dir.join("customer"))
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("error:-8,"), "{}", text(&out));

    // The same line signed by the publisher works with no server at all.
    let genuine = dir.join("genuine.lic");
    std::fs::write(
        &genuine,
        "FEATURE gadget demo 1.0 permanent uncounted HOSTID=ANY\n",
    )
    .unwrap();
    let key = examples().join("demo.key").display().to_string();
    lmutil(&dir, &["lmcrypt", "-key", &key, "genuine.lic"]);
    let out = Command::new(bin("lmflex"))
        .args(["gadget", "--hold", "0"])
        .env("LM_LICENSE_FILE", &genuine)
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn the_publishers_application_refuses_a_rogue_daemons_grant() {
    let dir = tempdir("trust-rogue-daemon");
    let port = free_port();
    // A customer builds a vendor daemon for "demo" with their own key built
    // in and signs a license with it.
    let license = dir.join("rogue.lic");
    let lines = format!(
        "SERVER this_host ANY {port}\nVENDOR demo {}\nFEATURE widget demo 9.9 permanent 1000\n",
        bin("roguevendor").display()
    );
    std::fs::write(&license, &lines).unwrap();
    let key = keys_dir().join("customer.key").display().to_string();
    lmutil(
        &dir,
        &["lmcrypt", "-key", &key, "-vendor", "demo", "rogue.lic"],
    );
    let server = Server::start(&license, port, &[]);
    // The rogue daemon does grant it...
    let vendor = server.vendord_addr();
    let mut peer = Peer::hello(vendor, "mallory", 1);
    assert!(
        matches!(peer.checkout(1, "widget", 500), Message::Granted(_)),
        "the rogue daemon serves its own license"
    );
    drop(peer);
    wait_until(WAIT, "mallory's seats to go back", || {
        in_use(vendor, "widget") == 0
    });
    // ...but the demo publisher's application does not take it, and gives
    // the seat back.
    let out = lmflex(&["widget", "9.9"], &server.at(), &dir);
    assert!(!out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("error:-8,"), "{said}");
    assert!(said.contains("does not trust"), "{said}");
    wait_until(WAIT, "the refused seat to go back", || {
        in_use(vendor, "widget") == 0
    });
}

/// Two days from now, as `--borrow-until` takes it.
fn in_two_days() -> String {
    let out = Command::new("date")
        .args(["-d", "+2 days", "+%d-%b-%Y"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_lowercase()
}

#[test]
fn an_edited_borrow_record_is_refused_and_the_genuine_one_works() {
    let dir = tempdir("trust-borrow");
    let port = free_port();
    let license = license_with_port("floating.lic", &dir, port);
    let mut server = Server::start(&license, port, &[]);
    let lic = server.at();
    let until = in_two_days();
    let out = lmflex(&["solver", "1.5", "--borrow-until", &until], &lic, &dir);
    assert!(out.status.success(), "{}", text(&out));
    server.signal(libc::SIGTERM);
    server.wait_exit(WAIT);

    // Offline, the genuine record works.
    let out = lmflex(&["solver", "1.5"], &lic, &dir);
    assert!(text(&out).contains("(local)"), "{}", text(&out));

    // The user moves its end a month later: refused.
    let store = client::BorrowStore::at(dir.join("borrows"));
    let genuine = store.list().unwrap().remove(0);
    let mut forged = genuine.clone();
    forged.until += 30 * 86_400;
    store.put(&forged).unwrap();
    let out = lmflex(&["solver", "1.5"], &lic, &dir);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("borrow record"), "{}", text(&out));
    assert!(text(&out).contains("error:-8,"), "{}", text(&out));

    // Put back as it was, it works again.
    store.put(&genuine).unwrap();
    let out = lmflex(&["solver", "1.5"], &lic, &dir);
    assert!(text(&out).contains("(local)"), "{}", text(&out));
}

/// `lmutil lmborrow -return feature` as the user whose home is `home`.
fn lmborrow_return(feature: &str, license_path: &str, home: &Path) -> Output {
    Command::new(bin("lmutil"))
        .args([
            "lmborrow",
            "-return",
            "-c",
            license_path,
            "-vendor",
            "demo",
            feature,
        ])
        .env("HOME", home)
        .env("LM_BORROW_STORE", home.join("borrows"))
        .env_remove("LM_LICENSE_FILE")
        .env_remove("LM_BORROW")
        .output()
        .expect("lmutil lmborrow")
}

#[test]
fn only_the_borrowing_client_returns_a_borrow_early() {
    let dir = tempdir("trust-borrow-return");
    let port = free_port();
    let license = license_with_port("floating.lic", &dir, port);
    let server = Server::start(&license, port, &[]);
    let lic = server.at();
    let laptop = dir.join("laptop");
    std::fs::create_dir_all(&laptop).unwrap();
    let out = lmflex(
        &["solver", "1.5", "--borrow-until", &in_two_days()],
        &lic,
        &laptop,
    );
    assert!(out.status.success(), "{}", text(&out));
    let record = client::BorrowStore::at(laptop.join("borrows"))
        .list()
        .unwrap()
        .remove(0);
    assert_eq!(
        record.secret.len(),
        32,
        "the record keeps the return secret"
    );
    let vendord = server.vendord_addr();
    assert_eq!(in_use(vendord, "solver"), 1);

    // Same user, same host, same display, but no record: refused.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let out = lmborrow_return("solver", &lic, &other);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-63"), "{}", text(&out));
    assert_eq!(in_use(vendord, "solver"), 1, "the seat stays out");
    // A copy of the record with another secret: refused too.
    let forged = client::BorrowRecord {
        secret: vec![0; 32],
        ..record.clone()
    };
    client::BorrowStore::at(other.join("borrows"))
        .put(&forged)
        .unwrap();
    let out = lmborrow_return("solver", &lic, &other);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(in_use(vendord, "solver"), 1, "the seat stays out");
    server.wait_log_count(WAIT, "not the borrower's secret", 2);

    // The borrower's own lmborrow -return works.
    let out = lmborrow_return("solver", &lic, &laptop);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(in_use(vendord, "solver"), 0);
    assert!(client::BorrowStore::at(laptop.join("borrows"))
        .list()
        .unwrap()
        .is_empty());

    // A laptop lost with its borrow: the administrator ends it with
    // lmremove -force (plain lmremove refuses a borrowed seat, -100).
    let out = lmflex(
        &["solver", "1.5", "--borrow-until", &in_two_days()],
        &lic,
        &laptop,
    );
    assert!(out.status.success(), "{}", text(&out));
    let handle = client::BorrowStore::at(laptop.join("borrows"))
        .list()
        .unwrap()
        .remove(0)
        .handle
        .to_string();
    let port = port.to_string();
    let lmremove = |force: bool| {
        let mut cmd = Command::new(bin("lmutil"));
        cmd.arg("lmremove");
        if force {
            cmd.arg("-force");
        }
        cmd.args(["-h", "solver", "localhost", &port, &handle])
            .env_remove("LM_LICENSE_FILE")
            .output()
            .expect("lmutil lmremove")
    };
    let out = lmremove(false);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("-100"), "{}", text(&out));
    assert_eq!(in_use(vendord, "solver"), 1);
    let out = lmremove(true);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(in_use(vendord, "solver"), 0);
}

#[test]
fn lines_signed_with_the_old_and_the_new_key_are_both_served() {
    let dir = tempdir("trust-rollover");
    let port = free_port();
    let license = dir.join("rollover.lic");
    let header = format!(
        "SERVER this_host ANY {port}\nVENDOR testvendor {}\n",
        bin("testvendor").display()
    );
    // One line signed with the first key, one with the key rolled over to.
    let old_key = keys_dir().join("testvendor.key").display().to_string();
    let new_key = keys_dir().join("testvendor-next.key").display().to_string();
    std::fs::write(
        dir.join("old.lic"),
        format!("{header}FEATURE oldline testvendor 1.0 permanent 2\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("new.lic"),
        format!("{header}FEATURE newline testvendor 1.0 permanent 2\n"),
    )
    .unwrap();
    lmutil(
        &dir,
        &[
            "lmcrypt",
            "-key",
            &old_key,
            "-vendor",
            "testvendor",
            "old.lic",
        ],
    );
    lmutil(
        &dir,
        &[
            "lmcrypt",
            "-key",
            &new_key,
            "-vendor",
            "testvendor",
            "new.lic",
        ],
    );
    let feature_lines = |name: &str| -> String {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        text.split_once("FEATURE")
            .map(|(_, f)| format!("FEATURE{f}"))
            .unwrap()
    };
    std::fs::write(
        &license,
        format!(
            "{header}{}{}",
            feature_lines("old.lic"),
            feature_lines("new.lic")
        ),
    )
    .unwrap();
    let server = Server::start(&license, port, &[]);
    let vendor = Peer::vendor_port(server.lmgrd_addr(), "testvendor").expect("testvendor is up");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], vendor));
    let mut peer = Peer::hello(addr, "ann", 1);
    for feature in ["oldline", "newline"] {
        assert!(
            matches!(peer.checkout(1, feature, 1), Message::Granted(_)),
            "{feature} is served"
        );
    }
}
