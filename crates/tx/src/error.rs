//! Errors of `custos-tx`. Messages are lower-case and name the offending input or output index,
//! outpoint, file or descriptor — never a secret.
//!
//! Three classes ([`custos_core::exit::Classify`]): [`Error::Refused`] carries a [`Refusal`], a
//! reason the signer will not sign a PSBT (exit code 1 in the binaries); a file that cannot be
//! written for a reason other than its path, or a failed signing thread, is the environment
//! (exit code 3); every other variant is bad input (exit code 2).
//!
//! A cause is kept as a value in `source()` and is not repeated in the message, so that
//! `anyhow`'s `{:#}` prints it once. [`Error::Refused`] is the exception that proves the rule: the
//! refusal *is* the message (`refused: output 0 …`), so it is printed in it and not offered as a
//! source.

use custos_core::exit::{Classify, ExitClass};

use bitcoin::{Amount, OutPoint, Txid};

use crate::weight::FeeRate;

/// Why the custody-policy check refused a PSBT. Every variant names the input or output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The PSBT has no outputs.
    #[error("psbt has no outputs")]
    NoOutputs,
    /// An output does not pay the custody policy.
    #[error("output {index} ({} sat to {address}) does not pay the custody policy: {reason}", .value.to_sat())]
    OutputNotCustody {
        /// Output index.
        index: usize,
        /// Value.
        value: Amount,
        /// Address (or script hex when it has none).
        address: String,
        /// Why.
        reason: String,
    },
    /// An output's derivation index is far beyond the policy's next index.
    #[error("output {index} pays custody index {chain}/{child}, beyond the allowed window (next index {next_index} + {window})")]
    OutputIndexOutOfRange {
        /// Output index.
        index: usize,
        /// 0 receive, 1 change.
        chain: u32,
        /// Child index.
        child: u32,
        /// Policy next index.
        next_index: u32,
        /// Window allowed above it.
        window: u32,
    },
    /// Absolute fee above the cap.
    #[error("fee {} sat is above the cap of {} sat", .fee.to_sat(), .cap.to_sat())]
    FeeAboveCap {
        /// Fee.
        fee: Amount,
        /// Cap.
        cap: Amount,
    },
    /// Fee rate above the cap.
    #[error("fee rate {} sat/kvB is above the cap of {} sat/kvB", .rate.0, .cap.0)]
    FeeRateAboveCap {
        /// Estimated rate.
        rate: FeeRate,
        /// Cap.
        cap: FeeRate,
    },
    /// Outputs spend more than the inputs bring.
    #[error("outputs ({} sat) exceed inputs ({} sat)", .outputs.to_sat(), .inputs.to_sat())]
    NegativeFee {
        /// Sum of inputs.
        inputs: Amount,
        /// Sum of outputs.
        outputs: Amount,
    },
    /// Non-taproot input without `non_witness_utxo`.
    #[error("input {index} ({outpoint}) is not taproot and lacks non_witness_utxo (segwit-v0 fee attack)")]
    MissingNonWitnessUtxo {
        /// Input index.
        index: usize,
        /// Its prevout.
        outpoint: OutPoint,
    },
    /// Input without any UTXO information.
    #[error("input {index} ({outpoint}) has neither witness_utxo nor non_witness_utxo")]
    MissingUtxo {
        /// Input index.
        index: usize,
        /// Its prevout.
        outpoint: OutPoint,
    },
    /// `non_witness_utxo` is not the transaction the input spends.
    #[error("input {index}: non_witness_utxo has txid {got}, but the input spends {outpoint}")]
    NonWitnessUtxoTxid {
        /// Input index.
        index: usize,
        /// The prevout.
        outpoint: OutPoint,
        /// Hash of the supplied transaction.
        got: Txid,
    },
    /// The spent output index is past the end of `non_witness_utxo`.
    #[error("input {index}: non_witness_utxo has no output {vout}")]
    NonWitnessUtxoVout {
        /// Input index.
        index: usize,
        /// Missing output.
        vout: u32,
    },
    /// `witness_utxo` disagrees with `non_witness_utxo`.
    #[error("input {index} ({outpoint}): witness_utxo ({} sat, {witness_script}) disagrees with non_witness_utxo output {vout} ({} sat, {script})", .witness_value.to_sat(), .value.to_sat())]
    WitnessUtxoMismatch {
        /// Input index.
        index: usize,
        /// Prevout.
        outpoint: OutPoint,
        /// Output index in the previous tx.
        vout: u32,
        /// witness_utxo amount.
        witness_value: Amount,
        /// witness_utxo script hex.
        witness_script: String,
        /// Real amount.
        value: Amount,
        /// Real script hex.
        script: String,
    },
    /// A sighash type that was not allowed.
    #[error("input {index} asks for sighash {sighash}, only ALL/DEFAULT is allowed (see --allow-sighash)")]
    SighashNotAllowed {
        /// Input index.
        index: usize,
        /// The requested type.
        sighash: String,
    },
    /// The same prevout is spent twice.
    #[error("input {index} spends {outpoint}, already spent by input {first}")]
    DuplicateInput {
        /// Second input.
        index: usize,
        /// First input with that prevout.
        first: usize,
        /// The prevout.
        outpoint: OutPoint,
    },
    /// An input's script data does not hash to the script it claims to be.
    #[error("input {index}: {field} {reason}")]
    InputScriptMismatch {
        /// Input index.
        index: usize,
        /// The PSBT field (`redeem_script`, `witness_script`).
        field: &'static str,
        /// What it contradicts.
        reason: String,
    },
    /// A key derived at the origin the PSBT names is not the key the PSBT names.
    #[error("input {index}: the key derived at [{fingerprint}/{path}] is not the key the psbt names for that origin (other material, or a psbt that lies about its keys)")]
    KeyMismatch {
        /// Input index.
        index: usize,
        /// Master fingerprint of the origin.
        fingerprint: bitcoin::bip32::Fingerprint,
        /// Origin path.
        path: bitcoin::bip32::DerivationPath,
    },
    /// An input or output amount above 21 million BTC.
    #[error("{what}: amount {} sat is above 21 million btc", .value.to_sat())]
    AmountOutOfRange {
        /// Which input or output.
        what: String,
        /// The amount.
        value: Amount,
    },
    /// A sum of amounts above 21 million BTC (or past `u64`).
    #[error("the sum of the {what} is above 21 million btc")]
    AmountSumOutOfRange {
        /// Which sum ("inputs", "outputs").
        what: &'static str,
    },
    /// An output below its script type's dust limit: the transaction would not relay.
    #[error("output {index} pays {} sat, below the dust limit of {} sat for its script type", .value.to_sat(), .limit.to_sat())]
    OutputBelowDust {
        /// Output index.
        index: usize,
        /// Its value.
        value: Amount,
        /// The dust limit.
        limit: Amount,
    },
    /// Output metadata that disagrees with the output script or the custody policy.
    #[error("output {index}: {field} {reason}")]
    OutputMetadata {
        /// Output index.
        index: usize,
        /// The PSBT field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A taproot input's script data contradicts its output key.
    #[error("input {index}: taproot script data contradicts the output key: {reason}")]
    TaprootMismatch {
        /// Input index.
        index: usize,
        /// What contradicts.
        reason: String,
    },
    /// A partial signature in the PSBT does not verify.
    #[error(
        "input {index}: the partial signature of {key} does not verify (corrupted or forged psbt)"
    )]
    BadPartialSignature {
        /// Input index.
        index: usize,
        /// The key it claims to be by.
        key: String,
    },
    /// An nLockTime far beyond the PSBT's own context.
    #[error("nlocktime: {lock_time}, beyond {bound} (review it, then allow it explicitly)")]
    FarLockTime {
        /// The lock time in words.
        lock_time: String,
        /// The bound it passes.
        bound: String,
    },
    /// An output outside custody that no valid disposal order covers exactly.
    #[error("output {index} ({} sat to {address}) is outside custody and not covered by a valid disposal order: {reason}", .value.to_sat())]
    NotCoveredByOrder {
        /// Output index.
        index: usize,
        /// Value.
        value: Amount,
        /// Address (or script hex).
        address: String,
        /// Why no order covers it.
        reason: String,
    },
    /// Something in the PSBT belongs to another network.
    #[error("network mismatch: {what} is for {found}, the policy is for {expected}")]
    NetworkMismatch {
        /// Which item.
        what: String,
        /// Its network.
        found: String,
        /// The policy's.
        expected: String,
    },
}

/// Errors of `custos-tx`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy check refused the PSBT.
    /// The refusal is the message itself, not a cause, so it is not a `source()` (and is printed
    /// once).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// A PSBT could not be parsed.
    #[error("invalid psbt: {0}")]
    PsbtParse(String),
    /// Bytes after the end of the PSBT (Bitcoin Core rejects these too).
    #[error("invalid psbt: {count} trailing byte(s) after the end of the psbt at offset {offset}")]
    TrailingBytes {
        /// Number of extra bytes.
        count: usize,
        /// Where the PSBT ended.
        offset: usize,
    },
    /// A descriptor could not be parsed or used.
    #[error("descriptor {descriptor:?}: {reason}")]
    Descriptor {
        /// The descriptor text (public; never a secret descriptor).
        descriptor: String,
        /// What is wrong.
        reason: String,
    },
    /// An inventory UTXO is inconsistent or unusable.
    #[error("utxo {outpoint}: {reason}")]
    Utxo {
        /// Its outpoint text.
        outpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// The custody policy file is unusable.
    #[error("custody policy: {0}")]
    Policy(String),
    /// Nothing worth sweeping.
    #[error("nothing to sweep: {0}")]
    NothingToSweep(String),
    /// A destination of a custody spend is unusable.
    #[error("destination {address}: {reason}")]
    Destination {
        /// The address as given (empty when the problem is the whole set).
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// The custody UTXOs cannot pay the destinations and the fee.
    #[error("insufficient funds: {} sat needed (destinations and fee), {} sat available", .needed.to_sat(), .available.to_sat())]
    InsufficientFunds {
        /// What the spend needs.
        needed: Amount,
        /// What the UTXOs bring.
        available: Amount,
    },
    /// Signing failed on an input.
    #[error("input {index}: cannot sign: {reason}")]
    Sign {
        /// Input index.
        index: usize,
        /// Why.
        reason: String,
    },
    /// An input's PSBT sighash type is not one its script type can use.
    #[error("input {index}: cannot sign: unusable sighash type")]
    SighashType {
        /// Input index.
        index: usize,
        /// The parse error of the sighash type field.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The signature hash of an input could not be computed (an index out of range, a
    /// missing or inconsistent previous output).
    #[error("input {index}: cannot sign: cannot compute the signature hash")]
    Sighash {
        /// Input index.
        index: usize,
        /// The sighash computation's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A signing thread failed; no signature of the run was kept.
    #[error("a signing thread failed; nothing was signed")]
    SigningThread,
    /// Seized material cannot be turned into signing keys.
    #[error("seized material: {0}")]
    Material(String),
    /// A key in seized material cannot be used; `what` names the line or part at fault (never
    /// the secret) and the cause is kept as the source.
    #[error("seized material: {what}")]
    MaterialKey {
        /// Which line or part of the material.
        what: String,
        /// The parser's or derivation's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Finalizing failed.
    #[error("cannot finalize: {0}")]
    Finalize(String),
    /// Extraction failed.
    #[error("cannot extract: {0}")]
    Extract(String),
    /// PSBTs could not be combined.
    #[error("cannot combine: {0}")]
    Combine(String),
    /// A transport (UR, BBQr, file) could not be decoded.
    #[error("{format}: {reason}")]
    Transport {
        /// Which transport.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{path}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A sum of amounts overflowed (no real set of bitcoin amounts does).
    #[error("amount overflow: {what}")]
    AmountOverflow {
        /// Which sum.
        what: String,
    },
    /// Money arithmetic overflowed.
    #[error(transparent)]
    Amount(#[from] custos_core::Error),
}

impl Error {
    /// True when this is a refusal (exit code 1), not bad input: the policy check refused, or
    /// signing found the PSBT's claims contradicted (e.g. [`Refusal::KeyMismatch`]).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::Refused(_))
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        Error::Refused(r)
    }
}

impl Classify for Error {
    /// A refusal is 1. Writing a file fails through the user's path (missing directory, no
    /// permission, a directory) as input, otherwise (full disk) as the environment; a failed
    /// signing thread is the environment. Everything else is the PSBT, descriptor, policy or
    /// material the user gave: input.
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Refused(_) => ExitClass::Refusal,
            Error::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::IsADirectory
                ) =>
            {
                ExitClass::Input
            }
            Error::Io { .. } | Error::SigningThread => ExitClass::Environment,
            Error::Amount(e) => e.exit_class(),
            _ => ExitClass::Input,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> Error {
        Error::io(std::path::Path::new("out.psbt"), std::io::Error::from(kind))
    }

    #[test]
    fn refusals_are_class_one() {
        let e = Error::from(Refusal::NoOutputs);
        assert_eq!(e.exit_class(), ExitClass::Refusal);
        assert_eq!(e.exit_class().code(), 1);
    }

    #[test]
    fn malformed_psbt_and_missing_directory_are_input() {
        assert_eq!(
            Error::PsbtParse("bad magic".into()).exit_class(),
            ExitClass::Input
        );
        assert_eq!(
            io(std::io::ErrorKind::NotFound).exit_class(),
            ExitClass::Input
        );
    }

    #[test]
    fn full_disk_and_failed_signing_thread_are_environment() {
        assert_eq!(
            io(std::io::ErrorKind::StorageFull).exit_class(),
            ExitClass::Environment
        );
        assert_eq!(Error::SigningThread.exit_class().code(), 3);
    }

    #[test]
    fn io_cause_is_a_source_and_not_repeated_in_the_message() {
        let e = io(std::io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), "out.psbt");
        let cause = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(
            cause,
            Some(std::io::Error::from(std::io::ErrorKind::NotFound).to_string())
        );
    }

    #[test]
    fn refusal_is_printed_once_and_is_not_a_source() {
        let e = Error::from(Refusal::NoOutputs);
        assert_eq!(e.to_string(), "refused: psbt has no outputs");
        assert!(std::error::Error::source(&e).is_none());
    }

    #[test]
    fn sighash_and_material_causes_are_sources_not_pasted_into_messages() {
        let cause = || std::io::Error::other("the cause text");
        for (e, message) in [
            (
                Error::Sighash {
                    index: 3,
                    source: Box::new(cause()),
                },
                "input 3: cannot sign: cannot compute the signature hash",
            ),
            (
                Error::SighashType {
                    index: 1,
                    source: Box::new(cause()),
                },
                "input 1: cannot sign: unusable sighash type",
            ),
            (
                Error::MaterialKey {
                    what: "line 2: wif does not parse".into(),
                    source: Box::new(cause()),
                },
                "seized material: line 2: wif does not parse",
            ),
        ] {
            assert_eq!(e.to_string(), message);
            assert_eq!(
                std::error::Error::source(&e).map(ToString::to_string),
                Some("the cause text".to_string())
            );
            assert_eq!(e.exit_class(), ExitClass::Input);
        }
    }
}
