//! What one session holds at its server, as a state machine with no I/O:
//! the seats checked out, the checkouts waiting in the vendor daemon's
//! queue, whether the server can be reached, and what a reconnect makes
//! of them. No socket, thread or clock: the session (`session.rs`) sends
//! and receives, reads the clock, and passes what happened and when.
//!
//! The transitions, in the order a session meets them:
//!
//! - a checkout is sent ([`SeatTable::enqueue`] when it may wait in the
//!   queue), then answered: [`SeatTable::checkout_granted`], or
//!   [`SeatTable::not_queued`] (denied, no reply); a queued one stays
//!   registered until [`SeatTable::queued_answer`] brings its grant or
//!   refusal, or the application takes ([`SeatTable::poll_queued`]) or
//!   abandons ([`SeatTable::abandon_queued`]) it;
//! - [`SeatTable::check_in`] and [`SeatTable::revoke`] end a seat;
//! - [`SeatTable::connection_lost`] ends every wait in the queue (the
//!   vendor daemon forgets a waiter whose connection closes, so no queued
//!   checkout is ever sent again) and starts counting unreachability;
//!   [`SeatTable::attempt_failed`] and [`SeatTable::judge`] apply the
//!   job's failure policy to the held seats;
//! - after a reconnect, [`SeatTable::plan_reconcile`] compares the seats
//!   with the `Welcome` of the vendor daemon (which seats came back, which
//!   must be checked out again, which handles nobody claims), the session
//!   carries the plan out, and [`SeatTable::apply_reconcile`] records what
//!   came of it; [`SeatTable::reconnected`] ends the unreachable spell.
//!
//! A borrowed seat is held by the borrow on the server, connected or not:
//! it is never checked out again after a reconnect, never reported lost,
//! and alone it does not need a reconnect.

use crate::error::LmError;
use crate::policy::{FailurePolicy, Verdict};
use std::time::{Duration, Instant, SystemTime};
use wire::Granted;

/// Whether a seat is still ours.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SeatState {
    Held,
    /// Reconnecting failed or the server would not give it back; a later
    /// reconnect tries again.
    Lost(LmError),
    /// The server took it back; it is not asked for again.
    Revoked(LmError),
}

#[derive(Debug, Clone)]
struct Seat {
    /// The session's own number for it, stable across reconnects.
    id: u64,
    feature: String,
    /// The version asked for (the minimum), for checking out again.
    version: String,
    count: u32,
    /// The server's handle; it changes when the seat is checked out again.
    handle: u64,
    state: SeatState,
    /// Unix time the borrow ends; 0 for an ordinary checkout.
    borrow_until: u64,
}

impl Seat {
    /// True if and only if the seat is held only thanks to the failure
    /// policy while the server is away (a borrow needs no such favour).
    fn in_grace(&self) -> bool {
        self.state == SeatState::Held && self.borrow_until == 0
    }

    /// True if and only if the job still wants the seat from the server.
    fn is_wanted(&self) -> bool {
        !matches!(self.state, SeatState::Revoked(_))
    }
}

/// A checkout waiting in the vendor daemon's queue.
#[derive(Debug)]
struct Queued {
    req: u32,
    /// The version asked for (the minimum), for checking out again.
    version: String,
    borrow_until: u64,
    /// The application no longer wants it: a late grant is checked in.
    abandoned: bool,
    /// `None` while waiting; the seat and the grant, or why the wait ended.
    outcome: Option<Result<(u64, Granted), LmError>>,
}

/// A connection loss in progress.
#[derive(Debug, Clone, Copy)]
struct Unreachable {
    since: Instant,
    /// The same moment on the calendar, to tell users when a grace period
    /// ends.
    wall: SystemTime,
    /// Reconnect attempts that failed since.
    failed: u32,
}

/// What a checkout asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask<'a> {
    pub(crate) feature: &'a str,
    /// The minimum version.
    pub(crate) version: &'a str,
    pub(crate) count: u32,
    /// Unix time a borrow ends; 0 for an ordinary checkout.
    pub(crate) borrow_until: u64,
}

/// A later answer of the vendor daemon to a queued checkout.
#[derive(Debug)]
pub(crate) enum QueueAnswer {
    Granted(Granted),
    /// LM_FEATQUEUE again: still waiting.
    StillQueued,
    /// Any other refusal: the wait is over.
    Refused(LmError),
}

/// Where a queued checkout stands, for the application.
#[derive(Debug, PartialEq)]
pub(crate) enum QueuePoll {
    /// No such request in the queue: never queued, already taken or
    /// abandoned.
    Unknown,
    Waiting,
    /// Granted (the seat's id and the grant) or failed; handed out once.
    Done(Result<(u64, Granted), LmError>),
}

/// A seat that was checked in while the server still had it for us: the
/// session sends the checkin.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Release {
    pub(crate) handle: u64,
    pub(crate) feature: String,
}

/// What the failure policy made of the held seats after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Judgement {
    /// How long a grace period has left, if one runs.
    pub(crate) grace_left: Option<Duration>,
    /// Features whose seats were given up just now.
    pub(crate) newly_lost: Vec<String>,
}

/// A seat the server gave back in `Welcome` (or that its borrow holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) seat: u64,
    pub(crate) handle: u64,
    pub(crate) feature: String,
}

/// A seat the server did not give back: checked out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Again {
    pub(crate) seat: u64,
    pub(crate) feature: String,
    pub(crate) version: String,
    pub(crate) count: u32,
}

/// What to do after a reconnect, from the seats and the `Welcome`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) kept: Vec<Kept>,
    pub(crate) again: Vec<Again>,
    /// Handles the server holds for the job that no wanted seat claims
    /// (checked in or revoked meanwhile): to be checked in, first, so that
    /// they free their seats before anything is checked out again.
    pub(crate) orphans: Vec<u64>,
}

/// What came of a reconnect once the plan was carried out.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reattached {
    /// Features whose seats the server kept for the job.
    pub(crate) kept: Vec<String>,
    /// Features checked out again.
    pub(crate) reacquired: Vec<String>,
    /// Seats the server would not give again, with why.
    pub(crate) lost: Vec<(String, LmError)>,
    /// Handles of seats the application checked in while the plan was
    /// carried out: the session checks them in at the server.
    pub(crate) abandoned: Vec<u64>,
}

/// The seats and queued checkouts of one session.
#[derive(Debug)]
pub(crate) struct SeatTable {
    seats: Vec<Seat>,
    queue: Vec<Queued>,
    next_seat: u64,
    /// Since when the server cannot be reached; `None` while connected.
    unreachable: Option<Unreachable>,
}

impl Default for SeatTable {
    fn default() -> Self {
        Self {
            seats: Vec::new(),
            queue: Vec::new(),
            next_seat: 1,
            unreachable: None,
        }
    }
}

impl SeatTable {
    fn add_seat(
        &mut self,
        feature: String,
        version: String,
        count: u32,
        handle: u64,
        borrow_until: u64,
    ) -> u64 {
        let id = self.next_seat;
        self.next_seat += 1;
        self.seats.push(Seat {
            id,
            feature,
            version,
            count,
            handle,
            state: SeatState::Held,
            borrow_until,
        });
        id
    }

    fn queued_index(&self, req: u32) -> Option<usize> {
        self.queue.iter().position(|q| q.req == req)
    }

    // Checkouts.

    /// A checkout that may wait in the queue is about to go out as `req`.
    /// It is registered before it is sent: its grant may follow the
    /// LM_FEATQUEUE answer before the sender looks at that answer.
    pub(crate) fn enqueue(&mut self, req: u32, ask: &Ask<'_>) {
        self.queue.push(Queued {
            req,
            version: ask.version.to_string(),
            borrow_until: ask.borrow_until,
            abandoned: false,
            outcome: None,
        });
    }

    /// The checkout `req` of `ask` was granted at once, under `handle`: a
    /// new held seat, whose id is returned.
    pub(crate) fn checkout_granted(&mut self, req: u32, ask: &Ask<'_>, handle: u64) -> u64 {
        self.not_queued(req);
        self.add_seat(
            ask.feature.to_string(),
            ask.version.to_string(),
            ask.count,
            handle,
            ask.borrow_until,
        )
    }

    /// The checkout `req` got no place in the queue (granted at once,
    /// denied, unanswered): nothing waits for a later answer to it.
    pub(crate) fn not_queued(&mut self, req: u32) {
        self.queue.retain(|q| q.req != req);
    }

    // The queue.

    /// True if and only if `req` waits in the queue for a later answer.
    pub(crate) fn is_queued(&self, req: u32) -> bool {
        self.queue
            .iter()
            .any(|q| q.req == req && q.outcome.is_none())
    }

    /// A later answer to the queued checkout `req`. A grant becomes a
    /// seat, or, when the application stopped waiting, its handle is
    /// returned to be checked in at once; a refusal other than "still
    /// queued" ends the wait.
    pub(crate) fn queued_answer(&mut self, req: u32, answer: QueueAnswer) -> Option<u64> {
        let i = self
            .queue
            .iter()
            .position(|q| q.req == req && q.outcome.is_none())?;
        match answer {
            QueueAnswer::StillQueued => None,
            QueueAnswer::Granted(g) if self.queue[i].abandoned => {
                self.queue.remove(i);
                Some(g.handle)
            }
            QueueAnswer::Refused(_) if self.queue[i].abandoned => {
                self.queue.remove(i);
                None
            }
            QueueAnswer::Granted(g) => {
                let q = &self.queue[i];
                let (version, borrow_until) = (q.version.clone(), q.borrow_until);
                let id = self.add_seat(g.feature.clone(), version, g.count, g.handle, borrow_until);
                self.queue[i].outcome = Some(Ok((id, g)));
                None
            }
            QueueAnswer::Refused(e) => {
                self.queue[i].outcome = Some(Err(e));
                None
            }
        }
    }

    /// Where the queued checkout `req` stands; a grant or failure is
    /// handed out once, and the request is then forgotten.
    pub(crate) fn poll_queued(&mut self, req: u32) -> QueuePoll {
        let Some(i) = self.queued_index(req) else {
            return QueuePoll::Unknown;
        };
        if self.queue[i].outcome.is_none() {
            return QueuePoll::Waiting;
        }
        match self.queue.remove(i).outcome {
            Some(done) => QueuePoll::Done(done),
            None => QueuePoll::Waiting,
        }
    }

    /// The application stops waiting for `req`. Returns the seat to check
    /// in when the grant came already; a grant still to come is checked in
    /// when it arrives.
    pub(crate) fn abandon_queued(&mut self, req: u32) -> Option<u64> {
        let i = self.queued_index(req)?;
        match &self.queue[i].outcome {
            None => {
                self.queue[i].abandoned = true;
                None
            }
            Some(Ok((id, _))) => {
                let id = *id;
                self.queue.remove(i);
                Some(id)
            }
            Some(Err(_)) => {
                self.queue.remove(i);
                None
            }
        }
    }

    /// Ends every wait in the queue with `why`: the connection that held
    /// the places is gone, and the vendor daemon forgot them with it.
    /// Abandoned waits are simply dropped.
    pub(crate) fn end_waits(&mut self, why: &LmError) {
        self.queue.retain(|q| !(q.abandoned && q.outcome.is_none()));
        for q in self.queue.iter_mut().filter(|q| q.outcome.is_none()) {
            q.outcome = Some(Err(why.clone()));
        }
    }

    // Seats.

    /// The application checks the seat `id` in: it is forgotten. Returns
    /// it when the server still holds it for us (a lost or revoked seat
    /// is not the server's any more).
    pub(crate) fn check_in(&mut self, id: u64) -> Option<Release> {
        let i = self.seats.iter().position(|s| s.id == id)?;
        let seat = self.seats.remove(i);
        (seat.state == SeatState::Held).then_some(Release {
            handle: seat.handle,
            feature: seat.feature,
        })
    }

    /// The server took the seat with `handle` back; `error(feature)` says
    /// why. Returns the feature and the error when the seat was ours.
    pub(crate) fn revoke(
        &mut self,
        handle: u64,
        error: impl FnOnce(&str) -> LmError,
    ) -> Option<(String, LmError)> {
        let seat = self.seats.iter_mut().find(|s| s.handle == handle)?;
        let e = error(&seat.feature);
        seat.state = SeatState::Revoked(e.clone());
        Some((seat.feature.clone(), e))
    }

    /// `Ok` while the seat is held (or unknown: checked in); why not
    /// otherwise.
    pub(crate) fn seat_status(&self, id: u64) -> Result<(), LmError> {
        match self.seats.iter().find(|s| s.id == id).map(|s| &s.state) {
            Some(SeatState::Held) | None => Ok(()),
            Some(SeatState::Lost(e) | SeatState::Revoked(e)) => Err(e.clone()),
        }
    }

    /// The seat's current handle at the server.
    pub(crate) fn seat_handle(&self, id: u64) -> Option<u64> {
        self.seats.iter().find(|s| s.id == id).map(|s| s.handle)
    }

    /// How many seats are held.
    pub(crate) fn held(&self) -> usize {
        self.seats
            .iter()
            .filter(|s| s.state == SeatState::Held)
            .count()
    }

    /// True if and only if a seat is held or to be re-acquired, or a
    /// checkout the application still wants is queued.
    pub(crate) fn holds_or_waits(&self) -> bool {
        self.seats.iter().any(Seat::is_wanted) || self.queue.iter().any(|q| !q.abandoned)
    }

    // Losing the connection.

    /// The connection was lost at `now` (`wall` on the calendar): every
    /// queued wait ends with `why`. Returns true if and only if a seat
    /// wants the server back; the unreachable spell then starts, unless
    /// one runs already (a reconnect that failed after connecting).
    pub(crate) fn connection_lost(
        &mut self,
        now: Instant,
        wall: SystemTime,
        why: &LmError,
    ) -> bool {
        self.end_waits(why);
        let wanted = self
            .seats
            .iter()
            .any(|s| s.is_wanted() && s.borrow_until == 0);
        if wanted && self.unreachable.is_none() {
            self.unreachable = Some(Unreachable {
                since: now,
                wall,
                failed: 0,
            });
        }
        wanted
    }

    /// `failed` reconnect attempts have failed since the loss.
    pub(crate) fn attempt_failed(&mut self, failed: u32) {
        if let Some(u) = self.unreachable.as_mut() {
            u.failed = failed;
        }
    }

    /// Failed reconnect attempts since the connection was lost; 0 while
    /// connected.
    pub(crate) fn failed_attempts(&self) -> u32 {
        self.unreachable.map_or(0, |u| u.failed)
    }

    /// Connected again: the unreachable spell is over.
    pub(crate) fn reconnected(&mut self) {
        self.unreachable = None;
    }

    /// While held seats live on a grace period: when it ends.
    pub(crate) fn grace_until(&self, policy: FailurePolicy) -> Option<SystemTime> {
        match (policy, self.unreachable) {
            (FailurePolicy::Grace(period), Some(u)) if self.seats.iter().any(Seat::in_grace) => {
                Some(u.wall + period)
            }
            _ => None,
        }
    }

    /// Applies `policy` at `now`, after `failed` failed attempts of the
    /// `allowed` ones: the held seats it gives up are marked lost with
    /// `error`. Nothing happens while connected.
    pub(crate) fn judge(
        &mut self,
        now: Instant,
        policy: FailurePolicy,
        failed: u32,
        allowed: u32,
        error: &LmError,
    ) -> Judgement {
        let mut judgement = Judgement {
            grace_left: None,
            newly_lost: Vec::new(),
        };
        let Some(u) = self.unreachable else {
            return judgement;
        };
        match policy.verdict(failed, allowed, now.saturating_duration_since(u.since)) {
            Verdict::Keep => {}
            Verdict::Grace { left } => judgement.grace_left = Some(left),
            Verdict::Lose => {
                for seat in self.seats.iter_mut().filter(|s| s.in_grace()) {
                    seat.state = SeatState::Lost(error.clone());
                    judgement.newly_lost.push(seat.feature.clone());
                }
            }
        }
        judgement
    }

    // Reconnecting.

    /// Compares the wanted seats with `held`, the seats the vendor
    /// daemon's `Welcome` says the job holds. Every seat first claims its
    /// own handle; a seat whose handle is not listed then takes a listed
    /// one of the same feature and count (the server may know the seat
    /// under another handle). Each of `held` is claimed at most once, and
    /// claiming handles first keeps a seat from taking another's, so that
    /// no seat is ever counted twice. A borrowed seat the server did not
    /// list is kept: the borrow holds it.
    pub(crate) fn plan_reconcile(&self, held: &[Granted]) -> Plan {
        let mut unclaimed: Vec<Option<&Granted>> = held.iter().map(Some).collect();
        let mut take = |pred: &dyn Fn(&Granted) -> bool| {
            unclaimed
                .iter_mut()
                .find(|g| g.is_some_and(pred))
                .and_then(Option::take)
        };
        let wanted: Vec<&Seat> = self.seats.iter().filter(|s| s.is_wanted()).collect();
        let mut found: Vec<Option<u64>> = wanted
            .iter()
            .map(|seat| take(&|g: &Granted| g.handle == seat.handle).map(|g| g.handle))
            .collect();
        for (seat, found) in wanted.iter().zip(found.iter_mut()) {
            if found.is_none() {
                *found = take(&|g: &Granted| g.feature == seat.feature && g.count == seat.count)
                    .map(|g| g.handle);
            }
        }
        let mut plan = Plan {
            orphans: unclaimed.iter().flatten().map(|g| g.handle).collect(),
            ..Plan::default()
        };
        for (seat, found) in wanted.into_iter().zip(found) {
            let handle = match found {
                Some(handle) => Some(handle),
                None if seat.borrow_until != 0 => Some(seat.handle),
                None => None,
            };
            match handle {
                Some(handle) => plan.kept.push(Kept {
                    seat: seat.id,
                    handle,
                    feature: seat.feature.clone(),
                }),
                None => plan.again.push(Again {
                    seat: seat.id,
                    feature: seat.feature.clone(),
                    version: seat.version.clone(),
                    count: seat.count,
                }),
            }
        }
        plan
    }

    /// Records what came of a plan: the kept seats and those checked out
    /// again (`again`: each with its new handle, or why the server refused)
    /// are held under their handles; the refused ones are lost. Seats
    /// checked in meanwhile stay forgotten, and their handles come back in
    /// [`Reattached::abandoned`].
    pub(crate) fn apply_reconcile(
        &mut self,
        kept: Vec<Kept>,
        again: Vec<(Again, Result<u64, LmError>)>,
    ) -> Reattached {
        let mut out = Reattached::default();
        let mut holds = Vec::new();
        for k in kept {
            out.kept.push(k.feature);
            holds.push((k.seat, k.handle));
        }
        let mut refused = Vec::new();
        for (a, result) in again {
            match result {
                Ok(handle) => {
                    out.reacquired.push(a.feature);
                    holds.push((a.seat, handle));
                }
                Err(e) => refused.push((a.seat, a.feature, e)),
            }
        }
        for (id, handle) in holds {
            match self.seats.iter_mut().find(|s| s.id == id) {
                Some(s) => {
                    s.handle = handle;
                    s.state = SeatState::Held;
                }
                None => out.abandoned.push(handle),
            }
        }
        for (id, feature, e) in refused {
            if let Some(s) = self.seats.iter_mut().find(|s| s.id == id) {
                s.state = SeatState::Lost(e.clone());
                out.lost.push((feature, e));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Step;
    use wire::lmerr;

    fn grant(req: u32, handle: u64, feature: &str, count: u32) -> Granted {
        Granted {
            req,
            handle,
            feature: feature.to_string(),
            count,
            ..Granted::default()
        }
    }

    fn ask(feature: &str, borrow_until: u64) -> Ask<'_> {
        Ask {
            feature,
            version: "1.0",
            count: 1,
            borrow_until,
        }
    }

    fn error(detail: &str) -> LmError {
        LmError::new(lmerr::LM_CANTREAD, 0, Step::Keepalive, detail)
    }

    /// A table holding one seat per `(feature, handle)`, numbered from 1.
    fn holding(seats: &[(&str, u64)]) -> SeatTable {
        let mut t = SeatTable::default();
        for (i, (feature, handle)) in seats.iter().enumerate() {
            let req = u32::try_from(i).expect("few seats") + 1;
            t.checkout_granted(req, &ask(feature, 0), *handle);
        }
        t
    }

    const T0_WALL: SystemTime = SystemTime::UNIX_EPOCH;

    #[test]
    fn a_granted_checkout_is_held_and_checking_it_in_releases_it_once() {
        let mut t = SeatTable::default();
        let id = t.checkout_granted(1, &ask("f1", 0), 77);
        assert_eq!((t.held(), t.seat_handle(id)), (1, Some(77)));
        assert!(t.holds_or_waits());
        assert_eq!(
            t.check_in(id),
            Some(Release {
                handle: 77,
                feature: "f1".into()
            })
        );
        assert_eq!(t.check_in(id), None, "a second checkin sends nothing");
        assert!(!t.holds_or_waits());
        assert_eq!(t.seat_status(id), Ok(()));
    }

    #[test]
    fn a_queued_checkout_waits_then_becomes_a_seat_handed_out_once() {
        let mut t = SeatTable::default();
        t.enqueue(
            5,
            &Ask {
                version: "2.0",
                ..ask("f1", 0)
            },
        );
        assert!(t.is_queued(5) && t.holds_or_waits());
        assert_eq!(t.queued_answer(5, QueueAnswer::StillQueued), None);
        assert_eq!(t.poll_queued(5), QueuePoll::Waiting);
        assert_eq!(
            t.queued_answer(5, QueueAnswer::Granted(grant(5, 9, "f1", 1))),
            None
        );
        assert!(!t.is_queued(5), "answered");
        let QueuePoll::Done(Ok((id, g))) = t.poll_queued(5) else {
            panic!("not granted");
        };
        assert_eq!((g.handle, t.seat_handle(id), t.held()), (9, Some(9), 1));
        assert_eq!(t.poll_queued(5), QueuePoll::Unknown, "handed out once");
        // The seat remembers the version asked for, for a later reconnect.
        let plan = t.plan_reconcile(&[]);
        assert_eq!(plan.again[0].version, "2.0");
    }

    #[test]
    fn a_denied_checkout_leaves_nothing_queued() {
        let mut t = SeatTable::default();
        t.enqueue(3, &ask("f1", 0));
        t.not_queued(3);
        assert_eq!(t.poll_queued(3), QueuePoll::Unknown);
        assert!(!t.holds_or_waits());
    }

    #[test]
    fn a_queued_refusal_ends_the_wait_with_its_error() {
        let mut t = SeatTable::default();
        t.enqueue(4, &ask("f1", 0));
        let e = error("removed from the queue");
        t.queued_answer(4, QueueAnswer::Refused(e.clone()));
        assert_eq!(t.poll_queued(4), QueuePoll::Done(Err(e)));
    }

    #[test]
    fn an_abandoned_wait_gives_a_late_grant_straight_back() {
        let mut t = SeatTable::default();
        t.enqueue(6, &ask("f1", 0));
        assert_eq!(t.abandon_queued(6), None);
        assert!(!t.holds_or_waits(), "nobody wants it any more");
        assert_eq!(
            t.queued_answer(6, QueueAnswer::Granted(grant(6, 42, "f1", 1))),
            Some(42),
            "checked in at once"
        );
        assert_eq!((t.held(), t.poll_queued(6)), (0, QueuePoll::Unknown));
        // A refusal for an abandoned wait just forgets it.
        t.enqueue(7, &ask("f1", 0));
        t.abandon_queued(7);
        assert_eq!(t.queued_answer(7, QueueAnswer::Refused(error("no"))), None);
        assert_eq!(t.poll_queued(7), QueuePoll::Unknown);
    }

    #[test]
    fn abandoning_a_grant_not_yet_taken_returns_its_seat_to_check_in() {
        let mut t = SeatTable::default();
        t.enqueue(8, &ask("f1", 0));
        t.queued_answer(8, QueueAnswer::Granted(grant(8, 11, "f1", 1)));
        let id = t.abandon_queued(8).expect("the seat to check in");
        assert!(t.check_in(id).is_some());
        assert_eq!(t.held(), 0);
    }

    #[test]
    fn a_lost_connection_ends_every_wait_and_no_queued_checkout_is_sent_again() {
        let mut t = holding(&[("f1", 1)]);
        t.enqueue(10, &ask("f1", 0));
        t.enqueue(11, &ask("f1", 0));
        t.abandon_queued(11);
        let why = error("queued: the connection was lost");
        assert!(t.connection_lost(Instant::now(), T0_WALL, &why));
        assert_eq!(t.poll_queued(10), QueuePoll::Done(Err(why)));
        assert_eq!(t.poll_queued(11), QueuePoll::Unknown, "abandoned: dropped");
        let plan = t.plan_reconcile(&[]);
        assert_eq!(plan.again.len(), 1, "only the held seat is asked for");
    }

    #[test]
    fn only_an_ordinary_seat_needs_the_server_back() {
        let now = Instant::now();
        let why = error("lost");
        let mut t = SeatTable::default();
        assert!(!t.connection_lost(now, T0_WALL, &why), "nothing held");
        t.checkout_granted(1, &ask("f1", 2_000_000_000), 5);
        assert!(
            !t.connection_lost(now, T0_WALL, &why),
            "a borrow holds itself"
        );
        assert_eq!(t.failed_attempts(), 0);
        t.checkout_granted(2, &ask("f2", 0), 6);
        assert!(t.connection_lost(now, T0_WALL, &why));
        t.attempt_failed(3);
        assert_eq!(t.failed_attempts(), 3);
        t.reconnected();
        assert_eq!(t.failed_attempts(), 0);
    }

    #[test]
    fn after_retries_loses_ordinary_seats_but_never_a_borrow() {
        let t0 = Instant::now();
        let mut t = holding(&[("f1", 1), ("f2", 2)]);
        t.checkout_granted(9, &ask("fb", 2_000_000_000), 3);
        t.connection_lost(t0, T0_WALL, &error("lost"));
        let gone = error("cannot reconnect");
        let keep = t.judge(t0, FailurePolicy::AfterRetries, 4, 5, &gone);
        assert_eq!(
            (keep.grace_left, keep.newly_lost.len(), t.held()),
            (None, 0, 3)
        );
        let lose = t.judge(t0, FailurePolicy::AfterRetries, 5, 5, &gone);
        assert_eq!(lose.newly_lost, ["f1", "f2"]);
        assert_eq!(t.held(), 1, "the borrow stays");
        let again = t.judge(t0, FailurePolicy::AfterRetries, 6, 5, &gone);
        assert!(again.newly_lost.is_empty(), "reported once");
        assert_eq!(t.seat_status(1), Err(gone));
    }

    #[test]
    fn a_grace_period_runs_from_the_loss_on_the_time_passed_in() {
        let t0 = Instant::now();
        let day = Duration::from_secs(86_400);
        let policy = FailurePolicy::Grace(day);
        let mut t = holding(&[("f1", 1)]);
        assert_eq!(t.grace_until(policy), None, "connected");
        t.connection_lost(t0, T0_WALL, &error("lost"));
        assert_eq!(t.grace_until(policy), Some(T0_WALL + day));
        assert_eq!(t.grace_until(FailurePolicy::AfterRetries), None);
        let gone = error("cannot reconnect");
        let half = t.judge(t0 + day / 2, policy, 1000, 5, &gone);
        assert_eq!(half.grace_left, Some(day / 2));
        assert_eq!(t.held(), 1);
        let end = t.judge(t0 + day, policy, 1001, 5, &gone);
        assert_eq!(end.newly_lost, ["f1"]);
        assert_eq!(t.grace_until(policy), None, "nothing left in grace");
    }

    #[test]
    fn judging_while_connected_changes_nothing() {
        let mut t = holding(&[("f1", 1)]);
        let j = t.judge(
            Instant::now(),
            FailurePolicy::Restrictive,
            0,
            0,
            &error("x"),
        );
        assert_eq!(j.newly_lost.len() + t.held(), 1);
    }

    #[test]
    fn a_revoked_seat_is_reported_once_and_never_asked_for_again() {
        let mut t = holding(&[("f1", 1), ("f2", 2)]);
        let (feature, e) = t
            .revoke(2, |f| error(&format!("{f} revoked")))
            .expect("ours");
        assert_eq!((feature.as_str(), e.detail.as_str()), ("f2", "f2 revoked"));
        assert_eq!(t.revoke(99, |_| error("?")), None, "not ours");
        assert_eq!(t.held(), 1);
        assert_eq!(t.seat_status(2), Err(e));
        assert_eq!(t.check_in(2), None, "the server has it already");
        let plan = t.plan_reconcile(&[]);
        assert_eq!(plan.again.iter().map(|a| a.seat).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn reconcile_keeps_what_came_back_and_checks_out_the_rest_again() {
        let mut t = holding(&[("f1", 10), ("f2", 20), ("f3", 30)]);
        // The server gives back f1 under its handle and f3 under a new one
        // (a new master), forgets f2, and holds a seat nobody claims.
        let plan = t.plan_reconcile(&[
            grant(0, 31, "f3", 1),
            grant(0, 10, "f1", 1),
            grant(0, 99, "f9", 1),
        ]);
        assert_eq!(
            plan.kept,
            [
                Kept {
                    seat: 1,
                    handle: 10,
                    feature: "f1".into()
                },
                Kept {
                    seat: 3,
                    handle: 31,
                    feature: "f3".into()
                },
            ]
        );
        assert_eq!(
            plan.again,
            [Again {
                seat: 2,
                feature: "f2".into(),
                version: "1.0".into(),
                count: 1
            }]
        );
        assert_eq!(plan.orphans, [99]);
        let again = plan.again.iter().cloned().map(|a| (a, Ok(21))).collect();
        let done = t.apply_reconcile(plan.kept, again);
        assert_eq!(done.kept, ["f1", "f3"]);
        assert_eq!(done.reacquired, ["f2"]);
        assert!(done.lost.is_empty() && done.abandoned.is_empty());
        assert_eq!(
            (1..=3).map(|s| t.seat_handle(s)).collect::<Vec<_>>(),
            [Some(10), Some(21), Some(31)]
        );
        assert_eq!(t.held(), 3);
    }

    #[test]
    fn each_seat_the_server_lists_is_claimed_at_most_once() {
        // Two seats of the same feature and count, one listed: one is kept,
        // the other checked out again, never both kept on one seat.
        let t = holding(&[("f1", 1), ("f1", 2)]);
        let plan = t.plan_reconcile(&[grant(0, 7, "f1", 1)]);
        assert_eq!(plan.kept.len(), 1);
        assert_eq!(plan.again.len(), 1);
        assert!(plan.orphans.is_empty());
        // A seat whose handle is not listed does not take the handle of a
        // later seat that is: seat 2 keeps handle 2, seat 1 takes the other.
        let plan = t.plan_reconcile(&[grant(0, 2, "f1", 1), grant(0, 8, "f1", 1)]);
        assert_eq!(
            plan.kept
                .iter()
                .map(|k| (k.seat, k.handle))
                .collect::<Vec<_>>(),
            [(1, 8), (2, 2)]
        );
    }

    #[test]
    fn an_ordinary_seat_keeps_its_handle_from_an_unlisted_borrow_of_its_feature() {
        // Had the borrow taken the ordinary seat's handle, the ordinary seat
        // would be checked out again: one seat too many at the server.
        let mut t = SeatTable::default();
        t.checkout_granted(1, &ask("f1", 2_000_000_000), 5);
        t.checkout_granted(2, &ask("f1", 0), 6);
        let plan = t.plan_reconcile(&[grant(0, 6, "f1", 1)]);
        assert_eq!(
            plan.kept
                .iter()
                .map(|k| (k.seat, k.handle))
                .collect::<Vec<_>>(),
            [(1, 5), (2, 6)]
        );
        assert!(plan.again.is_empty() && plan.orphans.is_empty());
    }

    #[test]
    fn a_borrowed_seat_is_kept_without_being_listed() {
        let mut t = SeatTable::default();
        t.checkout_granted(1, &ask("fb", 2_000_000_000), 5);
        let plan = t.plan_reconcile(&[]);
        assert_eq!(
            plan.kept,
            [Kept {
                seat: 1,
                handle: 5,
                feature: "fb".into()
            }]
        );
        assert!(plan.again.is_empty());
    }

    #[test]
    fn a_refused_seat_is_lost_and_one_checked_in_meanwhile_is_given_back() {
        let mut t = holding(&[("f1", 1), ("f2", 2), ("f3", 3)]);
        t.connection_lost(Instant::now(), T0_WALL, &error("lost"));
        let plan = t.plan_reconcile(&[grant(0, 1, "f1", 1)]);
        // While the plan runs, the application checks f1 and f3 in.
        assert_eq!(t.check_in(1).map(|r| r.handle), Some(1));
        t.check_in(3);
        let denied = error("all in use");
        let mut again = plan.again.into_iter();
        let results = vec![
            (again.next().expect("f2"), Err(denied.clone())),
            (again.next().expect("f3"), Ok(33)),
        ];
        let done = t.apply_reconcile(plan.kept, results);
        assert_eq!(done.kept, ["f1"]);
        assert_eq!(done.reacquired, ["f3"]);
        assert_eq!(done.lost, [("f2".to_string(), denied.clone())]);
        assert_eq!(done.abandoned, [1, 33], "checked in at the server");
        assert_eq!(t.seat_status(2), Err(denied));
        assert_eq!(t.held(), 0);
        // A lost seat is wanted still: the next reconnect asks again.
        assert_eq!(t.plan_reconcile(&[]).again.len(), 1);
    }
}
