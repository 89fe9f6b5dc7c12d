//! Block assembly for the lab's miner: coinbase, BIP141 witness commitment, merkle root and
//! regtest proof of work; and the merkle branches the Electrum server hands out. Pure functions
//! over `bitcoin` types: no chain state.

use bitcoin::blockdata::block::{Header, Version as BlockVersion};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::{
    absolute, transaction, Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};

use crate::Error;

/// Regtest nBits: the easiest target.
pub(crate) const REGTEST_BITS: u32 = 0x207f_ffff;
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

/// What a new block builds on and how it is stamped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Template<'a> {
    /// Header of the current tip.
    pub(crate) prev: &'a Header,
    /// Height of the new block.
    pub(crate) height: u32,
    /// Timestamp of height 0 (block `h` gets `start_time + h * 600`, after its parent).
    pub(crate) start_time: u32,
}

/// A block at `t.height` with `txs` (already ordered parents first) after a coinbase paying
/// subsidy + `fees` to `pay_to`, with its witness commitment, merkle root and proof of work.
pub(crate) fn assemble(
    t: Template<'_>,
    txs: Vec<Transaction>,
    fees: Amount,
    pay_to: &ScriptBuf,
) -> Result<Block, Error> {
    let time = t
        .start_time
        .saturating_add(t.height.saturating_mul(BLOCK_INTERVAL))
        .max(t.prev.time.saturating_add(1));
    let value = subsidy(t.height)
        .checked_add(fees)
        .ok_or_else(|| Error::Kernel("coinbase value overflow".into()))?;
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase(t.height, value, pay_to)?);
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: t.prev.block_hash(),
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

/// The coinbase of the block at `height` (BIP34 height, a tag, the 32-zero-byte witness
/// reserved value) paying `value` to `pay_to`.
fn coinbase(height: u32, value: Amount, pay_to: &ScriptBuf) -> Result<Transaction, Error> {
    let tag =
        PushBytesBuf::try_from(b"custos-lab".to_vec()).map_err(|e| Error::Kernel(e.to_string()))?;
    Ok(Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: Builder::new()
                .push_int(i64::from(height))
                .push_slice(tag)
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[[0u8; 32]]),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: pay_to.clone(),
        }],
    })
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

/// One level up a merkle tree (the last node paired with itself when the level is odd).
fn merkle_parent_level(level: &[sha256d::Hash]) -> Vec<sha256d::Hash> {
    level
        .chunks(2)
        .map(|p| {
            let mut e = sha256d::Hash::engine();
            bitcoin::hashes::HashEngine::input(&mut e, p[0].as_byte_array());
            bitcoin::hashes::HashEngine::input(&mut e, p[p.len() - 1].as_byte_array());
            sha256d::Hash::from_engine(e)
        })
        .collect()
}

/// Merkle branch (siblings from the leaf up) and root over `leaves` for position `pos`; the
/// root of no leaves is all zeros.
fn branch_and_root(leaves: &[sha256d::Hash], pos: usize) -> (Vec<sha256d::Hash>, sha256d::Hash) {
    let mut level = leaves.to_vec();
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
        level = merkle_parent_level(&level);
        idx /= 2;
    }
    (branch, level[0])
}

/// Merkle branch (siblings from the leaf up) for position `pos` among `txids`.
pub(crate) fn merkle_branch(txids: &[Txid], pos: usize) -> Vec<TxMerkleNode> {
    let leaves: Vec<sha256d::Hash> = txids.iter().map(|t| t.to_raw_hash()).collect();
    branch_and_root(&leaves, pos)
        .0
        .into_iter()
        .map(TxMerkleNode::from_raw_hash)
        .collect()
}

/// Merkle branch and root over block hashes `hashes` for leaf `pos` (cp_height proofs).
pub(crate) fn header_branch(hashes: &[BlockHash], pos: usize) -> (Vec<BlockHash>, BlockHash) {
    let leaves: Vec<sha256d::Hash> = hashes.iter().map(|h| h.to_raw_hash()).collect();
    let (branch, root) = branch_and_root(&leaves, pos);
    (
        branch.into_iter().map(BlockHash::from_raw_hash).collect(),
        BlockHash::from_raw_hash(root),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> sha256d::Hash {
        sha256d::Hash::from_byte_array([b; 32])
    }

    #[test]
    fn a_branch_folds_back_to_the_root_for_every_position() {
        let leaves: Vec<sha256d::Hash> = (1..=5).map(h).collect();
        let (_, root) = branch_and_root(&leaves, 0);
        for pos in 0..leaves.len() {
            let (branch, r) = branch_and_root(&leaves, pos);
            assert_eq!(r, root);
            let mut acc = leaves[pos];
            let mut idx = pos;
            for sib in branch {
                let pair = if idx % 2 == 0 { [acc, sib] } else { [sib, acc] };
                acc = merkle_parent_level(&pair)[0];
                idx /= 2;
            }
            assert_eq!(acc, root, "position {pos}");
        }
    }

    #[test]
    fn subsidy_halves_every_150_blocks_and_ends() {
        assert_eq!(subsidy(149), Amount::from_sat(5_000_000_000));
        assert_eq!(subsidy(150), Amount::from_sat(2_500_000_000));
        assert_eq!(subsidy(150 * 64), Amount::ZERO);
    }
}
