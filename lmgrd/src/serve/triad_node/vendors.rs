//! The links to this member's vendor daemons: what each was told about
//! serving, the committed batches it is sent, its proposals, and the
//! compacted state a (re)started daemon is sent first.

use super::{TriadNode, MAX_FRAME, READ_CHUNK, VENDOR_LINK_BASE};
use crate::serve::triad::{Replay, Role, VendorEntry};
use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::OwnedFd;
use wire::codec::Blob;
use wire::io::{FrameReader, LinkError, OutBuf};
use wire::Message;

/// Why a vendor daemon's link ended.
#[derive(Debug, thiserror::Error)]
enum VendorLinkEnd {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("unexpected message 0x{0:02x}")]
    Unexpected(u8),
}

pub(super) struct VendorLink {
    name: String,
    stream: UnixStream,
    reader: FrameReader,
    out: OutBuf,
    pid: Option<i32>,
    /// What the daemon was last told about serving.
    told: Option<bool>,
    /// Told it serves, then that it does not: it exits.
    spent: bool,
    dropped_logged: bool,
}

impl VendorLink {
    fn new(name: &str, stream: UnixStream) -> VendorLink {
        VendorLink {
            name: name.to_string(),
            stream,
            reader: FrameReader::new(MAX_FRAME),
            out: OutBuf::default(),
            pid: None,
            told: None,
            spent: false,
            dropped_logged: false,
        }
    }

    fn tell(&mut self, role: Role, member: u64, term: u64, reason: &str) {
        if self.spent {
            return;
        }
        if self.told == Some(true) && !role.serving {
            self.spent = true;
        }
        self.told = Some(role.serving);
        self.out.push(&Message::TriadRole(wire::TriadRole {
            serving: role.serving,
            member: member as u32,
            master: role.master.unwrap_or(0) as u32,
            term,
            reason: reason.to_string(),
        }));
    }

    /// Whether it may serve clients: told so, and nothing since.
    fn serves(&self) -> bool {
        self.told == Some(true) && !self.spent
    }
}

impl TriadNode {
    /// Creates the socket pair for vendor daemon `idx` about to be started,
    /// queues its replay and role, and returns the child's end.
    pub fn vendor_link(
        &mut self,
        registry: &Registry,
        idx: usize,
        name: &str,
        now: u64,
    ) -> io::Result<OwnedFd> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        let mut stream = UnixStream::from_std(ours);
        registry.register(
            &mut stream,
            Token(VENDOR_LINK_BASE + idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut link = VendorLink::new(name, stream);
        if let Some((index, summary)) = self.replay.of(name) {
            link.out.push(&Message::Replicate(wire::Replicate {
                index,
                payload: Blob(summary),
            }));
            log::info!(
                "Sending {name} the {} seat(s) the triad holds (log entry {index})",
                self.replay.seats(name)
            );
        }
        let reason = self.member.status(now).reason;
        link.tell(self.role, self.plan.me, self.member.term(), &reason);
        if let Some(mut old) = self.vendors.insert(idx, link) {
            let _ = registry.deregister(&mut old.stream);
        }
        Ok(theirs.into())
    }

    /// The daemon of link `idx` was started with this pid.
    pub fn vendor_started(&mut self, idx: usize, pid: i32) {
        if let Some(l) = self.vendors.get_mut(&idx) {
            l.pid = Some(pid);
        }
    }

    /// Starting the daemon of link `idx` failed: forget the link.
    pub fn vendor_not_started(&mut self, registry: &Registry, idx: usize) {
        if let Some(mut l) = self.vendors.remove(&idx) {
            let _ = registry.deregister(&mut l.stream);
        }
    }

    /// A vendor daemon exited. True when that was expected: it was spent.
    pub fn vendor_exited(&mut self, registry: &Registry, pid: i32) -> bool {
        let planned = self.spent_pids.remove(&pid);
        let idx = self
            .vendors
            .iter()
            .find(|(_, l)| l.pid == Some(pid))
            .map(|(i, _)| *i);
        if let Some(idx) = idx {
            let planned = planned || self.vendors[&idx].spent;
            self.vendor_not_started(registry, idx);
            return planned;
        }
        planned
    }

    /// Whether vendor daemon `idx` may be handed to clients: this member
    /// serves and the daemon was told so.
    pub fn may_serve(&self, idx: usize) -> bool {
        self.role.serving && self.vendors.get(&idx).is_some_and(VendorLink::serves)
    }

    /// Tells every daemon the new role; those it makes spent are expected
    /// to exit.
    pub(super) fn tell_vendors(&mut self, reason: &str) {
        let term = self.member.term();
        for l in self.vendors.values_mut() {
            let was = l.spent;
            l.tell(self.role, self.plan.me, term, reason);
            if l.spent && !was {
                if let Some(pid) = l.pid {
                    self.spent_pids.insert(pid);
                }
            }
        }
    }

    pub(super) fn on_vendor(
        &mut self,
        registry: &Registry,
        idx: usize,
        readable: bool,
        writable: bool,
    ) {
        let Some(link) = self.vendors.get_mut(&idx) else {
            return;
        };
        let mut close: Option<VendorLinkEnd> = None;
        if readable {
            let mut buf = [0u8; READ_CHUNK];
            let proposals = &mut self.proposals;
            let read = link.reader.each(&mut link.stream, &mut buf, |m| match m {
                Message::Propose(p) => {
                    proposals.push((idx, p.payload));
                    Ok(())
                }
                other => Err(VendorLinkEnd::Unexpected(other.kind())),
            });
            close = read.err();
        }
        if close.is_none() && (readable || writable) {
            close = link.out.write_to(&mut link.stream).err().map(Into::into);
        }
        if let Some(why) = close {
            self.close_vendor(registry, idx, &why);
        }
    }

    fn close_vendor(&mut self, registry: &Registry, idx: usize, why: &VendorLinkEnd) {
        let Some(mut l) = self.vendors.remove(&idx) else {
            return;
        };
        // A spent daemon (told it no longer serves) is expected to exit:
        // its hang-up is not news.
        let hang_up = matches!(why, VendorLinkEnd::Link(e) if e.is_hang_up());
        if !(hang_up && l.spent) {
            log::info!("Link to vendor daemon {} closed: {why}", l.name);
        }
        if l.spent {
            if let Some(pid) = l.pid {
                self.spent_pids.insert(pid);
            }
        }
        let _ = registry.deregister(&mut l.stream);
    }

    /// Proposes what vendor daemons asked for, if they still may.
    pub(super) fn propose_pending(&mut self, now: u64) {
        let serving = self.member.is_serving(now);
        for (idx, payload) in std::mem::take(&mut self.proposals) {
            let Some(link) = self.vendors.get_mut(&idx) else {
                continue;
            };
            // A daemon proposes from its own state, which is the majority's
            // only while it has been told it serves and nothing since.
            if !(serving && self.role.serving && link.serves()) {
                if !link.dropped_logged {
                    link.dropped_logged = true;
                    log::info!(
                        "{}: dropped a batch proposed while this server is not the master",
                        link.name
                    );
                }
                continue;
            }
            let entry = VendorEntry {
                vendor: link.name.clone(),
                payload,
            };
            if let Err(e) = self.member.propose(now, entry.encode()) {
                log::info!("{}: batch not proposed: {e}", link.name);
            }
        }
    }

    pub(super) fn flush_vendors(&mut self, registry: &Registry) {
        let failed: Vec<(usize, LinkError)> = self
            .vendors
            .iter_mut()
            .filter_map(|(idx, l)| l.out.write_to(&mut l.stream).err().map(|e| (*idx, e)))
            .collect();
        for (idx, why) in failed {
            self.close_vendor(registry, idx, &why.into());
        }
    }

    /// A committed entry: folded into the replay and sent to its vendor's
    /// daemon.
    pub(super) fn apply(&mut self, index: u64, payload: &[u8]) {
        match VendorEntry::decode(payload) {
            Ok(e) => {
                if !self.replay.push(&e.vendor, index, &e.payload.0) {
                    log::warn!(
                        "triad log entry {index} for {} is out of order or not a batch: skipped",
                        e.vendor
                    );
                    return;
                }
                for l in self.vendors.values_mut().filter(|l| l.name == e.vendor) {
                    // Spent daemons too: their held replies may go once
                    // their batch is committed, whoever masters now.
                    l.out.push(&Message::Replicate(wire::Replicate {
                        index,
                        payload: e.payload.clone(),
                    }));
                }
            }
            Err(why) => log::error!("triad log entry {index} is unreadable ({why}): skipped"),
        }
        self.since_compaction += 1;
        if self.since_compaction >= self.compact_every {
            self.compact(index);
        }
    }

    /// Replaces the log up to `index` with the seats it adds up to, so the
    /// store and lmgrd's memory follow the seats in use, not the history.
    fn compact(&mut self, index: u64) {
        self.since_compaction = 0;
        match self.member.compact(index, self.replay.encode()) {
            Ok(()) => log::info!("Triad log compacted up to entry {index}"),
            Err(e) => log::warn!("Cannot compact the triad log to entry {index}: {e}"),
        }
    }

    /// The master sent a compacted state (this member was too far behind,
    /// or lmgrd restarted on a compacted store): it replaces what the
    /// vendor daemons hold.
    pub(super) fn restore(&mut self, index: u64, data: &[u8]) {
        match Replay::decode(data) {
            Ok(replay) => {
                self.replay = replay;
                for l in self.vendors.values_mut() {
                    if let Some((i, summary)) = self.replay.of(&l.name) {
                        l.out.push(&Message::Replicate(wire::Replicate {
                            index: i,
                            payload: Blob(summary),
                        }));
                    }
                }
                log::info!("Triad state taken from a snapshot up to log entry {index}");
            }
            Err(why) => log::error!(
                "the triad snapshot up to entry {index} is unreadable ({why}): vendor daemons keep what they had"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use wire::MessageDecoder;

    #[test]
    fn out_buffer_writes_what_the_socket_takes() {
        struct Slow(Vec<u8>, usize);
        impl Write for Slow {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.1 == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = b.len().min(self.1).min(7);
                self.1 -= n;
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let m = Message::TriadRaft(wire::TriadRaft {
            payload: Blob(vec![7; 40]),
        });
        let mut out = OutBuf::default();
        out.push(&m);
        out.push(&m);
        let total = out.pending();
        let mut w = Slow(Vec::new(), 30);
        out.write_to(&mut w).unwrap();
        assert_eq!(out.pending(), total - 30);
        w.1 = usize::MAX;
        out.write_to(&mut w).unwrap();
        assert_eq!(out.pending(), 0);
        let mut dec = MessageDecoder::new(MAX_FRAME);
        dec.feed(&w.0);
        assert_eq!(dec.next_message().unwrap(), Some(m.clone()));
        assert_eq!(dec.next_message().unwrap(), Some(m));
    }

    #[test]
    fn a_daemon_told_it_serves_then_not_is_spent() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut l = VendorLink::new("demo", UnixStream::from_std(a));
        l.pid = Some(1);
        let standby = Role {
            serving: false,
            master: Some(1),
        };
        let master = Role {
            serving: true,
            master: Some(2),
        };
        l.tell(standby, 2, 1, "standby");
        assert!(!l.spent);
        l.tell(master, 2, 2, "master");
        assert_eq!((l.told, l.spent), (Some(true), false));
        assert!(l.serves());
        l.tell(standby, 2, 3, "lost");
        assert!(l.spent);
        assert!(!l.serves());
        let before = l.out.pending();
        l.tell(master, 2, 4, "again");
        assert_eq!(
            l.out.pending(),
            before,
            "a spent daemon is told nothing more"
        );
        let mut dec = MessageDecoder::default();
        dec.feed(l.out.queued());
        let mut roles = Vec::new();
        while let Ok(Some(Message::TriadRole(r))) = dec.next_message() {
            roles.push((r.serving, r.master, r.term));
        }
        assert_eq!(roles, vec![(false, 1, 1), (true, 2, 2), (false, 1, 3)]);
    }
}
