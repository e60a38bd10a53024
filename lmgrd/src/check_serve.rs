//! What `lmgrd --check` adds to each file's report so that it tells the
//! whole truth before a start: everything lmgrd or a vendor daemon would
//! refuse or skip on this machine (files not served together, a SERVER
//! line that is not this machine's, a vendor daemon program that cannot
//! run, options files with errors, missing keys, a state directory it
//! cannot write) and what expires soon.

use crate::serve::config::{self, ConfigError};
use grammar::check::{CheckReport, Finding};
use grammar::pool::PoolSet;
use grammar::{HostIdentity, LicenseFile};
use hostenv::license_list::{self, Named};
use std::path::{Path, PathBuf};

/// Expiry within this many days is a warning in `--check`.
pub const EXPIRY_WARNING_DAYS: u32 = 14;

/// Everything about this machine and this start that the checks need.
pub struct Setting<'a> {
    pub me: &'a HostIdentity,
    pub lmgrd_dir: &'a Path,
    pub server_line: Option<u32>,
    pub state_dir: &'a Path,
    /// `-triad-key FILE`, when given.
    pub triad_key: Option<&'a Path>,
}

fn finding(file: &str, (line, column): (u32, u32), message: String) -> Finding {
    Finding {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// The report of `path` among `reports` (they are in the files' order).
fn report_of<'r>(reports: &'r mut [CheckReport], name: &str) -> Option<&'r mut CheckReport> {
    let at = reports.iter().position(|r| r.file == name).unwrap_or(0);
    reports.get_mut(at)
}

/// Adds the service checks to `reports` (one per file of `files`, same
/// order, with the pools each would serve).
pub fn add(reports: &mut [CheckReport], pools: &[PoolSet], files: &[Named], setting: &Setting) {
    let combined = license_list::combine(files.to_vec());
    for skipped in &combined.skipped {
        let name = skipped.path.display().to_string();
        let no_server = skipped.reason.contains("no SERVER line");
        if let Some(r) = report_of(reports, &name) {
            let f = finding(
                &name,
                (1, 1),
                format!("lmgrd does not serve this file: {}", skipped.reason),
            );
            if no_server {
                r.warnings.push(f);
            } else {
                r.errors.push(f);
            }
        }
    }
    if combined.served.is_empty() {
        return;
    }
    if server_lines(reports, &combined.served, setting) {
        triad_key(reports, setting);
    }
    for (path, file) in &combined.served {
        let name = path.display().to_string();
        let Some(at) = reports.iter().position(|r| r.file == name) else {
            continue;
        };
        vendor_lines(&mut reports[at], path, file, setting);
        let soon =
            accounting::expiry::expiring(&pools[at].pools, reports[at].today, EXPIRY_WARNING_DAYS);
        for e in soon {
            reports[at]
                .warnings
                .push(finding(&name, (e.line, 1), e.to_string()));
        }
    }
    state_dir(reports, setting.state_dir);
}

/// This machine's ids, as an administrator puts them on a SERVER line.
fn my_ids(me: &HostIdentity) -> String {
    let mut ids: Vec<String> = me.hex_ids.iter().map(|h| format!("{h:012x}")).collect();
    ids.extend(me.addresses.iter().map(|a| format!("INTERNET={a}")));
    ids.push(format!("HOSTNAME={}", me.hostname));
    ids.join(" ")
}

/// The SERVER line lmgrd would use: refused when it is not this machine.
/// True when lmgrd would be a member of a triad.
fn server_lines(reports: &mut [CheckReport], served: &[Named], setting: &Setting) -> bool {
    let first = served[0].0.display().to_string();
    match config::from_files(served, setting.me, setting.lmgrd_dir, setting.server_line) {
        Ok(cfg) => {
            if let (Some(w), Some(r)) = (cfg.host_warning, report_of(reports, &first)) {
                let line = served[0].1.servers().next().map_or(1, |(e, _)| e.line);
                r.warnings.push(finding(&first, (line, 1), w));
            }
            cfg.triad.is_some()
        }
        Err(e) => {
            let line = match &e {
                ConfigError::WrongHostid { line, .. }
                | ConfigError::TriadNeedsPorts { line, .. } => *line,
                _ => served[0].1.servers().next().map_or(1, |(e, _)| e.line),
            };
            let advice = match e {
                ConfigError::WrongHostid { .. } | ConfigError::NoLocalServerLine { .. } => format!(
                    "; this machine's ids are {} (run `lmhostid`, `lmhostid -internet` or \
                     `lmhostid -hostname` here to get them)",
                    my_ids(setting.me)
                ),
                _ => String::new(),
            };
            if let Some(r) = report_of(reports, &first) {
                r.errors.push(finding(
                    &first,
                    (line, 1),
                    format!("lmgrd would refuse to start: {e}{advice}"),
                ));
            }
            false
        }
    }
}

/// A triad member's key: an unusable file stops lmgrd; no key at all is
/// a warning (the members' links would not be authenticated).
fn triad_key(reports: &mut [CheckReport], setting: &Setting) {
    let default = setting.state_dir.join(hostenv::triad_key::FILE);
    let path = setting.triad_key.unwrap_or(&default);
    let Some(r) = reports.first_mut() else {
        return;
    };
    let file = r.file.clone();
    match hostenv::triad_key::load(path, setting.triad_key.is_none()) {
        Ok(Some(_)) => {}
        Ok(None) => r.warnings.push(finding(
            &file,
            (0, 0),
            format!(
                "triad links would not be authenticated: no triad key at \"{}\" (create one with `lmutil lmtriadkey` and copy it to the three members)",
                path.display()
            ),
        )),
        Err(e) => r.errors.push(finding(
            &file,
            (0, 0),
            format!("lmgrd would refuse to start: {e}"),
        )),
    }
}

/// Each VENDOR line's program, options file and keys.
fn vendor_lines(report: &mut CheckReport, path: &Path, file: &LicenseFile, setting: &Setting) {
    let name = path.display().to_string();
    for (entry, vendor) in file.vendors() {
        let at = (entry.line, 1);
        let program = vendor.path.as_ref().map_or_else(
            || config::vendor_program(setting.lmgrd_dir, &vendor.name),
            PathBuf::from,
        );
        if let Some(problem) = program_problem(&program, &vendor.name, setting.lmgrd_dir) {
            report.errors.push(finding(&name, at, problem));
        }
        if let Some(options) = &vendor.options {
            options_file(report, path, options, at);
        }
        let has_lines = report.lines.iter().any(|l| l.vendor == vendor.name);
        if has_lines
            && !report
                .vendors
                .iter()
                .any(|v| v.name == vendor.name && v.public_key.is_some())
        {
            let dirs: Vec<String> = grammar::signature::key_search_dirs(Some(path))
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            report.errors.push(finding(
                &name,
                at,
                format!(
                    "no public key for vendor {0}: looked for {0}.pub in {1} \
                     (LM_PUBLIC_KEY_PATH, beside lmgrd, beside the license file); \
                     its lines cannot be checked here",
                    vendor.name,
                    dirs.join(", ")
                ),
            ));
        }
    }
}

/// Why the vendor daemon program cannot run, if it cannot.
fn program_problem(program: &Path, vendor: &str, lmgrd_dir: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = program.display();
    match std::fs::metadata(program) {
        Err(e) => Some(format!(
            "vendor daemon {vendor}: its program {shown} cannot be used: {e}"
        )),
        Ok(m) if !m.is_file() => Some(format!("vendor daemon {vendor}: {shown} is not a program")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some(format!(
            "vendor daemon {vendor}: {shown} is not executable (chmod 755 it)"
        )),
        Ok(_)
            if program == lmgrd_dir.join("vendord")
                && vendor != grammar::publisher::DEMO_VENDOR =>
        {
            Some(format!(
                "vendor daemon {vendor}: the VENDOR line names no program and there is no \
                 {vendor} beside lmgrd in {}; vendord there serves vendor {} only: install \
                 the publisher's {vendor} daemon there or name it on the VENDOR line",
                lmgrd_dir.display(),
                grammar::publisher::DEMO_VENDOR
            ))
        }
        Ok(_) => None,
    }
}

/// The options file of a VENDOR line: unreadable, or lines with errors.
fn options_file(report: &mut CheckReport, license: &Path, options: &str, at: (u32, u32)) {
    let named = Path::new(options);
    let path = match license.parent() {
        Some(dir) if named.is_relative() => dir.join(named),
        _ => named.to_path_buf(),
    };
    match grammar::options::Options::read(&path) {
        Err(e) => report.errors.push(finding(
            &report.file.clone(),
            at,
            format!(
                "options file \"{}\" cannot be read: {e}; the vendor daemon would serve without it",
                path.display()
            ),
        )),
        Ok((_, diagnostics)) => {
            for d in &diagnostics {
                let f = Finding::from(d);
                match d.severity {
                    grammar::Severity::Error => report.errors.push(f),
                    _ => report.warnings.push(f),
                }
            }
        }
    }
}

/// The state directory: lmgrd refuses to start when it cannot write it.
/// Checked without creating anything.
fn state_dir(reports: &mut [CheckReport], dir: &Path) {
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => break,
        }
    }
    let source = if probe.exists() && !probe.is_dir() {
        std::io::Error::from(std::io::ErrorKind::NotADirectory)
    } else {
        let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes()).unwrap_or_default();
        // SAFETY: access reads the NUL-terminated path we own.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
            return;
        }
        std::io::Error::last_os_error()
    };
    let e = hostenv::state_dir::StateError::new("state directory", dir, source);
    if let Some(r) = reports.first_mut() {
        let file = r.file.clone();
        r.errors.push(finding(
            &file,
            (0, 0),
            format!("lmgrd would refuse to start: {e}"),
        ));
    }
}
