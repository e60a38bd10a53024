//! Who and where this application runs: the machine's hostids for
//! node-locked lines, and the identity sent to servers in `Hello`.

use crate::platform;
use grammar::HostIdentity;
use wire::ClientIdentity;

/// This machine and its user, gathered once per job.
#[derive(Debug, Clone, Default)]
pub struct LocalIdentity {
    /// What hostids are matched against.
    pub host: HostIdentity,
    /// Ethernet addresses as lmhostid prints them (12 hex digits).
    pub ethernet: Vec<String>,
    /// The 32-bit host id, 8 hex digits.
    pub hostid32: Option<String>,
    pub pid: u32,
    /// FLEXlm's platform name, e.g. `x64_lsb`.
    pub platform: String,
    /// `LM_PROJECT`.
    pub project: String,
}

impl LocalIdentity {
    /// Reads the machine: Ethernet addresses from `/sys/class/net` (not
    /// loopback), `gethostid()`, the host name, the user (`$USER`, else the
    /// password entry), `$DISPLAY` (else the terminal) and IPv4 addresses.
    pub fn gather() -> LocalIdentity {
        let macs = ethernet_addresses();
        let id32 = platform::host_id32();
        let mut hex_ids: Vec<u64> = macs.clone();
        if let Some(id) = id32 {
            hex_ids.push(u64::from(id));
        }
        let host = HostIdentity {
            hex_ids,
            hostname: host_name(),
            user: user_name(),
            display: display_name(),
            addresses: platform::ipv4_addresses(),
            others: Vec::new(),
        };
        LocalIdentity {
            host,
            ethernet: macs.iter().map(|m| format!("{m:012x}")).collect(),
            hostid32: id32.map(|v| format!("{v:08x}")),
            pid: std::process::id(),
            platform: wire::platform().to_string(),
            project: std::env::var("LM_PROJECT").unwrap_or_default(),
        }
    }

    /// The hostids to show servers: Ethernet addresses, the 32-bit id and
    /// `INTERNET=` addresses; no more than the servers take
    /// (`wire::text::MAX_HOSTIDS`).
    pub fn hostids(&self) -> Vec<String> {
        let mut ids = self.ethernet.clone();
        ids.extend(self.hostid32.clone());
        ids.extend(self.host.addresses.iter().map(|a| format!("INTERNET={a}")));
        ids.truncate(wire::text::MAX_HOSTIDS);
        ids
    }

    /// The `Hello` identity for job `job`.
    pub fn client_identity(&self, job: u64) -> ClientIdentity {
        ClientIdentity {
            user: self.host.user.clone(),
            host: self.host.hostname.clone(),
            display: self.host.display.clone(),
            pid: self.pid,
            platform: self.platform.clone(),
            hostids: self.hostids(),
            client_version: wire::version().to_string(),
            job,
            project: self.project.clone(),
        }
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` into a number; all-zero addresses (loopback,
/// tunnels) are no hostid.
pub fn parse_mac(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut value = 0u64;
    for p in parts {
        if p.len() != 2 {
            return None;
        }
        value = (value << 8) | u64::from(u8::from_str_radix(p, 16).ok()?);
    }
    (value != 0).then_some(value)
}

fn ethernet_addresses() -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut named: Vec<(String, u64)> = dir
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "lo")
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("address")).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                parse_mac(&text)?,
            ))
        })
        .collect();
    named.sort();
    let mut macs: Vec<u64> = Vec::new();
    for (_, m) in named {
        if !macs.contains(&m) {
            macs.push(m);
        }
    }
    macs
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

fn user_name() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    platform::password_entry_name().unwrap_or_else(|| "unknown".to_string())
}

/// `$DISPLAY`, else the controlling terminal, as FLEXlm reports it.
fn display_name() -> String {
    if let Some(d) = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty()) {
        return d;
    }
    std::fs::read_link("/proc/self/fd/0")
        .ok()
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("/dev/"))
        .unwrap_or_else(|| "/dev/tty".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses() {
        assert_eq!(parse_mac("08:00:20:00:05:ac\n"), Some(0x0800_2000_05ac));
        assert_eq!(parse_mac("00:00:00:00:00:00"), None);
        assert_eq!(parse_mac("08:00:20:00:05"), None);
        assert_eq!(parse_mac("zz:00:20:00:05:ac"), None);
    }

    #[test]
    fn gathers_something_sensible() {
        let me = LocalIdentity::gather();
        assert!(!me.host.hostname.is_empty());
        assert!(!me.host.user.is_empty());
        assert_eq!(me.pid, std::process::id());
        let hello = me.client_identity(42);
        assert_eq!(hello.job, 42);
        assert_eq!(hello.hostids, me.hostids());
        for id in &me.ethernet {
            assert_eq!(id.len(), 12);
        }
    }
}
