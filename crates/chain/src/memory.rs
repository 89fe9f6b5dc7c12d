//! [`MemoryChain`]: an in-process regtest chain of real blocks (real merkle roots, nonces ground
//! to the regtest target) answering the [`BitcoinSource`] trait the way an Electrum server does.
//! For tests of the scanners and the SPV checks without a network; the lab (`custos-lab`) is the
//! full-fidelity chain with script validation.

use std::{collections::HashMap, sync::Mutex};

use bitcoin::{
    absolute::LockTime,
    block::{Header, Version},
    blockdata::constants::genesis_block,
    consensus::{deserialize, serialize},
    hashes::{sha256d, Hash, HashEngine},
    merkle_tree,
    params::Params,
    script::Builder,
    transaction, Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use custos_core::{
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Sat,
};

/// A merkle branch for transaction `pos` of `block`, from the leaf upwards.
pub fn merkle_branch(block: &Block, pos: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<sha256d::Hash> = block
        .txdata
        .iter()
        .map(|t| t.compute_txid().to_raw_hash())
        .collect();
    let mut idx = pos;
    let mut out = Vec::new();
    while level.len() > 1 {
        if level.len() % 2 == 1 {
            let last = level[level.len() - 1];
            level.push(last);
        }
        out.push(TxMerkleNode::from_raw_hash(level[idx ^ 1]));
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                e.input(p[0].as_ref());
                e.input(p[1].as_ref());
                sha256d::Hash::from_engine(e)
            })
            .collect();
        idx /= 2;
    }
    out
}

/// An in-process regtest chain.
#[derive(Debug)]
pub struct MemoryChain {
    blocks: Vec<Block>,
    mempool: Mutex<Vec<Transaction>>,
    coins: Vec<(OutPoint, u64)>,
    anyone: ScriptBuf,
}

impl Default for MemoryChain {
    fn default() -> Self {
        Self::regtest()
    }
}

impl MemoryChain {
    /// A chain holding only the regtest genesis block.
    pub fn regtest() -> Self {
        MemoryChain {
            blocks: vec![genesis_block(Params::new(Network::Regtest))],
            mempool: Mutex::new(Vec::new()),
            coins: Vec::new(),
            anyone: Builder::new()
                .push_opcode(bitcoin::opcodes::OP_TRUE)
                .into_script(),
        }
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        u32::try_from(self.blocks.len() - 1).unwrap_or(u32::MAX)
    }

    /// The blocks, genesis first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Transaction>> {
        match self.mempool.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Mines a block with the mempool's transactions and a coinbase of 50 BTC to an
    /// anyone-can-spend script (kept as a coin for [`MemoryChain::fund`]). Returns its height.
    pub fn mine(&mut self) -> u32 {
        let height = self.height() + 1;
        let prev = self.blocks[self.blocks.len() - 1].header;
        let coinbase = Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: Builder::new()
                    .push_int(i64::from(height))
                    .push_int(0)
                    .into_script(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(50_0000_0000),
                script_pubkey: self.anyone.clone(),
            }],
        };
        self.coins
            .push((OutPoint::new(coinbase.compute_txid(), 0), 50_0000_0000));
        let mut txdata = vec![coinbase];
        txdata.append(&mut self.pool());
        let root =
            merkle_tree::calculate_root(txdata.iter().map(|t| t.compute_txid().to_raw_hash()))
                .map(TxMerkleNode::from_raw_hash)
                .unwrap_or_else(TxMerkleNode::all_zeros);
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev.block_hash(),
            merkle_root: root,
            time: prev.time + 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        while !header.target().is_met_by(header.block_hash()) {
            header.nonce += 1;
        }
        self.blocks.push(Block { header, txdata });
        height
    }

    /// Puts into the mempool a transaction paying `outputs`, funded from a mined coinbase, and
    /// returns it. Mines a block first if no coin is left.
    pub fn fund(&mut self, outputs: &[(ScriptBuf, u64)]) -> Transaction {
        if self.coins.is_empty() {
            self.mine();
        }
        let (coin, value) = self.coins.remove(0);
        let mut out: Vec<TxOut> = outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect();
        let spent: u64 = outputs.iter().map(|(_, v)| *v).sum();
        let change = value.saturating_sub(spent).saturating_sub(1000);
        out.push(TxOut {
            value: Amount::from_sat(change),
            script_pubkey: self.anyone.clone(),
        });
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: coin,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: out,
        };
        let last = u32::try_from(tx.output.len() - 1).unwrap_or(0);
        self.coins
            .push((OutPoint::new(tx.compute_txid(), last), change));
        self.pool().push(tx.clone());
        tx
    }

    /// Puts a transaction into the mempool as is.
    pub fn submit(&self, tx: Transaction) {
        self.pool().push(tx);
    }

    /// Every transaction with its height (0 for mempool).
    fn all_txs(&self) -> Vec<(u32, Transaction)> {
        let mut v: Vec<(u32, Transaction)> = Vec::new();
        for (h, b) in self.blocks.iter().enumerate() {
            for t in &b.txdata {
                v.push((u32::try_from(h).unwrap_or(u32::MAX), t.clone()));
            }
        }
        for t in self.pool().iter() {
            v.push((0, t.clone()));
        }
        v
    }

    fn history_of(&self, script: &ScriptBuf) -> Vec<HistoryItem> {
        let txs = self.all_txs();
        let mut prevouts: HashMap<OutPoint, ScriptBuf> = HashMap::new();
        for (_, t) in &txs {
            let id = t.compute_txid();
            for (i, o) in t.output.iter().enumerate() {
                prevouts.insert(
                    OutPoint::new(id, u32::try_from(i).unwrap_or(0)),
                    o.script_pubkey.clone(),
                );
            }
        }
        let mempool_ids: Vec<Txid> = self.pool().iter().map(Transaction::compute_txid).collect();
        txs.iter()
            .filter(|(_, t)| {
                t.output.iter().any(|o| &o.script_pubkey == script)
                    || t.input
                        .iter()
                        .any(|i| prevouts.get(&i.previous_output) == Some(script))
            })
            .map(|(h, t)| {
                let height = if *h > 0 {
                    i64::from(*h)
                } else if t
                    .input
                    .iter()
                    .any(|i| mempool_ids.contains(&i.previous_output.txid))
                {
                    -1
                } else {
                    0
                };
                HistoryItem {
                    txid: t.compute_txid(),
                    height,
                    fee: (*h == 0).then_some(1000),
                }
            })
            .collect()
    }

    fn locate(&self, txid: &Txid) -> Option<(u32, usize)> {
        self.blocks.iter().enumerate().find_map(|(h, b)| {
            b.txdata
                .iter()
                .position(|t| t.compute_txid() == *txid)
                .map(|p| (u32::try_from(h).unwrap_or(u32::MAX), p))
        })
    }

    fn err(&self, method: &str, detail: String) -> SourceError {
        SourceError::Server {
            server: self.name(),
            method: method.into(),
            detail,
        }
    }
}

impl BitcoinSource for MemoryChain {
    fn name(&self) -> String {
        "memory://regtest".into()
    }

    fn tip(&self) -> Result<Tip, SourceError> {
        Ok(Tip {
            height: self.height(),
            header: self.blocks[self.blocks.len() - 1].header,
        })
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        Ok(self
            .blocks
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .map(|b| b.header)
            .collect())
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        Ok(scripts.iter().map(|s| self.history_of(s)).collect())
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        let txs = self.all_txs();
        let spent: Vec<OutPoint> = txs
            .iter()
            .flat_map(|(_, t)| t.input.iter().map(|i| i.previous_output))
            .collect();
        Ok(scripts
            .iter()
            .map(|s| {
                txs.iter()
                    .flat_map(|(h, t)| {
                        let id = t.compute_txid();
                        t.output
                            .iter()
                            .enumerate()
                            .filter(move |(_, o)| &o.script_pubkey == s)
                            .map(move |(i, o)| Unspent {
                                outpoint: OutPoint::new(id, u32::try_from(i).unwrap_or(0)),
                                height: *h,
                                value: Sat(o.value.to_sat()),
                            })
                    })
                    .filter(|u| !spent.contains(&u.outpoint))
                    .collect()
            })
            .collect())
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        let txs = self.all_txs();
        txids
            .iter()
            .map(|id| {
                txs.iter()
                    .find(|(_, t)| t.compute_txid() == *id)
                    .map(|(_, t)| serialize(t))
                    .ok_or_else(|| {
                        self.err("blockchain.transaction.get", format!("no transaction {id}"))
                    })
            })
            .collect()
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        requests
            .iter()
            .map(|(id, _)| {
                let (h, pos) = self.locate(id).ok_or_else(|| {
                    self.err(
                        "blockchain.transaction.get_merkle",
                        format!("{id} not in a block"),
                    )
                })?;
                Ok(MerkleProof {
                    txid: *id,
                    block_height: h,
                    pos: u32::try_from(pos).unwrap_or(u32::MAX),
                    branch: merkle_branch(&self.blocks[h as usize], pos),
                })
            })
            .collect()
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        let tx: Transaction = deserialize(raw_tx)
            .map_err(|e| self.err("blockchain.transaction.broadcast", e.to_string()))?;
        let id = tx.compute_txid();
        self.submit(tx);
        Ok(id)
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        Ok(SatPerKvb(1000))
    }

    fn estimate_fee(&self, _blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VerifiedChain;

    #[test]
    fn serves_a_chain_that_passes_spv() {
        let mut c = MemoryChain::regtest();
        c.mine();
        let s = ScriptBuf::new_op_return([1u8; 3]);
        let tx = c.fund(&[(s.clone(), 5000)]);
        c.mine();
        let tip = c.tip().unwrap();
        let mut vc = VerifiedChain::new(Network::Regtest);
        vc.sync(&c, &tip, &mut |_, _| {}).unwrap();
        let h = c.histories(std::slice::from_ref(&s)).unwrap();
        assert_eq!(h[0].len(), 1);
        assert_eq!(h[0][0].txid, tx.compute_txid());
        let proofs = c.merkle_proofs(&[(tx.compute_txid(), 2)]).unwrap();
        vc.verify_proof(&proofs[0], 2).unwrap();
        let u = c.unspents(&[s]).unwrap();
        assert_eq!(u[0][0].value, Sat(5000));
    }
}
