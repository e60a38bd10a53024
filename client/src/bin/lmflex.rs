//! lmflex: a small application that checks a license out, holds it (with
//! heartbeats) and checks it in, the way a licensed program does.
//!
//! ```text
//! lmflex FEATURE [VERSION] [--count N] [--hold SECONDS] [--vendor NAME] [-c LICENSE_PATH]
//! ```

use client::{Job, JobConfig, JobEvent};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: lmflex FEATURE [VERSION] [--count N] [--hold SECONDS] [--vendor NAME] [-c LICENSE_PATH]

Checks FEATURE out (version VERSION or later, default 1.0), holds it for
SECONDS (default: until SIGINT or SIGTERM), then checks it in.
The license is found through DEMO_LICENSE_FILE (for vendor demo),
LM_LICENSE_FILE, ~/.flexlmrc, or -c.
";

#[derive(Debug)]
struct Args {
    feature: String,
    version: String,
    count: u32,
    hold: Option<Duration>,
    vendor: String,
    license_path: Option<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut positional = Vec::new();
    let mut count = 1u32;
    let mut hold = None;
    let mut vendor = "demo".to_string();
    let mut license_path = None;
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
            "--hold" | "-hold" => {
                let v = value("--hold")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--hold: `{v}` is not a number of seconds"))?;
                hold = Some(Duration::from_secs_f64(secs));
            }
            "--vendor" | "-vendor" => vendor = value("--vendor")?,
            "-c" => license_path = Some(value("-c")?),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => positional.push(arg),
        }
    }
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
        vendor,
        license_path,
    }))
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
    // the signals wait for `wait_for_signal`.
    let signals = signals::block_termination();

    let config = JobConfig {
        license_path: args.license_path.clone(),
        ..JobConfig::default()
    };
    let job = Job::with_config(&args.vendor, config);
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
        _ => {}
    });

    let license = match job.checkout(&args.feature, &args.version, args.count) {
        Ok(l) => l,
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

    signals::wait_for_signal(&signals, args.hold);

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

#[allow(unsafe_code)]
mod signals {
    use super::{Duration, Instant};

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

    /// Waits for SIGINT/SIGTERM, at most `limit` when given.
    pub(super) fn wait_for_signal(set: &libc::sigset_t, limit: Option<Duration>) {
        let deadline = limit.map(|d| Instant::now() + d);
        loop {
            let got = match deadline {
                None => {
                    // SAFETY: `set` is initialised; no siginfo is asked for.
                    unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) }
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    let ts = libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: `set` and `ts` are initialised locals.
                    unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) }
                }
            };
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
        assert_eq!(a.vendor, "demo");
        assert!(a.hold.is_none());
        let a = parse(&[
            "f2", "2.5", "--count", "2", "--hold", "1.5", "--vendor", "acme", "-c", "27000@h",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.version, "2.5");
        assert_eq!(a.count, 2);
        assert_eq!(a.hold, Some(Duration::from_millis(1500)));
        assert_eq!(a.vendor, "acme");
        assert_eq!(a.license_path.as_deref(), Some("27000@h"));
        assert!(parse(&[]).is_err());
        assert!(parse(&["f1", "--count", "0"]).is_err());
        assert!(parse(&["f1", "--bogus"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
