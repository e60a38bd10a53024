//! The Debian package: built from the binaries of this build with
//! `scripts/build-deb.sh`, its contents checked, then installed and its
//! unit's `ExecStart=` run as the service user exactly as systemd would
//! (CI has no systemd): the demo license served, lmstat working.
//!
//! It is installed on the machine itself (`dpkg -i`, then purged) only
//! when running as root with `LM_TEST_INSTALL_PACKAGE=1`, as CI does;
//! otherwise it is unpacked into a scratch root and run from there.

use e2e::unit::*;
use e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

/// Builds the package from this build's binaries; its path.
fn build_package(out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-deb.sh");
    // Debug binaries are large: compress fast, this package is not shipped.
    let text = run(Command::new("bash")
        .arg(script)
        .arg(bin_dir())
        .arg(out)
        .env("LM_DEB_COMPRESSION", "1"));
    PathBuf::from(text.lines().last().expect("the package path").trim())
}

const TOOLS: [&str; 15] = [
    "lmstat",
    "lmdown",
    "lmreread",
    "lmremove",
    "lmhostid",
    "lmver",
    "lmdiag",
    "lmpath",
    "lmswitchr",
    "lmswitch",
    "lmnewlog",
    "lmcksum",
    "lmborrow",
    "lmreport",
    "lmcrypt",
];

fn check_contents(deb: &Path) {
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    let mut wanted: Vec<String> = [
        "./usr/bin/lmgrd",
        "./usr/bin/vendord",
        "./usr/bin/lmutil",
        "./lib/systemd/system/lmgrd.service",
        "./etc/lm/",
        "./etc/logrotate.d/lm",
        "./var/lib/lm/",
        "./var/log/lm/",
        "./usr/share/doc/lm/examples/demo.lic",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for tool in TOOLS.iter().chain(&["lmgrd", "lmutil", "vendord"]) {
        wanted.push(format!("./usr/share/man/man1/{tool}.1.gz"));
        wanted.push(format!("./usr/share/bash-completion/completions/{tool}"));
    }
    for tool in TOOLS {
        wanted.push(format!("./usr/bin/{tool} -> lmutil"));
    }
    for w in wanted {
        assert!(
            listing.lines().any(|l| l.ends_with(&w)),
            "{w} is not in the package:\n{listing}"
        );
    }
    let control = run(Command::new("dpkg-deb").arg("-I").arg(deb));
    assert!(control.contains("Package: lm"), "{control}");
    assert!(control.contains("postinst"), "{control}");
}

/// The demo license with `port`, in `etc`.
fn put_demo_license(etc: &Path, doc_examples: &Path, port: u16) {
    let text = std::fs::read_to_string(doc_examples.join("demo.lic")).unwrap();
    std::fs::write(etc.join("demo.lic"), with_port(&text, port)).unwrap();
}

/// Runs `args` as the service does, waits for READY=1, asks lmstat, stops.
fn serve_and_query(args: &[String], lmstat: &Path, port: u16, notify_dir: &Path, log: &Path) {
    let mut notify = Notify::bind(notify_dir);
    let mut lmgrd = spawn_as_service(args, &[("NOTIFY_SOCKET", &notify.path)]);
    let ready = notify.wait_ready(WAIT);
    if !ready {
        let _ = stop(&mut lmgrd, WAIT);
        let out = lmgrd.wait_with_output().unwrap();
        panic!(
            "no READY=1; stderr: {}; log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    let status = run(Command::new(lmstat)
        .args(["-a", "-c", &format!("{port}@localhost")])
        .env_remove("LM_LICENSE_FILE"));
    assert!(status.contains("demo: UP"), "{status}");
    assert!(
        status.contains("Users of f1:  (Total of 4 licenses issued"),
        "{status}"
    );
    assert_eq!(stop(&mut lmgrd, WAIT), Some(0));
}

#[test]
fn the_package_installs_and_its_unit_serves_the_demo_license() {
    if !have("dpkg-deb") {
        eprintln!("skipped: dpkg-deb is not installed (not a Debian machine)");
        return;
    }
    let work = scratch_root("package");
    let deb = build_package(&work.join("out"));
    check_contents(&deb);
    let install = std::env::var_os("LM_TEST_INSTALL_PACKAGE").is_some_and(|v| v == "1")
        && service_account().is_some();
    let port = free_port();
    if install {
        install_on_this_machine(&deb, &work, port);
    } else {
        eprintln!(
            "installing into a scratch root (LM_TEST_INSTALL_PACKAGE=1 as root installs \
             it on this machine)"
        );
        run_from_scratch_root(&deb, &work, port);
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// `dpkg -i`: the postinst makes the user and directories; the unit's
/// command line runs unchanged as user lmgrd; then `dpkg --purge`.
fn install_on_this_machine(deb: &Path, work: &Path, port: u16) {
    run(Command::new("dpkg").arg("-i").arg(deb));
    let passwd = run(Command::new("getent").args(["passwd", "lmgrd"]));
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    let (uid, gid): (u32, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert_ne!(uid, 0, "the service user is not root");
    put_demo_license(
        Path::new("/etc/lm"),
        Path::new("/usr/share/doc/lm/examples"),
        port,
    );
    let unit = std::fs::read_to_string("/lib/systemd/system/lmgrd.service").unwrap();
    assert_eq!(unit_value(&unit, "User"), Some("lmgrd"));
    let args = exec_start(&unit);
    // As systemd would: the unit's user, a clean environment.
    let mut notify = Notify::bind(work);
    let mut cmd = Command::new(&args[0]);
    {
        use std::os::unix::process::CommandExt;
        cmd.args(&args[1..])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("NOTIFY_SOCKET", &notify.path)
            .env("STATE_DIRECTORY", "/var/lib/lm")
            .env("LOGS_DIRECTORY", "/var/log/lm")
            .current_dir("/")
            .uid(uid)
            .gid(gid);
    }
    let mut lmgrd = cmd.spawn().unwrap();
    assert!(
        notify.wait_ready(WAIT),
        "no READY=1; log:\n{}",
        std::fs::read_to_string("/var/log/lm/lmgrd.log").unwrap_or_default()
    );
    let status = run(Command::new("/usr/bin/lmstat")
        .args(["-a", "-c", &format!("{port}@localhost")])
        .env_remove("LM_LICENSE_FILE"));
    assert!(status.contains("demo: UP"), "{status}");
    assert_eq!(stop(&mut lmgrd, WAIT), Some(0));
    let _ = std::fs::remove_file("/etc/lm/demo.lic");
    run(Command::new("dpkg").args(["--purge", "lm"]));
}

/// `dpkg-deb -x` into a scratch root; the unit's command line with its
/// paths moved there, as the service account.
fn run_from_scratch_root(deb: &Path, work: &Path, port: u16) {
    let root = work.join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    put_demo_license(
        &root.join("etc/lm"),
        &root.join("usr/share/doc/lm/examples"),
        port,
    );
    for dir in ["var/lib/lm", "var/log/lm"] {
        give_to_service(&root.join(dir));
    }
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/lmgrd.service")).unwrap();
    let args = relocate(
        &exec_start(&unit),
        &[
            ("/usr/bin", &root.join("usr/bin")),
            ("/etc/lm", &root.join("etc/lm")),
            ("/var/lib/lm", &root.join("var/lib/lm")),
            ("/var/log/lm", &root.join("var/log/lm")),
        ],
    );
    serve_and_query(
        &args,
        &root.join("usr/bin/lmstat"),
        port,
        work,
        &root.join("var/log/lm/lmgrd.log"),
    );
}

#[test]
fn systemd_rates_the_units_hardening_ok_or_better() {
    if !have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd/lmgrd.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
    let level: f64 = overall
        .split(':')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{overall}"));
    // systemd's ratings: below 5.0 is "OK", below 2.0 "SAFE".
    assert!(level < 5.0, "{overall}");
    assert!(
        ["OK", "SAFE", "PERFECT"]
            .iter()
            .any(|r| overall.contains(r)),
        "{overall}"
    );
}
