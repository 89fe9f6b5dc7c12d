//! PBKDF2-HMAC-SHA512 with a 64-byte output (one block), as used by BIP39 and Electrum seeds.

use bitcoin::hashes::{hmac, sha256, sha512, Hash, HashEngine};
use zeroize::Zeroize;

/// PBKDF2-HMAC-SHA512(password, salt, rounds), 64 bytes.
pub fn pbkdf2_hmac_sha512(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    let keyed = hmac::HmacEngine::<sha512::Hash>::new(password);
    let mut e = keyed.clone();
    e.input(salt);
    e.input(&1u32.to_be_bytes());
    let mut u = hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array();
    let mut t = u;
    for _ in 1..rounds {
        let mut e = keyed.clone();
        e.input(&u);
        u = hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array();
        for (a, b) in t.iter_mut().zip(u.iter()) {
            *a ^= b;
        }
    }
    u.zeroize();
    t
}

/// PBKDF2-HMAC-SHA256(password, salt, rounds) into `out` (any length), as SLIP-39's round
/// function uses it.
pub(crate) fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let keyed = hmac::HmacEngine::<sha256::Hash>::new(password);
    for (block, chunk) in out.chunks_mut(32).enumerate() {
        let mut e = keyed.clone();
        e.input(salt);
        e.input(&(block as u32 + 1).to_be_bytes());
        let mut u = hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array();
        let mut t = u;
        for _ in 1..rounds {
            let mut e = keyed.clone();
            e.input(&u);
            u = hmac::Hmac::<sha256::Hash>::from_engine(e).to_byte_array();
            for (a, b) in t.iter_mut().zip(u.iter()) {
                *a ^= b;
            }
        }
        chunk.copy_from_slice(&t[..chunk.len()]);
        u.zeroize();
        t.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Electrum's tests/test_mnemonic.py `test_mnemonic_to_seed_basic`: PBKDF2 of "foobar" with
    // salt "electrum" + "none" (the vector is in fixtures/vectors/electrum.json too).
    #[test]
    fn matches_electrum_basic_vector() {
        let out = pbkdf2_hmac_sha512(b"foobar", b"electrumnone", 2048);
        assert_eq!(
            hex::encode(out),
            "741b72fd15effece6bfe5a26a52184f66811bd2be363190e07a42cca442b1a5bb22b3ad0eb338197287e6d314866c7fba863ac65d3f156087a5052ebc7157fce"
        );
    }
}
