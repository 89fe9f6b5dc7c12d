//! Reading files from outside with a size limit, and writing outputs without overwriting.
//!
//! The one place in `custos-core` that touches the file system, shared by the binaries so that
//! every file they read is bounded the same way (issue 10 item 4): the limit is checked on the
//! metadata *and* while reading, so a FIFO or `/dev/zero` stops at the limit instead of filling
//! memory, and the buffer grows with the data that arrives (it never reserves the limit). A missing path, a directory and an unreadable file are told apart
//! and named (item 5). Outputs are created with `create_new`, never over an existing file, and a
//! set of outputs is written all or none.

use std::{
    fs::OpenOptions,
    io::{ErrorKind, Read, Write},
    path::{Path, PathBuf},
};

use zeroize::Zeroize;

use crate::exit::{Classify, ExitClass};
use crate::secret::{Secret, SecretString};

/// A kind of input file and the most bytes custos reads of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is ("psbt", "material file"), for messages.
    pub kind: &'static str,
    /// Largest accepted size in bytes.
    pub bytes: u64,
}

/// The first character of a JSON object (named: sniffing a file's kind looks for it).
const JSON_OBJECT_START: char = '{';

/// Whether `text`, after leading whitespace, starts like a JSON object: the first look at an
/// input file before it is parsed as one of the JSON formats (wallet files, keystores,
/// policies, quotes). Says nothing about whether it parses.
pub fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with(JSON_OBJECT_START)
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// A PSBT (binary, base64, hex, or a file of BC-UR / BBQr parts). Every non-taproot input carries
/// its whole previous transaction (`non_witness_utxo`), so a sweep of a thousand coins paid by
/// large batch transactions (the lab's `ransomware`) passes 32 MiB; 512 MiB still bounds the
/// signer's memory on a small air-gapped laptop.
pub const PSBT: Limit = Limit {
    kind: "psbt",
    bytes: 512 * MIB,
};
/// A raw transaction (hex or binary): a block's weight limit in hex is 8 MB.
pub const TRANSACTION: Limit = Limit {
    kind: "transaction",
    bytes: 8 * MIB,
};
/// Seized material (a mnemonic, xprv, descriptor, a WIF or address list).
pub const MATERIAL: Limit = Limit {
    kind: "material file",
    bytes: MIB,
};
/// A passphrase file.
pub const PASSPHRASE: Limit = Limit {
    kind: "passphrase file",
    bytes: 64 * KIB,
};
/// A custody policy, a descriptor file or a BSMS record.
pub const POLICY: Limit = Limit {
    kind: "policy",
    bytes: MIB,
};
/// A keyholder's key record (JSON or BSMS round 1) or a dice-roll file.
pub const KEY_RECORD: Limit = Limit {
    kind: "key record",
    bytes: 256 * KIB,
};
/// A ceremony transcript (JSON lines).
pub const TRANSCRIPT: Limit = Limit {
    kind: "transcript",
    bytes: 16 * MIB,
};
/// A watch-only file written by the signer.
pub const WATCH_ONLY: Limit = Limit {
    kind: "watch-only file",
    bytes: 16 * MIB,
};
/// An inventory written by `custos inspect`. Every UTXO carries its whole previous transaction
/// (for `non_witness_utxo`), so a wallet of a few thousand coins paid by large batch transactions
/// (the lab's `ransomware`) passes 64 MiB; 1 GiB bounds memory on the online workstation.
pub const INVENTORY: Limit = Limit {
    kind: "inventory",
    bytes: 1024 * MIB,
};
/// A disposal order (JSON with its signatures), or an authority's key file.
pub const ORDER: Limit = Limit {
    kind: "disposal order",
    bytes: 64 * KIB,
};
/// The signer's journal of used disposal orders (one line per order).
pub const JOURNAL: Limit = Limit {
    kind: "used-orders journal",
    bytes: 16 * MIB,
};
/// A label file (TagPack YAML, CSV).
pub const LABELS: Limit = Limit {
    kind: "label file",
    bytes: 64 * MIB,
};

/// A lab scenario (`scenario.toml`): the largest in fixtures/lab is 13 KB; generated background
/// activity is described by a few parameters, not listed.
pub const SCENARIO: Limit = Limit {
    kind: "scenario file",
    bytes: 4 * MIB,
};
/// A file a lab scenario names (a seed, WIF list, xpub or passphrase file, the handout).
pub const SCENARIO_FILE: Limit = Limit {
    kind: "scenario material file",
    bytes: MIB,
};
/// A lab's ground truth (TOML): tracing-large's is 1.2 MB.
pub const GROUND_TRUTH: Limit = Limit {
    kind: "ground-truth file",
    bytes: 64 * MIB,
};
/// A small lab state file (the control file, the recorded tip, `lab-state.json`).
pub const LAB_STATE: Limit = Limit {
    kind: "lab state file",
    bytes: 64 * KIB,
};
/// The lab's saved mempool (hex transactions, one a line).
pub const LAB_MEMPOOL: Limit = Limit {
    kind: "lab mempool file",
    bytes: 64 * MIB,
};

/// Every limit above, for documentation and tests.
pub const ALL: &[Limit] = &[
    PSBT,
    TRANSACTION,
    MATERIAL,
    PASSPHRASE,
    POLICY,
    KEY_RECORD,
    TRANSCRIPT,
    WATCH_ONLY,
    INVENTORY,
    LABELS,
    SCENARIO,
    SCENARIO_FILE,
    GROUND_TRUTH,
    LAB_STATE,
    LAB_MEMPOOL,
];

/// What went wrong with a file. Messages name the path; they never carry the content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Nothing at the path.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("{}: is a directory, not a file", path.display())]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The file exists but may not be read (or written).
    #[error("{}: permission denied", path.display())]
    PermissionDenied {
        /// The path given.
        path: PathBuf,
    },
    /// The file is larger than its kind allows.
    #[error("{}: {kind} larger than the {limit}-byte limit", path.display())]
    TooLarge {
        /// The path given ("-" for stdin).
        path: PathBuf,
        /// Kind of file.
        kind: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file should be text but is not UTF-8.
    #[error("{}: {kind} is not utf-8 text", path.display())]
    NotText {
        /// The path given.
        path: PathBuf,
        /// Kind of file.
        kind: &'static str,
    },
    /// An output already exists.
    #[error("{}: already exists; not overwriting it", path.display())]
    Exists {
        /// The output path.
        path: PathBuf,
    },
    /// Reading failed for another reason (the disk, the device).
    #[error("cannot read {}", path.display())]
    Read {
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing failed (full disk, missing directory).
    #[error("cannot write {}", path.display())]
    Write {
        /// The output path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for FileError {
    /// The user chose the path: missing, directory, unreadable, too large, not text and
    /// already existing are input errors; a device failing under a good path is the environment.
    fn exit_class(&self) -> ExitClass {
        match self {
            FileError::Read { .. } | FileError::Write { .. } => ExitClass::Environment,
            _ => ExitClass::Input,
        }
    }
}

fn open_error(path: &Path, e: std::io::Error, write: bool) -> FileError {
    let path = path.to_path_buf();
    match e.kind() {
        ErrorKind::NotFound if !write => FileError::NotFound { path },
        ErrorKind::PermissionDenied => FileError::PermissionDenied { path },
        ErrorKind::IsADirectory => FileError::IsDirectory { path },
        ErrorKind::AlreadyExists => FileError::Exists { path },
        _ if write => FileError::Write { path, source: e },
        _ => FileError::Read { path, source: e },
    }
}

/// The first allocation of a read whose size is not known in advance (a pipe, a device, stdin),
/// and the least a buffer grows by.
const FIRST_CHUNK: usize = 8 * 1024;

/// Reads `r` to its end into `buf`, which holds at most `limit.bytes` bytes: one byte more is
/// [`FileError::TooLarge`].
///
/// The buffer grows as data arrives, starting from `expected` (a regular file's size) or
/// [`FIRST_CHUNK`], doubling but never beyond the limit, so a pipe that sends 100 bytes costs
/// 8 KiB whatever the limit, and `/dev/zero` is refused with a buffer of at most the limit (not
/// the next power of two above it). Every buffer it leaves behind (outgrown, or the content
/// of a refused file) is zeroized first: the content may be secret material. On error `buf` is
/// zeroized and empty.
fn read_limited_into(
    mut r: impl Read,
    path: &Path,
    limit: Limit,
    expected: Option<u64>,
    buf: &mut Vec<u8>,
) -> Result<(), FileError> {
    let cap_max = usize::try_from(limit.bytes).unwrap_or(usize::MAX);
    let first = expected
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(FIRST_CHUNK)
        .min(cap_max);
    if buf.capacity() < first {
        grow_to(buf, first);
    }
    let fail = |buf: &mut Vec<u8>, e: FileError| {
        buf.zeroize();
        Err(e)
    };
    loop {
        if buf.len() == buf.capacity() {
            // Full: is there more? A one-byte probe avoids doubling a buffer that fits exactly.
            let mut probe = [0u8; 1];
            let n = match read_retrying(&mut r, &mut probe) {
                Ok(n) => n,
                Err(e) => return fail(buf, open_error(path, e, false)),
            };
            if n == 0 {
                return Ok(());
            }
            if buf.len() >= cap_max {
                probe.zeroize();
                return fail(
                    buf,
                    FileError::TooLarge {
                        path: path.to_path_buf(),
                        kind: limit.kind,
                        limit: limit.bytes,
                    },
                );
            }
            let want = buf
                .len()
                .saturating_mul(2)
                .max(buf.len().saturating_add(FIRST_CHUNK))
                .min(cap_max);
            grow_to(buf, want);
            buf.push(probe[0]);
            probe.zeroize();
            continue;
        }
        let len = buf.len();
        buf.resize(buf.capacity(), 0);
        match read_retrying(&mut r, &mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                return Ok(());
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) => return fail(buf, open_error(path, e, false)),
        }
    }
}

/// One `read`, retried when a signal interrupted it.
fn read_retrying(r: &mut impl Read, into: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(into) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Moves `buf` into a new allocation of exactly `capacity` bytes, zeroizing the old one (a
/// plain `reserve` would free it with the content still in it).
fn grow_to(buf: &mut Vec<u8>, capacity: usize) {
    let mut bigger = Vec::with_capacity(capacity);
    bigger.extend_from_slice(buf);
    buf.zeroize();
    *buf = bigger;
}

/// Reads `r` to its end, at most `limit.bytes` bytes (see [`read_limited_into`]).
fn read_limited(
    r: impl Read,
    path: &Path,
    limit: Limit,
    expected: Option<u64>,
) -> Result<Vec<u8>, FileError> {
    let mut buf = Vec::new();
    read_limited_into(r, path, limit, expected, &mut buf)?;
    Ok(buf)
}

/// Opens `path` for a bounded read: a missing path, a directory and a regular file over the
/// limit are refused before reading. Returns the file and its size when it is a regular file.
fn open_bounded(path: &Path, limit: Limit) -> Result<(std::fs::File, Option<u64>), FileError> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, e, false))?;
    if meta.is_dir() {
        return Err(FileError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.is_file() && meta.len() > limit.bytes {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            kind: limit.kind,
            limit: limit.bytes,
        });
    }
    let f = std::fs::File::open(path).map_err(|e| open_error(path, e, false))?;
    Ok((f, meta.is_file().then_some(meta.len())))
}

/// Reads a whole file of at most `limit.bytes` bytes. A regular file over the limit is refused
/// from its metadata; a pipe or device is read as its data arrives and refused at the limit.
pub fn read_bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, FileError> {
    let (f, size) = open_bounded(path, limit)?;
    read_limited(f, path, limit, size)
}

/// Reads a whole file, or stdin when `path` is `-`.
pub fn read_bytes_or_stdin(path: &Path, limit: Limit) -> Result<Vec<u8>, FileError> {
    if path == Path::new("-") {
        read_limited(std::io::stdin().lock(), path, limit, None)
    } else {
        read_bytes(path, limit)
    }
}

fn into_text(buf: Vec<u8>, path: &Path, limit: Limit) -> Result<String, FileError> {
    String::from_utf8(buf).map_err(|e| {
        e.into_bytes().zeroize();
        FileError::NotText {
            path: path.to_path_buf(),
            kind: limit.kind,
        }
    })
}

/// Reads a UTF-8 text file of at most `limit.bytes` bytes.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, FileError> {
    into_text(read_bytes(path, limit)?, path, limit)
}

/// Reads a UTF-8 text file, or stdin when `path` is `-`.
pub fn read_text_or_stdin(path: &Path, limit: Limit) -> Result<String, FileError> {
    into_text(read_bytes_or_stdin(path, limit)?, path, limit)
}

/// [`read_text`], or `None` when nothing is at `path` (state files that may not exist yet).
pub fn read_text_if_exists(path: &Path, limit: Limit) -> Result<Option<String>, FileError> {
    match read_text(path, limit) {
        Ok(t) => Ok(Some(t)),
        Err(FileError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a secret text file (or stdin for `-`) straight into a [`Secret`]; every buffer that
/// held the content is zeroized, also on error.
pub fn read_secret_or_stdin(path: &Path, limit: Limit) -> Result<SecretString, FileError> {
    read_text_or_stdin(path, limit).map(Secret::new)
}

/// Writes `bytes` to a new file; fails with [`FileError::Exists`] when `path` exists. A write
/// that fails part-way removes the partial file.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_new_with(path, bytes, &OpenOptions::new())
}

/// [`write_new`] with caller-chosen open options (e.g. Unix mode 0600); `write`, `create_new`
/// are set here.
pub fn write_new_with(path: &Path, bytes: &[u8], opts: &OpenOptions) -> Result<(), FileError> {
    let mut opts = opts.clone();
    opts.write(true).create_new(true);
    let mut f = opts.open(path).map_err(|e| open_error(path, e, true))?;
    if let Err(source) = f.write_all(bytes).and_then(|()| f.sync_all()) {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(FileError::Write {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// Writes every file or none: checks that no output exists, then creates each with
/// [`write_new`]; when one fails, the ones already written are removed.
pub fn write_all_new(files: &[(PathBuf, Vec<u8>)]) -> Result<(), FileError> {
    if let Some((p, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(FileError::Exists { path: p.clone() });
    }
    for (i, (p, data)) in files.iter().enumerate() {
        if let Err(e) = write_new(p, data) {
            for (done, _) in &files[..i] {
                let _ = std::fs::remove_file(done);
            }
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_object_is_recognised_after_leading_whitespace_and_nothing_else_is() {
        assert!(is_json_object("{\"a\":1}"));
        assert!(is_json_object(" \n\t{ }"));
        assert!(!is_json_object("[1]"));
        assert!(!is_json_object("abandon abandon"));
        assert!(!is_json_object(""));
    }

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("custos-core-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn dev_zero_stops_at_the_limit() {
        let e = read_bytes(Path::new("/dev/zero"), KEY_RECORD).expect_err("unbounded");
        assert!(matches!(e, FileError::TooLarge { limit, .. } if limit == KEY_RECORD.bytes));
        assert!(e.to_string().contains("/dev/zero"), "{e}");
        assert_eq!(e.exit_class(), ExitClass::Input);
    }

    #[test]
    fn dev_zero_is_refused_with_a_buffer_no_larger_than_the_limit() {
        // 100,000 is no power of two: doubling growth (read_to_end) would reach 131,072 bytes.
        let limit = Limit {
            kind: "test",
            bytes: 100_000,
        };
        let f = std::fs::File::open("/dev/zero").expect("/dev/zero");
        let mut buf = Vec::new();
        let e = read_limited_into(f, Path::new("/dev/zero"), limit, None, &mut buf)
            .expect_err("unbounded");
        assert!(matches!(e, FileError::TooLarge { .. }), "{e}");
        assert!(
            buf.capacity() <= 100_000,
            "buffer grew to {} bytes for a 100000-byte limit",
            buf.capacity()
        );
        assert!(buf.is_empty(), "the refused content was kept");
    }

    fn fifo(dir: &Path) -> PathBuf {
        let p = dir.join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .expect("mkfifo runs")
            .success();
        assert!(ok, "mkfifo failed");
        p
    }

    #[test]
    fn fifo_buffer_grows_with_the_data_not_with_the_limit() {
        let d = tmp("fifo-small");
        let p = fifo(&d);
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || std::fs::write(p, b"tb1q seized words"))
        };
        let (f, size) = open_bounded(&p, INVENTORY).expect("open fifo");
        assert_eq!(size, None, "a fifo has no size to trust");
        let mut buf = Vec::new();
        read_limited_into(f, &p, INVENTORY, size, &mut buf).expect("read fifo");
        writer.join().expect("writer thread").expect("write fifo");
        assert_eq!(buf, b"tb1q seized words");
        assert!(
            buf.capacity() <= 64 * 1024,
            "17 bytes from a pipe took a {}-byte buffer (limit {})",
            buf.capacity(),
            INVENTORY.bytes
        );
    }

    #[test]
    fn endless_fifo_is_refused_at_the_limit_naming_the_file() {
        let d = tmp("fifo-endless");
        let p = fifo(&d);
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut w = std::fs::OpenOptions::new().write(true).open(p)?;
                let chunk = [7u8; 4096];
                loop {
                    // Ends with a broken pipe once the reader gives up.
                    w.write_all(&chunk)?;
                }
            })
        };
        let e = read_bytes(&p, KEY_RECORD).expect_err("unbounded fifo");
        drop(writer.join().expect("writer thread"));
        assert!(matches!(e, FileError::TooLarge { limit, .. } if limit == KEY_RECORD.bytes));
        assert!(e.to_string().contains("fifo"), "{e}");
    }

    #[test]
    fn regular_file_exactly_at_the_limit_is_read_whole() {
        let d = tmp("exact");
        let p = d.join("exact");
        std::fs::write(&p, vec![b'x'; 5000]).expect("write");
        let limit = Limit {
            kind: "test",
            bytes: 5000,
        };
        let got = read_bytes(&p, limit).expect("at the limit");
        assert_eq!(got.len(), 5000);
        assert_eq!(
            got.capacity(),
            5000,
            "a regular file is read into its own size"
        );
    }

    #[test]
    fn stream_longer_than_the_first_chunk_is_read_whole() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let got = read_limited(&data[..], Path::new("-"), KEY_RECORD, None).expect("fits");
        assert_eq!(got, data);
    }

    #[test]
    fn missing_state_file_reads_as_none() {
        let d = tmp("optional");
        assert_eq!(
            read_text_if_exists(&d.join("nope"), LAB_STATE).expect("missing is fine"),
            None
        );
        assert!(
            read_text_if_exists(&d, LAB_STATE).is_err(),
            "a directory is not missing"
        );
    }

    #[test]
    fn oversized_regular_file_is_refused_before_reading() {
        let d = tmp("big");
        let p = d.join("big.psbt");
        std::fs::write(&p, vec![b'a'; 2000]).expect("write");
        let small = Limit {
            kind: "psbt",
            bytes: 1999,
        };
        let e = read_bytes(&p, small).expect_err("too large");
        assert!(
            e.to_string()
                .contains("psbt larger than the 1999-byte limit"),
            "{e}"
        );
        assert_eq!(read_bytes(&p, PSBT).expect("fits").len(), 2000);
    }

    #[test]
    fn missing_path_and_directory_are_told_apart() {
        let d = tmp("kinds");
        let missing = d.join("nope");
        let e = read_text(&missing, POLICY).expect_err("missing");
        assert!(matches!(e, FileError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("no such file"), "{e}");
        let e = read_text(&d, POLICY).expect_err("directory");
        assert!(e.to_string().contains("is a directory"), "{e}");
    }

    #[test]
    fn write_new_never_overwrites() {
        let d = tmp("new");
        let p = d.join("out");
        write_new(&p, b"first").expect("first write");
        let e = write_new(&p, b"second").expect_err("overwrote");
        assert!(matches!(e, FileError::Exists { .. }));
        assert_eq!(std::fs::read(&p).expect("read"), b"first");
    }

    #[test]
    fn write_all_new_writes_nothing_when_one_output_exists() {
        let d = tmp("all");
        let a = d.join("a");
        let b = d.join("b");
        std::fs::write(&b, b"old").expect("write");
        let e = write_all_new(&[(a.clone(), b"1".to_vec()), (b.clone(), b"2".to_vec())]);
        assert!(e.is_err());
        assert!(!a.exists(), "a partial set of outputs was written");
        assert_eq!(std::fs::read(&b).expect("read"), b"old");
    }

    #[test]
    fn write_all_new_removes_written_files_when_a_later_one_fails() {
        let d = tmp("rollback");
        let a = d.join("a");
        let bad = d.join("missing-dir").join("b");
        let e = write_all_new(&[(a.clone(), b"1".to_vec()), (bad, b"2".to_vec())]);
        assert!(e.is_err());
        assert!(!a.exists(), "the first output stayed behind");
    }
}
