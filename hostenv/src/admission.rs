//! Whether a new connection is let in: the daemon's connection limit
//! (MAX_CONNECTIONS, never more than the open-file limit leaves room for)
//! and a limit per address, so that one host cannot take every slot.
//! Refusals are logged once per burst, with a count, however many there
//! are. Pure: the time is passed in.

use std::collections::HashMap;
use std::net::IpAddr;

/// Descriptors kept back from client connections, for what the daemon
/// itself opens (logs, stores, its own links and children) and for the
/// administrator's tools when clients fill every slot.
pub const RESERVED_FDS: u64 = 64;
/// Connections let in beyond the limits from the addresses of the other
/// members of a triad: a storm of clients must not refuse the links that
/// keep the triad's majority (they still have to prove themselves).
pub const PEER_HEADROOM: usize = 8;
/// A burst of refusals is over once this long passes without one.
pub const BURST_QUIET_MS: u64 = 5_000;

/// How many client connections a daemon holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// All connections together.
    pub max_connections: usize,
    /// Connections from one address (loopback included).
    pub per_address: usize,
}

impl Limits {
    /// `configured`: what the administrator set (MAX_CONNECTIONS) or the
    /// daemon's own cap, kept below `fd_limit` by [`RESERVED_FDS`];
    /// `per_address`: an override, else half of the total.
    pub fn new(configured: Option<usize>, fd_limit: u64, per_address: Option<usize>) -> Limits {
        let by_fds = usize::try_from(fd_limit.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
        let max_connections = configured.unwrap_or(usize::MAX).min(by_fds).max(1);
        Limits {
            max_connections,
            per_address: per_address.unwrap_or((max_connections / 2).max(1)).max(1),
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot is taken.
    Full(usize),
    /// Its address holds its share already.
    PerAddress(IpAddr, usize),
    /// The process has no descriptor left to give it.
    OutOfDescriptors,
}

impl Refusal {
    fn kind(&self) -> usize {
        match self {
            Refusal::Full(_) => 0,
            Refusal::PerAddress(..) => 1,
            Refusal::OutOfDescriptors => 2,
        }
    }

    /// The minor error number sent with the refusal: which limit it was.
    pub fn minor(&self) -> i32 {
        self.kind() as i32 + 1
    }

    /// What the refused client is told.
    pub fn text(&self) -> String {
        match self {
            Refusal::Full(n) => format!(
                "The license server has reached its limit of {n} client connections; try again later."
            ),
            Refusal::PerAddress(ip, n) => format!(
                "Too many connections from {ip}: the license server accepts at most {n} per address."
            ),
            Refusal::OutOfDescriptors => "This license server system can handle no more \
                 concurrent clients since it is out of file descriptors."
                .to_string(),
        }
    }

    /// The same refusal in the debug log's words (no client's address, as
    /// per-address refusals of a burst may come from many).
    fn log_kind(kind: usize) -> &'static str {
        match kind {
            0 => "the connection limit is reached",
            1 => "an address reached its connection limit",
            _ => "the process is out of file descriptors",
        }
    }
}

/// Refusals since the last quiet period.
#[derive(Debug, Default)]
struct Burst {
    counts: [u64; 3],
    last: u64,
}

/// The connections held, by address, and the refusals being counted.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    by_address: HashMap<IpAddr, usize>,
    total: usize,
    /// The other triad members' addresses (see [`PEER_HEADROOM`]).
    peers: Vec<IpAddr>,
    burst: Burst,
    notes: Vec<String>,
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        Admission {
            limits,
            by_address: HashMap::new(),
            total: 0,
            peers: Vec::new(),
            burst: Burst::default(),
            notes: Vec::new(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// New limits (after an options file reread); connections already in
    /// are kept.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Connections held.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The addresses of the other members of a triad, which get
    /// [`PEER_HEADROOM`] connections beyond the limits.
    pub fn set_peers(&mut self, peers: &[IpAddr]) {
        if self.peers != peers {
            self.peers = peers.to_vec();
        }
    }

    /// Lets a connection from `ip` in, counting it, or says why not (and
    /// counts the refusal).
    pub fn admit(&mut self, ip: IpAddr, now: u64) -> Result<(), Refusal> {
        let from_ip = self.by_address.get(&ip).copied().unwrap_or(0);
        let extra = if self.peers.contains(&ip) {
            PEER_HEADROOM
        } else {
            0
        };
        let refusal = if self.total >= self.limits.max_connections + extra {
            Refusal::Full(self.limits.max_connections)
        } else if from_ip >= self.limits.per_address + extra {
            Refusal::PerAddress(ip, self.limits.per_address)
        } else {
            self.total += 1;
            self.by_address.insert(ip, from_ip + 1);
            return Ok(());
        };
        self.refused(&refusal, now);
        Err(refusal)
    }

    /// A connection from `ip` that was let in is gone.
    pub fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.by_address.get_mut(&ip) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.by_address.remove(&ip);
            }
        }
    }

    /// Counts a refusal; the first of its kind in a burst is logged.
    pub fn refused(&mut self, why: &Refusal, now: u64) {
        let k = why.kind();
        if self.burst.counts[k] == 0 {
            self.notes.push(format!(
                "Refusing new connections: {} (further refusals are counted, and logged \
                 when they stop)",
                why.text().trim_end_matches('.')
            ));
        }
        self.burst.counts[k] += 1;
        self.burst.last = now;
    }

    /// Ends a burst that has been quiet for [`BURST_QUIET_MS`], logging
    /// how many connections it refused.
    pub fn tick(&mut self, now: u64) {
        if self.burst.counts == [0; 3] || now < self.burst.last + BURST_QUIET_MS {
            return;
        }
        for (k, n) in self.burst.counts.iter().enumerate() {
            if *n > 0 {
                self.notes.push(format!(
                    "{n} connection(s) refused because {}; accepting again",
                    Refusal::log_kind(k)
                ));
            }
        }
        self.burst = Burst::default();
    }

    /// When [`tick`](Self::tick) has something to do.
    pub fn next_due(&self) -> Option<u64> {
        (self.burst.counts != [0; 3]).then_some(self.burst.last + BURST_QUIET_MS)
    }

    /// A line for the debug log.
    pub fn note(&mut self, line: String) {
        self.notes.push(line);
    }

    /// Lines for the debug log since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triad_member_gets_in_when_clients_fill_every_slot() {
        let member: IpAddr = [127, 0, 0, 3].into();
        let client: IpAddr = [10, 0, 0, 1].into();
        let mut a = Admission::new(Limits {
            max_connections: 4,
            per_address: 4,
        });
        a.set_peers(&[member]);
        for _ in 0..4 {
            a.admit(client, 0).unwrap();
        }
        assert_eq!(a.admit(client, 0), Err(Refusal::Full(4)));
        for _ in 0..PEER_HEADROOM {
            a.admit(member, 0).unwrap();
        }
        assert_eq!(a.admit(member, 0), Err(Refusal::Full(4)));
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn limits_stay_below_the_descriptors_and_split_per_address() {
        assert_eq!(
            Limits::new(None, 256, None),
            Limits {
                max_connections: 192,
                per_address: 96
            }
        );
        assert_eq!(Limits::new(Some(10), 20_000, None).max_connections, 10);
        assert_eq!(Limits::new(Some(10), 20_000, Some(3)).per_address, 3);
        assert_eq!(
            Limits::new(Some(0), 0, Some(0)),
            Limits {
                max_connections: 1,
                per_address: 1
            }
        );
    }

    #[test]
    fn the_total_and_each_address_are_capped_and_freed() {
        let mut a = Admission::new(Limits {
            max_connections: 3,
            per_address: 2,
        });
        assert!(a.admit(ip(1), 0).is_ok());
        assert!(a.admit(ip(1), 0).is_ok());
        assert_eq!(a.admit(ip(1), 0), Err(Refusal::PerAddress(ip(1), 2)));
        assert!(a.admit(ip(2), 0).is_ok());
        assert_eq!(a.admit(ip(3), 0), Err(Refusal::Full(3)));
        a.release(ip(1));
        assert_eq!(a.total(), 2);
        assert!(a.admit(ip(3), 0).is_ok());
        // Releasing an address never let in changes nothing.
        a.release(ip(9));
        assert_eq!(a.total(), 3);
    }

    #[test]
    fn a_burst_is_logged_once_then_counted() {
        let mut a = Admission::new(Limits {
            max_connections: 1,
            per_address: 1,
        });
        assert!(a.admit(ip(1), 0).is_ok());
        for t in 0..100 {
            assert!(a.admit(ip(2), t).is_err());
        }
        a.refused(&Refusal::OutOfDescriptors, 100);
        let notes = a.take_notes();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("limit of 1 client connections"),
            "{notes:?}"
        );
        assert!(notes[1].contains("out of file descriptors"), "{notes:?}");
        assert_eq!(a.next_due(), Some(100 + BURST_QUIET_MS));
        a.tick(100 + BURST_QUIET_MS - 1);
        assert!(a.take_notes().is_empty());
        a.tick(100 + BURST_QUIET_MS);
        assert_eq!(
            a.take_notes(),
            [
                "100 connection(s) refused because the connection limit is reached; accepting again",
                "1 connection(s) refused because the process is out of file descriptors; accepting again"
            ]
        );
        assert_eq!(a.next_due(), None);
        // A new burst is logged again.
        assert!(a.admit(ip(2), 10_000).is_err());
        assert_eq!(a.take_notes().len(), 1);
    }
}
