//! Errors of the Ethereum source. Messages are lower-case and name the node, block or address.

use alloy_primitives::{Address, B256};
use custos_core::exit::{Classify, ExitClass};

/// What can go wrong asking an Ethereum node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EthError {
    /// The RPC URL cannot be used.
    #[error("rpc url {url:?}: {detail}")]
    BadUrl {
        /// The URL as given (credentials in it are not shown: only scheme, host and port).
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// The node could not be reached or the HTTP exchange failed; trying again may help.
    #[error("ethereum node {node}: {method}: {detail}")]
    Unreachable {
        /// Scheme, host and port of the node.
        node: String,
        /// The call (or `batch of N calls`).
        method: String,
        /// The transport's message.
        detail: String,
    },
    /// The node answered a call with an error or with something that is not its result.
    #[error("ethereum node {node}: {method}: {detail}")]
    Answer {
        /// Scheme, host and port of the node.
        node: String,
        /// The call.
        method: String,
        /// The error or what was wrong with the answer.
        detail: String,
    },
    /// The node serves another chain than the one asked for.
    #[error("ethereum node {node} serves chain id {got}, expected {expected}")]
    ChainId {
        /// Scheme, host and port of the node.
        node: String,
        /// Expected chain id.
        expected: u64,
        /// The node's chain id.
        got: u64,
    },
    /// The pinned block is no longer in the node's chain: a reorganisation replaced it.
    #[error("pinned block {number} {pinned} was reorganised away: the node's block {number} is now {now}")]
    Reorg {
        /// Height of the pinned block.
        number: u64,
        /// Hash pinned.
        pinned: B256,
        /// Hash the node now has at that height.
        now: B256,
    },
    /// The node has not reached the pinned block (a lagging node or load-balanced backends).
    #[error("ethereum node {node} is at block {tip}, behind the pinned block {pinned}")]
    NodeBehind {
        /// Scheme, host and port of the node.
        node: String,
        /// The node's tip.
        tip: u64,
        /// The pinned height.
        pinned: u64,
    },
    /// A token list file is malformed.
    #[error("token list {file}: {detail}")]
    TokenList {
        /// The file.
        file: String,
        /// What is wrong (entry index and field).
        detail: String,
    },
    /// A token did not answer `balanceOf` for an address as an ERC-20 does.
    #[error("token {token}: balanceOf({owner}): {detail}")]
    NotAToken {
        /// Token contract.
        token: Address,
        /// Address asked about.
        owner: Address,
        /// Revert, empty answer, or malformed return data.
        detail: String,
    },
}

impl Classify for EthError {
    fn exit_class(&self) -> ExitClass {
        match self {
            EthError::BadUrl { .. } | EthError::TokenList { .. } => ExitClass::Input,
            EthError::ChainId { .. } | EthError::NotAToken { .. } => ExitClass::Refusal,
            EthError::Unreachable { .. }
            | EthError::Answer { .. }
            | EthError::Reorg { .. }
            | EthError::NodeBehind { .. } => ExitClass::Environment,
        }
    }
}
