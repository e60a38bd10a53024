//! Getting ready to serve: the license file and its pools, the process
//! settings a daemon needs, and the FLEXlm start-up lines.

use accounting::{Config, Withdrawn};
use grammar::check::check;
use grammar::pool::PoolSet;
use grammar::publisher::{pool_proof, Publisher};
use grammar::signature::{key_search_dirs, read_public_keys, SignatureStatus};
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

/// Reads `path`, verifies its signatures with the publisher's keys built
/// into this daemon, and builds the pools of the publisher's vendor for
/// `today`. Lines that are unsigned, tampered with, or signed by any other
/// key are never pooled; keys found on disk (`LM_PUBLIC_KEY_PATH`, beside
/// the license or the program) are never used, only reported.
pub fn load_license(path: &Path, publisher: &Publisher, today: Date) -> io::Result<Licensed> {
    let vendor = publisher.vendor();
    // lmgrd may pass a `:` list of files with agreeing SERVER lines.
    let file = hostenv::license_list::read_merged(path)?;
    let path = &hostenv::license_list::first(path);
    let (report, mut pools) = check(&file, &publisher.key_ring(), today);
    pools.pools.retain(|p| p.vendor == vendor);
    let servers = file.server_hostids();
    for pool in &mut pools.pools {
        pool.proof = pool_proof(&file, &servers, pool).into();
    }

    let mut problems: Vec<String> = ignored_key_files(path, publisher);
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
                "{}:{}: not serving {} \"{feature}\": {}",
                path.display(),
                line.line,
                line.kind,
                signature_problem(line)
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
                f.suite_dup_group.map(|g| (f.name.to_string(), g))
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

/// Why a line's signature keeps it from being served, for the log.
fn signature_problem(line: &grammar::check::LineReport) -> String {
    match line.signature {
        // With the keys built in, "unverifiable" means signed by some key
        // other than the publisher's: as good as forged.
        SignatureStatus::Unverifiable => {
            "it is not signed with a key built into this vendor daemon: LM_BADCODE (-8)".into()
        }
        _ => line
            .reason
            .clone()
            .unwrap_or_else(|| "invalid signature: LM_BADCODE (-8)".into()),
    }
}

/// `<vendor>.pub` files where inspection tools look for keys, which hold
/// keys this daemon does not have built in: reported, so that whoever put
/// them there learns they are ignored.
fn ignored_key_files(license: &Path, publisher: &Publisher) -> Vec<String> {
    let name = format!("{}.pub", publisher.vendor());
    let mut seen = BTreeSet::new();
    key_search_dirs(Some(license))
        .into_iter()
        .map(|d| d.join(&name))
        .filter(|p| p.is_file() && seen.insert(p.clone()))
        .filter(|p| {
            read_public_keys(p).map_or(true, |keys| {
                keys.iter()
                    .any(|k| !publisher.license_keys().contains(k))
            })
        })
        .map(|p| {
            format!(
                "Ignoring public key file {}: this vendor daemon trusts only the keys built into it",
                p.display()
            )
        })
        .collect()
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
        let demo = Publisher::demo();
        let l = load_license(&path, &demo, today).unwrap();
        let counts: Vec<(String, u32)> = l
            .pools
            .pools
            .iter()
            .map(|p| (p.feature.clone(), p.issued(today)))
            .collect();
        assert_eq!(counts, vec![("f1".into(), 4), ("f2".into(), 2)]);
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        let other =
            Publisher::from_pem("nobody", grammar::publisher::DEMO_PUBLIC_KEYS, None).unwrap();
        assert!(load_license(&path, &other, today)
            .unwrap()
            .pools
            .pools
            .is_empty());
    }

    #[test]
    fn tampered_line_is_withdrawn() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses/tampered.lic");
        let l = load_license(&path, &Publisher::demo(), Date::new(2026, 6, 1).unwrap()).unwrap();
        assert!(l.pools.pools.iter().all(|p| p.feature != "cad_pro"));
        assert_eq!(l.withdrawn.get("cad_pro"), Some(&Withdrawn::BadSignature));
        assert!(l.problems.iter().any(|p| p.contains("cad_pro")));
        assert!(l.pools.pools.iter().any(|p| p.feature == "cad_view"));
    }
}
