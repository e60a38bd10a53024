//! How two triad members prove to each other that they hold the triad key
//! before either takes a raft message from the other. Pure: the key, the
//! nonces and the proofs in, a verdict out; `peer_links` runs the
//! handshake and `triad_node` moves the bytes. Nonces come from the
//! operating system through [`NonceSource`], which tests replace.
//!
//! The dialing member D sends `TriadHello { member: d, cluster, nonce: Nd }`;
//! the accepting member A answers `TriadHello { member: a, cluster, nonce:
//! Na, proof: P_A }`; D checks `P_A`, then sends `TriadProof { P_D }` and
//! its raft messages; A checks `P_D` before it reads anything else. Each
//! proof is HMAC-SHA256 under the key of a label, the cluster, both member
//! numbers (dialer first) and both nonces. The two directions use different
//! labels, so a proof one side made cannot be sent back as the other's;
//! both nonces are fresh per connection, so no recorded proof fits a new
//! one.

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 32;

const ACCEPTOR_LABEL: &[u8] = b"lm triad link v1: acceptor proves";
const DIALER_LABEL: &[u8] = b"lm triad link v1: dialer proves";

/// Which end of a link a proof speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Dialer,
    Acceptor,
}

/// What a link's proofs are bound to.
#[derive(Debug, Clone, Copy)]
pub struct Transcript<'a> {
    pub cluster: &'a str,
    pub dialer: u64,
    pub acceptor: u64,
    pub dialer_nonce: &'a [u8],
    pub acceptor_nonce: &'a [u8],
}

impl Transcript<'_> {
    /// The MAC's input: every variable-length part with its length first,
    /// so no two transcripts encode alike.
    fn input(&self, side: Side) -> Vec<u8> {
        let mut v = Vec::with_capacity(160);
        let mut put = |b: &[u8]| {
            v.extend_from_slice(&(b.len() as u32).to_be_bytes());
            v.extend_from_slice(b);
        };
        put(match side {
            Side::Dialer => DIALER_LABEL,
            Side::Acceptor => ACCEPTOR_LABEL,
        });
        put(self.cluster.as_bytes());
        put(&self.dialer.to_be_bytes());
        put(&self.acceptor.to_be_bytes());
        put(self.dialer_nonce);
        put(self.acceptor_nonce);
        v
    }
}

/// A triad key, ready to sign. Its bytes are not kept elsewhere and never
/// printed.
pub struct TriadKey(ring::hmac::Key);

impl TriadKey {
    pub fn new(bytes: &[u8]) -> TriadKey {
        TriadKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
    }

    /// `side`'s proof for the link `t`.
    pub fn prove(&self, side: Side, t: &Transcript) -> Vec<u8> {
        ring::hmac::sign(&self.0, &t.input(side)).as_ref().to_vec()
    }

    /// Whether `proof` is `side`'s proof for `t` (constant time). Nonces
    /// that are not fresh-sized never verify.
    pub fn verify(&self, side: Side, t: &Transcript, proof: &[u8]) -> bool {
        t.dialer_nonce.len() == NONCE_LEN
            && t.acceptor_nonce.len() == NONCE_LEN
            && ring::hmac::verify(&self.0, &t.input(side), proof).is_ok()
    }
}

impl std::fmt::Debug for TriadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TriadKey(..)")
    }
}

/// The operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read random bytes for a triad nonce")]
pub struct NonceError;

/// A fresh nonce from the operating system's random source.
pub fn nonce() -> Result<[u8; NONCE_LEN], NonceError> {
    use ring::rand::SecureRandom;
    let mut n = [0u8; NONCE_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut n)
        .map_err(|_| NonceError)?;
    Ok(n)
}

/// Where the link state machine (`peer_links`) takes its nonces from: the
/// operating system in lmgrd, a counter in tests, so that its handshakes
/// can be replayed exactly.
pub trait NonceSource {
    /// A nonce never handed out before.
    fn fresh(&mut self) -> Result<[u8; NONCE_LEN], NonceError>;
}

/// Nonces from the operating system ([`nonce`]).
#[derive(Debug, Default)]
pub struct SystemNonces;

impl NonceSource for SystemNonces {
    fn fresh(&mut self) -> Result<[u8; NONCE_LEN], NonceError> {
        nonce()
    }
}

/// Two members whose use of a triad key differs. `peer` and `us` name
/// both members, as the text is logged on both sides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMismatch {
    /// The other member sent no challenge, but this one has a key.
    #[error("{peer} has no triad key but {us} has one: give all three members the same key")]
    PeerHasNone { peer: String, us: String },
    /// The other member sent a challenge, but this one has no key.
    #[error("{peer} uses a triad key but {us} has none: give all three members the same key")]
    OnlyPeerHasOne { peer: String, us: String },
}

/// Checks that a hello's use of the key matches this member's: `ours`
/// whether this member (`us`) has a key, `theirs` whether the hello
/// carried a nonce.
pub fn key_use(ours: bool, theirs: bool, peer: &str, us: &str) -> Result<(), KeyMismatch> {
    let (peer, us) = (peer.to_string(), us.to_string());
    match (ours, theirs) {
        (true, false) => Err(KeyMismatch::PeerHasNone { peer, us }),
        (false, true) => Err(KeyMismatch::OnlyPeerHasOne { peer, us }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ND: [u8; NONCE_LEN] = [1; NONCE_LEN];
    const NA: [u8; NONCE_LEN] = [2; NONCE_LEN];

    fn t<'a>(nd: &'a [u8], na: &'a [u8]) -> Transcript<'a> {
        Transcript {
            cluster: "c0ffee",
            dialer: 2,
            acceptor: 1,
            dialer_nonce: nd,
            acceptor_nonce: na,
        }
    }

    #[test]
    fn the_same_key_proves_both_ways() {
        let a = TriadKey::new(&[7; 32]);
        let d = TriadKey::new(&[7; 32]);
        let pa = a.prove(Side::Acceptor, &t(&ND, &NA));
        assert_eq!(pa.len(), 32);
        assert!(d.verify(Side::Acceptor, &t(&ND, &NA), &pa));
        let pd = d.prove(Side::Dialer, &t(&ND, &NA));
        assert!(a.verify(Side::Dialer, &t(&ND, &NA), &pd));
        assert_ne!(pa, pd);
    }

    #[test]
    fn another_key_or_a_made_up_proof_fails() {
        let ours = TriadKey::new(&[7; 32]);
        let theirs = TriadKey::new(&[8; 32]);
        let p = theirs.prove(Side::Dialer, &t(&ND, &NA));
        assert!(!ours.verify(Side::Dialer, &t(&ND, &NA), &p));
        assert!(!ours.verify(Side::Dialer, &t(&ND, &NA), &[0; 32]));
        assert!(!ours.verify(Side::Dialer, &t(&ND, &NA), &[]));
        let good = ours.prove(Side::Dialer, &t(&ND, &NA));
        assert!(!ours.verify(Side::Dialer, &t(&ND, &NA), &good[..31]));
    }

    #[test]
    fn a_proof_cannot_be_reflected_or_given_other_roles() {
        let k = TriadKey::new(&[7; 32]);
        // The acceptor's answer, sent back as the dialer's proof.
        let pa = k.prove(Side::Acceptor, &t(&ND, &NA));
        assert!(!k.verify(Side::Dialer, &t(&ND, &NA), &pa));
        // Members swapped (2 dialing 1 vs 1 dialing 2), same nonces.
        let pd = k.prove(Side::Dialer, &t(&ND, &NA));
        let swapped = Transcript {
            dialer: 1,
            acceptor: 2,
            ..t(&ND, &NA)
        };
        assert!(!k.verify(Side::Dialer, &swapped, &pd));
        // Nonces swapped.
        assert!(!k.verify(Side::Dialer, &t(&NA, &ND), &pd));
        // Another triad.
        let other = Transcript {
            cluster: "c0ffef",
            ..t(&ND, &NA)
        };
        assert!(!k.verify(Side::Dialer, &other, &pd));
    }

    #[test]
    fn a_recorded_proof_does_not_fit_a_fresh_nonce() {
        let k = TriadKey::new(&[7; 32]);
        let old = k.prove(Side::Dialer, &t(&ND, &NA));
        let fresh = nonce().unwrap();
        assert_ne!(fresh, NA);
        assert!(!k.verify(Side::Dialer, &t(&ND, &fresh), &old));
        // Empty or short nonces never verify, even with a matching MAC.
        let empty = k.prove(Side::Dialer, &t(&ND, &[]));
        assert!(!k.verify(Side::Dialer, &t(&ND, &[]), &empty));
    }

    #[test]
    fn mismatched_key_use_is_named() {
        assert_eq!(key_use(true, true, "m", "n"), Ok(()));
        assert_eq!(key_use(false, false, "m", "n"), Ok(()));
        assert!(key_use(true, false, "member 2", "member 1")
            .unwrap_err()
            .to_string()
            .starts_with("member 2 has no triad key but member 1 has one"));
        assert!(key_use(false, true, "member 2", "member 1")
            .unwrap_err()
            .to_string()
            .starts_with("member 2 uses a triad key but member 1 has none"));
    }

    #[test]
    fn system_nonces_differ() {
        let mut s = SystemNonces;
        assert_ne!(s.fresh().unwrap(), s.fresh().unwrap());
    }
}
