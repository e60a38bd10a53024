//! `CONFIG`: the record of a checked-out license line, as
//! `lc_auth_data`/`lp_auth_data` return it. FLEXlm's record is a struct
//! applications read fields of; ours is opaque and read with accessors,
//! so its layout can change without breaking applications.

use crate::guard::{c_string, guard};
use client::License;
use std::ffi::CString;
use std::os::raw::c_char;

/// An opaque license-line record, owned by the job that holds the
/// license: valid until that feature is checked in or the job freed.
#[derive(Debug)]
pub struct CONFIG {
    feature: CString,
    version: CString,
    expiry: CString,
    vendor_string: Option<CString>,
    notice: Option<CString>,
    issuer: Option<CString>,
    serial: Option<CString>,
    /// As `lc_expire_days` reports it; `None` for a permanent line.
    pub(crate) expire_days: Option<i64>,
}

impl CONFIG {
    pub(crate) fn of(l: &License) -> CONFIG {
        let opt = |s: Option<&str>| s.map(c_string);
        CONFIG {
            feature: c_string(l.feature()),
            version: c_string(l.version()),
            expiry: c_string(l.expiry()),
            vendor_string: opt(l.vendor_string()),
            notice: opt(l.notice()),
            issuer: opt(l.issuer()),
            serial: opt(l.serial()),
            expire_days: l.expire_days(),
        }
    }
}

/// Reads one field of a record; null for a null record or a missing field.
///
/// # Safety
/// `conf` is null or a record this library returned that is still valid.
unsafe fn field(conf: *const CONFIG, pick: fn(&CONFIG) -> Option<&CString>) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: null or a live record, by the caller's contract.
        match unsafe { conf.as_ref() }.and_then(pick) {
            Some(s) => s.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// The feature name.
///
/// # Safety
/// `conf` is null or a record from `lc_auth_data`/`lp_auth_data` that is
/// still valid. The string lives as long as the record.
#[no_mangle]
pub unsafe extern "C" fn lm_conf_feature(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| Some(&c.feature)) }
}

/// The version of the line (as written in the license).
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_version(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| Some(&c.version)) }
}

/// The expiry date as the license writes it (`permanent`, `31-dec-2030`).
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_expiry(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| Some(&c.expiry)) }
}

/// VENDOR_STRING, or null when the line has none.
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_vendor_string(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| c.vendor_string.as_ref()) }
}

/// NOTICE, or null.
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_notice(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| c.notice.as_ref()) }
}

/// ISSUER, or null.
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_issuer(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| c.issuer.as_ref()) }
}

/// SN (the serial number), or null.
///
/// # Safety
/// As [`lm_conf_feature`].
#[no_mangle]
pub unsafe extern "C" fn lm_conf_serial(conf: *const CONFIG) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(conf, |c| c.serial.as_ref()) }
}
