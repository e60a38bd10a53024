//! What a job does with its licenses when their server becomes
//! unreachable after a checkout: FLEXlm leaves this to each application
//! (restrictive, lenient, retry then give up); some products give a grace
//! period. The decision is a pure function of the policy, the failed
//! reconnect attempts and the time since the connection was lost, so it
//! is tested without a server or a clock.
//!
//! Whatever the policy, a *new* checkout always needs a server: a policy
//! only decides how long licenses already held stay usable.

use std::time::Duration;

/// How a job treats the licenses it holds while their server cannot be
/// reached. Reconnecting goes on under every policy, and licenses the
/// server gives back (or lets the job check out again) are held again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Reported lost after [`crate::JobConfig::retry_count`] failed
    /// reconnect attempts: FLEXlm's behaviour.
    #[default]
    AfterRetries,
    /// Reported lost at once, when the connection is lost (FLEXlm's
    /// `LM_RESTRICTIVE`: the application decides what to do).
    Restrictive,
    /// Never reported lost for want of a server (FLEXlm's `LM_LENIENT`
    /// and `LM_FAILSAFE`): the application keeps running; the job's
    /// status says the server is unreachable.
    Lenient,
    /// Kept usable for this long after the connection was lost, the job
    /// saying "in grace until ..." meanwhile; then reported lost.
    Grace(Duration),
}

/// Where held licenses stand while the server is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still usable, with no deadline.
    Keep,
    /// Usable for `left` more.
    Grace { left: Duration },
    /// To be reported lost now.
    Lose,
}

impl FailurePolicy {
    /// The verdict after `failed` failed reconnect attempts (`allowed`
    /// being the attempts [`FailurePolicy::AfterRetries`] tolerates), when
    /// the connection was lost `elapsed` ago.
    pub(crate) fn verdict(self, failed: u32, allowed: u32, elapsed: Duration) -> Verdict {
        match self {
            FailurePolicy::AfterRetries if failed >= allowed => Verdict::Lose,
            FailurePolicy::AfterRetries | FailurePolicy::Lenient => Verdict::Keep,
            FailurePolicy::Restrictive => Verdict::Lose,
            FailurePolicy::Grace(period) => match period.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => Verdict::Grace { left },
                _ => Verdict::Lose,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn after_retries_loses_at_the_retry_count() {
        let p = FailurePolicy::AfterRetries;
        assert_eq!(p.verdict(0, 5, S(0)), Verdict::Keep);
        assert_eq!(p.verdict(4, 5, S(3600)), Verdict::Keep);
        assert_eq!(p.verdict(5, 5, S(1)), Verdict::Lose);
    }

    #[test]
    fn restrictive_loses_at_once_and_lenient_never() {
        assert_eq!(
            FailurePolicy::Restrictive.verdict(0, 5, S(0)),
            Verdict::Lose
        );
        assert_eq!(
            FailurePolicy::Lenient.verdict(1000, 5, S(86_400 * 30)),
            Verdict::Keep
        );
    }

    #[test]
    fn a_grace_period_counts_down_then_loses() {
        let p = FailurePolicy::Grace(S(7 * 86_400));
        assert_eq!(
            p.verdict(0, 5, S(0)),
            Verdict::Grace {
                left: S(7 * 86_400)
            }
        );
        // Failed attempts do not shorten it.
        assert_eq!(
            p.verdict(500, 5, S(86_400)),
            Verdict::Grace {
                left: S(6 * 86_400)
            }
        );
        assert_eq!(p.verdict(1, 5, S(7 * 86_400)), Verdict::Lose);
        assert_eq!(p.verdict(1, 5, S(8 * 86_400)), Verdict::Lose);
    }
}
