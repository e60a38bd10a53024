//! One report-log entry: what happened, when, to whom, for which feature.

use serde::Serialize;

/// What a record reports.
///
/// Each kind has a one-byte code in the encoding (`codec`). Codes are never
/// reused: a kind that is retired keeps its number, so old logs still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Seats taken (`OUT:` in the debug log). `count` seats under `handle`.
    Checkout,
    /// Seats given back by the client (`IN:`). Frees everything `handle` held.
    Checkin,
    /// A checkout refused (`DENIED:`); `error` holds the FLEXlm error number.
    Denied,
    /// A client put in the queue for `feature` (`QUEUED:`).
    Queued,
    /// A client left the queue, granted or giving up.
    Dequeued,
    /// Seats reclaimed from a client that stopped heart-beating
    /// (`IN: ... (INACTIVE)`). Frees `handle`.
    Reclaimed,
    /// Seats freed by `lmremove`. Frees `handle`.
    Removed,
    /// Seats borrowed: held until `Return`, across daemon restarts.
    Borrow,
    /// Borrowed seats returned early or expired. Frees the borrow `handle`.
    Return,
    /// A checkout still held when this log was opened (after `lmswitchr` or
    /// `lmnewlog`), so that every log file can be summarised on its own. It
    /// is not a new checkout: it only says the seats are in use.
    Held,
    /// The vendor daemon started. Seats held before it (not borrowed) are
    /// gone: the daemon that held them stopped or died.
    Start,
    /// The vendor daemon stopped. Seats still held (not borrowed) are freed.
    Stop,
    /// The license and options files were reread. Checkouts survive it.
    Reread,
}

impl Kind {
    /// Every kind, in code order.
    pub const ALL: [Kind; 13] = [
        Kind::Checkout,
        Kind::Checkin,
        Kind::Denied,
        Kind::Queued,
        Kind::Dequeued,
        Kind::Reclaimed,
        Kind::Removed,
        Kind::Borrow,
        Kind::Return,
        Kind::Held,
        Kind::Start,
        Kind::Stop,
        Kind::Reread,
    ];

    /// The kind's code in the encoding.
    pub fn code(self) -> u8 {
        match self {
            Kind::Checkout => 1,
            Kind::Checkin => 2,
            Kind::Denied => 3,
            Kind::Queued => 4,
            Kind::Dequeued => 5,
            Kind::Reclaimed => 6,
            Kind::Removed => 7,
            Kind::Borrow => 8,
            Kind::Return => 9,
            Kind::Held => 10,
            Kind::Start => 11,
            Kind::Stop => 12,
            Kind::Reread => 13,
        }
    }

    /// The kind with this code, if any.
    pub fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The name used in CSV and JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Checkout => "checkout",
            Kind::Checkin => "checkin",
            Kind::Denied => "denied",
            Kind::Queued => "queued",
            Kind::Dequeued => "dequeued",
            Kind::Reclaimed => "reclaimed",
            Kind::Removed => "removed",
            Kind::Borrow => "borrow",
            Kind::Return => "return",
            Kind::Held => "held",
            Kind::Start => "start",
            Kind::Stop => "stop",
            Kind::Reread => "reread",
        }
    }

    /// Returns true if and only if this kind is a daemon-wide marker that
    /// names no feature.
    pub fn is_marker(self) -> bool {
        matches!(self, Kind::Start | Kind::Stop | Kind::Reread)
    }
}

/// One event in the report log.
///
/// Fields a kind has no use for are empty or zero (a `Start` marker has
/// only `time`). Strings longer than [`MAX_FIELD`](crate::codec::MAX_FIELD)
/// bytes are cut to that length when stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// When it happened: seconds since the Unix epoch, UTC.
    pub time: u64,
    pub kind: Kind,
    /// The feature name (empty for markers).
    pub feature: String,
    /// The version the client asked for, as it wrote it (`1.0`).
    pub version: String,
    /// The client's user name.
    pub user: String,
    /// The client's host name.
    pub host: String,
    /// The client's display (`/dev/pts/1`, `:0`).
    pub display: String,
    /// The client's `LM_PROJECT`, if it set one.
    pub project: String,
    /// Seats this event takes or concerns. For a checkout that shares a
    /// seat under DUP_GROUP it is 0: no new seat was taken.
    pub count: u32,
    /// Licenses issued for the feature when the event happened (0 when not
    /// known, or uncounted). Summaries use it to tell "at full use".
    pub issued: u32,
    /// The checkout's handle, as `lmstat` shows it and `lmremove -h` takes
    /// it. A checkin names the handle it frees. Handles are unique while
    /// the daemon runs; a new daemon (after `Start`) may reuse them.
    pub handle: u64,
    /// For `Denied`: the FLEXlm error number (`-4`). Otherwise 0.
    pub error: i32,
}

impl Record {
    /// A record of `kind` at `time` for `feature`, every other field empty.
    pub fn new(time: u64, kind: Kind, feature: &str) -> Record {
        Record {
            time,
            kind,
            feature: feature.to_string(),
            version: String::new(),
            user: String::new(),
            host: String::new(),
            display: String::new(),
            project: String::new(),
            count: 0,
            issued: 0,
            handle: 0,
            error: 0,
        }
    }

    /// A daemon marker (`Start`, `Stop`, `Reread`) at `time`.
    pub fn marker(time: u64, kind: Kind) -> Record {
        Record::new(time, kind, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut codes: Vec<u8> = Kind::ALL.iter().map(|k| k.code()).collect();
        for k in Kind::ALL {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Kind::ALL.len());
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(14), None);
    }

    #[test]
    fn only_daemon_events_are_markers() {
        let markers: Vec<Kind> = Kind::ALL.into_iter().filter(|k| k.is_marker()).collect();
        assert_eq!(markers, [Kind::Start, Kind::Stop, Kind::Reread]);
    }
}
