//! Electrum native seeds: seed versions (standard, segwit, 2FA, 2FA-segwit), the PBKDF2 seed,
//! and pre-2.0 "old" seeds with their own word list and non-BIP32 key derivation.
//!
//! Sources (electrum/mnemonic.py, electrum/old_mnemonic.py, electrum/keystore.py, Electrum 4.3.4
//! as packaged by Debian):
//! - version = hex of HMAC-SHA512(key "Seed version", normalised phrase), prefix `01` standard,
//!   `100` segwit, `101` 2FA (only with 12 or ≥ 20 words), `102` 2FA-segwit;
//! - seed = PBKDF2-HMAC-SHA512(normalised phrase, "electrum" + normalised passphrase, 2048);
//! - old seeds: 12 or 24 words of the 1626-word list decode (3 words per 32 bits) to a hex
//!   string; the hex string's ASCII bytes are stretched by 100,000 rounds of
//!   `x = sha256(x || seed)`; the result is the master private key, whose uncompressed public
//!   key (without the 04 byte) is the "master public key" (mpk). Key `n` of chain `c` (0
//!   receive, 1 change) is `mpk + sha256d("n:c:" || mpk)·G`, uncompressed, paid to P2PKH.

use std::sync::OnceLock;

use std::str::FromStr;

use bitcoin::{
    bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub},
    hashes::{hmac, sha256, sha256d, sha512, Hash, HashEngine},
    secp256k1::{self, PublicKey, Scalar, Secp256k1, SecretKey},
};
use custos_core::{Network, Secret, SecretString};
use zeroize::Zeroize;

use crate::{normalize::electrum_normalize, pbkdf2::pbkdf2_hmac_sha512, Error};

/// Kind of an Electrum native seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElectrumSeedKind {
    /// Version prefix `01`: p2pkh wallet, keys at m/0/i and m/1/i.
    Standard,
    /// Version prefix `100`: p2wpkh wallet, keys at m/0'/0/i and m/0'/1/i.
    Segwit,
    /// Version prefix `101`: 2-of-3 TrustedCoin wallet (p2sh).
    TwoFactor,
    /// Version prefix `102`: 2-of-3 TrustedCoin wallet (p2wsh).
    TwoFactorSegwit,
    /// Pre-2.0 seed of Electrum's old 1626-word list (or its 32/64-digit hex form).
    Old,
}

impl ElectrumSeedKind {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ElectrumSeedKind::Standard => "standard",
            ElectrumSeedKind::Segwit => "segwit",
            ElectrumSeedKind::TwoFactor => "2fa",
            ElectrumSeedKind::TwoFactorSegwit => "2fa-segwit",
            ElectrumSeedKind::Old => "old",
        }
    }

    /// Seed-version hex prefix (none for old seeds).
    pub fn prefix(self) -> Option<&'static str> {
        match self {
            ElectrumSeedKind::Standard => Some("01"),
            ElectrumSeedKind::Segwit => Some("100"),
            ElectrumSeedKind::TwoFactor => Some("101"),
            ElectrumSeedKind::TwoFactorSegwit => Some("102"),
            ElectrumSeedKind::Old => None,
        }
    }
}

/// Hex of HMAC-SHA512("Seed version", phrase) for an already normalised phrase.
fn version_hex(normalized: &str) -> String {
    let mut e = hmac::HmacEngine::<sha512::Hash>::new(b"Seed version");
    e.input(normalized.as_bytes());
    hex::encode(hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array())
}

/// The seed type of a phrase exactly as Electrum's `mnemonic.seed_type` decides it (old seeds
/// first, then the version prefixes). `None` when it is no Electrum seed.
pub fn seed_type(text: &str) -> Option<ElectrumSeedKind> {
    let normalized = electrum_normalize(text);
    if is_old_seed_normalized(&normalized) {
        return Some(ElectrumSeedKind::Old);
    }
    new_seed_type_normalized(&normalized, text.split_whitespace().count())
}

/// Version-prefix seed type of a normalised phrase (ignores old seeds).
pub(crate) fn new_seed_type_normalized(
    normalized: &str,
    num_words: usize,
) -> Option<ElectrumSeedKind> {
    let v = version_hex(normalized);
    if v.starts_with("01") {
        Some(ElectrumSeedKind::Standard)
    } else if v.starts_with("100") {
        Some(ElectrumSeedKind::Segwit)
    } else if v.starts_with("101") && (num_words == 12 || num_words >= 20) {
        Some(ElectrumSeedKind::TwoFactor)
    } else if v.starts_with("102") {
        Some(ElectrumSeedKind::TwoFactorSegwit)
    } else {
        None
    }
}

/// The 64-byte BIP32 seed of a version-prefixed Electrum seed:
/// PBKDF2-HMAC-SHA512(normalised phrase, "electrum" + normalised passphrase, 2048).
pub fn electrum_seed(phrase: &SecretString, passphrase: Option<&SecretString>) -> Secret<Vec<u8>> {
    let p = Secret::new(electrum_normalize(phrase.expose_secret()));
    let mut salt = String::from("electrum");
    if let Some(pp) = passphrase {
        salt.push_str(&electrum_normalize(pp.expose_secret()));
    }
    let salt = Secret::new(salt);
    let mut out = pbkdf2_hmac_sha512(
        p.expose_secret().as_bytes(),
        salt.expose_secret().as_bytes(),
        2048,
    );
    let v = out.to_vec();
    out.zeroize();
    Secret::new(v)
}

// ---------------------------------------------------------------------------------------------
// Old (pre-2.0) seeds

static OLD_WORDS_TEXT: &str = include_str!("../data/electrum_old_words.txt");

/// Electrum's old 1626-word list (electrum/old_mnemonic.py), in order.
pub fn old_wordlist() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        OLD_WORDS_TEXT
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect()
    })
}

fn old_index(word: &str) -> Option<u64> {
    old_wordlist()
        .iter()
        .position(|w| *w == word)
        .map(|i| i as u64)
}

/// Electrum's `old_mnemonic.mn_decode`: 3 words → `%08x` of one 32-bit (or, for some word
/// triples, larger) number. Trailing words that do not fill a triple are ignored, as there.
/// `None` when a word is not in the old list; the `usize` is its 0-based position.
pub fn old_mn_decode(words: &[&str]) -> Result<String, usize> {
    let n = old_wordlist().len() as u64;
    let mut out = String::new();
    for (t, triple) in words.chunks_exact(3).enumerate() {
        let w1 = old_index(triple[0]).ok_or(3 * t)?;
        let w2 = old_index(triple[1]).ok_or(3 * t + 1)?;
        let w3 = old_index(triple[2]).ok_or(3 * t + 2)?;
        let x = w1 + n * ((w2 + n - w1) % n) + n * n * ((w3 + n - w2) % n);
        out.push_str(&format!("{x:08x}"));
    }
    Ok(out)
}

/// Electrum's `old_mnemonic.mn_encode` of a hex string whose length is a multiple of 8.
pub fn old_mn_encode(hex_seed: &str) -> Option<Vec<&'static str>> {
    if !hex_seed.len().is_multiple_of(8) {
        return None;
    }
    let list = old_wordlist();
    let n = list.len() as u64;
    let mut out = Vec::new();
    for i in 0..hex_seed.len() / 8 {
        let x = u64::from_str_radix(hex_seed.get(8 * i..8 * i + 8)?, 16).ok()?;
        let w1 = x % n;
        let w2 = ((x / n) + w1) % n;
        let w3 = ((x / n / n) + w2) % n;
        out.extend([list[w1 as usize], list[w2 as usize], list[w3 as usize]]);
    }
    Some(out)
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Electrum's `is_old_seed` on a normalised phrase: 16 or 32 bytes of hex, or 12 or 24 words that
/// all belong to the old list.
pub(crate) fn is_old_seed_normalized(normalized: &str) -> bool {
    if is_hex(normalized) && (normalized.len() == 32 || normalized.len() == 64) {
        return true;
    }
    let words: Vec<&str> = normalized.split_whitespace().collect();
    (words.len() == 12 || words.len() == 24) && old_mn_decode(&words).is_ok()
}

/// The hex seed of an old seed phrase (Electrum's `Old_KeyStore.format_seed`): the phrase itself
/// when it is hex, else the decoded words.
pub fn old_hex_seed(phrase: &SecretString) -> Result<SecretString, Error> {
    let normalized = Secret::new(electrum_normalize(phrase.expose_secret()));
    let n = normalized.expose_secret();
    if is_hex(n) {
        return Ok(Secret::new(n.clone()));
    }
    let words: Vec<&str> = n.split_whitespace().collect();
    match old_mn_decode(&words) {
        Ok(h) if !h.is_empty() => Ok(Secret::new(h)),
        Ok(_) => Err(Error::Invalid {
            kind: "electrum old seed",
            line: None,
            fault: "fewer than 3 words".into(),
        }),
        Err(pos) => Err(Error::UnknownWord {
            kind: "electrum old seed",
            language: "electrum old (1626 words)",
            position: pos + 1,
            suggestions: Vec::new(),
        }),
    }
}

/// The stretched master private key of an old seed (100,000 rounds of sha256).
fn old_master_secret(hex_seed: &SecretString) -> Result<SecretKey, Error> {
    let seed = hex_seed.expose_secret().as_bytes();
    let mut x: Vec<u8> = seed.to_vec();
    for _ in 0..100_000 {
        let mut e = sha256::Hash::engine();
        e.input(&x);
        e.input(seed);
        x.zeroize();
        x = sha256::Hash::from_engine(e).to_byte_array().to_vec();
    }
    let key = SecretKey::from_slice(&x).map_err(|e| Error::Derivation {
        path: "electrum old master key".into(),
        reason: e.to_string(),
    });
    x.zeroize();
    key
}

/// The master public key of an old seed: the uncompressed public key of the stretched seed.
pub fn old_master_public_key(hex_seed: &SecretString) -> Result<PublicKey, Error> {
    let secp = Secp256k1::signing_only();
    let sk = old_master_secret(hex_seed)?;
    Ok(PublicKey::from_secret_key(&secp, &sk))
}

/// Electrum's `mpk` string: 128 hex digits (uncompressed key without the leading 04).
pub fn old_mpk_hex(mpk: &PublicKey) -> String {
    hex::encode(&mpk.serialize_uncompressed()[1..])
}

/// Public key `n` of chain `for_change` (0 receive, 1 change) of an old wallet.
pub fn old_derive_pubkey<C: secp256k1::Verification>(
    secp: &Secp256k1<C>,
    mpk: &PublicKey,
    for_change: u32,
    n: u32,
) -> Result<PublicKey, Error> {
    let mut data = format!("{n}:{for_change}:").into_bytes();
    data.extend_from_slice(&mpk.serialize_uncompressed()[1..]);
    let z = sha256d::Hash::hash(&data).to_byte_array();
    let path = || format!("electrum old {for_change}/{n}");
    let tweak = Scalar::from_be_bytes(z).map_err(|e| Error::Derivation {
        path: path(),
        reason: e.to_string(),
    })?;
    mpk.add_exp_tweak(secp, &tweak)
        .map_err(|e| Error::Derivation {
            path: path(),
            reason: e.to_string(),
        })
}

// ---------------------------------------------------------------------------------------------
// 2FA (TrustedCoin) seeds

/// TrustedCoin's signing xpub on mainnet (electrum/plugins/trustedcoin/trustedcoin.py,
/// `get_signing_xpub`). Public data of the Electrum plugin.
pub const TRUSTEDCOIN_XPUB_MAINNET: &str = "xpub661MyMwAqRbcGnMkaTx2594P9EDuiEqMq25PM2aeG6UmwzaohgA6uDmNsvSUV8ubqwA3Wpste1hg69XHgjUuCD5HLcEp2QPzyV1HMrPppsL";
/// TrustedCoin's signing xpub on test networks (same source).
pub const TRUSTEDCOIN_XPUB_TESTNET: &str = "tpubD6NzVbkrYhZ4XdmyJQcCPjQfg6RXVUzGFhPjZ7uvRC8JLcS7Hw1i7UTpyhp9grHpak4TyK2hzBJrujDVLXQ6qB5tNpVx9rC6ixijUXadnmY";

/// One of the user's two keys of a 2FA wallet.
#[derive(Debug, Clone)]
pub struct TwoFactorUserKey {
    /// Master fingerprint of the BIP32 root it comes from.
    pub master: Fingerprint,
    /// Path from that root (`m/0'`, `m/1'`, or `m` for pre-2.7 seeds).
    pub path: DerivationPath,
    /// The extended public key.
    pub xpub: Xpub,
}

/// The three cosigner keys of an Electrum 2FA wallet (2-of-3, sorted keys).
#[derive(Debug, Clone)]
pub struct TwoFactorKeys {
    /// x1 (user key).
    pub x1: TwoFactorUserKey,
    /// x2 (user key).
    pub x2: TwoFactorUserKey,
    /// x3: TrustedCoin's key for this wallet (its signing xpub CKD'd with the user id).
    pub x3: Xpub,
}

fn two_factor_err(reason: impl ToString) -> Error {
    Error::Derivation {
        path: "electrum 2fa keys".into(),
        reason: reason.to_string(),
    }
}

fn root_of(
    phrase: &str,
    passphrase: Option<&SecretString>,
    network: Network,
) -> Result<Xpriv, Error> {
    let seed = electrum_seed(&Secret::new(phrase.to_string()), passphrase);
    Xpriv::new_master(network.to_bitcoin(), seed.expose_secret()).map_err(two_factor_err)
}

fn user_key(
    root: &Xpriv,
    path: &str,
    secp: &Secp256k1<secp256k1::All>,
) -> Result<TwoFactorUserKey, Error> {
    let path = DerivationPath::from_str(path).map_err(two_factor_err)?;
    let k = root.derive_priv(secp, &path).map_err(two_factor_err)?;
    Ok(TwoFactorUserKey {
        master: root.fingerprint(secp),
        path,
        xpub: Xpub::from_priv(secp, &k),
    })
}

/// The keys of an Electrum 2FA wallet, as Electrum's TrustedCoin plugin derives them
/// (`xkeys_from_seed`, `get_user_id`, `make_xpub`).
pub fn two_factor_keys(
    phrase: &SecretString,
    passphrase: Option<&SecretString>,
    kind: ElectrumSeedKind,
    network: Network,
) -> Result<TwoFactorKeys, Error> {
    let secp = Secp256k1::new();
    let normalized = Secret::new(electrum_normalize(phrase.expose_secret()));
    let words: Vec<&str> = normalized.expose_secret().split(' ').collect();
    let with_pass = passphrase.is_some_and(|p| !p.is_empty());
    let (x1, x2) = match (kind, words.len()) {
        (ElectrumSeedKind::TwoFactor, n) if n >= 20 => {
            if with_pass {
                return Err(Error::Unsupported {
                    kind: "electrum 2fa seed",
                    reason: "pre-2.7 2fa seeds (20+ words) have no passphrase".into(),
                });
            }
            let first = Secret::new(words[..12].join(" "));
            let rest = Secret::new(words[12..].join(" "));
            let r1 = root_of(first.expose_secret(), None, network)?;
            let r2 = root_of(rest.expose_secret(), None, network)?;
            (user_key(&r1, "m", &secp)?, user_key(&r2, "m", &secp)?)
        }
        (ElectrumSeedKind::TwoFactor, 12) | (ElectrumSeedKind::TwoFactorSegwit, _) => {
            let r = root_of(normalized.expose_secret(), passphrase, network)?;
            (user_key(&r, "m/0'", &secp)?, user_key(&r, "m/1'", &secp)?)
        }
        (ElectrumSeedKind::TwoFactor, n) => {
            return Err(Error::Invalid {
                kind: "electrum 2fa seed",
                line: None,
                fault: format!("{n} words; a 2fa seed has 12, or 20 and more (pre-2.7)"),
            })
        }
        (other, _) => {
            return Err(Error::Unsupported {
                kind: "electrum seed",
                reason: format!("{} seeds are not 2fa seeds", other.name()),
            })
        }
    };
    // The user id hashes the two xpubs as Electrum prints them: xpub/tpub for 2fa, Zpub/Vpub
    // (p2wsh) for 2fa-segwit.
    let text = |x: &Xpub| -> Result<String, Error> {
        if kind == ElectrumSeedKind::TwoFactorSegwit {
            let prefix = if network == Network::Bitcoin {
                "Zpub"
            } else {
                "Vpub"
            };
            crate::slip132::encode_public(x, prefix)
                .ok_or_else(|| two_factor_err("slip132 encoding"))
        } else {
            Ok(x.to_string())
        }
    };
    let mut pair = [text(&x1.xpub)?, text(&x2.xpub)?];
    pair.sort();
    let long_id = sha256::Hash::hash(pair.concat().as_bytes()).to_byte_array();
    let signing = Xpub::from_str(if network == Network::Bitcoin {
        TRUSTEDCOIN_XPUB_MAINNET
    } else {
        TRUSTEDCOIN_XPUB_TESTNET
    })
    .map_err(two_factor_err)?;
    // Electrum's bip32._CKD_pub with a 32-byte "index": I = HMAC-SHA512(c, K || long_id).
    let mut e = hmac::HmacEngine::<sha512::Hash>::new(signing.chain_code.as_bytes());
    e.input(&signing.public_key.serialize());
    e.input(&long_id);
    let i = hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array();
    let tweak = SecretKey::from_slice(&i[..32]).map_err(two_factor_err)?;
    let public_key = signing
        .public_key
        .add_exp_tweak(&secp, &tweak.into())
        .map_err(two_factor_err)?;
    let mut cc = [0u8; 32];
    cc.copy_from_slice(&i[32..]);
    let x3 = Xpub {
        network: network.to_bitcoin().into(),
        depth: 0,
        parent_fingerprint: Fingerprint::default(),
        child_number: ChildNumber::Normal { index: 0 },
        public_key,
        chain_code: ChainCode::from(cc),
    };
    Ok(TwoFactorKeys { x1, x2, x3 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_wordlist_has_1626_distinct_words() {
        let l = old_wordlist();
        assert_eq!(l.len(), 1626);
        let set: std::collections::HashSet<_> = l.iter().collect();
        assert_eq!(set.len(), 1626);
        assert_eq!(l[0], "like");
        assert_eq!(l[1625], "weary");
    }

    #[test]
    fn version_prefix_needs_the_exact_phrase() {
        // A phrase that is no seed of any kind.
        assert_eq!(seed_type("not a seed"), None);
    }
}
