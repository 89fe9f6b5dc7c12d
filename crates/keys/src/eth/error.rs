//! Errors of the Ethereum half of custos-keys. Lower-case, naming the line, field or path; never
//! a key, a phrase or a password. A wrong keystore password is reported as exactly that, with no
//! hint of which part of the check failed.

use custos_core::exit::{Classify, ExitClass};

/// What can go wrong with Ethereum material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EthKeyError {
    /// An address that is not 20 bytes of hex, or whose mixed case fails the EIP-55 checksum.
    #[error("address {text:?}{}: {fault}", line_suffix(*line))]
    Address {
        /// The address as given (public).
        text: String,
        /// Input line (1-based) when read from a file.
        line: Option<usize>,
        /// What is wrong.
        fault: &'static str,
    },
    /// A private key line that is not 32 bytes of hex or not a valid secp256k1 scalar.
    #[error("private key, line {line}: {fault}")]
    PrivateKey {
        /// Input line (1-based).
        line: usize,
        /// What is wrong (never the key).
        fault: &'static str,
    },
    /// The keystore file is malformed or uses parameters custos refuses.
    #[error("keystore: {0}")]
    Keystore(String),
    /// The keystore's MAC does not match: the password is wrong.
    #[error("keystore: wrong password")]
    WrongPassword,
    /// The material is not usable on Ethereum.
    #[error("{kind}: {reason}")]
    Unsupported {
        /// Kind of material.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// A derivation failed (carries the public path).
    #[error("derivation of {path} failed: {reason}")]
    Derivation {
        /// The path.
        path: String,
        /// Library message (no key material).
        reason: String,
    },
    /// An error of the Bitcoin-side classifier (a malformed mnemonic).
    #[error(transparent)]
    Material(#[from] crate::Error),
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

impl Classify for EthKeyError {
    /// Every error here is about the material, file or password the user gave.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Input
    }
}
