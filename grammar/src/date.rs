//! License dates: `dd-mmm-yyyy`, the `permanent` keyword, and year 0.
//!
//! The grammar has no clock: callers pass "today" as a [`Date`], so every
//! rule about expiry and START can be tested with any date they like.
//!
//! [`Date`] is the workspace's one calendar date: license fields, the
//! tools' date options ([`Date::parse_day`]) and the report log's days
//! (written ISO 8601 through [`Date::iso`]) all use it.

use serde::Serialize;
use std::fmt;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A calendar date (proleptic Gregorian). Ordering is chronological.
///
/// `Display` and `Serialize` write it as license files do (`5-jan-2026`);
/// [`Date::iso`] writes it ISO 8601 (`2026-01-05`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the length of the month.
    pub day: u8,
}

/// A [`Date`] written ISO 8601: `2026-01-05`. See [`Date::iso`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDate(pub Date);

/// When a line stops being valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    Permanent,
    /// Valid through the end of this day.
    On(Date),
}

/// Why a date field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("`{0}` is not a date: expected dd-mmm-yyyy, for example 31-dec-2026")]
    Shape(String),
    #[error("`{0}` is not a month name: expected jan, feb, ..., dec")]
    Month(String),
    #[error("day {day} does not exist in {month} {year}")]
    Day {
        day: u32,
        month: &'static str,
        year: i32,
    },
    #[error("year `{0}` is ambiguous: write all four digits")]
    Year(String),
}

/// A parsed date field, with a note when the form is old-fashioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDate {
    pub expiry: Expiry,
    /// The year was written with one or two digits and read as 19yy.
    pub two_digit_year: bool,
}

impl Date {
    /// Builds a date, checking that the day exists.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// The date `days` days after 1970-01-01 (negative goes earlier).
    pub fn from_days_since_epoch(days: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The day of the week: 0 is Sunday.
    pub fn weekday(&self) -> u8 {
        // 1970-01-01 was a Thursday.
        (self.days_since_epoch() + 4).rem_euclid(7) as u8
    }

    /// This date written ISO 8601 (`2026-01-05`), as the report log and
    /// its JSON show days.
    pub fn iso(self) -> IsoDate {
        IsoDate(self)
    }

    /// Reads a date as the tools take one on their command line: FLEXlm's
    /// `dd-mon-yyyy` (`5-jan-2026`, `05-Jan-2026`) with all four digits of
    /// the year, or ISO `yyyy-mm-dd`. `None` unless the day exists. Unlike
    /// [`Date::parse`], there is no `permanent`, year 0 or two-digit year:
    /// these name a day, not an expiry.
    pub fn parse_day(text: &str) -> Option<Date> {
        let mut parts = text.trim().split('-');
        let (Some(a), Some(b), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let number = |x: &str| (!x.is_empty() && x.len() <= 4).then(|| digits(x)).flatten();
        if a.len() == 4 {
            let year = i32::try_from(number(a)?).ok()?;
            let month = u8::try_from(number(b)?).ok()?;
            return Date::new(year, month, u8::try_from(number(c)?).ok()?);
        }
        let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(b))? as u8 + 1;
        if c.len() != 4 {
            return None;
        }
        let year = i32::try_from(number(c)?).ok()?;
        Date::new(year, month, u8::try_from(number(a)?).ok()?)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Parses `d-mmm-y`, as FEATURE lines and ISSUED=/START= write it.
    /// Year 0 (in any number of digits) and `permanent` mean "never expires".
    pub fn parse(text: &str) -> Result<ParsedDate, DateError> {
        if text.eq_ignore_ascii_case("permanent") {
            return Ok(ParsedDate {
                expiry: Expiry::Permanent,
                two_digit_year: false,
            });
        }
        let shape = || DateError::Shape(text.to_string());
        let Some((d, rest)) = split_dash(text) else {
            return Err(shape());
        };
        let Some((m, y)) = split_dash(rest).filter(|(_, y)| !y.contains('-')) else {
            return Err(shape());
        };
        if !(1..=2).contains(&d.len()) || !(1..=4).contains(&y.len()) {
            return Err(shape());
        }
        // At most four digits each: the numbers cannot overflow.
        let (Some(day), Some(year)) = (digits(d), digits(y)) else {
            return Err(shape());
        };
        let month = month_number(m).ok_or_else(|| DateError::Month(m.to_string()))?;
        let year = year as i32;
        if year == 0 {
            // Still a date: 31-feb-0 is a typing mistake, not "permanent".
            if Date::new(2000, month, day.min(255) as u8).is_none() {
                return Err(DateError::Day {
                    day,
                    month: MONTHS[usize::from(month) - 1],
                    year,
                });
            }
            return Ok(ParsedDate {
                expiry: Expiry::Permanent,
                two_digit_year: false,
            });
        }
        let (year, two_digit_year) = match y.len() {
            1 | 2 => (1900 + year, true),
            4 => (year, false),
            _ => return Err(DateError::Year(y.to_string())),
        };
        let date = Date::new(year, month, day.min(255) as u8).ok_or(DateError::Day {
            day,
            month: MONTHS[usize::from(month) - 1],
            year,
        })?;
        Ok(ParsedDate {
            expiry: Expiry::On(date),
            two_digit_year,
        })
    }
}

/// `text` cut at its first `-` (as `split_once`, on bytes: date fields
/// are short and read for every line).
fn split_dash(text: &str) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == b'-')?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// The value of a short run of ASCII digits; `None` if it has anything else.
fn digits(text: &str) -> Option<u32> {
    text.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit()
            .then(|| n.wrapping_mul(10).wrapping_add(u32::from(b - b'0')))
    })
}

/// 1 to 12 for `jan` to `dec`, in any case.
fn month_number(name: &str) -> Option<u8> {
    let [a, b, c] = <[u8; 3]>::try_from(name.as_bytes()).ok()?;
    let lower = [
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ];
    let i = MONTHS.iter().position(|m| m.as_bytes() == lower)?;
    Some(i as u8 + 1)
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let month = MONTHS[usize::from(self.month.clamp(1, 12)) - 1];
        write!(f, "{}-{}-{:04}", self.day, month, self.year)
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Date { year, month, day } = self.0;
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl Serialize for IsoDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Expiry {
    /// True when the line can no longer be used on `today`.
    pub fn is_expired(&self, today: Date) -> bool {
        match self {
            Expiry::Permanent => false,
            Expiry::On(last) => today > *last,
        }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expiry::Permanent => f.write_str("permanent"),
            Expiry::On(d) => d.fmt(f),
        }
    }
}

impl Serialize for Expiry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(text: &str) -> Date {
        match Date::parse(text).unwrap().expiry {
            Expiry::On(d) => d,
            Expiry::Permanent => panic!("{text} parsed as permanent"),
        }
    }

    #[test]
    fn forms_of_never_expiring() {
        for t in [
            "permanent",
            "PERMANENT",
            "1-jan-0",
            "01-jan-00",
            "1-jan-000",
            "1-jan-0000",
        ] {
            assert_eq!(Date::parse(t).unwrap().expiry, Expiry::Permanent, "{t}");
        }
    }

    #[test]
    fn four_and_two_digit_years() {
        assert_eq!(on("07-may-2005"), Date::new(2005, 5, 7).unwrap());
        assert_eq!(on("1-JAN-95"), Date::new(1995, 1, 1).unwrap());
        assert!(Date::parse("1-jan-95").unwrap().two_digit_year);
        assert!(!Date::parse("1-jan-2095").unwrap().two_digit_year);
    }

    #[test]
    fn refuses_impossible_dates() {
        assert!(matches!(
            Date::parse("30-feb-2024"),
            Err(DateError::Day { .. })
        ));
        assert!(matches!(
            Date::parse("29-feb-2023"),
            Err(DateError::Day { .. })
        ));
        assert!(Date::parse("29-feb-2024").is_ok());
        assert!(matches!(
            Date::parse("99-jan-0"),
            Err(DateError::Day { .. })
        ));
        assert!(matches!(
            Date::parse("1-foo-2024"),
            Err(DateError::Month(_))
        ));
        assert!(matches!(Date::parse("1-jan-123"), Err(DateError::Year(_))));
        assert!(matches!(
            Date::parse("jan-1-2024"),
            Err(DateError::Shape(_))
        ));
        assert!(matches!(
            Date::parse("1-jan-2024-x"),
            Err(DateError::Shape(_))
        ));
    }

    #[test]
    fn expiry_is_inclusive_of_the_last_day() {
        let e = Date::parse("31-dec-2026").unwrap().expiry;
        assert!(!e.is_expired(Date::new(2026, 12, 31).unwrap()));
        assert!(e.is_expired(Date::new(2027, 1, 1).unwrap()));
        assert!(!Expiry::Permanent.is_expired(Date::new(9999, 1, 1).unwrap()));
    }

    #[test]
    fn days_as_the_tools_take_them() {
        let d = Date::new(2026, 1, 5).unwrap();
        assert_eq!(Date::parse_day("5-jan-2026"), Some(d));
        assert_eq!(Date::parse_day("05-Jan-2026"), Some(d));
        assert_eq!(Date::parse_day(" 2026-01-05 "), Some(d));
        assert_eq!(Date::parse_day("29-feb-2024"), Date::new(2024, 2, 29));
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
            "permanent",
            "1-jan-0",
            "2026-01-05-1",
        ] {
            assert_eq!(Date::parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn two_ways_of_writing_a_date() {
        let d = Date::new(2026, 1, 5).unwrap();
        assert_eq!(d.to_string(), "5-jan-2026");
        assert_eq!(d.iso().to_string(), "2026-01-05");
        assert_eq!(
            Date::new(987, 12, 31).unwrap().iso().to_string(),
            "0987-12-31"
        );
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"5-jan-2026\"");
        assert_eq!(serde_json::to_string(&d.iso()).unwrap(), "\"2026-01-05\"");
    }

    #[test]
    fn weekdays() {
        assert_eq!(Date::new(1970, 1, 1).unwrap().weekday(), 4, "a Thursday");
        assert_eq!(Date::new(2026, 1, 5).unwrap().weekday(), 1, "a Monday");
        assert_eq!(Date::new(1969, 12, 28).unwrap().weekday(), 0, "a Sunday");
    }

    #[test]
    fn epoch_day_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 59, 10_957, 20_000, 2_932_896] {
            let d = Date::from_days_since_epoch(days);
            assert_eq!(d.days_since_epoch(), days, "{d}");
        }
        assert_eq!(
            Date::from_days_since_epoch(0),
            Date::new(1970, 1, 1).unwrap()
        );
        assert_eq!(
            Date::from_days_since_epoch(20_779),
            Date::new(2026, 11, 22).unwrap()
        );
    }
}
