//! Arbitrary bytes through the whole front end: logical lines, the parser
//! (whose fast tokenizer must agree with the pest grammar), and `check`
//! (signatures, pools, report). None of it may panic.
#![no_main]

use grammar::check::check;
use grammar::signature::KeyRing;
use grammar::source::logical_lines;
use grammar::Date;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let lines = logical_lines(&text);
    for line in &lines {
        assert!(
            text.get(line.source_range.clone()).is_some(),
            "logical line range {:?} is not a slice of the input",
            line.source_range
        );
        assert!(line.first_line() <= line.last_line());
        for offset in [0, line.text.len() / 2, line.text.len()] {
            let (l, c) = line.position(offset);
            assert!(l >= line.first_line() && l <= line.last_line() && c >= 1);
        }
    }

    let file = grammar::parse_license("fuzz.lic", &text);
    for entry in &file.entries {
        assert!(text.get(entry.source_range.clone()).is_some());
        assert!(entry.line <= entry.end_line);
    }

    // The hand-written tokenizer and pest read every line the same way.
    let by_pest = grammar::parse_license_with("fuzz.lic", &text, false);
    assert_eq!(file.diagnostics, by_pest.diagnostics);
    assert_eq!(
        format!("{:?}", file.entries),
        format!("{:?}", by_pest.entries)
    );

    let keys = KeyRing::new();
    let today = Date::new(2024, 6, 15).expect("valid date");
    let (report, pools) = check(&file, &keys, today);
    assert_eq!(report.file, "fuzz.lic");
    let _ = pools.pools.len();
});
