//! When a session tries to reconnect after losing its server, and after
//! how many failed attempts its held seats count as lost. Pure: the
//! randomness that spreads the attempts is passed in (any [`RngCore`]),
//! so tests choose it and get the same delays every run.
//!
//! Why the attempts are spread: when a triad's master dies, every
//! application holding its licenses loses its connection in the same
//! instant. Retrying on a fixed schedule would bring them all back in the
//! same millisecond, again and again, and the new master would meet each
//! wave at once. With a random share in each wait the waves flatten into
//! a steady stream, and every seat still comes back (the server gives it
//! back by job id, whenever the job arrives).

use rand::RngCore;
use std::time::Duration;

/// Reconnect attempts made quickly after losing a triad's master: a new
/// master is normally elected within about two seconds, and waiting a
/// doubling backoff would keep the application away for longer than that.
pub(crate) const TRIAD_FAST_RETRIES: u32 = 15;
/// The longest wait between the triad's quick attempts.
const TRIAD_FAST_DELAY: Duration = Duration::from_millis(200);

/// The job's retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retry {
    /// The first wait of the doubling backoff.
    pub(crate) initial: Duration,
    /// The longest wait.
    pub(crate) max: Duration,
    /// Failed attempts the application tolerates before its seats are
    /// reported lost (see [`Retry::attempts_before_lost`]).
    pub(crate) count: u32,
}

/// The doubling backoff before attempt `attempt` (1-based): from
/// `initial`, at most `max`.
pub(crate) fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    initial.saturating_mul(factor).min(max)
}

/// "Equal jitter": half of `ceiling` fixed, the other half random. The
/// fixed half keeps a retry from ever being immediate (so a failing server
/// is never hammered) and keeps the backoff's growth; the random half
/// spreads clients that failed together over a window as wide as half the
/// wait; and the whole never exceeds `ceiling`, so nobody waits longer
/// than the unspread schedule said. (Full jitter, anything from zero to
/// the ceiling, spreads wider but lets a retry follow at once.)
pub(crate) fn equal_jitter(ceiling: Duration, rng: &mut impl RngCore) -> Duration {
    let fixed = ceiling / 2;
    fixed + share(ceiling - fixed, rng)
}

/// A random duration from zero to `up_to`, both included, at nanosecond
/// grain. One 64-bit draw scaled by a widening multiply: no rejection loop,
/// so any source of numbers (a fixed one in tests) gives an answer at once,
/// and its bias (below 2^-64 of the range) is nothing next to a spread.
fn share(up_to: Duration, rng: &mut impl RngCore) -> Duration {
    let nanos = u64::try_from(up_to.as_nanos()).unwrap_or(u64::MAX);
    let scaled = (u128::from(rng.next_u64()) * (u128::from(nanos) + 1)) >> 64;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(nanos))
}

impl Retry {
    /// The longest wait before reconnect attempt `attempt` (1-based) to a
    /// route of `servers` servers: for a triad, [`TRIAD_FAST_RETRIES`]
    /// attempts at most 200 ms apart first, then the usual backoff.
    pub(crate) fn ceiling(&self, attempt: u32, servers: usize) -> Duration {
        if servers > 1 && attempt <= TRIAD_FAST_RETRIES {
            return TRIAD_FAST_DELAY.min(self.initial);
        }
        let counted = if servers > 1 {
            attempt - TRIAD_FAST_RETRIES
        } else {
            attempt
        };
        backoff(counted, self.initial, self.max)
    }

    /// The wait before reconnect attempt `attempt` (1-based, counted after
    /// the first failure). A triad's quick attempts take [`equal_jitter`]:
    /// that is where every application of a dead master retries at once.
    /// The backoff after them keeps its whole wait and adds up to a tenth
    /// at random: the quick attempts have already spread the applications
    /// apart, and the backoff's sum is how long an application rides out an
    /// outage before its licenses count as lost (retry count times
    /// interval, as the administrator set them), which a spread must not
    /// shorten.
    pub(crate) fn delay(&self, attempt: u32, servers: usize, rng: &mut impl RngCore) -> Duration {
        let ceiling = self.ceiling(attempt, servers);
        if servers > 1 && attempt <= TRIAD_FAST_RETRIES {
            equal_jitter(ceiling, rng)
        } else {
            ceiling + share(ceiling / 10, rng)
        }
    }

    /// The wait before the first attempt after a connection is lost:
    /// anything up to half the first quick wait (100 ms at most). Nothing
    /// has failed yet, so it may be immediate; it only keeps the holders
    /// that one crash disconnected together from all knocking in the same
    /// millisecond.
    pub(crate) fn first_delay(&self, servers: usize, rng: &mut impl RngCore) -> Duration {
        share(self.ceiling(1, servers).min(TRIAD_FAST_DELAY) / 2, rng)
    }

    /// After how many failed attempts the seats are reported lost: the
    /// triad's quick attempts do not count against the application's
    /// retry count. Attempts are counted, not timed, so the random share
    /// of each wait changes when the loss is reported (never later than
    /// without it) but not after how many failures.
    pub(crate) fn attempts_before_lost(&self, servers: usize) -> u32 {
        if servers > 1 {
            self.count.saturating_add(TRIAD_FAST_RETRIES)
        } else {
            self.count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{FailurePolicy, Verdict};
    use rand::rngs::mock::StepRng;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    const LMFLEX: Retry = Retry {
        initial: ms(1000),
        max: ms(60_000),
        count: 5,
    };

    /// Always draws the lowest value of a range.
    fn lowest() -> StepRng {
        StepRng::new(0, 0)
    }

    /// Always draws the highest value of a range.
    fn highest() -> StepRng {
        StepRng::new(u64::MAX, 0)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let seq: Vec<Duration> = (1..=6).map(|a| backoff(a, ms(100), ms(1000))).collect();
        assert_eq!(
            seq,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(backoff(1000, ms(100), ms(1000)), ms(1000));
        assert_eq!(backoff(0, ms(100), ms(1000)), ms(100));
    }

    #[test]
    fn a_triad_is_retried_quickly_first_and_its_quick_tries_do_not_lose_seats() {
        let s = LMFLEX;
        let triad: Vec<Duration> = (1..=17).map(|a| s.ceiling(a, 3)).collect();
        assert!(triad[..15].iter().all(|d| *d == ms(200)), "{triad:?}");
        assert_eq!(&triad[15..], &[ms(1000), ms(2000)]);
        let single: Vec<Duration> = (1..=3).map(|a| s.ceiling(a, 1)).collect();
        assert_eq!(single, [ms(1000), ms(2000), ms(4000)]);
        assert_eq!(s.attempts_before_lost(1), 5);
        assert_eq!(s.attempts_before_lost(3), 20);
    }

    #[test]
    fn equal_jitter_keeps_half_and_never_passes_the_ceiling() {
        assert_eq!(equal_jitter(ms(200), &mut lowest()), ms(100));
        assert_eq!(equal_jitter(ms(200), &mut highest()), ms(200));
        assert_eq!(equal_jitter(Duration::ZERO, &mut highest()), Duration::ZERO);
        // An odd number of nanoseconds: the ceiling is still reachable.
        let odd = Duration::from_nanos(3);
        assert_eq!(equal_jitter(odd, &mut highest()), odd);
        assert_eq!(equal_jitter(odd, &mut lowest()), Duration::from_nanos(1));
        let mut rng = StdRng::seed_from_u64(1);
        for attempt in 1..=40 {
            for servers in [1, 3] {
                let ceiling = LMFLEX.ceiling(attempt, servers);
                let d = LMFLEX.delay(attempt, servers, &mut rng);
                if servers > 1 && attempt <= TRIAD_FAST_RETRIES {
                    assert!(d >= ceiling / 2 && d <= ceiling, "{attempt}: {d:?}");
                } else {
                    // The backoff is never shortened, and spread by a tenth.
                    assert!(
                        d >= ceiling && d <= ceiling + ceiling / 10,
                        "{attempt}: {d:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_first_attempt_after_a_loss_comes_within_a_tenth_of_a_second() {
        assert_eq!(LMFLEX.first_delay(3, &mut lowest()), Duration::ZERO);
        assert_eq!(LMFLEX.first_delay(3, &mut highest()), ms(100));
        assert_eq!(LMFLEX.first_delay(1, &mut highest()), ms(100));
        // A job that retries faster than that spreads its first attempt less.
        let quick = Retry {
            initial: ms(20),
            ..LMFLEX
        };
        assert_eq!(quick.first_delay(1, &mut highest()), ms(10));
    }

    /// When each of `holders` jobs, losing the master at time zero, makes
    /// each of its first `attempts` attempts (if every one of them fails at
    /// once).
    fn attempt_times(holders: u64, attempts: u32, servers: usize) -> Vec<Vec<Duration>> {
        (0..holders)
            .map(|seed| {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut at = LMFLEX.first_delay(servers, &mut rng);
                let mut times = vec![at];
                for attempt in 1..attempts {
                    at += LMFLEX.delay(attempt, servers, &mut rng);
                    times.push(at);
                }
                times
            })
            .collect()
    }

    #[test]
    fn ten_thousand_holders_of_a_triad_do_not_retry_in_the_same_millisecond() {
        let times = attempt_times(10_000, TRIAD_FAST_RETRIES + 1, 3);
        for n in 0..=TRIAD_FAST_RETRIES as usize {
            let mut per_ms = std::collections::BTreeMap::<u128, u32>::new();
            for t in &times {
                *per_ms.entry(t[n].as_millis()).or_default() += 1;
            }
            // Unspread, all 10,000 would come in one millisecond; spread
            // over at least 100 ms, no millisecond sees more than a few
            // percent of them.
            let busiest = per_ms.values().max().copied().unwrap_or(0);
            assert!(busiest < 300, "attempt {n}: {busiest} in one ms");
            assert!(per_ms.len() >= 100, "attempt {n}: {} ms", per_ms.len());
        }
    }

    #[test]
    fn the_quick_tries_stay_quick_and_cover_an_election() {
        // The quick tries keep coming at most 200 ms apart, and the last of
        // them comes no sooner than 1.5 s after the loss (fifteen waits of
        // at least 100 ms after a first try that may be immediate) and no
        // later than 3.1 s: the master normally changes in about two.
        for t in attempt_times(1000, TRIAD_FAST_RETRIES + 1, 3) {
            assert!(t[0] <= ms(100), "{t:?}");
            let quick = ms(100)..=ms(200);
            assert!(
                t.windows(2).all(|w| quick.contains(&(w[1] - w[0]))),
                "{t:?}"
            );
            let last = t[TRIAD_FAST_RETRIES as usize];
            assert!((ms(1500)..=ms(3100)).contains(&last), "{t:?}");
        }
    }

    #[test]
    fn with_the_spread_seats_are_lost_after_as_many_failures_and_hardly_sooner() {
        // The failure policy counts failed attempts: run the reconnect
        // loop's judgement on virtual time with every attempt failing.
        let policy = FailurePolicy::AfterRetries;
        for servers in [1, 3] {
            let allowed = LMFLEX.attempts_before_lost(servers);
            let unspread: Duration = (1..allowed).map(|a| LMFLEX.ceiling(a, servers)).sum();
            for seed in 0..200 {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut elapsed = LMFLEX.first_delay(servers, &mut rng);
                let mut failed = 0;
                loop {
                    failed += 1;
                    if policy.verdict(failed, allowed, elapsed) == Verdict::Lose {
                        break;
                    }
                    elapsed += LMFLEX.delay(failed, servers, &mut rng);
                }
                assert_eq!(failed, allowed);
                assert!(
                    elapsed <= unspread + unspread / 10 + ms(100),
                    "{servers}: {elapsed:?}"
                );
                // Only a triad's quick attempts may come sooner, by at
                // most half of each: an outage the unspread schedule rode
                // out is ridden out still, but for at most 1.5 s.
                let quick = if servers > 1 {
                    TRIAD_FAST_DELAY / 2 * TRIAD_FAST_RETRIES
                } else {
                    Duration::ZERO
                };
                assert!(elapsed + quick >= unspread, "{servers}: {elapsed:?}");
            }
        }
    }

    #[test]
    fn a_grace_period_ends_on_time_whatever_the_spread() {
        // The session waits the smaller of the spread delay and what is
        // left of the grace period, so the loss is judged at its end.
        let grace = Duration::from_secs(30);
        let policy = FailurePolicy::Grace(grace);
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut elapsed = LMFLEX.first_delay(1, &mut rng);
            let mut failed = 0;
            let lost_at = loop {
                failed += 1;
                match policy.verdict(failed, LMFLEX.attempts_before_lost(1), elapsed) {
                    Verdict::Lose => break elapsed,
                    Verdict::Grace { left } => {
                        elapsed += LMFLEX.delay(failed, 1, &mut rng).min(left)
                    }
                    Verdict::Keep => unreachable!("a grace period always ends"),
                }
            };
            assert_eq!(lost_at, grace);
        }
    }
}
