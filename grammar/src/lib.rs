//! License files: grammar, typed model, license pools and signatures.
//!
//! This crate does no I/O beyond reading files, and has no clock: whatever
//! depends on the date takes "today" as an argument.
//!
//! - [`parse_license`] turns text into a [`LicenseFile`]: one typed entry per
//!   usable line, and a [`Diagnostic`] (file:line:column) for every problem.
//!   A bad line is skipped; the rest of the file is still used.
//! - [`signature`] says which bytes of a line are signed and checks them.
//! - [`pool`] builds the license pools a vendor daemon serves.
//! - [`check`] puts it all together for `lmgrd --check`.

extern crate alloc;

pub mod check;
pub mod checksum;
pub mod date;
pub mod diag;
pub mod hostid;
pub mod lookalike;
pub mod model;
pub mod options;
mod parse;
pub mod pool;
pub mod publisher;
pub mod sign_field;
pub mod signature;
pub mod small_str;
pub mod source;
pub mod version;

pub use date::{Date, Expiry};
pub use diag::{Diagnostic, Severity};
pub use hostid::{HostId, HostIdentity};
pub use model::*;
pub use parse::parse_license;
#[doc(hidden)]
pub use parse::parse_license_with;
pub use version::Version;

/// Reads and parses a license file from disk.
pub fn read_license(path: &std::path::Path) -> std::io::Result<LicenseFile> {
    let bytes = std::fs::read(path)?;
    // License files may carry 8-bit Latin text; never refuse a file for it.
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| b as char).collect());
    Ok(parse_license(&path.display().to_string(), &text))
}
