//! What `lmreport` prints: the summary as a table or as JSON, and raw
//! records as CSV. Pure functions of their arguments; the calendar says
//! which time zone times are shown in.

use crate::calendar::Calendar;
use crate::record::Record;
use crate::summary::{DenialCause, FeatureSummary, Summary};
use serde::Serialize;
use std::fmt::Write as _;

/// The hint printed for a feature that looks short of seats.
pub const CAPACITY_HINT: &str = "mostly at capacity: consider more seats";

/// The hint printed for a feature whose users the options file refused.
pub const POLICY_HINT: &str =
    "refused by the options file (EXCLUDE, INCLUDE, MAX, RESERVE): review those rules; more seats would not help";

fn hours(secs: u64) -> String {
    format!("{:.1}", secs as f64 / 3600.0)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The summary as plain text: per feature a table by day, then the peak
/// concurrent use of each feature, then hints. `log` names the file read.
pub fn text(summary: &Summary, cal: &dyn Calendar, log: &str) -> String {
    let mut out = format!("Report log: {log}\n");
    match (summary.first, summary.last) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                out,
                "{} from {} to {}",
                plural(summary.records, "record", "records"),
                cal.civil(first).long(),
                cal.civil(last).long()
            );
        }
        _ => out.push_str("0 records\n"),
    }
    if summary.features.is_empty() {
        out.push_str("\nNo license use in the selected period.\n");
        return out;
    }
    for f in &summary.features {
        feature_table(&mut out, f);
    }
    out.push_str("\nPeak concurrent use\n");
    let width = summary
        .features
        .iter()
        .map(|f| f.feature.len())
        .max()
        .unwrap_or(0);
    for f in &summary.features {
        let _ = writeln!(out, "  {:<width$}  {}", f.feature, peak_line(f, cal));
    }
    let hints: Vec<String> = summary.features.iter().flat_map(hints).collect();
    if !hints.is_empty() {
        out.push_str("\nHints\n");
        for h in hints {
            let _ = writeln!(out, "  {h}");
        }
    }
    out
}

fn feature_table(out: &mut String, f: &FeatureSummary) {
    let issued = match f.issued {
        0 => String::new(),
        n => format!(
            " ({})",
            plural(u64::from(n), "license issued", "licenses issued")
        ),
    };
    let _ = writeln!(out, "\nFeature {}{issued}", f.feature);
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>6} {:>11} {:>5} {:>8} {:>7}",
        "Day", "Checkouts", "Users", "Seat-hours", "Peak", "Denials", "Queued"
    );
    for d in &f.days {
        let day = d.date.map_or_else(String::new, |d| d.to_string());
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>6} {:>11} {:>5} {:>8} {:>7}",
            day,
            d.checkouts,
            d.users,
            hours(d.seat_seconds),
            d.peak,
            d.denied(),
            d.queued
        );
    }
    if f.days.len() > 1 {
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>6} {:>11} {:>5} {:>8} {:>7}",
            "Total",
            f.checkouts,
            f.users,
            hours(f.seat_seconds),
            f.peak.seats,
            f.denied(),
            f.queued
        );
    }
}

/// `2 of 2 seats, first at Mon 1/5/2026 9:00, for 2.0 hours in all; all
/// seats in use 3.0 hours`.
fn peak_line(f: &FeatureSummary, cal: &dyn Calendar) -> String {
    let seats = match f.issued {
        0 => plural(f.peak.seats, "seat", "seats"),
        n => format!(
            "{} of {n} {}",
            f.peak.seats,
            if n == 1 { "seat" } else { "seats" }
        ),
    };
    let mut line = match f.peak.at {
        Some(at) if f.peak.seats > 0 => format!(
            "{seats}, first at {}, for {} hours in all",
            cal.civil(at).long(),
            hours(f.peak.seconds)
        ),
        _ => format!("{seats} (no seat in use)"),
    };
    if f.issued > 0 {
        let _ = write!(line, "; all seats in use {} hours", hours(f.full_seconds));
    }
    line
}

/// What the numbers of `f` suggest, one line per cause: seats that ran
/// out (consider more), and refusals by the options file (more seats
/// would not help: its rules would).
pub fn hints(f: &FeatureSummary) -> Vec<String> {
    let mut out = Vec::new();
    if f.is_at_capacity() {
        let mut why = Vec::new();
        if f.issued > 0 && f.peak.seats >= u64::from(f.issued) {
            why.push(format!(
                "reached its full count ({}) for {} hours",
                f.issued,
                hours(f.full_seconds)
            ));
        }
        if let Some(denials) = denial_counts(&f.denials_for(DenialCause::Capacity)) {
            why.push(format!("had {denials}"));
        }
        out.push(format!(
            "{}: {}: {CAPACITY_HINT}",
            f.feature,
            why.join(" and ")
        ));
    }
    if let Some(denials) = denial_counts(&f.denials_for(DenialCause::Policy)) {
        out.push(format!("{}: had {denials} {POLICY_HINT}", f.feature));
    }
    out
}

/// `2 denials (-38 x2)`, or `None` for none.
fn denial_counts(denials: &std::collections::BTreeMap<i32, u64>) -> Option<String> {
    let total: u64 = denials.values().sum();
    if total == 0 {
        return None;
    }
    let codes: Vec<String> = denials
        .iter()
        .map(|(code, n)| format!("{code} x{n}"))
        .collect();
    Some(format!(
        "{} ({})",
        plural(total, "denial", "denials"),
        codes.join(", ")
    ))
}

/// The summary as JSON (pretty-printed), with the file read as `log`.
pub fn json(summary: &Summary, log: &str) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct Report<'a> {
        log: &'a str,
        #[serde(flatten)]
        summary: &'a Summary,
    }
    serde_json::to_string_pretty(&Report { log, summary })
}

/// The CSV header line, matching [`csv_row`].
pub const CSV_HEADER: &str =
    "seq,time,local_time,kind,feature,version,user,host,display,project,count,issued,handle,error";

/// One record as a CSV line (RFC 4180 quoting), without the line end.
pub fn csv_row(seq: u64, r: &Record, cal: &dyn Calendar) -> String {
    let mut line = format!(
        "{seq},{},{},{}",
        r.time,
        cal.civil(r.time).iso(),
        r.kind.name()
    );
    for s in [
        &r.feature, &r.version, &r.user, &r.host, &r.display, &r.project,
    ] {
        line.push(',');
        line.push_str(&csv_field(s));
    }
    let _ = write!(line, ",{},{},{},{}", r.count, r.issued, r.handle, r.error);
    line
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Utc;
    use crate::record::Kind;
    use crate::summary::{summarize, Filter};

    const MON: u64 = 1_767_571_200;
    const H: u64 = 3600;

    fn out(time: u64, user: &str, handle: u64) -> Record {
        let mut r = Record::new(time, Kind::Checkout, "f1");
        r.user = user.into();
        r.handle = handle;
        r.count = 1;
        r.issued = 2;
        r
    }

    fn back(time: u64, handle: u64) -> Record {
        let mut r = Record::new(time, Kind::Checkin, "f1");
        r.handle = handle;
        r
    }

    fn sample() -> Vec<Record> {
        let mut d = Record::new(MON + 10 * H, Kind::Denied, "f1");
        d.user = "bob".into();
        d.error = -4;
        let mut g = Record::new(MON + 9 * H, Kind::Checkout, "gamma");
        g.user = "cy".into();
        g.handle = 9;
        g.count = 1;
        vec![
            out(MON + 9 * H, "joe", 1),
            g,
            out(MON + 9 * H + 1800, "ann", 2),
            d,
            back(MON + 11 * H, 1),
            back(MON + 11 * H + 1800, 9),
            back(MON + 24 * H + 9 * H, 2),
        ]
    }

    #[test]
    fn the_table() {
        let records = sample();
        let s = summarize(&records, &Utc, &Filter::default());
        let got = text(&s, &Utc, "demo.rl");
        let want = "\
Report log: demo.rl
7 records from Mon 1/5/2026 9:00 to Tue 1/6/2026 9:00

Feature f1 (2 licenses issued)
  Day          Checkouts  Users  Seat-hours  Peak  Denials  Queued
  5-jan-2026           2      2        16.5     2        1       0
  6-jan-2026           0      0         9.0     1        0       0
  Total                2      2        25.5     2        1       0

Feature gamma
  Day          Checkouts  Users  Seat-hours  Peak  Denials  Queued
  5-jan-2026           1      1         2.5     1        0       0

Peak concurrent use
  f1     2 of 2 seats, first at Mon 1/5/2026 9:30, for 1.5 hours in all; all seats in use 1.5 hours
  gamma  1 seat, first at Mon 1/5/2026 9:00, for 2.5 hours in all

Hints
  f1: reached its full count (2) for 1.5 hours and had 1 denial (-4 x1): mostly at capacity: consider more seats
";
        assert_eq!(got, want, "\n--- got ---\n{got}\n--- want ---\n{want}");
    }

    #[test]
    fn an_empty_period() {
        let s = summarize(&[], &Utc, &Filter::default());
        assert_eq!(
            text(&s, &Utc, "x.rl"),
            "Report log: x.rl\n0 records\n\nNo license use in the selected period.\n"
        );
    }

    #[test]
    fn hints_name_the_reason() {
        let mut f = FeatureSummary {
            feature: "f1".into(),
            issued: 4,
            ..FeatureSummary::default()
        };
        f.peak.seats = 3;
        assert!(hints(&f).is_empty());
        f.denials.insert(-4, 1);
        assert_eq!(
            hints(&f),
            ["f1: had 1 denial (-4 x1): mostly at capacity: consider more seats"]
        );
        f.denials.clear();
        f.peak.seats = 4;
        f.full_seconds = 5400;
        assert_eq!(
            hints(&f),
            ["f1: reached its full count (4) for 1.5 hours: mostly at capacity: consider more seats"]
        );
    }

    #[test]
    fn options_file_refusals_do_not_ask_for_seats() {
        let mut f = FeatureSummary {
            feature: "f1".into(),
            issued: 4,
            ..FeatureSummary::default()
        };
        f.peak.seats = 2;
        f.denials.insert(-38, 2);
        f.denials.insert(-101, 1);
        assert_eq!(
            hints(&f),
            ["f1: had 3 denials (-101 x1, -38 x2) refused by the options file (EXCLUDE, INCLUDE, MAX, RESERVE): \
              review those rules; more seats would not help"]
        );
        // Both at once: two lines, each with its own denials.
        f.denials.insert(-4, 5);
        let h = hints(&f);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(
            h[0],
            "f1: had 5 denials (-4 x5): mostly at capacity: consider more seats"
        );
        assert!(h[1].starts_with("f1: had 3 denials (-101 x1, -38 x2) refused by"));
        // Other refusals (a wrong host) suggest neither.
        let mut g = FeatureSummary {
            feature: "g".into(),
            ..FeatureSummary::default()
        };
        g.denials.insert(-9, 3);
        assert!(hints(&g).is_empty());
    }

    #[test]
    fn json_carries_the_numbers() {
        let records = sample();
        let s = summarize(&records, &Utc, &Filter::default());
        let v: serde_json::Value = serde_json::from_str(&json(&s, "demo.rl").unwrap()).unwrap();
        assert_eq!(v["log"], "demo.rl");
        assert_eq!(v["records"], 7);
        let f1 = &v["features"][0];
        assert_eq!(f1["feature"], "f1");
        assert_eq!(f1["issued"], 2);
        assert_eq!(f1["peak"]["seats"], 2);
        assert_eq!(f1["peak"]["at"], MON + 9 * H + 1800);
        assert_eq!(f1["seat_seconds"], 25 * H + 1800);
        assert_eq!(f1["denials"]["-4"], 1);
        assert_eq!(f1["days"][0]["date"], "2026-01-05");
        assert_eq!(f1["days"][1]["seat_seconds"], 9 * H);
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            CSV_HEADER.split(',').count(),
            csv_row(0, &Record::marker(0, Kind::Start), &Utc)
                .split(',')
                .count()
        );
        let mut r = out(MON, "o\"hara", 3);
        r.display = "host:0,1".into();
        r.version = "1.0".into();
        assert_eq!(
            csv_row(12, &r, &Utc),
            "12,1767571200,2026-01-05 00:00:00,checkout,f1,1.0,\"o\"\"hara\",,\"host:0,1\",,1,2,3,0"
        );
    }
}
