//! The hand-written tokenizer and the pest grammar give the same entries
//! and the same diagnostics, whatever the input.

mod common;

use common::mutate::{apply, mutation};
use grammar::parse_license_with;
use proptest::prelude::*;

const NAME: &str = "test.lic";

/// A valid file that uses every line type.
const VALID: &str = "\
# demo licenses
SERVER pat 17003456 1700 PRIMARY_IS_MASTER HEARTBEAT_INTERVAL=20
SERVER lee \"17004355 17004356\" 1700
SERVER terry 17007ea8 1700
VENDOR demo /opt/demo OPTIONS=/opt/demo.opt PORT=27010
DAEMON xyzd /etc/xyzd /etc/xyzd.opt
USE_SERVER
FEATURE cad demo 1.000 31-dec-2030 4 HOSTID=\"0800200005ac #385941160\" \\
\tNOTICE=\"Licensed to \\
Sample corp\" user_info=\"cad team\" sort=100 ISSUED=1-jan-2025 SN=77
INCREMENT cam demo 2.5 permanent 10 DUP_GROUP=UHD BORROW=24 FLOAT_OK USER_BASED=3
INCREMENT cam demo 2.5 PERMANENT 5 DUP_GROUP=UHD BORROW=24 FLOAT_OK USER_BASED=3
UPGRADE cam demo 2.0 3.0 permanent 2 START=1-jun-2025
FEATURE viewer demo 1.0 1-jan-0 uncounted HOSTID=INTERNET=195.186.*.* TS_OK
FEATURE f1 xyzd 1.000 1-jan-2090 0 code1 \"\" 12001234
FEATURE f2 xyzd 1.00 1-jan-2092 2 code3 \"vendor string\"
FEATURE f3 demo .5 1-jan-2092 UnCounted HOSTID=ANY SIGN=\"ED25519:0A1B2C3D:00112233445566778899AABBCCDDEEFF \\
  00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF\"
PACKAGE office demo 1.0 COMPONENTS=\"write calc:2.0:2\"
FEATURE office demo 1.0 permanent 3 SUPERSEDE=\"oldoffice\" ISSUED=1-feb-2025 SIGN=0123ABCD
PACKAGE suite demo COMPONENTS=\"comp1 comp2\" OPTIONS=SUITE
INCREMENT suite demo 1.0 permanent 2 SUITE_DUP_GROUP=U HOST_BASED
FEATURESET xyzd code
";

fn both(src: &str) -> (String, String) {
    let render = |fast| {
        let f = parse_license_with(NAME, src, fast);
        format!("{:?}\n{:?}", f.entries, f.diagnostics)
    };
    (render(true), render(false))
}

fn assert_same(src: &str) {
    let (fast, pest) = both(src);
    assert_eq!(fast, pest, "input: {src:?}");
}

#[test]
fn valid_file_is_read_the_same() {
    assert_same(VALID);
    let file = parse_license_with(NAME, VALID, true);
    assert!(file.diagnostics.is_empty(), "{:?}", file.diagnostics);
}

#[test]
fn boundary_cases_are_read_the_same() {
    let lines = [
        "",
        "   ",
        "\tFEATURE f v 1.0 permanent 1 HOSTID=ANY",
        "\u{0B}\u{0C}\rFEATURE f v 1 1-jan-2030 uncounted HOSTID=ANY \u{0C}",
        "\u{A0}FEATURE f v 1.0 permanent 1",
        "FEATURE\u{85}f v 1.0 permanent 1",
        "FEATURE f v 1. permanent 1",
        "FEATURE f v . permanent 1",
        "FEATURE f v .5 permanent 1",
        "FEATURE f v 1.2.3 permanent 1",
        "FEATURE f v 1.0a permanent 1",
        "FEATURE f v 1.0\"x\" permanent 1",
        "FEATURE f v 1.0 permanentx 1",
        "FEATURE f v 1.0 123-jan-2030 1",
        "FEATURE f v 1.0 1-jan-20301 1",
        "FEATURE f v 1.0 1-ja-2030 1",
        "FEATURE f v 1.0 1-jan- 1",
        "FEATURE f v 1.0 01-JAN-2030 1",
        "FEATURE f v 1.0 1-j4n-2030 1",
        "FEATURE f v 1.0 permanent 99999999999 HOSTID=ANY",
        "FEATURE f v 1.0 permanent 1x",
        "FEATURE f v 1.0 permanent",
        "FEATURE f v 1.0",
        "FEATURE f=v v 1.0 permanent 1",
        "FEATURE f\"v\" v 1.0 permanent 1",
        "FEATURESET v",
        "FEATURESETX v",
        "PACKAGE p v=x COMPONENTS=a",
        "PACKAGE p v\"x\" COMPONENTS=a",
        "SERVER h=x ANY",
        "SERVER h\"a b\"c",
        "SERVER h \"a b",
        "SERVER h \"\" 1",
        "SERVER h",
        "FEATURE f v 1.0 permanent 1 A=\"x\"B=y C= D==E =F \"G\"H I\"J\"",
        "FEATURE f v 1.0 permanent 1 NOTICE=\"unclosed",
        "FEATURE f v 1.0 permanent 1 \"unclosed",
        "FEATURE f v 1.0 permanent 1 HOSTID=ANY A = B",
        "FEATURE f v 1.0 permanent 1 HOSTID=ANY _x1=2 9a=3 é=4 NOTICE=\"héllo\u{0}\u{1F}\"",
        "FEATURE fé vé 1.0 permanent 1 HOSTID=ANY\u{0}x \u{7F}",
        "USE_SERVER",
        "USE_SERVER x y",
        "USE_SERVER\"x\"",
        "VENDOR v \"a path\" OPTIONS=o PORT=0",
        "DAEMON v p o 27000 extra",
        "UPGRADE f v 2.0 1.0 permanent 1",
        "FEATURE f v 1.0 permanent 1 SIGN=\"ed25519:+a+b+c+d:00\"",
        "FEATURE f v 1.0 permanent 1 SIGN=\"ED25519:0A1B2C3D\u{A0}:00\"",
        "SERVER h '17004355 17004356' 1700",
        "SERVER h '17004355",
        "FEATURE f v 1.0 permanent 1 HOSTID='12001234 1700ab12' NOTICE='a \"b\"'",
        "FEATURE f v 1.0 permanent 1 NOTICE='unclosed",
        "FEATURE f v 1.0 permanent 1 'unclosed",
        "FEATURE f v 1.0 permanent 1 O'Brien x'",
        "PACKAGE p v COMPONENTS='a b'",
        "FEATURE f v 1.0 permanent 1 SIGN=\u{201D}AB12\u{201D}",
    ];
    for line in lines {
        assert_same(line);
        assert_same(&format!("{line}\n"));
        assert_same(&format!("{line} \\\n  TS_OK\n"));
    }
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
            "PERMANENT", "Uncounted", "ANY", "DEMO", "INTERNET=1.2.*.*", "ID=", "#", "17007ea8",
            "ED25519:", "SERVER_TIMEOUT=", "PRIMARY_IS_MASTER", "1-jan-0", "31-dec-2030", "1.0",
            "2.000", ".5", "1.", "TS_OK", "FLOAT_OK", "VENDOR_STRING=",
        ])
        .prop_map(str::to_string),
        3 => prop::sample::select(vec![
            " ", "  ", "\t", "\n", "\r\n", "\\\n", "\\", "\"", "=", ":", "-", ".", "\u{0B}",
            "\u{0C}", "\r", "\u{0}", "\u{1F}", "\u{85}", "\u{A0}", "é", "+", "'",
            "\u{2019}", "\u{201D}",
        ])
        .prop_map(str::to_string),
        2 => "[a-zA-Z0-9_]{1,8}",
        1 => "[0-9]{1,12}",
        1 => "[0-9a-fA-F]{8,16}",
        1 => "[0-9]{1,3}-[a-zA-Z0-9]{2,4}-[0-9]{1,5}",
        1 => "\\PC{1,4}",
    ]
}

fn license_like() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..120).prop_map(|t| t.concat())
}

/// One line: a keyword, then tokens with or without blanks between them.
fn line_like() -> impl Strategy<Value = String> {
    let keyword = prop::sample::select(vec![
        "SERVER h ANY",
        "VENDOR v",
        "DAEMON v",
        "USE_SERVER",
        "FEATURE f v 1.0 permanent 1",
        "INCREMENT f v 2.5 1-jan-2030 uncounted",
        "UPGRADE f v 1.0 2.0 permanent 3",
        "PACKAGE p v",
        "FEATURESET v",
        "FEATURE",
        "SERVER",
        "UPGRADE f v",
    ]);
    let sep = prop::sample::select(vec!["", " ", " ", "\t", "  "]);
    (
        keyword,
        prop::collection::vec((sep, token()), 0..16),
        prop::sample::select(vec!["\n", "", " \\\n", "\r\n"]),
    )
        .prop_map(|(kw, rest, end)| {
            let mut s = kw.to_string();
            for (sep, t) in rest {
                s.push_str(sep);
                s.push_str(&t);
            }
            s.push_str(end);
            s
        })
}

fn mutated() -> impl Strategy<Value = String> {
    prop::collection::vec(mutation(token()), 1..8).prop_map(|ms| {
        let mut s = VALID.to_string();
        for m in &ms {
            s = apply(&s, m);
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_on_any_string(src in any::<String>()) {
        let (fast, pest) = both(&src);
        prop_assert_eq!(fast, pest);
    }

    #[test]
    fn same_on_token_soup(src in license_like()) {
        let (fast, pest) = both(&src);
        prop_assert_eq!(fast, pest);
    }

    #[test]
    fn same_on_keyword_lines(lines in prop::collection::vec(line_like(), 1..8)) {
        let src = lines.concat();
        let (fast, pest) = both(&src);
        prop_assert_eq!(fast, pest);
    }

    #[test]
    fn same_on_mutated_licenses(src in mutated()) {
        let (fast, pest) = both(&src);
        prop_assert_eq!(fast, pest);
    }
}

/// Logical lines as a plain reference: text, source range and, per piece,
/// where it starts in the text and its physical line.
type Reference = (String, std::ops::Range<usize>, Vec<(usize, u32)>);

fn reference_lines(src: &str) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    let mut current: Option<Reference> = None;
    let mut offset = 0usize;
    for (idx, raw) in src.split('\n').enumerate() {
        let line_no = idx as u32 + 1;
        let start = offset;
        offset += raw.len() + 1;
        let body = raw.strip_suffix('\r').unwrap_or(raw);
        let end = start + body.len();
        let (content, continues) = if current.is_none() && body.trim_start().starts_with('#') {
            (body, false)
        } else {
            let trimmed = body.trim_end_matches([' ', '\t']);
            match trimmed.strip_suffix('\\') {
                Some(rest) => (rest, true),
                None => (body, false),
            }
        };
        let line = current.get_or_insert_with(|| (String::new(), start..end, Vec::new()));
        line.2.push((line.0.len(), line_no));
        line.0.push_str(content);
        line.1.end = end;
        if continues {
            line.0.push(' ');
        } else {
            out.push(current.take().unwrap());
        }
    }
    out.extend(current.take());
    if let Some(last) = out.last() {
        if last.0.is_empty() && last.1.is_empty() && out.len() > 1 {
            out.pop();
        }
    }
    out
}

fn assert_same_lines(src: &str) {
    let lines = grammar::source::logical_lines(src);
    let reference = reference_lines(src);
    assert_eq!(lines.len(), reference.len(), "{src:?}");
    for (line, (text, range, segments)) in lines.iter().zip(&reference) {
        assert_eq!(&line.text, text);
        assert_eq!(&line.source_range, range);
        assert_eq!(line.first_line(), segments[0].1);
        assert_eq!(line.last_line(), segments[segments.len() - 1].1);
        for offset in (0..=text.len() + 1).filter(|&o| o > text.len() || text.is_char_boundary(o)) {
            let o = offset.min(text.len());
            let seg = segments.iter().rev().find(|s| s.0 <= o).unwrap();
            let column = text.get(seg.0..o).unwrap_or("").chars().count() as u32 + 1;
            assert_eq!(
                line.position(offset),
                (seg.1, column),
                "{src:?} at {offset}"
            );
        }
    }
}

#[test]
fn logical_lines_edge_cases() {
    for src in [
        "",
        "\n",
        "a",
        "a\\",
        "a \\\n",
        "a \\\nb",
        "a \\\n\\\n\\",
        "# c \\\nx \\\n# not a comment \\\ny\n",
        "é \\\r\n\tü x\r\n",
        "\r\n\r\n",
    ] {
        assert_same_lines(src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn logical_lines_match_the_reference(src in prop_oneof![any::<String>(), license_like(), mutated()]) {
        assert_same_lines(&src);
    }
}
