//! `lmswitch` (debug log), `lmswitchr` (report log) and `lmnewlog`
//! (rotate the report log): each names a vendor daemon, or a feature whose
//! vendor daemon is meant, and a file. The request goes to that vendor
//! daemon (found through lmgrd), whose reply is printed.

use crate::admin::{self, refusal};
use crate::common::{self, Common, CommonOpts, Cursor, LmFailure};
use crate::net::admin_request;
use crate::Invocation;
use wire::{admin_op, lmerr};

/// The three tools differ in name and usage only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Switch the debug log.
    Switch,
    /// Switch the report log.
    SwitchReport,
    /// Rename the report log and start a new one.
    NewLog,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Switch => "lmswitch",
            Which::SwitchReport => "lmswitchr",
            Which::NewLog => "lmnewlog",
        }
    }

    pub fn usage(self) -> String {
        let what = match self {
            Which::Switch => "new-debug-log",
            Which::SwitchReport => "new-report-log",
            Which::NewLog => "renamed-report-log",
        };
        format!(
            "usage: {name} [-c license_file_list] [-t timeout] vendor {what}\n       \
             {name} [-c license_file_list] [-t timeout] feature {what}\n",
            name = self.name()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    /// A vendor daemon or a feature.
    pub name: String,
    pub file: String,
}

pub type Parsed = common::Parsed<Args>;

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut common = CommonOpts::default();
    let mut words = Vec::new();
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        match c.common(arg, &mut common)? {
            Common::Taken => continue,
            Common::Help => return Ok(Parsed::Help),
            Common::Version => return Ok(Parsed::Version),
            Common::Other => {}
        }
        if arg.starts_with('-') {
            return Err(format!("unknown option `{arg}`"));
        }
        words.push(arg.to_string());
    }
    let [name, file] = <[String; 2]>::try_from(words)
        .map_err(|_| "give a vendor (or feature) and a file name".to_string())?;
    Ok(Parsed::Run(Args { common, name, file }))
}

pub fn run_lmswitch(inv: &Invocation) -> i32 {
    run(inv, Which::Switch)
}

pub fn run_lmswitchr(inv: &Invocation) -> i32 {
    run(inv, Which::SwitchReport)
}

pub fn run_lmnewlog(inv: &Invocation) -> i32 {
    run(inv, Which::NewLog)
}

fn run(inv: &Invocation, which: Which) -> i32 {
    let tool = which.name();
    let args = match common::begin(inv, tool, &which.usage(), parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    let t = args.common.timeouts();
    let (servers, failed) = admin::servers(args.common.license.as_deref(), t);
    let Some(server) = servers.first() else {
        for (entry, e) in &failed {
            common::write_err(&format!("{tool}: {entry}: {e}\n"));
        }
        if failed.is_empty() {
            common::write_err(&format!("{tool}: no license server in the license path\n"));
        }
        return 1;
    };
    let Some(lmgrd) = server.members.first() else {
        return 1;
    };
    let mut req = admin_request(match which {
        Which::Switch => admin_op::SWITCH_LOG,
        Which::SwitchReport => admin_op::SWITCH_REPORT_LOG,
        Which::NewLog => admin_op::NEW_REPORT_LOG,
    });
    req.path = args.file.clone();
    let mut conn = if lmgrd.status.vendors.iter().any(|v| v.name == args.name) {
        req.vendor = args.name.clone();
        match lmgrd.vendor(&args.name, t) {
            Ok(c) => c,
            Err(e) => {
                common::write_err(&format!("{tool}: {}: {e}\n", args.name));
                return 1;
            }
        }
    } else {
        match lmgrd.vendors_serving(&args.name, t).into_iter().next() {
            Some((vendor, conn)) => {
                req.vendor = vendor;
                req.feature = args.name.clone();
                conn
            }
            None => {
                common::write_err(&format!(
                    "{tool}: \"{}\" is neither a vendor daemon nor a feature of {}: {}\n",
                    args.name,
                    lmgrd.label(),
                    LmFailure::new(lmerr::LM_NOFEATURE, 0)
                ));
                return 1;
            }
        }
    };
    let vendor = req.vendor.clone();
    match conn.admin(req) {
        Ok(r) if r.code == 0 => {
            let text = if r.text.is_empty() {
                format!("{vendor}: log switched to {}", args.file)
            } else {
                r.text
            };
            common::write_out(&format!("{text}\n"));
            0
        }
        Ok(r) => {
            common::write_err(&format!("{tool}: {vendor}: {}\n", refusal(&r)));
            1
        }
        Err(e) => {
            common::write_err(&format!("{tool}: {vendor}: {e}\n"));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_or_feature_and_file() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            p(&["-c", "1@h", "demo", "/tmp/new.log"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts {
                    license: Some("1@h".into()),
                    ..CommonOpts::default()
                },
                name: "demo".into(),
                file: "/tmp/new.log".into(),
            }))
        );
        assert!(p(&["demo"]).is_err());
        assert!(p(&["demo", "a", "b"]).is_err());
        assert!(p(&["-rollover", "demo", "a"]).is_err());
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
        assert!(Which::NewLog.usage().starts_with("usage: lmnewlog"));
    }
}
