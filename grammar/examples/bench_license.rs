//! Times the license-file front end on a large generated file.
//!
//! ```text
//! cargo run --release -p grammar --example bench_license -- [lines] [runs] [phases]
//! ```
//!
//! Builds, in memory, a license file of `lines` license lines (default
//! 100000): one SERVER line, one VENDOR line and a mix of FEATURE and
//! INCREMENT lines (counted and uncounted, node-locked and floating, with
//! VENDOR_STRING=, ISSUED=, START=, NOTICE=, SN=, DUP_GROUP=, some wrapped
//! with backslash continuations), every one signed with a freshly generated
//! Ed25519 key. Then it times, as the median of `runs` runs (default 3):
//!
//! - parse + model: `parse_license` and `pool::build_pools`;
//! - verification: `signature::verify_file`;
//! - the whole `check::check`;
//!
//! and checks that every signed line verifies. `phases` (for profiling)
//! limits the run to some of `parse,pools,verify,check`.

use grammar::check::check;
use grammar::pool::build_pools;
use grammar::signature::{
    content_with_servers, key_pair_from_seed, sign_content, verify_file, KeyRing, SignatureStatus,
};
use grammar::source::logical_lines;
use grammar::{parse_license, Date, EntryKind};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const VENDOR: &str = "demo";

/// A small deterministic generator, so every run times the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn date(rng: &mut Rng, from_year: u64, years: u64) -> String {
    format!(
        "{}-{}-{}",
        1 + rng.below(28),
        MONTHS[rng.below(12) as usize],
        from_year + rng.below(years)
    )
}

/// One license line as physical pieces (joined later with `\` + newline),
/// without its SIGN=.
fn feature_line(rng: &mut Rng, i: usize, features: usize) -> Vec<String> {
    let feature = format!("feat{:05}", i % features);
    // The first line of each feature is a FEATURE line, later ones INCREMENT.
    let keyword = if i < features { "FEATURE" } else { "INCREMENT" };
    let version = format!("{}.{}", 1 + rng.below(12), rng.below(10));
    let expiry = if rng.below(4) == 0 {
        "permanent".to_string()
    } else {
        date(rng, 2026, 10)
    };
    let uncounted = rng.below(5) == 0;
    let count = if uncounted {
        "uncounted".to_string()
    } else {
        (1 + rng.below(500)).to_string()
    };
    let mut head = format!("{keyword} {feature} {VENDOR} {version} {expiry} {count}");
    let mut attrs: Vec<String> = Vec::new();
    if uncounted || rng.below(3) == 0 {
        let hostid = match rng.below(4) {
            0 => format!("{:012x}", rng.next() & 0xffff_ffff_ffff),
            1 => format!("\"{:012x} {:012x}\"", rng.next() >> 16, rng.next() >> 16),
            2 => format!("INTERNET=10.{}.{}.*", rng.below(256), rng.below(256)),
            _ => "ANY".to_string(),
        };
        attrs.push(format!("HOSTID={hostid}"));
    }
    if rng.below(2) == 0 {
        attrs.push(format!(
            "VENDOR_STRING=\"{}\"",
            rng.pick(&["site=A", "edition pro", "seat:named", "lab use only"])
        ));
    }
    attrs.push(format!("ISSUED={}", date(rng, 2020, 6)));
    if rng.below(4) == 0 {
        attrs.push(format!("START={}", date(rng, 2019, 2)));
    }
    if rng.below(3) == 0 {
        attrs.push(format!(
            "NOTICE=\"Licensed to {} - contract {}\"",
            rng.pick(&[
                "Example Corp",
                "ACME Research",
                "Initech GmbH",
                "Umbrella Ltd"
            ]),
            rng.below(1_000_000)
        ));
    }
    if rng.below(2) == 0 {
        attrs.push(format!("SN={}", rng.below(100_000_000)));
    }
    if !uncounted && rng.below(4) == 0 {
        attrs.push(format!("DUP_GROUP={}", rng.pick(&["UH", "U", "H", "UHD"])));
    }
    if rng.below(6) == 0 {
        attrs.push("TS_OK".to_string());
    }
    // About a third of the lines are wrapped.
    if rng.below(3) == 0 {
        let split = attrs.len() / 2;
        let mut pieces = vec![head];
        pieces.push(format!("\t{}", attrs[..split].join(" ")));
        pieces.push(format!("\t{}", attrs[split..].join(" ")));
        pieces
    } else {
        for a in &attrs {
            head.push(' ');
            head.push_str(a);
        }
        vec![head]
    }
}

fn render(entries: &[Vec<String>]) -> String {
    let mut out = String::new();
    for pieces in entries {
        let _ = writeln!(out, "{}", pieces.join(" \\\n"));
    }
    out
}

struct Generated {
    text: String,
    keys: KeyRing,
    signed: usize,
    physical_lines: usize,
}

fn generate(lines: usize) -> Generated {
    let (key, _, _) = key_pair_from_seed(&rand::random()).expect("key generation");
    let mut keys = KeyRing::new();
    keys.insert(VENDOR, key.verifying_key());

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let features = (lines / 8).max(1);
    let mut entries: Vec<Vec<String>> = vec![
        vec!["SERVER licsrv01 0019DBB1A2C3 27000".to_string()],
        vec![format!(
            "VENDOR {VENDOR} /opt/{VENDOR}/bin/{VENDOR} PORT=27001"
        )],
    ];
    for i in 0..lines.saturating_sub(2) {
        entries.push(feature_line(&mut rng, i, features));
    }

    // Sign from the parsed lines: what is signed is the parsed content,
    // which appending SIGN= leaves unchanged.
    let unsigned = parse_license("bench.lic", &render(&entries));
    assert!(
        !unsigned.has_errors(),
        "generated file has errors: {:?}",
        &unsigned.diagnostics[..unsigned.diagnostics.len().min(5)]
    );
    assert_eq!(unsigned.entries.len(), entries.len());
    let mut signed = 0;
    let servers = unsigned.server_hostids();
    for (pieces, entry) in entries.iter_mut().zip(&unsigned.entries) {
        if let Some(content) = content_with_servers(&unsigned, entry, &servers) {
            let (sign, _) = sign_content(&content, &key);
            let last = pieces.last_mut().expect("a line has a piece");
            let _ = write!(last, " SIGN={sign}");
            signed += 1;
        }
    }
    let physical_lines = entries.iter().map(Vec::len).sum();
    Generated {
        text: render(&entries),
        keys,
        signed,
        physical_lines,
    }
}

/// Median and fastest of a phase's runs.
#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    min: Duration,
}

impl std::ops::Add for Timing {
    type Output = Timing;
    fn add(self, o: Timing) -> Timing {
        Timing {
            median: self.median + o.median,
            min: self.min + o.min,
        }
    }
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Timing, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        samples.push(start.elapsed());
        last = Some(out);
    }
    samples.sort();
    let timing = Timing {
        median: samples[samples.len() / 2],
        min: samples[0],
    };
    (timing, last.expect("at least one run"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(label: &str, t: Timing, note: &str) {
    println!(
        "{label:<42}{:>10.1} ms {:>10.1} ms   {note}",
        ms(t.median),
        ms(t.min)
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lines: usize = args
        .next()
        .map(|a| a.parse().expect("lines must be a number"))
        .unwrap_or(100_000)
        .max(3);
    let runs: usize = args
        .next()
        .map(|a| a.parse().expect("runs must be a number"))
        .unwrap_or(3)
        .max(1);
    // Optional comma-separated subset of: parse,pools,model,verify,check
    // ("model" is phase (a) alone, for instruction counts under callgrind;
    // "none" runs no phase, the baseline to subtract).
    let only: Option<Vec<String>> = args
        .next()
        .map(|a| a.split(',').map(str::to_string).collect());
    let wanted = |phase: &str| only.as_ref().is_none_or(|o| o.iter().any(|p| p == phase));
    let today = Date::new(2026, 6, 1).expect("valid date");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let started = Instant::now();
    let g = generate(lines);
    println!(
        "generated {} license lines ({} physical lines, {:.1} MiB, {} signed) in {:.1} s",
        lines,
        g.physical_lines,
        g.text.len() as f64 / (1024.0 * 1024.0),
        g.signed,
        started.elapsed().as_secs_f64()
    );
    println!("{threads} hardware threads; median of {runs} runs\n");
    println!("{:<42}{:>13} {:>13}", "phase", "median", "min");

    let not_served = HashMap::new();
    let file = parse_license("bench.lic", &g.text);
    assert!(!file.has_errors(), "signed file has errors");
    assert_eq!(file.entries.len(), lines);

    let mut model = None;
    if wanted("parse") {
        let (t_lines, logical) = time(runs, || logical_lines(&g.text).len());
        assert_eq!(logical, lines);
        let (t_parse, _) = time(runs, || parse_license("bench.lic", &g.text));
        row("  source::logical_lines", t_lines, "");
        row("  parse_license", t_parse, "");
    }
    if wanted("pools") {
        let (t_pools, _) = time(runs, || build_pools(&file, &not_served, today));
        row("  pool::build_pools", t_pools, "");
    }
    if (wanted("parse") && wanted("pools")) || wanted("model") {
        let (t_model, _) = time(runs, || {
            let file = parse_license("bench.lic", &g.text);
            let pools = build_pools(&file, &not_served, today);
            (file.entries.len(), pools.pools.len())
        });
        row(
            "(a) parse + model",
            t_model,
            &format!(
                "target <= 150 ms: {}",
                verdict(t_model.median <= Duration::from_millis(150))
            ),
        );
        model = Some(t_model);
    }

    if wanted("verify") {
        let (t_verify, statuses) = time(runs, || verify_file(&file, &g.keys));
        let verified = statuses
            .iter()
            .flatten()
            .filter(|s| **s == SignatureStatus::Valid)
            .count();
        let signed_entries = file
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EntryKind::Feature(_) | EntryKind::Package(_) | EntryKind::FeatureSet(_)
                )
            })
            .count();
        assert_eq!(signed_entries, g.signed);
        assert_eq!(verified, g.signed, "every signed line must verify as Valid");
        row(
            "(b) signature::verify_file",
            t_verify,
            &format!("{verified} of {} lines Valid", g.signed),
        );
        if let Some(t_model) = model {
            let both = t_model + t_verify;
            row(
                "    (a) + (b)",
                both,
                &format!(
                    "target <= 2 s: {}",
                    verdict(both.median <= Duration::from_secs(2))
                ),
            );
        }
    }

    if wanted("check") {
        let (t_check, (report, _)) = time(runs, || check(&file, &g.keys, today));
        assert_eq!(report.lines.len(), g.signed);
        assert!(
            report
                .lines
                .iter()
                .all(|l| l.signature == SignatureStatus::Valid),
            "every signed line must verify as Valid"
        );
        assert!(report.errors.is_empty(), "check reported errors");
        row(
            "(c) check::check",
            t_check,
            &format!(
                "{} pools, {} warnings",
                report.pools.len(),
                report.warnings.len()
            ),
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
