//! `lmcrypt -kit VENDOR`: a ready cargo crate that builds the publisher's
//! vendor daemon and an example application, with the publisher's public
//! keys built in.
//!
//! Keys built in at compile time are the point: nothing an administrator
//! sets at run time (a `.pub` file, an environment variable) can add a key
//! to a daemon or an application, so changing what they trust means
//! rebuilding them. The kit holds the public license keys (`VENDOR.pub`,
//! never the private `VENDOR.key`) and the daemon's borrow-sealing key pair
//! (`VENDOR-seal.key`, made on first use and kept beside `VENDOR.key`, so
//! every daemon and application built later agrees on it).

use crate::keygen::new_key_pair;
use grammar::signature::read_pem_public_keys;
use std::path::{Path, PathBuf};

/// What `-kit` was asked for.
#[derive(Debug, Clone)]
pub struct KitRequest {
    pub vendor: String,
    /// Where `VENDOR.pub` is, and where the seal key pair is kept.
    pub key_dir: PathBuf,
    /// The license manager's source, for path dependencies; `None`: the
    /// published crates.
    pub source: Option<PathBuf>,
    pub force: bool,
}

/// A vendor name: it becomes file and crate names, so nothing but
/// letters, digits, `_` and `-`.
pub(crate) fn check_vendor_name(vendor: &str) -> Result<(), String> {
    if vendor.is_empty()
        || !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!("`{vendor}` is not a vendor name"));
    }
    Ok(())
}

/// Writes `<key_dir>/<vendor>-kit/` and returns its path.
pub fn write_kit(req: &KitRequest) -> Result<PathBuf, String> {
    let vendor = req.vendor.as_str();
    check_vendor_name(vendor)?;
    let license_pub = req.key_dir.join(format!("{vendor}.pub"));
    let license_keys = std::fs::read_to_string(&license_pub).map_err(|e| {
        format!(
            "{}: {e} (make the key pair first: lmcrypt -genkey {vendor})",
            license_pub.display()
        )
    })?;
    read_pem_public_keys(&license_keys, "the license keys")
        .map_err(|e| format!("{}: {e}", license_pub.display()))?;
    let (seal_private, seal_public) = seal_key_pair(&req.key_dir, vendor)?;

    let kit = req.key_dir.join(format!("{vendor}-kit"));
    if kit.exists() && !req.force {
        return Err(format!(
            "{} exists; add -force to write the kit again",
            kit.display()
        ));
    }
    let crate_name = crate_ident(vendor);
    let files: Vec<(PathBuf, String)> = vec![
        (
            "Cargo.toml".into(),
            cargo_toml(vendor, req.source.as_deref()),
        ),
        (format!("keys/{vendor}.pub").into(), license_keys.clone()),
        (
            format!("keys/{vendor}-seal.pub").into(),
            seal_public.clone(),
        ),
        ("src/lib.rs".into(), lib_rs(vendor)),
        ("src/bin/daemon.rs".into(), daemon_rs(vendor, &crate_name)),
        ("src/bin/check.rs".into(), check_rs(vendor, &crate_name)),
        (".gitignore".into(), "/target\n/keys/*.key\n".into()),
        (
            "c/lm_vendor_key.h".into(),
            c_key_header(vendor, &license_keys, &seal_public),
        ),
        (
            format!("python/{}_key.py", vendor.replace('-', "_")).into(),
            python_key_module(vendor, &license_keys, &seal_public),
        ),
    ];
    for (name, text) in &files {
        write_file(&kit.join(name), text, false)?;
    }
    write_file(
        &kit.join(format!("keys/{vendor}-seal.key")),
        &seal_private,
        true,
    )?;
    Ok(kit)
}

/// A C string literal of PEM text, one source line per line.
fn c_literal(pem: &str) -> String {
    pem.lines()
        .map(|l| format!("  \"{l}\\n\""))
        .collect::<Vec<_>>()
        .join(" \\\n")
}

/// The key header a C or C++ application includes before `lmclient.h`
/// (see docs/client-api.md): the keys are compiled into the application.
fn c_key_header(vendor: &str, license_keys: &str, seal_public: &str) -> String {
    format!(
        "/* The public keys of publisher {vendor}, for lmclient.h: include this\n\
         \x20* file before lmclient.h. Made by `lmutil lmcrypt -kit`. */\n\
         #define LM_VENDOR_NAME \"{vendor}\"\n\
         #define LM_VENDOR_PUBLIC_KEY \\\n{}\n\
         #define LM_VENDOR_SEAL_KEY \\\n{}\n",
        c_literal(license_keys),
        c_literal(seal_public)
    )
}

/// The same keys as a Python module, for `lm.Job(VENDOR, key=PUBLIC_KEY,
/// seal_key=SEAL_KEY)`.
fn python_key_module(vendor: &str, license_keys: &str, seal_public: &str) -> String {
    format!(
        "\"\"\"The public keys of publisher {vendor}, for the `lm` package.\n\n\
         Made by `lmutil lmcrypt -kit`.\n\"\"\"\n\n\
         VENDOR = \"{vendor}\"\n\
         PUBLIC_KEY = \"\"\"{}\"\"\"\n\
         SEAL_KEY = \"\"\"{}\"\"\"\n",
        license_keys, seal_public
    )
}

/// The daemon's borrow-sealing key pair, read from `key_dir` or made there.
fn seal_key_pair(key_dir: &Path, vendor: &str) -> Result<(String, String), String> {
    let private = key_dir.join(format!("{vendor}-seal.key"));
    let public = key_dir.join(format!("{vendor}-seal.pub"));
    if private.exists() && public.exists() {
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        return Ok((read(&private)?, read(&public)?));
    }
    let (_, private_pem, public_pem) = new_key_pair()?;
    write_file(&private, &private_pem, true)?;
    write_file(&public, &public_pem, false)?;
    println!(
        "lmcrypt: wrote {} (the vendor daemon's borrow-sealing key: keep it with {vendor}.key)",
        private.display()
    );
    Ok((private_pem, public_pem))
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The crate's name as Rust code spells it (`-` is not allowed there).
fn crate_ident(vendor: &str) -> String {
    format!("{}_licensing", vendor.replace('-', "_"))
}

fn cargo_toml(vendor: &str, source: Option<&Path>) -> String {
    let dep = |name: &str| match source {
        Some(root) => format!("{name} = {{ path = \"{}\" }}", root.join(name).display()),
        None => format!("{name} = \"{}\"", env!("CARGO_PKG_VERSION")),
    };
    format!(
        "# The {vendor} publisher's licensing: its vendor daemon and an example\n\
         # application, with the publisher's public keys built in.\n\
         [package]\n\
         name = \"{vendor}-licensing\"\n\
         version = \"0.1.0\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         \n\
         # A crate of its own, wherever it is put.\n\
         [workspace]\n\
         \n\
         [dependencies]\n\
         {}\n\
         {}\n\
         \n\
         # The vendor daemon: name it on the VENDOR line (VENDOR {vendor} /path/to/{vendor}).\n\
         [[bin]]\n\
         name = \"{vendor}\"\n\
         path = \"src/bin/daemon.rs\"\n\
         \n\
         # An example application: checks a feature out and in.\n\
         [[bin]]\n\
         name = \"{vendor}-check\"\n\
         path = \"src/bin/check.rs\"\n",
        dep("vendord"),
        dep("client"),
    )
}

fn lib_rs(vendor: &str) -> String {
    format!(
        "//! The {vendor} publisher's public keys, built into its programs.\n\
         //! Applications link this crate and create their license jobs with\n\
         //! [`publisher`]; nothing found at run time can add a key.\n\
         \n\
         /// The vendor name on this publisher's license lines.\n\
         pub const VENDOR: &str = \"{vendor}\";\n\
         \n\
         /// The public keys license lines are signed with (several while a key\n\
         /// is rolled over).\n\
         pub const LICENSE_KEYS: &str = include_str!(\"../keys/{vendor}.pub\");\n\
         \n\
         /// The public half of the vendor daemon's borrow-sealing key.\n\
         pub const SEAL_PUBLIC_KEY: &str = include_str!(\"../keys/{vendor}-seal.pub\");\n\
         \n\
         /// The publisher as its applications trust it.\n\
         pub fn publisher() -> client::Publisher {{\n\
         \x20   client::Publisher::from_pem(VENDOR, LICENSE_KEYS, Some(SEAL_PUBLIC_KEY))\n\
         \x20       .expect(\"the keys built in are valid PEM\")\n\
         }}\n"
    )
}

fn daemon_rs(vendor: &str, crate_name: &str) -> String {
    format!(
        "//! The {vendor} vendor daemon: lmgrd starts it for `VENDOR {vendor}` lines.\n\
         //! It serves only lines signed with the keys built into it.\n\
         \n\
         /// The borrow-sealing private key: built into the daemon only, never\n\
         /// into applications.\n\
         const SEAL_KEY: &str = include_str!(\"../../keys/{vendor}-seal.key\");\n\
         \n\
         fn main() -> std::process::ExitCode {{\n\
         \x20   let keys = vendord::DaemonKeys::from_pem(\n\
         \x20       {crate_name}::VENDOR,\n\
         \x20       {crate_name}::LICENSE_KEYS,\n\
         \x20       SEAL_KEY,\n\
         \x20   )\n\
         \x20   .expect(\"the keys built in are valid PEM\");\n\
         \x20   vendord::daemon::main(keys)\n\
         }}\n"
    )
}

fn check_rs(vendor: &str, crate_name: &str) -> String {
    format!(
        "//! `{vendor}-check FEATURE [VERSION]`: checks FEATURE out, says so, and\n\
         //! checks it in; a model for the {vendor} publisher's applications.\n\
         \n\
         use std::process::ExitCode;\n\
         \n\
         fn main() -> ExitCode {{\n\
         \x20   let mut args = std::env::args().skip(1);\n\
         \x20   let Some(feature) = args.next() else {{\n\
         \x20       eprintln!(\"usage: {vendor}-check FEATURE [VERSION]\");\n\
         \x20       return ExitCode::from(2);\n\
         \x20   }};\n\
         \x20   let version = args.next().unwrap_or_else(|| \"1.0\".into());\n\
         \x20   let job = client::Job::new(&{crate_name}::publisher());\n\
         \x20   match job.checkout(&feature, &version, 1) {{\n\
         \x20       Ok(license) => {{\n\
         \x20           println!(\n\
         \x20               \"Checkout succeeded: {{}} {{}} (expires {{}})\",\n\
         \x20               license.feature(),\n\
         \x20               license.version(),\n\
         \x20               license.expiry()\n\
         \x20           );\n\
         \x20           let _ = job.checkin(&license);\n\
         \x20           ExitCode::SUCCESS\n\
         \x20       }}\n\
         \x20       Err(e) => {{\n\
         \x20           eprint!(\"{{}}\", e.long_form());\n\
         \x20           ExitCode::from(1)\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kit_has_the_public_keys_but_never_the_license_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let (_, private, public) = new_key_pair().unwrap();
        std::fs::write(dir.path().join("acme.key"), &private).unwrap();
        std::fs::write(dir.path().join("acme.pub"), &public).unwrap();
        let req = KitRequest {
            vendor: "acme".into(),
            key_dir: dir.path().to_path_buf(),
            source: Some("/src/lm".into()),
            force: false,
        };
        let kit = write_kit(&req).unwrap();
        assert_eq!(
            std::fs::read_to_string(kit.join("keys/acme.pub")).unwrap(),
            public
        );
        let all: Vec<String> = walk(&kit)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(all.iter().all(|t| !t.contains(private.trim())));
        let toml = std::fs::read_to_string(kit.join("Cargo.toml")).unwrap();
        assert!(
            toml.contains("vendord = { path = \"/src/lm/vendord\" }"),
            "{toml}"
        );
        assert!(toml.contains("name = \"acme\""), "{toml}");
        // The seal key stays beside the license key, so a second kit
        // agrees with the first; writing again needs -force.
        let seal = std::fs::read_to_string(dir.path().join("acme-seal.pub")).unwrap();
        assert!(write_kit(&req).is_err());
        write_kit(&KitRequest { force: true, ..req }).unwrap();
        assert_eq!(
            std::fs::read_to_string(kit.join("keys/acme-seal.pub")).unwrap(),
            seal
        );
        // C and Python applications get the same public keys.
        let header = std::fs::read_to_string(kit.join("c/lm_vendor_key.h")).unwrap();
        assert!(
            header.contains("#define LM_VENDOR_NAME \"acme\""),
            "{header}"
        );
        let body = public.lines().nth(1).unwrap();
        assert!(header.contains(&format!("\"{body}\\n\"")), "{header}");
        let py = std::fs::read_to_string(kit.join("python/acme_key.py")).unwrap();
        assert!(py.contains(public.trim()), "{py}");
        // Only the daemon includes the seal's private key.
        let lib = std::fs::read_to_string(kit.join("src/lib.rs")).unwrap();
        assert!(!lib.contains("seal.key"));
        let daemon = std::fs::read_to_string(kit.join("src/bin/daemon.rs")).unwrap();
        assert!(daemon.contains("acme-seal.key"));
    }

    #[test]
    fn no_public_key_or_a_bad_vendor_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let req = |vendor: &str| KitRequest {
            vendor: vendor.into(),
            key_dir: dir.path().to_path_buf(),
            source: None,
            force: false,
        };
        let e = write_kit(&req("acme")).unwrap_err();
        assert!(e.contains("lmcrypt -genkey acme"), "{e}");
        assert!(write_kit(&req("../evil")).is_err());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
