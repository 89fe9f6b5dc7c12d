//! The signer's ceremony transcript: one JSON object per line, appended as each step happens,
//! holding who, when, what, key fingerprints and file hashes — never a secret. `custos ceremony
//! import-transcript` replays it into the case ledger.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Format tag of transcript lines.
pub const TRANSCRIPT_FORMAT: &str = "custos-ceremony-transcript-v1";

/// A file a step produced or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    /// File name (no directory).
    pub name: String,
    /// sha256, hex.
    pub sha256: String,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Always [`TRANSCRIPT_FORMAT`].
    pub format: String,
    /// UTC time.
    pub time: String,
    /// Who (examiner / keyholder id as given).
    pub who: String,
    /// Host name.
    pub host: String,
    /// Step, dotted (`ceremony.key_generated`, `ceremony.verified`).
    pub step: String,
    /// Master fingerprints involved.
    pub fingerprints: Vec<String>,
    /// Files and their hashes.
    pub files: Vec<FileHash>,
    /// Step details (no secrets: counts, modes, addresses).
    pub details: serde_json::Value,
}

/// sha256 of bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hash of a file on disk.
pub fn hash_file(path: &Path) -> Result<FileHash, Error> {
    let bytes = custos_core::file::read_bytes(path, custos_core::file::TRANSCRIPT)?;
    Ok(FileHash {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_hex(&bytes),
    })
}

/// Appends one line to the transcript file (created if missing) and syncs it.
pub fn append(path: &Path, entry: &Entry) -> Result<(), Error> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let line = serde_json::to_string(entry).map_err(|source| Error::Json {
        file: path.display().to_string(),
        what: "cannot encode a transcript entry",
        source,
    })?;
    f.write_all(line.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Reads every line of a transcript, checking the format tag; errors name the line.
pub fn read(path: &Path) -> Result<Vec<Entry>, Error> {
    let text = custos_core::file::read_text(path, custos_core::file::TRANSCRIPT)?;
    let file = path.display().to_string();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let e: Entry = serde_json::from_str(l).map_err(|source| Error::Json {
                file: format!("{file}:{}", i + 1),
                what: "not a transcript entry",
                source,
            })?;
            if e.format != TRANSCRIPT_FORMAT {
                return Err(Error::malformed(
                    format!("{file}:{}", i + 1),
                    format!("format {:?} is not {TRANSCRIPT_FORMAT}", e.format),
                ));
            }
            Ok(e)
        })
        .collect()
}
