//! What the administration tools (lmdown, lmreread, lmremove, lmswitch...)
//! share: reaching the license servers of the path, and printing a
//! refused request.

use crate::common::LmFailure;
use crate::net::{self, Lmgrd, Timeouts};
use crate::path::{self, Resolved};
use wire::{lmerr, AdminReply};

/// One license server (or triad) of the path, as reached.
#[derive(Debug)]
pub struct Server {
    /// `port@host` (a triad's joined by commas), as FLEXlm lists servers.
    pub label: String,
    /// Every member that answered.
    pub members: Vec<Lmgrd>,
    /// Why the others did not.
    pub failures: Vec<(String, LmFailure)>,
}

impl Server {
    /// The vendor daemons lmgrd runs (from the first member).
    pub fn vendors(&self) -> Vec<String> {
        self.members
            .first()
            .map(|l| l.status.vendors.iter().map(|v| v.name.clone()).collect())
            .unwrap_or_default()
    }
}

/// Every license server of the license path `-c c` (or the environment).
/// Entries that cannot be read or reached are returned apart, with why.
pub fn servers(c: Option<&str>, t: Timeouts) -> (Vec<Server>, Vec<(String, LmFailure)>) {
    let sources = path::read_sources(&path::license_path(c));
    let mut reached = Vec::new();
    let mut failed = Vec::new();
    for r in path::targets(&sources) {
        match r {
            Resolved::Failed { entry, failure } => failed.push((entry, failure)),
            Resolved::Target(target) => {
                let mut server = Server {
                    label: String::new(),
                    members: Vec::new(),
                    failures: Vec::new(),
                };
                let mut labels = Vec::new();
                for spec in &target.servers {
                    match net::lmgrd(spec, t) {
                        Ok(l) => {
                            labels.push(l.label());
                            server.members.push(l);
                        }
                        Err(e) => {
                            labels.push(spec.to_string());
                            server.failures.push((spec.to_string(), e));
                        }
                    }
                }
                server.label = labels.join(",");
                if server.members.is_empty() {
                    let (_, e) = server.failures.remove(0);
                    failed.push((server.label, e));
                } else {
                    reached.push(server);
                }
            }
        }
    }
    (reached, failed)
}

/// A refused admin request, in FLEXlm's form, with the server's own words
/// when they say more: `Not a license administrator. (-63,0): ...`.
pub fn refusal(reply: &AdminReply) -> String {
    let known = lmerr::text(reply.code);
    let mut s = format!("{known} ({},0)", reply.code);
    if !reply.text.is_empty() && reply.text != known {
        s.push_str(": ");
        s.push_str(&reply.text);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let r = AdminReply {
            code: lmerr::LM_NOTLICADMIN,
            text: "lmdown is disabled on this server (-x lmdown)".into(),
        };
        assert_eq!(
            refusal(&r),
            "Not a license administrator. (-63,0): lmdown is disabled on this server (-x lmdown)"
        );
        let r = AdminReply {
            code: lmerr::LM_MUST_BE_LOCAL,
            text: lmerr::text(lmerr::LM_MUST_BE_LOCAL).into(),
        };
        assert_eq!(
            refusal(&r),
            "lmdown and lmreread must be run on license server machine. (-119,0)"
        );
    }
}
