//! Calendar days and times of day, without a clock or a time-zone database.
//!
//! Summaries group by day, and what a "day" is depends on where the
//! administrator is. The summary code asks a [`Calendar`] to turn record
//! times into local dates; the caller supplies one: [`Utc`] or a
//! [`FixedOffset`] here, or the machine's local time in the tool.

use serde::{Serialize, Serializer};
use std::fmt;

/// The last second this module gives a date for: 31-dec-9999 23:59:59 UTC.
/// Later times (only a damaged or hostile log has them) are taken as this
/// one, so date arithmetic cannot overflow.
pub const MAX_TIME: u64 = 253_402_300_799;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A calendar date (proleptic Gregorian), as the report log shows it:
/// the license grammar's [`grammar::Date`] written ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the length of the month.
    pub day: u8,
}

impl Date {
    /// The date, if it exists.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        grammar::Date::new(year, month, day).map(Date::from)
    }

    /// Reads FLEXlm's `dd-mon-yyyy` (`5-jan-2026`, `05-Jan-2026`), as the
    /// tools take dates, or ISO `yyyy-mm-dd`.
    pub fn parse(s: &str) -> Option<Date> {
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [a, b, c] = parts.as_slice() else {
            return None;
        };
        let num = |x: &str| -> Option<u32> {
            if x.is_empty() || x.len() > 4 || !x.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            x.parse().ok()
        };
        if a.len() == 4 {
            let year = i32::try_from(num(a)?).ok()?;
            return Date::new(
                year,
                u8::try_from(num(b)?).ok()?,
                u8::try_from(num(c)?).ok()?,
            );
        }
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(b))
            .map(|i| i as u8 + 1)?;
        if c.len() != 4 {
            return None;
        }
        Date::new(
            i32::try_from(num(c)?).ok()?,
            month,
            u8::try_from(num(a)?).ok()?,
        )
    }

    /// Days since 1-jan-1970 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        grammar::Date::from(self).days_since_epoch()
    }

    /// The date `days` days after 1-jan-1970. Callers keep `days` within
    /// the range [`MAX_TIME`] allows.
    pub fn from_days(days: i64) -> Date {
        grammar::Date::from_days_since_epoch(days).into()
    }

    /// 0 = Sunday.
    pub fn weekday(self) -> u8 {
        (self.days_since_epoch() + 4).rem_euclid(7) as u8
    }

    /// `5-jan-2026`, as FLEXlm writes dates.
    pub fn flexlm(self) -> String {
        format!(
            "{}-{}-{}",
            self.day,
            MONTHS[usize::from(self.month.clamp(1, 12) - 1)],
            self.year
        )
    }
}

impl fmt::Display for Date {
    /// ISO 8601: `2026-01-05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The same day as the license grammar's date, which does the calendar
/// arithmetic for both; this one is written ISO 8601 (`Display`, JSON).
impl From<grammar::Date> for Date {
    fn from(d: grammar::Date) -> Date {
        Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }
    }
}

impl From<Date> for grammar::Date {
    fn from(d: Date) -> grammar::Date {
        grammar::Date {
            year: d.year,
            month: d.month,
            day: d.day,
        }
    }
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
            self.date, self.hour, self.minute, self.second
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
            date: Date::from_days(days),
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
    fn dates_parse_as_flexlm_writes_them() {
        let d = Date::new(2026, 1, 5).unwrap();
        assert_eq!(Date::parse("5-jan-2026"), Some(d));
        assert_eq!(Date::parse("05-Jan-2026"), Some(d));
        assert_eq!(Date::parse("2026-01-05"), Some(d));
        assert_eq!(Date::parse("29-feb-2024"), Date::new(2024, 2, 29));
        for bad in [
            "29-feb-2025",
            "31-apr-2026",
            "5-foo-2026",
            "5-jan-26",
            "jan-5-2026",
            "",
            "5-jan",
            "0-jan-2026",
            "+5-jan-2026",
            "2026-13-01",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert_eq!(d.flexlm(), "5-jan-2026");
        assert_eq!(d.to_string(), "2026-01-05");
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
            let d = Date::from_days(days);
            prop_assert_eq!(d.days_since_epoch(), days);
            prop_assert_eq!(Date::new(d.year, d.month, d.day), Some(d));
            prop_assert_eq!(Date::parse(&d.to_string()).filter(|_| d.year >= 1000), (d.year >= 1000).then_some(d));
        }

        #[test]
        fn utc_is_monotonic(a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(Utc.civil(lo) <= Utc.civil(hi));
        }
    }
}
