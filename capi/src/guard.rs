//! The C boundary: no panic crosses it, and every pointer that comes in is
//! checked before use.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use wire::lmerr;

/// Runs `f`, turning a panic into `on_panic`. The library's state is kept
/// behind locks that recover from poisoning, so a caught panic leaves the
/// handle usable.
pub(crate) fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// [`guard`] for functions returning a FLEXlm status. FLEXlm has no
/// "internal error" number; a panic means the library met a state it did
/// not expect from its arguments, so it reports LM_BADPARAM (-42).
pub(crate) fn guard_status(f: impl FnOnce() -> c_int) -> c_int {
    guard(lmerr::LM_BADPARAM, f)
}

/// Why a string argument cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrError {
    Null,
    NotUtf8,
}

/// Reads a C string the caller owns for the duration of the call.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that stays valid and
/// unchanged during the call.
pub(crate) unsafe fn read_str<'a>(p: *const c_char) -> Result<&'a str, StrError> {
    if p.is_null() {
        return Err(StrError::Null);
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| StrError::NotUtf8)
}

/// [`read_str`], with null read as `None`.
///
/// # Safety
/// As [`read_str`].
pub(crate) unsafe fn read_opt_str<'a>(p: *const c_char) -> Result<Option<&'a str>, StrError> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: as the caller promised.
    unsafe { read_str(p) }.map(Some)
}

/// Writes `v` through `out` when the caller gave somewhere to write.
///
/// # Safety
/// `out` is null or valid for a write of a `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { out.write(v) };
    }
}

/// A C string for `s`, with any NUL byte (which C cannot show) replaced.
pub(crate) fn c_string(s: &str) -> std::ffi::CString {
    std::ffi::CString::new(s.replace('\0', " ")).unwrap_or_default()
}
