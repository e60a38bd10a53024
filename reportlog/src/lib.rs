//! The report log: the vendor daemon's durable record of license use, and
//! what it says about demand.
//!
//! The options-file line `REPORTLOG [+]path` makes the vendor daemon keep
//! one. It records checkouts, checkins, denials, queueing, reclaimed and
//! removed seats, borrowing, and daemon start, stop and reread, each with
//! time, user, host, display, feature, version, count and handle; an
//! administrator asks `lmutil lmreport` whether more seats are needed.
//!
//! - [`record`]: the [`Record`] and its [`Kind`].
//! - [`codec`]: the stored form of a record (compact, versioned, strict).
//! - `store` (feature `store`, on by default): the file: `ReportLog` (open,
//!   append a batch in one transaction, `lmswitchr`, `lmnewlog`) and
//!   `Reader`. It does I/O, with redb; without the feature the crate is
//!   the records and their pure summaries, for the accounting core.
//! - [`summary`]: per feature and day, checkouts, users, seat-hours, peak,
//!   denials; pure, over any sequence of records.
//! - [`render`]: the summary as a table or JSON, records as CSV; pure.
//! - [`calendar`]: a [`Calendar`] (time zone) that turns record times into
//!   local days (`grammar::Date`, written ISO 8601 in JSON) for the
//!   summaries.
//!
//! The daemon's use, per event-loop turn:
//!
//! ```no_run
//! use reportlog::{Kind, Record, ReportLog};
//! let mut log = ReportLog::open("/var/log/demo.rl", true)?;
//! log.append(&[Record::marker(1_767_600_000, Kind::Start)])?;
//! // ... one `append` per turn with that turn's records ...
//! # Ok::<(), reportlog::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod calendar;
pub mod codec;
pub mod record;
pub mod render;
#[cfg(feature = "store")]
pub mod spool;
#[cfg(feature = "store")]
pub mod store;
pub mod summary;

pub use calendar::{Calendar, Civil, FixedOffset, Utc};
pub use codec::DecodeError;
pub use record::{Kind, Record};
#[cfg(feature = "store")]
pub use store::{aside_name, Error, Reader, Records, ReportLog};
pub use summary::{
    summarize, DailyUse, DaySummary, DayUse, FeatureSummary, Filter, Peak, Summarizer, Summary,
};
