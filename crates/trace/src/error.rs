//! Errors of the tracing crate.

use custos_core::exit::{Classify, ExitClass};

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

impl Classify for Error {
    /// A bad start or label file is input; a failed source classifies itself (a rejected or
    /// malformed answer is a refusal, an unreachable server the environment); a header chain
    /// that could not be validated to the tip is the environment (another server may serve it).
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::LabelFile { .. } | Error::BadStart { .. } => ExitClass::Input,
            Error::Source { cause, .. } => cause.exit_class(),
            Error::Headers { .. } => ExitClass::Environment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::source::SourceError;

    #[test]
    fn bad_start_and_label_file_are_input() {
        let start = Error::BadStart {
            start: "xyz".into(),
            problem: "neither a txid nor an address".into(),
        };
        assert_eq!(start.exit_class().code(), 2);
        let label = Error::LabelFile {
            file: "labels.csv".into(),
            line: 3,
            field: "address".into(),
            problem: "empty".into(),
        };
        assert_eq!(label.exit_class(), ExitClass::Input);
    }

    #[test]
    fn unreachable_source_and_headers_are_environment() {
        let e = Error::Source {
            what: "reading the tip".into(),
            cause: SourceError::Transport {
                server: "lab".into(),
                detail: "connection refused".into(),
                retryable: true,
            },
        };
        assert_eq!(e.exit_class().code(), 3);
        let h = Error::Headers {
            server: "lab".into(),
            detail: "timeout at height 12".into(),
        };
        assert_eq!(h.exit_class(), ExitClass::Environment);
    }

    #[test]
    fn malformed_source_answer_is_a_refusal() {
        let e = Error::Source {
            what: "fetching a transaction".into(),
            cause: SourceError::Malformed {
                server: "lab".into(),
                method: "blockchain.transaction.get".into(),
                detail: "not hex".into(),
            },
        };
        assert_eq!(e.exit_class(), ExitClass::Refusal);
    }
}
