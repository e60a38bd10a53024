//! Admin requests that reach the core: lmremove and its kin (the policy deciding who may ask is `crate::admin`).

use super::*;

impl Core {
    /// lmremove (by user, host and display, or by handle) and lmdown.
    /// Removed checkouts are revoked: their holder gets `Revoked`.
    pub fn admin(&mut self, now: u64, conn: ConnId, req: &AdminRequest) -> Effects {
        let mut fx = Effects::default();
        let reply = |fx: &mut Effects, code: i32, text: String| {
            fx.reply(conn, Message::AdminReply(AdminReply { code, text }));
        };
        if !req.vendor.is_empty() && req.vendor != self.config.vendor {
            reply(
                &mut fx,
                lmerr::LM_NOSERVSUPP,
                format!("This is the vendor daemon of {}.", self.config.vendor),
            );
            return fx;
        }
        let victims: Vec<(u64, ConnId)> = match req.op {
            admin_op::REMOVE_USER => self
                .holdings
                .iter()
                .filter(|(_, h)| {
                    (req.feature.is_empty() || *h.feature == *req.feature)
                        && *h.user == *req.user
                        && h.host.eq_ignore_ascii_case(&req.host)
                        && (req.display.is_empty() || *h.display == *req.display)
                })
                .map(|(handle, h)| (*handle, h.conn))
                .collect(),
            admin_op::REMOVE_HANDLE => self
                .holdings
                .get(&req.handle)
                .filter(|h| req.feature.is_empty() || *h.feature == *req.feature)
                .map(|h| (req.handle, h.conn))
                .into_iter()
                .collect(),
            admin_op::SHUTDOWN if !self.borrowed.is_empty() && !req.force => {
                reply(
                    &mut fx,
                    lmerr::LM_BORROW_DOWN,
                    format!(
                        "{} ({} license(s) borrowed; use -force: they stay borrowed across the restart)",
                        lmerr::text(lmerr::LM_BORROW_DOWN),
                        self.borrowed.len()
                    ),
                );
                return fx;
            }
            admin_op::SHUTDOWN => {
                reply(&mut fx, 0, "Shutting down.".into());
                fx.shutdown = true;
                return fx;
            }
            _ => {
                reply(
                    &mut fx,
                    lmerr::LM_BADPARAM,
                    "The vendor daemon does not do this; ask lmgrd.".into(),
                );
                return fx;
            }
        };
        // A lingering seat is no one's any more: FLEXlm refuses to remove
        // it. A borrowed one may be in use on a laptop far away: the same,
        // unless the administrator insists (`lmremove -force`, ours: a lost
        // laptop, or a borrow from before return secrets).
        let (lingering, victims): (Vec<_>, Vec<_>) =
            victims.into_iter().partition(|(handle, _)| {
                self.holdings.get(handle).is_some_and(|h| {
                    h.linger_until.is_some() || (h.borrow_until.is_some() && !req.force)
                })
            });
        if victims.is_empty() {
            let code = if lingering.is_empty() {
                lmerr::LM_NEVERCHECKOUT
            } else {
                lmerr::LM_REMOVE_LINGER
            };
            reply(&mut fx, code, lmerr::text(code).into());
            return fx;
        }
        let n = victims.len();
        for (handle, holder) in victims {
            self.release(handle, Some(InReason::Removed), &mut fx);
            fx.reply(
                holder,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_SERVER_REMOVED,
                    text: "License removed by the administrator.".into(),
                }),
            );
        }
        reply(&mut fx, 0, format!("Removed {n} license checkout(s)."));
        self.serve_queue(now, &mut fx);
        fx
    }
}
