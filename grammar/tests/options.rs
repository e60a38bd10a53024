//! The options file: every keyword parses into its statement, bad lines are
//! reported at the right line and column and skipped, and the evaluator
//! follows FLEXlm's precedence rules.

use grammar::options::*;
use grammar::pool::build_pools;
use grammar::{parse_license, Date, Diagnostic, Expiry, HostId, Severity, Version};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

const NAME: &str = "demo.opt";

fn parse(text: &str) -> (Options, Vec<Diagnostic>) {
    Options::parse(NAME, text)
}

/// Parses text that must produce no diagnostic at all.
fn clean(text: &str) -> Options {
    let (o, d) = parse(text);
    assert!(d.is_empty(), "unexpected diagnostics:\n{}", render(&d));
    o
}

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn kinds(o: &Options) -> Vec<StatementKind> {
    o.statements().iter().map(|s| s.kind.clone()).collect()
}

fn user(name: &str) -> Client {
    Client::new(name, "ws1.example.com", ":0")
}

fn at_host(user: &str, host: &str) -> Client {
    Client::new(user, host, ":0")
}

fn f(name: &str) -> FeatureCtx<'_> {
    FeatureCtx::new(name)
}

fn code(r: Result<(), Denial>) -> i32 {
    r.err().map_or(0, Denial::code)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn who(kind: WhoKind, name: &str, line: u32, col: u32) -> Who {
    Who {
        kind,
        name: name.into(),
        at: (line, col),
    }
}

fn spec(name: &str) -> FeatureSpec {
    FeatureSpec {
        name: name.into(),
        filter: None,
    }
}

// ---------------------------------------------------------------------------
// Parsing: every keyword

#[test]
fn every_keyword_parses_to_its_statement() {
    let text = "\
INCLUDE f1 USER bob
INCLUDEALL HOST ws1
EXCLUDE f1 DISPLAY :0
EXCLUDEALL INTERNET 10.1.*.*
INCLUDE_BORROW f1 PROJECT apollo
EXCLUDE_BORROW f1 GROUP hackers
RESERVE 2 f1 USER alice
MAX 3 f1 GROUP hackers
MAX_OVERDRAFT f1 1
GROUP hackers bob alice
USER_GROUP hackers carol
HOST_GROUP labs lab1 lab2.example.com 10.2.*.*
GROUPCASEINSENSITIVE ON
TIMEOUT f1 7200
TIMEOUTALL 3600
LINGER f1 60
NOLOG IN
NOLOG OUT DENIED
REPORTLOG +/var/log/demo.rl
DEBUGLOG \"/var/log/demo debug.log\"
BORROW_LOWWATER f1 2
MAX_BORROW_HOURS f1 48
AUTOMATIC_REREAD OFF
FQDN_MATCHING exact
DAEMON_SELECT_TIMEOUT 2
MAX_CONNECTIONS 500
EXCLUDE f2 HOST_GROUP labs
";
    let o = clean(text);
    use StatementKind as K;
    let access = |list, feature: Option<&str>, who| K::Access {
        list,
        feature: feature.map(spec),
        who,
    };
    assert_eq!(
        kinds(&o),
        vec![
            access(
                AccessList::Include,
                Some("f1"),
                who(WhoKind::User, "bob", 1, 17)
            ),
            access(
                AccessList::IncludeAll,
                None,
                who(WhoKind::Host, "ws1", 2, 17)
            ),
            access(
                AccessList::Exclude,
                Some("f1"),
                who(WhoKind::Display, ":0", 3, 20)
            ),
            access(
                AccessList::ExcludeAll,
                None,
                who(WhoKind::Internet, "10.1.*.*", 4, 21)
            ),
            access(
                AccessList::IncludeBorrow,
                Some("f1"),
                who(WhoKind::Project, "apollo", 5, 27)
            ),
            access(
                AccessList::ExcludeBorrow,
                Some("f1"),
                who(WhoKind::Group, "hackers", 6, 25)
            ),
            K::Reserve {
                count: 2,
                feature: spec("f1"),
                who: who(WhoKind::User, "alice", 7, 19)
            },
            K::Max {
                count: 3,
                feature: spec("f1"),
                who: who(WhoKind::Group, "hackers", 8, 16)
            },
            K::MaxOverdraft {
                feature: spec("f1"),
                count: 1
            },
            K::Group {
                name: "hackers".into(),
                members: vec!["bob".into(), "alice".into()]
            },
            K::Group {
                name: "hackers".into(),
                members: vec!["carol".into()]
            },
            K::HostGroup {
                name: "labs".into(),
                members: vec!["lab1".into(), "lab2.example.com".into(), "10.2.*.*".into()]
            },
            K::GroupCaseInsensitive(true),
            K::Timeout {
                feature: spec("f1"),
                seconds: 7200
            },
            K::TimeoutAll { seconds: 3600 },
            K::Linger {
                feature: spec("f1"),
                seconds: 60
            },
            K::NoLog(vec![LogClass::In]),
            K::NoLog(vec![LogClass::Out, LogClass::Denied]),
            K::ReportLog(LogFile {
                path: "/var/log/demo.rl".into(),
                append: true
            }),
            K::DebugLog(LogFile {
                path: "/var/log/demo debug.log".into(),
                append: false
            }),
            K::BorrowLowwater {
                feature: spec("f1"),
                count: 2
            },
            K::MaxBorrowHours {
                feature: spec("f1"),
                hours: 48
            },
            K::AutomaticReread(false),
            K::FqdnMatching(FqdnMatching::Exact),
            K::DaemonSelectTimeout(2),
            K::MaxConnections(500),
            access(
                AccessList::Exclude,
                Some("f2"),
                who(WhoKind::HostGroup, "labs", 27, 23)
            ),
        ]
    );
    let lines: Vec<u32> = o.statements().iter().map(|s| s.line).collect();
    assert_eq!(lines, (1..=27).collect::<Vec<_>>());
    assert_eq!(o.group("hackers").unwrap(), ["bob", "alice", "carol"]);
    assert_eq!(
        o.host_group("labs").unwrap(),
        ["lab1", "lab2.example.com", "10.2.*.*"]
    );
    assert!(o.group("labs").is_none());
    assert!(o.group_case_insensitive());
    assert_eq!(o.fqdn_matching(), FqdnMatching::Exact);
    assert!(!o.automatic_reread());
    assert_eq!(o.daemon_select_timeout(), Some(2));
    assert_eq!(o.max_connections(), Some(500));
    assert_eq!(o.timeout_all(), Some(3600));
}

#[test]
fn keywords_types_and_choices_ignore_case() {
    let o = clean(
        "include f1 user bob\nExclude f1 Host ws9\nnolog denied\nfqdn_matching LENIENT\n\
         groupcaseinsensitive off\nautomatic_reread on\nInclude f1:version=2.0 project x\n",
    );
    assert_eq!(o.statements().len(), 7);
    assert!(o.nolog(LogClass::Denied));
    assert_eq!(o.fqdn_matching(), FqdnMatching::Lenient);
    assert!(matches!(
        &o.statements()[6].kind,
        StatementKind::Access { feature: Some(FeatureSpec { filter: Some(Filter::Version(v)), .. }), .. }
            if v.as_written() == "2.0"
    ));
}

#[test]
fn names_keep_their_case() {
    let o = clean("INCLUDE F1 USER Bob\n");
    match &o.statements()[0].kind {
        StatementKind::Access {
            feature: Some(feat),
            who,
            ..
        } => {
            assert_eq!(feat.name, "F1");
            assert_eq!(who.name, "Bob");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(o.access(&f("F1"), &user("bob"))), -39);
    assert_eq!(code(o.access(&f("F1"), &user("Bob"))), 0);
    // Rules are filed under the feature name as written.
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), 0);
}

#[test]
fn comments_blank_lines_white_space_and_continuations() {
    let text = "# site options for demo\r\n\
                \r\n\
                \t  # indented comment\n\
                GROUP hackers bob \\\n\
                \talice \\\r\n\
                   carol\n\
                # a comment ending in a backslash does not continue \\\n\
                INCLUDE\tf1   GROUP\t hackers   \n\
                \u{FEFF}\n";
    let o = clean(text);
    assert_eq!(o.statements().len(), 2);
    assert_eq!(o.statements()[0].line, 4);
    assert_eq!(o.statements()[0].end_line, 6);
    assert_eq!(o.group("hackers").unwrap(), ["bob", "alice", "carol"]);
    assert_eq!(o.statements()[1].line, 8);
    assert_eq!(code(o.access(&f("f1"), &user("carol"))), 0);
    assert_eq!(code(o.access(&f("f1"), &user("dave"))), -39);
}

#[test]
fn positions_after_a_continuation_point_at_the_physical_line() {
    let (_, d) = parse("INCLUDE f1 \\\n   USER bob \\\n   alice\n");
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].column), (3, 4));
    let (_, d) = parse("MAX 2 f1 \\\n  GROUP nogroup\n");
    assert_eq!(
        render(&d),
        "demo.opt:2:9: warning: GROUP `nogroup` is not defined, so it matches nobody"
    );
}

#[test]
fn feature_filters_parse_every_keyword() {
    let text = "\
INCLUDE f1:VERSION=2.0 USER a
INCLUDE f1:HOSTID=17007ea8 USER a
INCLUDE f1:HOSTID=\"17007ea8 INTERNET=10.*.*.*\" USER a
INCLUDE f1:EXPDATE=31-dec-2030 USER a
INCLUDE f1:EXPDATE=permanent USER a
INCLUDE f1:KEY=0123456789AB USER a
INCLUDE f1:SIGN=\"0123 4567\" USER a
INCLUDE f1:VENDOR_STRING=\"gold   tier\" USER a
INCLUDE f1:ISSUER=Acme USER a
INCLUDE f1:NOTICE=\"For lab use\" USER a
INCLUDE f1:dist_info=d1 USER a
INCLUDE f1:user_info=\"cad team\" USER a
INCLUDE f1:asset_info=A-17 USER a
";
    let o = clean(text);
    let filters: Vec<String> = o
        .statements()
        .iter()
        .map(|s| match &s.kind {
            StatementKind::Access {
                feature: Some(spec),
                ..
            } => spec.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        filters,
        [
            "f1:VERSION=2.0",
            "f1:HOSTID=17007ea8",
            "f1:HOSTID=\"17007ea8 INTERNET=10.*.*.*\"",
            "f1:EXPDATE=31-dec-2030",
            "f1:EXPDATE=permanent",
            "f1:KEY=0123456789AB",
            "f1:SIGN=\"0123 4567\"",
            "f1:VENDOR_STRING=\"gold tier\"",
            "f1:ISSUER=Acme",
            "f1:NOTICE=\"For lab use\"",
            "f1:dist_info=d1",
            "f1:user_info=\"cad team\"",
            "f1:asset_info=A-17",
        ]
    );
    match &o.statements()[3].kind {
        StatementKind::Access {
            feature: Some(spec),
            ..
        } => assert_eq!(
            spec.filter,
            Some(Filter::ExpDate(Expiry::On(
                Date::new(2030, 12, 31).unwrap()
            )))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn log_paths() {
    let o = clean("REPORTLOG /a/one.rl\nREPORTLOG +\"/b/two words.rl\"\nDEBUGLOG +/c/d.log\n");
    assert_eq!(
        o.report_log(),
        Some(&LogFile {
            path: "/b/two words.rl".into(),
            append: true
        })
    );
    assert_eq!(
        o.debug_log(),
        Some(&LogFile {
            path: "/c/d.log".into(),
            append: true
        })
    );
    assert!(Options::default().report_log().is_none());
}

#[test]
fn trusted_storage_keywords_are_recognised_and_ignored() {
    let (o, d) =
        parse("ACTIVATION_LOWWATER f1 2\nINCLUDE_ENTITLEMENT ent1 USER bob\nINCLUDE f1 USER bob\n");
    assert_eq!(
        render(&d),
        "demo.opt:1:1: warning: ACTIVATION_LOWWATER applies to trusted storage, which this license server does not use: line ignored\n\
         demo.opt:2:1: warning: INCLUDE_ENTITLEMENT applies to trusted storage, which this license server does not use: line ignored"
    );
    assert_eq!(o.statements().len(), 3);
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), 0);
    assert_eq!(code(o.access(&f("ent1"), &user("x"))), 0);
}

#[test]
fn referenced_features_name_every_feature_scoped_line() {
    let o = clean("INCLUDE f1 USER a\nTIMEOUTALL 10\nLINGER f2:VERSION=1 5\nGROUP g a\nRESERVE 1 pkg USER a\n");
    let refs: Vec<(&str, u32)> = o.referenced_features().collect();
    assert_eq!(refs, [("f1", 1), ("f2", 3), ("pkg", 5)]);
}

// ---------------------------------------------------------------------------
// Diagnostics

#[test]
fn bad_lines_are_reported_at_line_and_column_and_skipped() {
    let cases: &[(&str, &str)] = &[
        ("FOO bar", "1:1: error: expected an options keyword, found `FOO`"),
        (
            "INCLUD f1 USER bob",
            "1:1: error: expected an options keyword, found `INCLUD` (did you mean INCLUDE?)",
        ),
        (
            "INCLUDE f1 USR bob",
            "1:12: error: expected a type (USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP), found `USR`",
        ),
        ("INCLUDE f1 USER", "1:16: error: expected a user name, found end of line"),
        ("INCLUDE", "1:8: error: expected a feature name, found end of line"),
        (
            "EXCLUDE f1 USER bob alice",
            "1:21: error: expected end of line, found `alice`: a type names one member; list several in a GROUP or HOST_GROUP",
        ),
        (
            "INCLUDE USER bob",
            "1:14: error: expected a type (USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP), found `bob` (`USER` was read as the feature name: expected feature[:keyword=value] before the type)",
        ),
        (
            "INCLUDE f1=2.0 USER bob",
            "1:11: error: expected a type (USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP), found `=2.0`: a feature is narrowed with feature:KEYWORD=value",
        ),
        (
            "INCLUDE f1:VERSON=2 USER bob",
            "1:12: error: expected a feature keyword (VERSION, HOSTID, EXPDATE, KEY, SIGN, VENDOR_STRING, ISSUER, NOTICE, dist_info, user_info or asset_info), found `VERSON=2`",
        ),
        ("INCLUDE f1:VERSION= USER bob", "1:20: error: expected a value, found `USER`"),
        ("INCLUDE f1:VERSION=two USER bob", "1:20: error: `two` is not a version number"),
        (
            "INCLUDE f1:EXPDATE=31-feb-2030 USER bob",
            "1:20: error: EXPDATE: day 31 does not exist in feb 2030",
        ),
        (
            "INCLUDE f1:HOSTID=xyz USER bob",
            "1:19: error: HOSTID: `xyz` is not a hostid: expected hexadecimal digits, #decimal, ANY, DEMO or TYPE=value",
        ),
        (
            "INCLUDE f1:NOTICE=\"unclosed USER bob",
            "1:19: error: quoted string is not closed: expected a closing `\"`",
        ),
        (
            "EXCLUDE f1 INTERNET 10.1.*",
            "1:21: error: expected an IP address (such as 10.1.*.*), found `10.1.*`",
        ),
        (
            "EXCLUDE f1 INTERNET 10.1.300.*",
            "1:21: error: `10.1.300.*` is not an IP address: expected four parts, each 0-255 or *",
        ),
        (
            "EXCLUDE f1 HOST 10.1.2",
            "1:17: error: `10.1.2` is not an IP address: expected four parts, each 0-255 or *",
        ),
        ("RESERVE f1 USER bob", "1:9: error: expected a number of licenses, found `f1`"),
        (
            "RESERVE 99999999999 f1 USER bob",
            "1:9: error: `99999999999` is too large: at most 4294967295",
        ),
        ("MAX 3 f1", "1:9: error: expected a type (USER, HOST, DISPLAY, INTERNET, PROJECT, GROUP or HOST_GROUP), found end of line"),
        ("MAX_OVERDRAFT f1 some", "1:18: error: expected a number of licenses, found `some`"),
        ("GROUP hackers", "1:14: error: expected a user name, found end of line"),
        ("GROUP", "1:6: error: expected a group name, found end of line"),
        (
            "HOST_GROUP labs lab1 10.1.2",
            "1:22: error: `10.1.2` is not an IP address: expected four parts, each 0-255 or *",
        ),
        ("GROUPCASEINSENSITIVE maybe", "1:22: error: expected ON or OFF, found `maybe`"),
        ("TIMEOUTALL 1h", "1:12: error: expected a number of seconds, found `1h`"),
        ("TIMEOUT f1", "1:11: error: expected a number of seconds, found end of line"),
        ("LINGER f1 -5", "1:11: error: expected a number of seconds, found `-5`"),
        (
            "NOLOG IN FOO",
            "1:10: error: expected a log class (IN, OUT, DENIED, QUEUED or UNSUPPORTED) or end of line, found `FOO`",
        ),
        (
            "NOLOG",
            "1:6: error: expected a log class (IN, OUT, DENIED, QUEUED or UNSUPPORTED), found end of line",
        ),
        ("REPORTLOG", "1:10: error: expected a file path, found end of line"),
        ("DEBUGLOG \"\"", "1:10: error: expected a file path, found an empty one"),
        ("REPORTLOG /a b", "1:14: error: expected end of line, found `b`"),
        ("BORROW_LOWWATER f1", "1:19: error: expected a number of licenses, found end of line"),
        ("MAX_BORROW_HOURS f1 2.5", "1:21: error: expected a number of hours, found `2.5`"),
        ("AUTOMATIC_REREAD 0", "1:18: error: expected ON or OFF, found `0`"),
        ("FQDN_MATCHING loose", "1:15: error: expected exact or lenient, found `loose`"),
        ("DAEMON_SELECT_TIMEOUT x", "1:23: error: expected a number, found `x`"),
        ("MAX_CONNECTIONS", "1:16: error: expected a number, found end of line"),
        (
            "INCLUDE f1 USER bob # bob only",
            "1:21: error: expected end of line, found `#`: a comment must be on a line of its own",
        ),
        ("RESERVE 0 f1 USER bob", "1:1: warning: RESERVE 0 reserves nothing"),
    ];
    for (line, want) in cases {
        let (o, d) = parse(&format!("GROUP g x\n{line}\nINCLUDE ok USER x\n"));
        let want = format!("{NAME}:{}", want.replacen("1:", "2:", 1));
        assert_eq!(render(&d), want, "for `{line}`");
        // The lines around the bad one are used.
        assert_eq!(o.group("g").unwrap(), ["x"]);
        assert_eq!(code(o.access(&f("ok"), &user("y"))), -39, "for `{line}`");
        let kept = o.statements().len();
        let is_error = d.iter().any(Diagnostic::is_error);
        assert_eq!(kept, if is_error { 2 } else { 3 }, "for `{line}`");
    }
}

#[test]
fn findings_are_in_file_order_with_severity() {
    let (_, d) = parse("INCLUDE f1 GROUP nobody\nBAD line\nMAX 1 f1 HOST_GROUP g\nGROUP g a\n");
    assert_eq!(
        render(&d),
        "demo.opt:1:18: warning: GROUP `nobody` is not defined, so it matches nobody\n\
         demo.opt:2:1: error: expected an options keyword, found `BAD`\n\
         demo.opt:3:21: warning: HOST_GROUP `g` is not defined, so it matches nobody (there is a GROUP g: write GROUP g)"
    );
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(d[1].is_error());
    let (_, d) = parse("EXCLUDE f1 GROUP labs\nHOST_GROUP labs a\n");
    assert_eq!(
        render(&d),
        "demo.opt:1:18: warning: GROUP `labs` is not defined, so it matches nobody (there is a HOST_GROUP labs: write HOST_GROUP labs)"
    );
}

#[test]
fn the_file_name_is_the_one_given() {
    let (_, d) = Options::parse("/opt/flexlm/demo.opt", "x\n");
    assert_eq!(d[0].file, "/opt/flexlm/demo.opt");
    assert!(d[0]
        .to_string()
        .starts_with("/opt/flexlm/demo.opt:1:1: error:"));
}

#[test]
fn read_from_disk() {
    let dir = std::env::temp_dir().join(format!("options-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("demo.opt");
    // Latin-1 bytes are read, not refused.
    std::fs::write(&path, b"GROUP g J\xf6rg\nINCLUDE f1 GROUP g\n").unwrap();
    let (o, d) = Options::read(&path).unwrap();
    assert!(d.is_empty(), "{}", render(&d));
    assert_eq!(o.group("g").unwrap(), ["J\u{f6}rg"]);
    assert_eq!(o.name(), path.display().to_string());
    assert!(Options::read(&dir.join("missing.opt")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// Access: INCLUDE / EXCLUDE precedence

/// The shape administrators write: a group let in, one member carved out.
const SITE: &str = "\
# demo vendor daemon options
GROUP hackers bob alice
INCLUDE f1 GROUP hackers
EXCLUDE f1 USER bob
RESERVE 2 f1 USER alice
MAX 3 f1 GROUP hackers
TIMEOUTALL 3600
HOST_GROUP labs lab1 lab2
INCLUDE f2:VERSION=2.0 HOST_GROUP labs
EXCLUDE f3 INTERNET 10.1.*.*
INCLUDE f4 PROJECT apollo
";

#[test]
fn the_usual_site_file() {
    let o = clean(SITE);
    let f1 = f("f1");
    // bob is in the included group and excluded by name: EXCLUDE wins.
    assert_eq!(
        o.access(&f1, &user("bob")),
        Err(Denial::Excluded { line: 4 })
    );
    assert_eq!(code(o.access(&f1, &user("bob"))), -38);
    assert_eq!(o.access(&f1, &user("alice")), Ok(()));
    // carol is on no list, and f1 has an INCLUDE list.
    assert_eq!(o.access(&f1, &user("carol")), Err(Denial::NotIncluded));
    assert_eq!(code(o.access(&f1, &user("carol"))), -39);

    // RESERVE 2 f1 USER alice.
    let r: Vec<&Reservation> = o.reservations(&f1).collect();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].count(), 2);
    assert_eq!(r[0].line(), 5);
    assert!(r[0].applies_to(&user("alice")));
    assert!(!r[0].applies_to(&user("bob")));
    assert_eq!(o.reservations(&f("f2")).count(), 0);

    // MAX 3 f1 GROUP hackers: alice's team holds 3 already.
    let alice = user("alice");
    let limits: Vec<&MaxRule> = o.limits(&f1, &alice).collect();
    assert_eq!(limits.len(), 1);
    assert_eq!(limits[0].limit(), 3);
    let id = limits[0].id();
    assert_eq!(
        o.check_max(&f1, &alice, 1, |m| if m == id { 2 } else { 0 }),
        Ok(())
    );
    assert_eq!(
        o.check_max(&f1, &alice, 1, |_| 3),
        Err(Denial::OverMax { line: 6, limit: 3 })
    );
    assert_eq!(code(o.check_max(&f1, &alice, 2, |_| 2)), -87);
    // carol is not in hackers: no cap counts her.
    assert_eq!(o.limits(&f1, &user("carol")).count(), 0);

    // TIMEOUTALL 3600 for every feature.
    assert_eq!(o.timeout(&f1), Some(3600));
    assert_eq!(o.timeout(&f("anything")), Some(3600));

    // INCLUDE f2:VERSION=2.0 HOST_GROUP labs: only version 2.0 pools are
    // restricted, and versions compare as numbers.
    let v2 = Version::parse("2.000").unwrap();
    let v1 = Version::parse("1.0").unwrap();
    let f2v2 = FeatureCtx {
        version: Some(&v2),
        ..f("f2")
    };
    let f2v1 = FeatureCtx {
        version: Some(&v1),
        ..f("f2")
    };
    assert_eq!(o.access(&f2v2, &at_host("x", "lab1")), Ok(()));
    assert_eq!(o.access(&f2v2, &at_host("x", "lab1.example.com")), Ok(()));
    assert_eq!(code(o.access(&f2v2, &at_host("x", "ws7"))), -39);
    assert_eq!(o.access(&f2v1, &at_host("x", "ws7")), Ok(()));
    // A pool whose version is unknown is not selected by the filter.
    assert_eq!(o.access(&f("f2"), &at_host("x", "ws7")), Ok(()));

    // EXCLUDE f3 INTERNET 10.1.*.*
    let inside = user("x").with_address(ip("10.1.20.3"));
    let outside = user("x").with_address(ip("10.2.20.3"));
    assert_eq!(code(o.access(&f("f3"), &inside)), -38);
    assert_eq!(o.access(&f("f3"), &outside), Ok(()));
    assert_eq!(o.access(&f("f3"), &user("x")), Ok(()));

    // INCLUDE f4 PROJECT apollo
    assert_eq!(
        o.access(&f("f4"), &user("x").with_project("apollo")),
        Ok(())
    );
    assert_eq!(
        code(o.access(&f("f4"), &user("x").with_project("gemini"))),
        -39
    );
    assert_eq!(code(o.access(&f("f4"), &user("x"))), -39);
    assert_eq!(code(o.access(&f("f4"), &user("x").with_project(""))), -39);

    // Features the file does not name are open to all.
    assert_eq!(o.access(&f("f9"), &user("bob")), Ok(()));
}

#[test]
fn the_documented_example_is_clean() {
    let doc = include_str!("../../docs/options-file.md");
    let start = doc.find("## Example").unwrap();
    let end = doc[start..].find("\n## ").unwrap() + start;
    let example: String = doc[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .map(|l| format!("{l}\n"))
        .collect();
    let o = clean(&example);
    assert_eq!(o.statements().len(), 13);
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -38);
    assert_eq!(o.linger(&f("f1")), Some(300));
}

#[test]
fn no_file_and_an_empty_file_let_everyone_in() {
    for o in [Options::default(), clean(""), clean("# only comments\n\n")] {
        assert_eq!(o.access(&f("f1"), &user("anyone")), Ok(()));
        assert_eq!(o.borrow_access(&f("f1"), &user("anyone")), Ok(()));
        assert_eq!(o.reservations(&f("f1")).count(), 0);
        assert_eq!(
            o.check_max(&f("f1"), &user("anyone"), 1000, |_| 1000),
            Ok(())
        );
        assert_eq!(o.timeout(&f("f1")), None);
        assert_eq!(o.linger(&f("f1")), None);
        assert!(o.automatic_reread());
        assert!(!o.nolog(LogClass::In));
    }
}

#[test]
fn only_an_exclude_list_lets_everyone_else_in() {
    let o = clean("EXCLUDE f1 USER bob\n");
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -38);
    assert_eq!(o.access(&f("f1"), &user("alice")), Ok(()));
}

#[test]
fn include_lines_of_every_type_add_up() {
    let o = clean(
        "INCLUDE f1 USER bob\nINCLUDE f1 HOST lab1\nINCLUDE f1 DISPLAY /dev/tty3\n\
         INCLUDE f1 INTERNET 192.168.1.*\nINCLUDE f1 PROJECT apollo\n",
    );
    let f1 = f("f1");
    assert_eq!(o.access(&f1, &at_host("bob", "elsewhere")), Ok(()));
    assert_eq!(o.access(&f1, &at_host("carol", "lab1")), Ok(()));
    assert_eq!(
        o.access(&f1, &Client::new("carol", "x", "/dev/tty3")),
        Ok(())
    );
    assert_eq!(
        o.access(&f1, &user("carol").with_address(ip("192.168.1.40"))),
        Ok(())
    );
    assert_eq!(o.access(&f1, &user("carol").with_project("apollo")), Ok(()));
    assert_eq!(
        code(o.access(&f1, &Client::new("carol", "x", "/dev/tty4"))),
        -39
    );
}

#[test]
fn includeall_and_excludeall_apply_to_every_feature() {
    let o = clean("INCLUDEALL USER bob\nINCLUDEALL USER alice\nEXCLUDEALL HOST kiosk\n");
    for feature in ["f1", "f2", "anything"] {
        assert_eq!(o.access(&f(feature), &user("bob")), Ok(()));
        assert_eq!(code(o.access(&f(feature), &user("carol"))), -39);
        assert_eq!(
            o.access(&f(feature), &at_host("bob", "kiosk")),
            Err(Denial::Excluded { line: 3 })
        );
    }
}

#[test]
fn all_and_per_feature_lists_combine() {
    let o = clean("INCLUDEALL USER bob\nINCLUDE f1 USER carol\nEXCLUDEALL USER mallory\nINCLUDE f2 USER mallory\n");
    // Either list admits to f1.
    assert_eq!(o.access(&f("f1"), &user("bob")), Ok(()));
    assert_eq!(o.access(&f("f1"), &user("carol")), Ok(()));
    assert_eq!(code(o.access(&f("f2"), &user("carol"))), -39);
    assert_eq!(code(o.access(&f("f1"), &user("dave"))), -39);
    // EXCLUDEALL beats a feature's INCLUDE.
    assert_eq!(
        o.access(&f("f2"), &user("mallory")),
        Err(Denial::Excluded { line: 3 })
    );
}

#[test]
fn exclude_is_checked_first_whatever_the_line_order() {
    let o = clean("EXCLUDE f1 GROUP g\nINCLUDE f1 USER bob\nGROUP g bob\n");
    assert_eq!(
        o.access(&f("f1"), &user("bob")),
        Err(Denial::Excluded { line: 1 })
    );
    // The earliest excluding line is named.
    let o = clean("EXCLUDE f1 USER bob\nEXCLUDEALL USER bob\n");
    assert_eq!(
        o.access(&f("f1"), &user("bob")),
        Err(Denial::Excluded { line: 1 })
    );
    assert_eq!(
        o.access(&f("f2"), &user("bob")),
        Err(Denial::Excluded { line: 2 })
    );
}

#[test]
fn an_undefined_group_matches_nobody() {
    let (o, d) = parse("INCLUDE f1 GROUP typo\nEXCLUDE f2 GROUP typo\n");
    assert_eq!(d.len(), 2);
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -39);
    assert_eq!(o.access(&f("f2"), &user("bob")), Ok(()));
}

#[test]
fn group_lines_with_one_name_concatenate() {
    let o = clean("GROUP g a\nUSER_GROUP g b\nINCLUDE f1 GROUP g\nGROUP g c\n");
    for u in ["a", "b", "c"] {
        assert_eq!(o.access(&f("f1"), &user(u)), Ok(()), "{u}");
    }
    assert_eq!(code(o.access(&f("f1"), &user("d"))), -39);
    // USER_GROUP may also stand as the type.
    let o = clean("GROUP g a\nINCLUDE f1 USER_GROUP g\n");
    assert_eq!(o.access(&f("f1"), &user("a")), Ok(()));
}

#[test]
fn group_case_sensitivity_switch() {
    let text = "GROUP g Bob\nINCLUDE f1 GROUP g\nINCLUDE f2 USER Carol\n";
    let o = clean(text);
    assert!(!o.group_case_insensitive());
    assert_eq!(o.access(&f("f1"), &user("Bob")), Ok(()));
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -39);
    // ON anywhere in the file applies to every group.
    let o = clean(&format!("{text}GROUPCASEINSENSITIVE ON\n"));
    assert_eq!(o.access(&f("f1"), &user("bob")), Ok(()));
    assert_eq!(o.access(&f("f1"), &user("BOB")), Ok(()));
    // A USER named directly stays case-sensitive.
    assert_eq!(o.access(&f("f2"), &user("Carol")), Ok(()));
    assert_eq!(code(o.access(&f("f2"), &user("carol"))), -39);
    // Group names themselves are case-sensitive.
    let (o, d) = parse("GROUPCASEINSENSITIVE ON\nGROUP g bob\nINCLUDE f1 GROUP G\n");
    assert_eq!(d.len(), 1);
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -39);
    // The last switch wins.
    let o = clean(&format!(
        "GROUPCASEINSENSITIVE ON\n{text}GROUPCASEINSENSITIVE OFF\n"
    ));
    assert_eq!(code(o.access(&f("f1"), &user("bob"))), -39);
}

#[test]
fn host_matching_by_name_and_address() {
    let text =
        "INCLUDE f1 HOST build7\nINCLUDE f1 HOST cad.eng.example.com\nINCLUDE f1 HOST 10.3.*.*\n\
                INCLUDE f1 HOST 192.168.0.9\n";
    let lenient = clean(text);
    let exact = clean(&format!("FQDN_MATCHING exact\n{text}"));
    assert_eq!(lenient.fqdn_matching(), FqdnMatching::Lenient);
    let f1 = f("f1");
    for (host, l, e) in [
        ("build7", true, true),
        ("BUILD7", true, true),
        ("build7.example.com", true, false),
        ("cad", true, false),
        ("cad.eng.example.com", true, true),
        ("CAD.ENG.EXAMPLE.COM.", true, true),
        ("cad.other.example.com", false, false),
        ("build8", false, false),
        ("10.3.0.1", true, true),
        ("192.168.0.9", true, true),
        ("192.168.0.10", false, false),
    ] {
        let c = at_host("u", host);
        assert_eq!(lenient.access(&f1, &c).is_ok(), l, "lenient {host}");
        assert_eq!(exact.access(&f1, &c).is_ok(), e, "exact {host}");
    }
    // An address given apart from the name matches address patterns.
    let c = at_host("u", "ws9").with_address(ip("10.3.7.7"));
    assert!(exact.access(&f1, &c).is_ok());
    let c = at_host("u", "ws9").with_address(ip("::ffff:192.168.0.9"));
    assert!(exact.access(&f1, &c).is_ok());
    let c = at_host("u", "ws9").with_address(ip("fe80::1"));
    assert!(exact.access(&f1, &c).is_err());
    // FQDN_MATCHING applies to HOST_GROUP members wherever it is written.
    let o = clean("HOST_GROUP labs lab1\nEXCLUDE f1 HOST_GROUP labs\nFQDN_MATCHING exact\n");
    assert!(o.access(&f1, &at_host("u", "lab1.example.com")).is_ok());
    assert!(o.access(&f1, &at_host("u", "lab1")).is_err());
}

#[test]
fn display_matching_is_exact() {
    let o = clean("EXCLUDE f1 DISPLAY /dev/ttyp1\n");
    assert!(o
        .access(&f("f1"), &Client::new("u", "h", "/dev/ttyp1"))
        .is_err());
    assert!(o
        .access(&f("f1"), &Client::new("u", "h", "/dev/ttyp2"))
        .is_ok());
    assert!(o
        .access(&f("f1"), &Client::new("u", "h", "/DEV/TTYP1"))
        .is_ok());
}

#[test]
fn client_accessors() {
    let c = Client::new("bob", "10.0.0.4", ":0").with_project("apollo");
    assert_eq!(c.user(), "bob");
    assert_eq!(c.host(), "10.0.0.4");
    assert_eq!(c.display(), ":0");
    assert_eq!(c.address(), Some(Ipv4Addr::new(10, 0, 0, 4)));
    assert_eq!(c.project(), Some("apollo"));
    let c = c.with_address(ip("10.0.0.5"));
    assert_eq!(c.address(), Some(Ipv4Addr::new(10, 0, 0, 5)));
}

// ---------------------------------------------------------------------------
// Feature filters against real license lines

const LICENSE: &str = "\
SERVER srv 17007ea8 27000
VENDOR demo
FEATURE f1 demo 2.0 31-dec-2030 4 0123456789AB HOSTID=17007EA8 \\
    VENDOR_STRING=\"gold  tier\" ISSUER=Acme NOTICE=\"For lab use\" \\
    dist_info=d1 user_info=\"cad team\" asset_info=A-17 SIGN=\"ABCD 1234\"
FEATURE f1 demo 1.0 permanent 4 HOSTID=ANY VENDOR_STRING=silver
";

#[test]
fn every_filter_keyword_selects_license_lines() {
    let lic = parse_license("demo.lic", LICENSE);
    assert!(!lic.has_errors(), "{:?}", lic.diagnostics);
    let lines: Vec<_> = lic.features().map(|(_, f)| f).collect();
    let gold = FeatureCtx::from_feature(lines[0]);
    let silver = FeatureCtx::from_feature(lines[1]);
    for (filter, on_gold, on_silver) in [
        ("VERSION=2", true, false),
        ("VERSION=1.000", false, true),
        ("HOSTID=17007ea8", true, false),
        ("HOSTID=0x17007EA8", true, false),
        ("HOSTID=ANY", false, true),
        ("HOSTID=\"17007ea8 ANY\"", false, false),
        ("EXPDATE=31-Dec-2030", true, false),
        ("EXPDATE=permanent", false, true),
        ("KEY=0123456789ab", true, false),
        ("SIGN=\"abcd1234\"", true, false),
        ("SIGN=ABCD", false, false),
        ("VENDOR_STRING=\"gold tier\"", true, false),
        ("VENDOR_STRING=silver", false, true),
        ("VENDOR_STRING=Silver", false, false),
        ("ISSUER=Acme", true, false),
        ("NOTICE=\"For lab use\"", true, false),
        ("dist_info=d1", true, false),
        ("USER_INFO=\"cad team\"", true, false),
        ("asset_info=A-17", true, false),
        ("asset_info=A-18", false, false),
    ] {
        let o = clean(&format!("EXCLUDE f1:{filter} USER bob\n"));
        assert_eq!(
            o.access(&gold, &user("bob")).is_err(),
            on_gold,
            "{filter} on gold"
        );
        assert_eq!(
            o.access(&silver, &user("bob")).is_err(),
            on_silver,
            "{filter} on silver"
        );
    }
}

#[test]
fn pools_give_name_package_version_hostids_and_expiry() {
    let lic = parse_license(
        "demo.lic",
        "SERVER srv ANY 27000\nVENDOR demo\n\
         PACKAGE office demo 1.0 COMPONENTS=\"write calc\"\n\
         FEATURE office demo 1.0 31-dec-2030 3\n",
    );
    let today = Date::new(2026, 1, 1).unwrap();
    let pools = build_pools(&lic, &HashMap::new(), today);
    let write = pools
        .for_feature("demo", "write")
        .next()
        .expect("write pool");
    let ctx = FeatureCtx::from_pool(write);
    assert_eq!(ctx.name, "write");
    assert_eq!(ctx.package, Some("office"));
    assert_eq!(
        ctx.expiry,
        Some(Expiry::On(Date::new(2030, 12, 31).unwrap()))
    );
    // RESERVE on the package name reserves every component.
    let o = clean("RESERVE 1 office USER alice\nEXCLUDE office USER bob\n");
    let r: Vec<_> = o.reservations(&ctx).collect();
    assert_eq!(r.len(), 1);
    assert!(r[0].applies_to(&user("alice")));
    assert_eq!(r[0].feature().name, "office");
    assert_eq!(code(o.access(&ctx, &user("bob"))), -38);
    let ctx = FeatureCtx::from_pool(pools.for_feature("demo", "calc").next().unwrap());
    assert_eq!(o.reservations(&ctx).count(), 1);
}

#[test]
fn a_filter_on_a_missing_attribute_selects_nothing() {
    let o = clean("EXCLUDE f1:VENDOR_STRING=x USER bob\nTIMEOUT f1:ISSUER=y 100\n");
    assert_eq!(o.access(&f("f1"), &user("bob")), Ok(()));
    assert_eq!(o.timeout(&f("f1")), None);
}

#[test]
fn include_lists_for_user_based_lines() {
    let o = clean(
        "GROUP cad ann ben\nINCLUDE f1 USER zoe\nINCLUDE f1 GROUP cad\nINCLUDE f1:VERSION=9 USER old\n\
         INCLUDEALL USER root\nINCLUDE f2 HOST lab1\n",
    );
    let listed: Vec<String> = o.include_list(&f("f1")).map(ToString::to_string).collect();
    assert_eq!(listed, ["USER zoe", "GROUP cad", "USER root"]);
    let users: Vec<&str> = o
        .include_list(&f("f1"))
        .flat_map(|w| match w.kind {
            WhoKind::User => vec![w.name.as_str()],
            WhoKind::Group => o
                .group(&w.name)
                .unwrap()
                .iter()
                .map(String::as_str)
                .collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(users, ["zoe", "ann", "ben", "root"]);
    assert_eq!(o.include_list(&f("f3")).count(), 1);
}

#[test]
fn options_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Options>();
    shared::<Client>();
}

// ---------------------------------------------------------------------------
// RESERVE and MAX

#[test]
fn reservations_for_users_groups_hosts_and_filters() {
    let o = clean(
        "GROUP team a b\nHOST_GROUP labs lab1\nRESERVE 2 f1 USER alice\nRESERVE 1 f1 GROUP team\n\
         RESERVE 3 f1:VERSION=2.0 HOST_GROUP labs\nRESERVE 4 f2 PROJECT apollo\nRESERVE 1 f1 INTERNET 10.*.*.*\n",
    );
    assert_eq!(o.reservation_count(), 5);
    assert_eq!(o.all_reservations().len(), 5);
    let f1 = f("f1");
    let r: Vec<(u32, u32)> = o.reservations(&f1).map(|r| (r.count(), r.line())).collect();
    assert_eq!(r, [(2, 3), (1, 4), (1, 7)]);
    let v2 = Version::parse("2.0").unwrap();
    let f1v2 = FeatureCtx {
        version: Some(&v2),
        ..f("f1")
    };
    let r: Vec<&Reservation> = o.reservations(&f1v2).collect();
    assert_eq!(r.len(), 4);
    let for_lab = r.iter().find(|r| r.count() == 3).unwrap();
    assert!(for_lab.applies_to(&at_host("x", "lab1")));
    assert!(!for_lab.applies_to(&at_host("x", "lab2")));
    assert_eq!(for_lab.who().kind, WhoKind::HostGroup);
    let for_team = r.iter().find(|r| r.line() == 4).unwrap();
    assert!(for_team.applies_to(&user("a")) && for_team.applies_to(&user("b")));
    assert!(!for_team.applies_to(&user("alice")));
    // Ids index all_reservations.
    for res in o.all_reservations() {
        assert_eq!(o.all_reservations()[res.id().index()].line(), res.line());
    }
    let r: Vec<_> = o.reservations(&f("f2")).collect();
    assert!(r[0].applies_to(&user("x").with_project("apollo")));
    assert!(!r[0].applies_to(&user("x")));
}

#[test]
fn every_applicable_max_must_hold() {
    let o = clean(
        "GROUP hackers bob alice\nMAX 3 f1 GROUP hackers\nMAX 1 f1 USER bob\nMAX 5 f2 GROUP hackers\n\
         MAX 0 f1 HOST kiosk\nMAX 2 f1:VERSION=9 USER alice\n",
    );
    assert_eq!(o.max_rule_count(), 5);
    let f1 = f("f1");
    let bob = user("bob");
    let alice = user("alice");
    let ids: Vec<MaxId> = o.limits(&f1, &bob).map(MaxRule::id).collect();
    assert_eq!(ids.len(), 2);
    // Usage per MAX line, kept by the caller.
    let mut usage = vec![0u32; o.max_rule_count()];
    assert_eq!(o.check_max(&f1, &bob, 1, |id| usage[id.index()]), Ok(()));
    for id in o.limits(&f1, &bob).map(MaxRule::id) {
        usage[id.index()] += 1;
    }
    // bob's own cap of 1 is reached; alice only counts against the group.
    assert_eq!(
        o.check_max(&f1, &bob, 1, |id| usage[id.index()]),
        Err(Denial::OverMax { line: 3, limit: 1 })
    );
    assert_eq!(o.check_max(&f1, &alice, 2, |id| usage[id.index()]), Ok(()));
    assert_eq!(
        o.check_max(&f1, &alice, 3, |id| usage[id.index()]),
        Err(Denial::OverMax { line: 2, limit: 3 })
    );
    // MAX 0 keeps a host out altogether.
    assert_eq!(
        code(o.check_max(&f1, &at_host("carol", "kiosk"), 1, |_| 0)),
        -87
    );
    // Filtered MAX applies only to matching pools; f2 has its own.
    assert_eq!(o.limits(&f1, &alice).count(), 1);
    assert_eq!(
        o.limits(&f("f2"), &alice)
            .map(MaxRule::limit)
            .collect::<Vec<_>>(),
        [5]
    );
    assert_eq!(o.all_limits()[0].who().name, "hackers");
    assert_eq!(o.all_limits()[0].feature().name, "f1");
    assert!(o.all_limits()[0].applies_to(&bob));
}

// ---------------------------------------------------------------------------
// Per-feature numbers: TIMEOUT, LINGER, MAX_OVERDRAFT, BORROW_*

#[test]
fn the_most_specific_timeout_wins() {
    let o = clean(
        "TIMEOUTALL 3600\nTIMEOUT f1:VERSION=2.0 900\nTIMEOUT f1 7200\nTIMEOUT f2 100\nTIMEOUT f2 200\n\
         TIMEOUT suite 1800\nTIMEOUTALL 4000\n",
    );
    let v2 = Version::parse("2.0").unwrap();
    let v1 = Version::parse("1.0").unwrap();
    let with = |v| FeatureCtx {
        version: Some(v),
        ..f("f1")
    };
    assert_eq!(o.timeout(&with(&v2)), Some(900));
    assert_eq!(o.timeout(&with(&v1)), Some(7200));
    assert_eq!(o.timeout(&f("f1")), Some(7200));
    // Among equals the last line wins; TIMEOUTALL too.
    assert_eq!(o.timeout(&f("f2")), Some(200));
    assert_eq!(o.timeout(&f("f3")), Some(4000));
    // A package's timeout reaches its components; the component's own wins.
    let comp = FeatureCtx {
        package: Some("suite"),
        ..f("c1")
    };
    assert_eq!(o.timeout(&comp), Some(1800));
    let comp = FeatureCtx {
        package: Some("suite"),
        ..f("f1")
    };
    assert_eq!(o.timeout(&comp), Some(7200));
}

#[test]
fn linger_extends_and_never_shortens() {
    let o = clean("LINGER f1 300\nLINGER f1:VERSION=3 30\n");
    assert_eq!(o.linger(&f("f1")), Some(300));
    assert_eq!(o.effective_linger(&f("f1"), 60), 300);
    assert_eq!(o.effective_linger(&f("f1"), 600), 600);
    assert_eq!(o.effective_linger(&f("f2"), 60), 60);
    let v3 = Version::parse("3").unwrap();
    let ctx = FeatureCtx {
        version: Some(&v3),
        ..f("f1")
    };
    assert_eq!(o.linger(&ctx), Some(30));
    assert_eq!(o.effective_linger(&ctx, 60), 60);
}

#[test]
fn max_overdraft_only_lowers_overdraft() {
    let o = clean("MAX_OVERDRAFT f1 2\n");
    assert_eq!(o.max_overdraft(&f("f1")), Some(2));
    assert_eq!(o.effective_overdraft(&f("f1"), 10), 2);
    assert_eq!(o.effective_overdraft(&f("f1"), 1), 1);
    assert_eq!(o.effective_overdraft(&f("f2"), 10), 10);
    assert_eq!(
        clean("MAX_OVERDRAFT f1 0\n").effective_overdraft(&f("f1"), 5),
        0
    );
}

#[test]
fn borrow_lists_follow_the_same_precedence() {
    let o = clean(
        "GROUP travellers bob alice carol\nINCLUDE_BORROW f1 GROUP travellers\nEXCLUDE_BORROW f1 USER bob\n\
         EXCLUDE f1 USER carol\nEXCLUDE_BORROW f2 HOST kiosk\n",
    );
    let f1 = f("f1");
    assert_eq!(o.borrow_access(&f1, &user("alice")), Ok(()));
    // bob may use f1 but not borrow it: EXCLUDE_BORROW beats INCLUDE_BORROW.
    assert_eq!(o.access(&f1, &user("bob")), Ok(()));
    assert_eq!(
        o.borrow_access(&f1, &user("bob")),
        Err(Denial::BorrowExcluded { line: 3 })
    );
    assert_eq!(code(o.borrow_access(&f1, &user("bob"))), -38);
    // dave may use f1 but is not on the borrow list.
    assert_eq!(o.access(&f1, &user("dave")), Ok(()));
    assert_eq!(
        o.borrow_access(&f1, &user("dave")),
        Err(Denial::BorrowNotIncluded)
    );
    assert_eq!(code(o.borrow_access(&f1, &user("dave"))), -39);
    // carol may borrow by the borrow list, but may not use f1 at all.
    assert_eq!(
        o.borrow_access(&f1, &user("carol")),
        Err(Denial::Excluded { line: 4 })
    );
    // Only an exclude list for f2: everyone else may borrow.
    assert_eq!(o.borrow_access(&f("f2"), &user("dave")), Ok(()));
    assert!(o
        .borrow_access(&f("f2"), &at_host("dave", "kiosk"))
        .is_err());
}

#[test]
fn borrow_numbers() {
    let o = clean("BORROW_LOWWATER f1 2\nMAX_BORROW_HOURS f1 72\nMAX_BORROW_HOURS f1 24\nMAX_BORROW_HOURS f2 500\n");
    assert_eq!(o.borrow_lowwater(&f("f1")), Some(2));
    assert_eq!(o.borrow_lowwater(&f("f2")), None);
    // The last MAX_BORROW_HOURS wins.
    assert_eq!(o.max_borrow_hours(&f("f1")), Some(24));
    assert_eq!(o.effective_borrow_hours(&f("f1"), 168), 24);
    // It can only shorten the license's period.
    assert_eq!(o.effective_borrow_hours(&f("f2"), 168), 168);
    assert_eq!(o.effective_borrow_hours(&f("f3"), 168), 168);
}

// ---------------------------------------------------------------------------
// Global settings

#[test]
fn nolog_classes_accumulate() {
    let o = clean("NOLOG IN\nNOLOG QUEUED\nnolog unsupported\n");
    assert!(o.nolog(LogClass::In));
    assert!(!o.nolog(LogClass::Out));
    assert!(!o.nolog(LogClass::Denied));
    assert!(o.nolog(LogClass::Queued));
    assert!(o.nolog(LogClass::Unsupported));
}

#[test]
fn single_valued_settings_take_the_last_line() {
    let o = clean(
        "REPORTLOG /a\nREPORTLOG +/b\nDEBUGLOG /c\nAUTOMATIC_REREAD OFF\nAUTOMATIC_REREAD ON\n\
         FQDN_MATCHING exact\nFQDN_MATCHING lenient\nDAEMON_SELECT_TIMEOUT 1\nDAEMON_SELECT_TIMEOUT 3\n\
         MAX_CONNECTIONS 10\nMAX_CONNECTIONS 20\n",
    );
    assert_eq!(o.report_log().unwrap().path, "/b");
    assert!(o.report_log().unwrap().append);
    assert_eq!(o.debug_log().unwrap().path, "/c");
    assert!(!o.debug_log().unwrap().append);
    assert!(o.automatic_reread());
    assert_eq!(o.fqdn_matching(), FqdnMatching::Lenient);
    assert_eq!(o.daemon_select_timeout(), Some(3));
    assert_eq!(o.max_connections(), Some(20));
}

#[test]
fn denial_codes_and_lines() {
    assert_eq!(Denial::Excluded { line: 4 }.code(), LM_FEATEXCLUDE);
    assert_eq!(LM_FEATEXCLUDE, -38);
    assert_eq!(Denial::NotIncluded.code(), LM_FEATNOTINCLUDE);
    assert_eq!(LM_FEATNOTINCLUDE, -39);
    assert_eq!(Denial::OverMax { line: 1, limit: 2 }.code(), LM_MAXLIMIT);
    assert_eq!(LM_MAXLIMIT, -87);
    assert_eq!(LM_RESVFOROTHERS, -101);
    assert_eq!(Denial::Excluded { line: 4 }.line(), Some(4));
    assert_eq!(Denial::NotIncluded.line(), None);
    assert_eq!(Denial::BorrowNotIncluded.code(), -39);
    assert_eq!(Denial::BorrowExcluded { line: 2 }.line(), Some(2));
}

// ---------------------------------------------------------------------------
// Properties

/// A valid file that uses every keyword.
const VALID: &str = "\
# every keyword
GROUP hackers bob alice \\
    carol
USER_GROUP hackers dave
HOST_GROUP labs lab1 lab2.example.com 10.2.*.*
GROUPCASEINSENSITIVE ON
INCLUDE f1 GROUP hackers
INCLUDEALL USER root
EXCLUDE f1 USER bob
EXCLUDEALL HOST kiosk
INCLUDE_BORROW f1 GROUP hackers
EXCLUDE_BORROW f1:VERSION=2.0 USER carol
RESERVE 2 f1 USER alice
MAX 3 f1 GROUP hackers
MAX_OVERDRAFT f1 1
TIMEOUT f1 7200
TIMEOUTALL 3600
LINGER f1:VENDOR_STRING=\"gold tier\" 60
NOLOG IN
REPORTLOG +/var/log/demo.rl
DEBUGLOG /var/log/demo.log
BORROW_LOWWATER f1 2
MAX_BORROW_HOURS f1 48
AUTOMATIC_REREAD OFF
FQDN_MATCHING exact
DAEMON_SELECT_TIMEOUT 2
MAX_CONNECTIONS 500
INCLUDE f2:VERSION=2.0 HOST_GROUP labs
EXCLUDE f3 INTERNET 10.1.*.*
INCLUDE f4 PROJECT apollo
EXCLUDE f4 DISPLAY /dev/tty1
";

#[test]
fn the_valid_file_is_clean() {
    let o = clean(VALID);
    assert_eq!(o.statements().len(), 29);
}

/// Asks every question of the evaluator; none may panic.
fn exercise(o: &Options) {
    let v = Version::parse("2.0").unwrap();
    let ids = [HostId::Any];
    let ctxs = [
        f("f1"),
        f("f2"),
        FeatureCtx {
            version: Some(&v),
            hostids: Some(&ids),
            vendor_string: Some("gold tier"),
            package: Some("f4"),
            ..f("f1")
        },
    ];
    let clients = [
        user("bob"),
        at_host("alice", "lab1").with_address(ip("10.1.2.3")),
        Client::new("", "", "").with_project("apollo"),
    ];
    for ctx in &ctxs {
        for c in &clients {
            let _ = o.access(ctx, c);
            let _ = o.borrow_access(ctx, c);
            let _ = o.check_max(ctx, c, 1, |_| u32::MAX);
            for r in o.reservations(ctx) {
                let _ = r.applies_to(c);
            }
        }
        let _ = (o.timeout(ctx), o.linger(ctx), o.max_overdraft(ctx));
        let _ = (o.borrow_lowwater(ctx), o.effective_borrow_hours(ctx, 168));
    }
}

fn check_positions(src: &str, d: &[Diagnostic]) {
    let lines = src.split('\n').count() as u32;
    for x in d {
        assert!(x.line >= 1 && x.line <= lines, "{x} outside {lines} lines");
        assert!(x.column >= 1, "{x}");
    }
}

/// Edits that damage a file the way hands and tools do.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    DropLine(usize),
    SwapLines(usize, usize),
}

fn apply(src: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for e in edits {
        match *e {
            Edit::Delete(i) if !chars.is_empty() => {
                chars.remove(i % chars.len());
            }
            Edit::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Edit::Replace(i, c) if !chars.is_empty() => {
                let n = chars.len();
                chars[i % n] = c;
            }
            Edit::DropLine(i) | Edit::SwapLines(i, _) => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let n = lines.len();
                if let Edit::SwapLines(_, j) = *e {
                    lines.swap(i % n, j % n);
                } else {
                    lines.remove(i % n);
                }
                chars = lines.join("\n").chars().collect();
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn edit() -> impl Strategy<Value = Edit> {
    let c = prop_oneof![
        Just(' '),
        Just('\\'),
        Just('"'),
        Just('#'),
        Just('\n'),
        Just(':'),
        Just('='),
        Just('*'),
        Just('.'),
        Just('+'),
        any::<char>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), c).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<usize>().prop_map(Edit::DropLine),
        (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Edit::SwapLines(i, j)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC*") {
        let (o, d) = parse(&src);
        check_positions(&src, &d);
        exercise(&o);
    }

    #[test]
    fn option_shaped_text_never_panics(
        src in "((INCLUDE|EXCLUDE|RESERVE|MAX|GROUP|HOST_GROUP|TIMEOUT|NOLOG|REPORTLOG|[a-z0-9:=.*\"+#\\\\]{1,8}|USER|HOST|INTERNET) {0,2}[\t\n]?){0,40}"
    ) {
        let (o, d) = parse(&src);
        check_positions(&src, &d);
        exercise(&o);
    }

    #[test]
    fn mutated_valid_files_never_panic(edits in prop::collection::vec(edit(), 1..8)) {
        let src = apply(VALID, &edits);
        let (o, d) = parse(&src);
        check_positions(&src, &d);
        exercise(&o);
        // Parsing is deterministic.
        let (o2, d2) = parse(&src);
        prop_assert_eq!(d, d2);
        prop_assert_eq!(o.statements(), o2.statements());
        // Every line with an error is left out; the others are kept.
        prop_assert!(o.statements().len() <= 29 + edits.len() * 2);
    }

    /// Against a reference model: exclusion wins, an include list admits
    /// only its members, no list admits everyone.
    #[test]
    fn access_follows_the_precedence_rules(
        rules in prop::collection::vec((0..4u8, 0..3usize, 0..4usize), 0..10),
        asker in 0..4usize,
        feature in 0..3usize,
    ) {
        let users = ["ann", "ben", "cat", "dan"];
        let features = ["f0", "f1", "f2"];
        let mut text = String::new();
        for (kind, feat, u) in &rules {
            let line = match kind {
                0 => format!("INCLUDE {} USER {}\n", features[*feat], users[*u]),
                1 => format!("EXCLUDE {} USER {}\n", features[*feat], users[*u]),
                2 => format!("INCLUDEALL USER {}\n", users[*u]),
                _ => format!("EXCLUDEALL USER {}\n", users[*u]),
            };
            text.push_str(&line);
        }
        let o = clean(&text);
        let applies = |kind: u8, feat: usize| match kind {
            0 | 1 => feat == feature,
            _ => true,
        };
        let excluded = rules.iter().any(|&(k, fe, u)| (k == 1 || k == 3) && applies(k, fe) && u == asker);
        let include_list: Vec<usize> = rules
            .iter()
            .filter(|&&(k, fe, _)| (k == 0 || k == 2) && applies(k, fe))
            .map(|&(_, _, u)| u)
            .collect();
        let want = if excluded {
            -38
        } else if !include_list.is_empty() && !include_list.contains(&asker) {
            -39
        } else {
            0
        };
        prop_assert_eq!(code(o.access(&f(features[feature]), &user(users[asker]))), want);
    }
}
