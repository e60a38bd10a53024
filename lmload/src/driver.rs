//! The parent process of a run: spreads the connections over worker
//! processes (each under the open-files limit), starts and stops their
//! measurement together, merges what they report, and reads the server's
//! memory from `/proc`.

use crate::hist::Histogram;
use crate::net;
use crate::storm::{StormConfig, StormReport};
use crate::worker::{Mode, Report, WorkerConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Connections per loopback source address when spreading.
const PER_SOURCE: usize = 4000;
/// Connections being set up at once, over all workers (vendord's listen
/// backlog is 128).
const SETUP_WINDOW: usize = 128;
/// How long workers may take to set up their connections.
const READY_WITHIN: Duration = Duration::from_secs(120);
/// How long workers may take to report after `stop`.
const REPORT_WITHIN: Duration = Duration::from_secs(30);

/// `lmload run`.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub target: SocketAddr,
    pub mode: Mode,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub feature: String,
    pub processes: usize,
    pub spread: Option<usize>,
    /// Pause between a checkin and the next checkout.
    pub think_us: u64,
}

/// `lmload held`.
#[derive(Debug, Clone)]
pub struct HeldArgs {
    pub target: SocketAddr,
    pub connections: usize,
    pub processes: usize,
    pub interval_ms: u64,
    pub duration: Duration,
    /// Feature each held connection keeps one seat of (empty: none).
    pub hold_feature: String,
    /// Feature the latency probe checks out and in.
    pub probe_feature: String,
    pub probe_connections: usize,
    /// The probe's pause between a checkin and the next checkout.
    pub probe_think_us: u64,
    pub vendord_pid: Option<u32>,
    pub spread: Option<usize>,
}

struct Workers {
    children: Vec<Child>,
    stdins: Vec<Option<ChildStdin>>,
    tx: Sender<(usize, Option<String>)>,
    rx: Receiver<(usize, Option<String>)>,
}

impl Workers {
    fn new() -> Workers {
        let (tx, rx) = channel();
        Workers {
            children: Vec::new(),
            stdins: Vec::new(),
            tx,
            rx,
        }
    }

    /// Starts a worker; returns its number.
    fn spawn(&mut self, cfg: &WorkerConfig) -> Result<usize, String> {
        self.spawn_with(&[
            "worker".into(),
            "--target".into(),
            cfg.target.to_string(),
            "--mode".into(),
            cfg.mode.name().into(),
            "--connections".into(),
            cfg.connections.to_string(),
            "--first".into(),
            cfg.first.to_string(),
            "--spread".into(),
            cfg.spread.to_string(),
            "--feature".into(),
            cfg.feature.clone(),
            "--interval-ms".into(),
            cfg.interval_ms.to_string(),
            "--think-us".into(),
            cfg.think_us.to_string(),
            "--window".into(),
            cfg.window.to_string(),
        ])
    }

    /// Starts this executable with `args`, its standard streams piped to
    /// us; returns its number.
    fn spawn_with(&mut self, args: &[String]) -> Result<usize, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let id = self.children.len();
        let stdout = child.stdout.take().expect("piped stdout");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((id, Some(line))).is_err() {
                    return;
                }
            }
            let _ = tx.send((id, None));
        });
        self.stdins.push(child.stdin.take());
        self.children.push(child);
        Ok(id)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    fn tell(&mut self, ids: impl IntoIterator<Item = usize>, line: &str) {
        for id in ids {
            if let Some(stdin) = self.stdins[id].as_mut() {
                let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
            }
        }
    }

    /// Waits until each of `ids` printed a line starting with `prefix`;
    /// returns those lines by worker.
    fn wait_for(
        &self,
        ids: &[usize],
        prefix: &str,
        within: Duration,
    ) -> Result<Vec<(usize, String)>, String> {
        let deadline = Instant::now() + within;
        let mut got: Vec<(usize, String)> = Vec::new();
        while got.len() < ids.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((id, Some(line))) if ids.contains(&id) && line.starts_with(prefix) => {
                    got.push((id, line));
                }
                Ok((id, None)) if ids.contains(&id) && !got.iter().any(|(g, _)| *g == id) => {
                    return Err(format!("worker {id} exited before `{prefix}`"));
                }
                Ok(_) => {}
                Err(_) => {
                    return Err(format!(
                        "only {} of {} workers said `{prefix}` within {within:?}",
                        got.len(),
                        ids.len()
                    ))
                }
            }
        }
        got.sort_by_key(|(id, _)| *id);
        Ok(got)
    }

    /// Stops `ids` and collects their reports.
    fn stop(&mut self, ids: &[usize]) -> Result<Vec<Report>, String> {
        self.tell(ids.iter().copied(), "stop");
        let lines = self.wait_for(ids, "result ", REPORT_WITHIN)?;
        lines
            .iter()
            .map(|(id, l)| Report::decode(l).ok_or_else(|| format!("worker {id}: bad report {l}")))
            .collect()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stdins.clear();
        let deadline = Instant::now() + Duration::from_secs(10);
        for c in &mut self.children {
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}

fn default_spread(connections: usize) -> usize {
    if connections > PER_SOURCE {
        connections.div_ceil(PER_SOURCE)
    } else {
        1
    }
}

/// Worker configurations for `connections` over `processes`.
fn split(
    base: &WorkerConfig,
    connections: usize,
    processes: usize,
    first: usize,
) -> Vec<WorkerConfig> {
    let k = processes.clamp(1, connections.max(1));
    let mut at = first;
    (0..k)
        .map(|i| {
            let n = connections / k + usize::from(i < connections % k);
            let cfg = WorkerConfig {
                connections: n,
                first: at,
                window: (SETUP_WINDOW / k).max(8),
                ..base.clone()
            };
            at += n;
            cfg
        })
        .collect()
}

/// Totals of several reports.
fn merge(reports: &[Report]) -> (Report, f64) {
    let mut total = Report::default();
    let mut rate = 0.0;
    for r in reports {
        if r.window_ns > 0 {
            rate += r.requests as f64 / (r.window_ns as f64 / 1e9);
        }
        total.window_ns = total.window_ns.max(r.window_ns);
        total.requests += r.requests;
        total.errors += r.errors;
        total.established += r.established;
        total.failed += r.failed;
        total.closed += r.closed;
        total.hb_sent += r.hb_sent;
        total.hb_acked += r.hb_acked;
        total.hb_missed += r.hb_missed;
        total.hb_max_ns = total.hb_max_ns.max(r.hb_max_ns);
        total.latency.merge(&r.latency);
        total.checkin.merge(&r.checkin);
    }
    (total, rate)
}

/// Where the CPU went during a measured window: the server, our own
/// workers, and everything else on the machine.
struct CpuWatch {
    server: Option<u32>,
    workers: Vec<u32>,
    start: Option<(u64, u64, u64, u64)>,
}

/// CPU use over a window, in percent of one CPU.
#[derive(Debug, Default, Clone, Copy)]
struct CpuUse {
    server: f64,
    workers: f64,
    /// Other processes, in percent of the whole machine.
    others: f64,
}

impl CpuWatch {
    fn new(server: Option<u32>, workers: Vec<u32>) -> CpuWatch {
        CpuWatch {
            server,
            workers,
            start: None,
        }
    }

    fn sample(&self) -> Option<(u64, u64, u64, u64)> {
        let (busy, total) = net::machine_ticks()?;
        let server = self.server.and_then(net::cpu_ticks).unwrap_or(0);
        let workers = self.workers.iter().filter_map(|&p| net::cpu_ticks(p)).sum();
        Some((busy, total, server, workers))
    }

    fn begin(&mut self) {
        self.start = self.sample();
    }

    fn end(&self) -> CpuUse {
        let (Some(a), Some(b)) = (self.start, self.sample()) else {
            return CpuUse::default();
        };
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let total = b.1.saturating_sub(a.1).max(1) as f64;
        let seconds = total / cpus / hz;
        let pct = |t: u64| t as f64 / hz / seconds * 100.0;
        let server = b.2.saturating_sub(a.2);
        let workers = b.3.saturating_sub(a.3);
        let others = b.0.saturating_sub(a.0).saturating_sub(server + workers);
        CpuUse {
            server: pct(server),
            workers: pct(workers),
            others: others as f64 / total * 100.0,
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn latency_line(h: &Histogram) -> String {
    format!(
        "p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us ({} samples)",
        us(h.quantile(0.50)),
        us(h.quantile(0.90)),
        us(h.quantile(0.99)),
        us(h.quantile(0.999)),
        us(h.max()),
        h.count()
    )
}

/// `lmload run`: closed-loop clients for a fixed time.
pub fn run(a: &RunArgs) -> Result<(), String> {
    let spread = a.spread.unwrap_or_else(|| default_spread(a.connections));
    let base = WorkerConfig {
        target: a.target,
        mode: a.mode,
        connections: 0,
        first: 0,
        spread,
        feature: a.feature.clone(),
        interval_ms: 1000,
        think_us: a.think_us,
        window: SETUP_WINDOW,
    };
    let mut workers = Workers::new();
    let mut ids = Vec::new();
    for cfg in split(&base, a.connections, a.processes, 0) {
        ids.push(workers.spawn(&cfg)?);
    }
    let t0 = Instant::now();
    let ready = workers.wait_for(&ids, "ready", READY_WITHIN)?;
    let setup = t0.elapsed();
    let failed: u64 = ready.iter().map(|(_, l)| field(l, "failed")).sum();
    std::thread::sleep(a.warmup);
    let mut cpu = CpuWatch::new(net::listener_pid(a.target.port()), workers.pids());
    cpu.begin();
    workers.tell(ids.iter().copied(), "go");
    std::thread::sleep(a.duration);
    let cpu = cpu.end();
    let reports = workers.stop(&ids)?;
    drop(workers);
    let (total, rate) = merge(&reports);
    let what = match a.mode {
        Mode::License => "checkout latency",
        _ => "round-trip latency",
    };
    println!(
        "lmload run: mode {} against {}: {} connections over {} process(es), {:.1} s measured \
         after {:.1} s warm-up (set-up took {:.2} s)",
        a.mode.name(),
        a.target,
        a.connections,
        ids.len(),
        total.window_ns as f64 / 1e9,
        a.warmup.as_secs_f64(),
        setup.as_secs_f64()
    );
    println!("  requests/s: {rate:.0} ({} requests)", total.requests);
    println!("  {what}: {}", latency_line(&total.latency));
    if a.mode == Mode::License {
        println!("  checkin latency: {}", latency_line(&total.checkin));
    }
    println!(
        "  connections failed: {failed}, closed by the server: {}, errors: {}",
        total.closed, total.errors
    );
    let server_us = if rate > 0.0 {
        cpu.server / 100.0 / rate * 1e6
    } else {
        0.0
    };
    println!(
        "  CPU: server {:.0}% of a CPU ({server_us:.1} us per request), clients {:.0}%, \
         other processes {:.0}% of the machine",
        cpu.server, cpu.workers, cpu.others
    );
    println!(
        "RESULT mode={} conns={} rps={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} \
         failed={} closed={} errors={} server_cpu_pct={:.0} server_us_per_req={:.2} \
         client_cpu_pct={:.0} others_cpu_pct={:.0}",
        a.mode.name(),
        a.connections,
        rate,
        us(total.latency.quantile(0.5)),
        us(total.latency.quantile(0.99)),
        us(total.latency.quantile(0.999)),
        failed,
        total.closed,
        total.errors,
        cpu.server,
        server_us,
        cpu.workers,
        cpu.others
    );
    if failed > 0 || total.errors > 0 || total.closed > 0 {
        return Err("some connections failed".into());
    }
    Ok(())
}

/// A `key=value` number in a worker's line.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// `lmload held`: many idle connections heartbeating, a small probe
/// measuring checkout latency meanwhile, and the server's memory.
pub fn held(a: &HeldArgs) -> Result<(), String> {
    let pid = match a.vendord_pid {
        Some(p) => p,
        None => net::listener_pid(a.target.port())
            .ok_or_else(|| format!("no process listens on port {}", a.target.port()))?,
    };
    let rss = || net::rss_kib(pid).map_err(|e| format!("memory of pid {pid}: {e}"));
    let rss_before = rss()?;
    let spread = a.spread.unwrap_or_else(|| default_spread(a.connections));
    let base = WorkerConfig {
        target: a.target,
        mode: Mode::Held,
        connections: 0,
        first: 0,
        spread,
        feature: a.hold_feature.clone(),
        interval_ms: a.interval_ms,
        think_us: 0,
        window: SETUP_WINDOW,
    };
    let mut workers = Workers::new();
    let mut held_ids = Vec::new();
    for cfg in split(&base, a.connections, a.processes, 0) {
        held_ids.push(workers.spawn(&cfg)?);
    }
    let t0 = Instant::now();
    let ready = workers.wait_for(&held_ids, "ready", READY_WITHIN)?;
    let setup = t0.elapsed();
    let established: u64 = ready.iter().map(|(_, l)| field(l, "established")).sum();
    let failed: u64 = ready.iter().map(|(_, l)| field(l, "failed")).sum();
    std::thread::sleep(Duration::from_secs(1));
    let rss_held = rss()?;

    let probe_cfg = WorkerConfig {
        target: a.target,
        mode: Mode::License,
        connections: a.probe_connections,
        first: a.connections,
        spread: 1,
        feature: a.probe_feature.clone(),
        interval_ms: 1000,
        think_us: a.probe_think_us,
        window: a.probe_connections.max(1),
    };
    let probe = workers.spawn(&probe_cfg)?;
    workers.wait_for(&[probe], "ready", READY_WITHIN)?;
    std::thread::sleep(Duration::from_millis(500));
    let all: Vec<usize> = held_ids.iter().copied().chain([probe]).collect();
    let mut cpu = CpuWatch::new(Some(pid), workers.pids());
    cpu.begin();
    workers.tell(all.iter().copied(), "go");
    std::thread::sleep(a.duration);
    let cpu = cpu.end();
    let probe_report = workers.stop(&[probe])?;
    let held_reports = workers.stop(&held_ids)?;
    let rss_end = rss()?;
    drop(workers);

    let (held_total, _) = merge(&held_reports);
    let (probe_total, probe_rate) = merge(&probe_report);
    let per_conn = (rss_held.saturating_sub(rss_before) * 1024) as f64 / established.max(1) as f64;
    println!(
        "lmload held: {} connections to {} over {} process(es) from {} source address(es), \
         heartbeat every {} ms{}; set-up took {:.2} s",
        a.connections,
        a.target,
        held_ids.len(),
        spread,
        a.interval_ms,
        if a.hold_feature.is_empty() {
            String::new()
        } else {
            format!(", each holding 1 seat of {}", a.hold_feature)
        },
        setup.as_secs_f64()
    );
    println!(
        "  connections: {established} set up, {failed} failed, {} closed by the server, {} errors",
        held_total.closed, held_total.errors
    );
    println!(
        "  vendord (pid {pid}) VmRSS: {rss_before} KiB before, {rss_held} KiB held, \
         {rss_end} KiB at the end: {per_conn:.0} bytes per held connection"
    );
    println!(
        "  heartbeats: {} sent, {} acknowledged, {} missed, slowest ack {:.1} ms",
        held_total.hb_sent,
        held_total.hb_acked,
        held_total.hb_missed,
        held_total.hb_max_ns as f64 / 1e6
    );
    println!(
        "  probe ({} connection(s), closed loop on {}, {} us between cycles): {:.0} requests/s, \
         checkout latency {}",
        a.probe_connections,
        a.probe_feature,
        a.probe_think_us,
        probe_rate,
        latency_line(&probe_total.latency)
    );
    println!(
        "  CPU: vendord {:.0}% of a CPU, clients {:.0}%, other processes {:.0}% of the machine",
        cpu.server, cpu.workers, cpu.others
    );
    println!(
        "RESULT mode=held conns={} established={} failed={} closed={} errors={} \
         rss_before_kib={} rss_held_kib={} rss_end_kib={} bytes_per_conn={:.0} \
         hb_sent={} hb_acked={} hb_missed={} hb_max_ms={:.1} probe_rps={:.0} \
         probe_p50_us={:.1} probe_p99_us={:.1} setup_s={:.2} server_cpu_pct={:.0} \
         client_cpu_pct={:.0} others_cpu_pct={:.0} hb_per_s={:.0}",
        a.connections,
        established,
        failed,
        held_total.closed,
        held_total.errors + probe_total.errors,
        rss_before,
        rss_held,
        rss_end,
        per_conn,
        held_total.hb_sent,
        held_total.hb_acked,
        held_total.hb_missed,
        held_total.hb_max_ns as f64 / 1e6,
        probe_rate,
        us(probe_total.latency.quantile(0.5)),
        us(probe_total.latency.quantile(0.99)),
        setup.as_secs_f64(),
        cpu.server,
        cpu.workers,
        cpu.others,
        a.connections as f64 * 1000.0 / a.interval_ms as f64
    );
    if failed > 0 || held_total.closed > 0 || held_total.errors + probe_total.errors > 0 {
        return Err("some connections failed".into());
    }
    Ok(())
}

/// `lmload storm`.
#[derive(Debug, Clone)]
pub struct StormArgs {
    pub storm: StormConfig,
    pub processes: usize,
    /// How long after `ready` the holders may take to go down and all come
    /// back.
    pub within: Duration,
}

/// Sets up the holders, says `READY` on standard output, waits for every
/// worker to settle (all its holders back after their vendor daemon went
/// away) or for `within`, says `SETTLED`, waits for a line (or the end) on
/// standard input, and prints one `STORM` line with the totals. Whoever
/// runs it kills the master after `READY`.
pub fn storm(a: &StormArgs) -> Result<(), String> {
    let mut workers = Workers::new();
    let k = a.processes.clamp(1, a.storm.connections.max(1));
    let mut ids = Vec::new();
    let mut at = 0;
    for i in 0..k {
        let n = a.storm.connections / k + usize::from(i < a.storm.connections % k);
        let cfg = StormConfig {
            connections: n,
            first: at,
            window: (SETUP_WINDOW / k).max(8),
            ..a.storm.clone()
        };
        at += n;
        ids.push(workers.spawn_with(&storm_worker_args(&cfg))?);
    }
    let t0 = Instant::now();
    let ready = workers.wait_for(&ids, "ready", READY_WITHIN)?;
    let established: u64 = ready.iter().map(|(_, l)| field(l, "established")).sum();
    println!(
        "READY held={established} setup_ms={}",
        t0.elapsed().as_millis()
    );
    let _ = std::io::stdout().flush();
    let settled = workers.wait_for(&ids, "settled", a.within);
    // The holders keep their seats until told (or until our input ends),
    // so that whoever runs the storm can count them on the new master.
    println!("SETTLED {}", settled.is_ok());
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_line(&mut String::new());
    workers.tell(ids.iter().copied(), "stop");
    let lines = workers.wait_for(&ids, "storm ", REPORT_WITHIN)?;
    let mut total = StormReport::default();
    for (id, l) in &lines {
        let r = StormReport::decode(l).ok_or_else(|| format!("worker {id}: bad report {l}"))?;
        total.merge(&r);
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    println!(
        "STORM held={} back={} lost={} regained={} foreign={} unresolved={} attempts={} \
         first_down_us={} last_back_us={} reattach_p50_ms={:.1} reattach_p99_ms={:.1} \
         reattach_max_ms={:.1} settled={}",
        total.held,
        total.back,
        total.lost,
        total.regained,
        total.foreign,
        total.unresolved,
        total.attempts,
        total.first_down_us,
        total.last_back_us,
        ms(total.reattach.quantile(0.5)),
        ms(total.reattach.quantile(0.99)),
        ms(total.reattach.max()),
        settled.is_ok()
    );
    if let Err(e) = settled {
        return Err(format!("not every holder came back: {e}"));
    }
    Ok(())
}

fn storm_worker_args(cfg: &StormConfig) -> Vec<String> {
    let lmgrd: Vec<String> = cfg.lmgrd.iter().map(ToString::to_string).collect();
    [
        ("lmgrd", lmgrd.join(",")),
        ("vendor", cfg.vendor.clone()),
        ("feature", cfg.feature.clone()),
        ("connections", cfg.connections.to_string()),
        ("first", cfg.first.to_string()),
        ("spread", cfg.spread.to_string()),
        ("interval-ms", cfg.interval_ms.to_string()),
        ("retry-fast-rounds", cfg.retry_fast_rounds.to_string()),
        ("retry-fast-ms", cfg.retry_fast_ms.to_string()),
        ("retry-initial-ms", cfg.retry_initial_ms.to_string()),
        ("retry-max-ms", cfg.retry_max_ms.to_string()),
        ("window", cfg.window.to_string()),
    ]
    .into_iter()
    .fold(vec!["storm-worker".to_string()], |mut v, (k, val)| {
        v.push(format!("--{k}"));
        v.push(val);
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_evenly_and_contiguously() {
        let base = WorkerConfig {
            target: "127.0.0.1:1".parse().unwrap(),
            mode: Mode::Held,
            connections: 0,
            first: 0,
            spread: 1,
            feature: String::new(),
            interval_ms: 1000,
            think_us: 0,
            window: 1,
        };
        let parts = split(&base, 19_000, 4, 0);
        assert_eq!(
            parts.iter().map(|p| p.connections).collect::<Vec<_>>(),
            [4750; 4]
        );
        assert_eq!(
            parts.iter().map(|p| p.first).collect::<Vec<_>>(),
            [0, 4750, 9500, 14250]
        );
        let parts = split(&base, 10, 3, 5);
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.first, p.connections))
                .collect::<Vec<_>>(),
            [(5, 4), (9, 3), (12, 3)]
        );
        assert_eq!(default_spread(1000), 1);
        assert_eq!(default_spread(19_000), 5);
    }
}
