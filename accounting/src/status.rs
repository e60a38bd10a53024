//! What the core tells: pools, usage and holders (lmstat), reservations.

use super::*;

impl Core {
    /// The pools served, in order.
    pub fn pools(&self) -> impl Iterator<Item = &grammar::pool::Pool> {
        self.pools.iter().map(|p| &p.pool)
    }

    /// Feature names served, in the order of the license file.
    pub fn features(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        self.pools
            .iter()
            .filter(|p| seen.insert(p.pool.feature.clone()))
            .map(|p| p.pool.feature.clone())
            .collect()
    }

    /// Usage of every pool, in pool order.
    pub fn usage(&self) -> Vec<PoolUsage> {
        self.pools
            .iter()
            .map(|p| PoolUsage {
                feature: p.pool.feature.clone(),
                version: p.pool.version.as_written().to_string(),
                counted: p.pool.counted,
                issued: p.issued,
                overdraft: p.overdraft,
                in_use: p.in_use,
            })
            .collect()
    }

    /// Number of checkouts held (shared ones each count).
    pub fn holdings(&self) -> usize {
        self.holdings.len()
    }

    /// Usage per pool (all features, or those named `q.feature`), with
    /// its holders: what fits in one frame, or one page of them.
    pub fn status(&self, conn: ConnId, q: &StatusQuery) -> Effects {
        let reply = if q.paged {
            self.status_page(&q.feature, q.after)
        } else {
            self.status_reply(&q.feature)
        };
        let mut fx = Effects::default();
        fx.reply(conn, Message::Status(reply));
        fx
    }

    /// What an unpaged `Status` answers for `feature` (empty: every
    /// feature): every holder and waiter, cut to one frame by
    /// [`fit_holders`]. Its cost grows with the holders; tools page instead
    /// ([`Core::status_page`]).
    pub fn status_reply(&self, feature: &str) -> StatusReply {
        let mut holders: Vec<Vec<Holder>> = self.pools.iter().map(|_| Vec::new()).collect();
        for (handle, h) in &self.holdings {
            let holder = self.holder_of(*handle, h);
            if let Some((s, _)) = &h.suite {
                holders[*s].push(Holder {
                    version: self.pools[*s].pool.version.as_written().to_string(),
                    ..holder.clone()
                });
            }
            holders[h.pool].push(holder);
        }
        for (pool, waiter) in self.waiters() {
            holders[pool].push(waiter);
        }
        let mut reply = self.status_frame(feature);
        for (slot, holders) in self.feature_slots(feature).into_iter().zip(holders) {
            if let Some(i) = slot {
                reply.features[i].holders = holders;
            }
        }
        fit_holders(&mut reply, wire::frame::DEFAULT_MAX_PAYLOAD);
        reply
    }

    /// One page of `Status` for `feature`: the counts of every pool, and
    /// the holders whose handle follows `after`, in handle order (the
    /// waiters first, on the page that starts at 0), up to
    /// [`STATUS_PAGE_BYTES`] of them. The work is bounded by the page,
    /// whatever the number of holders, so a tool reading the status of
    /// thousands of seats delays the checkouts around it by one page at a
    /// time. Holders that come or go between pages are seen or not, as on
    /// FLEXlm; none is listed twice, since handles only grow.
    pub fn status_page(&self, feature: &str, after: u64) -> StatusReply {
        let mut reply = self.status_frame(feature);
        let slots = self.feature_slots(feature);
        if after == 0 {
            // Waiters have no handle to page by: the first page lists them
            // in half a frame, and counts the rest (a queue that long is
            // rare; lmstat says how many it could not show).
            let mut room = Page::new(wire::frame::DEFAULT_MAX_PAYLOAD / 2);
            for (pool, waiter) in self.waiters() {
                if let Some(i) = slots[pool] {
                    let f = &mut reply.features[i];
                    if room.take(&waiter) {
                        f.holders.push(waiter);
                    } else {
                        f.omitted += 1;
                    }
                }
            }
        }
        let mut page = Page::new(STATUS_PAGE_BYTES);
        let mut last = after;
        let later = self
            .holdings
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded));
        for (scanned, (handle, h)) in later.enumerate() {
            if scanned == STATUS_PAGE_SCAN || page.is_full() {
                reply.next = last;
                return reply;
            }
            let listed = [Some(h.pool), h.suite.as_ref().map(|(s, _)| *s)];
            let mut wanted = listed
                .into_iter()
                .flatten()
                .filter_map(|p| slots[p].map(|i| (p, i)));
            let Some(first) = wanted.next() else {
                last = *handle;
                continue;
            };
            let holder = self.holder_of(*handle, h);
            for (pool, i) in std::iter::once(first).chain(wanted) {
                let entry = Holder {
                    version: self.pools[pool].pool.version.as_written().to_string(),
                    ..holder.clone()
                };
                // A holding is listed whole on one page (both pools of a
                // suite), even past the page's size, so every page moves on.
                page.force(&entry);
                reply.features[i].holders.push(entry);
            }
            last = *handle;
        }
        reply
    }

    /// The holder lmstat shows for `handle`, under its own pool.
    fn holder_of(&self, handle: u64, h: &Holding) -> Holder {
        let ctx = FeatureCtx::from_pool(&self.pools[h.pool].pool);
        Holder {
            queued: false,
            borrow_until: h.borrow_until.map_or(0, |u| u / 1000),
            linger: match h.borrow_until {
                // FLEXlm shows a borrow as its length, in seconds.
                Some(until) => ((until.saturating_sub(h.started_ms)) / 1000) as u32,
                None => self.config.options.effective_linger(&ctx, 0),
            },
            user: h.user.clone(),
            host: h.host.clone(),
            display: h.display.clone(),
            version: self.pools[h.pool].pool.version.as_written().to_string(),
            handle,
            started: h.started_ms / 1000,
            count: h.count,
            pid: h.pid,
            requested_version: h.requested.clone(),
        }
    }

    /// The waiters of every queue, each with the pool it shows under: the
    /// first pool of its feature.
    fn waiters(&self) -> impl Iterator<Item = (usize, Holder)> + '_ {
        self.queue.iter().flat_map(move |(feature, waiters)| {
            let pool = self
                .by_feature
                .get(feature)
                .and_then(|ids| ids.first().copied());
            waiters.iter().filter_map(move |(conn, co)| {
                let pool = pool?;
                let c = self.conns.get(conn)?;
                Some((
                    pool,
                    Holder {
                        user: c.identity.user.clone(),
                        host: c.identity.host.clone(),
                        display: c.identity.display.clone(),
                        version: self.pools[pool].pool.version.as_written().to_string(),
                        handle: 0,
                        started: c.last_heard / 1000,
                        count: co.count,
                        pid: c.identity.pid,
                        requested_version: co.version.clone(),
                        queued: true,
                        borrow_until: 0,
                        linger: 0,
                    },
                ))
            })
        })
    }

    /// For each pool, its place in a reply's `features` for `feature`
    /// (`None`: not asked for).
    fn feature_slots(&self, feature: &str) -> Vec<Option<usize>> {
        let mut next = 0;
        self.pools
            .iter()
            .map(|p| {
                (feature.is_empty() || p.pool.feature == feature).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    }

    /// A `Status` with the counts of every pool asked for and no holders.
    fn status_frame(&self, feature: &str) -> StatusReply {
        // RESERVE lines go with a feature's first pool, as lmstat prints
        // them once per feature.
        let mut listed: BTreeSet<String> = BTreeSet::new();
        let features = self
            .pools
            .iter()
            .filter(|p| feature.is_empty() || p.pool.feature == feature)
            .map(|p| FeatureStatus {
                name: p.pool.feature.clone(),
                version: p.pool.version.as_written().to_string(),
                counted: p.pool.counted,
                issued: p.issued,
                in_use: p.in_use,
                expiry: p.pool.expiry().to_string(),
                holders: Vec::new(),
                hostids: p
                    .pool
                    .hostids
                    .as_deref()
                    .map(hostid::display_list)
                    .unwrap_or_default(),
                vendor_string: p.pool.vendor_string.clone().unwrap_or_default(),
                reservations: self.reservations_of(&p.pool, &mut listed),
                omitted: 0,
            })
            .collect();
        StatusReply {
            server: self.config.vendor.clone(),
            version: self.config.version.clone(),
            host: self.config.host.clone(),
            port: self.config.port,
            vendors: Vec::new(),
            features,
            license_files: Vec::new(),
            triad: Vec::new(),
            next: 0,
        }
    }

    /// The RESERVE lines of `pool`'s feature, the first time the feature
    /// is `listed`; nothing for its other pools.
    pub(crate) fn reservations_of(
        &self,
        pool: &Pool,
        listed: &mut BTreeSet<String>,
    ) -> Vec<wire::ReservationStatus> {
        if !listed.insert(pool.feature.clone()) {
            return Vec::new();
        }
        let ctx = FeatureCtx::from_pool(pool);
        self.config
            .options
            .reservations(&ctx)
            .map(|r| wire::ReservationStatus {
                count: r.count(),
                kind: r.who().kind.keyword().to_string(),
                name: r.who().name.clone(),
            })
            .collect()
    }
}

/// Bytes of holders a status page lists: about 150 typical holders. Small
/// enough that building a page costs the event loop tens of microseconds;
/// a tool reading 19,000 holders takes a hundred-odd pages of a round trip
/// each.
pub const STATUS_PAGE_BYTES: usize = 16 * 1024;

/// Holdings a status page looks at, listed or not: a page for one feature
/// among many thousands of other holders is bounded too.
pub const STATUS_PAGE_SCAN: usize = 4096;

/// The room left on a status page, measured with one reused encoder.
struct Page {
    room: usize,
    w: wire::codec::Writer,
}

impl Page {
    fn new(room: usize) -> Page {
        Page {
            room,
            w: wire::codec::Writer::default(),
        }
    }

    fn len(&mut self, h: &Holder) -> usize {
        use wire::codec::Wire;
        self.w.buf.clear();
        h.put(&mut self.w);
        self.w.buf.len()
    }

    /// Takes `h` if it fits.
    fn take(&mut self, h: &Holder) -> bool {
        let n = self.len(h);
        let fits = n <= self.room;
        if fits {
            self.room -= n;
        }
        fits
    }

    /// Takes `h` whether it fits or not.
    fn force(&mut self, h: &Holder) {
        let n = self.len(h);
        self.room = self.room.saturating_sub(n);
    }

    fn is_full(&self) -> bool {
        self.room == 0
    }
}

/// Bytes `v` takes on the wire.
fn encoded_len(v: &impl wire::codec::Wire) -> usize {
    let mut w = wire::codec::Writer::default();
    v.put(&mut w);
    w.buf.len()
}

/// Leaves holders out of `reply` until its payload fits in `max_payload`
/// bytes, so that a client with the usual frame limit can always read it
/// whatever the holders' names and however many there are. Each pool's
/// `omitted` counts the holders left out of it; counts (`in_use`) stay
/// whole. When not all fit, borrowed seats go first, over every pool
/// (lmdown looks for them: it wants -force while any are out), then the
/// others in order, pool by pool, until one does not fit.
pub fn fit_holders(reply: &mut StatusReply, max_payload: usize) {
    let all: usize = reply
        .features
        .iter()
        .flat_map(|f| &f.holders)
        .map(encoded_len)
        .sum();
    let taken: Vec<Vec<Holder>> = reply
        .features
        .iter_mut()
        .map(|f| std::mem::take(&mut f.holders))
        .collect();
    let mut room = max_payload.saturating_sub(encoded_len(reply));
    if all <= room {
        for (f, holders) in reply.features.iter_mut().zip(taken) {
            f.holders = holders;
        }
        return;
    }
    let mut take = |h: &Holder, f: &mut FeatureStatus, more: bool| {
        let n = encoded_len(h);
        let fits = more && n <= room;
        if fits {
            room -= n;
        } else {
            f.omitted += 1;
        }
        fits
    };
    let mut others = Vec::with_capacity(taken.len());
    for (f, holders) in reply.features.iter_mut().zip(taken) {
        let (borrowed, rest): (Vec<Holder>, Vec<Holder>) =
            holders.into_iter().partition(|h| h.borrow_until > 0);
        for h in borrowed {
            if take(&h, f, true) {
                f.holders.push(h);
            }
        }
        others.push(rest);
    }
    let mut more = true;
    for (f, rest) in reply.features.iter_mut().zip(others) {
        for h in rest {
            more = take(&h, f, more);
            if more {
                f.holders.push(h);
            }
        }
    }
}
