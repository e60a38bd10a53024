//! The accounting core stays pure: nothing in its dependency tree does
//! socket or file I/O of its own (mio, redb), calls the C library (libc)
//! or reads randomness (getrandom), so the clock and the sockets can only
//! come in as arguments from the daemons that drive it. And the daemons stay apart:
//! lmgrd shares the core and the host's view with vendord through crates
//! of their own, never through the vendor daemon's crate.

use std::process::Command;

/// `cargo tree` for `package`'s normal (non-dev) dependencies, one crate
/// name a line, `depth` levels deep (`None`: all).
fn tree_of(package: &str, depth: Option<u32>) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "tree",
        "--offline",
        "-p",
        package,
        "-e",
        // Procedural macros run in the compiler, not in the daemon: what
        // they depend on is not in the built crate.
        "normal,no-proc-macro",
        "--prefix",
        "none",
    ])
    .args(["--format", "{p}"])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(d) = depth {
        cmd.args(["--depth", &d.to_string()]);
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// [`tree_of`] this crate.
fn tree(depth: Option<u32>) -> Vec<String> {
    tree_of("accounting", depth)
}

#[test]
fn lmgrd_does_not_depend_on_the_vendor_daemon() {
    let all = tree_of("lmgrd", None);
    assert!(
        all.iter().any(|c| c == "accounting"),
        "the tree was read: {all:?}"
    );
    assert!(
        !all.iter().any(|c| c == "vendord"),
        "vendord is in lmgrd's tree: {all:?}"
    );
}

#[test]
fn no_event_loop_or_database_anywhere_below() {
    let all = tree(None);
    assert!(
        all.iter().any(|c| c == "grammar"),
        "the tree was read: {all:?}"
    );
    for banned in [
        "mio",
        "redb",
        "signal-hook",
        "signal-hook-mio",
        "libc",
        "getrandom",
    ] {
        assert!(
            !all.iter().any(|c| c == banned),
            "{banned} is in accounting's tree: {all:?}"
        );
    }
}

#[test]
fn no_direct_os_dependencies() {
    let direct = tree(Some(1));
    assert_eq!(direct.first().map(String::as_str), Some("accounting"));
    for banned in ["libc", "mio", "redb", "log"] {
        assert!(
            !direct.iter().any(|c| c == banned),
            "accounting depends on {banned}: {direct:?}"
        );
    }
    // It is built on the workspace's own sans-I/O crates.
    for own in ["grammar", "wire", "reportlog"] {
        assert!(
            direct.iter().any(|c| c == own),
            "{own} missing from {direct:?}"
        );
    }
}
