//! What every tool shares: the banner, output that survives a closed pipe,
//! the common options (`-c`, `-t`, `-help`, `-v`, `-verbose`), FLEXlm's
//! error form, and local time as FLEXlm's tools print it.

use std::fmt;
use std::io::Write;
use std::time::Duration;
use wire::lmerr;

/// How long connecting and waiting for a reply may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(10),
        }
    }
}

/// Our product name, where FLEXlm's tools print theirs ("FlexNet").
pub const BRAND: &str = "lm";

/// This binary's version, read from the marker the `wire` crate embeds.
pub fn version() -> &'static str {
    wire::version()
}

/// The first line every tool prints: `lmstat - lm license manager v0.1.0`.
/// FLEXlm prints its copyright there; the program name is the one the tool
/// was invoked as, as with FLEXlm.
pub fn banner(program: &str) -> String {
    format!("{program} - {BRAND} license manager v{}", version())
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
pub fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes to standard error, ignoring failures.
pub fn write_err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A FLEXlm error as the tools print it: `text (code,minor)`, or with the
/// system error `text (code,minor:errno "system text")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmFailure {
    pub code: i32,
    pub minor: i32,
    /// The operating system's error number and its text.
    pub sys: Option<(i32, String)>,
    pub text: String,
}

impl LmFailure {
    /// An error with FLEXlm's text for `code`.
    pub fn new(code: i32, minor: i32) -> LmFailure {
        LmFailure {
            code,
            minor,
            sys: None,
            text: lmerr::text(code).to_string(),
        }
    }

    /// The same error caused by system error `errno`.
    pub fn with_errno(mut self, errno: i32) -> LmFailure {
        self.sys = Some((errno, errno_text(errno)));
        self
    }

    /// The client library's error as the tools print errors: with the
    /// system error's text, as lmstat shows a failed connection.
    pub fn from_client(e: &client::LmError) -> LmFailure {
        let f = LmFailure::from_server(e.code, e.minor, &e.text);
        match e.errno {
            Some(errno) => f.with_errno(errno),
            None => f,
        }
    }

    /// An error a server reported, with its text when it sent one.
    pub fn from_server(code: i32, minor: i32, text: &str) -> LmFailure {
        let mut f = LmFailure::new(code, minor);
        if !text.is_empty() {
            text.clone_into(&mut f.text);
        }
        f
    }
}

impl fmt::Display for LmFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sys {
            Some((errno, text)) => write!(
                f,
                "{} ({},{}:{errno} \"{text}\")",
                self.text, self.code, self.minor
            ),
            None => write!(f, "{} ({},{})", self.text, self.code, self.minor),
        }
    }
}

/// The system's text for an error number, e.g. "Connection refused".
pub fn errno_text(errno: i32) -> String {
    io_text(&std::io::Error::from_raw_os_error(errno))
}

/// An I/O error's text without Rust's " (os error N)" suffix.
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A local date and time, as the tools print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    /// 0 = Sunday.
    pub weekday: u8,
    pub hour: u8,
    pub minute: u8,
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Stamp {
    /// A stamp on a calendar date; the weekday is computed.
    pub fn on(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Stamp {
        let weekday = grammar::Date::new(year, month, day)
            .map_or(0, |d| (d.days_since_epoch() + 4).rem_euclid(7) as u8);
        Stamp {
            year,
            month,
            day,
            weekday,
            hour,
            minute,
        }
    }

    /// Unix time `secs` in this machine's time zone.
    pub fn local(secs: u64) -> Stamp {
        let Some(z) = i64::try_from(secs).ok().and_then(logfmt::local_at) else {
            return Stamp::on(1970, 1, 1, 0, 0);
        };
        Stamp {
            year: z.local.year,
            month: z.local.month,
            day: z.local.day,
            weekday: z.weekday,
            hour: z.local.hour,
            minute: z.local.minute,
        }
    }

    /// Now, local time.
    pub fn now() -> Stamp {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Stamp::local(secs)
    }

    fn weekday_name(&self) -> &'static str {
        WEEKDAYS[usize::from(self.weekday % 7)]
    }

    /// `Mon 2/10/2025 11:26`: no zero padding but for the minutes.
    pub fn long(&self) -> String {
        format!(
            "{} {}/{}/{} {}:{:02}",
            self.weekday_name(),
            self.month,
            self.day,
            self.year,
            self.hour,
            self.minute
        )
    }

    /// `Mon 2/10 0:10`, as checkout start times are printed.
    pub fn short(&self) -> String {
        format!(
            "{} {}/{} {}:{:02}",
            self.weekday_name(),
            self.month,
            self.day,
            self.hour,
            self.minute
        )
    }
}

/// The options most tools take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonOpts {
    /// `-c license_file_list`.
    pub license: Option<String>,
    /// `-t seconds`.
    pub timeout: Option<Duration>,
    /// `-verbose`.
    pub verbose: bool,
}

impl CommonOpts {
    /// How long connecting and each reply may take.
    pub fn timeouts(&self) -> Timeouts {
        match self.timeout {
            Some(t) => Timeouts { connect: t, io: t },
            None => Timeouts::default(),
        }
    }
}

/// What an argument turned out to be for the common options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Common {
    /// It was a common option, now recorded.
    Taken,
    /// `-help`: print the usage and stop.
    Help,
    /// `-v`: print the version and stop.
    Version,
    /// Not a common option.
    Other,
}

/// Walks a tool's arguments.
#[derive(Debug)]
pub struct Cursor<'a> {
    args: &'a [String],
    next: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(args: &'a [String]) -> Cursor<'a> {
        Cursor { args, next: 0 }
    }

    /// The next argument.
    pub fn next_arg(&mut self) -> Option<&'a str> {
        let a = self.args.get(self.next)?;
        self.next += 1;
        Some(a)
    }

    /// The value of `flag`, which must follow it.
    pub fn value(&mut self, flag: &str) -> Result<&'a str, String> {
        self.next_arg()
            .ok_or_else(|| format!("{flag} needs a value"))
    }

    /// The next argument when it is not an option (`-f [feature]`).
    pub fn optional_value(&mut self) -> Option<&'a str> {
        let a = self.args.get(self.next)?;
        if a.starts_with('-') && a.len() > 1 {
            return None;
        }
        self.next += 1;
        Some(a)
    }

    /// Handles `arg` if it is one of the common options.
    pub fn common(&mut self, arg: &str, opts: &mut CommonOpts) -> Result<Common, String> {
        match arg {
            "-c" => opts.license = Some(self.value("-c")?.to_string()),
            "-t" => {
                let v = self.value("-t")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("-t: `{v}` is not a number of seconds"))?;
                opts.timeout = Some(Duration::from_secs(secs));
            }
            "-verbose" => opts.verbose = true,
            "-token-file" => {
                let path = std::path::PathBuf::from(self.value("-token-file")?);
                crate::local_admin::set_token_file(path);
            }
            "-help" | "-h" | "--help" => return Ok(Common::Help),
            "-v" | "-version" | "--version" => return Ok(Common::Version),
            _ => return Ok(Common::Other),
        }
        Ok(Common::Taken)
    }
}

/// Prints a usage error and the usage; returns the exit status 1.
/// What a tool's command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<A> {
    Run(A),
    Help,
    Version,
}

/// The start every tool shares: `-help` prints the banner and `usage`,
/// `-v` the banner, and a bad command line the error and `usage`; each of
/// those ends the tool with the exit code in `Err`. Otherwise the
/// arguments to run with.
pub fn begin<A>(
    inv: &crate::Invocation,
    tool: &str,
    usage: &str,
    parsed: Result<Parsed<A>, String>,
) -> Result<A, i32> {
    match parsed {
        Ok(Parsed::Run(a)) => Ok(a),
        Ok(Parsed::Help) => {
            write_out(&format!("{}\n{usage}", banner(&inv.program)));
            Err(0)
        }
        Ok(Parsed::Version) => {
            write_out(&format!("{}\n", banner(&inv.program)));
            Err(0)
        }
        Err(why) => Err(usage_error(tool, &why, usage)),
    }
}

pub fn usage_error(tool: &str, why: &str, usage: &str) -> i32 {
    write_err(&format!("{tool}: {why}\n{usage}"));
    1
}

/// Reads a yes/no answer from standard input after printing `prompt`.
pub fn confirm(prompt: &str) -> bool {
    write_out(prompt);
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_print_as_flexlm_does() {
        let f = LmFailure::new(lmerr::LM_CANTCONNECT, 10).with_errno(111);
        assert_eq!(
            f.to_string(),
            "Cannot connect to license server system. (-15,10:111 \"Connection refused\")"
        );
        assert_eq!(
            LmFailure::new(lmerr::LM_VENDOR_DOWN, 121).to_string(),
            "The desired vendor daemon is down. (-97,121)"
        );
        assert_eq!(LmFailure::from_server(-4, 1, "custom").text, "custom");
        assert_eq!(
            LmFailure::from_server(-4, 1, "").text,
            "Licensed number of users already reached."
        );
    }

    #[test]
    fn stamps() {
        let s = Stamp::on(2025, 2, 10, 0, 10);
        assert_eq!(s.short(), "Mon 2/10 0:10");
        assert_eq!(
            Stamp::on(2017, 10, 20, 17, 2).long(),
            "Fri 10/20/2017 17:02"
        );
        assert_eq!(Stamp::on(2026, 3, 16, 12, 16).long(), "Mon 3/16/2026 12:16");
        assert_eq!(Stamp::local(0).year.clamp(1969, 1970), Stamp::local(0).year);
    }

    #[test]
    fn version_comes_from_the_marker() {
        assert_eq!(version(), env!("CARGO_PKG_VERSION"));
        assert_eq!(
            banner("lmstat"),
            format!("lmstat - lm license manager v{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn common_options() {
        let args: Vec<String> = [
            "-c", "27000@h", "-t", "3", "-verbose", "-x", "-f", "f1", "-f", "-a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut c = Cursor::new(&args);
        let mut o = CommonOpts::default();
        let mut others = Vec::new();
        while let Some(a) = c.next_arg() {
            match c.common(a, &mut o).unwrap() {
                Common::Taken => {}
                Common::Other if a == "-f" => others.push(format!("f={:?}", c.optional_value())),
                Common::Other => others.push(a.to_string()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(o.license.as_deref(), Some("27000@h"));
        assert_eq!(o.timeout, Some(Duration::from_secs(3)));
        assert!(o.verbose);
        assert_eq!(others, ["-x", "f=Some(\"f1\")", "f=None", "-a"]);
        let bad: Vec<String> = vec!["-t".into(), "soon".into()];
        let mut c = Cursor::new(&bad);
        let a = c.next_arg().unwrap();
        assert!(c.common(a, &mut CommonOpts::default()).is_err());
        let missing: Vec<String> = vec!["-c".into()];
        let mut c = Cursor::new(&missing);
        let a = c.next_arg().unwrap();
        assert!(c.common(a, &mut CommonOpts::default()).is_err());
    }
}
