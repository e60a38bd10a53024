//! `lmcksum [-c license_file] [-k] [feature]`: prints each license line's
//! checksum and flags the lines whose `ck=` does not match, so an
//! administrator can find a line mistyped from paper or a fax.

use grammar::checksum::{entry_checksum, written_checksum};
use grammar::EntryKind;
use std::fmt::Write as _;

const USAGE: &str =
    "usage: lmcksum [-c license_file] [-k] [feature]\n  -k  case-sensitive checksums\n";

pub fn run(args: &[String]) -> i32 {
    let mut c = None;
    let mut case_sensitive = false;
    let mut feature = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-c" => match it.next() {
                Some(v) => c = Some(v.clone()),
                None => {
                    eprint!("lmcksum: -c needs a license file\n{USAGE}");
                    return 1;
                }
            },
            "-k" => case_sensitive = true,
            "-help" | "-h" | "--help" => {
                print!("{USAGE}");
                return 0;
            }
            f if !f.starts_with('-') && feature.is_none() => feature = Some(f.to_string()),
            other => {
                eprint!("lmcksum: unknown option `{other}`\n{USAGE}");
                return 1;
            }
        }
    }
    let path = crate::license_file(c.as_deref());
    let file = match grammar::read_license(std::path::Path::new(&path)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("lmcksum: cannot read license file \"{path}\": {e}");
            return 1;
        }
    };
    // Written in one go at the end: a closed pipe (`| head`) is not an error.
    let mut out = format!("lmcksum: using license file \"{path}\"\n\n");
    let mut bad = 0;
    for entry in &file.entries {
        let (name, vendor, version) = match &entry.kind {
            EntryKind::Feature(f) => (f.name.as_str(), f.vendor.as_str(), f.version.to_string()),
            EntryKind::Package(p) => (
                p.name.as_str(),
                p.vendor.as_str(),
                p.version
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            ),
            EntryKind::FeatureSet(fs) => ("", fs.vendor.as_str(), String::new()),
            _ => continue,
        };
        if feature.as_deref().is_some_and(|f| f != name) {
            continue;
        }
        let Some(sum) = entry_checksum(&file, entry, case_sensitive) else {
            continue;
        };
        let keyword = entry.text.split_whitespace().next().unwrap_or("");
        let verdict = match written_checksum(entry) {
            Some(ck) if ck == u32::from(sum) => "OK".to_string(),
            Some(ck) => {
                bad += 1;
                format!("BAD (line says ck={ck})")
            }
            None => "(no ck=)".to_string(),
        };
        let what = [keyword, name, vendor, version.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(out, "{:>5}: ck={sum:<3} {what}  {verdict}", entry.line);
    }
    for d in &file.diagnostics {
        eprintln!("{d}");
    }
    if bad > 0 {
        let _ = write!(out, "\n{bad} line(s) with a checksum that does not match\n");
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    i32::from(bad > 0)
}
