//! The client library against scripted fake servers on 127.0.0.1, and
//! local validation of signed example licenses.

mod common;

use client::{Job, JobConfig, JobEvent, Publisher, Step};
use common::*;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wire::{lmerr, Message};

fn config(path: &str) -> JobConfig {
    JobConfig {
        license_path: Some(path.to_string()),
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        retry_count: 3,
        // Whatever this machine's user borrowed or set stays out of it.
        lm_borrow: Some(String::new()),
        borrow_store: Some(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/no-such-borrow-store"),
        ),
        ..JobConfig::default()
    }
}

fn job(path: &str) -> Job {
    Job::with_config(&Publisher::demo(), config(path))
}

/// A publisher other than the demo one (its keys do not matter here).
fn acme() -> Publisher {
    Publisher::from_pem("acme", grammar::publisher::DEMO_PUBLIC_KEYS, None).expect("keys")
}

/// A job whose events arrive on a channel.
fn job_with_events(path: &str) -> (Job, mpsc::Receiver<JobEvent>) {
    let job = job(path);
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    job.on_event(move |e| {
        let _ = tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(e.clone());
    });
    (job, rx)
}

/// Waits for the first event `pick` accepts.
fn wait_event<T>(rx: &mpsc::Receiver<JobEvent>, pick: impl Fn(JobEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no expected event within {WAIT:?}"));
        if let Some(t) = pick(event) {
            return t;
        }
    }
}

/// Waits until `cond` holds.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn servers(interval_ms: u32) -> (Fake<VendorScript>, Fake<LmgrdScript>) {
    let vendor = vendor(interval_ms);
    let lmgrd = lmgrd(vendor.port());
    (vendor, lmgrd)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
}

/// A temporary directory with `evaluation.lic` (possibly edited) and the
/// demo public key beside it.
fn evaluation_dir(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(examples().join("evaluation.lic")).expect("read");
    let lic = dir.path().join("evaluation.lic");
    std::fs::write(&lic, edit(text)).expect("write");
    std::fs::copy(examples().join("demo.pub"), dir.path().join("demo.pub")).expect("copy key");
    (dir, lic)
}

#[test]
fn lookup_then_checkout_then_checkin() {
    let (vendor, lmgrd) = servers(60_000);
    let entry = format!("{}@localhost", lmgrd.port());
    let job = job(&entry);
    let lic = job.checkout("f1", "1.0", 2).expect("checkout");
    assert_eq!(lic.feature(), "f1");
    assert_eq!(lic.version(), "1.0");
    assert_eq!(lic.count(), 2);
    assert_eq!(lic.expiry(), "permanent");
    assert_eq!(lic.source(), entry);
    assert!(!lic.is_local());
    assert_eq!(lic.handle(), Some(100));

    let lm = lmgrd.messages();
    assert_eq!(hello_jobs(&lm), vec![job.id()]);
    assert!(lm
        .iter()
        .any(|(_, m)| matches!(m, Message::VendorLookup(v) if v.vendor == "demo")));
    let vd = vendor.messages();
    assert_eq!(hello_jobs(&vd), vec![job.id()]);
    let Some((_, Message::Checkout(c))) = vd.iter().find(|(_, m)| is_checkout(m)) else {
        panic!("no checkout: {vd:?}");
    };
    assert_eq!(
        (c.feature.as_str(), c.version.as_str(), c.count),
        ("f1", "1.0", 2)
    );
    let status = job.status();
    assert_eq!((status.servers, status.connected, status.held), (1, 1, 1));

    job.checkin(&lic).expect("checkin");
    assert!(vendor
        .messages()
        .iter()
        .any(|(_, m)| matches!(m, Message::Checkin(c) if c.handle == 100)));
    assert_eq!(job.status().servers, 0, "an idle connection is closed");
    job.checkin(&lic).expect("a second checkin is harmless");
}

#[test]
fn denial_surfaces_with_flexlm_code_and_text() {
    let (vendor, lmgrd) = servers(60_000);
    vendor.with(|s| s.deny = Some((lmerr::LM_MAXUSERS, 342)));
    let entry = format!("{}@localhost", lmgrd.port());
    let err = job(&entry).checkout("f1", "1.0", 1).expect_err("denied");
    assert_eq!((err.code, err.minor), (-4, 342));
    assert_eq!(err.text, "Licensed number of users already reached.");
    assert_eq!(err.step, Step::CheckoutDenied);
    assert_eq!(err.entry.as_deref(), Some(entry.as_str()));
    assert_eq!(
        err.to_string(),
        "Licensed number of users already reached. (-4,342)"
    );
    let long = err.long_form();
    assert!(
        long.starts_with("Licensed number of users already reached.\n"),
        "{long}"
    );
    assert!(long.contains("Feature:       f1\n"), "{long}");
    assert!(
        long.contains(&format!("License path:  {entry}:\n")),
        "{long}"
    );
    assert!(long.ends_with("FlexNet Licensing error:-4,342\n"), "{long}");
}

#[test]
fn heartbeats_arrive_and_are_acknowledged() {
    let (vendor, lmgrd) = servers(20);
    let job = job(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    assert!(
        vendor.wait_until(|log| count(log, is_heartbeat) >= 3),
        "no heartbeats: {:?}",
        vendor.messages()
    );
    wait_for("acknowledged heartbeats", || {
        job.status().heartbeats_acked >= 2
    });
    assert!(lic.status().is_ok());
    let seqs: Vec<u32> = vendor
        .messages()
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Heartbeat(h) => Some(h.seq),
            _ => None,
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn reconnect_keeps_the_seat_the_server_gives_back() {
    let (vendor, lmgrd) = servers(60_000);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    let handle = lic.handle();

    vendor.drop_connections();
    let kept = wait_event(&events, |e| match e {
        JobEvent::Reconnected {
            kept, reacquired, ..
        } => Some((kept, reacquired)),
        _ => None,
    });
    assert_eq!(kept, (vec!["f1".to_string()], vec![]));
    assert_eq!(hello_jobs(&vendor.messages()), vec![job.id(), job.id()]);
    assert_eq!(count(&vendor.messages(), is_checkout), 1, "no second seat");
    assert_eq!(count(&lmgrd.messages(), is_lookup), 2, "lmgrd asked again");
    assert_eq!(hello_jobs(&lmgrd.messages()), vec![job.id(), job.id()]);
    assert_eq!(lic.handle(), handle);
    assert!(lic.status().is_ok());
    let status = job.status();
    assert_eq!(
        (status.connected, status.held, status.reconnects),
        (1, 1, 1)
    );
}

#[test]
fn reconnect_checks_out_again_what_the_server_released() {
    let (vendor, lmgrd) = servers(60_000);
    vendor.with(|s| s.return_held = false);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f2", "2.5", 3).expect("checkout");
    let before = lic.handle();

    vendor.drop_connections();
    let reacquired = wait_event(&events, |e| match e {
        JobEvent::Reconnected { reacquired, .. } => Some(reacquired),
        _ => None,
    });
    assert_eq!(reacquired, vec!["f2".to_string()]);
    let log = vendor.messages();
    assert_eq!(hello_jobs(&log), vec![job.id(), job.id()]);
    let checkouts: Vec<(String, String, u32)> = log
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Checkout(c) => Some((c.feature.clone(), c.version.clone(), c.count)),
            _ => None,
        })
        .collect();
    let want = ("f2".to_string(), "2.5".to_string(), 3);
    assert_eq!(checkouts, vec![want.clone(), want]);
    assert_ne!(lic.handle(), before);
    assert!(lic.status().is_ok());
}

#[test]
fn reconnect_finds_a_restarted_vendor_daemon_on_its_new_port() {
    let (mut old, lmgrd) = servers(60_000);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");

    let new = vendor(60_000);
    lmgrd.with(|s| s.vendor_port = new.port());
    old.stop();
    wait_event(&events, |e| {
        matches!(e, JobEvent::Reconnected { .. }).then_some(())
    });
    assert_eq!(hello_jobs(&new.messages()), vec![job.id()]);
    assert_eq!(count(&new.messages(), is_checkout), 1);
    assert!(lic.status().is_ok());
    drop(lic);
    assert!(new.wait_until(|log| count(log, is_checkin) == 1));
}

#[test]
fn a_license_that_cannot_be_kept_is_reported_lost() {
    let (vendor, lmgrd) = servers(60_000);
    vendor.with(|s| s.return_held = false);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");

    vendor.with(|s| s.deny = Some((lmerr::LM_MAXUSERS, 342)));
    vendor.drop_connections();
    let (feature, error) = wait_event(&events, |e| match e {
        JobEvent::LicenseLost { feature, error } => Some((feature, error)),
        _ => None,
    });
    assert_eq!(feature, "f1");
    assert_eq!(error.code, lmerr::LM_MAXUSERS);
    let status = lic.status().expect_err("lost");
    assert_eq!(status.code, lmerr::LM_MAXUSERS);
    assert_eq!(job.status().error.map(|e| e.code), Some(lmerr::LM_MAXUSERS));
}

#[test]
fn a_dead_server_is_retried_then_reported() {
    let (mut vendor, lmgrd) = servers(60_000);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    lmgrd.with(|s| s.error = Some((lmerr::LM_VENDOR_DOWN, 121)));
    vendor.stop();
    let attempts = wait_event(&events, |e| match e {
        JobEvent::LicenseLost { error, .. } => Some(error),
        _ => None,
    });
    assert_eq!(attempts.code, lmerr::LM_VENDOR_DOWN);
    assert_eq!(lic.status().expect_err("lost").code, lmerr::LM_VENDOR_DOWN);
    let status = job.status();
    assert_eq!((status.servers, status.connected), (1, 0));
    assert_eq!(status.error.map(|e| e.code), Some(lmerr::LM_VENDOR_DOWN));
}

#[test]
fn revoked_licenses_are_reported() {
    let (vendor, lmgrd) = servers(60_000);
    let (job, events) = job_with_events(&format!("{}@localhost", lmgrd.port()));
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    vendor.push(&Message::Revoked(wire::Revoked {
        handle: lic.handle().expect("handle"),
        code: lmerr::LM_SERVER_REMOVED,
        text: String::new(),
    }));
    let error = wait_event(&events, |e| match e {
        JobEvent::Revoked { error, .. } => Some(error),
        _ => None,
    });
    assert_eq!(error.code, lmerr::LM_SERVER_REMOVED);
    assert_eq!(
        lic.status().expect_err("revoked").code,
        lmerr::LM_SERVER_REMOVED
    );
    job.checkin(&lic).expect("nothing to return");
    assert_eq!(count(&vendor.messages(), is_checkin), 0);
}

#[test]
fn refused_connection_is_minus_15_naming_the_entry() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let entry = format!("{port}@localhost");
    let err = job(&entry).checkout("f1", "1.0", 1).expect_err("refused");
    assert_eq!(err.code, lmerr::LM_CANTCONNECT);
    assert_eq!(err.step, Step::Connect);
    assert_eq!(err.errno, Some(111));
    assert_eq!(err.entry.as_deref(), Some(entry.as_str()));
    assert_eq!(
        err.to_string(),
        "Cannot connect to license server system. (-15,10:111)"
    );
    let step = format!("Step: connect to {entry} (127.0.0.1:{port}): Connection refused\n");
    assert!(err.long_form().contains(&step), "{}", err.long_form());
}

#[test]
fn vendor_daemon_down_is_minus_97() {
    let (_vendor, lmgrd) = servers(60_000);
    lmgrd.with(|s| s.error = Some((lmerr::LM_VENDOR_DOWN, 121)));
    let err = job(&format!("{}@localhost", lmgrd.port()))
        .checkout("f1", "1.0", 1)
        .expect_err("down");
    assert_eq!((err.code, err.minor), (-97, 121));
    assert_eq!(err.step, Step::VendorDaemonDown);
    assert_eq!(err.text, "The desired vendor daemon is down.");
}

#[test]
fn unknown_vendor_is_minus_18() {
    let (_vendor, lmgrd) = servers(60_000);
    let job = Job::with_config(&acme(), config(&format!("{}@localhost", lmgrd.port())));
    let err = job.checkout("f1", "1.0", 1).expect_err("not served");
    assert_eq!(err.code, lmerr::LM_NOSERVSUPP);
    assert_eq!(err.step, Step::VendorLookup);
}

#[test]
fn a_denial_beats_a_missing_file_and_the_path_is_listed() {
    let (vendor, lmgrd) = servers(60_000);
    vendor.with(|s| s.deny = Some((lmerr::LM_MAXUSERS, 342)));
    let path = format!("/nonexistent/a.lic:{}@localhost", lmgrd.port());
    let err = job(&path).checkout("f1", "1.0", 1).expect_err("denied");
    assert_eq!(err.code, lmerr::LM_MAXUSERS);
    assert_eq!(err.path, format!("{path}:"));

    let err = job("/nonexistent/a.lic:/nonexistent/b.lic")
        .checkout("f1", "1.0", 1)
        .expect_err("nothing");
    assert_eq!(err.code, lmerr::LM_NOCONFFILE);
    assert_eq!(err.entry.as_deref(), Some("/nonexistent/a.lic"));
    assert!(err
        .long_form()
        .contains("License path:  /nonexistent/a.lic:/nonexistent/b.lic:\n"));
}

#[test]
fn a_later_entry_serves_when_an_earlier_one_fails() {
    let (vendor, lmgrd) = servers(60_000);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let path = format!(
        "/nonexistent/a.lic:{dead}@localhost:{}@localhost",
        lmgrd.port()
    );
    let lic = job(&path).checkout("f1", "1.0", 1).expect("third entry");
    assert_eq!(lic.source(), format!("{}@localhost", lmgrd.port()));
    assert_eq!(count(&vendor.messages(), is_checkout), 1);
}

#[test]
fn one_connection_per_vendor_daemon() {
    let (vendor, lmgrd) = servers(60_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("server.lic");
    std::fs::write(
        &file,
        format!(
            "SERVER this_host ANY {}\nVENDOR demo\nFEATURE f1 demo 1.0 permanent 4\n",
            lmgrd.port()
        ),
    )
    .expect("write");
    let job = job(&format!("{}:{}@localhost", file.display(), lmgrd.port()));
    let a = job
        .checkout("f1", "1.0", 1)
        .expect("through the file's SERVER line");
    assert_eq!(a.source(), file.display().to_string());
    let b = job.checkout("f9", "1.0", 1).expect("through port@host");
    assert_eq!(b.source(), format!("{}@localhost", lmgrd.port()));
    let c = job.checkout("f1", "1.0", 1).expect("again");
    let log = vendor.messages();
    assert_eq!(hello_jobs(&log), vec![job.id()], "one Hello: {log:?}");
    assert_eq!(count(&log, is_checkout), 3);
    assert_eq!(job.status().servers, 1);
    drop((a, b));
    assert_eq!(job.status().servers, 1);
    drop(c);
    assert_eq!(job.status().servers, 0);
    assert_eq!(count(&vendor.messages(), is_checkin), 3);
}

#[test]
fn dropping_a_license_checks_it_in() {
    let (vendor, lmgrd) = servers(60_000);
    let job = job(&format!("{}@localhost", lmgrd.port()));
    drop(job.checkout("f1", "1.0", 1).expect("checkout"));
    assert_eq!(count(&vendor.messages(), is_checkin), 1);
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    drop(job);
    drop(lic);
    assert_eq!(
        count(&vendor.messages(), is_checkin),
        1,
        "closing the job's connection released the seat already"
    );
}

#[test]
fn uncounted_demo_license_validates_locally() {
    let (_dir, lic) = evaluation_dir(|t| t);
    let job = job(&lic.display().to_string());
    let l = job.checkout("evaluate", "1.0", 1).expect("local checkout");
    assert!(l.is_local());
    assert_eq!(
        (l.feature(), l.version(), l.expiry()),
        ("evaluate", "1.0", "31-dec-2099")
    );
    assert_eq!(l.source(), lic.display().to_string());
    assert_eq!(job.status().servers, 0);
    job.checkin(&l).expect("local checkin");

    let err = job.checkout("evaluate", "2.0", 1).expect_err("too new");
    assert_eq!(err.code, lmerr::LM_OLDVER);
    let err = job.checkout("other", "1.0", 1).expect_err("absent");
    assert_eq!(err.code, lmerr::LM_NOFEATURE);
    assert_eq!(
        err.entry.as_deref(),
        Some(lic.display().to_string().as_str())
    );
}

#[test]
fn a_directory_entry_reads_its_lic_files() {
    let (dir, _lic) = evaluation_dir(|t| t);
    let job = job(&dir.path().display().to_string());
    assert!(job
        .checkout("evaluate", "1.0", 1)
        .expect("from the directory")
        .is_local());
}

#[test]
fn tampered_uncounted_license_fails_with_minus_8() {
    let (_dir, lic) = evaluation_dir(|t| t.replace("31-dec-2099", "31-dec-2199"));
    let err = job(&lic.display().to_string())
        .checkout("evaluate", "1.0", 1)
        .expect_err("tampered");
    assert_eq!(err.code, lmerr::LM_BADCODE);
    assert_eq!(err.step, Step::LocalValidation);
    assert_eq!(
        err.entry.as_deref(),
        Some(lic.display().to_string().as_str())
    );
    assert!(err.long_form().contains("Feature:       evaluate\n"));
}

// ---------------------------------------------------------------------------
// lmflex

fn lmflex(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lmflex"));
    cmd.args(args)
        .env_remove("LM_LICENSE_FILE")
        .env_remove("DEMO_LICENSE_FILE")
        .env("HOME", "/nonexistent");
    cmd
}

#[test]
fn lmflex_checks_out_holds_and_checks_in() {
    let (vendor, lmgrd) = servers(60_000);
    let entry = format!("{}@localhost", lmgrd.port());
    let out = lmflex(&["f2", "2.5", "--count", "2", "-c", &entry, "--hold", "0"])
        .output()
        .expect("run lmflex");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Checkout succeeded: f2 (2 licenses, version 2.5)\nChecked in f2\n"
    );
    assert_eq!(count(&vendor.messages(), is_checkin), 1);
}

#[test]
fn lmflex_heartbeats_until_sigterm_then_checks_in() {
    use std::io::BufRead;
    let (vendor, lmgrd) = servers(20);
    let mut child = lmflex(&["f1"])
        .env("DEMO_LICENSE_FILE", format!("{}@localhost", lmgrd.port()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start lmflex");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let first = rx.recv_timeout(WAIT).expect("checkout line");
    assert_eq!(first, "Checkout succeeded: f1 (1 license, version 1.0)");
    assert!(vendor.wait_until(|log| count(log, is_heartbeat) >= 2));

    // SAFETY: kill only sends a signal to the child we started.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    assert_eq!(
        rx.recv_timeout(WAIT).expect("checkin line"),
        "Checked in f1"
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "lmflex did not exit");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success());
    assert_eq!(count(&vendor.messages(), is_checkin), 1);
}

#[test]
fn lmflex_prints_the_long_form_and_exits_1() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let entry = format!("{port}@localhost");
    let out = lmflex(&["f1", "-c", &entry]).output().expect("run lmflex");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Cannot connect to license server system.\n"),
        "{err}"
    );
    assert!(err.contains("Feature:       f1\n"), "{err}");
    assert!(err.contains(&format!("License path:  {entry}:\n")), "{err}");
    assert!(
        err.contains(&format!("Step: connect to {entry} (127.0.0.1:{port})")),
        "{err}"
    );
    assert!(
        err.ends_with("FlexNet Licensing error:-15,10:111\n"),
        "{err}"
    );
}

/// A job with `policy` whose events arrive on a channel.
fn job_with_policy(path: &str, policy: client::FailurePolicy) -> (Job, mpsc::Receiver<JobEvent>) {
    let job = Job::with_config(
        &Publisher::demo(),
        JobConfig {
            policy,
            ..config(path)
        },
    );
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    job.on_event(move |e| {
        let _ = tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(e.clone());
    });
    (job, rx)
}

#[test]
fn a_grace_period_keeps_licenses_until_it_ends_then_the_seats_come_back() {
    let grace = Duration::from_millis(1500);
    let (mut old, lmgrd) = servers(60_000);
    let (job, events) = job_with_policy(
        &format!("{}@localhost", lmgrd.port()),
        client::FailurePolicy::Grace(grace),
    );
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    lmgrd.with(|s| s.error = Some((lmerr::LM_VENDOR_DOWN, 121)));
    let cut = Instant::now();
    old.stop();
    let until = wait_event(&events, |e| match e {
        JobEvent::InGrace { until, .. } => Some(until),
        _ => None,
    });
    // More failed attempts than the retry count: still held, in grace.
    wait_for("four failed attempts", || job.status().failed_attempts > 3);
    let status = job.status();
    assert!(lic.status().is_ok(), "kept during the grace period");
    assert_eq!((status.held, status.connected), (1, 0));
    assert_eq!(status.grace_until, Some(until));
    assert!(status
        .grace_text()
        .expect("text")
        .starts_with("in grace until "));
    // A new checkout still needs a server.
    assert!(job.checkout("f2", "1.0", 1).is_err());

    let error = wait_event(&events, |e| match e {
        JobEvent::LicenseLost { error, .. } => Some(error),
        _ => None,
    });
    assert!(cut.elapsed() >= grace, "lost after {:?}", cut.elapsed());
    assert_eq!(error.code, lmerr::LM_VENDOR_DOWN);
    assert!(lic.status().is_err());
    assert_eq!(job.status().grace_until, None);

    // The server comes back: the seat is checked out again.
    let new = vendor(60_000);
    lmgrd.with(|s| {
        s.vendor_port = new.port();
        s.error = None;
    });
    let reacquired = wait_event(&events, |e| match e {
        JobEvent::Reconnected { reacquired, .. } => Some(reacquired),
        _ => None,
    });
    assert_eq!(reacquired, vec!["f1".to_string()]);
    assert_eq!(hello_jobs(&new.messages()), vec![job.id()]);
    assert!(lic.status().is_ok());
    let status = job.status();
    assert_eq!((status.held, status.failed_attempts), (1, 0));
}

#[test]
fn restrictive_reports_the_loss_at_once_and_lenient_never() {
    let (vendor, lmgrd) = servers(60_000);
    let (job, events) = job_with_policy(
        &format!("{}@localhost", lmgrd.port()),
        client::FailurePolicy::Restrictive,
    );
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    vendor.drop_connections();
    let first = wait_event(&events, |e| match e {
        JobEvent::LicenseLost { .. } => Some("lost"),
        JobEvent::Reconnected { .. } | JobEvent::ReconnectFailed { .. } => Some("other"),
        _ => None,
    });
    assert_eq!(first, "lost", "told before any reconnect attempt ended");
    wait_event(&events, |e| {
        matches!(e, JobEvent::Reconnected { .. }).then_some(())
    });
    assert!(lic.status().is_ok(), "held again after the reconnect");

    let (mut vendor, lmgrd) = servers(60_000);
    let (job, events) = job_with_policy(
        &format!("{}@localhost", lmgrd.port()),
        client::FailurePolicy::Lenient,
    );
    let lic = job.checkout("f1", "1.0", 1).expect("checkout");
    lmgrd.with(|s| s.error = Some((lmerr::LM_VENDOR_DOWN, 121)));
    vendor.stop();
    wait_for("six failed attempts", || job.status().failed_attempts >= 6);
    assert!(lic.status().is_ok());
    let status = job.status();
    assert_eq!((status.held, status.grace_until), (1, None));
    assert_eq!(status.error.map(|e| e.code), Some(lmerr::LM_VENDOR_DOWN));
    assert!(events
        .try_iter()
        .all(|e| !matches!(e, JobEvent::LicenseLost { .. })));
}
