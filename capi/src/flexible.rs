//! FLEXlm's FLEXible API: `lc_*` calls on an opaque job.
//!
//! `lc_new_job` is a macro in the header that passes the publisher's keys
//! chosen at build time to [`lm_lc_new_job`]; everything else has FLEXlm's
//! name and arguments.

use crate::conf::CONFIG;
use crate::consts::*;
use crate::guard::{guard, guard_status, read_opt_str, read_str, write_out, StrError};
use crate::job::{bad_param, lock, policy_of, JobCore, LmExitFn, LmReconnectFn};
use client::{LmError, Publisher, Step};
use std::ffi::c_void;
use std::os::raw::{c_char, c_int};
use std::time::Duration;
use wire::lmerr;

/// An opaque licensing job: its attributes, its licenses, its last error
/// and one connection per license server.
pub struct LM_HANDLE {
    pub(crate) core: JobCore,
}

/// The vendor-code record FLEXlm applications declare and hand to
/// `lc_new_job` and `lc_checkout`. Ours carries no secret (the keys come
/// from the build, see `lmclient.h`); `lc_new_job` marks it so that
/// `lc_checkout` can tell a record it filled from one it did not.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VENDORCODE {
    pub opaque: [u64; 4],
}

/// What `lc_new_job` writes into the first word of a `VENDORCODE`.
const VENDORCODE_MARK: u64 = 0x6c6d_636c_6965_6e74;

/// The value of an attribute, as `lc_set_attr` takes it: an integer, a
/// string or a function, cast to a pointer.
pub type LM_A_VAL_TYPE = *mut c_void;

/// The publisher's keys, from the PEM text the application was built with.
pub(crate) fn publisher_from(
    vendor: *const c_char,
    key: *const c_char,
    seal: *const c_char,
) -> Result<Publisher, LmError> {
    let keydata = |detail: String| LmError::new(lmerr::LM_BADKEYDATA, 0, Step::Search, detail);
    // SAFETY: the header passes string literals (or null for the seal).
    let (vendor, key, seal) = unsafe { (read_str(vendor), read_str(key), read_opt_str(seal)) };
    let vendor = vendor.map_err(|_| keydata("no vendor name was built in".into()))?;
    let key = match key {
        Ok(k) => k,
        Err(_) => {
            return Err(LmError::new(
                lmerr::LM_NOKEYDATA,
                0,
                Step::Search,
                "no publisher key was built in",
            ))
        }
    };
    let seal = seal.map_err(|_| keydata("the seal key is not text".into()))?;
    Publisher::from_pem(vendor, key, seal).map_err(|e| keydata(e.to_string()))
}

/// Creates a job for the publisher whose keys the application was built
/// with; called through the `lc_new_job` macro. Writes the job to `*job`
/// (null on failure) and marks `*code`. Returns 0 or FLEXlm's number
/// (LM_NOKEYDATA, LM_BADKEYDATA).
///
/// # Safety
/// `vendor`, `key` are NUL-terminated strings; `seal` is null or one;
/// `code` and `job` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn lm_lc_new_job(
    vendor: *const c_char,
    key: *const c_char,
    seal: *const c_char,
    prevjob: *mut LM_HANDLE,
    code: *mut VENDORCODE,
    job: *mut *mut LM_HANDLE,
) -> c_int {
    // Jobs are independent; FLEXlm's job list is not kept.
    let _ = prevjob;
    guard_status(|| {
        // SAFETY: null or writable, by the caller's contract.
        unsafe { write_out(job, std::ptr::null_mut()) };
        match publisher_from(vendor, key, seal) {
            Ok(publisher) => {
                let handle = Box::new(LM_HANDLE {
                    core: JobCore::new(publisher),
                });
                let mark = VENDORCODE {
                    opaque: [VENDORCODE_MARK, 0, 0, 0],
                };
                // SAFETY: as above.
                unsafe {
                    write_out(code, mark);
                    write_out(job, Box::into_raw(handle));
                }
                0
            }
            Err(e) => e.code,
        }
    })
}

/// Frees a job made by `lc_new_job`, checking in what it still holds.
/// Null is ignored.
///
/// # Safety
/// `job` is null or a job from `lc_new_job` not freed yet; no other call
/// on it may run or follow.
#[no_mangle]
pub unsafe extern "C" fn lc_free_job(job: *mut LM_HANDLE) {
    guard((), || {
        if !job.is_null() {
            // SAFETY: made by Box::into_raw in lm_lc_new_job, freed once.
            drop(unsafe { Box::from_raw(job) });
        }
    })
}

/// Runs `f` on a live job; LM_BADPARAM for null. Every `extern "C"`
/// function that calls it requires `job` to be null or a live job.
fn with_job(job: *mut LM_HANDLE, f: impl FnOnce(&JobCore) -> c_int) -> c_int {
    guard_status(|| {
        // SAFETY: null or live, by the caller's contract.
        match unsafe { job.as_ref() } {
            Some(j) => f(&j.core),
            None => lmerr::LM_BADPARAM,
        }
    })
}

/// The text of a string argument, or the error to record.
pub(crate) fn arg<'a>(
    p: *const c_char,
    what: &str,
    read: impl FnOnce(*const c_char) -> Result<&'a str, StrError>,
) -> Result<&'a str, LmError> {
    read(p).map_err(|e| match e {
        StrError::Null => bad_param(format!("the {what} is missing (null)")),
        StrError::NotUtf8 => bad_param(format!("the {what} is not UTF-8 text")),
    })
}

/// Checks `nlic` licenses of `feature` (version `version` or later) out.
/// `flag`: `LM_CO_NOWAIT`, `LM_CO_WAIT`, `LM_CO_QUEUE` (returns
/// LM_FEATQUEUE at once; poll with `lc_status`) or `LM_CO_LOCALTEST`.
/// `dup_group`: an OR of `LM_DUP_*`. Returns 0 or FLEXlm's number.
///
/// # Safety
/// `job` is a live job; `feature`, `version` NUL-terminated strings;
/// `key` null or the record `lc_new_job` filled.
#[no_mangle]
pub unsafe extern "C" fn lc_checkout(
    job: *mut LM_HANDLE,
    feature: *const c_char,
    version: *const c_char,
    nlic: c_int,
    flag: c_int,
    key: *const VENDORCODE,
    dup_group: c_int,
) -> c_int {
    with_job(job, |core| {
        // SAFETY: null or a record the application holds.
        if let Some(k) = unsafe { key.as_ref() } {
            if k.opaque[0] != VENDORCODE_MARK {
                return core.fail(LmError::new(
                    lmerr::LM_BADVENDORDATA,
                    0,
                    Step::Search,
                    "the VENDORCODE was not filled by lc_new_job",
                ));
            }
        }
        // SAFETY: NUL-terminated by the caller's contract.
        let feature = arg(feature, "feature name", |p| unsafe { read_str(p) });
        // SAFETY: as above.
        let version = arg(version, "version", |p| unsafe { read_str(p) });
        let (feature, version) = match (feature, version) {
            (Ok(f), Ok(v)) => (f, v),
            (Err(e), _) | (_, Err(e)) => return core.fail(e),
        };
        let Ok(count) = u32::try_from(nlic) else {
            return core.fail(bad_param(format!("{nlic} licenses cannot be asked for")));
        };
        if flag == LM_CO_LOCALTEST {
            return core.local_test(feature, version, count);
        }
        core.checkout(feature, version, count, flag, dup_group)
    })
}

/// Checks in `feature` (every feature of the job with null, which is what
/// `LM_CI_ALL_FEATURES` is). `keep_conn` is accepted and ignored: a
/// connection that holds nothing is closed. Returns 0 or FLEXlm's number.
///
/// # Safety
/// `job` is a live job; `feature` null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lc_checkin(
    job: *mut LM_HANDLE,
    feature: *const c_char,
    keep_conn: c_int,
) -> c_int {
    let _ = keep_conn;
    with_job(job, |core| {
        // SAFETY: null or NUL-terminated.
        match arg(feature, "feature name", |p| {
            unsafe { read_opt_str(p) }.map(|s| s.unwrap_or("\0"))
        }) {
            Ok("\0") => core.checkin(None),
            Ok(f) => core.checkin(Some(f)),
            Err(e) => core.fail(e),
        }
    })
}

/// 0 while `feature` is held; LM_FEATQUEUE (-35) while it waits in the
/// queue; LM_NEVERCHECKOUT (-41) if this job never asked for it; the
/// reason it was lost otherwise (LM_CANTCONNECT after the server could
/// not be reached again).
///
/// # Safety
/// `job` is a live job; `feature` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lc_status(job: *mut LM_HANDLE, feature: *const c_char) -> c_int {
    with_job(job, |core| {
        // SAFETY: NUL-terminated.
        match arg(feature, "feature name", |p| unsafe { read_str(p) }) {
            Ok(f) => core.status(f),
            Err(e) => core.fail(e),
        }
    })
}

/// Tells the servers whether the user is idle (non-zero) or active, for
/// the options file's TIMEOUT.
///
/// # Safety
/// `job` is a live job.
#[no_mangle]
pub unsafe extern "C" fn lc_idle(job: *mut LM_HANDLE, flag: c_int) {
    with_job(job, |core| {
        core.set_idle(flag != 0);
        0
    });
}

/// Sends a heartbeat now. Returns 0 while the servers are reachable,
/// otherwise the reconnect attempts that failed so far (licenses may be
/// lost: see `lc_status`; a grace period shows in `lc_errstring`).
/// Writes to `*num_reconnects` the reconnects that succeeded within the
/// last `num_minutes` minutes.
///
/// # Safety
/// `job` is a live job; `num_reconnects` null or writable.
#[no_mangle]
pub unsafe extern "C" fn lc_heartbeat(
    job: *mut LM_HANDLE,
    num_reconnects: *mut c_int,
    num_minutes: c_int,
) -> c_int {
    with_job(job, |core| {
        let (failed, reconnects) = core.heartbeat(num_minutes);
        // SAFETY: null or writable.
        unsafe { write_out(num_reconnects, reconnects) };
        failed
    })
}

/// FLEXlm's number for the job's last error (0 if none).
///
/// # Safety
/// `job` is null or a live job.
#[no_mangle]
pub unsafe extern "C" fn lc_get_errno(job: *mut LM_HANDLE) -> c_int {
    with_job(job, JobCore::errno)
}

/// The job's last error as FLEXlm prints it: the text, the feature, the
/// license path and `FlexNet Licensing error:-4,342`, one per line
/// (empty if none). Owned by the job; valid until the next `lc_errstring`
/// on it or `lc_free_job`.
///
/// # Safety
/// `job` is null or a live job.
#[no_mangle]
pub unsafe extern "C" fn lc_errstring(job: *mut LM_HANDLE) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        match unsafe { job.as_ref() } {
            Some(j) => j.core.errstring(),
            None => c"Invalid parameter: no license job".as_ptr(),
        }
    })
}

/// The job's last warning, or null when there is none: "in grace until
/// <date and time>" (set by `lc_heartbeat`) while the server is lost and
/// a grace period (`LM_A_GRACE_PERIOD`) keeps the licenses. Ours; FLEXlm's
/// FLEXible API has no warnings. Owned by the job, as `lc_errstring`'s.
///
/// # Safety
/// `job` is null or a live job.
#[no_mangle]
pub unsafe extern "C" fn lc_warning(job: *mut LM_HANDLE) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        match unsafe { job.as_ref() } {
            Some(j) => j.core.warnstring(),
            None => std::ptr::null(),
        }
    })
}

/// Prints `context`, a colon and the job's last error on standard error.
///
/// # Safety
/// `job` is null or a live job; `context` null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lc_perror(job: *mut LM_HANDLE, context: *const c_char) {
    // SAFETY: forwarded contract.
    unsafe { print_with_context(context, lc_errstring(job)) }
}

/// Prints `context: text` on standard error.
///
/// # Safety
/// Both are null or NUL-terminated strings.
pub(crate) unsafe fn print_with_context(context: *const c_char, text: *const c_char) {
    guard((), || {
        // SAFETY: null or NUL-terminated.
        let context = unsafe { read_opt_str(context) }
            .ok()
            .flatten()
            .unwrap_or("");
        // SAFETY: as above.
        let text = unsafe { read_opt_str(text) }.ok().flatten().unwrap_or("");
        if context.is_empty() {
            eprintln!("{text}");
        } else {
            eprintln!("{context}: {text}");
        }
    })
}

/// Sets an attribute (`LM_A_*`; see lmclient.h for each one's type).
/// The license path and timing attributes must be set before the job's
/// first checkout. Returns 0, LM_NOSUCHATTR or LM_BADPARAM.
///
/// # Safety
/// `job` is a live job; `value` is what the attribute's type says (an
/// integer cast to a pointer, a NUL-terminated string, or a function).
#[no_mangle]
pub unsafe extern "C" fn lc_set_attr(
    job: *mut LM_HANDLE,
    attr: c_int,
    value: LM_A_VAL_TYPE,
) -> c_int {
    with_job(job, |core| set_attr(core, attr, value))
}

/// An integer attribute's value: the pointer's bits (that is how FLEXlm
/// applications pass integers to `lc_set_attr`).
fn int_of(value: LM_A_VAL_TYPE) -> c_int {
    value as isize as c_int
}

fn set_attr(core: &JobCore, attr: c_int, value: LM_A_VAL_TYPE) -> c_int {
    let fixed_after_start = matches!(
        attr,
        LM_A_LICENSE_DEFAULT
            | LM_A_CHECK_INTERVAL
            | LM_A_RETRY_INTERVAL
            | LM_A_RETRY_COUNT
            | LM_A_CONN_TIMEOUT
            | LM_A_GRACE_PERIOD
    );
    if fixed_after_start && core.started() {
        return core.fail(bad_param(format!(
            "attribute {attr} must be set before the job's first checkout"
        )));
    }
    let n = int_of(value);
    let secs = |n: c_int| Duration::from_secs(n.max(1).unsigned_abs().into());
    match attr {
        LM_A_USER_RECONNECT | LM_A_USER_RECONNECT_DONE => {
            // SAFETY: the application passes a function of this type, or null.
            let f: LmReconnectFn =
                unsafe { std::mem::transmute::<LM_A_VAL_TYPE, LmReconnectFn>(value) };
            let mut fns = lock(&core.callbacks.fns);
            if attr == LM_A_USER_RECONNECT {
                fns.reconnect = f;
            } else {
                fns.reconnect_done = f;
            }
            return 0;
        }
        LM_A_USER_EXITCALL => {
            // SAFETY: as above.
            let f: LmExitFn = unsafe { std::mem::transmute::<LM_A_VAL_TYPE, LmExitFn>(value) };
            lock(&core.callbacks.fns).exitcall = f;
            return 0;
        }
        _ => {}
    }
    let text = || {
        // SAFETY: a string attribute is a NUL-terminated string or null.
        unsafe { read_opt_str(value as *const c_char) }
            .map(|s| s.unwrap_or(""))
            .map_err(|_| bad_param(format!("attribute {attr} is not UTF-8 text")))
    };
    let vendor_path = |arg: &str| {
        let env = client::search::from_process_env(&vendor_of(core));
        match (env.is_default, arg.is_empty()) {
            (_, true) => None,
            (true, false) => Some(arg.to_string()),
            (false, false) => Some(format!("{env}{arg}")),
        }
    };
    let result = match attr {
        LM_A_LICENSE_DEFAULT => text().map(|t| {
            let path = vendor_path(t);
            core.with_attrs(|a, c| {
                a.license_default = crate::guard::c_string(t);
                c.license_path = path;
            });
        }),
        LM_A_CHECKOUT_DATA => text().map(|t| {
            core.with_attrs(|a, _| a.checkout_data = crate::guard::c_string(t));
        }),
        LM_A_CHECK_INTERVAL => {
            core.with_attrs(|a, _| a.check_interval = n);
            Ok(())
        }
        LM_A_RETRY_INTERVAL => {
            core.with_attrs(|a, c| {
                a.retry_interval = n;
                c.retry_initial = secs(n);
                c.retry_max = secs(n);
            });
            lock(&core.callbacks.fns).interval = n;
            Ok(())
        }
        LM_A_RETRY_COUNT => {
            core.with_attrs(|a, c| {
                a.retry_count = n;
                c.retry_count = n.max(0).unsigned_abs();
                c.policy = policy_of(a);
            });
            lock(&core.callbacks.fns).total = n;
            Ok(())
        }
        LM_A_CONN_TIMEOUT => {
            core.with_attrs(|a, c| {
                a.conn_timeout = n;
                c.connect_timeout = secs(n);
            });
            Ok(())
        }
        LM_A_GRACE_PERIOD => {
            core.with_attrs(|a, c| {
                a.grace = n.max(0);
                c.policy = policy_of(a);
            });
            Ok(())
        }
        LM_A_TCP_TIMEOUT => {
            core.with_attrs(|a, _| a.tcp_timeout = n);
            Ok(())
        }
        LM_A_LINGER => {
            core.with_attrs(|a, _| a.linger = n.max(0));
            Ok(())
        }
        _ => Err(LmError::new(
            lmerr::LM_NOSUCHATTR,
            0,
            Step::Search,
            format!("attribute {attr} is not known"),
        )),
    };
    match result {
        Ok(()) => 0,
        Err(e) => core.fail(e),
    }
}

fn vendor_of(core: &JobCore) -> String {
    core.vendor().to_string()
}

/// Reads an attribute into `*value`: an `int` for integer attributes, a
/// `const char *` (owned by the job, valid until the attribute is set
/// again or the job freed) for string ones, the function for callbacks.
/// Returns 0, LM_NOSUCHATTR or LM_BADPARAM (null `value`).
///
/// # Safety
/// `job` is a live job; `value` is null or points to writable storage of
/// the attribute's type.
#[no_mangle]
pub unsafe extern "C" fn lc_get_attr(
    job: *mut LM_HANDLE,
    attr: c_int,
    value: *mut c_void,
) -> c_int {
    with_job(job, |core| {
        if value.is_null() {
            return core.fail(bad_param("lc_get_attr needs somewhere to write"));
        }
        let fns = *lock(&core.callbacks.fns);
        let int = |n: c_int| {
            // SAFETY: an int attribute's storage is an int.
            unsafe { (value as *mut c_int).write(n) };
            0
        };
        let text = |s: *const c_char| {
            // SAFETY: a string attribute's storage is a const char *.
            unsafe { (value as *mut *const c_char).write(s) };
            0
        };
        let attrs = core.with_attrs(|a, _| a.clone());
        match attr {
            LM_A_CHECK_INTERVAL => int(attrs.check_interval),
            LM_A_RETRY_INTERVAL => int(attrs.retry_interval),
            LM_A_RETRY_COUNT => int(attrs.retry_count),
            LM_A_CONN_TIMEOUT => int(attrs.conn_timeout),
            LM_A_TCP_TIMEOUT => int(attrs.tcp_timeout),
            LM_A_LINGER => int(attrs.linger),
            LM_A_GRACE_PERIOD => int(attrs.grace),
            LM_A_LICENSE_DEFAULT => text(core.with_attrs(|a, _| a.license_default.as_ptr())),
            LM_A_CHECKOUT_DATA => text(core.with_attrs(|a, _| a.checkout_data.as_ptr())),
            LM_A_USER_RECONNECT | LM_A_USER_RECONNECT_DONE => {
                let f = if attr == LM_A_USER_RECONNECT {
                    fns.reconnect
                } else {
                    fns.reconnect_done
                };
                // SAFETY: a callback attribute's storage is its function pointer.
                unsafe { (value as *mut LmReconnectFn).write(f) };
                0
            }
            LM_A_USER_EXITCALL => {
                // SAFETY: as above.
                unsafe { (value as *mut LmExitFn).write(fns.exitcall) };
                0
            }
            _ => core.fail(LmError::new(
                lmerr::LM_NOSUCHATTR,
                0,
                Step::Search,
                format!("attribute {attr} is not known"),
            )),
        }
    })
}

/// The record of a feature this job holds (VENDOR_STRING, NOTICE, ISSUER,
/// SN, expiry: read it with the `lm_conf_*` functions), or null with
/// LM_NOFEATURE. Owned by the job until that feature is checked in or the
/// job freed.
///
/// # Safety
/// `job` is a live job; `feature` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lc_auth_data(
    job: *mut LM_HANDLE,
    feature: *const c_char,
) -> *const CONFIG {
    guard(std::ptr::null(), || {
        // SAFETY: null or live.
        let Some(j) = (unsafe { job.as_ref() }) else {
            return std::ptr::null();
        };
        // SAFETY: NUL-terminated.
        match arg(feature, "feature name", |p| unsafe { read_str(p) }) {
            Ok(f) => j.core.auth_data(f),
            Err(e) => {
                j.core.fail(e);
                std::ptr::null()
            }
        }
    })
}

/// Days until the license of `conf` expires: `LM_FOREVER` for a permanent
/// one, 0 when it expires tonight, LM_LONGGONE (-10) once expired,
/// LM_BADPARAM (-42) for a record this job does not hold.
///
/// # Safety
/// `job` is a live job; `conf` null or a record from `lc_auth_data`.
#[no_mangle]
pub unsafe extern "C" fn lc_expire_days(job: *mut LM_HANDLE, conf: *const CONFIG) -> c_int {
    with_job(job, |core| {
        if conf.is_null() || !core.owns(conf) {
            return core.fail(bad_param("lc_expire_days needs a record of this job"));
        }
        // SAFETY: the job owns it, so it is alive.
        expire_days_code(unsafe { &*conf }.expire_days)
    })
}

/// `lc_expire_days`'s answer for a number of days left.
pub(crate) fn expire_days_code(days: Option<i64>) -> c_int {
    match days {
        None => LM_FOREVER,
        Some(d) if d < 0 => lmerr::LM_LONGGONE,
        Some(d) => c_int::try_from(d).unwrap_or(LM_FOREVER - 1),
    }
}

/// FLEXlm's text for an error number, for numbers a job did not produce
/// (`Unknown error` for a number FLEXlm does not define). The string is
/// static: never freed, never changed.
#[no_mangle]
pub extern "C" fn lm_error_text(code: c_int) -> *const c_char {
    guard(c"Unknown error".as_ptr(), || {
        ERROR_TEXTS
            .get_or_init(|| {
                lmerr::TABLE
                    .iter()
                    .map(|e| (e.code, crate::guard::c_string(e.text)))
                    .collect()
            })
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(c"Unknown error".as_ptr(), |(_, s)| s.as_ptr())
    })
}

/// FLEXlm's texts as C strings, made once.
static ERROR_TEXTS: std::sync::OnceLock<Vec<(c_int, std::ffi::CString)>> =
    std::sync::OnceLock::new();
