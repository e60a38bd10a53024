//! Accepting client connections so that the daemon never wedges.
//!
//! The listener is edge-triggered: readiness is reported once per new
//! connection, so [`Acceptor::accept`] accepts until the listener would
//! block, and when it stops early (a turn's quota, an error) it sets a
//! retry time the loop honours without waiting for another event.
//!
//! When the process runs out of descriptors (`EMFILE`, or `ENFILE` for
//! the whole system) the kernel keeps the connection in its queue, and a
//! daemon that simply returns would never be told about that queue again.
//! So a spare descriptor (`/dev/null`) is held: it is closed, the waiting
//! connection accepted, told why it is refused and closed, and the spare
//! reopened, until the queue is empty. A connection over the daemon's
//! limits ([`Admission`]) gets the same treatment: it can read its
//! refusal (a FLEXlm error it understands) instead of hanging.

use crate::admission::{Admission, Limits, Refusal};
use mio::net::{TcpListener, TcpStream};
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use wire::{ErrorReply, Message};

/// Connections taken from the listener in one turn; the rest wait for
/// the next, so a connect flood cannot keep the loop from its clients.
pub const ACCEPTS_PER_TURN: usize = 256;
/// How soon accepting is tried again after an error that left
/// connections waiting (no descriptor to spare, or the kernel short of
/// memory).
pub const RETRY_MS: u64 = 100;

/// Connections the kernel may queue for a listener before the daemon
/// accepts them (the kernel caps it at `net.core.somaxconn`). The usual
/// 128 overflows when thousands of applications reconnect at once after a
/// failover: the kernel then drops their SYNs, and each waits a second or
/// more before its next try.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds a client listener on `addr` with a [`LISTEN_BACKLOG`]-deep queue.
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind(addr)?;
    // SAFETY: listen(2) on a socket we own; calling it again on a
    // listening socket only changes the length of its queue.
    if unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(listener)
}

/// The listener's side of admission: who is let in, who is refused.
#[derive(Debug)]
pub struct Acceptor {
    admission: Admission,
    /// Closed to make room for one connection when none is left.
    reserve: Option<File>,
    /// Accept again at this time, even without a readiness event.
    retry_at: Option<u64>,
    /// The error number refused clients get.
    refusal_code: i32,
    /// The last accept error logged, so a lasting one is logged once.
    last_error: Option<String>,
}

fn open_reserve() -> Option<File> {
    File::open("/dev/null").ok()
}

impl Acceptor {
    pub fn new(limits: Limits, refusal_code: i32) -> Acceptor {
        Acceptor {
            admission: Admission::new(limits),
            reserve: open_reserve(),
            retry_at: None,
            refusal_code,
            last_error: None,
        }
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn admission_mut(&mut self) -> &mut Admission {
        &mut self.admission
    }

    /// Accepts what `listener` has waiting (up to [`ACCEPTS_PER_TURN`]):
    /// the connections let in, each already counted.
    pub fn accept(&mut self, listener: &TcpListener, now: u64) -> Vec<(TcpStream, SocketAddr)> {
        self.retry_at = None;
        let mut admitted = Vec::new();
        for _ in 0..ACCEPTS_PER_TURN {
            match listener.accept() {
                Ok((stream, peer)) => {
                    self.last_error = None;
                    match self.admission.admit(peer.ip(), now) {
                        Ok(()) => admitted.push((stream, peer)),
                        Err(why) => self.refuse(stream, &why),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return admitted,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The client gave up while waiting in the queue.
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    let why = Refusal::OutOfDescriptors;
                    self.admission.refused(&why, now);
                    if !self.shed_one(listener, &why) {
                        self.retry_at = Some(now + RETRY_MS);
                        return admitted;
                    }
                }
                Err(e) => {
                    // Logged when it starts, not at every retry.
                    let text = e.to_string();
                    if self.last_error.as_deref() != Some(text.as_str()) {
                        self.admission
                            .note(format!("Cannot accept a connection ({text}): retrying"));
                        self.last_error = Some(text);
                    }
                    self.retry_at = Some(now + RETRY_MS);
                    return admitted;
                }
            }
        }
        // More may be waiting: come back next turn.
        self.retry_at = Some(now);
        admitted
    }

    /// With no descriptor to spare: frees the reserve, accepts the
    /// waiting connection to refuse it, and takes the reserve back.
    /// False when there is no reserve to free (try again later).
    fn shed_one(&mut self, listener: &TcpListener, why: &Refusal) -> bool {
        let Some(reserve) = self.reserve.take() else {
            self.reserve = open_reserve();
            return false;
        };
        drop(reserve);
        let shed = match listener.accept() {
            Ok((stream, _)) => {
                self.refuse(stream, why);
                true
            }
            // Nothing was waiting after all, or it went away.
            Err(e) => matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::ConnectionAborted | ErrorKind::Interrupted
            ),
        };
        self.reserve = open_reserve();
        shed && self.reserve.is_some()
    }

    /// Tells a connection why it is refused (a fresh socket's buffer
    /// always has room for it), then closes it.
    fn refuse(&self, mut stream: TcpStream, why: &Refusal) {
        let mut bytes = Vec::new();
        Message::Error(ErrorReply {
            code: self.refusal_code,
            minor: why.minor(),
            text: why.text(),
        })
        .encode(&mut bytes);
        let _ = stream.write(&bytes);
    }

    /// A connection that was let in is gone.
    pub fn release(&mut self, peer: SocketAddr) {
        self.admission.release(peer.ip());
    }

    /// Whether accepting is to be tried again now.
    pub fn retry_due(&self, now: u64) -> bool {
        self.retry_at.is_some_and(|t| t <= now)
    }

    /// The next time [`retry_due`](Self::retry_due) or the admission's
    /// burst accounting has something to do.
    pub fn next_due(&self) -> Option<u64> {
        [self.retry_at, self.admission.next_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Ends quiet bursts of refusals.
    pub fn tick(&mut self, now: u64) {
        self.admission.tick(now);
    }

    /// Lines for the debug log since the last call.
    pub fn take_notes(&mut self) -> Vec<String> {
        self.admission.take_notes()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listener_queues_hundreds_of_connections_before_the_first_accept() {
        let listener = super::bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // Beyond a queue of 128 the kernel drops the SYNs and these
        // connects would time out. The kernel's own cap bounds the test.
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4096);
        let n = cap.min(600);
        let clients: Vec<std::net::TcpStream> = (0..n)
            .map(|n| {
                std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {n} not queued: {e}"))
            })
            .collect();
        assert_eq!(clients.len(), n);
    }

    use super::*;
    use std::io::Read;
    use std::time::Duration;

    fn read_reply(s: &mut std::net::TcpStream) -> Message {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut link = wire::io::Link::new(s.try_clone().unwrap(), 4096);
        link.recv().expect("a refusal")
    }

    #[test]
    fn a_connection_over_the_limits_reads_its_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_connections: 2,
            per_address: 1,
        };
        let mut acc = Acceptor::new(limits, wire::lmerr::LM_VD_MAX_CLIENTS_REACHED);
        let mut first = std::net::TcpStream::connect(addr).unwrap();
        let mut second = std::net::TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        for _ in 0..200 {
            got.extend(acc.accept(&listener, 0));
            if acc.admission().total() == 1 && !acc.take_notes().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(got.len(), 1);
        match read_reply(&mut second) {
            Message::Error(e) => {
                assert_eq!(e.code, -237);
                assert_eq!(e.minor, Refusal::PerAddress(addr.ip(), 1).minor());
            }
            other => panic!("{other:?}"),
        }
        let mut rest = Vec::new();
        assert_eq!(second.read_to_end(&mut rest).unwrap_or(0), 0);
        // The one let in is left alone; once it goes, another is let in.
        first
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert!(first.read(&mut [0u8; 8]).is_err());
        acc.release(got[0].1);
        let _third = std::net::TcpStream::connect(addr).unwrap();
        let mut again = Vec::new();
        for _ in 0..200 {
            again.extend(acc.accept(&listener, 0));
            if !again.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(again.len(), 1);
    }
}
