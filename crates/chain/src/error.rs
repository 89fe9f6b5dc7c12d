//! Errors of `custos-chain`. Messages are lower-case and name the txid, height or server.

use bitcoin::{BlockHash, TxMerkleNode, Txid};
use custos_core::{
    exit::{Classify, ExitClass},
    source::SourceError,
};

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
    #[error("case store")]
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

impl Classify for SpvError {
    /// Data that does not prove what it claims is a finding about the server's answer.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Refusal
    }
}

impl Classify for Error {
    /// A source and the case store classify themselves; a failed SPV check is a refusal; a
    /// server URL the user gave is input.
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Source(e) => e.exit_class(),
            Error::Spv(e) => e.exit_class(),
            Error::Case(e) => e.exit_class(),
            Error::Url { .. } => ExitClass::Input,
        }
    }
}

impl Error {
    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Source(e) if e.is_retryable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_spv_check_is_a_refusal() {
        let e = Error::from(SpvError::HeaderUnavailable { height: 7 });
        assert_eq!(e.exit_class().code(), 1);
    }

    #[test]
    fn bad_server_url_is_input() {
        let e = Error::Url {
            url: "ftp://x".into(),
            detail: "unknown scheme".into(),
        };
        assert_eq!(e.exit_class(), ExitClass::Input);
    }

    #[test]
    fn unreachable_server_is_environment_and_malformed_answer_a_refusal() {
        let down = Error::from(SourceError::Transport {
            server: "lab".into(),
            detail: "connection refused".into(),
            retryable: true,
        });
        assert_eq!(down.exit_class(), ExitClass::Environment);
        let bad = Error::from(SourceError::Malformed {
            server: "lab".into(),
            method: "blockchain.headers.subscribe".into(),
            detail: "not an object".into(),
        });
        assert_eq!(bad.exit_class(), ExitClass::Refusal);
    }

    #[test]
    fn case_store_cause_is_a_source_not_in_the_message() {
        let e = Error::from(custos_case::Error::Io {
            path: "case.sqlite".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        });
        assert_eq!(e.to_string(), "case store");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.exit_class(), ExitClass::Environment);
    }
}
