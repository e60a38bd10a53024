//! Warnings before licenses stop working: FLEXlm says nothing until the
//! day a feature is refused, so an administrator learns of an expiry from
//! users. A served line whose expiry date is near is named in the debug
//! log (and by `lmgrd --check`), every day until it expires or is renewed.

use grammar::pool::Pool;
use grammar::{Date, Expiry};

/// One license line of a served pool that expires soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiring {
    /// The feature.
    pub feature: String,
    /// The version, as the license line writes it.
    pub version: String,
    /// First physical line of the license line.
    pub line: u32,
    /// How many seats.
    pub count: u32,
    /// Whether the pool is counted (uncounted lines have no seat limit).
    pub counted: bool,
    /// The last day it can be used.
    pub last_day: Date,
    /// Days from today to `last_day` (0: today is the last day).
    pub days_left: i64,
}

impl std::fmt::Display for Expiring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match (self.counted, self.count) {
            (false, _) => "its uncounted licenses".to_string(),
            (true, 1) => "1 license".to_string(),
            (true, n) => format!("{n} licenses"),
        };
        let when = match self.days_left {
            0 => "today is the last day".to_string(),
            1 => "in 1 day".to_string(),
            n => format!("in {n} days"),
        };
        write!(
            f,
            "EXPIRY WARNING: \"{}\" v{} (license line {}): {what} expire on {}, {when}",
            self.feature, self.version, self.line, self.last_day
        )
    }
}

/// The lines of `pools` in use on `today` whose expiry is at most `days`
/// days away, soonest first. `days` 0 turns the warning off.
pub fn expiring<'a>(
    pools: impl IntoIterator<Item = &'a Pool>,
    today: Date,
    days: u32,
) -> Vec<Expiring> {
    if days == 0 {
        return Vec::new();
    }
    let mut out: Vec<Expiring> = pools
        .into_iter()
        .flat_map(|pool| {
            pool.contributions.iter().filter_map(move |c| {
                let Expiry::On(last_day) = c.expiry else {
                    return None;
                };
                let days_left = last_day.days_since_epoch() - today.days_since_epoch();
                let started = c.start.is_none_or(|s| s <= today);
                (started && (0..=i64::from(days)).contains(&days_left)).then(|| Expiring {
                    feature: pool.feature.clone(),
                    version: pool.version.as_written().to_string(),
                    line: c.line,
                    count: c.count,
                    counted: pool.counted,
                    last_day,
                    days_left,
                })
            })
        })
        .collect();
    out.sort_by_key(|e| (e.days_left, e.line));
    out.dedup_by_key(|e| e.line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(text: &str, today: Date) -> grammar::pool::PoolSet {
        let file = grammar::parse_license("t.lic", text);
        grammar::pool::build_pools(&file, &Default::default(), today)
    }

    #[test]
    fn warns_within_the_window_only() {
        let today = Date::new(2030, 1, 10).unwrap();
        let text = "SERVER h ANY\nVENDOR demo\n\
            FEATURE soon demo 1.0 20-jan-2030 3 SIGN=0\n\
            FEATURE later demo 1.0 25-jan-2030 1 SIGN=0\n\
            FEATURE last demo 2.0 10-jan-2030 uncounted HOSTID=ANY SIGN=0\n\
            FEATURE never demo 1.0 permanent 1 SIGN=0\n";
        let set = pools(text, today);
        let found = expiring(&set.pools, today, 14);
        let names: Vec<(&str, i64)> = found
            .iter()
            .map(|e| (e.feature.as_str(), e.days_left))
            .collect();
        assert_eq!(names, vec![("last", 0), ("soon", 10)]);
        assert_eq!(
            found[1].to_string(),
            "EXPIRY WARNING: \"soon\" v1.0 (license line 3): 3 licenses expire on 20-jan-2030, in 10 days"
        );
        assert!(found[0].to_string().contains("today is the last day"));
        assert_eq!(expiring(&set.pools, today, 15).len(), 3);
        assert!(expiring(&set.pools, today, 0).is_empty(), "0 turns it off");
    }
}
