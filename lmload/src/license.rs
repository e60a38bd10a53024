//! The benchmark's license: big counted features, signed at run time with
//! the demo publisher's key (the shipped vendor daemon, whose keys are built
//! in, serves the demo publisher's licenses only).

use grammar::signature::{read_pem_private_key, sign_entry};
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
        "# lmload benchmark license: signed at run time with a throw-away key.\n\
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

/// The demo publisher's private key (published on purpose: demo only).
const DEMO_KEY: &str = include_str!("../../examples/licenses/demo.key");

/// Writes `<dir>/lmload.lic`, signed with the demo key; returns its path.
pub fn write(dir: &Path, spec: &Spec) -> Result<PathBuf, String> {
    if spec.vendor != grammar::publisher::DEMO_VENDOR {
        return Err(format!(
            "vendor {}: the shipped vendord serves vendor {} only",
            spec.vendor,
            grammar::publisher::DEMO_VENDOR
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = read_pem_private_key(DEMO_KEY, "the demo key").map_err(|e| e.to_string())?;
    let signed = sign_text(&text(spec), &key)?;
    let path = dir.join("lmload.lic");
    std::fs::write(&path, signed).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grammar::signature::{verify_file, SignatureStatus};

    #[test]
    fn signed_lines_verify() {
        let spec = Spec {
            vendor: "demo".into(),
            port: 27000,
            vendor_port: 27001,
            features: vec!["f1".into(), "held".into()],
            seats: 100_000,
        };
        let dir = tempfile::tempdir().unwrap();
        let signed = std::fs::read_to_string(write(dir.path(), &spec).unwrap()).unwrap();
        let file = grammar::parse_license("t", &signed);
        // As the shipped vendor daemon verifies it: with the demo keys.
        let ring = grammar::publisher::Publisher::demo().key_ring();
        let status: Vec<_> = verify_file(&file, &ring).into_iter().flatten().collect();
        assert_eq!(status, [SignatureStatus::Valid, SignatureStatus::Valid]);
        assert!(signed.contains("VENDOR demo PORT=27001"));
    }
}
