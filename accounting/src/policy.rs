//! The options file's rules as they apply to pools and requests: INCLUDE/EXCLUDE, BORROW limits, RESERVE, and the options file itself.

use super::*;

impl Core {
    /// Applies the options file to every pool: MAX_OVERDRAFT, and who a
    /// USER_BASED/HOST_BASED line is for.
    pub(crate) fn apply_pool_options(&mut self) {
        let options = std::sync::Arc::clone(&self.config.options);
        for p in &mut self.pools {
            let ctx = FeatureCtx::from_pool(&p.pool);
            p.overdraft = options.effective_overdraft(&ctx, p.pool.overdraft);
            let (by_host, n) = match (p.pool.user_based, p.pool.host_based) {
                (Some(n), _) => (false, n),
                (None, Some(n)) => (true, n),
                (None, None) => {
                    p.based = None;
                    continue;
                }
            };
            let mut listed = BTreeSet::new();
            for who in options.include_list(&ctx) {
                let names: Vec<String> = match (by_host, who.kind) {
                    (false, WhoKind::User) | (true, WhoKind::Host) => vec![who.name.clone()],
                    (false, WhoKind::Group) => options.group(&who.name).unwrap_or(&[]).to_vec(),
                    (true, WhoKind::HostGroup) => {
                        options.host_group(&who.name).unwrap_or(&[]).to_vec()
                    }
                    _ => Vec::new(),
                };
                listed.extend(names);
            }
            p.based = Some(Based {
                by_host,
                listed,
                limit: n.unwrap_or(p.pool.issued(self.today)),
            });
        }
    }

    /// USER_BASED/HOST_BASED lines whose INCLUDE lists name more users
    /// (hosts) than they allow, as log lines: FLEXlm refuses those
    /// features (-84) until the options file is fixed.
    pub fn option_problems(&self) -> Vec<String> {
        self.pools
            .iter()
            .filter_map(|p| {
                let b = p.based.as_ref()?;
                b.overfull().then(|| {
                    format!(
                        "{} is {}: the options file INCLUDEs {} {} but the license allows {}; the feature is refused until this is fixed",
                        p.pool.feature,
                        if b.by_host { "HOST_BASED" } else { "USER_BASED" },
                        b.listed.len(),
                        if b.by_host { "hosts" } else { "users" },
                        b.limit
                    )
                })
            })
            .collect()
    }

    /// The options file's INCLUDE/EXCLUDE and MAX rules (for a borrow:
    /// INCLUDE_BORROW/EXCLUDE_BORROW instead of MAX, which FLEXlm documents
    /// as not limiting borrowing) for `count` more licenses of `p` to `c`,
    /// and who a USER_BASED/HOST_BASED pool is for.
    pub(crate) fn options_allow(
        &self,
        p: &PoolState,
        c: &Conn,
        count: u32,
        borrowing: bool,
    ) -> Result<(), Denial> {
        if let Some(b) = &p.based {
            if b.overfull() {
                return Err(Denial::UserBased);
            }
            let name = if b.by_host {
                &c.identity.host
            } else {
                &c.identity.user
            };
            if !b.listed.contains(name) {
                return Err(Denial::NotIncluded);
            }
        }
        let options = &self.config.options;
        if options.statements().is_empty() {
            return Ok(());
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let excluded = |d: grammar::options::Denial| match d.code() {
            lmerr::LM_FEATEXCLUDE => Denial::Excluded,
            _ => Denial::NotIncluded,
        };
        options.access(&ctx, c.client()).map_err(excluded)?;
        if borrowing {
            return options.borrow_access(&ctx, c.client()).map_err(excluded);
        }
        options
            .check_max(&ctx, c.client(), count, |id| self.max_use[id.index()])
            .map_err(|_| Denial::OverMax)
    }

    /// BORROW rules for a borrow of `co` from `p`: the line allows it, the
    /// period fits BORROW= and MAX_BORROW_HOURS, it is not a SUITE
    /// component, and BORROW_LOWWATER seats stay unborrowed.
    pub(crate) fn borrow_allowed(
        &self,
        p: &PoolState,
        _c: &Conn,
        co: &CheckoutRef<'_>,
        now: u64,
    ) -> Result<(), Denial> {
        let Some(hours) = p.pool.borrow_hours else {
            return Err(Denial::NoBorrowSupport);
        };
        if p.pool.suite.is_some() || p.pool.package.is_some() {
            return Err(Denial::BorrowComponent);
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let options = &self.config.options;
        let allowed_ms = u64::from(options.effective_borrow_hours(&ctx, hours)) * 3_600_000;
        if co.borrow_until.saturating_mul(1000) > now.saturating_add(allowed_ms) {
            return Err(Denial::BorrowTooLong);
        }
        let lowwater = options.borrow_lowwater(&ctx).unwrap_or(0);
        let borrowed: u32 = self
            .borrowed
            .iter()
            .filter_map(|(_, h)| self.holdings.get(h))
            .filter(|h| std::ptr::eq(&self.pools[h.pool], p))
            .map(|h| h.count)
            .sum();
        if borrowed.saturating_add(co.count) > p.issued.saturating_sub(lowwater) {
            return Err(Denial::NoneToBorrow);
        }
        Ok(())
    }

    /// Whether `extra` new seats of pool `p` may go to `c` given the
    /// RESERVE lines: seats reserved for others and not in use stay free
    /// for them. Returns the reservation of `c`'s the seats come from.
    /// Reservations count per feature, over all of its pools.
    pub(crate) fn reserved_room(
        &self,
        p: &PoolState,
        c: &Conn,
        extra: u32,
    ) -> Result<Option<(ReservationId, u32)>, Denial> {
        if !p.pool.counted || extra == 0 || self.config.options.reservation_count() == 0 {
            return Ok(None);
        }
        let ctx = FeatureCtx::from_pool(&p.pool);
        let mut unused = 0u32;
        let mut mine: Option<(ReservationId, u32)> = None;
        for r in self.config.options.reservations(&ctx) {
            let room = r.count().saturating_sub(self.reserve_use[r.id().index()]);
            if mine.is_none() && room > 0 && r.applies_to(c.client()) {
                mine = Some((r.id(), room.min(extra)));
            }
            unused = unused.saturating_add(room);
        }
        let from_mine = mine.map_or(0, |(_, n)| n);
        let needed = p
            .in_use
            .saturating_add(extra - from_mine)
            .saturating_add(unused);
        if needed > p.capacity() {
            return Err(Denial::ReservedForOthers);
        }
        Ok(mine.filter(|(_, n)| *n > 0))
    }

    /// A new options file (lmreread). Current checkouts keep their seats;
    /// the MAX counts are recomputed under the new rules, and seats that
    /// came from reservations stop counting as reserved.
    pub fn set_options(&mut self, options: std::sync::Arc<Options>) {
        self.config.options = options;
        self.max_use = vec![0; self.config.options.max_rule_count()];
        self.reserve_use = vec![0; self.config.options.reservation_count()];
        let held: Vec<(u64, usize, ConnId, u32, bool)> = self
            .holdings
            .iter()
            .map(|(handle, h)| (*handle, h.pool, h.conn, h.count, h.borrow_until.is_none()))
            .collect();
        for (handle, pool, conn, count, count_max) in held {
            let quota = self.take_quota(pool, conn, count, None, count_max, Vec::new());
            if let Some(h) = self.holdings.get_mut(&handle) {
                h.quota = quota;
            }
        }
        self.apply_pool_options();
    }
}
