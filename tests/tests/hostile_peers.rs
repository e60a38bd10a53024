//! lmgrd against peers that do not speak the protocol in good faith: one
//! that announces a frame larger than any it accepts, and ones that stream
//! bytes without ever completing a frame. Each is dropped as soon as what
//! it sent can no longer be a frame, lmgrd's memory stays bounded while it
//! happens, and everyone else is still served.

use e2e::*;
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);
/// How much a hostile peer tries to send: far more than lmgrd may hold.
const FLOOD: usize = 256 << 20;
/// lmgrd may hold one frame (64 KiB) and one read per connection; allow
/// for the allocator, never for the flood.
const RSS_SLACK_KIB: u64 = 2 * 1024;

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("lmgrd is running");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A frame header: our magic and version, message type 0x01, `len`, no CRC.
fn header(len: u32) -> Vec<u8> {
    let mut h = vec![0x4c, 0x4d, 1, 0x01];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0; 4]);
    h
}

/// Sends `first`, then `filler` over and over until lmgrd drops the
/// connection or `FLOOD` bytes went out; returns how many bytes went out.
/// Panics if lmgrd never drops it.
///
/// lmgrd is stopped (SIGSTOP) while the socket's buffers fill, so that
/// when it resumes, megabytes are waiting at once: a reader that read all
/// that is available before decoding would hold them all.
fn flood(server: &Server, first: &[u8], filler: u8) -> usize {
    server.signal(libc::SIGSTOP);
    let mut s = TcpStream::connect_timeout(&server.lmgrd_addr(), Duration::from_secs(5))
        .expect("the kernel completes the connection while lmgrd is stopped");
    s.set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let chunk = vec![filler; 64 * 1024];
    let mut sent = 0;
    let mut bytes = first;
    let mut stopped = true;
    let deadline = Instant::now() + WAIT;
    while sent < FLOOD && Instant::now() < deadline {
        match s.write(bytes) {
            Ok(n) => {
                sent += n;
                bytes = &chunk;
                continue;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e)
                if stopped && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                // The buffers are full: let lmgrd find them so.
                stopped = false;
                server.signal(libc::SIGCONT);
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                continue;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::BrokenPipe
                            | ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                    ),
                    "lmgrd should have closed the connection, got {e}"
                );
                if stopped {
                    server.signal(libc::SIGCONT);
                }
                return sent;
            }
        }
    }
    if stopped {
        server.signal(libc::SIGCONT);
    }
    panic!("lmgrd took {sent} bytes from a peer that never completed a frame");
}

#[test]
fn lmgrd_drops_oversize_and_endless_frames_with_bounded_memory() {
    let dir = tempdir("hostile");
    let port = free_port();
    let server = Server::start(&license_with_port("demo.lic", &dir, port), port, &[]);
    let addr = server.lmgrd_addr();
    let pid = server.child.id();
    assert!(Peer::vendor_port(addr, "demo").is_ok());
    let before = status_kib(pid, "VmRSS");
    let before_peak = status_kib(pid, "VmHWM");

    // 1. A header announcing 1 GiB: dropped on the header, before any of
    //    the payload is read.
    let sent = flood(&server, &header(1 << 30), 0);
    server.wait_log(WAIT, "exceeds the limit");

    // 2. A header announcing the largest frame allowed, then more bytes
    //    than it can hold: the frame ends at its length, its checksum
    //    fails, and the peer is dropped.
    let sent_valid = flood(&server, &header(64 * 1024), 0x5a);
    server.wait_log(WAIT, "checksum");

    // 3. Bytes that are not a frame at all.
    let sent_garbage = flood(&server, b"not a frame", b'x');

    let peak = status_kib(pid, "VmHWM");
    let after = status_kib(pid, "VmRSS");
    assert!(
        peak <= before_peak + RSS_SLACK_KIB,
        "lmgrd's peak RSS grew from {before_peak} KiB to {peak} KiB while peers sent \
         {sent}, {sent_valid} and {sent_garbage} bytes"
    );
    assert!(
        after <= before + RSS_SLACK_KIB,
        "{before} KiB -> {after} KiB"
    );

    // Everyone else is still served.
    assert!(Peer::vendor_port(addr, "demo").is_ok());
    let log = server.log_text();
    assert_eq!(
        log.matches("closing connection from").count(),
        3,
        "each hostile peer is named once in the log:\n{log}"
    );
}
