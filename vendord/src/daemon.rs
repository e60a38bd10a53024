//! Running a vendor daemon: the command line, the license file verified
//! with the keys built into the daemon, the borrow store, the event loop.

use crate::args::{Args, USAGE};
use crate::borrow_store::{self, BorrowStore};
use crate::server::{local_today, Server};
use crate::startup;
use accounting::{Config, Core};
use grammar::publisher::{DaemonKeys, DEMO_PUBLIC_KEYS, DEMO_VENDOR};
use hostenv::state_dir::{self, StateError, EXIT_CONFIG};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
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
    let (text, code) = match run(&args, Arc::new(keys)) {
        Ok(()) => return ExitCode::SUCCESS,
        // Already logged where it was decided.
        Err(Failure::Abrupt(code)) => return ExitCode::from(code),
        Err(Failure::Config(e)) => (e, EXIT_CONFIG),
        Err(Failure::Other(e)) => (e, 1),
    };
    log::error!("{text}");
    log::error!("EXITING with code {code}");
    ExitCode::from(code)
}

/// Why the daemon stops. A `Config` failure comes back however often the
/// daemon is restarted (a missing file, a directory it may not write, the
/// wrong vendor): it exits with [`EXIT_CONFIG`] so lmgrd does not try.
#[derive(Debug)]
enum Failure {
    Config(String),
    Other(String),
    /// The loop ended at once (a triad member that lost lmgrd or its
    /// mastership), with this status.
    Abrupt(u8),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Other(e)
    }
}

impl From<borrow_store::StoreError> for Failure {
    fn from(e: borrow_store::StoreError) -> Failure {
        Failure::Other(e.to_string())
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        Failure::Config(e.to_string())
    }
}

/// Opens the borrow store at `path`, creating its directory if needed.
fn open_borrow_store(path: &Path) -> Result<BorrowStore, StateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        state_dir::prepare(dir)?;
    }
    BorrowStore::open(path).map_err(|e| {
        let source = std::io::Error::other(e.what);
        let source = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Err(io) if io.kind() == std::io::ErrorKind::PermissionDenied => io,
            _ => source,
        };
        StateError::new("borrow store", path, source)
    })
}

fn run(args: &Args, keys: Arc<DaemonKeys>) -> Result<(), Failure> {
    state_dir::set(state_dir::choose(args.state_dir.as_deref()));
    if args.vendor != keys.publisher().vendor() {
        return Err(Failure::Config(format!(
            "This vendor daemon serves vendor {}, not {}: the VENDOR line must name the {} \
             vendor daemon's program",
            keys.publisher().vendor(),
            args.vendor,
            args.vendor
        )));
    }
    log::info!("{}", crate::server::product_banner());
    if args.restarts > 0 {
        log::info!("Restarted by lmgrd ({} restarts)", args.restarts);
    }
    let open_files = hostenv::fd_limit::raise_open_files_limit();
    if open_files < FEW_OPEN_FILES {
        log::warn!(
            "Warning: only {open_files} file descriptors available: \
             at most about {open_files} concurrent clients"
        );
    }

    let today = local_today();
    let licensed = startup::load_license(&args.license, keys.publisher(), today).map_err(|e| {
        Failure::Config(format!(
            "Cannot read license file {}: {e}",
            args.license.display()
        ))
    })?;
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
    let licensed_borrowable = borrow_store::any_borrowable(&licensed.pools);
    let core = Core::new(licensed.pools, today, config);
    for problem in core.option_problems() {
        log::warn!("{problem}");
    }
    log::info!("{}", startup::started_message(&host, &core.features()));
    log::info!("{}", logfmt::banner::EXTERNAL_FILTERS_OFF);
    let store_path = args
        .borrow_store
        .clone()
        .unwrap_or_else(|| borrow_store::default_path(&args.vendor));
    // No borrowable line, no store: a daemon that lends nothing writes
    // nothing. One left by an earlier run still holds seats out on loan.
    let store = if licensed_borrowable || store_path.exists() {
        Some(open_borrow_store(&store_path)?)
    } else {
        None
    };

    let ip = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let addr = SocketAddr::new(ip, args.port);
    let mut server = Server::bind(addr, core, local_today)
        .map_err(|e| format!("Failed to open the TCP port number {}: {e}", args.port))?;
    server.reread_from(args.license.clone(), keys);
    server.expiry_warnings(args.expiry_warning_days);
    server.reopen_log_on_usr1(args.debug_log.clone());
    if args.triad_fd.is_none() {
        server.borrow_store_at(store_path);
        if let Some(store) = store {
            server.keep_borrows_in(store)?;
        }
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
    server.log_dir(args.log_dir.clone());
    if !args.no_admin_socket {
        if let Some(dir) = state_dir::get() {
            server.open_admin_socket(dir);
        }
    }
    let port = server.local_addr().map_err(|e| e.to_string())?.port();
    if let Some(fd) = args.notify_fd {
        startup::notify_port(fd, port)
            .map_err(|e| format!("Cannot tell lmgrd the port on fd {fd}: {e}"))?;
    }
    match server.run() {
        Ok(stopped) => match stopped.abrupt_exit_status() {
            Some(code) => Err(Failure::Abrupt(code)),
            None => Ok(()),
        },
        Err(e) => Err(Failure::Other(format!("Event loop failed: {e}"))),
    }
}
