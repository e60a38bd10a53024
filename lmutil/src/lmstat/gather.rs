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
use grammar::{Expiry, Feature, HostId};
use wire::{lmerr, FeatureStatus, StatusReply};

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

/// One target's section from what its servers answered.
pub fn section(
    target: &Target,
    reached: &[Result<Lmgrd, LmFailure>],
    show: &Show,
    t: Timeouts,
) -> Section {
    let files = target.files.join(":");
    let master = reached.iter().find_map(|r| r.as_ref().ok());
    let label: Vec<String> = target
        .servers
        .iter()
        .zip(reached)
        .map(|(spec, r)| match r {
            Ok(l) => l.label(),
            Err(_) => spec.to_string(),
        })
        .collect();
    let Some(master) = master else {
        let first_error = reached
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
        });
    };
    let mut master_seen = false;
    let lines = target
        .servers
        .iter()
        .zip(reached)
        .map(|(spec, r)| match r {
            Ok(l) => {
                let is_master = !master_seen;
                master_seen = true;
                ServerLine {
                    host: l.status.host.clone(),
                    state: Ok(ServerUp {
                        master: is_master,
                        version: l.status.version.clone(),
                    }),
                }
            }
            Err(e) => ServerLine {
                host: spec.host.clone(),
                state: Err(e.clone()),
            },
        })
        .collect();
    let vendors = show.vendors.then(|| VendorSection {
        on: master.status.host.clone(),
        vendors: vendor_blocks(master, &target.features, show, t),
    });
    // The server says which file it serves, as FLEXlm's lmstat shows it.
    let files = if master.status.license_files.is_empty() {
        files
    } else {
        master.status.license_files.join(":")
    };
    Section::Server(ServerSection {
        label: label.join(","),
        files_host: master.status.host.clone(),
        files,
        lmgrd: LmgrdState::Servers(lines),
        vendors,
    })
}

fn vendor_blocks(lmgrd: &Lmgrd, lines: &[Feature], show: &Show, t: Timeouts) -> Vec<VendorBlock> {
    let mut blocks: Vec<VendorBlock> = lmgrd
        .status
        .vendors
        .iter()
        .filter(|v| show.vendor.as_ref().is_none_or(|w| *w == v.name))
        .map(|v| {
            let reply = lmgrd
                .vendor(&v.name, t)
                .and_then(|mut c| c.status(show.feature.as_deref().unwrap_or("")));
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
                        features: features(&s, &v.name, &lmgrd.status, &local, show),
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
        if !out.contains(&f.name) {
            out.push(f.name.clone());
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
        let blocks: Vec<LineBlock> = pools
            .iter()
            .filter(|p| !p.holders.is_empty())
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
                None => unsupported.push((f.name.clone(), f.count)),
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
    let lock = match (p.counted, ids) {
        (true, Some(ids)) if !ids.iter().all(HostId::is_unrestricted) => {
            Lock::NodeLocked(grammar::hostid::display_list(ids))
        }
        (true, _) => Lock::Floating,
        (false, Some(ids)) if ids.iter().any(|i| matches!(i, HostId::Any)) => Lock::UncountedAny,
        (false, Some(ids)) => Lock::UncountedNodeLocked(grammar::hostid::display_list(ids)),
        (false, None) => Lock::Uncounted,
    };
    LineBlock {
        feature: p.name.clone(),
        version: p.version.clone(),
        vendor: vendor.to_string(),
        expiry: Some(expiry_text(&p.expiry)),
        vendor_string: if p.vendor_string.is_empty() {
            line.and_then(|f| f.vendor_string.clone())
        } else {
            Some(p.vendor_string.clone())
        },
        lock,
        reservations: Vec::new(),
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

/// `lmstat -i` rows from the license files' lines.
pub fn increment_rows(lines: &[Feature], feature: Option<&str>) -> Vec<IncrementRow> {
    lines
        .iter()
        .filter(|f| feature.is_none_or(|w| w == f.name))
        .map(|f| IncrementRow {
            feature: f.name.clone(),
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
            vendor: f.vendor.clone(),
        })
        .collect()
}
