//! Every line type of a license file, in every form the sources describe,
//! and what the typed model makes of it.

mod common;

use common::*;
use grammar::signature::SignField;
use grammar::{DupGroup, EntryKind, Expiry, FeatureKind, HostId, Severity, VendorKeyword, Version};

fn hex(value: u64, digits: u8) -> HostId {
    HostId::Hex { value, digits }
}

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

// ---------------------------------------------------------------------------
// SERVER

#[test]
fn server_with_port() {
    let s = server("SERVER my_server 17007ea8 21987");
    assert_eq!(s.host, "my_server");
    assert_eq!(s.hostids, vec![hex(0x1700_7ea8, 8)]);
    assert_eq!(s.port, Some(21987));
    assert!(!s.primary_is_master);
    assert_eq!(s.server_timeout, None);
    assert_eq!(s.heartbeat_interval, None);
}

#[test]
fn server_without_port() {
    let s = server("SERVER my_server 17007ea8");
    assert_eq!(s.port, None);
    assert_eq!(s.hostids, vec![hex(0x1700_7ea8, 8)]);
    // Seed 001's example: a seven-digit hostid keeps its width.
    let s = server("SERVER enterprise 0122345 1701");
    assert_eq!(s.host, "enterprise");
    assert_eq!(s.hostids, vec![hex(0x0122345, 7)]);
    assert_eq!(s.port, Some(1701));
}

#[test]
fn server_with_every_option() {
    let s = server(
        "SERVER this_host 17007ea8 27000 PRIMARY_IS_MASTER SERVER_TIMEOUT=30 HEARTBEAT_INTERVAL=20",
    );
    assert_eq!(s.port, Some(27000));
    assert!(s.primary_is_master);
    assert_eq!(s.server_timeout, Some(30));
    assert_eq!(s.heartbeat_interval, Some(20));
    // The options do not need the port.
    let s = server("SERVER this_host ANY PRIMARY_IS_MASTER");
    assert!(s.primary_is_master);
    assert_eq!(s.port, None);
    assert_eq!(s.hostids, vec![HostId::Any]);
}

#[test]
fn server_timeouts_out_of_range_warn_and_bad_numbers_fail() {
    let d = single_warning("SERVER h ANY 1700 SERVER_TIMEOUT=300");
    assert_diag(&d, 1, 34, &["SERVER_TIMEOUT=300", "0-120"]);
    let d = single_warning("SERVER h ANY HEARTBEAT_INTERVAL=121");
    assert_diag(&d, 1, 33, &["HEARTBEAT_INTERVAL", "0-120"]);
    let d = single_error("SERVER h ANY 1700 SERVER_TIMEOUT=soon");
    assert_diag(&d, 1, 34, &["SERVER_TIMEOUT", "whole number", "`soon`"]);
    assert!(parse("SERVER h ANY 1700 SERVER_TIMEOUT=soon")
        .entries
        .is_empty());
}

#[test]
fn server_ports_must_be_tcp_ports() {
    for (line, col) in [("SERVER h ANY 0", 14), ("SERVER h ANY 70000", 14)] {
        let d = single_error(line);
        assert_diag(&d, 1, col, &["not a TCP port", "1-65535"]);
    }
    let d = single_error("SERVER h ANY 1700 1701");
    assert_diag(&d, 1, 19, &["unexpected `1701` on a SERVER line"]);
}

#[test]
fn server_special_and_listed_hostids() {
    let cases: [(&str, Vec<HostId>); 8] = [
        ("SERVER h ANY", vec![HostId::Any]),
        (
            "SERVER h HOSTNAME=globes",
            vec![HostId::Hostname("globes".into())],
        ),
        (
            "SERVER h INTERNET=10.0.0.1 1700",
            vec![HostId::Internet([Some(10), Some(0), Some(0), Some(1)])],
        ),
        ("SERVER h #385941160", vec![hex(0x1700_fea8, 8)]),
        ("SERVER h 0800200005AC", vec![hex(0x0800_2000_05ac, 12)]),
        (
            "SERVER h \"17007ea8 0800200005ac\" 1700",
            vec![hex(0x1700_7ea8, 8), hex(0x0800_2000_05ac, 12)],
        ),
        (
            "SERVER h DISK_SERIAL_NUM=1CA25283",
            vec![HostId::Other {
                kind: "DISK_SERIAL_NUM".into(),
                value: "1CA25283".into(),
            }],
        ),
        ("SERVER h 17007EA8", vec![hex(0x1700_7ea8, 8)]),
    ];
    for (line, ids) in cases {
        assert_eq!(server(line).hostids, ids, "{line}");
    }
}

#[test]
fn server_host_names() {
    // VMS administrators may write the node name with a trailing "::".
    assert_eq!(server("SERVER node:: 17007ea8 1700").host, "node::");
    let long = "h".repeat(65);
    let d = single_warning(&format!("SERVER {long} ANY"));
    assert_diag(&d, 1, 8, &["host name", "65 characters", "at most 64"]);
    parse_clean(&format!("SERVER {} ANY", "h".repeat(64)));
}

#[test]
fn server_bad_hostid_points_at_it() {
    let d = single_error("SERVER my_server bogus! 1700");
    assert_diag(&d, 1, 18, &["`bogus!` is not a hostid"]);
    let d = single_error("SERVER my_server INTERNET=1.2.3 1700");
    assert_diag(&d, 1, 18, &["INTERNET=", "four parts"]);
}

#[test]
fn redundant_triad_from_seed_004() {
    let file = parse_clean(
        "SERVER pat 17003456 1700\n\
         SERVER lee 17004355 1700\n\
         SERVER terry 17007ea8 1700\n\
         DAEMON demo /etc/mydaemon\n\
         FEATURE f1 demo 1.000 01-jan-2096 10 1AEEFC8F90030EABF324\n\
         FEATURE f2 demo 1.000 01-jan-2096 10 0A7E8C4F561FE98BA073\n",
    );
    let hosts: Vec<_> = file.servers().map(|(_, s)| s.host.clone()).collect();
    assert_eq!(hosts, ["pat", "lee", "terry"]);
    let ids: Vec<String> = file
        .server_hostids()
        .iter()
        .map(|ids| grammar::hostid::display_list(ids))
        .collect();
    assert_eq!(ids, ["17003456", "17004355", "17007ea8"]);
    assert_eq!(features(&file).len(), 2);
    let lines: Vec<u32> = file.servers().map(|(e, _)| e.line).collect();
    assert_eq!(lines, [1, 2, 3]);
}

// ---------------------------------------------------------------------------
// VENDOR and DAEMON

#[test]
fn vendor_v6_form_needs_only_a_name() {
    let v = vendor("VENDOR sampled");
    assert_eq!(v.keyword, VendorKeyword::Vendor);
    assert_eq!(v.name, "sampled");
    assert_eq!((v.path, v.options, v.port), (None, None, None));
}

#[test]
fn daemon_pre_v6_form_with_continuation() {
    // Seed 003's pre-v6.0 example.
    let file = parse_clean("DAEMON sampled /etc/sampled \\\n/etc/sampled/licenses/sampled.opt\n");
    let (e, v) = file.vendors().next().unwrap();
    assert_eq!(v.keyword, VendorKeyword::Daemon);
    assert_eq!(v.path.as_deref(), Some("/etc/sampled"));
    assert_eq!(
        v.options.as_deref(),
        Some("/etc/sampled/licenses/sampled.opt")
    );
    assert_eq!((e.line, e.end_line), (1, 2));
}

#[test]
fn daemon_lines_of_seed_004_and_001() {
    let v = vendor("DAEMON xyzd /etc/xyzd");
    assert_eq!(v.path.as_deref(), Some("/etc/xyzd"));
    assert_eq!(v.options, None);
    let v = vendor("DAEMON xyzd /etc/xyzd /usr/local/flexlm/options/xyz.opts");
    assert_eq!(
        v.options.as_deref(),
        Some("/usr/local/flexlm/options/xyz.opts")
    );
    let v = vendor(r"DAEMON xyzd c:\windows\system\xyzd.exe c:\opts\xyz.opts");
    assert_eq!(v.path.as_deref(), Some(r"c:\windows\system\xyzd.exe"));
    assert_eq!(v.options.as_deref(), Some(r"c:\opts\xyz.opts"));
    let v = vendor("DAEMON mydaemon /usr/local/mydaemon \\\n /usr/local/options/options.dat");
    assert_eq!(v.name, "mydaemon");
    assert_eq!(v.options.as_deref(), Some("/usr/local/options/options.dat"));
}

#[test]
fn vendor_options_and_port_bare_or_keyword() {
    let cases = [
        (
            "VENDOR sampled /path /opt 2000",
            (Some("/path"), Some("/opt"), Some(2000)),
        ),
        (
            "VENDOR sampled /path OPTIONS=/opt PORT=2000",
            (Some("/path"), Some("/opt"), Some(2000)),
        ),
        (
            "VENDOR sampled /path OPTIONS=/opt 2000",
            (Some("/path"), Some("/opt"), Some(2000)),
        ),
        (
            "VENDOR sampled OPTIONS=/opt/sampled.opt",
            (None, Some("/opt/sampled.opt"), None),
        ),
        (
            "VENDOR sampled options=/opt/sampled.opt",
            (None, Some("/opt/sampled.opt"), None),
        ),
        ("VENDOR sampled PORT=2001", (None, None, Some(2001))),
        (
            "VENDOR sampled OPTIONS=/o 2002",
            (None, Some("/o"), Some(2002)),
        ),
        (
            "VENDOR sampled \"/opt/with space/sampled\"",
            (Some("/opt/with space/sampled"), None, None),
        ),
    ];
    for (line, (path, options, port)) in cases {
        let got = vendor(line);
        assert_eq!(got.path.as_deref(), path, "{line}");
        assert_eq!(got.options.as_deref(), options, "{line}");
        assert_eq!(got.port, port, "{line}");
    }
}

#[test]
fn vendor_line_errors() {
    let d = single_error("VENDOR sampled /p /o 2000 extra");
    assert_diag(&d, 1, 27, &["unexpected `extra` on a VENDOR line"]);
    let d = single_error("VENDOR sampled PORT=http");
    assert_diag(&d, 1, 21, &["`http` is not a TCP port"]);
    let d = single_error("VENDOR sampled /p PORT=1 2");
    assert_diag(&d, 1, 26, &["unexpected `2`"]);
    let d = single_warning("VENDOR sampledvendor");
    assert_diag(&d, 1, 8, &["vendor name `sampledvendor`", "at most 10"]);
}

// ---------------------------------------------------------------------------
// USE_SERVER

#[test]
fn use_server() {
    let file = parse_clean("SERVER h ANY 1700\nUSE_SERVER\nVENDOR demo\n");
    assert!(file.use_server());
    assert!(matches!(file.entries[1].kind, EntryKind::UseServer));
    assert!(!parse_clean("SERVER h ANY 1700\n").use_server());
    let d = single_warning("USE_SERVER now please");
    assert_diag(&d, 1, 12, &["USE_SERVER takes no arguments"]);
}

// ---------------------------------------------------------------------------
// FEATURE and INCREMENT: the three forms

#[test]
fn pre_v3_positional_form() {
    // Seed 004: node-locked, uncounted, with an empty vendor string.
    let f = feature_lenient("FEATURE f1 xxx 1.000 1-jan-1990 0 code1 \"\" 12001234");
    assert!(f.old_format);
    assert_eq!(f.kind, FeatureKind::Feature);
    assert_eq!(f.legacy_key.as_deref(), Some("code1"));
    assert_eq!(f.vendor_string.as_deref(), Some(""));
    assert_eq!(f.hostids, Some(vec![hex(0x1200_1234, 8)]));
    assert_eq!(f.count, 0);
    assert!(!f.is_counted());
    assert!(f.is_node_locked());
    assert_eq!(f.signature, SignField::Legacy("code1".into()));

    // Seed 001: a vendor string and no hostid (floating).
    let f = feature("FEATURE xyz_app xyzd 2.300 31-dec-1997 20 1234567890 \"xyz\"");
    assert!(f.old_format);
    assert_eq!(f.vendor_string.as_deref(), Some("xyz"));
    assert_eq!(f.hostids, None);
    assert_eq!(f.count, 20);
    assert!(!f.is_node_locked());

    // Seed 004: a DEMO license in the old form.
    let f = feature("FEATURE f1 xxx 1.00 1-jan-1992 0 code1 \"\" DEMO ");
    assert!(f.is_demo());
    assert!(!f.is_node_locked());

    // Counted and node-locked, old form.
    let f = feature("INCREMENT f1 xxx 1.00 1-jan-0 2 code1 \"\" 17001111");
    assert_eq!(f.kind, FeatureKind::Increment);
    assert_eq!(f.expiry, Expiry::Permanent);
    assert_eq!(f.hostids, Some(vec![hex(0x1700_1111, 8)]));
}

#[test]
fn pre_v3_form_takes_special_hostids() {
    let cases: [(&str, HostId); 5] = [
        (
            "INTERNET=195.186.*.*",
            HostId::Internet([Some(195), Some(186), None, None]),
        ),
        ("HOSTNAME=globes", HostId::Hostname("globes".into())),
        ("USER=joe", HostId::User("joe".into())),
        ("ID=1234", HostId::Id("1234".into())),
        ("ANY", HostId::Any),
    ];
    for (id, want) in cases {
        let f = feature(&format!(
            "FEATURE f1 xxx 1.00 1-jan-0 0 code \"vendor data\" {id}"
        ));
        assert_eq!(f.hostids, Some(vec![want]), "{id}");
        assert_eq!(f.vendor_string.as_deref(), Some("vendor data"));
    }
}

#[test]
fn pre_v3_vendor_string_white_space_is_collapsed() {
    let f = feature("FEATURE f1 xxx 1.00 1-jan-0 3 code \"a   b\tc\"");
    assert_eq!(f.vendor_string.as_deref(), Some("a b c"));
}

#[test]
fn v4_form_key_then_keywords() {
    // Seed 004: counted, locked to a subnet, never expires.
    let f = feature(
        "FEATURE f1 demo 1.000 1-jan-0 5 12345678901234567890 \\\nHOSTID=INTERNET=195.186.*.*\n",
    );
    assert!(!f.old_format);
    assert_eq!(f.legacy_key.as_deref(), Some("12345678901234567890"));
    assert_eq!(f.expiry, Expiry::Permanent);
    assert_eq!(
        f.hostids,
        Some(vec![HostId::Internet([Some(195), Some(186), None, None])])
    );
    assert_eq!(
        f.signature,
        SignField::Legacy("12345678901234567890".into())
    );

    // Seed 004: the whole v4 attribute list on one line.
    let f = feature(
        "FEATURE f1 demo 1.0 1-jan-0 4 KEY HOSTID=17007ea8 VENDOR_STRING=\"vs\" \\\n\
         \tvendor_info=\"vi\" dist_info=\"di\" user_info=\"ui\" \\\n\
         \tasset_info=\"ai\" ISSUER=\"Acme\" NOTICE=\"(c) Acme\" ck=123 \\\n\
         \tOVERDRAFT=2 DUP_GROUP=UHD",
    );
    assert_eq!(f.hostids, Some(vec![hex(0x1700_7ea8, 8)]));
    assert_eq!(f.vendor_string.as_deref(), Some("vs"));
    assert_eq!(f.issuer.as_deref(), Some("Acme"));
    assert_eq!(f.notice.as_deref(), Some("(c) Acme"));
    assert_eq!(f.ck, Some(123));
    assert_eq!(f.overdraft, 2);
    let names: Vec<&str> = f.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "HOSTID",
            "VENDOR_STRING",
            "vendor_info",
            "dist_info",
            "user_info",
            "asset_info",
            "ISSUER",
            "NOTICE",
            "ck",
            "OVERDRAFT",
            "DUP_GROUP"
        ]
    );
}

#[test]
fn v4_form_demo_and_user_hostids() {
    let f = feature_lenient("FEATURE f1 demo 1.000 1-jan-95 0 12345678901234567890 HOSTID=DEMO");
    assert!(f.is_demo());
    assert_eq!(f.expiry, Expiry::On(day(1995, 1, 1)));
    let f = feature_lenient(
        "FEATURE f1 none 1.000 1-jan-95 0 AB28E0011DA1F13C62B3\\\nHOSTID=HOSTNAME=globes",
    );
    assert_eq!(f.hostids, Some(vec![HostId::Hostname("globes".into())]));
    assert_eq!(f.legacy_key.as_deref(), Some("AB28E0011DA1F13C62B3"));
    let f =
        feature_lenient("FEATURE f1 none 1.000 1-jan-93 0 EB78201163B0CBBD6A07\\\nHOSTID=USER=joe");
    assert_eq!(f.hostids, Some(vec![HostId::User("joe".into())]));
}

#[test]
fn v71_form_sign_without_key() {
    // Seed 003's sample license file.
    let file = parse_clean(
        "SERVER my_server 17007ea8 1700\n\
         VENDOR sampled\n\
         FEATURE f1 sampled 1.000 01-jan-2005 10 SIGN=9BFAC0316462\n\
         FEATURE f2 sampled 1.000 01-jan-2005 10 SIGN=1B9A308CC0F7\n",
    );
    let fs = features(&file);
    assert_eq!(fs.len(), 2);
    assert_eq!(fs[0].name, "f1");
    assert_eq!(fs[0].vendor, "sampled");
    assert_eq!(fs[0].version, v("1.0"));
    assert_eq!(fs[0].version.as_written(), "1.000");
    assert_eq!(fs[0].expiry, Expiry::On(day(2005, 1, 1)));
    assert_eq!(fs[0].count, 10);
    assert_eq!(fs[0].legacy_key, None);
    assert_eq!(fs[0].signature, SignField::Legacy("9BFAC0316462".into()));
    assert_eq!(fs[1].signature, SignField::Legacy("1B9A308CC0F7".into()));
    assert!(fs.iter().all(|f| f.needs_server() && !f.old_format));
}

#[test]
fn v71_form_sign_beside_a_legacy_key() {
    let f = feature("FEATURE f1 sampled 1.000 01-jan-2005 10 0123456789AB SIGN=9BFAC0316462");
    assert_eq!(f.legacy_key.as_deref(), Some("0123456789AB"));
    assert_eq!(f.signature, SignField::Legacy("9BFAC0316462".into()));
}

#[test]
fn auth_and_sign2() {
    let f = feature("FEATURE f1 sampled 1.0 permanent 4 AUTH={lic=1234,sig=abcd}");
    assert_eq!(f.signature, SignField::Legacy("{lic=1234,sig=abcd}".into()));
    let f = feature("FEATURE f1 sampled 1.0 permanent 4 SIGN=\"0123 4567\" SIGN2=\"89AB CDEF\"");
    // White space inside a SIGN= value does not count.
    assert_eq!(f.signature, SignField::Legacy("01234567".into()));
    let sign2 = f.attributes.iter().find(|a| a.name == "SIGN2").unwrap();
    assert_eq!(sign2.value.as_deref(), Some("89AB CDEF"));
    assert!(!sign2.is_authenticated());
    // SIGN= wins over AUTH= and over a legacy key.
    let f = feature("FEATURE f1 sampled 1.0 permanent 4 KEY AUTH=a SIGN=s");
    assert_eq!(f.signature, SignField::Legacy("s".into()));
    // Without SIGN= or a key, the line is unsigned.
    let f = feature("FEATURE f1 sampled 1.0 permanent 4 NOTICE=\"x\"");
    assert_eq!(f.signature, SignField::Missing);
}

#[test]
fn ed25519_sign_field_is_recognised() {
    let sig = "ab".repeat(64);
    let f = feature(&format!(
        "FEATURE f1 demo 1.0 permanent 4 SIGN=\"ED25519:0102A3B4:{} \\\n  {}\"",
        &sig[..64],
        &sig[64..]
    ));
    match f.signature {
        SignField::Ed25519 { key_id, signature } => {
            assert_eq!(key_id, [0x01, 0x02, 0xa3, 0xb4]);
            assert_eq!(signature, [0xab; 64]);
        }
        other => panic!("{other:?}"),
    }
    let f = feature("FEATURE f1 demo 1.0 permanent 4 SIGN=ED25519:0102:00");
    assert!(matches!(f.signature, SignField::Malformed(_)));
}

#[test]
fn seed_003_examples_with_continuations() {
    let file = parse_clean(
        "FEATURE sample_app sampled 2.300 31-dec-2005 20 \\\n\
         SIGN=123456789012\n\
         INCREMENT f1 sampled 1.000 permanent 5 \\\n\
         HOSTID=INTERNET=195.186.*.* NOTICE=\"Licensed to \\\n\
         Sample corp\" SIGN=901234567890\n",
    );
    let (e0, f0) = file.features().next().unwrap();
    assert_eq!((e0.line, e0.end_line), (1, 2));
    assert_eq!(f0.version, v("2.3"));
    assert_eq!(f0.signature, SignField::Legacy("123456789012".into()));
    let (e1, f1) = file.features().nth(1).unwrap();
    assert_eq!((e1.line, e1.end_line), (3, 5));
    assert_eq!(f1.kind, FeatureKind::Increment);
    assert_eq!(f1.expiry, Expiry::Permanent);
    assert_eq!(f1.notice.as_deref(), Some("Licensed to Sample corp"));
    assert_eq!(f1.signature, SignField::Legacy("901234567890".into()));
    assert_eq!(
        grammar::LicenseFile::position_of(e1, "SIGN"),
        (5, 14),
        "SIGN= sits on the third physical line"
    );
    assert_eq!(grammar::LicenseFile::position_of(e1, "HOSTID"), (4, 1));
    assert_eq!(grammar::LicenseFile::position_of(e1, "NOPE"), (3, 1));
}

// ---------------------------------------------------------------------------
// Attributes of Tables B-2 and B-3

#[test]
fn hostid_lists_in_quotes() {
    let f = feature("FEATURE f1 demo 1.0 permanent 0 HOSTID=\"17007ea8 0800200005ac  #385941160\"");
    assert_eq!(
        f.hostids,
        Some(vec![
            hex(0x1700_7ea8, 8),
            hex(0x0800_2000_05ac, 12),
            hex(0x1700_fea8, 8)
        ])
    );
    assert!(f.is_node_locked());
}

#[test]
fn every_special_hostid_in_hostid_attribute() {
    let cases: [(&str, HostId, bool); 12] = [
        ("08:00:20:00:05:ac", hex(0x0800_2000_05ac, 12), true),
        ("ANY", HostId::Any, false),
        ("DEMO", HostId::Demo, false),
        ("ID=1234", HostId::Id("1234".into()), false),
        (
            "INTERNET=198.156.*.*",
            HostId::Internet([Some(198), Some(156), None, None]),
            true,
        ),
        ("HOSTNAME=node", HostId::Hostname("node".into()), true),
        ("USER=joe", HostId::User("joe".into()), true),
        ("DISPLAY=:0", HostId::Display(":0".into()), true),
        ("#385941160", hex(0x1700_fea8, 8), true),
        ("0800200005AC", hex(0x0800_2000_05ac, 12), true),
        (
            "ID_STRING=SCO00354",
            HostId::Other {
                kind: "ID_STRING".into(),
                value: "SCO00354".into(),
            },
            true,
        ),
        (
            "SENTINEL_KEY=B285003",
            HostId::Other {
                kind: "SENTINEL_KEY".into(),
                value: "B285003".into(),
            },
            true,
        ),
    ];
    for (text, id, locked) in cases {
        let f = feature(&format!("FEATURE f1 demo 1.0 permanent 0 HOSTID={text}"));
        assert_eq!(f.hostids, Some(vec![id]), "{text}");
        assert_eq!(f.is_node_locked(), locked, "{text}");
    }
}

#[test]
fn typed_attributes() {
    let f = feature(
        "FEATURE f1 demo 1.0 permanent 4 VENDOR_STRING=\"a  b\" START=1-jan-2024 \
         ISSUED=02-Jan-2024 OVERDRAFT=3 DUP_GROUP=UHD SUITE_DUP_GROUP=SITE BORROW=100 \
         FLOAT_OK=FLEXID=9-1234 USER_BASED=5 HOST_BASED=2 PLATFORMS=\"x64_lsb  sun4_u5\" \
         SUPERSEDE=\"f2 f3\" SN=123-A NOTICE=\"Licensed to\tAcme\" ISSUER=\"me\" TS_OK",
    );
    assert_eq!(f.vendor_string.as_deref(), Some("a b"));
    assert_eq!(f.start, Some(day(2024, 1, 1)));
    assert_eq!(f.issued, Some(day(2024, 1, 2)));
    assert_eq!(f.issued_or_start(), Some(day(2024, 1, 2)));
    assert_eq!(f.overdraft, 3);
    assert_eq!(
        f.dup_group,
        Some(DupGroup::Mask {
            user: true,
            host: true,
            display: true,
            vendor: false
        })
    );
    assert_eq!(f.suite_dup_group, Some(DupGroup::Site));
    assert_eq!(f.borrow_hours, Some(100));
    assert_eq!(
        f.float_ok,
        Some(Some(HostId::Other {
            kind: "FLEXID".into(),
            value: "9-1234".into()
        }))
    );
    assert_eq!(f.user_based, Some(Some(5)));
    assert_eq!(f.host_based, Some(Some(2)));
    assert_eq!(f.platforms, ["x64_lsb", "sun4_u5"]);
    assert_eq!(f.supersede, Some(vec!["f2".to_string(), "f3".to_string()]));
    assert_eq!(f.serial.as_deref(), Some("123-A"));
    assert_eq!(f.notice.as_deref(), Some("Licensed to Acme"));
    assert_eq!(f.issuer.as_deref(), Some("me"));
    assert!(f.ts_ok);
    assert!(f.attributes.iter().all(|a| a.is_authenticated()));
}

#[test]
fn bare_flags_and_their_defaults() {
    let f = feature(
        "FEATURE f1 demo 1.0 permanent 4 BORROW FLOAT_OK USER_BASED HOST_BASED SUPERSEDE TS_OK",
    );
    assert_eq!(f.borrow_hours, Some(168), "default borrow is one week");
    assert_eq!(f.float_ok, Some(None));
    assert_eq!(f.user_based, Some(None));
    assert_eq!(f.host_based, Some(None));
    assert_eq!(f.supersede, Some(vec![]));
    assert!(f.ts_ok);
    let f = feature("FEATURE f1 demo 1.0 permanent 4 SIGN=x");
    assert_eq!(f.borrow_hours, None);
    assert_eq!(f.float_ok, None);
    assert_eq!(f.user_based, None);
    assert_eq!(f.host_based, None);
    assert_eq!(f.supersede, None);
    assert!(!f.ts_ok);
    assert_eq!(f.overdraft, 0);
}

#[test]
fn dup_groups() {
    let mask = |user, host, display, vendor| {
        Some(DupGroup::Mask {
            user,
            host,
            display,
            vendor,
        })
    };
    let cases = [
        ("NONE", Some(DupGroup::None)),
        ("SITE", Some(DupGroup::Site)),
        ("U", mask(true, false, false, false)),
        ("H", mask(false, true, false, false)),
        ("D", mask(false, false, true, false)),
        ("V", mask(false, false, false, true)),
        ("UHDV", mask(true, true, true, true)),
        ("VU", mask(true, false, false, true)),
    ];
    for (text, want) in cases {
        let f = feature(&format!(
            "INCREMENT f1 demo 1.0 permanent 4 DUP_GROUP={text} SUITE_DUP_GROUP={text}"
        ));
        assert_eq!(f.dup_group, want, "{text}");
        assert_eq!(f.suite_dup_group, want, "{text}");
    }
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 DUP_GROUP=UHX");
    assert_diag(
        &d,
        1,
        43,
        &["DUP_GROUP=UHX", "NONE, SITE or letters from UHDV"],
    );
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 SUITE_DUP_GROUP=");
    assert_diag(&d, 1, 49, &["SUITE_DUP_GROUP="]);
}

#[test]
fn end_user_attributes_are_lowercase_and_unsigned() {
    let f = feature(
        "FEATURE f1 demo 1.0 permanent 4 asset_info=\"tag 77\" dist_info=\"reseller\" \
         user_info=\"cad team\" vendor_info=\"v\" sort=50 ck=12",
    );
    assert_eq!(f.sort, Some(50));
    assert_eq!(f.ck, Some(12));
    for name in [
        "asset_info",
        "dist_info",
        "user_info",
        "vendor_info",
        "sort",
        "ck",
    ] {
        let a = f.attributes.iter().find(|a| a.name == name).unwrap();
        assert!(!a.is_authenticated(), "{name}");
    }
    let a = f.attributes.iter().find(|a| a.name == "user_info").unwrap();
    assert_eq!(a.value.as_deref(), Some("cad team"));
}

#[test]
fn unknown_attributes_are_kept_with_a_warning() {
    let file = parse("FEATURE f1 demo 1.0 permanent 4 LINGER=30 my_note=\"x\" NEW_FLAG");
    assert!(!file.has_errors());
    let w = warnings(&file);
    assert_eq!(w.len(), 3, "{}", render(&file.diagnostics));
    assert_diag(
        w[0],
        1,
        33,
        &["unknown attribute `LINGER`", "covered by the signature"],
    );
    assert_diag(w[1], 1, 43, &["unknown attribute `my_note`", "not covered"]);
    assert_diag(w[2], 1, 55, &["unknown flag `NEW_FLAG`"]);
    let f = features(&file)[0].clone();
    let auth: Vec<(&str, bool)> = f
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.is_authenticated()))
        .collect();
    assert_eq!(
        auth,
        [("LINGER", true), ("my_note", false), ("NEW_FLAG", true)]
    );
}

#[test]
fn bad_attribute_values_drop_the_line() {
    let cases = [
        ("OVERDRAFT=many", "OVERDRAFT= needs a whole number"),
        ("BORROW=week", "BORROW= needs a whole number"),
        ("USER_BASED=-1", "USER_BASED= needs a whole number"),
        ("HOST_BASED=x", "HOST_BASED= needs a whole number"),
        ("sort=first", "sort= needs a whole number"),
        ("ck=abc", "ck= needs a whole number"),
        ("START=1-jan-0", "START= needs a real date"),
        ("START=permanent", "START= needs a real date"),
        ("ISSUED=31-feb-2024", "day 31 does not exist in feb 2024"),
        ("ISSUED=yesterday", "not a date"),
        ("HOSTID=bogus!", "`bogus!` is not a hostid"),
        ("HOSTID=\"\"", "empty hostid"),
        ("FLOAT_OK=INTERNET=1", "not an INTERNET= address"),
    ];
    for (attr, message) in cases {
        let line = format!("FEATURE f1 demo 1.0 permanent 4 {attr}");
        let file = parse(&line);
        let errs = errors(&file);
        assert_eq!(errs.len(), 1, "{line}: {}", render(&file.diagnostics));
        assert!(errs[0].message.contains(message), "{line}: {}", errs[0]);
        assert!(file.entries.is_empty(), "{line}");
        // The error points at the value, inside its quotes if it has them.
        let eq = attr.find('=').unwrap();
        let quoted = attr[eq + 1..].starts_with('"');
        let value_col = 33 + eq as u32 + 1 + u32::from(quoted);
        assert_eq!(errs[0].column, value_col, "{line}: {}", errs[0]);
    }
}

#[test]
fn an_attribute_given_twice_is_an_error() {
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 SN=1 NOTICE=\"n\" SN=2");
    assert_diag(&d, 1, 49, &["SN appears twice"]);
    // The old form's positional vendor string counts as VENDOR_STRING.
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 key \"vs\" VENDOR_STRING=\"x\"");
    assert_diag(&d, 1, 42, &["VENDOR_STRING appears twice"]);
}

// ---------------------------------------------------------------------------
// Whole-line rules

#[test]
fn uncounted_lines() {
    for count in ["0", "uncounted", "UNCOUNTED"] {
        let f = feature(&format!("FEATURE f1 demo 1.0 permanent {count} HOSTID=ANY"));
        assert_eq!(f.count, 0, "{count}");
        assert!(!f.is_counted() && !f.needs_server());
    }
    let d = single_error("FEATURE f1 demo 1.0 permanent uncounted SIGN=x");
    assert_diag(&d, 1, 31, &["uncounted line must be locked", "HOSTID="]);
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 HOSTID=DEMO");
    assert_diag(&d, 1, 31, &["DEMO is only allowed on uncounted lines"]);
    let d = single_error("FEATURE f1 demo 1.0 permanent 99999999999");
    assert_diag(&d, 1, 31, &["license count `99999999999` is too large"]);
}

#[test]
fn dates() {
    let cases = [
        ("07-may-2005", Expiry::On(day(2005, 5, 7))),
        ("7-MAY-2005", Expiry::On(day(2005, 5, 7))),
        ("31-dec-2026", Expiry::On(day(2026, 12, 31))),
        ("29-feb-2024", Expiry::On(day(2024, 2, 29))),
        ("permanent", Expiry::Permanent),
        ("PERMANENT", Expiry::Permanent),
        ("1-jan-0", Expiry::Permanent),
        ("1-jan-00", Expiry::Permanent),
        ("1-jan-000", Expiry::Permanent),
        ("1-jan-0000", Expiry::Permanent),
    ];
    for (text, want) in cases {
        let f = feature(&format!("FEATURE f1 demo 1.0 {text} 4"));
        assert_eq!(f.expiry, want, "{text}");
    }
}

#[test]
fn two_digit_years_are_19xx_with_a_warning() {
    let d = single_warning("FEATURE f1 demo 1.00 1-jan-92 2 code1 \"\"");
    assert_diag(&d, 1, 22, &["`1-jan-92`", "two-digit year", "19xx"]);
    let f = feature_lenient("FEATURE f1 demo 1.00 1-jan-92 2 code1 \"\"");
    assert_eq!(f.expiry, Expiry::On(day(1992, 1, 1)));
    let f = feature_lenient("FEATURE f1 demo 1.00 1-jan-2000 2 START=5-jun-95");
    assert_eq!(f.start, Some(day(1995, 6, 5)));
}

#[test]
fn impossible_dates_are_errors_at_the_date() {
    let cases = [
        ("30-feb-2024", "day 30 does not exist in feb 2024"),
        ("29-feb-2023", "day 29 does not exist in feb 2023"),
        ("31-apr-2024", "day 31 does not exist"),
        ("0-jan-2024", "day 0 does not exist"),
        ("1-foo-2024", "`foo` is not a month name"),
        ("1-jan-123", "year `123` is ambiguous"),
    ];
    for (text, message) in cases {
        let d = single_error(&format!("FEATURE f1 demo 1.0 {text} 4"));
        assert_diag(&d, 1, 21, &["expiry date", message]);
    }
}

#[test]
fn versions() {
    let cases = [
        ("1.000", "1.0"),
        ("2.300", "2.3"),
        ("10", "10.0"),
        (".5", "0.5"),
        ("1.", "1.0"),
        ("123.456", "123.456"),
    ];
    for (text, normal) in cases {
        let f = feature(&format!("FEATURE f1 demo {text} permanent 4"));
        assert_eq!(f.version.normalized(), normal, "{text}");
        assert_eq!(f.version.as_written(), text);
    }
    let d = single_warning("FEATURE f1 demo 1.2345 permanent 4");
    assert_diag(&d, 1, 17, &["more than 3 decimals"]);
    let d = single_error("FEATURE f1 demo 1.0.0 permanent 4");
    assert_diag(&d, 1, 17, &["expected a version number", "found `1.0.0`"]);
    let d = single_error("FEATURE f1 demo v2 permanent 4");
    assert_diag(&d, 1, 17, &["expected a version number", "found `v2`"]);
}

#[test]
fn upgrade_lines() {
    let f = feature("UPGRADE f1 sampled 1.000 2.000 1-jan-2005 2 SIGN=1B9A308CC0F7");
    assert_eq!(f.kind, FeatureKind::Upgrade { from: v("1.0") });
    assert_eq!(f.kind.keyword(), "UPGRADE");
    assert_eq!(f.version, v("2.0"));
    assert_eq!(f.count, 2);
    // Seed 004's old form.
    let f = feature_lenient("UPGRADE f1 demo 1.000 2.000 1-jan-94 2 1B9A30316207EC8CC0F7 \"\"");
    assert!(f.old_format);
    assert_eq!(f.legacy_key.as_deref(), Some("1B9A30316207EC8CC0F7"));
    assert_eq!(f.expiry, Expiry::On(day(1994, 1, 1)));

    let d = single_error("UPGRADE f1 demo 2.0 1.0 permanent 4");
    assert_diag(
        &d,
        1,
        1,
        &["UPGRADE from version 2.0 to 1.0", "must be higher"],
    );
    let d = single_error("UPGRADE f1 demo 1.0 1.000 permanent 4");
    assert_diag(&d, 1, 1, &["must be higher"]);
    let d = single_error("UPGRADE f1 demo 1.0 2.0 permanent 0 HOSTID=12345678");
    assert_diag(&d, 1, 35, &["UPGRADE does not work on uncounted lines"]);
    let d = single_error("UPGRADE f1 demo 1.0 permanent 4");
    assert_diag(
        &d,
        1,
        21,
        &["expected a version number", "found `permanent`"],
    );
}

#[test]
fn start_after_expiry_warns() {
    let d = single_warning("FEATURE f1 demo 1.0 1-jan-2020 4 START=1-jan-2021");
    assert_diag(
        &d,
        1,
        1,
        &["START=1-jan-2021", "after the expiry date", "never be used"],
    );
}

// ---------------------------------------------------------------------------
// PACKAGE and FEATURESET

#[test]
fn package_suite_from_seed_003() {
    let file = parse_clean(
        "PACKAGE suite sampled 1.0 SIGN=3B24B2F508CB \\\n\
         COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE\n\
         FEATURE suite sampled 1.0 1-jan-0 5 SIGN=4193E6ABCCCB\n",
    );
    let (e, p) = file.packages().next().unwrap();
    assert_eq!((e.line, e.end_line), (1, 2));
    assert_eq!(p.name, "suite");
    assert_eq!(p.vendor, "sampled");
    assert_eq!(p.version, Some(v("1.0")));
    assert!(p.suite);
    let names: Vec<&str> = p.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["comp1", "comp2"]);
    assert!(p
        .components
        .iter()
        .all(|c| c.version.is_none() && c.count.is_none()));
    assert_eq!(p.signature, SignField::Legacy("3B24B2F508CB".into()));
    assert_eq!(features(&file)[0].expiry, Expiry::Permanent);
}

#[test]
fn package_components_with_versions_and_counts() {
    let p = package(
        "PACKAGE suite sampled 1.0 SIGN=2CBF44FCB9C1 \\\n\
         COMPONENTS=\"apple:1.5:2 orange:3.0:4\"",
    );
    assert!(!p.suite);
    let comps: Vec<(String, Option<String>, Option<u32>)> = p
        .components
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.version.as_ref().map(|v| v.normalized()),
                c.count,
            )
        })
        .collect();
    assert_eq!(
        comps,
        [
            ("apple".into(), Some("1.5".into()), Some(2)),
            ("orange".into(), Some("3.0".into()), Some(4)),
        ]
    );
    // Seed 004's component list syntax.
    let p = package("PACKAGE p demo COMPONENTS=\"comp1:1.5 comp1 comp1:2.0:4\"");
    let comps: Vec<(Option<String>, Option<u32>)> = p
        .components
        .iter()
        .map(|c| (c.version.as_ref().map(|v| v.normalized()), c.count))
        .collect();
    assert_eq!(
        comps,
        [
            (Some("1.5".into()), None),
            (None, None),
            (Some("2.0".into()), Some(4))
        ]
    );
    assert_eq!(p.version, None);
    assert_eq!(p.signature, SignField::Missing);
}

#[test]
fn package_with_legacy_key_from_seed_004() {
    let p = package(
        "PACKAGE suite demo 1.0 20CHARCODEXXXXXXXXXX\\\n\
         \x20                       COMPONENTS=\"comp1 comp2 comp3 comp4 comp5\"",
    );
    assert_eq!(p.version, Some(v("1.0")));
    assert_eq!(p.legacy_key.as_deref(), Some("20CHARCODEXXXXXXXXXX"));
    assert_eq!(p.components.len(), 5);
    assert_eq!(
        p.signature,
        SignField::Legacy("20CHARCODEXXXXXXXXXX".into())
    );
    // Example 3 has a version and no key.
    let p = package(
        "PACKAGE suite demo 1.0 \\\n\
         \x20                       COMPONENTS=\"comp1:1.5:2 comp2:3.0:4 comp3\"",
    );
    assert_eq!(p.legacy_key, None);
    assert_eq!(p.components.len(), 3);
    // SUPERSEDE and ISSUED are allowed on PACKAGE lines (seed 003).
    let p = package(
        "PACKAGE p demo 2.0 COMPONENTS=\"a b\" OPTIONS=SUITE SUPERSEDE=\"p0\" ISSUED=1-jan-2024 SIGN=x",
    );
    assert!(p.suite);
    let names: Vec<&str> = p.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["COMPONENTS", "OPTIONS", "SUPERSEDE", "ISSUED", "SIGN"]
    );
}

#[test]
fn package_errors() {
    let d = single_error("PACKAGE p demo 1.0");
    assert_diag(&d, 1, 1, &["needs COMPONENTS="]);
    let d = single_error("PACKAGE p demo COMPONENTS=\"a:1.0:2\" OPTIONS=SUITE");
    assert_diag(
        &d,
        1,
        28,
        &["component counts", "not allowed with OPTIONS=SUITE"],
    );
    let d = single_error("PACKAGE p demo COMPONENTS=\"a\" OPTIONS=FAST");
    assert_diag(&d, 1, 39, &["OPTIONS=FAST", "only package option is SUITE"]);
    let file = parse("PACKAGE p demo COMPONENTS=\"a:x b\"");
    assert_eq!(errors(&file).len(), 1, "{}", render(&file.diagnostics));
    assert_diag(
        errors(&file)[0],
        1,
        28,
        &["component `a:x`", "`x` is not a version"],
    );
    let file = parse("PACKAGE p demo COMPONENTS=\"a:1:0 b:1:2:3\"");
    let msgs: Vec<&str> = errors(&file).iter().map(|d| d.message.as_str()).collect();
    assert!(msgs
        .iter()
        .any(|m| m.contains("`0` is not a positive count")));
    assert!(msgs
        .iter()
        .any(|m| m.contains("`b:1:2:3`: expected feature[:version[:count]]")));
    assert!(file.entries.is_empty());
    let d = single_error("PACKAGE p demo COMPONENTS=\"\"");
    assert_diag(&d, 1, 28, &["COMPONENTS= lists no component"]);
    let d = single_error("PACKAGE p demo COMPONENTS=a COMPONENTS=b");
    assert_diag(&d, 1, 29, &["COMPONENTS appears twice"]);
    let long = "p".repeat(31);
    let d = single_warning(&format!("PACKAGE {long} demo COMPONENTS=a"));
    assert_diag(&d, 1, 9, &["package name", "at most 30"]);
}

#[test]
fn featureset_lines() {
    let file = parse_clean("FEATURESET xyzd code\n");
    match &file.entries[0].kind {
        EntryKind::FeatureSet(fs) => {
            assert_eq!(fs.vendor, "xyzd");
            assert_eq!(fs.legacy_key.as_deref(), Some("code"));
            assert_eq!(fs.signature, SignField::Legacy("code".into()));
        }
        other => panic!("{other:?}"),
    }
    let file = parse_clean("FEATURESET demo SIGN=\"ABCD\"\n");
    match &file.entries[0].kind {
        EntryKind::FeatureSet(fs) => {
            assert_eq!(fs.legacy_key, None);
            assert_eq!(fs.signature, SignField::Legacy("ABCD".into()));
        }
        other => panic!("{other:?}"),
    }
    let d = single_error("FEATURESET demo code NOTICE=\"x\"");
    assert_diag(&d, 1, 22, &["unexpected `NOTICE=` on a FEATURESET line"]);
}

// ---------------------------------------------------------------------------
// Comments, continuations and white space

#[test]
fn comments_and_non_keyword_lines_are_ignored() {
    let file = parse_clean(
        "# a comment\n\
         \t  # an indented comment\n\
         From: vendor@example.com\n\
         This license file allows the license server to serve ten licenses.\n\
         feature f1 demo 1.0 permanent 4\n\
         \n\
         FEATURES are great\n\
         SERVERS are too\n\
         FEATURE f1 demo 1.0 permanent 4\n",
    );
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].line, 9);
    // `#` starts a comment only at the start of a line.
    let file = parse("FEATURE f1 demo 1.0 permanent 4 SN=1 # note");
    assert!(file.entries.is_empty());
    assert_diag(
        errors(&file)[0],
        1,
        38,
        &["unexpected `#` on a FEATURE line"],
    );
}

#[test]
fn near_misses_of_keywords_warn() {
    for (word, kw) in [
        ("FEATUER", "FEATURE"),
        ("INCREMNT", "INCREMENT"),
        ("FEATURSET", "FEATURESET"),
        ("USE_SERVR", "USE_SERVER"),
        ("PAKCAGE", "PACKAGE"),
        ("UPGRAD", "UPGRADE"),
        ("SERVRE", "SERVER"),
        ("VENDRO", "VENDOR"),
        ("PACKAGES", ""),
    ] {
        let file = parse(&format!("{word} f1 demo 1.0 permanent 4\n"));
        assert!(file.entries.is_empty());
        if kw.is_empty() {
            assert!(file.diagnostics.is_empty(), "{word}");
        } else {
            assert_eq!(file.diagnostics.len(), 1, "{word}");
            let d = &file.diagnostics[0];
            assert_eq!(d.severity, Severity::Warning);
            assert_diag(
                d,
                1,
                1,
                &["read as a comment", &format!("did you mean {kw}?")],
            );
        }
    }
}

#[test]
fn a_comment_ending_in_a_backslash_does_not_continue() {
    let file = parse_clean("# old line \\\nFEATURE f1 demo 1.0 permanent 4\n");
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].line, 2);
}

#[test]
fn continuation_anywhere() {
    let one = parse_clean(
        "INCREMENT f1 demo 1.0 permanent 4 HOSTID=\"17007ea8 0800200005ac\" NOTICE=\"Licensed to Acme\" SN=12",
    );
    let split_everywhere = parse_clean(
        "INCREMENT \\\nf1 \\\ndemo \\\n1.0 \\\npermanent \\\n4 \\\nHOSTID=\"17007ea8 \\\n0800200005ac\" NOTICE=\"Licensed \\\nto Acme\" \\\nSN=12",
    );
    let a = features(&one)[0];
    let b = features(&split_everywhere)[0];
    assert_eq!(a.hostids, b.hostids);
    assert_eq!(a.notice, b.notice);
    assert_eq!(a.serial, b.serial);
    assert_eq!(a.count, b.count);
    let e = &split_everywhere.entries[0];
    assert_eq!((e.line, e.end_line), (1, 10));
    // A backslash followed by blanks still continues; so does one glued to
    // the last field, and one right before the end of the file.
    let f = feature("FEATURE f1 demo 1.0 permanent\\  \t\n4 NOTICE=\"x\"\\");
    assert_eq!(f.count, 4);
    assert_eq!(f.notice.as_deref(), Some("x"));
    // CRLF line ends.
    let file = parse_clean("FEATURE f1 demo 1.0 \\\r\n permanent 4\r\nVENDOR demo\r\n");
    assert_eq!(file.entries.len(), 2);
    assert_eq!(file.entries[1].line, 3);
}

#[test]
fn any_white_space_separates_fields() {
    let f = feature("  FEATURE\tf1 \t demo\u{0B}1.0\u{0C}permanent   4\tHOSTID=ANY  \t");
    assert_eq!(f.name, "f1");
    assert_eq!(f.vendor, "demo");
    assert_eq!(f.count, 4);
    assert_eq!(f.hostids, Some(vec![HostId::Any]));
    let s = server("\tSERVER\tmy_server\t17007ea8\t1700");
    assert_eq!(s.port, Some(1700));
}

#[test]
fn latin_text_in_quoted_fields() {
    let f = feature("FEATURE f1 demo 1.0 permanent 4 NOTICE=\"Licencié à Zürich\"");
    assert_eq!(f.notice.as_deref(), Some("Licencié à Zürich"));
    // Columns count characters, not bytes.
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 NOTICE=\"é\" OVERDRAFT=x");
    assert_diag(&d, 1, 54, &["OVERDRAFT"]);
}

#[test]
fn read_license_accepts_8_bit_latin_files() {
    let dir = std::env::temp_dir().join(format!("grammar-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.lic");
    // "Zürich" in ISO 8859-1.
    std::fs::write(
        &path,
        b"FEATURE f1 demo 1.0 permanent 4 NOTICE=\"Z\xfcrich\"\n",
    )
    .unwrap();
    let file = grammar::read_license(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(file.diagnostics.is_empty());
    assert_eq!(features(&file)[0].notice.as_deref(), Some("Zürich"));
    assert_eq!(file.name, path.display().to_string());
}

// ---------------------------------------------------------------------------
// Length limits

#[test]
fn length_limits_warn_but_keep_the_line() {
    let name30 = "f".repeat(30);
    parse_clean(&format!("FEATURE {name30} demo 1.0 permanent 4"));
    let name31 = "f".repeat(31);
    let d = single_warning(&format!("FEATURE {name31} demo 1.0 permanent 4"));
    assert_diag(&d, 1, 9, &["feature name", "31 characters", "at most 30"]);

    parse_clean("FEATURE f1 vendor_10c 1.0 permanent 4");
    let d = single_warning("FEATURE f1 vendor_11ch 1.0 permanent 4");
    assert_diag(&d, 1, 12, &["vendor name `vendor_11ch`", "at most 10"]);

    parse_clean("FEATURE f1 demo 123456.789 permanent 4");
    let d = single_warning("FEATURE f1 demo 1234567.890 permanent 4");
    assert_diag(&d, 1, 17, &["version `1234567.890`", "at most 10"]);

    let notice = "n".repeat(2100);
    let d = single_warning(&format!(
        "FEATURE f1 demo 1.0 permanent 4 NOTICE=\"{notice}\""
    ));
    assert_diag(&d, 1, 1, &["characters long", "at most 2048"]);
    assert!(d.message.starts_with("line is 2141 characters long"), "{d}");
    // Characters count, not bytes: 2000 accented letters are 4000 bytes.
    let accents = "é".repeat(2000);
    parse_clean(&format!(
        "FEATURE f1 demo 1.0 permanent 4 NOTICE=\"{accents}\""
    ));
    // The limit applies to the joined line, continuations included.
    let half = "n".repeat(1100);
    let file = parse(&format!(
        "FEATURE f1 demo 1.0 permanent 4 NOTICE=\"{half}\" \\\n  VENDOR_STRING=\"{half}\""
    ));
    assert_eq!(file.entries.len(), 1);
    assert_eq!(warnings(&file).len(), 1);
    assert!(warnings(&file)[0].message.contains("at most 2048"));
}

// ---------------------------------------------------------------------------
// Entries keep their place in the source

#[test]
fn entries_record_text_ranges_and_items() {
    let src = "# header\nSERVER h ANY 1700\nFEATURE f1 demo 1.0 permanent 4 \\\n  SN=7 user_info=\"x y\"\nVENDOR demo\n";
    let file = parse_clean(src);
    let e = &file.entries[1];
    assert_eq!(
        &src[e.source_range.clone()],
        "FEATURE f1 demo 1.0 permanent 4 \\\n  SN=7 user_info=\"x y\""
    );
    assert_eq!(
        e.text,
        "FEATURE f1 demo 1.0 permanent 4    SN=7 user_info=\"x y\""
    );
    let items: Vec<(Option<&str>, (u32, u32), &str)> = e
        .items
        .iter()
        .map(|i| (i.name.as_deref(), i.at, &e.text[i.range.clone()]))
        .collect();
    assert_eq!(
        items,
        [
            (Some("SN"), (4, 3), "SN=7"),
            (Some("user_info"), (4, 8), "user_info=\"x y\""),
        ]
    );
    let lines: Vec<(u32, u32)> = file.entries.iter().map(|e| (e.line, e.end_line)).collect();
    assert_eq!(lines, [(2, 2), (3, 4), (5, 5)]);
}

#[test]
fn empty_and_comment_only_files() {
    for src in ["", "\n", "\n\n\n", "# nothing\n# here", "   \t  \n"] {
        let file = parse(src);
        assert!(file.entries.is_empty(), "{src:?}");
        assert!(file.diagnostics.is_empty(), "{src:?}");
    }
}
