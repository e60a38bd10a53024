//! `lmtriadkey [-o file | -state-dir dir] [-force]`: creates a triad key,
//! the 32 random bytes the three members of a triad prove to each other
//! before they take each other's consensus messages. The administrator
//! creates it once and copies it to the other two members (mode 0600).
//! Without `-o` it goes to `triad.key` in the state directory, where lmgrd
//! looks by default. An existing file is replaced only with `-force`.

use crate::common::{write_err, write_out};
use crate::Invocation;
use hostenv::triad_key::{self, KEY_LEN};
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: lmtriadkey [-o file | -state-dir dir] [-force]
  writes a new triad key (mode 0600) to file, else to triad.key in the
  state directory (-state-dir, else $LM_STATE_DIR, else /var/lib/lm);
  copy it to the other two members of the triad (lmgrd -triad-key file,
  or triad.key in their state directory); -force replaces an existing file
";

/// Where the key goes and whether it may replace a file, from the
/// arguments; `None` for `-help`.
fn target(args: &[String]) -> Result<Option<(PathBuf, bool)>, String> {
    let mut out = None;
    let mut dir = None;
    let mut force = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .map(PathBuf::from)
                .ok_or(format!("{flag} needs a value"))
        };
        match a.as_str() {
            "-o" => out = Some(value("-o")?),
            "-state-dir" => dir = Some(value("-state-dir")?),
            "-force" => force = true,
            "-help" | "-h" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if out.is_some() && dir.is_some() {
        return Err("-o and -state-dir name the same thing: give one".into());
    }
    let path =
        out.unwrap_or_else(|| hostenv::state_dir::choose(dir.as_deref()).join(triad_key::FILE));
    Ok(Some((path, force)))
}

pub fn run(inv: &Invocation) -> i32 {
    let (path, force) = match target(&inv.args) {
        Ok(Some(t)) => t,
        Ok(None) => {
            write_out(USAGE);
            return 0;
        }
        Err(why) => return crate::common::usage_error("lmtriadkey", &why, USAGE),
    };
    let mut key = [0u8; KEY_LEN];
    {
        use rand::RngCore;
        if let Err(e) = rand::rngs::OsRng.try_fill_bytes(&mut key) {
            write_err(&format!("lmtriadkey: cannot read random bytes: {e}\n"));
            return 1;
        }
    }
    match triad_key::write(&path, &key, force) {
        Ok(()) => {
            write_out(&format!(
                "Wrote a new triad key to {}: copy it (mode 0600) to the other two members\n",
                path.display()
            ));
            0
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            write_err(&format!(
                "lmtriadkey: {} exists; -force replaces it (then on all three members)\n",
                path.display()
            ));
            1
        }
        Err(e) => {
            write_err(&format!(
                "lmtriadkey: cannot write {}: {e}\n",
                path.display()
            ));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(args: &[&str]) -> Invocation {
        Invocation {
            program: "lmutil".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn writes_a_private_key_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let p = path.to_str().unwrap();
        assert_eq!(run(&inv(&["-o", p])), 0);
        let first = triad_key::load(&path, false).unwrap().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(run(&inv(&["-o", p])), 1, "no silent overwrite");
        assert_eq!(run(&inv(&["-o", p, "-force"])), 0);
        assert_ne!(triad_key::load(&path, false).unwrap().unwrap(), first);
        let d = dir.path().to_str().unwrap();
        assert_eq!(run(&inv(&["-state-dir", d])), 0);
        assert!(dir.path().join(triad_key::FILE).exists());
        assert_eq!(run(&inv(&["-o", p, "-state-dir", d])), 1);
        assert_eq!(run(&inv(&["-bogus"])), 1);
    }
}
