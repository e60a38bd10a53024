//! Who may ask lmgrd and the vendor daemons for admin requests, against
//! real processes: under `-2 -p` a TCP request carries no user (whatever
//! the peer's socket looks like, so the TIME_WAIT trick against the old
//! `/proc/net/tcp` lookup has nothing to find), the local admin socket
//! tells the kernel's, and an admin token proves itself without being
//! sent. Also `-x lmdown` at the vendor daemon's own port, and lmswitch
//! kept inside the log directory.

use e2e::*;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use wire::{admin_op, lmerr, AdminRequest, Message};

const WAIT: Duration = Duration::from_secs(20);

fn is_root() -> bool {
    // SAFETY: geteuid has no memory effects.
    unsafe { libc::geteuid() == 0 }
}

/// lmgrd on demo.lic with `extra` flags, its state directory open to
/// every user (mode 0755) so that `nobody` can reach the admin sockets
/// (connecting is allowed to all; the kernel's answer decides).
fn start(tag: &str, extra: &[&str]) -> Server {
    let dir = tempdir(tag);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    Server::start(&license_with_port("demo.lic", &dir, port), port, extra)
}

fn vendord(server: &Server) -> SocketAddr {
    SocketAddr::from((
        [127, 0, 0, 1],
        Peer::vendor_port(server.lmgrd_addr(), "demo").unwrap(),
    ))
}

/// A raw admin request over TCP, as any local user's program can send.
fn raw(addr: SocketAddr, req: AdminRequest) -> wire::AdminReply {
    let mut p = Peer::hello(addr, "root", 0);
    match p.request(&Message::Admin(req)) {
        Message::AdminReply(r) => r,
        other => panic!("{other:?}"),
    }
}

fn request(op: u8) -> AdminRequest {
    AdminRequest {
        op,
        vendor: "demo".into(),
        ..AdminRequest::default()
    }
}

/// `lmutil args`, as root from the build directory, or as `nobody` from a
/// copy in a fresh directory it can enter (the checkout may be in one it
/// cannot).
fn lmutil(args: &[&str], as_nobody: bool, env: &[(&str, &Path)]) -> (Output, String) {
    let scratch = as_nobody.then(|| {
        let dir = e2e::unit::scratch_root("identity");
        e2e::unit::copy_binaries(&["lmutil"], &dir);
        dir
    });
    let program = scratch
        .as_ref()
        .map_or_else(|| bin("lmutil"), |d| d.join("lmutil"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("LM_LICENSE_FILE")
        .env_remove("LM_ADMIN_TOKEN_FILE")
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())));
    if let Some(dir) = &scratch {
        cmd.current_dir(dir).uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out, text)
}

fn at(server: &Server) -> String {
    format!("{}@localhost", server.port)
}

#[test]
fn two_p_refuses_every_unauthenticated_tcp_admin_request_and_serves_on() {
    let server = start("id-tcp", &["-2", "-p"]);
    let vendord = vendord(&server);
    let mut holder = Peer::hello(vendord, "holder", 1);
    let handle = holder.checkout_handle(1, "f1", 1).unwrap();
    let outside = server.dir.join("switched.log");
    let cases: Vec<(SocketAddr, AdminRequest)> = vec![
        (server.lmgrd_addr(), request(admin_op::SHUTDOWN)),
        (
            server.lmgrd_addr(),
            AdminRequest {
                vendor: String::new(),
                ..request(admin_op::SHUTDOWN)
            },
        ),
        (server.lmgrd_addr(), request(admin_op::REREAD)),
        (
            vendord,
            AdminRequest {
                feature: "f1".into(),
                user: "holder".into(),
                host: "e2e-host".into(),
                ..request(admin_op::REMOVE_USER)
            },
        ),
        (
            vendord,
            AdminRequest {
                handle,
                ..request(admin_op::REMOVE_HANDLE)
            },
        ),
        (
            vendord,
            AdminRequest {
                path: "switched.log".into(),
                ..request(admin_op::SWITCH_LOG)
            },
        ),
        (
            vendord,
            AdminRequest {
                path: outside.display().to_string(),
                ..request(admin_op::SWITCH_LOG)
            },
        ),
        (vendord, request(admin_op::SWITCH_REPORT_LOG)),
        (vendord, request(admin_op::NEW_REPORT_LOG)),
        (vendord, request(admin_op::SHUTDOWN)),
    ];
    for (addr, req) in cases {
        let op = req.op;
        let reply = raw(addr, req);
        assert_eq!(
            reply.code,
            lmerr::LM_NOTLICADMIN,
            "op {op} at {addr}: {reply:?}"
        );
        assert!(
            reply
                .text
                .contains("run the tool on the license server machine"),
            "{reply:?}"
        );
        // Meanwhile a client checks out and returns, as ever.
        let mut client = Peer::hello(vendord, "meanwhile", 50 + u64::from(op));
        let h = client.checkout_handle(1, "f1", 1).unwrap();
        assert!(matches!(
            client.request(&Message::Checkin(wire::Checkin { req: 2, handle: h })),
            Message::CheckedIn(_)
        ));
    }
    // An AdminFor over TCP with no challenge and no token is no better.
    let mut p = Peer::hello(server.lmgrd_addr(), "root", 0);
    match p.request(&Message::AdminFor(wire::AdminFor {
        port: server.port,
        request: request(admin_op::SHUTDOWN),
        ..wire::AdminFor::default()
    })) {
        Message::AdminReply(r) => assert_eq!(r.code, lmerr::LM_NOTLICADMIN, "{r:?}"),
        other => panic!("{other:?}"),
    }
    // Nothing changed.
    assert_eq!(in_use(vendord, "f1"), 1, "the holder keeps its seat");
    assert!(matches!(
        holder.request(&Message::Heartbeat(wire::Heartbeat::default())),
        Message::HeartbeatAck(_)
    ));
    assert!(!outside.exists() && !server.state_dir.join("switched.log").exists());
    let log = server.log_text();
    assert!(!log.contains("Rereading"), "no reread happened");
    assert!(log.contains("refused"), "refusals are logged");
    assert!(Peer::vendor_port(server.lmgrd_addr(), "demo").is_ok());
}

#[test]
fn through_the_admin_socket_root_may_and_nobody_may_not() {
    let mut server = start("id-socket", &["-2", "-p"]);
    let vendord = vendord(&server);
    assert!(server
        .state_dir
        .join(format!("lmgrd-{}.sock", server.port))
        .exists());
    assert!(server
        .state_dir
        .join(format!("demo-{}.sock", vendord.port()))
        .exists());
    let mut holder = Peer::hello(vendord, "holder", 1);
    let handle = holder.checkout_handle(1, "f1", 1).unwrap();
    let port = server.port.to_string();
    let handle_text = handle.to_string();
    let c = at(&server);
    let remove: Vec<&str> = vec!["lmremove", "-h", "f1", "localhost", &port, &handle_text];
    if is_root() {
        // nobody reaches the sockets, and the kernel says who it is.
        for args in [
            vec!["lmreread", "-c", &c],
            vec!["lmdown", "-q", "-c", &c],
            vec!["lmswitch", "-c", &c, "demo", "nobody.log"],
            remove.clone(),
        ] {
            let (out, text) = lmutil(&args, true, &[]);
            assert_ne!(out.status.code(), Some(0), "{args:?}: {text}");
            assert!(
                text.contains("uid 65534 is neither root nor in group lmadmin"),
                "{args:?} went through the admin socket: {text}"
            );
        }
        assert!(!server.state_dir.join("nobody.log").exists());
        assert_eq!(in_use(vendord, "f1"), 1);
    } else {
        eprintln!("the `nobody` part is skipped: it needs root");
    }
    // root (or whoever runs the test, on its own socket) may.
    let (out, text) = lmutil(&["lmreread", "-c", &c], false, &[]);
    assert!(out.status.success(), "{text}");
    server.wait_log(WAIT, "(demo) Rereading");
    let (out, text) = lmutil(&["lmswitch", "-c", &c, "demo", "root.log"], false, &[]);
    assert!(out.status.success(), "{text}");
    wait_until(WAIT, "the switched log", || {
        std::fs::read_to_string(server.state_dir.join("root.log"))
            .is_ok_and(|t| t.contains("Debug log switched here by lmswitch"))
    });
    let (out, text) = lmutil(&remove, false, &[]);
    assert!(out.status.success(), "{text}");
    wait_until(WAIT, "the seat removed", || in_use(vendord, "f1") == 0);
    let (out, text) = lmutil(&["lmdown", "-q", "-c", &c], false, &[]);
    assert!(out.status.success(), "{text}");
    assert_eq!(server.wait_exit(WAIT), Some(0));
    assert!(
        !server
            .state_dir
            .join(format!("lmgrd-{}.sock", server.port))
            .exists(),
        "the socket is removed at exit"
    );
}

#[test]
fn a_raw_shutdown_at_the_vendor_daemon_port_obeys_x_lmdown() {
    let server = start("id-xlmdown", &["-x", "lmdown"]);
    let vendord = vendord(&server);
    let pid = server.vendord_pid();
    for force in [false, true] {
        let reply = raw(
            vendord,
            AdminRequest {
                force,
                ..request(admin_op::SHUTDOWN)
            },
        );
        assert_eq!(reply.code, lmerr::LM_NOTLICADMIN, "{reply:?}");
        assert!(reply.text.contains("-x lmdown"), "{reply:?}");
    }
    // Not even root through the admin socket: -x lmdown is for everyone.
    let (out, text) = lmutil(
        &["lmdown", "-q", "-vendor", "demo", "-c", &at(&server)],
        false,
        &[],
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    // The refusal came back before anything could stop: it still runs
    // and still serves.
    assert!(alive(pid), "vendord still runs");
    let mut client = Peer::hello(vendord, "after", 7);
    assert!(client.checkout_handle(1, "f1", 1).is_ok());
}

#[test]
fn lmswitch_writes_only_inside_the_log_directory() {
    let server = start("id-switch", &[]);
    let vendord = vendord(&server);
    let victim = server.dir.join("victim");
    std::fs::write(&victim, "keep\n").unwrap();
    std::os::unix::fs::symlink(&victim, server.state_dir.join("link.log")).unwrap();
    std::os::unix::fs::symlink(
        server.dir.join("created-through-link"),
        server.state_dir.join("dangling.log"),
    )
    .unwrap();
    let outside = server.dir.join("outside.log");
    for (path, why) in [
        (outside.display().to_string(), "outside the log directory"),
        ("/etc/cron.d/lm".to_string(), "outside the log directory"),
        ("../escape.log".to_string(), ".."),
        (
            format!("{}/../escape.log", server.state_dir.display()),
            "..",
        ),
        ("link.log".to_string(), "exists already"),
        ("dangling.log".to_string(), "exists already"),
        (
            server.state_dir.join("link.log").display().to_string(),
            "exists already",
        ),
    ] {
        let reply = raw(
            vendord,
            AdminRequest {
                path: path.clone(),
                ..request(admin_op::SWITCH_LOG)
            },
        );
        assert_ne!(reply.code, 0, "{path}: {reply:?}");
        assert!(reply.text.contains(why), "{path}: {reply:?}");
    }
    assert!(!outside.exists());
    assert!(!server.dir.join("escape.log").exists());
    assert!(!server.dir.join("created-through-link").exists());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep\n");
    // The daemon logs on where it did.
    let mut client = Peer::hello(vendord, "still-here", 3);
    assert!(client.checkout_handle(1, "f1", 1).is_ok());
    server.wait_log(WAIT, "OUT: \"f1\" still-here@");
    server.wait_log(WAIT, "lmswitch refused");
    // A plain name in the directory is fine, created 0644.
    let reply = raw(
        vendord,
        AdminRequest {
            path: "fine.log".into(),
            ..request(admin_op::SWITCH_LOG)
        },
    );
    assert_eq!(reply.code, 0, "{reply:?}");
    let mode = std::fs::metadata(server.state_dir.join("fine.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o133,
        0,
        "{mode:o}: not executable, not writable by others"
    );
}

fn token_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

#[test]
fn an_admin_token_proves_itself_without_crossing_the_wire() {
    let server = start("id-token", &["-2", "-p"]);
    let state = server.state_dir.display().to_string();
    let (out, text) = lmutil(
        &["lmpasswd", "-state-dir", &state, "-admin-token", "ops"],
        false,
        &[],
    );
    assert!(out.status.success(), "{text}");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(token.starts_with("lma.ops."), "{token}");
    let (_, listed) = lmutil(&["lmpasswd", "-state-dir", &state, "-list"], false, &[]);
    assert!(listed.contains("ops (admin token)"), "{listed}");
    let scratch = e2e::unit::scratch_root("tokens");
    let good = token_file(&scratch, "good", &token);
    // The same name with another key.
    let forged = token_file(&scratch, "forged", &format!("lma.ops.{}", "ab".repeat(32)));
    let c = at(&server);
    // A wrong token is refused, even for root on this machine: the token,
    // when given, is what the tool uses.
    let (out, text) = lmutil(
        &["lmreread", "-c", &c],
        false,
        &[("LM_ADMIN_TOKEN_FILE", &forged)],
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Not a license administrator"), "{text}");
    assert!(
        text.contains("admin token \"ops\" was not accepted"),
        "{text}"
    );
    // The right one works, for anyone holding it (nobody here, whose own
    // user would be refused).
    let (out, text) = lmutil(
        &["lmreread", "-c", &c, "-token-file", good.to_str().unwrap()],
        is_root(),
        &[],
    );
    assert!(out.status.success(), "{text}");
    server.wait_log(WAIT, "(demo) Rereading");
    // The token is not in anything the server received or logged.
    let secret = token.rsplit('.').next().unwrap();
    assert!(!server.log_text().contains(secret));
    // Revoked, it no longer works.
    let (out, _) = lmutil(
        &[
            "lmpasswd",
            "-state-dir",
            &state,
            "-revoke-admin-token",
            "ops",
        ],
        false,
        &[],
    );
    assert!(out.status.success());
    let (out, text) = lmutil(
        &["lmreread", "-c", &c],
        false,
        &[("LM_ADMIN_TOKEN_FILE", &good)],
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    let _ = std::fs::remove_dir_all(scratch);
}
