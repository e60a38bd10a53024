//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod mutate;

use grammar::pool::{build_pools, Pool, PoolSet};
use grammar::signature::{sign_entry, KeyRing, SignatureStatus, SigningKey};
use grammar::{
    parse_license, Date, Diagnostic, Entry, EntryKind, Feature, LicenseFile, Package, Server,
    Vendor,
};
use std::collections::HashMap;

/// The file name every test parses under.
pub const NAME: &str = "test.lic";

pub fn parse(text: &str) -> LicenseFile {
    parse_license(NAME, text)
}

/// Parses text that must produce no diagnostic at all.
pub fn parse_clean(text: &str) -> LicenseFile {
    let file = parse(text);
    assert!(
        file.diagnostics.is_empty(),
        "unexpected diagnostics for\n{text}\n{}",
        render(&file.diagnostics)
    );
    file
}

pub fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn errors(file: &LicenseFile) -> Vec<&Diagnostic> {
    file.diagnostics.iter().filter(|d| d.is_error()).collect()
}

pub fn warnings(file: &LicenseFile) -> Vec<&Diagnostic> {
    file.diagnostics.iter().filter(|d| !d.is_error()).collect()
}

/// The single error of a file, which must have exactly one diagnostic.
pub fn single_error(text: &str) -> Diagnostic {
    let file = parse(text);
    assert_eq!(
        file.diagnostics.len(),
        1,
        "expected exactly one diagnostic for\n{text}\ngot:\n{}",
        render(&file.diagnostics)
    );
    let d = file.diagnostics[0].clone();
    assert!(d.is_error(), "expected an error, got {d}");
    d
}

/// The single warning of a file whose only line is still used.
pub fn single_warning(text: &str) -> Diagnostic {
    let file = parse(text);
    assert_eq!(
        file.diagnostics.len(),
        1,
        "expected exactly one diagnostic for\n{text}\ngot:\n{}",
        render(&file.diagnostics)
    );
    let d = file.diagnostics[0].clone();
    assert!(!d.is_error(), "expected a warning, got {d}");
    assert!(!file.entries.is_empty(), "a warning must not drop the line");
    d
}

/// Asserts `(line, column)` of a diagnostic and that its message contains
/// every fragment.
pub fn assert_diag(d: &Diagnostic, line: u32, column: u32, fragments: &[&str]) {
    assert_eq!(d.file, NAME, "{d}");
    assert_eq!((d.line, d.column), (line, column), "position of {d}");
    for f in fragments {
        assert!(d.message.contains(f), "`{}` lacks `{f}`", d.message);
    }
}

pub fn day(year: i32, month: u8, d: u8) -> Date {
    Date::new(year, month, d).expect("valid test date")
}

pub fn features(file: &LicenseFile) -> Vec<&Feature> {
    file.features().map(|(_, f)| f).collect()
}

/// The only FEATURE-like line of a one-line file without diagnostics.
pub fn feature(line: &str) -> Feature {
    let file = parse_clean(line);
    let fs = features(&file);
    assert_eq!(fs.len(), 1, "{line}");
    fs[0].clone()
}

/// The FEATURE-like line of a file that may carry warnings.
pub fn feature_lenient(line: &str) -> Feature {
    let file = parse(line);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    let fs = features(&file);
    assert_eq!(fs.len(), 1, "{line}");
    fs[0].clone()
}

pub fn server(line: &str) -> Server {
    let file = parse_clean(line);
    let s: Vec<_> = file.servers().map(|(_, s)| s.clone()).collect();
    assert_eq!(s.len(), 1, "{line}");
    s[0].clone()
}

pub fn vendor(line: &str) -> Vendor {
    let file = parse_clean(line);
    let v: Vec<_> = file.vendors().map(|(_, v)| v.clone()).collect();
    assert_eq!(v.len(), 1, "{line}");
    v[0].clone()
}

pub fn package(text: &str) -> Package {
    let file = parse_clean(text);
    let p: Vec<_> = file.packages().map(|(_, p)| p.clone()).collect();
    assert_eq!(p.len(), 1, "{text}");
    p[0].clone()
}

/// Builds the pools of a file that parsed without errors, with every line
/// usable.
pub fn pools(text: &str, today: Date) -> (LicenseFile, PoolSet) {
    let file = parse(text);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    let set = build_pools(&file, &HashMap::new(), today);
    (file, set)
}

/// One pool in a compact form: `feature version count [@hostids] [suite=s]
/// [package=p]`, with the count as of `today` ("uncounted" for uncounted
/// pools) and the version normalised.
pub fn describe(pool: &Pool, today: Date) -> String {
    let mut s = format!(
        "{} {} {}",
        pool.feature,
        pool.version.normalized(),
        if pool.counted {
            pool.issued(today).to_string()
        } else {
            "uncounted".to_string()
        }
    );
    if let Some(ids) = &pool.hostids {
        s.push_str(&format!(" @{}", grammar::hostid::display_list(ids)));
    }
    if let Some(suite) = &pool.suite {
        s.push_str(&format!(" suite={suite}"));
    }
    if let Some(p) = &pool.package {
        s.push_str(&format!(" package={p}"));
    }
    s
}

pub fn describe_all(set: &PoolSet, today: Date) -> Vec<String> {
    set.pools.iter().map(|p| describe(p, today)).collect()
}

/// Index of the entry whose first physical line is `line`.
pub fn entry_at(file: &LicenseFile, line: u32) -> usize {
    file.entries
        .iter()
        .position(|e| e.line == line)
        .unwrap_or_else(|| panic!("no entry starts on line {line}"))
}

/// Signs every line that can carry a signature and has none, by appending
/// ` SIGN="..."` to its last physical line.
pub fn sign_text(text: &str, key: &SigningKey) -> String {
    let file = parse(text);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for entry in &file.entries {
        if has_sign_attr(entry) {
            continue;
        }
        if let Some(value) = sign_entry(&file, entry, key) {
            inserts.push((entry.source_range.end, format!(" SIGN={value}")));
        }
    }
    let mut out = text.to_string();
    inserts.sort_by_key(|i| std::cmp::Reverse(i.0));
    for (at, s) in inserts {
        out.insert_str(at, &s);
    }
    out
}

fn has_sign_attr(entry: &Entry) -> bool {
    entry
        .items
        .iter()
        .any(|i| i.name.as_deref() == Some("SIGN"))
}

/// A fresh key and the key ring that trusts it for `vendors`.
pub fn key_for(vendors: &[&str]) -> (SigningKey, KeyRing) {
    let (key, _private, _public) =
        grammar::signature::key_pair_from_seed(&rand::random()).expect("key generation");
    let mut ring = KeyRing::new();
    for v in vendors {
        ring.insert(v, key.verifying_key());
    }
    (key, ring)
}

/// Signature status of every signable entry, in file order.
pub fn statuses(text: &str, ring: &KeyRing) -> Vec<SignatureStatus> {
    let file = parse(text);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    grammar::signature::verify_file(&file, ring)
        .into_iter()
        .flatten()
        .collect()
}

/// Replaces the one occurrence of `from` in `text`.
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` must occur exactly once in\n{text}"
    );
    text.replacen(from, to, 1)
}

/// The kind of each entry, for comparing the meaning of two files.
pub fn kinds(file: &LicenseFile) -> Vec<String> {
    file.entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::Feature(f) => format!("{f:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}
