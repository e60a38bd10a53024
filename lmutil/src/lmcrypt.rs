//! `lmcrypt`: the publisher's signing tool.
//!
//! `lmcrypt -genkey vendor` makes a key pair: `vendor.key` stays with the
//! publisher, `vendor.pub` is built into the publisher's vendor daemon and
//! applications (`lmcrypt -kit vendor` writes a crate that does it, see
//! [`crate::kit`]). `lmcrypt files...`
//! signs, in place, every FEATURE, INCREMENT, UPGRADE, PACKAGE and
//! FEATURESET line of the key's vendor, writing `SIGN="..."` and `ck=`.
//! Comments and every other line stay exactly as they were.

use crate::rewrite::signed_text;
use grammar::checksum::checksum;
use grammar::signature::{content_with_servers, read_private_key, sign_content, SigningKey};
use std::path::{Path, PathBuf};

const USAGE: &str = "\
usage: lmcrypt -genkey vendor [-dir directory] [-force]
       lmcrypt -kit vendor [-dir directory] [-source path] [-force]
       lmcrypt [-key private_key] [-vendor name] license_file ...
  -genkey v   create v.key (private: keep it safe) and v.pub (public: built
              into your vendor daemon and applications) in the directory
              (default .)
  -kit v      write v-kit/ in the directory: a cargo crate that builds your
              vendor daemon (named v) and an example application with v.pub
              built in; makes the daemon's borrow-sealing key v-seal.key
              beside v.key on first use
  -source p   build the kit against the license manager's source at p
              (default: the published crates)
  -key file   the private key to sign with (default: <vendor>.key)
  -vendor v   sign the lines of vendor v (default: the key file's name)
";

pub fn run(args: &[String]) -> i32 {
    let mut genkey = None;
    let mut kit = None;
    let mut source = None;
    let mut dir = PathBuf::from(".");
    let mut force = false;
    let mut key = None;
    let mut vendor = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let r = match a.as_str() {
            "-genkey" => value("-genkey").map(|v| genkey = Some(v)),
            "-kit" => value("-kit").map(|v| kit = Some(v)),
            "-source" => value("-source").map(|v| source = Some(PathBuf::from(v))),
            "-dir" => value("-dir").map(|v| dir = PathBuf::from(v)),
            "-key" => value("-key").map(|v| key = Some(PathBuf::from(v))),
            "-vendor" => value("-vendor").map(|v| vendor = Some(v)),
            "-force" => {
                force = true;
                Ok(())
            }
            "-help" | "-h" | "--help" => {
                print!("{USAGE}");
                return 0;
            }
            f if !f.starts_with('-') => {
                files.push(PathBuf::from(f));
                Ok(())
            }
            other => Err(format!("unknown option `{other}`")),
        };
        if let Err(e) = r {
            eprint!("lmcrypt: {e}\n{USAGE}");
            return 1;
        }
    }
    if let Some(vendor) = kit {
        let req = crate::kit::KitRequest {
            vendor,
            key_dir: dir,
            source,
            force,
        };
        return match crate::kit::write_kit(&req) {
            Ok(path) => {
                println!(
                    "lmcrypt: wrote {}: build it with `cargo build --release --manifest-path {}/Cargo.toml`",
                    path.display(),
                    path.display()
                );
                0
            }
            Err(e) => {
                eprintln!("lmcrypt: {e}");
                1
            }
        };
    }
    if let Some(v) = genkey {
        return match make_keys(&v, &dir, force) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("lmcrypt: {e}");
                1
            }
        };
    }
    if files.is_empty() {
        eprint!("lmcrypt: no license file to sign\n{USAGE}");
        return 1;
    }
    let vendor = match (vendor, &key) {
        (Some(v), _) => v,
        (None, Some(k)) => k
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string(),
        (None, None) => {
            eprint!("lmcrypt: say which key to use with -key or -vendor\n{USAGE}");
            return 1;
        }
    };
    let key_path = key.unwrap_or_else(|| PathBuf::from(format!("{vendor}.key")));
    let signing = match read_private_key(&key_path) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("lmcrypt: {e}");
            return 1;
        }
    };
    let mut status = 0;
    for f in &files {
        match sign_file(f, &vendor, &signing) {
            Ok(n) => println!(
                "lmcrypt: {}: signed {n} line(s) of vendor {vendor}",
                f.display()
            ),
            Err(e) => {
                eprintln!("lmcrypt: {e}");
                status = 1;
            }
        }
    }
    status
}

fn make_keys(vendor: &str, dir: &Path, force: bool) -> Result<(), String> {
    crate::kit::check_vendor_name(vendor)?;
    let private = dir.join(format!("{vendor}.key"));
    let public = dir.join(format!("{vendor}.pub"));
    if !force && (private.exists() || public.exists()) {
        return Err(format!(
            "{} or {} exists; add -force to replace them",
            private.display(),
            public.display()
        ));
    }
    let (_, private_pem, public_pem) = crate::keygen::new_key_pair()?;
    write_private(&private, &private_pem).map_err(|e| format!("{}: {e}", private.display()))?;
    std::fs::write(&public, public_pem).map_err(|e| format!("{}: {e}", public.display()))?;
    println!(
        "lmcrypt: wrote {} (private: keep it secret) and {} (public)",
        private.display(),
        public.display()
    );
    Ok(())
}

fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(pem.as_bytes())
}

/// Signs every line of `vendor` in the file; returns how many. A file with
/// errors is left untouched: signing a line we misread would be worse.
fn sign_file(path: &Path, vendor: &str, key: &SigningKey) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = grammar::parse_license(&path.display().to_string(), &text);
    if file.has_errors() {
        let mut msg = format!("{}: not signed, fix these first:", path.display());
        for d in file.diagnostics.iter().filter(|d| d.is_error()) {
            msg.push_str(&format!("\n  {d}"));
        }
        return Err(msg);
    }
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let servers = file.server_hostids();
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    let mut copied = 0;
    let mut signed = 0;
    // Front to back: copy what lies between entries, rewrite the signed ones.
    for entry in &file.entries {
        if grammar::signature::entry_vendor(entry) != Some(vendor) {
            continue;
        }
        let Some(content) = content_with_servers(&file, entry, &servers) else {
            continue;
        };
        let (sign, field) = sign_content(&content, key);
        let ck = checksum(content, Some(&field), false);
        out.push_str(&text[copied..entry.source_range.start]);
        out.push_str(&signed_text(entry, &sign, ck, newline));
        copied = entry.source_range.end;
        signed += 1;
    }
    out.push_str(&text[copied..]);
    let tmp = path.with_extension("lmcrypt-tmp");
    std::fs::write(&tmp, out).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(signed)
}
