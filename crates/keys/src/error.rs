//! Errors of custos-keys. Messages are lower-case, name the kind of material, the fault and the
//! line (1-based) where one applies, and never contain a secret: no mnemonic word as typed, no
//! key, no passphrase. The one documented exception is [`Error::UnknownWord`], which may carry
//! *suggested* replacement words from the public word list (never the word that was typed).

use custos_core::exit::{Classify, ExitClass};

/// Everything that can go wrong while reading seized material or deriving from it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is empty (after removing blank lines and `#` comments).
    #[error("no material: the input is empty")]
    Empty,

    /// The material was recognised as `kind` but is malformed.
    #[error("{kind}{}: {fault}", line_suffix(*line))]
    Invalid {
        /// What the input looked like ("bip39 mnemonic", "wif key", "extended public key", ...).
        kind: &'static str,
        /// Line (1-based) of the offending item, when the input is line-oriented.
        line: Option<usize>,
        /// What is wrong, without any secret.
        fault: String,
    },

    /// A mnemonic word is not in the word list. `suggestions` are public word-list entries close
    /// to the typed word (the typed word itself is never kept).
    #[error(
        "{kind}: word {position} is not in the {language} word list{}",
        suggestion_suffix(suggestions)
    )]
    UnknownWord {
        /// "bip39 mnemonic" or "electrum seed".
        kind: &'static str,
        /// Word list language.
        language: &'static str,
        /// 1-based position of the unknown word.
        position: usize,
        /// Closest words of the list (edit distance), best first.
        suggestions: Vec<String>,
    },

    /// The input matches no known kind of material.
    #[error("unrecognised material{}: {hint}", line_suffix(*line))]
    Unrecognised {
        /// Line (1-based) that could not be classified.
        line: Option<usize>,
        /// What it looked like (length, character classes), without content.
        hint: String,
    },

    /// Lines of different kinds in one input.
    #[error("mixed material: line {first_line} is {first_kind} but line {line} is {kind}; give one kind per input")]
    Mixed {
        /// Kind of the first item.
        first_kind: &'static str,
        /// Its line.
        first_line: usize,
        /// Kind of the offending item.
        kind: &'static str,
        /// Its line.
        line: usize,
    },

    /// Material for another network than the one asked for.
    #[error("{kind}{}: it is for {found} but the network is {expected}", line_suffix(*line))]
    WrongNetwork {
        /// Kind of material.
        kind: &'static str,
        /// Line.
        line: Option<usize>,
        /// Network the material encodes ("mainnet", "testnet/regtest", "regtest", ...).
        found: String,
        /// Network asked for.
        expected: custos_core::Network,
    },

    /// The material is valid but this operation cannot use it (e.g. a lone multisig cosigner key).
    #[error("{kind}: {reason}")]
    Unsupported {
        /// Kind of material.
        kind: &'static str,
        /// Why.
        reason: String,
    },

    /// Key derivation failed (astronomically unlikely for valid keys; carries the path).
    #[error("derivation of {path} failed: {reason}")]
    Derivation {
        /// Derivation path (public).
        path: String,
        /// Library message (contains no key material).
        reason: String,
    },

    /// Building or parsing an output descriptor failed.
    #[error("descriptor{}: {reason}", line_suffix(*line))]
    Descriptor {
        /// Line of the input, if from input.
        line: Option<usize>,
        /// Library message. Descriptors with private keys are never echoed.
        reason: String,
    },

    /// The derivation-path catalogue is malformed.
    #[error("derivation-path catalogue: {reason}")]
    Catalogue {
        /// What is wrong (entry id included).
        reason: String,
    },

    /// An option names a catalogue entry that does not exist.
    #[error("unknown catalogue path id {0:?} (see `Catalogue::builtin()` for the list)")]
    UnknownPath(String),
}

fn line_suffix(line: Option<usize>) -> String {
    match line {
        Some(l) => format!(", line {l}"),
        None => String::new(),
    }
}

fn suggestion_suffix(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", s.join(" or "))
    }
}

impl Classify for Error {
    /// Every error of this crate is about the material, descriptor or option the user gave.
    fn exit_class(&self) -> ExitClass {
        ExitClass::Input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_errors_are_input() {
        assert_eq!(Error::Empty.exit_class().code(), 2);
        let e = Error::WrongNetwork {
            kind: "wif key",
            line: Some(2),
            found: "testnet/regtest".into(),
            expected: custos_core::Network::Bitcoin,
        };
        assert_eq!(e.exit_class(), ExitClass::Input);
        assert_eq!(
            Error::UnknownPath("bip99".into()).exit_class(),
            ExitClass::Input
        );
    }
}
