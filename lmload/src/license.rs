//! The benchmark's license: big counted features, signed at run time with
//! the demo publisher's key (the shipped vendord is that publisher's
//! daemon), and the vendor's public key written beside the file.

use grammar::signature::sign_entry;
use std::path::{Path, PathBuf};

/// What to put in the license.
#[derive(Debug, Clone)]
pub struct Spec {
    pub vendor: String,
    /// lmgrd's port (SERVER line).
    pub port: u16,
    /// The vendor daemon's port (VENDOR PORT=), 0 to let it pick one.
    pub vendor_port: u16,
    pub features: Vec<String>,
    pub seats: u32,
}

/// The license text, unsigned.
pub fn text(spec: &Spec) -> String {
    let mut t = format!(
        "# lmload benchmark license: signed at run time with the demo key.\n\
         SERVER this_host ANY {}\n",
        spec.port
    );
    if spec.vendor_port == 0 {
        t.push_str(&format!("VENDOR {}\n", spec.vendor));
    } else {
        t.push_str(&format!(
            "VENDOR {} PORT={}\n",
            spec.vendor, spec.vendor_port
        ));
    }
    t.push_str("USE_SERVER\n");
    for f in &spec.features {
        t.push_str(&format!(
            "FEATURE {f} {} 1.0 permanent {}\n",
            spec.vendor, spec.seats
        ));
    }
    t
}

/// Signs every signable line of `text` with `key`.
fn sign_text(text: &str, key: &grammar::signature::SigningKey) -> Result<String, String> {
    let file = grammar::parse_license("lmload.lic", text);
    if file.has_errors() {
        return Err(format!(
            "license text does not parse: {:?}",
            file.diagnostics
        ));
    }
    let mut inserts: Vec<(usize, String)> = file
        .entries
        .iter()
        .filter_map(|e| {
            sign_entry(&file, e, key).map(|sign| (e.source_range.end, format!(" SIGN={sign}")))
        })
        .collect();
    inserts.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut out = text.to_string();
    for (at, s) in inserts {
        out.insert_str(at, &s);
    }
    Ok(out)
}

/// The demo publisher's license-signing key, shipped for demonstrations.
const DEMO_PRIVATE_KEY: &str = include_str!("../../examples/licenses/demo.key");

/// Writes `<dir>/lmload.lic` and `<dir>/<vendor>.pub`; returns the license path.
pub fn write(dir: &Path, spec: &Spec) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The shipped vendord is the demo publisher's daemon: it trusts only the
    // keys built into it, so the benchmark's license is signed with the demo
    // publisher's (demonstration-only) private key.
    let key = grammar::signature::read_pem_private_key(DEMO_PRIVATE_KEY, "the demo key")
        .map_err(|e| e.to_string())?;
    let public = grammar::publisher::DEMO_PUBLIC_KEYS;
    let signed = sign_text(&text(spec), &key)?;
    let path = dir.join("lmload.lic");
    std::fs::write(&path, signed).map_err(|e| format!("{}: {e}", path.display()))?;
    let pub_path = dir.join(format!("{}.pub", spec.vendor));
    std::fs::write(&pub_path, public).map_err(|e| format!("{}: {e}", pub_path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammar::signature::{verify_file, KeyRing, SignatureStatus};

    #[test]
    fn signed_lines_verify() {
        let spec = Spec {
            vendor: "demo".into(),
            port: 27000,
            vendor_port: 27001,
            features: vec!["f1".into(), "held".into()],
            seats: 100_000,
        };
        let (key, _, _) = grammar::signature::generate_key_pair().unwrap();
        let signed = sign_text(&text(&spec), &key).unwrap();
        let file = grammar::parse_license("t", &signed);
        let mut ring = KeyRing::new();
        ring.insert("demo", key.verifying_key());
        let status: Vec<_> = verify_file(&file, &ring).into_iter().flatten().collect();
        assert_eq!(status, [SignatureStatus::Valid, SignatureStatus::Valid]);
        assert!(signed.contains("VENDOR demo PORT=27001"));
    }
}
