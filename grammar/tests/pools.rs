//! License pools: how FEATURE, INCREMENT, UPGRADE and PACKAGE lines add up
//! to what a vendor daemon counts, with the worked examples of the sources.

mod common;

use common::*;
use grammar::check::{check, CheckReport};
use grammar::hostid::{any_matches, HostIdentity};
use grammar::pool::{build_pools, LineOutcome, Pool, PoolSet};
use grammar::{Date, Expiry};
use std::collections::HashMap;
use std::net::Ipv4Addr;

/// A day on which nothing in these tests has expired.
fn today() -> Date {
    day(2025, 6, 15)
}

fn outcome(file: &grammar::LicenseFile, set: &PoolSet, line: u32) -> LineOutcome {
    set.outcomes
        .get(&entry_at(file, line))
        .cloned()
        .unwrap_or_else(|| panic!("no outcome for line {line}"))
}

/// Signs the text with a fresh key and runs the `lmgrd --check` dry run.
fn checked(text: &str, on: Date) -> (CheckReport, PoolSet) {
    let (key, ring) = key_for(&["demo", "sampled", "xxx"]);
    let signed = sign_text(text, &key);
    let file = parse(&signed);
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
    check(&file, &ring, on)
}

fn identity(hex: &[u64]) -> HostIdentity {
    HostIdentity {
        hex_ids: hex.to_vec(),
        hostname: "client7".into(),
        user: "joe".into(),
        display: ":0".into(),
        addresses: vec![Ipv4Addr::new(10, 1, 2, 3)],
        others: vec![],
    }
}

/// Pools a client may draw from, in the order of precedence.
fn usable<'a>(set: &'a PoolSet, feature: &'a str, who: &HostIdentity) -> Vec<&'a Pool> {
    set.pools
        .iter()
        .filter(|p| p.feature == feature)
        .filter(|p| p.hostids.as_deref().is_none_or(|ids| any_matches(ids, who)))
        .collect()
}

const HEAD: &str = "SERVER sam 17001234 1700\nDAEMON demo /etc/demo\n";

// ---------------------------------------------------------------------------
// FEATURE: only the first counted line counts

#[test]
fn only_the_first_counted_feature_line_counts_seed_004() {
    // "would only result in 4 licenses for v1 or 5 licenses for v2,
    // depending on their order": the automatic sort puts v2 first.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.000 1-jan-0 4 KEY1\nFEATURE f1 demo 2.000 1-jan-0 5 KEY2\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 2.0 5"]);
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Shadowed { by_line: 4 }
    );
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Pooled { pools: vec![0] }
    );
}

#[test]
fn equal_feature_lines_keep_file_order() {
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 1-jan-0 4 KEY1\nFEATURE f1 demo 1.000 1-jan-0 5 KEY2\nFEATURE f1 demo 1.0 1-jan-0 6 KEY3\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 4"]);
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Shadowed { by_line: 3 }
    );
    assert_eq!(
        outcome(&file, &set, 5),
        LineOutcome::Shadowed { by_line: 3 }
    );
}

#[test]
fn feature_lines_of_different_features_do_not_shadow_each_other() {
    // Seed 001's floating example.
    let text = "SERVER lulu 17001234 1700\nDAEMON xyzd /etc/xyzd\n\
                FEATURE f1 xyzd 1.00 1-jan-2095 2 code1 \"\"\n\
                FEATURE f2 xyzd 1.00 1-jan-2095 6 code2 \"\"\n\
                FEATURE f3 xyzd 1.00 1-jan-2095 1 code3 \"\"\n";
    let (_, set) = pools(text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["f1 1.0 2", "f2 1.0 6", "f3 1.0 1"]
    );
    // The same feature name under another vendor is another feature.
    let text =
        format!("{HEAD}FEATURE f1 demo 1.0 permanent 4 K\nFEATURE f1 other 1.0 permanent 5 K\n");
    let (_, set) = pools(&text, today());
    let by_vendor: Vec<(String, u32)> = set
        .pools
        .iter()
        .map(|p| (p.vendor.clone(), p.issued(today())))
        .collect();
    assert_eq!(
        by_vendor,
        [("demo".to_string(), 4), ("other".to_string(), 5)]
    );
    assert_eq!(set.for_feature("other", "f1").count(), 1);
    assert_eq!(set.for_feature("demo", "f2").count(), 0);
}

// ---------------------------------------------------------------------------
// INCREMENT: pools add up or stay apart

#[test]
fn increment_lines_of_two_versions_give_nine_seats_seed_004() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.000 1-jan-0 4 KEY1\nINCREMENT f1 demo 2.000 1-jan-0 5 KEY2\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 2.0 5", "f1 1.0 4"]);
    let total: u32 = set.pools.iter().map(|p| p.issued(today())).sum();
    assert_eq!(total, 9);
}

#[test]
fn increment_lines_with_the_same_key_add_into_one_pool() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.000 permanent 4 SN=A-1\nINCREMENT f1 demo 1.0 permanent 5 SN=A-2 user_info=\"x\"\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 9"]);
    let lines: Vec<u32> = set.pools[0].contributions.iter().map(|c| c.line).collect();
    assert_eq!(lines, [3, 4]);
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Pooled { pools: vec![0] }
    );
}

#[test]
fn three_node_locked_increments_are_counted_separately_seed_004() {
    let text = "SERVER sam 17001234 1700\nDAEMON xxx /etc/xxx\n\
                INCREMENT f1 xxx 1.00 1-jan-0 2 code1 \"\" 17001111\n\
                INCREMENT f1 xxx 1.00 1-jan-0 2 code2 \"\" 17002222\n\
                INCREMENT f1 xxx 1.00 1-jan-0 2 code3 \"\" 17003333\n";
    let (_, set) = pools(text, today());
    assert_eq!(
        describe_all(&set, today()),
        [
            "f1 1.0 2 @17001111",
            "f1 1.0 2 @17002222",
            "f1 1.0 2 @17003333"
        ]
    );
    assert!(set.pools.iter().all(Pool::is_node_locked));
    // Each node sees only its own two seats.
    let on_2222 = usable(&set, "f1", &identity(&[0x1700_2222]));
    assert_eq!(on_2222.len(), 1);
    assert_eq!(
        grammar::hostid::display_list(on_2222[0].hostids.as_ref().unwrap()),
        "17002222"
    );
    assert!(usable(&set, "f1", &identity(&[0x1700_4444])).is_empty());
}

#[test]
fn pooling_fields_split_increment_lines() {
    let base = "INCREMENT f1 demo 1.0 permanent 1";
    let splitting = [
        "HOSTID=17001111",
        "DUP_GROUP=UHD",
        "FLOAT_OK",
        "USER_BASED",
        "USER_BASED=3",
        "HOST_BASED",
        "PLATFORMS=\"x64_lsb\"",
    ];
    for extra in splitting {
        let text = format!("{HEAD}{base} SN=1\n{base} {extra}\n");
        let (_, set) = pools(&text, today());
        assert_eq!(set.pools.len(), 2, "{extra} must open a new pool");
    }
    // Fields outside the key, and different spellings of the same value,
    // do not split.
    let joining = [
        ("SN=1", "SN=2"),
        ("VENDOR_STRING=\"a\"", "VENDOR_STRING=\"b\""),
        ("NOTICE=\"a\"", "ISSUER=\"b\""),
        ("user_info=\"a\"", "asset_info=\"b\""),
        ("HOSTID=17001111", "HOSTID=#385880337"),
        (
            "HOSTID=\"17001111 17002222\"",
            "HOSTID=\"17001111  17002222\"",
        ),
        ("HOSTID=INTERNET=10.1.*.*", "HOSTID=internet=10.1.*.*"),
        ("DUP_GROUP=UHD", "DUP_GROUP=UHD"),
        ("PLATFORMS=\"a b\"", "PLATFORMS=\"a  b\""),
    ];
    for (a, b) in joining {
        let text = format!("{HEAD}{base} {a}\n{base} {b}\n");
        let (_, set) = pools(&text, today());
        assert_eq!(
            describe_all(&set, today()).len(),
            1,
            "`{a}` and `{b}` must share a pool"
        );
        assert_eq!(set.pools[0].issued(today()), 2);
    }
}

#[test]
fn hex_hostids_pool_together_whatever_their_case() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 1 HOSTID=17007EA8\nINCREMENT f1 demo 1.0 permanent 2 HOSTID=17007ea8\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 3 @17007ea8"]);
}

#[test]
fn overdraft_of_pooled_lines_adds_up() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 4 OVERDRAFT=1\nINCREMENT f1 demo 1.0 permanent 5 OVERDRAFT=2\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(set.pools.len(), 1);
    assert_eq!(set.pools[0].overdraft, 3);
}

#[test]
fn an_increment_adds_to_the_feature_line() {
    // Written INCREMENT first: FEATURE still comes first in precedence.
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 2 SN=inc\nFEATURE f1 demo 1.0 permanent 3 SN=feat\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 5"]);
    let lines: Vec<u32> = set.pools[0].contributions.iter().map(|c| c.line).collect();
    assert_eq!(lines, [4, 3], "the FEATURE line leads the pool");
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Pooled { pools: vec![0] }
    );
}

// ---------------------------------------------------------------------------
// UPGRADE

#[test]
fn upgrade_moves_licenses_to_the_new_version_seed_003() {
    let text = "SERVER my_server 17007ea8 1700\nVENDOR sampled\n\
                INCREMENT f1 sampled 1.000 1-jan-2005 5 SIGN=9BFAC0316462\n\
                UPGRADE f1 sampled 1.000 2.000 1-jan-2005 2 SIGN=1B9A308CC0F7\n";
    let on = day(2004, 12, 31);
    let (file, set) = pools(text, on);
    assert_eq!(describe_all(&set, on), ["f1 1.0 3", "f1 2.0 2"]);
    let c = &set.pools[0].contributions[0];
    assert_eq!((c.line, c.count, c.upgraded_away), (3, 3, 2));
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Pooled { pools: vec![1] }
    );
}

#[test]
fn upgrade_of_a_feature_line_seed_004() {
    let text = "SERVER sam 17001234 1700\nDAEMON demo /etc/demo\n\
                FEATURE f1 demo 1.000 1-jan-94 5 9BFAC03164EDB7BC0462 \"\"\n\
                UPGRADE f1 demo 1.000 2.000 1-jan-94 2 1B9A30316207EC8CC0F7 \"\"\n";
    let on = day(1993, 6, 1);
    let (_, set) = pools(text, on);
    assert_eq!(describe_all(&set, on), ["f1 1.0 3", "f1 2.0 2"]);
    // After 1-jan-1994 both lines have expired.
    let (file, set) = pools(text, day(1994, 1, 2));
    assert!(set.pools.is_empty());
    assert_eq!(outcome(&file, &set, 3), LineOutcome::Expired);
    assert_eq!(outcome(&file, &set, 4), LineOutcome::Expired);
}

#[test]
fn upgrade_takes_from_the_closest_preceding_line_in_range() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 5\n\
         INCREMENT f1 demo 1.5 permanent 4\n\
         INCREMENT f1 demo 3.0 permanent 7\n\
         UPGRADE f1 demo 1.0 2.0 permanent 2\n"
    );
    let (_, set) = pools(&text, today());
    let mut got = describe_all(&set, today());
    got.sort();
    assert_eq!(got, ["f1 1.0 5", "f1 1.5 2", "f1 2.0 2", "f1 3.0 7"]);
}

#[test]
fn upgrade_moves_at_most_what_is_there() {
    let text =
        format!("{HEAD}INCREMENT f1 demo 1.0 permanent 1\nUPGRADE f1 demo 1.0 2.0 permanent 3\n");
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 0", "f1 2.0 1"]);
}

#[test]
fn upgrade_with_nothing_in_range() {
    let cases = [
        // Version below the range.
        "INCREMENT f1 demo 0.9 permanent 5\nUPGRADE f1 demo 1.0 2.0 permanent 2\n",
        // Version at the target: [from, to) excludes it.
        "INCREMENT f1 demo 2.0 permanent 5\nUPGRADE f1 demo 1.0 2.0 permanent 2\n",
        // The line comes after the UPGRADE.
        "UPGRADE f1 demo 1.0 2.0 permanent 2\nINCREMENT f1 demo 1.0 permanent 5\n",
        // Another feature.
        "INCREMENT f0 demo 1.0 permanent 5\nUPGRADE f1 demo 1.0 2.0 permanent 2\n",
        // Uncounted lines cannot be upgraded.
        "INCREMENT f1 demo 1.0 permanent 0 HOSTID=17001111\nUPGRADE f1 demo 1.0 2.0 permanent 2\n",
    ];
    for body in cases {
        let text = format!("{HEAD}{body}");
        let (file, set) = pools(&text, today());
        let upgrade_line = if body.starts_with("UPGRADE") { 3 } else { 4 };
        assert_eq!(
            outcome(&file, &set, upgrade_line),
            LineOutcome::NothingToUpgrade,
            "{body}"
        );
        assert!(set
            .pools
            .iter()
            .all(|p| p.contributions.iter().all(|c| c.line != upgrade_line)));
        let total: u32 = set.pools.iter().map(|p| p.issued(today())).sum();
        assert_eq!(total, if body.contains(" 0 HOSTID") { 0 } else { 5 });
    }
}

// ---------------------------------------------------------------------------
// PACKAGE

#[test]
fn package_components_seed_003() {
    let text = "SERVER my_server 17007ea8 1700\nVENDOR sampled\n\
                PACKAGE suite sampled 1.0 SIGN=2CBF44FCB9C1 \\\n\
                COMPONENTS=\"apple:1.5:2 orange:3.0:4\"\n\
                FEATURE suite sampled 1.0 1-jan-2005 3 SIGN=321E78A17EC1 SN=123\n";
    let on = day(2004, 6, 1);
    let (file, set) = pools(text, on);
    // The enabling FEATURE itself is replaced by its components.
    assert_eq!(
        describe_all(&set, on),
        ["apple 1.5 6 package=suite", "orange 3.0 12 package=suite"]
    );
    assert_eq!(outcome(&file, &set, 3), LineOutcome::PackageDefinition);
    assert_eq!(
        outcome(&file, &set, 5),
        LineOutcome::Pooled { pools: vec![0, 1] }
    );
    assert!(set
        .pools
        .iter()
        .all(|p| p.contributions[0].expiry == Expiry::On(day(2005, 1, 1))));
}

#[test]
fn package_example_3_seed_004() {
    let text = "SERVER sam 17001234 1700\nDAEMON demo /etc/demo\n\
                PACKAGE suite demo 1.0 \\\n\
                \x20                       COMPONENTS=\"comp1:1.5:2 comp2:3.0:4 comp3\"\n\
                FEATURE suite demo 1.0 1-jan-95 3 20CHARCODEXXXXXXXXXX\\\n\
                \x20                       ISSUER=distrib1\n";
    let on = day(1994, 3, 1);
    let (_, set) = pools(text, on);
    assert_eq!(
        describe_all(&set, on),
        [
            "comp1 1.5 6 package=suite",
            "comp2 3.0 12 package=suite",
            "comp3 1.0 3 package=suite"
        ]
    );
}

#[test]
fn package_suite_seed_003() {
    let text = "SERVER my_server 17007ea8 1700\nVENDOR sampled\n\
                PACKAGE suite sampled 1.0 SIGN=3B24B2F508CB \\\n\
                COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE\n\
                FEATURE suite sampled 1.0 1-jan-0 5 SIGN=4193E6ABCCCB\n";
    let (_, set) = pools(text, today());
    let mut got = describe_all(&set, today());
    got.sort();
    assert_eq!(
        got,
        [
            "comp1 1.0 5 suite=suite package=suite",
            "comp2 1.0 5 suite=suite package=suite",
            "suite 1.0 5",
        ]
    );
}

#[test]
fn package_suite_example_1_seed_004() {
    let text = "SERVER sam 17001234 1700\nDAEMON demo /etc/demo\n\
                PACKAGE suite demo 1.0 20CHARCODEXXXXXXXXXX\\\n\
                COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE\n\
                FEATURE suite demo 1.0 1-jan-0 5 20CHARCODEXXXXXXXXXX\n";
    let (_, set) = pools(text, today());
    let mut suite_of: Vec<(String, Option<String>, u32)> = set
        .pools
        .iter()
        .map(|p| (p.feature.clone(), p.suite.clone(), p.issued(today())))
        .collect();
    suite_of.sort();
    assert_eq!(
        suite_of,
        [
            ("comp1".to_string(), Some("suite".to_string()), 5),
            ("comp2".to_string(), Some("suite".to_string()), 5),
            ("suite".to_string(), None, 5),
        ]
    );
}

#[test]
fn node_locked_increments_enable_a_package_seed_004_example_2() {
    let text = "SERVER sam 17001234 1700\nDAEMON demo /etc/demo\n\
                PACKAGE suite demo 1.0 20CHARCODEXXXXXXXXXX\\\n\
                \x20                       COMPONENTS=\"comp1 comp2 comp3 comp4 comp5\"\n\
                INCREMENT suite demo 1.0 1-jan-0 1 20CHARCODEXXXXXXXXXX\\\n\
                \x20                       HOSTID=12345678\n\
                INCREMENT suite demo 1.0 1-jan-0 1 20CHARCODEXXXXXXXXXX\\\n\
                \x20                       HOSTID=87654321\n";
    let (_, set) = pools(text, today());
    assert_eq!(set.pools.len(), 10);
    for comp in ["comp1", "comp2", "comp3", "comp4", "comp5"] {
        let mut got: Vec<String> = set
            .pools
            .iter()
            .filter(|p| p.feature == comp)
            .map(|p| describe(p, today()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                format!("{comp} 1.0 1 @12345678 package=suite"),
                format!("{comp} 1.0 1 @87654321 package=suite"),
            ]
        );
        let on_first = usable(&set, comp, &identity(&[0x1234_5678]));
        assert_eq!(on_first.len(), 1, "{comp}");
    }
    assert!(set.pools.iter().all(|p| p.feature != "suite"));
}

#[test]
fn package_version_must_match_the_enabling_line() {
    let text =
        format!("{HEAD}PACKAGE pk demo 2.0 COMPONENTS=\"a b\"\nFEATURE pk demo 1.0 permanent 3\n");
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["pk 1.0 3"]);
    // A PACKAGE line without a version takes the enabling line's version.
    let text =
        format!("{HEAD}PACKAGE pk demo COMPONENTS=\"a b:4.0\"\nFEATURE pk demo 1.5 permanent 3\n");
    let (_, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["a 1.5 3 package=pk", "b 4.0 3 package=pk"]
    );
    // Packages of another vendor do not apply.
    let text =
        format!("{HEAD}PACKAGE pk other COMPONENTS=\"a\"\nFEATURE pk demo 1.0 permanent 3\n");
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["pk 1.0 3"]);
}

// ---------------------------------------------------------------------------
// Order of precedence

#[test]
fn uncounted_before_counted_mixed_licenses_seed_001() {
    // Seed 001 writes the node-locked lines first; here the floating line
    // comes first and the sort still puts the node-locked lines ahead.
    let text = "SERVER lulu 17001234 1700\nDAEMON xyzd /etc/xyzd\n\
                FEATURE f1 xyzd 1.00 1-jan-2093 2 code3 \"\"\n\
                FEATURE f1 xyzd 1.00 1-jan-2093 0 code1 \"\" 17001111\n\
                FEATURE f1 xyzd 1.00 1-jan-2093 0 code2 \"\" 17002222\n";
    let (file, set) = pools(text, today());
    assert_eq!(
        describe_all(&set, today()),
        [
            "f1 1.0 uncounted @17001111",
            "f1 1.0 uncounted @17002222",
            "f1 1.0 2"
        ]
    );
    // Uncounted lines never shadow the counted FEATURE line.
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Pooled { pools: vec![2] }
    );
    // A node-locked host gets its own unlimited line first; anyone else
    // gets one of the two floating seats.
    let first = |who: &HostIdentity| usable(&set, "f1", who)[0].counted;
    assert!(!first(&identity(&[0x1700_1111])));
    assert!(!first(&identity(&[0x1700_2222])));
    assert!(first(&identity(&[0x0800_2000_05ac])));
    assert_eq!(usable(&set, "f1", &identity(&[0x0800_2000_05ac])).len(), 1);
    assert_eq!(
        set.pools[0].issued(today()),
        0,
        "uncounted pools have no limit"
    );
}

#[test]
fn mixed_licenses_seed_004_with_increment_lines() {
    let text = "SERVER sam 17001234 1700\nDAEMON xxx /etc/xxx\n\
                INCREMENT f1 xxx 1.00 1-jan-2092 0 code1 \"\" 17001111\n\
                INCREMENT f1 xxx 1.00 1-jan-2092 0 code2 \"\" 17002222\n\
                INCREMENT f1 xxx 1.00 1-jan-2092 2 code3 \"\"\n";
    let (_, set) = pools(text, today());
    assert_eq!(
        describe_all(&set, today()),
        [
            "f1 1.0 uncounted @17001111",
            "f1 1.0 uncounted @17002222",
            "f1 1.0 2"
        ]
    );
}

#[test]
fn higher_versions_first() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.5 permanent 1\nINCREMENT f1 demo 1.10 permanent 2\nINCREMENT f1 demo 10.0 permanent 3\nINCREMENT f1 demo 2 permanent 4\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["f1 10.0 3", "f1 2.0 4", "f1 1.5 1", "f1 1.1 2"]
    );
}

#[test]
fn newest_issued_first() {
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 permanent 4 ISSUED=1-jan-2020\nFEATURE f1 demo 1.0 permanent 6 ISSUED=1-jan-2021\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 6"]);
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Shadowed { by_line: 4 }
    );
    // START= stands in for ISSUED=.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 permanent 4 START=1-jan-2020\nFEATURE f1 demo 1.0 permanent 6 START=1-jan-2021\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 6"]);
    // ISSUED= wins over START= on the same line.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 permanent 4 ISSUED=1-jan-2024 START=1-jan-2019\nFEATURE f1 demo 1.0 permanent 6 START=1-jan-2021\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 4"]);
    // Version beats the issue date.
    let text = format!(
        "{HEAD}FEATURE f1 demo 2.0 permanent 4 ISSUED=1-jan-2020\nFEATURE f1 demo 1.0 permanent 6 ISSUED=1-jan-2021\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 2.0 4"]);
}

#[test]
fn feature_before_increment_before_version() {
    // A FEATURE line of a lower version still sorts before an INCREMENT.
    let text =
        format!("{HEAD}INCREMENT f1 demo 3.0 permanent 1\nFEATURE f1 demo 1.0 permanent 2\n");
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 2", "f1 3.0 1"]);
}

#[test]
fn sort_attribute_replaces_the_automatic_order() {
    // sort=50 puts v1 ahead of v2 (default 100): v1 is the counted FEATURE.
    let text =
        format!("{HEAD}FEATURE f1 demo 2.0 permanent 5\nFEATURE f1 demo 1.0 permanent 4 sort=50\n");
    let (file, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 4"]);
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Shadowed { by_line: 4 }
    );
    // The same value on every line keeps the file order.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 permanent 4 sort=100\nFEATURE f1 demo 2.0 permanent 5 sort=100\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 4"]);
    // Larger values go after unmarked lines, even counted INCREMENT lines
    // before uncounted ones.
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 0 HOSTID=17001111 sort=150\nINCREMENT f1 demo 1.0 permanent 2\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["f1 1.0 2", "f1 1.0 uncounted @17001111"]
    );
    // sort= on one feature leaves the others to the automatic order.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.0 permanent 4 sort=100\nFEATURE f1 demo 2.0 permanent 5\n\
         FEATURE f2 demo 1.0 permanent 4\nFEATURE f2 demo 2.0 permanent 5\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(describe_all(&set, today()), ["f1 1.0 4", "f2 2.0 5"]);
}

#[test]
fn features_keep_their_first_appearance_order() {
    let text = format!(
        "{HEAD}INCREMENT zeta demo 1.0 permanent 1\nINCREMENT alpha demo 1.0 permanent 2\nINCREMENT zeta demo 2.0 permanent 3\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["zeta 2.0 3", "zeta 1.0 1", "alpha 1.0 2"]
    );
}

// ---------------------------------------------------------------------------
// Dates: expiry and START against an injected "today"

#[test]
fn expiry_is_judged_against_the_given_day() {
    let text =
        format!("{HEAD}INCREMENT f1 demo 1.0 30-jun-2025 4\nINCREMENT f1 demo 1.0 permanent 3\n");
    for (on, want, expired) in [
        (day(2025, 6, 30), 7, false),
        (day(2025, 7, 1), 3, true),
        (day(1990, 1, 1), 7, false),
    ] {
        let (file, set) = pools(&text, on);
        assert_eq!(describe_all(&set, on), [format!("f1 1.0 {want}")], "{on}");
        assert_eq!(
            outcome(&file, &set, 3) == LineOutcome::Expired,
            expired,
            "{on}"
        );
    }
}

#[test]
fn start_dates_and_expiry_within_one_pool() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 3\n\
         INCREMENT f1 demo 1.0 31-dec-2025 4 START=1-jun-2025\n\
         INCREMENT f1 demo 1.0 30-jun-2025 2\n"
    );
    let (_, set) = pools(&text, day(2025, 1, 1));
    assert_eq!(set.pools.len(), 1);
    let pool = &set.pools[0];
    assert_eq!(pool.issued(day(2025, 1, 1)), 5);
    assert_eq!(pool.issued(day(2025, 5, 31)), 5);
    assert_eq!(pool.issued(day(2025, 6, 1)), 9);
    assert_eq!(pool.issued(day(2025, 6, 30)), 9);
    assert_eq!(pool.issued(day(2025, 7, 1)), 7);
    assert_eq!(pool.issued(day(2026, 1, 1)), 3);
    assert!(pool.is_active(day(2030, 1, 1)));
    assert_eq!(pool.expiry(), Expiry::Permanent);

    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 31-dec-2025 4 START=1-jun-2025\nINCREMENT f1 demo 1.0 30-jun-2025 2\n"
    );
    let (_, set) = pools(&text, day(2025, 1, 1));
    let pool = &set.pools[0];
    assert_eq!(pool.expiry(), Expiry::On(day(2025, 12, 31)));
    assert!(pool.is_active(day(2025, 12, 31)));
    assert!(!pool.is_active(day(2026, 1, 1)));
    assert_eq!(pool.issued(day(2026, 1, 1)), 0);
}

#[test]
fn a_line_that_has_not_started_is_pooled_but_issues_nothing_yet() {
    let text = format!("{HEAD}FEATURE f1 demo 1.0 permanent 4 START=1-jan-2030\n");
    let (file, set) = pools(&text, today());
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Pooled { pools: vec![0] }
    );
    assert_eq!(set.pools[0].issued(today()), 0);
    assert!(!set.pools[0].is_active(today()));
    assert_eq!(set.pools[0].issued(day(2030, 1, 1)), 4);
}

// ---------------------------------------------------------------------------
// SUPERSEDE

#[test]
fn supersede_retires_lines_issued_before_it() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 4 ISSUED=1-jan-2020\n\
         INCREMENT f1 demo 1.0 permanent 2 ISSUED=1-jan-2022\n\
         INCREMENT f1 demo 1.0 permanent 1\n\
         INCREMENT f1 demo 1.0 permanent 8 START=1-jan-2019\n\
         INCREMENT f1 demo 2.0 permanent 6 SUPERSEDE ISSUED=1-jan-2021\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Superseded { by_line: 7 }
    );
    assert_eq!(
        outcome(&file, &set, 5),
        LineOutcome::Superseded { by_line: 7 }
    );
    assert_eq!(
        outcome(&file, &set, 6),
        LineOutcome::Superseded { by_line: 7 }
    );
    assert_eq!(describe_all(&set, today()), ["f1 2.0 6", "f1 1.0 2"]);
}

#[test]
fn supersede_with_a_list_names_other_features() {
    let text = format!(
        "{HEAD}FEATURE old_cad demo 1.0 permanent 4 ISSUED=1-jan-2020\n\
         FEATURE old_cam demo 1.0 permanent 4\n\
         FEATURE keep demo 1.0 permanent 4 ISSUED=1-jan-2020\n\
         FEATURE new_suite demo 1.0 permanent 9 SUPERSEDE=\"old_cad old_cam\" ISSUED=1-jan-2024\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(
        outcome(&file, &set, 3),
        LineOutcome::Superseded { by_line: 6 }
    );
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Superseded { by_line: 6 }
    );
    assert_eq!(
        describe_all(&set, today()),
        ["keep 1.0 4", "new_suite 1.0 9"]
    );
}

#[test]
fn supersede_needs_issued_and_stays_within_its_vendor() {
    // Without ISSUED= on the SUPERSEDE line there is no cut-off date.
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 4 ISSUED=1-jan-2020\nINCREMENT f1 demo 2.0 permanent 6 SUPERSEDE\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(set.pools.len(), 2);
    let text = format!(
        "{HEAD}INCREMENT f1 other 1.0 permanent 4 ISSUED=1-jan-2020\nINCREMENT f1 demo 2.0 permanent 6 SUPERSEDE ISSUED=1-jan-2024\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(set.pools.len(), 2);
}

// ---------------------------------------------------------------------------
// Lines that take no part

#[test]
fn not_served_lines_take_no_part() {
    let text = format!(
        "{HEAD}PACKAGE pk demo COMPONENTS=\"a b\"\nFEATURE f1 demo 1.0 permanent 4\nFEATURE f1 demo 1.0 permanent 5\nFEATURE pk demo 1.0 permanent 2\n"
    );
    let file = parse(&text);
    let mut not_served = HashMap::new();
    not_served.insert(entry_at(&file, 4), "bad signature".to_string());
    not_served.insert(entry_at(&file, 3), "bad signature".to_string());
    let set = build_pools(&file, &not_served, today());
    // The second FEATURE line counts once the first is out; the package is
    // not expanded.
    assert_eq!(describe_all(&set, today()), ["f1 1.0 5", "pk 1.0 2"]);
    assert_eq!(
        set.outcomes[&entry_at(&file, 4)],
        LineOutcome::NotServed {
            reason: "bad signature".into()
        }
    );
}

// ---------------------------------------------------------------------------
// The `lmgrd --check` report

#[test]
fn check_report_of_a_signed_file() {
    let text = "SERVER my_server 17007ea8 1700\nVENDOR demo\nUSE_SERVER\n\
                FEATURE f1 demo 1.000 permanent 4\n\
                FEATURE f1 demo 2.000 permanent 5\n\
                INCREMENT f2 demo 1.0 permanent 3\n\
                INCREMENT f2 demo 1.0 permanent 2\n\
                UPGRADE f2 demo 1.0 2.0 permanent 1\n\
                INCREMENT f3 demo 1.0 1-jan-2020 2\n\
                PACKAGE pk demo 1.0 COMPONENTS=\"c1:1.0:2\"\n\
                FEATURE pk demo 1.0 permanent 3\n";
    let (report, set) = checked(text, today());
    let outcomes: Vec<(u32, &str)> = report.lines.iter().map(|l| (l.line, l.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (4, "shadowed"),
            (5, "served"),
            (6, "served"),
            (7, "served"),
            (8, "served"),
            (9, "expired"),
            (10, "package"),
            (11, "served"),
        ]
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let pools: Vec<(String, String, u32, Vec<u32>)> = report
        .pools
        .iter()
        .map(|p| {
            (
                p.feature.clone(),
                p.version.clone(),
                p.count,
                p.lines.clone(),
            )
        })
        .collect();
    assert_eq!(
        pools,
        [
            ("f1".into(), "2.000".into(), 5, vec![5]),
            ("f2".into(), "1.0".into(), 4, vec![6, 7]),
            ("c1".into(), "1.0".into(), 6, vec![11]),
            ("f2".into(), "2.0".into(), 1, vec![8]),
        ]
    );
    assert_eq!(set.pools.len(), report.pools.len());
    assert!(report.use_server);
    // Shadowed and expired lines are warnings with their line.
    let warned: Vec<u32> = report.warnings.iter().map(|w| w.line).collect();
    assert_eq!(warned, [4, 9]);
    assert!(report.warnings[0].message.contains("line 5 is used"));
}

#[test]
fn check_report_for_start_dates_and_upgrades_with_nothing_to_do() {
    let text = "SERVER my_server ANY 1700\nVENDOR demo\n\
                INCREMENT f1 demo 1.0 permanent 2 START=1-jan-2030\n\
                UPGRADE f9 demo 1.0 2.0 permanent 1\n";
    let (report, _) = checked(text, today());
    assert_eq!(report.lines[0].outcome, "served");
    assert_eq!(report.lines[1].outcome, "nothing_to_upgrade");
    assert_eq!(report.pools[0].count, 0);
    let msgs: Vec<(u32, &str)> = report
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert!(msgs
        .iter()
        .any(|(l, m)| *l == 3 && m.contains("cannot be used before START=1-jan-2030")));
    assert!(msgs.iter().any(|(l, _)| *l == 4));
    // On the START day the seats are there.
    let (report, _) = checked(text, day(2030, 1, 1));
    assert_eq!(report.pools[0].count, 2);
    assert_eq!(report.today, day(2030, 1, 1));
}

#[test]
fn check_report_server_and_vendor_rules() {
    // A counted line needs a SERVER line and a VENDOR line.
    let (report, _) = checked("VENDOR demo\nFEATURE f1 demo 1.0 permanent 4\n", today());
    assert_eq!(report.lines[0].outcome, "not_served");
    assert!(report.lines[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("LM_NO_SERVER_IN_FILE"));
    let (report, _) = checked(
        "SERVER h ANY 1700\nFEATURE f1 demo 1.0 permanent 4\n",
        today(),
    );
    assert_eq!(report.lines[0].outcome, "not_served");
    assert!(report.lines[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("no VENDOR line for vendor demo"));
    // An uncounted line needs neither.
    let (report, _) = checked("FEATURE f1 demo 1.0 permanent 0 HOSTID=DEMO\n", today());
    assert_eq!(report.lines[0].outcome, "served");
    assert!(report.is_ok());
    assert!(!report.pools[0].counted);

    // Two SERVER lines is an error; three make a triad.
    let two = "SERVER a ANY 1700\nSERVER b ANY 1700\nVENDOR demo\n";
    let (report, _) = checked(two, today());
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].line, 2);
    assert!(report.errors[0].message.contains("2 SERVER lines"));
    let triad = "SERVER pat 17003456 1700\nSERVER lee 17004355\nSERVER terry 17007ea8 1700\nDAEMON demo /etc/mydaemon\n\
                 FEATURE f1 demo 1.000 01-jan-2096 10\n";
    let (report, _) = checked(triad, today());
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.servers.len(), 3);
    assert_eq!(report.servers[1].port, None);
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].line, 2);
    assert!(report.warnings[0]
        .message
        .contains("should each give a port"));
    assert_eq!(report.lines[0].outcome, "served");
    assert_eq!(report.pools[0].count, 10);
}

#[test]
fn check_report_of_unsigned_lines() {
    let file = parse(
        "SERVER my_server 17007ea8 1700\nVENDOR sampled\n\
         FEATURE f1 sampled 1.000 01-jan-2005 10 SIGN=9BFAC0316462\n\
         FEATURE f2 sampled 1.000 01-jan-2005 10\n",
    );
    let (report, set) = check(&file, &grammar::signature::KeyRing::new(), day(2004, 1, 1));
    assert!(set.pools.is_empty());
    assert_eq!(report.lines.len(), 2);
    assert!(report.lines.iter().all(|l| l.outcome == "not_served"));
    let errs: Vec<(u32, u32)> = report.errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(errs, [(3, 41), (4, 1)]);
    assert!(report.errors[0].message.contains("FLEXlm key"));
    assert!(report.errors[1].message.contains("LM_SIGN_REQ"));
}

#[test]
fn check_report_serialises_to_json() {
    let text = "SERVER my_server 17007ea8 1700\nVENDOR demo\nINCREMENT f1 demo 1.0 31-dec-2030 4\n";
    let (report, _) = checked(text, today());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["today"], "15-jun-2025");
    assert_eq!(json["lines"][0]["outcome"], "served");
    assert_eq!(json["lines"][0]["signature"], "valid");
    assert_eq!(json["lines"][0]["expiry"], "31-dec-2030");
    assert_eq!(json["pools"][0]["count"], 4);
    assert_eq!(json["servers"][0]["hostid"], "17007ea8");
}

#[test]
fn a_package_line_serves_if_any_component_is_pooled() {
    // The standalone FEATURE a comes first, so the package's `a` is
    // shadowed; its `b` still serves, and the line says so.
    let text = format!(
        "{HEAD}PACKAGE pk demo COMPONENTS=\"a b\"\nFEATURE a demo 1.0 permanent 9\nFEATURE pk demo 1.0 permanent 3\n"
    );
    let (file, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["a 1.0 9", "b 1.0 3 package=pk"]
    );
    assert_eq!(
        outcome(&file, &set, 5),
        LineOutcome::Pooled { pools: vec![1] }
    );
    assert_eq!(
        outcome(&file, &set, 4),
        LineOutcome::Pooled { pools: vec![0] }
    );
}

#[test]
fn upgrades_chain_in_file_order() {
    let text = format!(
        "{HEAD}INCREMENT f1 demo 1.0 permanent 5\n\
         UPGRADE f1 demo 1.0 2.0 permanent 3\n\
         UPGRADE f1 demo 2.0 3.0 permanent 1\n"
    );
    let (_, set) = pools(&text, today());
    assert_eq!(
        describe_all(&set, today()),
        ["f1 1.0 2", "f1 2.0 2", "f1 3.0 1"]
    );
    let moved: Vec<u32> = set
        .pools
        .iter()
        .map(|p| p.contributions[0].upgraded_away)
        .collect();
    assert_eq!(moved, [3, 1, 0]);
}

#[test]
fn special_hostids_decide_who_may_use_a_pool() {
    // Seed 004: five users on any host of the 195.186 network.
    let text = format!(
        "{HEAD}FEATURE f1 demo 1.000 1-jan-0 5 12345678901234567890 \\\n\
         HOSTID=INTERNET=195.186.*.*\n\
         INCREMENT f2 demo 1.0 permanent 2 HOSTID=HOSTNAME=globes\n\
         INCREMENT f2 demo 1.0 permanent 3 HOSTID=USER=joe\n\
         INCREMENT f3 demo 1.0 permanent 0 HOSTID=DEMO\n\
         INCREMENT f3 demo 1.0 permanent 0 HOSTID=\"DISPLAY=:1 17007ea8\"\n"
    );
    let (_, set) = pools(&text, today());
    let mut inside = identity(&[]);
    inside.addresses = vec![Ipv4Addr::new(195, 186, 4, 2)];
    let mut outside = identity(&[]);
    outside.addresses = vec![Ipv4Addr::new(195, 187, 4, 2)];
    outside.user = "ann".into();
    assert_eq!(usable(&set, "f1", &inside).len(), 1);
    assert!(usable(&set, "f1", &outside).is_empty());

    let mut globes = identity(&[]);
    globes.hostname = "globes.example.com".into();
    globes.user = "ann".into();
    let f2_for = |who: &HostIdentity| -> Vec<u32> {
        usable(&set, "f2", who)
            .iter()
            .map(|p| p.issued(today()))
            .collect()
    };
    assert_eq!(f2_for(&globes), [2]);
    assert_eq!(f2_for(&identity(&[])), [3], "user joe on client7");
    assert!(f2_for(&outside).is_empty());

    // DEMO locks nothing; a hostid list means "any of these".
    assert_eq!(usable(&set, "f3", &outside).len(), 1);
    let mut on_display = outside.clone();
    on_display.display = ":1".into();
    assert_eq!(usable(&set, "f3", &on_display).len(), 2);
    assert_eq!(usable(&set, "f3", &identity(&[0x1700_7ea8])).len(), 2);
}
