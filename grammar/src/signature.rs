//! License signatures: which bytes of a line are signed, the SIGN= field,
//! publisher key files, and (batch) verification.
//!
//! The signed content of a line is built from its parsed fields, not from
//! its text, so re-indenting, re-wrapping, re-quoting or reordering the
//! attributes of a line keeps its signature valid, while any change of
//! meaning breaks it. What an administrator may edit is left out: host names
//! and ports on SERVER lines, everything on VENDOR lines, and lowercase
//! `keyword=value` attributes. For counted lines the SERVER hostids are
//! signed in, so a counted line only serves on the servers it was issued for.

use crate::date::Date;
use crate::hostid::{self, HostId};
use crate::model::{Attribute, Entry, EntryKind, Feature, FeatureKind, LicenseFile, Package};
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use crate::sign_field::{SignField, SIGN_PREFIX};

/// The outcome of checking one line's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    Valid,
    /// The signature does not match the line: LM_BADCODE (-8).
    Invalid,
    /// Signed, but not by a key we hold (or by FLEXlm): shown, never served.
    Unverifiable,
    /// Not signed at all: never served (LM_SIGN_REQ, -114).
    Missing,
}

/// The id a SIGN= value names its key by: the key's first four bytes.
pub fn key_id(key: &VerifyingKey) -> [u8; 4] {
    let b = key.as_bytes();
    [b[0], b[1], b[2], b[3]]
}

// ---------------------------------------------------------------------------
// Signed content

/// Appends one length-prefixed field, so that no two different lines can
/// produce the same bytes.
fn push_field(out: &mut Vec<u8>, field: &str) {
    out.extend_from_slice(field.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(field.as_bytes());
    out.push(b'\n');
}

/// The fields of signed content, in order, as [`feature_content`] and
/// [`package_content`] wrote them; `None` if the bytes are not signed
/// content (wrong prefix, a bad length, a field that is not UTF-8).
pub fn content_fields(content: &[u8]) -> Option<Vec<&str>> {
    let mut rest = content.strip_prefix(b"lmsign1\n")?;
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let colon = rest.iter().position(|&b| b == b':')?;
        let digits = std::str::from_utf8(&rest[..colon]).ok()?;
        // Canonical lengths only (no sign, no leading zero): one content,
        // one spelling.
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        let len: usize = digits.parse().ok()?;
        let body = rest.get(colon + 1..)?;
        let (field, after) = (body.get(..len)?, body.get(len..)?);
        rest = after.strip_prefix(b"\n")?;
        fields.push(std::str::from_utf8(field).ok()?);
    }
    Some(fields)
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The normal form of an attribute's value: typed values print in one way
/// whatever the spelling (hostid case, date padding), free text has its
/// white space collapsed.
fn normal_value(attr: &Attribute) -> String {
    let Some(v) = &attr.value else {
        return String::new();
    };
    match attr.name.as_str() {
        "HOSTID" | "FLOAT_OK" => HostId::parse_list(v)
            .map(|ids| hostid::display_list(&ids))
            .unwrap_or_else(|_| collapse_ws(v)),
        "START" | "ISSUED" => match Date::parse(v).map(|p| p.expiry) {
            Ok(e) => e.to_string(),
            Err(_) => collapse_ws(v),
        },
        _ => collapse_ws(v),
    }
}

fn push_attributes(out: &mut Vec<u8>, attrs: &[Attribute]) {
    let mut signed: Vec<(&str, String)> = attrs
        .iter()
        .filter(|a| a.is_authenticated())
        .map(|a| {
            (
                a.name.as_str(),
                a.value
                    .as_ref()
                    .map(|_| normal_value(a))
                    .map_or_else(String::new, |v| format!("={v}")),
            )
        })
        .collect();
    signed.sort();
    for (name, value) in signed {
        push_field(out, &format!("{name}{value}"));
    }
}

/// The bytes a FEATURE/INCREMENT/UPGRADE line's signature covers.
pub fn feature_content(f: &Feature, server_hostids: &[&[HostId]]) -> Vec<u8> {
    let mut out = b"lmsign1\n".to_vec();
    push_field(&mut out, f.kind.keyword());
    push_field(&mut out, &f.name);
    push_field(&mut out, &f.vendor);
    if let FeatureKind::Upgrade { from } = &f.kind {
        push_field(&mut out, &from.normalized());
    }
    push_field(&mut out, &f.version.normalized());
    push_field(&mut out, &f.expiry.to_string());
    push_field(
        &mut out,
        &if f.is_counted() {
            f.count.to_string()
        } else {
            "uncounted".into()
        },
    );
    push_attributes(&mut out, &f.attributes);
    if f.is_counted() {
        for ids in server_hostids {
            push_field(&mut out, &format!("SERVER {}", hostid::display_list(ids)));
        }
    }
    out
}

/// The bytes a PACKAGE line's signature covers.
pub fn package_content(p: &Package) -> Vec<u8> {
    let mut out = b"lmsign1\n".to_vec();
    push_field(&mut out, "PACKAGE");
    push_field(&mut out, &p.name);
    push_field(&mut out, &p.vendor);
    push_field(
        &mut out,
        &p.version
            .as_ref()
            .map_or_else(String::new, |v| v.normalized()),
    );
    push_attributes(&mut out, &p.attributes);
    out
}

/// The bytes an entry's signature covers, or `None` for lines that are not
/// signed (SERVER, VENDOR, USE_SERVER). A FEATURESET covers the signed
/// content of every FEATURE-like and PACKAGE line of its vendor, in order,
/// so lines cannot be added, removed or reordered.
pub fn signed_content(file: &LicenseFile, entry: &Entry) -> Option<Vec<u8>> {
    content_with_servers(file, entry, &file.server_hostids())
}

/// [`signed_content`] with the file's SERVER hostids already gathered, so
/// that checking every line of a file does not search the file each time.
pub fn content_with_servers(
    file: &LicenseFile,
    entry: &Entry,
    servers: &[&[HostId]],
) -> Option<Vec<u8>> {
    match &entry.kind {
        EntryKind::Feature(f) => Some(feature_content(f, servers)),
        EntryKind::Package(p) => Some(package_content(p)),
        EntryKind::FeatureSet(fs) => {
            let mut out = b"lmsign1\n".to_vec();
            push_field(&mut out, "FEATURESET");
            push_field(&mut out, &fs.vendor);
            for e in &file.entries {
                let content = match &e.kind {
                    EntryKind::Feature(f) if f.vendor == fs.vendor => feature_content(f, servers),
                    EntryKind::Package(p) if p.vendor == fs.vendor => package_content(p),
                    _ => continue,
                };
                out.extend_from_slice(&content);
            }
            Some(out)
        }
        EntryKind::Server(_) | EntryKind::Vendor(_) | EntryKind::UseServer => None,
    }
}

/// The vendor an entry belongs to, for finding its key.
pub fn entry_vendor(entry: &Entry) -> Option<&str> {
    match &entry.kind {
        EntryKind::Feature(f) => Some(&f.vendor),
        EntryKind::Package(p) => Some(&p.vendor),
        EntryKind::FeatureSet(fs) => Some(&fs.vendor),
        _ => None,
    }
}

/// The SIGN= field of an entry, if it can carry one.
pub fn entry_sign_field(entry: &Entry) -> Option<&SignField> {
    match &entry.kind {
        EntryKind::Feature(f) => Some(&f.signature),
        EntryKind::Package(p) => Some(&p.signature),
        EntryKind::FeatureSet(fs) => Some(&fs.signature),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Keys

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no usable {what} found (expected a PEM block)")]
    NoKey { path: PathBuf, what: &'static str },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    /// Key material compiled into a program is unusable.
    #[error("{what} built into this program: {message}")]
    BuiltIn { what: &'static str, message: String },
}

fn pem_blocks<'a>(text: &'a str, label: &str) -> Vec<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        out.push(&rest[start..stop]);
        rest = &rest[stop..];
    }
    out
}

/// Reads every public key (SubjectPublicKeyInfo PEM) in a `.pub` file.
pub fn read_public_keys(path: &Path) -> Result<Vec<VerifyingKey>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    public_keys_in(&text).map_err(|problem| match problem {
        PemProblem::None => KeyError::NoKey {
            path: path.to_path_buf(),
            what: "public key",
        },
        PemProblem::Bad(message) => KeyError::Bad {
            path: path.to_path_buf(),
            message: format!("not an Ed25519 public key: {message}"),
        },
    })
}

/// Reads a publisher's private key (PKCS#8 PEM).
pub fn read_private_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    private_key_in(&text).map_err(|problem| match problem {
        PemProblem::None => KeyError::NoKey {
            path: path.to_path_buf(),
            what: "private key",
        },
        PemProblem::Bad(message) => KeyError::Bad {
            path: path.to_path_buf(),
            message: format!("not an Ed25519 private key: {message}"),
        },
    })
}

/// Every public key in PEM text built into a program; `what` names the
/// text in errors.
pub fn read_pem_public_keys(text: &str, what: &'static str) -> Result<Vec<VerifyingKey>, KeyError> {
    public_keys_in(text).map_err(|problem| KeyError::BuiltIn {
        what,
        message: problem.to_string(),
    })
}

/// The private key in PEM text built into a program.
pub fn read_pem_private_key(text: &str, what: &'static str) -> Result<SigningKey, KeyError> {
    private_key_in(text).map_err(|problem| KeyError::BuiltIn {
        what,
        message: problem.to_string(),
    })
}

/// What is wrong with PEM text.
#[derive(Debug)]
enum PemProblem {
    None,
    Bad(String),
}

impl std::fmt::Display for PemProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemProblem::None => f.write_str("no PEM block found"),
            PemProblem::Bad(m) => write!(f, "not an Ed25519 key: {m}"),
        }
    }
}

fn public_keys_in(text: &str) -> Result<Vec<VerifyingKey>, PemProblem> {
    let keys = pem_blocks(text, "PUBLIC KEY")
        .into_iter()
        .map(|block| {
            VerifyingKey::from_public_key_pem(block).map_err(|e| PemProblem::Bad(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(PemProblem::None);
    }
    Ok(keys)
}

fn private_key_in(text: &str) -> Result<SigningKey, PemProblem> {
    let block = pem_blocks(text, "PRIVATE KEY")
        .into_iter()
        .next()
        .ok_or(PemProblem::None)?;
    SigningKey::from_pkcs8_pem(block).map_err(|e| PemProblem::Bad(e.to_string()))
}

/// The key pair of the 32-byte secret `seed` as (key, private PEM, public
/// PEM). The seed must come from the operating system's random source: the
/// caller reads it (this crate reads no randomness and calls no C library).
pub fn key_pair_from_seed(seed: &[u8; 32]) -> Result<(SigningKey, String, String), String> {
    let key = SigningKey::from_bytes(seed);
    let private = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| e.to_string())?
        .to_string();
    let public = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((key, private, public))
}

/// The publishers' public keys, per vendor.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    by_vendor: HashMap<String, Vec<VerifyingKey>>,
    sources: HashMap<String, PathBuf>,
    /// The directories [`KeyRing::load`] looked in, in order.
    searched: Vec<PathBuf>,
}

impl KeyRing {
    pub fn new() -> Self {
        Self::default()
    }

    /// Why `vendor` has no key, naming where it was looked for:
    /// `demo.pub not found in /opt/lm/bin, /etc/lm`, so that an
    /// administrator knows where to put it.
    pub fn missing_key(&self, vendor: &str) -> String {
        if self.searched.is_empty() {
            return format!("{vendor}.pub not found (no directory was searched)");
        }
        let dirs: Vec<String> = self
            .searched
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        format!("{vendor}.pub not found in {}", dirs.join(", "))
    }

    pub fn insert(&mut self, vendor: &str, key: VerifyingKey) {
        self.by_vendor
            .entry(vendor.to_string())
            .or_default()
            .push(key);
    }

    pub fn has_vendor(&self, vendor: &str) -> bool {
        self.by_vendor.contains_key(vendor)
    }

    /// Where the vendor's keys were read from, if from a file.
    pub fn source(&self, vendor: &str) -> Option<&Path> {
        self.sources.get(vendor).map(PathBuf::as_path)
    }

    /// The key of `vendor` whose id is `id`.
    pub fn find(&self, vendor: &str, id: [u8; 4]) -> Option<&VerifyingKey> {
        self.by_vendor.get(vendor)?.iter().find(|k| key_id(k) == id)
    }

    /// Loads `<vendor>.pub` for each vendor from the first directory of
    /// `dirs` that has one. Only that file counts: a key further down the
    /// list (say, beside the license file) can never add to or override the
    /// one the publisher placed earlier (beside the daemon).
    pub fn load<'a>(
        vendors: impl IntoIterator<Item = &'a str>,
        dirs: &[PathBuf],
    ) -> (KeyRing, Vec<KeyError>) {
        let mut ring = KeyRing {
            searched: dirs.to_vec(),
            ..KeyRing::new()
        };
        let mut problems = Vec::new();
        for vendor in vendors {
            if ring.has_vendor(vendor) {
                continue;
            }
            let Some(path) = dirs
                .iter()
                .map(|d| d.join(format!("{vendor}.pub")))
                .find(|p| p.is_file())
            else {
                continue;
            };
            match read_public_keys(&path) {
                Ok(keys) => {
                    for k in keys {
                        ring.insert(vendor, k);
                    }
                    ring.sources.insert(vendor.to_string(), path);
                }
                Err(e) => problems.push(e),
            }
        }
        (ring, problems)
    }
}

/// The directories searched for `<vendor>.pub`, in order: those named by
/// the `LM_PUBLIC_KEY_PATH` variable (a `:`-separated list), the directory
/// of the running program, then the license file's directory.
pub fn key_search_dirs(license_file: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LM_PUBLIC_KEY_PATH")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    if let Some(dir) = license_file.and_then(Path::parent) {
        dirs.push(if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.to_path_buf()
        });
    }
    dirs
}

// ---------------------------------------------------------------------------
// Signing and verification

/// Signs an entry's content; `None` for lines that are not signed.
/// Returns the quoted SIGN= value.
pub fn sign_entry(file: &LicenseFile, entry: &Entry, key: &SigningKey) -> Option<String> {
    sign_entry_field(file, entry, key).map(|(text, _)| text)
}

/// Like [`sign_entry`], also returning the parsed field (for `ck=`).
pub fn sign_entry_field(
    file: &LicenseFile,
    entry: &Entry,
    key: &SigningKey,
) -> Option<(String, SignField)> {
    let content = signed_content(file, entry)?;
    Some(sign_content(&content, key))
}

/// Signs content made by [`content_with_servers`]: the quoted SIGN= value
/// and the parsed field. Signing a whole file this way gathers the SERVER
/// hostids once instead of once per line.
pub fn sign_content(content: &[u8], key: &SigningKey) -> (String, SignField) {
    let sig = key.sign(content);
    let kid = key_id(&key.verifying_key());
    (
        SignField::format(kid, &sig),
        SignField::Ed25519 {
            key_id: kid,
            signature: sig.to_bytes(),
        },
    )
}

/// Checks every entry's signature. The result has one slot per entry of
/// `file.entries`; lines that carry no signature (SERVER, VENDOR,
/// USE_SERVER) get `None`. Ed25519 signatures are checked in batches on
/// all available cores (the signed content is built there too); a batch
/// that fails is re-checked line by line to find the culprits.
pub fn verify_file(file: &LicenseFile, keys: &KeyRing) -> Vec<Option<SignatureStatus>> {
    let mut status: Vec<Option<SignatureStatus>> = vec![None; file.entries.len()];
    let mut jobs: Vec<Job> = Vec::new();
    for (i, entry) in file.entries.iter().enumerate() {
        let Some(field) = entry_sign_field(entry) else {
            continue;
        };
        status[i] = Some(match field {
            SignField::Missing => SignatureStatus::Missing,
            SignField::Legacy(_) => SignatureStatus::Unverifiable,
            SignField::Malformed(_) => SignatureStatus::Invalid,
            SignField::Ed25519 { key_id, signature } => {
                let vendor = entry_vendor(entry).unwrap_or("");
                match keys.find(vendor, *key_id) {
                    Some(key) => {
                        jobs.push(Job {
                            index: i,
                            signature: Signature::from_bytes(signature),
                            key: *key,
                        });
                        continue;
                    }
                    None => SignatureStatus::Unverifiable,
                }
            }
        });
    }
    let servers = file.server_hostids();
    for (i, outcome) in verify_jobs(file, &servers, &jobs) {
        status[i] = Some(match outcome {
            Some(true) => SignatureStatus::Valid,
            Some(false) => SignatureStatus::Invalid,
            None => SignatureStatus::Unverifiable,
        });
    }
    status
}

/// One Ed25519 signature to check: the entry it belongs to, and the key
/// its SIGN= names.
struct Job {
    index: usize,
    signature: Signature,
    key: VerifyingKey,
}

/// Checks the jobs, split evenly over the available cores. Each result is
/// `Some(valid)`, or `None` when the entry has no signed content.
fn verify_jobs(
    file: &LicenseFile,
    servers: &[&[HostId]],
    jobs: &[Job],
) -> Vec<(usize, Option<bool>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if jobs.len() < 64 || threads == 1 {
        return verify_chunk(file, servers, jobs);
    }
    let per = jobs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(per)
            .map(|c| s.spawn(move || verify_chunk(file, servers, c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn verify_chunk(
    file: &LicenseFile,
    servers: &[&[HostId]],
    jobs: &[Job],
) -> Vec<(usize, Option<bool>)> {
    let mut out = Vec::with_capacity(jobs.len());
    for batch in jobs.chunks(256) {
        let mut msgs: Vec<Vec<u8>> = Vec::with_capacity(batch.len());
        let mut sigs: Vec<Signature> = Vec::with_capacity(batch.len());
        let mut keys: Vec<VerifyingKey> = Vec::with_capacity(batch.len());
        let mut batch_jobs: Vec<&Job> = Vec::with_capacity(batch.len());
        for job in batch {
            match content_with_servers(file, &file.entries[job.index], servers) {
                Some(content) => {
                    msgs.push(content);
                    sigs.push(job.signature);
                    keys.push(job.key);
                    batch_jobs.push(job);
                }
                None => out.push((job.index, None)),
            }
        }
        let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        if ed25519_dalek::verify_batch(&msg_refs, &sigs, &keys).is_ok() {
            out.extend(batch_jobs.iter().map(|j| (j.index, Some(true))));
        } else {
            out.extend(
                batch_jobs
                    .iter()
                    .zip(&msgs)
                    .map(|(j, m)| (j.index, Some(j.key.verify_strict(m, &j.signature).is_ok()))),
            );
        }
    }
    out
}
