//! The HTTP administrator's secrets: one password and any number of named
//! tokens for scripts, each kept only as an Argon2 hash in
//! `http-admin.json` in the state directory (mode 0600). `lmutil
//! lmpasswd` writes it, lmgrd's HTTP server reads it on every admin
//! request (so a change needs no restart). No file, no password: HTTP
//! admin is off; there is no default password.
//!
//! A token reads `lmt.NAME.SECRET`: the name says which hash to check, so
//! one try costs one Argon2 verification whatever the number of tokens.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The file's name in the state directory.
pub const FILE: &str = "http-admin.json";
/// Shortest password accepted.
pub const MIN_LEN: usize = 12;
/// Longest password accepted: hashing is bounded work.
pub const MAX_LEN: usize = 256;
/// What every token starts with.
const TOKEN_PREFIX: &str = "lmt";

/// The stored hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// The password's Argon2 hash (PHC string), if one is set.
    pub password: Option<String>,
    /// Token name → the token secret's Argon2 hash.
    pub tokens: BTreeMap<String, String>,
    /// Admin-protocol token name → its HMAC key in hex
    /// (`hostenv::admin_tokens`): lmutil's lmdown, lmreread, lmremove and
    /// log switches prove it from another machine. A challenge-response
    /// needs the key itself, not a hash: this file stays mode 0600.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub admin_keys: BTreeMap<String, String>,
}

/// Reading, writing or hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a secrets file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot hash the secret: {0}")]
    Hash(String),
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    #[error("the password must have at most {MAX_LEN} characters")]
    TooLong,
    #[error(
        "the password must mix at least two of: lower case, upper case, digits, other characters"
    )]
    TooPlain,
    #[error("the password must not contain spaces or control characters at its ends")]
    Untrimmed,
}

/// Checks the password rules (see [`PasswordRule`]).
pub fn check_rules(password: &str) -> Result<(), PasswordRule> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PasswordRule::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordRule::TooLong);
    }
    if password.trim() != password {
        return Err(PasswordRule::Untrimmed);
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|&&c| c).count() < 2 {
        return Err(PasswordRule::TooPlain);
    }
    Ok(())
}

/// The Argon2id hash of `secret` with a fresh salt.
pub fn hash(secret: &str) -> Result<String, SecretsError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretsError::Hash(e.to_string()))
}

/// Returns true if and only if `secret` matches `phc` (a constant-time
/// comparison inside Argon2's verifier).
pub fn verify(secret: &str, phc: &str) -> bool {
    if secret.len() > MAX_LEN * 4 {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// Returns true if and only if `name` may name a token: 1 to 32 letters,
/// digits, `-` or `_`.
pub fn is_token_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new token for `name` (to print once) and its hash (to keep).
pub fn new_token(name: &str) -> Result<(String, String), SecretsError> {
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let hashed = hash(&secret)?;
    Ok((format!("{TOKEN_PREFIX}.{name}.{secret}"), hashed))
}

/// A new admin-protocol token for `name` (to print once) and its key in
/// hex (to keep).
pub fn new_admin_key(name: &str) -> (String, String) {
    let mut key = [0u8; hostenv::admin_tokens::KEY_LEN];
    OsRng.fill_bytes(&mut key);
    (
        hostenv::admin_tokens::format_token(name, &key),
        hostenv::admin_tokens::to_hex(&key),
    )
}

impl Secrets {
    /// The path of the file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(FILE)
    }

    /// The secrets kept in `dir`; empty when there is no file.
    pub fn load(dir: &Path) -> Result<Secrets, SecretsError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Secrets::default()),
            Err(source) => return Err(SecretsError::Read { path, source }),
        };
        serde_json::from_str(&text).map_err(|source| SecretsError::Format { path, source })
    }

    /// Writes the file (mode 0600), replacing the old one in one rename.
    pub fn save(&self, dir: &Path) -> Result<(), SecretsError> {
        let path = Self::path(dir);
        let tmp = dir.join(format!(".{FILE}.new"));
        let failed = |source| SecretsError::Write {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(failed)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
        std::fs::rename(&tmp, &path).map_err(failed)
    }

    /// Returns true if and only if a password or a token is set: without
    /// one, HTTP admin is off.
    pub fn is_set(&self) -> bool {
        self.password.is_some() || !self.tokens.is_empty()
    }

    /// Returns true if and only if `password` is the password.
    pub fn check_password(&self, password: &str) -> bool {
        self.password
            .as_deref()
            .is_some_and(|h| verify(password, h))
    }

    /// The token's name if `token` is one of the tokens.
    pub fn check_token(&self, token: &str) -> Option<String> {
        let mut parts = token.splitn(3, '.');
        let (Some(TOKEN_PREFIX), Some(name), Some(secret)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let stored = self.tokens.get(name)?;
        verify(secret, stored).then(|| name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_refuse_short_plain_and_padded_passwords() {
        assert_eq!(check_rules("Ab1"), Err(PasswordRule::TooShort));
        assert_eq!(check_rules("abcdefghijklmn"), Err(PasswordRule::TooPlain));
        assert_eq!(check_rules(" abcdefghijk1 "), Err(PasswordRule::Untrimmed));
        assert_eq!(check_rules(&"aB".repeat(200)), Err(PasswordRule::TooLong));
        assert_eq!(check_rules("correct horse 7"), Ok(()));
    }

    #[test]
    fn password_and_tokens_verify_only_themselves() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut s = Secrets::load(dir.path()).expect("no file is empty");
        assert!(!s.is_set());
        s.password = Some(hash("Tr0ub4dor&3x!").expect("hash"));
        let (token, hashed) = new_token("ci").expect("token");
        s.tokens.insert("ci".into(), hashed);
        s.save(dir.path()).expect("save");
        let s = Secrets::load(dir.path()).expect("load");
        assert!(s.check_password("Tr0ub4dor&3x!"));
        assert!(!s.check_password("Tr0ub4dor&3x?"));
        assert_eq!(s.check_token(&token).as_deref(), Some("ci"));
        assert_eq!(s.check_token(&token.replace(".ci.", ".cd.")), None);
        assert_eq!(s.check_token(&format!("{token}0")), None);
        assert_eq!(s.check_token("garbage"), None);
        let text = std::fs::read_to_string(Secrets::path(dir.path())).expect("read");
        assert!(!text.contains("Tr0ub4dor"), "only hashes are stored");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(Secrets::path(dir.path()))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
