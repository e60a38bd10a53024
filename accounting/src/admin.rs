//! Who may ask for an admin request (lmdown, lmreread, lmremove, log
//! switches): lmgrd's `-x lmdown`, `-x lmremove`, `-local` and `-2 -p`,
//! decided the same way by lmgrd and by the vendor daemons.
//!
//! Pure: the daemons say who asks, as a [`Requester`] they could verify,
//! and never from what a TCP connection looks like. A user is known only
//! from the kernel (`SO_PEERCRED` on the daemon's Unix-domain admin
//! socket, `hostenv::admin_socket`) or from a proved admin token; a TCP
//! peer is only an address.

use std::net::{IpAddr, SocketAddr};
use wire::{admin_op, lmerr};

/// What lmgrd was told to allow (`-x lmdown`, `-x lmremove`, `-local`, `-2 -p`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminPolicy {
    /// `-x lmdown`: lmdown refused.
    pub no_lmdown: bool,
    /// `-x lmremove`: lmremove refused.
    pub no_lmremove: bool,
    /// Admin requests only from this machine.
    pub local_only: bool,
    /// Admin requests only from root or members of group `lmadmin`, or
    /// with an admin token.
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

/// Who asks for an admin request, as far as the daemon can verify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// Over the daemon's Unix-domain admin socket: the kernel says which
    /// user connected (`SO_PEERCRED`), and whether that user is a license
    /// administrator (root, or group `lmadmin`).
    Kernel {
        /// The connecting process's user.
        uid: u32,
        /// Root, or a member of group `lmadmin`.
        admin: bool,
    },
    /// Over TCP, with a proved admin token (challenge-response): the
    /// token's name. `local`: the connection comes from this machine.
    Token {
        /// The token's name.
        name: String,
        /// The connection comes from this machine.
        local: bool,
    },
    /// An unauthenticated TCP peer: an address, never a user.
    Network {
        /// The peer's address.
        peer: SocketAddr,
        /// The address it reached.
        local: SocketAddr,
    },
}

impl Requester {
    /// A TCP peer `peer` that reached our `local` address.
    pub fn network(local: SocketAddr, peer: SocketAddr) -> Requester {
        Requester::Network {
            peer: normalize(peer),
            local: normalize(local),
        }
    }

    /// Whether the request comes from this machine: always over the Unix
    /// socket; over TCP when the peer is on loopback or on the very
    /// address it reached (a connection to one of our own addresses).
    pub fn is_local(&self) -> bool {
        match self {
            Requester::Kernel { .. } => true,
            Requester::Token { local, .. } => *local,
            Requester::Network { peer, local } => {
                let (peer, local) = (normalize(*peer), normalize(*local));
                peer.ip().is_loopback() || peer.ip() == local.ip()
            }
        }
    }

    /// For the log: who asked.
    pub fn describe(&self) -> String {
        match self {
            Requester::Kernel { uid, .. } => format!("uid {uid} (local admin socket)"),
            Requester::Token { name, .. } => format!("admin token \"{name}\""),
            Requester::Network { peer, .. } => format!("{peer} (TCP, unauthenticated)"),
        }
    }
}

fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(addr, |v4| SocketAddr::new(IpAddr::V4(v4), addr.port())),
        IpAddr::V4(_) => addr,
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

    /// The tool's name, for messages.
    pub fn tool(self) -> &'static str {
        match self {
            AdminKind::Down => "lmdown",
            AdminKind::Reread => "lmreread",
            AdminKind::Remove => "lmremove",
            AdminKind::SwitchLog => "lmswitch",
        }
    }
}

/// What an unauthenticated TCP requester is told under `-2 -p`.
pub const HOW_TO_AUTHENTICATE: &str = "this license server takes admin requests only from \
root or group lmadmin (lmgrd -2 -p), and a request over TCP carries no verified user: run \
the tool on the license server machine as an administrator (it then uses the server's local \
admin socket), or give it an admin token (lmutil lmpasswd -admin-token, then \
LM_ADMIN_TOKEN_FILE or -token-file)";

impl AdminPolicy {
    /// Decides whether the request of `kind` from `who` may go ahead.
    pub fn check(&self, kind: AdminKind, who: &Requester) -> Result<(), Refusal> {
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
        if self.local_only && !who.is_local() && matches!(kind, AdminKind::Down | AdminKind::Reread)
        {
            return Err(Refusal {
                code: lmerr::LM_MUST_BE_LOCAL,
                text: lmerr::text(lmerr::LM_MUST_BE_LOCAL).into(),
            });
        }
        if self.admins_only {
            let not_admin = |why: String| Refusal {
                code: lmerr::LM_NOTLICADMIN,
                text: format!("{} ({why})", lmerr::text(lmerr::LM_NOTLICADMIN)),
            };
            match who {
                Requester::Kernel { admin: true, .. } | Requester::Token { .. } => {}
                Requester::Kernel { uid, admin: false } => {
                    return Err(not_admin(format!(
                        "uid {uid} is neither root nor in group lmadmin"
                    )))
                }
                Requester::Network { .. } => {
                    return Err(not_admin(HOW_TO_AUTHENTICATE.to_string()))
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

    const KINDS: [AdminKind; 4] = [
        AdminKind::Down,
        AdminKind::Reread,
        AdminKind::Remove,
        AdminKind::SwitchLog,
    ];

    fn requesters() -> Vec<Requester> {
        let server = addr("192.0.2.1:27000");
        vec![
            Requester::Kernel {
                uid: 0,
                admin: true,
            },
            Requester::Kernel {
                uid: 1000,
                admin: true,
            },
            Requester::Kernel {
                uid: 65_534,
                admin: false,
            },
            Requester::Token {
                name: "ops".into(),
                local: true,
            },
            Requester::Token {
                name: "ops".into(),
                local: false,
            },
            Requester::network(addr("127.0.0.1:27000"), addr("127.0.0.1:40000")),
            Requester::network(server, addr("192.0.2.1:40000")),
            Requester::network(server, addr("198.51.100.7:40000")),
            Requester::network(addr("[::1]:27000"), addr("[::1]:40000")),
            Requester::network(
                addr("[::ffff:192.0.2.1]:27000"),
                addr("[::ffff:198.51.100.7]:40000"),
            ),
        ]
    }

    /// The policy as a table, written out independently of `check`.
    fn expected(p: AdminPolicy, kind: AdminKind, who: &Requester) -> Option<i32> {
        let authenticated = matches!(
            who,
            Requester::Kernel { admin: true, .. } | Requester::Token { .. }
        );
        if kind == AdminKind::Down && p.no_lmdown || kind == AdminKind::Remove && p.no_lmremove {
            return Some(-63);
        }
        if p.local_only && !who.is_local() && matches!(kind, AdminKind::Down | AdminKind::Reread) {
            return Some(-119);
        }
        if p.admins_only && !authenticated {
            return Some(-63);
        }
        None
    }

    #[test]
    fn request_kinds() {
        assert_eq!(AdminKind::of(admin_op::SHUTDOWN), AdminKind::Down);
        assert_eq!(AdminKind::of(admin_op::REREAD), AdminKind::Reread);
        assert_eq!(AdminKind::of(admin_op::REMOVE_USER), AdminKind::Remove);
        assert_eq!(AdminKind::of(admin_op::REMOVE_HANDLE), AdminKind::Remove);
        for op in [
            admin_op::SWITCH_LOG,
            admin_op::SWITCH_REPORT_LOG,
            admin_op::NEW_REPORT_LOG,
        ] {
            assert_eq!(AdminKind::of(op), AdminKind::SwitchLog);
        }
    }

    #[test]
    fn locality() {
        let r = requesters();
        let local: Vec<bool> = r.iter().map(Requester::is_local).collect();
        assert_eq!(
            local,
            [true, true, true, true, false, true, true, false, true, false]
        );
    }

    #[test]
    fn every_policy_every_kind_every_requester() {
        let mut checked = 0;
        for bits in 0..16u8 {
            let p = AdminPolicy {
                no_lmdown: bits & 1 != 0,
                no_lmremove: bits & 2 != 0,
                local_only: bits & 4 != 0,
                admins_only: bits & 8 != 0,
            };
            for kind in KINDS {
                for who in requesters() {
                    let got = p.check(kind, &who).err().map(|r| r.code);
                    assert_eq!(got, expected(p, kind, &who), "{p:?} {kind:?} {who:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 16 * 4 * 10);
    }

    #[test]
    fn a_tcp_peer_is_never_an_administrator_under_two_p() {
        let admins = AdminPolicy {
            admins_only: true,
            ..AdminPolicy::default()
        };
        // Even from loopback, even from root's own process: TCP carries
        // no verified user.
        let loopback = Requester::network(addr("127.0.0.1:27000"), addr("127.0.0.1:40000"));
        for kind in KINDS {
            let r = admins.check(kind, &loopback).unwrap_err();
            assert_eq!(r.code, lmerr::LM_NOTLICADMIN);
            assert!(
                r.text
                    .contains("run the tool on the license server machine"),
                "{}",
                r.text
            );
            assert!(r.text.contains("admin token"), "{}", r.text);
        }
        let nobody = Requester::Kernel {
            uid: 65_534,
            admin: false,
        };
        let r = admins.check(AdminKind::Reread, &nobody).unwrap_err();
        assert!(r
            .text
            .contains("uid 65534 is neither root nor in group lmadmin"));
    }

    #[test]
    fn the_flexlm_defaults_let_anyone() {
        let open = AdminPolicy::default();
        for kind in KINDS {
            for who in requesters() {
                assert!(open.check(kind, &who).is_ok(), "{kind:?} {who:?}");
            }
        }
    }

    #[test]
    fn x_lmdown_binds_administrators_too() {
        let p = AdminPolicy {
            no_lmdown: true,
            ..AdminPolicy::default()
        };
        let root = Requester::Kernel {
            uid: 0,
            admin: true,
        };
        let r = p.check(AdminKind::Down, &root).unwrap_err();
        assert!(r.text.contains("-x lmdown"));
        assert!(p.check(AdminKind::Reread, &root).is_ok());
    }
}
