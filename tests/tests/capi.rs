//! The C library as a publisher uses it: installed with its header and
//! pkg-config file, the example and test programs compiled with the
//! system C compiler, run against a real lmgrd.

use e2e::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Installs the library built for these tests under `dir/prefix` with the
/// install script, as a publisher would.
fn install(dir: &Path) -> PathBuf {
    let prefix = dir.join("prefix");
    let status = Command::new("bash")
        .arg(repo().join("scripts/install-capi.sh"))
        .arg(&prefix)
        .arg(bin_dir())
        .stdout(Stdio::null())
        .status()
        .expect("run install-capi.sh");
    assert!(status.success(), "install-capi.sh failed");
    prefix
}

/// `pkg-config --cflags --libs lmclient` against the installed copy.
fn pkg_config(prefix: &Path) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "--libs", "lmclient"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .output()
        .expect("pkg-config (install pkgconf)");
    assert!(
        out.status.success(),
        "pkg-config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Compiles `source` against the installed header and shared library.
fn compile(prefix: &Path, source: &Path, defines: &[&str]) -> Result<PathBuf, String> {
    let exe = prefix.join(source.file_stem().expect("name"));
    let out = Command::new("cc")
        .args(["-std=c99", "-D_DEFAULT_SOURCE", "-Wall", "-Werror", "-g"])
        .args(defines)
        .arg(source)
        .args(pkg_config(prefix))
        .arg(format!("-Wl,-rpath,{}", prefix.join("lib").display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run cc");
    if out.status.success() {
        Ok(exe)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn demo_program(prefix: &Path, source: &str) -> PathBuf {
    compile(prefix, &repo().join(source), &["-DLM_DEMO_VENDOR"])
        .unwrap_or_else(|e| panic!("compile {source}: {e}"))
}

/// The environment of a licensed program: the server, and nothing of
/// this machine's user (borrow records, .flexlmrc).
fn licensed(cmd: &mut Command, server: &Server, home: &Path) {
    cmd.env("LM_LICENSE_FILE", server.at())
        .env("HOME", home)
        .env_remove("LM_BORROW")
        .env_remove("DEMO_LICENSE_FILE");
}

/// A test program driven through its standard input, one line per command.
struct Driven {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Driven {
    fn start(mut cmd: Command) -> Driven {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start test program");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut d = Driven {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        };
        d.wait_for(|l| l == "ready");
        d
    }

    /// The next line that `want` accepts, within [`WAIT`].
    fn wait_for(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if want(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("no expected line; the program said: {:#?}", self.seen),
            }
        }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("write to the program");
    }

    /// Sends `cmd` and returns its answer (callback lines are skipped).
    fn ask(&mut self, cmd: &str) -> String {
        self.send(cmd);
        self.wait_for(|l| !l.starts_with("callback "))
    }

    /// Asks `cmd` until its answer is `want`, within [`WAIT`].
    fn ask_until(&mut self, cmd: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let answer = self.ask(cmd);
            if want(&answer) {
                return answer;
            }
            assert!(Instant::now() < deadline, "`{cmd}` kept answering {answer}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn quit(mut self) {
        self.send("quit");
        self.wait_for(|l| l == "bye");
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "{status}");
    }
}

fn driven(exe: &Path, server: &Server, home: &Path) -> Driven {
    let mut cmd = Command::new(exe);
    licensed(&mut cmd, server, home);
    Driven::start(cmd)
}

/// The demo publisher's job, to hold seats while a C program asks.
fn rust_job(server: &Server) -> client::Job {
    client::Job::with_config(
        &client::Publisher::demo(),
        client::JobConfig {
            license_path: Some(server.at()),
            lm_borrow: Some(String::new()),
            ..client::JobConfig::default()
        },
    )
}

#[test]
fn without_a_key_the_header_says_what_to_do_and_with_one_it_builds() {
    let dir = tempdir("capi-key");
    let prefix = install(&dir);
    let err = compile(&prefix, &repo().join("examples/c/lmdemo.c"), &[])
        .expect_err("no key must not compile");
    assert!(err.contains("no publisher key"), "{err}");
    assert!(
        err.contains("lmcrypt -kit") && err.contains("LM_DEMO_VENDOR"),
        "{err}"
    );
    // A publisher's generated key header (here with the demo key).
    let key = dir.join("lm_vendor_key.h");
    let pem = grammar::publisher::DEMO_PUBLIC_KEYS
        .lines()
        .map(|l| format!("\"{l}\\n\""))
        .collect::<Vec<_>>()
        .join(" \\\n");
    std::fs::write(
        &key,
        format!("#define LM_VENDOR_NAME \"demo\"\n#define LM_VENDOR_PUBLIC_KEY {pem}\n"),
    )
    .expect("write key header");
    let include = format!("-include{}", key.display());
    compile(&prefix, &repo().join("examples/c/lmdemo.c"), &[&include]).expect("compiles");
}

#[test]
fn c_example_holds_through_a_vendor_daemon_kill_and_prints_a_denial() {
    let server = Server::demo("capi-example");
    let prefix = install(&server.dir);
    let exe = demo_program(&prefix, "examples/c/lmdemo.c");
    let mut cmd = Command::new(&exe);
    cmd.args(["f1", "0"]);
    licensed(&mut cmd, &server, &server.dir);
    let mut cmd_stdin = cmd;
    cmd_stdin.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd_stdin.spawn().expect("start lmdemo");
    let mut stdin = child.stdin.take().expect("stdin");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen = Vec::new();
    let mut wait = |want: &str| {
        let deadline = Instant::now() + WAIT;
        while let Ok(l) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            seen.push(l.clone());
            if l.starts_with(want) {
                return;
            }
        }
        panic!("no `{want}`; lmdemo said {seen:#?}");
    };
    wait("checked out f1 1.0, expires in 2147483647 days");
    wait("NOTICE: Demo license: not for production use");
    wait("holding f1");
    let old = server.vendord_pid();
    unsafe { libc::kill(old, libc::SIGKILL) };
    wait("reconnecting f1: attempt 1");
    wait("reconnected f1");
    assert_ne!(server.vendord_pid(), old);
    // The callback may run before the new daemon has counted the seat the
    // job asked back for; it must come to exactly one.
    wait_until(WAIT, "one seat after the reconnect", || {
        in_use(server.vendord_addr(), "f1") == 1
    });
    writeln!(stdin,).expect("press Enter");
    wait("checked in f1");
    assert!(child.wait().expect("wait").success());
    wait_until(WAIT, "f1 back", || in_use(server.vendord_addr(), "f1") == 0);

    // A denial: FLEXlm's message, and status 1.
    let job = rust_job(&server);
    let _held = job.checkout("f1", "1.0", 4).expect("every f1 seat");
    let mut cmd = Command::new(&exe);
    cmd.args(["f1", "1"]);
    licensed(&mut cmd, &server, &server.dir);
    let out = cmd.output().expect("run lmdemo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("checkout failed: Licensed number of users already reached."),
        "{stderr}"
    );
    assert!(stderr.contains("FlexNet Licensing error:-4,"), "{stderr}");
}

#[test]
fn simple_api_denies_warns_queues_and_checks_in() {
    let server = Server::demo("capi-simple");
    let prefix = install(&server.dir);
    let exe = demo_program(&prefix, "tests/c/simple.c");
    // f1, not f2: f2's DUP_GROUP=UH lets one user on one host share a seat.
    let mut holder = driven(&exe, &server, &server.dir);
    assert_eq!(holder.ask("checkout restrictive f1 4"), "status 0");
    assert_eq!(in_use(server.vendord_addr(), "f1"), 4);

    let mut other = driven(&exe, &server, &server.dir);
    assert_eq!(other.ask("checkout restrictive f1 1"), "status -4");
    let text = other.ask("errstring");
    assert!(
        text.starts_with(
            "text Licensed number of users already reached. | FlexNet Licensing error:-4,"
        ),
        "{text}"
    );
    assert_eq!(other.ask("checkin"), "checked in");
    // LENIENT still reports "all in use"; FAILSAFE turns it into a warning.
    assert_eq!(other.ask("checkout lenient f1 1"), "status -4");
    assert_eq!(other.ask("checkin"), "checked in");
    assert_eq!(other.ask("checkout failsafe f1 1"), "status 0");
    assert_eq!(
        other.ask("warning"),
        "warning Licensed number of users already reached."
    );
    assert_eq!(other.ask("checkin"), "checked in");

    // LM_QUEUE blocks until a seat frees.
    other.send("checkout queue f1 1");
    server.wait_log(WAIT, "QUEUED: \"f1\"");
    assert_eq!(holder.ask("checkin"), "checked in");
    assert_eq!(other.wait_for(|l| l.starts_with("status")), "status 0");
    assert_eq!(in_use(server.vendord_addr(), "f1"), 1);
    assert_eq!(other.ask("heartbeat"), "heartbeat 0 0");
    assert_eq!(other.ask("checkin"), "checked in");
    wait_until(WAIT, "f1 free", || in_use(server.vendord_addr(), "f1") == 0);

    // The Trivial API macros.
    assert_eq!(other.ask("trivial f1"), "trivial 0 -");
    assert_eq!(other.ask("trivial nosuch"), "trivial -5 text");
    holder.quit();
    other.quit();
}

#[test]
fn flexible_api_queue_reconnect_callback_terms_and_checkin() {
    let server = Server::demo("capi-flexible");
    let prefix = install(&server.dir);
    let exe = demo_program(&prefix, "tests/c/flexible.c");
    let mut c = driven(&exe, &server, &server.dir);
    assert_eq!(c.ask("attr retry_interval 1"), "status 0");
    assert_eq!(c.ask("checkout f1 1 nowait"), "status 0");
    assert_eq!(
        c.ask("terms f1"),
        "terms vendor_string=- notice=Demo license: not for production use days=2147483647"
    );

    // Denial, then queue and grant (f1: f2's DUP_GROUP=UH would let one
    // user on one host share a seat).
    assert_eq!(c.ask("checkin f1"), "status 0");
    let job = rust_job(&server);
    let held = job.checkout("f1", "1.0", 4).expect("every f1 seat");
    assert_eq!(c.ask("checkout f1 1 nowait"), "status -4");
    let text = c.ask("errstring");
    assert!(
        text.starts_with(
            "errno -4 text Licensed number of users already reached. | FlexNet Licensing error:-4,"
        ),
        "{text}"
    );
    assert_eq!(c.ask("checkout f1 1 queue"), "status -35");
    assert_eq!(c.ask("status f1"), "status -35");
    job.checkin(&held).expect("checkin");
    c.ask_until("status f1", |a| a == "status 0");
    assert_eq!(in_use(server.vendord_addr(), "f1"), 1);
    assert_eq!(c.ask("checkout f2 1 nowait"), "status 0");

    // The vendor daemon is killed: lmgrd restarts it, the job reconnects.
    let old = server.vendord_pid();
    unsafe { libc::kill(old, libc::SIGKILL) };
    c.wait_for(|l| l == "callback reconnect f1 1" || l == "callback reconnect f2 1");
    c.wait_for(|l| l.starts_with("callback done"));
    assert_eq!(c.ask("status f1"), "status 0");
    assert_eq!(c.ask("status f2"), "status 0");
    assert_eq!(in_use(server.vendord_addr(), "f1"), 1);
    let beat = c.ask("heartbeat");
    assert_eq!(
        beat, "heartbeat 0 1",
        "reachable, one reconnect in 10 minutes"
    );

    assert_eq!(c.ask("checkin f1"), "status 0");
    assert_eq!(c.ask("status f1"), "status -41");
    assert_eq!(c.ask("checkin all"), "status 0");
    wait_until(WAIT, "all back", || {
        in_use(server.vendord_addr(), "f1") + in_use(server.vendord_addr(), "f2") == 0
    });
    c.quit();
}

#[test]
fn a_grace_period_keeps_the_license_while_the_server_is_cut_off() {
    let mut server = Server::demo("capi-grace");
    let (license, port) = (server.license.clone(), server.port);
    let prefix = install(&server.dir);
    let exe = demo_program(&prefix, "tests/c/flexible.c");
    let mut c = driven(&exe, &server, &server.dir);
    assert_eq!(c.ask("attr grace 3600"), "status 0");
    assert_eq!(c.ask("attr retry_interval 1"), "status 0");
    assert_eq!(c.ask("checkout f1 1 nowait"), "status 0");

    server.stop(WAIT);
    c.ask_until("heartbeat", |a| {
        a != "heartbeat 0 0" && a.starts_with("heartbeat")
    });
    // Past the retry count, still held, and the job says until when.
    c.ask_until("heartbeat", |a| {
        a.split(' ').nth(1).and_then(|n| n.parse::<u32>().ok()) >= Some(2)
    });
    assert_eq!(c.ask("status f1"), "status 0");
    let warning = c.ask("warning");
    assert!(warning.starts_with("warning in grace until "), "{warning}");
    assert_eq!(
        c.ask("checkout f2 1 nowait")
            .split(' ')
            .nth(1)
            .map(|s| s != "0"),
        Some(true),
        "no new checkout without a server"
    );

    // The server returns: the seat is back.
    let server = Server::start(&license, port, &[]);
    c.ask_until("heartbeat", |a| a == "heartbeat 0 1");
    assert_eq!(c.ask("status f1"), "status 0");
    assert_eq!(c.ask("warning"), "warning -");
    assert_eq!(in_use(server.vendord_addr(), "f1"), 1);
    c.quit();
}

/// The valgrind summary lines that must say no leak.
fn leak_free(report: &str) -> bool {
    report.contains("definitely lost: 0 bytes") || report.contains("All heap blocks were freed")
}

#[test]
fn checkout_and_checkin_cycles_leak_nothing_under_valgrind() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is needed for the leak check in CI (.ci/run installs it)"
        );
        eprintln!("valgrind is not installed: leak check skipped");
        return;
    }
    let server = Server::demo("capi-leak");
    let prefix = install(&server.dir);
    for (source, script) in [
        (
            "tests/c/flexible.c",
            "checkout f2 1 nowait\ncycle 20 f1\ncheckin all\nquit\n",
        ),
        ("tests/c/simple.c", "cycle 20 f1\ntrivial f1\nquit\n"),
    ] {
        let exe = demo_program(&prefix, source);
        let mut cmd = Command::new("valgrind");
        cmd.args([
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99",
        ])
        .arg(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        licensed(&mut cmd, &server, &server.dir);
        let mut child = cmd.spawn().expect("valgrind");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("script");
        let out = child.wait_with_output().expect("valgrind ran");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.contains("cycled 20 failed 0"),
            "{source}: {stdout}\n{report}"
        );
        assert!(out.status.success(), "{source}: valgrind says\n{report}");
        assert!(leak_free(&report), "{source}: {report}");
    }
}
