//! lmreread: a new license file and options, every checkout moved to its new pool; and shutdown.

use super::*;

impl Core {
    /// lmreread: serve `pools` from now on, keeping every checkout.
    ///
    /// A checkout stays in the new pool with the same feature, version,
    /// hostids, counting and suite; new counts apply at once. A pool that
    /// no longer exists keeps its current holders until they check in, but
    /// takes no new checkouts. If a pool now has fewer licenses than are in
    /// use, holders keep their seats and newcomers are refused until enough
    /// are returned (the overdraft lasts only as long as the old
    /// checkouts, as in FLEXlm).
    pub fn reload(&mut self, pools: PoolSet, today: Date, withdrawn: BTreeMap<String, Withdrawn>) {
        let old = std::mem::take(&mut self.pools);
        self.by_feature.clear();
        self.today = today;
        self.config.withdrawn = withdrawn;
        for pool in pools.pools {
            if pool.vendor != self.config.vendor {
                continue;
            }
            self.by_feature
                .entry(pool.feature.clone())
                .or_default()
                .push(self.pools.len());
            self.pools.push(PoolState::new(pool, today));
        }
        let identity = |p: &Pool| {
            (
                p.feature.clone(),
                p.version.clone(),
                p.hostids.as_deref().map(grammar::hostid::display_list),
                p.counted,
                p.suite.clone(),
            )
        };
        let mut moved_to = Vec::with_capacity(old.len());
        for state in old {
            let target = self
                .pools
                .iter()
                .position(|n| identity(&n.pool) == identity(&state.pool));
            let idx = match target {
                Some(i) => i,
                None if state.groups.is_empty() => {
                    moved_to.push(usize::MAX);
                    continue;
                }
                None => {
                    // Retired: visible in status, closed to new checkouts.
                    self.pools.push(PoolState {
                        groups: HashMap::new(),
                        in_use: 0,
                        ..state
                    });
                    self.pools.len() - 1
                }
            };
            let dest = &mut self.pools[idx];
            for (key, group) in state.groups {
                for (handle, count) in group.members {
                    dest.join(key.clone(), handle, count);
                }
            }
            moved_to.push(idx);
        }
        for h in self.holdings.values_mut() {
            h.pool = moved_to[h.pool];
            if let Some((s, _)) = &mut h.suite {
                *s = moved_to[*s];
            }
        }
        self.apply_pool_options();
    }

    /// The daemon is stopping: every seat is released and logged as
    /// `IN: ... (SHUTDOWN)`.
    pub fn shutdown(&mut self) -> Effects {
        let mut fx = Effects::default();
        // Borrowed seats stay taken in the store for the next run.
        let handles: Vec<u64> = self
            .holdings
            .iter()
            .filter(|(_, h)| h.borrow_until.is_none())
            .map(|(handle, _)| *handle)
            .collect();
        for h in handles {
            self.release(h, Some(InReason::Shutdown), &mut fx);
        }
        self.idle_clear();
        self.conns.clear();
        self.jobs.clear();
        self.timeouts.clear();
        fx
    }
}
