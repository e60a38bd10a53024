//! What every worker process shares with the others: commands read from
//! its parent on standard input (`go`, `stop`), the wait for the next event
//! or timer, and writing a connection's queued bytes.

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// The token of standard input in a worker's poll.
pub const STDIN: Token = Token(usize::MAX);

/// The longest a worker sleeps without looking at its timers and input.
const TICK: Duration = Duration::from_millis(100);

/// Timers by due time: (when, connection).
pub type Timers = BinaryHeap<Reverse<(Instant, usize)>>;

/// Makes standard input non-blocking and registers it with `poll`.
pub fn watch_stdin(poll: &Poll) -> io::Result<()> {
    // SAFETY: fcntl on our own standard input.
    unsafe {
        let flags = libc::fcntl(0, libc::F_GETFL);
        libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    poll.registry()
        .register(&mut SourceFd(&0), STDIN, Interest::READABLE)
}

/// The parent's commands, read as they come.
#[derive(Default)]
pub struct Commands {
    text: String,
}

impl Commands {
    /// Reads what standard input has: the whole lines that came (trimmed),
    /// and whether the input ended (the parent is gone: stop).
    pub fn read(&mut self, buf: &mut [u8]) -> (Vec<String>, bool) {
        let ended = loop {
            match io::stdin().lock().read(buf) {
                Ok(0) => break true,
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        let mut lines = Vec::new();
        while let Some(nl) = self.text.find('\n') {
            let line: String = self.text.drain(..=nl).collect();
            lines.push(line.trim().to_string());
        }
        (lines, ended)
    }
}

/// Waits for events until the first timer is due (a tick at most); false
/// when a signal cut the wait short.
pub fn wait(poll: &mut Poll, events: &mut Events, timers: &Timers) -> io::Result<bool> {
    let timeout = timers
        .peek()
        .map(|Reverse((due, _))| due.saturating_duration_since(Instant::now()))
        .unwrap_or(TICK)
        .min(TICK);
    match poll.poll(events, Some(timeout)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// What one read from a connection gave.
pub enum Got {
    /// This many bytes (a short read means the socket is drained).
    Bytes(usize),
    /// Nothing now; the next bytes raise a new event.
    Nothing,
    /// The peer closed the connection, or it broke.
    Closed,
}

/// One read into `buf`, retried when a signal cuts it short.
pub fn read_in(stream: &mut impl Read, buf: &mut [u8]) -> Got {
    loop {
        match stream.read(buf) {
            Ok(0) => return Got::Closed,
            Ok(n) => return Got::Bytes(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Got::Nothing,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Got::Closed,
        }
    }
}

/// Writes what `out` holds until the socket would block, and drops what
/// was written; an error means the connection is broken.
pub fn write_out(stream: &mut impl Write, out: &mut Vec<u8>) -> io::Result<()> {
    let mut sent = 0;
    let result = loop {
        if sent == out.len() {
            break Ok(());
        }
        match stream.write(&out[sent..]) {
            Ok(0) => break Ok(()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    out.drain(..sent);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `room` bytes, then would block.
    struct Pipe {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room).min(3);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn what_the_socket_does_not_take_stays_queued() {
        let mut out = b"0123456789".to_vec();
        let mut pipe = Pipe {
            got: Vec::new(),
            room: 7,
        };
        write_out(&mut pipe, &mut out).unwrap();
        assert_eq!(pipe.got, b"0123456");
        assert_eq!(out, b"789");
        pipe.room = 100;
        write_out(&mut pipe, &mut out).unwrap();
        assert_eq!(pipe.got, b"0123456789");
        assert!(out.is_empty());
    }
}
