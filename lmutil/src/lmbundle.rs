//! `lmbundle` (ours): a support bundle, one `.tar.gz` with what a support
//! engineer asks for first: versions, the license and options files,
//! `lmgrd --check --json`, the status document, a summary of the debug
//! log and of a report log, the systemd unit and the license
//! environment. Secrets stay out: the HTTP admin hashes are never read,
//! a file that holds a private key is left out (and said so), and
//! environment variables whose names suggest a secret are masked.

use crate::common::{self, write_err, write_out, Common, CommonOpts, Cursor};
use crate::path::{self, Source};
use crate::statusdoc;
use crate::Invocation;
use flate2::write::GzEncoder;
use flate2::Compression;
use grammar::EntryKind;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str = "\
usage: lmbundle [-c license_file_list] [-l debug_log] [-r report_log] [-o file.tar.gz] [-t timeout]
  -l file   the debug log to summarise (counts and its last 2000 lines)
  -r file   a report log to summarise (lmreport; rotate a live one first)
  -o file   where to write (default lmbundle-<unix time>.tar.gz)
";

/// How much of the debug log goes in.
const LOG_TAIL_LINES: usize = 2000;
/// The environment variables taken (by prefix or suffix).
const ENV_PREFIXES: &[&str] = &["LM_", "FLEXLM", "STATE_DIRECTORY", "LOGS_DIRECTORY"];
const ENV_SUFFIXES: &[&str] = &["_LICENSE_FILE"];
/// Names that suggest a secret: the value is masked.
const SECRET_WORDS: &[&str] = &["PASS", "SECRET", "TOKEN", "KEY"];
/// Where a systemd unit for lmgrd may be.
const UNITS: &[&str] = &[
    "/etc/systemd/system/lmgrd.service",
    "/lib/systemd/system/lmgrd.service",
    "/usr/lib/systemd/system/lmgrd.service",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Args {
    common: CommonOpts,
    debug_log: Option<PathBuf>,
    report_log: Option<PathBuf>,
    out: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<common::Parsed<Args>, String> {
    let mut a = Args::default();
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        match c.common(arg, &mut a.common)? {
            Common::Taken => continue,
            Common::Help => return Ok(common::Parsed::Help),
            Common::Version => return Ok(common::Parsed::Version),
            Common::Other => {}
        }
        match arg {
            "-l" => a.debug_log = Some(PathBuf::from(c.value("-l")?)),
            "-r" => a.report_log = Some(PathBuf::from(c.value("-r")?)),
            "-o" => a.out = Some(PathBuf::from(c.value("-o")?)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(common::Parsed::Run(a))
}

/// One file of the bundle.
struct Entry {
    name: String,
    data: Vec<u8>,
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match parse(&inv.args) {
        Ok(common::Parsed::Run(a)) => a,
        Ok(_) => {
            write_out(USAGE);
            return 0;
        }
        Err(e) => return common::usage_error("lmbundle", &e, USAGE),
    };
    let now = statusdoc::unix_now();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("lmbundle-{now}.tar.gz")));
    let mut notes = Vec::new();
    let entries = collect(&args, &mut notes);
    match write(&out, entries, &notes) {
        Ok(()) => {
            write_out(&format!("Support bundle written to {}\n", out.display()));
            for n in &notes {
                write_out(&format!("  note: {n}\n"));
            }
            0
        }
        Err(e) => {
            write_err(&format!("lmbundle: cannot write {}: {e}\n", out.display()));
            1
        }
    }
}

/// Everything that goes in; what was left out, and why, in `notes`.
fn collect(args: &Args, notes: &mut Vec<String>) -> Vec<Entry> {
    let mut entries = vec![text("versions.txt", versions())];
    let path = path::license_path(args.common.license.as_deref());
    let sources = path::read_sources(&path);
    for file in license_files(&sources) {
        add_file(&mut entries, notes, "license", &file);
    }
    let list = path
        .entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    entries.push(command_output(
        "check.json",
        sibling("lmgrd"),
        &["-c", &list.join(":"), "--check", "--json"],
        notes,
    ));
    entries.push(status(&sources, args));
    if let Some(log) = &args.debug_log {
        match std::fs::read_to_string(log) {
            Ok(t) => entries.push(text("debug-log-summary.txt", debug_summary(&t))),
            Err(e) => notes.push(format!("debug log {}: {e}", log.display())),
        }
    }
    if let Some(report) = &args.report_log {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("lmutil"));
        let r = report.display().to_string();
        entries.push(command_output(
            "report-log-summary.txt",
            exe,
            &["lmreport", "-f", &r],
            notes,
        ));
    }
    if let Some(unit) = UNITS.iter().map(Path::new).find(|p| p.exists()) {
        add_file(&mut entries, notes, "unit", unit);
    }
    entries.push(text("environment.txt", environment(std::env::vars())));
    entries
}

/// The license files on the path and the options files their VENDOR
/// lines name.
fn license_files(sources: &[Source]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for s in sources {
        let Source::Files { files, .. } = s else {
            continue;
        };
        for f in files {
            out.push(f.path.clone());
            for e in &f.file.entries {
                if let EntryKind::Vendor(v) = &e.kind {
                    if let Some(opts) = &v.options {
                        let p = PathBuf::from(opts);
                        let p = if p.is_relative() {
                            f.path.parent().unwrap_or(Path::new(".")).join(p)
                        } else {
                            p
                        };
                        out.push(p);
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Adds a file under `dir/`, unless it holds a private key.
fn add_file(entries: &mut Vec<Entry>, notes: &mut Vec<String>, dir: &str, path: &Path) {
    match std::fs::read(path) {
        Ok(data) if holds_private_key(&data) => {
            notes.push(format!(
                "{} left out: it holds a private key",
                path.display()
            ));
        }
        Ok(data) => {
            let name = path
                .file_name()
                .map_or_else(|| "file".to_string(), |n| n.to_string_lossy().into_owned());
            entries.push(Entry {
                name: format!("{dir}/{name}"),
                data,
            });
        }
        Err(e) => notes.push(format!("{}: {e}", path.display())),
    }
}

/// Returns true if and only if `data` contains a PEM private key.
fn holds_private_key(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"PRIVATE KEY")
}

fn text(name: &str, body: String) -> Entry {
    Entry {
        name: name.to_string(),
        data: body.into_bytes(),
    }
}

fn versions() -> String {
    let uname = Command::new("uname")
        .arg("-a")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    format!("lmutil v{}\n{uname}", common::version())
}

/// An executable next to this one (the package installs lmgrd and
/// lmutil side by side), else found on PATH.
fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn command_output(name: &str, program: PathBuf, args: &[&str], notes: &mut Vec<String>) -> Entry {
    match Command::new(&program).args(args).output() {
        Ok(o) => Entry {
            name: name.to_string(),
            data: o.stdout,
        },
        Err(e) => {
            notes.push(format!("{}: {e}", program.display()));
            text(name, String::new())
        }
    }
}

fn status(sources: &[Source], args: &Args) -> Entry {
    let t = args.common.timeouts();
    let docs: Vec<String> = path::targets(sources)
        .iter()
        .filter_map(|r| match r {
            path::Resolved::Target(target) => Some(target),
            path::Resolved::Failed { .. } => None,
        })
        .flat_map(|target| target.servers.iter())
        .map(|spec| match statusdoc::gather(spec, t) {
            Ok(r) => serde_json::to_string(&statusdoc::build(&r, statusdoc::unix_now()))
                .unwrap_or_default(),
            Err(e) => {
                serde_json::json!({"server": spec.to_string(), "error": e.to_string()}).to_string()
            }
        })
        .collect();
    text("status.jsonl", docs.join("\n") + "\n")
}

/// Counts of the debug log's usage lines and its last lines.
fn debug_summary(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let count = |word: &str| lines.iter().filter(|l| l.contains(word)).count();
    let mut out = format!(
        "lines: {}\nOUT: {}\nIN: {}\nDENIED: {}\nUNSUPPORTED: {}\nQUEUED: {}\n\n--- last {} lines ---\n",
        lines.len(),
        count(" OUT: "),
        count(" IN: "),
        count(" DENIED: "),
        count(" UNSUPPORTED: "),
        count(" QUEUED: "),
        LOG_TAIL_LINES.min(lines.len())
    );
    for l in &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The license environment, secrets masked.
fn environment(vars: impl Iterator<Item = (String, String)>) -> String {
    let mut taken: Vec<(String, String)> = vars
        .filter(|(k, _)| {
            ENV_PREFIXES.iter().any(|p| k.starts_with(p))
                || ENV_SUFFIXES.iter().any(|s| k.ends_with(s))
        })
        .map(|(k, v)| {
            let upper = k.to_ascii_uppercase();
            let masked = SECRET_WORDS.iter().any(|w| upper.contains(w));
            (k, if masked { "(masked)".to_string() } else { v })
        })
        .collect();
    taken.sort();
    taken.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

fn write(out: &Path, entries: Vec<Entry>, notes: &[String]) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let mut all = entries;
    all.push(text(
        "notes.txt",
        notes.iter().map(|n| format!("{n}\n")).collect(),
    ));
    for e in all {
        let mut header = tar::Header::new_gnu();
        header.set_size(e.data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(statusdoc::unix_now());
        tar.append_data(
            &mut header,
            format!("lmbundle/{}", e.name),
            e.data.as_slice(),
        )?;
    }
    tar.into_inner()?.finish()?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_environment_are_masked() {
        let vars = [
            ("LM_LICENSE_FILE", "27000@h"),
            ("DEMO_LICENSE_FILE", "/l.dat"),
            ("LM_ADMIN_PASSWORD", "hunter2"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            environment(vars.into_iter()),
            "DEMO_LICENSE_FILE=/l.dat\nLM_ADMIN_PASSWORD=(masked)\nLM_LICENSE_FILE=27000@h\n"
        );
    }

    #[test]
    fn private_keys_are_recognised() {
        assert!(holds_private_key(b"-----BEGIN PRIVATE KEY-----\nxx"));
        assert!(holds_private_key(b"-----BEGIN EC PRIVATE KEY-----"));
        assert!(!holds_private_key(
            b"FEATURE f1 demo 1.0 permanent 4 SIGN=\"ab\""
        ));
    }

    #[test]
    fn the_debug_summary_counts_usage_lines() {
        let log = "10:00:00 (demo) OUT: \"f1\" ann@h\n10:00:01 (demo) IN: \"f1\" ann@h\n\
                   10:00:02 (demo) DENIED: \"f1\" bob@h\n";
        let s = debug_summary(log);
        assert!(s.starts_with("lines: 3\nOUT: 1\nIN: 1\nDENIED: 1\n"), "{s}");
        assert!(s.ends_with("DENIED: \"f1\" bob@h\n"));
    }
}
