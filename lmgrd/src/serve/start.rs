//! Start-up: the state directory, the debug log, the license files, the
//! listening socket, the background, then the loop.
//!
//! Everything that can make a start fail is done before lmgrd says it is
//! up: without `-z`, the shell's process waits until the server listens
//! and its vendor daemons have started, and exits with lmgrd's failure
//! status otherwise, so a boot script sees the truth; under systemd
//! (`Type=notify`), READY=1 is sent at the same moment.

use super::children::Common;
use super::config;
use super::console::create_parent;
use super::console::{log_license_problems, open_log, Console};
use super::daemon::{Daemon, Readiness};
use crate::args::Args;
use hostenv::license_list::Combined;
use hostenv::state_dir::{self, EXIT_CONFIG};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Runs lmgrd as a license server; returns the exit status.
pub fn run(args: Args, license_list: &str) -> i32 {
    let state = state_dir::choose(args.state_dir.as_deref());
    let state_ok = state_dir::prepare(&state);
    state_dir::set(state.clone());
    let log_path = args
        .log
        .as_ref()
        .map(|(p, append)| (state_dir::resolve(p), *append));
    let console = match &log_path {
        Some((path, append)) => {
            let console = Console::keep();
            if let Err(e) = create_parent(path).and_then(|()| open_log(path, *append)) {
                eprintln!("lmgrd: cannot open debug log \"{}\": {e}", path.display());
                return i32::from(EXIT_CONFIG);
            }
            console
        }
        None => Console::same_as_log(),
    };
    logfmt::init("lmgrd");
    if let Err(e) = state_ok {
        console.fail(&e.to_string());
        return i32::from(EXIT_CONFIG);
    }
    let Combined {
        served: files,
        skipped,
    } = match config::read_list(license_list) {
        Ok(f) => f,
        Err(e) => {
            console.fail(&e.to_string());
            return i32::from(EXIT_CONFIG);
        }
    };
    log_license_problems(&files, &skipped);
    let me = client::identity::LocalIdentity::gather().host;
    let lmgrd_dir = lmgrd_dir();
    let cfg = match config::from_files(&files, &me, &lmgrd_dir, args.server_line) {
        Ok(c) => c,
        Err(e) => {
            console.fail(&e.to_string());
            return i32::from(EXIT_CONFIG);
        }
    };
    if let Some(w) = &cfg.host_warning {
        log::warn!("{w}");
    }
    let common = Common {
        state_dir: state,
        bind: args.bind,
        debug_log: log_path.map(|(p, _)| p),
        expiry_warning_days: args.expiry_warning_days,
        log_dir: args.log_dir.clone(),
    };
    let served: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    let web = match crate::web::bind(&args.web, args.bind) {
        Ok(w) => w,
        Err(e) => {
            console.fail(&e.to_string());
            return i32::from(EXIT_CONFIG);
        }
    };
    let web_state_dir = common.state_dir.clone();
    let foreground = args.foreground;
    let local_only = args.local_only;
    // Listen before leaving the foreground: a port in use is the shell's
    // failure, not a line in a log after "success".
    let mut daemon = match Daemon::new(
        cfg,
        license_list.to_string(),
        served.clone(),
        args,
        me.clone(),
        lmgrd_dir,
        common,
    ) {
        Ok(d) => d,
        Err(e) => {
            console.fail(&e.to_string());
            return 1;
        }
    };
    let parent = if foreground {
        None
    } else {
        match background() {
            Ok(Forked::Child(pipe)) => Some(pipe),
            Ok(Forked::Parent(status)) => return status,
            Err(e) => {
                console.fail(&format!("cannot run in the background: {e}"));
                return 1;
            }
        }
    };
    if let Some(bound) = web {
        let context = crate::web::Context {
            lmgrd: daemon.loopback_addr(),
            state_dir: web_state_dir,
        };
        crate::web::spawn(bound, context);
    }
    daemon.tell_when_ready(Readiness { parent, console });
    log_banner(&me.hostname, &served, local_only);
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
fn log_banner(host: &str, licenses: &[PathBuf], local_only: bool) {
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
    let names: Vec<String> = licenses.iter().map(|p| p.display().to_string()).collect();
    log::info!("License file(s): {}", names.join(":"));
}

/// The directory lmgrd runs from: vendor daemons without a path on their
/// VENDOR line are found there.
pub fn lmgrd_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

enum Forked {
    /// In the shell's process: the status to exit with.
    Parent(i32),
    /// In the daemon: the pipe to write one byte on once ready.
    Child(OwnedFd),
}

/// FLEXlm's lmgrd leaves the foreground unless -z: fork and start a new
/// session. The parent waits for the child to say it serves (a byte on a
/// pipe) and exits 0, or, when the pipe closes without it, exits with the
/// child's status.
fn background() -> std::io::Result<Forked> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: called before any thread or child exists.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            drop(read);
            // SAFETY: setsid has no memory effects.
            unsafe { libc::setsid() };
            Ok(Forked::Child(write))
        }
        child => {
            drop(write);
            Ok(Forked::Parent(wait_for_child(read, child)))
        }
    }
}

/// The parent's side of [`background`].
fn wait_for_child(pipe: OwnedFd, child: i32) -> i32 {
    let mut byte = [0u8; 1];
    let got = loop {
        // SAFETY: reading one byte into our buffer.
        let n = unsafe { libc::read(pipe.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
        if n >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break n;
        }
    };
    if got == 1 {
        return 0;
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status into our integer.
    if unsafe { libc::waitpid(child, &mut status, 0) } == child && libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => 1,
            code => code,
        }
    } else {
        1
    }
}
