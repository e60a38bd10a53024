//! A publisher's key material, as built into its vendor daemon and its
//! applications, and the two proofs that rest on it.
//!
//! Whoever runs a license server controls its files and environment, so a
//! key found there at run time proves nothing: anyone can make a key pair
//! and sign a license with it. Only keys compiled into the publisher's own
//! programs are trusted to serve or honour a license. This module holds
//! them ([`Publisher`], [`DaemonKeys`]) and what they vouch for:
//!
//! - a **grant proof** ([`SignedLine`]): the signed content and signature
//!   of the license line(s) behind a grant, which a vendor daemon sends
//!   with every grant, so that an application can check that a line signed
//!   by its publisher backs what it was given ([`Publisher::check_grant`]);
//! - a **borrow seal** ([`BorrowSeal`]): the vendor daemon's signature
//!   over a borrow's terms, kept with the client's local borrow record, so
//!   that editing the record (a later end, more seats) is detected.

use crate::date::{Date, Expiry};
use crate::hostid::HostId;
use crate::model::{EntryKind, LicenseFile};
use crate::pool::Pool;
pub use crate::sign_field::SignedLine;
use crate::signature::{
    content_with_servers, entry_sign_field, key_id, read_pem_private_key, read_pem_public_keys,
    KeyError, KeyRing, SignField,
};
use crate::version::Version;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// The demo publisher's license-signing public key (its private key is
/// shipped in `examples/licenses/demo.key`: for demonstrations only).
pub const DEMO_PUBLIC_KEYS: &str = include_str!("../../examples/licenses/demo.pub");

/// The public half of the demo vendor daemon's borrow-sealing key.
pub const DEMO_SEAL_PUBLIC_KEY: &str = include_str!("../../examples/licenses/demo-seal.pub");

/// The demo publisher's vendor name.
pub const DEMO_VENDOR: &str = "demo";

/// What a publisher's application carries: its vendor name, the public
/// keys that sign its licenses (several during a key rollover), and the
/// public key its vendor daemon seals borrows with.
#[derive(Debug, Clone)]
pub struct Publisher {
    vendor: String,
    license_keys: Vec<VerifyingKey>,
    seal_key: Option<VerifyingKey>,
}

impl Publisher {
    /// From PEM text: `license_keys` holds one or more `PUBLIC KEY` blocks
    /// (a `.pub` file as `lmcrypt -genkey` writes it); `seal_key`, the
    /// vendor daemon's borrow-sealing public key, if the application uses
    /// borrowing.
    pub fn from_pem(
        vendor: &str,
        license_keys: &str,
        seal_key: Option<&str>,
    ) -> Result<Publisher, KeyError> {
        let license_keys = read_pem_public_keys(license_keys, "the publisher's license keys")?;
        let seal_key = match seal_key {
            Some(pem) => read_pem_public_keys(pem, "the borrow-sealing key")?
                .into_iter()
                .next(),
            None => None,
        };
        Ok(Publisher {
            vendor: vendor.to_string(),
            license_keys,
            seal_key,
        })
    }

    /// The demo publisher (vendor `demo`), whose keys ship with the
    /// examples. Its private key is public: never ship an application
    /// that trusts it.
    pub fn demo() -> Publisher {
        Publisher::from_pem(DEMO_VENDOR, DEMO_PUBLIC_KEYS, Some(DEMO_SEAL_PUBLIC_KEY))
            .expect("the demo keys shipped with the source are valid PEM")
    }

    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    /// The license-signing keys, in the order given.
    pub fn license_keys(&self) -> &[VerifyingKey] {
        &self.license_keys
    }

    /// The license keys as a [`KeyRing`] holding this vendor only, for
    /// verifying whole files.
    pub fn key_ring(&self) -> KeyRing {
        let mut ring = KeyRing::new();
        for k in &self.license_keys {
            ring.insert(&self.vendor, *k);
        }
        ring
    }

    /// Checks that `proof` shows a line signed by this publisher that
    /// licenses `feature` at `version` or later on `today`: either a
    /// FEATURE, INCREMENT or UPGRADE line of the feature, or a PACKAGE line
    /// listing it as a component with the line that enables the package.
    /// Every line of the proof must verify.
    pub fn check_grant(
        &self,
        proof: &[SignedLine],
        feature: &str,
        version: &Version,
        today: Date,
    ) -> Result<(), GrantProblem> {
        if proof.is_empty() {
            return Err(GrantProblem::NoProof);
        }
        let mut lines = Vec::with_capacity(proof.len());
        for line in proof {
            self.verify_line(line)?;
            lines.push(ProvenLine::parse(&line.content).ok_or(GrantProblem::Unreadable)?);
        }
        let usable = |l: &ProvenLine| l.vendor == self.vendor && !l.expiry.is_expired(today);
        let direct = lines
            .iter()
            .filter(|l| l.is_feature() && usable(l) && l.name == feature)
            .any(|l| l.version.as_ref().is_some_and(|v| v >= version));
        if direct {
            return Ok(());
        }
        let via_package = lines
            .iter()
            .filter(|p| p.keyword == "PACKAGE" && p.vendor == self.vendor)
            .filter_map(|p| Some((p, p.component_version(feature)?)))
            .any(|(p, component)| {
                lines
                    .iter()
                    .filter(|e| e.is_feature() && usable(e) && e.name == p.name)
                    .any(|e| {
                        component
                            .as_ref()
                            .or(p.version.as_ref())
                            .or(e.version.as_ref())
                            .is_some_and(|v| v >= version)
                    })
            });
        if via_package {
            Ok(())
        } else {
            Err(GrantProblem::NotBacking {
                feature: feature.to_string(),
            })
        }
    }

    fn verify_line(&self, line: &SignedLine) -> Result<(), GrantProblem> {
        let key = self
            .license_keys
            .iter()
            .find(|k| key_id(k) == line.key_id)
            .ok_or(GrantProblem::UnknownKey(line.key_id))?;
        key.verify_strict(&line.content, &Signature::from_bytes(&line.signature))
            .map_err(|_| GrantProblem::BadSignature)
    }

    /// True if `signature` is this publisher's vendor daemon's seal over
    /// `terms`. Without a sealing key nothing verifies.
    pub fn check_seal(&self, terms: &BorrowSeal<'_>, signature: &[u8]) -> bool {
        let (Some(key), Ok(sig)) = (&self.seal_key, <[u8; 64]>::try_from(signature)) else {
            return false;
        };
        key.verify_strict(&terms.content(), &Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// What a vendor daemon carries: the publisher's public keys, and the
/// private key it seals borrows with. Built into the daemon binary.
#[derive(Debug, Clone)]
pub struct DaemonKeys {
    publisher: Publisher,
    seal: SigningKey,
}

impl DaemonKeys {
    /// From PEM text: the license keys as for [`Publisher::from_pem`], and
    /// the daemon's borrow-sealing private key (`PRIVATE KEY`, PKCS#8).
    pub fn from_pem(
        vendor: &str,
        license_keys: &str,
        seal_private_key: &str,
    ) -> Result<DaemonKeys, KeyError> {
        let seal = read_pem_private_key(seal_private_key, "the borrow-sealing key")?;
        let mut publisher = Publisher::from_pem(vendor, license_keys, None)?;
        publisher.seal_key = Some(seal.verifying_key());
        Ok(DaemonKeys { publisher, seal })
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Seals a borrow's terms.
    pub fn seal(&self, terms: &BorrowSeal<'_>) -> [u8; 64] {
        self.seal.sign(&terms.content()).to_bytes()
    }
}

/// Why a grant is not backed by the publisher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantProblem {
    #[error("the server sent no signed license line with the grant")]
    NoProof,
    #[error("the license line behind the grant is signed with key {} that this application does not trust", crate::sign_field::encode_hex(.0))]
    UnknownKey([u8; 4]),
    #[error("the signature of the license line behind the grant does not verify")]
    BadSignature,
    #[error("the signed license line behind the grant cannot be read")]
    Unreadable,
    #[error("no license line signed by the publisher licenses {feature} at the version asked for")]
    NotBacking { feature: String },
}

/// The signed lines behind `pool`: its first line that is in force on
/// `today` (all lines of a pool license the same feature and version), and,
/// for a pool expanded from a PACKAGE, the PACKAGE line. Lines without our
/// signature are left out (they are never pooled anyway).
pub fn pool_proof(file: &LicenseFile, servers: &[&[HostId]], pool: &Pool) -> Vec<SignedLine> {
    let signed = |entry: &crate::model::Entry| {
        let SignField::Ed25519 { key_id, signature } = entry_sign_field(entry)? else {
            return None;
        };
        Some(SignedLine {
            content: content_with_servers(file, entry, servers)?.into(),
            key_id: *key_id,
            signature: *signature,
        })
    };
    let mut proof = Vec::new();
    if let Some(line) = pool.contributions.first().map(|c| c.line) {
        if let Some(s) = file
            .entries
            .iter()
            .find(|e| e.line == line)
            .and_then(signed)
        {
            proof.push(s);
        }
    }
    if let Some(package) = &pool.package {
        let entry = file.entries.iter().find(|e| {
            matches!(&e.kind, EntryKind::Package(p) if p.name == *package && p.vendor == pool.vendor)
        });
        if let Some(s) = entry.and_then(signed) {
            proof.push(s);
        }
    }
    proof
}

/// A borrow's terms, as a vendor daemon seals them: the borrowing user and
/// host (so a record copied to another machine or user does not verify),
/// what was lent, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BorrowSeal<'a> {
    pub vendor: &'a str,
    pub feature: &'a str,
    pub version: &'a str,
    pub count: u32,
    pub expiry: &'a str,
    pub until: u64,
    pub handle: u64,
    pub user: &'a str,
    pub host: &'a str,
}

impl BorrowSeal<'_> {
    /// The bytes sealed: a prefix of their own (so a seal can never pass
    /// for a license signature) and length-prefixed fields.
    fn content(&self) -> Vec<u8> {
        let mut out = b"lmseal1\n".to_vec();
        let count = self.count.to_string();
        let until = self.until.to_string();
        let handle = self.handle.to_string();
        for field in [
            self.vendor,
            self.feature,
            self.version,
            &count,
            self.expiry,
            &until,
            &handle,
            self.user,
            self.host,
        ] {
            out.extend_from_slice(field.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(field.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// The fields of a signed FEATURE-like or PACKAGE line that a grant check
/// needs, read back from its signed content.
struct ProvenLine<'a> {
    keyword: &'a str,
    name: &'a str,
    vendor: &'a str,
    version: Option<Version>,
    expiry: Expiry,
    attributes: Vec<&'a str>,
}

impl<'a> ProvenLine<'a> {
    fn parse(content: &'a [u8]) -> Option<ProvenLine<'a>> {
        let fields = crate::signature::content_fields(content)?;
        let mut it = fields.into_iter();
        let keyword = it.next()?;
        let name = it.next()?;
        let vendor = it.next()?;
        match keyword {
            "FEATURE" | "INCREMENT" | "UPGRADE" => {
                if keyword == "UPGRADE" {
                    it.next()?; // the from-version
                }
                let version = Version::parse(it.next()?);
                let expiry = Date::parse(it.next()?).ok()?.expiry;
                it.next()?; // the count
                Some(ProvenLine {
                    keyword,
                    name,
                    vendor,
                    version,
                    expiry,
                    attributes: it.collect(),
                })
            }
            "PACKAGE" => {
                let version = Version::parse(it.next()?);
                Some(ProvenLine {
                    keyword,
                    name,
                    vendor,
                    version,
                    expiry: Expiry::Permanent,
                    attributes: it.collect(),
                })
            }
            _ => None,
        }
    }

    fn is_feature(&self) -> bool {
        matches!(self.keyword, "FEATURE" | "INCREMENT" | "UPGRADE")
    }

    /// For a PACKAGE line listing `feature` in COMPONENTS: `Some` of the
    /// component's own version, if it has one.
    fn component_version(&self, feature: &str) -> Option<Option<Version>> {
        let list = self
            .attributes
            .iter()
            .find_map(|a| a.strip_prefix("COMPONENTS="))?;
        list.split_whitespace().find_map(|c| {
            let mut parts = c.split(':');
            (parts.next() == Some(feature)).then(|| parts.next().and_then(Version::parse))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign_content;

    fn signed(content: &[u8], key: &SigningKey) -> SignedLine {
        let (_, field) = sign_content(content, key);
        let SignField::Ed25519 { key_id, signature } = field else {
            unreachable!("sign_content makes Ed25519 fields")
        };
        SignedLine {
            content: content.into(),
            key_id,
            signature,
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn publisher(keys: &[&SigningKey]) -> Publisher {
        Publisher {
            vendor: "acme".into(),
            license_keys: keys.iter().map(|k| k.verifying_key()).collect(),
            seal_key: None,
        }
    }

    fn line_of(text: &str) -> Vec<u8> {
        let file = crate::parse_license("t.lic", text);
        crate::signature::signed_content(&file, &file.entries[0]).expect("a signed line")
    }

    fn today() -> Date {
        Date::new(2026, 12, 1).unwrap()
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn a_signed_feature_line_backs_its_feature_up_to_its_version() {
        let k = key();
        let proof = [signed(&line_of("FEATURE cad acme 2.0 permanent 4\n"), &k)];
        let p = publisher(&[&k]);
        assert_eq!(p.check_grant(&proof, "cad", &v("1.5"), today()), Ok(()));
        assert_eq!(p.check_grant(&proof, "cad", &v("2.0"), today()), Ok(()));
        assert!(matches!(
            p.check_grant(&proof, "cad", &v("2.1"), today()),
            Err(GrantProblem::NotBacking { .. })
        ));
        assert!(matches!(
            p.check_grant(&proof, "other", &v("1.0"), today()),
            Err(GrantProblem::NotBacking { .. })
        ));
    }

    #[test]
    fn another_key_a_changed_line_or_no_proof_is_refused() {
        let (k, rogue) = (key(), SigningKey::from_bytes(&[9; 32]));
        let p = publisher(&[&k]);
        let content = line_of("FEATURE cad acme 2.0 permanent 4\n");
        assert_eq!(
            p.check_grant(&[signed(&content, &rogue)], "cad", &v("1"), today()),
            Err(GrantProblem::UnknownKey(key_id(&rogue.verifying_key())))
        );
        let mut forged = signed(&content, &k);
        forged.content = line_of("FEATURE cad acme 2.0 permanent 400\n").into();
        assert_eq!(
            p.check_grant(&[forged], "cad", &v("1"), today()),
            Err(GrantProblem::BadSignature)
        );
        assert_eq!(
            p.check_grant(&[], "cad", &v("1"), today()),
            Err(GrantProblem::NoProof)
        );
    }

    #[test]
    fn a_rogue_key_with_the_publishers_key_id_still_fails() {
        let k = key();
        let p = publisher(&[&k]);
        let rogue = SigningKey::from_bytes(&[9; 32]);
        let mut line = signed(&line_of("FEATURE cad acme 2.0 permanent 4\n"), &rogue);
        line.key_id = key_id(&k.verifying_key());
        assert_eq!(
            p.check_grant(&[line], "cad", &v("1"), today()),
            Err(GrantProblem::BadSignature)
        );
    }

    #[test]
    fn an_expired_line_or_another_vendors_line_backs_nothing() {
        let k = key();
        let p = publisher(&[&k]);
        let old = signed(&line_of("FEATURE cad acme 2.0 1-jan-2020 4\n"), &k);
        assert!(p.check_grant(&[old], "cad", &v("1"), today()).is_err());
        let other = signed(&line_of("FEATURE cad zeta 2.0 permanent 4\n"), &k);
        assert!(p.check_grant(&[other], "cad", &v("1"), today()).is_err());
    }

    #[test]
    fn rolled_over_keys_both_verify() {
        let (old, new) = (key(), SigningKey::from_bytes(&[8; 32]));
        let p = publisher(&[&old, &new]);
        for k in [&old, &new] {
            let proof = [signed(&line_of("INCREMENT cad acme 1.0 permanent 1\n"), k)];
            assert_eq!(p.check_grant(&proof, "cad", &v("1.0"), today()), Ok(()));
        }
    }

    #[test]
    fn a_package_component_is_backed_by_the_package_and_its_enabling_line() {
        let k = key();
        let p = publisher(&[&k]);
        let enabling = signed(&line_of("FEATURE suite acme 3.0 permanent 2\n"), &k);
        let package = signed(
            &line_of("PACKAGE suite acme 3.0 COMPONENTS=\"view edit:1.0\"\n"),
            &k,
        );
        let proof = [enabling.clone(), package.clone()];
        assert_eq!(p.check_grant(&proof, "view", &v("3.0"), today()), Ok(()));
        assert_eq!(p.check_grant(&proof, "edit", &v("1.0"), today()), Ok(()));
        assert!(p.check_grant(&proof, "edit", &v("2.0"), today()).is_err());
        assert!(p.check_grant(&proof, "draw", &v("1.0"), today()).is_err());
        assert!(p
            .check_grant(&[package], "view", &v("1.0"), today())
            .is_err());
    }

    #[test]
    fn a_seal_verifies_only_for_the_same_terms_and_key() {
        let daemon = DaemonKeys {
            publisher: publisher(&[&key()]),
            seal: SigningKey::from_bytes(&[3; 32]),
        };
        let mut app = daemon.publisher().clone();
        app.seal_key = Some(daemon.seal.verifying_key());
        let terms = BorrowSeal {
            vendor: "acme",
            feature: "cad",
            version: "2.0",
            count: 1,
            expiry: "permanent",
            until: 1_800_000_000,
            handle: 7,
            user: "ann",
            host: "ws1",
        };
        let seal = daemon.seal(&terms);
        assert!(app.check_seal(&terms, &seal));
        let later = BorrowSeal {
            until: terms.until + 86_400,
            ..terms.clone()
        };
        assert!(!app.check_seal(&later, &seal));
        let elsewhere = BorrowSeal {
            host: "ws2",
            ..terms.clone()
        };
        assert!(!app.check_seal(&elsewhere, &seal));
        assert!(!app.check_seal(&terms, &seal[..63]));
        assert!(!publisher(&[&key()]).check_seal(&terms, &seal));
    }

    #[test]
    fn the_demo_keys_load() {
        let demo = Publisher::demo();
        assert_eq!(demo.vendor(), "demo");
        assert!(!demo.license_keys().is_empty());
        assert!(demo.seal_key.is_some());
    }
}

#[cfg(test)]
mod content_props {
    use crate::signature::content_fields;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = content_fields(&bytes);
            let mut prefixed = b"lmsign1\n".to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = content_fields(&prefixed);
        }

        #[test]
        fn fields_read_back_as_written(fields in proptest::collection::vec(".{0,20}", 0..8)) {
            let mut content = b"lmsign1\n".to_vec();
            for f in &fields {
                content.extend_from_slice(format!("{}:{f}\n", f.len()).as_bytes());
            }
            let back = content_fields(&content).expect("well-formed content");
            prop_assert_eq!(back, fields.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    /// Found by the `signed_content` fuzz target: `02:f1` read as `2:f1`,
    /// two spellings of one content.
    #[test]
    fn a_length_with_a_leading_zero_is_refused() {
        assert_eq!(content_fields(b"lmsign1
2:f1
"), Some(vec!["f1"]));
        assert_eq!(content_fields(b"lmsign1
02:f1
"), None);
        assert_eq!(content_fields(b"lmsign1
0:
"), Some(vec![""]));
        assert_eq!(content_fields(b"lmsign1
00:
"), None);
    }
}
