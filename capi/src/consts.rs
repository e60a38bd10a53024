//! The numbers applications pass: policies, checkout flags, dup-group
//! masks, attributes. Where FLEXlm's manuals or public tables give a value
//! it is used (checkout flags, dup masks, the heartbeat attributes); the
//! rest are ours, chosen once and kept stable (see docs/client-api.md).

use std::os::raw::c_int;

// --- Simple API policies: one base value, OR-ed with modifiers.

/// Every failure is returned to the caller; a lost server is reported at
/// once (through `lp_heartbeat`).
pub const LM_RESTRICTIVE: c_int = 0x1;
/// As restrictive, but a checkout waits until a license frees.
pub const LM_QUEUE: c_int = 0x2;
/// Nothing fails: errors become warnings (`lp_warning`).
pub const LM_FAILSAFE: c_int = 0x3;
/// Only "all licenses in use" fails; other errors become warnings.
pub const LM_LENIENT: c_int = 0x4;
/// The mask of the base policy.
pub const LM_POLICY_MASK: c_int = 0xff;
/// The application calls `lp_heartbeat` itself.
pub const LM_MANUAL_HEARTBEAT: c_int = 0x100;
/// The process exits with a message after 5 failed reconnect attempts.
pub const LM_RETRY_RESTRICTIVE: c_int = 0x200;
/// Check for a clock set back (accepted; see docs/compatibility.md).
pub const LM_CHECK_BADDATE: c_int = 0x400;
/// Licenses stay usable for a grace period after the server is lost
/// (`lp_set_grace_period`, 7 days unless set).
pub const LM_GRACE_PERIOD: c_int = 0x800;

// --- lc_checkout flags (FLEXlm's values).

/// Fail at once when no license is free.
pub const LM_CO_NOWAIT: c_int = 0;
/// Wait until a license is granted.
pub const LM_CO_WAIT: c_int = 1;
/// Join the queue and return LM_FEATQUEUE at once; poll with `lc_status`.
pub const LM_CO_QUEUE: c_int = 2;
/// Only the checks the license file allows; no server.
pub const LM_CO_LOCALTEST: c_int = 3;

// --- Dup-group masks (FLEXlm's values).

/// Everyone shares one license.
pub const LM_DUP_SITE: c_int = 0;
pub const LM_DUP_USER: c_int = 0x1;
pub const LM_DUP_HOST: c_int = 0x2;
pub const LM_DUP_DISP: c_int = 0x4;
pub const LM_DUP_VENDOR: c_int = 0x8;
/// Every process its own license.
pub const LM_DUP_NONE: c_int = 0x4000;

/// `lc_expire_days` of a permanent license.
pub const LM_FOREVER: c_int = 0x7fff_ffff;

// --- Attributes for lc_set_attr / lc_get_attr.

/// Seconds between heartbeats; -1: manual heartbeats (int).
pub const LM_A_CHECK_INTERVAL: c_int = 6;
/// Seconds between reconnect attempts (int).
pub const LM_A_RETRY_INTERVAL: c_int = 7;
/// Failed reconnect attempts before licenses are lost; -1: never (int).
pub const LM_A_RETRY_COUNT: c_int = 9;
/// Seconds a connect may take (int).
pub const LM_A_CONN_TIMEOUT: c_int = 10;
/// `int f(const char *feature)`: a license could not be kept.
pub const LM_A_USER_EXITCALL: c_int = 12;
/// `int f(const char *feature, int pass, int total, int interval)`:
/// before each reconnect attempt.
pub const LM_A_USER_RECONNECT: c_int = 13;
/// `int f(const char *feature, int tries, int total, int interval)`:
/// the reconnect succeeded.
pub const LM_A_USER_RECONNECT_DONE: c_int = 14;
/// The license path to use instead of the search (char *).
pub const LM_A_LICENSE_DEFAULT: c_int = 200;
/// Seconds the server waits for a vanished client (int; kept, see
/// docs/compatibility.md).
pub const LM_A_TCP_TIMEOUT: c_int = 201;
/// Text sent with checkouts (char *; kept, see docs/compatibility.md).
pub const LM_A_CHECKOUT_DATA: c_int = 202;
/// Seconds a license lingers after checkin (int; kept, see
/// docs/compatibility.md).
pub const LM_A_LINGER: c_int = 203;
/// Seconds held licenses stay usable after the server is lost (int;
/// 0: none).
pub const LM_A_GRACE_PERIOD: c_int = 300;
