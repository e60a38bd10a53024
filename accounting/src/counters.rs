//! What a daemon has done since it started, counted where it happens: the
//! counters behind the metrics that lmgrd's HTTP endpoint publishes
//! (checkouts, denials by error number, seats reclaimed, heartbeats missed).
//!
//! Counters only ever grow, as Prometheus counters must; a standby member of
//! a triad counts nothing, since the seats it mirrors were counted by the
//! master that granted them.

use std::collections::BTreeMap;

/// The counters of one daemon.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Checkouts granted, including queued ones when their seat came.
    pub granted: u64,
    /// Checkouts that joined the queue (`-35`).
    pub queued: u64,
    /// Checkouts refused, by FLEXlm error number (the queue's `-35` is not a refusal).
    pub denied: BTreeMap<i32, u64>,
    /// Seats given back, for whatever reason.
    pub released: u64,
    /// Seats taken back because their holder went silent or idle
    /// (`IN: ... (INACTIVE)`).
    pub reclaimed: u64,
    /// Seats taken back by an administrator (lmremove).
    pub removed: u64,
    /// Connections holding seats closed because no heartbeat came in time.
    pub heartbeat_misses: u64,
}

impl Counters {
    /// A checkout refused with `code`.
    pub(crate) fn deny(&mut self, code: i32) {
        *self.denied.entry(code).or_default() += 1;
    }

    /// All refusals, whatever their number.
    pub fn denied_total(&self) -> u64 {
        self.denied.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{co, core_for, ident};
    use crate::{ConnId, Message};
    use wire::Checkin;

    const FOUR: &str = "SERVER this_host ANY 27000\nVENDOR demo\nFEATURE f1 demo 1.0 permanent 2\n";

    fn handle(fx: &crate::Effects) -> u64 {
        match fx.replies.as_slice() {
            [(_, Message::Granted(g))] => g.handle,
            other => panic!("expected Granted, got {other:?}"),
        }
    }

    #[test]
    fn the_core_counts_what_it_decides() {
        let mut core = core_for(FOUR);
        core.config_mut().timeout_ms = 1000;
        for conn in 1..=4 {
            let _ = core.connect(0, ConnId(conn), ident(&format!("u{conn}"), "ws"));
        }
        let first = handle(&core.checkout(0, ConnId(1), &co("f1", "1.0", 1)));
        handle(&core.checkout(0, ConnId(2), &co("f1", "1.0", 1)));
        let _ = core.checkout(0, ConnId(3), &co("f1", "1.0", 1));
        let _ = core.checkout(0, ConnId(3), &co("nosuch", "1.0", 1));
        let mut wait = co("f1", "1.0", 1);
        wait.queue = true;
        let _ = core.checkout(0, ConnId(4), &wait);
        let a = core.counters().clone();
        assert_eq!((a.granted, a.queued, a.released), (2, 1, 0));
        assert_eq!(a.denied.get(&wire::lmerr::LM_MAXUSERS), Some(&1));
        assert_eq!(a.denied.get(&wire::lmerr::LM_NOFEATURE), Some(&1));
        assert_eq!(a.denied_total(), 2, "the queue's -35 is not a refusal");

        // A checkin frees a seat, which goes to the waiter: one more grant.
        let _ = core.checkin(
            10,
            ConnId(1),
            &Checkin {
                req: 1,
                handle: first,
            },
        );
        let a = core.counters().clone();
        assert_eq!((a.granted, a.released, a.reclaimed), (3, 1, 0));

        // Everyone goes silent: both holders lose their seats.
        let _ = core.tick(5_000);
        let a = core.counters();
        assert_eq!((a.heartbeat_misses, a.reclaimed, a.released), (2, 2, 3));
    }

    #[test]
    fn denials_are_counted_per_number() {
        let mut a = Counters::default();
        a.deny(-4);
        a.deny(-4);
        a.deny(-38);
        assert_eq!(a.denied.get(&-4), Some(&2));
        assert_eq!(a.denied.get(&-38), Some(&1));
        assert_eq!(a.denied_total(), 3);
    }
}
