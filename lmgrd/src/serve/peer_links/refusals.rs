//! Refused triad connections, logged once per burst: a member retrying
//! with the wrong key, or a stranger knocking, must not fill the log.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// A refused triad connection is logged again only after this long without
/// another from the same address for the same reason.
const REFUSAL_QUIET_MS: u64 = 30_000;
/// Addresses remembered for that, at most.
const MAX_REFUSALS: usize = 256;

/// The log line for a refused triad connection.
pub fn refusal_line(addr: SocketAddr, member: u64, why: &str) -> String {
    format!("Refused a triad connection from {addr} (member {member}): {why}")
}

/// When each (address, reason) of a refused connection was last seen: a
/// burst of refusals (a member retrying with the wrong key, a stranger
/// knocking) is news once, and again after `REFUSAL_QUIET_MS` of quiet.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    seen: HashMap<(IpAddr, String), u64>,
}

impl Refusals {
    /// Whether a refusal of `ip` for `why` at `now` is news (and notes it).
    pub(super) fn is_news(&mut self, ip: IpAddr, why: &str, now: u64) -> bool {
        if self.seen.len() >= MAX_REFUSALS {
            self.seen
                .retain(|_, at| now.saturating_sub(*at) < REFUSAL_QUIET_MS);
            if self.seen.len() >= MAX_REFUSALS {
                self.seen.clear();
            }
        }
        let last = self.seen.insert((ip, why.to_string()), now);
        last.is_none_or(|at| now.saturating_sub(at) >= REFUSAL_QUIET_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_refusals_is_news_once_per_address_and_reason() {
        let mut r = Refusals::default();
        let a = IpAddr::from([127, 0, 0, 2]);
        let b = IpAddr::from([127, 0, 0, 3]);
        assert!(r.is_news(a, "bad proof", 0));
        assert!(!r.is_news(a, "bad proof", 1_000));
        assert!(!r.is_news(a, "bad proof", 1_000 + REFUSAL_QUIET_MS - 1));
        assert!(r.is_news(a, "no key", 2_000), "another reason");
        assert!(r.is_news(b, "bad proof", 2_000), "another address");
        // Still retrying: the burst goes on, quiet is counted from the last.
        assert!(!r.is_news(a, "bad proof", 2 * REFUSAL_QUIET_MS - 2));
        assert!(r.is_news(a, "bad proof", 4 * REFUSAL_QUIET_MS));
        // Many addresses do not grow it without bound.
        for i in 0..(3 * MAX_REFUSALS as u32) {
            r.is_news(IpAddr::from(i.to_be_bytes()), "x", 10 * REFUSAL_QUIET_MS);
        }
        assert!(r.seen.len() <= MAX_REFUSALS);
    }
}
