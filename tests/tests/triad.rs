//! Three-server redundancy end to end: three real lmgrd (each with its
//! vendor daemon) on 127.0.0.1, 127.0.0.2 and 127.0.0.3, one port, the
//! example triad license, and real `lmflex` applications reaching them
//! through `port@127.0.0.1,port@127.0.0.2,port@127.0.0.3`.
//!
//! Each test waits for conditions with a deadline; the failover times they
//! see are printed (`cargo test -p e2e --test triad -- --nocapture`).

use e2e::{bin, examples, free_port, in_use, tempdir, wait_until, with_servers, Peer, Server};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wire::{lmerr, Message};

const WAIT: Duration = Duration::from_secs(30);
/// The example triad license issues 20 seats of f1.
const ISSUED: u32 = 20;

/// The tests start nine processes each; on a small machine two triads at
/// once would compete for the CPU with their 850 ms leases.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The example triad license with its SERVER lines on 127.0.0.1-3 and
/// `port` (hosts and ports are not signed); `first` replaces what follows
/// the port on the first line (PRIMARY_IS_MASTER, timing).
fn triad_license(dir: &Path, port: u16, first: &str) -> PathBuf {
    let text = std::fs::read_to_string(examples().join("triad.lic")).unwrap();
    let servers: Vec<String> = (1..=3)
        .map(|n| {
            let extra = if n == 1 { first } else { "" };
            format!("SERVER 127.0.0.{n} ANY {port} {extra}")
        })
        .collect();
    let out = with_servers(&text, &servers);
    let path = dir.join("triad.lic");
    std::fs::write(&path, out).unwrap();
    path
}

fn addr(member: usize, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, member as u8], port))
}

struct Triad {
    license: PathBuf,
    port: u16,
    /// Index 1-3 by member; `None` while not running.
    members: [Option<Server>; 4],
    /// Members under SIGSTOP: not asked anything (they would not answer).
    stopped: [bool; 4],
    /// Environment for every member's lmgrd.
    env: Vec<(&'static str, &'static str)>,
    /// Each member's HTTP endpoint (`-http`), when it has one.
    http: [Option<SocketAddr>; 4],
    /// The logs of members killed so far.
    past_logs: String,
}

impl Triad {
    fn start(tag: &str, first: &str) -> Triad {
        Triad::start_with(tag, first, Vec::new())
    }

    /// [`Triad::start`] with environment variables for every lmgrd.
    fn start_with(tag: &str, first: &str, env: Vec<(&'static str, &'static str)>) -> Triad {
        Triad::launch(tag, first, env, false)
    }

    /// [`Triad::start`] with an HTTP endpoint on each member's address.
    fn start_with_http(tag: &str, first: &str) -> Triad {
        Triad::launch(tag, first, Vec::new(), true)
    }

    fn launch(tag: &str, first: &str, env: Vec<(&'static str, &'static str)>, http: bool) -> Triad {
        Triad::launch_in(tempdir(tag), first, env, http)
    }

    /// [`Triad::launch`] in `dir`, prepared by the caller (a triad key in
    /// its `state` directory, which the three members share).
    fn launch_in(
        dir: PathBuf,
        first: &str,
        env: Vec<(&'static str, &'static str)>,
        http: bool,
    ) -> Triad {
        let port = free_port();
        let license = triad_license(&dir, port, first);
        let mut t = Triad {
            license,
            port,
            members: [None, None, None, None],
            stopped: [false; 4],
            env,
            http: [None; 4],
            past_logs: String::new(),
        };
        for m in 1..=3 {
            if http {
                t.http[m] = Some(addr(m, free_port()));
            }
            t.start_member(m);
        }
        t
    }

    fn start_member(&mut self, m: usize) {
        let line = m.to_string();
        let http = self.http[m].map(|a| a.to_string());
        let mut args = vec!["-server-line", line.as_str()];
        if let Some(listen) = &http {
            args.extend(["-http", listen.as_str()]);
        }
        self.members[m] = Some(Server::start_with_env(
            &self.license,
            self.port,
            &args,
            &self.env,
        ));
    }

    /// Member `m`'s `/api/1.0/health`: the status code and the document.
    fn health(&self, m: usize) -> (u16, serde_json::Value) {
        let (code, body) =
            e2e::http::get(self.http[m].expect("an HTTP endpoint"), "/api/1.0/health");
        (code, e2e::http::json(&body))
    }

    fn member(&self, m: usize) -> &Server {
        self.members[m].as_ref().expect("member is running")
    }

    fn path(&self) -> String {
        (1..=3)
            .map(|m| format!("{}@127.0.0.{m}", self.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What member `m`'s lmgrd answers a vendor lookup.
    fn lookup(&self, m: usize) -> Option<Result<u16, wire::ErrorReply>> {
        Peer::try_vendor_port(addr(m, self.port), "demo")
    }

    /// The members that hand out their vendor daemon now, with its port.
    fn serving(&self) -> Vec<(usize, u16)> {
        (1..=3)
            .filter(|m| self.members[*m].is_some() && !self.stopped[*m])
            .filter_map(|m| match self.lookup(m) {
                Some(Ok(port)) => Some((m, port)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `m` is the only member that serves; returns its vendor
    /// daemon's address.
    fn wait_master(&self, m: usize, within: Duration) -> SocketAddr {
        let mut found = None;
        wait_until(
            within,
            &format!("member {m} to be the only master"),
            || match self.serving().as_slice() {
                [(only, port)] if *only == m => {
                    found = Some(addr(m, *port));
                    true
                }
                [] | [_] => false,
                several => panic!("several members serve at once: {several:?}"),
            },
        );
        found.unwrap()
    }

    fn status(&self, m: usize) -> wire::StatusReply {
        let mut p = Peer::hello(addr(m, self.port), "status", 0);
        match p.request(&Message::StatusQuery(wire::StatusQuery {
            feature: String::new(),
            ..Default::default()
        })) {
            Message::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }
}

/// A real application holding one seat of f1, with its standard error
/// (where lmflex reports reconnects) collected.
struct App {
    child: Child,
    /// Each line with when it came.
    err: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl App {
    fn start(path: &str, home: &Path) -> App {
        let mut child = Command::new(bin("lmflex"))
            .args(["f1", "--hold", "600", "--no-borrow"])
            .env("LM_LICENSE_FILE", path)
            .env_remove("DEMO_LICENSE_FILE")
            .env("HOME", home)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&err);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        App { child, err }
    }

    fn reconnects(&self) -> usize {
        self.err
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.contains("reconnected to"))
            .count()
    }

    /// When it printed its `n`th reconnect (1-based).
    fn reconnected_at(&self, n: usize) -> Option<Instant> {
        self.err
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.contains("reconnected to"))
            .nth(n - 1)
            .map(|(t, _)| *t)
    }

    /// What it printed, for a failure's message.
    fn said(&self) -> Vec<String> {
        self.err
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }

    fn lost_a_license(&self) -> bool {
        self.err
            .lock()
            .unwrap()
            .iter()
            .any(|(_, l)| l.contains("license f1 lost"))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_lines(server: &Server) -> usize {
    server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("OUT: \"f1\""))
        .count()
}

/// Asks for `count` seats at once on `vendord` as a newcomer.
fn newcomer(vendord: SocketAddr, count: u32, job: u64) -> Message {
    let mut p = Peer::hello(vendord, "newcomer", job);
    p.checkout(1, "f1", count)
}

/// Waits until every application has reconnected `n` times; returns how
/// long after `since` the last of them did.
fn wait_reconnects(apps: &[App], n: usize, since: Instant) -> Duration {
    wait_until(
        WAIT,
        &format!("every application to reconnect {n} time(s)"),
        || apps.iter().all(|a| a.reconnects() >= n),
    );
    apps.iter()
        .filter_map(|a| a.reconnected_at(n))
        .max()
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(since))
}

#[test]
fn the_primary_masters_a_killed_master_is_replaced_and_no_seat_is_lost() {
    let _serial = one_at_a_time();
    let mut triad = Triad::start("triad-kill", "PRIMARY_IS_MASTER");
    let v1 = triad.wait_master(1, WAIT);

    // The others refuse, naming the master, and every member reports the
    // triad the same way.
    let expected_master = format!("{}@127.0.0.1", triad.port);
    for m in [2, 3] {
        let e = triad.lookup(m).unwrap().unwrap_err();
        assert_eq!(e.code, lmerr::LM_BUSYNEWSERV, "{e:?}");
        assert!(e.text.contains(&expected_master), "{}", e.text);
        let s = triad.status(m);
        assert_eq!(s.host, format!("127.0.0.{m}"));
        let masters: Vec<u32> = s
            .triad
            .iter()
            .filter(|t| t.master)
            .map(|t| t.line)
            .collect();
        assert_eq!(masters, vec![1], "{:?}", s.triad);
        assert!(s.triad.iter().all(|t| t.up), "{:?}", s.triad);
    }
    triad
        .member(1)
        .wait_log(WAIT, "This server is now the master and serves licenses");
    triad
        .member(2)
        .wait_log(WAIT, "Master is now 127.0.0.1 (member 1)");

    // Three applications hold a seat each, through the triad's path.
    let home = tempdir("triad-kill-home");
    let apps: Vec<App> = (0..3).map(|_| App::start(&triad.path(), &home)).collect();
    triad
        .member(1)
        .wait_log_count(WAIT, "OUT: \"f1\"", apps.len());
    assert_eq!(in_use(v1, "f1"), 3);

    // kill -9 of the master's lmgrd (its vendor daemon dies with it).
    let killed = triad.members[1].take().unwrap();
    let t0 = Instant::now();
    killed.signal(libc::SIGKILL);
    drop(killed);
    let v2 = triad.wait_master(2, WAIT);
    let serving_after = t0.elapsed();
    let back_after = wait_reconnects(&apps, 1, t0);
    println!(
        "kill -9 of the master: secondary serves after {} ms, all {} applications back after {} ms",
        serving_after.as_millis(),
        apps.len(),
        back_after.as_millis()
    );
    assert!(
        serving_after < Duration::from_secs(10),
        "failover took {serving_after:?}"
    );
    // The seats were taken over, not checked out again.
    assert_eq!(in_use(v2, "f1"), 3, "the new master counts every held seat");
    assert_eq!(out_lines(triad.member(2)), 0, "no holder checked out again");
    assert!(apps.iter().all(|a| !a.lost_a_license()));
    // A newcomer finds exactly the seats nobody holds.
    match newcomer(v2, ISSUED - 3 + 1, 1) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_MAXUSERS, "{d:?}"),
        other => panic!("over-issued: {other:?}"),
    }

    // The primary comes back on its store, catches up as a standby, and
    // with PRIMARY_IS_MASTER takes mastership back; the applications
    // follow it, still without checking out again.
    triad.start_member(1);
    let t1 = Instant::now();
    triad.member(1).wait_log(WAIT, "seat(s) the triad holds");
    let v1 = triad.wait_master(1, WAIT);
    println!(
        "restarted primary is master again after {} ms",
        t1.elapsed().as_millis()
    );
    let back = wait_reconnects(&apps, 2, t1);
    println!(
        "... and the applications followed it {} ms after its restart",
        back.as_millis()
    );
    assert_eq!(in_use(v1, "f1"), 3);
    assert_eq!(out_lines(triad.member(1)), 0);
    triad
        .member(2)
        .wait_log(WAIT, "This server no longer serves licenses");
    triad.member(2).wait_log(
        WAIT,
        "after this server stopped being master: restarting it as a standby",
    );
}

#[test]
fn a_stopped_master_is_replaced_and_steps_down_when_it_resumes() {
    let _serial = one_at_a_time();
    // Without PRIMARY_IS_MASTER the new master keeps mastership.
    let mut triad = Triad::start("triad-stop", "");
    triad.wait_master(1, WAIT);
    let home = tempdir("triad-stop-home");
    let apps: Vec<App> = (0..2).map(|_| App::start(&triad.path(), &home)).collect();
    triad.member(1).wait_log_count(WAIT, "OUT: \"f1\"", 2);

    triad.member(1).signal(libc::SIGSTOP);
    triad.stopped[1] = true;
    let t0 = Instant::now();
    let v2 = triad.wait_master(2, WAIT);
    println!(
        "SIGSTOP of the master: secondary serves after {} ms",
        t0.elapsed().as_millis()
    );
    // The stopped master's seats are the new master's too.
    assert_eq!(in_use(v2, "f1"), 2);
    match newcomer(v2, ISSUED - 2 + 1, 2) {
        Message::Denied(d) => assert_eq!(d.code, lmerr::LM_MAXUSERS, "{d:?}"),
        other => panic!("over-issued: {other:?}"),
    }

    triad.member(1).signal(libc::SIGCONT);
    triad.stopped[1] = false;
    // It learns it is no master, stops its vendor daemon's serving, and the
    // applications are (or by then were already) on the secondary.
    triad
        .member(1)
        .wait_log(WAIT, "This server no longer serves licenses");
    let back = wait_reconnects(&apps, 1, t0);
    println!(
        "SIGSTOP of the master: both applications on the secondary {} ms after the stop",
        back.as_millis()
    );
    let v2 = triad.wait_master(2, WAIT);
    let e = triad.lookup(1).unwrap().unwrap_err();
    assert!(
        e.text.contains(&format!("{}@127.0.0.2", triad.port)),
        "{}",
        e.text
    );
    assert_eq!(in_use(v2, "f1"), 2);
    assert_eq!(out_lines(triad.member(2)), 0);
    assert!(apps.iter().all(|a| !a.lost_a_license()));
}

#[test]
fn a_member_alone_serves_nothing_and_refuses_strangers() {
    let _serial = one_at_a_time();
    let dir = tempdir("triad-alone");
    let port = free_port();
    let license = triad_license(&dir, port, "HEARTBEAT_INTERVAL=1");
    let alone = Server::start(&license, port, &["-server-line", "2", "-t", "1"]);
    // HEARTBEAT_INTERVAL=1: a 1 s heartbeat and FLEXlm's 3s + (s - 1) = 3 s
    // timeout, stretched to the triad's floor of three heartbeats and two
    // ticks.
    alone.wait_log(WAIT, "heartbeat 1000 ms, server timeout 3200 ms");
    alone.wait_log(WAIT, "No majority of the triad within 1 s");
    let lmgrd = addr(2, port);
    let e = Peer::vendor_port(lmgrd, "demo").unwrap_err();
    assert_eq!((e.code, e.minor), (lmerr::LM_BUSYNEWSERV, 602), "{e:?}");
    // A member of another triad (or another copy of the lines) is refused
    // and logged; lmgrd goes on answering.
    let mut p = Peer::connect(lmgrd);
    match p.request(&Message::TriadHello(wire::TriadHello {
        member: 1,
        cluster: "00000000".into(),
        nonce: Default::default(),
        proof: Default::default(),
    })) {
        Message::Error(e) => assert!(e.text.contains("another triad"), "{}", e.text),
        other => panic!("{other:?}"),
    }
    alone.wait_log(WAIT, "Refused a triad connection");
    let s = {
        let mut p = Peer::hello(lmgrd, "status", 0);
        match p.request(&Message::StatusQuery(wire::StatusQuery {
            feature: String::new(),
            ..Default::default()
        })) {
            Message::Status(s) => s,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(s.triad.len(), 3);
    assert!(s.triad.iter().all(|t| !t.master));
    assert_eq!(
        s.triad.iter().map(|t| t.up).collect::<Vec<_>>(),
        vec![false, true, false]
    );
}

impl Triad {
    /// kill -9 of member `m`'s lmgrd (its vendor daemon goes with it).
    fn kill(&mut self, m: usize) {
        if let Some(server) = self.members[m].take() {
            server.signal(libc::SIGKILL);
            self.past_logs.push_str(&server.log_text());
            drop(server);
        }
    }

    /// Every log line of every member so far, killed ones included.
    fn all_logs(&self) -> String {
        let mut all = self.past_logs.clone();
        for s in self.members.iter().flatten() {
            all.push_str(&s.log_text());
        }
        all
    }

    /// Waits until exactly one member serves; returns it and its vendor
    /// daemon. Two serving at once fails the test.
    fn wait_one_master(&self) -> (usize, SocketAddr) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.serving().as_slice() {
                [] => {}
                [(m, port)] => return (*m, addr(*m, *port)),
                several => panic!("several members serve at once: {several:?}"),
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (1..=3)
                    .filter_map(|m| Some((m, self.members[m].as_ref()?)))
                    .map(|(m, s)| format!("--- member {m}:\n{}", s.log_text()))
                    .collect();
                panic!("no master within {WAIT:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// After every restart: one master, which counts the three held seats
/// and gives a newcomer only the seats nobody holds.
fn check_seats(triad: &Triad, job: u64) -> usize {
    let (m, vd) = triad.wait_one_master();
    wait_until(WAIT, "the master to count the held seats", || {
        in_use(vd, "f1") == 3
    });
    assert!(matches!(
        newcomer(vd, ISSUED - 2, job),
        Message::Denied(d) if d.code == lmerr::LM_MAXUSERS
    ));
    m
}

#[test]
fn members_restarted_in_every_order_keep_every_seat_and_one_master() {
    let _one = one_at_a_time();
    // Compacting the log every two entries, members come back from a
    // compacted store, and one that fell behind gets the master's state.
    let mut triad = Triad::start_with("triad-orders", "", vec![("LMGRD_TRIAD_COMPACT_EVERY", "2")]);
    triad.wait_master(1, WAIT);
    let home = tempdir("triad-orders-home");
    let apps: Vec<App> = (0..3).map(|_| App::start(&triad.path(), &home)).collect();
    triad
        .member(1)
        .wait_log_count(WAIT, "OUT: \"f1\"", apps.len());
    // Some traffic of its own, one batch at a time (each reply waits for
    // its commit), so the log has entries enough to be compacted.
    let (_, vd) = triad.wait_one_master();
    let mut churn = Peer::hello(vd, "churn", 999);
    for req in 0..6 {
        let Message::Granted(g) = churn.checkout(req * 2, "f1", 1) else {
            panic!("churn checkout")
        };
        let back = churn.request(&Message::Checkin(wire::Checkin {
            req: req * 2 + 1,
            handle: g.handle,
        }));
        assert!(matches!(back, Message::CheckedIn(_)));
    }
    drop(churn);
    let mut job = 1000;
    // Rolling restarts, one member at a time, in every order.
    for order in [
        [3, 2, 1],
        [2, 1, 3],
        [1, 3, 2],
        [1, 2, 3],
        [2, 3, 1],
        [3, 1, 2],
    ] {
        for m in order {
            triad.kill(m);
            job += 1;
            check_seats(&triad, job);
            triad.start_member(m);
            job += 1;
            check_seats(&triad, job);
        }
    }
    // All three down at once, then back in an order where the tertiary
    // comes first: alone it serves nothing; with one other, that one
    // serves, with every seat.
    for m in 1..=3 {
        triad.kill(m);
    }
    triad.start_member(3);
    triad.member(3).wait_log(WAIT, "Waiting up to");
    assert!(triad.serving().is_empty(), "the tertiary alone serves");
    triad.start_member(2);
    job += 1;
    assert_eq!(check_seats(&triad, job), 2, "the secondary serves");
    triad.start_member(1);
    job += 1;
    check_seats(&triad, job);
    // The applications are back on whichever member serves, with their
    // seats, having never lost a license.
    let (_, vd) = triad.wait_one_master();
    wait_until(WAIT, "the applications to hold their seats again", || {
        in_use(vd, "f1") == 3 && apps.iter().all(|a| a.reconnects() >= 1)
    });
    assert!(
        apps.iter().all(|a| !a.lost_a_license()),
        "{:#?}\n{}",
        apps.iter().map(App::said).collect::<Vec<_>>(),
        triad
            .all_logs()
            .lines()
            .filter(|l| l.contains("(lmgrd)"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let logs = triad.all_logs();
    assert!(
        logs.contains("Triad log compacted up to entry"),
        "the log was compacted along the way"
    );
    assert!(
        logs.contains("Triad state taken from a snapshot"),
        "a member came back from a compacted store"
    );
}

/// The HTTP endpoint of each member says who is master and whether it
/// serves; after the master's kill -9 the new master's says so (and its
/// metrics date the failover); a member left alone answers 503.
#[test]
fn every_members_http_endpoint_follows_the_triad() {
    let _serial = one_at_a_time();
    let mut triad = Triad::start_with_http("triad-http", "PRIMARY_IS_MASTER");
    triad.wait_master(1, WAIT);
    let roles = |triad: &Triad| -> Vec<(u16, String, String)> {
        (1..=3)
            .map(|m| {
                let (code, h) = triad.health(m);
                (
                    code,
                    h["role"].as_str().unwrap_or("").to_string(),
                    h["master"].to_string(),
                )
            })
            .collect()
    };
    wait_until(
        WAIT,
        "every member's endpoint to agree on the master",
        || {
            let r = roles(&triad);
            r.iter()
                .all(|(code, _, master)| *code == 200 && *master == r[0].2)
                && r.iter()
                    .map(|(_, role, _)| role.as_str())
                    .collect::<Vec<_>>()
                    == ["master", "standby", "standby"]
        },
    );
    assert_eq!(triad.health(1).1["serving"], true);
    assert_eq!(
        triad.health(2).1["serving"],
        false,
        "a standby hands out nothing"
    );
    let metrics = e2e::http::get(triad.http[1].unwrap(), "/metrics").1;
    assert!(
        metrics.contains("lm_triad_role{role=\"master\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("lm_triad_members_up 3"), "{metrics}");

    triad.kill(1);
    let (new, _) = triad.wait_one_master();
    wait_until(WAIT, "the new master's endpoint to say so", || {
        let (code, h) = triad.health(new);
        code == 200 && h["role"] == "master"
    });
    let metrics = e2e::http::get(triad.http[new].unwrap(), "/metrics").1;
    assert!(
        metrics.contains("lm_triad_last_failover_timestamp_seconds"),
        "the new master saw the master change: {metrics}"
    );

    let other = if new == 2 { 3 } else { 2 };
    triad.kill(other);
    wait_until(WAIT, "the member left alone to answer 503", || {
        let (code, h) = triad.health(new);
        code == 503
            && h["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no quorum"))
    });
}

/// Member `m` restarted with extra arguments (another key, another state
/// directory).
fn restart_with(triad: &mut Triad, m: usize, extra: &[&str]) {
    triad.kill(m);
    let line = m.to_string();
    let mut args = vec!["-server-line", line.as_str()];
    args.extend_from_slice(extra);
    triad.members[m] = Some(Server::start(&triad.license, triad.port, &args));
}

/// Says `hello` on lmgrd's port as a triad member would; the answer.
fn pose(lmgrd: SocketAddr, hello: wire::TriadHello) -> (Peer, Message) {
    let mut p = Peer::connect(lmgrd);
    let answer = p.request(&Message::TriadHello(hello));
    (p, answer)
}

#[test]
fn members_prove_a_shared_key_and_strangers_and_other_keys_are_refused() {
    let _serial = one_at_a_time();
    let dir = tempdir("triad-key");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    new_key(&["-state-dir", state.to_str().unwrap()]);
    let mut triad = Triad::launch_in(dir.clone(), "PRIMARY_IS_MASTER", Vec::new(), false);
    for m in 1..=3 {
        triad
            .member(m)
            .wait_log(WAIT, "Triad links are authenticated with the key");
        assert!(!triad.member(m).log_text().contains("not authenticated"));
    }
    let (master, vd) = triad.wait_one_master();
    assert_eq!(in_use(vd, "f1"), 0);
    let lmgrd = addr(master, triad.port);
    let posed = if master == 2 { 3 } else { 2 };
    triad
        .member(master)
        .wait_log(WAIT, &format!("Triad connection from {}", label(posed)));

    // A stranger with the license file learns the cluster from a refusal,
    // then poses as a member: with no key (no nonce) it is told so...
    let (_, answer) = pose(lmgrd, hello(posed, "00000000".into(), Vec::new()));
    let cluster = match answer {
        Message::Error(e) => e
            .text
            .split("SERVER lines ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .unwrap()
            .to_string(),
        other => panic!("{other:?}"),
    };
    match pose(lmgrd, hello(posed, cluster.clone(), Vec::new())).1 {
        Message::Error(e) => assert!(
            e.text.contains(&format!(
                "member {posed} has no triad key but member {master} has one"
            )),
            "{}",
            e.text
        ),
        other => panic!("{other:?}"),
    }
    // ...with a nonce it gets the master's challenge and proof, but a
    // made-up proof of its own closes the link before its raft message is
    // read...
    let (mut p, answer) = pose(lmgrd, hello(posed, cluster.clone(), vec![9; 32]));
    match answer {
        Message::TriadHello(h) => {
            assert_eq!(
                (h.member as usize, h.nonce.0.len(), h.proof.0.len()),
                (master, 32, 32)
            );
        }
        other => panic!("{other:?}"),
    }
    p.send(&Message::TriadProof(wire::TriadProof {
        proof: wire::codec::Blob(vec![0; 32]),
    }));
    p.send(&Message::TriadRaft(wire::TriadRaft {
        payload: wire::codec::Blob(vec![1, 2, 3]),
    }));
    assert_eq!(p.recv(), None, "the link is closed");
    triad.member(master).wait_log(
        WAIT,
        &format!("(member {posed}): it did not prove the triad key: its key differs"),
    );
    // ...and a raft message in place of the proof is refused as such.
    let (mut p, _) = pose(lmgrd, hello(posed, cluster.clone(), vec![8; 32]));
    p.send(&Message::TriadRaft(wire::TriadRaft {
        payload: wire::codec::Blob(vec![1, 2, 3]),
    }));
    assert_eq!(p.recv(), None, "the link is closed");
    triad
        .member(master)
        .wait_log(WAIT, "it sent message 0x51 before proving the triad key");
    let log = triad.member(master).log_text();
    assert!(
        !log.contains("bad raft message"),
        "raft never saw it:\n{log}"
    );
    // The real member's link was never replaced: the triad serves on.
    assert_eq!(triad.wait_one_master().0, master);
    assert!(triad.status(master).triad.iter().all(|t| t.up));
    assert!(matches!(newcomer(vd, 1, 1), Message::Granted(_)));

    // A member with another key is refused both ways, and logged so.
    let other = dir.join("other.key");
    let other = other.to_str().unwrap().to_string();
    new_key(&["-o", &other]);
    restart_with(&mut triad, posed, &["-triad-key", &other]);
    // Each checks the other's answer as the dialer and finds it wrong.
    let differs = "did not prove the triad key: its key differs from this member's; retrying";
    for (who, whom) in [(posed, master), (master, posed)] {
        let to = format!("Cannot connect to {}", label(whom));
        wait_until(
            WAIT,
            &format!("member {who} to log: {to} ... {differs}"),
            || {
                triad
                    .member(who)
                    .log_text()
                    .lines()
                    .any(|l| l.contains(&to) && l.contains(differs))
            },
        );
    }
    wait_until(WAIT, "the master to see the member down", || {
        !triad.status(master).triad[posed - 1].up
    });
    assert_eq!(triad.wait_one_master().0, master);

    // A member with no key: both sides say which one lacks it.
    let bare = dir.join("bare");
    let bare = bare.to_str().unwrap().to_string();
    restart_with(&mut triad, posed, &["-state-dir", &bare]);
    triad
        .member(posed)
        .wait_log(WAIT, "triad links are not authenticated");
    let lacks = format!("member {posed} has no triad key but member {master} has one");
    triad.member(posed).wait_log(WAIT, &lacks);
    triad.member(master).wait_log(WAIT, &lacks);
    let lacks = format!("uses a triad key but member {posed} has none");
    triad.member(posed).wait_log(WAIT, &lacks);
    triad.member(master).wait_log(WAIT, &lacks);
    assert_eq!(triad.wait_one_master().0, master);

    // A key file others may read is refused at start, naming the file.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(bin("lmgrd"))
        .args(["-z", "-c"])
        .arg(&triad.license)
        .args(["-server-line", "1", "-triad-key", &other])
        .env("LM_STATE_DIR", dir.join("state2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&other) && text.contains("group or others"),
        "{text}"
    );
}

/// `lmutil lmtriadkey` with `args`, which must succeed.
fn new_key(args: &[&str]) {
    let made = Command::new(bin("lmutil"))
        .arg("lmtriadkey")
        .args(args)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
}

fn hello(member: usize, cluster: String, nonce: Vec<u8>) -> wire::TriadHello {
    wire::TriadHello {
        member: member as u32,
        cluster,
        nonce: wire::codec::Blob(nonce),
        proof: wire::codec::Blob(Vec::new()),
    }
}

/// How the members name member `m` in their logs.
fn label(m: usize) -> String {
    format!("127.0.0.{m} (member {m})")
}
