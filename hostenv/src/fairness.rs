//! How much of the loop one connection may have per turn, and who is owed
//! more. Pure.
//!
//! With edge-triggered polling a connection that still has unread bytes
//! gets no new readiness event until more arrive, so a connection whose
//! [`Budget`] ran out is put on the [`Backlog`] and read again next turn
//! (the loop does not sleep while the backlog is not empty). Every turn
//! serves each connection at most one budget's worth, so a few peers
//! that send as fast as they can cannot keep the others waiting for more
//! than a turn.

use std::collections::{HashSet, VecDeque};

/// Messages one connection may have served per turn.
pub const FRAMES_PER_TURN: u32 = 16;
/// Bytes one connection may have read per turn.
pub const BYTES_PER_TURN: usize = 64 * 1024;

/// What is left of one connection's share of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    frames: u32,
    bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::per_turn()
    }
}

impl Budget {
    /// A whole turn's share.
    pub fn per_turn() -> Budget {
        Budget::new(FRAMES_PER_TURN, BYTES_PER_TURN)
    }

    pub fn new(frames: u32, bytes: usize) -> Budget {
        Budget { frames, bytes }
    }

    /// One message served.
    pub fn spend_frame(&mut self) {
        self.frames = self.frames.saturating_sub(1);
    }

    /// `n` bytes read.
    pub fn spend_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
    }

    /// Whether the share is used up.
    pub fn spent(&self) -> bool {
        self.frames == 0 || self.bytes == 0
    }
}

/// Connections to read again next turn, in the order they were owed.
#[derive(Debug, Default)]
pub struct Backlog {
    queue: VecDeque<usize>,
    queued: HashSet<usize>,
}

impl Backlog {
    pub fn new() -> Backlog {
        Backlog::default()
    }

    /// `token` has more to read (once, however often it is said).
    pub fn owe(&mut self, token: usize) {
        if self.queued.insert(token) {
            self.queue.push_back(token);
        }
    }

    /// `token` is gone.
    pub fn forget(&mut self, token: usize) {
        if self.queued.remove(&token) {
            self.queue.retain(|&t| t != token);
        }
    }

    /// The connections to serve this turn; those owed again while they
    /// are served wait for the next turn.
    pub fn take_turn(&mut self) -> Vec<usize> {
        let mut turn = Vec::new();
        self.take_turn_into(&mut turn);
        turn
    }

    /// [`take_turn`](Self::take_turn) into `turn` (emptied first), so that
    /// a loop reusing it allocates nothing for its turns.
    pub fn take_turn_into(&mut self, turn: &mut Vec<usize>) {
        self.queued.clear();
        turn.clear();
        turn.extend(self.queue.drain(..));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_runs_out_on_frames_or_bytes() {
        let mut b = Budget::new(2, 100);
        b.spend_frame();
        assert!(!b.spent());
        b.spend_frame();
        assert!(b.spent());
        let mut b = Budget::new(10, 100);
        b.spend_bytes(60);
        assert!(!b.spent());
        b.spend_bytes(60);
        assert!(b.spent());
    }

    /// A simulated loop: `pending[t]` messages wait on connection `t`;
    /// each turn serves the backlog, then the connections that became
    /// readable, each for one budget.
    fn run(pending: &mut [u32], newly_readable: &[usize], turns: usize) -> Vec<Vec<usize>> {
        let mut backlog = Backlog::new();
        let mut served_per_turn = Vec::new();
        let mut ready: Vec<usize> = newly_readable.to_vec();
        for _ in 0..turns {
            let mut served = Vec::new();
            let mut this_turn = backlog.take_turn();
            this_turn.append(&mut ready);
            for t in this_turn {
                let mut budget = Budget::new(4, usize::MAX);
                while pending[t] > 0 && !budget.spent() {
                    pending[t] -= 1;
                    budget.spend_frame();
                    served.push(t);
                }
                if pending[t] > 0 {
                    backlog.owe(t);
                }
            }
            served_per_turn.push(served);
        }
        served_per_turn
    }

    #[test]
    fn a_flooding_peer_gets_one_share_per_turn_and_a_quiet_one_is_served_at_once() {
        // Connection 0 has 1,000 messages waiting; 1 has one.
        let mut pending = [1_000, 1];
        let turns = run(&mut pending, &[0, 1], 3);
        assert_eq!(turns[0], [0, 0, 0, 0, 1]);
        assert_eq!(turns[1], [0, 0, 0, 0]);
        assert_eq!(pending, [1_000 - 12, 0]);
    }

    #[test]
    fn owed_connections_are_served_without_a_new_event_until_drained() {
        let mut pending = [9];
        let turns = run(&mut pending, &[0], 5);
        let counts: Vec<usize> = turns.iter().map(Vec::len).collect();
        assert_eq!(counts, [4, 4, 1, 0, 0]);
    }

    #[test]
    fn the_backlog_keeps_order_and_holds_each_token_once() {
        let mut b = Backlog::new();
        b.owe(5);
        b.owe(3);
        b.owe(5);
        assert_eq!(b.len(), 2);
        b.forget(5);
        b.owe(9);
        assert_eq!(b.take_turn(), [3, 9]);
        assert!(b.is_empty());
        b.owe(3);
        assert_eq!(b.take_turn(), [3]);
    }
}
