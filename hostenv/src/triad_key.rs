//! The triad key: 32 random bytes the administrator creates once
//! (`lmutil lmtriadkey`) and copies to the three members of a triad, which
//! prove it to each other when they link (lmgrd's `triad_auth`). Kept as
//! one line of 64 hex digits in a file that only its owner may read or
//! write: `triad.key` in the state directory, or where `lmgrd -triad-key`
//! says.

use std::io;
use std::path::Path;

/// The key file's name in the state directory.
pub const FILE: &str = "triad.key";
/// Bytes of a triad key.
pub const KEY_LEN: usize = 32;

/// The file's text for `key`.
pub fn format(key: &[u8; KEY_LEN]) -> String {
    format!("{}\n", crate::admin_tokens::to_hex(key))
}

/// The key in a key file's text (surrounding white space allowed).
pub fn parse(text: &str) -> Option<[u8; KEY_LEN]> {
    crate::admin_tokens::from_hex(text.trim())?.try_into().ok()
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the triad key file \"{path}\": {source}")]
    Read { path: String, source: io::Error },
    #[error("the triad key file \"{path}\" is open to group or others (mode {mode:03o}): it must be readable by its owner only (chmod 600 \"{path}\")")]
    Open { path: String, mode: u32 },
    #[error("the triad key file \"{path}\" does not hold a key (one line of 64 hex digits, as `lmutil lmtriadkey` writes)")]
    NotAKey { path: String },
}

/// Reads the key at `path`. `Ok(None)` when the file does not exist and
/// `missing_ok` (the default place in the state directory); a file whose
/// mode lets group or others in is refused, as ssh refuses such keys.
pub fn load(path: &Path, missing_ok: bool) -> Result<Option<[u8; KEY_LEN]>, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    let read = |source| KeyError::Read {
        path: shown.clone(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Open { path: shown, mode });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    parse(&text)
        .map(Some)
        .ok_or(KeyError::NotAKey { path: shown })
}

/// Writes `key` to a new file at `path`, mode 0600; an existing file is
/// replaced only when `replace`.
pub fn write(path: &Path, key: &[u8; KEY_LEN], replace: bool) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if replace {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path)?;
    // An existing file keeps its mode through open(): tighten it.
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(format(key).as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_keys_load_and_open_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(load(&path, true).unwrap().is_none());
        assert!(matches!(load(&path, false), Err(KeyError::Read { .. })));
        let key = [0x5au8; KEY_LEN];
        write(&path, &key, false).unwrap();
        assert_eq!(load(&path, false).unwrap(), Some(key));
        assert!(write(&path, &key, false).is_err(), "no silent overwrite");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = load(&path, true).unwrap_err().to_string();
        assert!(e.contains("group or others") && e.contains(FILE), "{e}");
        write(&path, &[1; KEY_LEN], true).unwrap();
        assert_eq!(load(&path, true).unwrap(), Some([1; KEY_LEN]));
        std::fs::write(&path, "abcd\n").unwrap();
        assert!(matches!(load(&path, true), Err(KeyError::NotAKey { .. })));
        assert_eq!(parse(&format(&key)), Some(key));
    }
}
