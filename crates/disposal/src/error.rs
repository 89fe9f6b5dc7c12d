//! Errors of `custos-disposal`: lower-case messages naming the order, field, file or line;
//! never a secret (an authority's key is never in an error).

use custos_core::exit::{Classify, ExitClass};

/// Errors of `custos-disposal`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed order file or field.
    #[error("disposal order {order}: {reason}")]
    Malformed {
        /// The order id, or the file, as far as known.
        order: String,
        /// What is wrong.
        reason: String,
    },
    /// A window time of the order that is not a strict UTC time (bad input).
    #[error("disposal order {order}")]
    Time {
        /// The order id.
        order: String,
        /// Which time and why.
        #[source]
        source: crate::order::TimeError,
    },
    /// The order is not valid for this policy and time (a refusal).
    #[error("disposal order {order}: {reason}")]
    Invalid {
        /// The order id.
        order: String,
        /// Why.
        reason: String,
    },
    /// An authority record or policy entry that cannot be used (bad proof, wrong network,
    /// duplicate, malformed file).
    #[error("authority {address}: {reason}")]
    Authority {
        /// The authority's address (or the file, when unreadable).
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// A malformed authority record file.
    #[error("authority record {file}: {reason}")]
    AuthorityFile {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The authority key cannot sign (not a WIF key, wrong network).
    #[error("authority key: {0}")]
    Key(String),
    /// A BIP-322 operation failed.
    #[error("disposal order {order}: signature")]
    Signature {
        /// The order id.
        order: String,
        /// The cause.
        source: Box<custos_ceremony::Error>,
    },
    /// The used-orders journal is malformed.
    #[error("used-orders journal {path} line {line}: {reason}")]
    Journal {
        /// Its path.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] custos_core::file::FileError),
}

impl Classify for Error {
    /// An order that is not valid for the policy and time, or an authority whose proof does
    /// not verify, is a refusal (1); a file that cannot
    /// be read or written is classed by the file error; everything else is bad input (2).
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Invalid { .. } | Error::Authority { .. } => ExitClass::Refusal,
            Error::File(e) => e.exit_class(),
            _ => ExitClass::Input,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
