//! The core's invariants, checked after every event in debug builds and tests.

use super::*;

impl Core {
    /// Checks every internal invariant; used by tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        for (i, p) in self.pools.iter().enumerate() {
            let sum: u32 = p.groups.values().map(|g| g.count).sum();
            assert_eq!(p.in_use, sum, "pool {i} in_use");
            // in_use <= capacity is the callers' property to check: a
            // reread that lowers a count leaves holders over it.
            for g in p.groups.values() {
                assert!(!g.members.is_empty());
                assert_eq!(g.count, g.members.values().copied().max().unwrap_or(0));
                for h in g.members.keys() {
                    assert!(self.holdings.contains_key(h), "dangling member {h}");
                }
            }
        }
        assert_eq!(self.orphans.len(), self.orphans_by_job.len());
        for (handle, h) in &self.holdings {
            assert_eq!(
                self.orphans
                    .contains(&(h.orphan_until.unwrap_or(0), *handle)),
                h.orphan_until.is_some()
            );
            assert_eq!(
                self.orphans_by_job.contains(&(h.job, *handle)),
                h.orphan_until.is_some()
            );
            if h.conn == DETACHED {
                assert!(
                    self.standby
                        || h.linger_until.is_some()
                        || h.borrow_until.is_some()
                        || h.orphan_until.is_some(),
                    "detached holding {handle} neither lingers, is borrowed nor orphaned"
                );
            } else {
                let c = self
                    .conns
                    .get(&h.conn)
                    .expect("holding of a live connection");
                assert!(c.handles.contains(handle));
            }
            assert_eq!(
                self.lingering
                    .contains(&(h.linger_until.unwrap_or(0), *handle)),
                h.linger_until.is_some()
            );
            assert_eq!(
                self.borrowed
                    .contains(&(h.borrow_until.unwrap_or(0), *handle)),
                h.borrow_until.is_some()
            );
            assert!(self.pools[h.pool].groups[&h.key]
                .members
                .contains_key(handle));
            if let Some((s, key)) = &h.suite {
                assert!(self.pools[*s].groups[key].members.contains_key(handle));
            }
        }
        for (id, c) in &self.conns {
            assert_eq!(
                self.idle.contains(&(c.last_heard, *id)),
                !c.handles.is_empty(),
                "idle index of {id:?}"
            );
        }
        assert_eq!(
            self.idle.len(),
            self.conns
                .values()
                .filter(|c| !c.handles.is_empty())
                .count()
        );
        let jobs: BTreeSet<(u64, ConnId)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.identity.job != 0)
            .map(|(id, c)| (c.identity.job, *id))
            .collect();
        assert_eq!(self.jobs, jobs, "job index");
        let timeouts: BTreeSet<(u64, ConnId)> = self
            .conns
            .iter()
            .filter_map(|(id, c)| Some((c.active_at.saturating_add(c.timeout_ms?), *id)))
            .collect();
        assert_eq!(self.timeouts, timeouts, "timeout index");
        assert_eq!(
            self.lingering.len() + self.borrowed.len(),
            self.holdings
                .values()
                .filter(|h| h.linger_until.is_some() || h.borrow_until.is_some())
                .count()
        );
    }
}
