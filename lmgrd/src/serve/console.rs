//! Where lmgrd tells what goes wrong: the debug log (standard output and
//! error pointed at the `-l` file, reopened after rotation), the console
//! it was started from, and the license files' own problems.

use hostenv::license_list::{Named, Skipped};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;

/// Where start-up failures are told besides the debug log: the standard
/// error lmgrd was started with (a terminal, the journal), when `-l` sent
/// the log elsewhere.
pub struct Console {
    terminal: Option<File>,
}

impl Console {
    /// Keeps a copy of standard error before `-l` replaces it.
    pub(crate) fn keep() -> Console {
        // SAFETY: dup of our own standard error; the new descriptor is ours.
        let fd = unsafe { libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3) };
        Console {
            // SAFETY: fd was just created by fcntl and is owned by nobody else.
            terminal: (fd >= 0).then(|| unsafe { File::from_raw_fd(fd) }),
        }
    }

    /// No copy: the debug log is standard error itself.
    pub(crate) fn same_as_log() -> Console {
        Console { terminal: None }
    }

    /// Logs `why` and tells the console too.
    pub fn fail(&self, why: &str) {
        log::error!("{why}");
        if let Some(mut t) = self.terminal.as_ref() {
            let _ = writeln!(t, "lmgrd: {why}");
        }
    }
}

/// Logs what the license files say is wrong, and the files not served.
pub fn log_license_problems(files: &[Named], skipped: &[Skipped]) {
    for (_, file) in files {
        for d in &file.diagnostics {
            log::warn!("{d}");
        }
    }
    for s in skipped {
        log::warn!("Not serving {}: {}", s.path.display(), s.reason);
    }
}

/// Creates the directory the debug log goes in, when it is missing.
pub(crate) fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Points standard output and error at the debug log, so vendor daemons,
/// which inherit them, write to the same file. Also used to reopen it
/// after rotation (`append`).
pub fn open_log(path: &Path, append: bool) -> std::io::Result<()> {
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
