//! This machine's time zone as a report-log [`Calendar`]: report summaries
//! (lmreport, the dashboard's daily usage) count days as the site lives
//! them, not in UTC.

use grammar::Date;
use reportlog::{Calendar, Civil};

/// Local dates and times, through the C library's time zone rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalCalendar;

impl Calendar for LocalCalendar {
    fn civil(&self, unix: u64) -> Civil {
        let unix = unix.min(reportlog::calendar::MAX_TIME);
        let local = i64::try_from(unix)
            .ok()
            .and_then(logfmt::local_at)
            .and_then(|z| {
                let l = z.local;
                Some((Date::new(l.year, l.month, l.day)?, l.hour, l.minute))
            });
        match local {
            Some((date, hour, minute)) => Civil {
                date,
                hour,
                minute,
                // Every time zone in use is a whole number of minutes away
                // from UTC.
                second: (unix % 60) as u8,
            },
            None => reportlog::Utc.civil(unix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_follow_the_unix_time_and_days_never_go_back() {
        let cal = LocalCalendar;
        let mut last = cal.civil(0).date;
        for t in (0..400u64).map(|d| 1_700_000_000 + d * 21_601) {
            let c = cal.civil(t);
            assert_eq!(u64::from(c.second), t % 60);
            assert!(c.date >= last);
            last = c.date;
        }
    }
}
