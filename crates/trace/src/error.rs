//! Errors of the tracing crate.

/// A tracing error. Messages are lower-case and name the offending txid, address, file or line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A label file could not be read.
    #[error("label file {file}, line {line}: field `{field}`: {problem}")]
    LabelFile {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// The field at fault.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A start of a trace is not usable.
    #[error("start {start}: {problem}")]
    BadStart {
        /// The start as given.
        start: String,
        /// What is wrong.
        problem: String,
    },
}
