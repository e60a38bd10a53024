//! Where lmswitch, lmswitchr and lmnewlog may put a log: inside the log
//! directory only, whoever asks and whatever the admin policy.
//!
//! The debug log's directory is `--log-dir` when lmgrd (or whoever starts
//! the daemon) names one, else the directory of the current debug log
//! file, else the state directory. A report log stays in its current
//! file's directory. A requested name is a plain file name in that
//! directory, or an absolute path whose directory is that directory; `..`
//! is refused, and so is anything that exists already (a file is never
//! overwritten nor a symbolic link followed): the file is created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0644.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a log cannot go where it was asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The directory of the debug log: `configured`, else the current log
/// file's, else `state_dir`.
pub fn debug_log_dir(
    configured: Option<&Path>,
    current: Option<&Path>,
    state_dir: Option<&Path>,
) -> Option<PathBuf> {
    configured
        .map(Path::to_path_buf)
        .or_else(|| current.and_then(Path::parent).map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| state_dir.map(Path::to_path_buf))
}

/// The file `requested` names inside `dir` (the directory made canonical),
/// or why it is refused. Nothing is created.
pub fn confine(dir: &Path, requested: &str) -> Result<PathBuf, Refused> {
    if requested.is_empty() {
        return Err(Refused("no file name".into()));
    }
    let canonical = dir.canonicalize().map_err(|e| {
        Refused(format!(
            "the log directory {} cannot be used: {e}",
            dir.display()
        ))
    })?;
    let asked = Path::new(requested);
    if asked.components().any(|c| c == Component::ParentDir) {
        return Err(Refused(format!(
            "\"..\" is not allowed: logs go in {} only",
            canonical.display()
        )));
    }
    let outside = || {
        Refused(format!(
            "{requested} is outside the log directory {}: give a file name in it",
            canonical.display()
        ))
    };
    let name = if asked.is_absolute() {
        let parent = asked.parent().ok_or_else(outside)?;
        match parent.canonicalize() {
            Ok(p) if p == canonical => {}
            _ => return Err(outside()),
        }
        asked.file_name().ok_or_else(outside)?
    } else {
        let mut parts = asked.components().filter(|c| *c != Component::CurDir);
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(name)), None) => name,
            _ => return Err(outside()),
        }
    };
    Ok(canonical.join(name))
}

/// Creates the new log file `requested` inside `dir` (see the module's
/// doc): the file and its path.
pub fn create_in(dir: &Path, requested: &str) -> Result<(File, PathBuf), Refused> {
    let path = confine(dir, requested)?;
    let fail = |e: std::io::Error| {
        let why = match e.raw_os_error() {
            Some(libc::EEXIST) => {
                "it exists already (a log is never overwritten, nor a symbolic link followed)"
                    .to_string()
            }
            _ => e.to_string(),
        };
        Refused(format!("cannot create {}: {why}", path.display()))
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or_default();
    let c_dir = CString::new(parent.as_os_str().as_bytes()).map_err(|_| outside_nul())?;
    let c_name = CString::new(name.as_bytes()).map_err(|_| outside_nul())?;
    // SAFETY: open and openat read NUL-terminated strings we own; each
    // descriptor returned is owned by exactly one File.
    unsafe {
        let dir_fd = libc::open(
            c_dir.as_ptr(),
            libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_RDONLY,
        );
        if dir_fd < 0 {
            return Err(fail(std::io::Error::last_os_error()));
        }
        let dir_file = File::from_raw_fd(dir_fd);
        let fd = libc::openat(
            dir_fd,
            c_name.as_ptr(),
            libc::O_WRONLY
                | libc::O_APPEND
                | libc::O_CREAT
                | libc::O_EXCL
                | libc::O_NOFOLLOW
                | libc::O_CLOEXEC,
            0o644 as libc::c_uint,
        );
        let opened = std::io::Error::last_os_error();
        drop(dir_file);
        if fd < 0 {
            return Err(fail(opened));
        }
        Ok((File::from_raw_fd(fd), path))
    }
}

fn outside_nul() -> Refused {
    Refused("a file name cannot hold a NUL byte".into())
}

/// A report log's new path (lmswitchr, lmnewlog): inside the current
/// report log's directory, and not an existing symbolic link.
pub fn report_path(current: &Path, requested: &str) -> Result<PathBuf, Refused> {
    let dir = current
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = confine(dir, requested)?;
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Refused(format!(
            "{} is a symbolic link: it is not followed",
            path.display()
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_log_directory() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            debug_log_dir(Some(Path::new("/cfg")), Some(Path::new("/l/x.log")), None),
            p("/cfg")
        );
        assert_eq!(
            debug_log_dir(None, Some(Path::new("/l/x.log")), Some(Path::new("/s"))),
            p("/l")
        );
        assert_eq!(
            debug_log_dir(None, Some(Path::new("x.log")), Some(Path::new("/s"))),
            p("/s")
        );
        assert_eq!(debug_log_dir(None, None, Some(Path::new("/s"))), p("/s"));
        assert_eq!(debug_log_dir(None, None, None), None);
    }

    #[test]
    fn only_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let canon = dir.canonicalize().unwrap();
        assert_eq!(confine(&dir, "new.log").unwrap(), canon.join("new.log"));
        assert_eq!(confine(&dir, "./new.log").unwrap(), canon.join("new.log"));
        assert_eq!(
            confine(&dir, canon.join("a.log").to_str().unwrap()).unwrap(),
            canon.join("a.log")
        );
        for bad in [
            "",
            "../escape.log",
            "sub/x.log",
            "/etc/cron.d/x",
            "/tmp/x.log",
            "/",
        ] {
            assert!(confine(&dir, bad).is_err(), "{bad}");
        }
        let dotdot = format!("{}/../logs/x.log", dir.display());
        let e = confine(&dir, &dotdot).unwrap_err();
        assert!(e.0.contains(".."), "{e}");
    }

    #[test]
    fn creates_new_files_only_never_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (mut f, path) = create_in(dir, "new.log").unwrap();
        writeln!(f, "hello").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode & 0o111, 0, "never executable");
        assert_eq!(mode & !0o644, 0, "at most 0644");
        let e = create_in(dir, "new.log").unwrap_err();
        assert!(e.0.contains("exists already"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
        // A link to a file elsewhere (or to nothing) is not followed.
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("link.log")).unwrap();
        assert!(create_in(dir, "link.log").is_err());
        std::os::unix::fs::symlink(tmp.path().join("none"), dir.join("dangling.log")).unwrap();
        assert!(create_in(dir, "dangling.log").is_err());
        assert!(!tmp.path().join("none").exists());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(report_path(&dir.join("r.rl"), "link.log").is_err());
        assert!(report_path(&dir.join("r.rl"), "r2.rl").is_ok());
        assert!(report_path(&dir.join("r.rl"), "/etc/r2.rl").is_err());
    }
}
