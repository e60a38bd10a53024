//! The debug-log format shared by lmgrd and the vendor daemons.
//!
//! Every line reads `HH:MM:SS (daemon) message`: 24-hour local time with the
//! hour padded with a space to two characters (` 8:42:20 (lmgrd) ...`), then
//! the daemon's name in parentheses. Dates appear only in the periodic
//! `TIMESTAMP M/D/YYYY` lines.
//!
//! [`DebugLog`] is a [`log::Log`] that writes such lines to standard output,
//! each whole line (or whole multi-line message) with a single `write(2)`:
//! lmgrd and its vendor daemons share one log file, and a line must never be
//! cut in two by another process's line. [`init`] installs it.
//!
//! The clock is a plain function pointer ([`Clock`]), so tests can format
//! lines at any time they like.

pub mod banner;

use std::fmt::Write as _;
use std::os::fd::RawFd;

/// A moment in local time, as the log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    /// 0..=23
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Where the logger reads the time.
pub type Clock = fn() -> LocalTime;

/// Unix time `secs` in this machine's time zone, with its weekday and
/// zone abbreviation: the one place the C library's `localtime_r` is
/// called. `None` when the C library cannot represent it.
pub fn local_at(secs: i64) -> Option<banner::ZonedTime> {
    zoned_at(secs, true)
}

/// [`local_at`], with the zone abbreviation left empty unless `with_zone`:
/// the log's clock asks for the time of every batch of lines, and copying
/// the abbreviation would cost an allocation each time.
fn zoned_at(secs: i64, with_zone: bool) -> Option<banner::ZonedTime> {
    let t = libc::time_t::try_from(secs).ok()?;
    // SAFETY: an all-zero tm is a valid value for localtime_r to fill;
    // localtime_r writes only into the `tm` we own and is thread-safe;
    // `tm_zone` points at libc's static zone names (or is null), read
    // before any other call could change them.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        let zone = if tm.tm_zone.is_null() || !with_zone {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(tm.tm_zone)
                .to_string_lossy()
                .into_owned()
        };
        Some(banner::ZonedTime {
            local: LocalTime {
                year: tm.tm_year + 1900,
                month: (tm.tm_mon + 1) as u8,
                day: tm.tm_mday as u8,
                hour: tm.tm_hour as u8,
                minute: tm.tm_min as u8,
                second: tm.tm_sec.min(59) as u8,
            },
            weekday: tm.tm_wday as u8,
            zone,
        })
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The current local time, from the C library's time zone rules.
pub fn local_now() -> LocalTime {
    zoned_at(unix_now(), false).map_or(
        LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
        },
        |z| z.local,
    )
}

/// The current local time with its weekday and zone abbreviation, for
/// the start-up banner's `Server's System Date and Time:` line.
pub fn zoned_now() -> banner::ZonedTime {
    local_at(unix_now()).unwrap_or_else(|| banner::ZonedTime {
        local: local_now(),
        weekday: 0,
        zone: String::new(),
    })
}

/// Writes `text` to standard output as it is, without the time and
/// daemon prefix, in one `write(2)`: FLEXlm writes a few lines that way
/// (a blank line when lmgrd shuts down, a vendor daemon's `Shut down ...`).
pub fn write_raw(text: &str) {
    write_once(libc::STDOUT_FILENO, text.as_bytes());
}

/// The start of a line: `" 8:42:20 (lmgrd) "`.
pub fn line_prefix(t: &LocalTime, daemon: &str) -> String {
    let mut prefix = String::new();
    write_prefix(&mut prefix, t, daemon);
    prefix
}

fn write_prefix(out: &mut String, t: &LocalTime, daemon: &str) {
    let _ = write!(
        out,
        "{:>2}:{:02}:{:02} ({daemon}) ",
        t.hour, t.minute, t.second
    );
}

/// A message as log text: every line of it prefixed, each ending in `\n`.
/// An empty message gives one line with the prefix alone, as FLEXlm's
/// blank log lines have.
pub fn format_message(t: &LocalTime, daemon: &str, message: &str) -> String {
    let mut out = String::new();
    format_message_into(&mut out, t, daemon, message);
    out
}

/// [`format_message`], appended to `out`.
pub fn format_message_into(out: &mut String, t: &LocalTime, daemon: &str, message: &str) {
    let body = message.strip_suffix('\n').unwrap_or(message);
    for line in body.split('\n') {
        write_prefix(out, t, daemon);
        out.push_str(line);
        out.push('\n');
    }
}

/// A date as TIMESTAMP lines and start-up banners write it: `5/5/2022`.
pub fn date_mdy(t: &LocalTime) -> String {
    format!("{}/{}/{}", t.month, t.day, t.year)
}

/// Today's local date in the `M/D/YYYY` form.
pub fn timestamp_date() -> String {
    date_mdy(&local_now())
}

/// The periodic date line: `TIMESTAMP 5/5/2022`.
pub fn timestamp_message(t: &LocalTime) -> String {
    format!("TIMESTAMP {}", date_mdy(t))
}

/// A logger writing FLEXlm debug-log lines to a file descriptor
/// (standard output unless told otherwise).
#[derive(Debug, Clone)]
pub struct DebugLog {
    daemon: String,
    clock: Clock,
    fd: RawFd,
    level: log::LevelFilter,
}

impl DebugLog {
    /// A logger tagging lines with `daemon`, writing to standard output at
    /// level Info and above.
    pub fn new(daemon: &str) -> Self {
        DebugLog {
            daemon: daemon.to_string(),
            clock: local_now,
            fd: libc::STDOUT_FILENO,
            level: log::LevelFilter::Info,
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Writes to `fd` instead of standard output. The descriptor stays
    /// owned by the caller and must stay open while the logger is used.
    pub fn with_fd(mut self, fd: RawFd) -> Self {
        self.fd = fd;
        self
    }

    pub fn with_level(mut self, level: log::LevelFilter) -> Self {
        self.level = level;
        self
    }

    pub fn daemon(&self) -> &str {
        &self.daemon
    }

    /// The text one message becomes, time taken from the logger's clock.
    pub fn render(&self, message: &str) -> String {
        format_message(&(self.clock)(), &self.daemon, message)
    }

    /// Writes `message` as log lines, in one `write(2)`.
    pub fn write_message(&self, message: &str) {
        write_once(self.fd, self.render(message).as_bytes());
    }
}

impl log::Log for DebugLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // The message and its lines are formatted in buffers the thread
        // keeps, so that a daemon logging a batch of lines per turn of its
        // loop does not allocate for each.
        let reused = LINES.with(|cell| {
            let Ok(mut bufs) = cell.try_borrow_mut() else {
                // Logging from inside a message's own formatting.
                return false;
            };
            let (message, text) = &mut *bufs;
            message.clear();
            text.clear();
            if write!(message, "{}", record.args()).is_ok() {
                format_message_into(text, &(self.clock)(), &self.daemon, message);
                write_once(self.fd, text.as_bytes());
            }
            // An exceptionally long message does not keep its memory.
            if text.capacity() > KEEP_BYTES {
                *message = String::new();
                *text = String::new();
            }
            true
        });
        if !reused {
            let mut message = String::new();
            if write!(message, "{}", record.args()).is_ok() {
                self.write_message(&message);
            }
        }
    }

    fn flush(&self) {}
}

thread_local! {
    /// The message being logged and its text with prefixes.
    static LINES: std::cell::RefCell<(String, String)> =
        const { std::cell::RefCell::new((String::new(), String::new())) };
}

/// Room kept in those buffers between messages.
const KEEP_BYTES: usize = 64 * 1024;

/// Writes all of `bytes` to `fd`. One call normally suffices; a short write
/// (a full pipe, a signal) is continued, and errors are dropped: a logger
/// has nowhere to report them.
fn write_once(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice of the given length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if n == 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Installs `log` as the process's logger. Fails if one is installed already.
pub fn try_init(log: DebugLog) -> Result<(), log::SetLoggerError> {
    let level = log.level;
    log::set_boxed_logger(Box::new(log))?;
    log::set_max_level(level);
    Ok(())
}

/// Sends every `log` record of this process to standard output as debug-log
/// lines tagged `daemon`. A second call changes nothing.
pub fn init(daemon: &str) {
    // SAFETY: tzset only reads the environment and sets libc's zone state,
    // before any thread of ours formats a time.
    unsafe { tzset() };
    let _ = try_init(DebugLog::new(daemon));
}

extern "C" {
    fn tzset();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn morning() -> LocalTime {
        LocalTime {
            year: 2022,
            month: 5,
            day: 5,
            hour: 8,
            minute: 42,
            second: 20,
        }
    }

    fn evening() -> LocalTime {
        LocalTime {
            year: 2021,
            month: 11,
            day: 6,
            hour: 21,
            minute: 3,
            second: 4,
        }
    }

    fn midnight() -> LocalTime {
        LocalTime {
            hour: 0,
            minute: 0,
            second: 0,
            ..morning()
        }
    }

    #[test]
    fn hour_is_space_padded() {
        assert_eq!(
            format_message(&morning(), "lmgrd", "lmgrd tcp-port 27000"),
            " 8:42:20 (lmgrd) lmgrd tcp-port 27000\n"
        );
        assert_eq!(
            format_message(&evening(), "MLM", "OUT: \"MATLAB\" joe@ws1  "),
            "21:03:04 (MLM) OUT: \"MATLAB\" joe@ws1  \n"
        );
        assert_eq!(line_prefix(&midnight(), "demo"), " 0:00:00 (demo) ");
    }

    #[test]
    fn multi_line_messages_prefix_every_line() {
        assert_eq!(
            format_message(&morning(), "demo", "Server started on h for:\tf1\nf2 f3"),
            " 8:42:20 (demo) Server started on h for:\tf1\n 8:42:20 (demo) f2 f3\n"
        );
        assert_eq!(
            format_message(&morning(), "lmgrd", ""),
            " 8:42:20 (lmgrd) \n"
        );
        assert_eq!(
            format_message(&morning(), "lmgrd", "one\n"),
            " 8:42:20 (lmgrd) one\n"
        );
    }

    #[test]
    fn whole_lines_as_captured() {
        // Lines of the spec's real logs (FLEXLM-FACTS.md §2.2, §2.4), time
        // prefix included.
        let at = |hour, minute, second| LocalTime {
            hour,
            minute,
            second,
            ..morning()
        };
        assert_eq!(
            format_message(
                &at(8, 14, 44),
                "lmgrd",
                &banner::shutting_down_vendor("MLM", 496, 15)
            ),
            " 8:14:44 (lmgrd) Shutting down MLM pid=496 because of signal 15\n"
        );
        assert_eq!(
            format_message(&at(18, 20, 4), "lmgrd", banner::WILL_RESTART),
            "18:20:04 (lmgrd) Since this is an unknown status, license server\n\
             18:20:04 (lmgrd) manager (lmgrd) will attempt to re-start the vendor daemon.\n"
        );
        assert_eq!(
            format_message(&at(13, 53, 54), "covlicd", banner::EXTERNAL_FILTERS_OFF),
            "13:53:54 (covlicd) EXTERNAL FILTERS are OFF\n"
        );
    }

    #[test]
    fn zoned_time_agrees_with_local_time() {
        let date = |t: &LocalTime| (t.year, t.month, t.day);
        let before = local_now();
        let z = zoned_now();
        let after = local_now();
        // Midnight may pass between the calls.
        assert!(date(&z.local) == date(&before) || date(&z.local) == date(&after));
        assert!(z.weekday < 7);
        assert!(banner::system_date_time(&z).starts_with("Server's System Date and Time: "));
    }

    #[test]
    fn timestamp_lines() {
        assert_eq!(timestamp_message(&morning()), "TIMESTAMP 5/5/2022");
        assert_eq!(date_mdy(&evening()), "11/6/2021");
    }

    #[test]
    fn local_time_is_plausible() {
        let t = local_now();
        assert!(t.year >= 2020);
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert!(t.hour < 24 && t.minute < 60 && t.second < 60);
        assert_eq!(timestamp_date().split('/').count(), 3);
    }

    #[test]
    fn logger_writes_whole_lines_to_its_fd() {
        use log::Log;
        let mut fds = [0i32; 2];
        // SAFETY: pipe writes two descriptors into our array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let logger = DebugLog::new("demo").with_clock(morning).with_fd(fds[1]);
        logger.log(
            &log::Record::builder()
                .args(format_args!("IN: \"f1\" joe@ws1  (SHUTDOWN)"))
                .level(log::Level::Info)
                .build(),
        );
        logger.log(
            &log::Record::builder()
                .args(format_args!("not shown"))
                .level(log::Level::Debug)
                .build(),
        );
        logger.write_message("a\nb");
        let mut buf = [0u8; 256];
        // SAFETY: reads into our buffer; closes descriptors we created.
        let n = unsafe {
            libc::close(fds[1]);
            let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
            libc::close(fds[0]);
            n
        };
        assert_eq!(
            std::str::from_utf8(&buf[..n as usize]).unwrap(),
            " 8:42:20 (demo) IN: \"f1\" joe@ws1  (SHUTDOWN)\n 8:42:20 (demo) a\n 8:42:20 (demo) b\n"
        );
    }
}
