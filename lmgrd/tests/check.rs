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
    Command::new(env!("CARGO_BIN_EXE_lmgrd"))
        .args(args)
        .env_remove("LM_PUBLIC_KEY_PATH")
        .env_remove("LM_LICENSE_FILE")
        .output()
        .expect("lmgrd runs")
}

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
        assert_eq!(code, 0, "{}: {json:#}", path.display());
        assert_eq!(
            json["errors"].as_array().unwrap().len(),
            0,
            "{}",
            path.display()
        );
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
    assert!(json["errors"].as_array().unwrap().is_empty());
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
    assert_eq!(expired["warnings"].as_array().unwrap().len(), 2);
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "expired lines are warnings, not errors"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    std::fs::copy(examples().join("demo.lic"), &path).unwrap();
    let (code, json) = check_json(&path);
    assert_eq!(code, 1, "no key: nothing can be verified");
    assert_eq!(json["lines"][0]["signature"], "unverifiable");
    assert!(json["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("demo.pub not found"));
    // It says where it looked: the license file's directory is the last.
    let message = json["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("demo.pub not found in ") && message.contains(dir.to_str().unwrap()),
        "{message}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lmgrd"))
        .args(["-c", path.to_str().unwrap(), "--check", "--date", TODAY])
        .env("LM_PUBLIC_KEY_PATH", examples())
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
