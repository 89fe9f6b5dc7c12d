//! `custos_core::source::BitcoinSource` for an in-process lab (no socket), so libraries can be
//! tested against the lab's chain without the Electrum layer.

use std::sync::{Arc, RwLockReadGuard};

use bitcoin::consensus::encode::deserialize;
use bitcoin::{ScriptBuf, Transaction, Txid};
use custos_core::source::{
    BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent,
};

use crate::chain::{script_hash, ChainState};
use crate::lab::Lab;
use crate::node::Node;

/// An in-process handle on a running lab's chain.
#[derive(Debug, Clone)]
pub struct LabSource {
    node: Arc<Node>,
    name: String,
}

impl Lab {
    /// An in-process [`BitcoinSource`] over this lab.
    pub fn source(&self) -> LabSource {
        LabSource {
            node: self.node(),
            name: format!("lab:{}", self.url()),
        }
    }
}

impl LabSource {
    fn server(&self, method: &str, detail: impl Into<String>) -> SourceError {
        SourceError::Server {
            server: self.name.clone(),
            method: method.into(),
            detail: detail.into(),
        }
    }

    /// The chain state, or a server error naming `method` when its lock is poisoned.
    fn state(&self, method: &str) -> Result<RwLockReadGuard<'_, ChainState>, SourceError> {
        self.node
            .read()
            .map_err(|e| self.server(method, e.to_string()))
    }
}

impl BitcoinSource for LabSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn tip(&self) -> Result<Tip, SourceError> {
        let st = self.state("tip")?;
        let header = *st
            .index
            .headers
            .last()
            .ok_or_else(|| self.server("tip", "empty chain"))?;
        Ok(Tip {
            height: st.index.tip_height(),
            header,
        })
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<bitcoin::block::Header>, SourceError> {
        Ok(self.state("headers")?.headers(start, count))
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        let st = self.state("scripthash.get_history")?;
        Ok(scripts
            .iter()
            .map(|s| st.history(&script_hash(s)))
            .collect())
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        let st = self.state("scripthash.listunspent")?;
        Ok(scripts
            .iter()
            .map(|s| st.list_unspent(&script_hash(s)))
            .collect())
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        let st = self.state("transaction.get")?;
        txids
            .iter()
            .map(|t| {
                st.raw_tx(t).ok_or_else(|| {
                    self.server("transaction.get", format!("no such transaction {t}"))
                })
            })
            .collect()
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        let st = self.state("transaction.get_merkle")?;
        requests
            .iter()
            .map(|(txid, height)| {
                st.merkle_proof(txid, *height)
                    .map_err(|e| self.server("transaction.get_merkle", e.to_string()))
            })
            .collect()
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        let tx: Transaction =
            deserialize(raw_tx).map_err(|e| self.server("transaction.broadcast", e.to_string()))?;
        let txid = tx.compute_txid();
        self.node.submit_tx(tx).map_err(|e| match e {
            crate::Error::TxRejected { txid, reason } => SourceError::Rejected { txid, reason },
            other => SourceError::Rejected {
                txid,
                reason: other.to_string(),
            },
        })
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        let r = self
            .node
            .min_relay()
            .map_err(|e| self.server("relayfee", e.to_string()))?;
        Ok(SatPerKvb(r))
    }

    fn estimate_fee(&self, _blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        let r = self
            .node
            .estimate_sat_per_kvb()
            .map_err(|e| self.server("estimatefee", e.to_string()))?;
        Ok(Some(SatPerKvb(r)))
    }
}
