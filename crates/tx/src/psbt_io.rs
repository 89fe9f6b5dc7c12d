//! Reading and writing PSBTs: binary or base64, strict about trailing bytes, Coldcard SD-card
//! file names, and writes that never overwrite an existing file.

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
};

use bitcoin::{base64::Engine as _, Psbt};

use crate::error::{Error, Result};

const MAGIC: &[u8] = b"psbt\xff";

/// Parses a binary PSBT and requires that every byte was consumed (rust-bitcoin alone accepts
/// trailing bytes; Bitcoin Core rejects them).
pub fn parse_binary(bytes: &[u8]) -> Result<Psbt> {
    let mut cursor: &[u8] = bytes;
    let psbt =
        Psbt::deserialize_from_reader(&mut cursor).map_err(|e| Error::PsbtParse(e.to_string()))?;
    if !cursor.is_empty() {
        return Err(Error::TrailingBytes {
            count: cursor.len(),
            offset: bytes.len() - cursor.len(),
        });
    }
    Ok(psbt)
}

/// Parses a base64 PSBT (surrounding whitespace ignored).
pub fn parse_base64(text: &str) -> Result<Psbt> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = bitcoin::base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .map_err(|e| Error::PsbtParse(format!("not base64: {e}")))?;
    parse_binary(&bytes)
}

/// How a PSBT was encoded when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Raw BIP174 bytes.
    Binary,
    /// Base64 text (Bitcoin Core, Sparrow, Coldcard text files).
    Base64,
    /// Hex text.
    Hex,
    /// BC-UR `ur:psbt` / `ur:crypto-psbt` (one or more parts).
    Ur,
    /// BBQr parts.
    Bbqr,
}

/// Parses a PSBT given as binary, base64 or hex.
pub fn parse_any(data: &[u8]) -> Result<Psbt> {
    parse_any_with_encoding(data).map(|(p, _)| p)
}

/// Parses a PSBT given as binary, base64 or hex, and says which it was.
pub fn parse_any_with_encoding(data: &[u8]) -> Result<(Psbt, Encoding)> {
    if data.starts_with(MAGIC) {
        return Ok((parse_binary(data)?, Encoding::Binary));
    }
    let text = std::str::from_utf8(data)
        .map_err(|_| Error::PsbtParse("neither binary psbt nor text".into()))?;
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::PsbtParse("empty input".into()));
    }
    if t.starts_with("70736274ff") {
        let bytes = hex::decode(t).map_err(|e| Error::PsbtParse(format!("not hex: {e}")))?;
        return Ok((parse_binary(&bytes)?, Encoding::Hex));
    }
    Ok((parse_base64(t)?, Encoding::Base64))
}

/// Serialises a PSBT in the given file encoding (UR and BBQr fall back to base64: write those
/// with [`crate::transport`]).
pub fn encode(psbt: &Psbt, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Binary => psbt.serialize(),
        Encoding::Hex => format!("{}\n", psbt.serialize_hex()).into_bytes(),
        _ => format!("{}\n", to_base64(psbt)).into_bytes(),
    }
}

/// Base64 text of a PSBT.
pub fn to_base64(psbt: &Psbt) -> String {
    bitcoin::base64::engine::general_purpose::STANDARD.encode(psbt.serialize())
}

/// Strips one known PSBT suffix and Coldcard's `-signed` / `-part` marks from a file stem.
fn base_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".psbt", ".txt", ".b64", ".base64"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
            break;
        }
    }
    for mark in ["-signed", "-part", "-final"] {
        if let Some(s) = stem.strip_suffix(mark) {
            stem = s;
            break;
        }
    }
    if stem.is_empty() {
        "psbt".into()
    } else {
        stem.to_string()
    }
}

/// Coldcard's name for the signed PSBT next to `input`: `<name>-signed.psbt`.
pub fn signed_name(input: &Path) -> PathBuf {
    input.with_file_name(format!("{}-signed.psbt", base_stem(input)))
}

/// Coldcard's name for the final transaction next to `input`: `<name>-final.txn`.
pub fn final_name(input: &Path) -> PathBuf {
    input.with_file_name(format!("{}-final.txn", base_stem(input)))
}

/// Writes `data` to a new file; fails (and writes nothing) when `path` already exists.
pub fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(data).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coldcard_names() {
        assert_eq!(
            signed_name(Path::new("/sd/sweep-1.psbt")),
            PathBuf::from("/sd/sweep-1-signed.psbt")
        );
        assert_eq!(
            signed_name(Path::new("/sd/sweep-1-part.psbt")),
            PathBuf::from("/sd/sweep-1-signed.psbt")
        );
        assert_eq!(
            final_name(Path::new("x/sweep-1-signed.psbt")),
            PathBuf::from("x/sweep-1-final.txn")
        );
    }

    #[test]
    fn refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.psbt");
        write_new(&p, b"one").unwrap();
        let e = write_new(&p, b"two").unwrap_err();
        assert!(e.to_string().contains("a.psbt"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
    }

    #[test]
    fn rejects_garbage_and_empty() {
        assert!(parse_any(b"").is_err());
        assert!(parse_any(b"cHNidP8=").is_err());
        assert!(parse_any(b"psbt\xff\x00").is_err());
    }
}
