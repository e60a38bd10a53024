//! lmgrd's HTTP(S) endpoint end to end: the status document against
//! `lmstat -a` and `lmstat -json`, metrics through a Prometheus text
//! parser, health when the vendor daemon dies and comes back, admin with
//! a password and a token (refusals, lockout per source, lmremove logged
//! with its actor), HTTPS with a self-signed certificate, and the
//! dashboard in headless Chromium.

use e2e::http::{exchange, get, json, request};
use e2e::{bin, free_port, license_with_port, tempdir, wait_until, Peer, Server};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// lmgrd on demo.lic with `-http` on a free loopback port.
fn start(tag: &str, extra: &[&str]) -> (Server, SocketAddr) {
    start_with_options(tag, None, extra)
}

/// [`start`], with an options file for the demo vendor when `options` is given.
fn start_with_options(tag: &str, options: Option<&str>, extra: &[&str]) -> (Server, SocketAddr) {
    let dir = tempdir(tag);
    let port = free_port();
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let lic = match options {
        Some(o) => e2e::license_with_options("demo.lic", &dir, port, o),
        None => license_with_port("demo.lic", &dir, port),
    };
    let listen = http.to_string();
    let mut args = vec!["-http", listen.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start(&lic, port, &args);
    wait_until(Duration::from_secs(20), "the HTTP endpoint", || {
        TcpStream::connect(http).is_ok()
    });
    (server, http)
}

fn lmutil(args: &[&str]) -> String {
    let out = Command::new(bin("lmutil"))
        .args(args)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .expect("lmutil runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Holds `count` of f1 as `user`; the peer keeps the seats.
fn hold(s: &Server, user: &str, count: u32) -> Peer {
    let mut p = Peer::hello(s.vendord_addr(), user, 0);
    p.checkout_handle(1, "f1", count).expect("granted");
    p
}

fn feature<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["vendors"][0]["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["name"] == name)
        .expect("the feature")
}

#[test]
fn status_and_metrics_agree_with_lmstat() {
    let dir = tempdir("web-status");
    let port = free_port();
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let options = "GROUP eng ann bob\nRESERVE 1 f1 GROUP eng\nRESERVE 1 f1 HOST farhost\n";
    let lic = e2e::license_with_options("demo.lic", &dir, port, options);
    let listen = http.to_string();
    let s = Server::start(&lic, port, &["-http", &listen]);
    let _ann = hold(&s, "ann", 2);
    let _bob = hold(&s, "bob", 1);
    // One refusal, for the vendor daemon's counters.
    let mut carl = Peer::hello(s.vendord_addr(), "carl", 0);
    let refused = carl.checkout_handle(1, "f1", 2);
    assert!(refused.is_err(), "{refused:?}");
    let lic = s.license.display().to_string();
    // Wait past the endpoint's cache so the document is of this moment.
    wait_until(Duration::from_secs(10), "three seats in the status", || {
        feature(&json(&get(http, "/api/1.0/status").1), "f1")["in_use"] == 3
    });
    let (code, body) = get(http, "/api/1.0/status");
    assert_eq!(code, 200);
    let doc = json(&body);
    let text = lmutil(&["lmstat", "-a", "-c", &lic]);
    let from_tool = json(lmutil(&["lmstat", "-json", "-c", &lic]).trim());
    assert_eq!(doc["schema"], "lm-status/1");
    let f1 = feature(&doc, "f1");
    assert!(
        text.contains("Users of f1:  (Total of 4 licenses issued;  Total of 3 licenses in use)"),
        "{text}"
    );
    assert_eq!(
        (f1["issued"].as_u64(), f1["in_use"].as_u64()),
        (Some(4), Some(3))
    );
    for h in f1["holders"].as_array().unwrap() {
        let user = h["user"].as_str().unwrap();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{user} ")))
            .unwrap_or_else(|| panic!("{user} not in lmstat -a:\n{text}"));
        assert!(
            line.contains(&format!(" {})", h["handle"])),
            "{line} vs {h}"
        );
        assert!(line.contains(h["host"].as_str().unwrap()), "{line}");
    }
    let mut from_tool = from_tool;
    from_tool["time"] = doc["time"].clone();
    assert_eq!(from_tool, doc, "lmstat -json prints the same document");
    assert_eq!(doc["vendors"][0]["up"], true);
    assert_eq!(doc["role"], "single");

    let (code, metrics) = get(http, "/metrics");
    assert_eq!(code, 200);
    let lines = metrics.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text");
    let value = |name: &str, label: &str, want: &str| {
        scrape
            .samples
            .iter()
            .find(|x| x.metric == name && x.labels.get(label) == Some(want))
            .map(|x| match x.value {
                prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(value("flexlm_feature_issued", "name", "f1"), Some(4.0));
    assert_eq!(value("flexlm_feature_used", "name", "f1"), Some(3.0));
    assert_eq!(value("flexlm_feature_used_users", "user", "ann"), Some(2.0));
    assert_eq!(value("flexlm_vendor_status", "name", "demo"), Some(1.0));
    assert_eq!(value("flexlm_server_status", "master", "true"), Some(1.0));
    assert!(value("flexlm_feature_expiration_seconds", "name", "f1").is_some());
    let used_users = scrape
        .samples
        .iter()
        .find(|x| x.metric == "flexlm_feature_used_users")
        .expect("a used_users sample");
    for label in ["app", "name", "user", "version"] {
        assert!(used_users.labels.get(label).is_some(), "label {label}");
    }
    assert_eq!(value("lm_triad_role", "role", "single"), Some(1.0));
    assert_eq!(
        value("flexlm_feature_reserved_groups", "group", "eng"),
        Some(1.0)
    );
    assert_eq!(
        value("flexlm_feature_reserved_host", "host", "farhost"),
        Some(1.0)
    );
    assert_eq!(f1["reserved"], 2);

    let usage = json(&get(http, "/api/1.0/usage").1);
    assert_eq!(
        usage["vendors"][0]["logged"], false,
        "no REPORTLOG: {usage}"
    );

    // The vendor daemon's own counters: two checkouts granted, one
    // refused, three answered in the latency histogram.
    let demo = |name: &str| {
        scrape
            .samples
            .iter()
            .filter(|x| x.metric == name && x.labels.get("vendor") == Some("demo"))
            .collect::<Vec<_>>()
    };
    let counter = |name: &str| -> f64 {
        demo(name)
            .iter()
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .sum()
    };
    assert_eq!(counter("lm_checkouts_total"), 2.0, "{metrics}");
    assert_eq!(counter("lm_checkout_denials_total"), 1.0, "{metrics}");
    assert_eq!(counter("lm_heartbeat_misses_total"), 0.0, "{metrics}");
    let latency = demo("lm_checkout_duration_seconds");
    let prometheus_parse::Value::Histogram(buckets) = &latency[0].value else {
        panic!("a histogram: {metrics}");
    };
    let all = buckets
        .iter()
        .find(|b| b.less_than.is_infinite())
        .expect("a +Inf bucket");
    assert_eq!(all.count, 3.0, "every answered checkout: {metrics}");
}

#[test]
fn daily_use_comes_from_the_report_log() {
    let (s, http) = start_with_options("web-usage", Some("REPORTLOG +usage.rl\n"), &[]);
    s.wait_log(Duration::from_secs(20), "Report log:");
    let _ann = hold(&s, "ann", 3);
    let _bob = hold(&s, "bob", 1);
    let mut carl = Peer::hello(s.vendord_addr(), "carl", 0);
    assert!(carl.checkout_handle(1, "f1", 1).is_err());
    let (code, body) = get(http, "/api/1.0/usage");
    assert_eq!(code, 200);
    let doc = json(&body);
    let demo = &doc["vendors"][0];
    assert_eq!(
        (demo["name"].as_str(), demo["logged"].as_bool()),
        (Some("demo"), Some(true)),
        "{doc}"
    );
    let f1 = demo["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "f1")
        .unwrap_or_else(|| panic!("f1 in {doc}"));
    let today = f1["days"]
        .as_array()
        .unwrap()
        .last()
        .expect("today")
        .clone();
    assert_eq!(
        (
            today["peak"].as_u64(),
            today["checkouts"].as_u64(),
            today["denied"].as_u64()
        ),
        (Some(4), Some(2), Some(1)),
        "{doc}"
    );
}

#[test]
fn health_follows_the_vendor_daemon() {
    // The vendor daemon's program is a copy this test can swap for one
    // that fails, so the daemon stays down until the test puts it back.
    let dir = tempdir("web-health");
    let port = free_port();
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let program = dir.join("vendord");
    std::fs::copy(bin("vendord"), &program).unwrap();
    let lic = license_with_port("demo.lic", &dir, port);
    let text = std::fs::read_to_string(&lic)
        .unwrap()
        .replace("VENDOR demo", &format!("VENDOR demo {}", program.display()));
    std::fs::write(&lic, text).unwrap();
    let listen = http.to_string();
    let s = Server::start(&lic, port, &["-http", &listen]);
    wait_until(Duration::from_secs(20), "health 200", || {
        TcpStream::connect(http).is_ok() && get(http, "/api/1.0/health").0 == 200
    });
    let h = json(&get(http, "/api/1.0/health").1);
    assert_eq!(
        (h["status"].as_str(), h["role"].as_str()),
        (Some("ok"), Some("single"))
    );
    assert_eq!(h["vendors"]["up"][0], "demo");

    let failing = dir.join("failing");
    std::fs::write(&failing, "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(
        &failing,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::rename(&program, dir.join("vendord.real")).unwrap();
    std::fs::rename(&failing, &program).unwrap();
    let pid = s.vendord_pid();
    // SAFETY: kill(2) on the vendor daemon this test's lmgrd started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut down = String::new();
    wait_until(Duration::from_secs(10), "health 503", || {
        let (code, body) = get(http, "/api/1.0/health");
        down = body;
        code == 503
    });
    assert!(down.contains("vendor daemon(s) down: demo"), "{down}");
    std::fs::rename(dir.join("vendord.real"), &program).unwrap();
    wait_until(
        Duration::from_secs(40),
        "health 200 after the restart",
        || get(http, "/api/1.0/health").0 == 200,
    );
}

/// `lmutil lmpasswd` with `input` on standard input.
fn lmpasswd(state: &Path, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(bin("lmutil"))
        .arg("lmpasswd")
        .arg("-state-dir")
        .arg(state)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lmpasswd runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn basic(password: &str) -> String {
    use base64ct::{Base64, Encoding};
    format!(
        "Basic {}",
        Base64::encode_string(format!("admin:{password}").as_bytes())
    )
}

#[test]
fn admin_needs_the_password_or_a_token_and_locks_out() {
    let (s, http) = start("web-admin", &[]);
    let remove = r#"{"feature":"f1","user":"ann","host":"e2e-host","display":"/dev/null"}"#;
    let post = |from: &str, auth: Option<&str>| {
        let ip: IpAddr = from.parse().unwrap();
        request(
            http,
            Some(ip),
            "POST",
            "/api/1.0/admin/remove",
            auth,
            remove,
        )
    };
    // No password set: admin is off, whatever is sent.
    let (code, body) = post("127.0.0.1", Some(&basic("anything at all 1")));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("lmpasswd"), "{body}");

    let (ok, out) = lmpasswd(&s.state_dir, &[], "short\n");
    assert!(!ok && out.contains("at least 12"), "{out}");
    let password = "Seat-Keeper-2031";
    assert!(lmpasswd(&s.state_dir, &[], &format!("{password}\n")).0);
    let (ok, token) = lmpasswd(&s.state_dir, &["-token", "ci"], "");
    assert!(ok, "{token}");
    let token = format!("Bearer {}", token.trim());

    let _ann = hold(&s, "ann", 1);
    // Wrong passwords from one address: refused and counted, then locked.
    for n in 1..=5 {
        let (code, _) = post("127.0.0.2", Some(&basic("Wrong-Password-99")));
        assert_eq!(code, 401);
        s.wait_log(
            Duration::from_secs(5),
            &format!("from 127.0.0.2 ({n} of 5)"),
        );
    }
    let (code, body) = post("127.0.0.2", Some(&basic(password)));
    assert_eq!(code, 429, "locked out even with the right password: {body}");
    let (code, _) = post("127.0.0.1", None);
    assert_eq!(code, 401, "no credential");

    // The right password from another address works, and is logged.
    let (code, body) = post("127.0.0.1", Some(&basic(password)));
    assert_eq!(code, 200, "{body}");
    s.wait_log(
        Duration::from_secs(5),
        "HTTP admin: admin (password) from 127.0.0.1: remove",
    );
    wait_until(Duration::from_secs(10), "the seat freed", || {
        e2e::in_use(s.vendord_addr(), "f1") == 0
    });

    // A token works the same, and names itself.
    let _ann = hold(&s, "ann", 1);
    let (code, body) = post("127.0.0.1", Some(&token));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["actor"], "token ci");
    s.wait_log(
        Duration::from_secs(5),
        "HTTP admin: token ci from 127.0.0.1: remove",
    );
    let (code, _) = post("127.0.0.1", Some(&token.replace("lmt.ci.", "lmt.ci.0")));
    assert_eq!(code, 401);
}

#[test]
fn https_with_a_self_signed_certificate() {
    let dir = tempdir("web-https");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_pem, cert.cert.pem()).unwrap();
    std::fs::write(&key_pem, cert.signing_key.serialize_pem()).unwrap();
    let https = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (h, c, k) = (
        https.to_string(),
        cert_pem.display().to_string(),
        key_pem.display().to_string(),
    );
    let plain_port = free_port().to_string();
    let port = free_port();
    let lic = license_with_port("demo.lic", &dir, port);
    let s = Server::start(
        &lic,
        port,
        &["-https", &h, "-cert", &c, "-key", &k, "-http", &plain_port],
    );
    s.wait_log(
        Duration::from_secs(10),
        "plain HTTP answers on 127.0.0.1 only",
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = None;
    wait_until(Duration::from_secs(20), "the HTTPS endpoint", || {
        tls = TcpStream::connect(https).ok();
        tls.is_some()
    });
    let tcp = tls.unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let stream = rustls::StreamOwned::new(conn, tcp);
    let (code, body) = exchange(stream, https, "GET", "/api/1.0/health", None, "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["status"], "ok");
}

/// Chromium, if installed: Debian's `chromium`.
fn chromium() -> Option<std::path::PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.exists())
        })
    })
}

/// A DevTools connection to one page.
struct DevTools {
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
}

impl DevTools {
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next += 1;
        let id = self.next;
        let msg = serde_json::json!({"id": id, "method": method, "params": params});
        self.ws
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.ws.read().expect("a DevTools message");
            if let Ok(text) = m.to_text() {
                let v = json(text);
                if v["id"] == id {
                    return v["result"].clone();
                }
            }
        }
    }

    fn text(&mut self) -> String {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": "document.body.innerText", "returnByValue": true}),
        );
        r["result"]["value"].as_str().unwrap_or("").to_string()
    }
}

#[test]
fn the_dashboard_in_a_browser_follows_checkouts() {
    let Some(chrome) = chromium() else {
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let (s, http) = start_with_options("web-browser", Some("REPORTLOG +dash.rl\n"), &[]);
    let profile = tempdir("web-browser-profile");
    let debug_port = free_port();
    let mut browser = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1100,900",
        ])
        .arg(format!("--remote-debugging-port={debug_port}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("http://{http}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let debug = SocketAddr::from(([127, 0, 0, 1], debug_port));
    let mut ws_url = String::new();
    wait_until(Duration::from_secs(30), "chromium's DevTools", || {
        let Ok(stream) = TcpStream::connect(debug) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let (_, body) = exchange(stream, debug, "GET", "/json/list", None, "");
        let pages: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let page = pages.as_array().and_then(|a| {
            a.iter()
                .find(|p| {
                    p["type"] == "page"
                        && p["url"]
                            .as_str()
                            .is_some_and(|u| u.contains(&http.to_string()))
                })
                .and_then(|p| p["webSocketDebuggerUrl"].as_str())
                .map(str::to_string)
        });
        ws_url = page.unwrap_or_default();
        !ws_url.is_empty()
    });
    let tcp = TcpStream::connect(debug).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (ws, _) = tungstenite::client(ws_url.as_str(), tcp).expect("DevTools websocket");
    let mut page = DevTools { ws, next: 0 };
    wait_until(
        Duration::from_secs(15),
        "the dashboard's first render",
        || page.text().contains("0 of 4 in use"),
    );

    let peer = hold(&s, "carol_dash", 3);
    wait_until(
        Duration::from_secs(6),
        "the checkout on the dashboard",
        || {
            let t = page.text();
            t.contains("carol_dash") && t.contains("3 of 4 in use")
        },
    );
    // The daily use from the report log follows (asked for every 10 s).
    wait_until(
        Duration::from_secs(30),
        "the day's peak from the report log on the dashboard",
        || {
            page.text().contains("Daily use from the report log")
                && page.text().contains(": peak 3")
        },
    );
    let shot = page.call(
        "Page.captureScreenshot",
        serde_json::json!({"format": "png"}),
    );
    let png = {
        use base64ct::{Base64, Encoding};
        Base64::decode_vec(shot["data"].as_str().expect("screenshot data")).unwrap()
    };
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let artifacts = e2e::bin_dir().join("../test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("dashboard.png"), &png).unwrap();

    drop(peer);
    wait_until(
        Duration::from_secs(6),
        "the checkin on the dashboard",
        || {
            let t = page.text();
            !t.contains("carol_dash") && t.contains("0 of 4 in use")
        },
    );
    let _ = browser.kill();
    let _ = browser.wait();
}
