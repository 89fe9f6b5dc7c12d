//! Errors of the lab.

use std::path::PathBuf;

/// Everything that can go wrong while building, running or talking to the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An input file (scenario, scenario material, ground truth, state) is missing, a directory,
    /// unreadable, not text or over its size limit (`custos_core::file`).
    #[error(transparent)]
    File(#[from] custos_core::file::FileError),
    /// A socket operation failed.
    #[error("network")]
    Net(#[from] std::io::Error),
    /// The lab's port could not be opened (in use, not allowed).
    #[error("cannot listen on 127.0.0.1:{port}")]
    Listen {
        /// The port asked for (0: any free port).
        port: u16,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
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
    /// A call into the kernel failed.
    #[error("bitcoin kernel: {what}")]
    KernelCall {
        /// What was asked of the kernel.
        what: String,
        /// The kernel's error.
        #[source]
        source: bitcoinkernel::KernelError,
    },
    /// A scenario file is not valid TOML for the scenario format.
    #[error("scenario {}", file.display())]
    ScenarioSyntax {
        /// The scenario file.
        file: PathBuf,
        /// The parser's error (with line and column).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A lab state or ground-truth file does not parse.
    #[error("lab data {}", path.display())]
    DataSyntax {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: DataSyntaxError,
    },
    /// A running lab could not be reached.
    #[error("cannot reach lab at {addr}")]
    Unreachable {
        /// Where it was expected.
        addr: std::net::SocketAddr,
        /// The connection error.
        #[source]
        source: std::io::Error,
    },
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
    Eth(Box<crate::eth::EthError>),
    /// A running lab could not be reached or answered with an error.
    #[error("control: {0}")]
    Control(String),
    /// stdout was closed or full (a reader that went away): the result could not be written.
    #[error(transparent)]
    Stdout(#[from] custos_core::out::StdoutError),
}

/// The parser behind a [`Error::DataSyntax`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataSyntaxError {
    /// A JSON state file.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A TOML ground-truth file.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// Writing a TOML file.
    #[error(transparent)]
    TomlWrite(#[from] toml::ser::Error),
}

impl Error {
    /// A lab data file that does not parse (or serialize).
    pub(crate) fn data_syntax(
        path: impl Into<PathBuf>,
        source: impl Into<DataSyntaxError>,
    ) -> Self {
        Error::DataSyntax {
            path: path.into(),
            source: source.into(),
        }
    }

    /// A failed kernel call.
    pub(crate) fn kernel(
        what: impl Into<String>,
    ) -> impl FnOnce(bitcoinkernel::KernelError) -> Self {
        let what = what.into();
        move |source| Error::KernelCall { what, source }
    }

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

impl From<crate::eth::EthError> for Error {
    fn from(e: crate::eth::EthError) -> Self {
        Error::Eth(Box::new(e))
    }
}

impl custos_core::exit::Classify for Error {
    /// Bad scenario, data directory, wallet spec or input file: input (2). A transaction or block
    /// the chain refuses: a finding (1). The kernel, sockets and a lab that cannot be reached:
    /// the environment (3).
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        use custos_core::exit::ExitClass;
        match self {
            Error::File(e) => e.exit_class(),
            Error::Eth(e) => e.exit_class(),
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::IsADirectory
                ) =>
            {
                ExitClass::Input
            }
            Error::Scenario { .. }
            | Error::ScenarioSyntax { .. }
            | Error::Data { .. }
            | Error::DataSyntax { .. }
            | Error::Wallet { .. }
            | Error::Faucet(_) => ExitClass::Input,
            Error::BlockRejected { .. } | Error::TxRejected { .. } => ExitClass::Refusal,
            Error::Io { .. }
            | Error::Net(_)
            | Error::Kernel(_)
            | Error::KernelCall { .. }
            | Error::Unreachable { .. }
            | Error::Listen { .. }
            | Error::Control(_)
            | Error::Stdout(_) => ExitClass::Environment,
        }
    }
}
