//! Checkout: planning which pools and seats a request may take (node-locked before floating, DUP_GROUP, SUITE, reservations, MAX, OVERDRAFT) and counting them.

use super::*;

impl Core {
    /// A request for `co.count` licenses of `co.feature` at version
    /// `co.version` or later.
    pub fn checkout(&mut self, now: u64, conn: ConnId, co: &Checkout) -> Effects {
        let mut fx = Effects::default();
        self.checkout_into(now, conn, &co.view(), &mut fx);
        fx
    }

    /// [`Core::checkout`], adding its effects to `fx`.
    pub(crate) fn checkout_into(
        &mut self,
        now: u64,
        conn: ConnId,
        co: &CheckoutRef<'_>,
        fx: &mut Effects,
    ) {
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("checkout before Hello".into()));
            return;
        }
        self.activity(conn, now);
        let handle = self.next_handle;
        let c = &self.conns[&conn];
        let (user, host) = (Arc::clone(&c.user), Arc::clone(&c.host));
        match self.plan(c, co, handle, now) {
            Ok(plan) => {
                self.next_handle += 1;
                let display = Arc::clone(&c.display);
                let pid = c.identity.pid;
                let job = c.identity.job;
                let mut granted = self.spare_granted();
                let pool = &mut self.pools[plan.pool];
                let before = pool.in_use;
                pool.join(plan.key.clone(), handle, pool.seats(co.count));
                let added = pool.in_use - before;
                let feature = Arc::clone(&pool.name);
                fill_granted(&mut granted, co.req, handle, &feature, &pool.pool, co.count);
                fx.log.push(LogEvent::Out {
                    feature: Arc::clone(&feature),
                    user: Arc::clone(&user),
                    host: Arc::clone(&host),
                    count: co.count,
                });
                if let Some((s, key)) = &plan.suite {
                    let suite = &mut self.pools[*s];
                    suite.join(key.clone(), handle, co.count);
                    fx.log.push(LogEvent::Out {
                        feature: Arc::clone(&suite.name),
                        user: Arc::clone(&user),
                        host: Arc::clone(&host),
                        count: co.count,
                    });
                }
                let mut holding = self.boxed(
                    Holding {
                        conn,
                        req: co.req,
                        feature,
                        pool: plan.pool,
                        key: plan.key,
                        count: co.count,
                        suite: plan.suite,
                        started_ms: now,
                        user,
                        host,
                        display,
                        pid,
                        job,
                        requested: String::new(),
                        quota: Quota::default(),
                        linger_until: None,
                        timeout_ms: None,
                        borrow_until: None,
                        return_hash: None,
                        orphan_until: None,
                    },
                    co.version,
                );
                let room = std::mem::take(&mut holding.quota.maxes);
                self.holdings.insert(handle, holding);
                let borrowing = co.borrow_until > 0;
                let quota = self.take_quota(
                    plan.pool,
                    conn,
                    co.count,
                    plan.reservation,
                    !borrowing,
                    room,
                );
                let ctx = FeatureCtx::from_pool(&self.pools[plan.pool].pool);
                let timeout = self
                    .config
                    .options
                    .timeout(&ctx)
                    .map(|t| u64::from(t.max(self.config.min_timeout_secs)) * 1000);
                if let Some(h) = self.holdings.get_mut(&handle) {
                    h.quota = quota;
                    h.timeout_ms = timeout;
                    if borrowing {
                        let until = co.borrow_until.saturating_mul(1000);
                        h.borrow_until = Some(until);
                        h.return_hash = return_hash_of(co.return_hash);
                        self.borrowed.insert((until, handle));
                        fx.borrows
                            .push(BorrowChange::Add(borrow_record(handle, h, &self.pools)));
                        if let Some(keys) = &self.config.keys {
                            granted.seal = seal(keys, &self.config.vendor, &granted, co, h);
                        }
                    }
                }
                let c = self.conns.get_mut(&conn).expect("invariant: checked above");
                let first = c.handles.is_empty();
                c.handles.insert(handle);
                if first {
                    self.idle_link(conn);
                }
                // Only a checkout with a TIMEOUT can change the connection's
                // shortest one (most daemons have none: keep it off the path).
                if timeout.is_some() {
                    self.reindex_timeout(conn);
                }
                if self.config.replicate {
                    fx.changes.push(Delta::Grant(handle));
                }
                if self.config.report {
                    let kind = if borrowing {
                        reportlog::Kind::Borrow
                    } else {
                        reportlog::Kind::Checkout
                    };
                    self.report_holding(fx, kind, handle, added);
                }
                self.counters.granted += 1;
                fx.reply(conn, Message::Granted(granted));
            }
            Err(d)
                if co.queue
                    && matches!(
                        d,
                        Denial::MaxUsers | Denial::ReservedForOthers | Denial::OverMax
                    ) =>
            {
                // The client asked to wait: it hears -35 now and a Granted
                // with the same request number once a seat is free.
                self.queue
                    .entry(co.feature.to_owned())
                    .or_default()
                    .push_back((conn, co.to_owned()));
                self.counters.queued += 1;
                if self.config.report {
                    self.report_request(fx, reportlog::Kind::Queued, conn, co, 0);
                }
                fx.log.push(LogEvent::Queued {
                    feature: self.feature_name(co.feature),
                    user,
                    host,
                });
                fx.reply(
                    conn,
                    Message::Denied(Denied {
                        req: co.req,
                        code: lmerr::LM_FEATQUEUE,
                        minor: 0,
                        text: lmerr::text(lmerr::LM_FEATQUEUE).to_string(),
                        detail: String::new(),
                    }),
                );
            }
            Err(d) => {
                // Someone is already waiting for this feature: say so.
                let d = if d == Denial::MaxUsers
                    && self.queue.get(co.feature).is_some_and(|q| !q.is_empty())
                {
                    Denial::UsersQueued
                } else {
                    d
                };
                let (code, minor) = (d.code(), d.minor());
                self.counters.deny(code);
                if self.config.report {
                    self.report_request(fx, reportlog::Kind::Denied, conn, co, code);
                }
                let feature = self.feature_name(co.feature);
                fx.log.push(if d.is_unsupported() {
                    LogEvent::Unsupported {
                        feature,
                        user,
                        host,
                        code,
                        minor,
                    }
                } else {
                    LogEvent::Denied {
                        feature,
                        user,
                        host,
                        code,
                        minor,
                    }
                });
                fx.reply(
                    conn,
                    Message::Denied(Denied {
                        req: co.req,
                        code,
                        minor,
                        text: d.text().to_string(),
                        detail: self.denial_detail(conn, co.feature, d),
                    }),
                );
            }
        }
    }

    /// `feature` as a shared name: its pool's, when it has one.
    pub(crate) fn feature_name(&mut self, feature: &str) -> Name {
        match self.by_feature.get(feature).and_then(|ids| ids.first()) {
            Some(&i) => Arc::clone(&self.pools[i].name),
            None => self.names.get(feature),
        }
    }

    /// What a refusal's text does not say: for -9 the hostids on both
    /// sides, for -10 the date. Empty for the others.
    pub(crate) fn denial_detail(&self, conn: ConnId, feature: &str, d: Denial) -> String {
        let pools = || {
            self.by_feature
                .get(feature)
                .into_iter()
                .flatten()
                .map(|&i| &self.pools[i].pool)
        };
        match d {
            Denial::NotThisHost => {
                let locked: Vec<String> = pools()
                    .filter(|p| p.is_node_locked())
                    .filter_map(|p| p.hostids.as_deref().map(hostid::display_list))
                    .collect();
                let Some(c) = self.conns.get(&conn) else {
                    return String::new();
                };
                denial::hostid_detail(&locked, &c.identity.host, &c.identity.hostids)
            }
            Denial::Expired => {
                let last = match self.config.withdrawn.get(feature) {
                    Some(Withdrawn::Expired(on)) => Some(*on),
                    _ => pools().map(|p| p.expiry()).max_by_key(|e| match e {
                        grammar::Expiry::Permanent => (1, None),
                        grammar::Expiry::On(d) => (0, Some(*d)),
                    }),
                };
                last.map_or_else(String::new, |e| denial::expired_detail(feature, &e))
            }
            _ => String::new(),
        }
    }

    /// Chooses the pool (and suite pool) for a checkout, or says why none.
    ///
    /// Candidate order: node-locked pools whose hostid matches the client,
    /// then pools that are not node-locked, each in the order of
    /// precedence. A pool where the client's DUP_GROUP already holds a seat
    /// that covers the request is preferred, since it costs nothing.
    pub(crate) fn plan(
        &self,
        c: &Conn,
        co: &CheckoutRef<'_>,
        handle: u64,
        now: u64,
    ) -> Result<Plan, Denial> {
        let version = if co.version.trim().is_empty() {
            "0"
        } else {
            co.version.trim()
        };
        let (Some(wanted), true) = (Version::parse(version), co.count > 0) else {
            return Err(Denial::BadParam);
        };
        let borrowing = co.borrow_until > 0;
        if borrowing && co.borrow_until.saturating_mul(1000) <= now {
            return Err(Denial::BadParam);
        }
        // Every new borrow is returnable only by its borrower: it must
        // come with the hash of the borrower's secret.
        if borrowing && co.return_hash.len() != wire::borrow_key::LEN {
            return Err(Denial::BadParam);
        }
        let Some(indices) = self.by_feature.get(co.feature) else {
            return Err(match self.config.withdrawn.get(co.feature) {
                Some(Withdrawn::Expired(_)) => Denial::Expired,
                Some(Withdrawn::BadSignature) => Denial::BadCode,
                None => Denial::NoFeature,
            });
        };
        let mut best: Option<Denial> = None;
        let mut note = |d: Denial| {
            if best.is_none_or(|b| d.closeness() > b.closeness()) {
                best = Some(d);
            }
        };
        let who = OnceCell::new();
        let locked = |i: usize| self.pools[i].pool.is_node_locked();
        // Whether node-locked pool `i` is locked to the client's machine.
        let here = |i: usize| {
            self.pools[i].pool.hostids.as_deref().is_some_and(|ids| {
                hostid::any_matches(ids, who.get_or_init(|| host_identity(&c.identity)))
            })
        };
        for &i in indices {
            if locked(i) && !here(i) {
                note(Denial::NotThisHost);
            }
        }
        // The candidates in order (walked twice, not collected: a checkout
        // allocates nothing for it).
        let order = || {
            let nodes = indices.iter().copied().filter(|&i| locked(i) && here(i));
            nodes.chain(indices.iter().copied().filter(|&i| !locked(i)))
        };

        let key_in = |i: usize| {
            let p = &self.pools[i];
            if borrowing {
                // A borrowed seat leaves with its client: it shares with no one.
                return DupKey::Alone(handle);
            }
            if let Some(b) = &p.based {
                let group = if b.by_host {
                    DupGroup::Mask {
                        user: false,
                        host: true,
                        display: false,
                        vendor: false,
                    }
                } else {
                    DupGroup::Mask {
                        user: true,
                        host: false,
                        display: false,
                        vendor: false,
                    }
                };
                return dup_key(Some(group), c, handle);
            }
            dup_key(
                p.pool.dup_group.or(dup_group_of_mask(co.dup_group)),
                c,
                handle,
            )
        };
        // A seat this client's group already holds covers the request.
        for i in order() {
            let p = &self.pools[i];
            if borrowing || p.unusable(self.today, &wanted).is_some() {
                continue;
            }
            let key = key_in(i);
            let seats = p.seats(co.count);
            if !(p.groups.contains_key(&key)
                && p.fits(&key, seats)
                && self.options_allow(p, c, co.count, false).is_ok())
            {
                continue;
            }
            // A bigger count than the group holds adds seats: those must
            // respect the reservations like any other.
            let Ok(reservation) = self.reserved_room(p, c, p.extra(&key, seats)) else {
                continue;
            };
            if let Ok(suite) = self.plan_suite(i, c, &who, co, handle) {
                return Ok(Plan {
                    pool: i,
                    key,
                    suite,
                    reservation,
                });
            }
        }
        for i in order() {
            let p = &self.pools[i];
            if let Some(d) = p.unusable(self.today, &wanted) {
                note(d);
                continue;
            }
            let seats = p.seats(co.count);
            if p.pool.counted && seats > p.capacity() {
                note(Denial::TooMany);
                continue;
            }
            if let Err(d) = self.options_allow(p, c, co.count, borrowing) {
                note(d);
                continue;
            }
            if borrowing {
                if let Err(d) = self.borrow_allowed(p, c, co, now) {
                    note(d);
                    continue;
                }
            }
            let key = key_in(i);
            if !p.fits(&key, seats) {
                note(Denial::MaxUsers);
                continue;
            }
            let reservation = match self.reserved_room(p, c, p.extra(&key, seats)) {
                Ok(r) => r,
                Err(d) => {
                    note(d);
                    continue;
                }
            };
            match self.plan_suite(i, c, &who, co, handle) {
                Ok(suite) => {
                    return Ok(Plan {
                        pool: i,
                        key,
                        suite,
                        reservation,
                    })
                }
                Err(d) => note(d),
            }
        }
        Err(best.unwrap_or(Denial::NoFeature))
    }

    /// Counts a granted checkout against the options file's MAX and
    /// RESERVE lines. The MAX rules are listed in `maxes` (emptied first:
    /// a vector with room, from a checkout given back).
    pub(crate) fn take_quota(
        &mut self,
        pool: usize,
        conn: ConnId,
        count: u32,
        reservation: Option<(ReservationId, u32)>,
        count_max: bool,
        mut maxes: Vec<MaxId>,
    ) -> Quota {
        let options = std::sync::Arc::clone(&self.config.options);
        let ctx = FeatureCtx::from_pool(&self.pools[pool].pool);
        maxes.clear();
        match self.conns.get(&conn) {
            Some(c) if count_max && options.max_rule_count() > 0 => {
                maxes.extend(options.limits(&ctx, c.client()).map(|r| r.id()));
            }
            _ => {}
        }
        for id in &maxes {
            self.max_use[id.index()] += count;
        }
        if let Some((id, n)) = reservation {
            self.reserve_use[id.index()] += n;
        }
        Quota {
            maxes,
            count,
            reservation,
        }
    }

    /// A checkout left, freeing `freed` seats of its group. Its
    /// reservation gets back at most those: seats that stay in use by the
    /// rest of the group (`heir`) stay counted against the reservation.
    pub(crate) fn give_back_quota(&mut self, quota: &Quota, freed: u32, heir: Option<u64>) {
        for id in &quota.maxes {
            if let Some(used) = self.max_use.get_mut(id.index()) {
                *used = used.saturating_sub(quota.count);
            }
        }
        let Some((id, n)) = quota.reservation else {
            return;
        };
        let mut back = n.min(freed);
        let kept = n - back;
        let heir = heir.filter(|_| kept > 0);
        let inherited = heir.and_then(|h| self.holdings.get_mut(&h)).and_then(|h| {
            match &mut h.quota.reservation {
                r @ None => {
                    *r = Some((id, kept));
                    Some(())
                }
                Some((same, m)) if *same == id => {
                    *m += kept;
                    Some(())
                }
                Some(_) => None,
            }
        });
        if kept > 0 && inherited.is_none() {
            back = n;
        }
        if let Some(used) = self.reserve_use.get_mut(id.index()) {
            *used = used.saturating_sub(back);
        }
    }

    /// For a SUITE component in pool `component`: the suite pool and seat
    /// that go with it (`Ok(None)` for an ordinary pool). `who` is the
    /// client's machine, derived on first use.
    #[allow(clippy::type_complexity)]
    pub(crate) fn plan_suite(
        &self,
        component: usize,
        c: &Conn,
        who: &OnceCell<HostIdentity>,
        co: &CheckoutRef<'_>,
        handle: u64,
    ) -> Result<Option<(usize, DupKey)>, Denial> {
        let Some(suite) = &self.pools[component].pool.suite else {
            return Ok(None);
        };
        let Some(indices) = self.by_feature.get(suite) else {
            return Err(Denial::MaxUsers);
        };
        let mut best = Denial::MaxUsers;
        let any = Version::parse("0").expect("invariant: 0 is a version");
        for &i in indices {
            let p = &self.pools[i];
            if p.pool.is_node_locked()
                && !p.pool.hostids.as_deref().is_some_and(|ids| {
                    hostid::any_matches(ids, who.get_or_init(|| host_identity(&c.identity)))
                })
            {
                continue;
            }
            if let Some(d) = p.unusable(self.today, &any) {
                if d.closeness() < best.closeness() {
                    best = d;
                }
                continue;
            }
            let group = self
                .config
                .suite_dup_groups
                .get(suite)
                .copied()
                .or(p.pool.dup_group)
                .or(dup_group_of_mask(co.dup_group));
            let key = dup_key(group, c, handle);
            if p.fits(&key, co.count) {
                return Ok(Some((i, key)));
            }
        }
        Err(best)
    }
}
