//! The vendor daemon's product log: what the core reports, and the exact
//! FLEXlm text each event becomes (the `HH:MM:SS (vendor) ` prefix is added
//! by `logfmt`).

use grammar::options::LogClass;
use std::fmt;

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

/// One line of the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// `OUT: "f1" joe@ws1  ` (`(N licenses)` appended when N > 1).
    Out {
        feature: String,
        user: String,
        host: String,
        count: u32,
    },
    /// `IN: "f1" joe@ws1  `, with a reason such as `(SHUTDOWN)` when the
    /// seats did not come back by a checkin.
    In {
        feature: String,
        user: String,
        host: String,
        count: u32,
        reason: Option<InReason>,
    },
    /// `DENIED: "f1" joe@ws1  (text (code,minor))`.
    Denied {
        feature: String,
        user: String,
        host: String,
        code: i32,
        minor: i32,
    },
    /// `UNSUPPORTED: "f9" (PORT_AT_HOST_PLUS   ) joe@ws1  (No such feature exists. (-5,346))`.
    Unsupported {
        feature: String,
        user: String,
        host: String,
        code: i32,
        minor: i32,
    },
    /// `EXPIRED: f1`: the last line of a pool expired at midnight.
    Expired { feature: String },
    /// `QUEUED: "f1" joe@ws1  `: a checkout waits for a seat.
    Queued {
        feature: String,
        user: String,
        host: String,
    },
    /// `DEQUEUED: "f1" joe@ws1  `: a waiter got its seat.
    Dequeued {
        feature: String,
        user: String,
        host: String,
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

fn count_suffix(f: &mut fmt::Formatter<'_>, count: u32) -> fmt::Result {
    if count > 1 {
        write!(f, "({count} licenses)")?;
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
                write!(f, "OUT: \"{feature}\" {user}@{host}  ")?;
                count_suffix(f, *count)
            }
            LogEvent::In {
                feature,
                user,
                host,
                count,
                reason,
            } => {
                write!(f, "IN: \"{feature}\" {user}@{host}  ")?;
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
                "DENIED: \"{feature}\" {user}@{host}  ({})",
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
                "UNSUPPORTED: \"{feature}\" (PORT_AT_HOST_PLUS   ) {user}@{host}  ({})",
                wire::lmerr::short_form(*code, *minor)
            ),
            LogEvent::Expired { feature } => write!(f, "EXPIRED: {feature}"),
            LogEvent::Queued {
                feature,
                user,
                host,
            } => write!(f, "QUEUED: \"{feature}\" {user}@{host}  "),
            LogEvent::Dequeued {
                feature,
                user,
                host,
            } => write!(f, "DEQUEUED: \"{feature}\" {user}@{host}  "),
            LogEvent::Note(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(out(3).to_string(), "OUT: \"f1\" joe@ws1  (3 licenses)");
        assert_eq!(inn(1, None).to_string(), "IN: \"f1\" joe@ws1  ");
        assert_eq!(inn(2, None).to_string(), "IN: \"f1\" joe@ws1  (2 licenses)");
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
            "UNSUPPORTED: \"f9\" (PORT_AT_HOST_PLUS   ) joe@ws1  (No such feature exists. (-5,346))"
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
