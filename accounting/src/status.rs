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

    /// Usage per pool (all features, or those named `q.feature`).
    pub fn status(&self, conn: ConnId, q: &StatusQuery) -> Effects {
        let mut fx = Effects::default();
        fx.reply(conn, Message::Status(self.status_reply(&q.feature)));
        fx
    }

    /// What `Status` answers for `feature` (empty: every feature).
    pub fn status_reply(&self, feature: &str) -> StatusReply {
        let mut holders: Vec<Vec<Holder>> = self.pools.iter().map(|_| Vec::new()).collect();
        for (handle, h) in &self.holdings {
            let ctx = FeatureCtx::from_pool(&self.pools[h.pool].pool);
            let holder = Holder {
                queued: false,
                borrow_until: h.borrow_until.map_or(0, |u| u / 1000),
                linger: match h.borrow_until {
                    // FLEXlm shows a borrow as its length, in seconds.
                    Some(until) => ((until.saturating_sub(h.started_ms)) / 1000) as u32,
                    None => self.config.options.effective_linger(&ctx, 0),
                },
                user: h.user.to_string(),
                host: h.host.to_string(),
                display: h.display.to_string(),
                version: self.pools[h.pool].pool.version.as_written().to_string(),
                handle: *handle,
                started: h.started_ms / 1000,
                count: h.count,
                pid: h.pid,
                requested_version: h.requested.clone(),
            };
            if let Some((s, _)) = &h.suite {
                holders[*s].push(Holder {
                    version: self.pools[*s].pool.version.as_written().to_string(),
                    ..holder.clone()
                });
            }
            holders[h.pool].push(holder);
        }
        // Waiters show under the first pool of their feature.
        for (feature, waiters) in &self.queue {
            let Some(&pool) = self.by_feature.get(feature).and_then(|ids| ids.first()) else {
                continue;
            };
            for (conn, co) in waiters {
                let Some(c) = self.conns.get(conn) else {
                    continue;
                };
                holders[pool].push(Holder {
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
                });
            }
        }

        // RESERVE lines go with a feature's first pool, as lmstat prints
        // them once per feature.
        let mut listed: BTreeSet<String> = BTreeSet::new();
        let features = self
            .pools
            .iter()
            .zip(holders)
            .filter(|(p, _)| feature.is_empty() || p.pool.feature == feature)
            .map(|(p, holders)| FeatureStatus {
                name: p.pool.feature.clone(),
                version: p.pool.version.as_written().to_string(),
                counted: p.pool.counted,
                issued: p.issued,
                in_use: p.in_use,
                expiry: p.pool.expiry().to_string(),
                holders,
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
        let mut reply = StatusReply {
            server: self.config.vendor.clone(),
            version: self.config.version.clone(),
            host: self.config.host.clone(),
            port: self.config.port,
            vendors: Vec::new(),
            features,
            license_files: Vec::new(),
            triad: Vec::new(),
        };
        fit_holders(&mut reply, wire::frame::DEFAULT_MAX_PAYLOAD);
        reply
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
