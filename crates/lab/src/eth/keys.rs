//! Account keys of an Ethereum scenario: anvil's dev accounts (its default mnemonic) and the
//! seized mnemonic's accounts, derived with BIP32 (rust-bitcoin) — the same key alloy's own
//! mnemonic signer derives, so one BIP39 implementation serves both chains.

use std::str::FromStr;

use alloy_primitives::B256;
use alloy_signer_local::PrivateKeySigner;
use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::secp256k1::Secp256k1;

use crate::Error;

/// anvil's default mnemonic (its dev accounts are m/44'/60'/0'/0/i of it).
pub const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The signer at `path` of `phrase` (no passphrase). `what` names the account in errors.
pub(crate) fn derive(phrase: &str, path: &str, what: &str) -> Result<PrivateKeySigner, Error> {
    let wallet = |detail: String| Error::Wallet {
        wallet: what.to_string(),
        detail,
    };
    let mnemonic = bip39::Mnemonic::parse_normalized(phrase.trim())
        .map_err(|e| wallet(format!("mnemonic: {e}")))?;
    let seed = zeroize::Zeroizing::new(mnemonic.to_seed(""));
    let path = DerivationPath::from_str(path).map_err(|e| wallet(format!("path {path}: {e}")))?;
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(bitcoin::NetworkKind::Main, &seed[..])
        .map_err(|e| wallet(format!("master key: {e}")))?;
    let child = master
        .derive_priv(&secp, &path)
        .map_err(|e| wallet(format!("derivation: {e}")))?;
    let bytes = zeroize::Zeroizing::new(child.private_key.secret_bytes());
    PrivateKeySigner::from_bytes(&B256::from(*bytes)).map_err(|e| wallet(format!("key: {e}")))
}

/// anvil dev account `i`.
pub(crate) fn anvil_dev(i: u32) -> Result<PrivateKeySigner, Error> {
    derive(
        ANVIL_MNEMONIC,
        &format!("m/44'/60'/0'/0/{i}"),
        &format!("anvil dev account {i}"),
    )
}

/// anvil's dev account `i` (m/44'/60'/0'/0/i of [`ANVIL_MNEMONIC`]): its EIP-55 address and its
/// raw private key as hex (no `0x`). These are public test keys; the demo writes them into files
/// (an operations key, never an argument). Indices past anvil's funded accounts give empty
/// accounts with known addresses.
pub fn anvil_account(i: u32) -> Result<(String, zeroize::Zeroizing<String>), Error> {
    let signer = anvil_dev(i)?;
    let key = zeroize::Zeroizing::new(hex::encode(signer.to_bytes()));
    Ok((signer.address().to_checksum(None), key))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    #[test]
    fn anvil_dev_accounts_match_anvils_published_addresses() {
        // anvil prints these at start-up (foundry book, "anvil" reference).
        assert_eq!(
            super::anvil_dev(0).unwrap().address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            super::anvil_dev(1).unwrap().address(),
            address!("70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
    }

    #[test]
    fn anvil_account_gives_the_published_address_and_private_key() {
        // anvil's start-up listing: account 1 and its private key.
        let (addr, key) = super::anvil_account(1).unwrap();
        assert_eq!(addr, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(
            key.as_str(),
            "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
        );
    }
}
