//! Merkle proofs checked with a memory of the inner nodes already computed, per block.
//!
//! A proof folds its transaction's txid with the branch, level by level, up to the header's
//! merkle root: each step hashes a (left, right) pair into their parent. Proofs of transactions
//! of the same block share their upper steps, so each step of a fold that reached the root is
//! remembered by its place in the tree (block height, branch length, level, index) with its
//! exact pair and parent. A later fold whose pair at that place is the same pair takes the
//! remembered parent instead of hashing again; any other pair is hashed. Every proof is still
//! folded in full with its own branch, so the result is exactly that of
//! [`spv::verify_merkle_proof`] (which gives the error when a proof does not check), and a block
//! whose transactions are all traced costs about one hash per tree node instead of one per level
//! per transaction.

use super::fxhash::FxHashMap;

use bitcoin::{
    block::Header,
    hashes::{sha256d, Hash, HashEngine},
    TxMerkleNode,
};
use custos_chain::{spv, SpvError};
use custos_core::source::MerkleProof;

/// (height, branch length, level of the parent, index of the parent).
type Place = (u32, u32, u32, u32);

/// Steps of folds that reached their block's root: place → (left, right, parent).
#[derive(Debug, Default)]
pub(super) struct MerkleMemo {
    steps: FxHashMap<Place, (TxMerkleNode, TxMerkleNode, TxMerkleNode)>,
}

impl MerkleMemo {
    /// Checks `proof` for a transaction placed at `height` against that height's validated
    /// `header`, with the same result as [`spv::verify_merkle_proof`].
    pub(crate) fn verify(
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
        let mut computed: Vec<(Place, (TxMerkleNode, TxMerkleNode, TxMerkleNode))> = Vec::new();
        let mut cur = TxMerkleNode::from_raw_hash(proof.txid.to_raw_hash());
        let mut index = proof.pos;
        for (level, sibling) in (1u32..).zip(&proof.branch) {
            let (left, right) = if index.is_multiple_of(2) {
                (cur, *sibling)
            } else {
                (*sibling, cur)
            };
            index /= 2;
            let place = (height, len, level, index);
            cur = match self.steps.get(&place) {
                Some(&(l, r, parent)) if (l, r) == (left, right) => parent,
                _ => {
                    let mut engine = sha256d::Hash::engine();
                    engine.input(left.as_ref());
                    engine.input(right.as_ref());
                    let parent = TxMerkleNode::from_raw_hash(sha256d::Hash::from_engine(engine));
                    computed.push((place, (left, right, parent)));
                    parent
                }
            };
        }
        if cur != header.merkle_root {
            return spv::verify_merkle_proof(proof, height, header);
        }
        self.steps.extend(computed);
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
        p.branch[2] = TxMerkleNode::from_byte_array([1; 32]); // proven leaf, wrong upper sibling
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
