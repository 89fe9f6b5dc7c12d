//! Errors of the index crate, each naming the file, offset, height or table it is about.

use std::path::PathBuf;

use custos_core::exit::{Classify, ExitClass};

/// What can go wrong while exporting block files or importing cluster tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {what}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The blocks directory holds no `blk*.dat` file.
    #[error("{}: no blk*.dat files (is this a bitcoin core blocks directory?)", dir.display())]
    NoBlockFiles {
        /// The directory.
        dir: PathBuf,
    },
    /// `xor.dat` is not 8 bytes.
    #[error("{}: obfuscation key is {len} bytes, expected 8", path.display())]
    BadXorKey {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The block files belong to another network than the one asked for.
    #[error("{}: block at offset {offset} has the network magic of {found}, not of {expected}", file.display())]
    WrongNetwork {
        /// The blk file.
        file: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// The network the magic belongs to (or its hex).
        found: String,
        /// The network asked for.
        expected: String,
    },
    /// A record does not start with a network magic.
    #[error("{}: no network magic at offset {offset} (found {found}); the file is damaged", file.display())]
    BadMagic {
        /// The blk file.
        file: PathBuf,
        /// Where the record should start.
        offset: u64,
        /// The four bytes found, hex.
        found: String,
    },
    /// A block record ends past the end of its file.
    #[error("{}: partial block at offset {offset}: record of {declared} bytes, only {available} bytes left in the file; every block before it was exported", file.display())]
    Truncated {
        /// The blk file.
        file: PathBuf,
        /// Where the partial record starts.
        offset: u64,
        /// The length the record declares.
        declared: u64,
        /// What the file still holds.
        available: u64,
    },
    /// A block record does not decode.
    #[error("{}: block at offset {offset} does not decode: {reason}", file.display())]
    BadBlock {
        /// The blk file.
        file: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// The files hold no chain that starts at the network's genesis block.
    #[error("{}: no block chain from the {network} genesis block {genesis}", dir.display())]
    NoGenesis {
        /// The blocks directory.
        dir: PathBuf,
        /// The network.
        network: String,
        /// Its genesis hash.
        genesis: String,
    },
    /// A height range outside the chain or upside down.
    #[error("height range {from}..={to} is not within the chain 0..={tip}")]
    BadRange {
        /// First height asked for.
        from: u32,
        /// Last height asked for.
        to: u32,
        /// The tip height.
        tip: u32,
    },
    /// An input spends an output the export has not seen (a chain the files do not fully hold).
    #[error("block {height}: transaction {txid} input {vin} spends unknown output {prevout}")]
    MissingPrevout {
        /// Block height.
        height: u32,
        /// The spending transaction.
        txid: String,
        /// The input.
        vin: u32,
        /// The spent outpoint.
        prevout: String,
    },
    /// The output directory holds something that is not this export.
    #[error("{}: {reason}; choose another --out (nothing was overwritten)", dir.display())]
    OutDirInUse {
        /// The output directory.
        dir: PathBuf,
        /// What is there.
        reason: String,
    },
    /// A Parquet file could not be written or read.
    #[error("{}: parquet", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A Parquet table lacks a column or has the wrong type in it.
    #[error("{}: {reason}", path.display())]
    BadTable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A manifest or job file does not parse.
    #[error("{}: {reason}", path.display())]
    BadManifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A bounded read refused a file.
    #[error(transparent)]
    File(#[from] custos_core::file::FileError),
    /// A value does not fit its column (a corrupt amount).
    #[error("block {height}: {what} out of range")]
    Range {
        /// Block height.
        height: u32,
        /// Which value.
        what: &'static str,
    },
}

impl Error {
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        what: &'static str,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            path: path.into(),
            what,
            source,
        }
    }
}

impl Classify for Error {
    /// Damaged, foreign or missing input is an input error (2); a disk that fails is the
    /// environment (3). A truncated blk file is an input error too: the export of everything
    /// before the partial block is complete and usable, but the input was not what was asked.
    fn exit_class(&self) -> ExitClass {
        match self {
            Error::Io { .. } => ExitClass::Environment,
            Error::File(e) => e.exit_class(),
            _ => ExitClass::Input,
        }
    }
}
