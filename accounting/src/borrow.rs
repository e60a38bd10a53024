//! Borrowing: early returns, and borrowed seats restored from the store at start.

use super::*;

impl Core {
    /// lmborrow -return: the seat of `r.feature` this user borrowed on this
    /// host comes back before its time.
    pub fn return_borrow(&mut self, now: u64, conn: ConnId, r: &ReturnBorrow) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.conns.get(&conn) else {
            fx.close(conn, Some("return before Hello".into()));
            return fx;
        };
        let (user, host) = (&c.identity.user, &c.identity.host);
        let found = self.borrowed.iter().map(|(_, h)| *h).find(|h| {
            self.holdings.get(h).is_some_and(|h| {
                h.feature == r.feature && h.user == *user && h.host.eq_ignore_ascii_case(host)
            })
        });
        self.activity(conn, now);
        match found {
            Some(handle) => {
                self.release(handle, None, &mut fx);
                fx.reply(conn, Message::CheckedIn(Checkin { req: r.req, handle }));
                self.serve_queue(now, &mut fx);
            }
            None => fx.reply(
                conn,
                Message::Denied(Denied {
                    req: r.req,
                    code: lmerr::LM_UNBORROWED_ALREADY,
                    minor: 0,
                    text: lmerr::text(lmerr::LM_UNBORROWED_ALREADY).to_string(),
                    detail: String::new(),
                }),
            ),
        }
        fx
    }

    /// Borrowed seats stored by an earlier run of the daemon, taken again
    /// at start-up (before any client connects). Those whose borrow has
    /// ended, or whose feature is no longer served, are dropped from the
    /// store.
    pub fn restore_borrows(&mut self, now: u64, records: Vec<BorrowRecord>) -> Effects {
        let mut fx = Effects::default();
        for rec in records {
            self.next_handle = self.next_handle.max(rec.handle.saturating_add(1));
            let pool = self.by_feature.get(&rec.feature).and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|&i| self.pools[i].pool.version.as_written() == rec.version)
                    .or_else(|| ids.first().copied())
            });
            let (Some(pool), true) = (pool, rec.until_ms > now) else {
                fx.log.push(LogEvent::Note(format!(
                    "Borrowed license \"{}\" of {}@{} ended while the daemon was down",
                    rec.feature, rec.user, rec.host
                )));
                fx.borrows.push(BorrowChange::Remove(rec.handle));
                continue;
            };
            let key = DupKey::Alone(rec.handle);
            let p = &mut self.pools[pool];
            p.join(key.clone(), rec.handle, p.seats(rec.count));
            fx.log.push(LogEvent::Note(format!(
                "Borrowed license \"{}\" of {}@{} kept until {}",
                rec.feature,
                rec.user,
                rec.host,
                rec.until_ms / 1000
            )));
            self.borrowed.insert((rec.until_ms, rec.handle));
            self.holdings.insert(
                rec.handle,
                Box::new(Holding {
                    conn: DETACHED,
                    req: 0,
                    feature: rec.feature,
                    pool,
                    key,
                    count: rec.count,
                    suite: None,
                    started_ms: rec.started_ms,
                    user: rec.user,
                    host: rec.host,
                    display: rec.display,
                    pid: rec.pid,
                    job: 0,
                    requested: rec.requested,
                    quota: Quota::default(),
                    linger_until: None,
                    timeout_ms: None,
                    borrow_until: Some(rec.until_ms),
                    orphan_until: None,
                }),
            );
        }
        fx
    }

    /// A report-log record of a held checkout; `count` is the seats the
    /// event took or freed.
    pub(crate) fn holding_record(
        &self,
        kind: reportlog::Kind,
        handle: u64,
        h: &Holding,
        count: u32,
    ) -> reportlog::Record {
        let pool = &self.pools[h.pool];
        reportlog::Record {
            version: h.requested.clone(),
            user: h.user.clone(),
            host: h.host.clone(),
            display: h.display.clone(),
            project: self
                .conns
                .get(&h.conn)
                .map(|c| c.identity.project.clone())
                .unwrap_or_default(),
            count,
            issued: pool.issued,
            handle,
            ..reportlog::Record::new(0, kind, &h.feature)
        }
    }
}
