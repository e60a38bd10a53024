//! lmgrd's command line, spelled as FLEXlm spells it: single-dash flags,
//! several of them longer than one letter (`-help`, `-local`, `-reuseaddr`),
//! which is why this is a small hand-written parser rather than clap.

use std::fmt;
use std::path::PathBuf;

/// Everything lmgrd can be told on its command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// `-c license_file_list`
    pub license: Option<String>,
    /// `-l [+]debug_log`: the path, and whether `+` asked to append.
    pub log: Option<(PathBuf, bool)>,
    /// `-z`: stay in the foreground.
    pub foreground: bool,
    /// `-t seconds`: how long a triad member waits for the others at start-up.
    pub connect_timeout: Option<u32>,
    /// `-s minutes`: interval between TIMESTAMP lines in the debug log.
    pub timestamp_minutes: Option<u32>,
    /// `-x lmdown`, `-x lmremove`
    pub disable_lmdown: bool,
    pub disable_lmremove: bool,
    /// `-local`: admin requests only from this host.
    pub local_only: bool,
    /// `-2 -p`: admin requests only from license administrators.
    pub restrict_admin: bool,
    /// `-reuseaddr`: set SO_REUSEADDR on the listening socket.
    pub reuse_addr: bool,
    /// `-v`
    pub version: bool,
    /// `-help`
    pub help: bool,
    /// `--check`: validate the license file and exit.
    pub check: bool,
    /// `--json`: with `--check`, print JSON.
    pub json: bool,
    /// `--date dd-mmm-yyyy`: with `--check`, judge expiry on this day.
    pub date: Option<String>,
    /// `-server-line N` (ours): this lmgrd is the triad member of the Nth
    /// SERVER line, for when several lines name this machine.
    pub server_line: Option<u32>,
    /// `-triad-store PATH` (ours): where a triad member keeps its raft state.
    pub triad_store: Option<PathBuf>,
    /// `-triad-key FILE` (ours): the key triad members prove to each other
    /// (default: `triad.key` in the state directory, when it exists).
    pub triad_key: Option<PathBuf>,
    /// `-state-dir DIR` (ours): where lmgrd and its vendor daemons write.
    pub state_dir: Option<PathBuf>,
    /// `-log-dir DIR` (ours): where lmswitch may put a vendor daemon's
    /// debug log.
    pub log_dir: Option<PathBuf>,
    /// `-bind ADDR` (ours): the one address lmgrd and its vendor daemons
    /// listen on.
    pub bind: Option<std::net::IpAddr>,
    /// `-expiry-warning-days N` (ours): warn of served lines expiring
    /// within N days.
    pub expiry_warning_days: Option<u32>,
    /// `-http`, `-https`, `-cert`, `-key` (ours): the HTTP(S) endpoint.
    pub web: crate::web::WebArgs,
}

/// A command line lmgrd cannot act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    Unknown(String),
    MissingValue(&'static str),
    BadValue {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(a) => write!(f, "unknown option `{a}`"),
            ArgsError::MissingValue(flag) => write!(f, "option {flag} needs a value"),
            ArgsError::BadValue {
                flag,
                value,
                expected,
            } => {
                write!(f, "option {flag}: `{value}` is not {expected}")
            }
        }
    }
}

pub const USAGE: &str = "\
usage: lmgrd [-c license_file_list] [-l [+]debug_log_path] [-z] [-t timeout]
             [-s timestamp_minutes] [-x lmdown] [-x lmremove] [-local] [-2 -p]
             [-reuseaddr] [-server-line N] [-triad-store path]
             [-triad-key file] [-state-dir dir]
             [-bind address] [-expiry-warning-days N] [-log-dir dir]
             [-http [addr:]port] [-https [addr:]port -cert file -key file]
             [-v] [-help]
       lmgrd -c license_file_list --check [--json] [--date dd-mmm-yyyy]

  -c list       license file(s) and directories of *.lic, separated by ':';
                files with the same SERVER lines are served together
                (default: $LM_LICENSE_FILE, else
                /usr/local/flexlm/licenses/license.dat)
  -l [+]path    write the debug log to path (+ appends; a relative path is
                taken from the state directory); reopened on SIGHUP
  -z            run in the foreground
  -t seconds    how long a triad member waits at start-up for a majority
                before it logs that it serves nothing (it keeps trying;
                default 10)
  -s minutes    interval between TIMESTAMP lines in the debug log (default 360)
  -x lmdown     refuse lmdown requests; -x lmremove refuses lmremove
  -local        accept lmdown/lmreread/lmremove only from this host
  -2 -p         accept lmdown, lmreread, lmremove and log switches only
                from root or members of group lmadmin, on this machine (the
                tools use the server's local admin socket, where the kernel
                tells who asks), or with an admin token (lmpasswd -admin-token)
  -reuseaddr    set SO_REUSEADDR on the listening port
  -server-line N
                in a triad, this lmgrd is the member of the Nth SERVER line
                (needed when several lines name this machine)
  -triad-store path
                where a triad member keeps its consensus state (default:
                lmgrd-line<N>.triad in the state directory)
  -triad-key file
                the key the three members of a triad prove to each other
                before they take each other's consensus messages (default:
                triad.key in the state directory, if there is one; make one
                with `lmutil lmtriadkey`); mode 0600, the same on all three
  -state-dir dir
                where lmgrd and its vendor daemons write borrowed seats,
                report logs and triad state (default: $LM_STATE_DIR, else
                $STATE_DIRECTORY as systemd sets it, else /var/lib/lm)
  -bind address listen on this address only, IPv4 or IPv6, lmgrd and its
                vendor daemons alike (default: every IPv4 address)
  -log-dir dir  lmswitch puts vendor daemons' debug logs in dir only
                (default: the debug log's directory, else the state directory)
  -expiry-warning-days N
                warn in the debug log, daily, of served licenses that expire
                within N days (default 14; 0: never)
  -http [addr:]port
                serve health, JSON status, metrics and the dashboard over
                HTTP (suggested port 7070; default address: as -bind, else
                every IPv4 address; only loopback when -https is on)
  -https [addr:]port
                the same over HTTPS (suggested port 7071), with -cert and
                -key naming PEM files
  -v            print the version and exit
  -help         print this message and exit
  --check       check everything a start would meet (license files, SERVER
                hostids, vendor daemons, options files, keys, expiry) and
                exit; status 0 when there are no errors and something would
                be served
  --json        with --check, print the result as JSON
  --date d      with --check, judge expiry and START on day d
";

fn number(flag: &'static str, value: Option<String>) -> Result<u32, ArgsError> {
    let value = value.ok_or(ArgsError::MissingValue(flag))?;
    value.parse().map_err(|_| ArgsError::BadValue {
        flag,
        value,
        expected: "a whole number",
    })
}

/// `[addr:]port` for -http and -https.
fn listen(flag: &'static str, value: Option<String>) -> Result<crate::web::Listen, ArgsError> {
    let value = value.ok_or(ArgsError::MissingValue(flag))?;
    crate::web::Listen::parse(&value).ok_or(ArgsError::BadValue {
        flag,
        value,
        expected: "[address:]port",
    })
}

impl Args {
    /// Parses the arguments after the program name.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Args, ArgsError> {
        let mut out = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "-c" => out.license = Some(it.next().ok_or(ArgsError::MissingValue("-c"))?),
                "-l" | "-L" => {
                    let v = it.next().ok_or(ArgsError::MissingValue("-l"))?;
                    out.log = Some(match v.strip_prefix('+') {
                        Some(p) => (PathBuf::from(p), true),
                        None => (PathBuf::from(v), false),
                    });
                }
                "-z" => out.foreground = true,
                "-t" => out.connect_timeout = Some(number("-t", it.next())?),
                "-s" => out.timestamp_minutes = Some(number("-s", it.next())?),
                "-x" => match it.next().as_deref() {
                    Some("lmdown") => out.disable_lmdown = true,
                    Some("lmremove") => out.disable_lmremove = true,
                    Some(other) => {
                        return Err(ArgsError::BadValue {
                            flag: "-x",
                            value: other.to_string(),
                            expected: "lmdown or lmremove",
                        })
                    }
                    None => return Err(ArgsError::MissingValue("-x")),
                },
                "-local" => out.local_only = true,
                "-2" | "-p" => out.restrict_admin = true,
                "-reuseaddr" => out.reuse_addr = true,
                "-server-line" | "--server-line" => {
                    out.server_line = Some(number("-server-line", it.next())?)
                }
                "-triad-store" | "--triad-store" => {
                    out.triad_store = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-triad-store"))?,
                    ))
                }
                "-triad-key" | "--triad-key" => {
                    out.triad_key = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-triad-key"))?,
                    ))
                }
                "-log-dir" | "--log-dir" => {
                    out.log_dir = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-log-dir"))?,
                    ))
                }
                "-state-dir" | "--state-dir" => {
                    out.state_dir = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-state-dir"))?,
                    ))
                }
                "-bind" | "--bind" => {
                    let v = it.next().ok_or(ArgsError::MissingValue("-bind"))?;
                    // `[::1]` is how addresses with a port are written;
                    // accept the brackets without one.
                    let bare = v.trim_start_matches('[').trim_end_matches(']');
                    out.bind = Some(bare.parse().map_err(|_| ArgsError::BadValue {
                        flag: "-bind",
                        value: v.clone(),
                        expected: "an IPv4 or IPv6 address",
                    })?)
                }
                "-expiry-warning-days" | "--expiry-warning-days" => {
                    out.expiry_warning_days = Some(number("-expiry-warning-days", it.next())?)
                }
                "-http" | "--http" => out.web.http = Some(listen("-http", it.next())?),
                "-https" | "--https" => out.web.https = Some(listen("-https", it.next())?),
                "-cert" | "--cert" => {
                    out.web.cert = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-cert"))?,
                    ))
                }
                "-key" | "--key" => {
                    out.web.key = Some(PathBuf::from(
                        it.next().ok_or(ArgsError::MissingValue("-key"))?,
                    ))
                }
                "-nfs_log" => {}
                "-v" | "-version" | "--version" => out.version = true,
                "-help" | "-h" | "--help" => out.help = true,
                "--check" | "-check" => out.check = true,
                "--json" | "-json" => out.json = true,
                "--date" | "-date" => {
                    out.date = Some(it.next().ok_or(ArgsError::MissingValue("--date"))?)
                }
                _ => return Err(ArgsError::Unknown(arg)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, ArgsError> {
        Args::parse(s.split_whitespace().map(str::to_string))
    }

    #[test]
    fn flexlm_flags() {
        let a = parse("-c lic.dat -l +/tmp/x.log -z -t 15 -s 60 -x lmdown -x lmremove -local -2 -p -reuseaddr").unwrap();
        assert_eq!(a.license.as_deref(), Some("lic.dat"));
        assert_eq!(a.log, Some((PathBuf::from("/tmp/x.log"), true)));
        assert!(a.foreground && a.disable_lmdown && a.disable_lmremove && a.local_only);
        assert!(a.restrict_admin && a.reuse_addr);
        assert_eq!(
            (a.connect_timeout, a.timestamp_minutes),
            (Some(15), Some(60))
        );
    }

    #[test]
    fn triad_flags() {
        let a = parse("-c t.lic -server-line 2 -triad-store /var/lm/b.triad -t 5 -triad-key k")
            .unwrap();
        assert_eq!(a.triad_key, Some(PathBuf::from("k")));
        assert_eq!(a.server_line, Some(2));
        assert_eq!(a.triad_store, Some(PathBuf::from("/var/lm/b.triad")));
        assert_eq!(a.connect_timeout, Some(5));
        assert_eq!(
            parse("-triad-store"),
            Err(ArgsError::MissingValue("-triad-store"))
        );
        assert!(matches!(
            parse("-server-line two"),
            Err(ArgsError::BadValue {
                flag: "-server-line",
                ..
            })
        ));
    }

    #[test]
    fn service_flags() {
        let a =
            parse("-state-dir /var/lib/lm -bind ::1 -expiry-warning-days 30 -log-dir /var/log/lm")
                .unwrap();
        assert_eq!(a.state_dir, Some(PathBuf::from("/var/lib/lm")));
        assert_eq!(a.log_dir, Some(PathBuf::from("/var/log/lm")));
        assert_eq!(a.bind, Some("::1".parse().unwrap()));
        assert_eq!(a.expiry_warning_days, Some(30));
        assert_eq!(
            parse("-bind [::1]").unwrap().bind,
            Some("::1".parse().unwrap())
        );
        assert_eq!(
            parse("-bind 127.0.0.1").unwrap().bind,
            Some("127.0.0.1".parse().unwrap())
        );
        assert!(matches!(
            parse("-bind localhost"),
            Err(ArgsError::BadValue { flag: "-bind", .. })
        ));
        assert_eq!(
            parse("-state-dir"),
            Err(ArgsError::MissingValue("-state-dir"))
        );
    }

    #[test]
    fn web_flags() {
        let a = parse("-http 7070 -https [::1]:7071 -cert c.pem -key k.pem").unwrap();
        assert_eq!(a.web.http.map(|l| (l.ip, l.port)), Some((None, 7070)));
        assert_eq!(
            a.web.https.map(|l| (l.ip, l.port)),
            Some((Some("::1".parse().unwrap()), 7071))
        );
        assert_eq!(a.web.cert, Some(PathBuf::from("c.pem")));
        assert!(matches!(
            parse("-http 127.0.0.1:"),
            Err(ArgsError::BadValue { flag: "-http", .. })
        ));
        assert!(matches!(
            parse("-http localhost:80"),
            Err(ArgsError::BadValue { flag: "-http", .. })
        ));
    }

    #[test]
    fn check_flags() {
        let a = parse("-c x.lic --check --json --date 1-jan-2030").unwrap();
        assert!(a.check && a.json);
        assert_eq!(a.date.as_deref(), Some("1-jan-2030"));
    }

    #[test]
    fn bad_command_lines() {
        assert_eq!(parse("-q"), Err(ArgsError::Unknown("-q".into())));
        assert_eq!(parse("-c"), Err(ArgsError::MissingValue("-c")));
        assert!(matches!(
            parse("-t soon"),
            Err(ArgsError::BadValue { flag: "-t", .. })
        ));
        assert!(matches!(
            parse("-x lmstat"),
            Err(ArgsError::BadValue { flag: "-x", .. })
        ));
    }
}
