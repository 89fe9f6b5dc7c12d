//! Errors of `custos-chain`. Messages are lower-case and name the txid, height or server.

use bitcoin::{BlockHash, TxMerkleNode, Txid};
use custos_core::source::SourceError;

/// An SPV check failed: the data a server sent does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpvError {
    /// The bytes are not a transaction.
    #[error("transaction {txid}: bytes sent do not decode as a transaction: {detail}")]
    TxDecode {
        /// The txid asked for.
        txid: Txid,
        /// Decoder message.
        detail: String,
    },
    /// The bytes decode, but to another transaction.
    #[error("transaction {txid}: bytes sent hash to {got}, not to the txid asked for")]
    TxHashMismatch {
        /// The txid asked for.
        txid: Txid,
        /// What the bytes hash to.
        got: Txid,
    },
    /// The proof is for another height than the history claimed.
    #[error(
        "transaction {txid}: merkle proof is for height {got}, history says height {expected}"
    )]
    ProofHeight {
        /// Transaction.
        txid: Txid,
        /// Height from the history.
        expected: u32,
        /// Height in the proof.
        got: u32,
    },
    /// The position does not fit the branch.
    #[error(
        "transaction {txid}: merkle position {pos} does not fit a branch of {branch_len} hashes"
    )]
    MerklePosition {
        /// Transaction.
        txid: Txid,
        /// Position claimed.
        pos: u32,
        /// Branch length.
        branch_len: usize,
    },
    /// The branch does not lead to the header's merkle root.
    #[error("transaction {txid} at height {height}: merkle branch leads to {computed}, the header's merkle root is {header_root}")]
    MerkleMismatch {
        /// Transaction.
        txid: Txid,
        /// Height.
        height: u32,
        /// Root computed from the branch.
        computed: TxMerkleNode,
        /// Root in the validated header.
        header_root: TxMerkleNode,
    },
    /// Header 0 is not the network's genesis.
    #[error("header at height 0 is {got}, not the network's genesis {expected}")]
    Genesis {
        /// Hash sent.
        got: BlockHash,
        /// Genesis hash.
        expected: BlockHash,
    },
    /// A header does not link to its predecessor.
    #[error("header at height {height} links to {got_prev}, but the header at height {} is {expected_prev}", height.saturating_sub(1))]
    HeaderLinkage {
        /// Height.
        height: u32,
        /// Hash of the validated predecessor.
        expected_prev: BlockHash,
        /// prev_blockhash in the header.
        got_prev: BlockHash,
    },
    /// A header claims a target the difficulty rules do not allow.
    #[error("header at height {height} claims bits {got_bits:#010x}, the network's rules require {expected_bits:#010x}")]
    HeaderTarget {
        /// Height.
        height: u32,
        /// Required bits.
        expected_bits: u32,
        /// Bits in the header.
        got_bits: u32,
    },
    /// A header's hash does not meet its target.
    #[error("header at height {height} ({hash}) does not meet its proof-of-work target (bits {bits:#010x})")]
    HeaderPow {
        /// Height.
        height: u32,
        /// Its hash.
        hash: BlockHash,
        /// Its bits.
        bits: u32,
    },
    /// A header needed for a check is not in the validated chain.
    #[error("no validated header at height {height}")]
    HeaderUnavailable {
        /// Height.
        height: u32,
    },
    /// The tip the server announced is not the header the chain holds at that height.
    #[error("announced tip at height {height} is {announced}, the validated chain holds {chain}")]
    TipMismatch {
        /// Height.
        height: u32,
        /// Announced hash.
        announced: BlockHash,
        /// Hash in the chain.
        chain: BlockHash,
    },
    /// The server sent fewer headers than exist below its own tip.
    #[error("server sent {got} headers from height {start}, {expected} were due below its tip")]
    ShortHeaders {
        /// First height asked.
        start: u32,
        /// Number due.
        expected: u32,
        /// Number sent.
        got: u32,
    },
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An SPV check failed.
    #[error(transparent)]
    Spv(#[from] SpvError),
    /// The case store failed.
    #[error("case store: {0}")]
    Case(#[from] custos_case::Error),
    /// A server URL is not usable.
    #[error("invalid server url {url:?}: {detail}")]
    Url {
        /// URL given.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Source(e) if e.is_retryable())
    }
}
