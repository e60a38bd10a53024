//! The open-file limit both daemons serve under: each connection is a
//! descriptor, so the soft limit is raised to the hard one at start, and
//! the number of client connections accepted is kept below it.

/// Raises the soft limit on open files to the hard limit; returns the soft
/// limit in force afterwards (0 if it cannot be read).
pub fn raise_open_files_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < rl.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            // An unlimited hard limit is refused above the kernel's nr_open.
            let fallback = libc::rlimit {
                rlim_cur: rl.rlim_max.min(1 << 20),
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
                libc::setrlimit(libc::RLIMIT_NOFILE, &fallback);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur
    }
}

/// The soft limit on open files now (0 if it cannot be read).
pub fn open_files_limit() -> u64 {
    // SAFETY: getrlimit writes the struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        rl.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let after = raise_open_files_limit();
        assert!(after > 0);
        assert_eq!(open_files_limit(), after);
    }
}
