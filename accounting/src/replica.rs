//! The accounting as a triad replicates it.
//!
//! The master's core describes every seat it grants or frees as a
//! [`Change`]; the event loop has the triad's majority commit them before
//! any client hears of them, and every member's core applies the committed
//! changes in log order. A standby's core so holds exactly the master's
//! seats (belonging to no connection). When it becomes master
//! ([`Core::promote`]) those seats wait, counted as in use, for their
//! applications to reconnect with the same job id; so a newcomer can never
//! take a seat that is still held, and a reconnecting application gets its
//! seats back without a new checkout.

use super::{return_hash_of, Core, DupKey, Effects, Holding, Quota, DETACHED};
use wire::codec::{put_str, Blob, Reader, Wire, Writer};
use wire::DecodeError;

wire::wire_struct!(
    /// How a seat shares under DUP_GROUP: `mask` 0 shares with no one.
    SeatKey {
        /// The DUP_GROUP mask (user, host, display, vendor, site).
        mask: u8,
        /// The user, as the client names it.
        user: String,
        /// The client's host name.
        host: String,
        /// The client's display.
        display: String,
    }
);

wire::wire_struct!(
    /// A granted checkout, as replicated.
    Seat {
        /// The checkout's handle.
        handle: u64,
        /// The feature.
        feature: String,
        /// The pool's version: with the feature it finds the pool.
        version: String,
        /// How many seats.
        count: u32,
        /// How the seat shares under DUP_GROUP.
        key: SeatKey,
        /// For a SUITE component: the suite's feature and version, and
        /// its seat's key.
        suite: Vec<SuiteSeat>,
        /// The user, as the client names it.
        user: String,
        /// The client's host name.
        host: String,
        /// The client's display.
        display: String,
        /// The client process.
        pid: u32,
        /// The client job, for reattaching after a reconnect.
        job: u64,
        /// The version the client asked for.
        requested: String,
        /// When the checkout was granted (milliseconds since the Unix epoch).
        started_ms: u64,
        /// 0: not borrowed.
        borrow_until_ms: u64,
        /// For a borrowed seat: the SHA-256 of its borrower's return
        /// secret (`wire::borrow_key`), so that a new master still
        /// refuses a return without it. Empty otherwise, and in batches
        /// of layout 1 (from before return secrets).
        return_hash: Blob,
    }
);

impl Seat {
    /// A seat of batch layout 1: the same fields, without the return
    /// hash. Read field by field, in [`Seat`]'s order.
    fn get_layout1(r: &mut Reader) -> Result<Seat, DecodeError> {
        Ok(Seat {
            handle: Wire::get(r)?,
            feature: Wire::get(r)?,
            version: Wire::get(r)?,
            count: Wire::get(r)?,
            key: Wire::get(r)?,
            suite: Wire::get(r)?,
            user: Wire::get(r)?,
            host: Wire::get(r)?,
            display: Wire::get(r)?,
            pid: Wire::get(r)?,
            job: Wire::get(r)?,
            requested: Wire::get(r)?,
            started_ms: Wire::get(r)?,
            borrow_until_ms: Wire::get(r)?,
            return_hash: Blob::default(),
        })
    }
}

/// The batch layout written: 2 added [`Seat::return_hash`]. Layout 1 is
/// still read (a replicated log written before).
const LAYOUT: u8 = 2;

wire::wire_struct!(
    /// A SUITE component's seat in its suite: the suite's feature and
    /// version, and the suite seat's key.
    SuiteSeat {
        /// The suite's feature.
        feature: String,
        /// The suite's version, as the license line writes it.
        version: String,
        /// How the suite's seat shares under DUP_GROUP.
        key: SeatKey,
    }
);

/// A change as the master's core reports it: the seat by its handle. The
/// event loop encodes a turn's deltas into one batch with
/// [`Core::encode_batch`], straight from the core's holdings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The seat with this handle was granted.
    Grant(u64),
    /// The seat with this handle was given back.
    Release(u64),
}

/// One accounting change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A seat was granted.
    Grant(Box<Seat>),
    /// The seat with this handle was given back.
    Release(u64),
}

impl Wire for Change {
    fn put(&self, w: &mut Writer) {
        match self {
            Change::Grant(s) => {
                1u8.put(w);
                s.put(w);
            }
            Change::Release(h) => {
                2u8.put(w);
                h.put(w);
            }
        }
    }

    fn get(r: &mut Reader) -> Result<Self, DecodeError> {
        Change::get_in(r, LAYOUT)
    }
}

impl Change {
    /// A change of a batch of `layout`.
    fn get_in(r: &mut Reader, layout: u8) -> Result<Self, DecodeError> {
        match (u8::get(r)?, layout) {
            (1, 1) => Ok(Change::Grant(Box::new(Seat::get_layout1(r)?))),
            (1, _) => Ok(Change::Grant(Box::new(Seat::get(r)?))),
            (2, _) => Ok(Change::Release(u64::get(r)?)),
            _ => Err(DecodeError::BadValue("change")),
        }
    }
}

/// A [`SeatKey`]'s fields, in its wire order, from a core's key.
fn put_key(key: &DupKey, w: &mut Writer) {
    match key {
        DupKey::Alone(_) => {
            0u8.put(w);
            put_str("", w);
            put_str("", w);
            put_str("", w);
        }
        DupKey::Shared {
            mask,
            user,
            host,
            display,
        } => {
            mask.put(w);
            put_str(user, w);
            put_str(host, w);
            put_str(display, w);
        }
    }
}

impl SeatKey {
    #[cfg(test)]
    fn of(key: &DupKey) -> SeatKey {
        match key {
            DupKey::Alone(_) => SeatKey::default(),
            DupKey::Shared {
                mask,
                user,
                host,
                display,
            } => SeatKey {
                mask: *mask,
                user: user.clone(),
                host: host.clone(),
                display: display.clone(),
            },
        }
    }

    /// The key the master's core made (fields outside the mask are
    /// already empty there).
    fn to_key(&self, handle: u64) -> DupKey {
        if self.mask == 0 {
            return DupKey::Alone(handle);
        }
        DupKey::Shared {
            mask: self.mask,
            user: self.user.clone(),
            host: self.host.clone(),
            display: self.display.clone(),
        }
    }
}

impl Core {
    /// The replicated form of a held checkout (what
    /// [`Core::encode_batch`] writes without building it).
    #[cfg(test)]
    pub(super) fn seat_of(&self, handle: u64) -> Option<Seat> {
        let h = self.holdings.get(&handle)?;
        let pool = &self.pools[h.pool].pool;
        let suite = h
            .suite
            .as_ref()
            .map(|(s, key)| SuiteSeat {
                feature: self.pools[*s].pool.feature.clone(),
                version: self.pools[*s].pool.version.as_written().to_string(),
                key: SeatKey::of(key),
            })
            .into_iter()
            .collect();
        Some(Seat {
            handle,
            feature: h.feature.clone(),
            version: pool.version.as_written().to_string(),
            count: h.count,
            key: SeatKey::of(&h.key),
            suite,
            user: h.user.clone(),
            host: h.host.clone(),
            display: h.display.clone(),
            pid: h.pid,
            job: h.job,
            requested: h.requested.clone(),
            started_ms: h.started_ms,
            borrow_until_ms: h.borrow_until.unwrap_or(0),
            return_hash: Blob(
                h.return_hash
                    .as_deref()
                    .map(|h| h.to_vec())
                    .unwrap_or_default(),
            ),
        })
    }

    /// The encoded [`Batch`] of `deltas`, written straight from the
    /// holdings (the same bytes as a `Batch` of [`Core::seat_of`] seats,
    /// without building them). A seat granted and freed within the same
    /// deltas is left out: only its release goes, which a standby ignores.
    pub fn encode_batch(&self, origin: u64, seq: u64, deltas: &[Delta]) -> Vec<u8> {
        let mut w = Writer::default();
        LAYOUT.put(&mut w);
        origin.put(&mut w);
        seq.put(&mut w);
        let count_at = w.buf.len();
        0u32.put(&mut w);
        let mut n = 0u32;
        for d in deltas {
            match *d {
                Delta::Grant(handle) => {
                    if let Some(h) = self.holdings.get(&handle) {
                        1u8.put(&mut w);
                        self.put_seat(handle, h, &mut w);
                        n += 1;
                    }
                }
                Delta::Release(handle) => {
                    2u8.put(&mut w);
                    handle.put(&mut w);
                    n += 1;
                }
            }
        }
        w.buf[count_at..count_at + 4].copy_from_slice(&n.to_be_bytes());
        w.buf
    }

    /// A [`Seat`]'s fields, in its wire order, from a holding.
    fn put_seat(&self, handle: u64, h: &Holding, w: &mut Writer) {
        handle.put(w);
        put_str(&h.feature, w);
        put_str(self.pools[h.pool].pool.version.as_written(), w);
        h.count.put(w);
        put_key(&h.key, w);
        match &h.suite {
            Some((s, key)) => {
                1u16.put(w);
                let suite = &self.pools[*s].pool;
                put_str(&suite.feature, w);
                put_str(suite.version.as_written(), w);
                put_key(key, w);
            }
            None => 0u16.put(w),
        }
        put_str(&h.user, w);
        put_str(&h.host, w);
        put_str(&h.display, w);
        h.pid.put(w);
        h.job.put(w);
        put_str(&h.requested, w);
        h.started_ms.put(w);
        h.borrow_until.unwrap_or(0).put(w);
        let hash: &[u8] = h.return_hash.as_deref().map_or(&[], |h| h.as_slice());
        (hash.len() as u32).put(w);
        w.buf.extend_from_slice(hash);
    }

    /// A standby keeps the master's seats and runs no timer; a master
    /// serves clients. See [`Core::promote`] for the change of role.
    pub fn set_standby(&mut self, standby: bool) {
        self.standby = standby;
    }

    /// Applies committed changes from the triad's log (on a standby, or on
    /// a restarted member catching up). A seat that cannot be placed (its
    /// feature is not in this member's license file) is reported in the
    /// log and skipped.
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> Effects {
        let mut fx = Effects::default();
        for change in changes {
            match change {
                Change::Grant(seat) => self.apply_grant(*seat, &mut fx),
                Change::Release(handle) => {
                    let mut ignored = Effects::default();
                    self.release(handle, None, &mut ignored);
                    fx.borrows.extend(ignored.borrows);
                }
            }
        }
        fx
    }

    fn apply_grant(&mut self, seat: Seat, fx: &mut Effects) {
        self.next_handle = self.next_handle.max(seat.handle.saturating_add(1));
        if self.holdings.contains_key(&seat.handle) {
            return;
        }
        let find = |feature: &str, version: &str| {
            self.by_feature.get(feature).and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|&i| self.pools[i].pool.version.as_written() == version)
                    .or_else(|| ids.first().copied())
            })
        };
        let Some(pool) = find(&seat.feature, &seat.version) else {
            fx.log.push(super::LogEvent::Note(format!(
                "Replicated checkout of \"{}\" by {}@{} names a feature this license file lacks; ignored",
                wire::text::Esc(&seat.feature),
                wire::text::Esc(&seat.user),
                wire::text::Esc(&seat.host)
            )));
            return;
        };
        let suite = seat
            .suite
            .first()
            .and_then(|s| find(&s.feature, &s.version).map(|i| (i, s.key.to_key(seat.handle))));
        let key = seat.key.to_key(seat.handle);
        let p = &mut self.pools[pool];
        p.join(key.clone(), seat.handle, p.seats(seat.count));
        if let Some((s, skey)) = &suite {
            self.pools[*s].join(skey.clone(), seat.handle, seat.count);
        }
        let borrow_until = (seat.borrow_until_ms > 0).then_some(seat.borrow_until_ms);
        if let Some(until) = borrow_until {
            self.borrowed.insert((until, seat.handle));
        }
        self.holdings.insert(
            seat.handle,
            Box::new(Holding {
                conn: DETACHED,
                req: 0,
                feature: seat.feature,
                pool,
                key,
                count: seat.count,
                suite,
                started_ms: seat.started_ms,
                user: seat.user,
                host: seat.host,
                display: seat.display,
                pid: seat.pid,
                job: seat.job,
                requested: seat.requested,
                quota: Quota::default(),
                linger_until: None,
                timeout_ms: None,
                borrow_until,
                return_hash: return_hash_of(&seat.return_hash.0),
                orphan_until: None,
            }),
        );
    }

    /// A summary of the log replaces what a standby holds (see
    /// [`Batch::summary`]).
    pub fn reset_standby(&mut self) {
        if !self.standby {
            return;
        }
        let handles: Vec<u64> = self.holdings.keys().copied().collect();
        let mut ignored = Effects::default();
        for h in handles {
            self.release(h, None, &mut ignored);
        }
    }

    /// This member became the triad's master. The seats it holds for the
    /// old master stay taken for `grace_ms` (the clients' heartbeat
    /// timeout): an application that reconnects with its job id in that
    /// time gets them back in its `Welcome`; the others are freed then.
    pub fn promote(&mut self, now: u64, grace_ms: u64) {
        self.standby = false;
        let until = now.saturating_add(grace_ms);
        let waiting: Vec<u64> = self
            .holdings
            .iter()
            .filter(|(_, h)| h.conn == DETACHED && h.borrow_until.is_none())
            .filter(|(_, h)| h.linger_until.is_none() && h.orphan_until.is_none())
            .map(|(handle, _)| *handle)
            .collect();
        for handle in waiting {
            if let Some(h) = self.holdings.get_mut(&handle) {
                h.orphan_until = Some(until);
                self.orphans.insert((until, handle));
                self.orphans_by_job.insert((h.job, handle));
            }
        }
    }
}

/// A batch of changes as one replicated entry: who proposed it (a random
/// id per vendor daemon process, and its sequence number), so that the
/// proposer knows its own batch when it comes back committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The proposing daemon's random id, so it knows its own batches when they return.
    pub origin: u64,
    /// The batch's number from that daemon.
    pub seq: u64,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// The `origin` of a batch no vendor daemon proposed: lmgrd's summary of
/// the log (every seat held at some point of it), used when the log is
/// compacted. A vendor daemon's own origin is never 0.
const SUMMARY_ORIGIN: u64 = 0;

impl Batch {
    /// A summary of the log: exactly these seats are held. A standby that
    /// receives one forgets what it had and takes these.
    pub fn summary(seats: Vec<Seat>) -> Batch {
        Batch {
            origin: SUMMARY_ORIGIN,
            seq: 0,
            changes: seats
                .into_iter()
                .map(|s| Change::Grant(Box::new(s)))
                .collect(),
        }
    }

    /// Whether this batch is a summary of every seat (after compaction) rather than one turn's changes.
    pub fn is_summary(&self) -> bool {
        self.origin == SUMMARY_ORIGIN
    }

    /// The batch as the replicated log stores it.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        LAYOUT.put(&mut w);
        self.origin.put(&mut w);
        self.seq.put(&mut w);
        (self.changes.len() as u32).put(&mut w);
        for c in &self.changes {
            c.put(&mut w);
        }
        w.buf
    }

    /// Who proposed an encoded batch, and its number, without decoding
    /// its changes: the proposer only needs to know its own batch when it
    /// comes back.
    pub fn header(bytes: &[u8]) -> Result<(u64, u64), DecodeError> {
        let mut r = Reader::new(bytes);
        Batch::read_header(&mut r).map(|(_, origin, seq)| (origin, seq))
    }

    /// The layout, origin and sequence number.
    fn read_header(r: &mut Reader) -> Result<(u8, u64, u64), DecodeError> {
        let layout = u8::get(r)?;
        if !(1..=LAYOUT).contains(&layout) {
            return Err(DecodeError::BadValue("batch layout"));
        }
        Ok((layout, u64::get(r)?, u64::get(r)?))
    }

    /// Reads a batch from the replicated log; any damage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
        let mut r = Reader::new(bytes);
        let (layout, origin, seq) = Batch::read_header(&mut r)?;
        let n = u32::get(&mut r)? as usize;
        let mut changes = Vec::with_capacity(n.min(bytes.len()));
        for _ in 0..n {
            changes.push(Change::get_in(&mut r, layout)?);
        }
        r.finish()?;
        Ok(Batch {
            origin,
            seq,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{co, core_for, ident, SECRET};
    use super::*;
    use crate::ConnId;
    use proptest::prelude::*;
    use wire::{Checkin, Checkout, Message};

    const LICENSE: &str = "\
FEATURE f1 demo 1.0 permanent 3
FEATURE f2 demo 1.0 permanent 2 DUP_GROUP=UH
FEATURE f3 demo 1.0 permanent 2 BORROW=1
PACKAGE suite demo 1.0 COMPONENTS=\"c1 c2\" OPTIONS=SUITE
FEATURE suite demo 1.0 permanent 2 SUITE_DUP_GROUP=UH
";
    const FEATURES: [&str; 5] = ["f1", "f2", "f3", "c1", "c2"];

    /// Seats per pool and the handles held: what must agree.
    fn picture(core: &Core) -> (Vec<u32>, Vec<u64>) {
        (
            core.usage().iter().map(|u| u.in_use).collect(),
            core.holdings.keys().copied().collect(),
        )
    }

    #[derive(Debug, Clone)]
    enum Op {
        Connect(u64, usize),
        Checkout(u64, usize, u32, bool),
        Checkin(u64, usize),
        Disconnect(u64),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (0u64..5, 0usize..3).prop_map(|(c, u)| Op::Connect(c, u)),
            5 => (0u64..5, 0usize..5, 1u32..3, prop::bool::weighted(0.2))
                .prop_map(|(c, f, n, b)| Op::Checkout(c, f, n, b)),
            2 => (0u64..5, 0usize..4).prop_map(|(c, p)| Op::Checkin(c, p)),
            1 => (0u64..5).prop_map(Op::Disconnect),
            1 => (0u64..5000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// A standby fed the master's committed batches holds the same
        /// seats at every step; once promoted, reconnecting jobs get their
        /// seats back and the others are freed after the grace period.
        #[test]
        fn a_standby_mirrors_the_master_and_takes_over(ops in proptest::collection::vec(op(), 1..80)) {
            let mut master = core_for(LICENSE);
            master.config.replicate = true;
            master.config.timeout_ms = 3000;
            let mut standby = core_for(LICENSE);
            standby.set_standby(true);
            let mut live = std::collections::BTreeMap::new();
            let mut now = 1_700_000_000_000u64;
            let users = ["joe", "ann", "bob"];
            for op in ops {
                let mut fx = Effects::default();
                match op {
                    Op::Connect(c, u) => {
                        if let std::collections::btree_map::Entry::Vacant(slot) = live.entry(c) {
                            let id = wire::ClientIdentity { job: 100 + c, ..ident(users[u], "ws") };
                            fx.extend(master.connect(now, ConnId(c), id.clone()));
                            slot.insert(id);
                        }
                    }
                    Op::Checkout(c, f, n, borrow) => {
                        if live.contains_key(&c) {
                            let req = Checkout {
                                borrow_until: if borrow { now / 1000 + 600 } else { 0 },
                                return_hash: Blob(wire::borrow_key::return_hash(&SECRET).to_vec()),
                                ..co(FEATURES[f], "1", n)
                            };
                            fx.extend(master.handle_message(now, ConnId(c), Message::Checkout(req)));
                        }
                    }
                    Op::Checkin(c, p) => {
                        let handles = master.handles_of(ConnId(c));
                        if let Some(&handle) = handles.get(p % handles.len().max(1)) {
                            fx.extend(master.checkin(now, ConnId(c), &Checkin { req: 0, handle }));
                        }
                    }
                    Op::Disconnect(c) => {
                        live.remove(&c);
                        fx.extend(master.disconnect(now, ConnId(c)));
                    }
                    Op::Advance(ms) => {
                        now += ms;
                        fx.extend(master.tick(now).0);
                    }
                }
                for close in &fx.close {
                    live.remove(&close.conn.0);
                    let more = master.disconnect(now, close.conn);
                    fx.changes.extend(more.changes);
                }
                // The batch goes through the log's encoding, as in a triad;
                // it is the same as a batch of the seats built one by one.
                let bytes = master.encode_batch(1, 1, &fx.changes);
                let built = Batch {
                    origin: 1,
                    seq: 1,
                    changes: fx.changes.iter().filter_map(|d| match *d {
                        Delta::Grant(h) => master.seat_of(h).map(|s| Change::Grant(Box::new(s))),
                        Delta::Release(h) => Some(Change::Release(h)),
                    }).collect(),
                };
                prop_assert_eq!(&bytes, &built.encode());
                let batch = Batch::decode(&bytes).unwrap();
                let _ = standby.apply_changes(batch.changes);
                prop_assert_eq!(picture(&standby), picture(&master));
                standby.check_invariants();
            }
            // The master dies; the standby takes over.
            standby.promote(now, 5000);
            standby.check_invariants();
            let mut returned = Vec::new();
            for (c, id) in &live {
                let fx = standby.connect(now + 10, ConnId(50 + c), id.clone());
                let Message::Welcome(w) = &fx.replies[0].1 else { panic!("{fx:?}") };
                // Borrowed seats stay borrowed: nothing to hand back.
                let mine: Vec<u64> = master
                    .handles_of(ConnId(*c))
                    .into_iter()
                    .filter(|h| master.holdings[h].borrow_until.is_none())
                    .collect();
                let mut held: Vec<u64> = w.held.iter().map(|g| g.handle).collect();
                held.sort_unstable();
                prop_assert_eq!(&held, &mine, "job {} gets its seats back", id.job);
                returned.extend(mine);
            }
            standby.check_invariants();
            let (_, _) = standby.tick(now + 5000);
            let mut left: Vec<u64> = standby.holdings.iter()
                .filter(|(_, h)| h.borrow_until.is_none())
                .map(|(h, _)| *h)
                .collect();
            left.sort_unstable();
            let mut expect: Vec<u64> = returned
                .into_iter()
                .filter(|h| standby.holdings.get(h).is_some_and(|h| h.borrow_until.is_none()))
                .collect();
            expect.sort_unstable();
            prop_assert_eq!(left, expect, "unclaimed seats are freed after the grace period");
            standby.check_invariants();
        }
    }

    /// A borrow's return hash goes with its replicated seat: a standby
    /// that becomes master refuses a return without the secret and takes
    /// the genuine one.
    #[test]
    fn a_new_master_knows_who_may_return_a_borrow() {
        let now = 1_700_000_000_000u64;
        let mut master = core_for(LICENSE);
        master.config.replicate = true;
        let mut standby = core_for(LICENSE);
        standby.set_standby(true);
        let _ = master.connect(now, ConnId(1), ident("joe", "lap"));
        let fx = master.checkout(
            now,
            ConnId(1),
            &Checkout {
                borrow_until: now / 1000 + 600,
                return_hash: Blob(wire::borrow_key::return_hash(&SECRET).to_vec()),
                ..co("f3", "1", 1)
            },
        );
        let batch = Batch::decode(&master.encode_batch(1, 1, &fx.changes)).unwrap();
        let Change::Grant(seat) = &batch.changes[0] else {
            panic!("{batch:?}")
        };
        assert_eq!(seat.return_hash.0, wire::borrow_key::return_hash(&SECRET));
        let _ = standby.apply_changes(batch.changes);
        standby.promote(now, 1000);
        let _ = standby.connect(now, ConnId(7), ident("joe", "lap"));
        let forged = wire::ReturnBorrow {
            req: 1,
            feature: "f3".into(),
            secret: Blob(vec![0; 32]),
        };
        let fx = standby.return_borrow(now, ConnId(7), &forged);
        assert!(
            matches!(&fx.replies[0].1, Message::Denied(d) if d.code == wire::lmerr::LM_NOTLICADMIN),
            "{fx:?}"
        );
        assert_eq!(picture(&standby).0, [0, 0, 1, 0, 0, 0]);
        let genuine = wire::ReturnBorrow {
            secret: Blob(SECRET.to_vec()),
            ..forged
        };
        let fx = standby.return_borrow(now, ConnId(7), &genuine);
        assert!(matches!(&fx.replies[0].1, Message::CheckedIn(_)), "{fx:?}");
        assert_eq!(picture(&standby).0, [0, 0, 0, 0, 0, 0]);
    }

    /// A batch of layout 1 (written before return hashes) still reads:
    /// its seats have none.
    #[test]
    fn batches_of_layout_1_still_read() {
        let seat = Seat {
            handle: 4,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            user: "joe".into(),
            return_hash: Blob(vec![1, 2]),
            ..Seat::default()
        };
        let mut bytes = Batch {
            origin: 3,
            seq: 9,
            changes: vec![Change::Grant(Box::new(seat.clone())), Change::Release(2)],
        }
        .encode();
        // Layout 1: the same without the hash (its 4-byte length and
        // bytes end the seat).
        bytes[0] = 1;
        let seat_end = bytes.len() - 1 - 8;
        bytes.drain(seat_end - 6..seat_end);
        let batch = Batch::decode(&bytes).unwrap();
        let expected = Seat {
            return_hash: Blob::default(),
            ..seat
        };
        assert_eq!(
            batch.changes,
            vec![Change::Grant(Box::new(expected)), Change::Release(2)]
        );
        assert!(Batch::decode(&[3, 0, 0]).is_err(), "unknown layout");
    }
}
