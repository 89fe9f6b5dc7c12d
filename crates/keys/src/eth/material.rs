//! Ethereum seized material: what it is ([`EthMaterial`]), how it is recognised
//! ([`classify_eth`]) and how its keys are unlocked ([`EthMaterial::unlock`]).

use alloy_primitives::Address;
use custos_core::{Network, Secret, SecretString};

use super::{
    address::parse_address,
    derive::{address_of_key, derive_account, EthAccountKey},
    keystore::Keystore,
    paths::EthPath,
    EthKeyError,
};
use crate::Material;

/// A raw private key from the input.
#[derive(Debug, Clone)]
pub struct RawKey {
    /// The 32-byte key.
    pub key: custos_core::secret::SecretBytes,
    /// Its address.
    pub address: Address,
    /// Input line (1-based).
    pub line: usize,
}

/// Ethereum material, classified. Secrets stay in [`Secret`]s; `Debug` never prints them.
#[derive(Debug, Clone)]
pub enum EthMaterial {
    /// A valid BIP39 mnemonic.
    Mnemonic {
        /// The normalised phrase.
        phrase: SecretString,
        /// Number of words.
        words: usize,
        /// Word-list language.
        language: &'static str,
    },
    /// Raw private keys (64 hex digits, `0x` optional), one per line.
    PrivateKeys(Vec<RawKey>),
    /// A Web3 Secret Storage (keystore V3) file; needs its password.
    Keystore(Keystore),
    /// Addresses (EIP-55 checked), one per line; watch-only.
    Addresses(Vec<(Address, usize)>),
}

/// Which accounts of a mnemonic to derive.
#[derive(Debug, Clone)]
pub struct EthDeriveOptions {
    /// Catalogue paths to use (all of [`super::ETH_PATHS`] by default).
    pub paths: Vec<&'static EthPath>,
    /// Accounts per path (indexes 0..accounts).
    pub accounts: u32,
}

impl Default for EthDeriveOptions {
    fn default() -> Self {
        EthDeriveOptions {
            paths: super::ETH_PATHS.iter().collect(),
            accounts: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Address,
    Key,
    Words,
}

fn line_kind(l: &str) -> LineKind {
    let hex = l
        .strip_prefix("0x")
        .or_else(|| l.strip_prefix("0X"))
        .unwrap_or(l);
    if l.len() == 42 && hex.len() == 40 {
        LineKind::Address
    } else if hex.len() == 64 && !l.contains(char::is_whitespace) {
        // 64 characters in one token: a private key (a malformed one is reported as such)
        LineKind::Key
    } else {
        LineKind::Words
    }
}

/// Recognises Ethereum material: a keystore V3 JSON (text starting with `{`), lines of raw
/// private keys, lines of addresses, or a BIP39 mnemonic. Errors name the line, never a secret.
pub fn classify_eth(text: &SecretString) -> Result<EthMaterial, EthKeyError> {
    let t = text.expose_secret().trim_start_matches('\u{feff}').trim();
    if custos_core::file::is_json_object(t) {
        return Keystore::parse(t).map(EthMaterial::Keystore);
    }
    let lines: Vec<(usize, &str)> = text
        .expose_secret()
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_start_matches('\u{feff}').trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let Some(&(first_line, first)) = lines.first() else {
        return Err(EthKeyError::Material(crate::Error::Empty));
    };
    let kind = line_kind(first);
    if let Some((n, _)) = lines.iter().find(|(_, l)| line_kind(l) != kind) {
        return Err(EthKeyError::Unsupported {
            kind: "mixed material",
            reason: format!(
                "line {first_line} and line {n} are of different kinds; give one kind per input"
            ),
        });
    }
    match kind {
        LineKind::Address => lines
            .iter()
            .map(|&(n, l)| parse_address(l, Some(n)).map(|a| (a, n)))
            .collect::<Result<_, _>>()
            .map(EthMaterial::Addresses),
        LineKind::Key => lines
            .iter()
            .map(|&(n, l)| parse_key(l, n))
            .collect::<Result<_, _>>()
            .map(EthMaterial::PrivateKeys),
        LineKind::Words => match crate::classify(text, Network::Bitcoin)? {
            Material::Bip39 {
                phrase,
                words,
                language,
                ..
            } => Ok(EthMaterial::Mnemonic {
                phrase,
                words,
                language,
            }),
            other => Err(EthKeyError::Unsupported {
                kind: other.kind_name(),
                reason: "is not ethereum material (ethereum takes a bip39 mnemonic, private keys, a keystore file or addresses)".into(),
            }),
        },
    }
}

fn parse_key(l: &str, line: usize) -> Result<RawKey, EthKeyError> {
    let hex = l
        .strip_prefix("0x")
        .or_else(|| l.strip_prefix("0X"))
        .unwrap_or(l);
    let bytes = hex::decode(hex).map_err(|_| EthKeyError::PrivateKey {
        line,
        fault: "is not 64 hex digits",
    })?;
    let key = Secret::new(bytes);
    let address = address_of_key(key.expose_secret())
        .map_err(|fault| EthKeyError::PrivateKey { line, fault })?;
    Ok(RawKey { key, address, line })
}

impl EthMaterial {
    /// Short stable name of the kind.
    pub fn kind_name(&self) -> &'static str {
        match self {
            EthMaterial::Mnemonic { .. } => "bip39 mnemonic",
            EthMaterial::PrivateKeys(_) => "ethereum private keys",
            EthMaterial::Keystore(_) => "ethereum keystore",
            EthMaterial::Addresses(_) => "ethereum addresses",
        }
    }

    /// Whether it can spend.
    pub fn is_secret(&self) -> bool {
        !matches!(self, EthMaterial::Addresses(_))
    }

    /// One line without secrets.
    pub fn describe(&self) -> String {
        match self {
            EthMaterial::Mnemonic {
                words, language, ..
            } => {
                format!("bip39 mnemonic, {words} words ({language})")
            }
            EthMaterial::PrivateKeys(k) => format!("{} ethereum private key(s)", k.len()),
            EthMaterial::Keystore(k) => k.describe(),
            EthMaterial::Addresses(a) => format!("{} ethereum address(es)", a.len()),
        }
    }

    /// What the material points at (for `classify`).
    pub fn hints(&self) -> Vec<String> {
        match self {
            EthMaterial::Mnemonic { .. } => super::ETH_PATHS
                .iter()
                .map(|p| format!("{} {} ({})", p.id, p.template, p.wallets.join(", ")))
                .collect(),
            EthMaterial::PrivateKeys(k) => k
                .iter()
                .map(|k| format!("line {}: {}", k.line, k.address.to_checksum(None)))
                .collect(),
            EthMaterial::Keystore(k) => vec![match k.address {
                Some(a) => format!(
                    "address field {} (checked after decryption)",
                    a.to_checksum(None)
                ),
                None => "no address field: the address is known after decryption".to_string(),
            }],
            EthMaterial::Addresses(a) => a
                .iter()
                .map(|(a, n)| format!("line {n}: {}", a.to_checksum(None)))
                .collect(),
        }
    }

    /// The private keys of the material: derived on the catalogue paths for a mnemonic (with
    /// its passphrase), decrypted for a keystore (with its password), as given for raw keys;
    /// none for addresses.
    pub fn unlock(
        &self,
        passphrase: Option<&SecretString>,
        password: Option<&SecretString>,
        opts: &EthDeriveOptions,
    ) -> Result<Vec<EthAccountKey>, EthKeyError> {
        match self {
            EthMaterial::Mnemonic { phrase, .. } => {
                let seed = crate::bip39_seed(phrase, passphrase)?;
                let mut out = Vec::new();
                for p in &opts.paths {
                    for i in 0..opts.accounts {
                        out.push(derive_account(&seed, &p.path(i)?)?);
                    }
                }
                Ok(out)
            }
            EthMaterial::PrivateKeys(keys) => Ok(keys
                .iter()
                .map(|k| EthAccountKey {
                    key: k.key.clone(),
                    address: k.address,
                    path: None,
                })
                .collect()),
            EthMaterial::Keystore(ks) => {
                let pw = password.ok_or_else(|| EthKeyError::Unsupported {
                    kind: "ethereum keystore",
                    reason: "needs its password (--password-file or the prompt)".into(),
                })?;
                let (key, address) = ks.decrypt(pw)?;
                Ok(vec![EthAccountKey {
                    key,
                    address,
                    path: None,
                }])
            }
            EthMaterial::Addresses(_) => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> SecretString {
        SecretString::new(t.to_string())
    }

    #[test]
    fn recognises_each_kind() {
        let m = classify_eth(&s(
            "test test test test test test test test test test test junk",
        ))
        .unwrap();
        assert_eq!(m.kind_name(), "bip39 mnemonic");
        let m = classify_eth(&s(
            "# seized\n0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n",
        ))
        .unwrap();
        let EthMaterial::PrivateKeys(k) = &m else {
            panic!()
        };
        assert_eq!(
            k[0].address.to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            k[1].address.to_checksum(None),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
        assert_eq!(k[1].line, 3);
        let ks = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/eth/keystore/wiki-scrypt.json"
        ))
        .unwrap();
        assert_eq!(
            classify_eth(&s(&ks)).unwrap().kind_name(),
            "ethereum keystore"
        );
        let m = classify_eth(&s("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")).unwrap();
        assert_eq!(m.kind_name(), "ethereum addresses");
        assert!(!m.is_secret());
    }

    #[test]
    fn bad_key_line_is_named_without_the_key() {
        let key = "0xzz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let e = classify_eth(&s(&format!("\n{key}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && !e.contains("0974bec"), "{e}");
        let zero = format!("{}\n", "0".repeat(64));
        let e = classify_eth(&s(&zero)).unwrap_err().to_string();
        assert!(e.contains("not a valid secp256k1"), "{e}");
    }

    #[test]
    fn electrum_seed_is_not_ethereum_material() {
        // Electrum's segwit seed from its own test suite (tests/test_mnemonic.py)
        let e = classify_eth(&s(
            "wild father tree among universe such mobile favorite target dynamic credit identify",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("not ethereum material"), "{e}");
    }

    #[test]
    fn mixed_lines_are_refused() {
        let e = classify_eth(&s(
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266\nac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1 and line 2"), "{e}");
    }

    #[test]
    fn keystore_needs_its_password_to_unlock() {
        let ks = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/eth/keystore/eth-account-pbkdf2.json"
        ))
        .unwrap();
        let m = classify_eth(&s(&ks)).unwrap();
        assert!(m.unlock(None, None, &EthDeriveOptions::default()).is_err());
        let keys = m
            .unlock(
                None,
                Some(&s("correct horse")),
                &EthDeriveOptions::default(),
            )
            .unwrap();
        assert_eq!(
            keys[0].address.to_checksum(None),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
    }
}
