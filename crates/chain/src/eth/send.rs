//! What a sweep or a Safe transaction needs beyond balances: nonces and gas estimates at the
//! pinned block, the node's priority fee, raw-transaction broadcast and receipts. Each is one
//! JSON-RPC call, counted as a round trip.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{EthError, EthSource, PinnedBlock};

/// One log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceiptLog {
    /// Emitting contract.
    pub address: Address,
    /// Topics.
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// A mined transaction's receipt (the fields custos checks and records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub hash: B256,
    /// Block it was mined in.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// Whether it succeeded (status 1).
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Price paid per gas, wei.
    pub effective_gas_price: u128,
    /// Contract created (deployments only).
    pub contract: Option<Address>,
    /// Logs, in order.
    pub logs: Vec<ReceiptLog>,
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
    block_hash: B256,
    status: Option<U64>,
    gas_used: U64,
    effective_gas_price: Option<alloy_primitives::U128>,
    #[serde(default)]
    contract_address: Option<Address>,
    #[serde(default)]
    logs: Vec<ReceiptLog>,
}

impl EthSource {
    /// One raw JSON-RPC call with the timeout, counted as a round trip.
    pub(super) fn raw<R>(&self, method: &'static str, params: Value) -> Result<R, EthError>
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
            block_hash: r.block_hash,
            success: r.status.is_some_and(|s| s == U64::from(1u8)),
            gas_used: r.gas_used.to::<u64>(),
            effective_gas_price: r.effective_gas_price.map_or(0, |p| p.to::<u128>()),
            contract: r.contract_address,
            logs: r.logs,
        }))
    }

    /// Polls for the receipt of `tx` every 250 ms until it is mined or `wait` has passed
    /// (then an environment error naming the transaction).
    pub fn wait_receipt(&self, tx: B256, wait: Duration) -> Result<Receipt, EthError> {
        let start = Instant::now();
        loop {
            if let Some(r) = self.receipt(tx)? {
                return Ok(r);
            }
            if start.elapsed() >= wait {
                return Err(self.unreachable(
                    "eth_getTransactionReceipt",
                    format!("transaction {tx} not mined within {wait:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Sends a signed EIP-2718 transaction and checks the hash the node reports against
    /// `expected` (a node that answers another hash is an error naming both).
    pub fn send_raw(&self, raw: &[u8], expected: B256) -> Result<B256, EthError> {
        let h = self.send_raw_transaction(raw)?;
        if h != expected {
            return Err(self.answer(
                "eth_sendRawTransaction",
                format!("node reports transaction {h}, the signed transaction is {expected}"),
            ));
        }
        Ok(h)
    }

    /// Transaction count (the next nonce) of one address at the pinned block.
    pub fn nonce_at(&self, pin: &PinnedBlock, addr: Address) -> Result<u64, EthError> {
        let n: U64 = self.raw("eth_getTransactionCount", json!([addr, pin.id()]))?;
        Ok(n.to::<u64>())
    }

    /// The node's suggested priority fee per gas (`eth_maxPriorityFeePerGas`), wei.
    pub fn priority_fee(&self) -> Result<u128, EthError> {
        let v: U256 = self.raw("eth_maxPriorityFeePerGas", json!([]))?;
        u128::try_from(v).map_err(|_| self.answer("eth_maxPriorityFeePerGas", "above 2^128 wei"))
    }

    /// The node's latest block number.
    pub fn block_number(&self) -> Result<u64, EthError> {
        self.tip()
    }
}
