//! What the vendor daemon's test binaries share.

use std::path::{Path, PathBuf};

/// The example licenses and the demo publisher's keys.
pub fn licenses() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
}

/// Writes `lines` as `dir/name`, with the lines `sign` picks signed with
/// the demo publisher's key (which the shipped daemon has built in).
pub fn sign_lines(dir: &Path, name: &str, lines: &[&str], sign: impl Fn(&str) -> bool) -> PathBuf {
    let key = grammar::signature::read_private_key(&licenses().join("demo.key")).expect("demo.key");
    let file = grammar::parse_license(name, &(lines.join("\n") + "\n"));
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        text.push_str(line);
        if sign(line) {
            let entry = file
                .entries
                .iter()
                .find(|e| e.line as usize == i + 1)
                .expect("the line parsed");
            let value = grammar::signature::sign_entry(&file, entry, &key).expect("signable");
            text.push_str(" SIGN=");
            text.push_str(&value);
        }
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the license");
    path
}
