//! The command line lmgrd starts a vendor daemon with (docs/protocol.md).

use std::fmt;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: vendord -c <license file> --vendor <name> [--port N] [--notify-fd FD]
               [--heartbeat-interval SECS] [--timeout SECS] [--vdrestart N]
               [--min-timeout SECS] [--borrow-store PATH] [--triad-fd FD]
               [--no-lmdown] [--no-lmremove] [--admin-local] [--admins-only]
               [--log-dir DIR] [--no-admin-socket]
               [--state-dir DIR] [--bind ADDR] [--debug-log PATH]
               [--expiry-warning-days N]

  -c FILE                  the license file lmgrd serves
  --vendor NAME            the vendor whose lines this daemon serves
  --port N                 TCP port to listen on (default: one the system picks)
  --notify-fd FD           write the port and a newline to FD, then close it
  --heartbeat-interval S   heartbeat interval told to clients (default 30)
  --timeout S              reclaim the seats of clients silent this long (default 120)
  --vdrestart N            how many times lmgrd has restarted this daemon
  --min-timeout S          smallest TIMEOUT the options file may set (default 900,
                           or VENDORD_MIN_TIMEOUT)
  --borrow-store PATH      where borrowed seats are kept (default <vendor>.borrows
                           in the state directory)
  --state-dir DIR          where this daemon writes its state (default
                           $LM_STATE_DIR, else /var/lib/lm)
  --bind ADDR              listen on this address only (default: every IPv4 one)
  --debug-log PATH         the debug log lmgrd opened; reopened on SIGUSR1
  --expiry-warning-days N  warn in the debug log when a served feature expires
                           within N days, then daily (default 14; 0: never)
  --triad-fd FD            lmgrd is a member of a triad: changes go through it
  --no-lmdown              refuse lmdown (lmgrd -x lmdown)
  --no-lmremove            refuse lmremove (lmgrd -x lmremove)
  --admin-local            admin requests only from this machine (lmgrd -local)
  --admins-only            admin requests only from root or group lmadmin, over the
                           local admin socket, or with an admin token (lmgrd -2 -p)
  --log-dir DIR            lmswitch writes debug logs in DIR only (default: the
                           directory of the current debug log, else the state directory)
  --no-admin-socket        make no local admin socket (<state>/<vendor>-<port>.sock)
";

/// FLEXlm gives no warning; two weeks is time enough to renew.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 14;

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub license: PathBuf,
    pub vendor: String,
    pub port: u16,
    pub notify_fd: Option<i32>,
    pub heartbeat_interval_secs: u32,
    pub timeout_secs: u32,
    pub restarts: u32,
    /// The smallest options-file TIMEOUT honoured (smaller ones are raised).
    pub min_timeout_secs: u32,
    /// Where borrowed seats are kept; default beside the license file.
    pub borrow_store: Option<PathBuf>,
    /// The socket to lmgrd when it is a member of a triad.
    pub triad_fd: Option<i32>,
    /// lmgrd's `-x lmdown`, `-x lmremove`, `-local` and `-2 -p`, passed on.
    pub admin: accounting::admin::AdminPolicy,
    /// Where lmswitch may put a debug log (`--log-dir`).
    pub log_dir: Option<PathBuf>,
    /// `--no-admin-socket`.
    pub no_admin_socket: bool,
    /// Where state goes (`--state-dir`); `None`: from the environment.
    pub state_dir: Option<PathBuf>,
    /// The one address to listen on (`--bind`).
    pub bind: Option<std::net::IpAddr>,
    /// The debug log file lmgrd opened for us both, reopened on SIGUSR1.
    pub debug_log: Option<PathBuf>,
    /// Days before expiry from which a served feature is warned about.
    pub expiry_warning_days: u32,
}

/// A command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    Unknown(String),
    MissingValue(String),
    BadValue { flag: String, value: String },
    Missing(&'static str),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(a) => write!(f, "unknown argument `{a}`"),
            ArgsError::MissingValue(a) => write!(f, "`{a}` needs a value"),
            ArgsError::BadValue { flag, value } => write!(f, "bad value `{value}` for `{flag}`"),
            ArgsError::Missing(what) => write!(f, "missing {what}"),
        }
    }
}

impl Args {
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, ArgsError> {
        let mut license = None;
        let mut vendor = None;
        let mut port = 0u16;
        let mut notify_fd = None;
        let mut heartbeat_interval_secs = 30u32;
        let mut timeout_secs = 120u32;
        let mut restarts = 0u32;
        // The vendor's minimum TIMEOUT: a publisher that wraps the daemon
        // sets it in the environment or on the command line.
        let mut min_timeout_secs = match std::env::var("VENDORD_MIN_TIMEOUT") {
            Ok(v) => number("VENDORD_MIN_TIMEOUT", v)?,
            Err(_) => 900u32,
        };
        let mut borrow_store = None;
        let mut triad_fd = None;
        let mut admin = accounting::admin::AdminPolicy::default();
        let mut state_dir = None;
        let mut log_dir = None;
        let mut no_admin_socket = false;
        let mut bind = None;
        let mut debug_log = None;
        let mut expiry_warning_days = DEFAULT_EXPIRY_WARNING_DAYS;
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .ok_or_else(|| ArgsError::MissingValue(flag.clone()))
            };
            match flag.as_str() {
                "-c" => license = Some(PathBuf::from(value()?)),
                "--vendor" => vendor = Some(value()?),
                "--port" => port = number(&flag, value()?)?,
                "--notify-fd" => notify_fd = Some(number(&flag, value()?)?),
                "--heartbeat-interval" => heartbeat_interval_secs = number(&flag, value()?)?,
                "--timeout" => timeout_secs = number(&flag, value()?)?,
                "--vdrestart" => restarts = number(&flag, value()?)?,
                "--min-timeout" => min_timeout_secs = number(&flag, value()?)?,
                "--borrow-store" => borrow_store = Some(PathBuf::from(value()?)),
                "--triad-fd" => triad_fd = Some(number(&flag, value()?)?),
                "--no-lmdown" => admin.no_lmdown = true,
                "--no-lmremove" => admin.no_lmremove = true,
                "--log-dir" => log_dir = Some(PathBuf::from(value()?)),
                "--no-admin-socket" => no_admin_socket = true,
                "--admin-local" => admin.local_only = true,
                "--admins-only" => admin.admins_only = true,
                "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
                "--bind" => bind = Some(number(&flag, value()?)?),
                "--debug-log" => debug_log = Some(PathBuf::from(value()?)),
                "--expiry-warning-days" => expiry_warning_days = number(&flag, value()?)?,
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }
        let bounded = |flag: &str, secs: u32| {
            if secs == 0 || secs > 86_400 {
                Err(ArgsError::BadValue {
                    flag: flag.to_string(),
                    value: secs.to_string(),
                })
            } else {
                Ok(secs)
            }
        };
        Ok(Args {
            license: license.ok_or(ArgsError::Missing("-c <license file>"))?,
            vendor: vendor
                .filter(|v| !v.is_empty())
                .ok_or(ArgsError::Missing("--vendor <name>"))?,
            port,
            notify_fd: notify_fd.filter(|fd: &i32| *fd >= 0),
            heartbeat_interval_secs: bounded("--heartbeat-interval", heartbeat_interval_secs)?,
            timeout_secs: bounded("--timeout", timeout_secs)?,
            restarts,
            min_timeout_secs,
            borrow_store,
            triad_fd: triad_fd.filter(|fd: &i32| *fd >= 0),
            admin,
            log_dir,
            no_admin_socket,
            state_dir,
            bind,
            debug_log,
            expiry_warning_days,
        })
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, ArgsError> {
    value.parse().map_err(|_| ArgsError::BadValue {
        flag: flag.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, ArgsError> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn lmgrd_command_line() {
        let a = parse("-c /x/license.dat --vendor demo --notify-fd 5 --port 2080 --vdrestart 2")
            .unwrap();
        assert_eq!(a.license, PathBuf::from("/x/license.dat"));
        assert_eq!(a.vendor, "demo");
        assert_eq!((a.port, a.notify_fd, a.restarts), (2080, Some(5), 2));
        assert_eq!((a.heartbeat_interval_secs, a.timeout_secs), (30, 120));
        let a = parse("-c l --vendor v --heartbeat-interval 1 --timeout 3").unwrap();
        assert_eq!((a.port, a.notify_fd), (0, None));
        assert_eq!((a.heartbeat_interval_secs, a.timeout_secs), (1, 3));
        assert_eq!(
            (a.state_dir, a.bind, a.expiry_warning_days),
            (None, None, 14)
        );
        let a = parse("-c l --vendor v --state-dir /s --bind ::1 --expiry-warning-days 3 --debug-log /l/x.log").unwrap();
        assert_eq!(a.state_dir, Some(PathBuf::from("/s")));
        assert_eq!(a.bind, Some("::1".parse().unwrap()));
        assert_eq!(a.expiry_warning_days, 3);
        assert_eq!(a.debug_log, Some(PathBuf::from("/l/x.log")));
        let a = parse("-c l --vendor v --no-lmdown --admins-only --log-dir /var/log/lm").unwrap();
        assert!(a.admin.no_lmdown && a.admin.admins_only && !a.admin.no_lmremove);
        assert_eq!(a.log_dir, Some(PathBuf::from("/var/log/lm")));
        assert!(!a.no_admin_socket);
        assert!(matches!(
            parse("-c l --vendor v --bind localhost"),
            Err(ArgsError::BadValue { .. })
        ));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse("-c l --vendor v --bogus"),
            Err(ArgsError::Unknown("--bogus".into()))
        );
        assert_eq!(
            parse("-c l --vendor"),
            Err(ArgsError::MissingValue("--vendor".into()))
        );
        assert!(matches!(
            parse("-c l --vendor v --port 70000"),
            Err(ArgsError::BadValue { .. })
        ));
        assert!(matches!(
            parse("-c l --vendor v --timeout 0"),
            Err(ArgsError::BadValue { .. })
        ));
        assert_eq!(
            parse("--vendor v"),
            Err(ArgsError::Missing("-c <license file>"))
        );
        assert_eq!(parse("-c l"), Err(ArgsError::Missing("--vendor <name>")));
    }
}
