//! `lmdiag [-c list] [-n] [feature]`: for each license line of the path,
//! whether it can be checked out, and if not why: it tries a real checkout
//! with the client library, and checks the license straight back in.
//!
//! ```text
//! lmdiag - lm license manager v0.1.0
//! lm diagnostics on Sun 11/22/2026 20:50
//!
//! -----------------------------------------------------
//! License file: /etc/lm/demo.lic
//! -----------------------------------------------------
//! "f1" v1.0, vendor: demo
//!   License server: this_host
//!   floating license  no expiration date
//!
//! This license can be checked out
//! -----------------------------------------------------
//! ```
//!
//! For a three-server triad it first says, for each member, whether it
//! answered and why it is master or not, as the master (or, failing it,
//! a member that answered) sees it ([`triad_block`]); the features are
//! then the master's. This is where the reasons are always shown: lmstat
//! shows them only under our `-triad` option, as FLEXlm's lmstat format
//! is parsed by other programs.

use crate::common::{self, Common, CommonOpts, Cursor, LmFailure, Stamp, BRAND};
use crate::lmstat::model::Lock;
use crate::lmstat::{gather, render};
use crate::net::{self, Lmgrd, Timeouts};
use crate::path::{self, Source};
use crate::Invocation;
use client::{Job, JobConfig, ServerSpec};
use grammar::{Expiry, Feature, HostId};
use std::collections::HashMap;
use std::fmt::Write as _;
use wire::StatusReply;

pub const USAGE: &str = "\
usage: lmdiag [-c license_file_list] [-n] [-t timeout] [feature]
  -n  non-interactive (lmdiag never asks questions)
";

const RULE: &str = "-----------------------------------------------------";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    pub feature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
    Version,
}

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut a = Args::default();
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        match c.common(arg, &mut a.common)? {
            Common::Taken => continue,
            Common::Help => return Ok(Parsed::Help),
            Common::Version => return Ok(Parsed::Version),
            Common::Other => {}
        }
        match arg {
            "-n" => {}
            f if !f.starts_with('-') && a.feature.is_none() => {
                // FLEXlm's `feature:keyword=value` selects one line; the
                // name alone is used here.
                let name = f.split_once(':').map_or(f, |(n, _)| n);
                a.feature = Some(name.to_string());
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(Parsed::Run(a))
}

/// What lmdiag knows about one line before trying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub feature: String,
    pub version: String,
    pub vendor: String,
    /// `License server: ...`, when the line is served.
    pub server: Option<String>,
    /// `floating license`, `nodelocked license, locked to "..."`, ...
    pub lock: String,
    /// `no expiration date`, `expires: 31-dec-2025`, with `starts: ...`.
    pub dates: String,
}

/// How lmdiag describes a FEATURE line of a file with these servers.
pub fn describe(f: &Feature, servers: &[String]) -> Line {
    let mut dates = String::new();
    if let Some(s) = f.start {
        let _ = write!(dates, "starts: {s},  ");
    }
    match f.expiry {
        Expiry::Permanent => dates.push_str("no expiration date"),
        Expiry::On(d) => {
            let _ = write!(dates, "expires: {d}");
        }
    }
    Line {
        feature: f.name.to_string(),
        version: f.version.as_written().to_string(),
        vendor: f.vendor.to_string(),
        server: (f.count > 0 && !servers.is_empty()).then(|| servers.join(",")),
        lock: line_lock(f.count > 0, f.hostids.as_deref()),
        dates,
    }
}

/// How lmdiag describes a line served by a vendor daemon: the lock and
/// dates as for a line of a file, from what the daemon reports.
pub fn describe_served(fs: &wire::FeatureStatus, vendor: &str, server: String) -> Line {
    let ids = HostId::parse_list(&fs.hostids).ok();
    Line {
        feature: fs.name.clone(),
        version: fs.version.clone(),
        vendor: vendor.to_string(),
        server: Some(server),
        lock: line_lock(fs.counted, ids.as_deref()),
        dates: if fs.expiry == "permanent" || fs.expiry.is_empty() {
            "no expiration date".into()
        } else {
            format!("expires: {}", fs.expiry)
        },
    }
}

/// The lock as lmstat prints it; an uncounted line that names no host is
/// usable anywhere.
fn line_lock(counted: bool, ids: Option<&[HostId]>) -> String {
    let restricted = ids.filter(|ids| !ids.is_empty() && !ids.iter().all(HostId::is_unrestricted));
    match (counted, restricted) {
        (false, None) => Lock::UncountedAny,
        _ => gather::lock_of(counted, ids),
    }
    .to_string()
}

/// One line's report, from what is known and the checkout's outcome
/// (`Err((short form, detail))`).
pub fn report_line(l: &Line, outcome: &Result<(), (String, String)>) -> String {
    let mut out = format!("\"{}\" v{}, vendor: {}\n", l.feature, l.version, l.vendor);
    if let Some(s) = &l.server {
        let _ = writeln!(out, "  License server: {s}");
    }
    let _ = writeln!(out, "  {}  {}\n", l.lock, l.dates);
    match outcome {
        Ok(()) => out.push_str("This license can be checked out\n"),
        Err((short, detail)) => {
            let _ = writeln!(
                out,
                "This license cannot be checked out because:\n\t{short}"
            );
            if !detail.is_empty() {
                let _ = writeln!(out, "\t{detail}");
            }
        }
    }
    let _ = writeln!(out, "{RULE}");
    out
}

/// What lmdiag says about the servers of a triad, from each member's
/// answer (in the path's order); `None` when no member that answered
/// reports a triad.
///
/// ```text
/// Triad as SERVER001 sees it:
///   primary   27005@SERVER001: UP (MASTER): leader of term 3
///   secondary 27005@SERVER002: UP: follows SERVER001
///   tertiary  27005@SERVER003: DOWN: no answer for 12 s
/// SERVER003 does not answer here: Cannot connect to license server system. (-15,10:111 "Connection refused")
/// -----------------------------------------------------
/// ```
pub fn triad_block(
    servers: &[ServerSpec],
    answers: &[Result<StatusReply, LmFailure>],
) -> Option<String> {
    let statuses: Vec<Option<&StatusReply>> = answers.iter().map(|r| r.as_ref().ok()).collect();
    let d = gather::triad_decision(servers, &statuses)?;
    let mut out = render::triad_view(&gather::triad_view(statuses[d.view]?));
    for (spec, r) in servers.iter().zip(answers) {
        if let Err(e) = r {
            let _ = writeln!(out, "{} does not answer here: {e}", spec.host);
        }
    }
    match (d.master, d.usage) {
        (None, _) => out.push_str("No member is master: the triad serves no license\n"),
        (Some(m), None) => {
            let host = servers.get(m).map_or("", |s| s.host.as_str());
            let _ = writeln!(out, "The master, {host}, cannot be asked from here");
        }
        (Some(_), Some(_)) => {}
    }
    let _ = writeln!(out, "{RULE}");
    Some(out)
}

/// The lmgrd to ask for the features of `servers`: a triad's master, or
/// the first that answered; else why there is none, in the words a
/// checkout through a license file naming those servers would use.
fn pick_lmgrd(
    servers: &[ServerSpec],
    reached: &[Result<Lmgrd, LmFailure>],
) -> Result<usize, String> {
    let statuses: Vec<Option<&StatusReply>> = reached
        .iter()
        .map(|r| r.as_ref().ok().map(|l| &l.status))
        .collect();
    if let Some(d) = gather::triad_decision(servers, &statuses) {
        return d
            .usage
            .ok_or_else(|| "The triad has no master that answers here".to_string());
    }
    reached.iter().position(Result::is_ok).ok_or_else(|| {
        reached
            .iter()
            .find_map(|r| r.as_ref().err())
            .map(ToString::to_string)
            .unwrap_or_default()
    })
}

/// What lmdiag says of a `port@host` entry whose server cannot be asked.
pub fn unreachable(entry: &str, why: &str) -> String {
    format!(
        "  License server: {entry}\n\n\
         This license cannot be checked out because:\n\t{why}\n{RULE}\n"
    )
}

/// Asks every member of a triad (or of any list of servers).
fn reach_all(servers: &[ServerSpec], t: Timeouts) -> Vec<Result<Lmgrd, LmFailure>> {
    servers.iter().map(|s| net::lmgrd(s, t)).collect()
}

fn answers(reached: &[Result<Lmgrd, LmFailure>]) -> Vec<Result<StatusReply, LmFailure>> {
    reached
        .iter()
        .map(|r| r.as_ref().map(|l| l.status.clone()).map_err(Clone::clone))
        .collect()
}

/// Checks out one license of `l` through `entry`, and back in.
fn try_checkout(
    jobs: &mut HashMap<(String, String), Job>,
    entry: &str,
    l: &Line,
    t: Timeouts,
) -> Result<(), (String, String)> {
    let job = jobs
        .entry((entry.to_string(), l.vendor.clone()))
        .or_insert_with(|| {
            Job::for_inspection(
                &l.vendor,
                JobConfig {
                    license_path: Some(entry.to_string()),
                    connect_timeout: t.connect,
                    io_timeout: t.io,
                    retry_count: 0,
                    ..JobConfig::default()
                },
            )
        });
    // A diagnosis asks the server: never borrow, nor use a local borrow.
    let opts = client::CheckoutOptions {
        borrow: client::Borrow::No,
        ..client::CheckoutOptions::default()
    };
    match job
        .checkout_with(&l.feature, &l.version, 1, &opts)
        .map(client::CheckoutOutcome::granted)
    {
        Ok(Some(lic)) => {
            let _ = lic.checkin();
            Ok(())
        }
        Ok(None) => Err(("queued".into(), String::new())),
        Err(e) => Err((LmFailure::from_client(&e).to_string(), e.detail.clone())),
    }
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match parse(&inv.args) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            common::write_out(&format!("{}\n{USAGE}", common::banner(&inv.program)));
            return 0;
        }
        Ok(Parsed::Version) => {
            common::write_out(&format!("{}\n", common::banner(&inv.program)));
            return 0;
        }
        Err(e) => return common::usage_error("lmdiag", &e, USAGE),
    };
    let t = args.common.timeouts();
    let wanted = |name: &str| args.feature.as_deref().is_none_or(|w| w == name);
    common::write_out(&format!(
        "{}\n{BRAND} diagnostics on {}\n\n",
        common::banner(&inv.program),
        Stamp::now().long()
    ));
    let sources = path::read_sources(&path::license_path(args.common.license.as_deref()));
    let mut jobs: HashMap<(String, String), Job> = HashMap::new();
    let mut seen = 0;
    let mut failed = 0;
    let emit = |entry: &str, l: &Line, jobs: &mut HashMap<(String, String), Job>| {
        let outcome = try_checkout(jobs, entry, l, t);
        common::write_out(&report_line(l, &outcome));
        usize::from(outcome.is_err())
    };
    for s in &sources {
        match s {
            Source::Files { files, .. } => {
                for f in files {
                    let entry = f.path.display().to_string();
                    common::write_out(&format!("{RULE}\nLicense file: {entry}\n{RULE}\n"));
                    let specs = f.servers();
                    if specs.len() > 1 {
                        let reached = reach_all(&specs, t);
                        if let Some(b) = triad_block(&specs, &answers(&reached)) {
                            common::write_out(&b);
                        }
                    }
                    let servers: Vec<String> = specs.iter().map(|s| s.host.clone()).collect();
                    for feat in f.features().filter(|x| wanted(&x.name)) {
                        seen += 1;
                        failed += emit(&entry, &describe(feat, &servers), &mut jobs);
                    }
                }
            }
            Source::Servers { entry, servers } => {
                common::write_out(&format!("{RULE}\nLicense file: {entry}\n{RULE}\n"));
                let reached = reach_all(servers, t);
                if let Some(b) = triad_block(servers, &answers(&reached)) {
                    common::write_out(&b);
                }
                let lmgrd = match pick_lmgrd(servers, &reached) {
                    Ok(i) => match &reached[i] {
                        Ok(l) => l,
                        Err(_) => continue,
                    },
                    Err(why) => {
                        // The same words as for a license file whose
                        // server does not answer, not "no license line".
                        common::write_out(&unreachable(entry, &why));
                        seen += 1;
                        failed += 1;
                        continue;
                    }
                };
                for v in &lmgrd.status.vendors {
                    let status = lmgrd.vendor(&v.name, t).and_then(|mut c| c.status(""));
                    let features = match status {
                        Ok(s) => s.features,
                        Err(e) => {
                            common::write_out(&format!("Vendor daemon {}: {e}\n{RULE}\n", v.name));
                            failed += 1;
                            continue;
                        }
                    };
                    for fs in features.iter().filter(|x| wanted(&x.name)) {
                        let l = describe_served(fs, &v.name, lmgrd.label());
                        seen += 1;
                        failed += emit(entry, &l, &mut jobs);
                    }
                }
            }
            Source::Failed { entry, failure } => {
                common::write_out(&format!(
                    "{RULE}\nLicense file: {entry}\n{RULE}\nCannot use this entry: {failure}\n{RULE}\n"
                ));
                failed += 1;
            }
        }
    }
    if seen == 0 {
        match &args.feature {
            Some(f) => common::write_out(&format!("No license line for feature \"{f}\" found.\n")),
            None => common::write_out("No license line found.\n"),
        }
        return 1;
    }
    i32::from(failed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(text: &str) -> Feature {
        let file = grammar::parse_license("t.lic", text);
        file.entries
            .into_iter()
            .find_map(|e| match e.kind {
                grammar::EntryKind::Feature(f) => Some(f),
                _ => None,
            })
            .expect("a feature line")
    }

    #[test]
    fn descriptions() {
        let f = feature("FEATURE f1 demo 1.0 permanent 4 SIGN=\"x\"\n");
        let l = describe(&f, &["lic1".into()]);
        assert_eq!(l.lock, "floating license");
        assert_eq!(l.dates, "no expiration date");
        assert_eq!(l.server.as_deref(), Some("lic1"));
        let f = feature("FEATURE f2 demo 2.0 31-dec-2030 uncounted HOSTID=17007ea8 SIGN=\"x\"\n");
        let l = describe(&f, &[]);
        assert_eq!(
            l.lock,
            "uncounted nodelocked license, locked to \"17007ea8\""
        );
        assert_eq!(l.dates, "expires: 31-dec-2030");
        assert_eq!(l.server, None);
    }

    #[test]
    fn reports() {
        let l = Line {
            feature: "f1".into(),
            version: "1.0".into(),
            vendor: "demo".into(),
            server: Some("lic1".into()),
            lock: "floating license".into(),
            dates: "no expiration date".into(),
        };
        assert_eq!(
            report_line(&l, &Ok(())),
            format!(
                "\"f1\" v1.0, vendor: demo\n  License server: lic1\n  floating license  no expiration date\n\n\
                 This license can be checked out\n{RULE}\n"
            )
        );
        let denied = Err((
            "Licensed number of users already reached. (-4,342)".to_string(),
            String::new(),
        ));
        assert!(report_line(&l, &denied).contains(
            "This license cannot be checked out because:\n\tLicensed number of users already reached. (-4,342)\n"
        ));
    }

    fn triad_answer(host: &str, master: u32) -> StatusReply {
        StatusReply {
            next: 0,
            server: "lmgrd".into(),
            version: "0.1.0".into(),
            host: host.into(),
            port: 27005,
            vendors: Vec::new(),
            features: Vec::new(),
            license_files: Vec::new(),
            triad: [
                ("SERVER001", true),
                ("SERVER002", true),
                ("SERVER003", false),
            ]
            .iter()
            .zip(1u32..)
            .map(|(&(h, up), line)| wire::TriadMember {
                line,
                host: h.into(),
                port: 27005,
                up,
                master: line == master,
                reason: match (line == master, up) {
                    (true, _) => "leader of term 3".into(),
                    (false, true) => format!("follows SERVER00{master}"),
                    (false, false) => "no answer for 12 s".into(),
                },
            })
            .collect(),
        }
    }

    #[test]
    fn triad_blocks() {
        let servers: Vec<ServerSpec> = ["SERVER001", "SERVER002", "SERVER003"]
            .iter()
            .map(|h| ServerSpec {
                host: (*h).into(),
                port: Some(27005),
            })
            .collect();
        let down = LmFailure::new(wire::lmerr::LM_CANTCONNECT, 10);
        let answers = [
            Ok(triad_answer("SERVER001", 1)),
            Ok(triad_answer("SERVER002", 1)),
            Err(down.clone()),
        ];
        assert_eq!(
            triad_block(&servers, &answers).as_deref(),
            Some(
                "Triad as SERVER001 sees it:\n\
                 \x20 primary   27005@SERVER001: UP (MASTER): leader of term 3\n\
                 \x20 secondary 27005@SERVER002: UP: follows SERVER001\n\
                 \x20 tertiary  27005@SERVER003: DOWN: no answer for 12 s\n\
                 SERVER003 does not answer here: Cannot connect to license server system. (-15,10)\n\
                 -----------------------------------------------------\n"
            )
        );
        // The master does not answer here: the secondary's view, and no
        // member to ask for the features.
        let answers = [
            Err(down.clone()),
            Ok(triad_answer("SERVER002", 1)),
            Err(down),
        ];
        let block = triad_block(&servers, &answers).expect("a triad");
        assert!(
            block.starts_with("Triad as SERVER002 sees it:\n"),
            "{block}"
        );
        assert!(block.contains("The master, SERVER001, cannot be asked from here\n"));
        // A single server says nothing of triads.
        let mut single = triad_answer("SERVER001", 1);
        single.triad.clear();
        assert_eq!(triad_block(&servers[..1], &[Ok(single)]), None);
    }

    #[test]
    fn options() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            p(&["-n", "f1:VERSION=2.0"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts::default(),
                feature: Some("f1".into())
            }))
        );
        assert!(p(&["f1", "f2"]).is_err());
    }
}
