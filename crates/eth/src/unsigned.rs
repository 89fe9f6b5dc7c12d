//! The unsigned-transaction set: what `custos eth sweep build` writes on the online side and
//! `custos-signer eth sign` reads (format `custos-eth-unsigned-v1`, docs/formats.md). Plain
//! serde types with every amount as a decimal string of base units, and [`UnsignedSet::check`]
//! that turns the strings into checked values, naming the transaction and field at fault.

use alloy_primitives::{Address, Bytes, U256};
use custos_keys::eth::parse_address;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    money::u256_decimal,
};

/// Format tag of [`UnsignedSet`] files.
pub const UNSIGNED_SET_FORMAT: &str = "custos-eth-unsigned-v1";

/// What a transaction of the set is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxPurpose {
    /// Ether to the custody Safe.
    EthTransfer,
    /// An ERC-20 `transfer` to the custody Safe (`to` is the token contract).
    TokenTransfer,
    /// Ether from an operations account to a seized account that holds tokens but too little
    /// ether to pay their gas.
    GasFunding,
}

impl TxPurpose {
    /// Human name.
    pub fn name(self) -> &'static str {
        match self {
            TxPurpose::EthTransfer => "eth transfer",
            TxPurpose::TokenTransfer => "token transfer",
            TxPurpose::GasFunding => "gas funding",
        }
    }
}

/// Token details as the builder read them from the chain (for display; the signer decodes the
/// call data itself and never trusts these for a check).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// `symbol()`.
    pub symbol: String,
    /// `decimals()`.
    pub decimals: u8,
}

/// The block the builder's balances and fees were read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedBlock {
    /// Block number.
    pub number: u64,
    /// Block hash (0x hex).
    pub hash: String,
}

/// An unsigned EIP-1559 transaction as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsignedTx {
    /// What it is for.
    pub purpose: TxPurpose,
    /// Sender (EIP-55 or all-lower hex).
    pub from: String,
    /// Sender's nonce.
    pub nonce: u64,
    /// Recipient: the Safe (ether), the token contract (token transfer), a seized account (gas
    /// funding).
    pub to: String,
    /// Ether sent, in wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub value: U256,
    /// Call data, 0x hex (`0x` for none).
    pub data: String,
    /// Gas limit.
    pub gas_limit: u64,
    /// Max fee per gas, wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub max_fee_per_gas: U256,
    /// Max priority fee per gas, wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub max_priority_fee_per_gas: U256,
    /// Derivation path of the sender when known (for QR signers' `eth-sign-request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// Token details for a token transfer (display only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenInfo>,
}

/// An unsigned-transaction set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsignedSet {
    /// Always [`UNSIGNED_SET_FORMAT`].
    pub format: String,
    /// EIP-155 chain id every transaction is for.
    pub chain_id: u64,
    /// The block the builder read from, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_block: Option<PinnedBlock>,
    /// The transactions, in the order they are to be broadcast.
    pub txs: Vec<UnsignedTx>,
}

/// A transaction of the set with every field parsed and checked for form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTx {
    /// Position in the set (0-based).
    pub index: usize,
    /// What it is for.
    pub purpose: TxPurpose,
    /// Sender.
    pub from: Address,
    /// Nonce.
    pub nonce: u64,
    /// Recipient.
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Call data.
    pub data: Bytes,
    /// Gas limit.
    pub gas_limit: u64,
    /// Max fee per gas (wei).
    pub max_fee_per_gas: u128,
    /// Max priority fee per gas (wei).
    pub max_priority_fee_per_gas: u128,
    /// Sender's path when known.
    pub key_path: Option<String>,
    /// Token details (display only).
    pub token: Option<TokenInfo>,
}

impl CheckedTx {
    /// "tx 3 (from 0x…, nonce 7)" for messages.
    pub fn subject(&self) -> String {
        format!(
            "tx {} (from {}, nonce {})",
            self.index,
            self.from.to_checksum(None),
            self.nonce
        )
    }
}

fn fee(v: U256, what: &str) -> Result<u128> {
    u128::try_from(v).map_err(|_| Error::malformed(what, "larger than 2^128 wei per gas"))
}

impl UnsignedSet {
    /// Parses a set from JSON text.
    pub fn from_json(text: &str) -> Result<UnsignedSet> {
        let set: UnsignedSet = serde_json::from_str(text).map_err(|e| {
            Error::malformed(
                "unsigned transaction set",
                format!("line {} column {}: {e}", e.line(), e.column()),
            )
        })?;
        if set.format != UNSIGNED_SET_FORMAT {
            return Err(Error::malformed(
                "unsigned transaction set",
                format!("format {:?}; expected {UNSIGNED_SET_FORMAT}", set.format),
            ));
        }
        Ok(set)
    }

    /// Parses every field (addresses with their EIP-55 checksum, hex data, fee ranges).
    pub fn check(&self) -> Result<Vec<CheckedTx>> {
        if self.txs.is_empty() {
            return Err(Error::malformed(
                "unsigned transaction set",
                "no transactions",
            ));
        }
        self.txs
            .iter()
            .enumerate()
            .map(|(i, t)| check_tx(i, t))
            .collect()
    }
}

fn check_tx(index: usize, t: &UnsignedTx) -> Result<CheckedTx> {
    let field = |f: &str| format!("tx {index} field {f}");
    let addr = |s: &str, f: &str| {
        parse_address(s, None).map_err(|e| Error::malformed(field(f), e.to_string()))
    };
    let from = addr(&t.from, "from")?;
    let to = addr(&t.to, "to")?;
    let hex_data = t
        .data
        .strip_prefix("0x")
        .ok_or_else(|| Error::malformed(field("data"), "does not start with 0x"))?;
    let data = hex::decode(hex_data)
        .map_err(|e| Error::malformed(field("data"), format!("not hex: {e}")))?;
    let max_fee_per_gas = fee(t.max_fee_per_gas, &field("max_fee_per_gas"))?;
    let max_priority_fee_per_gas = fee(
        t.max_priority_fee_per_gas,
        &field("max_priority_fee_per_gas"),
    )?;
    if max_priority_fee_per_gas > max_fee_per_gas {
        return Err(Error::malformed(
            field("max_priority_fee_per_gas"),
            format!(
                "{max_priority_fee_per_gas} wei is above max_fee_per_gas {max_fee_per_gas} wei"
            ),
        ));
    }
    if t.gas_limit < 21_000 {
        return Err(Error::malformed(
            field("gas_limit"),
            format!("{} is below 21000", t.gas_limit),
        ));
    }
    Ok(CheckedTx {
        index,
        purpose: t.purpose,
        from,
        nonce: t.nonce,
        to,
        value: t.value,
        data: Bytes::from(data),
        gas_limit: t.gas_limit,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        key_path: t.key_path.clone(),
        token: t.token.clone(),
    })
}

impl From<&CheckedTx> for UnsignedTx {
    fn from(t: &CheckedTx) -> UnsignedTx {
        UnsignedTx {
            purpose: t.purpose,
            from: t.from.to_checksum(None),
            nonce: t.nonce,
            to: t.to.to_checksum(None),
            value: t.value,
            data: format!("0x{}", hex::encode(&t.data)),
            gas_limit: t.gas_limit,
            max_fee_per_gas: U256::from(t.max_fee_per_gas),
            max_priority_fee_per_gas: U256::from(t.max_priority_fee_per_gas),
            key_path: t.key_path.clone(),
            token: t.token.clone(),
        }
    }
}
