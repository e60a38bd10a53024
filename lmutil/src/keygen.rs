//! New publisher keys (`lmcrypt -genkey`, `lmcrypt -kit`): the seed comes
//! from the operating system's random source here, so that the license
//! grammar itself reads no randomness.

use grammar::signature::SigningKey;

/// A new publisher key pair as (key, private PEM, public PEM), from 32 bytes
/// of the operating system's random source.
pub fn new_key_pair() -> Result<(SigningKey, String, String), String> {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| format!("cannot read random bytes for a new key: {e}"))?;
    grammar::signature::key_pair_from_seed(&seed)
}
