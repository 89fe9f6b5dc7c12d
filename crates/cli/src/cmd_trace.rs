//! `custos trace forward|backward START...`: multi-hop provenance and destination traces over an
//! Electrum server (or the case's cache with `--offline`), every transaction SPV-checked, with
//! taint, heuristics, labels and exposure; recorded in the case with its evidence, and exported
//! as JSON, CSV, DOT, GraphML and a self-contained HTML view.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::anyhow;
use bitcoin::{Address, OutPoint, Txid};
use clap::{Args, Subcommand, ValueEnum};
use custos_case::{
    report::{table, Section},
    Case, NewArtifact,
};
use custos_core::{
    inventory::{Inventory, INVENTORY_FORMAT},
    ledger::EventDraft,
    Network, Sat,
};
use custos_trace::{
    export,
    heuristics::{HeuristicId, HeuristicSet},
    labels::LabelSet,
    report::{ClusterSizeStop, LabelStop, TraceReport},
    taint::TaintModel,
    walk::{self, Direction, Limits, Progress, Start, StopRule},
};

use crate::app::{exit, print_json, App, CmdResult, Failure};
use crate::cmd_inspect::ServerArgs;

/// Ledger event kind of a trace.
pub(crate) const EVENT_KIND: &str = custos_case::kinds::TRACE_RUN;

/// Largest start file (inventory or address list) read (bytes).
const MAX_START_FILE: u64 = 64 << 20;

/// `custos trace`.
#[derive(Debug, Subcommand)]
pub(crate) enum TraceCmd {
    /// Where did the coins go: follow outputs to the transactions that spend them.
    Forward(TraceArgs),
    /// Where did the coins come from: follow inputs to the transactions that made them.
    Backward(TraceArgs),
    /// Render the case's latest trace as a self-contained HTML page (SVG drawing).
    View {
        /// Output file (must not exist; default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Taint model names for clap.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Poison,
    Haircut,
    Fifo,
    Lifo,
    Tiho,
}

impl From<ModelArg> for TaintModel {
    fn from(m: ModelArg) -> TaintModel {
        match m {
            ModelArg::Poison => TaintModel::Poison,
            ModelArg::Haircut => TaintModel::Haircut,
            ModelArg::Fifo => TaintModel::Fifo,
            ModelArg::Lifo => TaintModel::Lifo,
            ModelArg::Tiho => TaintModel::Tiho,
        }
    }
}

/// Options of a trace.
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Where to start: a txid, an outpoint (txid:vout), an address, a file listing any of these
    /// (one per line), or an inventory file from `custos inspect --out` (all of a seized wallet's
    /// addresses).
    #[arg(required = true, value_name = "START")]
    start: Vec<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Hops to follow.
    #[arg(long, default_value_t = 6)]
    hops: u32,
    /// Transactions to fetch at most.
    #[arg(long, default_value_t = 10_000)]
    max_txs: usize,
    /// Do not follow coins worth less than this (sat).
    #[arg(long, default_value_t = 0, value_name = "SAT")]
    min_value: u64,
    /// Do not follow transactions mined before this time (unix seconds or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    after: Option<String>,
    /// Do not follow transactions mined after this time (unix seconds or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME")]
    before: Option<String>,
    /// Label files: GraphSense TagPack YAML (.yaml/.yml) or CSV (address,label,category,...).
    /// A trace stops at labelled addresses.
    #[arg(long, value_name = "FILE")]
    labels: Vec<PathBuf>,
    /// Stop at addresses whose common-input cluster holds more than N addresses.
    #[arg(long, value_name = "N")]
    max_cluster: Option<usize>,
    /// Taint model of the view and the text summary (exposure is given under all five).
    #[arg(long, value_enum, default_value = "haircut")]
    taint: ModelArg,
    /// Switch a heuristic on (repeatable; `change-link` and `coinbase-outputs` are off by
    /// default). Names: coinjoin-wasabi, coinjoin-whirlpool, coinjoin-joinmarket,
    /// coinjoin-equal-output, common-input, coinbase-outputs, change-link, address-reuse,
    /// script-type, optimal-change, round-amount, fresh-address, fingerprint, peel-chain.
    #[arg(long, value_name = "NAME")]
    heuristic: Vec<String>,
    /// Switch a heuristic off (repeatable; names as for --heuristic).
    #[arg(long, value_name = "NAME")]
    no_heuristic: Vec<String>,
    /// Replay from the case's cache (no network).
    #[arg(long)]
    offline: bool,
    /// Write trace.json, edges.csv, trace.dot, trace.graphml and trace.html into this new
    /// directory (all of them or none).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Trace on Ethereum through this JSON-RPC node (http://host:port): START is addresses or
    /// one transaction hash; --hops, --min-value (base units), --max-txs (transfers), --labels
    /// (CSV) and --out-dir apply (src/eth_trace.rs).
    #[arg(long, value_name = "URL", env = "CUSTOS_ETH_RPC")]
    eth_rpc: Option<String>,
}

impl TraceArgs {
    fn eth(&self) -> Option<crate::eth_trace::EthTraceInput<'_>> {
        Some(crate::eth_trace::EthTraceInput {
            start: &self.start,
            rpc: self.eth_rpc.as_deref()?,
            hops: self.hops,
            max_transfers: self.max_txs,
            min_value: self.min_value,
            labels: &self.labels,
            out_dir: self.out_dir.as_deref(),
        })
    }
}

/// Runs `custos trace`.
pub(crate) fn run(app: &App, cmd: &TraceCmd) -> CmdResult {
    match cmd {
        TraceCmd::Forward(a) => match a.eth() {
            Some(e) => crate::eth_trace::run(app, Direction::Forward, &e),
            None => run_trace(app, Direction::Forward, a),
        },
        TraceCmd::Backward(a) => match a.eth() {
            Some(e) => crate::eth_trace::run(app, Direction::Backward, &e),
            None => run_trace(app, Direction::Backward, a),
        },
        TraceCmd::View { out } => run_view(app, out.as_deref()),
    }
}

fn run_trace(app: &App, direction: Direction, args: &TraceArgs) -> CmdResult {
    let mut case = app.open_case()?;
    if args.offline && case.is_none() {
        return Err(Failure::input(anyhow!(
            "--offline replays a case's cache: pass --case DIR"
        )));
    }
    let network = app.network(case.as_ref());
    if let Some(dir) = &args.out_dir {
        if dir.exists() {
            return Err(Failure::input(anyhow!(
                "{} exists; --out-dir must name a new directory",
                dir.display()
            )));
        }
    }
    let starts = parse_starts(&args.start, network)?;
    let labels = load_labels(&args.labels, network)?;
    let mut heuristics = HeuristicSet::default();
    for id in &args.heuristic {
        let h: HeuristicId = id
            .parse()
            .map_err(|e| Failure::input(anyhow!("--heuristic {id}: {e}")))?;
        heuristics.enable(h);
    }
    for id in &args.no_heuristic {
        let h: HeuristicId = id
            .parse()
            .map_err(|e| Failure::input(anyhow!("--no-heuristic {id}: {e}")))?;
        heuristics.disable(h);
    }
    let limits = Limits {
        hops: args.hops,
        max_txs: args.max_txs.max(1),
        min_value: Sat(args.min_value),
        not_before: args.after.as_deref().map(parse_time).transpose()?,
        not_after: args.before.as_deref().map(parse_time).transpose()?,
    };
    let label_stop = LabelStop::new(&labels);
    let cluster_stop = args
        .max_cluster
        .map(|n| ClusterSizeStop::new(n, &heuristics));
    let mut rules: Vec<&dyn StopRule> = vec![&label_stop];
    if let Some(c) = &cluster_stop {
        rules.push(c);
    }

    let mut bar = ProgressBar::new();
    let (trace, server) = {
        let electrum = if args.offline {
            None
        } else {
            Some(args.server.connect(None)?)
        };
        let primary = crate::cmd_inspect::PrimarySource::new(electrum.as_ref(), case.as_ref())?;
        let source = primary.get();
        let server = source.name();
        let t = walk::trace(
            source,
            network,
            direction,
            &starts,
            &limits,
            &rules,
            &mut |p| bar.update(&p),
        );
        bar.finish();
        (t.map_err(trace_failure)?, server)
    };
    let report = TraceReport::build(trace, &labels, &heuristics, args.taint.into());
    let json = serde_json::to_vec_pretty(&report).map_err(Failure::env)?;
    if let Some(dir) = &args.out_dir {
        write_exports(dir, &report, &json)?;
    }
    if let Some(c) = case.as_mut() {
        record(app, c, &report, &json, &server, args)?;
    }
    if app.json {
        print_json(&report)?;
    } else {
        out!("{}", report.summary_text())?;
    }
    crate::cmd_index::after_trace(app, case.as_mut(), &report)?;
    if report.is_partial() {
        return Err(Failure {
            code: exit::FINDING,
            error: anyhow!(
                "the trace is PARTIAL: {} thing(s) were not followed (listed above); it is not a complete picture",
                report.trace.partial.len()
            ),
        });
    }
    Ok(())
}

fn trace_failure(e: custos_trace::Error) -> Failure {
    if e.is_input_error() {
        Failure::input(e)
    } else {
        Failure::env(e)
    }
}

/// Parses `YYYY-MM-DD` (UTC midnight) or unix seconds.
fn parse_time(s: &str) -> CmdResult<u32> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    let bad = || Failure::input(anyhow!("time {s:?}: expected unix seconds or YYYY-MM-DD"));
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=2105).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm), exact in integers.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 86_400).map_err(|_| bad())
}

/// Reads a file no larger than `limit` bytes, naming it in every error.
fn read_limited(path: &Path, limit: u64, what: &str) -> CmdResult<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::input(anyhow!("{what} {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(Failure::input(anyhow!(
            "{what} {} is a directory",
            path.display()
        )));
    }
    let f = std::fs::File::open(path)
        .map_err(|e| Failure::input(anyhow!("{what} {}: {e}", path.display())))?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, limit + 1), &mut data)
        .map_err(|e| Failure::input(anyhow!("{what} {}: {e}", path.display())))?;
    if data.len() as u64 > limit {
        return Err(Failure::input(anyhow!(
            "{what} {} is larger than the limit of {limit} bytes",
            path.display()
        )));
    }
    Ok(data)
}

fn parse_starts(args: &[String], network: Network) -> CmdResult<Vec<Start>> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.exists() {
            let data = read_limited(p, MAX_START_FILE, "start file")?;
            let text = String::from_utf8(data).map_err(|_| {
                Failure::input(anyhow!("start file {} is not UTF-8 text", p.display()))
            })?;
            if custos_core::file::is_json_object(&text) {
                out.extend(inventory_starts(&text, p, network)?);
            } else {
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    out.push(parse_start(line, network).map_err(|f| {
                        Failure::input(anyhow!("{}, line {}: {:#}", p.display(), n + 1, f.error))
                    })?);
                }
            }
        } else {
            out.push(parse_start(a, network)?);
        }
    }
    if out.is_empty() {
        return Err(Failure::input(anyhow!("no start given")));
    }
    Ok(out)
}

fn inventory_starts(text: &str, p: &Path, network: Network) -> CmdResult<Vec<Start>> {
    let inv: Inventory = serde_json::from_str(text).map_err(|e| {
        Failure::input(anyhow!(
            "{} is JSON but not an inventory ({INVENTORY_FORMAT}): {e}",
            p.display()
        ))
    })?;
    if !custos_core::inventory::is_inventory_format(&inv.format) {
        return Err(Failure::input(anyhow!(
            "{} has format {:?}; expected {INVENTORY_FORMAT:?}",
            p.display(),
            inv.format
        )));
    }
    if inv.network != network {
        return Err(Failure::input(anyhow!(
            "inventory {} is for {}, this trace runs on {network}",
            p.display(),
            inv.network
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for a in &inv.addresses {
        if seen.insert(a.address.clone()) {
            out.push(parse_start(&a.address, network)?);
        }
    }
    Ok(out)
}

fn parse_start(s: &str, network: Network) -> CmdResult<Start> {
    if let Some((t, v)) = s.split_once(':') {
        if t.len() == 64 {
            let txid: Txid = t
                .parse()
                .map_err(|e| Failure::input(anyhow!("outpoint {s}: bad txid: {e}")))?;
            let vout: u32 = v
                .parse()
                .map_err(|e| Failure::input(anyhow!("outpoint {s}: bad output index: {e}")))?;
            return Ok(Start::Outpoint(OutPoint::new(txid, vout)));
        }
    }
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let txid: Txid = s
            .parse()
            .map_err(|e| Failure::input(anyhow!("txid {s}: {e}")))?;
        return Ok(Start::Tx(txid));
    }
    let unchecked: Address<bitcoin::address::NetworkUnchecked> = s.parse().map_err(|e| {
        Failure::input(anyhow!(
            "start {s:?} is not a txid, an outpoint (txid:vout), an address or a file: {e}"
        ))
    })?;
    let addr = unchecked.require_network(network.to_bitcoin()).map_err(|_| {
        Failure::input(anyhow!(
            "address {s} is not a {network} address (the trace runs on {network}; use --network or a case on the address's network)"
        ))
    })?;
    Ok(Start::Script {
        label: addr.to_string(),
        script: addr.script_pubkey(),
    })
}

fn load_labels(files: &[PathBuf], network: Network) -> CmdResult<LabelSet> {
    let mut set = LabelSet::new();
    for f in files {
        set.load(f, network).map_err(Failure::input)?;
    }
    Ok(set)
}

fn write_exports(dir: &Path, report: &TraceReport, json: &[u8]) -> CmdResult {
    let view = report.view();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("trace.json", json.to_vec()),
        ("edges.csv", export::csv_edges(&view).into_bytes()),
        ("trace.dot", export::dot(&view).into_bytes()),
        ("trace.graphml", export::graphml(&view).into_bytes()),
        ("trace.html", export::html(&view).into_bytes()),
    ];
    // All or none: write into a sibling temporary directory, then rename it into place.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let env = |e: std::io::Error| Failure::env(anyhow!("cannot write {}: {e}", dir.display()));
    std::fs::create_dir(&tmp).map_err(env)?;
    let result = (|| {
        for (f, data) in &files {
            std::fs::write(tmp.join(f), data)?;
        }
        std::fs::rename(&tmp, dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(env(e));
    }
    Ok(())
}

fn record(
    app: &App,
    case: &mut Case,
    report: &TraceReport,
    json: &[u8],
    server: &str,
    args: &TraceArgs,
) -> CmdResult {
    let mut artifacts = vec![NewArtifact {
        kind: "trace".into(),
        name: "trace.json".into(),
        data: json.to_vec(),
    }];
    let trace_sha = artifacts[0].sha256();
    for (txid, raw) in &report.trace.evidence.raw_txs {
        let data = hex::decode(raw)
            .map_err(|e| Failure::env(anyhow!("evidence of transaction {txid} is not hex: {e}")))?;
        artifacts.push(NewArtifact {
            kind: "raw_tx".into(),
            name: txid.to_string(),
            data,
        });
    }
    artifacts.push(NewArtifact {
        kind: "trace_evidence".into(),
        name: "trace-evidence.json".into(),
        data: serde_json::to_vec_pretty(&report.trace.evidence).map_err(Failure::env)?,
    });
    let t = &report.trace;
    let draft = EventDraft::new(
        EVENT_KIND,
        serde_json::json!({
            "direction": t.direction,
            "starts": t.starts,
            "server": server,
            "offline": args.offline,
            "limits": t.limits,
            "labels": args.labels,
            "max_cluster": args.max_cluster,
            "taint": report.model,
            "enabled_heuristics": args.heuristic,
            "disabled_heuristics": args.no_heuristic,
            "tip_height": t.tip.0,
            "tip_hash": t.tip.1.to_string(),
            "transactions": t.graph.len(),
            "hops": t.stats.hops,
            "round_trips": t.stats.round_trips,
            "stops": t.stops.len(),
            "partial": t.partial,
            "trace_sha256": trace_sha,
        }),
    );
    app.record(Some(case), draft, artifacts)?;
    Ok(())
}

/// The latest trace recorded in the case, with its event's sequence number.
pub(crate) fn latest_trace(case: &Case) -> CmdResult<Option<(u64, TraceReport)>> {
    let events = case.events()?;
    let Some(ev) = events.iter().rev().find(|e| e.kind == EVENT_KIND) else {
        return Ok(None);
    };
    let sha = ev
        .payload
        .get("trace_sha256")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Failure::input(anyhow!("event {} has no trace_sha256", ev.seq)))?;
    let a = case.artifact(sha)?;
    let r: TraceReport = serde_json::from_slice(&a.data)
        .map_err(|e| Failure::input(anyhow!("trace artifact {sha} does not parse: {e}")))?;
    Ok(Some((ev.seq, r)))
}

/// The tracing section of the case report: every trace recorded, then the latest in detail.
pub(crate) fn report_section(case: &Case) -> CmdResult<Option<Section>> {
    let events = case.events()?;
    let runs: Vec<Vec<String>> = events
        .iter()
        .filter(|e| e.kind == EVENT_KIND)
        .map(|e| {
            let p = &e.payload;
            let g = |k: &str| match p.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            let partial = p
                .get("partial")
                .and_then(|v| v.as_array())
                .map(|a| a.len())
                .unwrap_or(0);
            vec![
                e.seq.to_string(),
                e.time.clone(),
                g("direction"),
                g("starts"),
                g("transactions"),
                g("hops"),
                if partial == 0 {
                    "complete".into()
                } else {
                    format!("PARTIAL ({partial} not followed)")
                },
                g("trace_sha256"),
            ]
        })
        .collect();
    let Some((seq, latest)) = latest_trace(case)? else {
        return Ok(None);
    };
    let mut html = table(
        &[
            "seq",
            "time",
            "direction",
            "starts",
            "transactions",
            "hops",
            "result",
            "trace.json sha256",
        ],
        &runs,
    );
    html.push_str(&format!(
        "<h3>Latest trace (seq {seq})</h3>{}",
        latest.html_section()
    ));
    Ok(Some(Section {
        title: "Tracing".into(),
        html,
    }))
}

fn run_view(app: &App, out: Option<&Path>) -> CmdResult {
    let case = app.require_case()?;
    let Some((_, report)) = latest_trace(&case)? else {
        return Err(Failure::input(anyhow!(
            "case {} holds no trace yet: run `custos trace forward|backward START --case DIR` first",
            case.info().case_id
        )));
    };
    let html = export::html(&report.view());
    match out {
        Some(p) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .map_err(|e| Failure::env(anyhow!("cannot create {}: {e}", p.display())))?;
            f.write_all(html.as_bytes())
                .map_err(|e| Failure::env(anyhow!("cannot write {}: {e}", p.display())))?;
        }
        None => out!("{html}")?,
    }
    Ok(())
}

/// Trace progress in words (hops, transactions, round trips), on the shared progress line.
struct ProgressBar(crate::progress::ProgressLine);

impl ProgressBar {
    fn new() -> Self {
        ProgressBar(crate::progress::ProgressLine::new())
    }

    fn update(&mut self, p: &Progress) {
        let line = match p {
            Progress::Headers { done, total } => {
                format!("trace: headers {done}/{total} validated")
            }
            Progress::Hop {
                hop,
                frontier,
                transactions,
                round_trips,
            } => format!(
                "trace: hop {hop}: {frontier} coin(s) to follow, {transactions} transactions, {round_trips} round trips"
            ),
            _ => return,
        };
        self.0.show(&line);
    }

    fn finish(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_to_utc_midnight() {
        assert_eq!(parse_time("1970-01-01").unwrap_or(1), 0);
        assert_eq!(parse_time("2025-01-01").unwrap_or(0), 1_735_689_600);
        assert_eq!(parse_time("1735689600").unwrap_or(0), 1_735_689_600);
        assert!(parse_time("2025-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn address_of_another_network_is_refused_naming_it() {
        let f = parse_start(
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            Network::Regtest,
        )
        .err()
        .map(|f| (f.code, format!("{:#}", f.error)));
        let (code, msg) = f.unwrap_or_default();
        assert_eq!(code, exit::INPUT);
        assert!(msg.contains("not a regtest address"), "{msg}");
    }

    #[test]
    fn starts_parse_txid_outpoint_and_address() {
        let t = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
        assert!(matches!(parse_start(t, Network::Regtest), Ok(Start::Tx(_))));
        assert!(matches!(
            parse_start(&format!("{t}:1"), Network::Regtest),
            Ok(Start::Outpoint(o)) if o.vout == 1
        ));
        assert!(matches!(
            parse_start(
                "bcrt1q7ptzv0nc6p6xvx3c0gyj2rwdc8s6rkta68gpde",
                Network::Regtest
            ),
            Ok(Start::Script { .. })
        ));
        assert!(parse_start("nonsense", Network::Regtest).is_err());
    }
}
