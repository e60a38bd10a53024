//! lmgrd's HTTP(S) endpoint: health, the JSON status document, Prometheus
//! metrics, the dashboard and password-protected admin actions
//! (`docs/admin-guide.md`, "Watching it from a browser").
//!
//! It runs on a thread of its own with a single-threaded tokio runtime,
//! apart from lmgrd's mio loop, so no HTTP client can slow the license
//! protocol. It learns what it shows as `lmstat` does: it asks its own
//! lmgrd and that lmgrd's vendor daemons for status over the license
//! protocol ([`probe`]), at most once per [`probe::MAX_AGE`] however many
//! clients poll. Admin actions go the same way as lmremove, lmreread,
//! lmswitch and lmdown do.
//!
//! The listeners are bound before lmgrd leaves the foreground (a port in
//! use is the shell's failure); the thread starts after, as threads do
//! not survive `fork`.

mod admin;
mod metrics;
mod probe;
mod routes;
mod server;
mod tls;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

/// `-http`/`-https` as given: `[addr:]port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub ip: Option<IpAddr>,
    pub port: u16,
}

impl Listen {
    /// `7070`, `0.0.0.0:7070`, `[::1]:7070`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Listen> {
        if let Ok(port) = text.parse() {
            return Some(Listen { ip: None, port });
        }
        let addr: SocketAddr = text.parse().ok()?;
        Some(Listen {
            ip: Some(addr.ip()),
            port: addr.port(),
        })
    }
}

/// The command line's HTTP options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebArgs {
    pub http: Option<Listen>,
    pub https: Option<Listen>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("-https needs -cert and -key")]
    MissingCertOrKey,
    #[error("cannot listen for HTTP{s} on {addr}: {source}")]
    Bind {
        s: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The listeners, bound and ready for [`spawn`].
pub struct Bound {
    http: Option<TcpListener>,
    https: Option<(TcpListener, std::sync::Arc<rustls::ServerConfig>)>,
}

/// What the endpoint needs to know about its lmgrd.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where this lmgrd answers (a loopback address when it listens on
    /// every address).
    pub lmgrd: SocketAddr,
    /// The state directory: the admin secrets are there.
    pub state_dir: PathBuf,
}

/// Binds what `web` asks for; `Ok(None)` when it asks for nothing.
/// `default_ip` is lmgrd's `-bind` address. When HTTPS is on, plain HTTP
/// is bound to loopback only, whatever address it names.
pub fn bind(web: &WebArgs, default_ip: Option<IpAddr>) -> Result<Option<Bound>, WebError> {
    if web.http.is_none() && web.https.is_none() {
        return Ok(None);
    }
    let any = default_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let https = match web.https {
        Some(l) => {
            let (Some(cert), Some(key)) = (&web.cert, &web.key) else {
                return Err(WebError::MissingCertOrKey);
            };
            let config = tls::server_config(cert, key)?;
            let addr = SocketAddr::new(l.ip.unwrap_or(any), l.port);
            Some((listen(addr, "S")?, config))
        }
        None => None,
    };
    let http = match web.http {
        Some(l) => {
            let mut ip = l.ip.unwrap_or(any);
            if https.is_some() && !ip.is_loopback() {
                let loopback = if ip.is_ipv6() {
                    IpAddr::V6(Ipv6Addr::LOCALHOST)
                } else {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                };
                log::info!("HTTPS is on: plain HTTP answers on {loopback} only");
                ip = loopback;
            }
            Some(listen(SocketAddr::new(ip, l.port), "")?)
        }
        None => None,
    };
    Ok(Some(Bound { http, https }))
}

fn listen(addr: SocketAddr, s: &'static str) -> Result<TcpListener, WebError> {
    let l = TcpListener::bind(addr).map_err(|source| WebError::Bind { s, addr, source })?;
    l.set_nonblocking(true)
        .map_err(|source| WebError::Bind { s, addr, source })?;
    if let Ok(a) = l.local_addr() {
        log::info!("HTTP{s} endpoint on {a}");
    }
    Ok(l)
}

/// Starts the endpoint's thread. A failure to start is logged; lmgrd
/// serves licenses all the same.
pub fn spawn(bound: Bound, context: Context) {
    let started = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || server::run(bound, context));
    if let Err(e) = started {
        log::error!("cannot start the HTTP endpoint: {e}");
    }
}
