//! `lmgrd --check`: the dry run, printed for people or as JSON.

use grammar::check::{check, CheckReport};
use grammar::signature::{key_search_dirs, KeyRing};
use grammar::{Date, LicenseFile};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Checks every license file named by `list`; returns the process exit status.
pub fn run(list: &str, json: bool, today: Date) -> i32 {
    let files = match expand_list(list) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("lmgrd: {message}");
            return 1;
        }
    };
    let mut reports = Vec::new();
    let mut status = 0;
    for path in files {
        let file = match grammar::read_license(&path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "lmgrd: cannot read license file \"{}\": {e}",
                    path.display()
                );
                return 1;
            }
        };
        let report = check_one(&path, &file, today);
        if !report.is_ok() {
            status = 1;
        }
        reports.push(report);
    }
    let text = if json {
        let encoded = if reports.len() == 1 {
            serde_json::to_string_pretty(&reports[0])
        } else {
            serde_json::to_string_pretty(&reports)
        };
        match encoded {
            Ok(text) => text + "\n",
            Err(e) => {
                eprintln!("lmgrd: cannot encode the report: {e}");
                return 1;
            }
        }
    } else {
        reports.iter().map(render).collect()
    };
    // A closed pipe (`lmgrd --check | head`) is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    status
}

fn check_one(path: &Path, file: &LicenseFile, today: Date) -> CheckReport {
    let dirs = key_search_dirs(Some(path));
    let vendors = file
        .entries
        .iter()
        .filter_map(grammar::signature::entry_vendor);
    let (keys, problems) = KeyRing::load(vendors, &dirs);
    for p in problems {
        eprintln!("lmgrd: {p}");
    }
    check(file, &keys, today).0
}

/// Splits a license path list into the files it names. Directories give
/// their `*.lic` files in name order; `port@host` entries cannot be checked
/// from here and are refused.
fn expand_list(list: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for entry in list.split(':').filter(|e| !e.is_empty()) {
        if entry.contains('@') {
            return Err(format!(
                "--check reads license files; `{entry}` names a server"
            ));
        }
        let path = PathBuf::from(entry);
        if path.is_dir() {
            let mut lics: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| format!("cannot read directory \"{entry}\": {e}"))?
                .filter_map(|d| d.ok().map(|d| d.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "lic"))
                .collect();
            lics.sort();
            out.extend(lics);
        } else {
            out.push(path);
        }
    }
    if out.is_empty() {
        return Err(format!("no license file in \"{list}\""));
    }
    Ok(out)
}

fn count_text(count: Option<u32>) -> String {
    match count {
        Some(0) => "uncounted".into(),
        Some(n) => n.to_string(),
        None => "-".into(),
    }
}

/// The report as an administrator reads it.
pub fn render(r: &CheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Checking license file \"{}\" (dates judged on {})",
        r.file, r.today
    );
    let _ = writeln!(s);
    for sv in &r.servers {
        let port = sv
            .port
            .map_or_else(|| "default port".to_string(), |p| format!("port {p}"));
        let master = if sv.primary_is_master {
            ", PRIMARY_IS_MASTER"
        } else {
            ""
        };
        let _ = writeln!(s, "SERVER {} {} ({port}{master})", sv.host, sv.hostid);
    }
    for v in &r.vendors {
        let key = v.public_key.as_deref().unwrap_or("no public key found");
        let _ = writeln!(s, "VENDOR {} (key: {key})", v.name);
    }
    if r.use_server {
        let _ = writeln!(s, "USE_SERVER");
    }
    if !r.lines.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:>5}  {:<10} {:<20} {:<8} {:<12} {:>9}  {:<12} outcome",
            "line", "kind", "feature", "version", "expiry", "count", "signature"
        );
        for l in &r.lines {
            let signature = serde_json::to_value(&l.signature)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let outcome = match &l.reason {
                Some(reason) if l.outcome != "served" => format!("{}: {reason}", l.outcome),
                _ => l.outcome.to_string(),
            };
            let _ = writeln!(
                s,
                "{:>5}  {:<10} {:<20} {:<8} {:<12} {:>9}  {:<12} {}",
                l.line,
                l.kind,
                l.feature.as_deref().unwrap_or(&l.vendor),
                l.version.as_deref().unwrap_or("-"),
                l.expiry.map_or_else(|| "-".to_string(), |e| e.to_string()),
                count_text(l.count),
                signature,
                outcome
            );
        }
    }
    let _ = writeln!(s);
    if r.pools.is_empty() {
        let _ = writeln!(s, "No license would be served.");
    } else {
        let _ = writeln!(s, "Pools that would be served:");
        for p in &r.pools {
            let count = if p.counted {
                format!("{} license(s)", p.count)
            } else {
                "uncounted".to_string()
            };
            let lock = p
                .hostid
                .as_deref()
                .map_or_else(|| "floating".to_string(), |h| format!("HOSTID={h}"));
            let mut extra = String::new();
            if p.overdraft > 0 {
                let _ = write!(extra, ", overdraft {}", p.overdraft);
            }
            if let Some(suite) = &p.suite {
                let _ = write!(extra, ", suite {suite}");
            } else if let Some(pkg) = &p.package {
                let _ = write!(extra, ", from package {pkg}");
            }
            let lines: Vec<String> = p.lines.iter().map(u32::to_string).collect();
            let _ = writeln!(
                s,
                "  {} {} v{}: {count}, {lock}, expires {}{extra} (line {})",
                p.vendor,
                p.feature,
                p.version,
                p.expiry,
                lines.join(", ")
            );
        }
    }
    if !r.errors.is_empty() || !r.warnings.is_empty() {
        let _ = writeln!(s);
    }
    let mut findings: Vec<(&grammar::check::Finding, &str)> = r
        .errors
        .iter()
        .map(|e| (e, "error"))
        .chain(r.warnings.iter().map(|w| (w, "warning")))
        .collect();
    findings.sort_by_key(|(f, _)| (f.line, f.column));
    for (f, what) in findings {
        let _ = writeln!(
            s,
            "{}:{}:{}: {what}: {}",
            f.file, f.line, f.column, f.message
        );
    }
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("1 {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    let _ = writeln!(
        s,
        "{}, {}",
        plural(r.errors.len(), "error"),
        plural(r.warnings.len(), "warning")
    );
    s
}
