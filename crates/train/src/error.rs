//! Errors of the grader: only the ones that stop a grade (an unreadable case, exercise or truth).

use std::path::PathBuf;

use custos_core::exit::{Classify, ExitClass};

/// Why a case, an exercise or a ground truth could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path given as the student's case does not exist.
    #[error("{path}: no such case directory or export")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The path exists but is neither a case directory nor a case export.
    #[error("{path}: not a case directory (no case.sqlite) nor a case export (no manifest.json and ledger.jsonl)")]
    NotACase {
        /// The path.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error(transparent)]
    File(#[from] custos_core::file::FileError),
    /// The case store could not be opened or read.
    #[error("{path}: cannot read the case")]
    Case {
        /// The case directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<custos_case::Error>,
    },
    /// A file is not what it should be (a ledger line, a manifest, an exercise, a ground truth).
    #[error("{file}: {detail}")]
    Malformed {
        /// File (and line, where known).
        file: String,
        /// What is wrong.
        detail: String,
    },
}

impl Error {
    pub(crate) fn malformed(file: impl Into<String>, detail: impl std::fmt::Display) -> Error {
        Error::Malformed {
            file: file.into(),
            detail: detail.to_string(),
        }
    }
}

impl Classify for Error {
    /// Everything the grader reads was named by the user: input errors, except a device failing
    /// under a good path or a case store that cannot be read.
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::File(e) => e.exit_class(),
            Error::Case { source, .. } if !source.is_input_error() => ExitClass::Environment,
            _ => ExitClass::Input,
        }
    }
}
