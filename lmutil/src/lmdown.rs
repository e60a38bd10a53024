//! `lmdown`: shuts license servers (or one vendor daemon) down.
//!
//! ```text
//! lmdown - lm license manager v0.1.0
//!
//!    Port@Host            Vendors
//! 1) 27000@lic1 demo
//!
//! Are you sure (y/n)?  y
//!
//!     1 lm License Server shut down
//! ```

use crate::admin::{self, refusal};
use crate::common::{self, Common, CommonOpts, Cursor, BRAND};
use crate::net::{admin_request, Lmgrd, Timeouts};
use crate::Invocation;
use wire::{admin_op, lmerr};

pub const USAGE: &str = "\
usage: lmdown [-c license_file_list] [-vendor name] [-q] [-all] [-force] [-t timeout]
  -vendor name  shut down only this vendor daemon (lmgrd keeps running)
  -q            do not ask for confirmation
  -all          shut down every license server of the list without asking which
  -force        shut down even when licenses are borrowed
";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    pub vendor: Option<String>,
    pub quiet: bool,
    pub all: bool,
    pub force: bool,
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
            "-q" => a.quiet = true,
            "-all" => a.all = true,
            "-force" => a.force = true,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(Parsed::Run(a))
}

/// The numbered list lmdown shows before asking.
pub fn server_list(servers: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("   Port@Host            Vendors\n");
    for (i, (label, vendors)) in servers.iter().enumerate() {
        out.push_str(&format!("{}) {label} ", i + 1));
        for v in vendors {
            out.push_str(v);
            out.push(' ');
        }
        out.push('\n');
    }
    out
}

/// Which servers an answer to "which ones" picks: `a` all, `q` none,
/// else numbers (1-based) separated by spaces or commas.
pub fn pick(answer: &str, count: usize) -> Option<Vec<usize>> {
    let answer = answer.trim();
    match answer {
        "a" | "A" | "all" => return Some((0..count).collect()),
        "q" | "Q" | "" => return Some(Vec::new()),
        _ => {}
    }
    let mut out = Vec::new();
    for part in answer.split([' ', ',']).filter(|p| !p.is_empty()) {
        let n: usize = part.parse().ok()?;
        if n == 0 || n > count {
            return None;
        }
        if !out.contains(&(n - 1)) {
            out.push(n - 1);
        }
    }
    Some(out)
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match common::begin(inv, "lmdown", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    let (mut servers, failed) =
        admin::servers(args.common.license.as_deref(), args.common.timeouts());
    for (entry, e) in &failed {
        common::write_err(&format!("lmdown: {entry}: {e}\n"));
    }
    if let Some(v) = &args.vendor {
        servers.retain(|s| s.vendors().contains(v));
        if servers.is_empty() {
            common::write_err(&format!(
                "lmdown: no license server of the list runs vendor daemon \"{v}\"\n"
            ));
            return 1;
        }
    }
    if servers.is_empty() {
        common::write_err("lmdown: no license server to shut down\n");
        return 1;
    }
    let chosen: Vec<usize> = if args.quiet {
        (0..servers.len()).collect()
    } else {
        let list: Vec<(String, Vec<String>)> = servers
            .iter()
            .map(|s| (s.label.clone(), s.vendors()))
            .collect();
        common::write_out(&format!("\n{}\n", server_list(&list)));
        if servers.len() == 1 || args.all {
            if !common::confirm("Are you sure (y/n)?  ") {
                return 0;
            }
            (0..servers.len()).collect()
        } else {
            common::write_out(&format!(
                "Shut down which license server(s)? (1-{}, 'a' for all, 'q' to quit): ",
                servers.len()
            ));
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            match pick(&line, servers.len()) {
                Some(p) if !p.is_empty() => p,
                Some(_) => return 0,
                None => {
                    common::write_err("lmdown: not a server number\n");
                    return 1;
                }
            }
        }
    };
    let mut done = 0;
    let mut refused = false;
    for i in chosen {
        let server = &mut servers[i];
        for member in &mut server.members {
            if !args.force {
                let borrowed =
                    borrowed_seats(member, args.vendor.as_deref(), args.common.timeouts());
                if borrowed > 0 {
                    refused = true;
                    common::write_err(&format!(
                        "lmdown: {}: {} ({borrowed} borrowed; -force shuts down anyway, and they stay borrowed across the restart) ({},0)\n",
                        member.label(),
                        lmerr::text(lmerr::LM_BORROW_DOWN),
                        lmerr::LM_BORROW_DOWN
                    ));
                    continue;
                }
            }
            let mut req = admin_request(admin_op::SHUTDOWN);
            req.vendor = args.vendor.clone().unwrap_or_default();
            req.force = args.force;
            let label = member.label();
            match member.conn.admin(req) {
                Ok(r) if r.code == 0 => done += 1,
                Ok(r) => {
                    refused = true;
                    common::write_err(&format!("lmdown: {label}: {}\n", refusal(&r)));
                }
                Err(e) => {
                    refused = true;
                    common::write_err(&format!("lmdown: {label}: {e}\n"));
                }
            }
        }
    }
    if done > 0 {
        let what = match &args.vendor {
            Some(v) => format!("{v} vendor daemon"),
            None => format!("{BRAND} License Server"),
        };
        common::write_out(&format!("\n    {done} {what} shut down\n"));
    }
    if refused || done == 0 || !failed.is_empty() {
        1
    } else {
        0
    }
}

/// Seats borrowed from the vendor daemons of `member` (only `vendor`'s
/// when one is named): FLEXlm's lmdown wants -force while there are any.
fn borrowed_seats(member: &Lmgrd, vendor: Option<&str>, t: Timeouts) -> usize {
    member
        .status
        .vendors
        .iter()
        .filter(|v| vendor.is_none_or(|name| name == v.name))
        .filter_map(|v| member.vendor(&v.name, t).ok())
        .filter_map(|mut conn| conn.status("").ok())
        .flat_map(|s| s.features)
        .flat_map(|f| f.holders)
        .filter(|h| h.borrow_until > 0)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Parsed, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options() {
        assert_eq!(
            p(&["-c", "27000@h", "-vendor", "demo", "-q", "-force", "-all"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts {
                    license: Some("27000@h".into()),
                    ..CommonOpts::default()
                },
                vendor: Some("demo".into()),
                quiet: true,
                all: true,
                force: true,
            }))
        );
        assert!(p(&["-vendor"]).is_err());
        assert!(p(&["demo"]).is_err());
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
    }

    #[test]
    fn the_list_as_flexlm_prints_it() {
        assert_eq!(
            server_list(&[("27000@ubuntu-x86".into(), vec!["snpslmd".into()])]),
            "   Port@Host            Vendors\n1) 27000@ubuntu-x86 snpslmd \n"
        );
    }

    #[test]
    fn picking_servers() {
        assert_eq!(pick("a\n", 3), Some(vec![0, 1, 2]));
        assert_eq!(pick("q", 3), Some(vec![]));
        assert_eq!(pick("3, 1 3", 3), Some(vec![2, 0]));
        assert_eq!(pick("4", 3), None);
        assert_eq!(pick("x", 3), None);
    }
}
