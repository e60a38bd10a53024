//! Who may ask for an admin request (lmdown, lmreread, lmremove, log
//! switches): lmgrd's `-x lmdown`, `-x lmremove`, `-local` and `-2 -p`,
//! decided the same way by lmgrd and by the vendor daemons.
//!
//! Pure: the daemons pass in how to learn who a local peer is (the
//! kernel's socket table and the user database, in `hostenv::peer`).

use std::net::{IpAddr, SocketAddr};
use wire::admin_op;

/// What lmgrd was told to allow (`-x lmdown`, `-x lmremove`, `-local`, `-2 -p`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminPolicy {
    /// `-x lmdown`: lmdown refused.
    pub no_lmdown: bool,
    /// `-x lmremove`: lmremove refused.
    pub no_lmremove: bool,
    /// Admin requests only from this machine.
    pub local_only: bool,
    /// Admin requests only from root or members of group `lmadmin`.
    pub admins_only: bool,
}

/// Why an admin request is refused, with FLEXlm's error number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// FLEXlm's error number (`wire::lmerr`).
    pub code: i32,
    /// What the requester is told.
    pub text: String,
}

fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(addr, |v4| SocketAddr::new(IpAddr::V4(v4), addr.port())),
        IpAddr::V4(_) => addr,
    }
}

/// Our end of a connection from `peer` to a listener bound to
/// `listening`: a listener on the unspecified address answers on the
/// address the peer reached, which is the peer's own for a local client.
pub fn local_end(listening: SocketAddr, peer: SocketAddr) -> SocketAddr {
    if listening.ip().is_unspecified() {
        SocketAddr::new(peer.ip(), listening.port())
    } else {
        listening
    }
}

/// What kind of admin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminKind {
    /// lmdown: stop the server or one vendor daemon.
    Down,
    /// lmreread: read the license file again.
    Reread,
    /// lmremove: take a user's or a handle's seats back.
    Remove,
    /// lmswitch, lmswitchr, lmnewlog: switch a log file.
    SwitchLog,
}

impl AdminKind {
    /// Which kind of admin request `op` (a [`wire::admin_op`]) is.
    pub fn of(op: u8) -> AdminKind {
        match op {
            admin_op::SHUTDOWN => AdminKind::Down,
            admin_op::REREAD => AdminKind::Reread,
            admin_op::REMOVE_USER | admin_op::REMOVE_HANDLE => AdminKind::Remove,
            _ => AdminKind::SwitchLog,
        }
    }
}

impl AdminPolicy {
    /// Decides whether the request of `kind` from `peer` (to our `local`
    /// address) may go ahead. `who` tells the uid owning a local peer's
    /// end and whether that user is a license administrator; it is asked
    /// only when the policy needs it, and only for peers on this machine.
    pub fn check_with(
        &self,
        kind: AdminKind,
        local: SocketAddr,
        peer: SocketAddr,
        who: impl Fn(SocketAddr, SocketAddr) -> Option<(u32, bool)>,
    ) -> Result<(), Refusal> {
        use wire::lmerr;
        if kind == AdminKind::Down && self.no_lmdown {
            return Err(Refusal {
                code: lmerr::LM_NOTLICADMIN,
                text: "lmdown is disabled on this license server (-x lmdown)".into(),
            });
        }
        if kind == AdminKind::Remove && self.no_lmremove {
            return Err(Refusal {
                code: lmerr::LM_NOTLICADMIN,
                text: "lmremove is disabled on this license server (-x lmremove)".into(),
            });
        }
        let is_local =
            normalize(peer).ip().is_loopback() || normalize(peer).ip() == normalize(local).ip();
        if self.local_only && !is_local && matches!(kind, AdminKind::Down | AdminKind::Reread) {
            return Err(Refusal {
                code: lmerr::LM_MUST_BE_LOCAL,
                text: lmerr::text(lmerr::LM_MUST_BE_LOCAL).into(),
            });
        }
        if self.admins_only {
            let uid = if is_local {
                who(normalize(local), normalize(peer))
            } else {
                None
            };
            match uid {
                Some((_, true)) => {}
                Some((uid, false)) => {
                    return Err(Refusal {
                        code: lmerr::LM_NOTLICADMIN,
                        text: format!("{} (uid {uid} is neither root nor in group lmadmin)", lmerr::text(lmerr::LM_NOTLICADMIN)),
                    })
                }
                None => {
                    return Err(Refusal {
                        code: lmerr::LM_NOTLICADMIN,
                        text: format!("{} (the request does not come from this machine, so its user cannot be verified)", lmerr::text(lmerr::LM_NOTLICADMIN)),
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn request_kinds() {
        assert_eq!(AdminKind::of(admin_op::SHUTDOWN), AdminKind::Down);
        assert_eq!(AdminKind::of(admin_op::REREAD), AdminKind::Reread);
        assert_eq!(AdminKind::of(admin_op::REMOVE_USER), AdminKind::Remove);
        assert_eq!(AdminKind::of(admin_op::REMOVE_HANDLE), AdminKind::Remove);
        assert_eq!(AdminKind::of(admin_op::SWITCH_LOG), AdminKind::SwitchLog);
    }

    #[test]
    fn policy_decisions() {
        let local = addr("127.0.0.1:27000");
        let me = addr("127.0.0.1:40000");
        let remote = addr("10.1.2.3:40000");
        let open = AdminPolicy::default();
        assert!(open
            .check_with(AdminKind::Down, local, remote, |_, _| None)
            .is_ok());
        let no_down = AdminPolicy {
            no_lmdown: true,
            ..open
        };
        assert_eq!(
            no_down
                .check_with(AdminKind::Down, local, me, |_, _| Some((0, true)))
                .unwrap_err()
                .code,
            -63
        );
        assert!(no_down
            .check_with(AdminKind::Reread, local, me, |_, _| Some((0, true)))
            .is_ok());
        let local_only = AdminPolicy {
            local_only: true,
            ..open
        };
        assert_eq!(
            local_only
                .check_with(AdminKind::Reread, local, remote, |_, _| None)
                .unwrap_err()
                .code,
            -119
        );
        assert!(local_only
            .check_with(AdminKind::Reread, local, me, |_, _| None)
            .is_ok());
        let admins = AdminPolicy {
            admins_only: true,
            ..open
        };
        assert!(
            admins
                .check_with(AdminKind::Down, local, me, |_, _| Some((0, true)))
                .is_ok(),
            "root"
        );
        assert_eq!(
            admins
                .check_with(AdminKind::Down, local, me, |_, _| Some((65_533, false)))
                .unwrap_err()
                .code,
            -63
        );
        assert_eq!(
            admins
                .check_with(AdminKind::Down, local, remote, |_, _| Some((0, true)))
                .unwrap_err()
                .code,
            -63
        );
    }
}
