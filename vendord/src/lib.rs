//! The vendor daemon: serves one vendor's licenses to clients.
//!
//! - The license accounting, a pure state machine (no sockets, no clock,
//!   no threads) driven by events and the time, is the `accounting` crate.
//! - [`server`]: the single-threaded mio event loop around the core.
//! - [`router`]: which requests the shell refuses or answers itself, and
//!   which go to the core (pure).
//! - [`daemon`]: a whole vendor daemon for one publisher's built-in keys,
//!   as a publisher's `main` runs it.
//! - [`startup`]: reading and verifying the license file, process settings,
//!   the start-up log lines.
//! - [`borrow_store`]: borrowed seats on disk (redb), so they outlive restarts.
//! - [`report`]: the report log (options REPORTLOG), lmswitchr, lmnewlog.
//! - [`log_switch`]: where lmswitch, lmswitchr and lmnewlog may write (the
//!   log directory only, never through a link).
//! - [`triad_link`]: the link to lmgrd in a triad (changes committed by the
//!   majority before clients hear of them; standby and master roles).
//! - [`args`]: the command line lmgrd starts it with (`docs/protocol.md`).
//!
//! What lmgrd shares with it lives in crates of its own: the admin policy
//! and expiry warnings in `accounting`, the state directory, license lists
//! and the local admin socket (who asks, as the kernel says) in `hostenv`.

pub mod args;
pub mod borrow_store;
pub mod daemon;
pub mod log_switch;
pub mod report;
pub mod router;
pub mod server;
pub mod startup;
pub mod stats;
pub mod triad_link;

/// The key material a publisher builds into its vendor daemon.
pub use grammar::publisher::DaemonKeys;
