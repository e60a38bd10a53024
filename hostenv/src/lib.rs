//! What lmgrd and the vendor daemons need from the machine they serve on,
//! kept in one place so that neither daemon crate depends on the other.
//!
//! - [`state_dir`]: where daemons write (never the license directory), and
//!   exit status 78 for failures a restart would not cure.
//! - [`license_list`]: license file lists and directories, combined when
//!   their SERVER lines agree.
//! - [`admin_socket`]: the local admin socket, where the kernel tells who
//!   asks for an admin request (`SO_PEERCRED`), for the admin policy
//!   (`accounting::admin`).
//! - [`admin_tokens`]: admin tokens, proved over TCP without sending them.

pub mod admin_socket;
pub mod admin_tokens;
pub mod license_list;
pub mod state_dir;
