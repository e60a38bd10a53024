//! The connections to the other members: sockets, framed buffers and mio
//! registration for the links `peer_links` decides about. Every link kind
//! is read, written and closed the same way; what a frame means is
//! `PeerLinks::handle_frame`'s to say.

use super::{token, TriadNode, MAX_FRAME, READ_CHUNK};
use crate::serve::peer_links::{Action, DialFailure, Heard, LinkEnd, LinkId, LinkKind};
use mio::net::TcpStream;
use mio::{Interest, Registry};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use wire::io::{FrameReader, LinkError, OutBuf};

/// One connection to or from a member.
pub(super) struct PeerConn {
    stream: TcpStream,
    reader: FrameReader,
    pub(super) out: OutBuf,
    /// False while our dial's non-blocking connect is under way: nothing
    /// is written before it completes.
    connected: bool,
}

impl PeerConn {
    fn new(stream: TcpStream, connected: bool) -> PeerConn {
        PeerConn {
            stream,
            reader: FrameReader::new(MAX_FRAME),
            out: OutBuf::default(),
            connected,
        }
    }

    fn flush(&mut self) -> Result<(), LinkError> {
        self.out.write_to(&mut self.stream)
    }
}

/// Why reading a link stopped before it would block.
enum Stop {
    /// The link must end.
    End(LinkEnd),
    /// It proved the key and is now an inbound link: read on as such.
    Promoted,
}

impl From<LinkError> for Stop {
    fn from(e: LinkError) -> Stop {
        Stop::End(LinkEnd::Link(e))
    }
}

const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

impl TriadNode {
    /// Carries out what the links ask, in order, including what the
    /// answers to `Resolve` and `Dial` ask in turn.
    pub(super) fn carry_out_links(&mut self, registry: &Registry, now: u64) {
        while let Some(action) = self.links.poll_action() {
            match action {
                Action::Resolve { member, host, port } => {
                    // A blocking lookup, as lmgrd always did: a member's
                    // SERVER host is usually an address or in /etc/hosts.
                    let found: std::io::Result<Vec<std::net::SocketAddr>> =
                        (host.as_str(), port).to_socket_addrs().map(|a| a.collect());
                    if let Ok(addrs) = &found {
                        for a in addrs {
                            if !self.peer_ips.contains(&a.ip()) {
                                self.peer_ips.push(a.ip());
                            }
                        }
                    }
                    self.links.handle_resolved(member, found, now);
                }
                Action::Dial { member, addr } => match dial(registry, member, addr) {
                    Ok(conn) => self.put(registry, LinkId::new(member, LinkKind::Out), conn),
                    Err(why) => self.links.handle_dial_failed(member, &why, now),
                },
                Action::Send { link, msg } => {
                    if let Some(c) = self.conns.get_mut(&link) {
                        c.out.push(&msg);
                    }
                }
                Action::Promote { member } => self.promote(registry, member, now),
                Action::Close(link) => self.drop_conn(registry, link),
                Action::Unreachable(member) => self.member.report_unreachable(member),
                Action::Log(level, line) => log::log!(level, "{line}"),
            }
        }
    }

    /// Puts `conn` in `link`'s slot; an older connection there is dropped.
    fn put(&mut self, registry: &Registry, link: LinkId, conn: PeerConn) {
        if let Some(mut old) = self.conns.insert(link, conn) {
            let _ = registry.deregister(&mut old.stream);
        }
    }

    fn drop_conn(&mut self, registry: &Registry, link: LinkId) {
        if let Some(mut c) = self.conns.remove(&link) {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// A proving link passed: its connection moves to the member's
    /// inbound slot (and token), replacing the one from before a restart
    /// or a cut.
    fn promote(&mut self, registry: &Registry, member: u64, now: u64) {
        let inbound = LinkId::new(member, LinkKind::In);
        self.drop_conn(registry, inbound);
        let Some(mut conn) = self.conns.remove(&LinkId::new(member, LinkKind::Proving)) else {
            return;
        };
        match registry.reregister(&mut conn.stream, token(inbound), BOTH) {
            Ok(()) => {
                self.conns.insert(inbound, conn);
            }
            Err(e) => {
                let _ = registry.deregister(&mut conn.stream);
                self.links.handle_closed(inbound, LinkEnd::Watch(e), now);
            }
        }
    }

    /// Takes over a connection accepted on lmgrd's port whose `TriadHello`
    /// came from member `member` (as `check_hello` found), and answers it
    /// at once. `dialer_nonce` is the hello's challenge (empty without a
    /// key).
    pub fn adopt(
        &mut self,
        registry: &Registry,
        mut stream: TcpStream,
        addr: SocketAddr,
        member: u64,
        dialer_nonce: Vec<u8>,
        now: u64,
    ) {
        let link = LinkId::new(member, self.links.accepts_as());
        if let Err(e) = registry.reregister(&mut stream, token(link), BOTH) {
            log::warn!("cannot watch the connection from member {member} at {addr}: {e}");
            return;
        }
        self.put(registry, link, PeerConn::new(stream, true));
        self.links.handle_accepted(member, addr, dialer_nonce, now);
        self.carry_out_links(registry, now);
        let failed = self.conns.get_mut(&link).and_then(|c| c.flush().err());
        if let Some(e) = failed {
            self.links.handle_closed(link, LinkEnd::Answer(e), now);
            self.carry_out_links(registry, now);
        }
    }

    /// Logs a refused triad connection from `addr` when it is news.
    pub fn refuse(
        &mut self,
        registry: &Registry,
        addr: SocketAddr,
        member: u64,
        why: &str,
        now: u64,
    ) {
        self.links.refuse(addr, member, why, now);
        self.carry_out_links(registry, now);
    }

    /// Readiness on a peer link: the connect's outcome, then read, write,
    /// and close on the first failure.
    pub(super) fn on_peer(
        &mut self,
        registry: &Registry,
        mut link: LinkId,
        readable: bool,
        writable: bool,
        now: u64,
    ) {
        let Some(conn) = self.conns.get_mut(&link) else {
            return;
        };
        if !conn.connected {
            match connect_result(&conn.stream) {
                None => return,
                Some(Err(e)) => {
                    self.links.handle_closed(link, LinkEnd::Connect(e), now);
                    self.carry_out_links(registry, now);
                    return;
                }
                Some(Ok(())) => {
                    conn.connected = true;
                    self.links.handle_connected(link.member);
                    self.carry_out_links(registry, now);
                }
            }
        }
        let mut end = None;
        if readable {
            loop {
                match self.read_peer(link, now) {
                    Ok(()) => break,
                    Err(Stop::End(why)) => {
                        end = Some(why);
                        break;
                    }
                    Err(Stop::Promoted) => {
                        self.carry_out_links(registry, now);
                        link = LinkId::new(link.member, LinkKind::In);
                    }
                }
            }
        }
        if end.is_none() && (readable || writable) {
            end = self
                .conns
                .get_mut(&link)
                .and_then(|c| c.flush().err())
                .map(LinkEnd::from);
        }
        if let Some(why) = end {
            self.links.handle_closed(link, why, now);
        }
        self.carry_out_links(registry, now);
    }

    /// Reads `link` until it would block, handing each frame to the links
    /// and each raft message to raft as it comes.
    fn read_peer(&mut self, link: LinkId, now: u64) -> Result<(), Stop> {
        let Some(conn) = self.conns.get_mut(&link) else {
            return Ok(());
        };
        let mut buf = [0u8; READ_CHUNK];
        let (links, raft) = (&mut self.links, &mut self.member);
        conn.reader.each(&mut conn.stream, &mut buf, |m| {
            match links.handle_frame(link, m, now) {
                Ok(Heard::Nothing) => Ok(()),
                Ok(Heard::Raft(payload)) => raft
                    .step(now, link.member, &payload)
                    .map_err(|e| Stop::End(LinkEnd::BadRaft(e))),
                Ok(Heard::Promoted) => Err(Stop::Promoted),
                Err(why) => Err(Stop::End(why)),
            }
        })
    }

    /// Writes what every connected link has queued.
    pub(super) fn flush_peers(&mut self, registry: &Registry, now: u64) {
        let failed: Vec<(LinkId, LinkError)> = self
            .conns
            .iter_mut()
            .filter(|(_, c)| c.connected && !c.out.is_empty())
            .filter_map(|(link, c)| c.flush().err().map(|e| (*link, e)))
            .collect();
        for (link, e) in failed {
            self.links.handle_closed(link, LinkEnd::Link(e), now);
            self.carry_out_links(registry, now);
        }
    }
}

/// Starts a non-blocking connect to `addr` for `member`'s outbound link.
fn dial(registry: &Registry, member: u64, addr: SocketAddr) -> Result<PeerConn, DialFailure> {
    let mut stream =
        TcpStream::connect(addr).map_err(|source| DialFailure::Connect { addr, source })?;
    registry
        .register(&mut stream, token(LinkId::new(member, LinkKind::Out)), BOTH)
        .map_err(|source| DialFailure::Watch { addr, source })?;
    let _ = stream.set_nodelay(true);
    Ok(PeerConn::new(stream, false))
}

/// `None` while a non-blocking connect is under way.
fn connect_result(stream: &TcpStream) -> Option<io::Result<()>> {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return Some(Err(e)),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
        Err(e) => Some(Err(e)),
    }
}
