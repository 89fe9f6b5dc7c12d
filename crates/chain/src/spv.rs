//! Simplified payment verification as pure functions: a transaction's bytes hash to its txid, a
//! merkle branch leads to the merkle root of the header at the claimed height, and headers link
//! to each other and carry valid proof of work under the network's difficulty rules.
//!
//! Nothing here does I/O; [`crate::VerifiedChain`] feeds these checks with headers from a source.

use bitcoin::{
    block::Header,
    consensus::deserialize,
    hashes::{sha256d, Hash, HashEngine},
    params::Params,
    pow::CompactTarget,
    BlockHash, Network, Target, Transaction, TxMerkleNode, Txid,
};
use custos_core::source::MerkleProof;

use crate::SpvError;

/// Decodes `raw` as a transaction and checks that it hashes to `txid`.
pub fn check_tx_bytes(txid: &Txid, raw: &[u8]) -> Result<Transaction, SpvError> {
    let tx: Transaction = deserialize(raw).map_err(|e| SpvError::TxDecode {
        txid: *txid,
        detail: e.to_string(),
    })?;
    let got = tx.compute_txid();
    if got != *txid {
        return Err(SpvError::TxHashMismatch { txid: *txid, got });
    }
    Ok(tx)
}

/// Folds a merkle branch from the leaf `txid` at position `pos` up to a root.
pub fn merkle_root_from_branch(txid: &Txid, pos: u32, branch: &[TxMerkleNode]) -> TxMerkleNode {
    let mut cur = txid.to_raw_hash();
    let mut index = pos;
    for sibling in branch {
        let mut engine = sha256d::Hash::engine();
        if index.is_multiple_of(2) {
            engine.input(cur.as_ref());
            engine.input(sibling.as_ref());
        } else {
            engine.input(sibling.as_ref());
            engine.input(cur.as_ref());
        }
        cur = sha256d::Hash::from_engine(engine);
        index /= 2;
    }
    TxMerkleNode::from_raw_hash(cur)
}

/// Checks a merkle proof against the header at the height the history claimed (`height`).
pub fn verify_merkle_proof(
    proof: &MerkleProof,
    height: u32,
    header: &Header,
) -> Result<(), SpvError> {
    if proof.block_height != height {
        return Err(SpvError::ProofHeight {
            txid: proof.txid,
            expected: height,
            got: proof.block_height,
        });
    }
    // A position with bits above the branch length would fold to the same root as a smaller
    // one: refuse it so a proof names exactly one leaf.
    let len = u32::try_from(proof.branch.len()).unwrap_or(u32::MAX);
    if len > 32 || (len < 32 && proof.pos >> len != 0) {
        return Err(SpvError::MerklePosition {
            txid: proof.txid,
            pos: proof.pos,
            branch_len: proof.branch.len(),
        });
    }
    let computed = merkle_root_from_branch(&proof.txid, proof.pos, &proof.branch);
    if computed != header.merkle_root {
        return Err(SpvError::MerkleMismatch {
            txid: proof.txid,
            height,
            computed,
            header_root: header.merkle_root,
        });
    }
    Ok(())
}

/// What the difficulty rules of a network let a header claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifficultyRule {
    /// Exactly these bits (regtest: always the pow limit; mainnet: the retarget result or the
    /// previous header's bits).
    Exact(CompactTarget),
    /// Any target no easier than the pow limit (test networks whose min-difficulty and
    /// signet-solution rules are not modelled here).
    AtMostPowLimit,
}

/// The difficulty rule for the header at `height`, given the validated headers below it
/// (`below[h]` is the header at height h, `below.len() == height`).
pub fn difficulty_rule(network: Network, height: u32, below: &[Header]) -> DifficultyRule {
    let params = Params::new(network);
    match network {
        Network::Regtest => DifficultyRule::Exact(params.max_attainable_target.to_compact_lossy()),
        Network::Bitcoin => {
            let Some(prev) = below.last() else {
                return DifficultyRule::Exact(genesis_header(network).bits);
            };
            let interval = params.difficulty_adjustment_interval();
            if u64::from(height) % interval != 0 {
                return DifficultyRule::Exact(prev.bits);
            }
            let first = usize::try_from(u64::from(height) - interval)
                .expect("a u32 height fits in usize on the platforms custos builds for");
            let timespan = u64::from(prev.time.saturating_sub(below[first].time));
            DifficultyRule::Exact(CompactTarget::from_next_work_required(
                prev.bits, timespan, &params,
            ))
        }
        _ => DifficultyRule::AtMostPowLimit,
    }
}

/// The genesis header of a network.
pub fn genesis_header(network: Network) -> Header {
    bitcoin::blockdata::constants::genesis_block(Params::new(network)).header
}

/// Checks the header at `height` against the validated headers below it: linkage to the
/// previous header (or the network's genesis at height 0) and proof of work under the
/// network's difficulty rule. Returns its hash.
pub fn check_header(
    network: Network,
    height: u32,
    header: &Header,
    below: &[Header],
) -> Result<BlockHash, SpvError> {
    if height == 0 {
        let genesis = genesis_header(network);
        if *header != genesis {
            return Err(SpvError::Genesis {
                got: header.block_hash(),
                expected: genesis.block_hash(),
            });
        }
        return Ok(header.block_hash());
    }
    let prev = below
        .get(usize::try_from(height - 1).unwrap_or(usize::MAX))
        .ok_or(SpvError::HeaderUnavailable { height: height - 1 })?;
    let prev_hash = prev.block_hash();
    if header.prev_blockhash != prev_hash {
        return Err(SpvError::HeaderLinkage {
            height,
            expected_prev: prev_hash,
            got_prev: header.prev_blockhash,
        });
    }
    let required = match difficulty_rule(network, height, below) {
        DifficultyRule::Exact(bits) => {
            if header.bits != bits {
                return Err(SpvError::HeaderTarget {
                    height,
                    expected_bits: bits.to_consensus(),
                    got_bits: header.bits.to_consensus(),
                });
            }
            Target::from_compact(bits)
        }
        DifficultyRule::AtMostPowLimit => {
            let t = header.target();
            if t > Params::new(network).max_attainable_target {
                return Err(SpvError::HeaderTarget {
                    height,
                    expected_bits: Params::new(network)
                        .max_attainable_target
                        .to_compact_lossy()
                        .to_consensus(),
                    got_bits: header.bits.to_consensus(),
                });
            }
            t
        }
    };
    header
        .validate_pow(required)
        .map_err(|_| SpvError::HeaderPow {
            height,
            hash: header.block_hash(),
            bits: header.bits.to_consensus(),
        })
}

#[cfg(test)]
pub(crate) mod testchain {
    //! Real regtest blocks built in-process: coinbase and spending transactions, real merkle
    //! roots, nonces ground until the regtest target is met.

    use bitcoin::{
        absolute::LockTime, block::Version, hashes::Hash, merkle_tree, transaction, Amount, Block,
        BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode,
        TxOut, Witness,
    };

    use super::*;

    /// A coinbase paying `value` to `script` at `height` (BIP34 height push).
    pub(crate) fn coinbase(height: u32, script: &ScriptBuf, value: u64) -> Transaction {
        let sig = bitcoin::script::Builder::new()
            .push_int(i64::from(height))
            .push_int(0)
            .into_script();
        Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: sig,
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script.clone(),
            }],
        }
    }

    /// A transaction spending `prev` to `script`.
    pub(crate) fn spend(prev: OutPoint, script: &ScriptBuf, value: u64) -> Transaction {
        Transaction {
            version: transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: prev,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script.clone(),
            }],
        }
    }

    /// Mines a block on `prev` with `txdata` at regtest difficulty.
    pub(crate) fn mine(prev: BlockHash, time: u32, txdata: Vec<Transaction>) -> Block {
        let root =
            merkle_tree::calculate_root(txdata.iter().map(|t| t.compute_txid().to_raw_hash()))
                .map(TxMerkleNode::from_raw_hash)
                .unwrap_or_else(TxMerkleNode::all_zeros);
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: root,
            time,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        while !header.target().is_met_by(header.block_hash()) {
            header.nonce += 1;
        }
        Block { header, txdata }
    }

    /// A merkle branch for transaction `pos` of `block` (the same builder `MemoryChain` serves).
    pub(crate) fn branch(block: &Block, pos: usize) -> Vec<TxMerkleNode> {
        crate::memory::merkle_branch(block, pos)
    }

    /// A regtest chain of `n` blocks after genesis; block i holds a coinbase and, from block 2
    /// on, a spend of the previous block's coinbase, plus `extra` more spends in block 3.
    pub(crate) fn chain(n: u32) -> Vec<Block> {
        let genesis = bitcoin::blockdata::constants::genesis_block(Params::new(Network::Regtest));
        let script = ScriptBuf::new_op_return([0x51u8; 4]);
        let mut blocks = vec![genesis];
        for h in 1..=n {
            let prev = &blocks[blocks.len() - 1];
            let mut txs = vec![coinbase(h, &script, 50_0000_0000)];
            if h >= 2 {
                let prev_cb = prev.txdata[0].compute_txid();
                txs.push(spend(OutPoint::new(prev_cb, 0), &script, 49_0000_0000));
            }
            if h == 3 {
                for k in 0..4u64 {
                    txs.push(spend(
                        OutPoint::new(Txid::all_zeros(), u32::try_from(k).unwrap_or(0)),
                        &script,
                        1000 + k,
                    ));
                }
            }
            let time = prev.header.time + 600;
            blocks.push(mine(prev.block_hash(), time, txs));
        }
        blocks
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::consensus::serialize;

    use super::{testchain::*, *};

    fn headers(blocks: &[bitcoin::Block]) -> Vec<Header> {
        blocks.iter().map(|b| b.header).collect()
    }

    #[test]
    fn accepts_transaction_bytes_that_hash_to_the_txid() {
        let blocks = chain(3);
        let tx = &blocks[3].txdata[1];
        let raw = serialize(tx);
        let got = check_tx_bytes(&tx.compute_txid(), &raw).unwrap();
        assert_eq!(&got, tx);
    }

    #[test]
    fn refuses_transaction_bytes_that_hash_elsewhere() {
        let blocks = chain(3);
        let tx = &blocks[3].txdata[1];
        let other = &blocks[3].txdata[2];
        let err = check_tx_bytes(&tx.compute_txid(), &serialize(other)).unwrap_err();
        assert!(matches!(err, SpvError::TxHashMismatch { .. }));
        assert!(err.to_string().contains(&tx.compute_txid().to_string()));
    }

    #[test]
    fn refuses_trailing_bytes_after_a_transaction() {
        let blocks = chain(2);
        let tx = &blocks[2].txdata[1];
        let mut raw = serialize(tx);
        raw.push(0);
        let err = check_tx_bytes(&tx.compute_txid(), &raw).unwrap_err();
        assert!(matches!(err, SpvError::TxDecode { .. }));
    }

    #[test]
    fn verifies_every_merkle_branch_of_a_real_block() {
        let blocks = chain(3);
        let block = &blocks[3];
        assert_eq!(block.txdata.len(), 6);
        assert!(block.check_merkle_root());
        for (pos, tx) in block.txdata.iter().enumerate() {
            let proof = MerkleProof {
                txid: tx.compute_txid(),
                block_height: 3,
                pos: u32::try_from(pos).unwrap(),
                branch: branch(block, pos),
            };
            verify_merkle_proof(&proof, 3, &block.header).unwrap();
        }
    }

    #[test]
    fn refuses_a_wrong_merkle_branch_naming_txid_and_height() {
        let blocks = chain(3);
        let block = &blocks[3];
        let txid = block.txdata[2].compute_txid();
        let mut br = branch(block, 2);
        br[0] = TxMerkleNode::from_byte_array([7; 32]);
        let proof = MerkleProof {
            txid,
            block_height: 3,
            pos: 2,
            branch: br,
        };
        let err = verify_merkle_proof(&proof, 3, &block.header).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&txid.to_string()) && msg.contains("height 3"),
            "{msg}"
        );
        // Right branch, wrong position.
        let proof = MerkleProof {
            txid,
            block_height: 3,
            pos: 3,
            branch: branch(block, 2),
        };
        assert!(verify_merkle_proof(&proof, 3, &block.header).is_err());
        // Position beyond the branch.
        let proof = MerkleProof {
            txid,
            block_height: 3,
            pos: 2 + 8,
            branch: branch(block, 2),
        };
        assert!(matches!(
            verify_merkle_proof(&proof, 3, &block.header),
            Err(SpvError::MerklePosition { .. })
        ));
        // A proof for another height than the history claimed.
        let proof = MerkleProof {
            txid,
            block_height: 2,
            pos: 2,
            branch: branch(block, 2),
        };
        assert!(matches!(
            verify_merkle_proof(&proof, 3, &block.header),
            Err(SpvError::ProofHeight { .. })
        ));
    }

    #[test]
    fn validates_a_real_regtest_header_chain_from_genesis() {
        let hs = headers(&chain(12));
        for h in 0..hs.len() {
            check_header(Network::Regtest, h as u32, &hs[h], &hs[..h]).unwrap();
        }
    }

    #[test]
    fn refuses_a_header_with_bad_proof_of_work() {
        let hs = headers(&chain(4));
        let mut bad = hs[3];
        while bad.target().is_met_by(bad.block_hash()) {
            bad.nonce = bad.nonce.wrapping_add(1);
        }
        let err = check_header(Network::Regtest, 3, &bad, &hs[..3]).unwrap_err();
        assert!(
            matches!(err, SpvError::HeaderPow { height: 3, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("height 3"));
    }

    #[test]
    fn refuses_a_header_claiming_an_easier_target_than_regtest_allows() {
        let hs = headers(&chain(4));
        let mut bad = hs[3];
        bad.bits = CompactTarget::from_consensus(0x2100_ffff);
        let err = check_header(Network::Regtest, 3, &bad, &hs[..3]).unwrap_err();
        assert!(
            matches!(err, SpvError::HeaderTarget { height: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_header_that_does_not_link_to_its_predecessor() {
        let hs = headers(&chain(4));
        let err = check_header(Network::Regtest, 3, &hs[3], &hs[..2]).unwrap_err();
        assert!(matches!(err, SpvError::HeaderUnavailable { height: 2 }));
        let err = check_header(Network::Regtest, 2, &hs[3], &hs[..2]).unwrap_err();
        assert!(matches!(err, SpvError::HeaderLinkage { height: 2, .. }));
    }

    #[test]
    fn refuses_a_foreign_genesis() {
        let main = genesis_header(Network::Bitcoin);
        assert!(matches!(
            check_header(Network::Regtest, 0, &main, &[]),
            Err(SpvError::Genesis { .. })
        ));
    }

    #[test]
    fn mainnet_genesis_and_retarget_rule_follow_core() {
        // Mainnet difficulty stayed at 0x1d00ffff through the first retarget (block 2016).
        let g = genesis_header(Network::Bitcoin);
        assert_eq!(g.bits.to_consensus(), 0x1d00_ffff);
        assert!(g.validate_pow(g.target()).is_ok());
        let mut below = vec![g; 2016];
        // Blocks mined faster than 10 minutes: 2015 intervals of 300 s.
        below[2015].time = g.time + 2015 * 300;
        match difficulty_rule(Network::Bitcoin, 2016, &below) {
            DifficultyRule::Exact(bits) => {
                // Max difficulty clamps at the pow limit only upward; faster blocks make it harder.
                assert!(Target::from_compact(bits) < g.target());
            }
            other => panic!("unexpected rule {other:?}"),
        }
        assert_eq!(
            difficulty_rule(Network::Bitcoin, 2017, &below[..]),
            DifficultyRule::Exact(below[2015].bits)
        );
    }
}
