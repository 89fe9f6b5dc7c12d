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
    /// The source failed before anything could be traced.
    #[error("{what}")]
    Source {
        /// What was being done.
        what: String,
        /// The source's error (names the server).
        #[source]
        cause: custos_core::source::SourceError,
    },
    /// The header chain could not be validated to the tip, so nothing could be proven.
    #[error("header chain from {server}: {detail}")]
    Headers {
        /// The server.
        server: String,
        /// What failed (names the height).
        detail: String,
    },
}

impl Error {
    /// Whether the error is the user's input (a bad start, a malformed label file) rather than
    /// the environment (a server failing).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Error::LabelFile { .. } | Error::BadStart { .. })
    }
}
