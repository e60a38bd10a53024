//! Fills an `lmstat` [`Report`] from the servers: lmgrd's status (its
//! vendor daemons and their ports), then each vendor daemon's (features,
//! counts, holders). The license files on the path, when readable here,
//! add what the servers do not send: how a line is locked, its
//! vendor_string, and lines the server does not serve.

use super::model::*;
use super::Show;
use crate::common::{LmFailure, Stamp};
use crate::net::{self, Lmgrd, Timeouts};
use crate::path::{Resolved, Target};
use client::ServerSpec;
use grammar::{Expiry, Feature, HostId};
use wire::{lmerr, FeatureStatus, StatusReply, TriadMember};

/// The report for every target of the path.
pub fn report(
    banner: String,
    layout: Layout,
    targets: &[Resolved],
    show: &Show,
    t: Timeouts,
) -> Report {
    let time = Stamp::now();
    let mut sections = Vec::new();
    for r in targets {
        match r {
            Resolved::Failed { failure, .. } => sections.push(Section::Failed(failure.clone())),
            Resolved::Target(target) => {
                let reached: Vec<Result<Lmgrd, LmFailure>> =
                    target.servers.iter().map(|s| net::lmgrd(s, t)).collect();
                if let Some(wanted) = &show.server {
                    let named = target.servers.iter().zip(&reached).any(|(spec, r)| {
                        spec.host.eq_ignore_ascii_case(wanted)
                            || matches!(r, Ok(l) if l.status.host.eq_ignore_ascii_case(wanted))
                    });
                    if !named {
                        continue;
                    }
                }
                sections.push(section(target, &reached, show, t));
            }
        }
    }
    Report {
        banner,
        time,
        detecting: false,
        layout,
        sections,
    }
}

/// One target's section from what its servers answered, asking the
/// vendor daemons of the member that serves usage (see [`section_from`]).
pub fn section(
    target: &Target,
    reached: &[Result<Lmgrd, LmFailure>],
    show: &Show,
    t: Timeouts,
) -> Section {
    let answers: Vec<Result<StatusReply, LmFailure>> = reached
        .iter()
        .map(|r| r.as_ref().map(|l| l.status.clone()).map_err(Clone::clone))
        .collect();
    let feature = show.feature.as_deref().unwrap_or("");
    section_from(
        target,
        &answers,
        show,
        &mut |member, vendor| match &reached[member] {
            Ok(l) => l.vendor(vendor, t).and_then(|mut c| c.status(feature)),
            Err(e) => Err(e.clone()),
        },
    )
}

/// Asks vendor daemon `vendor` of member `member` (an index into the
/// target's servers) for its status.
pub type AskVendor<'a> = dyn FnMut(usize, &str) -> Result<StatusReply, LmFailure> + 'a;

/// One target's section from its servers' answers to lmstat (in the
/// target's order), without sockets: `ask` is called only for the
/// vendor daemons of the member that serves usage.
///
/// A single server, or servers that report no triad, are shown as they
/// always were: the first that answered is the master. A triad (members
/// that fill [`StatusReply::triad`]) is shown as FLEXlm shows one: every
/// member that answered is `UP`, the master (see [`triad_decision`]) with
/// `(MASTER)`, a member that did not answer with the error lmstat got
/// from it; the vendor daemon section is the master's, and no other
/// member is asked for usage. `License file(s) on` names the first member
/// that answered, as in FLEXlm's captures (which show it on a member that
/// is not master).
pub fn section_from(
    target: &Target,
    answers: &[Result<StatusReply, LmFailure>],
    show: &Show,
    ask: &mut AskVendor<'_>,
) -> Section {
    let files = target.files.join(":");
    let label: Vec<String> = target
        .servers
        .iter()
        .zip(answers)
        .map(|(spec, r)| match r {
            Ok(s) => format!("{}@{}", s.port, s.host),
            Err(_) => spec.to_string(),
        })
        .collect();
    let Some((first, first_status)) = answers
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.as_ref().ok().map(|s| (i, s)))
    else {
        let first_error = answers
            .iter()
            .find_map(|r| r.as_ref().err())
            .cloned()
            .unwrap_or_else(|| LmFailure::new(lmerr::LM_NOSERVER, 0));
        if !show.lm_only {
            return Section::Failed(first_error);
        }
        return Section::Server(ServerSection {
            label: label.join(","),
            files_host: target
                .servers
                .first()
                .map(|s| s.host.clone())
                .unwrap_or_default(),
            files,
            lmgrd: LmgrdState::NotRunning(first_error),
            vendors: None,
            triad: None,
        });
    };
    let statuses: Vec<Option<&StatusReply>> = answers.iter().map(|r| r.as_ref().ok()).collect();
    let decision = triad_decision(&target.servers, &statuses);
    // Without a triad, the first server that answered is the master.
    let master = decision.as_ref().map_or(Some(first), |d| d.master);
    let lines = target
        .servers
        .iter()
        .zip(answers)
        .enumerate()
        .map(|(i, (spec, r))| match r {
            Ok(s) => ServerLine {
                host: s.host.clone(),
                state: Ok(ServerUp {
                    master: master == Some(i),
                    version: s.version.clone(),
                }),
            },
            Err(e) => ServerLine {
                host: spec.host.clone(),
                state: Err(e.clone()),
            },
        })
        .collect();
    let vendors = show.vendors.then(|| match (&decision, master) {
        (None, _) => VendorSection {
            on: first_status.host.clone(),
            vendors: vendor_blocks(first_status, &target.features, show, &mut |v| ask(first, v)),
        },
        (Some(d), Some(m)) => match answers.get(m) {
            Some(Ok(ms)) if d.usage == Some(m) => VendorSection {
                on: ms.host.clone(),
                vendors: vendor_blocks(ms, &target.features, show, &mut |v| ask(m, v)),
            },
            // The triad names a master lmstat cannot reach: its vendor
            // daemons are listed as the member that answered knows them.
            other => {
                let why = match other {
                    Some(Err(e)) => e.clone(),
                    _ => LmFailure::new(lmerr::LM_CANTCONNECT, 0),
                };
                let view = statuses[d.view].unwrap_or(first_status);
                VendorSection {
                    on: master_host(&target.servers, view, m),
                    vendors: vendor_blocks(view, &target.features, show, &mut |_| Err(why.clone())),
                }
            }
        },
        // No master: no vendor daemon of the triad serves.
        (Some(d), None) => {
            let view = statuses[d.view].unwrap_or(first_status);
            VendorSection {
                on: view.host.clone(),
                vendors: vendor_blocks(view, &target.features, show, &mut |_| {
                    Err(LmFailure::new(lmerr::LM_VENDOR_DOWN, 121))
                }),
            }
        }
    });
    let triad = match &decision {
        Some(d) if show.triad => statuses[d.view].map(triad_view),
        _ => None,
    };
    // The server says which file it serves, as FLEXlm's lmstat shows it.
    let files = if first_status.license_files.is_empty() {
        files
    } else {
        first_status.license_files.join(":")
    };
    Section::Server(ServerSection {
        label: label.join(","),
        files_host: first_status.host.clone(),
        files,
        lmgrd: LmgrdState::Servers(lines),
        vendors,
        triad,
    })
}

/// The name of member `m` for `Vendor daemon status (on <host>):` when it
/// did not answer: as `view` calls it, else as the path does.
fn master_host(servers: &[ServerSpec], view: &StatusReply, m: usize) -> String {
    let statuses = [Some(view)];
    view.triad
        .iter()
        .find(|t| member_index(servers, &statuses, t) == Some(m))
        .map(|t| t.host.clone())
        .or_else(|| servers.get(m).map(|s| s.host.clone()))
        .unwrap_or_default()
}

/// A member's view of its triad, for `lmstat -triad` and lmdiag.
pub fn triad_view(s: &StatusReply) -> TriadView {
    let mut members: Vec<TriadLine> = s
        .triad
        .iter()
        .map(|m| TriadLine {
            line: m.line,
            host: m.host.clone(),
            port: m.port,
            up: m.up,
            master: m.master,
            reason: m.reason.clone(),
        })
        .collect();
    members.sort_by_key(|m| m.line);
    TriadView {
        seen_by: s.host.clone(),
        members,
    }
}

/// Who leads a triad, whose word says so, and whom lmstat asks for usage:
/// decided from the members' answers alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriadDecision {
    /// The member (an index into the path's servers) whose view of the
    /// triad is used.
    pub view: usize,
    /// The master, as that view says; `None` when no member is master
    /// (no quorum).
    pub master: Option<usize>,
    /// The member whose vendor daemons are asked for usage: the master,
    /// when it answered lmstat; never a member that is not master.
    pub usage: Option<usize>,
}

/// Decides, from what each member answered (`None`: it did not), which
/// member is master and whose view to trust. `None`: no member that
/// answered reports a triad (a single server, or an lmgrd without one).
///
/// Each member reports all three; the master's own view is preferred: a
/// member that answered and says it is master is the master. If two say
/// so (a transition: FLEXlm's lmstat was seen printing two `(MASTER)`
/// lines), the one more views name master wins, then the first in SERVER
/// line order. If none of the members that answered says it is master,
/// the master is the one a view names that lmstat could not reach (its
/// usage cannot be shown); a member named master that answered and denies
/// it is not believed. Otherwise there is no master.
pub fn triad_decision(
    servers: &[ServerSpec],
    answers: &[Option<&StatusReply>],
) -> Option<TriadDecision> {
    let views: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].is_some_and(|s| !s.triad.is_empty()))
        .collect();
    let first_view = *views.first()?;
    let named = |i: usize| -> Option<usize> {
        let m = answers[i]?.triad.iter().find(|m| m.master)?;
        member_index(servers, answers, m)
    };
    let votes = |c: usize| views.iter().filter(|&&j| named(j) == Some(c)).count();
    let claimed = views.iter().copied().filter(|&i| named(i) == Some(i)).fold(
        None,
        |best: Option<usize>, c| match best {
            Some(b) if votes(b) >= votes(c) => Some(b),
            _ => Some(c),
        },
    );
    if let Some(c) = claimed {
        return Some(TriadDecision {
            view: c,
            master: Some(c),
            usage: Some(c),
        });
    }
    for &i in &views {
        if let Some(m) = named(i) {
            if answers.get(m).is_none_or(Option::is_none) {
                return Some(TriadDecision {
                    view: i,
                    master: Some(m),
                    usage: None,
                });
            }
        }
    }
    Some(TriadDecision {
        view: first_view,
        master: None,
        usage: None,
    })
}

/// Which of the path's servers a view's member is: the member that
/// answered as that host and port, else the server the path names by that
/// host (and port), else the one at its SERVER line.
pub fn member_index(
    servers: &[ServerSpec],
    answers: &[Option<&StatusReply>],
    m: &TriadMember,
) -> Option<usize> {
    answers
        .iter()
        .position(|a| a.is_some_and(|s| s.port == m.port && same_host(&s.host, &m.host)))
        .filter(|&i| i < servers.len())
        .or_else(|| {
            servers
                .iter()
                .position(|s| same_host(&s.host, &m.host) && s.port.is_none_or(|p| p == m.port))
        })
        .or_else(|| {
            let i = usize::try_from(m.line).ok()?.checked_sub(1)?;
            (i < servers.len()).then_some(i)
        })
}

/// Host names that name the same machine: equal but for case, or one the
/// short form of the other (`SERVER001`, `server001.example.com`).
fn same_host(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
    if is_ip(a) || is_ip(b) {
        return false;
    }
    let short = |h: &str| h.split('.').next().unwrap_or(h).to_ascii_lowercase();
    (a.contains('.') != b.contains('.')) && short(a) == short(b)
}

fn vendor_blocks(
    lmgrd: &StatusReply,
    lines: &[Feature],
    show: &Show,
    ask: &mut dyn FnMut(&str) -> Result<StatusReply, LmFailure>,
) -> Vec<VendorBlock> {
    let mut blocks: Vec<VendorBlock> = lmgrd
        .vendors
        .iter()
        .filter(|v| show.vendor.as_ref().is_none_or(|w| *w == v.name))
        .map(|v| {
            let reply = ask(&v.name);
            let local: Vec<&Feature> = lines.iter().filter(|f| f.vendor == v.name).collect();
            let heading = if show.served_by {
                UsageHeading::ServedBy(v.name.clone())
            } else {
                UsageHeading::FeatureUsage
            };
            match reply {
                Ok(s) => VendorBlock {
                    name: v.name.clone(),
                    state: Ok(s.version.clone()),
                    usage: show.features.then(|| Usage {
                        heading,
                        features: features(&s, &v.name, lmgrd, &local, show),
                    }),
                },
                Err(e) => VendorBlock {
                    name: v.name.clone(),
                    usage: show.features.then(|| Usage {
                        heading,
                        features: names(&local, show)
                            .into_iter()
                            .map(|name| FeatureUsage {
                                name,
                                totals: Totals::Error(e.clone()),
                                blocks: Vec::new(),
                            })
                            .collect(),
                    }),
                    state: Err(e),
                },
            }
        })
        .collect();
    if let Some(wanted) = &show.feature {
        let listed = blocks
            .iter()
            .filter_map(|b| b.usage.as_ref())
            .any(|u| u.features.iter().any(|f| &f.name == wanted));
        if !listed {
            if let Some(u) = blocks
                .iter_mut()
                .filter(|b| b.state.is_ok())
                .find_map(|b| b.usage.as_mut())
            {
                u.features.push(FeatureUsage {
                    name: wanted.clone(),
                    totals: Totals::Error(LmFailure::new(lmerr::LM_NOFEATURE, 222)),
                    blocks: Vec::new(),
                });
            }
        }
    }
    blocks
}

/// Feature names of local lines that pass the filters, in file order.
fn names(local: &[&Feature], show: &Show) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in local {
        if show.feature.as_ref().is_some_and(|w| *w != f.name) || show.active_only {
            continue;
        }
        if !out.iter().any(|n| *n == f.name) {
            out.push(f.name.to_string());
        }
    }
    out
}

/// `Users of` entries from one vendor daemon's status.
pub fn features(
    s: &StatusReply,
    vendor: &str,
    lmgrd: &StatusReply,
    local: &[&Feature],
    show: &Show,
) -> Vec<FeatureUsage> {
    let mut out: Vec<FeatureUsage> = Vec::new();
    let mut order: Vec<&str> = Vec::new();
    for f in &s.features {
        if !order.contains(&f.name.as_str()) {
            order.push(&f.name);
        }
    }
    for name in order {
        if show.feature.as_ref().is_some_and(|w| w != name) {
            continue;
        }
        let pools: Vec<&FeatureStatus> = s.features.iter().filter(|f| f.name == name).collect();
        let counted: Vec<&&FeatureStatus> = pools.iter().filter(|p| p.counted).collect();
        let totals = if counted.is_empty() {
            Totals::Uncounted
        } else {
            Totals::Counted {
                issued: counted.iter().map(|p| p.issued).sum(),
                in_use: counted.iter().map(|p| p.in_use).sum(),
            }
        };
        // A block shows users or reservations, as FLEXlm's (a reserved,
        // idle line still has its RESERVATION lines).
        let blocks: Vec<LineBlock> = pools
            .iter()
            .filter(|p| !p.holders.is_empty() || !p.reservations.is_empty())
            .map(|p| line_block(p, vendor, lmgrd, local))
            .collect();
        if show.active_only && blocks.is_empty() {
            continue;
        }
        out.push(FeatureUsage {
            name: name.to_string(),
            totals,
            blocks,
        });
    }
    if !show.active_only {
        let mut unsupported: Vec<(String, u32)> = Vec::new();
        for f in local {
            if f.count == 0
                || s.features.iter().any(|p| p.name == f.name)
                || show.feature.as_ref().is_some_and(|w| *w != f.name)
            {
                continue;
            }
            match unsupported.iter_mut().find(|(n, _)| *n == f.name) {
                Some((_, c)) => *c += f.count,
                None => unsupported.push((f.name.to_string(), f.count)),
            }
        }
        out.extend(unsupported.into_iter().map(|(name, count)| FeatureUsage {
            name,
            totals: Totals::Unsupported { count },
            blocks: Vec::new(),
        }));
    }
    out
}

fn line_block(
    p: &FeatureStatus,
    vendor: &str,
    lmgrd: &StatusReply,
    local: &[&Feature],
) -> LineBlock {
    let line = local
        .iter()
        .find(|f| {
            f.name == p.name && f.version.as_written() == p.version && (f.count > 0) == p.counted
        })
        .or_else(|| local.iter().find(|f| f.name == p.name));
    // The server's word first; the local file only fills in for older servers.
    let served_ids = HostId::parse_list(&p.hostids).ok();
    let ids: Option<&Vec<HostId>> = served_ids
        .as_ref()
        .or_else(|| line.and_then(|f| f.hostids.as_ref()))
        .filter(|v| !v.is_empty());
    let lock = lock_of(p.counted, ids.map(Vec::as_slice));
    LineBlock {
        feature: p.name.clone(),
        version: p.version.clone(),
        vendor: vendor.to_string(),
        expiry: Some(expiry_text(&p.expiry)),
        vendor_string: if p.vendor_string.is_empty() {
            line.and_then(|f| f.vendor_string.as_deref().map(str::to_string))
        } else {
            Some(p.vendor_string.clone())
        },
        lock,
        reservations: p
            .reservations
            .iter()
            .map(|r| Reservation {
                count: r.count,
                kind: r.kind.clone(),
                name: r.name.clone(),
                server: format!("{}/{}", lmgrd.host, lmgrd.port),
            })
            .collect(),
        users: p
            .holders
            .iter()
            .map(|h| UserLine {
                user: h.user.clone(),
                host: h.host.clone(),
                display: h.display.clone(),
                extra: None,
                version: if h.requested_version.is_empty() {
                    h.version.clone()
                } else {
                    h.requested_version.clone()
                },
                server_host: lmgrd.host.clone(),
                server_port: lmgrd.port.to_string(),
                handle: h.handle,
                state: if h.queued {
                    UserState::Queued { count: h.count }
                } else {
                    UserState::Using {
                        start: Stamp::local(h.started),
                        count: h.count,
                        // A borrowed seat shows its borrow length, a
                        // lingering one its LINGER, as FLEXlm prints them.
                        linger: (h.linger > 0).then_some((h.linger.into(), None)),
                        pid: None,
                    }
                },
            })
            .collect(),
        omitted: p.omitted,
    }
}

/// How a line is locked, from whether it is counted and its HOSTID
/// (`None` or empty: none). lmstat and lmdiag describe lines alike.
pub fn lock_of(counted: bool, ids: Option<&[HostId]>) -> Lock {
    let ids = ids.filter(|v| !v.is_empty());
    match (counted, ids) {
        (true, Some(ids)) if !ids.iter().all(HostId::is_unrestricted) => {
            Lock::NodeLocked(grammar::hostid::display_list(ids))
        }
        (true, _) => Lock::Floating,
        (false, Some(ids)) if ids.iter().any(|i| matches!(i, HostId::Any)) => Lock::UncountedAny,
        (false, Some(ids)) => Lock::UncountedNodeLocked(grammar::hostid::display_list(ids)),
        (false, None) => Lock::Uncounted,
    }
}

/// An expiry as lmstat prints it.
pub fn expiry_text(expiry: &str) -> String {
    if expiry.is_empty() || expiry.eq_ignore_ascii_case("permanent") {
        "permanent(no expiration date)".to_string()
    } else {
        expiry.to_string()
    }
}

/// `lmstat -i` rows from what vendor daemon `vendor` serves: for a
/// `port@host` entry there is no license file here to read.
pub fn served_rows(vendor: &str, s: &StatusReply, feature: Option<&str>) -> Vec<IncrementRow> {
    s.features
        .iter()
        .filter(|f| feature.is_none_or(|w| w == f.name))
        .map(|f| IncrementRow {
            feature: f.name.clone(),
            version: f.version.clone(),
            count: if f.counted {
                f.issued.to_string()
            } else {
                "uncounted".to_string()
            },
            expires: expiry_text(&f.expiry),
            vendor: vendor.to_string(),
        })
        .collect()
}

/// `lmstat -i` rows from the license files' lines.
pub fn increment_rows(lines: &[Feature], feature: Option<&str>) -> Vec<IncrementRow> {
    lines
        .iter()
        .filter(|f| feature.is_none_or(|w| w == f.name))
        .map(|f| IncrementRow {
            feature: f.name.to_string(),
            version: f.version.as_written().to_string(),
            count: if f.count == 0 {
                "uncounted".to_string()
            } else {
                f.count.to_string()
            },
            expires: match f.expiry {
                Expiry::Permanent => "permanent(no expiration date)".to_string(),
                Expiry::On(d) => d.to_string(),
            },
            vendor: f.vendor.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use wire::VendorState;

    fn spec(host: &str) -> ServerSpec {
        ServerSpec {
            host: host.into(),
            port: Some(27005),
        }
    }

    fn triad_specs() -> Vec<ServerSpec> {
        ["s1", "s2", "s3"].into_iter().map(spec).collect()
    }

    /// What member `host` answers: it sees `up` members up and `master`
    /// as master (a 1-based SERVER line, 0 for none).
    fn answer(host: &str, up: [bool; 3], master: u32) -> StatusReply {
        StatusReply {
            next: 0,
            server: "lmgrd".into(),
            version: "0.1.0".into(),
            host: host.into(),
            port: 27005,
            vendors: vec![VendorState {
                name: "demo".into(),
                up: true,
                port: 40000,
                version: "0.1.0".into(),
            }],
            features: Vec::new(),
            license_files: vec![format!("/licenses/{host}.lic")],
            triad: (1..=3u32)
                .map(|line| TriadMember {
                    line,
                    host: format!("s{line}"),
                    port: 27005,
                    up: up[line as usize - 1],
                    master: line == master,
                    reason: format!("as {host} sees s{line}"),
                })
                .collect(),
        }
    }

    fn decide(answers: &[Option<StatusReply>]) -> Option<TriadDecision> {
        let refs: Vec<Option<&StatusReply>> = answers.iter().map(Option::as_ref).collect();
        triad_decision(&triad_specs(), &refs)
    }

    fn d(view: usize, master: Option<usize>, usage: Option<usize>) -> Option<TriadDecision> {
        Some(TriadDecision {
            view,
            master,
            usage,
        })
    }

    const ALL: [bool; 3] = [true, true, true];

    #[test]
    fn every_member_up_and_agreeing() {
        let a: Vec<_> = ["s1", "s2", "s3"]
            .iter()
            .map(|h| Some(answer(h, ALL, 2)))
            .collect();
        assert_eq!(decide(&a), d(1, Some(1), Some(1)));
    }

    #[test]
    fn one_member_down() {
        // The tertiary does not answer: the secondary is master.
        let up = [true, true, false];
        let a = [Some(answer("s1", up, 2)), Some(answer("s2", up, 2)), None];
        assert_eq!(decide(&a), d(1, Some(1), Some(1)));
        // The primary does not answer; the secondary took over.
        let up = [false, true, true];
        let a = [None, Some(answer("s2", up, 2)), Some(answer("s3", up, 2))];
        assert_eq!(decide(&a), d(1, Some(1), Some(1)));
    }

    #[test]
    fn a_master_lmstat_cannot_reach() {
        // The members see the primary as master, but it does not answer
        // here: its usage cannot be asked, and nobody else is.
        let a = [None, Some(answer("s2", ALL, 1)), Some(answer("s3", ALL, 1))];
        assert_eq!(decide(&a), d(1, Some(0), None));
    }

    #[test]
    fn no_quorum_no_master() {
        let up = [true, false, false];
        let a = [Some(answer("s1", up, 0)), None, None];
        assert_eq!(decide(&a), d(0, None, None));
    }

    #[test]
    fn two_members_saying_they_are_master() {
        // A transition: the old master has not heard of the new one yet.
        // The one the most views name wins.
        let a = [
            Some(answer("s1", ALL, 1)),
            Some(answer("s2", ALL, 2)),
            Some(answer("s3", ALL, 2)),
        ];
        assert_eq!(decide(&a), d(1, Some(1), Some(1)));
        // A tie: the first in SERVER line order.
        let a = [Some(answer("s1", ALL, 1)), Some(answer("s2", ALL, 2)), None];
        assert_eq!(decide(&a), d(0, Some(0), Some(0)));
    }

    #[test]
    fn a_member_named_master_that_denies_it_is_not_believed() {
        // s3's view is stale: s1 answers and says it is not master.
        let a = [
            Some(answer("s1", ALL, 0)),
            Some(answer("s2", ALL, 0)),
            Some(answer("s3", ALL, 1)),
        ];
        assert_eq!(decide(&a), d(0, None, None));
    }

    #[test]
    fn a_single_server_is_no_triad() {
        let mut single = answer("s1", ALL, 1);
        single.triad.clear();
        assert_eq!(decide(&[Some(single), None, None]), None);
        assert_eq!(decide(&[None, None, None]), None);
    }

    #[test]
    fn members_are_matched_by_name_then_by_line() {
        let m = |line: u32, host: &str| TriadMember {
            line,
            host: host.into(),
            port: 27005,
            up: true,
            master: false,
            reason: String::new(),
        };
        // The path lists the triad in another order, with full names.
        let path: Vec<ServerSpec> = ["s3.example.com", "S1.example.com", "s2.example.com"]
            .into_iter()
            .map(spec)
            .collect();
        assert_eq!(
            member_index(&path, &[None, None, None], &m(1, "s1")),
            Some(1)
        );
        assert_eq!(
            member_index(&path, &[None, None, None], &m(3, "s3")),
            Some(0)
        );
        // Addresses name nobody: the SERVER line decides.
        let ips: Vec<ServerSpec> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .into_iter()
            .map(spec)
            .collect();
        assert_eq!(
            member_index(&ips, &[None, None, None], &m(2, "s2")),
            Some(1)
        );
        // A member that answered under its own name is that member.
        let s2 = answer("s2", ALL, 2);
        assert_eq!(
            member_index(&ips, &[None, None, Some(&s2)], &m(2, "s2")),
            Some(2)
        );
        assert!(!same_host("10.0.0.1", "10.0.0.2"));
        assert!(!same_host("s1.a.com", "s1.b.com"));
        assert!(same_host("SERVER001", "server001.example.com"));
    }

    fn target() -> Target {
        Target {
            servers: triad_specs(),
            files: vec!["27005@s1,27005@s2,27005@s3".into()],
            features: Vec::new(),
        }
    }

    fn show_all() -> Show {
        Show {
            vendors: true,
            features: true,
            ..Show::default()
        }
    }

    /// The section for these answers, and the members asked for usage.
    fn gathered(answers: &[Result<StatusReply, LmFailure>], show: &Show) -> (Section, Vec<usize>) {
        let asked = RefCell::new(Vec::new());
        let section = section_from(&target(), answers, show, &mut |member, vendor| {
            asked.borrow_mut().push(member);
            Ok(StatusReply {
                next: 0,
                server: vendor.into(),
                version: "0.1.0".into(),
                host: String::new(),
                port: 40000,
                vendors: Vec::new(),
                features: Vec::new(),
                license_files: Vec::new(),
                triad: Vec::new(),
            })
        });
        (section, asked.into_inner())
    }

    fn server(s: &Section) -> &ServerSection {
        match s {
            Section::Server(s) => s,
            Section::Failed(e) => panic!("failed: {e}"),
        }
    }

    fn masters(s: &ServerSection) -> Vec<(String, Option<bool>)> {
        match &s.lmgrd {
            LmgrdState::Servers(lines) => lines
                .iter()
                .map(|l| (l.host.clone(), l.state.as_ref().ok().map(|u| u.master)))
                .collect(),
            LmgrdState::NotRunning(e) => panic!("not running: {e}"),
        }
    }

    fn refused() -> LmFailure {
        LmFailure::new(lmerr::LM_CANTCONNECT, 10).with_errno(libc::ECONNREFUSED)
    }

    #[test]
    fn one_member_down_only_the_master_is_asked() {
        let up = [true, true, false];
        let (s, asked) = gathered(
            &[
                Ok(answer("s1", up, 2)),
                Ok(answer("s2", up, 2)),
                Err(refused()),
            ],
            &show_all(),
        );
        assert_eq!(asked, vec![1]);
        let s = server(&s);
        assert_eq!(s.label, "27005@s1,27005@s2,27005@s3");
        assert_eq!(
            masters(s),
            vec![
                ("s1".to_string(), Some(false)),
                ("s2".to_string(), Some(true)),
                ("s3".to_string(), None),
            ]
        );
        // As in FLEXlm's captures: the files of the first member that
        // answered, the vendor daemons of the master.
        assert_eq!(
            (s.files_host.as_str(), s.files.as_str()),
            ("s1", "/licenses/s1.lic")
        );
        let v = s.vendors.as_ref().expect("vendor section");
        assert_eq!(v.on, "s2");
        assert_eq!(v.vendors[0].state, Ok("0.1.0".to_string()));
        assert_eq!(s.triad, None);
        // Under -triad, the master's view with its reasons.
        let show = Show {
            triad: true,
            ..show_all()
        };
        let (s, _) = gathered(
            &[
                Ok(answer("s1", up, 2)),
                Ok(answer("s2", up, 2)),
                Err(refused()),
            ],
            &show,
        );
        let t = server(&s).triad.clone().expect("the triad view");
        assert_eq!(t.seen_by, "s2");
        assert_eq!(t.members.len(), 3);
        assert!(t.members[1].master && !t.members[2].up);
        assert_eq!(t.members[2].reason, "as s2 sees s3");
    }

    #[test]
    fn an_unreachable_master_is_not_replaced_by_a_standby() {
        let (s, asked) = gathered(
            &[
                Err(refused()),
                Ok(answer("s2", ALL, 1)),
                Ok(answer("s3", ALL, 1)),
            ],
            &show_all(),
        );
        assert!(asked.is_empty(), "asked {asked:?}");
        let s = server(&s);
        assert_eq!(
            masters(s),
            vec![
                ("s1".to_string(), None),
                ("s2".to_string(), Some(false)),
                ("s3".to_string(), Some(false)),
            ]
        );
        let v = s.vendors.as_ref().expect("vendor section");
        assert_eq!(v.on, "s1");
        assert_eq!(v.vendors[0].state, Err(refused()));
    }

    #[test]
    fn without_quorum_the_vendor_daemons_are_down() {
        let up = [true, false, false];
        let (s, asked) = gathered(
            &[Ok(answer("s1", up, 0)), Err(refused()), Err(refused())],
            &show_all(),
        );
        assert!(asked.is_empty(), "asked {asked:?}");
        let s = server(&s);
        assert_eq!(masters(s)[0], ("s1".to_string(), Some(false)));
        let v = s.vendors.as_ref().expect("vendor section");
        assert_eq!(v.on, "s1");
        assert_eq!(
            v.vendors[0].state,
            Err(LmFailure::new(lmerr::LM_VENDOR_DOWN, 121))
        );
    }

    #[test]
    fn servers_without_a_triad_keep_the_first_answer_as_master() {
        let mut a = answer("s2", ALL, 0);
        a.triad.clear();
        let mut b = answer("s3", ALL, 0);
        b.triad.clear();
        let (s, asked) = gathered(&[Err(refused()), Ok(a), Ok(b)], &show_all());
        assert_eq!(asked, vec![1]);
        let s = server(&s);
        assert_eq!(
            masters(s),
            vec![
                ("s1".to_string(), None),
                ("s2".to_string(), Some(true)),
                ("s3".to_string(), Some(false)),
            ]
        );
        assert_eq!(s.vendors.as_ref().map(|v| v.on.as_str()), Some("s2"));
    }

    /// lmstat's exit status: whole only when every server entry and every
    /// vendor daemon it lists was read; a member of a triad being down
    /// is not a gap when the others answered.
    #[test]
    fn a_report_is_whole_only_when_every_vendor_daemon_answered() {
        let report = |sections: Vec<Section>| Report {
            banner: String::new(),
            time: Stamp::now(),
            detecting: false,
            layout: Layout::Modern,
            sections,
        };
        let up = [true, true, false];
        let (one_down, _) = gathered(
            &[
                Ok(answer("s1", up, 1)),
                Ok(answer("s2", up, 1)),
                Err(refused()),
            ],
            &show_all(),
        );
        assert!(report(vec![one_down.clone()]).read_everything());
        let (no_quorum, _) = gathered(
            &[
                Ok(answer("s1", [true, false, false], 0)),
                Err(refused()),
                Err(refused()),
            ],
            &show_all(),
        );
        assert!(!report(vec![no_quorum]).read_everything());
        assert!(!report(vec![one_down, Section::Failed(refused())]).read_everything());
    }
}
