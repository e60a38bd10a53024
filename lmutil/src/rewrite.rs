//! Rewriting a license line with a new signature, keeping everything else
//! the publisher wrote, and wrapping it the way license files are wrapped.

use grammar::Entry;

/// Width past which a line is continued with a backslash.
const WIDTH: usize = 76;

/// The entry's text with `sign` (a quoted SIGN= value) and `ck` in place of
/// any SIGN= and ck= it had, wrapped with backslash continuations.
pub fn signed_text(entry: &Entry, sign: &str, ck: u8, newline: &str) -> String {
    let header_end = entry
        .items
        .first()
        .map_or(entry.text.len(), |i| i.range.start);
    let mut pieces: Vec<String> = entry.text[..header_end]
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for item in &entry.items {
        if matches!(item.name.as_deref(), Some("SIGN" | "ck")) {
            continue;
        }
        pieces.push(entry.text[item.range.clone()].to_string());
    }
    pieces.push(format!("ck={ck}"));
    // The signature's groups are separate pieces so the line can wrap
    // inside the quotes; white space there is ignored when it is read.
    let mut groups = sign.split(' ');
    if let Some(first) = groups.next() {
        pieces.push(format!("SIGN={first}"));
    }
    pieces.extend(groups.map(str::to_string));
    wrap(&pieces, newline)
}

fn wrap(pieces: &[String], newline: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            if width + 1 + piece.len() + 2 > WIDTH {
                out.push_str(" \\");
                out.push_str(newline);
                out.push('\t');
                width = 8;
            } else {
                out.push(' ');
                width += 1;
            }
        }
        out.push_str(piece);
        width += piece.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_sign_and_ck_and_wraps() {
        let file = grammar::parse_license(
            "t",
            "FEATURE f1 demo 1.0 permanent 4 user_info=\"a  b\" ck=7 SIGN=\"OLD\" VENDOR_STRING=x\n",
        );
        let entry = &file.entries[0];
        let sign = "\"ED25519:01020304:AAAA BBBB CCCC DDDD\"";
        let text = signed_text(entry, sign, 42, "\n");
        assert!(!text.contains("OLD"));
        assert!(!text.contains("ck=7"));
        assert!(text.contains("user_info=\"a  b\""));
        assert!(text.contains("ck=42"));
        assert!(text.lines().all(|l| l.len() <= WIDTH));
        let reparsed = grammar::parse_license("t", &format!("{text}\n"));
        assert!(
            reparsed.diagnostics.is_empty(),
            "{:?}",
            reparsed.diagnostics
        );
        let grammar::EntryKind::Feature(f) = &reparsed.entries[0].kind else {
            panic!()
        };
        assert_eq!(f.ck, Some(42));
        assert_eq!(f.vendor_string.as_deref(), Some("x"));
    }
}
