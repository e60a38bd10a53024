//! The pure parts of three-server redundancy as lmgrd runs it: which SERVER
//! line is this lmgrd's, the triad's identity and timing, the log entries
//! lmgrd puts in the replicated log, the per-vendor list of committed
//! payloads it replays to a (re)started vendor daemon, and the role lines it
//! logs. No sockets, no clock: `triad_node.rs` carries them out.
//!
//! Who does what: the three lmgrds form the triad (raft, in the `triad`
//! crate); each vendor daemon keeps its vendor's accounting and talks only to
//! its own lmgrd over a socket pair. A vendor daemon proposes each batch of
//! accounting changes; lmgrd wraps it in a [`VendorEntry`] naming the vendor
//! and proposes that; every committed entry comes back to every member as an
//! `Apply`, and lmgrd hands the payload to that vendor's daemon as
//! `Replicate`, in log order. lmgrd folds the committed batches into the
//! seats held per vendor ([`Replay`]); every so many entries it compacts the
//! raft log to that state, so the log on disk and lmgrd's memory follow the
//! seats in use, not the history.

use super::server_line::{is_local_name, ConfigError};
use accounting::{Batch, Change, Seat};
use grammar::hostid::{any_matches, HostIdentity};
use grammar::model::Server;
use std::collections::HashMap;
use std::net::IpAddr;
use wire::codec::{Blob, Reader, Wire, Writer};
use wire::{wire_struct, DecodeError};

/// Minor error number of a refused `VendorLookup` when this member knows
/// who the master is (the text names it).
pub const MINOR_NOT_MASTER: i32 = 601;
/// ... when no master is known (an election, or no majority).
pub const MINOR_NO_MASTER: i32 = 602;

/// One of the three SERVER lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriadLine {
    /// 1 primary, 2 secondary, 3 tertiary.
    pub member: u64,
    /// The host as written on the line.
    pub host: String,
    pub port: u16,
}

impl TriadLine {
    /// `port@host`, as clients and lmstat write a server.
    pub fn port_at_host(&self) -> String {
        format!("{}@{}", self.port, self.host)
    }

    /// How the log names a member: "lm-secondary (member 2)".
    pub fn label(&self) -> String {
        format!("{} (member {})", self.host, self.member)
    }
}

/// What lmgrd needs to be a member of the triad its license file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriadPlan {
    /// This lmgrd's member id (its SERVER line, 1-based).
    pub me: u64,
    /// The three lines, in file order (`lines[i].member == i + 1`).
    pub lines: Vec<TriadLine>,
    /// The identity of the three lines, exchanged in `TriadHello`.
    pub cluster: String,
    /// HEARTBEAT_INTERVAL= (seconds), from the first line that gives it.
    pub heartbeat_interval: Option<u32>,
    /// SERVER_TIMEOUT= (seconds), from the first line that gives it.
    pub server_timeout: Option<u32>,
    /// PRIMARY_IS_MASTER on any line (FLEXlm documents it on the first).
    pub primary_is_master: bool,
}

impl TriadPlan {
    pub fn line(&self, member: u64) -> &TriadLine {
        &self.lines[(member as usize).clamp(1, 3) - 1]
    }

    pub fn mine(&self) -> &TriadLine {
        self.line(self.me)
    }

    /// The other two members' ids.
    pub fn peers(&self) -> impl Iterator<Item = u64> + '_ {
        (1..=3).filter(move |m| *m != self.me)
    }
}

/// The identity of a triad: a CRC-32 of its SERVER lines' hosts (case
/// folded) and ports in order. Two lmgrds talk only when they agree on it,
/// so members of different triads that share an address (or a copy of the
/// file with the lines in another order, which FLEXlm also refuses) never
/// form a majority together.
pub fn cluster_id(lines: &[TriadLine]) -> String {
    let mut h = crc32fast::Hasher::new();
    for l in lines {
        h.update(format!("{}:{}\n", l.host.to_ascii_lowercase(), l.port).as_bytes());
    }
    format!("{:08x}", h.finalize())
}

/// Which of the SERVER lines is this lmgrd's, as an index. `choice` is
/// `-server-line N` (1-based). Without it, the one line whose host names
/// this machine and whose hostid matches; several such lines (three members
/// on one test machine) need the option, since guessing could make two
/// lmgrds the same member.
pub fn my_line(
    file: &str,
    servers: &[(u32, &Server)],
    me: &HostIdentity,
    choice: Option<u32>,
) -> Result<usize, ConfigError> {
    let idx = match choice {
        Some(n) if n >= 1 && (n as usize) <= servers.len() => n as usize - 1,
        Some(n) => {
            return Err(ConfigError::NoSuchServerLine {
                file: file.to_string(),
                line: n,
                count: servers.len(),
            })
        }
        None => {
            let local: Vec<usize> = servers
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| is_local_name(&s.host, me) && any_matches(&s.hostids, me))
                .map(|(i, _)| i)
                .collect();
            match local.as_slice() {
                [one] => *one,
                [] => {
                    return Err(ConfigError::NoLocalServerLine {
                        file: file.to_string(),
                        hostname: me.hostname.clone(),
                    })
                }
                several => {
                    return Err(ConfigError::SeveralLocalServerLines {
                        file: file.to_string(),
                        lines: several.iter().map(|i| (i + 1).to_string()).collect(),
                    })
                }
            }
        }
    };
    let (line, server) = servers[idx];
    if !any_matches(&server.hostids, me) {
        return Err(ConfigError::WrongHostid {
            file: file.to_string(),
            line,
            hostid: grammar::hostid::display_list(&server.hostids),
        });
    }
    Ok(idx)
}

/// The triad plan for three SERVER lines, `mine` being this lmgrd's index.
pub fn plan(file: &str, servers: &[(u32, &Server)], mine: usize) -> Result<TriadPlan, ConfigError> {
    let mut lines = Vec::with_capacity(3);
    for (i, (line, s)) in servers.iter().enumerate() {
        let port = s.port.ok_or_else(|| ConfigError::TriadNeedsPorts {
            file: file.to_string(),
            line: *line,
        })?;
        lines.push(TriadLine {
            member: i as u64 + 1,
            host: s.host.clone(),
            port,
        });
    }
    Ok(TriadPlan {
        me: mine as u64 + 1,
        cluster: cluster_id(&lines),
        lines,
        heartbeat_interval: servers.iter().find_map(|(_, s)| s.heartbeat_interval),
        server_timeout: servers.iter().find_map(|(_, s)| s.server_timeout),
        primary_is_master: servers.iter().any(|(_, s)| s.primary_is_master),
    })
}

/// The address a member listens on. Its SERVER host when that is an
/// address literal, or a name for loopback addresses only (three members on
/// one machine, on 127.0.0.1, .2 and .3, share the port): it must be this
/// machine's, or binding fails and says so. Otherwise every interface, as
/// a single server does.
pub fn listen_ip(host: &str, resolved: &[IpAddr]) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    match resolved.first() {
        Some(first) if resolved.iter().all(IpAddr::is_loopback) => Some(*first),
        _ => None,
    }
}

wire_struct!(
    /// One payload of the replicated log: a vendor daemon's batch of
    /// accounting changes, which lmgrd does not read, and whose it is.
    VendorEntry {
        vendor: String,
        payload: Blob,
    }
);

/// The format of [`VendorEntry`] in the log. The log outlives the program
/// that wrote it; a later format gets another number.
const ENTRY_FORMAT: u8 = 1;
/// The format of a compacted log ([`Replay::encode`]).
const SNAPSHOT_FORMAT: u8 = 1;

/// Why bytes from the replicated log, or a snapshot of it, are not what
/// lmgrd writes there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogDataError {
    #[error(transparent)]
    Wire(#[from] DecodeError),
    #[error("entry format {0} is not {ENTRY_FORMAT}")]
    EntryFormat(u8),
    #[error("unknown snapshot format {0}")]
    SnapshotFormat(u8),
    /// A vendor's part of a snapshot is not a batch.
    #[error("the state of {0} is unreadable")]
    VendorState(String),
}

impl VendorEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        ENTRY_FORMAT.put(&mut w);
        self.put(&mut w);
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<VendorEntry, LogDataError> {
        let mut r = Reader::new(bytes);
        let format = u8::get(&mut r)?;
        if format != ENTRY_FORMAT {
            return Err(LogDataError::EntryFormat(format));
        }
        let entry = VendorEntry::get(&mut r)?;
        r.finish()?;
        Ok(entry)
    }
}

/// What the committed log says is held, per vendor: the seats of every
/// batch folded together (a grant adds a seat, a release removes it). A
/// vendor daemon that (re)starts is sent this first, as one summary batch,
/// so its accounting is the majority's; and it is what lmgrd keeps when it
/// compacts the log (the log's entries up to an index are replaced by this
/// state at that index). After an lmgrd restart raft hands back the
/// compacted state and then the entries after it, which rebuild it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replay {
    per_vendor: HashMap<String, Held>,
}

/// The seats of one vendor, and the last log index folded in.
#[derive(Debug, Default, Clone, PartialEq)]
struct Held {
    index: u64,
    seats: std::collections::BTreeMap<u64, Seat>,
}

wire_struct!(
    /// One vendor's part of a compacted log.
    VendorState { vendor: String, index: u64, summary: Blob }
);

impl Replay {
    /// Folds in a committed payload (a vendor daemon's batch). Returns
    /// false (and changes nothing) for an index below one already folded in
    /// for that vendor, which raft never sends, or for a payload that is
    /// not a batch.
    pub fn push(&mut self, vendor: &str, index: u64, payload: &[u8]) -> bool {
        let held = self.per_vendor.entry(vendor.to_string()).or_default();
        if held.index > index {
            return false;
        }
        let Ok(batch) = Batch::decode(payload) else {
            return false;
        };
        if batch.is_summary() {
            held.seats.clear();
        }
        for change in batch.changes {
            match change {
                Change::Grant(seat) => {
                    held.seats.insert(seat.handle, *seat);
                }
                Change::Release(handle) => {
                    held.seats.remove(&handle);
                }
            }
        }
        held.index = index;
        true
    }

    /// What to send `vendor`'s daemon when it starts: one summary batch of
    /// the seats held, at the last index folded in (none if nothing was
    /// ever committed for it).
    pub fn of(&self, vendor: &str) -> Option<(u64, Vec<u8>)> {
        let held = self.per_vendor.get(vendor)?;
        let summary = Batch::summary(held.seats.values().cloned().collect());
        Some((held.index, summary.encode()))
    }

    /// Seats held for `vendor`.
    pub fn seats(&self, vendor: &str) -> usize {
        self.per_vendor.get(vendor).map_or(0, |h| h.seats.len())
    }

    /// The whole state, for a compacted log.
    pub fn encode(&self) -> Vec<u8> {
        let mut vendors: Vec<&String> = self.per_vendor.keys().collect();
        vendors.sort();
        let states: Vec<VendorState> = vendors
            .into_iter()
            .filter_map(|v| {
                let (index, summary) = self.of(v)?;
                Some(VendorState {
                    vendor: v.clone(),
                    index,
                    summary: Blob(summary),
                })
            })
            .collect();
        let mut w = Writer::default();
        SNAPSHOT_FORMAT.put(&mut w);
        (states.len() as u32).put(&mut w);
        for s in &states {
            s.put(&mut w);
        }
        w.buf
    }

    /// The state a compacted log (or a snapshot from the master) holds.
    pub fn decode(bytes: &[u8]) -> Result<Replay, LogDataError> {
        let mut r = Reader::new(bytes);
        let layout = u8::get(&mut r)?;
        if layout != SNAPSHOT_FORMAT {
            return Err(LogDataError::SnapshotFormat(layout));
        }
        let n = u32::get(&mut r)? as usize;
        let mut replay = Replay::default();
        for _ in 0..n.min(bytes.len()) {
            let s = VendorState::get(&mut r)?;
            if !replay.push(&s.vendor, s.index, &s.summary.0) {
                return Err(LogDataError::VendorState(s.vendor));
            }
        }
        r.finish()?;
        Ok(replay)
    }
}

/// What lmgrd last told its vendor daemons: whether this member serves, and
/// whom it follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Role {
    pub serving: bool,
    pub master: Option<u64>,
}

/// The debug-log lines for a change of role, FLEXlm's wording where it has
/// one ("CONNECTED, master is ...", "Lost quorum"), ours with the reason
/// elsewhere. `reason` is the member's own account (its `status.reason`).
pub fn role_lines(plan: &TriadPlan, old: Role, new: Role, reason: &str) -> Vec<String> {
    let mut out = Vec::new();
    if old.master != new.master {
        match new.master {
            Some(m) => {
                let line = plan.line(m);
                if old.master.is_none() {
                    out.push(format!("CONNECTED, master is {}", line.host));
                }
                out.push(format!("Master is now {} ({reason})", line.label()));
            }
            None => out.push(format!(
                "No master: {} ({reason})",
                match old.master {
                    Some(m) => format!("lost {}", plan.line(m).label()),
                    None => "none elected".to_string(),
                }
            )),
        }
    }
    if old.serving != new.serving {
        out.push(if new.serving {
            format!("This server is now the master and serves licenses ({reason})")
        } else {
            format!("This server no longer serves licenses ({reason})")
        });
    }
    out
}

/// Whether a majority (this member and at least one peer) is talking:
/// the lines logged when that changes.
pub fn quorum_line(plan: &TriadPlan, had: bool, has: bool, heard: &[u64]) -> Option<String> {
    match (had, has) {
        (false, true) => Some(format!(
            "Quorum gained: connected to {}",
            heard
                .iter()
                .map(|m| plan.line(*m).label())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
        (true, false) => Some(
            "Lost quorum: no other member of the triad heard from within the server timeout"
                .to_string(),
        ),
        _ => None,
    }
}

/// TEST ONLY: a triad on 127.0.0.1-3, port 27000, with the default
/// timing, as member `me` sees it.
#[cfg(test)]
pub(crate) fn loopback_plan(me: u64) -> TriadPlan {
    let lines: Vec<TriadLine> = (1..=3)
        .map(|m| TriadLine {
            member: m,
            host: format!("127.0.0.{m}"),
            port: 27000,
        })
        .collect();
    TriadPlan {
        me,
        cluster: cluster_id(&lines),
        lines,
        heartbeat_interval: None,
        server_timeout: None,
        primary_is_master: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> HostIdentity {
        HostIdentity {
            hex_ids: vec![0x0800_2000_05ac],
            hostname: "build7.example.com".into(),
            addresses: vec!["10.1.2.3".parse().unwrap()],
            ..Default::default()
        }
    }

    const TRIAD: &str = "\
SERVER lm-primary ANY 27001 PRIMARY_IS_MASTER HEARTBEAT_INTERVAL=2
SERVER build7 0800200005AC 27002
SERVER 10.9.9.9 ANY 27003
VENDOR demo
";

    fn servers(text: &str) -> grammar::LicenseFile {
        grammar::parse_license("t.lic", text)
    }

    fn pick(text: &str, choice: Option<u32>) -> Result<usize, ConfigError> {
        let f = servers(text);
        let list: Vec<(u32, &Server)> = f.servers().map(|(e, s)| (e.line, s)).collect();
        my_line("t.lic", &list, &me(), choice)
    }

    #[test]
    fn my_line_is_the_one_naming_this_machine() {
        assert_eq!(pick(TRIAD, None), Ok(1));
        assert_eq!(pick(TRIAD, Some(3)), Ok(2));
        assert!(matches!(
            pick(TRIAD, Some(4)),
            Err(ConfigError::NoSuchServerLine {
                line: 4,
                count: 3,
                ..
            })
        ));
        // An address of this machine names it too.
        let by_addr = TRIAD.replace("build7", "10.1.2.3");
        assert_eq!(pick(&by_addr, None), Ok(1));
    }

    #[test]
    fn my_line_refuses_to_guess() {
        let none = TRIAD.replace("build7", "elsewhere");
        assert!(matches!(
            pick(&none, None),
            Err(ConfigError::NoLocalServerLine { .. })
        ));
        // Three members on one machine: the option must say which.
        let all = "SERVER 127.0.0.1 ANY 27001\nSERVER localhost ANY 27001\nSERVER this_host ANY 27001\nVENDOR demo\n";
        assert!(matches!(
            pick(all, None),
            Err(ConfigError::SeveralLocalServerLines { ref lines, .. }) if lines.len() == 3
        ));
        assert_eq!(pick(all, Some(2)), Ok(1));
        // A named line whose hostid is another machine's is refused.
        let wrong = TRIAD.replace("0800200005AC", "12345678");
        assert!(matches!(
            pick(&wrong, Some(2)),
            Err(ConfigError::WrongHostid { line: 2, .. })
        ));
    }

    #[test]
    fn plan_takes_timing_and_primary_is_master_from_the_lines() {
        let f = servers(TRIAD);
        let list: Vec<(u32, &Server)> = f.servers().map(|(e, s)| (e.line, s)).collect();
        let p = plan("t.lic", &list, 1).unwrap();
        assert_eq!(p.me, 2);
        assert_eq!(p.mine().port_at_host(), "27002@build7");
        assert_eq!(p.line(1).label(), "lm-primary (member 1)");
        assert_eq!(p.peers().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(p.heartbeat_interval, Some(2));
        assert_eq!(p.server_timeout, None);
        assert!(p.primary_is_master);
        let noport = servers(&TRIAD.replace(" 27003", ""));
        let list: Vec<(u32, &Server)> = noport.servers().map(|(e, s)| (e.line, s)).collect();
        assert!(matches!(
            plan("t.lic", &list, 0),
            Err(ConfigError::TriadNeedsPorts { line: 3, .. })
        ));
    }

    #[test]
    fn cluster_id_depends_on_hosts_ports_and_order() {
        let line = |m, h: &str, p| TriadLine {
            member: m,
            host: h.into(),
            port: p,
        };
        let a = vec![line(1, "A", 1), line(2, "b", 2), line(3, "c", 3)];
        let same = vec![line(1, "a", 1), line(2, "B", 2), line(3, "c", 3)];
        let moved = vec![line(1, "a", 1), line(2, "b", 2), line(3, "c", 4)];
        let swapped = vec![line(1, "b", 2), line(2, "a", 1), line(3, "c", 3)];
        assert_eq!(cluster_id(&a), cluster_id(&same));
        assert_ne!(cluster_id(&a), cluster_id(&moved));
        assert_ne!(cluster_id(&a), cluster_id(&swapped));
        assert_eq!(cluster_id(&a).len(), 8);
    }

    #[test]
    fn listen_ip_binds_literals_and_loopback_names_only() {
        let lo2: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(listen_ip("127.0.0.2", &[]), Some(lo2));
        assert_eq!(listen_ip("lm-b", &[lo2]), Some(lo2));
        assert_eq!(listen_ip("lm-b", &[lo2, "10.0.0.1".parse().unwrap()]), None);
        assert_eq!(listen_ip("lm-b", &[]), None);
    }

    #[test]
    fn entries_round_trip_and_refuse_garbage() {
        let e = VendorEntry {
            vendor: "demo".into(),
            payload: Blob(vec![1, 2, 3]),
        };
        let bytes = e.encode();
        assert_eq!(VendorEntry::decode(&bytes), Ok(e));
        assert!(VendorEntry::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(VendorEntry::decode(&longer).is_err());
        let mut other_format = bytes;
        other_format[0] = 9;
        assert_eq!(
            VendorEntry::decode(&other_format),
            Err(LogDataError::EntryFormat(9))
        );
        assert_eq!(
            LogDataError::EntryFormat(9).to_string(),
            "entry format 9 is not 1"
        );
        assert!(VendorEntry::decode(&[]).is_err());
    }

    fn seat(handle: u64) -> Seat {
        Seat {
            handle,
            feature: "f1".into(),
            version: "1.0".into(),
            count: 1,
            user: format!("u{handle}"),
            ..Seat::default()
        }
    }

    fn batch(origin: u64, changes: Vec<Change>) -> Vec<u8> {
        Batch {
            origin,
            seq: 1,
            changes,
        }
        .encode()
    }

    fn grant(h: u64) -> Change {
        Change::Grant(Box::new(seat(h)))
    }

    #[test]
    fn replay_folds_each_vendors_batches_into_the_seats_held() {
        let mut r = Replay::default();
        assert!(r.of("demo").is_none());
        assert!(r.push("demo", 3, &batch(7, vec![grant(1), grant(2)])));
        assert!(r.push("other", 4, &batch(8, vec![grant(9)])));
        // Several payloads may share one log entry.
        assert!(r.push("demo", 5, &batch(7, vec![Change::Release(1)])));
        assert!(r.push("demo", 5, &batch(9, vec![grant(3)])));
        assert!(
            !r.push("demo", 4, &batch(7, vec![grant(4)])),
            "never backwards"
        );
        assert!(!r.push("demo", 6, b"not a batch"));
        assert_eq!((r.seats("demo"), r.seats("other")), (2, 1));
        let (index, summary) = r.of("demo").unwrap();
        let summary = Batch::decode(&summary).unwrap();
        assert_eq!(index, 5);
        assert!(summary.is_summary());
        assert_eq!(summary.changes, vec![grant(2), grant(3)]);
        // A summary replaces what was held.
        assert!(r.push("demo", 7, &Batch::summary(vec![seat(5)]).encode()));
        assert_eq!(r.seats("demo"), 1);
    }

    #[test]
    fn replay_state_round_trips_and_bad_snapshots_are_refused() {
        let mut r = Replay::default();
        r.push("demo", 3, &batch(7, vec![grant(1), grant(2)]));
        r.push("other", 4, &batch(8, vec![grant(9)]));
        let back = Replay::decode(&r.encode()).unwrap();
        assert_eq!(back, r);
        assert_eq!((back.seats("demo"), back.seats("other")), (2, 1));
        assert!(Replay::decode(&[]).is_err());
        assert_eq!(
            Replay::decode(&[9, 0, 0, 0, 0]),
            Err(LogDataError::SnapshotFormat(9))
        );
        // A vendor whose summary is not a batch.
        let mut w = Writer::default();
        SNAPSHOT_FORMAT.put(&mut w);
        1u32.put(&mut w);
        VendorState {
            vendor: "demo".into(),
            index: 3,
            summary: Blob(b"garbage".to_vec()),
        }
        .put(&mut w);
        assert_eq!(
            Replay::decode(&w.buf),
            Err(LogDataError::VendorState("demo".into()))
        );
        let mut cut = r.encode();
        cut.truncate(cut.len() - 3);
        assert!(Replay::decode(&cut).is_err());
    }

    fn test_plan() -> TriadPlan {
        let f = servers(TRIAD);
        let list: Vec<(u32, &Server)> = f.servers().map(|(e, s)| (e.line, s)).collect();
        plan("t.lic", &list, 1).unwrap()
    }

    #[test]
    fn role_lines_name_the_master_and_why() {
        let p = test_plan();
        let none = Role::default();
        let follow1 = Role {
            serving: false,
            master: Some(1),
        };
        let lead2 = Role {
            serving: true,
            master: Some(2),
        };
        assert!(role_lines(&p, none, none, "x").is_empty());
        assert_eq!(
            role_lines(&p, none, follow1, "standby: master is member 1"),
            vec![
                "CONNECTED, master is lm-primary".to_string(),
                "Master is now lm-primary (member 1) (standby: master is member 1)".to_string(),
            ]
        );
        let lines = role_lines(&p, follow1, lead2, "master: majority");
        assert_eq!(
            lines,
            vec![
                "Master is now build7 (member 2) (master: majority)".to_string(),
                "This server is now the master and serves licenses (master: majority)".to_string(),
            ]
        );
        let lines = role_lines(&p, lead2, none, "no quorum: heard from 0 of 2 peers");
        assert_eq!(
            lines[0],
            "No master: lost build7 (member 2) (no quorum: heard from 0 of 2 peers)"
        );
        assert!(lines[1].starts_with("This server no longer serves licenses"));
    }

    #[test]
    fn quorum_lines() {
        let p = test_plan();
        assert_eq!(
            quorum_line(&p, false, true, &[1, 3]).as_deref(),
            Some("Quorum gained: connected to lm-primary (member 1) and 10.9.9.9 (member 3)")
        );
        assert!(quorum_line(&p, true, false, &[])
            .unwrap()
            .starts_with("Lost quorum"));
        assert_eq!(quorum_line(&p, true, true, &[1]), None);
    }
}
