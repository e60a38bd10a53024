//! lmflex: a small application of the demo publisher that checks a
//! license out, holds it (with heartbeats) and checks it in, the way a
//! licensed program does. Like any licensed application it has its
//! publisher's keys built in (here the demo keys): only licenses they
//! verify are used.
//!
//! ```text
//! lmflex FEATURE [VERSION] [--count N] [--hold SECONDS] [-c LICENSE_PATH]
//!        [--queue | --wait] [--wait-timeout SECONDS]
//!        [--idle] [--idle-after SECONDS] [--active-after SECONDS]
//!        [--borrow-until dd-mmm-yyyy[:hh:mm] | --no-borrow]
//! lmflex --return FEATURE [-c LICENSE_PATH] [-d DISPLAY]
//! ```

// As in the library: an `LmError` is returned once per failure.
#![allow(clippy::result_large_err)]

use client::borrow::{self, BorrowEnd};
use client::{Borrow, CheckoutOptions, CheckoutOutcome, Job, JobConfig, JobEvent, License, Wait};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: lmflex FEATURE [VERSION] [--count N] [--hold SECONDS] [-c LICENSE_PATH]
              [--queue | --wait] [--wait-timeout SECONDS]
              [--idle] [--idle-after SECONDS] [--active-after SECONDS]
              [--borrow-until dd-mmm-yyyy[:hh:mm] | --no-borrow] [-d DISPLAY]
       lmflex --return FEATURE [-c LICENSE_PATH] [-d DISPLAY]

Checks FEATURE of vendor demo out (version VERSION or later, default 1.0),
holds it for SECONDS (default: until SIGINT or SIGTERM), then checks it in.
It trusts only the demo publisher's keys, built into it.
The license is found through DEMO_LICENSE_FILE (for vendor demo),
LM_LICENSE_FILE, ~/.flexlmrc, or -c.

  --queue         when no license is free, wait in the queue (prints QUEUED)
  --wait          when no license is free, block until one is
  --wait-timeout  give up waiting after SECONDS
  --idle          tell the server the user is idle from the start (IDLE)
  --idle-after    ... SECONDS after the checkout (IDLE); --active-after:
                  the user is active again SECONDS after the checkout (ACTIVE)
  --borrow-until  borrow the license until then (default: as LM_BORROW says;
                  prints BORROWED); --no-borrow: neither borrow nor use a
                  license borrowed earlier
  --return        return the borrowed FEATURE early (prints RETURNED)
";

#[derive(Debug)]
struct Args {
    feature: String,
    version: String,
    count: u32,
    hold: Option<Duration>,
    license_path: Option<String>,
    wait: Wait,
    /// `--wait-timeout`, for `--queue` and `--wait`.
    wait_timeout: Option<Duration>,
    idle_after: Option<Duration>,
    active_after: Option<Duration>,
    borrow: BorrowArg,
    display: Option<String>,
    /// `--return`: return this borrowed feature instead of checking out.
    return_borrow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BorrowArg {
    FromSetting,
    No,
    Until(BorrowEnd),
}

fn seconds(name: &str, v: &str) -> Result<Duration, String> {
    v.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}: `{v}` is not a number of seconds"))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut positional = Vec::new();
    let mut count = 1u32;
    let mut hold = None;
    let mut license_path = None;
    let (mut queue, mut block, mut wait_timeout) = (false, false, None);
    let (mut idle_after, mut active_after) = (None, None);
    let mut borrow = BorrowArg::FromSetting;
    let mut display = None;
    let mut return_borrow = false;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" | "-help" => return Ok(None),
            "--count" | "-count" => {
                let v = value("--count")?;
                count = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--count: `{v}` is not a positive number"))?;
            }
            "--hold" | "-hold" => hold = Some(seconds("--hold", &value("--hold")?)?),
            "-c" => license_path = Some(value("-c")?),
            "-d" => display = Some(value("-d")?),
            "--queue" => queue = true,
            "--wait" => block = true,
            "--wait-timeout" => {
                wait_timeout = Some(seconds("--wait-timeout", &value("--wait-timeout")?)?);
            }
            "--idle" => idle_after = Some(Duration::ZERO),
            "--idle-after" => idle_after = Some(seconds("--idle-after", &value("--idle-after")?)?),
            "--active-after" => {
                active_after = Some(seconds("--active-after", &value("--active-after")?)?);
            }
            "--borrow-until" => {
                let v = value("--borrow-until")?;
                let end = BorrowEnd::parse(&v).map_err(|e| format!("--borrow-until: {e}"))?;
                borrow = BorrowArg::Until(end);
            }
            "--no-borrow" => borrow = BorrowArg::No,
            "--return" => return_borrow = true,
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => positional.push(arg),
        }
    }
    if queue && block {
        return Err("give --queue or --wait, not both".into());
    }
    let wait = if queue {
        Wait::Queue
    } else if block {
        Wait::Block {
            timeout: wait_timeout,
        }
    } else {
        Wait::NoWait
    };
    let mut positional = positional.into_iter();
    let feature = positional.next().ok_or("no FEATURE given")?;
    let version = positional.next().unwrap_or_else(|| "1.0".to_string());
    if let Some(extra) = positional.next() {
        return Err(format!("unexpected argument {extra}"));
    }
    Ok(Some(Args {
        feature,
        version,
        count,
        hold,
        license_path,
        wait,
        wait_timeout,
        idle_after,
        active_after,
        borrow,
        display,
        return_borrow,
    }))
}

/// What the main thread waits for.
enum Note {
    /// SIGINT or SIGTERM.
    Signal,
    /// A queued or blocking checkout ended.
    Got(Result<License, client::LmError>),
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("lmflex: {e}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    // Before any thread starts, so that every thread inherits the mask and
    // the signals wait for the signal thread.
    let signals = signals::block_termination();
    let (tx, rx) = mpsc::channel::<Note>();
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            signals::wait_for_signal(&signals);
            let _ = tx.send(Note::Signal);
        });
    }

    let config = JobConfig {
        license_path: args.license_path.clone(),
        display: args.display.clone(),
        ..JobConfig::default()
    };
    let job = Arc::new(Job::with_config(&client::Publisher::demo(), config));
    job.on_event(|event| match event {
        JobEvent::ConnectionLost { server, reason } => {
            eprintln!("lmflex: lost the connection to {server} ({reason}); reconnecting");
        }
        JobEvent::ReconnectFailed {
            server,
            attempt,
            error,
        } => eprintln!("lmflex: reconnect {attempt} to {server} failed: {error}"),
        JobEvent::Reconnected { server, .. } => eprintln!("lmflex: reconnected to {server}"),
        JobEvent::LicenseLost { feature, error } => {
            eprintln!("lmflex: license {feature} lost: {error}");
        }
        JobEvent::Revoked { feature, error } => {
            eprintln!("lmflex: license {feature} revoked: {error}");
        }
        JobEvent::BorrowNotRecorded { feature, error } => {
            eprintln!("lmflex: borrowed {feature} but could not record it: {error}");
        }
        _ => {}
    });

    if args.return_borrow {
        return match job.return_borrow(&args.feature) {
            Ok(()) => {
                println!("RETURNED {}", args.feature);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{}", e.long_form());
                ExitCode::FAILURE
            }
        };
    }

    let license = match obtain(&job, &args, &tx, &rx) {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!("lmflex: stopped while waiting for {}", args.feature);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprint!("{}", e.long_form());
            return ExitCode::FAILURE;
        }
    };
    let n = license.count();
    println!(
        "Checkout succeeded: {} ({n} license{}, version {})",
        license.feature(),
        if n == 1 { "" } else { "s" },
        license.version()
    );
    if let Some(until) = license.borrowed_until() {
        println!(
            "BORROWED {} until {}{}",
            license.feature(),
            borrow::format_local(until),
            if license.is_local() { " (local)" } else { "" }
        );
    }

    hold(&job, &args, &license, &rx);

    match job.checkin(&license) {
        Ok(()) => {
            println!("Checked in {}", license.feature());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", e.long_form());
            ExitCode::FAILURE
        }
    }
}

/// Checks the license out as the arguments say. `Ok(None)`: a signal came
/// while waiting in the queue.
fn obtain(
    job: &Arc<Job>,
    args: &Args,
    tx: &mpsc::Sender<Note>,
    rx: &mpsc::Receiver<Note>,
) -> Result<Option<License>, client::LmError> {
    let borrow = match &args.borrow {
        BorrowArg::FromSetting => Borrow::FromSetting,
        BorrowArg::No => Borrow::No,
        BorrowArg::Until(end) => Borrow::Until(end.unix(borrow::local_unix).unwrap_or(0)),
    };
    let options = CheckoutOptions {
        wait: Wait::NoWait,
        borrow,
    };
    match args.wait {
        Wait::NoWait => {
            let got = job.checkout_with(&args.feature, &args.version, args.count, &options)?;
            Ok(got.granted())
        }
        Wait::Queue => {
            let options = CheckoutOptions {
                wait: Wait::Queue,
                ..options
            };
            match job.checkout_with(&args.feature, &args.version, args.count, &options)? {
                CheckoutOutcome::Granted(l) => Ok(Some(l)),
                CheckoutOutcome::Queued(mut q) => {
                    println!("QUEUED {}", args.feature);
                    let tx = tx.clone();
                    let timeout = args.wait_timeout;
                    std::thread::spawn(move || {
                        let _ = tx.send(Note::Got(q.wait(timeout)));
                    });
                    outcome(rx)
                }
            }
        }
        Wait::Block { .. } => {
            let (job, tx) = (Arc::clone(job), tx.clone());
            let (feature, version, count) =
                (args.feature.clone(), args.version.clone(), args.count);
            let options = CheckoutOptions {
                wait: args.wait,
                ..options
            };
            std::thread::spawn(move || {
                let got = job
                    .checkout_with(&feature, &version, count, &options)
                    .map(|o| {
                        o.granted()
                            .expect("invariant: a blocking checkout never queues")
                    });
                let _ = tx.send(Note::Got(got));
            });
            outcome(rx)
        }
    }
}

/// Waits for a queued or blocking checkout to end, or a signal.
fn outcome(rx: &mpsc::Receiver<Note>) -> Result<Option<License>, client::LmError> {
    match rx.recv() {
        Ok(Note::Got(got)) => got.map(Some),
        Ok(Note::Signal) | Err(_) => Ok(None),
    }
}

/// Holds the license until `--hold` passes or a signal comes, turning the
/// user idle and active again on the way as asked.
fn hold(job: &Job, args: &Args, license: &License, rx: &mpsc::Receiver<Note>) {
    let start = Instant::now();
    let mut idle_at = args.idle_after.map(|d| start + d);
    let mut active_at = args.active_after.map(|d| start + d);
    let end = args.hold.map(|d| start + d);
    loop {
        let now = Instant::now();
        if idle_at.is_some_and(|t| t <= now) {
            idle_at = None;
            job.set_idle(true);
            println!("IDLE {}", license.feature());
            continue;
        }
        if active_at.is_some_and(|t| t <= now) && idle_at.is_none() {
            active_at = None;
            job.set_idle(false);
            println!("ACTIVE {}", license.feature());
            continue;
        }
        if end.is_some_and(|t| t <= now) {
            return;
        }
        let next = [idle_at, active_at, end].into_iter().flatten().min();
        let got = match next {
            Some(t) => rx.recv_timeout(t.saturating_duration_since(now)),
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(Note::Signal) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Ok(Note::Got(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

#[allow(unsafe_code)]
mod signals {
    /// Blocks SIGINT and SIGTERM in this thread (and the threads it
    /// starts), so they are only taken by [`wait_for_signal`].
    pub(super) fn block_termination() -> libc::sigset_t {
        // SAFETY: sigemptyset initialises the set before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t we own; the calls only modify it
        // and this thread's signal mask.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        set
    }

    /// Waits for SIGINT or SIGTERM.
    pub(super) fn wait_for_signal(set: &libc::sigset_t) {
        loop {
            // SAFETY: `set` is initialised; no siginfo is asked for.
            let got = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
            if got > 0 {
                return;
            }
            let err = std::io::Error::last_os_error().raw_os_error();
            if err != Some(libc::EINTR) && err != Some(libc::EAGAIN) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&["f1"]).unwrap().unwrap();
        assert_eq!(
            (a.feature.as_str(), a.version.as_str(), a.count),
            ("f1", "1.0", 1)
        );
        assert!(a.hold.is_none());
        let a = parse(&[
            "f2", "2.5", "--count", "2", "--hold", "1.5", "-c", "27000@h",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.version, "2.5");
        assert_eq!(a.count, 2);
        assert_eq!(a.hold, Some(Duration::from_millis(1500)));
        assert!(parse(&["f1", "--vendor", "acme"]).is_err());
        assert_eq!(a.license_path.as_deref(), Some("27000@h"));
        assert!(parse(&[]).is_err());
        assert!(parse(&["f1", "--count", "0"]).is_err());
        assert!(parse(&["f1", "--bogus"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
        assert_eq!(a.wait, Wait::NoWait);
        assert_eq!(a.borrow, BorrowArg::FromSetting);
        assert!(!a.return_borrow);
    }

    #[test]
    fn waiting_idle_and_borrowing_arguments() {
        let a = parse(&["f1", "--queue", "--wait-timeout", "2"])
            .unwrap()
            .unwrap();
        assert_eq!(a.wait, Wait::Queue);
        assert_eq!(a.wait_timeout, Some(Duration::from_secs(2)));
        let a = parse(&["f1", "--wait", "--wait-timeout", "0.5"])
            .unwrap()
            .unwrap();
        assert_eq!(
            a.wait,
            Wait::Block {
                timeout: Some(Duration::from_millis(500))
            }
        );
        assert!(parse(&["f1", "--queue", "--wait"]).is_err());
        let a = parse(&["f1", "--idle"]).unwrap().unwrap();
        assert_eq!(a.idle_after, Some(Duration::ZERO));
        let a = parse(&["f1", "--idle-after", "3", "--active-after", "5"])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.idle_after, a.active_after),
            (Some(Duration::from_secs(3)), Some(Duration::from_secs(5)))
        );
        let a = parse(&["f1", "--borrow-until", "24-may-2026:18:30"])
            .unwrap()
            .unwrap();
        assert_eq!(
            a.borrow,
            BorrowArg::Until(BorrowEnd::parse("24-may-2026:18:30").unwrap())
        );
        let e = parse(&["f1", "--borrow-until", "24-may-2026:25:00"]).unwrap_err();
        assert!(e.starts_with("--borrow-until: "), "{e}");
        assert_eq!(
            parse(&["f1", "--no-borrow"]).unwrap().unwrap().borrow,
            BorrowArg::No
        );
        let a = parse(&["--return", "f1", "-d", "ws:0"]).unwrap().unwrap();
        assert!(a.return_borrow);
        assert_eq!(a.feature, "f1");
        assert_eq!(a.display.as_deref(), Some("ws:0"));
    }
}
