//! A running lab's shared state: the chain state behind one lock, the automine setting, and
//! whom to tell when the chain or the mempool changes. Answers with domain values; a poisoned
//! lock (a lab thread panicked while holding it) is an error, never an invented value.

use std::path::PathBuf;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use bitcoin::{Block, BlockHash, Transaction, Txid};
use serde::Serialize;

use crate::chain::ChainState;
use crate::persist;
use crate::Error;

/// Told after every change of the chain or the mempool (the Electrum server's notifications).
pub(crate) trait ChainListener: Send + Sync {
    /// The tip or the mempool changed.
    fn chain_changed(&self);
}

/// What `lab.status` reports.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LabStatus {
    pub(crate) scenario: String,
    pub(crate) tip_height: u32,
    pub(crate) tip_hash: String,
    pub(crate) mempool_txs: usize,
    pub(crate) min_relay_sat_per_kvb: u64,
}

/// The chain state of a running lab, shared by the server, the in-process source and the
/// `Lab` handle.
#[derive(Debug)]
pub(crate) struct Node {
    state: RwLock<ChainState>,
    automine: bool,
    scenario_name: String,
    listener: OnceLock<Weak<dyn ChainListener>>,
    /// Where the tip and the mempool are recorded after every change (`--data DIR`).
    persist_to: Option<PathBuf>,
}

/// The error for a poisoned state lock.
pub(crate) fn poisoned<T>(_: T) -> Error {
    Error::Kernel("lab state lock poisoned: a lab thread panicked while holding it".into())
}

impl Node {
    /// A node over `state`; with `persist_to`, its tip and mempool are recorded there after
    /// every change (see `persist`).
    pub(crate) fn new(
        state: ChainState,
        automine: bool,
        scenario_name: String,
        persist_to: Option<PathBuf>,
    ) -> Self {
        Node {
            state: RwLock::new(state),
            automine,
            scenario_name,
            listener: OnceLock::new(),
            persist_to,
        }
    }

    /// Records the tip and the mempool (called with the write lock held, so the files follow
    /// the changes in order). A failure is logged: the change itself has happened.
    fn persist(&self, st: &ChainState) {
        if let Some(dir) = &self.persist_to {
            if let Err(e) = persist::save(dir, st) {
                tracing::error!(target: "custos_lab", "lab state not recorded: {e}");
            }
        }
    }

    /// Sets whom to tell about changes (once; later calls are ignored).
    pub(crate) fn set_listener(&self, listener: Weak<dyn ChainListener>) {
        let _ = self.listener.set(listener);
    }

    /// Tells the listener, if it is still there, that something changed.
    pub(crate) fn changed(&self) {
        if let Some(l) = self.listener.get().and_then(Weak::upgrade) {
            l.chain_changed();
        }
    }

    /// The scenario the chain was built from.
    pub(crate) fn scenario_name(&self) -> &str {
        &self.scenario_name
    }

    /// Read access to the state.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, ChainState>, Error> {
        self.state.read().map_err(poisoned)
    }

    /// Write access to the state.
    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, ChainState>, Error> {
        self.state.write().map_err(poisoned)
    }

    /// Height of the active tip.
    pub(crate) fn tip_height(&self) -> Result<u32, Error> {
        Ok(self.read()?.index.tip_height())
    }

    /// Minimum relay fee in sat/kvB.
    pub(crate) fn min_relay(&self) -> Result<u64, Error> {
        Ok(self.read()?.mempool.min_relay())
    }

    /// The lab's fee estimate: 1 sat/vB, never below the relay fee.
    pub(crate) fn estimate_sat_per_kvb(&self) -> Result<u64, Error> {
        Ok(self.min_relay()?.max(1_000))
    }

    /// Offers a transaction to the mempool (and mines it with automine).
    pub(crate) fn submit_tx(&self, tx: Transaction) -> Result<Txid, Error> {
        let txid = {
            let mut st = self.write()?;
            let txid = st.accept(tx)?;
            let mined = if self.automine {
                let miner = st.params.miner_script.clone();
                st.mine_one(&miner).map(drop)
            } else {
                Ok(())
            };
            self.persist(&st);
            mined?;
            txid
        };
        tracing::info!(target: "custos_lab", %txid, "transaction accepted");
        self.changed();
        Ok(txid)
    }

    /// Offers a transaction to the mempool and mines one block whatever the automine setting.
    pub(crate) fn submit_and_mine(&self, tx: Transaction) -> Result<Txid, Error> {
        let txid = {
            let mut st = self.write()?;
            let txid = st.accept(tx)?;
            let miner = st.params.miner_script.clone();
            let mined = st.mine_one(&miner);
            self.persist(&st);
            mined?;
            txid
        };
        self.changed();
        Ok(txid)
    }

    /// Mines `n` blocks (the whole mempool in the first) to the lab miner.
    pub(crate) fn mine(&self, n: u32) -> Result<Vec<BlockHash>, Error> {
        let mut out = Vec::new();
        {
            let mut st = self.write()?;
            let miner = st.params.miner_script.clone();
            let mut result = Ok(());
            for _ in 0..n {
                match st.mine_one(&miner) {
                    Ok(h) => out.push(h),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            self.persist(&st);
            result?;
        }
        self.changed();
        Ok(out)
    }

    /// Hands a block to the kernel; Ok when it became the tip.
    pub(crate) fn submit_block(&self, block: &Block) -> Result<BlockHash, Error> {
        let hash = {
            let mut st = self.write()?;
            let hash = st.submit_block(block)?;
            self.persist(&st);
            hash
        };
        self.changed();
        Ok(hash)
    }

    /// The lab's status.
    pub(crate) fn status(&self) -> Result<LabStatus, Error> {
        let st = self.read()?;
        Ok(LabStatus {
            scenario: self.scenario_name.clone(),
            tip_height: st.index.tip_height(),
            tip_hash: st.kernel.tip_hash().to_string(),
            mempool_txs: st.mempool.len(),
            min_relay_sat_per_kvb: st.mempool.min_relay(),
        })
    }
}
