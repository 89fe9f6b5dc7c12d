//! The lab's chain state — the kernel, the index of its active chain and the mempool — and every
//! question asked of it, answered with domain values (core's source types, headers, hashes).
//! Nothing here knows the Electrum protocol or JSON; the lock around it lives in `node`.

use bitcoin::block::Header;
use bitcoin::consensus::encode::serialize;
use bitcoin::{Amount, Block, BlockHash, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use custos_core::source::{HistoryItem, MerkleProof, Unspent};
use custos_core::Sat;

use crate::block::{self, header_branch, merkle_branch, Template};
use crate::index::Index;
use crate::kernel::Kernel;
use crate::mempool::Mempool;
use crate::persist;
use crate::Error;

pub(crate) use crate::index::{script_hash, ElectrumScriptHash, COINBASE_MATURITY};

/// Chain parameters fixed at creation.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// Timestamp of height 0 for the lab's blocks (block `h` gets `start_time + h * 600`).
    pub(crate) start_time: u32,
    /// Where the lab's miner is paid.
    pub(crate) miner_script: ScriptBuf,
}

/// Confirmed and mempool balance of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Balance {
    /// Value of its confirmed unspent outputs.
    pub(crate) confirmed: u64,
    /// What the mempool adds to (outputs) and takes from (spends) it.
    pub(crate) unconfirmed: i64,
}

/// Why a merkle proof cannot be given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProofError {
    /// The transaction is not confirmed at that height.
    #[error("tx {txid} not in block at height {height}")]
    NotInBlock {
        /// The transaction.
        txid: Txid,
        /// The height asked.
        height: u32,
    },
    /// No block at that height.
    #[error("no block at height {0}")]
    NoBlock(u32),
    /// The block holds fewer transactions.
    #[error("no tx at position {pos} in block {height}")]
    NoTxAt {
        /// Block height.
        height: u32,
        /// Position asked.
        pos: u32,
    },
}

/// Everything behind the lock of a running lab.
#[derive(Debug)]
pub(crate) struct ChainState {
    pub(crate) kernel: Kernel,
    pub(crate) index: Index,
    pub(crate) mempool: Mempool,
    pub(crate) params: Params,
}

/// A satoshi value as the balance's signed arithmetic; no amount reaches 2^63 sat.
fn signed(sat: Amount) -> i64 {
    i64::try_from(sat.to_sat()).expect("amounts are below 21e14 sat, far below 2^63")
}

impl ChainState {
    /// Opens the kernel under `dir` and indexes its active chain. When the kernel's tip is
    /// behind the tip the lab recorded (it was killed before the kernel flushed its
    /// databases), the kernel is rebuilt from its block files first.
    pub(crate) fn open(
        dir: &std::path::Path,
        params: Params,
        min_relay: u64,
    ) -> Result<Self, Error> {
        let mut kernel = Kernel::open(dir, false)?;
        if let Some(rec) = persist::load_tip(dir)? {
            if kernel.tip_height() < rec.height {
                tracing::warn!(
                    target: "custos_lab",
                    kernel = kernel.tip_height(),
                    recorded = rec.height,
                    "kernel behind the recorded tip (unclean stop): rebuilding from block files"
                );
                drop(kernel);
                kernel = Kernel::open(dir, true)?;
                if kernel.tip_height() < rec.height {
                    return Err(Error::Data {
                        path: dir.to_path_buf(),
                        detail: format!(
                            "block files end at height {}, but the lab had reached height {} \
                             ({}): blocks were lost",
                            kernel.tip_height(),
                            rec.height,
                            rec.hash
                        ),
                    });
                }
            }
        }
        let mut index = Index::default();
        let tip = kernel.tip_height();
        for h in 0..=tip {
            let block = kernel.block_at(h)?;
            index.connect(&block)?;
        }
        Ok(ChainState {
            kernel,
            index,
            mempool: Mempool::new(min_relay),
            params,
        })
    }

    /// Builds a block on the tip with `txs` (already ordered parents first) and grinds its
    /// proof of work. The coinbase pays subsidy + `fees` to `pay_to`.
    pub(crate) fn assemble(
        &self,
        txs: Vec<Transaction>,
        fees: Amount,
        pay_to: &ScriptBuf,
    ) -> Result<Block, Error> {
        let prev = self
            .index
            .headers
            .last()
            .ok_or_else(|| Error::Kernel("empty chain".into()))?;
        let template = Template {
            prev,
            height: self.index.tip_height() + 1,
            start_time: self.params.start_time,
        };
        block::assemble(template, txs, fees, pay_to)
    }

    /// Validates `block` with the kernel and, when it becomes the tip, indexes it and removes
    /// its transactions (and conflicts) from the mempool.
    pub(crate) fn submit_block(&mut self, block: &Block) -> Result<BlockHash, Error> {
        let before = self.kernel.tip_hash();
        if block.header.prev_blockhash != before {
            return Err(Error::BlockRejected {
                hash: block.block_hash(),
                reason: "prev-blk-not-tip: the lab only extends its active tip".into(),
            });
        }
        self.kernel.process_block(block)?;
        self.index.connect(block)?;
        self.mempool.remove_for_block(block);
        Ok(block.block_hash())
    }

    /// Mines one block with the whole mempool (parents first) paying `pay_to`.
    pub(crate) fn mine_one(&mut self, pay_to: &ScriptBuf) -> Result<BlockHash, Error> {
        let (txs, fees) = self.mempool.block_candidates();
        let block = self.assemble(txs, fees, pay_to)?;
        self.submit_block(&block)
    }

    /// Offers a transaction to the mempool.
    pub(crate) fn accept(&mut self, tx: Transaction) -> Result<Txid, Error> {
        let txid = tx.compute_txid();
        self.mempool
            .accept(tx, &self.index)
            .map_err(|reason| Error::TxRejected { txid, reason })
    }

    /// Spendable outputs of a script: confirmed ones not spent in the mempool (with their
    /// height and whether they are coinbase outputs), then mempool ones (height 0) not spent in
    /// the mempool.
    pub(crate) fn unspent(&self, sh: &ElectrumScriptHash) -> Vec<(OutPoint, TxOut, u32, bool)> {
        let mut out: Vec<(OutPoint, TxOut, u32, bool)> = self
            .index
            .by_script
            .get(sh)
            .map(|set| {
                set.iter()
                    .filter(|op| self.mempool.spender(op).is_none())
                    .filter_map(|op| {
                        self.index
                            .utxos
                            .get(op)
                            .map(|c| (*op, c.txout.clone(), c.height, c.coinbase))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|a| (a.2, a.0));
        for (txid, e) in self.mempool.touching(sh) {
            for (vout, o) in e.tx.output.iter().enumerate() {
                let op = crate::index::outpoint(txid, vout);
                if e.output_scripts[vout] == *sh && self.mempool.spender(&op).is_none() {
                    out.push((op, o.clone(), 0, false));
                }
            }
        }
        out
    }

    /// The script's spendable outputs as a chain source lists them.
    pub(crate) fn list_unspent(&self, sh: &ElectrumScriptHash) -> Vec<Unspent> {
        self.unspent(sh)
            .into_iter()
            .map(|(outpoint, o, height, _)| Unspent {
                outpoint,
                height,
                value: Sat(o.value.to_sat()),
            })
            .collect()
    }

    /// History of a script: confirmed ascending, then mempool (height 0, or -1 with an
    /// unconfirmed parent) with fees.
    pub(crate) fn history(&self, sh: &ElectrumScriptHash) -> Vec<HistoryItem> {
        let mut out: Vec<HistoryItem> = self
            .index
            .history
            .get(sh)
            .map(|h| {
                h.iter()
                    .map(|(height, txid)| HistoryItem {
                        txid: *txid,
                        height: i64::from(*height),
                        fee: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (txid, e) in self.mempool.touching(sh) {
            out.push(HistoryItem {
                txid,
                height: if e.unconfirmed_parent { -1 } else { 0 },
                fee: Some(e.fee),
            });
        }
        out
    }

    /// Confirmed balance and the mempool's effect on it.
    pub(crate) fn balance(&self, sh: &ElectrumScriptHash) -> Balance {
        let confirmed: u64 = self
            .index
            .by_script
            .get(sh)
            .map(|set| {
                set.iter()
                    .filter_map(|op| self.index.utxos.get(op))
                    .map(|c| c.txout.value.to_sat())
                    .sum()
            })
            .unwrap_or(0);
        let mut unconfirmed: i64 = 0;
        for (_, e) in self.mempool.touching(sh) {
            for (o, h) in e.tx.output.iter().zip(&e.output_scripts) {
                if h == sh {
                    unconfirmed += signed(o.value);
                }
            }
            for (o, h) in e.spent.iter().zip(&e.spent_scripts) {
                if h == sh {
                    unconfirmed -= signed(o.value);
                }
            }
        }
        Balance {
            confirmed,
            unconfirmed,
        }
    }

    /// Raw bytes of a confirmed or mempool transaction.
    pub(crate) fn raw_tx(&self, txid: &Txid) -> Option<Vec<u8>> {
        if let Some(l) = self.index.txs.get(txid) {
            return Some(serialize(&*l.tx));
        }
        self.mempool.get(txid).map(|e| serialize(&*e.tx))
    }

    /// The merkle proof of a transaction confirmed at `height`.
    pub(crate) fn merkle_proof(&self, txid: &Txid, height: u32) -> Result<MerkleProof, ProofError> {
        let loc = self
            .index
            .txs
            .get(txid)
            .filter(|l| l.height == height)
            .ok_or(ProofError::NotInBlock {
                txid: *txid,
                height,
            })?;
        let txids = self
            .index
            .block_txids(height)
            .ok_or(ProofError::NoBlock(height))?;
        Ok(MerkleProof {
            txid: *txid,
            block_height: height,
            pos: loc.pos,
            branch: merkle_branch(txids, loc.pos as usize),
        })
    }

    /// Up to `count` headers from `start`, stopping at the tip.
    pub(crate) fn headers(&self, start: u32, count: u32) -> Vec<Header> {
        self.index
            .headers
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .copied()
            .collect()
    }

    /// Branch and root of the header at `height` in the merkle tree of block hashes up to
    /// `cp` (Electrum's checkpoint proofs); `None` unless `height <= cp <= tip`.
    pub(crate) fn checkpoint_proof(
        &self,
        height: u32,
        cp: u32,
    ) -> Option<(Vec<BlockHash>, BlockHash)> {
        if cp < height || cp > self.index.tip_height() {
            return None;
        }
        let hashes: Vec<BlockHash> = self.index.headers[..=cp as usize]
            .iter()
            .map(Header::block_hash)
            .collect();
        Some(header_branch(&hashes, height as usize))
    }

    /// The transaction at `pos` in the block at `height`, with its merkle branch.
    pub(crate) fn tx_at(
        &self,
        height: u32,
        pos: u32,
    ) -> Result<(Txid, Vec<bitcoin::TxMerkleNode>), ProofError> {
        let txids = self
            .index
            .block_txids(height)
            .ok_or(ProofError::NoBlock(height))?;
        let txid = *txids
            .get(pos as usize)
            .ok_or(ProofError::NoTxAt { height, pos })?;
        Ok((txid, merkle_branch(txids, pos as usize)))
    }
}
