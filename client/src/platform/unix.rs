//! The Unix implementation of [`super`]: libc calls.

use grammar::Date;
use std::net::Ipv4Addr;

#[allow(unsafe_code)]
pub(crate) fn host_id32() -> Option<u32> {
    // SAFETY: gethostid takes no arguments and only returns a number.
    let id = unsafe { libc::gethostid() };
    let id = id as u32;
    (id != 0).then_some(id)
}

#[allow(unsafe_code)]
pub(crate) fn password_entry_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to memory we own for the whole call, and
    // buf's length is passed along with it.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string in buf.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[allow(unsafe_code)]
pub(crate) fn ipv4_addresses() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr; its family says which.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// A local date and time as Unix time (`mktime`, which also settles
/// daylight saving time).
#[allow(unsafe_code)]
pub(crate) fn local_to_unix(date: Date, hour: u8, minute: u8) -> Option<u64> {
    // SAFETY: an all-zero tm is a valid value; mktime reads and normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = date.year - 1900;
    tm.tm_mon = i32::from(date.month) - 1;
    tm.tm_mday = i32::from(date.day);
    tm.tm_hour = i32::from(hour);
    tm.tm_min = i32::from(minute);
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a live, initialised local for the whole call.
    let t = unsafe { libc::mktime(&mut tm) };
    u64::try_from(t).ok()
}

/// Unix time `secs` as a local date, hour and minute (`logfmt::local_at`,
/// the one `localtime_r` call).
pub(crate) fn local_calendar(secs: u64) -> Option<(Date, u8, u8)> {
    let z = logfmt::local_at(i64::try_from(secs).ok()?)?;
    let date = Date::new(z.local.year, z.local.month, z.local.day)?;
    Some((date, z.local.hour, z.local.minute))
}

/// Creates `path` empty, readable and writable by its owner only (mode
/// 0600), unless it exists; an existing file is made so too. The borrow
/// store holds the secrets that return borrows early: no other local user
/// may read them.
pub(crate) fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}
