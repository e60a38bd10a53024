//! Connections: a client's Hello (and a job's reattach), heartbeats, activity for the options file's TIMEOUT, and the socket going away.

use super::*;
use wire::text::Esc;

/// The answer to a message one of whose strings breaks the rule of
/// `wire::text` (too long, or a control character, line separator or
/// bidi override): LM_BADPARAM naming the field and what is wrong with
/// it (`Denied` for a checkout or return, which carry a request number;
/// `Error` otherwise), and the connection closed with that reason for the
/// log. The reason never holds the string itself.
pub fn refuse_field(conn: ConnId, msg: &Message, e: &wire::text::FieldError) -> Effects {
    let mut fx = Effects::default();
    let code = lmerr::LM_BADPARAM;
    let req = match msg {
        Message::Checkout(c) => Some(c.req),
        Message::ReturnBorrow(r) => Some(r.req),
        _ => None,
    };
    let reply = match req {
        Some(req) => Message::Denied(Denied {
            req,
            code,
            minor: 0,
            text: lmerr::text(code).to_string(),
            detail: e.to_string(),
        }),
        None => Message::Error(ErrorReply {
            code,
            minor: 0,
            text: format!("{} {e}", lmerr::text(code)),
        }),
    };
    fx.reply(conn, reply);
    fx.close(conn, Some(format!("refused: {e}")));
    fx
}

impl Core {
    /// Whether the core knows `conn` (it said Hello and was not closed).
    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Handles held by `conn`, in order.
    pub fn handles_of(&self, conn: ConnId) -> Vec<u64> {
        self.conns
            .get(&conn)
            .map(|c| c.handles.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A client introduced itself. If another connection of the same job
    /// (same non-zero job id, user and host) still holds seats, they move
    /// to this connection, are listed in `Welcome.held`, and the old
    /// connection is closed.
    pub fn connect(&mut self, now: u64, conn: ConnId, identity: ClientIdentity) -> Effects {
        let mut fx = Effects::default();
        if self.conns.contains_key(&conn) {
            fx.close(conn, Some("second Hello on one connection".into()));
            return fx;
        }
        let mut moved: BTreeSet<u64> = BTreeSet::new();
        if identity.job != 0 {
            let job = identity.job;
            let old: Vec<ConnId> = self
                .jobs
                .range((job, ConnId(0))..=(job, ConnId(u64::MAX)))
                .map(|&(_, id)| id)
                .filter(|id| {
                    self.conns.get(id).is_some_and(|c| {
                        !c.handles.is_empty()
                            && c.identity.user == identity.user
                            && c.identity.host == identity.host
                    })
                })
                .collect();
            for id in old {
                let Some(c) = self.conns.remove(&id) else {
                    continue;
                };
                self.jobs.remove(&(job, id));
                self.idle.remove(&(c.last_heard, id));
                if let Some(t) = c.timeout_ms {
                    self.timeouts.remove(&(c.active_at.saturating_add(t), id));
                }
                for h in &c.handles {
                    if let Some(holding) = self.holdings.get_mut(h) {
                        holding.conn = conn;
                    }
                }
                fx.log.push(LogEvent::Note(format!(
                    "{}@{} reconnected: {} license checkout(s) kept",
                    Esc(&identity.user),
                    Esc(&identity.host),
                    c.handles.len()
                )));
                moved.extend(c.handles);
                fx.close(id, None);
            }
        }
        if identity.job != 0 && !self.orphans.is_empty() {
            let job = identity.job;
            let mine: Vec<u64> = self
                .orphans_by_job
                .range((job, 0)..=(job, u64::MAX))
                .map(|&(_, h)| h)
                .filter(|h| {
                    self.holdings.get(h).is_some_and(|h| {
                        h.job == identity.job
                            && h.user == identity.user
                            && h.host.eq_ignore_ascii_case(&identity.host)
                    })
                })
                .collect();
            for handle in mine {
                if let Some(h) = self.holdings.get_mut(&handle) {
                    if let Some(until) = h.orphan_until.take() {
                        self.orphans.remove(&(until, handle));
                        self.orphans_by_job.remove(&(h.job, handle));
                    }
                    h.conn = conn;
                    moved.insert(handle);
                }
            }
            if !moved.is_empty() {
                fx.log.push(LogEvent::Note(format!(
                    "{}@{} reattached: {} license checkout(s) kept from the previous master",
                    Esc(&identity.user),
                    Esc(&identity.host),
                    moved.len()
                )));
            }
        }
        let held = moved.iter().map(|h| self.granted(*h)).collect();
        if !moved.is_empty() {
            self.idle.insert((now, conn));
        }
        if identity.job != 0 {
            self.jobs.insert((identity.job, conn));
        }
        self.conns.insert(
            conn,
            Box::new(Conn {
                client: OnceCell::new(),
                identity,
                last_heard: now,
                active_at: now,
                timeout_ms: None,
                handles: moved,
            }),
        );
        self.reindex_timeout(conn);
        fx.reply(
            conn,
            Message::Welcome(Welcome {
                server: self.config.vendor.clone(),
                version: self.config.version.clone(),
                heartbeat_interval_ms: self.config.heartbeat_interval_ms,
                timeout_ms: self.config.timeout_ms,
                held,
            }),
        );
        fx
    }

    /// The `Granted` describing an existing checkout (for `Welcome.held`).
    pub(crate) fn granted(&self, handle: u64) -> Granted {
        let h = &self.holdings[&handle];
        let pool = &self.pools[h.pool].pool;
        Granted {
            req: h.req,
            handle,
            feature: h.feature.clone(),
            version: pool.version.as_written().to_string(),
            count: h.count,
            expiry: pool.expiry().to_string(),
            proof: proof_of(pool),
            seal: wire::codec::Blob::default(),
        }
    }

    /// Records activity from `conn`, moving its timeout.
    pub(crate) fn touch(&mut self, conn: ConnId, now: u64) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.handles.is_empty() {
            self.idle.remove(&(c.last_heard, conn));
            self.idle.insert((now.max(c.last_heard), conn));
        }
        c.last_heard = now.max(c.last_heard);
    }

    /// Records a sign of the user at work (for TIMEOUT), and activity.
    pub(crate) fn activity(&mut self, conn: ConnId, now: u64) {
        self.touch(conn, now);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let before = c.active_at;
        c.active_at = now.max(c.active_at);
        if let Some(t) = c.timeout_ms {
            self.timeouts.remove(&(before.saturating_add(t), conn));
            self.timeouts.insert((c.active_at.saturating_add(t), conn));
        }
    }

    /// Recomputes a connection's shortest TIMEOUT after its checkouts
    /// changed, and its place in the timeout index.
    pub(crate) fn reindex_timeout(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let t = c
            .handles
            .iter()
            .filter_map(|h| self.holdings.get(h))
            .filter(|h| h.borrow_until.is_none())
            .filter_map(|h| h.timeout_ms)
            .min();
        let (active_at, old) = (c.active_at, c.timeout_ms);
        if let Some(old) = old {
            self.timeouts.remove(&(active_at.saturating_add(old), conn));
        }
        if let Some(t) = t {
            self.timeouts.insert((active_at.saturating_add(t), conn));
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.timeout_ms = t;
        }
    }

    /// A heartbeat: the connection is alive (and active, unless the client says it is idle); acknowledged.
    pub fn heartbeat(&mut self, now: u64, conn: ConnId, hb: &Heartbeat) -> Effects {
        let mut fx = Effects::default();
        if !self.conns.contains_key(&conn) {
            fx.close(conn, Some("heartbeat before Hello".into()));
            return fx;
        }
        if hb.idle {
            self.touch(conn, now);
        } else {
            self.activity(conn, now);
        }
        fx.reply(
            conn,
            Message::HeartbeatAck(Heartbeat {
                seq: hb.seq,
                idle: false,
            }),
        );
        fx
    }

    /// The connection is gone: everything it held is released.
    pub fn disconnect(&mut self, now: u64, conn: ConnId) -> Effects {
        let mut fx = Effects::default();
        let Some(c) = self.conns.remove(&conn) else {
            return fx;
        };
        self.idle.remove(&(c.last_heard, conn));
        self.jobs.remove(&(c.identity.job, conn));
        if let Some(t) = c.timeout_ms {
            self.timeouts.remove(&(c.active_at.saturating_add(t), conn));
        }
        for h in c.handles {
            self.release_or_linger(now, h, &mut fx);
        }
        self.leave_queues(conn);
        self.serve_queue(now, &mut fx);
        fx
    }
}
