//! lmreread after the license files were read again: whether lmgrd takes
//! what it found, what it answers, and how its vendor daemons follow the
//! new file. Pure: `daemon.rs` reads the files and carries out the
//! supervisor's actions.

use super::config::{ConfigError, ReadError, ServeConfig};
use super::supervisor::{Action, Supervisor};
use wire::{lmerr, AdminReply};

/// Why the license files read again cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RereadError {
    /// Nothing could be read: the old files are still served.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// What was read cannot be served here.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Why lmreread changes nothing: the debug-log line, if any, and the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub log: Option<String>,
    pub reply: AdminReply,
}

/// Whether lmgrd takes the configuration `fresh` read for `lmreread`
/// (`vendor`: `-vendor`, empty for all).
pub fn check(fresh: Result<&ServeConfig, &RereadError>, vendor: &str) -> Result<(), Refusal> {
    let refuse = |log: Option<String>, code: i32, text: String| Refusal {
        log,
        reply: AdminReply { code, text },
    };
    match fresh {
        Err(RereadError::Read(e)) => Err(refuse(
            Some(format!("{e}: still serving the old license files")),
            lmerr::LM_SERVNOREADLIC,
            e.to_string(),
        )),
        Err(RereadError::Config(e)) => Err(refuse(
            Some(format!("{e}: still serving the old license file")),
            lmerr::LM_BADFILE,
            e.to_string(),
        )),
        Ok(c) if !vendor.is_empty() && !c.vendors.iter().any(|v| v.name == vendor) => Err(refuse(
            None,
            lmerr::LM_NOSERVSUPP,
            format!("no VENDOR line for {vendor}"),
        )),
        Ok(_) => Ok(()),
    }
}

/// Takes `fresh`, which [`check`] passed: running daemons that stay are
/// told to reread, new vendors are started, removed ones are stopped (as
/// the supervisor decides), and each daemon's program and files become the
/// new file's. Returns the supervisor's actions and then the lines that
/// close a reread in the debug log.
pub fn apply(
    config: &mut ServeConfig,
    supervisor: &mut Supervisor,
    fresh: &ServeConfig,
    vendor: &str,
    now: u64,
) -> Vec<Action> {
    let names: Vec<String> = fresh.vendors.iter().map(|v| v.name.clone()).collect();
    let only = (!vendor.is_empty()).then_some(vendor);
    let (added, mut actions) = supervisor.reread(&names, only, now);
    for spec in &fresh.vendors {
        if let Some(old) = config.vendors.iter_mut().find(|v| v.name == spec.name) {
            *old = spec.clone();
        }
    }
    // The supervisor's new slots come last, in order: the specs follow
    // them, so a slot's index is its spec's.
    for idx in added {
        let name = supervisor.name(idx);
        if let Some(spec) = fresh.vendors.iter().find(|v| v.name == name) {
            config.vendors.push(spec.clone());
        }
    }
    actions.extend(
        logfmt::banner::DONE_REREADING
            .iter()
            .map(|line| Action::Log(line.to_string())),
    );
    actions
}

/// The reply once a reread was applied.
pub fn done() -> AdminReply {
    AdminReply {
        code: 0,
        text: "lmreread successful".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::VendorSpec;
    use crate::serve::supervisor::Policy;
    use std::path::PathBuf;

    fn spec(name: &str, program: &str) -> VendorSpec {
        VendorSpec {
            name: name.into(),
            program: PathBuf::from(program),
            port: None,
            licenses: vec![PathBuf::from("a.lic")],
        }
    }

    fn config(vendors: Vec<VendorSpec>) -> ServeConfig {
        ServeConfig {
            server_host: "this_host".into(),
            port: Some(27000),
            vendors,
            host_warning: None,
            triad: None,
        }
    }

    #[test]
    fn files_that_cannot_be_read_or_served_change_nothing() {
        let unreadable = RereadError::Read(ReadError::List(
            hostenv::license_list::ListError::Empty("x".into()),
        ));
        let r = check(Err(&unreadable), "").unwrap_err();
        assert_eq!(r.reply.code, lmerr::LM_SERVNOREADLIC);
        assert_eq!(r.reply.text, "no license file in \"x\"");
        assert_eq!(
            r.log.as_deref(),
            Some("no license file in \"x\": still serving the old license files")
        );
        let bad = RereadError::Config(ConfigError::NoVendor("a.lic".into()));
        let r = check(Err(&bad), "").unwrap_err();
        assert_eq!(r.reply.code, lmerr::LM_BADFILE);
        assert_eq!(
            r.log.as_deref(),
            Some("a.lic: no VENDOR line: there is no vendor daemon to start: still serving the old license file")
        );
    }

    #[test]
    fn a_vendor_named_must_be_in_the_new_file() {
        let fresh = config(vec![spec("demo", "/opt/vendord")]);
        assert_eq!(check(Ok(&fresh), ""), Ok(()));
        assert_eq!(check(Ok(&fresh), "demo"), Ok(()));
        let r = check(Ok(&fresh), "acme").unwrap_err();
        assert_eq!(
            r,
            Refusal {
                log: None,
                reply: AdminReply {
                    code: lmerr::LM_NOSERVSUPP,
                    text: "no VENDOR line for acme".into(),
                },
            }
        );
    }

    #[test]
    fn daemons_follow_the_new_file() {
        let mut sup = Supervisor::new(["demo".to_string()], Policy::default());
        sup.spawned(0, 100, 0);
        let _ = sup.port_reported(100, 27100);
        let mut cfg = config(vec![spec("demo", "/opt/vendord")]);
        let fresh = config(vec![
            spec("demo", "/opt/new/vendord"),
            spec("acme", "/opt/acmed"),
        ]);
        let actions = apply(&mut cfg, &mut sup, &fresh, "", 5);
        assert_eq!(cfg.vendors, fresh.vendors, "program updated, acme added");
        assert_eq!(sup.len(), 2);
        assert_eq!(sup.name(1), "acme");
        assert!(actions.contains(&Action::Signal {
            pid: 100,
            signal: libc::SIGHUP
        }));
        let tail: Vec<Action> = logfmt::banner::DONE_REREADING
            .iter()
            .map(|l| Action::Log(l.to_string()))
            .collect();
        assert!(actions.ends_with(&tail), "{actions:?}");
        assert!(sup.tick(5).contains(&Action::Spawn(1)), "acme starts");
        assert_eq!(done().code, 0);
    }

    #[test]
    fn one_vendor_rereads_alone() {
        let mut sup = Supervisor::new(["demo".to_string(), "acme".to_string()], Policy::default());
        for (i, pid) in [(0, 100), (1, 200)] {
            sup.spawned(i, pid, 0);
            let _ = sup.port_reported(pid, 27100 + pid as u16);
        }
        let mut cfg = config(vec![spec("demo", "/a"), spec("acme", "/b")]);
        let fresh = cfg.clone();
        let actions = apply(&mut cfg, &mut sup, &fresh, "acme", 5);
        let hups: Vec<&Action> = actions
            .iter()
            .filter(|a| matches!(a, Action::Signal { .. }))
            .collect();
        assert_eq!(
            hups,
            vec![&Action::Signal {
                pid: 200,
                signal: libc::SIGHUP
            }]
        );
    }
}
