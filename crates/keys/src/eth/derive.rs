//! Ethereum accounts from keys: BIP32 derivation from a BIP39 seed (rust-bitcoin), and the
//! address of a secp256k1 private key (keccak256 of the uncompressed public key, last 20 bytes).

use alloy_primitives::{keccak256, Address};
use bitcoin::{
    bip32::{DerivationPath, Xpriv},
    secp256k1::{PublicKey, Secp256k1, SecretKey},
    NetworkKind,
};
use custos_core::secret::SecretBytes;
use custos_core::Secret;

use super::EthKeyError;

/// One Ethereum account's private key, with its address and (when derived) its path.
#[derive(Debug, Clone)]
pub struct EthAccountKey {
    /// The 32-byte private key.
    pub key: SecretBytes,
    /// Its address.
    pub address: Address,
    /// The derivation path (`m/44'/60'/0'/0/0`), when it came from a seed.
    pub path: Option<String>,
}

/// `m/...` text of a path, hardened steps written with `'`.
pub fn path_string(path: &DerivationPath) -> String {
    let body: Vec<String> = path.into_iter().map(|c| c.to_string()).collect();
    if body.is_empty() {
        "m".to_string()
    } else {
        format!("m/{}", body.join("/"))
    }
}

/// The address of a private key. Fails for a value that is not a valid secp256k1 scalar
/// (zero, or not below the group order).
pub fn address_of_key(key: &[u8]) -> Result<Address, &'static str> {
    let sk = SecretKey::from_slice(key).map_err(|_| "not a valid secp256k1 private key")?;
    let secp = Secp256k1::signing_only();
    Ok(address_of_public(&PublicKey::from_secret_key(&secp, &sk)))
}

/// The address of a public key.
pub fn address_of_public(pk: &PublicKey) -> Address {
    let uncompressed = pk.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

/// Derives the account at `path` from a 64-byte BIP39 seed.
pub fn derive_account(
    seed: &SecretBytes,
    path: &DerivationPath,
) -> Result<EthAccountKey, EthKeyError> {
    let secp = Secp256k1::signing_only();
    let text = path_string(path);
    let bad = |e: bitcoin::bip32::Error| EthKeyError::Derivation {
        path: text.clone(),
        reason: e.to_string(),
    };
    // The network kind of an xprv does not change derivation; Main is arbitrary here.
    let master = Xpriv::new_master(NetworkKind::Main, seed.expose_secret()).map_err(bad)?;
    let child = master.derive_priv(&secp, path).map_err(bad)?;
    let pk = PublicKey::from_secret_key(&secp, &child.private_key);
    Ok(EthAccountKey {
        key: Secret::new(child.private_key.secret_bytes().to_vec()),
        address: address_of_public(&pk),
        path: Some(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::paths::ETH_PATHS;
    use custos_core::SecretString;

    fn vectors() -> serde_json::Value {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/eth/accounts.json"
        );
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn check(set: &str, passphrase: Option<&str>) {
        let v = vectors();
        let phrase = SecretString::new(v["mnemonic"].as_str().unwrap().to_string());
        let pass = passphrase.map(|p| SecretString::new(p.to_string()));
        let seed = crate::bip39_seed(&phrase, pass.as_ref()).unwrap();
        let list = v[set].as_array().unwrap();
        assert_eq!(list.len(), 30);
        for a in list {
            let p = ETH_PATHS
                .iter()
                .find(|p| p.id == a["catalogue_id"].as_str().unwrap())
                .unwrap();
            let i = a["index"].as_u64().unwrap() as u32;
            let acct = derive_account(&seed, &p.path(i).unwrap()).unwrap();
            assert_eq!(acct.path.as_deref(), a["path"].as_str());
            assert_eq!(
                acct.address.to_checksum(None),
                a["address"].as_str().unwrap()
            );
            assert_eq!(
                hex::encode(acct.key.expose_secret()),
                a["private_key"].as_str().unwrap()
            );
        }
    }

    /// fixtures/eth/accounts.json was written by PyPI eth-account (make_vectors.py).
    #[test]
    fn anvil_mnemonic_accounts_match_eth_account_on_all_three_layouts() {
        check("no_passphrase", None);
    }

    #[test]
    fn passphrase_changes_the_accounts_as_eth_account_does() {
        check("with_passphrase", Some("custos-test"));
    }

    #[test]
    fn anvil_account_zero_is_the_well_known_address() {
        let phrase =
            SecretString::new("test test test test test test test test test test test junk".into());
        let seed = crate::bip39_seed(&phrase, None).unwrap();
        let a = derive_account(&seed, &ETH_PATHS[0].path(0).unwrap()).unwrap();
        assert_eq!(
            a.address.to_checksum(None),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn zero_is_not_a_private_key() {
        assert!(address_of_key(&[0u8; 32]).is_err());
    }
}
