//! Runs the walk-through of `docs/publisher-guide.md` as written: key pair,
//! kit, a vendor daemon and an application built with the key inside,
//! a signed license, lmgrd, a checkout, lmdown. The commands are read from
//! the guide, so the guide cannot drift from what works.
//!
//! The kit is built in debug mode into `target/publisher-kit` (kept between
//! runs, so only the first build is slow), with no network: its
//! dependencies are the ones the workspace build already fetched.

use e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The shell block after the guide's `<!-- walkthrough -->` marker.
fn walkthrough() -> String {
    let guide = std::fs::read_to_string(root().join("docs/publisher-guide.md")).unwrap();
    let (_, after) = guide
        .split_once("<!-- walkthrough -->")
        .expect("the guide marks its walk-through");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, b)| b.split_once("```"))
        .map(|(b, _)| b)
        .expect("a ```sh block after the marker");
    block.to_string()
}

/// Stops the walk-through's lmgrd if the script failed before its lmdown.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(bin("lmutil"))
            .args(["lmdown", "-c", &self.0, "-q"])
            .output();
    }
}

#[test]
fn the_publisher_guide_walk_through_works_as_written() {
    let script = walkthrough();
    for step in [
        "lmutil lmcrypt -genkey acme",
        "lmutil lmcrypt -kit acme",
        "lmutil lmcrypt -key acme.key acme.lic",
        "acme-check cad",
    ] {
        assert!(script.contains(step), "the walk-through has `{step}`");
    }
    let dir = tempdir("publisher-guide");
    let port = free_port().to_string();
    let kit_target = root().join("target/publisher-kit");
    // As written, but: this source tree, a free port, and a debug build in
    // a target directory kept between runs.
    let script = script
        .replace("/path/to/lm", &root().display().to_string())
        .replace("27411", &port)
        .replace("cargo build --release", "cargo build")
        .replace(
            "./acme-kit/target/release/",
            &format!("{}/debug/", kit_target.display()),
        );
    let _down = Down(format!("{port}@localhost"));
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-exc")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &kit_target)
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("LM_LICENSE_FILE")
        .env_remove("LM_PUBLIC_KEY_PATH")
        .output()
        .expect("sh");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the walk-through failed:\n{said}");
    assert!(
        said.contains("Checkout succeeded: cad 2.0"),
        "the application got its license:\n{said}"
    );
    // The kit never holds the private license key.
    let private = std::fs::read_to_string(dir.join("acme.key")).unwrap();
    let kit_lib = std::fs::read_to_string(dir.join("acme-kit/src/lib.rs")).unwrap();
    assert!(!kit_lib.contains(private.trim()));
    assert!(!dir.join("acme-kit/keys/acme.key").exists());
}
