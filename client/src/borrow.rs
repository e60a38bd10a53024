//! Borrowing: taking a license off the network for a while.
//!
//! The user says until when with the `LM_BORROW` setting (what
//! `lmborrow {vendor|all} dd-mmm-yyyy[:hh:mm]` writes), read from the
//! environment, else from `$HOME/.flexlmrc`:
//!
//! ```text
//! LM_BORROW=17-may-2026:demo:24-may-2026:18:00     start:vendor:end[:hh:mm]
//! ```
//!
//! While it is set for the application's vendor (or `all`) and between its
//! start and end, a checkout asks the vendor daemon to lend the license
//! until the end (the daemon decides whether the line's BORROW hours allow
//! it). A granted borrow is recorded in the [`BorrowStore`] on this
//! machine, and from then on, as FLEXlm's borrowing client does, the
//! application is granted that feature from the record without asking any
//! server, until the borrow ends or is returned early
//! (`lmborrow -return`, [`crate::Job::return_borrow`]).
//!
//! What is pure here: parsing and formatting [`LmBorrowSetting`] and
//! [`BorrowEnd`], and judging a setting against a clock passed in. The
//! store and [`local_unix`] touch the file system and the time zone.

use grammar::date::DateError;
use grammar::{Date, Expiry};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The setting's name, in the environment and in `.flexlmrc`.
pub const LM_BORROW: &str = "LM_BORROW";

/// The environment variable that moves the borrow store (tests use it).
pub const LM_BORROW_STORE: &str = "LM_BORROW_STORE";

/// The store's file under `$HOME`.
pub const STORE_FILE: &str = ".flexlmborrow";

/// The time of day a borrow ends when the setting gives only a date: the
/// last minute of that day.
pub const END_OF_DAY: (u8, u8) = (23, 59);

/// When a borrow ends: a local date and, optionally, a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowEnd {
    pub date: Date,
    /// `(hour, minute)`, 24-hour clock; `None`: [`END_OF_DAY`].
    pub time: Option<(u8, u8)>,
}

/// Why an `LM_BORROW` value (or an end date) was refused. Each variant
/// carries the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BorrowSettingError {
    #[error(
        "`{value}` is not an LM_BORROW value: expected start:vendor:end, \
         as dd-mmm-yyyy:vendor:dd-mmm-yyyy[:hh:mm]"
    )]
    Shape { value: String },
    #[error("`{value}`: the {which} date: {source}")]
    Date {
        value: String,
        which: &'static str,
        source: DateError,
    },
    #[error("`{value}`: the {which} date must be a day, not `permanent`")]
    Permanent { value: String, which: &'static str },
    #[error("`{value}`: `{vendor}` is not a vendor name (letters, digits, _) or `all`")]
    Vendor { value: String, vendor: String },
    #[error("`{value}`: `{time}` is not a time of day: expected hh:mm, 00:00 to 23:59")]
    Time { value: String, time: String },
    #[error("`{value}`: the borrow ends ({end}) before it starts ({start})")]
    EndsBeforeStart {
        value: String,
        start: Date,
        end: Date,
    },
}

impl BorrowEnd {
    /// Parses `dd-mmm-yyyy` or `dd-mmm-yyyy:hh:mm`.
    pub fn parse(text: &str) -> Result<BorrowEnd, BorrowSettingError> {
        let (date, time) = match text.split_once(':') {
            Some((d, t)) => (d, Some(t)),
            None => (text, None),
        };
        let date = parse_day(text, date, "end")?;
        let time = time.map(|t| parse_time(text, t)).transpose()?;
        Ok(BorrowEnd { date, time })
    }

    /// `(hour, minute)` the borrow ends at.
    pub fn hour_minute(&self) -> (u8, u8) {
        self.time.unwrap_or(END_OF_DAY)
    }

    /// The end as Unix time, with `to_unix` turning a local date and time
    /// into Unix time ([`local_unix`] for this machine's zone).
    pub fn unix(&self, to_unix: impl Fn(Date, u8, u8) -> Option<u64>) -> Option<u64> {
        let (h, m) = self.hour_minute();
        to_unix(self.date, h, m)
    }
}

impl fmt::Display for BorrowEnd {
    /// `17-may-2026` or `17-may-2026:18:00`, as `lmborrow` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.date)?;
        if let Some((h, m)) = self.time {
            write!(f, ":{h:02}:{m:02}")?;
        }
        Ok(())
    }
}

/// A parsed `LM_BORROW` value: `start:vendor:end[:hh:mm]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmBorrowSetting {
    /// The day borrowing was asked for (lmborrow writes today).
    pub start: Date,
    /// The vendor it applies to, or `all`.
    pub vendor: String,
    pub end: BorrowEnd,
}

impl LmBorrowSetting {
    /// Parses an `LM_BORROW` value.
    pub fn parse(value: &str) -> Result<LmBorrowSetting, BorrowSettingError> {
        let value = value.trim();
        let shape = || BorrowSettingError::Shape {
            value: value.to_string(),
        };
        let parts: Vec<&str> = value.split(':').collect();
        let (start, vendor, end, time) = match parts.as_slice() {
            [s, v, e] => (*s, *v, *e, None),
            [s, v, e, h, m] => (*s, *v, *e, Some(format!("{h}:{m}"))),
            _ => return Err(shape()),
        };
        let start = parse_day(value, start, "start")?;
        if !is_vendor_name(vendor) {
            return Err(BorrowSettingError::Vendor {
                value: value.to_string(),
                vendor: vendor.to_string(),
            });
        }
        let end = BorrowEnd {
            date: parse_day(value, end, "end")?,
            time: time.map(|t| parse_time(value, &t)).transpose()?,
        };
        if end.date < start {
            return Err(BorrowSettingError::EndsBeforeStart {
                value: value.to_string(),
                start,
                end: end.date,
            });
        }
        Ok(LmBorrowSetting {
            start,
            vendor: vendor.to_string(),
            end,
        })
    }

    /// True if and only if the setting is for `vendor` (or for `all`).
    pub fn applies_to(&self, vendor: &str) -> bool {
        self.vendor.eq_ignore_ascii_case("all") || self.vendor.eq_ignore_ascii_case(vendor)
    }

    /// Until when (Unix time) a checkout of `vendor` at `now` asks to
    /// borrow: `None` when the setting is for another vendor, has not
    /// started (its start day is after `today`) or is over.
    pub fn borrow_until(
        &self,
        vendor: &str,
        now: u64,
        today: Date,
        to_unix: impl Fn(Date, u8, u8) -> Option<u64>,
    ) -> Option<u64> {
        if !self.applies_to(vendor) || self.start > today {
            return None;
        }
        self.end.unix(to_unix).filter(|&end| end > now)
    }
}

impl fmt::Display for LmBorrowSetting {
    /// The `LM_BORROW` value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.start, self.vendor, self.end)
    }
}

fn is_vendor_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_day(value: &str, text: &str, which: &'static str) -> Result<Date, BorrowSettingError> {
    match Date::parse(text) {
        Ok(p) => match p.expiry {
            Expiry::On(d) => Ok(d),
            Expiry::Permanent => Err(BorrowSettingError::Permanent {
                value: value.to_string(),
                which,
            }),
        },
        Err(source) => Err(BorrowSettingError::Date {
            value: value.to_string(),
            which,
            source,
        }),
    }
}

fn parse_time(value: &str, text: &str) -> Result<(u8, u8), BorrowSettingError> {
    let bad = || BorrowSettingError::Time {
        value: value.to_string(),
        time: text.to_string(),
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let num = |s: &str, max: u8| {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u8>().ok())
            .flatten()
            .filter(|n| *n <= max)
    };
    match (num(h, 23), num(m, 59)) {
        (Some(h), Some(m)) => Ok((h, m)),
        _ => Err(bad()),
    }
}

/// Where an `LM_BORROW` value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingOrigin {
    Environment,
    File(PathBuf),
    /// Given by the application ([`crate::JobConfig::lm_borrow`]).
    Application,
}

impl fmt::Display for SettingOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingOrigin::Environment => write!(f, "{LM_BORROW} in the environment"),
            SettingOrigin::File(p) => write!(f, "{LM_BORROW} in {}", p.display()),
            SettingOrigin::Application => write!(f, "{LM_BORROW} set by the application"),
        }
    }
}

/// `$HOME/.flexlmrc`, when `HOME` is set.
pub fn flexlmrc_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".flexlmrc"))
}

/// The `LM_BORROW` value of this process: the environment's, else
/// `$HOME/.flexlmrc`'s; `None` when neither sets it (an empty value is
/// unset). Reading the file is best effort, as for the license path.
pub fn setting_text_from_process_env() -> Option<(String, SettingOrigin)> {
    if let Some(v) = std::env::var(LM_BORROW)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Some((v, SettingOrigin::Environment));
    }
    let rc = flexlmrc_path()?;
    let text = std::fs::read_to_string(&rc).ok()?;
    crate::search::flexlmrc_value(&text, LM_BORROW)
        .filter(|v| !v.trim().is_empty())
        .map(|v| (v, SettingOrigin::File(rc)))
}

/// Now, as Unix time.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A date and time as Unix time, reading them in UTC (tests, and zones
/// without offsets).
pub fn utc_unix(date: Date, hour: u8, minute: u8) -> Option<u64> {
    let secs = date.days_since_epoch() * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60;
    u64::try_from(secs).ok()
}

/// A date and time in this machine's time zone as Unix time (which also
/// settles daylight saving time).
pub fn local_unix(date: Date, hour: u8, minute: u8) -> Option<u64> {
    crate::platform::local_to_unix(date, hour, minute)
}

/// Unix time `secs` as a local `dd-mmm-yyyy:hh:mm`, the form `lmborrow`
/// and `LM_BORROW` use.
pub fn format_local(secs: u64) -> String {
    match crate::platform::local_calendar(secs) {
        Some((d, hour, minute)) => format!("{d}:{hour:02}:{minute:02}"),
        None => format!("@{secs}"),
    }
}

// ---------------------------------------------------------------------------
// The store

pub use crate::borrow_record::BorrowRecord;
use crate::borrow_record::{self as record, RecordError};

/// Vendor and feature → record, both as bytes of [`crate::borrow_record`]'s
/// codec. Earlier stores kept `redb` tuples in other tables (`borrows`,
/// then `sealed_borrows`); those are not read: decoding them is what a
/// damaged file could make panic.
const BORROWS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("borrow_records");

/// A record the store holds but cannot read: it is skipped (never
/// honoured) and reported with the file and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    pub path: PathBuf,
    /// `vendor/feature` when the key reads, else its bytes in hex.
    pub key: String,
    pub error: RecordError,
}

impl fmt::Display for DamagedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "borrow store {}: record {}: {}; skipped",
            self.path.display(),
            self.key,
            self.error
        )
    }
}

/// What the store holds: the records that read, and those that do not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub records: Vec<BorrowRecord>,
    pub damaged: Vec<DamagedRecord>,
}

/// A key as a message names it: escaped, it cannot break a line.
fn key_text(key: &[u8]) -> String {
    match record::decode_key(key) {
        Ok((vendor, feature)) => format!(
            "{}/{}",
            wire::text::escape(&vendor),
            wire::text::escape(&feature)
        ),
        Err(_) => key
            .iter()
            .take(32)
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    }
}

/// Why the borrow store could not be used. It names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BorrowStoreError {
    /// Neither `LM_BORROW_STORE` nor `HOME` is set.
    #[error("no borrow store: set HOME (the store is $HOME/{STORE_FILE}) or {LM_BORROW_STORE}")]
    NoHome,
    #[error("borrow store {}: cannot {action}: {source}", path.display())]
    Store {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: redb::Error,
    },
}

/// The borrows of this machine's user: a `redb` database file
/// (`$HOME/.flexlmborrow`, or `$LM_BORROW_STORE`), one record per vendor
/// and feature.
///
/// The file is opened for each operation and closed after it, so that
/// several applications and `lmborrow` can use it in turn (redb allows one
/// opener at a time; a busy file is retried for a short while).
///
/// Each record carries the vendor daemon's seal over its terms: an
/// application honours a record only if the seal verifies with the key
/// built into it, so editing the file (a later end, more seats, another
/// user or host) gets nothing. Setting the clock back is not detected
/// here. The server's own accounting is unaffected either way: the seat is
/// free there once the borrow ends or is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowStore {
    path: PathBuf,
}

/// Serialises this process's openings of store files (redb refuses a
/// second opener, in this process as in others).
static OPENING: Mutex<()> = Mutex::new(());

/// How long to wait for another process to close the store.
const BUSY_WAIT: Duration = Duration::from_secs(3);

impl BorrowStore {
    /// The store in file `path` (created at the first record).
    pub fn at(path: impl Into<PathBuf>) -> BorrowStore {
        BorrowStore { path: path.into() }
    }

    /// `$LM_BORROW_STORE`, else `$HOME/.flexlmborrow`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(LM_BORROW_STORE).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(&h).join(STORE_FILE))
    }

    /// The store of this process's user ([`BorrowStore::default_path`]).
    pub fn from_env() -> Result<BorrowStore, BorrowStoreError> {
        BorrowStore::default_path()
            .map(BorrowStore::at)
            .ok_or(BorrowStoreError::NoHome)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str) -> impl Fn(redb::Error) -> BorrowStoreError + '_ {
        move |source| BorrowStoreError::Store {
            path: self.path.clone(),
            action,
            source,
        }
    }

    /// Opens (creating when `create`) the database, waiting a little while
    /// another process has it open. `None`: no file and not `create`.
    fn open<T>(
        &self,
        create: bool,
        f: impl FnOnce(&redb::Database) -> Result<T, redb::Error>,
        action: &'static str,
    ) -> Result<Option<T>, BorrowStoreError> {
        let _guard = OPENING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !create && !self.path.exists() {
            return Ok(None);
        }
        if create {
            // Owner-only before redb writes anything in it: the records
            // hold the secrets that return borrows early.
            crate::platform::create_private_file(&self.path)
                .map_err(|e| self.err(action)(e.into()))?;
        }
        let deadline = std::time::Instant::now() + BUSY_WAIT;
        let db = loop {
            let opened = if create {
                redb::Database::create(&self.path)
            } else {
                redb::Database::open(&self.path)
            };
            match opened {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if std::time::Instant::now() < deadline =>
                {
                    // Another application is reading or writing it; each
                    // holds it for one short transaction.
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(self.err(action)(e.into())),
            }
        };
        f(&db).map(Some).map_err(self.err(action))
    }

    /// Records a borrow, replacing any record of the same vendor and
    /// feature.
    pub fn put(&self, r: &BorrowRecord) -> Result<(), BorrowStoreError> {
        self.open(
            true,
            |db| {
                let tx = db.begin_write()?;
                {
                    let mut t = tx.open_table(BORROWS)?;
                    let key = record::encode_key(&r.vendor, &r.feature);
                    t.insert(key.as_slice(), record::encode_value(r).as_slice())?;
                }
                tx.commit()?;
                Ok(())
            },
            "record a borrow",
        )
        .map(|_| ())
    }

    /// Every record, expired ones included, ordered by vendor and feature.
    /// Records that do not read are left out ([`BorrowStore::read`] lists
    /// them).
    pub fn list(&self) -> Result<Vec<BorrowRecord>, BorrowStoreError> {
        Ok(self.read()?.records)
    }

    /// Every record, and every record that does not read (damaged, or
    /// written by a later version), named by its key.
    pub fn read(&self) -> Result<Listing, BorrowStoreError> {
        let found = self.open(
            false,
            |db| {
                let tx = db.begin_read()?;
                let t = match tx.open_table(BORROWS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Listing::default()),
                    Err(e) => return Err(e.into()),
                };
                let mut out = Listing::default();
                for row in t.iter()? {
                    let (k, v) = row?;
                    match record::decode(k.value(), v.value()) {
                        Ok(r) => out.records.push(r),
                        Err(error) => out.damaged.push(DamagedRecord {
                            path: self.path.clone(),
                            key: key_text(k.value()),
                            error,
                        }),
                    }
                }
                Ok(out)
            },
            "read the borrows",
        )?;
        Ok(found.unwrap_or_default())
    }

    /// The unexpired record of `feature` of `vendor` at `now`, if any.
    pub fn get(
        &self,
        vendor: &str,
        feature: &str,
        now: u64,
    ) -> Result<Option<BorrowRecord>, BorrowStoreError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|r| r.vendor == vendor && r.feature == feature && !r.is_expired(now)))
    }

    /// Deletes the record of `feature` of `vendor`; true if there was one.
    pub fn remove(&self, vendor: &str, feature: &str) -> Result<bool, BorrowStoreError> {
        let removed = self.open(
            false,
            |db| {
                let tx = db.begin_write()?;
                let removed = {
                    let mut t = tx.open_table(BORROWS)?;
                    let key = record::encode_key(vendor, feature);
                    let existed = t.remove(key.as_slice())?.is_some();
                    existed
                };
                tx.commit()?;
                Ok(removed)
            },
            "delete a borrow",
        )?;
        Ok(removed.unwrap_or(false))
    }

    /// Deletes every record that is over at `now`; returns how many.
    pub fn purge_expired(&self, now: u64) -> Result<usize, BorrowStoreError> {
        let purged = self.open(
            false,
            |db| {
                let tx = db.begin_write()?;
                let mut n = 0usize;
                {
                    let mut t = tx.open_table(BORROWS)?;
                    // A record that does not read is kept: it is reported
                    // by `read`, not silently lost.
                    t.retain(|_, v| {
                        let keep = record::until_of(v).is_none_or(|until| now < until);
                        n += usize::from(!keep);
                        keep
                    })?;
                }
                tx.commit()?;
                Ok(n)
            },
            "purge expired borrows",
        )?;
        Ok(purged.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u8, day: u8) -> Date {
        Date::new(y, m, day).expect("date")
    }

    #[test]
    fn setting_parses_and_prints_back() {
        let s = LmBorrowSetting::parse("17-may-2026:demo:24-may-2026").expect("parse");
        assert_eq!(s.start, d(2026, 5, 17));
        assert_eq!(s.vendor, "demo");
        assert_eq!(s.end.date, d(2026, 5, 24));
        assert_eq!(s.end.time, None);
        assert_eq!(s.end.hour_minute(), END_OF_DAY);
        assert_eq!(s.to_string(), "17-may-2026:demo:24-may-2026");

        let s = LmBorrowSetting::parse(" 1-JAN-2027:all:3-jan-2027:08:05 ").expect("parse");
        assert_eq!(s.end.time, Some((8, 5)));
        assert!(s.applies_to("demo") && s.applies_to("acme"));
        assert_eq!(s.to_string(), "1-jan-2027:all:3-jan-2027:08:05");
        assert_eq!(LmBorrowSetting::parse(&s.to_string()), Ok(s));
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let err = |v: &str| LmBorrowSetting::parse(v).expect_err(v);
        assert!(matches!(err(""), BorrowSettingError::Shape { .. }));
        assert!(matches!(
            err("17-may-2026:demo"),
            BorrowSettingError::Shape { .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:24-may-2026:18"),
            BorrowSettingError::Shape { .. }
        ));
        assert!(matches!(
            err("17-foo-2026:demo:24-may-2026"),
            BorrowSettingError::Date { which: "start", .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:31-feb-2026"),
            BorrowSettingError::Date { which: "end", .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:permanent"),
            BorrowSettingError::Permanent { which: "end", .. }
        ));
        assert!(matches!(
            err("17-may-2026:de-mo:24-may-2026"),
            BorrowSettingError::Vendor { .. }
        ));
        assert!(matches!(
            err("17-may-2026::24-may-2026"),
            BorrowSettingError::Vendor { .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:24-may-2026:24:00"),
            BorrowSettingError::Time { .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:24-may-2026:12:60"),
            BorrowSettingError::Time { .. }
        ));
        assert!(matches!(
            err("17-may-2026:demo:24-may-2026:1a:00"),
            BorrowSettingError::Time { .. }
        ));
        assert!(matches!(
            err("24-may-2026:demo:17-may-2026"),
            BorrowSettingError::EndsBeforeStart { .. }
        ));
        let text = err("17-may-2026:demo:24-may-2026:25:00").to_string();
        assert!(
            text.contains("`17-may-2026:demo:24-may-2026:25:00`") && text.contains("`25:00`"),
            "{text}"
        );
    }

    #[test]
    fn end_parses_alone() {
        assert_eq!(
            BorrowEnd::parse("24-may-2026:18:30"),
            Ok(BorrowEnd {
                date: d(2026, 5, 24),
                time: Some((18, 30))
            })
        );
        assert_eq!(
            BorrowEnd::parse("24-may-2026").map(|e| e.to_string()),
            Ok("24-may-2026".to_string())
        );
        assert!(BorrowEnd::parse("24-may-2026:18").is_err());
        assert!(BorrowEnd::parse("tomorrow").is_err());
    }

    #[test]
    fn borrow_until_follows_vendor_start_and_end() {
        let s = LmBorrowSetting::parse("17-may-2026:demo:24-may-2026:18:00").expect("parse");
        let end = utc_unix(d(2026, 5, 24), 18, 0).expect("unix");
        let today = d(2026, 5, 20);
        let now = utc_unix(today, 9, 0).expect("unix");
        assert_eq!(s.borrow_until("demo", now, today, utc_unix), Some(end));
        assert_eq!(s.borrow_until("DEMO", now, today, utc_unix), Some(end));
        assert_eq!(s.borrow_until("acme", now, today, utc_unix), None);
        // Not started yet.
        let early = d(2026, 5, 16);
        assert_eq!(
            s.borrow_until(
                "demo",
                utc_unix(early, 9, 0).expect("unix"),
                early,
                utc_unix
            ),
            None
        );
        // Over: a minute past the end.
        assert_eq!(s.borrow_until("demo", end, d(2026, 5, 24), utc_unix), None);
        assert_eq!(
            s.borrow_until("demo", end - 60, d(2026, 5, 24), utc_unix),
            Some(end)
        );
    }

    #[test]
    fn local_time_round_trips() {
        let t = local_unix(d(2026, 5, 24), 18, 5).expect("mktime");
        assert_eq!(format_local(t), "24-may-2026:18:05");
        assert_eq!(utc_unix(d(1970, 1, 2), 0, 1), Some(86_460));
    }

    fn record(feature: &str, until: u64) -> BorrowRecord {
        BorrowRecord {
            vendor: "demo".into(),
            feature: feature.into(),
            version: "1.0".into(),
            count: 1,
            expiry: "permanent".into(),
            borrowed_at: 1000,
            until,
            server: "27000@localhost".into(),
            handle: 7,
            seal: vec![1, 2, 3],
            secret: vec![4; 32],
        }
    }

    #[test]
    fn store_writes_reopens_expires_and_purges() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BorrowStore::at(dir.path().join("borrow"));
        // No file yet: reads are empty and create nothing.
        assert_eq!(store.list().expect("list").len(), 0);
        assert_eq!(store.purge_expired(5).expect("purge"), 0);
        assert!(!store.remove("demo", "f1").expect("remove"));
        assert!(!store.path().exists());

        store.put(&record("f1", 5000)).expect("put");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .expect("store")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the secrets are the owner's alone");
        }
        store.put(&record("f2", 2000)).expect("put");
        let mut other = record("f1", 9000);
        other.vendor = "acme".into();
        store.put(&other).expect("put");

        // A new handle on the same file sees them.
        let again = BorrowStore::at(store.path());
        let all = again.list().expect("list");
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], other);
        assert_eq!(
            again.get("demo", "f1", 1500).expect("get"),
            Some(record("f1", 5000))
        );
        assert_eq!(again.get("demo", "f2", 2000).expect("get"), None, "expired");
        assert_eq!(again.get("demo", "f3", 0).expect("get"), None);

        // Replacing keeps one record per vendor and feature.
        let mut newer = record("f1", 6000);
        newer.handle = 8;
        again.put(&newer).expect("put");
        assert_eq!(again.get("demo", "f1", 0).expect("get"), Some(newer));

        assert_eq!(again.purge_expired(5500).expect("purge"), 1);
        let left: Vec<String> = again
            .list()
            .expect("list")
            .iter()
            .map(|r| format!("{}/{}", r.vendor, r.feature))
            .collect();
        assert_eq!(left, ["acme/f1", "demo/f1"]);
        assert!(again.remove("demo", "f1").expect("remove"));
        assert!(!again.remove("demo", "f1").expect("remove"));
        assert_eq!(again.list().expect("list").len(), 1);
    }

    #[test]
    fn a_damaged_record_is_reported_and_skipped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BorrowStore::at(dir.path().join("borrow"));
        store.put(&record("f1", 5000)).expect("put");
        // Bytes no version of ours wrote, under a good key and a bad one.
        let db = redb::Database::create(store.path()).expect("open");
        let tx = db.begin_write().expect("write");
        {
            let mut t = tx.open_table(BORROWS).expect("table");
            let key = record::encode_key("demo", "f2");
            t.insert(key.as_slice(), &[1u8, 0, 200, 1][..])
                .expect("insert");
            t.insert(&[0xffu8, 0xff][..], &[][..]).expect("insert");
        }
        tx.commit().expect("commit");
        drop(db);
        let listing = store.read().expect("read");
        assert_eq!(listing.records, vec![record("f1", 5000)]);
        let named: Vec<String> = listing.damaged.iter().map(|d| d.key.clone()).collect();
        assert_eq!(named, ["demo/f2", "ffff"]);
        let text = listing.damaged[0].to_string();
        assert!(
            text.contains(&store.path().display().to_string()) && text.contains("demo/f2"),
            "{text}"
        );
        // Purging keeps them (they are reported, not lost); the good
        // record goes when it expires.
        assert_eq!(store.purge_expired(6000).expect("purge"), 1);
        assert_eq!(store.read().expect("read").damaged.len(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("junk");
        std::fs::write(&path, b"this is not a database").expect("write");
        let e = BorrowStore::at(&path).list().expect_err("not a store");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}
