//! Errors of the ceremony crate. Messages are lower-case, name the offending file, key or
//! position, and never carry a secret (no mnemonic, entropy, roll string or private key).

/// Everything that can go wrong in a ceremony step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The OS random number generator failed.
    #[error("os random number generator failed")]
    Rng(#[source] getrandom::Error),
    /// A dice roll string held something other than the digits 1-6.
    #[error("dice roll {position}: {found:?} is not a die face 1-6")]
    BadRoll {
        /// 1-based position of the bad character among the non-blank characters.
        position: usize,
        /// The character found (a single non-digit or out-of-range digit, never the rolls).
        found: char,
    },
    /// Too few dice rolls for the requested mnemonic length.
    #[error("{got} dice rolls are too few for {words} words: at least {need} are required")]
    TooFewRolls {
        /// Rolls given.
        got: usize,
        /// Rolls required.
        need: usize,
        /// Mnemonic length asked for.
        words: usize,
    },
    /// Unsupported mnemonic length.
    #[error("unsupported mnemonic length {0}: use 12 or 24 words")]
    WordCount(usize),
    /// Entropy of the wrong length.
    #[error("entropy must be 16 or 32 bytes, got {0}")]
    EntropyLength(usize),
    /// BIP39 rejected a mnemonic or entropy.
    #[error("bip39")]
    Bip39(#[source] bip39::Error),
    /// A quiz answer was wrong.
    #[error("verification quiz: word {position} does not match")]
    QuizMismatch {
        /// 1-based word position.
        position: usize,
    },
    /// A SeedQR payload could not be decoded.
    #[error("seedqr: {0}")]
    SeedQr(String),
    /// A SeedQR payload decodes to words or entropy BIP39 rejects.
    #[error("seedqr payload is not a valid mnemonic")]
    SeedQrMnemonic(#[source] Box<Error>),
    /// QR rendering failed.
    #[error("qr code: {0}")]
    Qr(String),
    /// BIP32 derivation failed.
    #[error("bip32")]
    Bip32(#[source] bitcoin::bip32::Error),
    /// A key could not be used for message signing (an uncompressed key).
    #[error("message signing key")]
    SigningKey(#[source] bitcoin::key::UncompressedPublicKeyError),
    /// A BIP-322 or legacy signature did not verify.
    #[error("signature of {what} does not verify: {reason}")]
    BadSignature {
        /// What was signed (a key name, file or address).
        what: String,
        /// Why.
        reason: String,
    },
    /// An address or script type is not supported for message signing.
    #[error("message signing: unsupported address {0}")]
    UnsupportedAddress(String),
    /// A key record or other input file is malformed.
    #[error("{file}: {reason}")]
    Malformed {
        /// The file (or other source) name.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A key's proof of possession fails, signs another ceremony's challenge, is missing, or
    /// the key is a duplicate: a refusal (exit code 1 in the binaries), not bad input.
    #[error("key {key} ({file}): {reason}")]
    ProofRefused {
        /// `[fingerprint/path]` of the key.
        key: String,
        /// The key record file it came from.
        file: String,
        /// Why it is refused.
        reason: String,
    },
    /// A key in the ceremony is refused.
    #[error("key {key} ({file}): {reason}")]
    KeyRefused {
        /// `[fingerprint/path]` of the key.
        key: String,
        /// The key record file it came from.
        file: String,
        /// Why it is refused.
        reason: String,
    },
    /// The k-of-n parameters are impossible.
    #[error("threshold: {0}")]
    Threshold(String),
    /// A descriptor failed to parse, check or derive (miniscript's error kept as the cause).
    #[error("descriptor in {file}")]
    DescriptorInvalid {
        /// The file it came from.
        file: String,
        /// miniscript's error.
        #[source]
        source: miniscript::Error,
    },
    /// A ranged descriptor could not be derived at an index.
    #[error("descriptor: cannot derive index {index}")]
    DescriptorDerive {
        /// The derivation index.
        index: u32,
        /// miniscript's error.
        #[source]
        source: miniscript::descriptor::NonDefiniteKeyError,
    },
    /// A descriptor does not have the shape a custody policy needs.
    #[error("descriptor in {file}: {reason}")]
    Descriptor {
        /// The file it came from.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// Encoding an export failed.
    #[error("export {what}: {reason}")]
    Export {
        /// Which export.
        what: String,
        /// Why.
        reason: String,
    },
    /// An input file is missing, a directory, unreadable or over its size limit.
    #[error(transparent)]
    File(#[from] custos_core::file::FileError),
    /// File I/O.
    #[error("{path}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Ethereum custody Safe could not be built from the keys (owners, threshold) or its
    /// policy does not check.
    #[error("ethereum custody safe")]
    Eth(#[source] custos_eth::Error),
    /// A JSON input (key record, transcript line) does not parse.
    #[error("{file}: {what}")]
    Json {
        /// The file (or `file:line`).
        file: String,
        /// What it should have been ("not a key record", "not json").
        what: &'static str,
        /// The parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// True for refusals (exit code 1): [`Error::ProofRefused`]. Everything else is bad input
    /// or an environment failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Error::ProofRefused { .. })
    }

    /// The exit class: refusals 1, I/O 3, everything else (malformed, unknown) 2.
    pub fn class(&self) -> custos_core::exit::ExitClass {
        use custos_core::exit::ExitClass;
        match self {
            Error::ProofRefused { .. } => ExitClass::Refusal,
            Error::Eth(e) => custos_core::exit::Classify::exit_class(e),
            Error::File(e) => custos_core::exit::Classify::exit_class(e),
            // A path the user named that is missing, a directory or unreadable is their input.
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
            Error::Io { .. } => ExitClass::Environment,
            _ => ExitClass::Input,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A malformed-input error.
    pub fn malformed(file: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Malformed {
            file: file.into(),
            reason: reason.into(),
        }
    }
}

impl custos_core::exit::Classify for Error {
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        self.class()
    }
}
