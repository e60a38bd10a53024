//! The state directory: where lmgrd and its vendor daemons keep what they
//! write (borrowed seats, report logs, triad stores, debug logs named by a
//! relative path). Never the license directory: that one belongs to the
//! administrator, is often read-only for the service, and may be shared.
//!
//! lmgrd finds it (`-state-dir`, else `LM_STATE_DIR`, else systemd's
//! `STATE_DIRECTORY`, else [`DEFAULT`]), makes sure it can write there,
//! and passes it to every vendor daemon with `--state-dir`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where state goes when nothing says otherwise (the Debian package's).
pub const DEFAULT: &str = "/var/lib/lm";

/// Exit status of a daemon that cannot start for a reason a restart will
/// not cure (sysexits' EX_CONFIG): lmgrd does not restart a vendor daemon
/// that exits with it, and systemd's `RestartPreventExitStatus=` keeps
/// lmgrd from being restarted into the same failure.
pub const EXIT_CONFIG: u8 = 78;

static DIR: OnceLock<PathBuf> = OnceLock::new();

/// The state directory from the command line or the environment.
pub fn choose(given: Option<&Path>) -> PathBuf {
    if let Some(dir) = given {
        return dir.to_path_buf();
    }
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env("LM_STATE_DIR") {
        return PathBuf::from(dir);
    }
    // systemd sets STATE_DIRECTORY for StateDirectory=; several
    // directories are separated by colons, the first is ours.
    if let Some(dirs) = env("STATE_DIRECTORY") {
        if let Some(first) = dirs.to_string_lossy().split(':').find(|d| !d.is_empty()) {
            return PathBuf::from(first);
        }
    }
    PathBuf::from(DEFAULT)
}

/// Records the directory for [`resolve`]; the first call wins.
pub fn set(dir: PathBuf) {
    let _ = DIR.set(dir);
}

/// The directory set with [`set`], if any.
pub fn get() -> Option<&'static Path> {
    DIR.get().map(PathBuf::as_path)
}

/// `path` if absolute, else the same name in the state directory (or,
/// before one is set, as given).
pub fn resolve(path: &Path) -> PathBuf {
    match get() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// A state directory (or a file in it) the daemon cannot use.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {what} \"{path}\": {source}; {advice}")]
pub struct StateError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
    pub advice: String,
}

impl StateError {
    /// The error for `path`, with advice that fits `source`.
    pub fn new(what: &'static str, path: &Path, source: io::Error) -> StateError {
        let advice = match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => format!(
                "it must be writable by user {}: run `install -d -o {} {}` as root, \
                 or name another directory with -state-dir or LM_STATE_DIR",
                current_user(),
                current_user(),
                path.parent()
                    .filter(|_| what != "state directory")
                    .unwrap_or(path)
                    .display()
            ),
            _ => "name another directory with -state-dir or LM_STATE_DIR".to_string(),
        };
        StateError {
            what,
            path: path.to_path_buf(),
            source,
            advice,
        }
    }
}

/// Creates `dir` if needed (owner-only access for new directories) and
/// proves it writable by creating and removing a file in it, so a service
/// that cannot write its state fails at start with one clear message, not
/// later at the first borrow.
pub fn prepare(dir: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |e| StateError::new("state directory", dir, e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(fail)?;
    let probe = dir.join(format!(".lm-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The name of the user this process runs as, for advice.
pub fn current_user() -> String {
    // SAFETY: geteuid has no memory effects; getpwuid_r writes only into
    // the buffers we hand it.
    unsafe {
        let uid = libc::geteuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = [0 as libc::c_char; 1024];
        let mut out = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) == 0
            && !out.is_null()
        {
            if let Ok(name) = std::ffi::CStr::from_ptr(pw.pw_name).to_str() {
                return name.to_string();
            }
        }
        format!("uid {uid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_creates_and_refuses_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "probe removed");

        // A file where the directory should be: one message naming it.
        let blocked = tmp.path().join("file");
        std::fs::write(&blocked, "").unwrap();
        let err = prepare(&blocked.join("state")).unwrap_err().to_string();
        assert!(err.contains(&*blocked.display().to_string()), "{err}");
        assert!(err.contains("-state-dir"), "{err}");
    }

    #[test]
    fn permission_advice_names_the_user_and_the_fix() {
        let e = StateError::new(
            "state directory",
            Path::new("/var/lib/lm"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        let text = e.to_string();
        assert!(text.starts_with("cannot use state directory \"/var/lib/lm\""));
        assert!(text.contains(&format!("install -d -o {} /var/lib/lm", current_user())));
    }

    #[test]
    fn command_line_wins() {
        assert_eq!(choose(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
