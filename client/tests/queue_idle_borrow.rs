//! Queued checkouts, idle reporting and borrowing, against the scripted
//! fake servers of `common`.

#![allow(clippy::result_large_err)]

mod common;

use client::borrow::{self, BorrowRecord, BorrowStore};
use client::{Borrow, CheckoutOptions, CheckoutOutcome, Job, JobConfig, Publisher, Wait};
use common::*;
use std::path::Path;
use std::time::Duration;
use wire::{lmerr, Message};

fn config(path: &str, store: &Path) -> JobConfig {
    JobConfig {
        license_path: Some(path.to_string()),
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        retry_count: 3,
        lm_borrow: Some(String::new()),
        borrow_store: Some(store.to_path_buf()),
        ..JobConfig::default()
    }
}

struct Setup {
    vendor: Fake<VendorScript>,
    lmgrd: Fake<LmgrdScript>,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(interval_ms: u32) -> Setup {
        let vendor = vendor(interval_ms);
        let lmgrd = lmgrd(vendor.port());
        Setup {
            vendor,
            lmgrd,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn entry(&self) -> String {
        format!("{}@localhost", self.lmgrd.port())
    }

    fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join("borrows")
    }

    fn config(&self) -> JobConfig {
        config(&self.entry(), &self.store_path())
    }

    fn job(&self) -> Job {
        Job::with_config(&Publisher::demo(), self.config())
    }

    /// A job of the demo publisher with `LM_BORROW` set to `setting`.
    fn borrowing_job(&self, setting: String) -> Job {
        Job::with_config(
            &Publisher::demo(),
            JobConfig {
                lm_borrow: Some(setting),
                ..self.config()
            },
        )
    }

    /// The connection and request number of the checkout of `feature`
    /// that asked to queue, once it arrived.
    fn queued_checkout(&self, feature: &str) -> (usize, u32) {
        assert!(
            self.vendor.wait_until(|log| checkouts(log)
                .iter()
                .any(|(_, c)| c.queue && c.feature == feature)),
            "no queued checkout of {feature}"
        );
        let (conn, c) = checkouts(&self.vendor.messages())
            .into_iter()
            .find(|(_, c)| c.queue && c.feature == feature)
            .expect("queued checkout");
        (conn, c.req)
    }

    fn grant(&self, conn: usize, req: u32, feature: &str, handle: u64) {
        self.vendor.push_to(
            conn,
            &Message::Granted(demo_grant(req, handle, feature, "1.0", 1, None)),
        );
    }
}

fn queue() -> CheckoutOptions {
    CheckoutOptions {
        wait: Wait::Queue,
        ..CheckoutOptions::default()
    }
}

#[test]
fn a_queued_checkout_returns_at_once_and_is_granted_later() {
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.queue_all = true);
    let job = s.job();
    let CheckoutOutcome::Queued(mut q) =
        job.checkout_with("f1", "1.0", 1, &queue()).expect("queue")
    else {
        panic!("granted at once");
    };
    assert_eq!(q.error().code, lmerr::LM_FEATQUEUE);
    assert_eq!(q.error().feature, "f1");
    assert_eq!(q.feature(), "f1");
    assert!(q.try_take().expect("still queued").is_none());
    assert_eq!(job.status().servers, 1, "the queue keeps the connection");

    let (conn, req) = s.queued_checkout("f1");
    s.grant(conn, req, "f1", 555);
    let lic = q.wait(Some(WAIT)).expect("granted");
    assert_eq!(lic.handle(), Some(555));
    assert_eq!(job.status().held, 1);
    assert_eq!(
        q.wait(Some(WAIT)).expect_err("handed out once").code,
        lmerr::LM_BADPARAM
    );
    job.checkin(&lic).expect("checkin");
    assert!(s
        .vendor
        .messages()
        .iter()
        .any(|(_, m)| matches!(m, Message::Checkin(c) if c.handle == 555)));
}

#[test]
fn a_blocking_checkout_waits_for_the_grant() {
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.queue_all = true);
    let job = s.job();
    let options = CheckoutOptions {
        wait: Wait::Block {
            timeout: Some(WAIT),
        },
        ..CheckoutOptions::default()
    };
    let lic = std::thread::scope(|scope| {
        scope.spawn(|| {
            let (conn, req) = s.queued_checkout("f1");
            s.grant(conn, req, "f1", 777);
        });
        job.checkout_with("f1", "1.0", 1, &options)
    })
    .expect("granted")
    .granted()
    .expect("a license");
    assert_eq!(lic.handle(), Some(777));
}

#[test]
fn a_blocking_checkout_that_times_out_gives_back_a_late_grant() {
    let s = Setup::new(60_000);
    let job = s.job();
    let held = job.checkout("f0", "1.0", 1).expect("f0");
    s.vendor.with(|v| v.queue_all = true);
    let options = CheckoutOptions {
        wait: Wait::Block {
            timeout: Some(Duration::from_millis(50)),
        },
        ..CheckoutOptions::default()
    };
    let e = job
        .checkout_with("f1", "1.0", 1, &options)
        .expect_err("nothing freed");
    assert_eq!(e.code, lmerr::LM_FEATQUEUE);
    assert!(e.detail.contains("still queued"), "{}", e.detail);
    let (conn, req) = s.queued_checkout("f1");
    s.grant(conn, req, "f1", 888);
    assert!(
        s.vendor.wait_until(|log| log
            .iter()
            .any(|(_, m)| matches!(m, Message::Checkin(c) if c.handle == 888))),
        "the late grant is checked in"
    );
    assert_eq!(job.status().held, 1, "only f0");
    drop(held);
}

#[test]
fn a_lost_connection_ends_the_wait() {
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.queue_all = true);
    let job = s.job();
    let CheckoutOutcome::Queued(mut q) =
        job.checkout_with("f1", "1.0", 1, &queue()).expect("queue")
    else {
        panic!("granted at once");
    };
    s.vendor.drop_connections();
    let e = q
        .wait(Some(WAIT))
        .expect_err("the place in the queue is gone");
    assert_eq!(e.code, lmerr::LM_CANTREAD);
    assert!(e.detail.contains("queue"), "{}", e.detail);
}

#[test]
fn plain_checkouts_neither_queue_nor_borrow() {
    let s = Setup::new(60_000);
    let job = s.job();
    let _lic = job.checkout("f1", "1.0", 1).expect("checkout");
    let c = &checkouts(&s.vendor.messages())[0].1;
    assert!(!c.queue);
    assert_eq!(c.borrow_until, 0);
    assert!(!s.store_path().exists(), "nothing recorded");
}

fn heartbeats(log: &[(usize, Message)]) -> Vec<bool> {
    log.iter()
        .filter_map(|(_, m)| match m {
            Message::Heartbeat(h) => Some(h.idle),
            _ => None,
        })
        .collect()
}

#[test]
fn idle_changes_are_sent_at_once_and_heartbeats_carry_them() {
    // A minute between heartbeats: any heartbeat seen here was sent
    // because the idle state changed.
    let s = Setup::new(60_000);
    let job = s.job();
    let _lic = job.checkout("f1", "1.0", 1).expect("checkout");
    assert!(!job.is_idle());
    job.set_idle(false);
    job.set_idle(true);
    assert!(job.is_idle());
    assert!(s.vendor.wait_until(|log| heartbeats(log) == [true]));
    job.set_idle(true);
    job.set_idle(false);
    assert!(s.vendor.wait_until(|log| heartbeats(log) == [true, false]));
}

#[test]
fn idle_heartbeats_keep_coming_at_the_interval() {
    let s = Setup::new(20);
    let job = s.job();
    job.set_idle(true);
    let _lic = job.checkout("f1", "1.0", 1).expect("checkout");
    assert!(s
        .vendor
        .wait_until(|log| heartbeats(log).iter().filter(|idle| **idle).count() >= 3));
    assert!(heartbeats(&s.vendor.messages()).iter().all(|idle| *idle));
}

fn tomorrow_setting(vendor: &str) -> (String, u64) {
    let now = borrow::now_unix();
    let day = grammar::Date::from_days_since_epoch((now / 86_400) as i64 + 2);
    let end = borrow::local_unix(day, 18, 30).expect("mktime");
    (format!("1-jan-2020:{vendor}:{day}:18:30"), end)
}

#[test]
fn lm_borrow_asks_to_borrow_and_the_borrow_works_offline() {
    let s = Setup::new(60_000);
    let (setting, end) = tomorrow_setting("demo");
    let job = s.borrowing_job(setting);
    let lic = job.checkout("f1", "1.0", 1).expect("borrow");
    assert_eq!(lic.borrowed_until(), Some(end));
    assert!(!lic.is_local());
    let c = &checkouts(&s.vendor.messages())[0].1;
    assert_eq!(c.borrow_until, end);
    let store = BorrowStore::at(s.store_path());
    let records = store.list().expect("store");
    assert_eq!(
        records,
        [BorrowRecord {
            vendor: "demo".into(),
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            borrowed_at: records[0].borrowed_at,
            until: end,
            server: s.entry(),
            handle: 100,
            seal: records[0].seal.clone(),
            secret: records[0].secret.clone(),
        }]
    );
    // The record keeps the secret; the checkout carried only its hash.
    assert_eq!(records[0].secret.len(), 32);
    assert_eq!(
        c.return_hash.0,
        wire::borrow_key::return_hash(&records[0].secret)
    );
    job.checkin(&lic).expect("detach");
    drop(job);

    // The servers go away; the borrow is still good on this machine.
    let Setup { vendor, lmgrd, dir } = s;
    let entry = format!("{}@localhost", lmgrd.port());
    drop((vendor, lmgrd));
    let offline = Job::with_config(
        &Publisher::demo(),
        config(&entry, &dir.path().join("borrows")),
    );
    let lic = offline.checkout("f1", "1.0", 1).expect("from the borrow");
    assert!(lic.is_local());
    assert_eq!(lic.borrowed_until(), Some(end));
    assert_eq!(lic.source(), entry);
    offline.checkin(&lic).expect("nothing to do");
    // Unless borrowing is left out of it.
    let no_borrow = CheckoutOptions {
        borrow: Borrow::No,
        ..CheckoutOptions::default()
    };
    let e = offline
        .checkout_with("f1", "1.0", 1, &no_borrow)
        .expect_err("the server is gone");
    assert_eq!(e.code, lmerr::LM_CANTCONNECT);
    // A newer version than was borrowed needs the server.
    let e = offline.checkout("f1", "2.0", 1).expect_err("not borrowed");
    assert_eq!(e.code, lmerr::LM_CANTCONNECT);
    // So does a feature that was not borrowed.
    assert!(offline.checkout("f2", "1.0", 1).is_err());
}

#[test]
fn an_edited_borrow_record_is_not_honoured() {
    let s = Setup::new(60_000);
    let (setting, end) = tomorrow_setting("demo");
    let job = s.borrowing_job(setting);
    let lic = job.checkout("f1", "1.0", 1).expect("borrow");
    job.checkin(&lic).expect("detach");
    drop(job);
    let store = BorrowStore::at(s.store_path());
    let genuine = store.list().expect("store").remove(0);
    assert_eq!(genuine.seal.len(), 64, "the daemon sealed the borrow");
    let Setup { vendor, lmgrd, dir } = s;
    let entry = format!("{}@localhost", lmgrd.port());
    drop((vendor, lmgrd));
    let offline = || {
        Job::with_config(
            &Publisher::demo(),
            config(&entry, &dir.path().join("borrows")),
        )
    };
    assert!(offline()
        .checkout("f1", "1.0", 1)
        .expect("genuine")
        .is_local());

    // Each edit breaks the seal: a later end, more seats, another version,
    // no seal at all.
    let edits: [fn(&mut BorrowRecord); 4] = [
        |r| r.until += 30 * 86_400,
        |r| r.count = 5,
        |r| r.version = "9.0".into(),
        |r| r.seal.clear(),
    ];
    for edit in edits {
        let mut forged = genuine.clone();
        edit(&mut forged);
        store.put(&forged).expect("put");
        let e = offline()
            .checkout("f1", "1.0", 1)
            .expect_err("an edited record is refused");
        assert_eq!(e.code, lmerr::LM_BADCODE, "{}", e.long_form());
        assert!(e.long_form().contains("borrow record"), "{}", e.long_form());
    }
    // Put back as it was, the record works again.
    store.put(&genuine).expect("put");
    assert!(offline()
        .checkout("f1", "1.0", 1)
        .expect("genuine")
        .is_local());
    assert!(end > borrow::now_unix());
}

#[test]
fn a_grant_with_no_line_signed_by_the_publisher_is_refused_and_given_back() {
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.unsigned_grants = true);
    let job = s.job();
    let e = job.checkout("f1", "1.0", 1).expect_err("unbacked grant");
    assert_eq!(e.code, lmerr::LM_BADCODE, "{}", e.long_form());
    assert!(
        e.long_form().contains("no signed license line"),
        "{}",
        e.long_form()
    );
    assert!(
        s.vendor
            .wait_until(|log| log.iter().any(|(_, m)| matches!(m, Message::Checkin(_)))),
        "the seat is given back"
    );
    // A grant the demo publisher's key backs is taken.
    s.vendor.with(|v| v.unsigned_grants = false);
    job.checkout("f1", "1.0", 1).expect("signed grant");
}

#[test]
fn a_grant_backed_by_another_publishers_line_is_refused() {
    let s = Setup::new(60_000);
    // An application of another publisher (its own key) talking to the
    // demo daemon: the demo-signed line does not back it.
    let (other, _, public) = grammar::signature::key_pair_from_seed(&rand::random()).expect("key");
    drop(other);
    let acme = Publisher::from_pem("demo", &public, None).expect("keys");
    let job = Job::with_config(&acme, s.config());
    let e = job.checkout("f1", "1.0", 1).expect_err("not our publisher");
    assert_eq!(e.code, lmerr::LM_BADCODE, "{}", e.long_form());
    assert!(
        e.long_form().contains("does not trust"),
        "{}",
        e.long_form()
    );
}

#[test]
fn lm_borrow_for_another_vendor_or_over_does_not_borrow() {
    let s = Setup::new(60_000);
    for setting in [
        tomorrow_setting("acme").0,
        "1-jan-2020:demo:2-jan-2020".to_string(),
    ] {
        let job = Job::with_config(
            &Publisher::demo(),
            JobConfig {
                lm_borrow: Some(setting.clone()),
                ..s.config()
            },
        );
        let lic = job.checkout("f1", "1.0", 1).expect("checkout");
        assert_eq!(lic.borrowed_until(), None, "{setting}");
    }
    assert!(checkouts(&s.vendor.messages())
        .iter()
        .all(|(_, c)| c.borrow_until == 0));
    assert!(!s.store_path().exists());
}

#[test]
fn a_bad_lm_borrow_fails_the_checkout_naming_the_setting() {
    let s = Setup::new(60_000);
    let job = Job::with_config(
        &Publisher::demo(),
        JobConfig {
            lm_borrow: Some("tomorrow:demo".into()),
            ..s.config()
        },
    );
    let e = job.checkout("f1", "1.0", 1).expect_err("bad setting");
    assert_eq!(e.code, lmerr::LM_BADPARAM);
    assert!(
        e.detail.contains("LM_BORROW") && e.detail.contains("`tomorrow:demo`"),
        "{}",
        e.detail
    );
    assert!(checkouts(&s.vendor.messages()).is_empty());
}

#[test]
fn a_feature_name_the_server_would_refuse_is_refused_here() {
    let s = Setup::new(60_000);
    let job = s.job();
    let e = job.checkout("f1\n", "1.0", 1).expect_err("a line break");
    assert_eq!(e.code, lmerr::LM_BADPARAM);
    assert!(e.detail.contains("U+000A"), "{}", e.detail);
    assert!(checkouts(&s.vendor.messages()).is_empty());
}

#[test]
fn an_explicit_borrow_end_in_the_past_is_refused() {
    let s = Setup::new(60_000);
    let job = s.job();
    let options = CheckoutOptions {
        borrow: Borrow::Until(1),
        ..CheckoutOptions::default()
    };
    let e = job
        .checkout_with("f1", "1.0", 1, &options)
        .expect_err("past");
    assert_eq!(e.code, lmerr::LM_BADPARAM);
}

#[test]
fn expired_borrow_records_are_ignored_and_purged() {
    let s = Setup::new(60_000);
    let store = BorrowStore::at(s.store_path());
    store
        .put(&BorrowRecord {
            vendor: "demo".into(),
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            borrowed_at: 1,
            until: 2,
            server: s.entry(),
            handle: 9,
            seal: Vec::new(),
            secret: Vec::new(),
        })
        .expect("put");
    let job = s.job();
    let lic = job.checkout("f1", "1.0", 1).expect("from the server");
    assert!(!lic.is_local());
    assert!(store.list().expect("list").is_empty(), "purged");
}

#[test]
fn a_borrowed_seat_is_not_checked_out_again_after_a_reconnect() {
    let s = Setup::new(50);
    s.vendor.with(|v| v.return_held = false);
    let job = s.job();
    let options = CheckoutOptions {
        borrow: Borrow::Until(borrow::now_unix() + 3600),
        ..CheckoutOptions::default()
    };
    let borrowed = job
        .checkout_with("f1", "1.0", 1, &options)
        .expect("borrow")
        .granted()
        .expect("granted");
    let _plain = job.checkout("f2", "1.0", 1).expect("f2");
    s.vendor.drop_connections();
    assert!(s.vendor.wait_until(|log| hello_jobs(log).len() >= 2));
    assert!(s.vendor.wait_until(|log| checkouts(log)
        .iter()
        .filter(|(_, c)| c.feature == "f2")
        .count()
        == 2));
    let f1: Vec<_> = checkouts(&s.vendor.messages())
        .into_iter()
        .filter(|(_, c)| c.feature == "f1")
        .collect();
    assert_eq!(f1.len(), 1, "the borrow holds f1: {f1:?}");
    assert!(borrowed.status().is_ok());
}

#[test]
fn return_borrow_asks_the_lending_server_and_forgets_the_record() {
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.borrowed = vec!["f1".into()]);
    let store = BorrowStore::at(s.store_path());
    store
        .put(&BorrowRecord {
            vendor: "demo".into(),
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            borrowed_at: 1,
            until: borrow::now_unix() + 3600,
            server: s.entry(),
            handle: 9,
            seal: Vec::new(),
            secret: vec![6; 32],
        })
        .expect("put");
    // The record names the server: the job's own path is not needed.
    let job = Job::with_config(
        &Publisher::demo(),
        JobConfig {
            display: Some("ws9:0".into()),
            ..config("1@nowhere.invalid", &s.store_path())
        },
    );
    job.return_borrow("f1").expect("returned");
    assert!(store.list().expect("list").is_empty());
    let log = s.vendor.messages();
    assert!(log.iter().any(
        |(_, m)| matches!(m, Message::ReturnBorrow(r) if r.feature == "f1" && r.secret.0 == [6; 32])
    ));
    assert!(log
        .iter()
        .any(|(_, m)| matches!(m, Message::Hello(h) if h.identity.display == "ws9:0")));

    // Nothing left to return: the server says so.
    let job = s.job();
    let e = job.return_borrow("f1").expect_err("already returned");
    assert_eq!(e.code, lmerr::LM_UNBORROWED_ALREADY);
    assert_eq!(e.feature, "f1");
}

// ---------------------------------------------------------------------------
// lmflex

fn lmflex(args: &[&str], store: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lmflex"));
    cmd.args(args)
        .env_remove("LM_LICENSE_FILE")
        .env_remove("DEMO_LICENSE_FILE")
        .env_remove("LM_BORROW")
        .env("HOME", "/nonexistent")
        .env("LM_BORROW_STORE", store);
    cmd
}

#[test]
fn lmflex_queues_then_gets_the_license() {
    use std::io::BufRead;
    let s = Setup::new(60_000);
    s.vendor.with(|v| v.queue_all = true);
    let entry = s.entry();
    let mut child = lmflex(
        &["f1", "-c", &entry, "--queue", "--hold", "0"],
        &s.store_path(),
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .expect("start lmflex");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    assert_eq!(lines.next().expect("a line").expect("read"), "QUEUED f1");
    let (conn, req) = s.queued_checkout("f1");
    s.grant(conn, req, "f1", 300);
    let rest: Vec<String> = lines.map(|l| l.expect("read")).collect();
    assert_eq!(
        rest,
        [
            "Checkout succeeded: f1 (1 license, version 1.0)",
            "Checked in f1"
        ]
    );
    assert!(child.wait().expect("wait").success());
}

#[test]
fn lmflex_borrows_then_returns() {
    let s = Setup::new(60_000);
    let entry = s.entry();
    let day = grammar::Date::from_days_since_epoch((borrow::now_unix() / 86_400) as i64 + 2);
    let until = format!("{day}:18:30");
    let out = lmflex(
        &["f1", "-c", &entry, "--borrow-until", &until, "--hold", "0"],
        &s.store_path(),
    )
    .output()
    .expect("run lmflex");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Checkout succeeded: f1 (1 license, version 1.0)\nBORROWED f1 until {until}\nChecked in f1\n"
        )
    );
    // Offline now: the path names a server that is not there.
    let out = lmflex(
        &["f1", "-c", "1@nowhere.invalid", "--hold", "0"],
        &s.store_path(),
    )
    .output()
    .expect("run lmflex");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("BORROWED f1 until {until} (local)\n")));

    s.vendor.with(|v| v.borrowed = vec!["f1".into()]);
    let out = lmflex(&["--return", "f1"], &s.store_path())
        .output()
        .expect("run lmflex");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "RETURNED f1\n");
    assert!(BorrowStore::at(s.store_path())
        .list()
        .expect("list")
        .is_empty());
    let out = lmflex(&["--return", "f1", "-c", &entry], &s.store_path())
        .output()
        .expect("run lmflex");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error:-105,"),
        "{out:?}"
    );
}
