//! How the admin tools prove who they are (`wire::admin_access`): on the
//! license server machine, through the daemon's local admin socket (the
//! kernel tells the daemon the user); from elsewhere, with an admin token
//! (`LM_ADMIN_TOKEN_FILE` or `-token-file`), proved by challenge-response.
//! Without either, the request goes over TCP as before, and a server
//! started with `-2 -p` refuses it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The environment variable naming the admin token file.
pub const TOKEN_ENV: &str = "LM_ADMIN_TOKEN_FILE";

/// A tool's connection: TCP, or the daemon's admin socket.
#[derive(Debug)]
pub enum ToolStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for ToolStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ToolStream::Tcp(s) => s.read(buf),
            ToolStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for ToolStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ToolStream::Tcp(s) => s.write(buf),
            ToolStream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            ToolStream::Tcp(s) => s.flush(),
            ToolStream::Unix(s) => s.flush(),
        }
    }
}

impl ToolStream {
    /// Whether this TCP connection reaches this machine: loopback, or our
    /// own address (the kernel then connects from that same address).
    pub fn reaches_this_machine(&self) -> bool {
        match self {
            ToolStream::Unix(_) => true,
            ToolStream::Tcp(s) => match (s.local_addr(), s.peer_addr()) {
                (Ok(l), Ok(p)) => p.ip().is_loopback() || l.ip() == p.ip(),
                _ => false,
            },
        }
    }
}

/// Connects to the admin socket at `path`, if it is one we can use:
/// `None` when it is not a socket (a symbolic link is not followed) or
/// cannot be reached (another user's directory, no daemon there).
pub fn connect(path: &str, io: std::time::Duration) -> Option<UnixStream> {
    let path = Path::new(path);
    if !path.is_absolute() {
        return None;
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_socket() {
        return None;
    }
    let stream = UnixStream::connect(path).ok()?;
    let _ = stream.set_read_timeout(Some(io));
    let _ = stream.set_write_timeout(Some(io));
    Some(stream)
}

static TOKEN_FILE: OnceLock<PathBuf> = OnceLock::new();

/// `-token-file`: wins over [`TOKEN_ENV`].
pub fn set_token_file(path: PathBuf) {
    let _ = TOKEN_FILE.set(path);
}

/// The admin token file to use, if any.
pub fn token_file() -> Option<PathBuf> {
    TOKEN_FILE.get().cloned().or_else(|| {
        std::env::var_os(TOKEN_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The admin token (its name and key) from the token file, or why it
/// cannot be used.
pub fn token() -> Option<Result<(String, Vec<u8>), String>> {
    let path = token_file()?;
    Some(read_token(&path))
}

fn read_token(path: &Path) -> Result<(String, Vec<u8>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the admin token file {}: {e}", path.display()))?;
    hostenv::admin_tokens::parse_token(&text).ok_or_else(|| {
        format!(
            "{} holds no admin token (lma.NAME.KEY, as lmpasswd -admin-token prints it)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(
            &p,
            format!("{}\n", hostenv::admin_tokens::format_token("ops", &[1; 32])),
        )
        .unwrap();
        assert_eq!(read_token(&p), Ok(("ops".into(), vec![1; 32])));
        std::fs::write(&p, "lmt.ops.secret").unwrap();
        assert!(read_token(&p).unwrap_err().contains("holds no admin token"));
        assert!(read_token(&dir.path().join("none")).is_err());
    }

    #[test]
    fn only_absolute_paths_to_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Duration::from_secs(5);
        assert!(connect("relative.sock", t).is_none());
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(connect(file.to_str().unwrap(), t).is_none());
        let sock = dir.path().join("s.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        assert!(
            connect(link.to_str().unwrap(), t).is_none(),
            "a link is not followed"
        );
        assert!(connect(sock.to_str().unwrap(), t).is_some());
    }
}
