//! Talking to lmgrd and vendor daemons: a blocking framed connection, and
//! the few conversations the tools have (status, admin requests). Every
//! failure comes back as the FLEXlm error the tools print.

pub use crate::common::Timeouts;
use crate::common::{io_text, LmFailure};
use crate::local_admin::{self, ToolStream};
use client::error::minor;
use client::identity::LocalIdentity;
use client::ServerSpec;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use wire::admin_access::{mac_input, AdminAccessQuery, AdminFor};
use wire::codec::Blob;
use wire::frame::DEFAULT_MAX_PAYLOAD;
use wire::io::{Link, LinkError};
use wire::{
    lmerr, AdminReply, AdminRequest, Hello, Message, StatsQuery, StatsReply, StatusQuery,
    StatusReply, UsageQuery, UsageReply,
};

/// One connection to lmgrd or a vendor daemon.
#[derive(Debug)]
pub struct Conn {
    link: Link<ToolStream>,
    pub peer: SocketAddr,
    t: Timeouts,
}

impl Conn {
    /// Connects to `addr` and says `Hello`.
    pub fn open(addr: SocketAddr, t: Timeouts) -> Result<Conn, LmFailure> {
        let stream =
            TcpStream::connect_timeout(&addr, t.connect).map_err(|e| connect_failure(&e))?;
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(t.io));
        let _ = stream.set_write_timeout(Some(t.io));
        Conn::over(ToolStream::Tcp(stream), addr, t)
    }

    /// Says `Hello` on `stream`, which reaches the server at `addr`.
    fn over(stream: ToolStream, addr: SocketAddr, t: Timeouts) -> Result<Conn, LmFailure> {
        let mut conn = Conn {
            link: Link::new(stream, DEFAULT_MAX_PAYLOAD),
            peer: addr,
            t,
        };
        let hello = Message::Hello(Hello {
            identity: identity().client_identity(0),
        });
        match conn.request(&hello)? {
            Message::Welcome(_) => Ok(conn),
            Message::Error(e) => Err(LmFailure::from_server(e.code, e.minor, &e.text)),
            _ => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED)),
        }
    }

    /// Sends `msg` and waits for the reply.
    pub fn request(&mut self, msg: &Message) -> Result<Message, LmFailure> {
        self.link
            .send(msg)
            .map_err(|e| io_failure(lmerr::LM_CANTWRITE, minor::WRITE, &std::io::Error::from(e)))?;
        match self.link.recv() {
            Ok(m) => Ok(m),
            Err(LinkError::Malformed(_)) => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::BAD_DATA)),
            Err(LinkError::Closed) => Err(LmFailure::new(lmerr::LM_CANTREAD, minor::READ)),
            Err(e) if e.is_timeout() => Err(LmFailure::new(lmerr::LM_NOSERVRESP, minor::NO_REPLY)),
            Err(e) => Err(io_failure(lmerr::LM_CANTREAD, minor::READ, &e.into())),
        }
    }

    /// Asks for status (`feature` empty: every feature), reading a vendor
    /// daemon's holders page by page until it has them all. lmgrd, and
    /// servers that do not page, answer whole in one reply.
    pub fn status(&mut self, feature: &str) -> Result<StatusReply, LmFailure> {
        let mut whole = self.status_page(feature, 0)?;
        let mut pages = 1;
        while whole.next != 0 {
            if pages == MAX_STATUS_PAGES {
                count_unlisted(&mut whole);
                break;
            }
            let page = self.status_page(feature, whole.next)?;
            // A page that does not move on would never end.
            if page.next != 0 && page.next <= whole.next {
                return Err(LmFailure::new(lmerr::LM_BADCOMM, minor::BAD_DATA));
            }
            merge_page(&mut whole, page);
            pages += 1;
        }
        whole.next = 0;
        Ok(whole)
    }

    /// One page of status, from the holder after handle `after`.
    fn status_page(&mut self, feature: &str, after: u64) -> Result<StatusReply, LmFailure> {
        match self.request(&Message::StatusQuery(StatusQuery {
            feature: feature.to_string(),
            paged: true,
            after,
        }))? {
            Message::Status(mut s) => {
                // Whatever a server sends, nothing printed from it may
                // start a new line (lmstat, its JSON, the dashboard).
                wire::text::escape_status(&mut s);
                Ok(s)
            }
            Message::Error(e) => Err(LmFailure::from_server(e.code, e.minor, &e.text)),
            _ => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED)),
        }
    }

    /// Asks a vendor daemon for its counters.
    pub fn stats(&mut self) -> Result<StatsReply, LmFailure> {
        match self.request(&Message::StatsQuery(StatsQuery {}))? {
            Message::Stats(s) => Ok(s),
            Message::Error(e) => Err(LmFailure::from_server(e.code, e.minor, &e.text)),
            _ => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED)),
        }
    }

    /// Asks a vendor daemon for the daily use of the last `days` days.
    pub fn usage(&mut self, days: u32) -> Result<UsageReply, LmFailure> {
        match self.request(&Message::UsageQuery(UsageQuery { days }))? {
            Message::Usage(u) => Ok(u),
            Message::Error(e) => Err(LmFailure::from_server(e.code, e.minor, &e.text)),
            _ => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED)),
        }
    }

    /// Sends an admin request and returns the reply, proving who asks
    /// when it can (`local_admin`): with the admin token when one is
    /// given, else through the server's admin socket when the server is on
    /// this machine; else as a plain request over TCP.
    pub fn admin(&mut self, req: AdminRequest) -> Result<AdminReply, LmFailure> {
        let port = self.peer.port();
        let access = match self.request(&Message::AdminAccessQuery(AdminAccessQuery { port }))? {
            Message::AdminAccess(a) => Some(a),
            // A server that predates the question: a plain request.
            _ => None,
        };
        if let Some(access) = access {
            // An admin token, when one is given, is what the user chose.
            if let Some(token) = local_admin::token() {
                let (name, key) =
                    token.map_err(|e| LmFailure::from_server(lmerr::LM_NOTLICADMIN, 0, &e))?;
                let mac =
                    hostenv::admin_tokens::sign(&key, &mac_input(&access.nonce.0, port, &req));
                return self.admin_reply(Message::AdminFor(AdminFor {
                    port,
                    token: name,
                    mac: Blob(mac),
                    request: req,
                }));
            }
            if !access.socket.is_empty() && self.link.stream().reaches_this_machine() {
                if let Some(stream) = local_admin::connect(&access.socket, self.t.io) {
                    let mut local = Conn::over(ToolStream::Unix(stream), self.peer, self.t)?;
                    return local.admin_reply(Message::AdminFor(AdminFor {
                        port,
                        token: String::new(),
                        mac: Blob::default(),
                        request: req,
                    }));
                }
            }
        }
        self.admin_reply(Message::Admin(req))
    }

    fn admin_reply(&mut self, m: Message) -> Result<AdminReply, LmFailure> {
        match self.request(&m)? {
            Message::AdminReply(r) => Ok(r),
            Message::Error(e) => Err(LmFailure::from_server(e.code, e.minor, &e.text)),
            _ => Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED)),
        }
    }
}

/// This machine and user, gathered once.
pub fn identity() -> &'static LocalIdentity {
    static ME: OnceLock<LocalIdentity> = OnceLock::new();
    ME.get_or_init(LocalIdentity::gather)
}

/// An admin request with every field empty.
pub fn admin_request(op: u8) -> AdminRequest {
    AdminRequest {
        op,
        vendor: String::new(),
        feature: String::new(),
        user: String::new(),
        host: String::new(),
        display: String::new(),
        handle: 0,
        force: false,
        path: String::new(),
    }
}

/// A reached lmgrd: the connection and its status.
#[derive(Debug)]
pub struct Lmgrd {
    pub conn: Conn,
    pub status: StatusReply,
}

impl Lmgrd {
    /// The address of vendor daemon port `port` on lmgrd's host, as the
    /// tool reached it.
    pub fn vendor_addr(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.conn.peer.ip(), port)
    }

    /// `port@host` as FLEXlm prints a server: lmgrd's own host name.
    pub fn label(&self) -> String {
        format!("{}@{}", self.status.port, self.status.host)
    }

    /// Connects to one of its vendor daemons.
    pub fn vendor(&self, name: &str, t: Timeouts) -> Result<Conn, LmFailure> {
        let v = self
            .status
            .vendors
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| LmFailure::new(lmerr::LM_NOSERVSUPP, 0))?;
        if !v.up || v.port == 0 {
            return Err(LmFailure::new(lmerr::LM_VENDOR_DOWN, 121));
        }
        Conn::open(self.vendor_addr(v.port), t)
    }

    /// The vendor daemons that serve `feature`, with a connection to each.
    pub fn vendors_serving(&self, feature: &str, t: Timeouts) -> Vec<(String, Conn)> {
        let mut found = Vec::new();
        for v in self.status.vendors.iter().filter(|v| v.up) {
            let Ok(mut conn) = self.vendor(&v.name, t) else {
                continue;
            };
            if let Ok(s) = conn.status(feature) {
                if s.features.iter().any(|f| f.name == feature) {
                    found.push((v.name.clone(), conn));
                }
            }
        }
        found
    }
}

/// Reaches lmgrd at `spec` (each port of an `@host` in turn) and asks for
/// its status. A port that answers as a vendor daemon is skipped.
pub fn lmgrd(spec: &ServerSpec, t: Timeouts) -> Result<Lmgrd, LmFailure> {
    let ips = resolve(spec)?;
    let mut first_error: Option<LmFailure> = None;
    for ip in ips {
        for port in spec.ports() {
            let addr = SocketAddr::new(ip, port);
            let attempt = Conn::open(addr, t).and_then(|mut conn| {
                let status = conn.status("")?;
                if status.server != "lmgrd" {
                    return Err(LmFailure::new(lmerr::LM_BADCOMM, minor::UNEXPECTED));
                }
                Ok(Lmgrd { conn, status })
            });
            match attempt {
                Ok(l) => return Ok(l),
                Err(e) => {
                    let host_down = e.code == lmerr::LM_HOSTDOWN;
                    first_error.get_or_insert(e);
                    if host_down {
                        break;
                    }
                }
            }
        }
    }
    Err(first_error.unwrap_or_else(|| LmFailure::new(lmerr::LM_BADHOST, minor::NAME_RESOLUTION)))
}

/// The addresses of a server's host.
pub fn resolve(spec: &ServerSpec) -> Result<Vec<IpAddr>, LmFailure> {
    let host = spec.connect_host();
    let addrs = (host, 0u16)
        .to_socket_addrs()
        .map_err(|_| LmFailure::new(lmerr::LM_BADHOST, minor::NAME_RESOLUTION))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    if ips.is_empty() {
        return Err(LmFailure::new(lmerr::LM_BADHOST, minor::NAME_RESOLUTION));
    }
    Ok(ips)
}

/// The FLEXlm error for a failed connect: refused and the like are
/// LM_CANTCONNECT (-15); a host that does not answer is LM_HOSTDOWN (-96).
pub fn connect_failure(e: &std::io::Error) -> LmFailure {
    let errno = e.raw_os_error();
    let unreachable = matches!(
        errno,
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ETIMEDOUT)
    ) || e.kind() == ErrorKind::TimedOut;
    let (code, minor) = if unreachable {
        (lmerr::LM_HOSTDOWN, minor::HOST_DOWN)
    } else {
        (lmerr::LM_CANTCONNECT, minor::CONNECT)
    };
    let mut f = LmFailure::new(code, minor);
    match errno {
        Some(n) => f = f.with_errno(n),
        None if unreachable => f = f.with_errno(libc::ETIMEDOUT),
        None => {}
    }
    f
}

fn io_failure(code: i32, minor: i32, e: &std::io::Error) -> LmFailure {
    let f = LmFailure::new(code, minor);
    match e.raw_os_error() {
        Some(n) => LmFailure {
            sys: Some((n, io_text(e))),
            ..f
        },
        None => f,
    }
}

/// Pages of status read at most (64 MiB of holders, hundreds of thousands
/// of them): a server that keeps saying there is more is not followed for
/// ever.
const MAX_STATUS_PAGES: usize = 4096;

/// Adds a status page's holders to the reply gathered so far. Pools are
/// matched by place, name and version: a pool that is not where it was (the
/// daemon reread its license between pages) gets nothing from this page.
fn merge_page(whole: &mut StatusReply, page: StatusReply) {
    for (i, f) in page.features.into_iter().enumerate() {
        if let Some(w) = whole.features.get_mut(i) {
            if w.name == f.name && w.version == f.version {
                w.holders.extend(f.holders);
                w.omitted = w.omitted.saturating_add(f.omitted);
            }
        }
    }
    whole.next = page.next;
}

/// Paging stopped before the end: each pool says how many of its seats in
/// use have no holder listed.
fn count_unlisted(whole: &mut StatusReply) {
    for f in &mut whole.features {
        let listed: u32 = f
            .holders
            .iter()
            .filter(|h| !h.queued)
            .fold(0, |n, h| n.saturating_add(h.count));
        f.omitted = f.omitted.max(f.in_use.saturating_sub(listed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_is_cantconnect_with_errno() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let spec = ServerSpec {
            host: "localhost".into(),
            port: Some(port),
        };
        let e = lmgrd(&spec, Timeouts::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Cannot connect to license server system. (-15,10:{} \"{}\")",
                libc::ECONNREFUSED,
                crate::common::errno_text(libc::ECONNREFUSED)
            )
        );
    }

    #[test]
    fn an_unknown_host_is_badhost() {
        let spec = ServerSpec {
            host: "no-such-host.invalid".into(),
            port: Some(27000),
        };
        assert_eq!(
            lmgrd(&spec, Timeouts::default()).unwrap_err().code,
            lmerr::LM_BADHOST
        );
    }

    fn feature(name: &str, in_use: u32, users: &[&str]) -> wire::FeatureStatus {
        wire::FeatureStatus {
            name: name.into(),
            version: "1.0".into(),
            in_use,
            holders: users
                .iter()
                .map(|u| wire::Holder {
                    user: (*u).into(),
                    count: 1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn users(f: &wire::FeatureStatus) -> Vec<&str> {
        f.holders.iter().map(|h| h.user.as_str()).collect()
    }

    #[test]
    fn pages_add_holders_to_the_pool_they_came_from() {
        let mut whole = StatusReply {
            features: vec![feature("a", 3, &["ann"]), feature("b", 1, &[])],
            next: 5,
            ..Default::default()
        };
        let page = StatusReply {
            features: vec![feature("a", 3, &["bob", "cy"]), feature("b", 1, &["dee"])],
            next: 0,
            ..Default::default()
        };
        merge_page(&mut whole, page);
        assert_eq!(users(&whole.features[0]), ["ann", "bob", "cy"]);
        assert_eq!(users(&whole.features[1]), ["dee"]);
        assert_eq!(whole.next, 0);
    }

    #[test]
    fn a_page_from_after_a_reread_adds_nothing_to_pools_that_moved() {
        let mut whole = StatusReply {
            features: vec![feature("a", 1, &["ann"])],
            next: 5,
            ..Default::default()
        };
        let page = StatusReply {
            features: vec![feature("z", 1, &["zed"]), feature("a", 1, &["bob"])],
            next: 0,
            ..Default::default()
        };
        merge_page(&mut whole, page);
        assert_eq!(users(&whole.features[0]), ["ann"]);
        assert_eq!(whole.features.len(), 1);
    }

    #[test]
    fn paging_cut_short_counts_the_seats_with_no_holder_listed() {
        let mut whole = StatusReply {
            features: vec![feature("a", 10, &["ann", "bob"]), feature("b", 1, &["cy"])],
            next: 9,
            ..Default::default()
        };
        count_unlisted(&mut whole);
        assert_eq!(whole.features[0].omitted, 8);
        assert_eq!(whole.features[1].omitted, 0);
    }
}
