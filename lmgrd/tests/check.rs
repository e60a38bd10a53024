//! Runs the real `lmgrd --check` on the shipped example licenses and on
//! broken files, and reads what it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
}

/// A fixed "today", so expiry does not depend on when the tests run.
const TODAY: &str = "22-nov-2026";

fn lmgrd(args: &[&str]) -> Output {
    lmgrd_with(args, &[])
}

/// `lmgrd args` with `env`; the state directory is a writable one unless
/// `env` names another.
fn lmgrd_with(args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmgrd"))
        .args(args)
        .env_remove("LM_PUBLIC_KEY_PATH")
        .env_remove("LM_LICENSE_FILE")
        .env("LM_STATE_DIR", std::env::temp_dir())
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .expect("lmgrd runs")
}

/// `--check` text of `path` (status, standard output).
fn check_text(path: &Path, env: &[(&str, &Path)]) -> (i32, String) {
    let out = lmgrd_with(
        &["-c", path.to_str().unwrap(), "--check", "--date", TODAY],
        env,
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Examples this machine cannot serve as they are, and why `--check`
/// says so: the SERVER lines name other machines, or name files that are
/// not here.
const NOT_SERVABLE_HERE: [(&str, &str); 4] = [
    ("expired.lic", "no license would be served"),
    (
        "floating.lic",
        "options file \"/etc/flexlm/demo.opt\" cannot be read",
    ),
    (
        "oldformat.lic",
        "its program /opt/demo/bin/demo cannot be used",
    ),
    (
        "triad.lic",
        "none of the three SERVER lines names this machine",
    ),
];

fn check_json(path: &Path) -> (i32, serde_json::Value) {
    let out = lmgrd(&[
        "-c",
        path.to_str().unwrap(),
        "--check",
        "--json",
        "--date",
        TODAY,
    ]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn good_examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "lic"))
        .filter(|p| !p.ends_with("tampered.lic"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_good_example_passes_with_all_signatures_valid() {
    let files = good_examples();
    assert!(files.len() >= 13, "examples missing: {files:?}");
    for path in files {
        let (code, json) = check_json(&path);
        let errors = json["errors"].as_array().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        match NOT_SERVABLE_HERE.iter().find(|(f, _)| *f == name) {
            None => {
                assert_eq!(code, 0, "{}: {json:#}", path.display());
                assert!(errors.is_empty(), "{}", path.display());
            }
            Some((_, why)) => {
                assert_eq!(code, 1, "{}: {json:#}", path.display());
                assert!(
                    errors
                        .iter()
                        .any(|e| e["message"].as_str().unwrap().contains(why)),
                    "{}: {json:#}",
                    path.display()
                );
            }
        }
        let lines = json["lines"].as_array().unwrap();
        assert!(!lines.is_empty(), "{}", path.display());
        for line in lines {
            assert_eq!(line["signature"], "valid", "{}: {line}", path.display());
        }
    }
}

#[test]
fn tampered_example_fails_naming_the_line() {
    let path = examples().join("tampered.lic");
    let out = lmgrd(&["-c", path.to_str().unwrap(), "--check", "--date", TODAY]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tampered.lic:11:2: error:"), "{text}");
    assert!(text.contains("LM_BADCODE (-8)"), "{text}");
    let (code, json) = check_json(&path);
    assert_eq!(code, 1);
    let bad: Vec<&serde_json::Value> = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["signature"] == "invalid")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["feature"], "cad_pro");
    assert_eq!(bad[0]["line"], 8);
    assert_eq!(bad[0]["outcome"], "not_served");
    // The other lines are still served.
    let pools: Vec<&str> = json["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["feature"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["cad_view", "solver"]);
}

#[test]
fn json_has_the_documented_fields() {
    let (_, json) = check_json(&examples().join("floating.lic"));
    assert_eq!(json["servers"][0]["host"], "license-server");
    assert_eq!(json["servers"][0]["hostid"], "ANY");
    assert_eq!(json["servers"][0]["port"], 27000);
    assert_eq!(json["vendors"][0]["name"], "demo");
    assert_eq!(json["vendors"][0]["options"], "/etc/flexlm/demo.opt");
    assert!(json["vendors"][0]["path"].is_null());
    let first = &json["lines"][0];
    for key in [
        "line",
        "kind",
        "feature",
        "vendor",
        "version",
        "expiry",
        "count",
        "hostid",
        "signature",
    ] {
        assert!(first.get(key).is_some(), "lines[0] lacks {key}: {first}");
    }
    assert_eq!(first["kind"], "FEATURE");
    assert_eq!(first["expiry"], "permanent");
    assert_eq!(first["count"], 10);
    let pool = &json["pools"][0];
    for key in ["feature", "vendor", "version", "count", "hostid", "expiry"] {
        assert!(pool.get(key).is_some(), "pools[0] lacks {key}: {pool}");
    }
    assert_eq!(pool["count"], 10);
    assert_eq!(pool["overdraft"], 2);
    // The only error: its options file is not on this machine.
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["line"], 4);
    assert!(errors[0]["message"]
        .as_str()
        .unwrap()
        .contains("/etc/flexlm/demo.opt"));
}

#[test]
fn pools_of_the_worked_examples() {
    let pools = |name: &str| -> Vec<(String, String, u64)> {
        let (_, json) = check_json(&examples().join(name));
        json["pools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["feature"].as_str().unwrap().to_string(),
                    p["version"].as_str().unwrap().to_string(),
                    p["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let mut upgrade = pools("upgrade.lic");
    upgrade.sort();
    assert_eq!(
        upgrade,
        [
            ("f1".into(), "1.000".into(), 3),
            ("f1".into(), "2.000".into(), 2)
        ]
    );
    let mut package = pools("package.lic");
    package.sort();
    assert_eq!(
        package,
        [
            ("apple".into(), "1.5".into(), 6),
            ("comp3".into(), "1.0".into(), 3),
            ("orange".into(), "3.0".into(), 12)
        ]
    );
    let increment = pools("increment.lic");
    assert_eq!(
        increment
            .iter()
            .filter(|p| p.0 == "f1" && p.1 == "1.000")
            .map(|p| p.2)
            .sum::<u64>(),
        9
    );
    assert_eq!(increment.iter().filter(|p| p.0 == "f2").count(), 3);
    let (_, expired) = check_json(&examples().join("expired.lic"));
    assert!(expired["pools"].as_array().unwrap().is_empty());
    let expiry_warnings = expired["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["message"].as_str().unwrap().contains("expired on"))
        .count();
    assert_eq!(expiry_warnings, 2);
}

#[test]
fn expiry_follows_the_date_given() {
    let path = examples().join("floating.lic");
    let out = lmgrd(&[
        "-c",
        path.to_str().unwrap(),
        "--check",
        "--json",
        "--date",
        "1-jan-2100",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Expired lines are warnings, not errors (the one error is the
    // options file, which is not on this machine).
    let errors = json["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .all(|e| e["message"].as_str().unwrap().contains("options file")),
        "{errors:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    let outcomes: Vec<&str> = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["served", "expired", "served"]);
}

#[test]
fn syntax_errors_name_file_line_and_column_and_the_rest_is_used() {
    let dir = tempdir("syntax");
    std::fs::copy(examples().join("demo.pub"), dir.join("demo.pub")).unwrap();
    let good = std::fs::read_to_string(examples().join("demo.lic")).unwrap();
    let broken =
        format!("{good}FEATURE f3 demo 1.0 31-foo-2030 2\nFEATURE f4 demo 1.0 permanent lots\n");
    let path = dir.join("broken.lic");
    std::fs::write(&path, broken).unwrap();
    let out = lmgrd(&["-c", path.to_str().unwrap(), "--check", "--date", TODAY]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let n = good.lines().count();
    assert!(
        text.contains(&format!(
            "broken.lic:{}:21: error: expiry date: `foo` is not a month name",
            n + 1
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("broken.lic:{}:31: error: expected a license count (a number or uncounted), found `lots`", n + 2)),
        "{text}"
    );
    assert!(text.contains("demo f1 v1.0: 4 license(s)"), "{text}");
}

#[test]
fn public_key_is_found_beside_the_file_or_through_the_search_path() {
    let dir = tempdir("keys");
    let path = dir.join("demo.lic");
    // A vendor daemon named on the VENDOR line has its own keys built in:
    // --check can only use the .pub files it finds.
    let text = std::fs::read_to_string(examples().join("demo.lic"))
        .unwrap()
        .replace(
            "VENDOR demo\n",
            &format!("VENDOR demo {}\n", env!("CARGO_BIN_EXE_lmgrd")),
        );
    std::fs::write(&path, text).unwrap();
    let (code, json) = check_json(&path);
    assert_eq!(code, 1, "no key: nothing can be verified");
    assert_eq!(json["lines"][0]["signature"], "unverifiable");
    let messages: Vec<&str> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    // It says where it looked: the license file's directory is the last.
    assert!(
        messages[0].contains("demo.pub not found in ")
            && messages[0].contains(dir.to_str().unwrap()),
        "{messages:?}"
    );
    // The VENDOR line's error says where it looked.
    let dir_text = dir.display().to_string();
    assert!(
        messages.iter().any(|m| m
            .contains("no public key for vendor demo: looked for demo.pub in")
            && m.contains(&dir_text)),
        "{messages:?}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lmgrd"))
        .args(["-c", path.to_str().unwrap(), "--check", "--date", TODAY])
        .env("LM_PUBLIC_KEY_PATH", examples())
        .env("LM_STATE_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn bad_command_lines_get_usage() {
    let out = lmgrd(&["-bogus"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown option `-bogus`") && err.contains("usage: lmgrd"),
        "{err}"
    );
    let out = lmgrd(&["-help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--check"));
    let out = lmgrd(&["-c", "/nonexistent/license.dat", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read license file \"/nonexistent/license.dat\""));
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmgrd-check-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The demo license in `dir` with `edit` applied to its text.
fn demo_with(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let path = dir.join("demo.lic");
    let text = std::fs::read_to_string(examples().join("demo.lic")).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[test]
fn the_shipped_vendor_daemons_own_keys_verify_the_demo_lines() {
    let dir = tempdir("builtin");
    let path = demo_with(&dir, |t| t);
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("VENDOR demo (key: built into "), "{text}");
    assert!(text.contains("0 errors"), "{text}");
}

#[test]
fn a_server_hostid_of_another_machine_is_refused_with_this_machines_ids() {
    let dir = tempdir("hostid");
    let path = demo_with(&dir, |t| {
        t.replace(
            "SERVER this_host ANY 27000",
            "SERVER this_host 0123456789ab 27000",
        )
    });
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("demo.lic:4:1: error: lmgrd would refuse to start"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("LM_NOTTHISHOST"), "{line}");
    assert!(line.contains("this machine's ids are"), "{line}");
    assert!(line.contains("`lmhostid`"), "{line}");
}

#[test]
fn a_vendor_daemon_program_missing_or_not_executable_is_an_error() {
    let dir = tempdir("program");
    let path = demo_with(&dir, |t| {
        t.replace("VENDOR demo\n", "VENDOR demo /nonexistent/demo\n")
    });
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "demo.lic:5:1: error: vendor daemon demo: its program /nonexistent/demo cannot be used"
        ),
        "{text}"
    );
    let plain = dir.join("plain");
    std::fs::write(&plain, "").unwrap();
    let path = demo_with(&dir, |t| {
        t.replace(
            "VENDOR demo\n",
            &format!("VENDOR demo {}\n", plain.display()),
        )
    });
    let (code, text) = check_text(&path, &[("LM_PUBLIC_KEY_PATH", &examples())]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("is not executable"), "{text}");
}

#[test]
fn options_files_unreadable_or_with_errors_are_errors_with_their_position() {
    let dir = tempdir("options");
    let path = demo_with(&dir, |t| {
        t.replace("VENDOR demo\n", "VENDOR demo OPTIONS=demo.opt\n")
    });
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("demo.lic:5:1: error: options file"), "{text}");
    assert!(text.contains("cannot be read"), "{text}");

    std::fs::write(
        dir.join("demo.opt"),
        "# rules\nGROUP eng alice\nMAX lots f1 USER bob\n",
    )
    .unwrap();
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 1, "{text}");
    let opt = dir.join("demo.opt").display().to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("{opt}:3:")) && l.contains("error")),
        "{text}"
    );
}

#[test]
fn features_expiring_within_two_weeks_are_warnings() {
    let path = examples().join("floating.lic");
    let out = lmgrd(&[
        "-c",
        path.to_str().unwrap(),
        "--check",
        "--date",
        "21-dec-2099",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("EXPIRY WARNING"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("warning") && line.contains("\"cad_view\"") && line.contains("in 10 days"),
        "{line}"
    );
    let out = lmgrd(&[
        "-c",
        path.to_str().unwrap(),
        "--check",
        "--date",
        "1-dec-2099",
    ]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("EXPIRY WARNING"));
}

#[test]
fn nothing_served_is_a_failure_in_text_and_json() {
    let path = examples().join("expired.lic");
    let (code, text) = check_text(&path, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("No license would be served."), "{text}");
    let (code, json) = check_json(&path);
    assert_eq!(code, 1);
    assert!(json["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no license would be served"));
}

#[test]
fn files_whose_server_lines_disagree_are_named() {
    let dir = tempdir("disagree");
    demo_with(&dir, |t| t);
    std::fs::copy(examples().join("upgrade.lic"), dir.join("upgrade.lic")).unwrap();
    let (code, text) = check_text(&dir, &[("LM_PUBLIC_KEY_PATH", &examples())]);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("upgrade.lic:1:1: error: lmgrd does not serve this file"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("SERVER license-server ANY 27000") && line.contains("differ"),
        "{line}"
    );
    // demo.lic itself is fine and served.
    assert!(text.contains("demo f1 v1.0: 4 license(s)"), "{text}");
}

#[test]
fn a_state_directory_that_cannot_be_written_is_an_error() {
    let dir = tempdir("state");
    let path = demo_with(&dir, |t| t);
    let blocker = dir.join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let state = blocker.join("state");
    let (code, text) = check_text(&path, &[("LM_STATE_DIR", &state)]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cannot use state directory"), "{text}");
    assert!(text.contains(&state.display().to_string()), "{text}");
}

#[test]
fn a_triad_members_key_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("triad-key");
    let text = std::fs::read_to_string(examples().join("triad.lic"))
        .unwrap()
        .replace("lm-primary", "127.0.0.1")
        .replace("lm-secondary", "127.0.0.2")
        .replace("lm-tertiary", "127.0.0.3");
    let lic = dir.join("triad.lic");
    std::fs::write(&lic, text).unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec!["-c", lic.to_str().unwrap(), "--check", "--date", TODAY];
        args.extend(["-server-line", "1"]);
        args.extend_from_slice(extra);
        let out = lmgrd_with(&args, &[("LM_STATE_DIR", &state)]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = check(&[]);
    assert!(
        text.contains("triad links would not be authenticated"),
        "{text}"
    );
    let key = dir.join("k");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = check(&["-triad-key", key.to_str().unwrap()]);
    assert!(
        text.contains("lmgrd would refuse to start") && text.contains("group or others"),
        "{text}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = check(&["-triad-key", key.to_str().unwrap()]);
    assert!(!text.contains("triad key"), "{text}");
}
