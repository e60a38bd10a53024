//! lmutil: the administrator's tools in one binary.
//!
//! Run as `lmutil <tool> [args]`, or under the tool's own name through a
//! link (`lmstat` -> `lmutil`), as FLEXlm's lmutil is.
//!
//! Each tool is a module with a `run` entry point. Tools that talk to
//! servers keep their output formats in pure functions of plain data
//! (`lmstat::render`, `lmhostid::format`, `lmpath`'s rc-file editing), so
//! the formats are tested without sockets; `net` and `path` are the thin
//! network and license-path layers they share.

pub mod admin;
pub mod common;
pub mod keygen;
pub mod kit;
pub mod lmborrow;
pub mod lmbundle;
pub mod lmcksum;
pub mod lmcrypt;
pub mod lmdiag;
pub mod lmdown;
pub mod lmhostid;
pub mod lmpasswd;
pub mod lmpath;
pub mod lmremove;
pub mod lmreport;
pub mod lmreread;
pub mod lmstat;
pub mod lmswitch;
pub mod lmtriadkey;
pub mod lmver;
pub mod local_admin;
pub mod net;
pub mod path;
mod rewrite;
pub mod secrets;
pub mod statusdoc;

use std::path::Path;

/// How a tool was invoked: the program name its banner shows (`lmutil`,
/// or the tool's own name when run through a link) and its arguments.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
}

/// A tool's entry point: the invocation in, the exit status out.
pub type Tool = fn(&Invocation) -> i32;

/// Tools this binary answers to.
pub const TOOLS: &[(&str, Tool)] = &[
    ("lmborrow", lmborrow::run),
    ("lmbundle", lmbundle::run),
    ("lmcksum", |i| lmcksum::run(&i.args)),
    ("lmcrypt", |i| lmcrypt::run(&i.args)),
    ("lmdiag", lmdiag::run),
    ("lmdown", lmdown::run),
    ("lmhostid", lmhostid::run),
    ("lmnewlog", lmswitch::run_lmnewlog),
    ("lmpasswd", lmpasswd::run),
    ("lmpath", lmpath::run),
    ("lmremove", lmremove::run),
    ("lmreport", lmreport::run),
    ("lmreread", lmreread::run),
    ("lmstat", lmstat::run),
    ("lmswitch", lmswitch::run_lmswitch),
    ("lmswitchr", lmswitch::run_lmswitchr),
    ("lmtriadkey", lmtriadkey::run),
    ("lmver", lmver::run),
];

/// The usage of the whole binary.
pub fn usage() -> String {
    format!(
        "{}\n\
usage: lmutil lmborrow {{vendor|all}} dd-mmm-yyyy[:hh:mm]\n\
       lmutil lmborrow -status | -clear | -purge\n\
       lmutil lmborrow -return [-c license_file_list] [-d display] [-vendor name] feature\n\
       lmutil lmbundle [-c license_file_list] [-l debug_log] [-r report_log] [-o file.tar.gz]\n\
       lmutil lmcksum [-c license_file] [-k] [feature]\n\
       lmutil lmcrypt -genkey vendor [-dir directory] [-force]\n\
       lmutil lmcrypt -kit vendor [-dir directory] [-source path] [-force]\n\
       lmutil lmcrypt [-key private_key] [-vendor name] license_file ...\n\
       lmutil lmdiag [-c license_file_list] [-n] [-t timeout] [feature]\n\
       lmutil lmdown [-c license_file_list] [-q] [-all] [-vendor name] [-force]\n\
       lmutil lmhostid [-ether|-internet|-user|-display|-hostname|-hostdomain] [-n]\n\
       lmutil lmnewlog [-c license_file_list] {{vendor|feature}} new-file\n\
       lmutil lmpasswd [-state-dir dir] [-token name | -revoke name | -list | -off]\n\
       lmutil lmpath -status\n\
       lmutil lmpath -add {{all|vendor}} license_file_list\n\
       lmutil lmpath -override {{all|vendor}} license_file_list\n\
       lmutil lmremove [-c license_file_list] feature user host display\n\
       lmutil lmremove [-c license_file_list] -h feature host port handle\n\
       lmutil lmreread [-c license_file_list] [-vendor name] [-all]\n\
       lmutil lmreport -f report_log [-feature name] [-from date] [-to date] [-json|-csv]\n\
       lmutil lmstat [-c license_file_list] [lmstat-args]\n\
       lmutil lmswitch [-c license_file_list] {{vendor|feature}} new-file\n\
       lmutil lmswitchr [-c license_file_list] {{vendor|feature}} new-file\n\
       lmutil lmver [binary]\n\
       lmutil -help (prints this message)\n\
       lmutil utility_name -help (display detailed usage information)\n",
        common::banner("lmutil")
    )
}

/// Runs the tool named by `argv[0]` (through a link) or `argv[1]`;
/// returns the exit status.
pub fn dispatch(argv: &[String]) -> i32 {
    let invoked = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("lmutil")
        .to_string();
    if let Some((_, run)) = TOOLS.iter().find(|(name, _)| *name == invoked) {
        return run(&Invocation {
            program: invoked.clone(),
            args: argv.get(1..).unwrap_or_default().to_vec(),
        });
    }
    let Some(tool) = argv.get(1) else {
        common::write_err(&usage());
        return 1;
    };
    if matches!(tool.as_str(), "-help" | "-h" | "--help") {
        common::write_out(&usage());
        return 0;
    }
    if matches!(tool.as_str(), "-v" | "-version" | "--version") {
        common::write_out(&format!("{}\n", common::banner("lmutil")));
        return 0;
    }
    match TOOLS.iter().find(|(name, _)| name == tool) {
        Some((_, run)) => run(&Invocation {
            program: "lmutil".to_string(),
            args: argv[2..].to_vec(),
        }),
        None => {
            common::write_err(&format!("lmutil: unknown tool `{tool}`\n{}", usage()));
            1
        }
    }
}

/// The license file a tool reads: `-c` (first entry of a path list), else
/// LM_LICENSE_FILE, else FLEXlm's default path.
pub fn license_file(c: Option<&str>) -> String {
    let list = c
        .map(str::to_string)
        .or_else(|| {
            std::env::var("LM_LICENSE_FILE")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| client::search::DEFAULT_LICENSE_FILE.to_string());
    list.split(':')
        .find(|e| !e.is_empty())
        .unwrap_or(&list)
        .to_string()
}
