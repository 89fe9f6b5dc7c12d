//! Errors of the case store. Each names the case file and what is wrong with it.

use std::path::PathBuf;

/// Case store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The case directory or file does not exist.
    #[error("no case at {path}: {detail}")]
    NotFound {
        /// Path looked at.
        path: PathBuf,
        /// What is missing.
        detail: &'static str,
    },
    /// `case new` would overwrite something.
    #[error("refusing to create a case at {path}: {detail}")]
    AlreadyExists {
        /// Path.
        path: PathBuf,
        /// What is there.
        detail: &'static str,
    },
    /// The file is an SQLite database but not a custos case.
    #[error("{path} is not a custos case: {detail}")]
    NotACase {
        /// Path.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The file cannot be read as a database.
    #[error("case file {path} is corrupt or not a database")]
    Corrupt {
        /// Path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The case id in the file differs from the one expected.
    #[error("case id mismatch in {path}: the file holds case {found:?}, expected {expected:?}")]
    CaseIdMismatch {
        /// Path.
        path: PathBuf,
        /// Expected id.
        expected: String,
        /// Id in the file.
        found: String,
    },
    /// An artifact is not in the store.
    #[error("artifact {sha256} not found in {path}")]
    ArtifactNotFound {
        /// Path.
        path: PathBuf,
        /// The hash asked for.
        sha256: String,
    },
    /// Invalid identifier or other core error.
    #[error(transparent)]
    Core(#[from] custos_core::Error),
    /// A database operation failed.
    #[error("case database {path}")]
    Db {
        /// Path.
        path: PathBuf,
        /// SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("{path}")]
    Io {
        /// Path.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key file that holds no usable private key (its content is never printed).
    #[error("key file {path}: {detail}")]
    BadKeyFile {
        /// Path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Signing a checkpoint failed.
    #[error("signing the checkpoint failed: {0}")]
    Signing(String),
    /// A checkpoint operation was refused (unregistered key, signature already present,
    /// nothing to countersign).
    #[error("{0}")]
    Checkpoint(String),
    /// A checkpoint file that cannot be read as one.
    #[error("checkpoint file {path}: {detail}")]
    BadCheckpointFile {
        /// Path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A stored JSON value could not be decoded.
    #[error("case database {path}: stored {what} at seq {seq} is not valid JSON")]
    BadJson {
        /// Path.
        path: PathBuf,
        /// Which column.
        what: &'static str,
        /// Row.
        seq: u64,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True when the error is about the user's input (exit code 2) rather than the environment.
    pub fn is_input_error(&self) -> bool {
        !matches!(self, Error::Io { .. })
    }
}

impl custos_core::exit::Classify for Error {
    /// I/O is the environment; everything else (not a case, a wrong case id, a ledger that does
    /// not verify on open) is about the case the user named.
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        if matches!(self, Error::Checkpoint(_)) {
            custos_core::exit::ExitClass::Refusal
        } else if self.is_input_error() {
            custos_core::exit::ExitClass::Input
        } else {
            custos_core::exit::ExitClass::Environment
        }
    }
}
