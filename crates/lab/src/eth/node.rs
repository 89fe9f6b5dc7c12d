//! Sending the lab's transactions: EIP-1559, signed in-process with the account's key, sent raw,
//! and their receipts read back (anvil mines each one in its own block).

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_network::TxSignerSync;
use alloy_primitives::{Address, Bytes, TxKind, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::{json, Value};

use super::rpc::Rpc;
use super::EthError;

/// Priority fee the lab pays (1 gwei).
const TIP_WEI: u128 = 1_000_000_000;

/// What the lab needs of a mined transaction.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub hash: B256,
    pub block: u64,
    pub success: bool,
    /// gasUsed × effectiveGasPrice: what the sender paid.
    pub gas_cost: U256,
    pub logs: Vec<Value>,
    /// The created contract, for a deployment.
    pub contract: Option<Address>,
}

fn answer(method: &str, detail: impl Into<String>) -> EthError {
    EthError::Answer {
        method: method.to_string(),
        detail: detail.into(),
    }
}

/// A hex quantity (`0x1a`) as U256.
pub(crate) fn quantity(method: &str, v: &Value) -> Result<U256, EthError> {
    let s = v
        .as_str()
        .ok_or_else(|| answer(method, format!("{v} is not a hex quantity")))?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| answer(method, format!("{s} is not a hex quantity")))?;
    U256::from_str_radix(digits, 16).map_err(|e| answer(method, format!("{s}: {e}")))
}

/// A hex quantity that fits a u64.
pub(crate) fn quantity_u64(method: &str, v: &Value) -> Result<u64, EthError> {
    let q = quantity(method, v)?;
    u64::try_from(q).map_err(|_| answer(method, format!("{q} does not fit 64 bits")))
}

/// A 32-byte hash.
pub(crate) fn hash(method: &str, v: &Value) -> Result<B256, EthError> {
    v.as_str()
        .and_then(|s| s.parse::<B256>().ok())
        .ok_or_else(|| answer(method, format!("{v} is not a 32-byte hash")))
}

/// Signs and sends transactions on the lab node.
#[derive(Debug)]
pub(crate) struct Sender<'a> {
    pub rpc: &'a Rpc,
    pub chain_id: u64,
}

impl Sender<'_> {
    /// Sends `value` wei and `input` from `signer` to `to` and returns the mined receipt.
    pub(crate) fn send(
        &self,
        signer: &PrivateKeySigner,
        to: TxKind,
        value: U256,
        input: Bytes,
    ) -> Result<Receipt, EthError> {
        let from = signer.address();
        let nonce = quantity_u64(
            "eth_getTransactionCount",
            &self
                .rpc
                .call("eth_getTransactionCount", json!([from, "pending"]))?,
        )?;
        let mut call = json!({"from": from, "value": format!("{value:#x}"), "data": input});
        if let TxKind::Call(addr) = to {
            call["to"] = json!(addr);
        }
        let estimate = quantity_u64(
            "eth_estimateGas",
            &self.rpc.call("eth_estimateGas", json!([call]))?,
        )?;
        let block = self
            .rpc
            .call("eth_getBlockByNumber", json!(["latest", false]))?;
        let base = quantity("eth_getBlockByNumber", &block["baseFeePerGas"])?;
        let base = u128::try_from(base).map_err(|_| answer("eth_getBlockByNumber", "base fee"))?;
        let mut tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            // anvil's estimate is exact; a margin covers the fee token's extra storage writes.
            gas_limit: estimate.saturating_add(estimate / 5),
            max_fee_per_gas: base.saturating_mul(2).saturating_add(TIP_WEI),
            max_priority_fee_per_gas: TIP_WEI,
            to,
            value,
            access_list: Default::default(),
            input,
        };
        let sig = signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| answer("sign", format!("transaction from {from}: {e}")))?;
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        let sent = self
            .rpc
            .call("eth_sendRawTransaction", json!([Bytes::from(raw)]))?;
        let tx_hash = hash("eth_sendRawTransaction", &sent)?;
        self.receipt(tx_hash)
    }

    fn receipt(&self, tx_hash: B256) -> Result<Receipt, EthError> {
        const M: &str = "eth_getTransactionReceipt";
        for _ in 0..200 {
            let r = self.rpc.call(M, json!([tx_hash]))?;
            if r.is_null() {
                std::thread::sleep(Duration::from_millis(25));
                continue;
            }
            let gas_used = quantity(M, &r["gasUsed"])?;
            let price = quantity(M, &r["effectiveGasPrice"])?;
            let gas_cost = gas_used
                .checked_mul(price)
                .ok_or_else(|| answer(M, "gas cost overflows"))?;
            return Ok(Receipt {
                hash: tx_hash,
                block: quantity_u64(M, &r["blockNumber"])?,
                success: quantity(M, &r["status"])? == U256::from(1u8),
                gas_cost,
                logs: r["logs"].as_array().cloned().unwrap_or_default(),
                contract: r["contractAddress"].as_str().and_then(|a| a.parse().ok()),
            });
        }
        Err(answer(M, format!("transaction {tx_hash} was not mined")))
    }

    /// `eth_getBalance` at `block`.
    pub(crate) fn balance(&self, who: Address, block: u64) -> Result<U256, EthError> {
        let v = self
            .rpc
            .call("eth_getBalance", json!([who, format!("{block:#x}")]))?;
        quantity("eth_getBalance", &v)
    }

    /// `eth_call` at `block`, returning the output bytes.
    pub(crate) fn call(&self, to: Address, data: Bytes, block: u64) -> Result<Bytes, EthError> {
        let v = self.rpc.call(
            "eth_call",
            json!([{"to": to, "data": data}, format!("{block:#x}")]),
        )?;
        v.as_str()
            .and_then(|s| s.parse::<Bytes>().ok())
            .ok_or_else(|| answer("eth_call", format!("{v} is not hex bytes")))
    }
}
