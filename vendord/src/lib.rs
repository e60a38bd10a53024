//! The vendor daemon: serves one vendor's licenses to clients.
//!
//! - [`core`]: the license accounting, a pure state machine (no sockets,
//!   no clock, no threads) driven by events and the time.
//! - [`server`]: the single-threaded mio event loop around the core.
//! - [`daemon`]: a whole vendor daemon for one publisher's built-in keys,
//!   as a publisher's `main` runs it.
//! - [`startup`]: reading and verifying the license file, process settings,
//!   the start-up log lines.
//! - [`borrow_store`]: borrowed seats on disk (redb), so they outlive restarts.
//! - [`report`]: the report log (options REPORTLOG), lmswitchr, lmnewlog.
//! - [`triad_link`]: the link to lmgrd in a triad (changes committed by the
//!   majority before clients hear of them; standby and master roles).
//! - [`expiry`]: warnings before served lines expire.
//! - [`license_list`]: license files lists and directories, combined.
//! - [`state_dir`]: where the daemon writes (never the license directory).
//! - [`args`]: the command line lmgrd starts it with (`docs/protocol.md`).

pub mod admin_auth;
pub mod args;
pub mod borrow_store;
pub mod core;
pub mod daemon;
pub mod expiry;
pub mod license_list;
pub mod report;
pub mod server;
pub mod startup;
pub mod state_dir;
pub mod triad_link;

/// The key material a publisher builds into its vendor daemon.
pub use grammar::publisher::DaemonKeys;
