//! `lmstat`: the status of license servers, vendor daemons and features,
//! printed as FLEXlm prints it.
//!
//! [`model`] is the report as plain data, [`render`] prints it (pure),
//! [`gather`] fills it from lmgrd and the vendor daemons. For a
//! three-server triad every member is asked for its status, the master is
//! the one the members' `triad` views name ([`gather::triad_decision`],
//! a pure function), and only the master's vendor daemons are asked for
//! usage. Why each member is master or not is ours, not FLEXlm's: it is
//! printed only under `-triad` (and always by lmdiag).

pub mod gather;
pub mod json;
pub mod model;
pub mod render;

use crate::common::{self, Common, CommonOpts, Cursor, LmFailure, Stamp};
use crate::Invocation;

pub const USAGE: &str = "usage: lmstat
\t[-a] (display everything)
\t[-A] (list all active licenses)
\t[-c license_file] (use \"license_file\" as license file)
\t[-f [feature_name]] (list usage info about specified (or all) feature(s))
\t[-i [feature_name]] (list info about specified (or all) feature(s) from
\tthe increment line in the license file)
\t[-lm] (display status of license manager)
\t[-S [DAEMON]] (display all users of DAEMONs licenses)
\t[-s [server_name]] (display status of all license files on server node(s))
\t[-t timeout_value] (set connection timeout to \"timeout_value\")
\t[-v] (display version, revision, and patch)
\t[-vd] (display status of vendor daemon)
\t[-help] (prints this message)
\t[-triad] (with the above: why each member of a three-server triad
\tis master or not; not a FLEXlm option)
\t[-json] (print the status document as JSON; not a FLEXlm option)
";

/// What to report, from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    /// `-a`: every feature and every user.
    pub all: bool,
    /// `-A`: only features in use.
    pub active: bool,
    /// `-f [feature]`.
    pub feature: Option<Option<String>>,
    /// `-i [feature]`.
    pub increments: Option<Option<String>>,
    /// `-S [vendor]`.
    pub vendor: Option<Option<String>>,
    /// `-s [server]`.
    pub server: Option<Option<String>>,
    /// `-lm`.
    pub lm_only: bool,
    /// `-vd`.
    pub vendor_daemons: bool,
    /// `-triad` (ours): why each triad member is master or not.
    pub triad: bool,
    /// `-json` (ours): the status document instead of the text.
    pub json: bool,
}

/// The command line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
    Version,
}

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut a = Args::default();
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        match c.common(arg, &mut a.common)? {
            Common::Taken => continue,
            Common::Help => return Ok(Parsed::Help),
            Common::Version => return Ok(Parsed::Version),
            Common::Other => {}
        }
        let optional = |c: &mut Cursor| c.optional_value().map(str::to_string);
        match arg {
            "-a" => a.all = true,
            "-A" => a.active = true,
            "-f" => a.feature = Some(optional(&mut c)),
            "-i" => a.increments = Some(optional(&mut c)),
            "-S" => a.vendor = Some(optional(&mut c)),
            "-s" => a.server = Some(optional(&mut c)),
            "-lm" => a.lm_only = true,
            "-vd" => a.vendor_daemons = true,
            "-triad" => a.triad = true,
            "-json" => a.json = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Parsed::Run(a))
}

/// What the report shows, from the arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Show {
    /// Print the vendor daemon section.
    pub vendors: bool,
    /// Print feature usage (with users).
    pub features: bool,
    /// Only this feature.
    pub feature: Option<String>,
    /// Only features in use.
    pub active_only: bool,
    /// Only this vendor daemon, under `Users of features served by`.
    pub vendor: Option<String>,
    pub served_by: bool,
    /// `-lm`: lmgrd only; `lmgrd is not running` when it is down.
    pub lm_only: bool,
    /// `-s server`: only sections of this server.
    pub server: Option<String>,
    /// Ours, not FLEXlm's: after a triad's server lines, why each member
    /// is master or not, as the member whose view is used sees it
    /// ([`model::TriadView`]). Only under `-triad`, so that FLEXlm's
    /// default format, which scripts and license monitors parse, never
    /// changes; lmdiag always shows it.
    pub triad: bool,
}

impl Args {
    pub fn show(&self) -> Show {
        let mut s = Show {
            vendors: true,
            triad: self.triad,
            ..Show::default()
        };
        if self.lm_only || self.server.is_some() {
            s.vendors = false;
            s.lm_only = self.lm_only;
            s.server = self.server.clone().flatten();
            return s;
        }
        if self.all || self.active {
            s.features = true;
            s.active_only = self.active && !self.all;
        }
        if let Some(f) = &self.feature {
            s.features = true;
            s.feature = f.clone();
        }
        if let Some(v) = &self.vendor {
            s.features = true;
            s.served_by = true;
            s.vendor = v.clone();
        }
        s
    }
}

/// The layout asked for by `LMSTAT_LAYOUT` (`classic` or `modern`).
pub fn layout_from_env() -> model::Layout {
    match std::env::var("LMSTAT_LAYOUT").as_deref() {
        Ok("classic") => model::Layout::Classic,
        _ => model::Layout::Modern,
    }
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match parse(&inv.args) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            common::write_out(&format!("{}\n{USAGE}", common::banner("lmstat")));
            return 0;
        }
        Ok(Parsed::Version) => {
            common::write_out(&format!(
                "{}\nlmstat v{} build 0 {}\n",
                common::banner(&inv.program),
                common::version(),
                crate::net::identity().platform
            ));
            return 0;
        }
        Err(e) => return common::usage_error("lmstat", &e, USAGE),
    };
    let banner = common::banner(&inv.program);
    let layout = layout_from_env();
    let path = crate::path::license_path(args.common.license.as_deref());
    let sources = crate::path::read_sources(&path);
    if let Some(feature) = &args.increments {
        let (rows, notes, complete) =
            increments(&sources, feature.as_deref(), args.common.timeouts());
        common::write_out(&render::render_increments_with(
            &banner,
            &Stamp::now(),
            layout,
            &rows,
            &notes,
        ));
        return i32::from(!complete);
    }
    let targets = crate::path::targets(&sources);
    if args.json {
        return json::run(&targets, args.common.timeouts());
    }
    let show = args.show();
    let report = gather::report(banner, layout, &targets, &show, args.common.timeouts());
    common::write_out(&render::render(&report));
    i32::from(!report.read_everything())
}

/// `lmstat -i`: the lines of the license files on the path, and for each
/// `port@host` entry what its license server serves, with a note saying
/// so (or why it could not be asked); false when an entry could not be
/// read.
fn increments(
    sources: &[crate::path::Source],
    feature: Option<&str>,
    t: crate::net::Timeouts,
) -> (Vec<model::IncrementRow>, Vec<String>, bool) {
    use crate::path::Source;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut complete = true;
    for s in sources {
        match s {
            Source::Files { .. } => {
                let lines = crate::path::file_features(std::slice::from_ref(s));
                rows.extend(gather::increment_rows(&lines, feature));
            }
            Source::Servers { entry, servers } => match served(servers, feature, t) {
                Ok(served) => {
                    notes.push(format!("{entry}: as its license server serves them"));
                    rows.extend(served);
                }
                Err(e) => {
                    complete = false;
                    notes.push(format!("{entry}: Error getting status: {e}"));
                }
            },
            Source::Failed { entry, failure } => {
                complete = false;
                notes.push(format!("{entry}: {failure}"));
            }
        }
    }
    (rows, notes, complete)
}

/// The rows of every vendor daemon of the first server that answers.
fn served(
    servers: &[client::ServerSpec],
    feature: Option<&str>,
    t: crate::net::Timeouts,
) -> Result<Vec<model::IncrementRow>, LmFailure> {
    let mut failure = None;
    for spec in servers {
        match crate::net::lmgrd(spec, t) {
            Ok(lmgrd) => {
                let mut rows = Vec::new();
                for v in &lmgrd.status.vendors {
                    let status = lmgrd.vendor(&v.name, t).and_then(|mut c| c.status(""))?;
                    rows.extend(gather::served_rows(&v.name, &status, feature));
                }
                return Ok(rows);
            }
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| LmFailure::new(wire::lmerr::LM_NOSERVER, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn run_args(args: &[&str]) -> Args {
        match p(args) {
            Ok(Parsed::Run(a)) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn options_with_optional_values() {
        let a = run_args(&["-a", "-c", "27000@h", "-t", "4"]);
        assert!(a.all);
        assert_eq!(a.common.license.as_deref(), Some("27000@h"));
        assert_eq!(a.common.timeout, Some(std::time::Duration::from_secs(4)));
        let a = run_args(&["-f", "f1", "-S"]);
        assert_eq!(a.feature, Some(Some("f1".into())));
        assert_eq!(a.vendor, Some(None));
        let a = run_args(&["-f", "-c", "x.lic"]);
        assert_eq!(a.feature, Some(None));
        assert_eq!(a.common.license.as_deref(), Some("x.lic"));
        let a = run_args(&["-i", "f2"]);
        assert_eq!(a.increments, Some(Some("f2".into())));
        let a = run_args(&["-S", "demo", "-s", "srv", "-lm", "-vd", "-A"]);
        assert_eq!(a.vendor, Some(Some("demo".into())));
        assert_eq!(a.server, Some(Some("srv".into())));
        assert!(a.lm_only && a.vendor_daemons && a.active);
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
        assert_eq!(p(&["-v"]), Ok(Parsed::Version));
        assert!(p(&["-x"]).is_err());
        assert!(p(&["-c"]).is_err());
        assert!(p(&["-t", "0"]).is_err());
    }

    #[test]
    fn what_each_option_shows() {
        let plain = run_args(&[]).show();
        assert!(plain.vendors && !plain.features);
        let all = run_args(&["-a"]).show();
        assert!(all.vendors && all.features && !all.active_only && all.feature.is_none());
        let active = run_args(&["-A"]).show();
        assert!(active.features && active.active_only);
        let f = run_args(&["-f", "f1"]).show();
        assert_eq!(f.feature.as_deref(), Some("f1"));
        let s = run_args(&["-S", "demo"]).show();
        assert!(s.served_by && s.features);
        assert_eq!(s.vendor.as_deref(), Some("demo"));
        let lm = run_args(&["-lm", "-a"]).show();
        assert!(lm.lm_only && !lm.vendors && !lm.features);
        let srv = run_args(&["-s", "h1"]).show();
        assert!(!srv.vendors);
        assert_eq!(srv.server.as_deref(), Some("h1"));
    }
}
