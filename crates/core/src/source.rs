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

    /// Whether [`BitcoinSource::bundle`] costs one round trip (true) or one per part and header
    /// batch (false, the default implementation).
    fn pipelines_bundles(&self) -> bool {
        false
    }

    /// Several independent batches answered together: one round trip where the source can
    /// pipeline them (an Electrum server), one call per kind otherwise (the default). Each part
    /// succeeds or fails on its own; an empty part is not asked.
    fn bundle(&self, b: &Bundle) -> BundleAnswer {
        bundle_per_part(self, b)
    }
}

/// The default [`BitcoinSource::bundle`]: one call per non-empty part and one per header batch.
/// A source that overrides `bundle` (a cache that forwards it) calls this where it cannot
/// pipeline.
pub fn bundle_per_part<S: BitcoinSource + ?Sized>(s: &S, b: &Bundle) -> BundleAnswer {
    let headers = match b.headers {
        Some((start, count)) => headers_in_batches(s, start, count),
        None => Ok(Vec::new()),
    };
    BundleAnswer {
        raw_transactions: if b.txids.is_empty() {
            Ok(Vec::new())
        } else {
            s.raw_transactions(&b.txids)
        },
        merkle_proofs: if b.proofs.is_empty() {
            Ok(Vec::new())
        } else {
            s.merkle_proofs(&b.proofs)
        },
        unspents: if b.unspents.is_empty() {
            Ok(Vec::new())
        } else {
            s.unspents(&b.unspents)
        },
        headers,
    }
}

/// Headers per `headers` call (one difficulty period; Electrum servers allow at least this).
pub const HEADER_BATCH: u32 = 2016;

/// `count` headers from `start` in calls of at most [`HEADER_BATCH`], stopping at a short answer.
fn headers_in_batches<S: BitcoinSource + ?Sized>(
    s: &S,
    start: u32,
    count: u32,
) -> Result<Vec<Header>, SourceError> {
    let mut out = Vec::new();
    let end = start.saturating_add(count);
    let mut at = start;
    while at < end {
        let n = (end - at).min(HEADER_BATCH);
        let got = s.headers(at, n)?;
        let short = got.len() < n as usize;
        at = at.saturating_add(n);
        out.extend(got);
        if short {
            break;
        }
    }
    Ok(out)
}

/// The batches of a [`BitcoinSource::bundle`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    /// Raw transactions to fetch.
    pub txids: Vec<Txid>,
    /// Merkle proofs to fetch, `(txid, height)`.
    pub proofs: Vec<(Txid, u32)>,
    /// Scripts whose unspent outputs to list.
    pub unspents: Vec<ScriptBuf>,
    /// Headers to fetch: `(start, count)`, any count (split as the source needs).
    pub headers: Option<(u32, u32)>,
}

impl Bundle {
    /// Calls the default [`BitcoinSource::bundle`] makes: one per non-empty part, one per
    /// header batch.
    pub fn unpipelined_calls(&self) -> u64 {
        let parts = [
            !self.txids.is_empty(),
            !self.proofs.is_empty(),
            !self.unspents.is_empty(),
        ]
        .iter()
        .filter(|x| **x)
        .count() as u64;
        let headers = self
            .headers
            .map_or(0, |(_, count)| u64::from(count.div_ceil(HEADER_BATCH)));
        parts + headers
    }
}

/// The answers to a [`Bundle`], each part in request order.
#[derive(Debug, Clone)]
pub struct BundleAnswer {
    /// Raw transactions (unchecked).
    pub raw_transactions: Result<Vec<Vec<u8>>, SourceError>,
    /// Merkle proofs.
    pub merkle_proofs: Result<Vec<MerkleProof>, SourceError>,
    /// Unspent lists.
    pub unspents: Result<Vec<Vec<Unspent>>, SourceError>,
    /// Headers (fewer than asked at the tip).
    pub headers: Result<Vec<Header>, SourceError>,
}
