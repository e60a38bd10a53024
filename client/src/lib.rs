//! The application side of the license manager: find licenses along the
//! FLEXlm search path, check them out of a vendor daemon (or validate an
//! uncounted line on this machine), keep them with heartbeats across
//! connection loss, and report failures with FLEXlm's error numbers.
//!
//! ```no_run
//! // The publisher's keys are built into the application; here, the demo
//! // publisher's (`client::Publisher::from_pem` takes your own).
//! let job = client::Job::new(&client::Publisher::demo());
//! match job.checkout("f1", "1.0", 1) {
//!     Ok(license) => {
//!         println!("got {} {}", license.feature(), license.version());
//!         // ... work; heartbeats run in the background ...
//!         job.checkin(&license).ok();
//!     }
//!     Err(e) => eprint!("{}", e.long_form()),
//! }
//! ```
//!
//! - [`search`]: the license search path (pure).
//! - [`local`]: what one license file can do for a request (pure but for
//!   reading the file and the publisher's key).
//! - [`job`]: [`Job`], [`License`], checkout along the path; waiting in
//!   the queue ([`Wait`], [`QueuedLicense`]), idle reporting
//!   ([`Job::set_idle`]), borrowing and early return.
//! - [`borrow`]: the `LM_BORROW` setting and the local borrow store.
//! - `route`: reaching a vendor daemon through lmgrd.
//! - `session`: one server connection with its reader and keeper threads
//!   (heartbeats, reconnect with the same job id), around two pure parts:
//!   `seats` (the seats and queued checkouts, what a connection loss and a
//!   reconnect do to them) and `retry` (when to try again, spread at
//!   random).
//! - [`policy`]: [`FailurePolicy`], what happens to held licenses while
//!   their server is unreachable (restrictive, lenient, a grace period).
//! - [`terms`]: VENDOR_STRING, NOTICE, ISSUER, SN and expiry of a
//!   checked-out license ([`LineTerms`]).
//! - [`error`]: [`LmError`], FLEXlm's short and long forms.
//! - [`identity`]: this machine's hostids and the `Hello` identity.
//!
//! Blocking I/O on `std::net` and plain threads; no async runtime. The
//! operating system's own calls are in `platform` (Unix; a port to
//! another system fills in that one module).

// An `LmError` carries the entry, the step and the whole path so that a
// failed checkout can be explained; it is returned once per failure, where
// its size costs nothing, and its fields stay plain for applications.
#![allow(clippy::result_large_err)]

pub mod borrow;
pub mod borrow_record;
pub mod error;
pub mod event;
pub mod identity;
pub mod job;
pub mod local;
pub mod policy;
pub mod search;
pub mod terms;

mod conn;
mod platform;
mod retry;
mod route;
mod seats;
mod session;
mod trust;

pub use borrow::{BorrowRecord, BorrowStore, LmBorrowSetting};
pub use error::{LmError, Step};
pub use event::JobEvent;
pub use grammar::publisher::Publisher;
pub use job::{
    Borrow, CheckoutOptions, CheckoutOutcome, Job, JobConfig, JobStatus, License, QueuedLicense,
    Wait,
};
pub use policy::FailurePolicy;
pub use search::{LicensePath, PathEntry, ServerSpec};
pub use terms::LineTerms;
