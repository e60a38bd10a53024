//! The kernel's TCP table as vendord reads it to learn who is asking for
//! an admin request (`/proc/net/tcp`, `/proc/net/tcp6`). A row is only
//! taken when both addresses match exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let local: SocketAddr = "127.0.0.1:27000".parse().unwrap();
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    if hostenv::peer::find_uid(&text, local, peer).is_some() {
        // A row names the client's end: its port is in the text.
        assert!(text.to_ascii_uppercase().contains("9C40"));
    }
    let v6: SocketAddr = "[::1]:27000".parse().unwrap();
    let _ = hostenv::peer::find_uid(&text, v6, peer);
});
