//! The Bitcoin Core kernel behind the lab: block validation and per-input script checks.
//!
//! `process_block` reports a block as new even when it was stored but failed to connect, so
//! validity is judged by the active tip after processing; the reason comes from the
//! block-checked validation callback and from the kernel's log lines captured while the block
//! was processed.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Transaction, TxOut};
use bitcoinkernel::prelude::*;
use bitcoinkernel::{
    BlockValidationStateRef, ChainType, ChainstateManager, Context, ContextBuilder, Log, Logger,
    ValidationMode,
};

use crate::Error;

/// Kernel log lines captured while a block is processed.
static CAPTURE: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Serializes block processing across every lab in the process, so captured lines belong to
/// the block being processed.
static PROCESS: Mutex<()> = Mutex::new(());
static LOGGER: OnceLock<()> = OnceLock::new();

struct CaptureLog;

impl Log for CaptureLog {
    fn log(&self, message: &str) {
        let line = message.trim_end().to_string();
        tracing::trace!(target: "custos_lab::kernel", "{line}");
        if let Ok(mut c) = CAPTURE.lock() {
            if c.len() < 4096 {
                c.push(line);
            }
        }
    }
}

fn init_logger() {
    LOGGER.get_or_init(|| {
        bitcoinkernel::log::logging::set_logging_options(
            bitcoinkernel::log::logging::LoggingOptions {
                log_timestamps: false,
                log_time_micros: false,
                log_threadnames: false,
                log_sourcelocations: false,
                always_print_category_levels: false,
            },
        );
        match Logger::new(CaptureLog) {
            // The connection must live as long as the process: the kernel logs globally.
            Ok(l) => std::mem::forget(l),
            Err(e) => tracing::warn!("kernel logger unavailable: {e}"),
        }
    });
}

type Checked = Arc<Mutex<Option<(BlockHash, String)>>>;

/// A kernel chainstate on disk.
pub(crate) struct Kernel {
    // Field order matters: the chainstate manager is dropped before its context.
    chainman: ChainstateManager,
    _context: Arc<Context>,
    checked: Checked,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").finish_non_exhaustive()
    }
}

impl Kernel {
    /// Opens (or creates) a regtest chainstate under `dir`. With `reindex`, the block index
    /// and the coins database are wiped and rebuilt from the block files (Core's `-reindex`):
    /// the way back after the lab was killed before the kernel flushed them.
    pub(crate) fn open(dir: &Path, reindex: bool) -> Result<Kernel, Error> {
        init_logger();
        let checked: Checked = Arc::new(Mutex::new(None));
        let c2 = checked.clone();
        let context = ContextBuilder::new()
            .chain_type(ChainType::Regtest)
            .with_block_checked_validation(
                move |block: bitcoinkernel::Block, state: BlockValidationStateRef<'_>| {
                    if state.mode() != ValidationMode::Valid {
                        let hash = BlockHash::from_byte_array(block.hash().to_bytes());
                        if let Ok(mut c) = c2.lock() {
                            *c = Some((hash, format!("{:?}", state.result())));
                        }
                    }
                },
            )
            .build()
            .map_err(Error::kernel("creating the kernel context"))?;
        let context = Arc::new(context);
        let data = dir.join("kernel");
        let blocks = data.join("blocks");
        std::fs::create_dir_all(&blocks).map_err(|e| Error::io(&blocks, e))?;
        let s = |p: &Path| {
            p.to_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Kernel(format!("path {} is not utf-8", p.display())))
        };
        let mut builder = ChainstateManager::builder(&context, &s(&data)?, &s(&blocks)?)
            .map_err(Error::kernel("configuring the chainstate manager"))?;
        if reindex {
            builder = builder
                .wipe_db(true, true)
                .map_err(Error::kernel("wiping the block index for a reindex"))?;
        }
        let chainman = builder
            .build()
            .map_err(Error::kernel("opening the chainstate"))?;
        if reindex {
            chainman
                .import_blocks()
                .map_err(Error::kernel("reindexing the block files"))?;
        }
        Ok(Kernel {
            chainman,
            _context: context,
            checked,
        })
    }

    /// Height of the active tip.
    pub(crate) fn tip_height(&self) -> u32 {
        u32::try_from(self.chainman.active_chain().height())
            .expect("the chainstate always holds at least the genesis block (height 0)")
    }

    /// Hash of the active tip.
    pub(crate) fn tip_hash(&self) -> BlockHash {
        let tip = self.chainman.active_chain().tip();
        BlockHash::from_byte_array(tip.block_hash().to_bytes())
    }

    /// Reads the active chain's block at `height`.
    pub(crate) fn block_at(&self, height: u32) -> Result<Block, Error> {
        let chain = self.chainman.active_chain();
        let h = usize::try_from(height).map_err(|e| Error::Kernel(e.to_string()))?;
        let entry = chain
            .at_height(h)
            .ok_or_else(|| Error::Kernel(format!("no block at height {height}")))?;
        let block = self
            .chainman
            .read_block_data(&entry)
            .map_err(Error::kernel(format!(
                "reading the block at height {height}"
            )))?;
        let raw = block.consensus_encode().map_err(Error::kernel(format!(
            "encoding the block at height {height}"
        )))?;
        bitcoin::consensus::deserialize(&raw)
            .map_err(|e| Error::Kernel(format!("block at height {height}: {e}")))
    }

    /// Hands a block to the kernel. Ok when it became the active tip, otherwise the reason.
    pub(crate) fn process_block(&self, block: &Block) -> Result<(), Error> {
        let hash = block.block_hash();
        let raw = serialize(block);
        let kblock = bitcoinkernel::Block::new(&raw).map_err(|e| Error::BlockRejected {
            hash,
            reason: format!("undecodable block: {e}"),
        })?;
        let _guard = PROCESS
            .lock()
            .map_err(|_| Error::Kernel("lock poisoned".into()))?;
        if let Ok(mut c) = CAPTURE.lock() {
            c.clear();
        }
        if let Ok(mut c) = self.checked.lock() {
            *c = None;
        }
        let result = self.chainman.process_block(&kblock);
        if self.tip_hash() == hash {
            return Ok(());
        }
        // The capture is only log lines: a writer that panicked leaves them readable.
        let lines = CAPTURE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let checked = self.checked.lock().ok().and_then(|c| c.clone());
        let reason = reason_from(&lines, checked.filter(|(h, _)| *h == hash).map(|(_, r)| r))
            .unwrap_or_else(|| {
                if result.is_duplicate() {
                    "duplicate".to_string()
                } else {
                    "block did not become the active tip".to_string()
                }
            });
        Err(Error::BlockRejected { hash, reason })
    }
}

/// Picks Core's reason string out of the captured log lines.
fn reason_from(lines: &[String], result: Option<String>) -> Option<String> {
    const MARKERS: [&str; 8] = [
        "ConnectBlock",
        "AcceptBlock",
        "CheckBlock",
        "ProcessNewBlock",
        "InvalidChainFound",
        "bad-",
        "verify-flag-failed",
        "high-hash",
    ];
    let hit = lines
        .iter()
        .find(|l| {
            l.contains("bad-")
                || l.contains("verify-flag-failed")
                || l.contains("high-hash")
                || l.contains("time-too")
        })
        .or_else(|| lines.iter().find(|l| MARKERS.iter().any(|m| l.contains(m))));
    match (hit, result) {
        (Some(l), Some(r)) => Some(format!("{l} [{r}]")),
        (Some(l), None) => Some(l.clone()),
        (None, Some(r)) => Some(format!("validation result {r}")),
        (None, None) => None,
    }
}

/// Script check of every input with Core's interpreter (all consensus flags, taproot included).
/// `spent[i]` is the output input `i` spends.
pub(crate) fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), (usize, String)> {
    let raw = serialize(tx);
    let ktx = bitcoinkernel::Transaction::new(&raw).map_err(|e| (0, e.to_string()))?;
    let mut outs = Vec::with_capacity(spent.len());
    for o in spent {
        let spk = bitcoinkernel::ScriptPubkey::new(o.script_pubkey.as_bytes())
            .map_err(|e| (0, e.to_string()))?;
        let value = i64::try_from(o.value.to_sat()).map_err(|e| (0, e.to_string()))?;
        outs.push(bitcoinkernel::TxOut::new(&spk, value));
    }
    let pre = bitcoinkernel::PrecomputedTransactionData::new(&ktx, &outs)
        .map_err(|e| (0, e.to_string()))?;
    for (i, o) in spent.iter().enumerate() {
        let spk = bitcoinkernel::ScriptPubkey::new(o.script_pubkey.as_bytes())
            .map_err(|e| (i, e.to_string()))?;
        let value = i64::try_from(o.value.to_sat()).map_err(|e| (i, e.to_string()))?;
        bitcoinkernel::verify(&spk, Some(value), &ktx, i, None, &pre)
            .map_err(|e| (i, e.to_string()))?;
    }
    Ok(())
}
