//! Web3 Secret Storage Definition, version 3 (the "keystore" JSON of geth, MetaMask exports,
//! MyEtherWallet, eth-account): scrypt or PBKDF2-HMAC-SHA256 key derivation, AES-128-CTR, and a
//! MAC = keccak256(derived_key[16..32] ‖ ciphertext) that tells a wrong password.
//!
//! Parameters are bounded before any work is done (scrypt memory ≤ 1 GiB, PBKDF2 ≤ 10 million
//! rounds), so a crafted file cannot exhaust the signing laptop.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::{keccak256, Address};
use custos_core::{secret::SecretBytes, Secret, SecretString};
use serde::Deserialize;
use zeroize::Zeroize;

use super::{address::parse_address, derive::address_of_key, EthKeyError};
use crate::pbkdf2::pbkdf2_hmac_sha256;

/// Largest scrypt working memory accepted (128 · r · n bytes).
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// Largest PBKDF2 round count accepted.
pub const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

#[derive(Debug, Clone, Deserialize)]
struct KeystoreJson {
    version: u32,
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct CryptoJson {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Debug, Clone, Deserialize)]
struct CipherParams {
    iv: String,
}

/// The key-derivation function of a keystore, with its checked parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt(n = 2^log_n, r, p).
    Scrypt {
        /// log2 of n.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` rounds.
    Pbkdf2 {
        /// Rounds.
        c: u32,
    },
}

/// A parsed, checked keystore file (still encrypted).
#[derive(Debug, Clone)]
pub struct Keystore {
    /// The KDF.
    pub kdf: Kdf,
    /// The `address` field, when the file has one (checked against the key after decryption).
    pub address: Option<Address>,
    /// The `id` field (a UUID), when present.
    pub id: Option<String>,
    dklen: usize,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: [u8; 32],
}

fn bad(msg: impl Into<String>) -> EthKeyError {
    EthKeyError::Keystore(msg.into())
}

fn hex_field(name: &str, s: &str) -> Result<Vec<u8>, EthKeyError> {
    hex::decode(s.trim_start_matches("0x")).map_err(|_| bad(format!("field {name} is not hex")))
}

fn uint(params: &serde_json::Value, name: &str) -> Result<u64, EthKeyError> {
    params
        .get(name)
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            bad(format!(
                "kdfparams.{name} is missing or not an unsigned integer"
            ))
        })
}

fn parse_kdf(kdf: &str, p: &serde_json::Value) -> Result<Kdf, EthKeyError> {
    match kdf {
        "scrypt" => {
            let n = uint(p, "n")?;
            let r = u32::try_from(uint(p, "r")?).map_err(|_| bad("kdfparams.r is too large"))?;
            let par = u32::try_from(uint(p, "p")?).map_err(|_| bad("kdfparams.p is too large"))?;
            if n < 2 || !n.is_power_of_two() {
                return Err(bad(format!("scrypt n = {n} is not a power of two above 1")));
            }
            if r == 0 || par == 0 || par > 64 {
                return Err(bad(format!("scrypt r = {r}, p = {par} out of range")));
            }
            let mem = 128u64.saturating_mul(u64::from(r)).saturating_mul(n);
            if mem > MAX_SCRYPT_MEMORY {
                return Err(bad(format!(
                    "scrypt n = {n}, r = {r} needs {mem} bytes of memory; more than the {MAX_SCRYPT_MEMORY} allowed"
                )));
            }
            Ok(Kdf::Scrypt {
                log_n: n.trailing_zeros() as u8,
                r,
                p: par,
            })
        }
        "pbkdf2" => {
            let prf = p
                .get("prf")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            if prf != "hmac-sha256" {
                return Err(bad(format!("pbkdf2 prf {prf:?} is not hmac-sha256")));
            }
            let c = uint(p, "c")?;
            if c == 0 || c > u64::from(MAX_PBKDF2_ROUNDS) {
                return Err(bad(format!(
                    "pbkdf2 c = {c} out of range 1..={MAX_PBKDF2_ROUNDS}"
                )));
            }
            Ok(Kdf::Pbkdf2 { c: c as u32 })
        }
        other => Err(bad(format!(
            "unknown kdf {other:?} (scrypt and pbkdf2 are defined)"
        ))),
    }
}

impl Keystore {
    /// Parses and checks a keystore V3 JSON text (no password needed; nothing decrypted).
    pub fn parse(text: &str) -> Result<Keystore, EthKeyError> {
        // serde_json's message names fields and types; a keystore holds nothing secret in the
        // clear (the key is encrypted), so it may be shown.
        let j: KeystoreJson =
            serde_json::from_str(text).map_err(|e| bad(format!("not a keystore v3 json: {e}")))?;
        if j.version != 3 {
            return Err(bad(format!(
                "version {} (only version 3 is defined)",
                j.version
            )));
        }
        let c = &j.crypto;
        if c.cipher != "aes-128-ctr" {
            return Err(bad(format!(
                "cipher {:?} (only aes-128-ctr is supported)",
                c.cipher
            )));
        }
        let kdf = parse_kdf(&c.kdf, &c.kdfparams)?;
        let dklen = uint(&c.kdfparams, "dklen")?;
        if !(32..=64).contains(&dklen) {
            return Err(bad(format!("kdfparams.dklen = {dklen}; 32 is required")));
        }
        let salt = hex_field(
            "kdfparams.salt",
            c.kdfparams
                .get("salt")
                .and_then(|s| s.as_str())
                .unwrap_or(""),
        )?;
        let iv: [u8; 16] = hex_field("cipherparams.iv", &c.cipherparams.iv)?
            .try_into()
            .map_err(|_| bad("cipherparams.iv is not 16 bytes"))?;
        let ciphertext = hex_field("ciphertext", &c.ciphertext)?;
        if ciphertext.len() != 32 {
            return Err(bad(format!(
                "ciphertext is {} bytes; a private key is 32",
                ciphertext.len()
            )));
        }
        let mac: [u8; 32] = hex_field("mac", &c.mac)?
            .try_into()
            .map_err(|_| bad("mac is not 32 bytes"))?;
        let address = match &j.address {
            Some(a) if !a.is_empty() => {
                let with0x = if a.starts_with("0x") {
                    a.clone()
                } else {
                    format!("0x{a}")
                };
                Some(parse_address(&with0x, None).map_err(|e| bad(format!("address field: {e}")))?)
            }
            _ => None,
        };
        Ok(Keystore {
            kdf,
            address,
            id: j.id,
            dklen: dklen as usize,
            salt,
            iv,
            ciphertext,
            mac,
        })
    }

    /// Short description without secrets, e.g. "keystore v3 (scrypt n=2^18 r=8 p=1)".
    pub fn describe(&self) -> String {
        match &self.kdf {
            Kdf::Scrypt { log_n, r, p } => format!("keystore v3 (scrypt n=2^{log_n} r={r} p={p})"),
            Kdf::Pbkdf2 { c } => format!("keystore v3 (pbkdf2-hmac-sha256 c={c})"),
        }
    }

    /// Decrypts the private key. A MAC mismatch is [`EthKeyError::WrongPassword`] and nothing
    /// more. Returns the key and its address (checked against the file's `address` field).
    pub fn decrypt(&self, password: &SecretString) -> Result<(SecretBytes, Address), EthKeyError> {
        // zeroized on every path out, errors included
        let mut dk = zeroize::Zeroizing::new(vec![0u8; self.dklen]);
        let pw = password.expose_secret().as_bytes();
        match self.kdf {
            Kdf::Scrypt { log_n, r, p } => {
                // The crate refuses n ≥ 2^(16·r) (RFC 7914's bound), which geth and
                // eth-account accept (the Web3 Secret Storage vector has n = 2^18, r = 1).
                match scrypt::Params::new(log_n, r, p, self.dklen) {
                    Ok(params) => scrypt::scrypt(pw, &self.salt, &params, &mut dk)
                        .map_err(|e| bad(format!("scrypt: {e}")))?,
                    Err(_) => super::romix::scrypt(pw, &self.salt, log_n, r, p, &mut dk),
                }
            }
            Kdf::Pbkdf2 { c } => pbkdf2_hmac_sha256(pw, &self.salt, c, &mut dk),
        }
        let mut mac_input = Vec::with_capacity(16 + self.ciphertext.len());
        mac_input.extend_from_slice(&dk[16..32]);
        mac_input.extend_from_slice(&self.ciphertext);
        let mac = keccak256(&mac_input);
        mac_input.zeroize();
        let diff = mac
            .iter()
            .zip(self.mac.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(EthKeyError::WrongPassword);
        }
        let mut key = self.ciphertext.clone();
        let mut cipher = ctr::Ctr128BE::<aes::Aes128>::new(dk[..16].into(), (&self.iv).into());
        cipher.apply_keystream(&mut key);
        drop(dk);
        let key = Secret::new(key);
        let address = address_of_key(key.expose_secret())
            .map_err(|f| bad(format!("the decrypted value is {f}")))?;
        if let Some(a) = self.address {
            if a != address {
                return Err(bad(format!(
                    "the address field {} does not match the decrypted key's address {}",
                    a.to_checksum(None),
                    address.to_checksum(None)
                )));
            }
        }
        Ok((key, address))
    }
}

/// Whether a text looks like a keystore file (a JSON object with a `crypto` member), so other
/// classifiers can point at `--network ethereum` instead of calling it unrecognised.
pub fn looks_like_keystore(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    custos_core::file::is_json_object(t) && (t.contains("\"crypto\"") || t.contains("\"Crypto\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../fixtures/eth/keystore/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn pw(s: &str) -> SecretString {
        SecretString::new(s.to_string())
    }

    const WIKI_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";
    const WIKI_ADDR: &str = "0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b";

    #[test]
    fn decrypts_the_web3_secret_storage_scrypt_vector() {
        let ks = Keystore::parse(&fixture("wiki-scrypt.json")).unwrap();
        assert_eq!(
            ks.kdf,
            Kdf::Scrypt {
                log_n: 18,
                r: 1,
                p: 8
            }
        );
        let (k, a) = ks.decrypt(&pw("testpassword")).unwrap();
        assert_eq!(hex::encode(k.expose_secret()), WIKI_KEY);
        assert_eq!(a.to_checksum(None), WIKI_ADDR);
    }

    #[test]
    fn decrypts_the_web3_secret_storage_pbkdf2_vector() {
        let ks = Keystore::parse(&fixture("wiki-pbkdf2.json")).unwrap();
        let (k, a) = ks.decrypt(&pw("testpassword")).unwrap();
        assert_eq!(hex::encode(k.expose_secret()), WIKI_KEY);
        assert_eq!(a.to_checksum(None), WIKI_ADDR);
    }

    /// Keystores written by PyPI eth-account (fixtures/eth/make_vectors.py) for anvil account 1.
    #[test]
    fn decrypts_keystores_written_by_eth_account() {
        for f in ["eth-account-scrypt.json", "eth-account-pbkdf2.json"] {
            let ks = Keystore::parse(&fixture(f)).unwrap();
            let (_, a) = ks.decrypt(&pw("correct horse")).unwrap();
            assert_eq!(
                a.to_checksum(None),
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "{f}"
            );
        }
    }

    #[test]
    fn keystores_are_recognised_by_shape() {
        assert!(looks_like_keystore(&fixture("wiki-scrypt.json")));
        assert!(!looks_like_keystore("abandon abandon"));
    }

    #[test]
    fn wrong_password_says_only_wrong_password() {
        let ks = Keystore::parse(&fixture("eth-account-pbkdf2.json")).unwrap();
        let e = ks.decrypt(&pw("correct horsf")).unwrap_err();
        assert!(matches!(e, EthKeyError::WrongPassword));
        assert_eq!(e.to_string(), "keystore: wrong password");
    }

    #[test]
    fn malformed_keystores_are_refused_before_any_work() {
        let good = fixture("eth-account-scrypt.json");
        let cases = [
            (
                good.replace("\"version\": 3", "\"version\": 2"),
                "version 2",
            ),
            (good.replace("aes-128-ctr", "aes-128-cbc"), "cipher"),
            (good.replace("\"n\": 4096", "\"n\": 4095"), "power of two"),
            (good.replace("\"n\": 4096", "\"n\": 1073741824"), "memory"),
            (
                good.replace("\"kdf\": \"scrypt\"", "\"kdf\": \"argon2\""),
                "unknown kdf",
            ),
            ("{\"version\": 3".to_string(), "not a keystore"),
        ];
        for (text, want) in cases {
            let e = Keystore::parse(&text).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn address_field_that_disagrees_with_the_key_is_an_error() {
        let text = fixture("eth-account-pbkdf2.json").replace(
            "70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        );
        let e = Keystore::parse(&text)
            .unwrap()
            .decrypt(&pw("correct horse"))
            .unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    /// RFC 7914 section 11 PBKDF2-HMAC-SHA256 vector ("passwd", "salt", c = 1, 64 bytes).
    #[test]
    fn pbkdf2_sha256_matches_rfc7914() {
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }
}
