//! Admin tokens for the admin protocol (`wire::admin_access`): a named
//! key the administrator creates with `lmutil lmpasswd -admin-token NAME`,
//! kept by the daemons in the HTTP administrator's secrets file
//! (`http-admin.json` in the state directory, mode 0600, field
//! `admin_keys`) and by the administrator in a token file
//! (`lma.NAME.HEX`, named by `LM_ADMIN_TOKEN_FILE` or `-token-file`).
//!
//! The token never crosses the wire: the tool proves it with an
//! HMAC-SHA256 over the daemon's single-use nonce, the port and the
//! request, checked here in constant time.

use std::path::Path;

/// The secrets file's name in the state directory (shared with the HTTP
/// administrator's password and tokens, `lmutil::secrets`).
pub const FILE: &str = "http-admin.json";
/// What every admin token starts with.
pub const PREFIX: &str = "lma";
/// Bytes of a token's key.
pub const KEY_LEN: usize = 32;

/// HMAC-SHA256 of `input` keyed with `key`.
pub fn sign(key: &[u8], input: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, input).as_ref().to_vec()
}

/// Whether `mac` is `input`'s HMAC-SHA256 under `key` (constant time).
pub fn verify(key: &[u8], input: &[u8], mac: &[u8]) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::verify(&key, input, mac).is_ok()
}

/// The key of admin token `name` in the secrets file of `state_dir`.
/// The file is read on every request, so a new or revoked token needs no
/// restart.
pub fn key(state_dir: &Path, name: &str) -> Option<Vec<u8>> {
    if name.is_empty() {
        return None;
    }
    let text = std::fs::read_to_string(state_dir.join(FILE)).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let hex = doc.get("admin_keys")?.get(name)?.as_str()?;
    from_hex(hex).filter(|k| k.len() == KEY_LEN)
}

/// `lma.NAME.HEX` → the name and the key.
pub fn parse_token(text: &str) -> Option<(String, Vec<u8>)> {
    let rest = text.trim().strip_prefix(PREFIX)?.strip_prefix('.')?;
    let (name, hex) = rest.rsplit_once('.')?;
    let key = from_hex(hex).filter(|k| k.len() == KEY_LEN)?;
    valid_name(name).then(|| (name.to_string(), key))
}

/// The token as the administrator keeps it.
pub fn format_token(name: &str, key: &[u8]) -> String {
    format!("{PREFIX}.{name}.{}", to_hex(key))
}

/// Token names: letters, digits, `-` and `_`, at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let mac = sign(b"k", b"input");
        assert_eq!(mac.len(), 32);
        assert!(verify(b"k", b"input", &mac));
        assert!(!verify(b"k", b"inpuT", &mac));
        assert!(!verify(b"K", b"input", &mac));
        assert!(!verify(b"k", b"input", &mac[..31]));
    }

    #[test]
    fn tokens_and_the_store() {
        let key = [0xabu8; KEY_LEN];
        let token = format_token("ops-1", &key);
        assert_eq!(
            parse_token(&format!("{token}\n")),
            Some(("ops-1".into(), key.to_vec()))
        );
        assert_eq!(parse_token("lmt.ops.abcd"), None);
        assert_eq!(parse_token("lma.ops.abcd"), None, "short key");
        assert_eq!(parse_token(&format_token("a b", &key)), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(key_of(dir.path(), "ops-1"), None);
        std::fs::write(
            dir.path().join(FILE),
            format!(
                r#"{{"password":null,"tokens":{{}},"admin_keys":{{"ops-1":"{}"}}}}"#,
                to_hex(&key)
            ),
        )
        .unwrap();
        assert_eq!(key_of(dir.path(), "ops-1"), Some(key.to_vec()));
        assert_eq!(key_of(dir.path(), "ops-2"), None);
        assert_eq!(key_of(dir.path(), ""), None);
    }

    fn key_of(dir: &Path, name: &str) -> Option<Vec<u8>> {
        key(dir, name)
    }
}
