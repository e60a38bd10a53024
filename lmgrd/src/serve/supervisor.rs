//! Vendor daemon supervision as a pure state machine.
//!
//! lmgrd's event loop tells the supervisor what happened (a child was
//! spawned, reported its port, exited; time passed) and carries out the
//! actions it returns (spawn, signal, log). Nothing here touches a process
//! or a clock, so restart policy and shutdown are tested with virtual time.

use logfmt::banner;

/// What the supervisor asks the event loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the vendor daemon with this index.
    Spawn(usize),
    /// Send a signal to a child.
    Signal { pid: i32, signal: i32 },
    /// A debug-log line for lmgrd.
    Log(String),
}

/// Restart policy.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Delay before the second restart; doubles after each further one.
    pub backoff_start_ms: u64,
    pub backoff_max_ms: u64,
    /// Give up after this many restarts within `window_ms`.
    pub max_restarts: usize,
    pub window_ms: u64,
    /// A daemon that has not reported its port after this long is killed.
    pub start_timeout_ms: u64,
    /// After SIGTERM, how long to wait before SIGKILL.
    pub stop_grace_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            backoff_start_ms: 1_000,
            backoff_max_ms: 30_000,
            max_restarts: 10,
            window_ms: 10 * 60_000,
            start_timeout_ms: 30_000,
            stop_grace_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Waiting to be (re)started at `at`.
    Waiting {
        at: u64,
    },
    /// Running, port not yet known.
    Starting {
        pid: i32,
        since: u64,
    },
    Up {
        pid: i32,
        port: u16,
    },
    /// Restarted too often; left down until lmreread.
    GaveUp,
    /// Asked to stop; `kill_at` is when SIGKILL follows.
    Stopping {
        pid: i32,
        kill_at: u64,
    },
    Stopped,
}

/// Why a vendor cannot be handed to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// lmgrd does not serve this vendor (LM_NOSERVSUPP, -18).
    Unknown,
    /// It does, but its daemon is not up (LM_VENDOR_DOWN, -97).
    Down,
}

#[derive(Debug)]
struct Slot {
    name: String,
    state: State,
    restarts: Vec<u64>,
    /// Restarts so far (passed to the daemon, shown in the log).
    restart_count: u32,
    /// It exited saying a restart would not help; left down until lmreread.
    refused: bool,
    /// It has been up, or has failed, at least once: start-up is over for it.
    settled: bool,
}

impl Slot {
    fn new(name: String) -> Slot {
        Slot {
            name,
            state: State::Waiting { at: 0 },
            restarts: Vec::new(),
            restart_count: 0,
            refused: false,
            settled: false,
        }
    }
}

/// All of lmgrd's vendor daemons.
#[derive(Debug)]
pub struct Supervisor {
    slots: Vec<Slot>,
    policy: Policy,
    shutting_down: bool,
}

impl Supervisor {
    pub fn new(vendors: impl IntoIterator<Item = String>, policy: Policy) -> Self {
        Supervisor {
            slots: vendors.into_iter().map(Slot::new).collect(),
            policy,
            shutting_down: false,
        }
    }

    pub fn name(&self, idx: usize) -> &str {
        &self.slots[idx].name
    }

    #[cfg(test)]
    pub fn state(&self, idx: usize) -> &State {
        &self.slots[idx].state
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn restart_count(&self, idx: usize) -> u32 {
        self.slots[idx].restart_count
    }

    /// The port of a running vendor daemon.
    pub fn lookup(&self, vendor: &str) -> Result<u16, LookupError> {
        let slot = self
            .slots
            .iter()
            .find(|s| s.name == vendor)
            .ok_or(LookupError::Unknown)?;
        match slot.state {
            State::Up { port, .. } => Ok(port),
            _ => Err(LookupError::Down),
        }
    }

    fn find_pid(&self, pid: i32) -> Option<usize> {
        self.slots.iter().position(|s| match s.state {
            State::Starting { pid: p, .. }
            | State::Up { pid: p, .. }
            | State::Stopping { pid: p, .. } => p == pid,
            _ => false,
        })
    }

    /// Every running child's pid.
    pub fn pids(&self) -> Vec<i32> {
        self.slots
            .iter()
            .filter_map(|s| match s.state {
                State::Starting { pid, .. } | State::Up { pid, .. } => Some(pid),
                _ => None,
            })
            .collect()
    }

    /// The child for slot `idx` was started.
    pub fn spawned(&mut self, idx: usize, pid: i32, now: u64) {
        self.slots[idx].state = State::Starting { pid, since: now };
    }

    /// Starting the child failed outright (no such program...).
    pub fn spawn_failed(&mut self, idx: usize, error: &str, now: u64) -> Vec<Action> {
        self.slots[idx].settled = true;
        let mut out = vec![Action::Log(format!(
            "cannot start vendor daemon {}: {error}",
            self.slots[idx].name
        ))];
        out.extend(self.schedule_restart(idx, now));
        out
    }

    /// A child reported the port it listens on.
    pub fn port_reported(&mut self, pid: i32, port: u16) -> Vec<Action> {
        let Some(idx) = self.find_pid(pid) else {
            return Vec::new();
        };
        let slot = &mut self.slots[idx];
        if let State::Starting { .. } = slot.state {
            slot.state = State::Up { pid, port };
            slot.settled = true;
            // FLEXlm's UNIX lmgrd names the port in its `Started` line, so
            // that line waits until the vendor daemon has said which.
            let restarted = slot.restart_count > 0;
            return vec![
                Action::Log(banner::vendor_started(&slot.name, port, pid, restarted)),
                Action::Log(banner::vendor_using_port(&slot.name, port)),
            ];
        }
        Vec::new()
    }

    /// A child exited; `how` describes the status for the log.
    pub fn exited(&mut self, pid: i32, how: &str, now: u64) -> Vec<Action> {
        let Some(idx) = self.find_pid(pid) else {
            return Vec::new();
        };
        let name = self.slots[idx].name.clone();
        if self.shutting_down || matches!(self.slots[idx].state, State::Stopping { .. }) {
            self.slots[idx].state = State::Stopped;
            return Vec::new();
        }
        self.slots[idx].settled = true;
        let mut out = vec![Action::Log(format!("{name} exited with {how}"))];
        out.extend(self.schedule_restart(idx, now));
        out
    }

    /// A child exited saying it cannot run for a reason a restart will
    /// not cure (its log lines say which): it stays down until lmreread,
    /// rather than failing in a loop while lmgrd looks healthy.
    pub fn refused(&mut self, pid: i32, how: &str) -> Vec<Action> {
        let Some(idx) = self.find_pid(pid) else {
            return Vec::new();
        };
        let slot = &mut self.slots[idx];
        if self.shutting_down || matches!(slot.state, State::Stopping { .. }) {
            slot.state = State::Stopped;
            return Vec::new();
        }
        slot.state = State::GaveUp;
        slot.refused = true;
        slot.settled = true;
        vec![Action::Log(format!(
            "{} exited with {how}: it cannot run as configured (see its lines above); \
             lmgrd will not restart it (lmreread tries again)",
            slot.name
        ))]
    }

    /// True once every vendor daemon is up or has failed at least once:
    /// start-up is over, lmgrd may say it is ready.
    pub fn settled(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.settled || s.state == State::Stopped)
    }

    /// Vendor daemons that refused to run (see [`Supervisor::refused`]).
    pub fn refused_names(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|s| s.refused)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// A triad member's vendor daemon exited by itself after lmgrd told it
    /// this server no longer serves (a master steps down that way). That is
    /// no crash: it is started again at once, as a standby, without
    /// counting towards the restart limit, since failovers may come often
    /// and a member whose daemon gave up could never serve again.
    pub fn exited_planned(&mut self, pid: i32, how: &str, now: u64) -> Vec<Action> {
        let Some(idx) = self.find_pid(pid) else {
            return Vec::new();
        };
        if self.shutting_down || matches!(self.slots[idx].state, State::Stopping { .. }) {
            self.slots[idx].state = State::Stopped;
            return Vec::new();
        }
        let slot = &mut self.slots[idx];
        slot.restart_count += 1;
        slot.state = State::Waiting { at: now };
        vec![Action::Log(format!(
            "{} exited with {how} after this server stopped being master: restarting it as a standby",
            slot.name
        ))]
    }

    fn schedule_restart(&mut self, idx: usize, now: u64) -> Vec<Action> {
        let policy = self.policy;
        let slot = &mut self.slots[idx];
        slot.restarts
            .retain(|t| now.saturating_sub(*t) < policy.window_ms);
        if slot.restarts.len() >= policy.max_restarts {
            slot.state = State::GaveUp;
            return vec![Action::Log(format!(
                "{} exited {} times in {} minutes: lmgrd will not restart it (lmreread tries again)",
                slot.name,
                slot.restarts.len(),
                policy.window_ms / 60_000
            ))];
        }
        // The first restart is immediate; later ones back off.
        let delay = match slot.restarts.len() {
            0 => 0,
            n => policy
                .backoff_start_ms
                .saturating_mul(1 << (n - 1).min(16))
                .min(policy.backoff_max_ms),
        };
        slot.restarts.push(now);
        slot.restart_count += 1;
        slot.state = State::Waiting { at: now + delay };
        let mut out = vec![Action::Log(format!(
            "lmgrd will attempt to re-start {} in {} s",
            slot.name,
            delay / 1000
        ))];
        if delay == 0 {
            out.clear();
            out.push(Action::Log(banner::WILL_RESTART.to_string()));
        }
        out
    }

    /// Time passed: start what is due, kill what hangs.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let policy = self.policy;
        for (idx, slot) in self.slots.iter_mut().enumerate() {
            match slot.state {
                State::Waiting { at } if at <= now && !self.shutting_down => {
                    out.push(Action::Spawn(idx))
                }
                State::Starting { pid, since }
                    if now.saturating_sub(since) >= policy.start_timeout_ms =>
                {
                    out.push(Action::Log(format!(
                        "{} did not report its port within {} s: stopping it",
                        slot.name,
                        policy.start_timeout_ms / 1000
                    )));
                    out.push(Action::Signal {
                        pid,
                        signal: libc::SIGKILL,
                    });
                }
                State::Stopping { pid, kill_at } if kill_at <= now => {
                    out.push(Action::Signal {
                        pid,
                        signal: libc::SIGKILL,
                    });
                    slot.state = State::Stopping {
                        pid,
                        kill_at: u64::MAX,
                    };
                }
                _ => {}
            }
        }
        out
    }

    /// When `tick` next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.slots
            .iter()
            .filter_map(|s| match s.state {
                State::Waiting { at } if !self.shutting_down => Some(at),
                State::Starting { since, .. } => Some(since + self.policy.start_timeout_ms),
                State::Stopping { kill_at, .. } if kill_at != u64::MAX => Some(kill_at),
                _ => None,
            })
            .min()
    }

    /// lmreread: `vendors` is the new list of VENDOR lines. Running daemons
    /// that stay get SIGHUP (they reread the file and keep their clients);
    /// daemons that gave up are tried again; new vendors are started;
    /// vendors no longer in the file are stopped. `only` limits all this to
    /// one vendor (`lmreread -vendor`). Returns the indices of new slots,
    /// in order, with the actions.
    pub fn reread(
        &mut self,
        vendors: &[String],
        only: Option<&str>,
        now: u64,
    ) -> (Vec<usize>, Vec<Action>) {
        let mut out = Vec::new();
        let grace = self.policy.stop_grace_ms;
        for slot in &mut self.slots {
            if only.is_some_and(|v| v != slot.name) {
                continue;
            }
            let keep = vendors.contains(&slot.name);
            slot.state = match (&slot.state, keep) {
                (State::Up { pid, .. } | State::Starting { pid, .. }, true) => {
                    out.push(Action::Signal {
                        pid: *pid,
                        signal: libc::SIGHUP,
                    });
                    slot.state.clone()
                }
                (State::GaveUp | State::Stopped, true) => {
                    slot.restarts.clear();
                    slot.refused = false;
                    State::Waiting { at: now }
                }
                (State::Up { pid, .. } | State::Starting { pid, .. }, false) => {
                    out.push(Action::Log(format!(
                        "{} is no longer in the license file: stopping it",
                        slot.name
                    )));
                    out.push(Action::Signal {
                        pid: *pid,
                        signal: libc::SIGTERM,
                    });
                    State::Stopping {
                        pid: *pid,
                        kill_at: now + grace,
                    }
                }
                (State::Waiting { .. } | State::GaveUp, false) => State::Stopped,
                (other, _) => other.clone(),
            };
        }
        let mut added = Vec::new();
        for name in vendors {
            if only.is_some_and(|v| v != name) || self.slots.iter().any(|s| &s.name == name) {
                continue;
            }
            out.push(Action::Log(format!("Starting new vendor daemon {name}")));
            let mut slot = Slot::new(name.clone());
            slot.state = State::Waiting { at: now };
            self.slots.push(slot);
            added.push(self.slots.len() - 1);
        }
        (added, out)
    }

    /// `lmdown -vendor`: stop one vendor daemon; lmgrd and the others stay.
    /// It stays down until lmreread.
    pub fn stop_one(&mut self, vendor: &str, now: u64) -> Vec<Action> {
        let grace = self.policy.stop_grace_ms;
        let Some(slot) = self.slots.iter_mut().find(|s| s.name == vendor) else {
            return Vec::new();
        };
        match slot.state {
            State::Up { pid, .. } | State::Starting { pid, .. } => {
                slot.state = State::Stopping {
                    pid,
                    kill_at: now + grace,
                };
                vec![
                    Action::Log(banner::shutting_down_vendor(vendor, pid, libc::SIGTERM)),
                    Action::Signal {
                        pid,
                        signal: libc::SIGTERM,
                    },
                ]
            }
            _ => {
                slot.state = State::Stopped;
                Vec::new()
            }
        }
    }

    /// Stop every daemon: SIGTERM now, SIGKILL after the grace period.
    pub fn shutdown(&mut self, now: u64) -> Vec<Action> {
        self.shutting_down = true;
        let grace = self.policy.stop_grace_ms;
        let mut out = Vec::new();
        for slot in &mut self.slots {
            slot.state = match slot.state {
                State::Starting { pid, .. } | State::Up { pid, .. } => {
                    out.push(Action::Log(banner::shutting_down_vendor(
                        &slot.name,
                        pid,
                        libc::SIGTERM,
                    )));
                    out.push(Action::Signal {
                        pid,
                        signal: libc::SIGTERM,
                    });
                    State::Stopping {
                        pid,
                        kill_at: now + grace,
                    }
                }
                State::Stopping { pid, kill_at } => State::Stopping { pid, kill_at },
                _ => State::Stopped,
            };
        }
        out
    }

    /// True when no child is left running.
    pub fn all_stopped(&self) -> bool {
        self.slots.iter().all(|s| {
            matches!(
                s.state,
                State::Stopped | State::GaveUp | State::Waiting { .. }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sup() -> Supervisor {
        Supervisor::new(["demo".to_string(), "other".to_string()], Policy::default())
    }

    #[test]
    fn start_report_lookup() {
        let mut s = sup();
        assert_eq!(s.tick(0), vec![Action::Spawn(0), Action::Spawn(1)]);
        s.spawned(0, 100, 0);
        s.spawned(1, 101, 0);
        assert_eq!(s.lookup("demo"), Err(LookupError::Down));
        assert_eq!(s.lookup("nobody"), Err(LookupError::Unknown));
        assert_eq!(
            s.port_reported(100, 40000),
            vec![
                Action::Log("Started demo (internet tcp_port 40000 pid 100)".into()),
                Action::Log("demo using TCP-port 40000".into())
            ]
        );
        assert_eq!(s.lookup("demo"), Ok(40000));
        assert!(
            s.port_reported(999, 1).is_empty(),
            "unknown pids are ignored"
        );
    }

    #[test]
    fn restart_immediately_then_back_off_then_give_up() {
        let mut s = Supervisor::new(
            ["demo".to_string()],
            Policy {
                max_restarts: 3,
                ..Policy::default()
            },
        );
        s.tick(0);
        s.spawned(0, 1, 0);
        s.port_reported(1, 5);
        let a = s.exited(1, "signal 9", 1000);
        assert!(matches!(&a[0], Action::Log(l) if l == "demo exited with signal 9"));
        assert_eq!(s.lookup("demo"), Err(LookupError::Down));
        assert_eq!(
            s.tick(1000),
            vec![Action::Spawn(0)],
            "first restart is immediate"
        );
        s.spawned(0, 2, 1000);
        assert_eq!(
            s.port_reported(2, 6)[0],
            Action::Log("REStarted demo (internet tcp_port 6 pid 2)".into())
        );
        s.exited(2, "status 1", 1500);
        assert!(s.tick(1500).is_empty(), "second restart waits");
        assert_eq!(s.next_deadline(), Some(2500));
        assert_eq!(s.tick(2500), vec![Action::Spawn(0)]);
        s.spawned(0, 3, 2500);
        s.exited(3, "status 1", 2600);
        assert_eq!(s.next_deadline(), Some(4600), "backoff doubles");
        s.tick(4600);
        s.spawned(0, 4, 4600);
        let a = s.exited(4, "status 1", 4700);
        assert_eq!(s.state(0), &State::GaveUp);
        assert!(matches!(&a[1], Action::Log(l) if l.contains("will not restart")));
        assert!(s.tick(1_000_000).is_empty());
        assert_eq!(s.restart_count(0), 3);
    }

    #[test]
    fn restarts_outside_the_window_are_forgotten() {
        let mut s = Supervisor::new(
            ["demo".to_string()],
            Policy {
                max_restarts: 2,
                window_ms: 10_000,
                ..Policy::default()
            },
        );
        let mut now = 0;
        for pid in 1..10 {
            s.tick(now);
            s.spawned(0, pid, now);
            now += 20_000;
            s.exited(pid, "status 1", now);
            assert_ne!(
                s.state(0),
                &State::GaveUp,
                "one crash per 20 s is not a crash loop"
            );
        }
    }

    #[test]
    fn hung_start_is_killed() {
        let mut s = sup();
        s.tick(0);
        s.spawned(0, 7, 0);
        s.spawned(1, 8, 0);
        s.port_reported(8, 1);
        let a = s.tick(30_000);
        assert!(a.contains(&Action::Signal {
            pid: 7,
            signal: libc::SIGKILL
        }));
        assert!(!a.iter().any(|x| matches!(x, Action::Signal { pid: 8, .. })));
    }

    #[test]
    fn reread_signals_keeps_adds_and_removes() {
        let mut s = sup();
        s.tick(0);
        s.spawned(0, 10, 0);
        s.spawned(1, 11, 0);
        s.port_reported(10, 1);
        s.port_reported(11, 2);
        let (added, a) = s.reread(&["demo".to_string(), "third".to_string()], None, 100);
        assert_eq!(added, vec![2]);
        assert!(a.contains(&Action::Signal {
            pid: 10,
            signal: libc::SIGHUP
        }));
        assert!(
            a.contains(&Action::Signal {
                pid: 11,
                signal: libc::SIGTERM
            }),
            "other left the file"
        );
        assert_eq!(s.tick(100), vec![Action::Spawn(2)]);
        assert!(
            s.exited(11, "status 0", 150).is_empty(),
            "a removed vendor is not restarted"
        );
        assert_eq!(s.lookup("other"), Err(LookupError::Down));

        // -vendor limits the reread to one daemon.
        let (added, a) = s.reread(
            &[
                "demo".to_string(),
                "third".to_string(),
                "fourth".to_string(),
            ],
            Some("demo"),
            200,
        );
        assert!(added.is_empty());
        assert_eq!(
            a,
            vec![Action::Signal {
                pid: 10,
                signal: libc::SIGHUP
            }]
        );
    }

    #[test]
    fn a_refusing_daemon_is_not_restarted_until_lmreread() {
        let mut s = sup();
        s.tick(0);
        s.spawned(0, 1, 0);
        s.spawned(1, 2, 0);
        assert!(!s.settled());
        s.port_reported(2, 7);
        let a = s.refused(1, "status 78");
        assert!(matches!(&a[..], [Action::Log(l)] if l.contains("will not restart")));
        assert_eq!(s.state(0), &State::GaveUp);
        assert!(s.settled(), "one up, one refused: start-up is over");
        assert_eq!(s.refused_names(), vec!["demo"]);
        assert!(s.tick(1_000_000).is_empty());
        s.reread(&["demo".to_string(), "other".to_string()], None, 10);
        assert!(s.refused_names().is_empty());
        assert_eq!(s.tick(10), vec![Action::Spawn(0)]);
    }

    #[test]
    fn settled_after_a_first_failure_too() {
        let mut s = Supervisor::new(["demo".to_string()], Policy::default());
        s.tick(0);
        s.spawned(0, 1, 0);
        assert!(!s.settled());
        s.exited(1, "signal 11", 5);
        assert!(s.settled(), "restarting: lmgrd does not wait for it");
    }

    #[test]
    fn reread_retries_a_daemon_that_gave_up() {
        let mut s = Supervisor::new(
            ["demo".to_string()],
            Policy {
                max_restarts: 1,
                ..Policy::default()
            },
        );
        s.tick(0);
        s.spawned(0, 1, 0);
        s.exited(1, "status 1", 10);
        s.tick(10);
        s.spawned(0, 2, 10);
        s.exited(2, "status 1", 20);
        assert_eq!(s.state(0), &State::GaveUp);
        s.reread(&["demo".to_string()], None, 30);
        assert_eq!(s.tick(30), vec![Action::Spawn(0)]);
    }

    #[test]
    fn shutdown_terms_then_kills_and_never_restarts() {
        let mut s = sup();
        s.tick(0);
        s.spawned(0, 10, 0);
        s.spawned(1, 11, 0);
        s.port_reported(10, 1);
        let a = s.shutdown(100);
        assert!(a.contains(&Action::Signal {
            pid: 10,
            signal: libc::SIGTERM
        }));
        assert!(a.contains(&Action::Signal {
            pid: 11,
            signal: libc::SIGTERM
        }));
        assert!(!s.all_stopped());
        assert!(s.exited(10, "status 0", 200).is_empty());
        assert_eq!(
            s.tick(10_100),
            vec![Action::Signal {
                pid: 11,
                signal: libc::SIGKILL
            }]
        );
        assert!(s.tick(20_000).is_empty(), "SIGKILL is sent once");
        s.exited(11, "signal 9", 10_200);
        assert!(s.all_stopped());
        assert!(s.tick(99_999).is_empty());
    }

    #[test]
    fn a_demoted_daemon_restarts_at_once_and_is_not_counted() {
        let mut s = Supervisor::new(["demo".to_string()], Policy::default());
        let mut now = 0;
        for round in 0..20 {
            assert_eq!(s.tick(now), vec![Action::Spawn(0)], "round {round}");
            s.spawned(0, 100 + round, now);
            let actions = s.exited_planned(100 + round, "status 0", now + 10);
            assert!(matches!(&actions[..], [Action::Log(l)] if l.contains("as a standby")));
            now += 20;
        }
        assert_eq!(s.restart_count(0), 20);
        assert!(matches!(s.state(0), State::Waiting { .. }));
        // A real crash afterwards is still restarted at once (first restart).
        s.tick(now);
        s.spawned(0, 999, now);
        let out = s.exited(999, "signal 11", now + 5);
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Log(l) if l.contains("re-start"))));
        assert_eq!(s.state(0), &State::Waiting { at: now + 5 });
    }
}
