//! `custos trace forward|backward START... --eth-rpc URL`: the Ethereum trace (custos_trace::eth)
//! from addresses (0x + 40 hex) or one transaction hash (0x + 64 hex), over a node pinned at its
//! latest block: ETH including internal transfers (`trace_filter`, `debug_traceTransaction`) and
//! ERC-20 `Transfer` logs, with `--hops`, `--min-value` (base units of any asset), `--max-txs`
//! (most transfers) and CSV labels (`address,label,category`; a labelled address stops the
//! walk). Writes trace.json, edges.csv, trace.dot, trace.graphml and trace.html into `--out-dir`
//! (all or none) and records `trace.eth` in the case. A cut-short trace says PARTIAL, exit 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, U256};
use anyhow::anyhow;
use custos_case::NewArtifact;
use custos_chain::eth::{EthOptions, EthSource};
use custos_core::ledger::EventDraft;
use custos_trace::eth::{walk, EthLimits, EthStart, NodeFlows};
use custos_trace::walk::Direction;

use crate::app::{print_json, App, CmdResult, Failure};

/// What `custos trace` passes on for an Ethereum trace.
#[derive(Debug)]
pub(crate) struct EthTraceInput<'a> {
    /// Starts: addresses or transaction hashes.
    pub start: &'a [String],
    /// Node URL.
    pub rpc: &'a str,
    /// Hops.
    pub hops: u32,
    /// Most transfers.
    pub max_transfers: usize,
    /// Smallest value followed, base units.
    pub min_value: u64,
    /// CSV label files.
    pub labels: &'a [PathBuf],
    /// Export directory.
    pub out_dir: Option<&'a Path>,
}

fn parse_start(s: &str) -> CmdResult<EthStart> {
    let t = s.trim();
    if t.len() == 66 && t.starts_with("0x") {
        return t
            .parse::<B256>()
            .map(EthStart::Tx)
            .map_err(|_| Failure::input(anyhow!("start {t:?} is not a transaction hash")));
    }
    custos_keys::eth::parse_address(t, None)
        .map(EthStart::Address)
        .map_err(|e| Failure::input(anyhow!("start {t:?}: {e}")))
}

/// `address,label,category` lines (a header line and `#` comments skipped).
fn read_labels(files: &[PathBuf]) -> CmdResult<BTreeMap<Address, Vec<String>>> {
    let mut out: BTreeMap<Address, Vec<String>> = BTreeMap::new();
    for f in files {
        let text = custos_core::file::read_text(f, custos_core::file::LABELS)?;
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') || (i == 0 && l.starts_with("address")) {
                continue;
            }
            let cols: Vec<&str> = l.split(',').map(str::trim).collect();
            let [addr, label, category, ..] = cols[..] else {
                return Err(Failure::input(anyhow!(
                    "{}:{}: expected address,label,category",
                    f.display(),
                    i + 1
                )));
            };
            let a = custos_keys::eth::parse_address(addr, Some(i + 1))
                .map_err(|e| Failure::input(anyhow!("{}: {e}", f.display())))?;
            out.entry(a)
                .or_default()
                .push(format!("{label} ({category})"));
        }
    }
    Ok(out)
}

/// Runs the Ethereum trace.
pub(crate) fn run(app: &App, direction: Direction, a: &EthTraceInput<'_>) -> CmdResult {
    let starts = a
        .start
        .iter()
        .map(|s| parse_start(s))
        .collect::<CmdResult<Vec<_>>>()?;
    let labels = read_labels(a.labels)?;
    let src = EthSource::connect(a.rpc, EthOptions::default())?;
    let pin = src.pin_latest()?;
    let flows = NodeFlows { src: &src, pin };
    let limits = EthLimits {
        hops: a.hops,
        min_value: U256::from(a.min_value),
        max_transfers: a.max_transfers,
    };
    let trace = walk(&flows, &starts, direction, &limits, &labels, pin.number)?;
    let title = format!(
        "ethereum {} trace from {}",
        trace.direction,
        a.start.join(", ")
    );
    let json = trace.json();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("trace.json", json.clone().into_bytes()),
        ("edges.csv", trace.csv().into_bytes()),
        ("trace.dot", trace.dot().into_bytes()),
        ("trace.graphml", trace.graphml().into_bytes()),
        ("trace.html", trace.html(&title).into_bytes()),
    ];
    if let Some(dir) = a.out_dir {
        if dir.exists() {
            return Err(Failure::input(anyhow!(
                "--out-dir {} exists",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(Failure::env)?;
        let all: Vec<(PathBuf, Vec<u8>)> = files
            .iter()
            .map(|(n, d)| (dir.join(n), d.clone()))
            .collect();
        if let Err(e) = custos_core::file::write_all_new(&all) {
            let _ = std::fs::remove_dir(dir);
            return Err(e.into());
        }
    }
    let mut case = app.open_case()?;
    let payload = serde_json::json!({
        "chain": "ethereum", "chain_id": src.chain_id(), "direction": trace.direction,
        "start": a.start, "block": pin.number, "block_hash": pin.hash.to_string(),
        "hops": a.hops, "min_value": a.min_value, "addresses": trace.nodes.len(),
        "transfers": trace.transfers.len(), "partial": trace.partial,
    });
    let ev = app.record(
        case.as_mut(),
        EventDraft::new("trace.eth", payload),
        vec![NewArtifact {
            kind: "eth_trace".into(),
            name: "trace.json".into(),
            data: json.into_bytes(),
        }],
    )?;
    if app.json {
        let mut v: serde_json::Value = serde_json::from_str(&trace.json()).map_err(Failure::env)?;
        v["ledger_seq"] = serde_json::json!(ev.map(|e| e.seq));
        print_json(&v)?;
    } else {
        outln!("{title} (block {})", pin.number)?;
        for x in &trace.transfers {
            outln!(
                "  block {} {} {} -> {} {} {}{}",
                x.block,
                x.tx,
                x.from.to_checksum(None),
                x.to.to_checksum(None),
                x.value,
                x.asset.name(),
                if x.internal { " (internal)" } else { "" }
            )?;
        }
        for (addr, why) in &trace.stops {
            outln!("  stop {}: {why}", addr.to_checksum(None))?;
        }
    }
    if !trace.partial.is_empty() {
        return Err(Failure::finding(anyhow!(
            "PARTIAL trace: {}",
            trace.partial.join("; ")
        )));
    }
    Ok(())
}
