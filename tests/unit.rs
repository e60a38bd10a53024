//! Running lmgrd as its systemd unit would, without systemd: the unit's
//! `ExecStart=` command line, as the service user, with a clean
//! environment, the `NOTIFY_SOCKET` readiness protocol, and a debug log
//! in a file.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The unit file shipped in `contrib/systemd/`.
pub fn shipped_unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd/lmgrd.service");
    std::fs::read_to_string(path).expect("the unit file")
}

/// The `KEY=` value of a unit file (the first, for keys that repeat).
pub fn unit_value<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
}

/// The words of the unit's `ExecStart=` (it quotes nothing).
pub fn exec_start(unit: &str) -> Vec<String> {
    unit_value(unit, "ExecStart")
        .expect("ExecStart=")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// `args` with each path prefix of `map` replaced, as when the unit's
/// command line runs from a scratch root instead of `/`.
pub fn relocate(args: &[String], map: &[(&str, &Path)]) -> Vec<String> {
    args.iter()
        .map(|a| {
            for (from, to) in map {
                for prefix in ["", "+"] {
                    if let Some(rest) = a.strip_prefix(&format!("{prefix}{from}")) {
                        return format!("{prefix}{}{rest}", to.display());
                    }
                }
            }
            a.clone()
        })
        .collect()
}

/// The account a test runs the service as: `nobody` when the test runs
/// as root (so the service is not root), else the test's own user, which
/// is not root either.
pub fn service_account() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no memory effects.
    (unsafe { libc::geteuid() } == 0).then_some((65534, 65534))
}

/// Makes `path` the service account's (when there is one to switch to).
pub fn give_to_service(path: &Path) {
    if let Some((uid, gid)) = service_account() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

/// A fresh scratch root readable by every user (the checkout and the
/// temporary directory may not be): a new directory made by `mkdtemp(3)`
/// under `/tmp` (never one that was there before, whatever its name),
/// then opened to every user (mode 0755).
pub fn scratch_root(tag: &str) -> PathBuf {
    let template = format!("/tmp/lm-unit-{tag}-XXXXXX");
    let mut bytes = std::ffi::CString::new(template)
        .expect("no NUL in the tag")
        .into_bytes_with_nul();
    // SAFETY: mkdtemp rewrites the X's of the NUL-terminated template we own.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    assert!(
        !made.is_null(),
        "mkdtemp: {}",
        std::io::Error::last_os_error()
    );
    bytes.pop();
    let dir = PathBuf::from(String::from_utf8(bytes).expect("an ASCII path"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Copies the built binaries `names` into `dir` (mode 755), where the
/// service account can run them.
pub fn copy_binaries(names: &[&str], dir: &Path) {
    std::fs::create_dir_all(dir).expect("bin dir");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for name in names {
        let to = dir.join(name);
        std::fs::copy(crate::bin(name), &to).expect("copy binary");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

/// systemd's end of the readiness protocol: a datagram socket whose
/// path goes in `NOTIFY_SOCKET`.
pub struct Notify {
    socket: UnixDatagram,
    pub path: PathBuf,
    /// Every message received so far.
    pub received: Vec<String>,
}

impl Notify {
    pub fn bind(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("notify socket");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        Notify {
            socket,
            path,
            received: Vec::new(),
        }
    }

    /// Waits for a message with `READY=1`; false when `within` passes.
    pub fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let ready = text.lines().any(|l| l == "READY=1");
                self.received.push(text);
                if ready {
                    return true;
                }
            }
        }
        false
    }
}

/// Starts `args` (program first) as the service account would run it:
/// a clean environment with `env`, standard input closed, the output
/// captured.
pub fn spawn_as_service(args: &[String], env: &[(&str, &Path)]) -> Child {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = service_account() {
        // std drops root's supplementary groups when it sets the uid.
        cmd.uid(uid).gid(gid);
    }
    cmd.spawn().expect("start the unit's command")
}

/// Waits until `path` exists and contains `needle`; returns its text.
pub fn wait_for_text(path: &Path, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} has no {needle:?} after {within:?}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to exit; its status code.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops `child` with SIGTERM, as `systemctl stop` does; its status code.
pub fn stop(child: &mut Child, within: Duration) -> Option<i32> {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_exit(child, within)
}
