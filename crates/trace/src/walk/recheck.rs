//! Re-checking a trace from its own evidence, without a server: what a second examiner runs on
//! a trace file. Every graph transaction's bytes must hash to its txid and decode to the node
//! the graph shows; every verified inclusion must have its proof fold to the merkle root of a
//! stored header that has the block hash claimed and meets its own proof-of-work target.
//!
//! Not checked here: that the stored headers belong to the best chain (linkage needs every
//! header from genesis; re-sync a `VerifiedChain` to the trace's tip for that).

use bitcoin::{block::Header, consensus::deserialize, Txid};
use custos_chain::spv;

use super::Trace;
use crate::graph::{Inclusion, TxNode};

impl Trace {
    /// Re-checks the graph against the evidence; returns the problems found (empty: all good).
    pub fn recheck(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (txid, node) in &self.graph.txs {
            if let Err(p) = self.recheck_bytes(txid, node) {
                problems.push(p);
            }
            if let Inclusion::Verified {
                height,
                block,
                time,
            } = &node.inclusion
            {
                if let Err(p) = self.recheck_inclusion(txid, *height, *block, *time) {
                    problems.push(p);
                }
            }
        }
        problems
    }

    fn recheck_bytes(&self, txid: &Txid, node: &TxNode) -> Result<(), String> {
        let hex = self
            .evidence
            .raw_txs
            .get(txid)
            .ok_or_else(|| format!("transaction {txid}: no raw bytes in the evidence"))?;
        let raw = hex::decode(hex)
            .map_err(|e| format!("transaction {txid}: raw bytes are not hex: {e}"))?;
        let tx = spv::check_tx_bytes(txid, &raw).map_err(|e| e.to_string())?;
        let rebuilt = TxNode::from_tx(&tx, self.network, node.inclusion.clone());
        let same_outputs = rebuilt
            .outputs
            .iter()
            .zip(&node.outputs)
            .all(|(a, b)| a.value == b.value && a.address == b.address);
        let same_inputs = rebuilt
            .inputs
            .iter()
            .zip(&node.inputs)
            .all(|(a, b)| a.prevout == b.prevout);
        if !same_outputs
            || !same_inputs
            || rebuilt.inputs.len() != node.inputs.len()
            || rebuilt.outputs.len() != node.outputs.len()
        {
            return Err(format!(
                "transaction {txid}: the graph does not match its raw bytes"
            ));
        }
        Ok(())
    }

    fn recheck_inclusion(
        &self,
        txid: &Txid,
        height: u32,
        block: bitcoin::BlockHash,
        time: u32,
    ) -> Result<(), String> {
        let proof =
            self.evidence.proofs.get(txid).ok_or_else(|| {
                format!("transaction {txid}: verified, but no proof in the evidence")
            })?;
        let header: Header = self
            .evidence
            .headers
            .get(&height)
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| deserialize(&b).ok())
            .ok_or_else(|| {
                format!("transaction {txid}: no readable header at height {height} in the evidence")
            })?;
        if header.block_hash() != block || header.time != time {
            return Err(format!(
                "transaction {txid}: the header stored at height {height} is not block {block}"
            ));
        }
        if header.validate_pow(header.target()).is_err() {
            return Err(format!(
                "header at height {height} ({block}) does not meet its own proof-of-work target"
            ));
        }
        spv::verify_merkle_proof(proof, height, &header).map_err(|e| e.to_string())
    }
}
