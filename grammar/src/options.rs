//! The options file: the administrator's say in who may use which licenses.
//!
//! A site buys 20 seats for 200 engineers; the options file shares them out.
//! It lists who may (INCLUDE) or may not (EXCLUDE) check out a feature,
//! sets licenses aside for a person or team (RESERVE), caps a team's use
//! (MAX), reclaims licenses from idle clients (TIMEOUT), keeps licenses a
//! while after check-in (LINGER), limits borrowing, and names the daemon's
//! log files.
//!
//! The module has two halves, both pure:
//!
//! - Parsing: [`Options::parse`] reads the text (one statement per logical
//!   line, `\` continues a line, `#` starts a comment line) into a typed
//!   [`Statement`] per usable line. A line that cannot be understood gets a
//!   [`Diagnostic`](crate::Diagnostic) at file:line:column saying what was
//!   expected and what was found, and is left out; the rest of the file is
//!   used.
//! - Evaluation: the same call compiles the statements into an [`Options`]
//!   value the vendor daemon asks, on every checkout, whether a [`Client`]
//!   may have a license described by a [`FeatureCtx`] ([`Options::access`]),
//!   which reservations and caps apply ([`Options::reservations`],
//!   [`Options::check_max`]), and which timeouts and limits hold
//!   ([`Options::timeout`], [`Options::linger`]...). Evaluation reads no
//!   file, clock or socket, and allocates nothing.
//!
//! Keywords, types and fixed words are case-insensitive. User, display and
//! project names are compared exactly; GROUPCASEINSENSITIVE ON makes the
//! members of GROUP lists compare without case. Host names never depend on
//! case, because DNS names do not.
//!
//! `docs/options-file.md` describes the file for administrators.

mod matching;
mod model;
mod parse;
mod policy;

pub use matching::{Client, FeatureCtx};
pub use model::*;
pub use policy::{
    Denial, MaxId, MaxRule, Options, Reservation, ReservationId, LM_FEATEXCLUDE, LM_FEATNOTINCLUDE,
    LM_MAXLIMIT, LM_RESVFOROTHERS,
};
