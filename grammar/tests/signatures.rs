//! Ed25519 signatures and the ck= checksum: what an administrator may edit
//! without breaking them, and what breaks them.

mod common;

use common::*;
use grammar::checksum::{entry_checksum, written_checksum};
use grammar::signature::{
    read_private_key, read_public_keys, sign_entry, verify_file, KeyRing, SignField,
    SignatureStatus,
};
use SignatureStatus::{Invalid, Missing, Unverifiable, Valid};

/// One of each signed line type, counted and uncounted, with upper- and
/// lowercase attributes.
const UNSIGNED: &str = "\
# Licenses for demo
SERVER my_server 17007ea8 1700
VENDOR demo /opt/demo/demo OPTIONS=/opt/demo/demo.opt
USE_SERVER
FEATURE cad demo 1.0 31-dec-2030 4 HOSTID=0800200005ac NOTICE=\"Licensed to Acme\" \\
    user_info=\"cad team\" sort=100 ISSUED=1-jan-2025 SN=77
INCREMENT cam demo 2.5 permanent 10 DUP_GROUP=UHD
FEATURE viewer demo 1.0 permanent uncounted HOSTID=17001111 VENDOR_STRING=\"std\"
PACKAGE office demo 1.0 COMPONENTS=\"write calc:2.0:2\"
FEATURE office demo 1.0 permanent 3
";

/// Indices of the statuses, in file order, of the lines above.
const CAD: usize = 0;
const CAM: usize = 1;
const VIEWER: usize = 2;
const PACKAGE: usize = 3;
const OFFICE: usize = 4;

fn signed() -> (String, KeyRing) {
    let (key, ring) = key_for(&["demo"]);
    (sign_text(UNSIGNED, &key), ring)
}

fn assert_all_valid(text: &str, ring: &KeyRing) {
    assert_eq!(statuses(text, ring), vec![Valid; 5], "{text}");
}

#[test]
fn signed_lines_verify() {
    let (text, ring) = signed();
    assert_all_valid(&text, &ring);
    let file = parse(&text);
    // SERVER, VENDOR and USE_SERVER carry no signature.
    let all = verify_file(&file, &ring);
    assert_eq!(all.len(), file.entries.len());
    assert_eq!(all.iter().filter(|s| s.is_none()).count(), 3);
    // Each line names the key that made it.
    for (_, f) in file.features() {
        match &f.signature {
            SignField::Ed25519 { key_id: id, .. } => assert!(ring.find("demo", *id).is_some()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn harmless_edits_keep_signatures_valid() {
    let (text, ring) = signed();
    let edits: Vec<(&str, String)> = vec![
        (
            "re-wrapped between fields",
            edit(&text, "FEATURE cad demo 1.0 ", "FEATURE cad demo \\\n  1.0 \\\n  "),
        ),
        (
            "re-wrapped inside a quoted notice",
            edit(&text, "\"Licensed to Acme\"", "\"Licensed \\\n     to Acme\""),
        ),
        (
            "re-indented with tabs and spaces",
            edit(
                &text,
                "INCREMENT cam demo 2.5 permanent 10",
                "   INCREMENT\tcam  demo\t\t2.5 permanent\t10",
            ),
        ),
        (
            "user_info changed",
            edit(&text, "user_info=\"cad team\"", "user_info=\"CAD group, room 12\""),
        ),
        ("sort changed", edit(&text, "sort=100", "sort=10")),
        (
            "lowercase attributes added",
            edit(
                &text,
                "DUP_GROUP=UHD",
                "DUP_GROUP=UHD asset_info=\"tag 9\" dist_info=\"x\" vendor_info=\"y\" ck=5",
            ),
        ),
        (
            "SERVER host name changed",
            edit(&text, "SERVER my_server", "SERVER lic-server.example.com"),
        ),
        (
            "SERVER port changed",
            edit(&text, "17007ea8 1700", "17007ea8 27001"),
        ),
        ("SERVER port removed", edit(&text, "17007ea8 1700", "17007ea8")),
        (
            "VENDOR path changed",
            edit(&text, "/opt/demo/demo ", "/usr/local/bin/demo "),
        ),
        (
            "VENDOR options changed",
            edit(&text, "OPTIONS=/opt/demo/demo.opt", "/etc/demo.opt 27010"),
        ),
        ("USE_SERVER removed", edit(&text, "USE_SERVER\n", "")),
        ("comment added", edit(&text, "# Licenses", "# Updated\n# Licenses")),
        (
            "attributes reordered",
            edit(
                &text,
                "NOTICE=\"Licensed to Acme\" \\\n    user_info=\"cad team\" sort=100 ISSUED=1-jan-2025 SN=77",
                "SN=77 ISSUED=1-jan-2025 \\\n    user_info=\"cad team\" sort=100 NOTICE=\"Licensed to Acme\"",
            ),
        ),
        (
            "white space inside a notice",
            edit(&text, "\"Licensed to Acme\"", "\"Licensed   to\tAcme \""),
        ),
        (
            "the same version written differently",
            edit(&text, "cam demo 2.5 ", "cam demo 2.500 "),
        ),
        (
            "the same date written differently",
            edit(&text, "31-dec-2030", "31-DEC-2030"),
        ),
        (
            "the same hostid in capitals",
            edit(&text, "HOSTID=0800200005ac", "HOSTID=0800200005AC"),
        ),
        (
            "the same ISSUED date zero-padded",
            edit(&text, "ISSUED=1-jan-2025", "ISSUED=01-Jan-2025"),
        ),
        ("uncounted spelled 0", edit(&text, "uncounted", "0")),
        ("CRLF line ends", text.replace('\n', "\r\n")),
    ];
    for (what, changed) in edits {
        assert_eq!(
            statuses(&changed, &ring),
            vec![Valid; 5],
            "{what}:\n{changed}"
        );
    }
}

/// Rewrites the inside of every quoted SIGN= value.
fn map_sign_values(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("SIGN=\"") {
        out.push_str(&rest[..i + 6]);
        rest = &rest[i + 6..];
        let end = rest.find('"').unwrap();
        out.push_str(&f(&rest[..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn sign_values_may_be_rewrapped() {
    let (text, ring) = signed();
    // Break every SIGN= value after its prefix and key id, inside the quotes.
    let wrapped = map_sign_values(&text, |v| v.replace(':', ": \\\n\t"));
    assert_ne!(wrapped, text);
    assert_eq!(parse(&wrapped).entries.len(), parse(&text).entries.len());
    assert_all_valid(&wrapped, &ring);
    // Join the groups of the signature with no white space at all.
    let joined = map_sign_values(&text, |v| v.replace(' ', ""));
    assert_ne!(joined, text);
    assert_all_valid(&joined, &ring);
    // Lowercase hexadecimal digits are the same signature.
    let lower = map_sign_values(&text, |v| v.to_ascii_lowercase());
    assert_all_valid(&lower, &ring);
}

#[test]
fn meaningful_edits_break_signatures() {
    let (text, ring) = signed();
    let cases: Vec<(&str, String, usize)> = vec![
        (
            "count",
            edit(&text, "2.5 permanent 10", "2.5 permanent 11"),
            CAM,
        ),
        (
            "version",
            edit(&text, "cam demo 2.5 ", "cam demo 2.6 "),
            CAM,
        ),
        ("expiry", edit(&text, "31-dec-2030", "31-dec-2031"), CAD),
        (
            "expiry made permanent",
            edit(&text, "31-dec-2030", "permanent"),
            CAD,
        ),
        (
            "HOSTID",
            edit(&text, "HOSTID=0800200005ac", "HOSTID=0800200005ad"),
            CAD,
        ),
        (
            "HOSTID of an uncounted line",
            edit(&text, "HOSTID=17001111", "HOSTID=\"17001111 17002222\""),
            VIEWER,
        ),
        (
            "NOTICE",
            edit(&text, "Licensed to Acme", "Licensed to Other"),
            CAD,
        ),
        (
            "ISSUED",
            edit(&text, "ISSUED=1-jan-2025", "ISSUED=2-jan-2025"),
            CAD,
        ),
        ("SN", edit(&text, "SN=77", "SN=78"), CAD),
        ("SN removed", edit(&text, " SN=77", ""), CAD),
        (
            "DUP_GROUP",
            edit(&text, "DUP_GROUP=UHD", "DUP_GROUP=UH"),
            CAM,
        ),
        (
            "uppercase attribute added",
            edit(&text, "DUP_GROUP=UHD", "DUP_GROUP=UHD OVERDRAFT=5"),
            CAM,
        ),
        (
            "flag added",
            edit(&text, "DUP_GROUP=UHD", "DUP_GROUP=UHD BORROW"),
            CAM,
        ),
        (
            "VENDOR_STRING",
            edit(&text, "VENDOR_STRING=\"std\"", "VENDOR_STRING=\"pro\""),
            VIEWER,
        ),
        (
            "INCREMENT made FEATURE",
            edit(&text, "INCREMENT cam", "FEATURE cam"),
            CAM,
        ),
        (
            "feature renamed",
            edit(&text, "INCREMENT cam", "INCREMENT cim"),
            CAM,
        ),
        (
            "package components",
            edit(&text, "calc:2.0:2", "calc:2.0:3"),
            PACKAGE,
        ),
        (
            "package suite option",
            edit(
                &text,
                "COMPONENTS=\"write calc:2.0:2\"",
                "COMPONENTS=\"write calc\" OPTIONS=SUITE",
            ),
            PACKAGE,
        ),
        (
            "package enabling count",
            edit(
                &text,
                "office demo 1.0 permanent 3",
                "office demo 1.0 permanent 4",
            ),
            OFFICE,
        ),
    ];
    for (what, changed, broken) in cases {
        let got = statuses(&changed, &ring);
        let mut want = vec![Valid; 5];
        want[broken] = Invalid;
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn server_hostids_are_signed_into_counted_lines_only() {
    let (text, ring) = signed();
    let changed = edit(&text, "my_server 17007ea8", "my_server 17007ea9");
    assert_eq!(
        statuses(&changed, &ring),
        [Invalid, Invalid, Valid, Valid, Invalid],
        "the uncounted viewer line and the PACKAGE line survive"
    );
    // Adding SERVER lines changes what counted lines are bound to.
    let triad = edit(
        &text,
        "SERVER my_server 17007ea8 1700\n",
        "SERVER my_server 17007ea8 1700\nSERVER b 17004355 1700\nSERVER c 17003456 1700\n",
    );
    assert_eq!(
        statuses(&triad, &ring),
        [Invalid, Invalid, Valid, Valid, Invalid]
    );
    // A file with no SERVER line at all: only the uncounted line stays valid.
    let serverless = edit(&text, "SERVER my_server 17007ea8 1700\n", "");
    assert_eq!(
        statuses(&serverless, &ring),
        [Invalid, Invalid, Valid, Valid, Invalid]
    );
}

#[test]
fn triads_sign_all_three_hostids_in_order() {
    let (key, ring) = key_for(&["demo"]);
    let text = sign_text(
        "SERVER pat 17003456 1700\nSERVER lee 17004355 1700\nSERVER terry 17007ea8 1700\n\
         DAEMON demo /etc/mydaemon\nFEATURE f1 demo 1.000 01-jan-2096 10\n",
        &key,
    );
    assert_eq!(statuses(&text, &ring), [Valid]);
    // Host names may change; the order of the hostids may not.
    let renamed = edit(&text, "SERVER lee", "SERVER leeds");
    assert_eq!(statuses(&renamed, &ring), [Valid]);
    let swapped = edit(
        &edit(&text, "pat 17003456", "pat 17004355"),
        "lee 17004355",
        "lee 17003456",
    );
    assert_eq!(statuses(&swapped, &ring), [Invalid]);
}

#[test]
fn unknown_keys_and_legacy_keys_are_unverifiable() {
    let (text, _ring) = signed();
    // A ring that holds another key for the vendor.
    let (_, other_ring) = key_for(&["demo"]);
    assert_eq!(statuses(&text, &other_ring), vec![Unverifiable; 5]);
    // A ring with no key for the vendor.
    let (_, no_demo) = key_for(&["sampled"]);
    assert_eq!(statuses(&text, &no_demo), vec![Unverifiable; 5]);
    // FLEXlm keys and signatures cannot be checked.
    let legacy = "SERVER my_server 17007ea8 1700\nVENDOR sampled\n\
                  FEATURE f1 sampled 1.000 01-jan-2005 10 SIGN=9BFAC0316462\n\
                  FEATURE f2 sampled 1.0 permanent 4 0123456789ABCDEF0123\n\
                  FEATURE f3 sampled 1.0 permanent 4 AUTH=abc\n\
                  FEATURESET sampled code\n";
    let (_, ring) = key_for(&["sampled"]);
    assert_eq!(statuses(legacy, &ring), vec![Unverifiable; 4]);
}

#[test]
fn unsigned_and_damaged_signatures() {
    let (_, ring) = key_for(&["demo"]);
    assert_eq!(statuses(UNSIGNED, &ring), vec![Missing; 5]);
    let damaged = "FEATURE f1 demo 1.0 permanent 0 HOSTID=ANY SIGN=\"ED25519:12345678:00\"\n\
                   FEATURE f2 demo 1.0 permanent 0 HOSTID=ANY SIGN=\"ED25519:xyz:00\"\n\
                   FEATURE f3 demo 1.0 permanent 0 HOSTID=ANY SIGN=\"ED25519:\"\n";
    assert_eq!(statuses(damaged, &ring), vec![Invalid; 3]);
    // A well-formed signature by the right key over other content.
    let (key, ring) = key_for(&["demo"]);
    let a = sign_text("FEATURE f1 demo 1.0 permanent 0 HOSTID=ANY\n", &key);
    let sig = &a[a.find("SIGN=").unwrap()..];
    let moved = format!("FEATURE f2 demo 1.0 permanent 0 HOSTID=ANY {sig}");
    assert_eq!(statuses(&moved, &ring), [Invalid]);
}

#[test]
fn featureset_binds_the_vendors_lines() {
    let (key, ring) = key_for(&["demo", "other"]);
    let text = sign_text(
        "SERVER h ANY 1700\nVENDOR demo\nVENDOR other\n\
         FEATURE f1 demo 1.0 permanent 4\n\
         FEATURE f2 demo 1.0 permanent 4\n\
         FEATURE g1 other 1.0 permanent 4\n\
         FEATURESET demo\n",
        &key,
    );
    assert_eq!(statuses(&text, &ring), vec![Valid; 4]);
    let lines: Vec<&str> = text.lines().collect();
    let without = |skip: &str| -> String {
        lines
            .iter()
            .filter(|l| !l.starts_with(skip))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    // Removing a line of the vendor breaks the FEATURESET...
    assert_eq!(
        statuses(&without("FEATURE f2 "), &ring),
        [Valid, Valid, Invalid]
    );
    // ...removing another vendor's line does not.
    assert_eq!(
        statuses(&without("FEATURE g1 "), &ring),
        [Valid, Valid, Valid]
    );
    // Reordering the vendor's lines breaks it too.
    let mut reordered: Vec<&str> = lines.clone();
    let i = reordered
        .iter()
        .position(|l| l.starts_with("FEATURE f1 "))
        .unwrap();
    let j = reordered
        .iter()
        .position(|l| l.starts_with("FEATURE f2 "))
        .unwrap();
    reordered.swap(i, j);
    let reordered: String = reordered.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(statuses(&reordered, &ring), [Valid, Valid, Valid, Invalid]);

    // The check report refuses every line of a vendor whose FEATURESET fails.
    let file = parse(&without("FEATURE f2 "));
    let (report, _) = grammar::check::check(&file, &ring, day(2025, 1, 1));
    let outcomes: Vec<(&str, &str)> = report
        .lines
        .iter()
        .map(|l| (l.feature.as_deref().unwrap_or("-"), l.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [("f1", "not_served"), ("g1", "served"), ("-", "not_served")]
    );
    assert!(report.lines[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("LM_BADFEATSET"));
}

#[test]
fn check_report_refuses_tampered_lines() {
    let (text, ring) = signed();
    let tampered = edit(&text, "2.5 permanent 10", "2.5 permanent 100");
    let file = parse(&tampered);
    let (report, set) = grammar::check::check(&file, &ring, day(2025, 1, 1));
    let cam = report
        .lines
        .iter()
        .find(|l| l.feature.as_deref() == Some("cam"))
        .unwrap();
    assert_eq!(cam.signature, Invalid);
    assert_eq!(cam.outcome, "not_served");
    assert!(cam.reason.as_deref().unwrap().contains("LM_BADCODE"));
    assert!(set.pools.iter().all(|p| p.feature != "cam"));
    // The error points at the SIGN= of the tampered line.
    let entry = file
        .features()
        .find(|(_, f)| f.name == "cam")
        .map(|(e, _)| e)
        .unwrap();
    let (line, column) = grammar::LicenseFile::position_of(entry, "SIGN");
    assert!(report
        .errors
        .iter()
        .any(|e| e.line == line && e.column == column && e.message.contains("LM_BADCODE")));
}

#[test]
fn key_files_round_trip() {
    let (key, private, public) = grammar::signature::key_pair_from_seed(&rand::random()).unwrap();
    let dir = std::env::temp_dir().join(format!("grammar-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("demo.key"), &private).unwrap();
    std::fs::write(dir.join("demo.pub"), &public).unwrap();
    let read_back = read_private_key(&dir.join("demo.key")).unwrap();
    assert_eq!(read_back.to_bytes(), key.to_bytes());
    let pubs = read_public_keys(&dir.join("demo.pub")).unwrap();
    assert_eq!(pubs, [key.verifying_key()]);
    let (ring, problems) = KeyRing::load(["demo", "nobody"], std::slice::from_ref(&dir));
    assert!(problems.is_empty());
    assert!(ring.has_vendor("demo"));
    assert!(!ring.has_vendor("nobody"));
    assert_eq!(ring.source("demo"), Some(dir.join("demo.pub").as_path()));
    let text = sign_text("FEATURE f1 demo 1.0 permanent 0 HOSTID=ANY\n", &read_back);
    assert_eq!(statuses(&text, &ring), [Valid]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn only_signable_lines_are_signed() {
    let (key, _) = key_for(&["demo"]);
    let file =
        parse("SERVER h ANY 1700\nVENDOR demo\nUSE_SERVER\nFEATURE f1 demo 1.0 permanent 4\n");
    let signed: Vec<bool> = file
        .entries
        .iter()
        .map(|e| sign_entry(&file, e, &key).is_some())
        .collect();
    assert_eq!(signed, [false, false, false, true]);
    let value = sign_entry(&file, &file.entries[3], &key).unwrap();
    assert!(value.starts_with("\"ED25519:"), "{value}");
    assert!(value.ends_with('"'));
}

// ---------------------------------------------------------------------------
// ck= checksums

fn checksums(text: &str, case_sensitive: bool) -> Vec<u8> {
    let file = parse(text);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    file.entries
        .iter()
        .filter_map(|e| entry_checksum(&file, e, case_sensitive))
        .collect()
}

#[test]
fn checksums_survive_harmless_edits() {
    let (text, _) = signed();
    let base = checksums(&text, false);
    assert_eq!(base.len(), 5);
    assert_eq!(checksums(&text, false), base, "checksums are deterministic");
    let harmless = [
        edit(
            &text,
            "FEATURE cad demo 1.0 ",
            "FEATURE cad demo \\\n  1.0 \\\n  ",
        ),
        edit(
            &text,
            "INCREMENT cam demo 2.5 permanent 10",
            "\tINCREMENT  cam\tdemo 2.5   permanent 10",
        ),
        edit(&text, "user_info=\"cad team\"", "user_info=\"elsewhere\""),
        edit(&text, "sort=100", "sort=3 ck=99"),
        edit(&text, "SERVER my_server", "SERVER other_host"),
        edit(&text, "17007ea8 1700", "17007ea8 1800"),
        edit(&text, "/opt/demo/demo ", "/usr/bin/demo "),
        map_sign_values(&text, |v| v.replace(' ', " \\\n ")),
    ];
    for changed in harmless {
        assert_eq!(checksums(&changed, false), base, "{changed}");
        assert_eq!(checksums(&changed, true), checksums(&text, true));
    }
}

#[test]
fn checksums_of_unsigned_lines() {
    let a = "FEATURE f1 demo 1.0 permanent 4 0123456789ABCDEF\n";
    let lower = "FEATURE f1 demo 1.0 permanent 4 0123456789abcdef\n";
    let other = "FEATURE f1 demo 1.0 permanent 5 0123456789ABCDEF\n";
    // By default case does not matter; with -k it does.
    assert_eq!(checksums(a, false), checksums(lower, false));
    assert_ne!(checksums(a, true), checksums(lower, true));
    assert_ne!(checksums(a, false), checksums(other, false));
    // The ck= value the line carries.
    let file = parse("FEATURE f1 demo 1.0 permanent 4 ck=123\nPACKAGE p demo COMPONENTS=a ck=7\nFEATURESET demo code ck=9\n");
    let written: Vec<Option<u32>> = file.entries.iter().map(written_checksum).collect();
    assert_eq!(written, [Some(123), Some(7), Some(9)]);
    // SERVER, VENDOR and USE_SERVER lines have none.
    let file = parse("SERVER h ANY\nVENDOR demo\nUSE_SERVER\n");
    assert!(file
        .entries
        .iter()
        .all(|e| entry_checksum(&file, e, false).is_none()));
}

#[test]
fn a_missing_key_names_the_directories_searched() {
    let dirs = vec![
        std::path::PathBuf::from("/nonexistent/lm/bin"),
        std::path::PathBuf::from("/nonexistent/licenses"),
    ];
    let (ring, problems) = grammar::signature::KeyRing::load(["demo"], &dirs);
    assert!(problems.is_empty());
    assert!(!ring.has_vendor("demo"));
    assert_eq!(
        ring.missing_key("demo"),
        "demo.pub not found in /nonexistent/lm/bin, /nonexistent/licenses"
    );
    let file = grammar::parse_license(
        "t.lic",
        &format!(
            "SERVER h ANY\nVENDOR demo\nFEATURE f1 demo 1.0 permanent 1 SIGN=\"ED25519:0A1B2C3D:{}\"\n",
            "00".repeat(64)
        ),
    );
    let (report, _) = grammar::check::check(&file, &ring, grammar::Date::new(2026, 1, 1).unwrap());
    let reason = report.lines[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("demo.pub not found in /nonexistent/lm/bin, /nonexistent/licenses"),
        "{reason}"
    );
}
