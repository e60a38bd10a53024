//! When each connection must have done something by: completed its first
//! message, completed a frame it started, or read the replies piled up
//! for it. Pure: the time is passed in (milliseconds on any clock that
//! only moves forward), so the table is tested with a made-up clock.
//!
//! Entries are kept ordered by when they fall due, so the loop can sleep
//! until the next one and find the expired ones without looking at every
//! connection.

use std::collections::{BTreeSet, HashMap};

/// What a connection is waiting to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Deadline {
    /// Send its first whole message (its Hello), counted from the accept.
    Greeting,
    /// Complete a frame whose first bytes arrived.
    Frame,
    /// Read enough of its replies for us to read its requests again.
    Drain,
}

impl Deadline {
    const ALL: [Deadline; 3] = [Deadline::Greeting, Deadline::Frame, Deadline::Drain];

    /// Why a connection that missed this deadline is closed.
    pub fn reason(self, after_ms: u64) -> String {
        match self {
            Deadline::Greeting => {
                format!("no whole message within {after_ms} ms of connecting")
            }
            Deadline::Frame => format!("a frame left incomplete for {after_ms} ms"),
            Deadline::Drain => {
                format!("does not read its replies (output held back for {after_ms} ms)")
            }
        }
    }
}

/// Deadlines by connection token.
#[derive(Debug, Default)]
pub struct Deadlines {
    by_due: BTreeSet<(u64, usize, Deadline)>,
    due: HashMap<(usize, Deadline), u64>,
}

impl Deadlines {
    pub fn new() -> Deadlines {
        Deadlines::default()
    }

    /// `token` must do `what` by `due` (replacing an earlier deadline for
    /// the same thing).
    pub fn set(&mut self, token: usize, what: Deadline, due: u64) {
        if let Some(old) = self.due.insert((token, what), due) {
            self.by_due.remove(&(old, token, what));
        }
        self.by_due.insert((due, token, what));
    }

    /// Like [`set`](Self::set), but keeps a deadline already running: a
    /// frame's time counts from its first bytes, not its latest.
    pub fn start(&mut self, token: usize, what: Deadline, due: u64) {
        if !self.due.contains_key(&(token, what)) {
            self.set(token, what, due);
        }
    }

    /// `token` did `what`.
    pub fn clear(&mut self, token: usize, what: Deadline) {
        if let Some(due) = self.due.remove(&(token, what)) {
            self.by_due.remove(&(due, token, what));
        }
    }

    /// Whether `token` has a deadline for `what`.
    pub fn has(&self, token: usize, what: Deadline) -> bool {
        self.due.contains_key(&(token, what))
    }

    /// `token` is gone: all its deadlines with it.
    pub fn forget(&mut self, token: usize) {
        for what in Deadline::ALL {
            self.clear(token, what);
        }
    }

    /// The earliest deadline.
    pub fn next_due(&self) -> Option<u64> {
        self.by_due.first().map(|(due, _, _)| *due)
    }

    /// Removes and returns the deadlines that have passed at `now`,
    /// earliest first.
    pub fn expired(&mut self, now: u64) -> Vec<(usize, Deadline)> {
        let mut out = Vec::new();
        while let Some(&(due, token, what)) = self.by_due.first() {
            if due > now {
                break;
            }
            self.by_due.pop_first();
            self.due.remove(&(token, what));
            out.push((token, what));
        }
        out
    }

    /// Deadlines running.
    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_expire_in_order_and_only_once() {
        let mut d = Deadlines::new();
        d.set(7, Deadline::Greeting, 1_000);
        d.set(8, Deadline::Greeting, 500);
        d.start(7, Deadline::Frame, 2_000);
        assert_eq!(d.next_due(), Some(500));
        assert!(d.expired(499).is_empty());
        assert_eq!(
            d.expired(1_000),
            [(8, Deadline::Greeting), (7, Deadline::Greeting)]
        );
        assert!(d.expired(1_500).is_empty());
        assert_eq!(d.next_due(), Some(2_000));
        assert_eq!(d.expired(5_000), [(7, Deadline::Frame)]);
        assert!(d.is_empty() && d.next_due().is_none());
    }

    #[test]
    fn a_running_frame_deadline_is_not_pushed_back_by_more_bytes() {
        let mut d = Deadlines::new();
        d.start(1, Deadline::Frame, 100);
        d.start(1, Deadline::Frame, 150);
        assert_eq!(d.next_due(), Some(100));
        // A whole frame clears it; the next frame's clock starts afresh.
        d.clear(1, Deadline::Frame);
        d.start(1, Deadline::Frame, 150);
        assert_eq!(d.expired(120), []);
        assert_eq!(d.expired(150), [(1, Deadline::Frame)]);
    }

    #[test]
    fn set_replaces_and_forget_removes_everything() {
        let mut d = Deadlines::new();
        d.set(3, Deadline::Drain, 10);
        d.set(3, Deadline::Drain, 90);
        d.set(3, Deadline::Greeting, 50);
        assert_eq!(d.len(), 2);
        assert_eq!(d.expired(60), [(3, Deadline::Greeting)]);
        assert!(d.has(3, Deadline::Drain));
        d.forget(3);
        assert!(d.is_empty());
        assert_eq!(d.expired(u64::MAX), []);
    }
}
