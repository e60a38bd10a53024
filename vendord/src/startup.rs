//! Getting ready to serve: the license file and its pools, the process
//! settings a daemon needs, and the FLEXlm start-up lines.

use crate::core::{Config, Withdrawn};
use grammar::check::check;
use grammar::pool::PoolSet;
use grammar::signature::{key_search_dirs, KeyRing, SignatureStatus};
use grammar::{Date, EntryKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::FromRawFd;
use std::path::Path;

/// What a vendor daemon serves, read from the license file.
#[derive(Debug)]
pub struct Licensed {
    /// Pools of this vendor only.
    pub pools: PoolSet,
    pub suite_dup_groups: BTreeMap<String, grammar::DupGroup>,
    pub withdrawn: BTreeMap<String, Withdrawn>,
    /// Lines of this vendor that will not be served, and why, for the log.
    pub problems: Vec<String>,
    /// The options file named on this vendor's VENDOR line, parsed.
    pub options: grammar::options::Options,
}

impl Licensed {
    /// Fills the license-derived parts of `config`.
    pub fn configure(&self, config: &mut Config) {
        config.suite_dup_groups = self.suite_dup_groups.clone();
        config.options = std::sync::Arc::new(self.options.clone());
        config.withdrawn = self.withdrawn.clone();
    }
}

/// Reads `path`, verifies its signatures with the vendor's public key
/// (searched as `grammar::signature::key_search_dirs` says) and builds the
/// pools of `vendor` for `today`. Lines that are unsigned, tampered with,
/// or signed by an unknown key are never pooled.
pub fn load_license(path: &Path, vendor: &str, today: Date) -> io::Result<Licensed> {
    let file = grammar::read_license(path)?;
    let mut vendors: BTreeSet<&str> = file.vendors().map(|(_, v)| v.name.as_str()).collect();
    vendors.insert(vendor);
    let (keys, key_problems) = KeyRing::load(vendors, &key_search_dirs(Some(path)));
    let (report, mut pools) = check(&file, &keys, today);
    pools.pools.retain(|p| p.vendor == vendor);

    let mut problems: Vec<String> = key_problems.iter().map(ToString::to_string).collect();
    let mut withdrawn: BTreeMap<String, Withdrawn> = BTreeMap::new();
    for line in report.lines.iter().filter(|l| l.vendor == vendor) {
        let Some(feature) = &line.feature else {
            continue;
        };
        let why = match line.outcome {
            "expired" => Withdrawn::Expired(line.expiry.unwrap_or(grammar::Expiry::Permanent)),
            "not_served" if line.signature != SignatureStatus::Valid => Withdrawn::BadSignature,
            _ => continue,
        };
        problems.push(match why {
            Withdrawn::Expired(_) => format!("EXPIRED: {feature}"),
            Withdrawn::BadSignature => format!(
                "Not serving {} \"{feature}\" (line {}): {}",
                line.kind,
                line.line,
                line.reason.as_deref().unwrap_or("invalid signature")
            ),
        });
        if !pools.pools.iter().any(|p| p.feature == *feature) {
            let slot = withdrawn.entry(feature.clone()).or_insert(why);
            if why == Withdrawn::BadSignature {
                *slot = why;
            }
        }
    }
    let suite_dup_groups = file
        .entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Feature(f) if f.vendor == vendor => {
                f.suite_dup_group.map(|g| (f.name.clone(), g))
            }
            _ => None,
        })
        .collect();
    let options = load_options(path, &file, vendor, &mut problems);
    Ok(Licensed {
        pools,
        suite_dup_groups,
        withdrawn,
        problems,
        options,
    })
}

/// Reads the options file of `vendor`'s VENDOR line (a relative path is
/// taken from the license file's directory). A missing or unreadable file,
/// and each bad line in it, is reported and skipped: the daemon serves
/// with what could be read.
fn load_options(
    license: &Path,
    file: &grammar::LicenseFile,
    vendor: &str,
    problems: &mut Vec<String>,
) -> grammar::options::Options {
    let Some(named) = file
        .vendors()
        .find(|(_, v)| v.name == vendor)
        .and_then(|(_, v)| v.options.clone())
    else {
        return grammar::options::Options::default();
    };
    let path = Path::new(&named);
    let path = if path.is_relative() {
        license
            .parent()
            .map_or_else(|| path.to_path_buf(), |d| d.join(path))
    } else {
        path.to_path_buf()
    };
    match grammar::options::Options::read(&path) {
        Ok((options, diagnostics)) => {
            problems.push(format!("Using options file: \"{}\"", path.display()));
            problems.extend(diagnostics.iter().map(ToString::to_string));
            options
        }
        Err(e) => {
            problems.push(format!(
                "Cannot read options file \"{}\": {e}; serving without it",
                path.display()
            ));
            grammar::options::Options::default()
        }
    }
}

/// `Server started on HOST for:\tf1 ...`, wrapped as FLEXlm wraps it
/// (one message; the logger prefixes each line).
pub fn started_message(host: &str, features: &[String]) -> String {
    if features.is_empty() {
        return format!("Server started on {host}");
    }
    let mut text = format!("Server started on {host} for:\t{}", features[0]);
    let mut line_len = 0usize;
    let mut first = true;
    for f in &features[1..] {
        if first || line_len + f.len() > 60 {
            text.push('\n');
            line_len = 0;
            first = false;
        } else {
            text.push('\t');
            line_len += 1;
        }
        text.push_str(f);
        line_len += f.len();
    }
    text
}

/// This machine's host name.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Asks the kernel to send us SIGTERM when our parent (lmgrd) dies.
pub fn die_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a process attribute.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
    }
}

/// Raises the soft limit on open files to the hard limit; returns the
/// soft limit in force afterwards.
pub fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            // An unlimited hard limit is refused above the kernel's nr_open.
            let fallback = libc::rlimit {
                rlim_cur: rl.rlim_max.min(1 << 20),
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                libc::setrlimit(libc::RLIMIT_NOFILE, &fallback);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur
    }
}

/// Writes `port` and a newline to the descriptor lmgrd gave us, then
/// closes it.
pub fn notify_port(fd: i32, port: u16) -> io::Result<()> {
    // SAFETY: F_GETFD only checks that the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open and was handed to us to own and close.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(format!("{port}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_lines() {
        assert_eq!(started_message("h", &[]), "Server started on h");
        assert_eq!(
            started_message("h", &["f1".into()]),
            "Server started on h for:\tf1"
        );
        let many: Vec<String> = (0..12).map(|i| format!("feature_{i:02}")).collect();
        let text = started_message("h", &many);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Server started on h for:\tfeature_00");
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| l.len() <= 80));
        let listed: Vec<&str> = text
            .trim_start_matches("Server started on h for:")
            .split_whitespace()
            .collect();
        assert_eq!(listed.len(), 12);
    }

    #[test]
    fn demo_license_pools() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses/demo.lic");
        let today = Date::new(2026, 6, 1).unwrap();
        let l = load_license(&path, "demo", today).unwrap();
        let counts: Vec<(String, u32)> = l
            .pools
            .pools
            .iter()
            .map(|p| (p.feature.clone(), p.issued(today)))
            .collect();
        assert_eq!(counts, vec![("f1".into(), 4), ("f2".into(), 2)]);
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        let other = load_license(&path, "nobody", today).unwrap();
        assert!(other.pools.pools.is_empty());
    }

    #[test]
    fn tampered_line_is_withdrawn() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses/tampered.lic");
        let l = load_license(&path, "demo", Date::new(2026, 6, 1).unwrap()).unwrap();
        assert!(l.pools.pools.iter().all(|p| p.feature != "cad_pro"));
        assert_eq!(l.withdrawn.get("cad_pro"), Some(&Withdrawn::BadSignature));
        assert!(l.problems.iter().any(|p| p.contains("cad_pro")));
        assert!(l.pools.pools.iter().any(|p| p.feature == "cad_view"));
    }
}
