//! The dry run behind `lmgrd --check`: parse, validate, verify signatures
//! and build the pools, then report every line's fate.
//!
//! The report is plain data (serialisable to JSON; the schema is in
//! `docs/check-json.md`) so that tools and tests read the same thing the
//! administrator sees.

use crate::date::{Date, Expiry};
use crate::diag::{Diagnostic, Severity};
use crate::hostid;
use crate::model::{EntryKind, LicenseFile};
use crate::pool::{build_pools, LineOutcome, PoolSet};
use crate::signature::{
    entry_sign_field, entry_vendor, verify_file, KeyRing, SignField, SignatureStatus,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub file: String,
    /// The date expiry and START were judged against.
    pub today: Date,
    pub servers: Vec<ServerReport>,
    pub vendors: Vec<VendorReport>,
    pub use_server: bool,
    pub lines: Vec<LineReport>,
    pub pools: Vec<PoolReport>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub line: u32,
    pub host: String,
    pub hostid: String,
    pub port: Option<u16>,
    pub primary_is_master: bool,
    pub server_timeout: Option<u32>,
    pub heartbeat_interval: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VendorReport {
    pub line: u32,
    pub name: String,
    pub path: Option<String>,
    pub options: Option<String>,
    pub port: Option<u16>,
    /// The `<vendor>.pub` file used to verify its lines, if one was found.
    pub public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineReport {
    pub line: u32,
    pub end_line: u32,
    /// FEATURE, INCREMENT, UPGRADE, PACKAGE or FEATURESET.
    pub kind: String,
    pub feature: Option<String>,
    pub vendor: String,
    pub version: Option<String>,
    pub expiry: Option<Expiry>,
    /// 0 for uncounted lines.
    pub count: Option<u32>,
    pub hostid: Option<String>,
    pub signature: SignatureStatus,
    /// served, expired, shadowed, superseded, nothing_to_upgrade, package,
    /// or not_served.
    pub outcome: &'static str,
    /// Why, for every outcome but `served`.
    pub reason: Option<String>,
    /// Indices into `pools` this line adds licenses to.
    pub pools: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    pub feature: String,
    pub vendor: String,
    pub version: String,
    /// Licenses usable today (0 for an uncounted pool).
    pub count: u32,
    pub counted: bool,
    pub overdraft: u32,
    pub hostid: Option<String>,
    pub expiry: Expiry,
    pub suite: Option<String>,
    pub package: Option<String>,
    /// Lines that contribute to the pool.
    pub lines: Vec<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl From<&Diagnostic> for Finding {
    fn from(d: &Diagnostic) -> Self {
        Finding {
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            message: d.message.clone(),
        }
    }
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks a parsed file against the publishers' keys, for `today`.
pub fn check(file: &LicenseFile, keys: &KeyRing, today: Date) -> (CheckReport, PoolSet) {
    let mut diags: Vec<Diagnostic> = file.diagnostics.clone();
    let mut add = |severity, (line, column): (u32, u32), message: String| {
        diags.push(Diagnostic {
            severity,
            file: file.name.clone(),
            line,
            column,
            message,
        });
    };

    let servers: Vec<_> = file.servers().collect();
    if servers.len() == 2 || servers.len() > 3 {
        let (e, _) = servers[1];
        add(
            Severity::Error,
            (e.line, 1),
            format!(
                "{} SERVER lines: use one, or three for a redundant triad",
                servers.len()
            ),
        );
    }
    if servers.len() == 3 {
        for (e, s) in &servers {
            if s.port.is_none() {
                add(
                    Severity::Warning,
                    (e.line, 1),
                    "a triad's SERVER lines should each give a port".into(),
                );
            }
        }
    }
    let vendor_names: HashSet<&str> = file.vendors().map(|(_, v)| v.name.as_str()).collect();

    let statuses = verify_file(file, keys);
    let mut not_served: HashMap<usize, String> = HashMap::new();
    let mut bad_featuresets: HashMap<&str, u32> = HashMap::new();
    for (idx, entry) in file.entries.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let vendor = entry_vendor(entry).unwrap_or("");
        let sign_at = LicenseFile::position_of(entry, "SIGN");
        let reason = match status {
            SignatureStatus::Valid => None,
            SignatureStatus::Invalid => Some(match entry_sign_field(entry) {
                Some(SignField::Malformed(why)) => format!("SIGN= is damaged ({why}): LM_BADCODE (-8)"),
                _ => "signature does not match the line: it was changed after signing, LM_BADCODE (-8)".to_string(),
            }),
            SignatureStatus::Missing => Some("no SIGN= signature: never served, LM_SIGN_REQ (-114)".to_string()),
            SignatureStatus::Unverifiable => Some(match entry_sign_field(entry) {
                Some(SignField::Ed25519 { key_id, .. }) if keys.has_vendor(vendor) => format!(
                    "signed with key {}, which is not a key of vendor {vendor}: never served",
                    crate::sign_field::encode_hex(key_id)
                ),
                Some(SignField::Ed25519 { .. }) => format!(
                    "no public key for vendor {vendor} ({}): never served",
                    keys.missing_key(vendor)
                ),
                _ => "signed with a FLEXlm key, which cannot be verified: shown, never served".to_string(),
            }),
        };
        if let Some(reason) = reason {
            add(Severity::Error, sign_at, reason.clone());
            if let EntryKind::FeatureSet(fs) = &entry.kind {
                bad_featuresets.insert(fs.vendor.as_str(), entry.line);
            }
            not_served.insert(idx, reason);
        }
    }
    for (idx, entry) in file.entries.iter().enumerate() {
        let EntryKind::Feature(f) = &entry.kind else {
            if let (EntryKind::Package(p), Some(line)) = (
                &entry.kind,
                bad_featuresets.get(entry_vendor(entry).unwrap_or("")),
            ) {
                let _ = p;
                not_served.entry(idx).or_insert_with(|| {
                    format!("FEATURESET on line {line} does not verify, LM_BADFEATSET (-55)")
                });
            }
            continue;
        };
        let reason = if let Some(line) = bad_featuresets.get(f.vendor.as_str()) {
            Some(format!(
                "FEATURESET on line {line} does not verify, LM_BADFEATSET (-55)"
            ))
        } else if f.is_counted() && servers.is_empty() {
            Some("a counted line needs a SERVER line: LM_NO_SERVER_IN_FILE (-13)".to_string())
        } else if f.is_counted() && !vendor_names.contains(f.vendor.as_str()) {
            Some(format!(
                "no VENDOR line for vendor {}: nothing would serve this counted line",
                f.vendor
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            if let std::collections::hash_map::Entry::Vacant(slot) = not_served.entry(idx) {
                add(Severity::Error, (entry.line, 1), reason.clone());
                slot.insert(reason);
            }
        }
    }

    let pools = build_pools(file, &not_served, today);
    let mut lines = Vec::new();
    for (idx, entry) in file.entries.iter().enumerate() {
        let Some(status) = statuses[idx].clone() else {
            continue;
        };
        let (outcome, reason, pool_ids) = match pools.outcomes.get(&idx) {
            Some(LineOutcome::Pooled { pools }) => ("served", None, pools.clone()),
            Some(LineOutcome::Expired) => ("expired", Some("expired".to_string()), vec![]),
            Some(LineOutcome::Shadowed { by_line }) => (
                "shadowed",
                Some(format!("only the first counted FEATURE line of a feature counts; line {by_line} is used")),
                vec![],
            ),
            Some(LineOutcome::Superseded { by_line }) => (
                "superseded",
                Some(format!("superseded by the SUPERSEDE line on line {by_line}")),
                vec![],
            ),
            Some(LineOutcome::NothingToUpgrade) => (
                "nothing_to_upgrade",
                Some("no earlier FEATURE or INCREMENT line has a version in the UPGRADE's range".to_string()),
                vec![],
            ),
            Some(LineOutcome::PackageDefinition) => ("package", Some("package definition".to_string()), vec![]),
            Some(LineOutcome::NotServed { reason }) => ("not_served", Some(reason.clone()), vec![]),
            None if matches!(entry.kind, EntryKind::FeatureSet(_)) => ("served", None, vec![]),
            None => ("not_served", Some("not used".to_string()), vec![]),
        };
        match (&entry.kind, outcome) {
            (EntryKind::Feature(f), "expired") => add(
                Severity::Warning,
                (entry.line, 1),
                format!("{} {} expired on {}", f.kind.keyword(), f.name, f.expiry),
            ),
            (EntryKind::Feature(f), "served") if f.start.is_some_and(|s| s > today) => add(
                Severity::Warning,
                (entry.line, 1),
                format!(
                    "{} {} cannot be used before START={}",
                    f.kind.keyword(),
                    f.name,
                    f.start.map(|d| d.to_string()).unwrap_or_default()
                ),
            ),
            (EntryKind::Feature(f), "shadowed" | "superseded" | "nothing_to_upgrade") => add(
                Severity::Warning,
                (entry.line, 1),
                format!(
                    "{} {}: {}",
                    f.kind.keyword(),
                    f.name,
                    reason.clone().unwrap_or_default()
                ),
            ),
            _ => {}
        }
        lines.push(line_report(entry, status, outcome, reason, pool_ids));
    }

    let pool_reports = pools
        .pools
        .iter()
        .map(|p| PoolReport {
            feature: p.feature.clone(),
            vendor: p.vendor.clone(),
            version: p.version.to_string(),
            count: p.issued(today),
            counted: p.counted,
            overdraft: p.overdraft,
            hostid: p.hostids.as_deref().map(hostid::display_list),
            expiry: p.expiry(),
            suite: p.suite.clone(),
            package: p.package.clone(),
            lines: p.contributions.iter().map(|c| c.line).collect(),
        })
        .collect();

    diags.sort_by_key(|d| (d.line, d.column));
    let report = CheckReport {
        file: file.name.clone(),
        today,
        servers: servers
            .iter()
            .map(|(e, s)| ServerReport {
                line: e.line,
                host: s.host.clone(),
                hostid: hostid::display_list(&s.hostids),
                port: s.port,
                primary_is_master: s.primary_is_master,
                server_timeout: s.server_timeout,
                heartbeat_interval: s.heartbeat_interval,
            })
            .collect(),
        vendors: file
            .vendors()
            .map(|(e, v)| VendorReport {
                line: e.line,
                name: v.name.clone(),
                path: v.path.clone(),
                options: v.options.clone(),
                port: v.port,
                public_key: keys.source(&v.name).map(|p| p.display().to_string()),
            })
            .collect(),
        use_server: file.use_server(),
        lines,
        pools: pool_reports,
        errors: diags
            .iter()
            .filter(|d| d.is_error())
            .map(Finding::from)
            .collect(),
        warnings: diags
            .iter()
            .filter(|d| !d.is_error())
            .map(Finding::from)
            .collect(),
    };
    (report, pools)
}

fn line_report(
    entry: &crate::model::Entry,
    signature: SignatureStatus,
    outcome: &'static str,
    reason: Option<String>,
    pools: Vec<usize>,
) -> LineReport {
    let base = LineReport {
        line: entry.line,
        end_line: entry.end_line,
        kind: String::new(),
        feature: None,
        vendor: entry_vendor(entry).unwrap_or("").to_string(),
        version: None,
        expiry: None,
        count: None,
        hostid: None,
        signature,
        outcome,
        reason,
        pools,
    };
    match &entry.kind {
        EntryKind::Feature(f) => LineReport {
            kind: f.kind.keyword().to_string(),
            feature: Some(f.name.to_string()),
            version: Some(f.version.to_string()),
            expiry: Some(f.expiry),
            count: Some(f.count),
            hostid: f.hostids.as_deref().map(hostid::display_list),
            ..base
        },
        EntryKind::Package(p) => LineReport {
            kind: "PACKAGE".into(),
            feature: Some(p.name.clone()),
            version: p.version.as_ref().map(ToString::to_string),
            ..base
        },
        _ => LineReport {
            kind: "FEATURESET".into(),
            ..base
        },
    }
}
