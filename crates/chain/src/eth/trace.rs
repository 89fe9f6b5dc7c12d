//! The raw material of Ethereum tracing: ETH moved by a transaction's calls (the node's
//! `debug_traceTransaction` with the call tracer, so internal transfers are seen) and ERC-20
//! `Transfer` logs over a block range that ends at the pinned block.

use alloy_primitives::{Address, B256, U256};
use alloy_provider::Provider;
use alloy_rpc_client::Waiter;
use alloy_rpc_types_eth::Filter;
use alloy_sol_types::SolEvent;
use serde::Deserialize;
use serde_json::json;

use super::{EthError, EthSource, PinnedBlock};

alloy_sol_types::sol! {
    /// ERC-20 `Transfer` (ERC-721 shares the signature but indexes the token id: 4 topics).
    #[derive(Debug)]
    event Transfer(address indexed from, address indexed to, uint256 value);
}

/// ETH moved by one call frame of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTransfer {
    /// Payer (the calling account or contract).
    pub from: Address,
    /// Payee.
    pub to: Address,
    /// Wei.
    pub value: U256,
    /// 0 for the transaction itself, 1 for a call it makes, and so on.
    pub depth: u32,
    /// CALL, CREATE, SELFDESTRUCT…, as the tracer names it.
    pub kind: String,
    /// The frame or one around it failed: the ETH did not move.
    pub reverted: bool,
}

/// One ERC-20 `Transfer` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTransfer {
    /// Token contract that emitted it.
    pub token: Address,
    /// Payer.
    pub from: Address,
    /// Payee.
    pub to: Address,
    /// Base units.
    pub value: U256,
    /// Transaction.
    pub tx: B256,
    /// Block height.
    pub block: u64,
    /// Position of the log in its block.
    pub log_index: u64,
}

/// Which `Transfer` logs to fetch.
#[derive(Debug, Clone, Default)]
pub struct TransferFilter {
    /// Only these token contracts (all when empty).
    pub tokens: Vec<Address>,
    /// Only transfers from this address.
    pub from: Option<Address>,
    /// Only transfers to this address.
    pub to: Option<Address>,
}

/// A call tracer frame.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    from: Address,
    #[serde(default)]
    to: Option<Address>,
    #[serde(default)]
    value: Option<U256>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    calls: Vec<Frame>,
}

fn flatten(f: &Frame, depth: u32, parent_failed: bool, out: &mut Vec<CallTransfer>) {
    let reverted = parent_failed || f.error.is_some();
    let value = f.value.unwrap_or_default();
    if let (Some(to), true) = (f.to, value > U256::ZERO) {
        out.push(CallTransfer {
            from: f.from,
            to,
            value,
            depth,
            kind: f.kind.clone(),
            reverted,
        });
    }
    for c in &f.calls {
        flatten(c, depth + 1, reverted, out);
    }
}

impl EthSource {
    /// The ETH transfers of each transaction's call tree (top-level value included), in
    /// call order; one batched `debug_traceTransaction` per chunk of transactions.
    pub fn call_transfers(&self, txs: &[B256]) -> Result<Vec<Vec<CallTransfer>>, EthError> {
        const M: &str = "debug_traceTransaction";
        let mut out = Vec::with_capacity(txs.len());
        for chunk in txs.chunks(self.opts.batch_size) {
            let mut batch = self.client.new_batch();
            let mut waiters = Vec::with_capacity(chunk.len());
            for tx in chunk {
                let w: Waiter<serde_json::Value> = batch
                    .add_call(M, &(tx, json!({"tracer": "callTracer"})))
                    .map_err(|e| self.classify(M, e))?;
                waiters.push((*tx, w));
            }
            self.send_batch(batch, chunk.len())?;
            for (tx, w) in waiters {
                let v = self.rt.block_on(w).map_err(|e| self.classify(M, e))?;
                let root: Frame = serde_json::from_value(v)
                    .map_err(|e| self.answer(M, format!("transaction {tx}: call trace: {e}")))?;
                let mut moves = Vec::new();
                flatten(&root, 0, false, &mut moves);
                out.push(moves);
            }
        }
        Ok(out)
    }

    /// ERC-20 `Transfer` logs from block `from_block` to the pinned block (checked to still be
    /// the node's block afterwards). ERC-721 transfers (4 topics) are left out.
    pub fn transfer_logs(
        &self,
        pin: &PinnedBlock,
        from_block: u64,
        filter: &TransferFilter,
    ) -> Result<Vec<TokenTransfer>, EthError> {
        const M: &str = "eth_getLogs";
        let mut f = Filter::new()
            .from_block(from_block)
            .to_block(pin.number)
            .event_signature(Transfer::SIGNATURE_HASH);
        if !filter.tokens.is_empty() {
            f = f.address(filter.tokens.clone());
        }
        if let Some(a) = filter.from {
            f = f.topic1(a.into_word());
        }
        if let Some(a) = filter.to {
            f = f.topic2(a.into_word());
        }
        let logs = self.single(M, |p| async move { p.get_logs(&f).await })?;
        self.check_pin(pin)?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            if log.topics().len() != 3 {
                continue;
            }
            let ev = Transfer::decode_log_data(log.data())
                .map_err(|e| self.answer(M, format!("transfer log of {}: {e}", log.address())))?;
            out.push(TokenTransfer {
                token: log.address(),
                from: ev.from,
                to: ev.to,
                value: ev.value,
                tx: log.transaction_hash.unwrap_or_default(),
                block: log.block_number.unwrap_or_default(),
                log_index: log.log_index.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

/// One frame of a `trace_filter` / `trace_transaction` answer (Parity/OpenEthereum style).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParityTrace {
    #[serde(rename = "type")]
    kind: String,
    action: serde_json::Value,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    trace_address: Vec<u64>,
    #[serde(default)]
    transaction_hash: Option<B256>,
    #[serde(default)]
    block_number: Option<u64>,
}

/// ETH moved by one frame, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedTransfer {
    /// The move.
    pub transfer: CallTransfer,
    /// Transaction.
    pub tx: B256,
    /// Block height.
    pub block: u64,
}

fn field_addr(v: &serde_json::Value, k: &str) -> Option<Address> {
    v.get(k)
        .and_then(|x| serde_json::from_value(x.clone()).ok())
}

fn parity_transfer(t: &ParityTrace) -> Option<TracedTransfer> {
    let a = &t.action;
    let (from, to, value) = match t.kind.as_str() {
        "call" => (
            field_addr(a, "from")?,
            field_addr(a, "to")?,
            field_addr_u256(a, "value")?,
        ),
        "create" => (
            field_addr(a, "from")?,
            t.result.as_ref().and_then(|r| field_addr(r, "address"))?,
            field_addr_u256(a, "value")?,
        ),
        "suicide" => (
            field_addr(a, "address")?,
            field_addr(a, "refundAddress")?,
            field_addr_u256(a, "balance")?,
        ),
        _ => return None,
    };
    if value.is_zero() {
        return None;
    }
    Some(TracedTransfer {
        transfer: CallTransfer {
            from,
            to,
            value,
            depth: t.trace_address.len() as u32,
            kind: a
                .get("callType")
                .and_then(|c| c.as_str())
                .unwrap_or(&t.kind)
                .to_ascii_uppercase(),
            reverted: t.error.is_some(),
        },
        tx: t.transaction_hash.unwrap_or_default(),
        block: t.block_number.unwrap_or_default(),
    })
}

fn field_addr_u256(v: &serde_json::Value, k: &str) -> Option<U256> {
    v.get(k)
        .and_then(|x| serde_json::from_value(x.clone()).ok())
}

impl EthSource {
    /// Every ETH move (top-level and internal, reverted frames marked) sent by (`outgoing`) or
    /// to `addr` from block 0 to the pinned block, with `trace_filter` (anvil, Erigon,
    /// Nethermind; geth has no address index and answers "method not found", reported as such).
    pub fn eth_moves_of(
        &self,
        pin: &PinnedBlock,
        addr: Address,
        outgoing: bool,
    ) -> Result<Vec<TracedTransfer>, EthError> {
        const M: &str = "trace_filter";
        let key = if outgoing { "fromAddress" } else { "toAddress" };
        // anvil takes block numbers in hex only.
        let mut f = serde_json::Map::new();
        f.insert("fromBlock".into(), json!("0x0"));
        f.insert("toBlock".into(), json!(format!("{:#x}", pin.number)));
        f.insert(key.into(), json!([addr]));
        let filter = json!([f]);
        let traces: Vec<ParityTrace> = self.single(M, |p| async move {
            p.raw_request::<_, Vec<ParityTrace>>(M.into(), filter).await
        })?;
        self.check_pin(pin)?;
        Ok(traces.iter().filter_map(parity_transfer).collect())
    }

    /// The ERC-20 `Transfer` logs of one mined transaction (from its receipt).
    pub fn tx_token_transfers(&self, tx: B256) -> Result<Vec<TokenTransfer>, EthError> {
        const M: &str = "eth_getTransactionReceipt";
        let r: Option<serde_json::Value> = self.single(M, |p| async move {
            p.raw_request::<_, Option<serde_json::Value>>(M.into(), json!([tx]))
                .await
        })?;
        let r = r.ok_or_else(|| self.answer(M, format!("transaction {tx} is not mined")))?;
        let block: u64 = r
            .get("blockNumber")
            .and_then(|b| serde_json::from_value::<alloy_primitives::U64>(b.clone()).ok())
            .map(|b| b.to::<u64>())
            .unwrap_or_default();
        let logs: Vec<alloy_rpc_types_eth::Log> =
            serde_json::from_value(r.get("logs").cloned().unwrap_or_default())
                .map_err(|e| self.answer(M, format!("transaction {tx}: logs: {e}")))?;
        let mut out = Vec::new();
        for log in logs {
            if log.topics().len() != 3 || log.topics()[0] != Transfer::SIGNATURE_HASH {
                continue;
            }
            let ev = Transfer::decode_log_data(log.data())
                .map_err(|e| self.answer(M, format!("transfer log of {}: {e}", log.address())))?;
            out.push(TokenTransfer {
                token: log.address(),
                from: ev.from,
                to: ev.to,
                value: ev.value,
                tx,
                block,
                log_index: log.log_index.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_frame_marks_its_whole_subtree_reverted_and_zero_values_are_skipped() {
        let trace = json!({
            "type": "CALL", "from": "0x0000000000000000000000000000000000000001",
            "to": "0x0000000000000000000000000000000000000002", "value": "0x5",
            "calls": [
                {"type": "CALL", "from": "0x0000000000000000000000000000000000000002",
                 "to": "0x0000000000000000000000000000000000000003", "value": "0x0"},
                {"type": "CALL", "from": "0x0000000000000000000000000000000000000002",
                 "to": "0x0000000000000000000000000000000000000004", "value": "0x2", "error": "execution reverted",
                 "calls": [{"type": "CALL", "from": "0x0000000000000000000000000000000000000004",
                            "to": "0x0000000000000000000000000000000000000005", "value": "0x1"}]}
            ]
        });
        let root: Frame = serde_json::from_value(trace).unwrap();
        let mut out = Vec::new();
        flatten(&root, 0, false, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|t| (t.value.to::<u64>(), t.depth, t.reverted))
            .collect();
        assert_eq!(got, vec![(5, 0, false), (2, 1, true), (1, 2, true)]);
    }

    #[test]
    fn trace_filter_frames_give_internal_depth_and_skip_zero_values() {
        let frames: Vec<ParityTrace> = serde_json::from_value(json!([
            {"type": "call", "action": {"callType": "call", "from": "0x0000000000000000000000000000000000000001",
              "to": "0x0000000000000000000000000000000000000002", "value": "0x64"},
             "traceAddress": [], "transactionHash": "0x1111111111111111111111111111111111111111111111111111111111111111",
             "blockNumber": 20},
            {"type": "call", "action": {"callType": "call", "from": "0x0000000000000000000000000000000000000002",
              "to": "0x0000000000000000000000000000000000000003", "value": "0x64"},
             "traceAddress": [0], "transactionHash": "0x1111111111111111111111111111111111111111111111111111111111111111",
             "blockNumber": 20},
            {"type": "call", "action": {"callType": "staticcall", "from": "0x0000000000000000000000000000000000000002",
              "to": "0x0000000000000000000000000000000000000004", "value": "0x0"},
             "traceAddress": [1], "blockNumber": 20}
        ]))
        .unwrap();
        let got: Vec<_> = frames.iter().filter_map(parity_transfer).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].transfer.depth, got[1].transfer.depth), (0, 1));
        assert_eq!(got[1].transfer.value, U256::from(100u8));
        assert_eq!(got[1].block, 20);
        assert_eq!(got[1].transfer.kind, "CALL");
    }
}
