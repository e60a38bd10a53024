//! `vendord -c <license file> --vendor <name> [--port N] [--notify-fd FD]`
//!
//! Started by lmgrd, one per VENDOR line. Logs to standard output in
//! FLEXlm's debug-log format, tagged with the vendor name.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use vendord::args::{Args, USAGE};
use vendord::borrow_store::{self, BorrowStore};
use vendord::core::{Config, Core};
use vendord::server::{local_today, Server};
use vendord::startup;

/// Fewer open files than this and a busy site may run out.
const FEW_OPEN_FILES: u64 = 10_000;

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vendord: {e}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    startup::die_with_parent();
    logfmt::init(&args.vendor);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            log::error!("EXITING with code 1");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    log::info!("{}", vendord::server::product_banner());
    if args.restarts > 0 {
        log::info!("Restarted by lmgrd ({} restarts)", args.restarts);
    }
    let open_files = startup::raise_open_files_limit();
    if open_files < FEW_OPEN_FILES {
        log::warn!(
            "Warning: only {open_files} file descriptors available: \
             at most about {open_files} concurrent clients"
        );
    }

    let today = local_today();
    let licensed = startup::load_license(&args.license, &args.vendor, today)
        .map_err(|e| format!("Cannot read license file {}: {e}", args.license.display()))?;
    for problem in &licensed.problems {
        log::info!("{problem}");
    }
    let host = startup::hostname();
    let mut config = Config::new(&args.vendor);
    config.host = host.clone();
    config.heartbeat_interval_ms = args.heartbeat_interval_secs.saturating_mul(1000);
    config.timeout_ms = args.timeout_secs.saturating_mul(1000);
    config.min_timeout_secs = args.min_timeout_secs;
    vendord::server::apply_debug_log(&licensed.options);
    licensed.configure(&mut config);
    let core = Core::new(licensed.pools, today, config);
    for problem in core.option_problems() {
        log::warn!("{problem}");
    }
    log::info!("{}", startup::started_message(&host, &core.features()));
    log::info!("{}", logfmt::banner::EXTERNAL_FILTERS_OFF);
    let store_path = args
        .borrow_store
        .clone()
        .unwrap_or_else(|| borrow_store::default_path(&args.license, &args.vendor));
    let store = BorrowStore::open(&store_path).map_err(|e| e.to_string())?;

    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port));
    let mut server = Server::bind(addr, core, local_today)
        .map_err(|e| format!("Failed to open the TCP port number {}: {e}", args.port))?;
    server.reread_from(args.license.clone(), args.vendor.clone());
    if args.triad_fd.is_none() {
        server.keep_borrows_in(store)?;
    } else {
        // In a triad the committed log keeps borrowed seats, like all others.
        drop(store);
    }
    if let Some(fd) = args.triad_fd {
        let link = vendord::triad_link::TriadLink::from_fd(fd)
            .map_err(|e| format!("Cannot use the triad link on fd {fd}: {e}"))?;
        server
            .join_triad(link)
            .map_err(|e| format!("Cannot watch the triad link: {e}"))?;
    }
    server.configure_report();
    server.set_admin_policy(args.admin);
    let port = server.local_addr().map_err(|e| e.to_string())?.port();
    if let Some(fd) = args.notify_fd {
        startup::notify_port(fd, port)
            .map_err(|e| format!("Cannot tell lmgrd the port on fd {fd}: {e}"))?;
    }
    server
        .run()
        .map(|_| ())
        .map_err(|e| format!("Event loop failed: {e}"))
}
