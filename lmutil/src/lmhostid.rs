//! `lmhostid`: this machine's host ids, as a license's SERVER line or
//! `HOSTID=` wants them.
//!
//! ```text
//! lmhostid - lm license manager v0.1.0
//! The lm host ID of this machine is ""0800200005ac 0800200005ad""
//! Only use ONE from the list of hostids.
//! ```

use crate::common::{self, BRAND};
use crate::Invocation;
use client::identity::LocalIdentity;

pub const USAGE: &str = "\
usage: lmhostid [-ether|-internet|-hostname|-hostdomain|-user|-display|-long] [-n]
  (default: -ether, every network interface's Ethernet address)
  -n  print the host id only
";

/// Which host id to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Ether,
    Internet,
    Hostname,
    HostDomain,
    User,
    Display,
    /// The 32-bit host id (`gethostid`).
    Long,
}

/// The command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args {
    pub kind: Kind,
    /// `-n`: the value only.
    pub bare: bool,
}

pub type Parsed = common::Parsed<Args>;

/// Parses the options; each type may be written with or without its dash
/// (`lmhostid hostname`, as FLEXlm accepts).
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut a = Args::default();
    for arg in args {
        let word = arg.strip_prefix('-').unwrap_or(arg);
        a.kind = match word {
            "ether" => Kind::Ether,
            "internet" => Kind::Internet,
            "hostname" => Kind::Hostname,
            "hostdomain" => Kind::HostDomain,
            "user" => Kind::User,
            "display" => Kind::Display,
            "long" => Kind::Long,
            "n" => {
                a.bare = true;
                continue;
            }
            "help" | "h" | "-help" => return Ok(Parsed::Help),
            "v" | "version" => return Ok(Parsed::Version),
            _ => return Err(format!("unknown host id type `{arg}`")),
        };
    }
    Ok(Parsed::Run(a))
}

/// The ids of `kind` on machine `me`, as they are written in a license.
pub fn ids(kind: Kind, me: &LocalIdentity, domain: Option<String>) -> Vec<String> {
    let h = &me.host;
    match kind {
        Kind::Ether => me.ethernet.clone(),
        Kind::Internet => h
            .addresses
            .iter()
            .map(|a| format!("INTERNET={a}"))
            .collect(),
        Kind::Hostname => vec![format!("HOSTNAME={}", h.hostname)],
        Kind::HostDomain => domain
            .into_iter()
            .map(|d| format!("HOSTDOMAIN={d}"))
            .collect(),
        Kind::User => vec![format!("USER={}", h.user)],
        Kind::Display => vec![format!("DISPLAY={}", h.display)],
        Kind::Long => me.hostid32.iter().cloned().collect(),
    }
}

/// What lmhostid prints for `ids`: one id quoted, several in doubled
/// quotes with FLEXlm's warning; with `bare` the value alone (several
/// quoted once, usable as `HOSTID="..."`). `None` when there is no id.
pub fn format(banner: &str, ids: &[String], bare: bool) -> Option<String> {
    let value = match ids {
        [] => return None,
        [one] => one.clone(),
        several => format!("\"{}\"", several.join(" ")),
    };
    if bare {
        return Some(format!("{value}\n"));
    }
    let mut out = format!("{banner}\nThe {BRAND} host ID of this machine is \"{value}\"\n");
    if ids.len() > 1 {
        out.push_str("Only use ONE from the list of hostids.\n");
    }
    Some(out)
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match common::begin(inv, "lmhostid", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let me = LocalIdentity::gather();
    let domain = (args.kind == Kind::HostDomain)
        .then(|| domain_name(&me.host.hostname))
        .flatten();
    let found = ids(args.kind, &me, domain);
    match format(&common::banner(&inv.program), &found, args.bare) {
        Some(text) => {
            common::write_out(&text);
            0
        }
        None => {
            let what = match args.kind {
                Kind::Ether => "no Ethernet address (no network interface but loopback)",
                Kind::Internet => "no IPv4 address but loopback",
                Kind::HostDomain => "no domain name (the host name is not fully qualified)",
                Kind::Long => "no 32-bit host id",
                _ => "no such host id",
            };
            common::write_err(&format!("lmhostid: this machine has {what}\n"));
            1
        }
    }
}

/// This machine's DNS domain: the part of its canonical name after the
/// first dot, else the kernel's domain name.
fn domain_name(hostname: &str) -> Option<String> {
    let from_fqdn = |name: &str| {
        name.split_once('.')
            .map(|(_, d)| d.trim_end_matches('.').to_string())
            .filter(|d| !d.is_empty())
    };
    if let Some(d) = from_fqdn(hostname) {
        return Some(d);
    }
    if let Some(d) = canonical_name(hostname).as_deref().and_then(from_fqdn) {
        return Some(d);
    }
    std::fs::read_to_string("/proc/sys/kernel/domainname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|d| !d.is_empty() && d != "(none)")
}

#[allow(unsafe_code)]
fn canonical_name(hostname: &str) -> Option<String> {
    let name = std::ffi::CString::new(hostname).ok()?;
    // SAFETY: an all-zero addrinfo is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: name and hints outlive the call; res receives a list we free.
    let rc = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: res is the head of the list getaddrinfo returned.
    let canon = unsafe { (*res).ai_canonname };
    let out = (!canon.is_null()).then(|| {
        // SAFETY: ai_canonname is a NUL-terminated string owned by the list.
        unsafe { std::ffi::CStr::from_ptr(canon) }
            .to_string_lossy()
            .into_owned()
    });
    // SAFETY: freed once, after its last use.
    unsafe { libc::freeaddrinfo(res) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammar::HostIdentity;
    use std::net::Ipv4Addr;

    fn machine() -> LocalIdentity {
        LocalIdentity {
            host: HostIdentity {
                hex_ids: vec![0xa41f_d502_8d74, 0xc654_015c_101f],
                hostname: "storage".into(),
                user: "joe".into(),
                display: ":0".into(),
                addresses: vec![Ipv4Addr::new(192, 168, 1, 5), Ipv4Addr::new(10, 0, 0, 2)],
                others: vec![],
            },
            ethernet: vec!["a41fd5028d74".into(), "c654015c101f".into()],
            hostid32: Some("17007ea8".into()),
            ..LocalIdentity::default()
        }
    }

    #[test]
    fn flexlm_shapes() {
        let me = machine();
        let b = "lmhostid - lm license manager v0.1.0";
        assert_eq!(
            format(b, &ids(Kind::Ether, &me, None), false).unwrap(),
            "lmhostid - lm license manager v0.1.0\n\
             The lm host ID of this machine is \"\"a41fd5028d74 c654015c101f\"\"\n\
             Only use ONE from the list of hostids.\n"
        );
        assert_eq!(
            format(b, &ids(Kind::Hostname, &me, None), false).unwrap(),
            "lmhostid - lm license manager v0.1.0\n\
             The lm host ID of this machine is \"HOSTNAME=storage\"\n"
        );
        assert_eq!(
            format(b, &ids(Kind::Ether, &me, None)[..1], false).unwrap(),
            "lmhostid - lm license manager v0.1.0\n\
             The lm host ID of this machine is \"a41fd5028d74\"\n"
        );
    }

    #[test]
    fn every_type_and_bare_values() {
        let me = machine();
        let bare = |k: Kind, d: Option<&str>| format("", &ids(k, &me, d.map(str::to_string)), true);
        assert_eq!(
            bare(Kind::Ether, None).unwrap(),
            "\"a41fd5028d74 c654015c101f\"\n"
        );
        assert_eq!(
            bare(Kind::Internet, None).unwrap(),
            "\"INTERNET=192.168.1.5 INTERNET=10.0.0.2\"\n"
        );
        assert_eq!(bare(Kind::User, None).unwrap(), "USER=joe\n");
        assert_eq!(bare(Kind::Display, None).unwrap(), "DISPLAY=:0\n");
        assert_eq!(bare(Kind::Long, None).unwrap(), "17007ea8\n");
        assert_eq!(
            bare(Kind::HostDomain, Some("example.com")).unwrap(),
            "HOSTDOMAIN=example.com\n"
        );
        assert_eq!(bare(Kind::HostDomain, None), None);
        assert_eq!(format("", &[], false), None);
    }

    #[test]
    fn options_with_or_without_dash() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&[]), Ok(Parsed::Run(Args::default())));
        assert_eq!(
            p(&["hostname"]),
            Ok(Parsed::Run(Args {
                kind: Kind::Hostname,
                bare: false
            }))
        );
        assert_eq!(
            p(&["-internet", "-n"]),
            Ok(Parsed::Run(Args {
                kind: Kind::Internet,
                bare: true
            }))
        );
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
        assert!(p(&["-vsn"]).is_err());
    }

    #[test]
    fn domain_from_a_qualified_name() {
        assert_eq!(
            domain_name("build7.example.com").as_deref(),
            Some("example.com")
        );
    }
}
