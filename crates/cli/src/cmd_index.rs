//! `custos index export|import-clusters`: the chain-wide index. `export` turns a node's block
//! files into Parquet tables (custos-index) for the Spark clustering job
//! (`scripts/spark/cluster.py`); `import-clusters` brings the job's cluster table (or the slice
//! a trace touches) into the case, where every later `custos trace` consults it
//! ([`after_trace`]). See docs/scale-out.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::{Case, NewArtifact};
use custos_core::ledger::EventDraft;
use custos_index::clusters::read_clusters;
use custos_index::{export, ExportOptions, Manifest};
use custos_trace::heuristics::{ExternalCluster, ExternalClusters};
use custos_trace::report::TraceReport;

use crate::app::{print_json, App, CmdResult, Failure};
use crate::progress::ProgressLine;

/// Ledger event of an export.
pub(crate) const EXPORT_EVENT: &str = "index.export";
/// Ledger event of a cluster import.
pub(crate) const IMPORT_EVENT: &str = "index.import_clusters";
/// Ledger event of a trace's chain-wide cluster lookups.
pub(crate) const TRACE_EVENT: &str = "index.trace_clusters";

/// Largest `job.json` / trace file read.
const JOB_LIMIT: custos_core::file::Limit = custos_core::file::Limit {
    kind: "cluster job file",
    bytes: 1 << 20,
};
const TRACE_LIMIT: custos_core::file::Limit = custos_core::file::Limit {
    kind: "trace report",
    bytes: 1 << 30,
};

/// `custos index`.
#[derive(Debug, Subcommand)]
pub(crate) enum IndexCmd {
    /// Export Bitcoin Core block files (blk*.dat) to Parquet tables: blocks, transactions,
    /// outputs, inputs (resolved), partitioned by height; resumable; manifest recorded with --case.
    Export(ExportArgs),
    /// Load a Spark cluster table (scripts/spark/cluster.py output) into the case as the
    /// chain-wide cluster source of `custos trace`.
    ImportClusters(ImportArgs),
}

/// `custos index export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Bitcoin Core's blocks directory (holding blk*.dat and xor.dat).
    #[arg(long)]
    blocks_dir: PathBuf,
    /// Output directory: new, or an unfinished export of the same chain to resume.
    #[arg(long)]
    out: PathBuf,
    /// First height to write (inputs are still resolved from genesis).
    #[arg(long, default_value_t = 0)]
    from: u32,
    /// Last height to write (default: the best tip of the files).
    #[arg(long)]
    to: Option<u32>,
    /// Blocks per partition file.
    #[arg(long, default_value_t = 10_000)]
    partition_blocks: u32,
    /// Memory for the UTXO map before it spills sorted runs to disk, MiB.
    #[arg(long, default_value_t = 1024)]
    utxo_mem_mib: usize,
}

/// `custos index import-clusters`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The job's output directory (clusters/ and job.json).
    dir: PathBuf,
    /// Import only the addresses of this trace report (trace.json); default: the case's latest trace.
    #[arg(long, conflicts_with = "all")]
    addresses_from: Option<PathBuf>,
    /// Import the whole table (small chains only: it is stored in the case).
    #[arg(long)]
    all: bool,
}

/// Runs `custos index`.
pub(crate) fn run(app: &App, cmd: &IndexCmd) -> CmdResult {
    match cmd {
        IndexCmd::Export(a) => run_export(app, a),
        IndexCmd::ImportClusters(a) => run_import(app, a),
    }
}

fn run_export(app: &App, a: &ExportArgs) -> CmdResult {
    let mut case = app.open_case()?;
    let network = app.network(case.as_ref());
    let mut opts = ExportOptions::new(a.blocks_dir.clone(), a.out.clone(), network);
    opts.from = a.from;
    opts.to = a.to;
    opts.partition_blocks = a.partition_blocks;
    opts.utxo_mem_bytes = a.utxo_mem_mib.max(1).saturating_mul(1 << 20);
    let mut bar = ProgressLine::new();
    let started = std::time::Instant::now();
    let mut last_shown = 0u32;
    let report = export(&opts, &mut |p| {
        if bar.is_on() && (p.height == p.to || p.height >= last_shown.saturating_add(100)) {
            last_shown = p.height;
            let what = if p.replay { "replaying" } else { "exporting" };
            bar.show(&format!(
                "index: {what} block {}/{}, {} rows",
                p.height, p.to, p.rows
            ));
        }
    });
    bar.finish();
    let report = report?;
    let elapsed_ms = started.elapsed().as_millis();
    let m = &report.manifest;
    let manifest_bytes = serde_json::to_vec_pretty(m).map_err(Failure::env)?;
    let payload = serde_json::json!({
        "blocks_dir": a.blocks_dir.display().to_string(),
        "out": a.out.display().to_string(),
        "network": m.network,
        "from": m.from,
        "to": m.to,
        "to_hash": m.to_hash,
        "tip_height": m.tip_height,
        "tip_hash": m.tip_hash,
        "partitions": m.partitions.len(),
        "written_partitions": report.written_partitions,
        "rows_written": report.rows_written,
        "elapsed_ms": elapsed_ms,
        "spill_runs": report.spill_runs,
        "totals": m.totals,
        "truncation": m.truncation,
    });
    app.record(
        case.as_mut(),
        EventDraft::new(EXPORT_EVENT, payload.clone()),
        vec![NewArtifact {
            kind: "index_manifest".into(),
            name: "manifest.json".into(),
            data: manifest_bytes,
        }],
    )?;
    if app.json {
        print_json(&payload)?;
    } else {
        let t = &m.totals;
        outln!(
            "exported heights {}..={} ({} partitions, {} written now) to {}: {} blocks, {} transactions, {} outputs, {} inputs; unspent at {}: {} outputs, {} sat; {} rows in {} ms",
            m.from, m.to, m.partitions.len(), report.written_partitions, a.out.display(),
            t.blocks, t.transactions, t.outputs, t.inputs, m.to, t.unspent_count, t.unspent_value,
            report.rows_written, elapsed_ms
        )?;
    }
    match report.truncation_error() {
        Some(e) => Err(Failure::classified(e)),
        None => Ok(()),
    }
}

/// The addresses to import: a trace file's, or the case's latest trace's.
fn wanted_addresses(case: &Case, a: &ImportArgs) -> CmdResult<Option<BTreeSet<String>>> {
    if a.all {
        return Ok(None);
    }
    let report: TraceReport = match &a.addresses_from {
        Some(p) => {
            let text = custos_core::file::read_text(p, TRACE_LIMIT)?;
            serde_json::from_str(&text)
                .map_err(|e| Failure::input(anyhow!("{}: not a trace report: {e}", p.display())))?
        }
        None => match crate::cmd_trace::latest_trace(case)? {
            Some((_, r)) => r,
            None => {
                return Err(Failure::input(anyhow!(
                    "the case holds no trace: pass --addresses-from TRACE.json or --all"
                )))
            }
        },
    };
    let mut set = BTreeSet::new();
    for tx in report.trace.graph.txs.values() {
        set.extend(tx.inputs.iter().filter_map(|i| i.address.clone()));
        set.extend(tx.outputs.iter().map(|o| o.address.clone()));
    }
    Ok(Some(set))
}

/// `job.json` and, when the export it names is still there, its manifest (hash checked).
fn provenance(dir: &Path) -> CmdResult<(serde_json::Value, Option<Vec<u8>>)> {
    let job_path = dir.join("job.json");
    let job_text = custos_core::file::read_text(&job_path, JOB_LIMIT)?;
    let job: serde_json::Value = serde_json::from_str(&job_text)
        .map_err(|e| Failure::input(anyhow!("{}: not json: {e}", job_path.display())))?;
    let want = job["export_manifest_sha256"].as_str().ok_or_else(|| {
        Failure::input(anyhow!("{}: no export_manifest_sha256", job_path.display()))
    })?;
    let Some(export_dir) = job["export_dir"].as_str().map(PathBuf::from) else {
        return Ok((job, None));
    };
    if Manifest::read(&export_dir)?.is_none() {
        tracing::warn!(target: "custos::index", dir = %export_dir.display(), "the export the job ran on is gone; recording the manifest hash only");
        return Ok((job, None));
    }
    let path = export_dir.join(custos_index::manifest::FILE);
    let bytes = custos_core::file::read_bytes(&path, JOB_LIMIT)?;
    let got = custos_index::manifest::sha256_hex(&bytes);
    if got != want {
        return Err(Failure::input(anyhow!(
            "{}: sha256 {got} is not the {want} the cluster job ran on; the export changed after clustering",
            path.display()
        )));
    }
    Ok((job, Some(bytes)))
}

fn run_import(app: &App, a: &ImportArgs) -> CmdResult {
    let mut case = app.require_case()?;
    let wanted = wanted_addresses(&case, a)?;
    let (job, manifest) = provenance(&a.dir)?;
    let rows = read_clusters(&a.dir.join("clusters"), wanted.as_ref())?;
    let source = format!(
        "{} over export manifest {} ({} rounds, spark {})",
        job["job"].as_str().unwrap_or("cluster job"),
        job["export_manifest_sha256"].as_str().unwrap_or("?"),
        job["rounds"],
        job["spark_version"].as_str().unwrap_or("?")
    );
    let table = ExternalClusters {
        source,
        members: rows
            .iter()
            .map(|r| {
                let c = ExternalCluster {
                    id: r.cluster_id.clone(),
                    size: r.cluster_size,
                };
                (r.address.clone(), c)
            })
            .collect(),
    };
    let data = serde_json::to_vec(&table).map_err(Failure::env)?;
    let mut artifacts = vec![NewArtifact {
        kind: "index_clusters".into(),
        name: "clusters.json".into(),
        data,
    }];
    let clusters_sha = artifacts[0].sha256();
    artifacts.push(NewArtifact {
        kind: "index_cluster_job".into(),
        name: "job.json".into(),
        data: serde_json::to_vec_pretty(&job).map_err(Failure::env)?,
    });
    if let Some(m) = manifest {
        artifacts.push(NewArtifact {
            kind: "index_manifest".into(),
            name: "manifest.json".into(),
            data: m,
        });
    }
    let distinct: BTreeSet<&str> = rows.iter().map(|r| r.cluster_id.as_str()).collect();
    let payload = serde_json::json!({
        "dir": a.dir.display().to_string(),
        "scope": if a.all { "all".to_string() } else { a.addresses_from.as_ref().map_or("latest trace".to_string(), |p| p.display().to_string()) },
        "addresses_requested": wanted.as_ref().map(|w| w.len()),
        "addresses_imported": rows.len(),
        "clusters": distinct.len(),
        "job": job,
        "clusters_sha256": clusters_sha,
    });
    app.record(
        Some(&mut case),
        EventDraft::new(IMPORT_EVENT, payload.clone()),
        artifacts,
    )?;
    if app.json {
        print_json(&payload)
    } else {
        outln!(
            "imported {} address(es) in {} chain-wide cluster(s) from {} into case {}",
            rows.len(),
            distinct.len(),
            a.dir.display(),
            case.info().case_id
        )?;
        Ok(())
    }
}

/// The chain-wide cluster table last imported into the case, if any.
pub(crate) fn imported_clusters(case: &Case) -> CmdResult<Option<ExternalClusters>> {
    let events = case.events()?;
    let Some(ev) = events.iter().rev().find(|e| e.kind == IMPORT_EVENT) else {
        return Ok(None);
    };
    let sha = ev.payload["clusters_sha256"]
        .as_str()
        .ok_or_else(|| Failure::input(anyhow!("event {} has no clusters_sha256", ev.seq)))?;
    let art = case.artifact(sha)?;
    let t = serde_json::from_slice(&art.data)
        .map_err(|e| Failure::input(anyhow!("cluster artifact {sha} does not parse: {e}")))?;
    Ok(Some(t))
}

/// The hook `custos trace` calls after a trace: looks the trace's addresses up in the case's
/// chain-wide clusters, records the answers and prints them (text mode).
pub(crate) fn after_trace(app: &App, case: Option<&mut Case>, report: &TraceReport) -> CmdResult {
    let Some(case) = case else { return Ok(()) };
    let Some(table) = imported_clusters(case)? else {
        return Ok(());
    };
    let found = table.memberships(&report.trace.graph, &report.analysis.clustering);
    let disagree = found.iter().filter(|m| !m.agrees).count();
    let payload = serde_json::json!({
        "source": table.source,
        "memberships": found,
        "disagreements": disagree,
    });
    app.record(
        Some(case),
        EventDraft::new(TRACE_EVENT, payload),
        Vec::new(),
    )?;
    if !app.json && !found.is_empty() {
        outln!("chain-wide clusters ({}):", table.source)?;
        for m in &found {
            outln!(
                "  {} in cluster {} ({} addresses){}",
                m.address,
                m.cluster.id,
                m.cluster.size,
                if m.agrees {
                    ""
                } else {
                    " DISAGREES with the trace's own cluster"
                }
            )?;
        }
    }
    Ok(())
}
