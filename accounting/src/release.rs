//! Giving seats back: checkin, lmremove and disconnects, LINGER, and serving the queue when seats free up.

use super::*;

impl Core {
    /// Returns a checkout. Only the connection holding `ci.handle` may.
    pub fn checkin(&mut self, now: u64, conn: ConnId, ci: &Checkin) -> Effects {
        let mut fx = Effects::default();
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("checkin before Hello".into()));
            return fx;
        }
        self.activity(conn, now);
        if self
            .holdings
            .get(&ci.handle)
            .is_some_and(|h| h.conn == conn)
        {
            self.release_or_linger(now, ci.handle, &mut fx);
            fx.reply(
                conn,
                Message::CheckedIn(Checkin {
                    req: ci.req,
                    handle: ci.handle,
                }),
            );
            self.serve_queue(now, &mut fx);
        } else {
            fx.reply(
                conn,
                Message::Denied(Denied {
                    req: ci.req,
                    code: lmerr::LM_NEVERCHECKOUT,
                    minor: 0,
                    text: lmerr::text(lmerr::LM_NEVERCHECKOUT).to_string(),
                    detail: String::new(),
                }),
            );
        }
        fx
    }

    /// Frees a checkout's seats and logs `IN:`.
    pub(crate) fn release(&mut self, handle: u64, reason: Option<InReason>, fx: &mut Effects) {
        let Some(h) = self.holdings.remove(&handle) else {
            return;
        };
        if let Some(until) = h.linger_until {
            self.lingering.remove(&(until, handle));
        }
        if let Some(until) = h.borrow_until {
            self.borrowed.remove(&(until, handle));
            fx.borrows.push(BorrowChange::Remove(handle));
        }
        self.counters.released += 1;
        match reason {
            Some(InReason::Inactive) => self.counters.reclaimed += 1,
            Some(InReason::Removed) => self.counters.removed += 1,
            _ => {}
        }
        let (freed, heir) = self.pools[h.pool].leave(&h.key, handle);
        self.give_back_quota(&h.quota, freed, heir);
        if let Some(until) = h.orphan_until {
            self.orphans.remove(&(until, handle));
            self.orphans_by_job.remove(&(h.job, handle));
        }
        if self.config.replicate {
            fx.changes.push(Delta::Release(handle));
        }
        if self.config.report {
            let kind = match (reason, h.borrow_until) {
                (Some(InReason::Inactive), _) => reportlog::Kind::Reclaimed,
                (Some(InReason::Removed), _) => reportlog::Kind::Removed,
                (_, Some(_)) => reportlog::Kind::Return,
                _ => reportlog::Kind::Checkin,
            };
            let record = self.holding_record(kind, handle, &h, freed);
            fx.report.push(record);
        }
        fx.log.push(LogEvent::In {
            feature: h.feature.clone(),
            user: h.user.clone(),
            host: h.host.clone(),
            count: h.count,
            reason,
        });
        if let Some((s, key)) = &h.suite {
            self.pools[*s].leave(key, handle);
            fx.log.push(LogEvent::In {
                feature: self.pools[*s].pool.feature.clone(),
                user: h.user.clone(),
                host: h.host.clone(),
                count: h.count,
                reason,
            });
        }
        if let Some(c) = self.conns.get_mut(&h.conn) {
            c.handles.remove(&handle);
            if c.handles.is_empty() {
                self.idle.remove(&(c.last_heard, h.conn));
            }
        }
        if h.timeout_ms.is_some() {
            self.reindex_timeout(h.conn);
        }
    }

    /// The seat stays taken but no longer belongs to its connection (it
    /// lingers, or it is borrowed and its client went away).
    pub(crate) fn detach(&mut self, handle: u64) {
        let Some(h) = self.holdings.get_mut(&handle) else {
            return;
        };
        let conn = std::mem::replace(&mut h.conn, DETACHED);
        let timed = h.timeout_ms.is_some();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.handles.remove(&handle);
            if c.handles.is_empty() {
                self.idle.remove(&(c.last_heard, conn));
            }
        }
        if timed {
            self.reindex_timeout(conn);
        }
    }

    /// Seats came free: grant waiting checkouts in the order they came,
    /// stopping at the first that still does not fit.
    pub(crate) fn serve_queue(&mut self, now: u64, fx: &mut Effects) {
        let features: Vec<String> = self.queue.keys().cloned().collect();
        for feature in features {
            while let Some((conn, co)) = self.queue.get(&feature).and_then(|q| q.front()).cloned() {
                let Some(c) = self.conns.get(&conn) else {
                    self.pop_waiter(&feature);
                    continue;
                };
                if self.plan(c, &co, self.next_handle, now).is_err() {
                    break;
                }
                let (user, host) = (c.identity.user.clone(), c.identity.host.clone());
                self.pop_waiter(&feature);
                if self.config.report {
                    self.report_request(fx, reportlog::Kind::Dequeued, conn, &co, 0);
                }
                fx.log.push(LogEvent::Dequeued {
                    feature: feature.clone(),
                    user,
                    host,
                });
                let granted = self.checkout(now, conn, &Checkout { queue: false, ..co });
                fx.extend(granted);
            }
        }
    }

    pub(crate) fn pop_waiter(&mut self, feature: &str) {
        if let Some(q) = self.queue.get_mut(feature) {
            q.pop_front();
            if q.is_empty() {
                self.queue.remove(feature);
            }
        }
    }

    /// Drops a connection's queued checkouts.
    pub(crate) fn leave_queues(&mut self, conn: ConnId) {
        self.queue.retain(|_, q| {
            q.retain(|(c, _)| *c != conn);
            !q.is_empty()
        });
    }

    /// A checkin or an application's exit: the seat is freed now, or, when
    /// the options file sets LINGER for the feature, once that many
    /// seconds have passed. A lingering seat belongs to no connection.
    pub(crate) fn release_or_linger(&mut self, now: u64, handle: u64, fx: &mut Effects) {
        let Some(h) = self.holdings.get(&handle) else {
            return;
        };
        if h.borrow_until.is_some() {
            // A borrowed seat is the client's until the borrow ends,
            // whatever the application does.
            self.detach(handle);
            return;
        }
        let ctx = FeatureCtx::from_pool(&self.pools[h.pool].pool);
        let secs = self.config.options.effective_linger(&ctx, 0);
        if secs == 0 {
            self.release(handle, None, fx);
            return;
        }
        let until = now.saturating_add(u64::from(secs) * 1000);
        if let Some(h) = self.holdings.get_mut(&handle) {
            h.linger_until = Some(until);
        }
        self.lingering.insert((until, handle));
        self.detach(handle);
    }
}
