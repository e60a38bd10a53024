//! lmgrd: the license manager daemon.
//!
//! It reads the license file, starts and supervises one vendor daemon per
//! VENDOR line, and tells clients where their vendor daemon listens. With
//! three SERVER lines it is a member of a redundant triad
//! (`serve/triad.rs`, `serve/triad_node.rs`) and hands out its vendor
//! daemons only while it is the master.
//! `--check` validates a license file without serving it.

mod args;
mod check_cmd;
mod check_serve;
mod serve;
mod web;

use args::{Args, USAGE};
use grammar::{Date, Expiry};

/// Where FLEXlm looks when neither -c nor LM_LICENSE_FILE says.
const DEFAULT_LICENSE: &str = "/usr/local/flexlm/licenses/license.dat";

fn main() {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lmgrd: {e}\n{USAGE}");
            std::process::exit(1);
        }
    };
    if args.help {
        print!("{USAGE}");
        return;
    }
    if args.version {
        println!("lmgrd v{}", wire::version());
        return;
    }
    let license = args
        .license
        .clone()
        .or_else(|| {
            std::env::var("LM_LICENSE_FILE")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_LICENSE.to_string());
    if args.check {
        let today = match args.date.as_deref().map(Date::parse) {
            None => client::job::local_today(),
            Some(Ok(p)) => match p.expiry {
                Expiry::On(d) => d,
                Expiry::Permanent => {
                    eprintln!("lmgrd: --date needs a calendar date");
                    std::process::exit(1);
                }
            },
            Some(Err(e)) => {
                eprintln!("lmgrd: --date: {e}");
                std::process::exit(1);
            }
        };
        let me = client::identity::LocalIdentity::gather().host;
        let lmgrd_dir = serve::start::lmgrd_dir();
        let state_dir = hostenv::state_dir::choose(args.state_dir.as_deref());
        let setting = check_serve::Setting {
            me: &me,
            lmgrd_dir: &lmgrd_dir,
            server_line: args.server_line,
            state_dir: &state_dir,
            triad_key: args.triad_key.as_deref(),
        };
        std::process::exit(check_cmd::run(&license, args.json, today, &setting));
    }
    std::process::exit(serve::start::run(args, &license));
}
