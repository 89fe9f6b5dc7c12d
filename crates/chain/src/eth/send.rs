//! What a sweep needs beyond balances: gas estimates at the pinned block, raw-transaction
//! broadcast and receipts. Each is one JSON-RPC call, counted as a round trip.

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{EthError, EthSource, PinnedBlock};

/// A mined transaction's receipt (the fields a sweep checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub hash: B256,
    /// Block it was mined in.
    pub block_number: u64,
    /// Whether it succeeded (status 1).
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Price paid per gas, wei.
    pub effective_gas_price: u128,
}

impl Receipt {
    /// gas_used × effective_gas_price, wei.
    pub fn fee_wei(&self) -> U256 {
        U256::from(self.gas_used) * U256::from(self.effective_gas_price)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReceipt {
    transaction_hash: B256,
    block_number: U64,
    status: Option<U64>,
    gas_used: U64,
    effective_gas_price: Option<alloy_primitives::U128>,
}

impl EthSource {
    /// One raw JSON-RPC call with the timeout, counted as a round trip.
    fn raw<R>(&self, method: &'static str, params: Value) -> Result<R, EthError>
    where
        R: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let call = self.client.request::<Value, R>(method, params);
        let timeout = self.opts.timeout;
        self.rt
            .block_on(async move { tokio::time::timeout(timeout, call).await })
            .map_err(|_| self.unreachable(method, format!("no answer within {timeout:?}")))?
            .map_err(|e| self.classify(method, e))
    }

    /// `eth_estimateGas` of a call from `from` to `to` at the pinned block (by number: not
    /// every node takes a block hash here). No fee fields are sent, so an account without
    /// ether can still be estimated.
    pub fn estimate_gas(
        &self,
        pin: &PinnedBlock,
        from: Address,
        to: Address,
        value: U256,
        data: &Bytes,
    ) -> Result<u64, EthError> {
        let tx = json!({"from": from, "to": to, "value": value, "data": data});
        let g: U64 = self.raw("eth_estimateGas", json!([tx, format!("{:#x}", pin.number)]))?;
        Ok(g.to::<u64>())
    }

    /// `eth_sendRawTransaction`: the node's hash of the transaction.
    pub fn send_raw_transaction(&self, raw: &[u8]) -> Result<B256, EthError> {
        let hex = format!("0x{}", hex::encode(raw));
        self.raw("eth_sendRawTransaction", json!([hex]))
    }

    /// `eth_getTransactionReceipt`: `None` while the transaction is not mined.
    pub fn receipt(&self, hash: B256) -> Result<Option<Receipt>, EthError> {
        let r: Option<RawReceipt> = self.raw("eth_getTransactionReceipt", json!([hash]))?;
        Ok(r.map(|r| Receipt {
            hash: r.transaction_hash,
            block_number: r.block_number.to::<u64>(),
            success: r.status.is_some_and(|s| s == U64::from(1u8)),
            gas_used: r.gas_used.to::<u64>(),
            effective_gas_price: r.effective_gas_price.map_or(0, |p| p.to::<u128>()),
        }))
    }

    /// The node's latest block number.
    pub fn block_number(&self) -> Result<u64, EthError> {
        self.tip()
    }
}
