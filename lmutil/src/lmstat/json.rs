//! `lmstat -json` (ours): the status document of [`crate::statusdoc`],
//! the same one lmgrd serves at `/api/1.0/status`, one line per server
//! group on the license path. In a triad the master is asked when a
//! standby names it.

use crate::common::{self, LmFailure};
use crate::net::Timeouts;
use crate::path::{Resolved, Target};
use crate::statusdoc::{self, StatusDoc};

/// Prints one document per target; status 1 when a target could not be
/// read, or a vendor daemon's usage is missing from its document (the
/// document says why, in the vendor's `error`).
pub fn run(targets: &[Resolved], t: Timeouts) -> i32 {
    let mut complete = true;
    for r in targets {
        match r {
            Resolved::Failed { entry, failure } => {
                complete = false;
                common::write_err(&format!("lmstat: {entry}: {failure}\n"));
            }
            Resolved::Target(target) => match document(target, t) {
                Ok(doc) => {
                    complete &= doc.vendors.iter().all(|v| v.error.is_none());
                    let line = serde_json::to_string(&doc).unwrap_or_default();
                    common::write_out(&format!("{line}\n"));
                }
                Err(e) => {
                    complete = false;
                    common::write_err(&format!("lmstat: {}: {e}\n", target.files.join(":")));
                }
            },
        }
    }
    i32::from(!complete)
}

/// The document of the first server that answers, or of the master it
/// names.
fn document(target: &Target, t: Timeouts) -> Result<StatusDoc, LmFailure> {
    let mut first_error = None;
    for spec in &target.servers {
        match statusdoc::gather(spec, t) {
            Ok(replies) => {
                let doc = statusdoc::build(&replies, statusdoc::unix_now());
                if doc.role != "standby" {
                    return Ok(doc);
                }
                let master = target.servers.iter().find(|s| {
                    doc.master
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(&s.host))
                });
                let from_master = master
                    .and_then(|m| statusdoc::gather(m, t).ok())
                    .map(|r| statusdoc::build(&r, statusdoc::unix_now()));
                return Ok(from_master.unwrap_or(doc));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| LmFailure::new(wire::lmerr::LM_NOSERVER, 0)))
}
