//! The Ethereum watch-only file: the addresses of seized material with the path each came from,
//! and no secret. Written by `custos-signer material watch-only --network ethereum`, read by the
//! online side's Ethereum inventory (format in docs/formats.md, "Ethereum watch-only file").

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    material::{EthDeriveOptions, EthMaterial},
    EthKeyError,
};
use custos_core::SecretString;

/// Format tag of [`EthWatchOnly`] files.
pub const ETH_WATCH_ONLY_FORMAT: &str = "custos-eth-watch-only-v1";

/// The Ethereum watch-only file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthWatchOnly {
    /// Always [`ETH_WATCH_ONLY_FORMAT`].
    pub format: String,
    /// Always `ethereum` (the chain id is the online side's choice: one key, every EVM chain).
    pub network: String,
    /// What the material was, never the secret.
    pub material: String,
    /// sha256 (hex) of the lower-case addresses, one per line in file order: ties the file to
    /// the material without revealing it; shown on both machines.
    pub fingerprint: String,
    /// Accounts per catalogue path that were listed (mnemonics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_per_path: Option<u32>,
    /// The accounts.
    pub accounts: Vec<EthWatchAccount>,
}

/// One account of an [`EthWatchOnly`] file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthWatchAccount {
    /// EIP-55 checksummed address.
    pub address: String,
    /// Derivation path (`m/44'/60'/0'/0/3`), for mnemonic accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Catalogue path id (`eth-bip44`, `eth-ledger-live`, `eth-ledger-legacy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_id: Option<String>,
    /// Account index on that path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Where it came from: `mnemonic`, `private key (line N)`, `keystore`, `address (line N)`.
    pub source: String,
}

/// Builds the watch-only file of Ethereum material (a keystore needs its password, a mnemonic
/// its passphrase if it has one).
pub fn eth_watch_only(
    material: &EthMaterial,
    passphrase: Option<&SecretString>,
    password: Option<&SecretString>,
    opts: &EthDeriveOptions,
) -> Result<EthWatchOnly, EthKeyError> {
    let accounts: Vec<EthWatchAccount> = match material {
        EthMaterial::Mnemonic { .. } => {
            let keys = material.unlock(passphrase, password, opts)?;
            let mut out = Vec::with_capacity(keys.len());
            let mut it = keys.into_iter();
            for p in &opts.paths {
                for i in 0..opts.accounts {
                    let Some(k) = it.next() else { break };
                    out.push(EthWatchAccount {
                        address: k.address.to_checksum(None),
                        path: k.path,
                        catalogue_id: Some(p.id.to_string()),
                        index: Some(i),
                        source: "mnemonic".into(),
                    });
                }
            }
            out
        }
        EthMaterial::PrivateKeys(keys) => keys
            .iter()
            .map(|k| EthWatchAccount {
                address: k.address.to_checksum(None),
                path: None,
                catalogue_id: None,
                index: None,
                source: format!("private key (line {})", k.line),
            })
            .collect(),
        EthMaterial::Keystore(_) => material
            .unlock(passphrase, password, opts)?
            .into_iter()
            .map(|k| EthWatchAccount {
                address: k.address.to_checksum(None),
                path: None,
                catalogue_id: None,
                index: None,
                source: "keystore".into(),
            })
            .collect(),
        EthMaterial::Addresses(a) => a
            .iter()
            .map(|(a, n)| EthWatchAccount {
                address: a.to_checksum(None),
                path: None,
                catalogue_id: None,
                index: None,
                source: format!("address (line {n})"),
            })
            .collect(),
    };
    let mut h = Sha256::new();
    for a in &accounts {
        h.update(a.address.to_ascii_lowercase().as_bytes());
        h.update(b"\n");
    }
    let mut describe = material.describe();
    if passphrase.is_some_and(|p| !p.is_empty()) && matches!(material, EthMaterial::Mnemonic { .. })
    {
        describe.push_str(", with passphrase");
    }
    Ok(EthWatchOnly {
        format: ETH_WATCH_ONLY_FORMAT.into(),
        network: "ethereum".into(),
        material: describe,
        fingerprint: hex::encode(h.finalize()),
        accounts_per_path: matches!(material, EthMaterial::Mnemonic { .. })
            .then_some(opts.accounts),
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::classify_eth;

    #[test]
    fn mnemonic_watch_only_lists_every_path_with_paths_and_no_secret() {
        let phrase =
            SecretString::new("test test test test test test test test test test test junk".into());
        let m = classify_eth(&phrase).unwrap();
        let opts = EthDeriveOptions {
            accounts: 2,
            ..Default::default()
        };
        let w = eth_watch_only(&m, None, None, &opts).unwrap();
        assert_eq!(w.accounts.len(), 6);
        assert_eq!(
            w.accounts[0].address,
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(w.accounts[0].path.as_deref(), Some("m/44'/60'/0'/0/0"));
        assert_eq!(
            w.accounts[3].catalogue_id.as_deref(),
            Some("eth-ledger-live")
        );
        assert_eq!(w.accounts[3].path.as_deref(), Some("m/44'/60'/1'/0/0"));
        let json = serde_json::to_string(&w).unwrap();
        assert!(
            !json.contains("junk") && !json.contains("ac0974bec"),
            "{json}"
        );
        let back: EthWatchOnly = serde_json::from_str(&json).unwrap();
        assert_eq!(back, w);
    }
}
