//! Errors of `custos-inspect`. Messages are lower-case and name the source label, index or file.

use custos_core::{
    exit::{Classify, ExitClass},
    source::SourceError,
};

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
    /// The server's chain does not start at the watch-only file's network's genesis: nothing
    /// was asked about any script.
    #[error("server {server} is not on {network}: its block 0 is {got}, {network}'s genesis is {expected}; no script was sent to it")]
    WrongNetwork {
        /// Server.
        server: String,
        /// The watch-only file's network.
        network: String,
        /// Hash of the server's block 0 (or why there is none).
        got: String,
        /// The network's genesis hash.
        expected: String,
    },
    /// A scan option is out of range.
    #[error("{0}")]
    Options(String),
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

impl Classify for Error {
    /// The watch-only file, its descriptors and the `--paths` selection are input; a failed
    /// source classifies itself; amount overflow is core's (input).
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Descriptor { .. }
            | Error::Derivation { .. }
            | Error::WatchOnly(_)
            | Error::NoSources(_)
            | Error::Options(_) => ExitClass::Input,
            // Pointed at the wrong server: fix the command (input), not the network.
            Error::WrongNetwork { .. } => ExitClass::Input,
            Error::Source(e) => e.exit_class(),
            Error::Amount(e) => e.exit_class(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_descriptor_is_input() {
        let e = Error::Descriptor {
            label: "bip84/0".into(),
            detail: "unexpected end".into(),
        };
        assert_eq!(e.exit_class().code(), 2);
        assert_eq!(
            Error::NoSources("bip44".into()).exit_class(),
            ExitClass::Input
        );
    }

    #[test]
    fn unreachable_source_is_environment_and_malformed_answer_a_refusal() {
        let down = Error::from(SourceError::Transport {
            server: "lab".into(),
            detail: "timed out".into(),
            retryable: true,
        });
        assert_eq!(down.exit_class(), ExitClass::Environment);
        let bad = Error::from(SourceError::Malformed {
            server: "lab".into(),
            method: "blockchain.scripthash.get_history".into(),
            detail: "3 answers to 2 requests".into(),
        });
        assert_eq!(bad.exit_class().code(), 1);
    }
}
