//! Errors of `custos-core`. Messages are lower-case and carry the offending input, never a secret.

/// Errors raised by core domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Checked arithmetic on an amount overflowed or went below zero.
    #[error("amount arithmetic overflow: {op} of {lhs} and {rhs} {unit}")]
    AmountOverflow {
        /// "add", "sub" or "mul".
        op: &'static str,
        /// Left operand in base units.
        lhs: String,
        /// Right operand in base units.
        rhs: String,
        /// Unit name ("sat", "wei").
        unit: &'static str,
    },
    /// A decimal amount string could not be parsed exactly.
    #[error("invalid amount {input:?}: {reason}")]
    AmountParse {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A network name was not recognised.
    #[error("unknown network {0:?} (expected bitcoin, testnet, testnet4, signet or regtest)")]
    UnknownNetwork(String),
    /// An identifier (case id, examiner) is not acceptable.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidId {
        /// Which identifier.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}
