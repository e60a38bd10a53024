//! Reaching a vendor daemon: lmgrd at each address of a search-path entry
//! (each server of a triad in turn, each port of an `@host`), `Hello`,
//! `VendorLookup`, then the vendor daemon's port on the same host and
//! `Hello` again, with the job's identity.

use crate::conn::{connect_error, unexpected, Conn};
use crate::error::{minor, LmError, Step};
use crate::local::io_text;
use crate::search::ServerSpec;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;
use wire::{lmerr, ClientIdentity, Hello, Message, Welcome};

/// What reaching a vendor daemon needs of the job asking: the session's
/// job context provides it.
pub(crate) trait Caller {
    /// The vendor whose daemon is wanted.
    fn vendor(&self) -> &str;
    /// Sent in every `Hello`.
    fn identity(&self) -> &ClientIdentity;
    /// How long connecting, and then each read or write, may take.
    fn timeouts(&self) -> (Duration, Duration);
}

impl<T: Caller + ?Sized> Caller for std::sync::Arc<T> {
    fn vendor(&self) -> &str {
        (**self).vendor()
    }
    fn identity(&self) -> &ClientIdentity {
        (**self).identity()
    }
    fn timeouts(&self) -> (Duration, Duration) {
        (**self).timeouts()
    }
}

/// How to reach a server: the search-path entry it came from (for
/// messages) and its address(es): one, or a triad tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) entry: String,
    pub(crate) servers: Vec<ServerSpec>,
}

/// What [`establish`] reached.
#[derive(Debug)]
pub(crate) enum Reached {
    New(Conn, Welcome),
    Existing(SocketAddr),
}

/// Connects to the route's lmgrd (each server of a triad in turn, each
/// port of an `@host`), asks where the vendor daemon listens, connects
/// there and says `Hello`.
pub(crate) fn establish(
    route: &Route,
    ctx: &impl Caller,
    known: &dyn Fn(SocketAddr) -> bool,
) -> Result<Reached, LmError> {
    let mut best: Option<LmError> = None;
    for spec in &route.servers {
        match establish_at(spec, ctx, known) {
            Ok(x) => return Ok(x),
            Err(e) => best = Some(LmError::better(best, e)),
        }
    }
    Err(best
        .unwrap_or_else(|| {
            LmError::new(
                lmerr::LM_NOSERVER,
                0,
                Step::Search,
                "no server address".to_string(),
            )
        })
        .on_entry(&route.entry))
}

fn establish_at(
    spec: &ServerSpec,
    ctx: &impl Caller,
    known: &dyn Fn(SocketAddr) -> bool,
) -> Result<Reached, LmError> {
    let host = spec.connect_host();
    let ips: Vec<IpAddr> = match (host, 0u16).to_socket_addrs() {
        Ok(addrs) => {
            let mut v: Vec<IpAddr> = Vec::new();
            for a in addrs {
                if !v.contains(&a.ip()) {
                    v.push(a.ip());
                }
            }
            v
        }
        Err(e) => {
            return Err(LmError::new(
                lmerr::LM_BADHOST,
                minor::NAME_RESOLUTION,
                Step::NameResolution,
                format!("resolve {} for {spec}: {}", spec.host, io_text(&e)),
            ))
        }
    };
    let mut best: Option<LmError> = None;
    'hosts: for ip in &ips {
        for port in spec.ports() {
            let addr = SocketAddr::new(*ip, port);
            let label = match spec.port {
                Some(_) => format!("{spec} ({addr})"),
                None => format!("{spec} ({addr}; ports 27000-27009 tried)"),
            };
            match establish_addr(addr, &label, ctx, known) {
                Ok(x) => return Ok(x),
                Err(e) => {
                    let host_down = e.code == lmerr::LM_HOSTDOWN;
                    best = Some(LmError::better(best, e));
                    if host_down {
                        // Every other port of a host that does not answer
                        // would wait as long.
                        continue 'hosts;
                    }
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| {
        LmError::new(
            lmerr::LM_BADHOST,
            minor::NAME_RESOLUTION,
            Step::NameResolution,
            format!("resolve {} for {spec}: no address", spec.host),
        )
    }))
}

fn establish_addr(
    addr: SocketAddr,
    label: &str,
    ctx: &impl Caller,
    known: &dyn Fn(SocketAddr) -> bool,
) -> Result<Reached, LmError> {
    let (connect_timeout, io_timeout) = ctx.timeouts();
    let hello = Message::Hello(Hello {
        identity: ctx.identity().clone(),
    });
    let write_error = |e: std::io::Error, doing: String| {
        LmError::new(
            lmerr::LM_CANTWRITE,
            minor::WRITE,
            Step::Handshake,
            format!("{doing}: {}", io_text(&e)),
        )
        .with_errno(e.raw_os_error())
    };
    let mut conn = Conn::connect(addr, connect_timeout, Some(io_timeout))
        .map_err(|e| connect_error(&e, format!("connect to {label}")))?;
    let doing = format!("handshake with lmgrd at {label}");
    conn.send(&hello)
        .map_err(|e| write_error(e, doing.clone()))?;
    let welcome = expect_welcome(&mut conn, &doing)?;
    if welcome.server == ctx.vendor() {
        // The entry names the vendor daemon itself.
        return Ok(Reached::New(conn, welcome));
    }
    let doing = format!("vendor lookup of {} at lmgrd {label}", ctx.vendor());
    conn.send(&Message::VendorLookup(wire::VendorLookup {
        vendor: ctx.vendor().to_string(),
    }))
    .map_err(|e| write_error(e, doing.clone()))?;
    let port = match conn.recv().map_err(|e| e.to_lm(&doing))? {
        Message::VendorInfo(v) => v.port,
        Message::Error(e) => {
            let step = if e.code == lmerr::LM_VENDOR_DOWN {
                Step::VendorDaemonDown
            } else {
                Step::VendorLookup
            };
            return Err(LmError::from_server(
                e.code,
                e.minor,
                &e.text,
                step,
                format!("{doing}: {}", lmerr::short_form(e.code, e.minor)),
            ));
        }
        other => return Err(unexpected(&doing, &other)),
    };
    drop(conn);
    let vaddr = SocketAddr::new(addr.ip(), port);
    if known(vaddr) {
        return Ok(Reached::Existing(vaddr));
    }
    let vlabel = format!("vendor daemon {} at {vaddr} (via {label})", ctx.vendor());
    let mut vconn = Conn::connect(vaddr, connect_timeout, Some(io_timeout)).map_err(|e| {
        let mut err = connect_error(&e, format!("connect to {vlabel}"));
        if err.code == lmerr::LM_CANTCONNECT {
            err.code = lmerr::LM_VENDOR_DOWN;
            err.minor = minor::VENDOR_CONNECT;
            err.text = lmerr::text(lmerr::LM_VENDOR_DOWN).to_string();
            err.step = Step::VendorDaemonDown;
        }
        err
    })?;
    let doing = format!("handshake with {vlabel}");
    vconn
        .send(&hello)
        .map_err(|e| write_error(e, doing.clone()))?;
    let welcome = expect_welcome(&mut vconn, &doing)?;
    Ok(Reached::New(vconn, welcome))
}

fn expect_welcome(conn: &mut Conn, doing: &str) -> Result<Welcome, LmError> {
    match conn.recv().map_err(|e| e.to_lm(doing))? {
        Message::Welcome(w) => Ok(w),
        Message::Error(e) => Err(LmError::from_server(
            e.code,
            e.minor,
            &e.text,
            Step::Handshake,
            format!("{doing}: {}", lmerr::short_form(e.code, e.minor)),
        )),
        other => Err(unexpected(doing, &other)),
    }
}
