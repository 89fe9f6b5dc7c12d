//! What a lab with `--data DIR` keeps on disk besides the kernel's own files, written so that a
//! lab killed at any moment (SIGKILL, power cut after the last write) restarts where it was.
//!
//! The kernel writes every block to its block files as it accepts it, but flushes its block
//! index and coins database only on a clean shutdown (libbitcoinkernel offers no flush call).
//! So after every change the lab records its tip (`chain-tip.json`) and its mempool
//! (`mempool.hex`), each by an atomic write (temp file, fsync, rename, fsync of the directory).
//! On start, a kernel whose tip is behind the recorded one is rebuilt from its block files
//! (Core's reindex), and the mempool is accepted again from its file.

use std::io::Write;
use std::path::{Path, PathBuf};

use bitcoin::consensus::encode::serialize;
use bitcoin::{BlockHash, Transaction};
use serde::{Deserialize, Serialize};

use crate::chain::ChainState;
use crate::Error;
use custos_core::file;

// `chain-tip.json` is read with `custos_core::file::LAB_STATE` (64 KiB; it holds a height and a
// hash), `mempool.hex` with `LAB_MEMPOOL` (64 MiB; the lab's mempool is far smaller).

/// The tip the lab had reached when it last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TipRecord {
    pub(crate) height: u32,
    pub(crate) hash: BlockHash,
}

fn tip_path(dir: &Path) -> PathBuf {
    dir.join("chain-tip.json")
}

fn mempool_path(dir: &Path) -> PathBuf {
    dir.join("mempool.hex")
}

/// Writes `bytes` to `path` so that the file holds either its old or its new content, never a
/// part: a temporary file beside it, fsync, rename, fsync of the directory. With `private`, the
/// file is created readable and writable by its owner only (mode 0600).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), Error> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        if private {
            use std::os::unix::fs::PermissionsExt;
            // A temp file left by an earlier run keeps its mode; set it again.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| Error::io(path, e))
}

/// Removes a file if it exists and makes the removal durable.
fn remove_durably(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Records the tip and the mempool of `st` under `dir`.
pub(crate) fn save(dir: &Path, st: &ChainState) -> Result<(), Error> {
    let rec = TipRecord {
        height: st.index.tip_height(),
        hash: st.kernel.tip_hash(),
    };
    let text = serde_json::to_string(&rec).map_err(|e| Error::data_syntax(tip_path(dir), e))?;
    write_atomic(&tip_path(dir), text.as_bytes(), false)?;
    let lines: Vec<String> = st
        .mempool
        .iter()
        .map(|(_, e)| hex::encode(serialize(&*e.tx)))
        .collect();
    if lines.is_empty() {
        remove_durably(&mempool_path(dir))
    } else {
        write_atomic(&mempool_path(dir), lines.join("\n").as_bytes(), false)
    }
}

/// The recorded tip, if the lab ever recorded one.
pub(crate) fn load_tip(dir: &Path) -> Result<Option<TipRecord>, Error> {
    let p = tip_path(dir);
    let Some(text) = file::read_text_if_exists(&p, file::LAB_STATE)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::data_syntax(p, e))
}

/// Accepts the saved mempool again (in its saved order, parents first). A transaction the
/// chain no longer accepts is logged and left out.
pub(crate) fn restore_mempool(dir: &Path, st: &mut ChainState) -> Result<(), Error> {
    let p = mempool_path(dir);
    let Some(text) = file::read_text_if_exists(&p, file::LAB_MEMPOOL)? else {
        return Ok(());
    };
    for (n, line) in text.lines().enumerate() {
        let tx = hex::decode(line.trim())
            .ok()
            .and_then(|raw| bitcoin::consensus::deserialize::<Transaction>(&raw).ok());
        let Some(tx) = tx else {
            tracing::warn!("{} line {}: not a transaction, skipped", p.display(), n + 1);
            continue;
        };
        let txid = tx.compute_txid();
        if let Err(r) = st.mempool.accept(tx, &st.index) {
            tracing::warn!("saved mempool transaction {txid} no longer accepted: {r}");
        }
    }
    Ok(())
}
