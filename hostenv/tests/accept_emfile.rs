//! The acceptor when the process has no descriptor left: every waiting
//! connection is accepted with the spare descriptor, told why it is
//! refused and closed, so the listener's queue empties and the next
//! connection, once descriptors are free again, is let in.
//!
//! Alone in its test binary: it lowers the process's own open-file limit.

use hostenv::accept::Acceptor;
use hostenv::admission::Limits;
use mio::net::TcpListener;
use std::fs::File;
use std::time::Duration;
use wire::io::Link;
use wire::Message;

fn set_soft_limit(n: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a struct we own.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        let old = rl.rlim_cur;
        rl.rlim_cur = n;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rl), 0);
        old
    }
}

#[test]
fn out_of_descriptors_the_queue_is_emptied_with_refusals_and_serving_resumes() {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        max_connections: 1_000,
        per_address: 1_000,
    };
    let mut acc = Acceptor::new(limits, wire::lmerr::LM_VD_MAX_CLIENTS_REACHED);
    let old = set_soft_limit(128);
    // Take every descriptor left, then give four back to four clients.
    let mut fillers = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        fillers.push(f);
    }
    fillers.truncate(fillers.len() - 4);
    let clients: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(addr).expect("connect"))
        .collect();
    assert!(File::open("/dev/null").is_err(), "no descriptor is left");

    let admitted = acc.accept(&listener, 0);
    assert!(admitted.is_empty());
    let notes = acc.take_notes();
    assert_eq!(notes.len(), 1, "one line for the burst: {notes:?}");
    assert!(notes[0].contains("out of file descriptors"), "{notes:?}");
    // The reserve is back: still no descriptor to spare.
    assert!(File::open("/dev/null").is_err());
    for c in clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut link = Link::new(c, 4096);
        match link.recv() {
            Ok(Message::Error(e)) => {
                assert_eq!(e.code, -237);
                assert!(e.text.contains("out of file descriptors"), "{}", e.text);
            }
            other => panic!("expected the refusal, got {other:?}"),
        }
    }

    // Descriptors free again: the next client is let in.
    fillers.truncate(fillers.len().saturating_sub(8));
    let _next = std::net::TcpStream::connect(addr).unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(acc.accept(&listener, 10));
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got.len(), 1);
    drop(fillers);
    set_soft_limit(old);
}
