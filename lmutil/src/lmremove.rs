//! `lmremove`: frees a user's license, by user, host and display, or by
//! the handle `lmstat -a` shows (`(server/port handle)`). The request goes
//! to the vendor daemon that serves the feature, found through lmgrd.
//! Like FLEXlm's, it prints nothing but its banner when it succeeds.

use crate::admin::{self, refusal};
use crate::common::{self, Common, CommonOpts, Cursor, LmFailure};
use crate::net::{self, admin_request, Lmgrd, Timeouts};
use crate::Invocation;
use client::ServerSpec;
use wire::{admin_op, lmerr, AdminRequest};

pub const USAGE: &str = "\
usage: lmremove [-c license_file_list] [-t timeout] [-force] feature user host display
       lmremove [-c license_file_list] [-t timeout] [-force] -h feature host port handle
  (user, host, display, port and handle as lmstat -a shows them)
  -force (not a FLEXlm option) also ends borrowed licenses (a lost laptop)
";

/// Which checkouts to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every checkout of `feature` by `user` on `host` (and `display`).
    User {
        feature: String,
        user: String,
        host: String,
        display: String,
    },
    /// One checkout, by its handle on the license server `port@host`.
    Handle {
        feature: String,
        server: ServerSpec,
        handle: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub common: CommonOpts,
    pub target: Target,
    /// `-force` (ours): borrowed licenses are removed too.
    pub force: bool,
}

pub type Parsed = common::Parsed<Args>;

pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut common = CommonOpts::default();
    let mut by_handle = false;
    let mut force = false;
    let mut words: Vec<String> = Vec::new();
    let mut c = Cursor::new(args);
    while let Some(arg) = c.next_arg() {
        if arg == "-h" {
            by_handle = true;
            continue;
        }
        if arg == "-force" {
            force = true;
            continue;
        }
        match c.common(arg, &mut common)? {
            Common::Taken => continue,
            Common::Help => return Ok(Parsed::Help),
            Common::Version => return Ok(Parsed::Version),
            Common::Other => {}
        }
        if arg.starts_with('-') && words.is_empty() {
            return Err(format!("unknown option `{arg}`"));
        }
        words.push(arg.to_string());
    }
    let target = if by_handle {
        let [feature, host, port, handle] = <[String; 4]>::try_from(words)
            .map_err(|_| "-h needs feature host port handle".to_string())?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{port}` is not a port number"))?;
        let handle: u64 = handle
            .parse()
            .map_err(|_| format!("`{handle}` is not a handle (a number)"))?;
        Target::Handle {
            feature,
            server: ServerSpec {
                host,
                port: Some(port),
            },
            handle,
        }
    } else {
        let [feature, user, host, display] = <[String; 4]>::try_from(words)
            .map_err(|_| "give feature user host display".to_string())?;
        Target::User {
            feature,
            user,
            host,
            display,
        }
    };
    Ok(Parsed::Run(Args {
        common,
        target,
        force,
    }))
}

/// Sends `req` to each vendor daemon of `lmgrd` that serves `feature`.
/// `Ok(true)` when one removed something; `Ok(false)` when none serves it.
pub fn remove_at(
    lmgrd: &Lmgrd,
    feature: &str,
    req: &AdminRequest,
    t: Timeouts,
) -> Result<bool, String> {
    let vendors = lmgrd.vendors_serving(feature, t);
    if vendors.is_empty() {
        return Ok(false);
    }
    let mut last = String::new();
    for (vendor, mut conn) in vendors {
        let mut req = req.clone();
        req.vendor = vendor;
        match conn.admin(req) {
            Ok(r) if r.code == 0 => return Ok(true),
            Ok(r) => last = refusal(&r),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

pub fn run(inv: &Invocation) -> i32 {
    let args = match common::begin(inv, "lmremove", USAGE, parse(&inv.args)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    common::write_out(&format!("{}\n", common::banner(&inv.program)));
    let t = args.common.timeouts();
    let no_feature = |f: &str| {
        common::write_err(&format!(
            "lmremove: {f}: {}\n",
            LmFailure::new(lmerr::LM_NOFEATURE, 0)
        ));
        1
    };
    match &args.target {
        Target::Handle {
            feature,
            server,
            handle,
        } => {
            let lmgrd = match net::lmgrd(server, t) {
                Ok(l) => l,
                Err(e) => {
                    common::write_err(&format!("lmremove: {server}: {e}\n"));
                    return 1;
                }
            };
            let mut req = admin_request(admin_op::REMOVE_HANDLE);
            req.feature = feature.clone();
            req.handle = *handle;
            req.force = args.force;
            match remove_at(&lmgrd, feature, &req, t) {
                Ok(true) => 0,
                Ok(false) => no_feature(feature),
                Err(why) => {
                    common::write_err(&format!("lmremove: {why}\n"));
                    1
                }
            }
        }
        Target::User {
            feature,
            user,
            host,
            display,
        } => {
            let (servers, failed) = admin::servers(args.common.license.as_deref(), t);
            let mut req = admin_request(admin_op::REMOVE_USER);
            req.feature = feature.clone();
            req.user = user.clone();
            req.host = host.clone();
            req.display = display.clone();
            req.force = args.force;
            for server in &servers {
                for member in &server.members {
                    match remove_at(member, feature, &req, t) {
                        Ok(true) => return 0,
                        Ok(false) => {}
                        Err(why) => {
                            common::write_err(&format!("lmremove: {why}\n"));
                            return 1;
                        }
                    }
                }
            }
            if servers.is_empty() {
                for (entry, e) in &failed {
                    common::write_err(&format!("lmremove: {entry}: {e}\n"));
                }
                if !failed.is_empty() {
                    return 1;
                }
            }
            no_feature(feature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Parsed, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn both_forms() {
        assert_eq!(
            p(&["-c", "27000@h", "f1", "joe", "ws1", "/dev/pts/1"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts {
                    license: Some("27000@h".into()),
                    ..CommonOpts::default()
                },
                target: Target::User {
                    feature: "f1".into(),
                    user: "joe".into(),
                    host: "ws1".into(),
                    display: "/dev/pts/1".into(),
                },
                force: false,
            }))
        );
        assert_eq!(
            p(&["-h", "f1", "lic1", "27000", "42"]),
            Ok(Parsed::Run(Args {
                common: CommonOpts::default(),
                target: Target::Handle {
                    feature: "f1".into(),
                    server: ServerSpec {
                        host: "lic1".into(),
                        port: Some(27000)
                    },
                    handle: 42,
                },
                force: false,
            }))
        );
        assert!(matches!(
            p(&["-force", "-h", "f1", "lic1", "27000", "42"]),
            Ok(Parsed::Run(Args { force: true, .. }))
        ));
        assert!(p(&["-h", "f1", "lic1", "x", "42"]).is_err());
        assert!(p(&["-h", "f1", "lic1", "27000"]).is_err());
        assert!(p(&["f1", "joe", "ws1"]).is_err());
        assert!(p(&["-x", "f1", "joe", "ws1", "d"]).is_err());
        assert_eq!(p(&["-help"]), Ok(Parsed::Help));
    }
}
