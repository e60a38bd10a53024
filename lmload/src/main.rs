//! lmload: load for the serving path.
//!
//! - `lmload echo-server --port P`: a mio echo server, the physical baseline.
//! - `lmload run --target HOST:PORT --mode echo|license ...`: closed-loop
//!   clients over many connections, spread over worker processes.
//! - `lmload held --target HOST:PORT ...`: many connections that only
//!   heartbeat, a latency probe meanwhile, and the server's memory.
//! - `lmload storm --lmgrd A,B,C ...`: holders of a triad that all lose
//!   the master at once and must get their seats back from the next.
//! - `lmload license --dir DIR --port P ...`: a signed benchmark license.
//! - `lmload free-port`: a TCP port below the ephemeral range that was free
//!   a moment ago.
//!
//! `scripts/bench-serving.sh` runs the whole benchmark.

mod control;
mod driver;
mod echo_server;
mod hist;
mod license;
mod net;
mod storm;
mod worker;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use worker::Mode;

const USAGE: &str = "\
usage:
  lmload echo-server --port P [--bind ADDR]
  lmload run --target HOST:PORT --mode echo|license --connections N --duration SECS
             [--feature F] [--processes K] [--warmup SECS] [--think-us T]
             [--source-ips M]
  lmload held --target HOST:PORT --connections N --processes K --interval-ms I
             [--duration SECS] [--hold-feature F] [--probe-feature F]
             [--probe-connections P] [--probe-think-us T] [--vendord-pid PID]
             [--source-ips M]
  lmload storm --lmgrd H:P,H:P,H:P --connections N [--processes K]
             [--vendor V] [--feature F] [--interval-ms I] [--within SECS]
             [--retry-fast-rounds F] [--retry-fast-ms D] [--retry-initial-ms R]
             [--retry-max-ms M] [--source-ips M]
  lmload license --dir DIR --port P [--vendor-port VP] [--vendor V]
             [--features f1,held] [--seats N]
  lmload free-port

  run counts each checkout and each checkin (license) or each round trip
  (echo) as one request; latency is the checkout's (license) or the round
  trip's (echo). held reports vendord's VmRSS per held connection, missed
  heartbeats, and a probe's checkout latency while the connections are held.
  storm prints READY once every holder has its seat (kill the master
  then), and STORM once all are back or --within has passed: seats back,
  lost, regained, given twice (foreign), and reattach times.
  LMLOAD_DEBUG=1 makes storm workers tell every failed connection.
  --source-ips M spreads connections over 127.0.0.2.. (default: one address
  per 4000 connections above 4000).
";

/// `--flag value` pairs after the subcommand.
struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let Some(name) = flag.strip_prefix("--") else {
                return Err(format!("unexpected argument `{flag}`"));
            };
            let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
            values.insert(name.to_string(), value.clone());
        }
        Ok(Flags { values })
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    fn required(&mut self, name: &str) -> Result<String, String> {
        self.take(name).ok_or_else(|| format!("missing --{name}"))
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Option<T>,
    ) -> Result<T, String> {
        match self.take(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value `{v}` for --{name}")),
            None => default.ok_or_else(|| format!("missing --{name}")),
        }
    }

    fn seconds(&mut self, name: &str, default: Option<f64>) -> Result<Duration, String> {
        let s: f64 = self.number(name, default)?;
        if !(0.0..=3600.0).contains(&s) {
            return Err(format!("--{name} must be between 0 and 3600 seconds"));
        }
        Ok(Duration::from_secs_f64(s))
    }

    fn target(&mut self) -> Result<SocketAddr, String> {
        let t = self.required("target")?;
        t.to_socket_addrs()
            .map_err(|e| format!("--target {t}: {e}"))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| format!("--target {t}: no IPv4 address"))
    }

    /// Fails if a flag was given that the subcommand does not know.
    fn done(self) -> Result<(), String> {
        match self.values.keys().next() {
            Some(k) => Err(format!("unknown option --{k}")),
            None => Ok(()),
        }
    }
}

fn positive(name: &str, n: usize) -> Result<usize, String> {
    if n == 0 {
        Err(format!("--{name} must be at least 1"))
    } else {
        Ok(n)
    }
}

fn echo_server(mut f: Flags) -> Result<(), String> {
    let port: u16 = f.number("port", None)?;
    let bind = f.take("bind").unwrap_or_else(|| "127.0.0.1".into());
    f.done()?;
    let addr: SocketAddr = format!("{bind}:{port}")
        .parse()
        .map_err(|e| format!("--bind {bind}: {e}"))?;
    echo_server::serve(addr).map_err(|e| format!("echo server on {addr}: {e}"))
}

fn run(mut f: Flags) -> Result<(), String> {
    let mode = f.required("mode")?;
    let mode = match Mode::parse(&mode) {
        Some(m @ (Mode::Echo | Mode::License)) => m,
        _ => return Err(format!("--mode {mode}: echo or license")),
    };
    let a = driver::RunArgs {
        target: f.target()?,
        mode,
        connections: positive("connections", f.number("connections", None)?)?,
        duration: f.seconds("duration", None)?,
        warmup: f.seconds("warmup", Some(1.0))?,
        feature: f.take("feature").unwrap_or_else(|| "f1".into()),
        processes: positive("processes", f.number("processes", Some(1))?)?,
        think_us: f.number("think-us", Some(0))?,
        spread: f
            .take("source-ips")
            .map(|v| v.parse())
            .transpose()
            .map_err(|_| "bad --source-ips")?,
    };
    f.done()?;
    driver::run(&a)
}

fn held(mut f: Flags) -> Result<(), String> {
    let a = driver::HeldArgs {
        target: f.target()?,
        connections: positive("connections", f.number("connections", None)?)?,
        processes: positive("processes", f.number("processes", Some(1))?)?,
        interval_ms: f.number("interval-ms", None)?,
        duration: f.seconds("duration", Some(10.0))?,
        hold_feature: f.take("hold-feature").unwrap_or_default(),
        probe_feature: f.take("probe-feature").unwrap_or_else(|| "f1".into()),
        probe_connections: positive("probe-connections", f.number("probe-connections", Some(1))?)?,
        probe_think_us: f.number("probe-think-us", Some(1000))?,
        vendord_pid: f
            .take("vendord-pid")
            .map(|v| v.parse())
            .transpose()
            .map_err(|_| "bad --vendord-pid")?,
        spread: f
            .take("source-ips")
            .map(|v| v.parse())
            .transpose()
            .map_err(|_| "bad --source-ips")?,
    };
    if a.interval_ms == 0 {
        return Err("--interval-ms must be at least 1".into());
    }
    f.done()?;
    driver::held(&a)
}

/// `--lmgrd H:P,H:P,...`: the triad members' lmgrd, in order.
fn members(f: &mut Flags) -> Result<Vec<SocketAddr>, String> {
    let list = f.required("lmgrd")?;
    list.split(',')
        .map(|t| {
            t.to_socket_addrs()
                .map_err(|e| format!("--lmgrd {t}: {e}"))?
                .find(SocketAddr::is_ipv4)
                .ok_or_else(|| format!("--lmgrd {t}: no IPv4 address"))
        })
        .collect()
}

fn storm_config(f: &mut Flags) -> Result<storm::StormConfig, String> {
    let connections = positive("connections", f.number("connections", None)?)?;
    Ok(storm::StormConfig {
        lmgrd: members(f)?,
        vendor: f.take("vendor").unwrap_or_else(|| "demo".into()),
        feature: f.take("feature").unwrap_or_else(|| "f1".into()),
        connections,
        first: f.number("first", Some(0))?,
        spread: match f.take("spread").or_else(|| f.take("source-ips")) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value `{v}` for --source-ips"))?,
            None => connections.div_ceil(4000),
        },
        interval_ms: positive("interval-ms", f.number("interval-ms", Some(20_000))?)? as u64,
        // The client library's defaults for a triad.
        retry_fast_rounds: f.number("retry-fast-rounds", Some(15))?,
        retry_fast_ms: positive("retry-fast-ms", f.number("retry-fast-ms", Some(200))?)? as u64,
        retry_initial_ms: positive(
            "retry-initial-ms",
            f.number("retry-initial-ms", Some(1_000))?,
        )? as u64,
        retry_max_ms: positive("retry-max-ms", f.number("retry-max-ms", Some(60_000))?)? as u64,
        window: positive("window", f.number("window", Some(128))?)?,
    })
}

fn storm(mut f: Flags) -> Result<(), String> {
    let a = driver::StormArgs {
        storm: storm_config(&mut f)?,
        processes: positive("processes", f.number("processes", Some(4))?)?,
        within: f.seconds("within", Some(60.0))?,
    };
    f.done()?;
    driver::storm(&a)
}

fn storm_worker(mut f: Flags) -> Result<(), String> {
    let cfg = storm_config(&mut f)?;
    f.done()?;
    storm::run(cfg).map_err(|e| format!("storm worker: {e}"))
}

fn license(mut f: Flags) -> Result<(), String> {
    let dir = PathBuf::from(f.required("dir")?);
    let spec = license::Spec {
        port: f.number("port", None)?,
        vendor_port: f.number("vendor-port", Some(0))?,
        vendor: f.take("vendor").unwrap_or_else(|| "demo".into()),
        features: f
            .take("features")
            .unwrap_or_else(|| "f1,held".into())
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        seats: f.number("seats", Some(100_000))?,
    };
    f.done()?;
    let path = license::write(&dir, &spec)?;
    println!("{}", path.display());
    Ok(())
}

fn free_port(f: Flags) -> Result<(), String> {
    f.done()?;
    println!("{}", net::free_port().map_err(|e| e.to_string())?);
    Ok(())
}

fn worker(mut f: Flags) -> Result<(), String> {
    let mode = f.required("mode")?;
    let cfg = worker::WorkerConfig {
        target: f.target()?,
        mode: Mode::parse(&mode).ok_or_else(|| format!("--mode {mode}"))?,
        connections: f.number("connections", None)?,
        first: f.number("first", Some(0))?,
        spread: f.number("spread", Some(1))?,
        feature: f.take("feature").unwrap_or_default(),
        interval_ms: f.number("interval-ms", Some(1000))?,
        think_us: f.number("think-us", Some(0))?,
        window: positive("window", f.number("window", Some(64))?)?,
    };
    f.done()?;
    worker::run(cfg).map_err(|e| format!("worker: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(1);
    };
    if matches!(cmd.as_str(), "-h" | "-help" | "--help" | "help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = Flags::parse(&args[1..]).and_then(|f| match cmd.as_str() {
        "echo-server" => echo_server(f),
        "run" => run(f),
        "held" => held(f),
        "license" => license(f),
        "free-port" => free_port(f),
        "worker" => worker(f),
        "storm" => storm(f),
        "storm-worker" => storm_worker(f),
        other => Err(format!("unknown command `{other}`")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lmload {cmd}: {e}");
            if e.starts_with("unknown") || e.starts_with("missing") || e.starts_with("unexpected") {
                eprint!("{USAGE}");
            }
            ExitCode::from(1)
        }
    }
}
