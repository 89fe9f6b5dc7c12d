//! What `custos eth safe deploy|propose|execute` asks a node: a Safe's nonce, owners and
//! threshold and an address's code at a pinned block; gas estimates; sending a signed raw
//! transaction and waiting for its receipt.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use alloy_provider::Provider;
use alloy_sol_types::SolCall;
use serde::Deserialize;
use serde_json::json;

use super::{EthError, EthSource, PinnedBlock};

alloy_sol_types::sol! {
    /// The Safe v1.4.1 views the online side reads.
    #[derive(Debug)]
    interface ISafeView {
        function nonce() external view returns (uint256);
        function getOwners() external view returns (address[]);
        function getThreshold() external view returns (uint256);
    }
}

/// A Safe's state at a pinned block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeState {
    /// The Safe.
    pub safe: Address,
    /// Its transaction nonce.
    pub nonce: U256,
    /// Owners, in the Safe's linked-list order.
    pub owners: Vec<Address>,
    /// Signatures required.
    pub threshold: U256,
}

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

/// A mined transaction's receipt (the fields custos records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction hash.
    pub tx: B256,
    /// Block height.
    pub block: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Status 1 (success) or 0 (reverted).
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Price paid per gas, wei.
    pub effective_gas_price: u128,
    /// Contract created (deployments only).
    pub contract: Option<Address>,
    /// Logs.
    pub logs: Vec<ReceiptLog>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReceipt {
    transaction_hash: B256,
    block_number: U64,
    block_hash: B256,
    status: U64,
    gas_used: U64,
    effective_gas_price: U256,
    #[serde(default)]
    contract_address: Option<Address>,
    #[serde(default)]
    logs: Vec<ReceiptLog>,
}

impl EthSource {
    fn raw<R>(&self, method: &'static str, params: serde_json::Value) -> Result<R, EthError>
    where
        R: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + Unpin + 'static,
    {
        self.single(method, |p| async move {
            p.raw_request::<_, R>(method.into(), params).await
        })
    }

    /// `eth_call` of `data` on `to` at the pinned block.
    pub fn call_at(
        &self,
        pin: &PinnedBlock,
        to: Address,
        data: Vec<u8>,
    ) -> Result<Bytes, EthError> {
        let data = Bytes::from(data);
        self.raw("eth_call", json!([{"to": to, "data": data}, pin.id()]))
    }

    /// The code at `addr` at the pinned block (empty: no contract).
    pub fn code_at(&self, pin: &PinnedBlock, addr: Address) -> Result<Bytes, EthError> {
        self.raw("eth_getCode", json!([addr, pin.id()]))
    }

    /// Nonce, owners and threshold of the Safe at the pinned block; an address without code
    /// or that does not answer as a Safe is an error naming it.
    pub fn safe_state(&self, pin: &PinnedBlock, safe: Address) -> Result<SafeState, EthError> {
        let not_safe = |what: &str, e: String| {
            self.answer(
                "eth_call",
                format!("{} is not a safe: {what}: {e}", safe.to_checksum(None)),
            )
        };
        if self.code_at(pin, safe)?.is_empty() {
            return Err(not_safe(
                "code",
                "no contract at this address at the pinned block".into(),
            ));
        }
        let nonce = self.call_at(pin, safe, ISafeView::nonceCall {}.abi_encode())?;
        let owners = self.call_at(pin, safe, ISafeView::getOwnersCall {}.abi_encode())?;
        let threshold = self.call_at(pin, safe, ISafeView::getThresholdCall {}.abi_encode())?;
        Ok(SafeState {
            safe,
            nonce: ISafeView::nonceCall::abi_decode_returns(&nonce)
                .map_err(|e| not_safe("nonce()", e.to_string()))?,
            owners: ISafeView::getOwnersCall::abi_decode_returns(&owners)
                .map_err(|e| not_safe("getOwners()", e.to_string()))?,
            threshold: ISafeView::getThresholdCall::abi_decode_returns(&threshold)
                .map_err(|e| not_safe("getThreshold()", e.to_string()))?,
        })
    }

    /// ETH balance and transaction count of one address at the pinned block.
    pub fn nonce_at(&self, pin: &PinnedBlock, addr: Address) -> Result<u64, EthError> {
        let n: U64 = self.raw("eth_getTransactionCount", json!([addr, pin.id()]))?;
        Ok(n.to::<u64>())
    }

    /// `eth_estimateGas` for a call from `from` (at the node's latest state).
    pub fn estimate_gas(
        &self,
        from: Address,
        to: Address,
        value: U256,
        data: &[u8],
    ) -> Result<u64, EthError> {
        let data = Bytes::copy_from_slice(data);
        let g: U64 = self.raw(
            "eth_estimateGas",
            json!([{"from": from, "to": to, "value": value, "data": data}]),
        )?;
        Ok(g.to::<u64>())
    }

    /// The node's suggested priority fee per gas (`eth_maxPriorityFeePerGas`), wei.
    pub fn priority_fee(&self) -> Result<u128, EthError> {
        let v: U256 = self.raw("eth_maxPriorityFeePerGas", json!([]))?;
        u128::try_from(v).map_err(|_| self.answer("eth_maxPriorityFeePerGas", "above 2^128 wei"))
    }

    /// Sends a signed EIP-2718 transaction; returns the hash the node reports (checked against
    /// `expected`).
    pub fn send_raw(&self, raw: &[u8], expected: B256) -> Result<B256, EthError> {
        let raw = Bytes::copy_from_slice(raw);
        let h: B256 = self.raw("eth_sendRawTransaction", json!([raw]))?;
        if h != expected {
            return Err(self.answer(
                "eth_sendRawTransaction",
                format!("node reports transaction {h}, the signed transaction is {expected}"),
            ));
        }
        Ok(h)
    }

    /// Polls for the receipt of `tx` until it is mined or `wait` has passed.
    pub fn wait_receipt(&self, tx: B256, wait: Duration) -> Result<Receipt, EthError> {
        let start = Instant::now();
        loop {
            let r: Option<RawReceipt> = self.raw("eth_getTransactionReceipt", json!([tx]))?;
            if let Some(r) = r {
                return Ok(Receipt {
                    tx: r.transaction_hash,
                    block: r.block_number.to::<u64>(),
                    block_hash: r.block_hash,
                    success: r.status == U64::from(1),
                    gas_used: r.gas_used.to::<u64>(),
                    effective_gas_price: u128::try_from(r.effective_gas_price).map_err(|_| {
                        self.answer("eth_getTransactionReceipt", "gas price above 2^128 wei")
                    })?,
                    contract: r.contract_address,
                    logs: r.logs,
                });
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
}
