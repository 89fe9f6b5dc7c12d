//! `index export`: block files → Parquet tables, in height partitions, resumable.
//!
//! Phases: [`BlockFiles::scan`] (headers only) → [`open_out`] (a fresh directory or this same
//! export to resume) → [`replay`] of the blocks below the first missing partition into the
//! UTXO map (no rows written) → [`write_partition`] for each remaining height range → totals.

use std::path::{Path, PathBuf};

use bitcoin::{Block, OutPoint, Transaction};
use custos_core::Network;

use crate::blocks::{BlockFiles, Truncation};
use crate::manifest::{self, Manifest, Partition, TableFile, Totals, TruncationNote};
use crate::tables::{script_type, script_type_name, TableWriter, Val, TABLES};
use crate::utxo::{Coin, UtxoMap};
use crate::Error;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Bitcoin Core's `blocks/` directory (or the lab's data directory's `blocks/`).
    pub blocks_dir: PathBuf,
    /// The output directory (new, or an unfinished export of the same chain to resume).
    pub out: PathBuf,
    /// Network the files must belong to.
    pub network: Network,
    /// First height to write.
    pub from: u32,
    /// Last height to write (default: the tip).
    pub to: Option<u32>,
    /// Blocks per partition file.
    pub partition_blocks: u32,
    /// Memory for the UTXO map before it spills to disk, bytes.
    pub utxo_mem_bytes: usize,
}

impl ExportOptions {
    /// Defaults: the whole chain, 10,000 blocks per partition, 1 GiB of UTXO map.
    pub fn new(blocks_dir: PathBuf, out: PathBuf, network: Network) -> ExportOptions {
        ExportOptions {
            blocks_dir,
            out,
            network,
            from: 0,
            to: None,
            partition_blocks: 10_000,
            utxo_mem_bytes: 1 << 30,
        }
    }
}

/// Where the export is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The block just done.
    pub height: u32,
    /// The last block to do.
    pub to: u32,
    /// Whether it was only replayed into the UTXO map (below the resume point).
    pub replay: bool,
    /// Rows written so far in this run.
    pub rows: u64,
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The manifest as written.
    pub manifest: Manifest,
    /// Where it was written.
    pub manifest_path: PathBuf,
    /// Partitions written by this run (the others were already there).
    pub written_partitions: usize,
    /// Rows written by this run.
    pub rows_written: u64,
    /// A partial block that ended the readable data: everything before it was exported.
    pub truncation: Option<Truncation>,
    /// Peak number of spill runs of the UTXO map.
    pub spill_runs: usize,
}

impl ExportReport {
    /// The truncation as an error (exit 2), for callers that must fail after exporting.
    pub fn truncation_error(&self) -> Option<Error> {
        self.truncation.as_ref().map(|t| Error::Truncated {
            file: t.file.clone(),
            offset: t.offset,
            declared: t.declared,
            available: t.available,
        })
    }
}

/// Runs the export; `progress` is called after every block.
pub fn export(
    opts: &ExportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ExportReport, Error> {
    let files = BlockFiles::scan(&opts.blocks_dir, opts.network)?;
    let tip = files.tip_height();
    let to = opts.to.unwrap_or(tip);
    if opts.from > to || to > tip || opts.partition_blocks == 0 {
        return Err(Error::BadRange {
            from: opts.from,
            to,
            tip,
        });
    }
    let mut m = open_out(opts, &files)?;
    if let Some(done) = m
        .partitions
        .last()
        .map(|p| p.last)
        .filter(|&done| done >= to)
    {
        // Already exported through `done` ≥ `to`: nothing to write, and the manifest (its
        // totals and unspent set are those at `done`) stays exactly as it is.
        tracing::info!(target: "custos::index", done, to, "already exported; nothing written");
        let manifest_path = opts.out.join(manifest::FILE);
        return Ok(ExportReport {
            manifest: m,
            manifest_path,
            written_partitions: 0,
            rows_written: 0,
            truncation: files.truncation.clone(),
            spill_runs: 0,
        });
    }
    m.tip_height = tip;
    m.tip_hash = files.chain[tip as usize].0.to_string();
    m.stale_blocks = files.stale;
    m.truncation = files.truncation.as_ref().map(|t| TruncationNote {
        file: t.file.display().to_string(),
        offset: t.offset,
    });
    let resume = m.partitions.last().map_or(opts.from, |p| p.last + 1);
    let spill = opts.out.join(format!(".utxo-spill-{}", std::process::id()));
    let mut utxo = UtxoMap::new(opts.utxo_mem_bytes, spill.clone());
    let result = run(opts, &files, &mut m, &mut utxo, resume, to, progress);
    let stats = result.and_then(|done| utxo.stats().map(|s| (done, s)));
    drop(utxo);
    let _ = std::fs::remove_dir_all(&spill);
    let ((written_partitions, rows_written), stats) = stats?;
    m.totals = totals(&m, stats.count, stats.value);
    let manifest_path = m.write(&opts.out)?;
    Ok(ExportReport {
        manifest: m,
        manifest_path,
        written_partitions,
        rows_written,
        truncation: files.truncation.clone(),
        spill_runs: stats.runs,
    })
}

/// Replays below `resume`, then writes the partitions from `resume` to `to`.
fn run(
    opts: &ExportOptions,
    files: &BlockFiles,
    m: &mut Manifest,
    utxo: &mut UtxoMap,
    resume: u32,
    to: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<(usize, u64), Error> {
    let done_to = resume.min(to.saturating_add(1));
    replay(files, utxo, done_to, to, progress)?;
    let (mut written, mut rows) = (0usize, 0u64);
    let mut first = resume;
    while first <= to {
        let last = first.saturating_add(opts.partition_blocks - 1).min(to);
        let p = write_partition(opts, files, utxo, first, last, rows, to, progress)?;
        rows += p.tables.iter().map(|t| t.rows).sum::<u64>();
        m.to = last;
        m.to_hash = p.last_hash.clone();
        m.partitions.push(p);
        m.write(&opts.out)?;
        written += 1;
        first = last + 1;
    }
    Ok((written, rows))
}

fn totals(m: &Manifest, unspent_count: u64, unspent_value: u64) -> Totals {
    let mut t = Totals {
        unspent_count,
        unspent_value,
        ..Totals::default()
    };
    for p in &m.partitions {
        let rows = |n: usize| p.tables.get(n).map_or(0, |t| t.rows);
        t.blocks += rows(0);
        t.transactions += rows(1);
        t.outputs += rows(2);
        t.inputs += rows(3);
        t.output_value += p.output_value;
        t.input_value += p.input_value;
    }
    t
}

/// A fresh manifest for an empty or new `out`, or the existing one when it is this same export
/// (same network, genesis, first height and partition size, and its last partition still on
/// the chain). Anything else is refused without touching the directory.
fn open_out(opts: &ExportOptions, files: &BlockFiles) -> Result<Manifest, Error> {
    let genesis = files.chain[0].0.to_string();
    let refuse = |reason: String| Error::OutDirInUse {
        dir: opts.out.clone(),
        reason,
    };
    if let Some(m) = Manifest::read(&opts.out)? {
        if m.network != opts.network.to_string() || m.genesis != genesis {
            return Err(refuse(format!(
                "holds an export of network {} (genesis {})",
                m.network, m.genesis
            )));
        }
        if m.from != opts.from || m.partition_blocks != opts.partition_blocks {
            return Err(refuse(format!(
                "holds an export from height {} in partitions of {} blocks",
                m.from, m.partition_blocks
            )));
        }
        if let Some(p) = m.partitions.last() {
            let here = files.chain.get(p.last as usize).map(|(h, _)| h.to_string());
            if here.as_deref() != Some(p.last_hash.as_str()) {
                return Err(refuse(format!(
                    "holds an export whose block {} ({}) is not on this chain",
                    p.last, p.last_hash
                )));
            }
        }
        return Ok(m);
    }
    if let Ok(mut rd) = std::fs::read_dir(&opts.out) {
        if rd.next().is_some() {
            return Err(refuse("holds files but no export manifest".to_string()));
        }
    }
    for t in TABLES {
        let d = opts.out.join(t);
        std::fs::create_dir_all(&d)
            .map_err(|e| Error::io(&d, "cannot create output directory", e))?;
    }
    Ok(Manifest {
        format: manifest::FORMAT.to_string(),
        network: opts.network.to_string(),
        genesis,
        from: opts.from,
        partition_blocks: opts.partition_blocks,
        to: 0,
        to_hash: String::new(),
        tip_height: 0,
        tip_hash: String::new(),
        stale_blocks: 0,
        partitions: Vec::new(),
        totals: Totals::default(),
        truncation: None,
    })
}

/// Applies heights `0..below` to the UTXO map without writing rows.
fn replay(
    files: &BlockFiles,
    utxo: &mut UtxoMap,
    below: u32,
    to: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    for height in 0..below {
        let block = files.read(files.chain[height as usize].1)?;
        apply_block(height, &block, utxo, None, files.network())?;
        progress(Progress {
            height,
            to,
            replay: true,
            rows: 0,
        });
    }
    Ok(())
}

/// The open table files of one partition.
struct Writers {
    tables: Vec<TableWriter>,
    output_value: u64,
    input_value: u64,
}

fn part_name(table: &str, first: u32, last: u32) -> String {
    format!("{table}/{first:010}-{last:010}.parquet")
}

/// Writes heights `first..=last` as one partition: `.partial` files renamed when complete.
#[allow(clippy::too_many_arguments)]
fn write_partition(
    opts: &ExportOptions,
    files: &BlockFiles,
    utxo: &mut UtxoMap,
    first: u32,
    last: u32,
    rows_before: u64,
    to: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<Partition, Error> {
    let names: Vec<String> = TABLES.iter().map(|t| part_name(t, first, last)).collect();
    let partial: Vec<PathBuf> = names
        .iter()
        .map(|n| opts.out.join(format!("{n}.partial")))
        .collect();
    let mut w = Writers {
        tables: Vec::new(),
        output_value: 0,
        input_value: 0,
    };
    for (t, p) in TABLES.iter().zip(&partial) {
        let _ = std::fs::remove_file(p); // a leftover of an interrupted run
        w.tables.push(TableWriter::create(p, t)?);
    }
    let mut rows = rows_before;
    for height in first..=last {
        let block = files.read(files.chain[height as usize].1)?;
        rows += apply_block(height, &block, utxo, Some(&mut w), files.network())?;
        progress(Progress {
            height,
            to,
            replay: false,
            rows,
        });
    }
    let mut tables = Vec::new();
    for ((tw, p), name) in w.tables.into_iter().zip(&partial).zip(&names) {
        let n = tw.finish()?;
        let fin = opts.out.join(name);
        std::fs::rename(p, &fin).map_err(|e| Error::io(&fin, "cannot rename partition file", e))?;
        tables.push(TableFile {
            file: name.clone(),
            rows: n,
            sha256: manifest::sha256_file(&fin)?,
        });
    }
    Ok(Partition {
        first,
        last,
        last_hash: files.chain[last as usize].0.to_string(),
        tables,
        output_value: w.output_value,
        input_value: w.input_value,
    })
}

fn to_i64(v: u64, height: u32, what: &'static str) -> Result<i64, Error> {
    i64::try_from(v).map_err(|_| Error::Range { height, what })
}

fn to_i32(v: usize, height: u32, what: &'static str) -> Result<i32, Error> {
    i32::try_from(v).map_err(|_| Error::Range { height, what })
}

/// Applies one block to the UTXO map and, with writers, writes its rows; returns the rows.
fn apply_block(
    height: u32,
    block: &Block,
    utxo: &mut UtxoMap,
    mut w: Option<&mut Writers>,
    network: Network,
) -> Result<u64, Error> {
    let h = to_i32(height as usize, height, "height")?;
    let mut rows = 0u64;
    if let Some(w) = w.as_deref_mut() {
        let hash = block.block_hash().to_string();
        let prev = block.header.prev_blockhash.to_string();
        let size = bitcoin::consensus::serialize(block).len();
        w.tables[0].push(&[
            Val::I32(h),
            Val::S(&hash),
            Val::S(&prev),
            Val::I64(i64::from(block.header.time)),
            Val::I32(to_i32(block.txdata.len(), height, "transaction count")?),
            Val::I32(to_i32(size, height, "block size")?),
        ])?;
        rows += 1;
    }
    for (index, tx) in block.txdata.iter().enumerate() {
        rows += apply_tx(height, index, tx, utxo, w.as_deref_mut(), network)?;
    }
    Ok(rows)
}

/// Spends a transaction's inputs and adds its outputs; writes its rows with writers.
fn apply_tx(
    height: u32,
    index: usize,
    tx: &Transaction,
    utxo: &mut UtxoMap,
    mut w: Option<&mut Writers>,
    network: Network,
) -> Result<u64, Error> {
    let h = to_i32(height as usize, height, "height")?;
    let txid = tx.compute_txid();
    let txid_s = txid.to_string();
    let coinbase = tx.is_coinbase();
    let mut rows = 0u64;
    let mut in_value = 0u64;
    if !coinbase {
        for (vin, input) in tx.input.iter().enumerate() {
            let coin =
                utxo.spend(&input.previous_output)?
                    .ok_or_else(|| Error::MissingPrevout {
                        height,
                        txid: txid_s.clone(),
                        vin: vin as u32,
                        prevout: input.previous_output.to_string(),
                    })?;
            in_value = in_value.checked_add(coin.value).ok_or(Error::Range {
                height,
                what: "input sum",
            })?;
            if let Some(w) = w.as_deref_mut() {
                let prev = input.previous_output.txid.to_string();
                w.tables[3].push(&[
                    Val::I32(h),
                    Val::S(&txid_s),
                    Val::I32(to_i32(vin, height, "input index")?),
                    Val::S(&prev),
                    Val::I32(to_i32(
                        input.previous_output.vout as usize,
                        height,
                        "spent output index",
                    )?),
                    Val::I64(to_i64(coin.value, height, "input value")?),
                    Val::S(script_type_name(coin.kind)),
                    Val::S(&coin.address),
                    Val::I64(i64::from(input.sequence.0)),
                ])?;
                w.input_value += coin.value;
                rows += 1;
            }
        }
    }
    let mut out_value = 0u64;
    for (vout, out) in tx.output.iter().enumerate() {
        let value = out.value.to_sat();
        out_value = out_value.checked_add(value).ok_or(Error::Range {
            height,
            what: "output sum",
        })?;
        let kind = script_type(&out.script_pubkey);
        let address = label(&out.script_pubkey, network);
        if let Some(w) = w.as_deref_mut() {
            w.tables[2].push(&[
                Val::I32(h),
                Val::S(&txid_s),
                Val::I32(to_i32(vout, height, "output index")?),
                Val::I64(to_i64(value, height, "output value")?),
                Val::S(script_type_name(kind)),
                Val::S(&address),
            ])?;
            w.output_value += value;
            rows += 1;
        }
        // Provably unspendable outputs never enter the UTXO set, nor does the genesis block's
        // coinbase (as in Core's chainstate).
        if !out.script_pubkey.is_op_return() && height > 0 {
            let op = OutPoint::new(txid, vout as u32);
            utxo.insert(
                &op,
                Coin {
                    value,
                    kind,
                    address,
                },
            )?;
        }
    }
    if let Some(w) = w {
        let fee = if coinbase {
            0
        } else {
            in_value.saturating_sub(out_value)
        };
        w.tables[1].push(&[
            Val::I32(h),
            Val::I32(to_i32(index, height, "transaction index")?),
            Val::S(&txid_s),
            Val::I32(tx.version.0),
            Val::I64(i64::from(tx.lock_time.to_consensus_u32())),
            Val::B(coinbase),
            Val::I32(to_i32(
                if coinbase { 0 } else { tx.input.len() },
                height,
                "input count",
            )?),
            Val::I32(to_i32(tx.output.len(), height, "output count")?),
            Val::I64(to_i64(tx.vsize() as u64, height, "vsize")?),
            Val::I64(to_i64(fee, height, "fee")?),
        ])?;
        rows += 1;
    }
    Ok(rows)
}

/// An output's address, or `script:<hex>` (custos-trace's `script_label`).
pub fn label(script: &bitcoin::Script, network: Network) -> String {
    match bitcoin::Address::from_script(script, network.to_bitcoin()) {
        Ok(a) => a.to_string(),
        Err(_) => format!("script:{}", hex::encode(script.as_bytes())),
    }
}

/// Reads `dir`'s manifest, for callers that only want to look.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, Error> {
    Manifest::read(dir)
}
