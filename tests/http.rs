//! A small HTTP/1.1 client for the tests of lmgrd's HTTP endpoint: one
//! request per connection, optionally from a chosen source address.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

/// A small HTTP/1.1 client: one request per connection, from `from`.
pub fn request(
    addr: SocketAddr,
    from: Option<IpAddr>,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let stream = match from {
        None => TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"),
        Some(ip) => {
            let s = socket_from(ip);
            s.connect(&addr.into()).expect("connect");
            s.into()
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    exchange(stream, addr, method, path, auth, body)
}

pub fn socket_from(ip: IpAddr) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::new(ip, 0).into()).expect("bind source");
    s
}

pub fn exchange<S: Read + Write>(
    mut stream: S,
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, String) {
    let auth = auth.map_or_else(String::new, |a| format!("Authorization: {a}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, None, "GET", path, None, "")
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
