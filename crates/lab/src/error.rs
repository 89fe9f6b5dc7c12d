//! Errors of the lab.

use std::path::PathBuf;

/// Everything that can go wrong while building, running or talking to the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("network: {0}")]
    Net(#[from] std::io::Error),
    /// A scenario file is malformed or inconsistent.
    #[error("scenario {file}: {detail}")]
    Scenario {
        /// Scenario file (or name).
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// The kernel failed (not a validation failure: an internal error).
    #[error("bitcoin kernel: {0}")]
    Kernel(String),
    /// A block was rejected by the kernel.
    #[error("block {hash} rejected: {reason}")]
    BlockRejected {
        /// Hash of the rejected block.
        hash: bitcoin::BlockHash,
        /// Core's reason string.
        reason: String,
    },
    /// A transaction was refused by the mempool.
    #[error("transaction {txid} rejected: {reason}")]
    TxRejected {
        /// The transaction.
        txid: bitcoin::Txid,
        /// Core's reason string (or the policy rule that refused it).
        reason: String,
    },
    /// The lab faucet cannot pay.
    #[error("faucet: {0}")]
    Faucet(String),
    /// A key derivation or signing step failed.
    #[error("wallet {wallet}: {detail}")]
    Wallet {
        /// Wallet id in the scenario.
        wallet: String,
        /// What failed (never key material).
        detail: String,
    },
    /// The persisted lab state is unusable.
    #[error("lab data {path}: {detail}")]
    Data {
        /// The data directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The Ethereum lab (anvil) failed.
    #[error("ethereum lab: {0}")]
    Eth(#[from] crate::eth::EthError),
    /// A running lab could not be reached or answered with an error.
    #[error("control: {0}")]
    Control(String),
}

impl Error {
    pub(crate) fn scenario(file: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::Scenario {
            file: file.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
