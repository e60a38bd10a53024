//! What lmgrd and the vendor daemons need from the machine they serve on,
//! kept in one place so that neither daemon crate depends on the other.
//!
//! - [`state_dir`]: where daemons write (never the license directory), and
//!   exit status 78 for failures a restart would not cure.
//! - [`license_list`]: license file lists and directories, combined when
//!   their SERVER lines agree.
//! - [`peer`]: who is on the other end of a local connection, as the kernel
//!   sees it, for the admin policy (`accounting::admin`).
//! - [`local_calendar`]: this machine's time zone for report-log summaries.

pub mod license_list;
pub mod local_calendar;
pub mod peer;
pub mod state_dir;
