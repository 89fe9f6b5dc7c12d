//! `manifest.json`, the record of an export: what was read (network, genesis, tip), how it was
//! cut (first height, blocks per partition), and per partition each table's file, row count
//! and SHA-256. It is rewritten (atomically, by rename) after every finished partition, which
//! is what makes an export resumable by height.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The manifest's format tag.
pub const FORMAT: &str = "custos-index-export/1";
/// The manifest's file name in the output directory.
pub const FILE: &str = "manifest.json";

/// One table file of a partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFile {
    /// Path relative to the output directory.
    pub file: String,
    /// Rows.
    pub rows: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// A finished height range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// First height.
    pub first: u32,
    /// Last height.
    pub last: u32,
    /// Hash of the block at `last` (a resume checks it is still on the chain).
    pub last_hash: String,
    /// blocks, transactions, outputs, inputs.
    pub tables: Vec<TableFile>,
    /// Sum of the outputs' values, sat.
    pub output_value: u64,
    /// Sum of the inputs' values, sat (coinbase inputs have none).
    pub input_value: u64,
}

/// Totals over the exported range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Blocks.
    pub blocks: u64,
    /// Transactions.
    pub transactions: u64,
    /// Outputs.
    pub outputs: u64,
    /// Inputs (coinbase inputs not counted).
    pub inputs: u64,
    /// Sum of output values, sat.
    pub output_value: u64,
    /// Sum of input values, sat.
    pub input_value: u64,
    /// Unspent outputs after the last exported block (counting from genesis, not `from`), as
    /// Core's chainstate counts them: OP_RETURN outputs and the genesis coinbase left out.
    pub unspent_count: u64,
    /// Their value, sat.
    pub unspent_value: u64,
}

/// A partial block found in the block files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruncationNote {
    /// The blk file.
    pub file: String,
    /// Offset of the partial record.
    pub offset: u64,
}

/// The export manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Network name.
    pub network: String,
    /// Genesis block hash of that network.
    pub genesis: String,
    /// First exported height.
    pub from: u32,
    /// Blocks per partition.
    pub partition_blocks: u32,
    /// Last exported height (of the finished partitions).
    pub to: u32,
    /// Hash of the block at `to`.
    pub to_hash: String,
    /// Best tip of the block files when last run.
    pub tip_height: u32,
    /// Its hash.
    pub tip_hash: String,
    /// Blocks in the files off the best chain.
    pub stale_blocks: usize,
    /// Finished partitions in height order.
    pub partitions: Vec<Partition>,
    /// Totals (filled when the export finished).
    pub totals: Totals,
    /// A partial block that ended the readable data, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<TruncationNote>,
}

/// Manifests are small; anything bigger is not one.
const LIMIT: custos_core::file::Limit = custos_core::file::Limit {
    kind: "export manifest",
    bytes: 64 * 1024 * 1024,
};

impl Manifest {
    /// Reads `dir/manifest.json` if it exists.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, Error> {
        let path = dir.join(FILE);
        let Some(text) = custos_core::file::read_text_if_exists(&path, LIMIT)? else {
            return Ok(None);
        };
        let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(Error::BadManifest {
                path,
                reason: format!("format `{}`, expected `{FORMAT}`", m.format),
            });
        }
        Ok(Some(m))
    }

    /// Writes `dir/manifest.json` through a temporary file and a rename.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, Error> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.partial"));
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        let _ = std::fs::remove_file(&tmp);
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, "cannot write manifest", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "cannot write manifest", e))?;
        Ok(path)
    }
}

/// SHA-256 of bytes, hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SHA-256 of a file, hex, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, "cannot open", e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io(path, "cannot read", e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
