//! Chain-source traits and their request/response types. `core` does no I/O: sources implement
//! these traits elsewhere (`custos-chain` for Electrum servers, `custos-lab` for the in-process
//! lab chain), and `custos-inspect` / `custos-trace` are written against them, so they are
//! tested with in-memory chains.
//!
//! Every batched method answers in the order of its request, one element per requested item,
//! and costs one round trip. Transaction data is handed back as raw bytes so the caller can hash
//! it and compare with the txid before trusting it.

use bitcoin::{block::Header, OutPoint, ScriptBuf, TxMerkleNode, Txid};
use serde::{Deserialize, Serialize};

use crate::Sat;

/// One entry of a script's history, as the Electrum protocol reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Transaction id.
    pub txid: Txid,
    /// Block height; 0 for mempool, -1 for mempool with an unconfirmed parent.
    pub height: i64,
    /// Fee in sat, reported for mempool entries only.
    pub fee: Option<u64>,
}

impl HistoryItem {
    /// Confirmed height, if confirmed.
    pub fn confirmed_height(&self) -> Option<u32> {
        u32::try_from(self.height).ok().filter(|h| *h > 0)
    }
}

/// An unspent output of a script.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unspent {
    /// The outpoint.
    pub outpoint: OutPoint,
    /// Confirmed height, 0 when unconfirmed.
    pub height: u32,
    /// Value.
    pub value: Sat,
}

/// A merkle branch proving a transaction's inclusion in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Transaction id.
    pub txid: Txid,
    /// Block height.
    pub block_height: u32,
    /// Position of the transaction in the block.
    pub pos: u32,
    /// Sibling hashes from the leaf upwards.
    pub branch: Vec<TxMerkleNode>,
}

/// The tip as reported by a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tip {
    /// Height of the tip.
    pub height: u32,
    /// Its header.
    pub header: Header,
}

/// A fee rate in sat per 1000 virtual bytes (integer, no floats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SatPerKvb(pub u64);

/// A source failure. `retryable` says whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The connection failed or dropped.
    #[error("connection to {server} failed: {detail}")]
    Transport {
        /// Server URL.
        server: String,
        /// What happened.
        detail: String,
        /// Whether a retry can help.
        retryable: bool,
    },
    /// The server answered with a protocol error.
    #[error("server {server} answered {method} with an error: {detail}")]
    Server {
        /// Server URL.
        server: String,
        /// Method called.
        method: String,
        /// Error text.
        detail: String,
    },
    /// The server's answer was malformed.
    #[error("server {server} sent a malformed answer to {method}: {detail}")]
    Malformed {
        /// Server URL.
        server: String,
        /// Method called.
        method: String,
        /// What is wrong.
        detail: String,
    },
    /// A broadcast was rejected.
    #[error("transaction {txid} rejected: {reason}")]
    Rejected {
        /// The transaction.
        txid: Txid,
        /// The server's reason (Core's reason string on the lab).
        reason: String,
    },
}

impl SourceError {
    /// Whether a retry can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::Transport {
                retryable: true,
                ..
            }
        )
    }
}

/// A Bitcoin data source (an Electrum server, the lab chain, a recorded cache).
pub trait BitcoinSource {
    /// A name for reports and errors (URL of the server).
    fn name(&self) -> String;

    /// The current tip.
    fn tip(&self) -> Result<Tip, SourceError>;

    /// `count` consecutive headers from `start` (fewer at the tip).
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError>;

    /// Histories of many scripts in one round trip.
    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError>;

    /// Unspent outputs of many scripts in one round trip.
    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError>;

    /// Raw transactions in one round trip (unchecked: the caller hashes them).
    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError>;

    /// Merkle proofs for `(txid, height)` pairs in one round trip.
    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError>;

    /// Broadcasts a raw transaction.
    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError>;

    /// The server's minimum relay fee.
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError>;

    /// A fee estimate for confirmation within `blocks`, if the server has one.
    fn estimate_fee(&self, blocks: u16) -> Result<Option<SatPerKvb>, SourceError>;
}
