//! Starting vendor daemon processes and reaping them.

use super::config::VendorSpec;
use accounting::admin::AdminPolicy;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What every vendor daemon is told, whichever it is.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// Where it writes (`--state-dir`).
    pub state_dir: PathBuf,
    /// The one address to listen on (`--bind`).
    pub bind: Option<std::net::IpAddr>,
    /// The debug log file, reopened on SIGUSR1 (`--debug-log`).
    pub debug_log: Option<PathBuf>,
    /// `--expiry-warning-days`.
    pub expiry_warning_days: Option<u32>,
    /// Where lmswitch may write (`--log-dir`).
    pub log_dir: Option<PathBuf>,
}

impl Common {
    fn add_to(&self, cmd: &mut Command) {
        cmd.arg("--state-dir").arg(&self.state_dir);
        if let Some(ip) = self.bind {
            cmd.arg("--bind").arg(ip.to_string());
        }
        if let Some(log) = &self.debug_log {
            cmd.arg("--debug-log").arg(log);
        }
        if let Some(days) = self.expiry_warning_days {
            cmd.arg("--expiry-warning-days").arg(days.to_string());
        }
        if let Some(dir) = &self.log_dir {
            cmd.arg("--log-dir").arg(dir);
        }
    }
}

/// The vendor daemon's `-c`: its license files as a `:` list.
fn license_list(spec: &VendorSpec) -> std::ffi::OsString {
    let mut out = std::ffi::OsString::new();
    for (i, path) in spec.licenses.iter().enumerate() {
        if i > 0 {
            out.push(":");
        }
        out.push(path);
    }
    out
}

/// A started child: its pid and the read end of its notify pipe.
pub struct Started {
    pub pid: i32,
    pub notify: OwnedFd,
}

/// Starts `spec`'s vendor daemon. The child gets the write end of a pipe on
/// which it reports its port, and is set to receive SIGTERM if lmgrd dies,
/// so it can never outlive us. In a triad it also inherits `triad`, its end
/// of the socket pair to lmgrd (`--triad-fd`), and keeps borrowed seats in
/// a store of this member's (members may share a license directory).
pub fn spawn(
    spec: &VendorSpec,
    common: &Common,
    restarts: u32,
    policy: AdminPolicy,
    triad: Option<(&OwnedFd, &Path)>,
) -> io::Result<Started> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let write_fd = write.as_raw_fd();
    let mut cmd = Command::new(&spec.program);
    cmd.arg("-c")
        .arg(license_list(spec))
        .arg("--vendor")
        .arg(&spec.name)
        .arg("--notify-fd")
        .arg(write_fd.to_string())
        // Only lmgrd speaks to systemd.
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null());
    if let Some(port) = spec.port {
        cmd.arg("--port").arg(port.to_string());
    }
    common.add_to(&mut cmd);
    if restarts > 0 {
        cmd.arg("--vdrestart").arg(restarts.to_string());
    }
    let triad_fd = triad.map(|(fd, _)| fd.as_raw_fd());
    if let Some((fd, borrows)) = triad {
        cmd.arg("--triad-fd")
            .arg(fd.as_raw_fd().to_string())
            .arg("--borrow-store")
            .arg(borrows);
    }
    for (on, flag) in [
        (policy.no_lmdown, "--no-lmdown"),
        (policy.no_lmremove, "--no-lmremove"),
        (policy.local_only, "--admin-local"),
        (policy.admins_only, "--admins-only"),
    ] {
        if on {
            cmd.arg(flag);
        }
    }
    let parent = std::process::id() as i32;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            // lmgrd may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // The notify pipe (and in a triad the socket to lmgrd) are the
            // only descriptors the child inherits.
            for fd in std::iter::once(write_fd).chain(triad_fd) {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(write);
    Ok(Started {
        pid: child.id() as i32,
        notify: read,
    })
}

/// One child that has exited: its pid and how, for the log.
pub struct Exit {
    pub pid: i32,
    pub how: String,
    /// It exited with `hostenv::state_dir::EXIT_CONFIG`: restarting it
    /// would only fail again.
    pub refused: bool,
}

/// Collects every child that has exited, without blocking.
pub fn reap() -> Vec<Exit> {
    let mut out = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into our integer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return out;
        }
        let how = if libc::WIFSIGNALED(status) {
            format!("signal {}", libc::WTERMSIG(status))
        } else {
            format!("status {}", libc::WEXITSTATUS(status))
        };
        let refused = libc::WIFEXITED(status)
            && libc::WEXITSTATUS(status) == i32::from(hostenv::state_dir::EXIT_CONFIG);
        out.push(Exit { pid, how, refused });
    }
}

/// Sends `signal` to `pid`, ignoring a child that is already gone.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: kill has no memory effects.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Reads what a child wrote on its notify pipe; returns the port once a
/// whole line has arrived. `buf` keeps partial input between calls.
pub fn read_port(fd: &OwnedFd, buf: &mut Vec<u8>) -> Option<u16> {
    let mut chunk = [0u8; 64];
    loop {
        // SAFETY: reading into a stack buffer of the length given.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n as usize]);
        if buf.len() > 64 {
            break;
        }
    }
    let line_end = buf.iter().position(|b| *b == b'\n')?;
    std::str::from_utf8(&buf[..line_end])
        .ok()?
        .trim()
        .parse()
        .ok()
}
