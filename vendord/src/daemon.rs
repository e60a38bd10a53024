//! Running a vendor daemon: the command line, the license file verified
//! with the keys built into the daemon, the borrow store, the event loop.

use crate::args::{Args, USAGE};
use crate::borrow_store::{self, BorrowStore};
use crate::core::{Config, Core};
use crate::server::{local_today, Server};
use crate::startup;
use grammar::publisher::{DaemonKeys, DEMO_PUBLIC_KEYS, DEMO_VENDOR};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

/// The demo publisher's borrow-sealing private key. Like `demo.key`, it is
/// public: for demonstrations and tests only.
const DEMO_SEAL_KEY: &str = include_str!("../../examples/licenses/demo-seal.key");

/// The demo publisher's keys, as the shipped `vendord` (the demo vendor
/// daemon) has them built in.
pub fn demo_keys() -> DaemonKeys {
    DaemonKeys::from_pem(DEMO_VENDOR, DEMO_PUBLIC_KEYS, DEMO_SEAL_KEY)
        .expect("the demo keys shipped with the source are valid PEM")
}

/// Fewer open files than this and a busy site may run out.
const FEW_OPEN_FILES: u64 = 10_000;

/// Runs a vendor daemon for the publisher whose keys are `keys`, with the
/// command line lmgrd gives it. A publisher's daemon is a `main` that
/// calls this with its keys built in (see `docs/publisher-guide.md`):
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     vendord::daemon::main(vendord::daemon::demo_keys())
/// }
/// ```
pub fn main(keys: DaemonKeys) -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vendord: {e}\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    startup::die_with_parent();
    logfmt::init(&args.vendor);
    match run(&args, Arc::new(keys)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            log::error!("EXITING with code 1");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args, keys: Arc<DaemonKeys>) -> Result<(), String> {
    if args.vendor != keys.publisher().vendor() {
        return Err(format!(
            "This vendor daemon serves vendor {}, not {}: the VENDOR line must name the {} \
             vendor daemon's program",
            keys.publisher().vendor(),
            args.vendor,
            args.vendor
        ));
    }
    log::info!("{}", crate::server::product_banner());
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
    let licensed = startup::load_license(&args.license, keys.publisher(), today)
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
    crate::server::apply_debug_log(&licensed.options);
    licensed.configure(&mut config);
    config.keys = Some(Arc::clone(&keys));
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
    server.reread_from(args.license.clone(), keys);
    if args.triad_fd.is_none() {
        server.keep_borrows_in(store)?;
    } else {
        // In a triad the committed log keeps borrowed seats, like all others.
        drop(store);
    }
    if let Some(fd) = args.triad_fd {
        let link = crate::triad_link::TriadLink::from_fd(fd)
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
