//! Errors of custos-eth. Lower-case messages naming the transaction (index and sender), field,
//! file or address; never a key. A [`Error::Refused`] is the signer saying no (exit 1); the
//! rest are malformed input (exit 2).

use custos_core::exit::{Classify, ExitClass};

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An amount operation overflowed or went below zero.
    #[error("amount overflow: {op} of {lhs} and {rhs} {unit}")]
    Overflow {
        /// "add", "sub", "mul".
        op: &'static str,
        /// Left operand.
        lhs: String,
        /// Right operand.
        rhs: String,
        /// Unit ("wei", "token units").
        unit: &'static str,
    },
    /// A decimal amount does not parse.
    #[error("amount {input:?}: {reason}")]
    AmountParse {
        /// The text.
        input: String,
        /// Why.
        reason: &'static str,
    },
    /// A file or field is malformed.
    #[error("{what}: {reason}")]
    Malformed {
        /// What was read ("unsigned transaction set", "tx 2 field data", ...).
        what: String,
        /// Why.
        reason: String,
    },
    /// The signer refuses: a check failed. Names the transaction and the field.
    #[error("refused: {subject}: {reason}")]
    Refused {
        /// "tx 3 (from 0x…, nonce 7)" or "safe transaction".
        subject: String,
        /// The field and what is wrong with it.
        reason: String,
    },
    /// No key for an address in the material given.
    #[error("no key for {address} in the seized material ({searched})")]
    NoKey {
        /// The address.
        address: String,
        /// What was searched.
        searched: String,
    },
    /// Signing failed (the library's message; carries no key).
    #[error("signing {subject} failed: {reason}")]
    Signing {
        /// What was being signed.
        subject: String,
        /// Library message.
        reason: String,
    },
}

impl Error {
    /// A malformed-input error.
    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// A refusal.
    pub fn refused(subject: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Refused {
            subject: subject.into(),
            reason: reason.into(),
        }
    }
}

impl Classify for Error {
    /// Refusals are findings (1); everything else is about the input given (2).
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Refused { .. } => ExitClass::Refusal,
            _ => ExitClass::Input,
        }
    }
}
