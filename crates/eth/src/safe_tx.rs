//! A Safe transaction proposal (format `custos-safe-tx-v1`, docs/formats.md): what
//! `custos eth safe propose` writes and each keyholder's `custos-signer eth safe-sign` checks
//! and signs. [`review_safe_tx`] refuses a delegatecall, a self-call that changes owners,
//! threshold, modules, guard or fallback handler, a gas refund, and any payee not explicitly
//! allowed; [`sign_safe_tx`] signs the EIP-712 hash (65 bytes, v = 27/28).

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use custos_keys::eth::parse_address;
use serde::{Deserialize, Serialize};

use crate::{
    erc20::{decode_transfer, TRANSFER_SELECTOR},
    error::{Error, Result},
    money::u256_decimal,
    safe::{admin_selectors, safe_tx_hash, SafeTx},
};

/// Format tag of [`SafeTxFile`].
pub const SAFE_TX_FORMAT: &str = "custos-safe-tx-v1";

/// The file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeTxFile {
    /// Always [`SAFE_TX_FORMAT`].
    pub format: String,
    /// EIP-155 chain id (part of the signed domain).
    pub chain_id: u64,
    /// The Safe (the domain's verifying contract).
    pub safe: String,
    /// Call target.
    pub to: String,
    /// Wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub value: U256,
    /// Call data (0x hex).
    pub data: String,
    /// 0 = call, 1 = delegatecall.
    pub operation: u8,
    /// Decimal strings.
    #[serde(with = "u256_decimal")]
    pub safe_tx_gas: U256,
    /// Decimal string.
    #[serde(with = "u256_decimal")]
    pub base_gas: U256,
    /// Decimal string.
    #[serde(with = "u256_decimal")]
    pub gas_price: U256,
    /// Refund token (zero address = ether).
    pub gas_token: String,
    /// Refund receiver (zero address = tx.origin).
    pub refund_receiver: String,
    /// The Safe's nonce (decimal string).
    #[serde(with = "u256_decimal")]
    pub nonce: U256,
    /// The EIP-712 hash as the proposer computed it (checked against our own when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_tx_hash: Option<String>,
}

/// Who is paid what, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Ether.
    Eth {
        /// Payee.
        payee: Address,
        /// Wei.
        value: U256,
    },
    /// ERC-20 tokens.
    Token {
        /// Token contract.
        contract: Address,
        /// Decoded payee.
        payee: Address,
        /// Base units.
        amount: U256,
    },
}

/// A parsed Safe transaction with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSafeTx {
    /// Chain id.
    pub chain_id: u64,
    /// The Safe.
    pub safe: Address,
    /// The struct signed.
    pub tx: SafeTx,
    /// Its EIP-712 hash.
    pub hash: B256,
}

fn addr(s: &str, field: &str) -> Result<Address> {
    parse_address(s, None)
        .map_err(|e| Error::malformed(format!("safe transaction field {field}"), e.to_string()))
}

impl SafeTxFile {
    /// Parses the JSON text.
    pub fn from_json(text: &str) -> Result<SafeTxFile> {
        let f: SafeTxFile = serde_json::from_str(text).map_err(|e| {
            Error::malformed(
                "safe transaction",
                format!("line {} column {}: {e}", e.line(), e.column()),
            )
        })?;
        if f.format != SAFE_TX_FORMAT {
            return Err(Error::malformed(
                "safe transaction",
                format!("format {:?}; expected {SAFE_TX_FORMAT}", f.format),
            ));
        }
        Ok(f)
    }

    /// Parses the fields and computes the hash; a stated hash that differs is a refusal.
    pub fn parse(&self) -> Result<ParsedSafeTx> {
        let data = self
            .data
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| {
                Error::malformed("safe transaction field data", "is not 0x-prefixed hex")
            })?;
        let safe = addr(&self.safe, "safe")?;
        let tx = SafeTx {
            to: addr(&self.to, "to")?,
            value: self.value,
            data: Bytes::from(data),
            operation: self.operation,
            safeTxGas: self.safe_tx_gas,
            baseGas: self.base_gas,
            gasPrice: self.gas_price,
            gasToken: addr(&self.gas_token, "gas_token")?,
            refundReceiver: addr(&self.refund_receiver, "refund_receiver")?,
            nonce: self.nonce,
        };
        let hash = safe_tx_hash(&tx, self.chain_id, safe);
        if let Some(stated) = &self.safe_tx_hash {
            if !stated.eq_ignore_ascii_case(&hash.to_string()) {
                return Err(Error::refused(
                    "safe transaction",
                    format!("field safe_tx_hash is {stated} but the transaction hashes to {hash}"),
                ));
            }
        }
        Ok(ParsedSafeTx {
            chain_id: self.chain_id,
            safe,
            tx,
            hash,
        })
    }
}

/// Checks a Safe transaction for signing: refuses a delegatecall, any call to the Safe itself
/// (owner, threshold, module, guard or fallback-handler changes named), a gas refund, call data
/// other than none or an ERC-20 `transfer`, and a payee outside `allowed`.
pub fn review_safe_tx(p: &ParsedSafeTx, allowed: &[Address]) -> Result<Payment> {
    let refuse = |r: String| Error::refused(format!("safe transaction (nonce {})", p.tx.nonce), r);
    let t = &p.tx;
    if t.operation != 0 {
        return Err(refuse(format!(
            "field operation is {} ({}); only a plain call (0) is signed",
            t.operation,
            if t.operation == 1 {
                "delegatecall: the target's code would run as the safe"
            } else {
                "unknown"
            }
        )));
    }
    if t.to == p.safe {
        let name = t.data.get(..4).and_then(|sel| {
            admin_selectors()
                .into_iter()
                .find(|(s, _)| s == sel)
                .map(|(_, n)| n)
        });
        return Err(refuse(match name {
            Some(n) => format!("field data calls the safe's own {n}: it would change who controls the safe"),
            None => "field to is the safe itself; a safe transaction that calls its own safe is never signed here".to_string(),
        }));
    }
    if !t.gasPrice.is_zero() {
        return Err(refuse(format!(
            "field gas_price is {}: a gas refund would pay {} from the safe",
            t.gasPrice,
            if t.refundReceiver == Address::ZERO {
                "the executor".to_string()
            } else {
                t.refundReceiver.to_checksum(None)
            }
        )));
    }
    let payment = if t.data.is_empty() {
        Payment::Eth {
            payee: t.to,
            value: t.value,
        }
    } else if t.data.get(..4) == Some(TRANSFER_SELECTOR.as_slice()) {
        if !t.value.is_zero() {
            return Err(refuse(format!(
                "field value: a token transfer also sends {} wei",
                t.value
            )));
        }
        let (payee, amount) = decode_transfer(&t.data, "safe transaction field data")
            .map_err(|e| refuse(e.to_string()))?;
        Payment::Token {
            contract: t.to,
            payee,
            amount,
        }
    } else {
        return Err(refuse(format!(
            "field data is neither empty nor an erc-20 transfer (selector {})",
            hex::encode(&t.data[..t.data.len().min(4)])
        )));
    };
    let payee = match &payment {
        Payment::Eth { payee, .. } | Payment::Token { payee, .. } => *payee,
    };
    if !allowed.contains(&payee) {
        return Err(refuse(format!(
            "payee {} is not among the destinations allowed (--allow-destination: {})",
            payee.to_checksum(None),
            if allowed.is_empty() {
                "none given".to_string()
            } else {
                allowed
                    .iter()
                    .map(|a| a.to_checksum(None))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )));
    }
    Ok(payment)
}

/// Signs the Safe transaction hash: 65 bytes r ‖ s ‖ v with v = 27 or 28 (an ECDSA owner
/// signature as `Safe.checkNSignatures` reads it).
pub fn sign_safe_tx(p: &ParsedSafeTx, signer: &PrivateKeySigner) -> Result<[u8; 65]> {
    let sig = signer.sign_hash_sync(&p.hash).map_err(|e| Error::Signing {
        subject: format!("safe transaction {}", p.hash),
        reason: e.to_string(),
    })?;
    let recovered = sig
        .recover_address_from_prehash(&p.hash)
        .map_err(|e| Error::Signing {
            subject: format!("safe transaction {}", p.hash),
            reason: e.to_string(),
        })?;
    if recovered != signer.address() {
        return Err(Error::Signing {
            subject: format!("safe transaction {}", p.hash),
            reason: format!("signature recovers to {recovered}"),
        });
    }
    Ok(sig.as_bytes())
}
