//! The secret that makes a borrow its borrower's.
//!
//! A client that borrows a license draws 32 random bytes, keeps them in
//! its local borrow record, and sends only their SHA-256 with the
//! borrowing checkout (`Checkout::return_hash`). The vendor daemon keeps
//! the hash with the borrowed seat (in its borrow store and, in a triad,
//! in the replicated seat). Returning the borrow early
//! (`ReturnBorrow::secret`) takes the secret itself: claiming the
//! borrower's user, host and display is not enough. The hash may be seen
//! by anyone (it is not secret); the secret never leaves the borrowing
//! machine before the return.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of the secret and of its hash.
pub const LEN: usize = 32;

/// The hash a borrowing checkout carries for `secret`.
pub fn return_hash(secret: &[u8]) -> [u8; LEN] {
    Sha256::digest(secret).into()
}

/// Whether `secret` is the one behind `hash`, compared in constant time
/// (the time taken says nothing about how much of it matched). An empty
/// or malformed hash (a borrow from before return secrets) matches
/// nothing.
pub fn secret_matches(secret: &[u8], hash: &[u8]) -> bool {
    if hash.len() != LEN || secret.len() != LEN {
        return false;
    }
    bool::from(return_hash(secret).as_slice().ct_eq(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_matches_its_hash() {
        let secret = [7u8; LEN];
        let hash = return_hash(&secret);
        assert!(secret_matches(&secret, &hash));
        let mut other = secret;
        other[31] ^= 1;
        assert!(!secret_matches(&other, &hash));
        assert!(!secret_matches(&[], &hash));
        assert!(!secret_matches(&secret, &[]));
        // The hash itself is no secret.
        assert!(!secret_matches(&hash, &hash));
    }
}
