//! What lmgrd and the vendor daemons need from the machine they serve on,
//! kept in one place so that neither daemon crate depends on the other.
//!
//! - [`state_dir`]: where daemons write (never the license directory), and
//!   exit status 78 for failures a restart would not cure.
//! - [`license_list`]: license file lists and directories, combined when
//!   their SERVER lines agree.
//! - [`conn_guard`]: what keeps one client from taking a daemon's loop,
//!   memory or descriptors from the others: [`accept`] (never wedged by
//!   running out of descriptors), [`admission`] (connection limits),
//!   [`fairness`] (a share of each turn), [`deadlines`]; [`fd_limit`].
//! - [`admin_socket`]: the local admin socket, where the kernel tells who
//!   asks for an admin request (`SO_PEERCRED`), for the admin policy
//!   (`accounting::admin`).
//! - [`admin_tokens`]: admin tokens, proved over TCP without sending them.
//! - [`local_calendar`]: this machine's time zone for report-log summaries.

pub mod accept;
pub mod admin_socket;
pub mod admin_tokens;
pub mod admission;
pub mod conn_guard;
pub mod deadlines;
pub mod fairness;
pub mod fd_limit;
pub mod license_list;
pub mod local_calendar;
pub mod state_dir;
pub mod triad_key;
