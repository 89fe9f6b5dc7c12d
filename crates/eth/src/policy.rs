//! The Ethereum custody policy the signer checks against (format `custos-eth-policy-v1`,
//! docs/formats.md): the chain, the custody Safe, and the most a transaction may spend on gas.
//! When the file also names the Safe's owners, threshold and salt nonce, the Safe address is
//! recomputed (CREATE2) and must match.

use alloy_primitives::{Address, U256};
use custos_keys::eth::parse_address;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    money::u256_decimal,
    safe::{safe_address, SafeDeployment},
};

/// Format tag of [`EthPolicyFile`].
pub const ETH_POLICY_FORMAT: &str = "custos-eth-policy-v1";

/// How the Safe was (or will be) created, to recompute its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeSetupFile {
    /// Owner addresses, in `setup` order.
    pub owners: Vec<String>,
    /// Signatures required.
    pub threshold: u64,
    /// `createProxyWithNonce` salt nonce (decimal string).
    #[serde(with = "u256_decimal")]
    pub salt_nonce: U256,
    /// SafeProxyFactory (canonical v1.4.1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<String>,
    /// Safe singleton (canonical v1.4.1 `Safe` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singleton: Option<String>,
    /// Fallback handler (canonical v1.4.1 CompatibilityFallbackHandler when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_handler: Option<String>,
}

/// The policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthPolicyFile {
    /// Always [`ETH_POLICY_FORMAT`].
    pub format: String,
    /// Name of the custody wallet.
    pub name: String,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The custody Safe.
    pub safe: String,
    /// Largest `gas_limit × max_fee_per_gas` one transaction may commit, wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub max_fee_per_tx_wei: U256,
    /// How the Safe is built (optional; checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_setup: Option<SafeSetupFile>,
}

/// A checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthPolicy {
    /// Name.
    pub name: String,
    /// Chain id.
    pub chain_id: u64,
    /// The custody Safe.
    pub safe: Address,
    /// Fee cap per transaction, wei.
    pub max_fee_per_tx_wei: U256,
    /// Owners and threshold when the file gives them (the address was recomputed).
    pub owners: Option<(Vec<Address>, u64)>,
}

fn addr(s: &str, field: &str) -> Result<Address> {
    parse_address(s, None)
        .map_err(|e| Error::malformed(format!("eth custody policy field {field}"), e.to_string()))
}

impl EthPolicy {
    /// Parses and checks a policy JSON text.
    pub fn from_json(text: &str) -> Result<EthPolicy> {
        let f: EthPolicyFile = serde_json::from_str(text).map_err(|e| {
            Error::malformed(
                "eth custody policy",
                format!("line {} column {}: {e}", e.line(), e.column()),
            )
        })?;
        if f.format != ETH_POLICY_FORMAT {
            return Err(Error::malformed(
                "eth custody policy",
                format!("format {:?}; expected {ETH_POLICY_FORMAT}", f.format),
            ));
        }
        let safe = addr(&f.safe, "safe")?;
        let owners = match &f.safe_setup {
            None => None,
            Some(s) => {
                let owners = s
                    .owners
                    .iter()
                    .enumerate()
                    .map(|(i, o)| addr(o, &format!("safe_setup.owners[{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                let c = SafeDeployment::CANONICAL_V1_4_1;
                let d = SafeDeployment {
                    factory: s
                        .factory
                        .as_deref()
                        .map(|a| addr(a, "safe_setup.factory"))
                        .transpose()?
                        .unwrap_or(c.factory),
                    singleton: s
                        .singleton
                        .as_deref()
                        .map(|a| addr(a, "safe_setup.singleton"))
                        .transpose()?
                        .unwrap_or(c.singleton),
                    fallback_handler: s
                        .fallback_handler
                        .as_deref()
                        .map(|a| addr(a, "safe_setup.fallback_handler"))
                        .transpose()?
                        .unwrap_or(c.fallback_handler),
                };
                let computed = safe_address(&d, &owners, s.threshold, s.salt_nonce)?;
                if computed != safe {
                    return Err(Error::refused(
                        "eth custody policy",
                        format!(
                            "safe {} is not the address its owners, threshold and salt nonce give ({})",
                            safe.to_checksum(None),
                            computed.to_checksum(None)
                        ),
                    ));
                }
                Some((owners, s.threshold))
            }
        };
        Ok(EthPolicy {
            name: f.name,
            chain_id: f.chain_id,
            safe,
            max_fee_per_tx_wei: f.max_fee_per_tx_wei,
            owners,
        })
    }
}
