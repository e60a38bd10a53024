//! Start-up: the debug log, the background, the license file, then the loop.

use super::config;
use super::daemon::Daemon;
use crate::args::Args;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Runs lmgrd as a license server; returns the exit status.
pub fn run(args: Args, license_list: &str) -> i32 {
    if let Some((path, append)) = &args.log {
        if let Err(e) = redirect_output(path, *append) {
            eprintln!("lmgrd: cannot open debug log \"{}\": {e}", path.display());
            return 1;
        }
    }
    logfmt::init("lmgrd");
    // lmgrd reads the first license file of a list; directories give their
    // first *.lic. Clients may use the whole list.
    let Some(license) = first_license(license_list) else {
        log::error!("No license file found in \"{license_list}\"");
        return 1;
    };
    let file = match grammar::read_license(&license) {
        Ok(f) => f,
        Err(e) => {
            log::error!("Cannot read license file \"{}\": {e}", license.display());
            return 1;
        }
    };
    for d in &file.diagnostics {
        log::warn!("{d}");
    }
    let me = client::identity::LocalIdentity::gather().host;
    let lmgrd_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let cfg = match config::from_license(&file, &me, &lmgrd_dir, args.server_line) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    if let Some(w) = &cfg.host_warning {
        log::warn!("{w}");
    }
    if !args.foreground {
        if let Err(e) = background() {
            log::error!("cannot run in the background: {e}");
            return 1;
        }
    }
    log_banner(&me.hostname, &license, args.local_only);
    let daemon = match Daemon::new(cfg, license, args, me, lmgrd_dir) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return 1;
        }
    };
    match daemon.run() {
        Ok(code) => code,
        Err(e) => {
            log::error!("event loop failed: {e}");
            1
        }
    }
}

/// The start-up lines in FLEXlm's order and words (our name and version
/// where FLEXlm prints its own): usage analysers take the log's date from
/// the `started on HOST (platform) (M/D/YYYY)` line.
fn log_banner(host: &str, license: &Path, local_only: bool) {
    use logfmt::banner;
    let now = logfmt::zoned_now();
    let product = banner::Product::ours(wire::version(), wire::platform());
    log::info!("{}", banner::system_date_time(&now));
    log::info!("pid {}", std::process::id());
    log::info!(
        "{}",
        banner::lmgrd_started(&product, host, std::env::consts::OS, &now.local)
    );
    log::info!("{}", banner::copyright(&product));
    if local_only {
        log::info!("lmdown/lmreread only allowed on this machine");
    }
    log::info!("License file(s): {}", license.display());
}

fn first_license(list: &str) -> Option<PathBuf> {
    for entry in list
        .split(':')
        .filter(|e| !e.is_empty() && !e.contains('@'))
    {
        let path = PathBuf::from(entry);
        if path.is_dir() {
            let mut lics: Vec<PathBuf> = std::fs::read_dir(&path)
                .ok()?
                .filter_map(|d| d.ok().map(|d| d.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "lic"))
                .collect();
            lics.sort();
            if let Some(first) = lics.into_iter().next() {
                return Some(first);
            }
        } else {
            return Some(path);
        }
    }
    None
}

/// Points standard output and error at the debug log, so vendor daemons,
/// which inherit them, write to the same file.
fn redirect_output(path: &Path, append: bool) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .truncate(false)
        .open(path)?;
    if !append {
        file.set_len(0)?;
    }
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto the standard descriptors we own.
        if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// FLEXlm's lmgrd leaves the foreground unless -z: fork, let the parent
/// return to the shell, and start a new session.
fn background() -> std::io::Result<()> {
    // SAFETY: called before any thread or child exists.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: setsid has no memory effects.
            unsafe { libc::setsid() };
            Ok(())
        }
        _ => std::process::exit(0),
    }
}
