//! Errors of `custos-inspect`. Messages are lower-case and name the source label, index or file.

use custos_core::source::SourceError;

/// Errors of a scan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A descriptor of the watch-only file does not parse.
    #[error("watch-only source {label}: descriptor does not parse: {detail}")]
    Descriptor {
        /// Source label.
        label: String,
        /// Parser message.
        detail: String,
    },
    /// A script cannot be derived at an index.
    #[error("watch-only source {label}: cannot derive index {index}: {detail}")]
    Derivation {
        /// Source label.
        label: String,
        /// Index.
        index: u32,
        /// What failed.
        detail: String,
    },
    /// The watch-only file is not usable.
    #[error("watch-only file: {0}")]
    WatchOnly(String),
    /// `--paths` names nothing in the file.
    #[error("--paths {0:?} selects no source of the watch-only file")]
    NoSources(String),
    /// The source failed before the scan could start (no tip).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Amount arithmetic overflowed.
    #[error(transparent)]
    Amount(#[from] custos_core::Error),
}

impl Error {
    /// Whether retrying can help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Source(e) if e.is_retryable())
    }
}
