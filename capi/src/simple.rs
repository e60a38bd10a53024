//! FLEXlm's Simple API (`lp_*`, one handle per checkout, behaviour chosen
//! by a policy) and the hidden handle behind the Trivial API's macros
//! (`CHECKOUT`, `CHECKIN`, ... in lmclient.h).
//!
//! `lp_checkout` is a macro in the header that passes the publisher's keys
//! chosen at build time to [`lm_lp_checkout`].

use crate::conf::CONFIG;
use crate::consts::*;
use crate::flexible::{arg, print_with_context, publisher_from};
use crate::guard::{c_string, guard, guard_status, read_opt_str, read_str, write_out};
use crate::job::{lock, JobCore};
use client::{FailurePolicy, LmError};
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use wire::lmerr;

/// One checkout of the Simple API: its job, policy and feature. Opaque.
pub struct LP_HANDLE {
    /// `None` when the publisher's keys could not be read.
    core: Option<JobCore>,
    /// Why there is no job, and its text.
    key_error: Option<(LmError, CString)>,
    policy: c_int,
    feature: String,
}

/// Seconds of the grace period `LM_GRACE_PERIOD` gives: 7 days unless
/// `lp_set_grace_period` says otherwise.
static GRACE_SECONDS: AtomicI32 = AtomicI32::new(7 * 24 * 3600);

/// Sets the grace period of later checkouts with the `LM_GRACE_PERIOD`
/// modifier, in seconds (the publisher's choice, made in the application).
#[no_mangle]
pub extern "C" fn lp_set_grace_period(seconds: c_int) {
    GRACE_SECONDS.store(seconds.max(0), Ordering::SeqCst);
}

/// The failure policy a Simple API policy asks for.
pub(crate) fn failure_policy(policy: c_int) -> FailurePolicy {
    if policy & LM_GRACE_PERIOD != 0 {
        let secs = GRACE_SECONDS.load(Ordering::SeqCst).max(0).unsigned_abs();
        return FailurePolicy::Grace(Duration::from_secs(secs.into()));
    }
    if policy & LM_RETRY_RESTRICTIVE != 0 {
        return FailurePolicy::AfterRetries;
    }
    match policy & LM_POLICY_MASK {
        LM_FAILSAFE | LM_LENIENT => FailurePolicy::Lenient,
        _ => FailurePolicy::Restrictive,
    }
}

/// True for the errors that mean "all licenses are in use": the only
/// failures `LM_LENIENT` reports.
fn is_all_in_use(code: c_int) -> bool {
    matches!(
        code,
        lmerr::LM_MAXUSERS | lmerr::LM_USERSQUEUED | lmerr::LM_RESVFOROTHERS | lmerr::LM_MAXLIMIT
    )
}

/// Communication errors after which the Simple API tries a checkout once
/// more, as FLEXlm's does by default.
fn is_comm_error(code: c_int) -> bool {
    matches!(
        code,
        lmerr::LM_BADCOMM
            | lmerr::LM_CANTREAD
            | lmerr::LM_CANTWRITE
            | lmerr::LM_NOSERVRESP
            | lmerr::LM_HOSTDOWN
    )
}

/// What the policy makes of a checkout's result: the status returned, and
/// whether the error becomes a warning.
pub(crate) fn apply_policy(policy: c_int, code: c_int) -> (c_int, bool) {
    if code == 0 {
        return (0, false);
    }
    match policy & LM_POLICY_MASK {
        LM_FAILSAFE => (0, true),
        LM_LENIENT if !is_all_in_use(code) => (0, true),
        _ => (code, false),
    }
}

/// Checks `nlic` licenses of `feature` out under `policy`; called through
/// the `lp_checkout` macro. Always writes a handle to `*handle` (pass it
/// to `lp_checkin` even when the checkout failed); returns 0 or FLEXlm's
/// number (0 also when the policy turns the failure into a warning).
///
/// # Safety
/// `vendor`, `key`, `feature`, `version` are NUL-terminated strings;
/// `seal` and `license_path` null or NUL-terminated; `handle` writable.
#[no_mangle]
pub unsafe extern "C" fn lm_lp_checkout(
    vendor: *const c_char,
    key: *const c_char,
    seal: *const c_char,
    policy: c_int,
    feature: *const c_char,
    version: *const c_char,
    nlic: c_int,
    license_path: *const c_char,
    handle: *mut *mut LP_HANDLE,
) -> c_int {
    guard_status(|| {
        if handle.is_null() {
            return lmerr::LM_BADPARAM;
        }
        let mut lp = LP_HANDLE {
            core: None,
            key_error: None,
            policy,
            feature: String::new(),
        };
        let code = match publisher_from(vendor, key, seal) {
            Ok(p) => {
                let core = JobCore::new(p);
                // SAFETY: the strings follow the caller's contract.
                let code =
                    unsafe { first_checkout(&core, &mut lp, feature, version, nlic, license_path) };
                lp.core = Some(core);
                code
            }
            Err(e) => {
                let code = e.code;
                let text = c_string(e.long_form().trim_end());
                lp.key_error = Some((e, text));
                code
            }
        };
        // SAFETY: non-null, writable by the caller's contract.
        unsafe { write_out(handle, Box::into_raw(Box::new(lp))) };
        code
    })
}

/// Configures `core` for the policy and path, then checks out (retrying
/// once after a communication error).
///
/// # Safety
/// As [`lm_lp_checkout`].
unsafe fn first_checkout(
    core: &JobCore,
    lp: &mut LP_HANDLE,
    feature: *const c_char,
    version: *const c_char,
    nlic: c_int,
    license_path: *const c_char,
) -> c_int {
    // SAFETY: NUL-terminated or null, by the caller's contract.
    let args = (
        arg(feature, "feature name", |p| unsafe { read_str(p) }),
        arg(version, "version", |p| unsafe { read_str(p) }),
        arg(license_path, "license path", |p| {
            unsafe { read_opt_str(p) }.map(|s| s.unwrap_or(""))
        }),
    );
    let (feature, version, path) = match args {
        (Ok(f), Ok(v), Ok(p)) => (f, v, p),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return core.fail(e),
    };
    lp.feature = feature.to_string();
    let env = client::search::from_process_env(core.vendor());
    core.with_attrs(|_, c| {
        c.policy = failure_policy(lp.policy);
        c.license_path = match (path.is_empty(), env.is_default) {
            (true, _) => None,
            (false, true) => Some(path.to_string()),
            (false, false) => Some(format!("{env}{path}")),
        };
    });
    core.callbacks
        .exit_on_loss
        .store(lp.policy & LM_RETRY_RESTRICTIVE != 0, Ordering::SeqCst);
    let Ok(count) = u32::try_from(nlic) else {
        return core.fail(crate::job::bad_param(format!(
            "{nlic} licenses cannot be asked for"
        )));
    };
    let flag = if lp.policy & LM_POLICY_MASK == LM_QUEUE {
        LM_CO_WAIT
    } else {
        LM_CO_NOWAIT
    };
    let mut code = core.checkout(feature, version, count, flag, LM_DUP_NONE);
    if is_comm_error(code) {
        code = core.checkout(feature, version, count, flag, LM_DUP_NONE);
    }
    let (status, warn) = apply_policy(lp.policy, code);
    if warn {
        core.set_warning(Some(unsafe_text(core.errstring())));
    }
    status
}

/// Copies a string this library made.
fn unsafe_text(p: *const c_char) -> String {
    // SAFETY: the library's own NUL-terminated string, alive just now.
    unsafe { read_opt_str(p) }
        .ok()
        .flatten()
        .unwrap_or("")
        .to_string()
}

/// Releases the license(s) of `h` and frees it. Null is ignored.
///
/// # Safety
/// `h` is null or a handle from `lp_checkout` not checked in yet; no other
/// call on it may run or follow.
#[no_mangle]
pub unsafe extern "C" fn lp_checkin(h: *mut LP_HANDLE) {
    guard((), || {
        if !h.is_null() {
            // SAFETY: made by Box::into_raw in lm_lp_checkout, freed once.
            let lp = unsafe { Box::from_raw(h) };
            if let Some(core) = &lp.core {
                core.checkin(None);
            }
        }
    })
}

/// The last error of `h` as FLEXlm prints it (several lines). Owned by
/// the handle: valid until the next `lp_errstring` on it or `lp_checkin`.
///
/// # Safety
/// `h` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lp_errstring(h: *mut LP_HANDLE) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        match unsafe { h.as_ref() } {
            None => c"Invalid parameter: no license handle".as_ptr(),
            Some(LP_HANDLE {
                key_error: Some((_, text)),
                ..
            }) => text.as_ptr(),
            Some(LP_HANDLE {
                core: Some(core), ..
            }) => core.errstring(),
            Some(_) => c"".as_ptr(),
        }
    })
}

/// Prints `context`, a colon and the last error of `h` on standard error.
///
/// # Safety
/// `h` is null or a live handle; `context` null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lp_perror(h: *mut LP_HANDLE, context: *const c_char) {
    // SAFETY: forwarded contract.
    unsafe { print_with_context(context, lp_errstring(h)) }
}

/// The last warning of `h` (a failure `LM_FAILSAFE` or `LM_LENIENT` did
/// not report, or "in grace until ..."), or null when there is none.
/// Owned by the handle, as `lp_errstring`'s.
///
/// # Safety
/// `h` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lp_warning(h: *mut LP_HANDLE) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        match unsafe { h.as_ref() }.and_then(|lp| lp.core.as_ref()) {
            Some(core) => core.warnstring(),
            None => std::ptr::null(),
        }
    })
}

/// Prints `context` and the last warning of `h`; nothing if there is none.
///
/// # Safety
/// As [`lp_perror`].
#[no_mangle]
pub unsafe extern "C" fn lp_pwarn(h: *mut LP_HANDLE, context: *const c_char) {
    // SAFETY: forwarded contract.
    unsafe {
        let w = lp_warning(h);
        if !w.is_null() {
            print_with_context(context, w);
        }
    }
}

/// Sends a heartbeat now; returns 0 while the server is reachable, else
/// the reconnect attempts that failed so far, and writes to
/// `*num_reconnects` the reconnects that succeeded within the last
/// `num_minutes` minutes. With `LM_RETRY_RESTRICTIVE`, 5 failures end the
/// process with a message. A grace period shows in `lp_warning`.
///
/// # Safety
/// `h` is null or a live handle; `num_reconnects` null or writable.
#[no_mangle]
pub unsafe extern "C" fn lp_heartbeat(
    h: *mut LP_HANDLE,
    num_reconnects: *mut c_int,
    num_minutes: c_int,
) -> c_int {
    guard_status(|| {
        // SAFETY: null or live.
        let Some(lp) = (unsafe { h.as_ref() }) else {
            return lmerr::LM_BADPARAM;
        };
        let Some(core) = &lp.core else {
            return lp
                .key_error
                .as_ref()
                .map_or(lmerr::LM_BADPARAM, |(e, _)| e.code);
        };
        let (failed, reconnects) = core.heartbeat(num_minutes);
        // SAFETY: null or writable.
        unsafe { write_out(num_reconnects, reconnects) };
        if lp.policy & LM_RETRY_RESTRICTIVE != 0 && failed >= 5 {
            eprintln!(
                "Lost license for {}, cannot reconnect: {}",
                lp.feature,
                unsafe_text(core.errstring())
            );
            std::process::exit(1);
        }
        failed
    })
}

/// The record of the license `h` holds (read it with `lm_conf_*` and
/// `lp_expire_days`), or null. Owned by the handle until `lp_checkin`.
///
/// # Safety
/// `h` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lp_auth_data(h: *mut LP_HANDLE) -> *const CONFIG {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        match unsafe { h.as_ref() } {
            Some(LP_HANDLE {
                core: Some(core),
                feature,
                ..
            }) => core.auth_data(feature),
            _ => std::ptr::null(),
        }
    })
}

/// Days until the license `h` holds expires, as `lc_expire_days` counts.
///
/// # Safety
/// `h` is null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn lp_expire_days(h: *mut LP_HANDLE) -> c_int {
    guard_status(|| {
        // SAFETY: forwarded contract.
        let conf = unsafe { lp_auth_data(h) };
        // SAFETY: null or owned by the live handle.
        match unsafe { conf.as_ref() } {
            Some(c) => crate::flexible::expire_days_code(c.expire_days),
            None => lmerr::LM_BADPARAM,
        }
    })
}

/// The Trivial API's handle: one per process, as FLEXlm's.
static TRIVIAL: Mutex<TrivialHandle> = Mutex::new(TrivialHandle(std::ptr::null_mut()));

/// The process's Trivial API handle (null when none).
struct TrivialHandle(*mut LP_HANDLE);

// SAFETY: the handle is only used under the TRIVIAL lock, and everything
// in an LP_HANDLE may move between threads.
unsafe impl Send for TrivialHandle {}

/// `CHECKOUT(policy, feature, version, path)`: checks one license out on
/// the process's handle (checking in what it held before).
///
/// # Safety
/// As [`lm_lp_checkout`].
#[no_mangle]
pub unsafe extern "C" fn lm_trivial_checkout(
    vendor: *const c_char,
    key: *const c_char,
    seal: *const c_char,
    policy: c_int,
    feature: *const c_char,
    version: *const c_char,
    license_path: *const c_char,
) -> c_int {
    guard_status(|| {
        let mut t = lock(&TRIVIAL);
        // SAFETY: the previous handle is ours and live.
        unsafe { lp_checkin(std::mem::replace(&mut t.0, std::ptr::null_mut())) };
        // SAFETY: forwarded contract; t.0 is writable.
        unsafe {
            lm_lp_checkout(
                vendor,
                key,
                seal,
                policy,
                feature,
                version,
                1,
                license_path,
                &mut t.0,
            )
        }
    })
}

/// Runs `f` on the process's Trivial API handle under its lock.
fn with_trivial<T>(f: impl FnOnce(*mut LP_HANDLE) -> T) -> T {
    f(lock(&TRIVIAL).0)
}

/// `CHECKIN()`: releases the license and frees the handle.
#[no_mangle]
pub extern "C" fn lm_trivial_checkin() {
    guard((), || {
        let mut t = lock(&TRIVIAL);
        // SAFETY: ours and live, or null.
        unsafe { lp_checkin(std::mem::replace(&mut t.0, std::ptr::null_mut())) };
    })
}

/// `ERRSTRING()`: valid until the next Trivial API call.
#[no_mangle]
pub extern "C" fn lm_trivial_errstring() -> *const c_char {
    // SAFETY: ours and live, or null.
    with_trivial(|h| unsafe { lp_errstring(h) })
}

/// `PERROR(context)`.
///
/// # Safety
/// `context` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lm_trivial_perror(context: *const c_char) {
    // SAFETY: ours and live, or null; context per contract.
    with_trivial(|h| unsafe { lp_perror(h, context) })
}

/// `WARNING()`: valid until the next Trivial API call; null if none.
#[no_mangle]
pub extern "C" fn lm_trivial_warning() -> *const c_char {
    // SAFETY: ours and live, or null.
    with_trivial(|h| unsafe { lp_warning(h) })
}

/// `PWARN(context)`.
///
/// # Safety
/// `context` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lm_trivial_pwarn(context: *const c_char) {
    // SAFETY: ours and live, or null; context per contract.
    with_trivial(|h| unsafe { lp_pwarn(h, context) })
}

/// `HEARTBEAT()`: 0, or the failed reconnect attempts.
#[no_mangle]
pub extern "C" fn lm_trivial_heartbeat() -> c_int {
    // SAFETY: ours and live, or null.
    with_trivial(|h| unsafe { lp_heartbeat(h, std::ptr::null_mut(), 0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_turn_failures_into_warnings_as_flexlm_says() {
        let maxusers = lmerr::LM_MAXUSERS;
        let down = lmerr::LM_CANTCONNECT;
        assert_eq!(apply_policy(LM_RESTRICTIVE, down), (down, false));
        assert_eq!(
            apply_policy(LM_QUEUE | LM_MANUAL_HEARTBEAT, down),
            (down, false)
        );
        assert_eq!(apply_policy(LM_FAILSAFE, maxusers), (0, true));
        assert_eq!(apply_policy(LM_LENIENT, down), (0, true));
        assert_eq!(apply_policy(LM_LENIENT, maxusers), (maxusers, false));
        assert_eq!(apply_policy(LM_RESTRICTIVE, 0), (0, false));
    }

    #[test]
    fn policies_choose_what_a_lost_server_does() {
        assert_eq!(failure_policy(LM_RESTRICTIVE), FailurePolicy::Restrictive);
        assert_eq!(failure_policy(LM_LENIENT), FailurePolicy::Lenient);
        assert_eq!(failure_policy(LM_FAILSAFE), FailurePolicy::Lenient);
        assert_eq!(
            failure_policy(LM_RESTRICTIVE | LM_RETRY_RESTRICTIVE),
            FailurePolicy::AfterRetries
        );
        assert!(matches!(
            failure_policy(LM_RESTRICTIVE | LM_GRACE_PERIOD),
            FailurePolicy::Grace(_)
        ));
    }

    #[test]
    fn no_panic_crosses_and_null_is_refused() {
        // SAFETY: null handles are part of the contract.
        unsafe {
            assert_eq!(
                lp_heartbeat(std::ptr::null_mut(), std::ptr::null_mut(), 0),
                -42
            );
            assert!(lp_warning(std::ptr::null_mut()).is_null());
            lp_checkin(std::ptr::null_mut());
        }
        let code = lm_lp_checkout_with_no_key();
        assert_eq!(code, lmerr::LM_NOKEYDATA);
    }

    fn lm_lp_checkout_with_no_key() -> c_int {
        let mut h: *mut LP_HANDLE = std::ptr::null_mut();
        // SAFETY: string literals and a writable handle.
        let code = unsafe {
            lm_lp_checkout(
                c"demo".as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                LM_RESTRICTIVE,
                c"f1".as_ptr(),
                c"1.0".as_ptr(),
                1,
                std::ptr::null(),
                &mut h,
            )
        };
        assert!(!h.is_null(), "a handle even on failure");
        // SAFETY: the handle just made.
        let text = unsafe_text(unsafe { lp_errstring(h) });
        assert!(text.starts_with("No publisher key data."), "{text}");
        // SAFETY: as above.
        unsafe { lp_checkin(h) };
        code
    }
}
