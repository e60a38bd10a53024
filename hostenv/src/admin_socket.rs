//! The daemons' local admin socket: a Unix-domain stream socket in the
//! state directory, over which the kernel tells the daemon who connected
//! (`SO_PEERCRED`), so lmdown, lmreread, lmremove and the log switches
//! can be tied to a user that cannot be forged. Over TCP a peer is only an
//! address (`accounting::admin::Requester::Network`), unless it proves an
//! admin token ([`crate::admin_tokens`]).
//!
//! The socket file is created by the daemon with mode 0666: anyone who can
//! reach it may connect, and the admin policy decides from the kernel's
//! answer. It is never put where a symbolic link or another file is: a
//! stale socket left by a daemon that died is removed (only if it is a
//! socket nobody listens on), anything else makes the daemon run without
//! an admin socket, saying why.
//!
//! Both event loops keep admin-socket connections with their TCP ones:
//! [`Stream`] is either, and [`ConnAuth`] sorts each connection's admin
//! messages into requests with a [`Requester`], or answers to send back.

use accounting::admin::Requester;
use mio::event::Source;
use mio::net::{TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wire::admin_access::{mac_input, AdminAccess, NONCE_LEN};
use wire::codec::Blob;
use wire::{lmerr, AdminReply, AdminRequest, Message};

/// Longest path a Unix socket address holds (`sun_path`, less its NUL).
const MAX_PATH: usize = 107;

/// Where a daemon's admin socket goes: `<state>/<name>-<port>.sock`
/// (`name` is `lmgrd` or the vendor's name).
pub fn path(state_dir: &Path, name: &str, port: u16) -> PathBuf {
    state_dir.join(format!("{name}-{port}.sock"))
}

/// Binds the admin socket at `path`, mode 0666. A stale socket there is
/// replaced; a live one (another daemon answers on it), a symbolic link
/// or any other file is left alone and the bind refused.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.as_os_str().len() > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the path is longer than {MAX_PATH} bytes"),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another daemon listens on it",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(m) => {
            let what = if m.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a socket"
            };
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{what} is in the way (remove it)"),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // bind(2) creates the file, and fails if anything appeared there
    // meanwhile: it never follows a symbolic link.
    let listener = UnixListener::bind(path)?;
    // The directory is the daemon's own: nobody else can swap the file
    // between bind and chmod, and the check below would see it.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    let m = std::fs::symlink_metadata(path)?;
    // SAFETY: geteuid has no memory effects.
    if !m.file_type().is_socket() || m.uid() != unsafe { libc::geteuid() } {
        return Err(io::Error::other("the socket file was replaced"));
    }
    Ok(listener)
}

/// The admin socket, removed from the file system when dropped.
pub struct AdminSocket {
    pub listener: UnixListener,
    pub path: PathBuf,
}

impl AdminSocket {
    /// Binds `path` (see [`bind`]).
    pub fn bind(path: PathBuf) -> io::Result<AdminSocket> {
        Ok(AdminSocket {
            listener: bind(&path)?,
            path,
        })
    }

    /// The next waiting connection and who made it, `Ok(None)` when none
    /// waits.
    pub fn accept(&self) -> io::Result<Option<(UnixStream, Cred)>> {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => match peer_cred(&stream) {
                    Ok(cred) => return Ok(Some((stream, cred))),
                    // Gone already: nothing to answer.
                    Err(_) => continue,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl AdminSocket {
    /// Accepts every waiting connection and registers it with `registry`
    /// (readable and writable) under the token `next_token` gives: what
    /// both daemons' loops do with their admin socket. A connection that
    /// cannot be watched is dropped. An error ends the round; what was
    /// accepted before it is returned with it.
    pub fn accept_all(
        &self,
        registry: &Registry,
        mut next_token: impl FnMut() -> usize,
    ) -> (Vec<(usize, Stream, Cred)>, io::Result<()>) {
        let mut accepted = Vec::new();
        loop {
            match self.accept() {
                Ok(Some((stream, cred))) => {
                    let token = next_token();
                    let mut stream = Stream::Unix(stream);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if registry
                        .register(&mut stream, Token(token), interest)
                        .is_ok()
                    {
                        accepted.push((token, stream, cred));
                    }
                }
                Ok(None) => return (accepted, Ok(())),
                Err(e) => return (accepted, Err(e)),
            }
        }
    }
}

impl Drop for AdminSocket {
    /// Removes the socket file. It is still ours: while we listen, no
    /// other daemon replaces it ([`bind`] leaves a live socket alone).
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Who is on the other end of a Unix-domain connection, as the kernel
/// recorded it when the peer connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cred {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

/// The peer's credentials (`SO_PEERCRED`).
pub fn peer_cred(stream: &impl AsRawFd) -> io::Result<Cred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into our local.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Cred {
        uid: cred.uid,
        gid: cred.gid,
        pid: cred.pid,
    })
}

/// Root, or a member of group `lmadmin` (by membership, by primary group,
/// or by the group the process connected with).
pub fn is_license_admin(cred: Cred) -> bool {
    if cred.uid == 0 {
        return true;
    }
    let Some((gid, members)) = group("lmadmin") else {
        return false;
    };
    if cred.gid == gid {
        return true;
    }
    let Some((name, primary_gid)) = user_of(cred.uid) else {
        return false;
    };
    primary_gid == gid || members.contains(&name)
}

fn user_of(uid: u32) -> Option<(String, u32)> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: getpwuid_r fills `pwd` with pointers into `buf`, which
    // outlives every use below.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut out) != 0
            || out.is_null()
        {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name)
            .to_string_lossy()
            .into_owned();
        Some((name, pwd.pw_gid))
    }
}

fn group(name: &str) -> Option<(u32, Vec<String>)> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    // SAFETY: getgrnam_r fills `grp` with pointers into `buf`, which
    // outlives every use below; gr_mem is a NULL-terminated array.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut out: *mut libc::group = std::ptr::null_mut();
        if libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        ) != 0
            || out.is_null()
        {
            return None;
        }
        let mut members = Vec::new();
        let mut p = grp.gr_mem;
        while !p.is_null() && !(*p).is_null() {
            members.push(std::ffi::CStr::from_ptr(*p).to_string_lossy().into_owned());
            p = p.add(1);
        }
        Some((grp.gr_gid, members))
    }
}

/// A client connection of either kind.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }
    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }
    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

/// What a daemon tells and checks about admin requests: the TCP port it
/// serves, its admin socket, and where admin tokens' keys are found.
pub struct Gate<'a> {
    pub port: u16,
    pub socket: Option<&'a Path>,
    /// The key of the admin token of this name, if there is one.
    pub token_key: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

/// How a connection came, and what it may still use.
#[derive(Debug, Clone)]
pub enum ConnAuth {
    /// Over the admin socket, from this user.
    Kernel(Cred),
    /// Over TCP: the address it reached and its own; the nonce handed out
    /// and not yet used.
    Tcp {
        local: SocketAddr,
        peer: SocketAddr,
        nonce: Option<[u8; NONCE_LEN]>,
    },
}

/// A message after [`ConnAuth::sort`].
#[derive(Debug)]
pub enum Sorted {
    /// Not an admin message: handle as usual.
    Other(Message),
    /// An admin request, and who asks.
    Request(AdminRequest, Requester),
    /// Send this back at once: the admin socket's whereabouts, or a
    /// refusal that needs no policy (wrong port, a bad token).
    Answer(Message),
}

fn refuse(code: i32, text: impl Into<String>) -> Sorted {
    Sorted::Answer(Message::AdminReply(AdminReply {
        code,
        text: text.into(),
    }))
}

impl ConnAuth {
    /// A TCP connection from `peer` to our `local` address.
    pub fn tcp(local: SocketAddr, peer: SocketAddr) -> ConnAuth {
        ConnAuth::Tcp {
            local,
            peer,
            nonce: None,
        }
    }

    /// Says which admin request a message is and who sends it, or what
    /// to answer; other messages pass through.
    pub fn sort(&mut self, msg: Message, gate: &Gate) -> Sorted {
        match (msg, self) {
            (Message::AdminAccessQuery(_), auth) => {
                let mut nonce = [0u8; NONCE_LEN];
                let fresh = fill_random(&mut nonce).is_ok();
                if let ConnAuth::Tcp { nonce: slot, .. } = auth {
                    *slot = fresh.then_some(nonce);
                }
                Sorted::Answer(Message::AdminAccess(AdminAccess {
                    socket: gate
                        .socket
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    port: gate.port,
                    nonce: Blob(if fresh { nonce.to_vec() } else { Vec::new() }),
                }))
            }
            (Message::Admin(req), ConnAuth::Tcp { local, peer, .. }) => {
                Sorted::Request(req, Requester::network(*local, *peer))
            }
            (Message::Admin(_), ConnAuth::Kernel(_)) => refuse(
                lmerr::LM_NOTLICADMIN,
                "on the admin socket, a request must name the TCP port of the server it is meant for",
            ),
            (Message::AdminFor(f), _) if f.port != gate.port => refuse(
                lmerr::LM_NOTLICADMIN,
                format!(
                    "this request is meant for the server on port {}, and this one serves port {}",
                    f.port, gate.port
                ),
            ),
            (Message::AdminFor(f), ConnAuth::Kernel(cred)) => Sorted::Request(
                f.request,
                Requester::Kernel {
                    uid: cred.uid,
                    admin: is_license_admin(*cred),
                },
            ),
            (Message::AdminFor(f), ConnAuth::Tcp { local, peer, nonce }) => {
                // Single use, whatever the outcome.
                let Some(nonce) = nonce.take() else {
                    return refuse(
                        lmerr::LM_NOTLICADMIN,
                        "no admin challenge was asked for on this connection (or it was used)",
                    );
                };
                let key = (gate.token_key)(&f.token);
                let input = mac_input(&nonce, f.port, &f.request);
                match key {
                    Some(key) if crate::admin_tokens::verify(&key, &input, &f.mac.0) => {
                        let local = Requester::network(*local, *peer).is_local();
                        Sorted::Request(
                            f.request,
                            Requester::Token {
                                name: f.token,
                                local,
                            },
                        )
                    }
                    _ => refuse(
                        lmerr::LM_NOTLICADMIN,
                        format!(
                            "{} (the admin token \"{}\" was not accepted)",
                            lmerr::text(lmerr::LM_NOTLICADMIN),
                            // The peer's words, logged: escaped.
                            wire::text::Esc(&f.token)
                        ),
                    ),
                }
            }
            (other, _) => Sorted::Other(other),
        }
    }
}

/// Fills `buf` from the kernel's random source.
pub fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most the length given into our buffer.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::admin_access::AdminFor;
    use wire::admin_op;
    use wire::AdminAccessQuery;

    fn no_tokens(_: &str) -> Option<Vec<u8>> {
        None
    }

    fn one_token(name: &str) -> Option<Vec<u8>> {
        (name == "ops").then(|| b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn req(op: u8) -> AdminRequest {
        AdminRequest {
            op,
            ..AdminRequest::default()
        }
    }

    #[test]
    fn binds_replaces_a_stale_socket_and_refuses_links_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "lmgrd", 27000);
        {
            let s = AdminSocket::bind(p.clone()).unwrap();
            let m = std::fs::symlink_metadata(&s.path).unwrap();
            assert_eq!(m.permissions().mode() & 0o777, 0o666);
            // A live socket is never taken over.
            let e = bind(&p).expect_err("a live socket is kept");
            assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        }
        assert!(!p.exists(), "removed when dropped");
        // A stale one (its listener gone without removing it) is replaced.
        let stale = std::os::unix::net::UnixListener::bind(&p).unwrap();
        drop(stale);
        assert!(p.exists());
        let s = AdminSocket::bind(p.clone()).unwrap();
        drop(s);
        // A symbolic link, even to nothing, and a plain file stay.
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let e = bind(&p).err().unwrap();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "nothing created through the link");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "x").unwrap();
        assert!(bind(&p).err().unwrap().to_string().contains("not a socket"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "x");
        let long = dir.path().join("x".repeat(120));
        assert!(bind(&long).is_err());
    }

    #[test]
    fn the_kernel_tells_who_connected() {
        let dir = tempfile::tempdir().unwrap();
        let s = AdminSocket::bind(path(dir.path(), "demo", 1)).unwrap();
        let _client = std::os::unix::net::UnixStream::connect(&s.path).unwrap();
        let (_, cred) = loop {
            if let Some(got) = s.accept().unwrap() {
                break got;
            }
        };
        // SAFETY: no memory effects.
        assert_eq!(cred.uid, unsafe { libc::geteuid() });
        assert_eq!(cred.pid, std::process::id() as i32);
        if cred.uid == 0 {
            assert!(is_license_admin(cred));
        }
        assert!(is_license_admin(Cred {
            uid: 0,
            gid: 0,
            pid: 1
        }));
    }

    #[test]
    fn sorting_admin_messages() {
        let gate = Gate {
            port: 27000,
            socket: Some(Path::new("/s/lmgrd-27000.sock")),
            token_key: &no_tokens,
        };
        let mut tcp = ConnAuth::tcp(addr("127.0.0.1:27000"), addr("127.0.0.1:5000"));
        match tcp.sort(Message::Admin(req(admin_op::SHUTDOWN)), &gate) {
            Sorted::Request(_, Requester::Network { .. }) => {}
            other => panic!("{other:?}"),
        }
        match tcp.sort(
            Message::AdminAccessQuery(AdminAccessQuery { port: 27000 }),
            &gate,
        ) {
            Sorted::Answer(Message::AdminAccess(a)) => {
                assert_eq!(a.socket, "/s/lmgrd-27000.sock");
                assert_eq!(a.port, 27000);
                assert_eq!(a.nonce.0.len(), NONCE_LEN);
            }
            other => panic!("{other:?}"),
        }
        let root = Cred {
            uid: 0,
            gid: 0,
            pid: 1,
        };
        let mut unix = ConnAuth::Kernel(root);
        assert!(matches!(
            unix.sort(Message::Admin(req(admin_op::SHUTDOWN)), &gate),
            Sorted::Answer(Message::AdminReply(r)) if r.code == lmerr::LM_NOTLICADMIN
        ));
        let for_port = |port| {
            Message::AdminFor(AdminFor {
                port,
                request: req(admin_op::REREAD),
                ..AdminFor::default()
            })
        };
        match unix.sort(for_port(27000), &gate) {
            Sorted::Request(
                r,
                Requester::Kernel {
                    uid: 0,
                    admin: true,
                },
            ) => {
                assert_eq!(r.op, admin_op::REREAD)
            }
            other => panic!("{other:?}"),
        }
        match unix.sort(for_port(27001), &gate) {
            Sorted::Answer(Message::AdminReply(r)) => {
                assert_eq!(r.code, lmerr::LM_NOTLICADMIN);
                assert!(r.text.contains("port 27001"), "{}", r.text);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            unix.sort(Message::Heartbeat(wire::Heartbeat::default()), &gate),
            Sorted::Other(Message::Heartbeat(_))
        ));
    }

    fn challenge(auth: &mut ConnAuth, gate: &Gate) -> Vec<u8> {
        match auth.sort(
            Message::AdminAccessQuery(AdminAccessQuery { port: 0 }),
            gate,
        ) {
            Sorted::Answer(Message::AdminAccess(a)) => a.nonce.0,
            other => panic!("{other:?}"),
        }
    }

    fn signed(key: &[u8], nonce: &[u8], name: &str, port: u16) -> Message {
        let request = req(admin_op::REREAD);
        let mac = crate::admin_tokens::sign(key, &mac_input(nonce, port, &request));
        Message::AdminFor(AdminFor {
            port,
            token: name.into(),
            mac: Blob(mac),
            request,
        })
    }

    #[test]
    fn a_token_proof_is_checked_and_its_nonce_used_once() {
        let gate = Gate {
            port: 27000,
            socket: None,
            token_key: &one_token,
        };
        let key = one_token("ops").unwrap();
        let mut tcp = ConnAuth::tcp(addr("192.0.2.1:27000"), addr("198.51.100.7:5000"));
        // No challenge asked for: refused.
        let nonce = [0u8; NONCE_LEN];
        assert!(matches!(
            tcp.sort(signed(&key, &nonce, "ops", 27000), &gate),
            Sorted::Answer(Message::AdminReply(r)) if r.code == lmerr::LM_NOTLICADMIN
        ));
        let nonce = challenge(&mut tcp, &gate);
        let proof = signed(&key, &nonce, "ops", 27000);
        match tcp.sort(proof.clone(), &gate) {
            Sorted::Request(_, Requester::Token { name, local: false }) => assert_eq!(name, "ops"),
            other => panic!("{other:?}"),
        }
        // Replayed: the nonce is spent.
        assert!(matches!(tcp.sort(proof, &gate), Sorted::Answer(_)));
        // A wrong key, an unknown name, another nonce.
        for (k, name) in [(b"wrong".to_vec(), "ops"), (key.clone(), "nobody")] {
            let nonce = challenge(&mut tcp, &gate);
            assert!(matches!(
                tcp.sort(signed(&k, &nonce, name, 27000), &gate),
                Sorted::Answer(Message::AdminReply(r)) if r.code == lmerr::LM_NOTLICADMIN
            ));
        }
        let _ = challenge(&mut tcp, &gate);
        assert!(matches!(
            tcp.sort(signed(&key, &[7u8; NONCE_LEN], "ops", 27000), &gate),
            Sorted::Answer(_)
        ));
        // A proof for another port is refused before the MAC is looked at.
        let nonce = challenge(&mut tcp, &gate);
        assert!(matches!(
            tcp.sort(signed(&key, &nonce, "ops", 27001), &gate),
            Sorted::Answer(Message::AdminReply(r)) if r.text.contains("port 27001")
        ));
    }
}
