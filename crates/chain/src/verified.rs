//! A header chain validated from genesis: every header linked to its predecessor and carrying
//! valid proof of work under the network's rules. Downloaded from a source in batches of 2016
//! headers (one `blockchain.block.headers` call each).

use bitcoin::{block::Header, BlockHash, Network};
use custos_core::source::{BitcoinSource, MerkleProof, Tip};

use crate::{spv, Error, SpvError};

/// Headers per download batch (one difficulty period; Electrum servers advertise at least this).
pub const HEADER_BATCH: u32 = custos_core::source::HEADER_BATCH;

/// A validated header chain. Holds only headers that passed every check, so a failure midway
/// leaves the valid prefix usable for proofs below the failing height.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    network: Network,
    headers: Vec<Header>,
}

impl VerifiedChain {
    /// An empty chain for `network`.
    pub fn new(network: Network) -> Self {
        VerifiedChain {
            network,
            headers: Vec::new(),
        }
    }

    /// The network.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Number of validated headers (the next height to validate).
    pub fn len(&self) -> u32 {
        u32::try_from(self.headers.len()).unwrap_or(u32::MAX)
    }

    /// Whether no header has been validated.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Height of the highest validated header.
    pub fn tip_height(&self) -> Option<u32> {
        self.len().checked_sub(1)
    }

    /// The validated header at `height`.
    pub fn header(&self, height: u32) -> Option<&Header> {
        self.headers.get(usize::try_from(height).ok()?)
    }

    /// Hash of the validated header at `height`.
    pub fn hash(&self, height: u32) -> Option<BlockHash> {
        self.header(height).map(Header::block_hash)
    }

    /// Validates `headers` starting at `start` (which must be the next height) and appends
    /// those that pass; stops at the first failure and returns it.
    pub fn extend(&mut self, start: u32, headers: &[Header]) -> Result<(), SpvError> {
        if start != self.len() {
            return Err(SpvError::HeaderUnavailable { height: self.len() });
        }
        for (i, h) in headers.iter().enumerate() {
            let height = start.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            spv::check_header(self.network, height, h, &self.headers)?;
            self.headers.push(*h);
        }
        Ok(())
    }

    /// Downloads and validates headers up to `tip.height` from `source`, in batches of
    /// [`HEADER_BATCH`], then checks the announced tip is the header at its height. Returns the
    /// number of round trips made. `progress` is called with (validated, target) after each batch.
    pub fn sync(
        &mut self,
        source: &dyn BitcoinSource,
        tip: &Tip,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<u64, Error> {
        let mut trips = 0u64;
        let target = tip.height.saturating_add(1);
        while self.len() < target {
            let start = self.len();
            let count = (target - start).min(HEADER_BATCH);
            let got = source.headers(start, count)?;
            trips += 1;
            let n = u32::try_from(got.len()).unwrap_or(u32::MAX);
            if n < count {
                // Keep what validates, then report the shortfall.
                self.extend(start, &got)?;
                return Err(SpvError::ShortHeaders {
                    start,
                    expected: count,
                    got: n,
                }
                .into());
            }
            self.extend(start, &got[..usize::try_from(count).unwrap_or(usize::MAX)])?;
            progress(self.len(), target);
        }
        self.check_tip(tip)?;
        Ok(trips)
    }

    /// Validates headers fetched from genesis up to `tip.height` in one piece (see
    /// [`BitcoinSource::bundle`]) and checks the announced tip is the header at its height; the
    /// valid prefix is kept when a header fails.
    pub fn accept(&mut self, tip: &Tip, headers: &[Header]) -> Result<(), Error> {
        let target = tip.height.saturating_add(1);
        let n = u32::try_from(headers.len()).unwrap_or(u32::MAX);
        let take = usize::try_from(n.min(target)).unwrap_or(usize::MAX);
        self.extend(0, &headers[..take])?;
        if n < target {
            return Err(SpvError::ShortHeaders {
                start: 0,
                expected: target,
                got: n,
            }
            .into());
        }
        self.check_tip(tip)
    }

    /// Whether the announced tip is the validated header at its height.
    fn check_tip(&self, tip: &Tip) -> Result<(), Error> {
        let chain = self
            .hash(tip.height)
            .ok_or(SpvError::HeaderUnavailable { height: tip.height })?;
        let announced = tip.header.block_hash();
        if chain != announced {
            return Err(SpvError::TipMismatch {
                height: tip.height,
                announced,
                chain,
            }
            .into());
        }
        Ok(())
    }

    /// Checks a merkle proof for a transaction the history placed at `height`.
    pub fn verify_proof(&self, proof: &MerkleProof, height: u32) -> Result<(), SpvError> {
        let header = self
            .header(height)
            .ok_or(SpvError::HeaderUnavailable { height })?;
        spv::verify_merkle_proof(proof, height, header)
    }

    /// All validated headers, from genesis.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash;

    use super::*;
    use crate::spv::testchain;

    #[test]
    fn keeps_the_valid_prefix_when_a_header_fails() {
        let blocks = testchain::chain(6);
        let mut hs: Vec<Header> = blocks.iter().map(|b| b.header).collect();
        hs[4].prev_blockhash = BlockHash::all_zeros();
        let mut c = VerifiedChain::new(Network::Regtest);
        let err = c.extend(0, &hs).unwrap_err();
        assert!(matches!(err, SpvError::HeaderLinkage { height: 4, .. }));
        assert_eq!(c.len(), 4);
        assert_eq!(c.hash(3), Some(blocks[3].block_hash()));
        assert!(c.header(4).is_none());
    }

    #[test]
    fn verifies_proofs_only_against_validated_heights() {
        let blocks = testchain::chain(3);
        let hs: Vec<Header> = blocks.iter().map(|b| b.header).collect();
        let mut c = VerifiedChain::new(Network::Regtest);
        c.extend(0, &hs[..3]).unwrap();
        let tx = &blocks[3].txdata[1];
        let proof = MerkleProof {
            txid: tx.compute_txid(),
            block_height: 3,
            pos: 1,
            branch: testchain::branch(&blocks[3], 1),
        };
        assert!(matches!(
            c.verify_proof(&proof, 3),
            Err(SpvError::HeaderUnavailable { height: 3 })
        ));
        c.extend(3, &hs[3..]).unwrap();
        c.verify_proof(&proof, 3).unwrap();
    }
}
