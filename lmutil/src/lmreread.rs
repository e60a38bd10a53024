//! `lmreread`: asks lmgrd to reread its license file (and its vendor
//! daemons theirs). Prints `lmreread successful`.

use crate::admin::{self, refusal};
use crate::common::{self, Common, CommonOpts, Cursor};
use crate::net::admin_request;
use crate::Invocation;
use wire::admin_op;

pub const USAGE: &str = "\
usage: lmreread [-c license_file_list] [-vendor name] [-all] [-t timeout]
  -vendor name  reread only this vendor daemon's licenses
  -all          every license server of the list (default: the first reached)
";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    pub vendor: Option<String>,
    pub all: bool,
}

pub type Parsed = common::Parsed<Args>;

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
        match arg {
            "-vendor" => a.vendor = Some(c.value("-vendor")?.to_string()),
            "-all" => a.all = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Parsed::Run(a))
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match common::begin(inv, "lmreread", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    let (mut servers, failed) =
        admin::servers(args.common.license.as_deref(), args.common.timeouts());
    if servers.is_empty() {
        for (entry, e) in &failed {
            common::write_err(&format!("lmreread: {entry}: {e}\n"));
        }
        if failed.is_empty() {
            common::write_err("lmreread: no license server in the license path\n");
        }
        return 1;
    }
    if !args.all {
        servers.truncate(1);
    } else {
        for (entry, e) in &failed {
            common::write_err(&format!("lmreread: {entry}: {e}\n"));
        }
    }
    let mut ok = !args.all || failed.is_empty();
    for server in &mut servers {
        for member in &mut server.members {
            let mut req = admin_request(admin_op::REREAD);
            req.vendor = args.vendor.clone().unwrap_or_default();
            let label = member.label();
            match member.conn.admin(req) {
                Ok(r) if r.code == 0 => {}
                Ok(r) => {
                    ok = false;
                    common::write_err(&format!("lmreread: {label}: {}\n", refusal(&r)));
                }
                Err(e) => {
                    ok = false;
                    common::write_err(&format!("lmreread: {label}: {e}\n"));
                }
            }
        }
    }
    if ok {
        common::write_out("lmreread successful\n");
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let p = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            p(&["-vendor", "demo", "-all", "-c", "x.lic"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts {
                    license: Some("x.lic".into()),
                    ..CommonOpts::default()
                },
                vendor: Some("demo".into()),
                all: true,
            }))
        );
        assert!(p(&["-q"]).is_err());
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
    }
}
