//! Property tests: the parser and the check never panic, always point inside
//! the file, are deterministic, and re-wrapping a valid file changes nothing.

mod common;

use common::mutate::{apply, mutation};
use common::*;
use grammar::check::check;
use grammar::pool::build_pools;
use grammar::signature::{verify_file, KeyRing, SignatureStatus, SigningKey};
use grammar::{parse_license, Date, LicenseFile};
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A valid file that uses every line type.
const VALID: &str = "\
# demo licenses
SERVER pat 17003456 1700 PRIMARY_IS_MASTER HEARTBEAT_INTERVAL=20
SERVER lee 17004355 1700
SERVER terry 17007ea8 1700
VENDOR demo /opt/demo OPTIONS=/opt/demo.opt PORT=27010
DAEMON xyzd /etc/xyzd /etc/xyzd.opt
USE_SERVER
FEATURE cad demo 1.000 31-dec-2030 4 HOSTID=\"0800200005ac #385941160\" \\
\tNOTICE=\"Licensed to \\
Sample corp\" user_info=\"cad team\" sort=100 ISSUED=1-jan-2025 SN=77
INCREMENT cam demo 2.5 permanent 10 DUP_GROUP=UHD BORROW=24 FLOAT_OK USER_BASED=3
INCREMENT cam demo 2.5 permanent 5 DUP_GROUP=UHD BORROW=24 FLOAT_OK USER_BASED=3
UPGRADE cam demo 2.0 3.0 permanent 2 START=1-jun-2025
FEATURE viewer demo 1.0 1-jan-0 uncounted HOSTID=INTERNET=195.186.*.* TS_OK
FEATURE f1 xyzd 1.000 1-jan-2090 0 code1 \"\" 12001234
FEATURE f2 xyzd 1.00 1-jan-2092 2 code3 \"vendor string\"
PACKAGE office demo 1.0 COMPONENTS=\"write calc:2.0:2\"
FEATURE office demo 1.0 permanent 3 SUPERSEDE=\"oldoffice\" ISSUED=1-feb-2025
PACKAGE suite demo COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE
INCREMENT suite demo 1.0 permanent 2 SUITE_DUP_GROUP=U HOST_BASED
FEATURESET xyzd code
";

fn signing_key() -> &'static (SigningKey, KeyRing) {
    static KEY: OnceLock<(SigningKey, KeyRing)> = OnceLock::new();
    KEY.get_or_init(|| key_for(&["demo", "xyzd"]))
}

/// VALID, signed with the test key (legacy keys are replaced by SIGN=).
fn signed_valid() -> &'static str {
    static SIGNED: OnceLock<String> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let demo_only: String = VALID
            .lines()
            .filter(|l| !l.contains("xyzd"))
            .map(|l| format!("{l}\n"))
            .collect();
        sign_text(&demo_only, &signing_key().0)
    })
}

fn physical_lines(src: &str) -> Vec<&str> {
    src.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// Everything a parse result says must point inside the source.
fn assert_well_placed(src: &str, file: &LicenseFile) {
    let lines = physical_lines(src);
    let n = lines.len() as u32;
    for d in &file.diagnostics {
        assert!(d.line >= 1 && d.line <= n, "{d} outside 1..={n}");
        let width = lines[d.line as usize - 1].chars().count() as u32;
        assert!(
            d.column >= 1 && d.column <= width + 1,
            "{d}: column outside 1..={}",
            width + 1
        );
        assert_eq!(d.file, NAME);
        assert!(!d.message.is_empty());
    }
    let mut previous = 0;
    for e in &file.entries {
        assert!(e.line > previous, "entries in file order");
        assert!(e.line <= e.end_line && e.end_line <= n);
        previous = e.end_line;
        let text = src
            .get(e.source_range.clone())
            .expect("source range on char boundaries");
        assert_eq!(text.matches('\n').count() as u32, e.end_line - e.line);
        for item in &e.items {
            assert!(item.range.end <= e.text.len());
            assert!(e.text.get(item.range.clone()).is_some());
            assert!(item.at.0 >= e.line && item.at.0 <= e.end_line);
            assert!(item.at.1 >= 1);
        }
    }
}

const KEYWORDS: [&str; 9] = [
    "SERVER",
    "VENDOR",
    "DAEMON",
    "USE_SERVER",
    "FEATURE",
    "INCREMENT",
    "UPGRADE",
    "PACKAGE",
    "FEATURESET",
];

/// A line that starts with a keyword either becomes an entry or has an
/// error; any other line is a comment and never becomes an entry.
fn assert_every_line_accounted_for(src: &str, file: &LicenseFile) {
    for line in grammar::source::logical_lines(src) {
        let (first, last) = (line.first_line(), line.last_line());
        let entry = file.entries.iter().any(|e| e.line == first);
        if line.is_comment() {
            assert!(!entry, "comment on line {first} became an entry");
            continue;
        }
        let word = line.text.split_whitespace().next().unwrap_or("");
        if !KEYWORDS.contains(&word) {
            assert!(
                !entry,
                "line {first} starts with `{word}` yet became an entry"
            );
            continue;
        }
        let error = file
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.line >= first && d.line <= last);
        assert!(
            entry != error,
            "line {first}-{last}: entry {entry}, error {error}\n{}",
            render(&file.diagnostics)
        );
    }
}

fn snapshot(file: &LicenseFile) -> String {
    format!("{:?}\n{:?}", file.entries, file.diagnostics)
}

/// Pieces license files are made of, so random input reaches deep into
/// the grammar rather than stopping at the first word.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "SERVER", "VENDOR", "DAEMON", "USE_SERVER", "FEATURE", "INCREMENT", "UPGRADE",
            "PACKAGE", "FEATURESET", "HOSTID=", "SIGN=", "AUTH=", "COMPONENTS=", "OPTIONS=SUITE",
            "OPTIONS=", "PORT=", "START=", "ISSUED=", "SUPERSEDE", "DUP_GROUP=", "BORROW",
            "FLOAT_OK=", "USER_BASED=", "sort=", "ck=", "NOTICE=", "permanent", "uncounted",
            "ANY", "DEMO", "INTERNET=1.2.*.*", "ID=", "#", "17007ea8", "ED25519:",
            "SERVER_TIMEOUT=", "PRIMARY_IS_MASTER", "1-jan-0", "31-dec-2030", "1.0", "2.000",
        ])
        .prop_map(str::to_string),
        3 => prop::sample::select(vec![
            " ", "  ", "\t", "\n", "\r\n", "\\\n", "\\", "\"", "=", ":", "-", ".", "'",
            "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}", "\u{2013}", "\u{A0}",
        ])
            .prop_map(str::to_string),
        2 => "[a-z0-9_]{1,8}",
        1 => "[0-9]{1,12}",
        1 => "[0-9]{1,2}-[a-zA-Z]{3}-[0-9]{1,5}",
        1 => "\\PC{1,4}",
    ]
}

fn license_like() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..120).prop_map(|t| t.concat())
}

fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(mutation(token()), 1..8).prop_map(move |ms| {
        let mut s = base.to_string();
        for m in &ms {
            s = apply(&s, m);
        }
        s
    })
}

fn any_day() -> impl Strategy<Value = Date> {
    (-30_000i64..60_000).prop_map(Date::from_days_since_epoch)
}

/// Byte offsets of the blanks of `src` that lie outside quoted strings and
/// are not at the end of a physical line.
fn blanks_outside_quotes(src: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut quoted = false;
    let bytes = src.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => {
                let next = bytes.get(i + 1).copied();
                let prev = i.checked_sub(1).map(|p| bytes[p]);
                if !matches!(next, Some(b'\n') | Some(b'\\') | None)
                    && !matches!(prev, Some(b'\n') | None)
                {
                    out.push(i);
                }
            }
            _ => {}
        }
    }
    out
}

/// Re-wraps `src` at the chosen blanks and re-indents the continuations.
fn rewrap(src: &str, picks: &[(usize, u8)]) -> String {
    let blanks = blanks_outside_quotes(src);
    let mut chosen: Vec<(usize, u8)> = picks
        .iter()
        .map(|(i, style)| (blanks[i % blanks.len()], *style))
        .collect();
    chosen.sort();
    chosen.dedup_by_key(|c| c.0);
    let mut out = src.to_string();
    for (at, style) in chosen.into_iter().rev() {
        let replacement = match style % 4 {
            0 => " \\\n  ",
            1 => "\\\n\t",
            2 => " \t \\  \n",
            _ => "\t\t",
        };
        out.replace_range(at..at + 1, replacement);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_never_panics_on_any_string(src in any::<String>()) {
        let file = parse_license(NAME, &src);
        assert_well_placed(&src, &file);
        assert_every_line_accounted_for(&src, &file);
    }

    #[test]
    fn parse_never_panics_on_license_like_text(src in license_like()) {
        let file = parse_license(NAME, &src);
        assert_well_placed(&src, &file);
        assert_every_line_accounted_for(&src, &file);
    }

    #[test]
    fn parse_never_panics_on_mutated_licenses(src in mutated(VALID)) {
        let file = parse_license(NAME, &src);
        assert_well_placed(&src, &file);
        assert_every_line_accounted_for(&src, &file);
    }

    #[test]
    fn parse_is_deterministic(src in prop_oneof![license_like(), mutated(VALID)]) {
        let a = parse_license(NAME, &src);
        let b = parse_license(NAME, &src);
        prop_assert_eq!(snapshot(&a), snapshot(&b));
    }


    #[test]
    fn rewrapping_changes_nothing(picks in prop::collection::vec((any::<usize>(), any::<u8>()), 1..12)) {
        let base = parse_license(NAME, VALID);
        prop_assert!(base.diagnostics.is_empty());
        let src = rewrap(VALID, &picks);
        let file = parse_license(NAME, &src);
        prop_assert!(file.diagnostics.is_empty(), "{}\n{}", src, render(&file.diagnostics));
        prop_assert_eq!(kinds(&file), kinds(&base));
        assert_well_placed(&src, &file);
    }
}

// Checking signatures is slow in unoptimised builds: fewer cases below.
proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn check_never_panics(
        src in prop_oneof![any::<String>(), license_like(), mutated(VALID), mutated(signed_valid())],
        today in any_day(),
    ) {
        let file = parse_license(NAME, &src);
        let ring = &signing_key().1;
        for keys in [&KeyRing::new(), ring] {
            let (report, set) = check(&file, keys, today);
            prop_assert_eq!(report.pools.len(), set.pools.len());
            let n = physical_lines(&src).len() as u32;
            for f in report.errors.iter().chain(&report.warnings) {
                prop_assert!(f.line >= 1 && f.line <= n, "{:?}", f);
            }
            for l in &report.lines {
                for p in &l.pools {
                    prop_assert!(*p < set.pools.len());
                }
            }
        }
        // Pools with every line usable, and with every other line refused.
        let all = build_pools(&file, &HashMap::new(), today);
        let refused: HashMap<usize, String> = (0..file.entries.len())
            .step_by(2)
            .map(|i| (i, "refused".to_string()))
            .collect();
        let some = build_pools(&file, &refused, today);
        for set in [&all, &some] {
            for p in &set.pools {
                let _ = p.issued(today);
                let _ = p.expiry();
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_signed_files_never_verify_a_changed_meaning(src in mutated(signed_valid())) {
        // Whatever the edit, a line that still verifies means what was signed.
        let original = parse_license(NAME, signed_valid());
        let file = parse_license(NAME, &src);
        let status = verify_file(&file, &signing_key().1);
        let originals: Vec<String> = original
            .entries
            .iter()
            .filter_map(|e| grammar::signature::signed_content(&original, e))
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .collect();
        for (e, s) in file.entries.iter().zip(&status) {
            if *s == Some(SignatureStatus::Valid) {
                let content = grammar::signature::signed_content(&file, e).unwrap();
                let content = String::from_utf8_lossy(&content).into_owned();
                prop_assert!(
                    originals.contains(&content),
                    "line {} verifies with content that was never signed",
                    e.line
                );
            }
        }
    }

    #[test]
    fn rewrapping_keeps_signatures_and_checksums(picks in prop::collection::vec((any::<usize>(), any::<u8>()), 1..12)) {
        let signed = signed_valid();
        let src = rewrap(signed, &picks);
        let file = parse_license(NAME, &src);
        prop_assert!(!file.has_errors(), "{}", render(&file.diagnostics));
        let status: Vec<SignatureStatus> = verify_file(&file, &signing_key().1)
            .into_iter()
            .flatten()
            .collect();
        prop_assert!(!status.is_empty());
        prop_assert!(status.iter().all(|s| *s == SignatureStatus::Valid), "{:?}\n{}", status, src);
        let base = parse_license(NAME, signed);
        let sums = |f: &LicenseFile| -> Vec<Option<u8>> {
            f.entries
                .iter()
                .map(|e| grammar::checksum::entry_checksum(f, e, false))
                .collect()
        };
        prop_assert_eq!(sums(&file), sums(&base));
    }
}

/// `src` with the chosen pairs of double quotes (by `picks`, modulo the
/// number of pairs) written as single quotes. The quoted strings of the
/// files used here hold no `'`, so the meaning must not change.
fn single_quoted(src: &str, picks: &[usize]) -> String {
    let quotes: Vec<usize> = src.match_indices('"').map(|(i, _)| i).collect();
    let pairs = quotes.len() / 2;
    let mut out = src.as_bytes().to_vec();
    for p in picks {
        let pair = p % pairs;
        out[quotes[2 * pair]] = b'\'';
        out[quotes[2 * pair + 1]] = b'\'';
    }
    String::from_utf8(out).expect("ASCII swapped for ASCII")
}

/// The typographic stand-ins for quotes that documents and mail produce.
fn typographic() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{201E}', '\u{00AB}',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn single_quotes_mean_what_double_quotes_mean(picks in prop::collection::vec(any::<usize>(), 1..8)) {
        let signed = signed_valid();
        let src = single_quoted(signed, &picks);
        prop_assert_ne!(&src, signed);
        let file = parse_license(NAME, &src);
        prop_assert!(!file.has_errors(), "{}\n{}", render(&file.diagnostics), src);
        let base = parse_license(NAME, signed);
        let kinds = |f: &LicenseFile| -> Vec<String> {
            f.entries.iter().map(|e| format!("{:?}", e.kind)).collect()
        };
        prop_assert_eq!(kinds(&file), kinds(&base));
        // Signatures cover the meaning, so they still verify.
        let status: Vec<SignatureStatus> = verify_file(&file, &signing_key().1)
            .into_iter()
            .flatten()
            .collect();
        prop_assert!(status.iter().all(|s| *s == SignatureStatus::Valid), "{:?}", status);
    }

    #[test]
    fn a_typographic_quote_is_named_where_it_stands(pick in any::<usize>(), c in typographic()) {
        // Any ASCII quote of the file replaced by a typographic one: the
        // line is refused with an error at that character, naming it.
        let quotes: Vec<usize> = VALID.match_indices('"').map(|(i, _)| i).collect();
        let at = quotes[pick % quotes.len()];
        let mut src = VALID.to_string();
        src.replace_range(at..at + 1, &c.to_string());
        let file = parse_license(NAME, &src);
        assert_well_placed(&src, &file);
        let line = VALID[..at].matches('\n').count() as u32 + 1;
        let column = VALID[..at].rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
        let named = format!("U+{:04X}", c as u32);
        let hit = file.diagnostics.iter().find(|d| d.is_error() && d.message.contains(&named));
        prop_assert!(hit.is_some(), "no error names {}: {}", named, render(&file.diagnostics));
        let hit = hit.unwrap();
        prop_assert_eq!((hit.line, hit.column), (line, column));
        prop_assert!(hit.message.contains("type a plain"), "{}", hit.message);
        prop_assert!(file.entries.iter().all(|e| e.line > line || e.end_line < line));
    }
}
