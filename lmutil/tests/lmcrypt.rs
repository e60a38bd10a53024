//! Runs the real `lmutil lmcrypt` and `lmutil lmcksum`.

use grammar::signature::{read_public_keys, verify_file, KeyRing, SignatureStatus};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/licenses")
}

fn lmutil(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmutil"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LM_LICENSE_FILE")
        .output()
        .expect("lmutil runs")
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lmutil-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn statuses(path: &Path, pubkey: &Path, vendor: &str) -> Vec<SignatureStatus> {
    let file = grammar::read_license(path).unwrap();
    assert!(!file.has_errors(), "{:?}", file.diagnostics);
    let mut ring = KeyRing::new();
    for k in read_public_keys(pubkey).unwrap() {
        ring.insert(vendor, k);
    }
    verify_file(&file, &ring).into_iter().flatten().collect()
}

#[test]
fn genkey_then_sign_in_place() {
    let dir = tempdir("sign");
    let out = lmutil(&["lmcrypt", "-genkey", "acme"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("acme.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "the private key is readable by its owner only"
    );
    // A second -genkey must not destroy the publisher's key.
    let again = lmutil(&["lmcrypt", "-genkey", "acme"], &dir);
    assert!(!again.status.success());

    let text = "# a comment that must survive\r\nSERVER host1 ANY 27000\r\nVENDOR acme\r\n\
                FEATURE f1 acme 1.0 permanent 5 NOTICE=\"keep  me\"\r\n\
                FEATURE other othervendor 1.0 permanent 5\r\n";
    let lic = dir.join("license.dat");
    std::fs::write(&lic, text).unwrap();
    let out = lmutil(&["lmcrypt", "-key", "acme.key", "license.dat"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed 1 line(s) of vendor acme"));
    let signed = std::fs::read_to_string(&lic).unwrap();
    assert!(signed
        .starts_with("# a comment that must survive\r\nSERVER host1 ANY 27000\r\nVENDOR acme\r\n"));
    assert!(
        signed.contains("FEATURE other othervendor 1.0 permanent 5\r\n"),
        "other vendors untouched"
    );
    assert!(signed.contains("SIGN=\"ED25519:"));
    assert!(signed.contains("NOTICE=\"keep  me\""));
    assert_eq!(
        statuses(&lic, &dir.join("acme.pub"), "acme"),
        [SignatureStatus::Valid, SignatureStatus::Missing]
    );
    // Signing is deterministic: a second pass leaves the file as it is.
    let out = lmutil(&["lmcrypt", "-vendor", "acme", "license.dat"], &dir);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&lic).unwrap(), signed);
}

#[test]
fn refuses_to_sign_a_file_with_errors() {
    let dir = tempdir("errors");
    assert!(lmutil(&["lmcrypt", "-genkey", "acme"], &dir)
        .status
        .success());
    let text = "FEATURE f1 acme 1.0 permanent 5\nFEATURE f2 acme 1.0 32-jan-2030 5\n";
    std::fs::write(dir.join("bad.lic"), text).unwrap();
    let out = lmutil(&["lmcrypt", "-key", "acme.key", "bad.lic"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.lic:2:21: error"));
    assert_eq!(
        std::fs::read_to_string(dir.join("bad.lic")).unwrap(),
        text,
        "file untouched"
    );
}

/// The shipped examples are exactly what signing them again produces, so
/// they always match the current signing rules.
#[test]
fn shipped_examples_are_freshly_signed() {
    let dir = tempdir("resign");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".lic") && name != "tampered.lic" {
            std::fs::copy(&path, dir.join(&name)).unwrap();
            names.push(name);
        }
    }
    std::fs::copy(examples().join("demo.key"), dir.join("demo.key")).unwrap();
    let mut args = vec!["lmcrypt", "-key", "demo.key"];
    args.extend(names.iter().map(String::as_str));
    let out = lmutil(&args, &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in &names {
        let fresh = std::fs::read_to_string(dir.join(name)).unwrap();
        let shipped = std::fs::read_to_string(examples().join(name)).unwrap();
        assert_eq!(
            fresh, shipped,
            "{name} is stale: run examples/licenses/resign.sh"
        );
        assert!(
            statuses(&dir.join(name), &examples().join("demo.pub"), "demo")
                .iter()
                .all(|s| *s == SignatureStatus::Valid)
        );
    }
}

#[test]
fn lmcksum_flags_mistyped_lines() {
    let dir = tempdir("cksum");
    std::fs::copy(examples().join("floating.lic"), dir.join("license.dat")).unwrap();
    let out = lmutil(&["lmcksum", "-c", "license.dat"], &dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches(" OK").count(), 3, "{text}");
    assert!(text.contains("lmcksum: using license file \"license.dat\""));

    let typo = std::fs::read_to_string(dir.join("license.dat"))
        .unwrap()
        .replace("SN=CAD-0001", "SN=CAD-0007");
    std::fs::write(dir.join("license.dat"), typo).unwrap();
    let out = lmutil(&["lmcksum", "-c", "license.dat"], &dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("BAD (line says ck=195)"), "{text}");
    assert_eq!(text.matches(" OK").count(), 2, "{text}");

    // One feature only, and under its own name through a link.
    let link = dir.join("lmcksum");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lmutil"), &link).unwrap();
    let out = Command::new(&link)
        .args(["-c", "license.dat", "solver"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("ck=")).count(),
        1,
        "{text}"
    );
    assert!(text.contains("FEATURE solver demo 1.5  OK"), "{text}");
}

#[test]
fn unknown_tools_and_options_get_usage() {
    let dir = tempdir("usage");
    let out = lmutil(&["lmfrobnicate"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tool `lmfrobnicate`"));
    let out = lmutil(&["lmcksum", "-z"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option `-z`"));
}
