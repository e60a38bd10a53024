//! `lmver [binary]`: which version of our license manager a binary is.
//! Our binaries carry a marker, `lm-version:` and the version; a file
//! without one is not ours. With no argument, this binary.
//!
//! ```text
//! lmver - lm license manager v0.1.0
//! /opt/lm/bin/lmutil: lm license manager v0.1.0
//! ```

use crate::common::{self, BRAND};
use crate::Invocation;
use std::path::{Path, PathBuf};

pub const USAGE: &str =
    "usage: lmver [binary]\n  (a path, or a name found on PATH; default: this program)\n";

/// The version in the first `lm-version:<digit>...` marker of `bytes`.
pub fn find_marker(bytes: &[u8]) -> Option<String> {
    let needle: Vec<u8> = ["lm-", "version:"].concat().into_bytes();
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], &needle) {
        let start = from + at + needle.len();
        let value: Vec<u8> = bytes[start..]
            .iter()
            .take(64)
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
            .copied()
            .collect();
        if value.first().is_some_and(u8::is_ascii_digit) {
            return String::from_utf8(value).ok();
        }
        from = start;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..].iter().position(|&b| b == first) {
            Some(p) => i += p,
            None => return None,
        }
        if hay.get(i..i + needle.len()) == Some(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `name` as given, or found on `PATH` when it has no slash.
fn locate(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.exists() || name.contains('/') {
        return p.to_path_buf();
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|c| c.is_file())
        })
        .unwrap_or_else(|| p.to_path_buf())
}

pub fn run(inv: &Invocation) -> i32 {
    let mut file = None;
    for a in &inv.args {
        match a.as_str() {
            "-help" | "-h" | "--help" => {
                common::write_out(&format!("{}\n{USAGE}", common::banner(&inv.program)));
                return 0;
            }
            "-v" => {
                common::write_out(&format!("{}\n", common::banner(&inv.program)));
                return 0;
            }
            f if !f.starts_with('-') && file.is_none() => file = Some(f.to_string()),
            other => return common::usage_error("lmver", &format!("unexpected `{other}`"), USAGE),
        }
    }
    let path = match &file {
        Some(f) => locate(f),
        None => match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                common::write_err(&format!("lmver: cannot find this program: {e}\n"));
                return 1;
            }
        },
    };
    let shown = file.unwrap_or_else(|| path.display().to_string());
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            common::write_err(&format!(
                "lmver: cannot read \"{shown}\": {}\n",
                common::io_text(&e)
            ));
            return 1;
        }
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    match find_marker(&bytes) {
        Some(v) => {
            common::write_out(&format!("{shown}: {BRAND} license manager v{v}\n"));
            0
        }
        None => {
            common::write_out(&format!(
                "{shown}: not an {BRAND} license manager binary (no version marker found)\n"
            ));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(
            find_marker(b"xx lm-version:1.2.3\0yy"),
            Some("1.2.3".into())
        );
        assert_eq!(
            find_marker(b"lm-version: search text lm-version:0.1.0-rc1\0"),
            Some("0.1.0-rc1".into())
        );
        assert_eq!(find_marker(b"lm-version:"), None);
        assert_eq!(find_marker(b"nothing here"), None);
        assert_eq!(
            find_marker(wire::version::VERSION_MARKER.as_bytes()),
            Some(env!("CARGO_PKG_VERSION").into())
        );
    }
}
