//! The lab's chain state: the kernel, an index for the Electrum server (headers, transactions,
//! per-script histories and unspent outputs) and block assembly (coinbase, witness commitment,
//! merkle root, regtest proof of work).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bitcoin::blockdata::block::{Header, Version as BlockVersion};
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};

use crate::kernel::Kernel;
use crate::mempool::Mempool;
use crate::Error;

/// Electrum script hash: SHA256 of the output script (internal byte order).
pub type ScriptHash = [u8; 32];

/// The Electrum script hash of a script.
pub fn script_hash(script: &bitcoin::Script) -> ScriptHash {
    sha256::Hash::hash(script.as_bytes()).to_byte_array()
}

/// Regtest nBits: the easiest target.
pub(crate) const REGTEST_BITS: u32 = 0x207f_ffff;
/// Coinbase outputs can be spent after this many confirmations.
pub(crate) const COINBASE_MATURITY: u32 = 100;
/// Seconds between consecutive lab blocks.
pub(crate) const BLOCK_INTERVAL: u32 = 600;

/// Block subsidy at `height` on regtest (halving every 150 blocks).
pub(crate) fn subsidy(height: u32) -> Amount {
    let halvings = height / 150;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_sat((50 * 100_000_000u64) >> halvings)
}

/// An unspent output in the chain.
#[derive(Debug, Clone)]
pub(crate) struct Coin {
    pub(crate) txout: TxOut,
    pub(crate) height: u32,
    pub(crate) coinbase: bool,
}

/// A confirmed transaction's location.
#[derive(Debug, Clone)]
pub(crate) struct TxLoc {
    pub(crate) height: u32,
    pub(crate) pos: u32,
    pub(crate) tx: Arc<Transaction>,
}

/// Index of the active chain.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) headers: Vec<Header>,
    pub(crate) block_txids: Vec<Vec<Txid>>,
    pub(crate) txs: HashMap<Txid, TxLoc>,
    pub(crate) history: HashMap<ScriptHash, Vec<(u32, Txid)>>,
    pub(crate) utxos: HashMap<OutPoint, Coin>,
    pub(crate) by_script: HashMap<ScriptHash, BTreeSet<OutPoint>>,
}

impl Index {
    fn push_history(&mut self, sh: ScriptHash, height: u32, txid: Txid) {
        let h = self.history.entry(sh).or_default();
        if h.last() != Some(&(height, txid)) {
            h.push((height, txid));
        }
    }

    /// Adds a connected block at the next height.
    pub(crate) fn connect(&mut self, block: &Block) -> Result<(), Error> {
        let height = u32::try_from(self.headers.len()).map_err(|e| Error::Kernel(e.to_string()))?;
        let mut txids = Vec::with_capacity(block.txdata.len());
        for (pos, tx) in block.txdata.iter().enumerate() {
            let txid = tx.compute_txid();
            let coinbase = tx.is_coinbase();
            if !coinbase {
                for inp in &tx.input {
                    let coin = self.utxos.remove(&inp.previous_output).ok_or_else(|| {
                        Error::Kernel(format!(
                            "index: {txid} spends unknown {}",
                            inp.previous_output
                        ))
                    })?;
                    let sh = script_hash(&coin.txout.script_pubkey);
                    if let Some(set) = self.by_script.get_mut(&sh) {
                        set.remove(&inp.previous_output);
                    }
                    self.push_history(sh, height, txid);
                }
            }
            for (vout, out) in tx.output.iter().enumerate() {
                if out.script_pubkey.is_op_return() {
                    continue;
                }
                let op = OutPoint::new(txid, u32::try_from(vout).unwrap_or(u32::MAX));
                let sh = script_hash(&out.script_pubkey);
                self.utxos.insert(
                    op,
                    Coin {
                        txout: out.clone(),
                        height,
                        coinbase,
                    },
                );
                self.by_script.entry(sh).or_default().insert(op);
                self.push_history(sh, height, txid);
            }
            self.txs.insert(
                txid,
                TxLoc {
                    height,
                    pos: u32::try_from(pos).unwrap_or(u32::MAX),
                    tx: Arc::new(tx.clone()),
                },
            );
            txids.push(txid);
        }
        self.headers.push(block.header);
        self.block_txids.push(txids);
        Ok(())
    }

    /// Height of the tip.
    pub(crate) fn tip_height(&self) -> u32 {
        u32::try_from(self.headers.len().saturating_sub(1)).unwrap_or(0)
    }
}

/// Chain parameters fixed at creation.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// Timestamp of height 0 for the lab's blocks (block `h` gets `start_time + h * 600`).
    pub(crate) start_time: u32,
    /// Where the lab's miner is paid.
    pub(crate) miner_script: ScriptBuf,
}

/// Everything behind the lock of a running lab.
#[derive(Debug)]
pub(crate) struct ChainState {
    pub(crate) kernel: Kernel,
    pub(crate) index: Index,
    pub(crate) mempool: Mempool,
    pub(crate) params: Params,
}

impl ChainState {
    /// Opens the kernel under `dir` and indexes its active chain.
    pub(crate) fn open(
        dir: &std::path::Path,
        params: Params,
        min_relay: u64,
    ) -> Result<Self, Error> {
        let kernel = Kernel::open(dir)?;
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
        let height = self.index.tip_height() + 1;
        let prev = self
            .index
            .headers
            .last()
            .map(|h| h.block_hash())
            .ok_or_else(|| Error::Kernel("empty chain".into()))?;
        let prev_time = self.index.headers.last().map(|h| h.time).unwrap_or(0);
        let time = self
            .params
            .start_time
            .saturating_add(height.saturating_mul(BLOCK_INTERVAL))
            .max(prev_time.saturating_add(1));
        let value = subsidy(height)
            .checked_add(fees)
            .ok_or_else(|| Error::Kernel("coinbase value overflow".into()))?;
        let height_i = i64::from(height);
        let tag = PushBytesBuf::try_from(b"custos-lab".to_vec())
            .map_err(|e| Error::Kernel(e.to_string()))?;
        let coinbase = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: Builder::new()
                    .push_int(height_i)
                    .push_slice(tag)
                    .into_script(),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut {
                value,
                script_pubkey: pay_to.clone(),
            }],
        };
        let mut txdata = Vec::with_capacity(txs.len() + 1);
        txdata.push(coinbase);
        txdata.extend(txs);
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(0x2000_0000),
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time,
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        add_witness_commitment(&mut block)?;
        block.header.merkle_root = block
            .compute_merkle_root()
            .ok_or_else(|| Error::Kernel("empty block".into()))?;
        grind(&mut block.header);
        Ok(block)
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
}

/// Adds the BIP141 witness commitment output to the coinbase (with the 32-zero-byte reserved
/// value already in its witness).
pub(crate) fn add_witness_commitment(block: &mut Block) -> Result<(), Error> {
    let root = block
        .witness_root()
        .ok_or_else(|| Error::Kernel("empty block".into()))?;
    let reserved = [0u8; 32];
    let commitment = Block::compute_witness_commitment(&root, &reserved);
    let mut data = vec![0xaa, 0x21, 0xa9, 0xed];
    data.extend_from_slice(commitment.as_byte_array());
    let push = PushBytesBuf::try_from(data).map_err(|e| Error::Kernel(e.to_string()))?;
    let script = Builder::new()
        .push_opcode(bitcoin::opcodes::all::OP_RETURN)
        .push_slice(push)
        .into_script();
    let cb = block
        .txdata
        .first_mut()
        .ok_or_else(|| Error::Kernel("no coinbase".into()))?;
    cb.output.retain(|o| {
        !o.script_pubkey
            .as_bytes()
            .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
    });
    cb.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: script,
    });
    Ok(())
}

/// Finds a nonce meeting the header's target (regtest: about two tries).
pub fn grind(header: &mut Header) {
    let target = header.target();
    header.nonce = 0;
    while header.validate_pow(target).is_err() {
        header.nonce = header.nonce.wrapping_add(1);
    }
}

/// Merkle branch (siblings from the leaf up) for position `pos` among `txids`.
pub(crate) fn merkle_branch(txids: &[Txid], pos: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    let mut idx = pos;
    let mut branch = Vec::new();
    while level.len() > 1 {
        if !level.len().is_multiple_of(2) {
            if let Some(last) = level.last().copied() {
                level.push(last);
            }
        }
        let sib = idx ^ 1;
        if let Some(h) = level.get(sib) {
            branch.push(TxMerkleNode::from_raw_hash(*h));
        }
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                bitcoin::hashes::HashEngine::input(&mut e, p[0].as_byte_array());
                bitcoin::hashes::HashEngine::input(&mut e, p[p.len() - 1].as_byte_array());
                sha256d::Hash::from_engine(e)
            })
            .collect();
        idx /= 2;
    }
    branch
}

/// Merkle branch and root over block hashes `hashes[..=cp]` for leaf `pos` (cp_height proofs).
pub(crate) fn header_branch(
    hashes: &[sha256d::Hash],
    pos: usize,
) -> (Vec<sha256d::Hash>, sha256d::Hash) {
    let mut level = hashes.to_vec();
    let mut idx = pos;
    let mut branch = Vec::new();
    if level.is_empty() {
        return (branch, sha256d::Hash::all_zeros());
    }
    while level.len() > 1 {
        if !level.len().is_multiple_of(2) {
            if let Some(last) = level.last().copied() {
                level.push(last);
            }
        }
        if let Some(h) = level.get(idx ^ 1) {
            branch.push(*h);
        }
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                bitcoin::hashes::HashEngine::input(&mut e, p[0].as_byte_array());
                bitcoin::hashes::HashEngine::input(&mut e, p[p.len() - 1].as_byte_array());
                sha256d::Hash::from_engine(e)
            })
            .collect();
        idx /= 2;
    }
    (branch, level[0])
}

impl ChainState {
    /// Spendable outputs of a script: confirmed ones not spent in the mempool (with their
    /// height), then mempool ones (height 0) not spent in the mempool.
    pub(crate) fn unspent(&self, sh: &ScriptHash) -> Vec<(OutPoint, TxOut, u32, bool)> {
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
        for (txid, e) in self.mempool.iter() {
            for (vout, o) in e.tx.output.iter().enumerate() {
                let op = OutPoint::new(*txid, u32::try_from(vout).unwrap_or(u32::MAX));
                if script_hash(&o.script_pubkey) == *sh && self.mempool.spender(&op).is_none() {
                    out.push((op, o.clone(), 0, false));
                }
            }
        }
        out
    }
}
