//! The options-file parser: arbitrary bytes (read as the daemon reads a
//! file, Latin-1 when not UTF-8) never panic, and every diagnostic points
//! inside the text.
#![no_main]

use grammar::options::Options;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = match std::str::from_utf8(data) {
        Ok(s) => s.to_string(),
        Err(_) => data.iter().map(|&b| char::from(b)).collect(),
    };
    let (_options, diags) = Options::parse("fuzz.opt", &text);
    // Line breaks of every kind, as generous as the parser may count them.
    let lines = 1 + text.matches(['\n', '\r']).count();
    for d in &diags {
        assert!(d.line >= 1, "diagnostic on line {}", d.line);
        assert!(
            d.line as usize <= lines,
            "diagnostic on line {} of {lines}",
            d.line
        );
    }
});
