//! Merkle proofs checked with a memory of the inner nodes already proven, per block.
//!
//! A proof folds its transaction's txid with the branch, level by level, up to the header's
//! merkle root. Once a fold has reached the root, every node it passed through is proven to lead
//! to that root from its position. A later proof for the same block, with a branch of the same
//! length (so the same tree shape), that reaches one of those nodes — same level, same index,
//! same hash — is proven too: from there on its path is the one already checked. So a block
//! whose transactions are all traced costs about one hash per tree node instead of one per
//! level per transaction, and no proof is taken on trust: each is folded at least to a proven
//! node. Anything that does not fold to the root or to a proven node is handed to
//! [`spv::verify_merkle_proof`], which gives the error.

use std::collections::HashMap;

use bitcoin::{
    block::Header,
    hashes::{sha256d, Hash, HashEngine},
    TxMerkleNode,
};
use custos_chain::{spv, SpvError};
use custos_core::source::MerkleProof;

/// Proven inner nodes: (height, branch length, level, index) → hash.
#[derive(Debug, Default)]
pub(super) struct MerkleMemo {
    nodes: HashMap<(u32, u32, u32, u32), TxMerkleNode>,
}

impl MerkleMemo {
    /// Checks `proof` for a transaction placed at `height` against that height's validated
    /// `header`, with the same result as [`spv::verify_merkle_proof`].
    pub fn verify(
        &mut self,
        proof: &MerkleProof,
        height: u32,
        header: &Header,
    ) -> Result<(), SpvError> {
        let len = u32::try_from(proof.branch.len()).unwrap_or(u32::MAX);
        // The same preconditions as spv::verify_merkle_proof; it reports them.
        if proof.block_height != height || len > 32 || (len < 32 && proof.pos >> len != 0) {
            return spv::verify_merkle_proof(proof, height, header);
        }
        let mut path: Vec<(u32, u32, TxMerkleNode)> = Vec::with_capacity(proof.branch.len() + 1);
        let mut cur = TxMerkleNode::from_raw_hash(proof.txid.to_raw_hash());
        let mut index = proof.pos;
        let mut proven = false;
        for (level, sibling) in (0u32..).zip(&proof.branch) {
            if self.nodes.get(&(height, len, level, index)) == Some(&cur) {
                proven = true;
                break;
            }
            path.push((level, index, cur));
            let mut engine = sha256d::Hash::engine();
            if index.is_multiple_of(2) {
                engine.input(cur.as_ref());
                engine.input(sibling.as_ref());
            } else {
                engine.input(sibling.as_ref());
                engine.input(cur.as_ref());
            }
            cur = TxMerkleNode::from_raw_hash(sha256d::Hash::from_engine(engine));
            index /= 2;
        }
        if !proven {
            if cur != header.merkle_root {
                return spv::verify_merkle_proof(proof, height, header);
            }
            path.push((len, index, cur));
        }
        for (level, index, node) in path {
            self.nodes.insert((height, len, level, index), node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::{
        block::Version, hashes::Hash, merkle_tree, BlockHash, CompactTarget, TxMerkleNode, Txid,
    };

    use super::*;

    /// A header whose merkle root commits to `n` made-up txids (from `salt` on), and every
    /// proof of it.
    fn block(n: u8, salt: u8, height: u32) -> (Header, Vec<MerkleProof>) {
        let ids: Vec<Txid> = (0..n)
            .map(|i| Txid::from_byte_array([i.wrapping_add(salt); 32]))
            .collect();
        let root = merkle_tree::calculate_root(ids.iter().map(|t| t.to_raw_hash()))
            .map(TxMerkleNode::from_raw_hash)
            .unwrap();
        let header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: root,
            time: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        };
        let proofs = (0..ids.len())
            .map(|pos| MerkleProof {
                txid: ids[pos],
                block_height: height,
                pos: u32::try_from(pos).unwrap(),
                branch: branch_of(&ids, pos),
            })
            .collect();
        (header, proofs)
    }

    /// The merkle branch of `ids[pos]` (as `MemoryChain` computes it for a real block).
    fn branch_of(ids: &[Txid], pos: usize) -> Vec<TxMerkleNode> {
        let mut level: Vec<sha256d::Hash> = ids.iter().map(|t| t.to_raw_hash()).collect();
        let mut idx = pos;
        let mut out = Vec::new();
        while level.len() > 1 {
            if level.len() % 2 == 1 {
                level.push(level[level.len() - 1]);
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

    #[test]
    fn agrees_with_the_plain_check_on_good_and_bad_proofs_in_any_order() {
        let (header, proofs) = block(13, 0, 5);
        let mut memo = MerkleMemo::default();
        for p in proofs.iter().rev().chain(&proofs) {
            assert_eq!(memo.verify(p, 5, &header), Ok(()));
            assert_eq!(spv::verify_merkle_proof(p, 5, &header), Ok(()));
        }
        // Bad proofs after the good ones are in memory: each fails exactly as the plain check.
        let mut bad = Vec::new();
        let mut p = proofs[6].clone();
        p.txid = Txid::from_byte_array([99; 32]); // a transaction not in the block
        bad.push(p);
        let mut p = proofs[6].clone();
        p.pos = 7; // right leaf and branch, wrong position
        bad.push(p);
        let mut p = proofs[6].clone();
        p.branch[0] = TxMerkleNode::from_byte_array([1; 32]);
        bad.push(p);
        let mut p = proofs[6].clone();
        p.branch.pop(); // a shorter tree
        bad.push(p);
        let mut p = proofs[6].clone();
        p.block_height = 6;
        bad.push(p);
        let mut p = proofs[6].clone();
        p.pos = 1 << 20;
        bad.push(p);
        for p in &bad {
            let plain = spv::verify_merkle_proof(p, 5, &header);
            assert!(plain.is_err(), "{p:?}");
            assert_eq!(memo.verify(p, 5, &header), plain, "{p:?}");
        }
        // What was proven for one block proves nothing for another.
        let (other, _) = block(13, 100, 6);
        let mut q = proofs[2].clone();
        q.block_height = 6;
        assert!(memo.verify(&q, 6, &other).is_err());
    }
}
