//! Error diagnostics: the right file, line and column, what was expected and
//! what was found, and the rest of the file still used after a bad line.

mod common;

use common::*;
use grammar::Severity;

#[test]
fn display_is_file_line_column_severity_message() {
    let file = parse("SERVER h ANY 1700\nFEATURE f1 demo 1.x permanent 4\n");
    assert_eq!(file.diagnostics.len(), 1);
    assert_eq!(
        file.diagnostics[0].to_string(),
        "test.lic:2:17: error: expected a version number (such as 1.0), found `1.x`"
    );
    let file = parse("FEATURE f1 demo 1.0 1-jan-99 4\n");
    assert_eq!(
        file.diagnostics[0].to_string(),
        "test.lic:1:21: warning: expiry date `1-jan-99` has a two-digit year, read as 19xx; write four digits"
    );
    assert_eq!(file.diagnostics[0].severity, Severity::Warning);
}

#[test]
fn the_file_name_is_the_one_given() {
    let file = grammar::parse_license("/opt/flexlm/license.dat", "FEATURE f1\n");
    assert_eq!(file.diagnostics[0].file, "/opt/flexlm/license.dat");
    assert!(file.diagnostics[0]
        .to_string()
        .starts_with("/opt/flexlm/license.dat:1:11: error:"));
}

#[test]
fn missing_positional_fields_say_what_was_expected() {
    let cases = [
        ("FEATURE", 8, "expected a feature name, found end of line"),
        (
            "FEATURE f1",
            11,
            "expected a vendor name, found end of line",
        ),
        (
            "INCREMENT f1 demo",
            18,
            "expected a version number (such as 1.0), found end of line",
        ),
        (
            "FEATURE f1 demo 1.0",
            20,
            "expected an expiry date (dd-mmm-yyyy or permanent), found end of line",
        ),
        (
            "FEATURE f1 demo 1.0 permanent",
            30,
            "expected a license count (a number or uncounted), found end of line",
        ),
        ("SERVER", 7, "expected a host name, found end of line"),
        (
            "SERVER my_server",
            17,
            "expected a hostid, found end of line",
        ),
        ("VENDOR", 7, "expected a vendor name, found end of line"),
        ("PACKAGE", 8, "expected a feature name, found end of line"),
        ("PACKAGE p", 10, "expected a vendor name, found end of line"),
        (
            "FEATURESET",
            11,
            "expected a vendor name, found end of line",
        ),
        (
            "UPGRADE f1 demo 1.0 permanent 4",
            21,
            "expected a version number (such as 1.0), found `permanent`",
        ),
    ];
    for (line, col, message) in cases {
        let d = single_error(line);
        assert_eq!((d.line, d.column), (1, col), "{line}: {d}");
        assert_eq!(d.message, message, "{line}");
    }
}

#[test]
fn bad_positional_fields_say_what_was_found() {
    let cases = [
        (
            "FEATURE f1 demo 1.0 12-12-2020 4",
            21,
            "expected an expiry date (dd-mmm-yyyy or permanent), found `12-12-2020`",
        ),
        (
            "FEATURE f1 demo 1.0 permanent four",
            31,
            "expected a license count (a number or uncounted), found `four`",
        ),
        (
            "FEATURE f1 demo 1.0 permanent -4",
            31,
            "expected a license count (a number or uncounted), found `-4`",
        ),
        (
            "FEATURE \"f1\" demo 1.0 permanent 4",
            9,
            "expected a feature name, found `\"f1\"`",
        ),
        (
            "FEATURE f1 demo 1,0 permanent 4",
            17,
            "expected a version number (such as 1.0), found `1,0`",
        ),
    ];
    for (line, col, message) in cases {
        let d = single_error(line);
        assert_eq!((d.line, d.column), (1, col), "{line}: {d}");
        assert_eq!(d.message, message, "{line}");
    }
}

#[test]
fn unclosed_quotes() {
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 NOTICE=\"open");
    assert_diag(&d, 1, 40, &["quoted string is not closed", "closing `\"`"]);
    // Continued onto the next physical line and still not closed: the error
    // is where the quote opens, and the line after is used.
    let file = parse(
        "FEATURE f1 demo 1.0 permanent 4 NOTICE=\"open \\\n   and never closed\nVENDOR demo\n",
    );
    assert_eq!(errors(&file).len(), 1);
    assert_diag(errors(&file)[0], 1, 40, &["not closed"]);
    assert_eq!(file.entries.len(), 1);
    assert_eq!(file.entries[0].line, 3);
    // A quote never spans physical lines without a backslash.
    let file = parse("FEATURE f1 demo 1.0 permanent 4 NOTICE=\"a\nb\" VENDOR x\n");
    assert_eq!(errors(&file).len(), 1);
    assert_diag(errors(&file)[0], 1, 40, &["not closed"]);
}

#[test]
fn positional_field_on_a_continuation_line() {
    let cases = [
        (
            "FEATURE f1 demo 1.0 \\\n  1-jan-20x 4\n",
            (2, 3),
            "found `1-jan-20x`",
        ),
        (
            "INCREMENT f1 demo \\\n\t1.x permanent 4\n",
            (2, 2),
            "found `1.x`",
        ),
        (
            "FEATURE f1 demo 1.0 permanent \\\n    four\n",
            (2, 5),
            "found `four`",
        ),
        (
            "FEATURE f1 demo 1.0 \\\n  32-jan-2020 4 SIGN=x\n",
            (2, 3),
            "day 32 does not exist in jan 2020",
        ),
        (
            "SERVER my_server \\\n     bogus! 1700\n",
            (2, 6),
            "`bogus!` is not a hostid",
        ),
        (
            "SERVER my_server ANY \\\n 0\n",
            (2, 2),
            "`0` is not a TCP port",
        ),
    ];
    for (text, (line, col), message) in cases {
        let d = single_error(text);
        assert_eq!((d.line, d.column), (line, col), "{text:?}: {d}");
        assert!(d.message.contains(message), "{text:?}: {d}");
    }
}

#[test]
fn attribute_value_on_a_later_physical_line() {
    let text = "\n# licenses\nFEATURE f1 demo 1.0 permanent 4 \\\n  HOSTID=17007ea8 \\\n  OVERDRAFT=lots SN=1\n";
    let d = single_error(text);
    assert_diag(
        &d,
        5,
        13,
        &["OVERDRAFT= needs a whole number", "found `lots`"],
    );
    // Inside a quoted value continued across lines.
    let text = "FEATURE f1 demo 1.0 permanent 0 HOSTID=\"17007ea8 \\\n    zz!top\"\n";
    let d = single_error(text);
    assert_diag(&d, 2, 5, &["`zz!top` is not a hostid"]);
    // The same in a SERVER line's list, and for the first id of a list.
    let d = single_error("SERVER h \"17007ea8 \\\n   0800200005ac INTERNET=1.2.3\" 1700\n");
    assert_diag(&d, 2, 17, &["`1.2.3` is not an INTERNET= address"]);
    let d = single_error("SERVER h \"nope 17007ea8\"\n");
    assert_diag(&d, 1, 11, &["`nope` is not a hostid"]);
    let d = single_error("FEATURE f1 demo 1.0 permanent 0 HOSTID=\"  \"");
    assert_diag(&d, 1, 41, &["empty hostid"]);
    // An unexpected word on the third physical line.
    let text = "FEATURE f1 demo 1.0 permanent 4 \\\n SN=1 \\\n\t\tNOTICE=\"x\" stray\n";
    let d = single_error(text);
    assert_diag(&d, 3, 14, &["unexpected `stray` on a FEATURE line"]);
}

#[test]
fn a_bad_hostid_on_an_uncounted_line_is_reported_once() {
    for text in [
        "FEATURE f1 demo 1.0 permanent 0 HOSTID=bad!",
        "FEATURE f1 xxx 1.0 1-jan-0 0 code \"\" bad!",
    ] {
        let d = single_error(text);
        assert!(d.message.contains("`bad!` is not a hostid"), "{d}");
    }
    // With no HOSTID at all, the rule about uncounted lines speaks.
    let d = single_error("FEATURE f1 xxx 1.0 1-jan-0 0 code \"\"");
    assert_diag(&d, 1, 28, &["uncounted line must be locked"]);
}

#[test]
fn a_value_without_a_name_is_an_error() {
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 =17007ea8 SIGN=x");
    assert_diag(&d, 1, 33, &["unexpected `=17007ea8` on a FEATURE line"]);
    // With blanks around `=`, the name reads as a key and the value is left.
    let file = parse("FEATURE f1 demo 1.0 permanent 0 HOSTID = 17007ea8");
    assert!(file.entries.is_empty());
    assert_diag(errors(&file)[0], 1, 40, &["unexpected `=`"]);
    let d = single_error("PACKAGE p demo 1.0 =key COMPONENTS=a");
    assert_diag(&d, 1, 20, &["unexpected `=key` on a PACKAGE line"]);
    let d = single_error("FEATURESET demo =key");
    assert_diag(&d, 1, 17, &["unexpected `=key` on a FEATURESET line"]);
}

#[test]
fn several_errors_on_one_line_are_all_reported() {
    let file = parse("FEATURE f1 demo 1.0 permanent 4 OVERDRAFT=x DUP_GROUP=Q HOSTID=!\n");
    let cols: Vec<u32> = errors(&file).iter().map(|d| d.column).collect();
    assert_eq!(cols, [43, 55, 64], "{}", render(&file.diagnostics));
    assert!(file.entries.is_empty());
}

#[test]
fn the_rest_of_the_file_is_used_after_a_bad_line() {
    let text = "SERVER my_server 17007ea8 1700\n\
                VENDOR sampled\n\
                FEATURE f1 sampled 1.0 31-feb-2030 4 SIGN=aa\n\
                FEATURE f2 sampled 1.0 permanent 4 SIGN=bb\n\
                FEATURE f3 sampled 1.0 permanent four SIGN=cc\n\
                INCREMENT f4 sampled 1.0 permanent 0 \\\n   HOSTID=nothing! SIGN=dd\n\
                INCREMENT f5 sampled 1.0 permanent 2 SIGN=ee\n";
    let file = parse(text);
    let errs = errors(&file);
    let at: Vec<(u32, u32)> = errs.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(
        at,
        [(3, 24), (5, 34), (7, 11)],
        "{}",
        render(&file.diagnostics)
    );
    let used: Vec<&str> = features(&file).iter().map(|f| f.name.as_str()).collect();
    assert_eq!(used, ["f2", "f5"]);
    assert_eq!(file.servers().count(), 1);
    assert_eq!(file.vendors().count(), 1);
    assert!(file.has_errors());
    let lines: Vec<u32> = file.entries.iter().map(|e| e.line).collect();
    assert_eq!(lines, [1, 2, 4, 8]);
}

#[test]
fn warnings_keep_the_line() {
    let file = parse(
        "FEATURE averyveryverylongfeaturename_over30 demo 1.0 1-jan-99 4 NEWATTR=1\nVENDOR demo\n",
    );
    assert!(!file.has_errors());
    assert_eq!(warnings(&file).len(), 3, "{}", render(&file.diagnostics));
    assert_eq!(file.entries.len(), 2);
}

#[test]
fn diagnostics_come_in_file_order() {
    let file = parse(
        "FEATURE f1 demo 1.0 permanent x\nFEATURE f2 demo 1.0 1-jan-98 4 OVERDRAFT=y\nSERVER h ANY 0\n",
    );
    let at: Vec<(u32, u32, Severity)> = file
        .diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.severity))
        .collect();
    assert_eq!(
        at,
        [
            (1, 31, Severity::Error),
            (2, 21, Severity::Warning),
            (2, 42, Severity::Error),
            (3, 14, Severity::Error),
        ]
    );
}

#[test]
fn crlf_does_not_shift_columns_or_lines() {
    let text = "SERVER h ANY 1700\r\nFEATURE f1 demo 1.0 \\\r\n  permanent x\r\n";
    let d = single_error(text);
    assert_diag(&d, 3, 13, &["found `x`"]);
}

#[test]
fn check_report_findings_carry_positions() {
    // A counted line with no SERVER line: an error at the line, and the
    // parse diagnostics come through with their positions.
    let file = parse("FEATURE f1 demo 1.0 permanent 4 SIGN=x\nFEATURE f2 demo 1.0 permanent z\n");
    let (report, _) =
        grammar::check::check(&file, &grammar::signature::KeyRing::new(), day(2025, 1, 1));
    let at: Vec<(u32, u32)> = report.errors.iter().map(|f| (f.line, f.column)).collect();
    assert!(at.contains(&(2, 31)), "{at:?}");
    assert!(at.contains(&(1, 33)), "SIGN= position expected in {at:?}");
    assert!(report.errors.iter().all(|f| f.file == NAME));
    assert!(!report.is_ok());
}

#[test]
fn single_quotes_are_quotes_where_double_quotes_are() {
    let file = parse_clean(
        "SERVER h '17004355 17004356' 1700\nVENDOR demo\n\
         FEATURE f1 demo 1.0 permanent 4 HOSTID='12001234 1700ab12' NOTICE='Joe \"the\" admin'\n\
         PACKAGE p demo 1.0 COMPONENTS='a b:2.0'\n",
    );
    let twin = parse_clean(
        "SERVER h \"17004355 17004356\" 1700\nVENDOR demo\n\
         FEATURE f1 demo 1.0 permanent 4 HOSTID=\"12001234 1700ab12\" NOTICE=\"Joe 'the' admin\"\n\
         PACKAGE p demo 1.0 COMPONENTS=\"a b:2.0\"\n",
    );
    let kinds = |f: &grammar::LicenseFile| -> Vec<String> {
        f.entries.iter().map(|e| format!("{:?}", e.kind)).collect()
    };
    let (ours, theirs) = (kinds(&file), kinds(&twin));
    assert_eq!(ours[0], theirs[0], "SERVER hostids");
    assert_eq!(ours[3], theirs[3], "PACKAGE components");
    assert!(
        ours[2].contains("12001234") && ours[2].contains("1700ab12"),
        "{}",
        ours[2]
    );
    assert!(ours[2].contains("Joe \\\"the\\\" admin"), "{}", ours[2]);
    // An apostrophe inside a word stays part of it.
    let file = parse("FEATURE f1 demo 1.0 permanent 4 NOTICE=O'Brien's\n");
    assert!(!file.has_errors(), "{}", render(&file.diagnostics));
}

#[test]
fn an_unclosed_single_quote_says_so() {
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 NOTICE='Joe\n");
    assert_eq!(
        d.to_string(),
        "test.lic:1:40: error: quoted string is not closed: expected a closing `'`"
    );
}

#[test]
fn typographic_quotes_are_named_with_what_to_type() {
    let d = single_error("FEATURE f1 demo 1.0 permanent 4 SIGN=\u{201D}AB12\n");
    assert_eq!(
        d.to_string(),
        "test.lic:1:38: error: right double quotation mark `\u{201D}` (U+201D) is not \
         license-file punctuation (a word processor or mail program may have put it there): \
         type a plain `\"` instead"
    );
    // Every one is reported, on its own physical line and column, and the
    // line is not used.
    let file = parse(
        "VENDOR demo\nFEATURE f1 demo 1.0 permanent 4 \\\n  HOSTID=\u{2018}1200\u{2019} START=1\u{2013}jan\u{2013}2025\n",
    );
    let at: Vec<(u32, u32, bool)> = file
        .diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.contains("type a plain")))
        .collect();
    assert_eq!(
        at,
        vec![(3, 10, true), (3, 15, true), (3, 24, true), (3, 28, true)]
    );
    assert!(file.diagnostics[0].message.contains("U+2018"));
    assert!(file.diagnostics[2].message.contains("en dash"));
    assert_eq!(file.entries.len(), 1, "only the VENDOR line is used");
}
