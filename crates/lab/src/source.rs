//! `custos_core::source::BitcoinSource` for an in-process lab (no socket), so libraries can be
//! tested against the lab's chain without the Electrum layer.

use std::sync::Arc;

use bitcoin::consensus::encode::deserialize;
use bitcoin::{ScriptBuf, Transaction, Txid};
use custos_core::source::{
    BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent,
};
use custos_core::Sat;

use crate::chain::script_hash;
use crate::lab::{Inner, Lab};

/// An in-process handle on a running lab's chain.
#[derive(Debug, Clone)]
pub struct LabSource {
    inner: Arc<Inner>,
    name: String,
}

impl Lab {
    /// An in-process [`BitcoinSource`] over this lab.
    pub fn source(&self) -> LabSource {
        LabSource {
            inner: self.inner_arc(),
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
}

impl BitcoinSource for LabSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn tip(&self) -> Result<Tip, SourceError> {
        let st = self
            .inner
            .state
            .read()
            .map_err(|_| self.server("tip", "lock"))?;
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
        let st = self
            .inner
            .state
            .read()
            .map_err(|_| self.server("headers", "lock"))?;
        Ok(st
            .index
            .headers
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .copied()
            .collect())
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        Ok(scripts
            .iter()
            .map(|s| {
                self.inner
                    .history(&script_hash(s))
                    .into_iter()
                    .map(|(txid, height, fee)| HistoryItem { txid, height, fee })
                    .collect()
            })
            .collect())
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        Ok(scripts
            .iter()
            .map(|s| {
                self.inner
                    .unspent(&script_hash(s))
                    .into_iter()
                    .map(|(outpoint, height, value)| Unspent {
                        outpoint,
                        height,
                        value: Sat(value),
                    })
                    .collect()
            })
            .collect())
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        txids
            .iter()
            .map(|t| {
                self.inner.raw_tx(t).ok_or_else(|| {
                    self.server("transaction.get", format!("no such transaction {t}"))
                })
            })
            .collect()
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        requests
            .iter()
            .map(|(txid, height)| {
                let (pos, branch) = self
                    .inner
                    .merkle(txid, *height)
                    .map_err(|e| self.server("transaction.get_merkle", format!("{e:?}")))?;
                Ok(MerkleProof {
                    txid: *txid,
                    block_height: *height,
                    pos,
                    branch,
                })
            })
            .collect()
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        let tx: Transaction =
            deserialize(raw_tx).map_err(|e| self.server("transaction.broadcast", e.to_string()))?;
        let txid = tx.compute_txid();
        self.inner.submit_tx(tx).map_err(|e| match e {
            crate::Error::TxRejected { txid, reason } => SourceError::Rejected { txid, reason },
            other => SourceError::Rejected {
                txid,
                reason: other.to_string(),
            },
        })
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        Ok(SatPerKvb(self.inner.min_relay()))
    }

    fn estimate_fee(&self, _blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        Ok(Some(SatPerKvb(self.inner.estimate_sat_per_kvb())))
    }
}
