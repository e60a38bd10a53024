//! lmutil: the administrator's tools in one binary.
//!
//! Run as `lmutil <tool> [args]`, or under the tool's own name through a
//! link (`lmcksum` -> `lmutil`), as FLEXlm's lmutil is.

mod lmcksum;
mod lmcrypt;
mod rewrite;

use std::path::Path;

/// A tool's entry point: its arguments in, the exit status out.
type Tool = fn(&[String]) -> i32;

/// Tools this binary answers to.
const TOOLS: [(&str, Tool); 2] = [("lmcksum", lmcksum::run), ("lmcrypt", lmcrypt::run)];

fn usage() -> String {
    format!(
        "lmutil v{}\nusage: lmutil lmcksum [-c license_file] [-k] [feature]\n       \
         lmutil lmcrypt -genkey vendor [-dir directory] [-force]\n       \
         lmutil lmcrypt [-key private_key] [-vendor name] license_file ...\n       \
         lmutil -help (prints this message)\n       \
         lmutil tool -help (usage of one tool)\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let invoked = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("lmutil")
        .to_string();
    let (tool, rest) = match TOOLS.iter().find(|(name, _)| *name == invoked) {
        Some(_) => (invoked.as_str(), &argv[1..]),
        None => match argv.get(1) {
            Some(t) => (t.as_str(), &argv[2..]),
            None => {
                eprint!("{}", usage());
                std::process::exit(1);
            }
        },
    };
    if matches!(tool, "-help" | "-h" | "--help") {
        print!("{}", usage());
        return;
    }
    match TOOLS.iter().find(|(name, _)| *name == tool) {
        Some((_, run)) => std::process::exit(run(rest)),
        None => {
            eprintln!("lmutil: unknown tool `{tool}`");
            eprint!("{}", usage());
            std::process::exit(1);
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
        .unwrap_or_else(|| "/usr/local/flexlm/licenses/license.dat".to_string());
    list.split(':')
        .find(|e| !e.is_empty())
        .unwrap_or(&list)
        .to_string()
}
