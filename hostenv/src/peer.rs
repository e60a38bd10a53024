//! Who is asking for an admin request (lmdown, lmreread, lmremove), as the
//! kernel sees it rather than as the client claims.
//!
//! For a TCP connection from this machine, the kernel's socket table
//! (`/proc/net/tcp`, `/proc/net/tcp6`) records the uid that owns the
//! client's end: we find the row whose local address is the peer's and
//! whose remote address is ours. Connections from other machines have no
//! such row: they cannot be authenticated and are treated as not local.

use accounting::admin::{AdminKind, AdminPolicy, Refusal};
use std::net::{IpAddr, SocketAddr};

/// The uid owning the client end of the connection `peer` → `local`, if
/// the client runs on this machine.
pub fn peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            find_uid(&text, local, peer)
        })
}

/// Looks up the row owned by the client in a `/proc/net/tcp`-style table.
pub fn find_uid(table: &str, local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    for row in table.lines().skip(1) {
        let cols: Vec<&str> = row.split_whitespace().collect();
        if cols.len() < 8 {
            continue;
        }
        if parse_addr(cols[1]) == Some(peer) && parse_addr(cols[2]) == Some(local) {
            return cols[7].parse().ok();
        }
    }
    None
}

/// `0100007F:1F90` (IPv4, each 32-bit word in host order) or the 32-hex-digit IPv6 form.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    // Hex digits only: the words below are cut by byte.
    if !ip.is_ascii() {
        return None;
    }
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).map(u32::from_be))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [a] => IpAddr::from(a.to_be_bytes()),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Root, or a member of group `lmadmin` (by membership or primary group).
pub fn is_license_admin(uid: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let Some((name, primary_gid)) = user_of(uid) else {
        return false;
    };
    let Some((gid, members)) = group("lmadmin") else {
        return false;
    };
    primary_gid == gid || members.contains(&name)
}

fn user_of(uid: u32) -> Option<(String, u32)> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: getpwuid_r fills `pwd` with pointers into `buf`, which
    // outlives every use below.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut out) != 0
            || out.is_null()
        {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_string_lossy()
            .into_owned();
        Some((name, pwd.pw_gid))
    }
}

fn group(name: &str) -> Option<(u32, Vec<String>)> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: getgrnam_r fills `grp` with pointers into `buf`, which
    // outlives every use below; gr_mem is a NULL-terminated array.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut out: *mut libc::group = std::ptr::null_mut();
        if libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        ) != 0
            || out.is_null()
        {
            return None;
        }
        let mut members = Vec::new();
        let mut p = grp.gr_mem;
        while !p.is_null() && !(*p).is_null() {
            members.push(std::ffi::CStr::from_ptr(*p).to_string_lossy().into_owned());
            p = p.add(1);
        }
        Some((grp.gr_gid, members))
    }
}

/// Decides whether the admin request of `kind` from `peer` (to our `local`
/// address) may go ahead under `policy`, asking the kernel who the peer
/// is only when the policy needs it.
pub fn check(
    policy: &AdminPolicy,
    kind: AdminKind,
    local: SocketAddr,
    peer: SocketAddr,
) -> Result<(), Refusal> {
    policy.check_with(kind, local, peer, |local, peer| {
        peer_uid(local, peer).map(|uid| (uid, is_license_admin(uid)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:6978 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:6978 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:6978 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_table_that_is_not_hex_is_no_match() {
        // A multi-byte character across an 8-byte word boundary once
        // panicked.
        assert_eq!(parse_addr("0100007\u{e9}0:6978"), None);
        let row = "   1: 0100007\u{e9}0:D431 0100007F:6978 01 0:0 0:0 0  1000 0 2\n";
        assert_eq!(
            find_uid(
                &format!("header\n{row}"),
                addr("127.0.0.1:27000"),
                addr("127.0.0.1:54321")
            ),
            None
        );
    }

    #[test]
    fn finds_the_client_row() {
        // Server 127.0.0.1:27000 (0x6978), client 127.0.0.1:54321 (0xD431) owned by uid 1000.
        assert_eq!(
            find_uid(TABLE, addr("127.0.0.1:27000"), addr("127.0.0.1:54321")),
            Some(1000)
        );
        assert_eq!(
            find_uid(TABLE, addr("127.0.0.1:27000"), addr("127.0.0.1:1")),
            None
        );
        assert_eq!(parse_addr("0100007F:6978"), Some(addr("127.0.0.1:27000")));
        assert_eq!(
            parse_addr("0000000000000000FFFF00000100007F:6978"),
            Some(addr("127.0.0.1:27000")),
            "v4-mapped IPv6 rows"
        );
    }

    #[test]
    fn this_process_is_found_in_the_kernel_table() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let uid = unsafe { libc::geteuid() };
        assert_eq!(peer_uid(listener.local_addr().unwrap(), peer), Some(uid));
    }
}
