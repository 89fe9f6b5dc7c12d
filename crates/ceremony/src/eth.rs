//! The keyholder's Ethereum key and the custody Safe assembled from the ceremony's keys.
//!
//! **Key.** Each keyholder's Ethereum key comes from the same keyholder seed as the Bitcoin
//! account key, at [`ETH_KEY_PATH`] (`m/44'/60'/0'/0/0`, the first MetaMask/Trezor account, so
//! the keyholder can check it in any wallet). The key record carries its address and a proof of
//! possession: an EIP-191 `personal_sign` signature (65 bytes, v = 27/28) by that key over
//!
//! ```text
//! custos key ceremony proof of possession (ethereum)
//! challenge: <the ceremony challenge>
//! address: <EIP-55 address>
//! path: m/44'/60'/0'/0/0
//! key: [<fingerprint>/<path>]<xpub>
//! label: <the keyholder label>
//! ```
//!
//! The two proofs bind each other: this message names the Bitcoin key expression, and the
//! Bitcoin BIP-322 proof message gains a line `ethereum: <address>` (see `record`), so the
//! Ethereum part of one record cannot be moved onto another or swapped after signing.
//!
//! **Safe.** [`eth_policy`] turns an assembled wallet (its keys in descriptor order, each with
//! its verified Ethereum address, and K) into the Ethereum custody policy
//! (`custos-eth-policy-v1`): the Safe v1.4.1 address CREATE2 gives for those owners, that
//! threshold and the salt nonce, with the `safe_setup` section so every reader recomputes it.

use alloy_primitives::{Address, Signature, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use custos_core::Secret;
use custos_eth::policy::{EthPolicy, EthPolicyFile, SafeSetupFile, ETH_POLICY_FORMAT};
use custos_eth::safe::{safe_address, SafeDeployment};
use serde::{Deserialize, Serialize};

use crate::assemble::Assembly;
use crate::Error;

/// The keyholder's Ethereum key path.
pub const ETH_KEY_PATH: &str = "m/44'/60'/0'/0/0";

/// Kind tag of the Ethereum proof.
pub const ETH_PROOF_KIND: &str = "eip191-personal-sign";

/// The Ethereum part of a key record (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthKeyRecord {
    /// EIP-55 address of the key at [`ETH_KEY_PATH`].
    pub address: String,
    /// Always [`ETH_KEY_PATH`].
    pub path: String,
    /// Always [`ETH_PROOF_KIND`].
    pub kind: String,
    /// The exact message signed (see the module docs).
    pub message: String,
    /// 0x-hex 65-byte signature r ‖ s ‖ v (v = 27/28).
    pub signature: String,
}

/// The message the Ethereum proof of possession signs.
pub fn eth_proof_message(
    challenge: &str,
    address: &Address,
    key_expr: &str,
    label: &str,
) -> String {
    format!(
        "custos key ceremony proof of possession (ethereum)\nchallenge: {challenge}\naddress: {}\npath: {ETH_KEY_PATH}\nkey: {key_expr}\nlabel: {label}",
        address.to_checksum(None)
    )
}

/// Derives the keyholder's Ethereum key from the BIP39 seed and signs the proof of possession
/// for the Bitcoin key expression `key_expr`. The private key is dropped on return.
pub fn make_eth_key(
    seed: &Secret<[u8; 64]>,
    challenge: &str,
    key_expr: &str,
    label: &str,
) -> Result<EthKeyRecord, Error> {
    let path = ETH_KEY_PATH
        .parse()
        .expect("ETH_KEY_PATH is a valid derivation path");
    let seed_bytes = Secret::new(seed.expose_secret().to_vec());
    let account = custos_keys::eth::derive_account(&seed_bytes, &path)
        .map_err(|e| Error::malformed(ETH_KEY_PATH, e.to_string()))?;
    drop(seed_bytes);
    let signer = PrivateKeySigner::from_slice(account.key.expose_secret())
        .map_err(|_| Error::malformed(ETH_KEY_PATH, "derived key is not a valid secp256k1 key"))?;
    let message = eth_proof_message(challenge, &account.address, key_expr, label);
    let sig = signer
        .sign_message_sync(message.as_bytes())
        .map_err(|e| Error::BadSignature {
            what: "ethereum proof of possession".into(),
            reason: e.to_string(),
        })?;
    Ok(EthKeyRecord {
        address: account.address.to_checksum(None),
        path: ETH_KEY_PATH.to_string(),
        kind: ETH_PROOF_KIND.to_string(),
        message,
        signature: format!("0x{}", hex::encode(sig.as_bytes())),
    })
}

impl EthKeyRecord {
    /// The address (EIP-55 checked) without checking the proof.
    pub fn parsed_address(&self, file: &str) -> Result<Address, Error> {
        custos_keys::eth::parse_address(&self.address, None)
            .map_err(|e| Error::malformed(file, format!("ethereum.address: {e}")))
    }

    /// Checks the proof: the message is the one for this challenge, address, key expression and
    /// label, and the signature recovers to the address. Returns the address.
    pub fn check(
        &self,
        challenge: &str,
        key_expr: &str,
        label: &str,
        origin: &str,
        file: &str,
    ) -> Result<Address, Error> {
        let refuse = |reason: String| Error::ProofRefused {
            key: origin.to_string(),
            file: file.to_string(),
            reason,
        };
        let address = self.parsed_address(file)?;
        if self.kind != ETH_PROOF_KIND {
            return Err(refuse(format!(
                "unknown ethereum proof kind {:?}",
                self.kind
            )));
        }
        if self.path != ETH_KEY_PATH {
            return Err(refuse(format!(
                "ethereum key path {} is not {ETH_KEY_PATH}",
                self.path
            )));
        }
        if self.message != eth_proof_message(challenge, &address, key_expr, label) {
            return Err(refuse(
                "ethereum proof signs a different message than this address, challenge, key and \
                 label"
                    .into(),
            ));
        }
        let raw = self
            .signature
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() == 65)
            .ok_or_else(|| Error::malformed(file, "ethereum.signature is not 0x + 65 bytes hex"))?;
        let sig = Signature::from_raw(&raw)
            .map_err(|e| refuse(format!("ethereum proof signature: {e}")))?;
        let recovered = sig
            .recover_address_from_msg(self.message.as_bytes())
            .map_err(|e| refuse(format!("ethereum proof signature: {e}")))?;
        if recovered != address {
            return Err(refuse(format!(
                "ethereum proof of possession is signed by {}, not by {}",
                recovered.to_checksum(None),
                address.to_checksum(None)
            )));
        }
        Ok(address)
    }
}

/// What the Ethereum side of the custody needs beyond the keys: chain, Safe contracts, salt and
/// the signer's fee cap.
#[derive(Debug, Clone)]
pub struct EthSafeRequest {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// `createProxyWithNonce` salt nonce.
    pub salt_nonce: U256,
    /// Factory, singleton and fallback handler.
    pub deployment: SafeDeployment,
    /// Largest gas commitment per transaction the signer accepts, wei.
    pub max_fee_per_tx_wei: U256,
}

/// The Ethereum custody policy of an assembled wallet: owners are the keys' Ethereum addresses
/// in the descriptor's key order, the threshold is K. Refuses a key without a proven Ethereum
/// address. The result is checked by parsing it back ([`EthPolicy::from_json`] recomputes the
/// Safe address).
pub fn eth_policy(
    asm: &Assembly,
    req: &EthSafeRequest,
) -> Result<(EthPolicyFile, EthPolicy), Error> {
    let mut owners = Vec::with_capacity(asm.keys.len());
    for k in &asm.keys {
        let Some(a) = k.eth else {
            return Err(Error::KeyRefused {
                key: k.origin(),
                file: k.source.clone(),
                reason: "the key record carries no proven ethereum key: the custody safe needs \
                         one per keyholder (generate the key with this custos-signer)"
                    .into(),
            });
        };
        owners.push(a);
    }
    let threshold = asm.threshold as u64;
    let d = req.deployment;
    let safe = safe_address(&d, &owners, threshold, req.salt_nonce).map_err(Error::Eth)?;
    let file = EthPolicyFile {
        format: ETH_POLICY_FORMAT.to_string(),
        name: asm.name.clone(),
        chain_id: req.chain_id,
        safe: safe.to_checksum(None),
        max_fee_per_tx_wei: req.max_fee_per_tx_wei,
        safe_setup: Some(SafeSetupFile {
            owners: owners.iter().map(|o| o.to_checksum(None)).collect(),
            threshold,
            salt_nonce: req.salt_nonce,
            factory: Some(d.factory.to_checksum(None)),
            singleton: Some(d.singleton.to_checksum(None)),
            fallback_handler: Some(d.fallback_handler.to_checksum(None)),
        }),
    };
    let text = serde_json::to_string(&file).map_err(|source| Error::Json {
        file: "ethereum custody policy".into(),
        what: "not json",
        source,
    })?;
    let parsed = EthPolicy::from_json(&text).map_err(Error::Eth)?;
    Ok((file, parsed))
}
