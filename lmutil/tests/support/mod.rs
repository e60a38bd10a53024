//! Helpers for lmutil's end-to-end tests: running lmutil with a clean
//! environment, over the end-to-end crate's real lmgrd (which starts a real
//! vendord) on a port chosen at run time and its bare protocol client.
//!
//! lmgrd, vendord and lmflex are found in `target/<profile>/`, next to the
//! directory of the test executable; `cargo test --workspace` builds them.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);

// The servers, the protocol client and the process-level helpers are the
// end-to-end crate's own.
#[allow(unused_imports)]
pub use e2e::{
    alive, bin, examples, free_port, license_with_port, tempdir, wait_until, Peer, Server,
};

/// Stops `server` and removes its directory and `home`, at the end of a
/// test that passed.
pub fn finish(server: Server, home: &Path) {
    let dir = server.dir.clone();
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(home);
}

/// A directory to use as HOME, so no real `~/.flexlmrc` is read.
pub fn home(tag: &str) -> PathBuf {
    tempdir(&format!("home-{tag}"))
}

/// Runs `lmutil args...` with no license variables and HOME set to `home`.
pub fn lmutil(args: &[&str], home: &Path) -> Output {
    run_as(&bin_lmutil(), args, home, None)
}

pub fn bin_lmutil() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lmutil"))
}

/// Runs `program args...` with a clean license environment, feeding
/// `stdin` when given.
pub fn run_as(program: &Path, args: &[&str], home: &Path, stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).env("HOME", home);
    for (k, _) in std::env::vars() {
        if k.ends_with("_LICENSE_FILE") {
            cmd.env_remove(k);
        }
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("lmutil runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("lmutil finishes")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
