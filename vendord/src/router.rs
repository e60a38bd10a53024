//! Where a client's request goes, decided without any I/O: refused or
//! answered by the shell (and why), or handed to the accounting core.
//!
//! The shell decides who an admin request comes from (the admin socket's
//! kernel credentials, a proved token, or an unauthenticated TCP peer:
//! `hostenv::admin_socket`) and applies the admin policy before calling
//! [`route`]; everything else the decision needs is in [`Context`].

use accounting::admin::Refusal;
use wire::{admin_op, Message, MessageRef};

/// What the shell knows when a request arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The request comes from this machine (the admin socket, or a TCP
    /// peer on loopback or on our own address).
    pub peer_is_local: bool,
    /// License requests are answered here: always, but in a triad only on
    /// the master.
    pub serving: bool,
    /// The options file's REPORTLOG is open.
    pub report_log_open: bool,
}

/// Who answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A string of the request breaks the rule of `wire::text` (too long,
    /// a control character, a line separator, a bidi override): refused
    /// before anything else looks at it.
    BadField(wire::text::FieldError),
    /// The admin policy refuses it (`-x lmdown`, `-x lmremove`, `-local`,
    /// `-2 -p`).
    Refused(Refusal),
    /// lmdown sent to the vendor daemon directly from another machine:
    /// only lmgrd, or lmdown run here, may stop it.
    RemoteShutdown,
    /// A standby member of a triad answers only status, naming the master.
    NotMaster,
    /// lmswitchr or lmnewlog, with a report log open: the shell moves it.
    ReportLog,
    /// lmswitchr or lmnewlog without a report log, or lmswitch (the debug
    /// log): the shell answers.
    LogSwitch,
    /// The daemon's counters (lmgrd's metrics): the shell answers, as it
    /// knows what the core cannot (connections, answer times).
    Stats,
    /// The daily use the report log shows (the dashboard): the shell
    /// answers, as it holds the log.
    Usage,
    /// Everything else: the accounting core.
    Core,
}

/// Decides who answers `msg`. `refusal` is the admin policy's verdict on
/// it (`None` for a request the policy allows, and for every request that
/// is not an admin request).
pub fn route(msg: &Message, ctx: Context, refusal: Option<Refusal>) -> Route {
    if let Err(e) = wire::text::check_request(msg) {
        return Route::BadField(e);
    }
    if let Some(r) = refusal {
        return Route::Refused(r);
    }
    let admin_op = match msg {
        Message::Admin(a) => Some(a.op),
        _ => None,
    };
    if admin_op == Some(admin_op::SHUTDOWN) && !ctx.peer_is_local {
        return Route::RemoteShutdown;
    }
    match msg {
        Message::StatsQuery(_) => return Route::Stats,
        Message::UsageQuery(_) => return Route::Usage,
        _ => {}
    }
    if !ctx.serving && !matches!(msg, Message::StatusQuery(_)) {
        return Route::NotMaster;
    }
    match admin_op {
        Some(admin_op::SWITCH_REPORT_LOG | admin_op::NEW_REPORT_LOG) if ctx.report_log_open => {
            Route::ReportLog
        }
        Some(admin_op::SWITCH_REPORT_LOG | admin_op::NEW_REPORT_LOG | admin_op::SWITCH_LOG) => {
            Route::LogSwitch
        }
        _ => Route::Core,
    }
}

/// [`route`] for a message decoded in place: the same decision, without
/// making the checkouts, checkins and heartbeats it answers most owned.
pub fn route_request(msg: &MessageRef<'_>, ctx: Context, refusal: Option<Refusal>) -> Route {
    match msg {
        MessageRef::Other(m) => route(m, ctx, refusal),
        MessageRef::Checkout(_) | MessageRef::Checkin(_) | MessageRef::Heartbeat(_) => {
            if let Err(e) = wire::text::check_request_ref(msg) {
                return Route::BadField(e);
            }
            if let Some(r) = refusal {
                return Route::Refused(r);
            }
            if ctx.serving {
                Route::Core
            } else {
                Route::NotMaster
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{AdminRequest, Checkout, StatusQuery};

    const HERE: Context = Context {
        peer_is_local: true,
        serving: true,
        report_log_open: false,
    };

    fn admin(op: u8) -> Message {
        Message::Admin(AdminRequest {
            op,
            ..AdminRequest::default()
        })
    }

    fn checkout() -> Message {
        Message::Checkout(Checkout::default())
    }

    #[test]
    fn counters_are_the_shells_to_give_even_on_a_standby() {
        let standby = Context {
            serving: false,
            ..HERE
        };
        assert_eq!(
            route(&Message::StatsQuery(wire::StatsQuery {}), standby, None),
            Route::Stats
        );
        assert_eq!(
            route(
                &Message::UsageQuery(wire::UsageQuery { days: 7 }),
                standby,
                None
            ),
            Route::Usage
        );
    }

    #[test]
    fn license_requests_go_to_the_core() {
        assert_eq!(route(&checkout(), HERE, None), Route::Core);
        assert_eq!(
            route(&Message::StatusQuery(StatusQuery::default()), HERE, None),
            Route::Core
        );
        assert_eq!(
            route(&admin(admin_op::REMOVE_USER), HERE, None),
            Route::Core
        );
        assert_eq!(route(&admin(admin_op::SHUTDOWN), HERE, None), Route::Core);
    }

    #[test]
    fn a_bad_string_is_refused_first() {
        let bad = Message::Checkout(Checkout {
            feature: "f1\n".into(),
            ..Checkout::default()
        });
        assert!(
            matches!(route(&bad, HERE, None), Route::BadField(e) if e.field == "Checkout feature")
        );
        let path = Message::Admin(AdminRequest {
            op: admin_op::SWITCH_LOG,
            path: "x\u{2028}".into(),
            ..AdminRequest::default()
        });
        assert!(matches!(route(&path, HERE, None), Route::BadField(_)));
    }

    #[test]
    fn the_admin_policy_comes_first() {
        let no = Refusal {
            code: wire::lmerr::LM_NOTLICADMIN,
            text: "no".into(),
        };
        let remote_standby = Context {
            peer_is_local: false,
            serving: false,
            ..HERE
        };
        assert_eq!(
            route(&admin(admin_op::SHUTDOWN), remote_standby, Some(no.clone())),
            Route::Refused(no)
        );
    }

    #[test]
    fn only_a_local_peer_may_stop_the_daemon_directly() {
        let remote = Context {
            peer_is_local: false,
            ..HERE
        };
        assert_eq!(
            route(&admin(admin_op::SHUTDOWN), remote, None),
            Route::RemoteShutdown
        );
        assert_eq!(route(&admin(admin_op::REREAD), remote, None), Route::Core);
        assert_eq!(route(&checkout(), remote, None), Route::Core);
    }

    #[test]
    fn a_standby_answers_only_status() {
        let standby = Context {
            serving: false,
            ..HERE
        };
        assert_eq!(route(&checkout(), standby, None), Route::NotMaster);
        assert_eq!(
            route(&admin(admin_op::SWITCH_LOG), standby, None),
            Route::NotMaster
        );
        assert_eq!(
            route(&Message::StatusQuery(StatusQuery::default()), standby, None),
            Route::Core
        );
    }

    #[test]
    fn log_switches_are_the_shell_s() {
        assert_eq!(
            route(&admin(admin_op::SWITCH_LOG), HERE, None),
            Route::LogSwitch
        );
        assert_eq!(
            route(&admin(admin_op::SWITCH_REPORT_LOG), HERE, None),
            Route::LogSwitch
        );
        assert_eq!(
            route(&admin(admin_op::NEW_REPORT_LOG), HERE, None),
            Route::LogSwitch
        );
        let open = Context {
            report_log_open: true,
            ..HERE
        };
        assert_eq!(
            route(&admin(admin_op::SWITCH_REPORT_LOG), open, None),
            Route::ReportLog
        );
        assert_eq!(
            route(&admin(admin_op::NEW_REPORT_LOG), open, None),
            Route::ReportLog
        );
        assert_eq!(
            route(&admin(admin_op::SWITCH_LOG), open, None),
            Route::LogSwitch
        );
    }

    #[test]
    fn in_place_the_decision_is_the_same() {
        let long = "x".repeat(wire::text::MAX_FEATURE + 1);
        let messages = [
            checkout(),
            Message::Checkout(Checkout {
                feature: long.clone(),
                ..Checkout::default()
            }),
            Message::Checkout(Checkout {
                version: "1.0\n".into(),
                ..Checkout::default()
            }),
            Message::Checkin(wire::Checkin::default()),
            Message::Heartbeat(wire::Heartbeat::default()),
            Message::StatusQuery(StatusQuery {
                feature: long,
                ..StatusQuery::default()
            }),
            admin(admin_op::SHUTDOWN),
            admin(admin_op::SWITCH_REPORT_LOG),
            Message::StatsQuery(wire::StatsQuery {}),
        ];
        let refusal = Refusal {
            code: -1,
            text: "no".into(),
        };
        for serving in [true, false] {
            for peer_is_local in [true, false] {
                let ctx = Context {
                    peer_is_local,
                    serving,
                    report_log_open: serving,
                };
                for m in &messages {
                    for r in [None, Some(refusal.clone())] {
                        let view = MessageRef::from(m);
                        assert_eq!(
                            route_request(&view, ctx, r.clone()),
                            route(m, ctx, r),
                            "{m:?} in {ctx:?}"
                        );
                    }
                }
            }
        }
    }
}
