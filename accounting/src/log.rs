//! The vendor daemon's product log: what the core reports, and the exact
//! FLEXlm text each event becomes (the `HH:MM:SS (vendor) ` prefix is added
//! by `logfmt`).

use crate::Name;
use grammar::options::LogClass;
use std::fmt;
use wire::text::Esc;

/// Why seats came back without a checkin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InReason {
    /// No heartbeat within the timeout.
    Inactive,
    /// The daemon is shutting down.
    Shutdown,
    /// An administrator removed it (lmremove).
    Removed,
    /// The license line expired while it was held.
    Expired,
}

impl InReason {
    fn word(self) -> &'static str {
        match self {
            InReason::Inactive => "INACTIVE",
            InReason::Shutdown => "SHUTDOWN",
            InReason::Removed => "REMOVED",
            InReason::Expired => "EXPIRED",
        }
    }
}

/// One line of the debug log. Its names are shared with the connection
/// and the checkout it is about ([`Name`]): making one allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// `OUT: "f1" joe@ws1  ` (`(N licenses)` appended when N > 1).
    Out {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
        /// How many seats.
        count: u32,
    },
    /// `IN: "f1" joe@ws1  `, with a reason such as `(SHUTDOWN)` when the
    /// seats did not come back by a checkin.
    In {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
        /// How many seats.
        count: u32,
        /// Why the seats came back, when it was not a checkin.
        reason: Option<InReason>,
    },
    /// `DENIED: "f1" joe@ws1  (text (code,minor))`.
    Denied {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
        /// FLEXlm's error number (`wire::lmerr`).
        code: i32,
        /// FLEXlm's minor error number.
        minor: i32,
    },
    /// `UNSUPPORTED: "f9" (PORT_AT_HOST_PLUS ) joe@ws1  (No such feature exists. (-5,346))`:
    /// FLEXlm puts the requesting license's key in the parentheses, or
    /// `PORT_AT_HOST_PLUS ` for a client that found the server through
    /// `port@host`, as ours always do.
    Unsupported {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
        /// FLEXlm's error number (`wire::lmerr`).
        code: i32,
        /// FLEXlm's minor error number.
        minor: i32,
    },
    /// `EXPIRED: f1`: the last line of a pool expired at midnight.
    Expired {
        /// The feature.
        feature: Name,
    },
    /// `QUEUED: "f1" joe@ws1  `: a checkout waits for a seat.
    Queued {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
    },
    /// `DEQUEUED: "f1" joe@ws1  `: a waiter got its seat.
    Dequeued {
        /// The feature.
        feature: Name,
        /// The user, as the client names it.
        user: Name,
        /// The client's host name.
        host: Name,
    },
    /// Any other informational line, as is.
    Note(String),
}

impl LogEvent {
    /// The options file's NOLOG class of this line, if it has one.
    pub fn class(&self) -> Option<LogClass> {
        match self {
            LogEvent::Out { .. } => Some(LogClass::Out),
            LogEvent::In { .. } => Some(LogClass::In),
            LogEvent::Denied { .. } => Some(LogClass::Denied),
            LogEvent::Unsupported { .. } => Some(LogClass::Unsupported),
            LogEvent::Queued { .. } | LogEvent::Dequeued { .. } => Some(LogClass::Queued),
            LogEvent::Expired { .. } | LogEvent::Note(_) => None,
        }
    }
}

/// `(3 licenses) `: FLEXlm ends the suffix with a blank.
fn count_suffix(f: &mut fmt::Formatter<'_>, count: u32) -> fmt::Result {
    if count > 1 {
        write!(f, "({count} licenses) ")?;
    }
    Ok(())
}

impl fmt::Display for LogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogEvent::Out {
                feature,
                user,
                host,
                count,
            } => {
                write!(f, "OUT: \"{}\" {}@{}  ", Esc(feature), Esc(user), Esc(host))?;
                count_suffix(f, *count)
            }
            LogEvent::In {
                feature,
                user,
                host,
                count,
                reason,
            } => {
                write!(f, "IN: \"{}\" {}@{}  ", Esc(feature), Esc(user), Esc(host))?;
                match reason {
                    Some(r) => write!(f, "({})", r.word()),
                    None => count_suffix(f, *count),
                }
            }
            LogEvent::Denied {
                feature,
                user,
                host,
                code,
                minor,
            } => write!(
                f,
                "DENIED: \"{}\" {}@{}  ({})",
                Esc(feature),
                Esc(user),
                Esc(host),
                wire::lmerr::short_form(*code, *minor)
            ),
            LogEvent::Unsupported {
                feature,
                user,
                host,
                code,
                minor,
            } => write!(
                f,
                "UNSUPPORTED: \"{}\" (PORT_AT_HOST_PLUS ) {}@{}  ({})",
                Esc(feature),
                Esc(user),
                Esc(host),
                wire::lmerr::short_form(*code, *minor)
            ),
            LogEvent::Expired { feature } => write!(f, "EXPIRED: {}", Esc(feature)),
            LogEvent::Queued {
                feature,
                user,
                host,
            } => write!(
                f,
                "QUEUED: \"{}\" {}@{}  ",
                Esc(feature),
                Esc(user),
                Esc(host)
            ),
            LogEvent::Dequeued {
                feature,
                user,
                host,
            } => write!(
                f,
                "DEQUEUED: \"{}\" {}@{}  ",
                Esc(feature),
                Esc(user),
                Esc(host)
            ),
            // Notes are the core's own sentences; peer strings in them
            // are escaped where they are quoted (`wire::text::Esc`).
            LogEvent::Note(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_string_never_starts_a_line() {
        let forged = LogEvent::Out {
            feature: "f1".into(),
            user: "joe".into(),
            host: "ws1\n 9:00:00 (demo) IN: \"f1\" boss@ws2".into(),
            count: 1,
        };
        let text = forged.to_string();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("ws1\\n 9:00:00"), "{text}");
    }

    fn out(count: u32) -> LogEvent {
        LogEvent::Out {
            feature: "f1".into(),
            user: "joe".into(),
            host: "ws1".into(),
            count,
        }
    }

    fn inn(count: u32, reason: Option<InReason>) -> LogEvent {
        LogEvent::In {
            feature: "f1".into(),
            user: "joe".into(),
            host: "ws1".into(),
            count,
            reason,
        }
    }

    #[test]
    fn flexlm_text() {
        assert_eq!(out(1).to_string(), "OUT: \"f1\" joe@ws1  ");
        assert_eq!(out(3).to_string(), "OUT: \"f1\" joe@ws1  (3 licenses) ");
        assert_eq!(inn(1, None).to_string(), "IN: \"f1\" joe@ws1  ");
        assert_eq!(
            inn(2, None).to_string(),
            "IN: \"f1\" joe@ws1  (2 licenses) "
        );
        assert_eq!(
            inn(1, Some(InReason::Shutdown)).to_string(),
            "IN: \"f1\" joe@ws1  (SHUTDOWN)"
        );
        assert_eq!(
            inn(1, Some(InReason::Inactive)).to_string(),
            "IN: \"f1\" joe@ws1  (INACTIVE)"
        );
        assert_eq!(
            LogEvent::Denied {
                feature: "f1".into(),
                user: "joe".into(),
                host: "ws1".into(),
                code: -4,
                minor: 342
            }
            .to_string(),
            "DENIED: \"f1\" joe@ws1  (Licensed number of users already reached. (-4,342))"
        );
        assert_eq!(
            LogEvent::Unsupported {
                feature: "f9".into(),
                user: "joe".into(),
                host: "ws1".into(),
                code: -5,
                minor: 346
            }
            .to_string(),
            "UNSUPPORTED: \"f9\" (PORT_AT_HOST_PLUS ) joe@ws1  (No such feature exists. (-5,346))"
        );
        assert_eq!(
            LogEvent::Expired {
                feature: "f1".into()
            }
            .to_string(),
            "EXPIRED: f1"
        );
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    fn who(feature: &str, user: &str, host: &str) -> (Name, Name, Name) {
        (feature.into(), user.into(), host.into())
    }

    /// Real lines of the spec (FLEXLM-FACTS.md §2.3, §2.4), message parts.
    #[test]
    fn as_in_real_logs() {
        let (feature, user, host) = who("MATLAB", "alu-escuela", "LIBRE-09");
        let out = LogEvent::Out {
            feature,
            user,
            host,
            count: 1,
        };
        assert_eq!(out.to_string(), "OUT: \"MATLAB\" alu-escuela@LIBRE-09  ");
        let (feature, user, host) = who("MATLAB", "cristian", "cristian-PC");
        let shutdown = LogEvent::In {
            feature,
            user,
            host,
            count: 1,
            reason: Some(InReason::Shutdown),
        };
        assert_eq!(
            shutdown.to_string(),
            "IN: \"MATLAB\" cristian@cristian-PC  (SHUTDOWN)"
        );
        let (feature, user, host) = who("base", "asdsd", "NSDNA78");
        let denied = LogEvent::Denied {
            feature,
            user,
            host,
            code: -4,
            minor: 342,
        };
        assert_eq!(
            denied.to_string(),
            "DENIED: \"base\" asdsd@NSDNA78  (Licensed number of users already reached. (-4,342))"
        );
        let (feature, user, host) = who("floating_license", "James", "ham");
        let queued = LogEvent::Denied {
            feature,
            user,
            host,
            code: -24,
            minor: 332,
        };
        assert_eq!(
            queued.to_string(),
            "DENIED: \"floating_license\" James@ham  (Users are queued for this feature. (-24,332))"
        );
        // The only capture of a port@host client's line has its runs of
        // blanks squeezed to one; ours, squeezed the same way, is equal.
        let (feature, user, host) = who("camcore", "peter", "Peter-2019");
        let unsupported = LogEvent::Unsupported {
            feature,
            user,
            host,
            code: -5,
            minor: 346,
        };
        assert_eq!(
            unsupported.to_string().replace("  ", " "),
            "UNSUPPORTED: \"camcore\" (PORT_AT_HOST_PLUS ) peter@Peter-2019 (No such feature exists. (-5,346))"
        );
    }
}
