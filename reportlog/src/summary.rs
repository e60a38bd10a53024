//! What a report log says about demand: per feature and day, checkouts,
//! distinct users, seat-hours, peak, denials and queueing; per feature the
//! peak concurrent use, when it happened, and how long seats were all taken.
//!
//! Pure: records in, numbers out. No I/O and no clock: "now" is the time
//! of the last record, and days come from the caller's [`Calendar`].
//!
//! How seats are counted, replaying records in log order:
//!
//! - `Checkout` and `Borrow` take `count` seats under their handle; `Held`
//!   (written at the top of a new log file) does too, but is not a new
//!   checkout. A handle seen again while held first frees the old one.
//! - `Checkin`, `Reclaimed` and `Removed` free what the handle held;
//!   `Return` frees a borrow. Unknown handles are ignored.
//! - `Start` frees every seat held but borrowed ones, as of the record
//!   before it: the daemon that held them died, and that is the last moment
//!   it is known to have been alive. `Stop` frees them at its own time.
//! - Seats still held at the end count as held up to the last record.
//! - A record whose time is earlier than the one before it (the clock was
//!   set back) is taken as happening at that earlier record's time.

use crate::calendar::Calendar;
use crate::record::{Kind, Record};
use grammar::Date;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Which records a summary looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this feature.
    pub feature: Option<String>,
    /// Only days from this one (inclusive).
    pub from: Option<Date>,
    /// Only days up to this one (inclusive).
    pub to: Option<Date>,
}

impl Filter {
    /// Returns true if and only if records of feature `f` are kept.
    pub fn keeps_feature(&self, f: &str) -> bool {
        self.feature.as_deref().is_none_or(|want| want == f)
    }

    /// Returns true if and only if `d` is inside the date window.
    pub fn keeps_day(&self, d: Date) -> bool {
        self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t)
    }
}

/// One feature on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    #[serde(serialize_with = "crate::calendar::iso_opt")]
    pub date: Option<Date>,
    /// Checkouts and borrows made that day.
    pub checkouts: u64,
    /// Distinct user names among them.
    pub users: u64,
    /// Seats in use integrated over the day, in seat-seconds.
    pub seat_seconds: u64,
    /// Most seats in use at once that day.
    pub peak: u64,
    /// Denials that day, by FLEXlm error number.
    pub denials: BTreeMap<i32, u64>,
    /// Clients queued that day.
    pub queued: u64,
}

impl DaySummary {
    /// Seat-hours: `seat_seconds / 3600`.
    pub fn seat_hours(&self) -> f64 {
        self.seat_seconds as f64 / 3600.0
    }

    /// All denials that day.
    pub fn denied(&self) -> u64 {
        self.denials.values().sum()
    }
}

/// The most seats of a feature in use at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Peak {
    /// Seats in use at the peak (0: never used in the window).
    pub seats: u64,
    /// When that many were first in use (Unix time).
    pub at: Option<u64>,
    /// How long, in all, that many were in use.
    pub seconds: u64,
}

/// One feature over the whole window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeatureSummary {
    pub feature: String,
    /// Licenses issued, as last recorded (0: not known).
    pub issued: u32,
    /// The days with any activity or seat in use, in order.
    pub days: Vec<DaySummary>,
    pub peak: Peak,
    /// Time with every issued seat in use (0 when `issued` is not known).
    pub full_seconds: u64,
    /// Totals over the days.
    pub checkouts: u64,
    /// Distinct user names over the whole window.
    pub users: u64,
    pub seat_seconds: u64,
    pub denials: BTreeMap<i32, u64>,
    pub queued: u64,
}

impl FeatureSummary {
    /// All denials.
    pub fn denied(&self) -> u64 {
        self.denials.values().sum()
    }

    /// Denials of one [`DenialCause`], by code.
    pub fn denials_for(&self, cause: DenialCause) -> BTreeMap<i32, u64> {
        self.denials
            .iter()
            .filter(|(code, _)| DenialCause::of(**code) == cause)
            .map(|(code, n)| (*code, *n))
            .collect()
    }

    /// Returns true if and only if the feature had all its seats in use at
    /// some point, or refused a checkout for want of a seat: the two signs
    /// that more seats might be needed. Refusals by the options file
    /// (EXCLUDE, MAX, RESERVE...) are no such sign: more seats would be
    /// refused the same way.
    pub fn is_at_capacity(&self) -> bool {
        (self.issued > 0 && self.peak.seats >= u64::from(self.issued))
            || !self.denials_for(DenialCause::Capacity).is_empty()
    }
}

/// Why a checkout was refused, as far as buying seats is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialCause {
    /// No seat was free: -4 (all in use), -24 (others queued first), -26
    /// (more than exist).
    Capacity,
    /// The options file said no: -38 EXCLUDE, -39 not INCLUDEd, -87 MAX,
    /// -101 RESERVEd for others, -84 USER_BASED/HOST_BASED lists.
    Policy,
    /// Anything else: a wrong host, an expired line, no such feature...
    Other,
}

impl DenialCause {
    pub fn of(code: i32) -> DenialCause {
        match code {
            -4 | -24 | -26 => DenialCause::Capacity,
            -38 | -39 | -84 | -87 | -101 => DenialCause::Policy,
            _ => DenialCause::Other,
        }
    }
}

/// One feature's use per day, as [`Summarizer::daily`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailyUse {
    pub feature: String,
    /// Licenses issued, as last recorded (0: not known).
    pub issued: u32,
    /// The days with any activity or seat in use, in order.
    pub days: Vec<DayUse>,
}

/// One feature on one day: the short form of [`DaySummary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayUse {
    #[serde(serialize_with = "crate::calendar::iso")]
    pub date: Date,
    /// Most seats in use at once.
    pub peak: u64,
    /// Checkouts and borrows made.
    pub checkouts: u64,
    /// Checkouts refused, whatever the reason.
    pub denied: u64,
}

/// The summary of a report log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records read (all of them, whatever the filter).
    pub records: u64,
    /// Time of the first and last record.
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// Features with activity in the window, by name.
    pub features: Vec<FeatureSummary>,
}

/// Summarises `records` (in log order) as seen through `calendar`.
pub fn summarize<'r>(
    records: impl IntoIterator<Item = &'r Record>,
    calendar: &dyn Calendar,
    filter: &Filter,
) -> Summary {
    let mut s = Summarizer::new(calendar, filter);
    for r in records {
        s.push(r);
    }
    s.finish()
}

/// A summary being built, one record at a time (for logs too large to
/// hold in memory).
pub struct Summarizer<'a> {
    calendar: &'a dyn Calendar,
    filter: &'a Filter,
    features: BTreeMap<String, FeatureState>,
    /// Seats held, by (is a borrow, handle).
    holds: BTreeMap<(bool, u64), Hold>,
    records: u64,
    first: Option<u64>,
    /// The (monotonic) time of the last record.
    clock: Option<u64>,
}

struct Hold {
    feature: String,
    count: u32,
}

#[derive(Default)]
struct FeatureState {
    issued: u32,
    /// Seats in use now. Invariant: the sum of the counts of `holds` of
    /// this feature.
    level: u64,
    /// When `level` last changed (or the time up to which it is counted).
    since: u64,
    days: BTreeMap<Date, DayState>,
    /// Users who checked out inside the window.
    users: BTreeSet<String>,
    peak: Peak,
    full_seconds: u64,
}

#[derive(Default)]
struct DayState {
    checkouts: u64,
    users: BTreeSet<String>,
    seat_seconds: u64,
    peak: u64,
    denials: BTreeMap<i32, u64>,
    queued: u64,
}

impl<'a> Summarizer<'a> {
    pub fn new(calendar: &'a dyn Calendar, filter: &'a Filter) -> Summarizer<'a> {
        Summarizer {
            calendar,
            filter,
            features: BTreeMap::new(),
            holds: BTreeMap::new(),
            records: 0,
            first: None,
            clock: None,
        }
    }

    /// Takes the next record in log order.
    pub fn push(&mut self, r: &Record) {
        self.records += 1;
        let prev = self.clock.unwrap_or(r.time);
        let t = r.time.max(prev);
        self.first.get_or_insert(r.time);
        self.clock = Some(t);
        match r.kind {
            Kind::Start => self.release_all(prev),
            Kind::Stop => self.release_all(t),
            Kind::Reread => {}
            _ if !self.filter.keeps_feature(&r.feature) => {}
            kind => self.feature_event(kind, r, t),
        }
    }

    fn feature_event(&mut self, kind: Kind, r: &Record, t: u64) {
        let day = self.calendar.civil(t).date;
        let in_window = self.filter.keeps_day(day);
        let feat = self.features.entry(r.feature.clone()).or_default();
        if r.issued > 0 {
            feat.issued = r.issued;
        }
        match kind {
            Kind::Checkout | Kind::Borrow | Kind::Held => {
                let borrowed = kind == Kind::Borrow;
                if kind != Kind::Held && in_window {
                    let d = feat.days.entry(day).or_default();
                    d.checkouts += 1;
                    if !d.users.contains(&r.user) {
                        d.users.insert(r.user.clone());
                    }
                    if !feat.users.contains(&r.user) {
                        feat.users.insert(r.user.clone());
                    }
                }
                let key = (borrowed, r.handle);
                if self.holds.contains_key(&key) {
                    if kind == Kind::Held {
                        return;
                    }
                    self.release(key, t);
                }
                self.holds.insert(
                    key,
                    Hold {
                        feature: r.feature.clone(),
                        count: r.count,
                    },
                );
                self.change(&r.feature, t, i64::from(r.count));
            }
            Kind::Checkin | Kind::Reclaimed | Kind::Removed => self.release((false, r.handle), t),
            Kind::Return => self.release((true, r.handle), t),
            Kind::Denied if in_window => {
                *feat
                    .days
                    .entry(day)
                    .or_default()
                    .denials
                    .entry(r.error)
                    .or_default() += 1;
            }
            Kind::Queued if in_window => feat.days.entry(day).or_default().queued += 1,
            _ => {}
        }
    }

    fn release(&mut self, key: (bool, u64), t: u64) {
        if let Some(h) = self.holds.remove(&key) {
            self.change(&h.feature, t, -i64::from(h.count));
        }
    }

    /// Frees every seat but borrowed ones, at time `t`.
    fn release_all(&mut self, t: u64) {
        let keys: Vec<(bool, u64)> = self.holds.keys().filter(|k| !k.0).copied().collect();
        for k in keys {
            self.release(k, t);
        }
    }

    /// Counts the seats in use up to `t`, then changes them by `delta`.
    fn change(&mut self, feature: &str, t: u64, delta: i64) {
        let feat = self.features.entry(feature.to_string()).or_default();
        let since = feat.since.min(t);
        account(feat, since, t, self.calendar, self.filter);
        feat.level = feat.level.saturating_add_signed(delta);
        feat.since = t;
    }

    /// Per feature and day so far: the most seats in use at once, the
    /// checkouts and the denials, read without ending the summary (seats
    /// held now count toward the peak of the last record's day). Cheap
    /// enough to answer often: no user names are copied.
    pub fn daily(&self) -> Vec<DailyUse> {
        let today = self.clock.map(|t| self.calendar.civil(t).date);
        self.features
            .iter()
            .map(|(name, feat)| {
                let mut days: Vec<DayUse> = feat
                    .days
                    .iter()
                    .map(|(date, d)| DayUse {
                        date: *date,
                        peak: d.peak,
                        checkouts: d.checkouts,
                        denied: d.denials.values().sum(),
                    })
                    .collect();
                if let Some(today) = today.filter(|d| feat.level > 0 && self.filter.keeps_day(*d)) {
                    match days.last_mut() {
                        Some(last) if last.date == today => last.peak = last.peak.max(feat.level),
                        _ => days.push(DayUse {
                            date: today,
                            peak: feat.level,
                            checkouts: 0,
                            denied: 0,
                        }),
                    }
                }
                DailyUse {
                    feature: name.clone(),
                    issued: feat.issued,
                    days,
                }
            })
            .filter(|f| !f.days.is_empty())
            .collect()
    }

    /// The summary, seats still held counted up to the last record.
    pub fn finish(mut self) -> Summary {
        let end = self.clock.unwrap_or(0);
        let mut features = Vec::new();
        for (name, mut feat) in std::mem::take(&mut self.features) {
            let since = feat.since.min(end);
            account(&mut feat, since, end, self.calendar, self.filter);
            if feat.days.is_empty() {
                continue;
            }
            let mut out = FeatureSummary {
                feature: name,
                issued: feat.issued,
                peak: feat.peak,
                full_seconds: feat.full_seconds,
                users: feat.users.len() as u64,
                ..FeatureSummary::default()
            };
            for (date, d) in feat.days {
                out.checkouts += d.checkouts;
                out.seat_seconds += d.seat_seconds;
                out.queued += d.queued;
                for (code, n) in &d.denials {
                    *out.denials.entry(*code).or_default() += n;
                }
                out.days.push(DaySummary {
                    date: Some(date),
                    checkouts: d.checkouts,
                    users: d.users.len() as u64,
                    seat_seconds: d.seat_seconds,
                    peak: d.peak,
                    denials: d.denials,
                    queued: d.queued,
                });
            }
            features.push(out);
        }
        Summary {
            records: self.records,
            first: self.first,
            last: self.clock,
            features,
        }
    }
}

/// Adds the interval `[from, to)`, at the feature's current level, to the
/// days it spans (those inside the window), the peak, and the time at full
/// use. An empty interval still counts toward the peak: two checkouts in
/// the same second that overlap for no measurable time were both held.
fn account(feat: &mut FeatureState, from: u64, to: u64, cal: &dyn Calendar, filter: &Filter) {
    let level = feat.level;
    if level == 0 {
        return;
    }
    let full = feat.issued > 0 && level >= u64::from(feat.issued);
    let mut a = from;
    loop {
        let day = cal.civil(a).date;
        let end = day_end(cal, a, to, day);
        let secs = end - a;
        if filter.keeps_day(day) {
            let d = feat.days.entry(day).or_default();
            d.seat_seconds = d.seat_seconds.saturating_add(level.saturating_mul(secs));
            d.peak = d.peak.max(level);
            if level > feat.peak.seats {
                feat.peak = Peak {
                    seats: level,
                    at: Some(a),
                    seconds: secs,
                };
            } else if level == feat.peak.seats {
                feat.peak.seconds += secs;
            }
            if full {
                feat.full_seconds += secs;
            }
        }
        if end >= to {
            break;
        }
        a = end;
    }
}

/// The first second after `a` and before `to` whose date is not `day`, or
/// `to` if the interval ends on that day.
fn day_end(cal: &dyn Calendar, a: u64, to: u64, day: Date) -> u64 {
    if to <= a || cal.civil(to - 1).date == day {
        return to;
    }
    // Binary search: the calendar is monotonic, so dates change once per
    // boundary. Invariant: date(lo) == day, date(hi) != day.
    let (mut lo, mut hi) = (a, to - 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if cal.civil(mid).date == day {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{FixedOffset, Utc};
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// 2026-01-05 00:00:00 UTC, a Monday.
    const MON: u64 = 1_767_571_200;
    const H: u64 = 3600;

    fn rec(time: u64, kind: Kind, feature: &str, user: &str, handle: u64, count: u32) -> Record {
        let mut r = Record::new(time, kind, feature);
        r.user = user.into();
        r.host = "ws1".into();
        r.handle = handle;
        r.count = count;
        r.issued = 2;
        r
    }

    fn denied(time: u64, feature: &str, error: i32) -> Record {
        let mut r = Record::new(time, Kind::Denied, feature);
        r.user = "ann".into();
        r.error = error;
        r.issued = 2;
        r
    }

    fn date(y: i32, m: u8, d: u8) -> Option<Date> {
        Date::new(y, m, d)
    }

    /// Two days of f1 (2 seats): joe and ann fill it Monday morning, bob is
    /// refused and queued, ann keeps her seat overnight until Tuesday 10:00.
    fn two_days() -> Vec<Record> {
        let mut q = Record::new(MON + 9 * H + 1800, Kind::Queued, "f1");
        q.user = "bob".into();
        vec![
            Record::marker(MON + 8 * H, Kind::Start),
            rec(MON + 9 * H, Kind::Checkout, "f1", "joe", 1, 1),
            rec(MON + 9 * H, Kind::Checkout, "f1", "ann", 2, 1),
            denied(MON + 9 * H + 1800, "f1", -4),
            q,
            rec(MON + 11 * H, Kind::Checkin, "f1", "joe", 1, 1),
            rec(MON + 13 * H, Kind::Checkout, "f1", "joe", 3, 1),
            rec(MON + 14 * H, Kind::Checkin, "f1", "joe", 3, 1),
            denied(MON + 15 * H, "f1", -38),
            rec(MON + 34 * H, Kind::Checkin, "f1", "ann", 2, 1),
            rec(MON + 35 * H, Kind::Checkout, "f2", "joe", 4, 1),
        ]
    }

    #[test]
    fn two_days_in_exact_numbers() {
        let records = two_days();
        let s = summarize(&records, &Utc, &Filter::default());
        assert_eq!(s.records, 11);
        assert_eq!(s.first, Some(MON + 8 * H));
        assert_eq!(s.last, Some(MON + 35 * H));
        assert_eq!(s.features.len(), 2);
        let f1 = &s.features[0];
        assert_eq!(f1.feature, "f1");
        assert_eq!(f1.issued, 2);
        assert_eq!(f1.days.len(), 2);
        let mon = &f1.days[0];
        assert_eq!(mon.date, date(2026, 1, 5));
        assert_eq!(mon.checkouts, 3);
        assert_eq!(mon.users, 2);
        // joe 2 h + 1 h, ann 15 h (9:00 to midnight).
        assert_eq!(mon.seat_seconds, 18 * H);
        assert_eq!(mon.peak, 2);
        assert_eq!(mon.denials, BTreeMap::from([(-38, 1), (-4, 1)]));
        assert_eq!(mon.queued, 1);
        let tue = &f1.days[1];
        assert_eq!(tue.date, date(2026, 1, 6));
        assert_eq!((tue.checkouts, tue.users), (0, 0));
        assert_eq!(tue.seat_seconds, 10 * H);
        assert_eq!(tue.peak, 1);
        assert_eq!(
            f1.peak,
            // 9:00 to 11:00 (joe and ann), 13:00 to 14:00 (joe again and ann).
            Peak {
                seats: 2,
                at: Some(MON + 9 * H),
                seconds: 3 * H
            }
        );
        assert_eq!(f1.full_seconds, 3 * H);
        assert_eq!(f1.checkouts, 3);
        assert_eq!(f1.users, 2);
        assert_eq!(f1.seat_seconds, 28 * H);
        assert_eq!(f1.denied(), 2);
        assert!(f1.is_at_capacity());
        // f2's checkout has no checkin: it counts up to the last record,
        // which is its own time, so no seat-time but a peak of 1.
        let f2 = &s.features[1];
        assert_eq!(f2.days[0].checkouts, 1);
        assert_eq!(f2.seat_seconds, 0);
        assert_eq!(f2.peak.seats, 1);
        assert_eq!(f2.peak.at, Some(MON + 35 * H));
        assert_eq!(f2.full_seconds, 0);
        assert!(!f2.is_at_capacity());
    }

    #[test]
    fn daily_use_is_read_as_records_come_without_ending_the_summary() {
        let records = two_days();
        let filter = Filter::default();
        let mut s = Summarizer::new(&Utc, &filter);
        let day = |y, m, d| Date::new(y, m, d).unwrap();
        let short = |date, peak, checkouts, denied| DayUse {
            date,
            peak,
            checkouts,
            denied,
        };
        for r in &records[..3] {
            s.push(r);
        }
        // joe and ann hold both seats: the peak is there before any time
        // has passed with it.
        let now = s.daily();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].days, vec![short(day(2026, 1, 5), 2, 2, 0)]);
        for r in &records[3..] {
            s.push(r);
        }
        let all = s.daily();
        assert_eq!((all[0].feature.as_str(), all[0].issued), ("f1", 2));
        assert_eq!(
            all[0].days,
            vec![
                short(day(2026, 1, 5), 2, 3, 2),
                short(day(2026, 1, 6), 1, 0, 0)
            ]
        );
        assert_eq!(all[1].days, vec![short(day(2026, 1, 6), 1, 1, 0)]);
        // The full summary agrees.
        let full = s.finish();
        assert_eq!(full.features[0].days[0].peak, 2);
        assert_eq!(full.features[0].days[0].denied(), 2);
    }

    #[test]
    fn a_window_and_a_feature_filter() {
        let records = two_days();
        let filter = Filter {
            feature: Some("f1".into()),
            from: date(2026, 1, 6),
            to: date(2026, 1, 6),
        };
        let s = summarize(&records, &Utc, &filter);
        assert_eq!(s.features.len(), 1);
        let f1 = &s.features[0];
        assert_eq!(f1.days.len(), 1);
        // Ann's seat carried in from Monday: 10 hours on Tuesday, and the
        // window's peak is 1, reached at its first second.
        assert_eq!(f1.seat_seconds, 10 * H);
        assert_eq!(f1.checkouts, 0);
        assert_eq!(f1.denied(), 0);
        assert_eq!(
            f1.peak,
            Peak {
                seats: 1,
                at: Some(MON + 24 * H),
                seconds: 10 * H
            }
        );
        let none = Filter {
            from: date(2026, 2, 1),
            ..Filter::default()
        };
        assert!(summarize(&records, &Utc, &none).features.is_empty());
    }

    #[test]
    fn days_follow_the_calendar() {
        // Seen from UTC-10, Monday 09:00 UTC is Sunday 23:00: joe's 2 hours
        // split into 1 on Sunday and 1 on Monday.
        let records = vec![
            rec(MON + 9 * H, Kind::Checkout, "f1", "joe", 1, 1),
            rec(MON + 11 * H, Kind::Checkin, "f1", "joe", 1, 1),
        ];
        let s = summarize(&records, &FixedOffset(-10 * 3600), &Filter::default());
        let days: Vec<(Option<Date>, u64, u64)> = s.features[0]
            .days
            .iter()
            .map(|d| (d.date, d.checkouts, d.seat_seconds))
            .collect();
        assert_eq!(days, [(date(2026, 1, 4), 1, H), (date(2026, 1, 5), 0, H)]);
    }

    #[test]
    fn a_restart_frees_seats_as_of_the_last_record_but_not_borrows() {
        let records = vec![
            rec(MON, Kind::Checkout, "f1", "joe", 1, 1),
            rec(MON, Kind::Borrow, "f1", "ann", 1, 1),
            rec(MON + H, Kind::Denied, "f1", "bob", 0, 1),
            // The daemon died without a word; it restarts 5 hours later.
            Record::marker(MON + 6 * H, Kind::Start),
            // Handle 1 again: a new checkout, not joe's.
            rec(MON + 7 * H, Kind::Checkout, "f1", "cy", 1, 1),
            rec(MON + 8 * H, Kind::Checkin, "f1", "cy", 1, 1),
            rec(MON + 9 * H, Kind::Return, "f1", "ann", 1, 1),
        ];
        let s = summarize(&records, &Utc, &Filter::default());
        let f1 = &s.features[0];
        // joe: 1 h (to the denial, the last sign of life); ann: 9 h; cy: 1 h.
        assert_eq!(f1.seat_seconds, 11 * H);
        assert_eq!(
            f1.peak,
            Peak {
                seats: 2,
                at: Some(MON),
                seconds: 2 * H
            }
        );
        assert_eq!(f1.full_seconds, 2 * H);
    }

    #[test]
    fn held_records_carry_seats_into_a_new_file_without_counting_checkouts() {
        let records = vec![
            rec(MON, Kind::Held, "f1", "joe", 7, 2),
            rec(MON, Kind::Held, "f1", "joe", 7, 2), // repeated: ignored
            rec(MON + H, Kind::Checkin, "f1", "joe", 7, 2),
            rec(MON + 2 * H, Kind::Checkin, "f1", "nobody", 99, 1), // unknown handle
        ];
        let s = summarize(&records, &Utc, &Filter::default());
        let f1 = &s.features[0];
        assert_eq!(f1.checkouts, 0);
        assert_eq!(f1.seat_seconds, 2 * H);
        assert_eq!(f1.peak.seats, 2);
        assert_eq!(f1.full_seconds, H);
    }

    #[test]
    fn a_clock_set_back_does_not_make_time_negative() {
        let records = vec![
            rec(MON + 2 * H, Kind::Checkout, "f1", "joe", 1, 1),
            rec(MON + H, Kind::Checkin, "f1", "joe", 1, 1),
        ];
        let s = summarize(&records, &Utc, &Filter::default());
        assert_eq!(s.features[0].seat_seconds, 0);
        assert_eq!(s.features[0].peak.seats, 1);
        assert_eq!(s.last, Some(MON + 2 * H));
    }

    fn event() -> impl Strategy<Value = Record> {
        (
            0u64..4000,
            prop_oneof![
                6 => Just(Kind::Checkout),
                5 => Just(Kind::Checkin),
                1 => Just(Kind::Reclaimed),
                1 => Just(Kind::Borrow),
                1 => Just(Kind::Return),
                1 => Just(Kind::Start),
                1 => Just(Kind::Denied),
            ],
            prop_oneof![Just("f1"), Just("f2")],
            0u64..6,
            0u32..3,
        )
            .prop_map(|(dt, kind, f, handle, count)| {
                let mut r = rec(dt, kind, f, "u", handle, count);
                r.issued = 3;
                r
            })
    }

    /// Records with non-decreasing times from a list of gaps.
    fn in_time(mut records: Vec<Record>) -> Vec<Record> {
        let mut t = MON;
        for r in &mut records {
            t += r.time * 7;
            r.time = t;
        }
        records
    }

    /// The plain replay the summary must agree with: per feature, the most
    /// seats held at once after any record, the most handles open at once,
    /// and seat-seconds.
    fn reference(records: &[Record]) -> HashMap<String, (u64, u64, u64)> {
        let mut held: HashMap<(bool, u64), (String, u64)> = HashMap::new();
        let mut out: HashMap<String, (u64, u64, u64)> = HashMap::new();
        let mut last = records.first().map_or(0, |r| r.time);
        for r in records {
            // A restart frees seats as of the previous record.
            if r.kind == Kind::Start {
                held.retain(|k, _| k.0);
            }
            // Seat-seconds since the previous record, at the levels then.
            for (f, c) in held.values() {
                out.entry(f.clone()).or_default().2 += c * (r.time - last);
            }
            match r.kind {
                Kind::Checkout | Kind::Borrow => {
                    let key = (r.kind == Kind::Borrow, r.handle);
                    held.insert(key, (r.feature.clone(), u64::from(r.count)));
                }
                Kind::Checkin | Kind::Reclaimed => {
                    held.remove(&(false, r.handle));
                }
                Kind::Return => {
                    held.remove(&(true, r.handle));
                }
                _ => {}
            }
            last = r.time;
            for f in ["f1", "f2"] {
                let seats: u64 = held.values().filter(|h| h.0 == f).map(|h| h.1).sum();
                let handles = held.values().filter(|h| h.0 == f).count() as u64;
                let e = out.entry(f.to_string()).or_default();
                e.0 = e.0.max(seats);
                e.1 = e.1.max(handles);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn peak_and_seat_time_agree_with_a_plain_replay(events in proptest::collection::vec(event(), 0..60)) {
            let records = in_time(events);
            let s = summarize(&records, &Utc, &Filter::default());
            let want = reference(&records);
            for f in &s.features {
                let (seats, handles, seat_seconds) = want[&f.feature];
                prop_assert_eq!(f.peak.seats, seats, "{}", f.feature);
                prop_assert!(f.peak.seats <= handles * 2, "{}: more seats than handles hold", f.feature);
                prop_assert_eq!(f.seat_seconds, seat_seconds, "{}", f.feature);
                prop_assert_eq!(f.days.iter().map(|d| d.seat_seconds).sum::<u64>(), seat_seconds);
                prop_assert!(f.days.iter().all(|d| d.peak <= f.peak.seats));
                prop_assert!(f.full_seconds <= s.last.unwrap_or(0) - s.first.unwrap_or(0));
            }
            // Features the summary leaves out never held a seat.
            for (name, (seats, _, _)) in &want {
                if !s.features.iter().any(|f| &f.feature == name) {
                    prop_assert_eq!(*seats, 0);
                }
            }
        }

        #[test]
        fn with_one_seat_per_checkout_the_peak_is_the_most_open_handles(events in proptest::collection::vec(event(), 0..60)) {
            let records: Vec<Record> = in_time(events)
                .into_iter()
                .map(|mut r| { r.count = 1; r })
                .collect();
            let s = summarize(&records, &Utc, &Filter::default());
            let want = reference(&records);
            for f in &s.features {
                prop_assert_eq!(f.peak.seats, want[&f.feature].1);
            }
        }

        #[test]
        fn any_records_summarise_without_panic(records in proptest::collection::vec(crate::codec::tests::any_record(), 0..30)) {
            let s = summarize(&records, &FixedOffset(-3600), &Filter::default());
            prop_assert_eq!(s.records, records.len() as u64);
        }
    }
}
