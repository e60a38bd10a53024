//! Time: the next deadline, what a tick reclaims (silent connections, idle TIMEOUT, lingering and borrowed seats), and the date changing.

use super::*;

impl Core {
    /// When [`Core::tick`] next has work: the earliest time a connection
    /// holding seats times out.
    pub fn next_deadline(&self) -> Option<u64> {
        let timeout = self
            .idle_first()
            .map(|(last, _)| last.saturating_add(u64::from(self.config.timeout_ms)));
        let linger = self.lingering.first().map(|(until, _)| *until);
        let idle = self.timeouts.first().map(|(at, _)| *at);
        let borrow = self.borrowed.first().map(|(until, _)| *until);
        let orphan = self.orphans.first().map(|(until, _)| *until);
        if self.standby {
            // The master keeps a standby's seats: no timer runs here.
            return None;
        }
        [timeout, linger, idle, borrow, orphan]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reclaims the seats of connections silent for `timeout_ms` or more
    /// (`IN: ... (INACTIVE)`) and closes them. Returns what happened and
    /// the next deadline.
    pub fn tick(&mut self, now: u64) -> (Effects, Option<u64>) {
        let mut fx = Effects::default();
        if self.standby {
            return (fx, None);
        }
        let timeout = u64::from(self.config.timeout_ms);
        while let Some((last, conn)) = self.idle_first() {
            if now.saturating_sub(last) < timeout {
                break;
            }
            self.idle_unlink(conn);
            let Some(c) = self.conns.remove(&conn) else {
                continue;
            };
            self.jobs.remove(&(c.identity.job, conn));
            self.counters.heartbeat_misses += 1;
            if let Some(t) = c.timeout_ms {
                self.timeouts.remove(&(c.active_at.saturating_add(t), conn));
            }
            for h in c.handles {
                if self
                    .holdings
                    .get(&h)
                    .is_some_and(|h| h.borrow_until.is_some())
                {
                    self.detach(h);
                } else {
                    self.release(h, Some(InReason::Inactive), &mut fx);
                }
            }
            fx.close(conn, None);
        }
        while let Some(&(at, conn)) = self.timeouts.first() {
            if at > now {
                break;
            }
            self.reclaim_idle(now, conn, &mut fx);
        }
        while let Some(&(until, handle)) = self.lingering.first() {
            if until > now {
                break;
            }
            self.lingering.remove(&(until, handle));
            self.release(handle, None, &mut fx);
        }
        while let Some(&(until, handle)) = self.orphans.first() {
            if until > now {
                break;
            }
            self.release(handle, Some(InReason::Inactive), &mut fx);
        }
        while let Some(&(until, handle)) = self.borrowed.first() {
            if until > now {
                break;
            }
            let holder = self.holdings.get(&handle).map(|h| h.conn);
            self.release(handle, None, &mut fx);
            if let Some(conn) = holder.filter(|c| *c != DETACHED) {
                fx.reply(
                    conn,
                    Message::Revoked(Revoked {
                        handle,
                        code: lmerr::LM_BORROW_EXPIRED,
                        text: lmerr::text(lmerr::LM_BORROW_EXPIRED).to_string(),
                    }),
                );
            }
        }
        if !fx.log.is_empty() {
            self.serve_queue(now, &mut fx);
        }
        (fx, self.next_deadline())
    }

    /// TIMEOUT: the checkouts of `conn` whose TIMEOUT has passed since
    /// its user was last active go back (`IN: ... (INACTIVE)`); the
    /// application hears `Revoked` and keeps its connection.
    pub(crate) fn reclaim_idle(&mut self, now: u64, conn: ConnId, fx: &mut Effects) {
        let Some(c) = self.conns.get(&conn) else {
            self.timeouts.retain(|(_, id)| *id != conn);
            return;
        };
        let idle_for = now.saturating_sub(c.active_at);
        let expired: Vec<u64> = c
            .handles
            .iter()
            .copied()
            .filter(|h| {
                self.holdings.get(h).is_some_and(|h| {
                    h.borrow_until.is_none() && h.timeout_ms.is_some_and(|t| idle_for >= t)
                })
            })
            .collect();
        for handle in expired {
            self.release(handle, Some(InReason::Inactive), fx);
            fx.reply(
                conn,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_SERVER_REMOVED,
                    text: "License reclaimed: idle longer than the TIMEOUT in the options file."
                        .into(),
                }),
            );
        }
        self.reindex_timeout(conn);
    }

    /// The local date changed: pools follow their lines' START and expiry
    /// dates. If a pool now has fewer licenses than are in use, the newest
    /// checkouts are revoked until it fits.
    pub fn set_today(&mut self, today: Date) -> Effects {
        let mut fx = Effects::default();
        if today == self.today {
            return fx;
        }
        self.today = today;
        for i in 0..self.pools.len() {
            let p = &mut self.pools[i];
            let was_active = p.active;
            p.issued = p.pool.issued(today);
            p.active = p.pool.is_active(today);
            if was_active && !p.active {
                fx.log.push(LogEvent::Expired {
                    feature: Arc::clone(&p.name),
                });
            }
        }
        if self.standby {
            // The master revokes what no longer fits; its releases arrive
            // through the triad's log.
            return fx;
        }
        loop {
            let over = |p: &PoolState| p.pool.counted && p.in_use > p.capacity();
            let victim = self.holdings.iter().rev().find_map(|(handle, h)| {
                let in_over = over(&self.pools[h.pool])
                    || h.suite.as_ref().is_some_and(|(s, _)| over(&self.pools[*s]));
                in_over.then_some((*handle, h.conn))
            });
            let Some((handle, conn)) = victim else {
                break;
            };
            self.release(handle, Some(InReason::Expired), &mut fx);
            fx.reply(
                conn,
                Message::Revoked(Revoked {
                    handle,
                    code: lmerr::LM_LONGGONE,
                    text: lmerr::text(lmerr::LM_LONGGONE).to_string(),
                }),
            );
        }
        fx
    }
}
