//! Borrowing: early returns, and borrowed seats restored from the store at start.

use super::*;
use wire::text::Esc;

impl Core {
    /// lmborrow -return: the seat of `r.feature` this user borrowed on this
    /// host comes back before its time, if `r.secret` is the borrower's
    /// (its hash is the one the borrowing checkout sent). Claiming the
    /// borrower's user, host and display is not enough: without the
    /// secret the return is refused (LM_NOTLICADMIN) and the seat stays
    /// out. A borrow from before return secrets has no hash and is ended
    /// early only by an administrator (lmremove).
    pub fn return_borrow(&mut self, now: u64, conn: ConnId, r: &ReturnBorrow) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.conns.get(&conn) else {
            fx.close(conn, Some("return before Hello".into()));
            return fx;
        };
        let (user, host) = (c.identity.user.clone(), c.identity.host.clone());
        let claimed: Vec<u64> = self
            .borrowed
            .iter()
            .map(|(_, h)| *h)
            .filter(|h| {
                self.holdings.get(h).is_some_and(|h| {
                    *h.feature == *r.feature
                        && *h.user == *user
                        && h.host.eq_ignore_ascii_case(&host)
                })
            })
            .collect();
        // Every candidate is compared, so the time taken does not tell
        // which one (if any) matched.
        let mut found = None;
        for handle in &claimed {
            let hash = self.holdings[handle].return_hash.as_deref();
            let matches = hash.is_some_and(|h| wire::borrow_key::secret_matches(&r.secret.0, h));
            if matches && found.is_none() {
                found = Some(*handle);
            }
        }
        self.activity(conn, now);
        let deny = |code: i32, detail: String| {
            Message::Denied(Denied {
                req: r.req,
                code,
                minor: 0,
                text: lmerr::text(code).to_string(),
                detail,
            })
        };
        match found {
            Some(handle) => {
                self.release(handle, None, &mut fx);
                fx.reply(conn, Message::CheckedIn(Checkin { req: r.req, handle }));
                self.serve_queue(now, &mut fx);
            }
            None if claimed.is_empty() => {
                fx.reply(conn, deny(lmerr::LM_UNBORROWED_ALREADY, String::new()));
            }
            None => {
                let legacy = claimed
                    .iter()
                    .all(|h| self.holdings[h].return_hash.is_none());
                fx.log.push(LogEvent::Note(format!(
                    "Refused the early return of borrowed \"{}\" claimed by {}@{}: {}",
                    Esc(&r.feature),
                    Esc(&user),
                    Esc(&host),
                    if legacy {
                        "borrowed before return secrets (only lmremove ends it)"
                    } else {
                        "not the borrower's secret"
                    }
                )));
                let detail = if legacy {
                    "this borrow was made before borrows carried a return secret: \
                     only an administrator can end it early (lmremove)"
                } else {
                    "only the client that borrowed the license can return it early \
                     (its return secret did not match); the license stays borrowed"
                };
                fx.reply(conn, deny(lmerr::LM_NOTLICADMIN, detail.to_string()));
            }
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
                    Esc(&rec.feature),
                    Esc(&rec.user),
                    Esc(&rec.host)
                )));
                fx.borrows.push(BorrowChange::Remove(rec.handle));
                continue;
            };
            let key = DupKey::Alone(rec.handle);
            let p = &mut self.pools[pool];
            p.join(key.clone(), rec.handle, p.seats(rec.count));
            fx.log.push(LogEvent::Note(format!(
                "Borrowed license \"{}\" of {}@{} kept until {}",
                Esc(&rec.feature),
                Esc(&rec.user),
                Esc(&rec.host),
                rec.until_ms / 1000
            )));
            self.borrowed.insert((rec.until_ms, rec.handle));
            self.holdings.insert(
                rec.handle,
                Box::new(Holding {
                    conn: DETACHED,
                    req: 0,
                    feature: Arc::clone(&self.pools[pool].name),
                    pool,
                    key,
                    count: rec.count,
                    suite: None,
                    started_ms: rec.started_ms,
                    // Written before clients' strings were checked, a
                    // record may hold anything: held escaped, so that no
                    // log line, report or status shows it raw.
                    user: self.names.get(&wire::text::escape(&rec.user)),
                    host: self.names.get(&wire::text::escape(&rec.host)),
                    display: self.names.get(&wire::text::escape(&rec.display)),
                    pid: rec.pid,
                    job: 0,
                    requested: rec.requested,
                    quota: Quota::default(),
                    linger_until: None,
                    timeout_ms: None,
                    borrow_until: Some(rec.until_ms),
                    return_hash: return_hash_of(&rec.return_hash),
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
            user: h.user.to_string(),
            host: h.host.to_string(),
            display: h.display.to_string(),
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
