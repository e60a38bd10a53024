//! The counters a vendor daemon reports to lmgrd's metrics: the core's
//! [`accounting::Counters`] plus what only the event loop can see (open
//! connections, how long checkouts take from arrival to answer).

use std::time::Duration;
use wire::{CodeCount, StatsReply, CHECKOUT_LATENCY_BOUNDS_US};

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
}
