//! `lmutil lmreport` on report logs written here with the `reportlog`
//! crate, as a vendor daemon writes them. Times are read in UTC (`TZ=UTC`)
//! so the days and hours are the same on every machine.

mod support;

use reportlog::{Kind, Record, ReportLog};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use support::{bin_lmutil, stderr, stdout, tempdir};

/// 2026-01-05 00:00:00 UTC, a Monday.
const MON: u64 = 1_767_571_200;
const H: u64 = 3600;

fn run(args: &[&str]) -> Output {
    run_program(&bin_lmutil(), args)
}

fn run_program(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("lmutil runs")
}

fn rec(time: u64, kind: Kind, feature: &str, user: &str, handle: u64) -> Record {
    let mut r = Record::new(time, kind, feature);
    r.user = user.into();
    r.host = "ws1".into();
    r.display = "/dev/pts/1".into();
    r.version = "1.0".into();
    r.handle = handle;
    r.count = 1;
    r.issued = 2;
    r
}

/// Monday: joe and ann fill f1's two seats, bob is refused (-4); f2 is used
/// by cy. Tuesday: ann checks in, joe uses f1 for an hour.
fn write_log(dir: &Path) -> PathBuf {
    let path = dir.join("demo.rl");
    let mut log = ReportLog::open(&path, false).expect("log opens");
    let mut denied = rec(MON + 10 * H, Kind::Denied, "f1", "bob", 0);
    denied.error = -4;
    denied.count = 1;
    let mut f2 = rec(MON + 9 * H, Kind::Checkout, "f2", "cy", 3);
    f2.issued = 10;
    let mut f2_in = rec(MON + 12 * H, Kind::Checkin, "f2", "cy", 3);
    f2_in.issued = 10;
    // Two batches, as two turns of the daemon's event loop.
    log.append(&[
        Record::marker(MON + 8 * H, Kind::Start),
        rec(MON + 9 * H, Kind::Checkout, "f1", "joe", 1),
        f2,
        rec(MON + 9 * H + 1800, Kind::Checkout, "f1", "ann", 2),
        denied,
    ])
    .expect("append");
    log.append(&[
        rec(MON + 11 * H, Kind::Checkin, "f1", "joe", 1),
        f2_in,
        rec(MON + 33 * H, Kind::Checkin, "f1", "ann", 2),
        rec(MON + 34 * H, Kind::Checkout, "f1", "joe", 4),
        rec(MON + 35 * H, Kind::Checkin, "f1", "joe", 4),
        Record::marker(MON + 36 * H, Kind::Stop),
    ])
    .expect("append");
    path
}

#[test]
fn the_default_report_is_a_table_per_feature_with_peaks_and_hints() {
    let dir = tempdir("lmreport-table");
    let log = write_log(&dir);
    let out = run(&["lmreport", "-f", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let want = format!(
        "\
Report log: {}
11 records from Mon 1/5/2026 8:00 to Tue 1/6/2026 12:00

Feature f1 (2 licenses issued)
  Day          Checkouts  Users  Seat-hours  Peak  Denials  Queued
  5-jan-2026           2      2        16.5     2        1       0
  6-jan-2026           1      1        10.0     1        0       0
  Total                3      2        26.5     2        1       0

Feature f2 (10 licenses issued)
  Day          Checkouts  Users  Seat-hours  Peak  Denials  Queued
  5-jan-2026           1      1         3.0     1        0       0

Peak concurrent use
  f1  2 of 2 seats, first at Mon 1/5/2026 9:30, for 1.5 hours in all; all seats in use 1.5 hours
  f2  1 of 10 seats, first at Mon 1/5/2026 9:00, for 3.0 hours in all; all seats in use 0.0 hours

Hints
  f1: reached its full count (2) for 1.5 hours and had 1 denial (-4 x1): mostly at capacity: consider more seats
",
        log.display()
    );
    assert_eq!(text, want, "\n--- got ---\n{text}\n--- want ---\n{want}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn feature_and_date_filters() {
    let dir = tempdir("lmreport-filter");
    let log = write_log(&dir);
    let log = log.to_str().unwrap();
    let out = run(&[
        "lmreport",
        "-f",
        log,
        "-feature",
        "f1",
        "-from",
        "6-jan-2026",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("Feature f2"), "{text}");
    assert!(!text.contains("5-jan-2026"), "{text}");
    // Ann's seat carried over from Monday counts on Tuesday: 9 h + joe's 1 h.
    assert!(
        text.contains("  6-jan-2026           1      1        10.0     1        0       0\n"),
        "{text}"
    );
    assert!(!text.contains("Hints"), "{text}");
    let out = run(&["lmreport", "-f", log, "--to", "4-jan-2026"]);
    assert!(stdout(&out).contains("No license use in the selected period."));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_summary() {
    let dir = tempdir("lmreport-json");
    let log = write_log(&dir);
    let out = run(&["lmreport", "-json", "-f", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["records"], 11);
    let f1 = &v["features"][0];
    assert_eq!(f1["feature"], "f1");
    assert_eq!(f1["peak"]["seats"], 2);
    assert_eq!(f1["peak"]["at"], MON + 9 * H + 1800);
    assert_eq!(f1["seat_seconds"], 26 * H + 1800);
    assert_eq!(f1["denials"]["-4"], 1);
    assert_eq!(f1["days"][1]["date"], "2026-01-06");
    assert_eq!(v["features"][1]["issued"], 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_dumps_the_records() {
    let dir = tempdir("lmreport-csv");
    let log = write_log(&dir);
    let out = run(&[
        "lmreport",
        "--csv",
        "-f",
        log.to_str().unwrap(),
        "-feature",
        "f2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "seq,time,local_time,kind,feature,version,user,host,display,project,count,issued,handle,error",
            "0,1767600000,2026-01-05 08:00:00,start,,,,,,,0,0,0,0",
            "2,1767603600,2026-01-05 09:00:00,checkout,f2,1.0,cy,ws1,/dev/pts/1,,1,10,3,0",
            "6,1767614400,2026-01-05 12:00:00,checkin,f2,1.0,cy,ws1,/dev/pts/1,,1,10,3,0",
            "10,1767700800,2026-01-06 12:00:00,stop,,,,,,,0,0,0,0",
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_name_the_file_and_the_way_out() {
    let dir = tempdir("lmreport-errors");
    let missing = dir.join("missing.rl");
    let out = run(&["lmreport", "-f", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.rl"), "{}", stderr(&out));
    assert!(!missing.exists());

    // A log the vendor daemon has open cannot be read; the message says
    // how to get at its contents.
    let live = dir.join("live.rl");
    let _daemon = ReportLog::open(&live, true).expect("log opens");
    let out = run(&["lmreport", "-f", live.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("live.rl") && err.contains("lmnewlog"), "{err}");

    let out = run(&["lmreport", "-f", "x.rl", "-from", "someday"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .starts_with("lmreport: -from: `someday` is not a date (dd-mon-yyyy)\nusage: lmreport"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_by_argument_and_by_link() {
    let out = run(&["lmreport", "-help"]);
    assert!(out.status.success());
    // The banner every tool prints, then the usage.
    assert!(
        stdout(&out).contains("\nusage: lmreport -f report_log"),
        "{}",
        stdout(&out)
    );
    let dir = tempdir("lmreport-link");
    let link = dir.join("lmreport");
    std::os::unix::fs::symlink(bin_lmutil(), &link).unwrap();
    let log = write_log(&dir);
    let out = run_program(&link, &["-f", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Peak concurrent use"));
    let _ = std::fs::remove_dir_all(&dir);
}
