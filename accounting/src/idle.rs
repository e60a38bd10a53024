//! The connections holding seats, oldest heard from first: the next
//! heartbeat timeout is the first one's.
//!
//! Every request of a connection holding seats moves it to the end (it was
//! heard from now), and a checkout or checkin may add or remove it. The
//! list is linked through the connections themselves, so that none of this
//! allocates (a B-tree keyed by the time, whose keys only grow, splits and
//! merges nodes as they come and go) and it costs two links per connection
//! rather than a table entry per holder.
//!
//! The order is that of `(last_heard, conn)`: a connection is placed after
//! the last one that comes before it, looking from the end, which is where
//! a connection heard from now goes.

use super::*;

/// The ends of the list, and its length.
#[derive(Debug, Default)]
pub(crate) struct IdleList {
    first: Option<ConnId>,
    last: Option<ConnId>,
    len: usize,
}

/// A connection's place in the [`IdleList`].
#[derive(Debug, Default)]
pub(crate) struct IdleLinks {
    /// On the list (it holds seats).
    on: bool,
    prev: Option<ConnId>,
    next: Option<ConnId>,
}

impl Core {
    /// The connection holding seats that was heard from longest ago, and
    /// when.
    pub(crate) fn idle_first(&self) -> Option<(u64, ConnId)> {
        let conn = self.idle.first?;
        self.conns.get(&conn).map(|c| (c.last_heard, conn))
    }

    /// Puts `conn` on the list, in its place by `last_heard` (if it is not
    /// on it already).
    pub(crate) fn idle_link(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.idle.on {
            return;
        }
        let key = (c.last_heard, conn);
        let mut prev = self.idle.last;
        while let Some(p) = prev {
            match self.conns.get(&p) {
                Some(pc) if (pc.last_heard, p) < key => break,
                Some(pc) => prev = pc.idle.prev,
                None => break,
            }
        }
        let next = match prev {
            Some(p) => self.conns.get(&p).and_then(|pc| pc.idle.next),
            None => self.idle.first,
        };
        match prev.and_then(|p| self.conns.get_mut(&p)) {
            Some(pc) => pc.idle.next = Some(conn),
            None => self.idle.first = Some(conn),
        }
        match next.and_then(|n| self.conns.get_mut(&n)) {
            Some(nc) => nc.idle.prev = Some(conn),
            None => self.idle.last = Some(conn),
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.idle = IdleLinks {
                on: true,
                prev,
                next,
            };
        }
        self.idle.len += 1;
    }

    /// Takes `conn` off the list (if it is on it). Done before it leaves
    /// `conns`: its neighbours are found through it.
    pub(crate) fn idle_unlink(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.idle.on {
            return;
        }
        let IdleLinks { prev, next, .. } = std::mem::take(&mut c.idle);
        match prev.and_then(|p| self.conns.get_mut(&p)) {
            Some(pc) => pc.idle.next = next,
            None => self.idle.first = next,
        }
        match next.and_then(|n| self.conns.get_mut(&n)) {
            Some(nc) => nc.idle.prev = prev,
            None => self.idle.last = prev,
        }
        self.idle.len -= 1;
    }

    /// Empties the list (every connection is going).
    pub(crate) fn idle_clear(&mut self) {
        for c in self.conns.values_mut() {
            c.idle = IdleLinks::default();
        }
        self.idle = IdleList::default();
    }

    /// The list, walked from the first, with each connection's time.
    #[cfg(test)]
    pub(crate) fn idle_walk(&self) -> Vec<(u64, ConnId)> {
        let mut out = Vec::new();
        let mut at = self.idle.first;
        while let Some(conn) = at {
            let c = &self.conns[&conn];
            out.push((c.last_heard, conn));
            at = c.idle.next;
        }
        assert_eq!(out.len(), self.idle.len, "idle list length");
        let mut back = Vec::new();
        let mut at = self.idle.last;
        while let Some(conn) = at {
            back.push(conn);
            at = self.conns[&conn].idle.prev;
        }
        back.reverse();
        assert_eq!(
            back,
            out.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            "idle list links"
        );
        out
    }

    /// Whether `conn` is on the list.
    #[cfg(test)]
    pub(crate) fn idle_has(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.idle.on)
    }
}
