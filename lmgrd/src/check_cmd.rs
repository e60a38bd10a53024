//! `lmgrd --check`: the dry run, printed for people or as JSON.

use crate::check_serve::{self, Setting};
use crate::serve::config;
use grammar::check::{check, CheckReport};
use grammar::pool::PoolSet;
use grammar::publisher::{Publisher, DEMO_VENDOR};
use grammar::signature::{key_search_dirs, KeyRing};
use grammar::{Date, LicenseFile};
use hostenv::license_list;
use std::fmt::Write as _;
use std::path::Path;

/// Checks every license file named by `list`, and what a start of lmgrd
/// on this machine would meet; returns the process exit status: 1 when
/// anything would be refused, or when nothing would be served.
pub fn run(list: &str, json: bool, today: Date, setting: &Setting) -> i32 {
    let paths = match license_list::expand(list) {
        Ok(files) => files,
        Err(e) => {
            let e = match e {
                license_list::ListError::Server(entry) => {
                    format!("--check reads license files; `{entry}` names a server")
                }
                other => other.to_string(),
            };
            eprintln!("lmgrd: {e}");
            return 1;
        }
    };
    let mut files = Vec::new();
    for path in paths {
        match grammar::read_license(&path) {
            Ok(f) => files.push((path, f)),
            Err(e) => {
                eprintln!(
                    "lmgrd: cannot read license file \"{}\": {e}",
                    path.display()
                );
                return 1;
            }
        }
    }
    let (mut reports, pools): (Vec<CheckReport>, Vec<PoolSet>) = files
        .iter()
        .map(|(path, file)| check_one(path, file, today, setting.lmgrd_dir))
        .unzip();
    check_serve::add(&mut reports, &pools, &files, setting);
    if pools.iter().all(|p| p.pools.is_empty()) {
        if let Some(first) = reports.first_mut() {
            first.errors.push(grammar::check::Finding {
                file: first.file.clone(),
                line: 0,
                column: 0,
                message: "no license would be served: lmgrd would start with nothing to serve"
                    .into(),
            });
        }
    }
    let status = i32::from(reports.iter().any(|r| !r.is_ok()));
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

/// One file's report. The lines of a vendor served by the shipped
/// `vendord` are verified with the keys built into it, as that daemon
/// will; other vendors' with the `.pub` files found where inspection
/// tools look (their daemons carry their own keys).
fn check_one(
    path: &Path,
    file: &LicenseFile,
    today: Date,
    lmgrd_dir: &Path,
) -> (CheckReport, PoolSet) {
    let builtin = |vendor: &str| {
        vendor == DEMO_VENDOR
            && file.vendors().any(|(_, v)| {
                v.name == vendor
                    && v.path.is_none()
                    && config::vendor_program(lmgrd_dir, vendor) == lmgrd_dir.join("vendord")
            })
    };
    let dirs = key_search_dirs(Some(path));
    let vendors = file
        .entries
        .iter()
        .filter_map(grammar::signature::entry_vendor)
        .filter(|v| !builtin(v));
    let (mut keys, problems) = KeyRing::load(vendors, &dirs);
    for p in problems {
        eprintln!("lmgrd: {p}");
    }
    if builtin(DEMO_VENDOR) {
        for key in Publisher::demo().license_keys() {
            keys.insert(DEMO_VENDOR, *key);
        }
    }
    let (mut report, pools) = check(file, &keys, today);
    for v in &mut report.vendors {
        if builtin(&v.name) {
            v.public_key = Some(format!(
                "built into {}",
                lmgrd_dir.join("vendord").display()
            ));
        }
    }
    (report, pools)
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
