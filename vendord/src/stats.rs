//! What a vendor daemon tells lmgrd's HTTP endpoint: its counters for the
//! metrics (the core's [`accounting::Counters`] plus what only the event
//! loop can see: open connections, how long checkouts take from arrival to
//! answer), and the daily use its report log shows, for the dashboard.

use std::time::Duration;
use wire::frame::DEFAULT_MAX_PAYLOAD;
use wire::{
    CodeCount, FeatureUsage, Message, StatsReply, UsageDay, UsageReply, CHECKOUT_LATENCY_BOUNDS_US,
};

/// Checkout answer times, per bucket of [`CHECKOUT_LATENCY_BOUNDS_US`] and
/// one more for slower ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    buckets: [u64; CHECKOUT_LATENCY_BOUNDS_US.len() + 1],
    sum_us: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: [0; CHECKOUT_LATENCY_BOUNDS_US.len() + 1],
            sum_us: 0,
        }
    }
}

impl Latency {
    /// One checkout answered `took` after it arrived.
    pub fn observe(&mut self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = CHECKOUT_LATENCY_BOUNDS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(CHECKOUT_LATENCY_BOUNDS_US.len());
        self.buckets[slot] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }
}

/// The reply to a `StatsQuery`.
pub fn reply(counters: &accounting::Counters, latency: &Latency, connections: usize) -> StatsReply {
    StatsReply {
        granted: counters.granted,
        queued: counters.queued,
        denied: counters
            .denied
            .iter()
            .map(|(&code, &count)| CodeCount { code, count })
            .collect(),
        released: counters.released,
        reclaimed: counters.reclaimed,
        removed: counters.removed,
        heartbeat_misses: counters.heartbeat_misses,
        connections: u32::try_from(connections).unwrap_or(u32::MAX),
        latency_buckets: latency.buckets.to_vec(),
        latency_sum_us: latency.sum_us,
    }
}

/// The reply to a `UsageQuery` for `days` days: `daily` is `None` without
/// a report log. Older days are left out until the reply fits a client's
/// frame, whatever the number of features.
pub fn usage_reply(daily: Option<Vec<reportlog::DailyUse>>, days: u32) -> UsageReply {
    let Some(daily) = daily else {
        return UsageReply::default();
    };
    let mut keep = days.min(366) as usize;
    let mut truncated = false;
    loop {
        let reply = UsageReply {
            logged: true,
            features: daily.iter().map(|f| last_days(f, keep)).collect(),
            truncated,
        };
        // The frame header and some room are kept aside.
        let fits = Message::Usage(reply.clone()).to_frame_bytes().len() + 64 <= DEFAULT_MAX_PAYLOAD;
        if fits || keep == 0 {
            return reply;
        }
        keep /= 2;
        truncated = true;
    }
}

fn last_days(f: &reportlog::DailyUse, keep: usize) -> FeatureUsage {
    let skip = f.days.len().saturating_sub(keep);
    FeatureUsage {
        feature: f.feature.clone(),
        issued: f.issued,
        days: f.days[skip..]
            .iter()
            .map(|d| UsageDay {
                date: d.date.iso().to_string(),
                peak: d.peak,
                checkouts: d.checkouts,
                denied: d.denied,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_land_in_the_first_bucket_that_holds_them() {
        let mut l = Latency::default();
        l.observe(Duration::from_micros(50));
        l.observe(Duration::from_micros(51));
        l.observe(Duration::from_secs(3));
        let r = reply(&accounting::Counters::default(), &l, 7);
        assert_eq!(
            r.latency_buckets.len(),
            CHECKOUT_LATENCY_BOUNDS_US.len() + 1
        );
        assert_eq!(r.latency_buckets[0], 1, "50 µs is at most 50 µs");
        assert_eq!(r.latency_buckets[1], 1);
        assert_eq!(*r.latency_buckets.last().unwrap(), 1, "slower than 1 s");
        assert_eq!(r.latency_sum_us, 3_000_101);
        assert_eq!(r.connections, 7);
    }

    fn many_days(features: usize, days: usize) -> Vec<reportlog::DailyUse> {
        let first = grammar::Date::new(2025, 1, 1).unwrap();
        (0..features)
            .map(|i| reportlog::DailyUse {
                feature: format!("feature_with_a_long_name_{i}"),
                issued: 10,
                days: (0..days)
                    .map(|d| reportlog::DayUse {
                        date: grammar::Date::from_days_since_epoch(
                            first.days_since_epoch() + d as i64,
                        ),
                        peak: 5,
                        checkouts: 100,
                        denied: 1,
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn usage_keeps_the_last_days_asked_for() {
        let r = usage_reply(Some(many_days(2, 40)), 31);
        assert!(r.logged && !r.truncated);
        assert_eq!(r.features[0].days.len(), 31);
        assert_eq!(r.features[0].days.last().unwrap().date, "2025-02-09");
        assert_eq!(usage_reply(None, 31), UsageReply::default());
    }

    #[test]
    fn usage_of_many_features_fits_one_frame() {
        let r = usage_reply(Some(many_days(500, 366)), 366);
        assert!(r.truncated);
        assert_eq!(r.features.len(), 500, "every feature is kept");
        assert!(!r.features[0].days.is_empty());
        assert!(Message::Usage(r).to_frame_bytes().len() <= DEFAULT_MAX_PAYLOAD);
    }
}
