//! The vendor daemon's link to its lmgrd when lmgrd is a member of a
//! three-server triad.
//!
//! lmgrd runs the consensus; this daemon keeps the accounting. Over a Unix
//! socket lmgrd passed at start (`--triad-fd`), the daemon sends each turn's
//! accounting changes as one `Propose`, and lmgrd sends back, in log order,
//! every batch the triad's majority committed (`Replicate`), and whether
//! this member may serve (`TriadRole`).
//!
//! While serving, the replies of a turn that changed the accounting are
//! held until its batch comes back committed: a client never hears
//! "granted" for a seat a new master would not know. Replies of later turns
//! queue behind them, so each connection sees its replies in order.

use accounting::{Batch, Change, Effects};
use mio::net::UnixStream;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read};
use std::os::fd::FromRawFd;
use wire::codec::Blob;
use wire::io::{FrameReader, LinkError, OutBuf};
use wire::{Message, Propose};

/// Largest frame accepted from lmgrd: a batch of many changes.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What one turn of the loop decided (replies, closes, log lines, report
/// records), waiting for its batch.
#[derive(Debug, Default)]
pub struct Held {
    /// The batch they wait for; `None`: they only wait for earlier ones.
    pub seq: Option<u64>,
    pub fx: Effects,
    /// When the checkout they answer arrived (for the latency metric).
    pub arrived: Option<std::time::Instant>,
}

/// What lmgrd said.
#[derive(Debug)]
pub enum FromLmgrd {
    /// A committed batch of this daemon's (its held replies may go).
    Committed(Vec<Held>),
    /// A committed batch of another master's: apply it.
    Apply(Vec<Change>),
    /// lmgrd's summary of the log (after compaction): exactly these seats.
    Reset(Vec<Change>),
    Role {
        serving: bool,
        master: u32,
        reason: String,
    },
    /// lmgrd sent something unreadable or unexpected.
    Bad(String),
}

pub struct TriadLink {
    stream: UnixStream,
    reader: FrameReader,
    out: OutBuf,
    /// Random per process, so our own batches are known when they return
    /// and a restarted daemon never mistakes an old batch for its own.
    origin: u64,
    next_seq: u64,
    held: VecDeque<Held>,
    pub serving: bool,
    pub master: u32,
}

impl TriadLink {
    /// Takes over descriptor `fd`, inherited from lmgrd.
    pub fn from_fd(fd: i32) -> io::Result<TriadLink> {
        // SAFETY: lmgrd passed this descriptor for us alone; nothing else
        // in this process owns it.
        let std_stream = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
        std_stream.set_nonblocking(true)?;
        Ok(TriadLink {
            stream: UnixStream::from_std(std_stream),
            reader: FrameReader::new(MAX_FRAME),
            out: OutBuf::new(),
            origin: origin(),
            next_seq: 1,
            held: VecDeque::new(),
            serving: false,
            master: 0,
        })
    }

    pub fn source(&mut self) -> &mut UnixStream {
        &mut self.stream
    }

    /// Whether replies are waiting for a commit.
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The origin and number of the next batch, for encoding it.
    pub fn next_batch(&self) -> (u64, u64) {
        (self.origin, self.next_seq)
    }

    /// Queues the encoded batch `payload` (numbered as
    /// [`TriadLink::next_batch`] said) for the triad, and `held` behind it.
    pub fn propose(&mut self, payload: Vec<u8>, mut held: Held) {
        let seq = self.next_seq;
        self.next_seq += 1;
        Message::Propose(Propose {
            seq,
            payload: Blob(payload),
        })
        .encode(self.out.tail());
        held.seq = Some(seq);
        self.held.push_back(held);
    }

    /// Queues `held` behind the batches already waiting.
    pub fn wait_behind(&mut self, held: Held) {
        self.held.push_back(held);
    }

    /// Writes what is queued, until the socket would block.
    pub fn flush(&mut self) -> Result<(), LinkError> {
        self.out.write_to(&mut self.stream)
    }

    /// Reads until the socket would block. `Err` when lmgrd is gone.
    pub fn read(&mut self) -> io::Result<Vec<FromLmgrd>> {
        let mut buf = vec![0u8; 64 * 1024];
        let (messages, error) = self.reader.drain(&mut self.stream, &mut buf);
        let mut got: Vec<FromLmgrd> = messages.into_iter().map(|m| self.interpret(m)).collect();
        match error {
            None => Ok(got),
            Some(LinkError::Closed) => Err(ErrorKind::UnexpectedEof.into()),
            Some(LinkError::Read(e)) => Err(e),
            Some(e) => {
                got.push(FromLmgrd::Bad(e.to_string()));
                Ok(got)
            }
        }
    }

    fn interpret(&mut self, m: Message) -> FromLmgrd {
        match m {
            Message::Replicate(r) => {
                let bad = |e| FromLmgrd::Bad(format!("replicated entry {}: {e}", r.index));
                match Batch::header(&r.payload.0) {
                    // Our own batch: only its number matters.
                    Ok((origin, seq)) if origin == self.origin => {
                        FromLmgrd::Committed(self.committed(seq))
                    }
                    Ok(_) => match Batch::decode(&r.payload.0) {
                        Ok(b) if b.is_summary() => FromLmgrd::Reset(b.changes),
                        Ok(b) => FromLmgrd::Apply(b.changes),
                        Err(e) => bad(e),
                    },
                    Err(e) => bad(e),
                }
            }
            Message::TriadRole(r) => FromLmgrd::Role {
                serving: r.serving,
                master: r.master,
                reason: r.reason,
            },
            other => FromLmgrd::Bad(format!("unexpected message 0x{:02x}", other.kind())),
        }
    }

    /// Everything held up to batch `seq`, in order.
    fn committed(&mut self, seq: u64) -> Vec<Held> {
        let mut out = Vec::new();
        while let Some(front) = self.held.front() {
            match front.seq {
                Some(s) if s > seq => break,
                _ => out.extend(self.held.pop_front()),
            }
        }
        // Turns that only waited behind this batch may go too.
        while self.held.front().is_some_and(|h| h.seq.is_none()) {
            out.extend(self.held.pop_front());
        }
        out
    }
}

/// A random id for this process's batches; never 0, which marks lmgrd's
/// summaries of the log.
fn origin() -> u64 {
    random_u64().max(1)
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return t ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_ne_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounting::ConnId;
    use std::io::Write;
    use std::os::fd::IntoRawFd;
    use wire::{Heartbeat, MessageDecoder};

    fn pair() -> (TriadLink, std::os::unix::net::UnixStream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        (TriadLink::from_fd(a.into_raw_fd()).unwrap(), b)
    }

    fn ack(conn: u64) -> Held {
        Held {
            seq: None,
            arrived: None,
            fx: Effects {
                replies: vec![(
                    ConnId(conn),
                    Message::HeartbeatAck(Heartbeat {
                        seq: conn as u32,
                        idle: false,
                    }),
                )],
                ..Effects::default()
            },
        }
    }

    fn read_all(link: &mut TriadLink) -> Vec<FromLmgrd> {
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(link.read().unwrap());
            if !got.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        got
    }

    #[test]
    fn replies_wait_for_their_batch_and_keep_their_order() {
        let (mut link, mut lmgrd) = pair();
        let batch = |link: &TriadLink, h| {
            let (origin, seq) = link.next_batch();
            Batch {
                origin,
                seq,
                changes: vec![Change::Release(h)],
            }
            .encode()
        };
        link.propose(batch(&link, 1), ack(1));
        link.wait_behind(ack(2));
        link.propose(batch(&link, 2), ack(3));
        link.flush().unwrap();
        // lmgrd reads two proposals.
        let mut dec = MessageDecoder::new(MAX_FRAME);
        let mut proposals = Vec::new();
        let mut buf = [0u8; 4096];
        while proposals.len() < 2 {
            let n = lmgrd.read(&mut buf).unwrap();
            dec.feed(&buf[..n]);
            while let Ok(Some(Message::Propose(p))) = dec.next_message() {
                proposals.push(p);
            }
        }
        assert_eq!(proposals[0].seq, 1);
        // The first commits: turns 1 and 2 go, turn 3 still waits.
        let commit = |p: &Propose, index| {
            Message::Replicate(wire::Replicate {
                index,
                payload: p.payload.clone(),
            })
            .to_frame_bytes()
        };
        lmgrd.write_all(&commit(&proposals[0], 1)).unwrap();
        let got = read_all(&mut link);
        let [FromLmgrd::Committed(held)] = got.as_slice() else {
            panic!("{got:?}")
        };
        let conns: Vec<u64> = held.iter().map(|h| h.fx.replies[0].0 .0).collect();
        assert_eq!(conns, vec![1, 2]);
        assert!(link.holding());
        lmgrd.write_all(&commit(&proposals[1], 2)).unwrap();
        let got = read_all(&mut link);
        assert!(matches!(got.as_slice(), [FromLmgrd::Committed(h)] if h.len() == 1));
        assert!(!link.holding());
    }

    #[test]
    fn batches_of_another_master_are_applied_and_roles_read() {
        let (mut link, mut lmgrd) = pair();
        let other = Batch {
            origin: link.origin.wrapping_add(1),
            seq: 1,
            changes: vec![Change::Release(9)],
        };
        let mut bytes = Message::Replicate(wire::Replicate {
            index: 1,
            payload: Blob(other.encode()),
        })
        .to_frame_bytes();
        Message::TriadRole(wire::TriadRole {
            serving: true,
            member: 2,
            master: 2,
            term: 4,
            reason: "majority".into(),
        })
        .encode(&mut bytes);
        lmgrd.write_all(&bytes).unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            got.extend(read_all(&mut link));
        }
        assert!(matches!(&got[0], FromLmgrd::Apply(c) if c == &vec![Change::Release(9)]));
        assert!(matches!(
            &got[1],
            FromLmgrd::Role {
                serving: true,
                master: 2,
                ..
            }
        ));
        drop(lmgrd);
        let mut eof = false;
        for _ in 0..100 {
            if link.read().is_err() {
                eof = true;
                break;
            }
            std::thread::yield_now();
        }
        assert!(eof, "lmgrd gone is an error");
    }
}
