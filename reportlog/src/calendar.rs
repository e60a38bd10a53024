//! Local days and times of day, without a clock or a time-zone database.
//!
//! Summaries group by day, and what a "day" is depends on where the
//! administrator is. The summary code asks a [`Calendar`] to turn record
//! times into local dates; the caller supplies one: [`Utc`] or a
//! [`FixedOffset`] here, or the machine's local time in the tool. Days are
//! the license grammar's [`Date`]; the report log writes them ISO 8601.

use grammar::Date;
use serde::{Serialize, Serializer};

/// The last second this module gives a date for: 31-dec-9999 23:59:59 UTC.
/// Later times (only a damaged or hostile log has them) are taken as this
/// one, so date arithmetic cannot overflow.
pub const MAX_TIME: u64 = 253_402_300_799;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Writes a day ISO 8601 (`2026-01-05`) in JSON: the report log's days are
/// `grammar::Date`s, which otherwise write themselves as license files do.
/// For `#[serde(serialize_with = "...")]`.
pub fn iso<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    date.iso().serialize(s)
}

/// [`iso`] for an optional day (`null` when there is none).
pub fn iso_opt<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    date.map(Date::iso).serialize(s)
}

/// A local date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Civil {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl Civil {
    /// `Mon 1/5/2026 10:25`, as FLEXlm's tools print a moment.
    pub fn long(&self) -> String {
        format!(
            "{} {}/{}/{} {}:{:02}",
            WEEKDAYS[usize::from(self.date.weekday() % 7)],
            self.date.month,
            self.date.day,
            self.date.year,
            self.hour,
            self.minute
        )
    }

    /// `2026-01-05 10:25:03`, for CSV.
    pub fn iso(&self) -> String {
        format!(
            "{} {:02}:{:02}:{:02}",
            self.date.iso(),
            self.hour,
            self.minute,
            self.second
        )
    }
}

/// Turns Unix times into local dates and times.
///
/// Implementations must be monotonic: a later time never has an earlier
/// date. Summaries rely on it to find where days begin.
pub trait Calendar {
    /// The local date and time of `unix` (seconds since the epoch, UTC).
    fn civil(&self, unix: u64) -> Civil;
}

/// Coordinated Universal Time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Utc;

impl Calendar for Utc {
    fn civil(&self, unix: u64) -> Civil {
        FixedOffset(0).civil(unix)
    }
}

/// A fixed offset from UTC, in seconds east (`+3600` for UTC+1).
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedOffset(pub i32);

impl Calendar for FixedOffset {
    fn civil(&self, unix: u64) -> Civil {
        // Both bounds are far inside i64, so this cannot overflow.
        let t = unix.min(MAX_TIME) as i64 + i64::from(self.0);
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        Civil {
            date: Date::from_days_since_epoch(days),
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn days_serialize_iso() {
        #[derive(Serialize)]
        struct Day {
            #[serde(serialize_with = "iso")]
            date: Date,
            #[serde(serialize_with = "iso_opt")]
            first: Option<Date>,
            #[serde(serialize_with = "iso_opt")]
            none: Option<Date>,
        }
        let d = Date::new(2026, 1, 5).unwrap();
        let json = serde_json::to_string(&Day {
            date: d,
            first: Some(d),
            none: None,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"date":"2026-01-05","first":"2026-01-05","none":null}"#
        );
    }

    #[test]
    fn known_times() {
        // 1767606300 = Mon 2026-01-05 09:45:00 UTC.
        let c = Utc.civil(1_767_606_300);
        assert_eq!(c.date, Date::new(2026, 1, 5).unwrap());
        assert_eq!((c.hour, c.minute, c.second), (9, 45, 0));
        assert_eq!(c.long(), "Mon 1/5/2026 9:45");
        assert_eq!(c.iso(), "2026-01-05 09:45:00");
        // Two hours west of UTC, just after midnight UTC is the day before.
        let c = FixedOffset(-7200).civil(1_767_571_200 + 60);
        assert_eq!(c.iso(), "2026-01-04 22:01:00");
        assert_eq!(Utc.civil(0).long(), "Thu 1/1/1970 0:00");
        assert_eq!(Utc.civil(u64::MAX).iso(), "9999-12-31 23:59:59");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -800_000i64..2_900_000) {
            let d = Date::from_days_since_epoch(days);
            prop_assert_eq!(d.days_since_epoch(), days);
            prop_assert_eq!(Date::new(d.year, d.month, d.day), Some(d));
            let four_digits = (1000..=9999).contains(&d.year);
            prop_assert_eq!(Date::parse_day(&d.iso().to_string()).filter(|_| four_digits), four_digits.then_some(d));
            prop_assert_eq!(Date::parse_day(&d.to_string()).filter(|_| four_digits), four_digits.then_some(d));
        }

        #[test]
        fn utc_is_monotonic(a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(Utc.civil(lo) <= Utc.civil(hi));
        }
    }
}
