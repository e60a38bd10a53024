//! lmgrd as a real service: the systemd unit's command line as an
//! unprivileged user, the state directory, readiness, the background
//! start, several vendors from one directory, binding, log rotation and
//! expiry warnings.

use e2e::unit::*;
use e2e::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wire::Message;

const WAIT: Duration = Duration::from_secs(20);

fn lmutil(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin("lmutil"))
        .args(args)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn vendor_addr(port: u16, vendor: &str) -> SocketAddr {
    let lmgrd = SocketAddr::from(([127, 0, 0, 1], port));
    let p = Peer::vendor_port(lmgrd, vendor).unwrap_or_else(|e| panic!("{vendor}: {e:?}"));
    SocketAddr::from(([127, 0, 0, 1], p))
}

/// A scratch root laid out like the package's: `/etc/lm` with the demo and
/// test-vendor licenses, the binaries, and nothing else; owned by the
/// service account, which may create `var/...` under it as systemd would.
struct Root {
    dir: PathBuf,
    port: u16,
}

impl Root {
    fn new(tag: &str) -> Root {
        let dir = scratch_root(tag);
        let port = free_port();
        let etc = dir.join("etc/lm");
        std::fs::create_dir_all(&etc).unwrap();
        license_with_port("demo.lic", &etc, port);
        testvendor_license(&etc, port);
        copy_binaries(
            &["lmgrd", "vendord", "lmutil", "testvendor"],
            &dir.join("usr/bin"),
        );
        give_to_service(&dir);
        Root { dir, port }
    }

    fn state(&self) -> PathBuf {
        self.dir.join("var/lib/lm")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("var/log/lm/lmgrd.log")
    }

    /// The unit's ExecStart, pointed at this root.
    fn command(&self) -> Vec<String> {
        let args = exec_start(&shipped_unit());
        relocate(
            &args,
            &[
                ("/usr/bin", &self.dir.join("usr/bin")),
                ("/etc/lm", &self.dir.join("etc/lm")),
                ("/var/lib/lm", &self.state()),
                ("/var/log/lm", &self.dir.join("var/log/lm")),
            ],
        )
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_units_command_line_serves_as_an_unprivileged_user() {
    let root = Root::new("unit");
    let mut notify = Notify::bind(&root.dir);
    let mut lmgrd = spawn_as_service(&root.command(), &[("NOTIFY_SOCKET", &notify.path)]);
    let ready = notify.wait_ready(WAIT);
    let log = std::fs::read_to_string(root.log()).unwrap_or_default();
    assert!(ready, "no READY=1 ({:?}); log:\n{log}", notify.received);
    // Ready means both vendor daemons are up: nothing to wait for.
    let at = format!("{}@localhost", root.port);
    let (ok, status) = lmutil(&["lmstat", "-a", "-c", &at]);
    assert!(ok, "{status}");
    assert!(status.contains("demo: UP"), "{status}");
    assert!(status.contains("testvendor: UP"), "{status}");

    let mut joe = Peer::hello(vendor_addr(root.port, "testvendor"), "joe", 1);
    joe.checkout_handle(1, "t1", 1).expect("t1 granted");
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let borrowed = joe.request(&Message::Checkout(wire::Checkout {
        borrow_until: until,
        req: 2,
        feature: "t2".into(),
        version: "1.0".into(),
        count: 1,
        dup_group: 0,
        queue: false,
        return_hash: wire::codec::Blob(wire::borrow_key::return_hash(&[1; 32]).to_vec()),
    }));
    assert!(matches!(borrowed, Message::Granted(_)), "{borrowed:?}");
    let mut demo = Peer::hello(vendor_addr(root.port, "demo"), "ann", 2);
    demo.checkout_handle(1, "f1", 1).expect("f1 granted");

    let (ok, text) = lmutil(&["lmreread", "-c", &at]);
    assert!(ok, "{text}");
    wait_for_text(&root.log(), "Done rereading", WAIT);
    assert_eq!(stop(&mut lmgrd, WAIT), Some(0));

    // What the service wrote is in its state directory, owned by it; the
    // license directory holds what the administrator put there, no more.
    let mut etc: Vec<String> = std::fs::read_dir(root.dir.join("etc/lm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    etc.sort();
    assert_eq!(etc, vec!["demo.lic", "testvendor.lic"]);
    assert!(root.state().join("testvendor.borrows").is_file());
    assert!(
        !root.state().join("demo.borrows").exists(),
        "demo has no borrowable line: no store"
    );
    let log = std::fs::read_to_string(root.log()).unwrap();
    assert!(log.contains("OUT: \"t2\" joe@e2e-host"), "{log}");
    if let Some((uid, _)) = service_account() {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(root.state().join("testvendor.borrows")).unwrap();
        assert_eq!(meta.uid(), uid, "created with the service user's rights");
    }
}

#[test]
fn an_unwritable_state_directory_is_one_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::new("nostate");
    let state = root.state();
    std::fs::create_dir_all(&state).unwrap();
    give_to_service(&root.dir.join("var"));
    give_to_service(&root.dir.join("var/lib"));
    match service_account() {
        // Root's directory, not the service's.
        Some(_) => std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap(),
        None => std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap(),
    }
    let mut notify = Notify::bind(&root.dir);
    let lmgrd = spawn_as_service(&root.command(), &[("NOTIFY_SOCKET", &notify.path)]);
    let out = lmgrd.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one message: {stderr}");
    let state_text = state.display().to_string();
    assert!(
        lines[0].contains("cannot use state directory")
            && lines[0].contains(&state_text)
            && lines[0].contains("install -d -o"),
        "{stderr}"
    );
    assert!(!notify.wait_ready(Duration::from_millis(100)));
    // The debug log says the same.
    let log = std::fs::read_to_string(root.log()).unwrap();
    assert!(log.contains(&state_text), "{log}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_directory_of_two_vendors_files_is_served_by_one_lmgrd() {
    let dir = tempdir("twovendors");
    let port = free_port();
    license_with_port("demo.lic", &dir, port);
    testvendor_license(&dir, port);
    // A third file meant for another server is named, not served.
    let elsewhere = with_port(
        &std::fs::read_to_string(examples().join("upgrade.lic")).unwrap(),
        port + 1,
    );
    std::fs::write(dir.join("zz-elsewhere.lic"), elsewhere).unwrap();
    let mut cmd = Command::new(bin("lmgrd"));
    cmd.arg("-z").arg("-c").arg(&dir);
    let server = Server::start_command(cmd, &dir.join("demo.lic"), port);
    // Both vendor daemons, each in its own time.
    server.wait_log(WAIT, "testvendor using TCP-port");
    server.wait_log(WAIT, "demo using TCP-port");
    let skipped = server.wait_log(WAIT, "Not serving");
    assert!(
        skipped.contains("zz-elsewhere.lic") && skipped.contains("differ"),
        "{skipped}"
    );
    let (ok, status) = lmutil(&["lmstat", "-a", "-c", &server.at()]);
    assert!(ok, "{status}");
    assert!(status.contains("demo: UP"), "{status}");
    assert!(status.contains("testvendor: UP"), "{status}");
    assert!(status.contains("Users of t1:"), "{status}");
    assert!(status.contains("Users of f1:"), "{status}");
    // VENDOR testvendor names no program: the one named after the vendor
    // beside lmgrd runs it.
    let mut p = Peer::hello(vendor_addr(port, "testvendor"), "joe", 1);
    p.checkout_handle(1, "t1", 1).expect("t1 from testvendor");
    // The demo daemon did not get the other vendor's lines.
    let mut q = Peer::hello(server.vendord_addr(), "joe", 2);
    assert!(q.checkout_handle(1, "t1", 1).is_err());
}

#[test]
fn a_list_of_files_is_one_server_too() {
    let dir = tempdir("list");
    let port = free_port();
    let demo = license_with_port("demo.lic", &dir, port);
    let other = testvendor_license(&dir, port);
    let list = format!("{}:{}", other.display(), demo.display());
    let mut cmd = Command::new(bin("lmgrd"));
    cmd.args(["-z", "-c", &list]);
    let server = Server::start_command(cmd, &demo, port);
    server.wait_log_count(WAIT, "using TCP-port", 2);
    assert!(Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok());
    assert!(Peer::vendor_port(server.lmgrd_addr(), "testvendor").is_ok());
}

#[test]
fn without_z_lmgrd_returns_once_serving_or_fails_with_a_status() {
    let dir = tempdir("background");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let state = dir.join("state");
    let log = dir.join("lmgrd.log");
    let run = || {
        Command::new(bin("lmgrd"))
            .arg("-c")
            .arg(&license)
            .arg("-l")
            .arg(&log)
            .env("LM_STATE_DIR", &state)
            .env_remove("LM_LICENSE_FILE")
            .output()
            .unwrap()
    };
    // The port is taken: the shell hears it, with a failure status.
    let taken = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    let out = run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("port {port}")), "{stderr}");
    drop(taken);

    // Free: it returns 0 once it listens and its vendor daemon is up.
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vendor = Peer::vendor_port(SocketAddr::from(([127, 0, 0, 1], port)), "demo");
    let text = std::fs::read_to_string(&log).unwrap();
    let pid: i32 = text
        .lines()
        .find_map(|l| l.split("(lmgrd) pid ").nth(1))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lmgrd pid in the log:\n{text}"));
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(vendor.is_ok(), "{vendor:?}");
    wait_until(WAIT, "lmgrd to stop", || !alive(pid));
}

#[test]
fn bind_listens_on_one_address_for_lmgrd_and_its_vendor_daemons() {
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let addresses: &[&str] = if ipv6 {
        &["::1", "127.0.0.2"]
    } else {
        eprintln!("no IPv6 loopback here: testing -bind with IPv4 only");
        &["127.0.0.2"]
    };
    for ip in addresses {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        let dir = tempdir(&format!("bind-{}", ip.is_ipv6()));
        let port = free_port();
        let license = license_with_port("demo.lic", &dir, port);
        let server = Server::start(&license, port, &["-bind", &ip.to_string()]);
        let lmgrd = SocketAddr::new(ip, port);
        let vendor = Peer::vendor_port(lmgrd, "demo").expect("lookup on the bound address");
        Peer::hello(SocketAddr::new(ip, vendor), "joe", 1)
            .checkout_handle(1, "f1", 1)
            .expect("checkout on the bound address");
        for other in [
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::from(([127, 0, 0, 1], vendor)),
        ] {
            assert!(
                std::net::TcpStream::connect_timeout(&other, Duration::from_secs(2)).is_err(),
                "{other} answers although lmgrd is bound to {ip}"
            );
        }
        drop(server);
    }
}

#[test]
fn sighup_reopens_the_debug_log_after_rotation_and_loses_no_line() {
    let dir = tempdir("rotate");
    let port = free_port();
    let license = license_with_port("demo.lic", &dir, port);
    let log = dir.join("lmgrd.log");
    let mut cmd = Command::new(bin("lmgrd"));
    cmd.arg("-z").arg("-c").arg(&license).arg("-l").arg(&log);
    cmd.env("LM_STATE_DIR", dir.join("state"));
    let mut child = cmd
        .env_remove("LM_LICENSE_FILE")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_text(&log, "demo using TCP-port", WAIT);
    let addr = vendor_addr(port, "demo");
    let mut before = Peer::hello(addr, "before", 1);
    before.checkout_handle(1, "f1", 1).unwrap();
    wait_for_text(&log, "OUT: \"f1\" before", WAIT);
    // logrotate: rename, then the signal.
    let rotated = dir.join("lmgrd.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let mut between = Peer::hello(addr, "between", 2);
    between.checkout_handle(1, "f1", 1).unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    wait_for_text(&log, "(lmgrd) Debug log reopened", WAIT);
    wait_for_text(&log, "(demo) Debug log reopened", WAIT);
    let mut after = Peer::hello(addr, "after", 3);
    after.checkout_handle(1, "f1", 1).unwrap();
    let new = wait_for_text(&log, "OUT: \"f1\" after", WAIT);
    let old = wait_for_text(&rotated, "OUT: \"f1\" between", WAIT);
    assert!(old.contains("OUT: \"f1\" before"), "{old}");
    assert!(!new.contains("before@") && !old.contains("after@"));
    assert_eq!(stop(&mut child, WAIT), Some(0));
}

/// The demo license with one more line, `soon`, expiring in `days` days,
/// signed with the demo key.
fn license_expiring_in(dir: &Path, port: u16, days: u32) -> PathBuf {
    let date = Command::new("date")
        .args(["-d", &format!("+{days} days"), "+%d-%b-%Y"])
        .output()
        .unwrap();
    let date = String::from_utf8(date.stdout)
        .unwrap()
        .trim()
        .to_lowercase();
    let license = license_with_port("demo.lic", dir, port);
    let mut text = std::fs::read_to_string(&license).unwrap();
    text.push_str(&format!("FEATURE soon demo 1.0 {date} 2\n"));
    std::fs::write(&license, text).unwrap();
    sign_with_demo_key(&license);
    license
}

#[test]
fn features_near_expiry_are_warned_about_in_the_debug_log() {
    let dir = tempdir("expiry");
    let port = free_port();
    let license = license_expiring_in(&dir, port, 5);
    let server = Server::start(&license, port, &["-expiry-warning-days", "7"]);
    let line = server.wait_log(WAIT, "EXPIRY WARNING");
    assert!(
        line.contains("(demo)") && line.contains("\"soon\"") && line.contains("in 5 days"),
        "{line}"
    );
    assert!(!server.log_text().contains("\"f1\" v1.0 (license line"));
    drop(server);

    // Outside the window: nothing.
    let dir = tempdir("expiry-quiet");
    let port = free_port();
    let license = license_expiring_in(&dir, port, 5);
    let server = Server::start(&license, port, &["-expiry-warning-days", "3"]);
    server.wait_log(WAIT, "Server started on");
    let mut p = Peer::hello(server.vendord_addr(), "joe", 1);
    p.checkout_handle(1, "soon", 1).expect("still served");
    assert!(!server.log_text().contains("EXPIRY WARNING"));
}
