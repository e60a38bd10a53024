//! Which SERVER line is this machine's, and why a license file cannot be
//! served here: shared by the single-server configuration (`config`) and
//! the triad's line selection (`triad`).

use grammar::hostid::HostIdentity;

/// Why lmgrd cannot serve this file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: no SERVER line: uncounted licenses need no license server")]
    NoServer(String),
    #[error("{file}:{line}: the SERVER line's hostid {hostid} is not this machine's (LM_NOTTHISHOST, -9)")]
    WrongHostid {
        file: String,
        line: u32,
        hostid: String,
    },
    #[error("{0}: no VENDOR line: there is no vendor daemon to start")]
    NoVendor(String),
    #[error("{file}: {count} SERVER lines: a license file has one SERVER line, or three for a redundant triad")]
    ServerCount { file: String, count: usize },
    #[error("{file}: -server-line {line}: the file has {count} SERVER lines")]
    NoSuchServerLine {
        file: String,
        line: u32,
        count: usize,
    },
    #[error("{file}: none of the three SERVER lines names this machine ({hostname}) with a matching hostid; say which is this lmgrd's with -server-line N")]
    NoLocalServerLine { file: String, hostname: String },
    #[error("{file}: SERVER lines {} all name this machine; say which is this lmgrd's with -server-line N", lines.join(", "))]
    SeveralLocalServerLines { file: String, lines: Vec<String> },
    #[error("{file}:{line}: a triad's SERVER lines need a port")]
    TriadNeedsPorts { file: String, line: u32 },
}

/// Names that always mean "this machine" on a SERVER line.
pub(crate) fn is_local_name(host: &str, me: &HostIdentity) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or("").to_ascii_lowercase();
    host.eq_ignore_ascii_case("this_host")
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || host.eq_ignore_ascii_case(&me.hostname)
        || short(host) == short(&me.hostname)
        || me.addresses.iter().any(|a| a.to_string() == host)
}
