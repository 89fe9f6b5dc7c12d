//! `custos inspect INPUT`: discovery scan of public material (a watch-only file from the signer,
//! xpubs/ypubs/zpubs, descriptors, address lists) against an Electrum server, SPV-verified, with
//! the inventory and its evidence recorded in the case. `custos inspect report` renders the
//! recorded inventory as HTML.

use std::{path::PathBuf, time::Duration};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::{report::Section, Case, NewArtifact};
use custos_chain::{CachedSource, ElectrumOptions, ElectrumSource};
use custos_core::{
    inventory::{Inventory, WatchOnly, INVENTORY_FORMAT, WATCH_ONLY_FORMAT},
    ledger::EventDraft,
    source::{BitcoinSource, SourceError},
    Network, SecretString,
};
use custos_inspect::{render, scan, Accounts, Paths, Progress, ScanOptions, ScanReport};

use crate::app::{exit, print_json, App, CmdResult, Failure};

/// Ledger event kind of a completed scan.
pub const EVENT_KIND: &str = "inspect.scan";

/// `custos inspect`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InspectArgs {
    #[command(subcommand)]
    sub: Option<InspectSub>,
    /// Public material: a watch-only file from `custos-signer material watch-only`, or a file /
    /// argument holding xpubs (SLIP-132 forms too), descriptors or addresses, one per line;
    /// `-` reads stdin. Secret material is refused: convert it on the signer.
    input: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Second Electrum server to cross-check every answer with.
    #[arg(long, value_name = "URL")]
    verify_with: Option<String>,
    /// Sources to scan: `all`, or a comma list of catalogue ids / labels (e.g. bip84,bip86).
    #[arg(long, default_value = "all")]
    paths: String,
    /// Gap limit of receive chains (consecutive unused addresses before a chain is done).
    #[arg(long, default_value_t = custos_inspect::DEFAULT_GAP)]
    gap: u32,
    /// Gap limit of change chains.
    #[arg(long, default_value_t = custos_inspect::DEFAULT_CHANGE_GAP)]
    change_gap: u32,
    /// Accounts: `auto` (BIP44 discovery: account n+1 only when account n has history) or N
    /// (accounts 0..N regardless of history).
    #[arg(long, default_value = "auto")]
    accounts: String,
    /// CSV instead of a table.
    #[arg(long)]
    csv: bool,
    /// Write the inventory file (input of `custos sweep build`) here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replay the scan from the case's cache (no network).
    #[arg(long)]
    offline: bool,
}

/// Connection options shared by inspect, trace, sweep, broadcast and watch.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// Electrum server: tcp://host:port, ssl://host:port (TLS) or host:port.
    #[arg(long, env = "CUSTOS_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// SOCKS5 proxy for the connection (Tor: 127.0.0.1:9050).
    #[arg(long, value_name = "HOST:PORT")]
    pub socks5: Option<String>,
    /// Socket timeout in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Trust an ssl:// server only if its certificate has this SHA-256 fingerprint (64 hex
    /// digits, colons allowed, as `openssl x509 -fingerprint -sha256` prints it); this is how
    /// self-signed servers are reached. With a case open it is recorded for later runs. Without
    /// it, a case pins the certificate seen on first use; without a case, the CA roots decide.
    #[arg(long, value_name = "SHA256")]
    pub tls_fingerprint: Option<custos_chain::Fingerprint>,
    /// The global `--case` (read here to record and check TLS certificates).
    #[arg(from_global)]
    pub case: Option<PathBuf>,
    /// The global `--expect-case-id`.
    #[arg(from_global)]
    pub expect_case_id: Option<String>,
}

impl ServerArgs {
    /// Connects to the server (`url`, else `--server`). For `ssl://` the certificate is checked
    /// by `--tls-fingerprint`, else by the fingerprint the case recorded (trust on first use),
    /// else by the CA roots; a fingerprint seen or given is recorded in the case.
    pub fn connect(&self, url: Option<&str>) -> CmdResult<ElectrumSource> {
        let url = url.or(self.server.as_deref()).ok_or_else(|| {
            Failure::input(anyhow!(
                "no server: pass --server URL (or set CUSTOS_SERVER)"
            ))
        })?;
        let normalized = custos_chain::electrum::normalize_url(url).map_err(Failure::input)?;
        let case = match (&self.case, normalized.starts_with("ssl://")) {
            (Some(dir), true) => Some(match &self.expect_case_id {
                Some(id) => Case::open_expecting(dir, id)?,
                None => Case::open(dir)?,
            }),
            _ => None,
        };
        let tls = custos_chain::tls::trust_for(case.as_ref(), &normalized, self.tls_fingerprint)
            .map_err(Failure::env)?;
        let opts = ElectrumOptions {
            socks5: self.socks5.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            tls,
            ..ElectrumOptions::default()
        };
        let source = ElectrumSource::connect(&normalized, opts).map_err(|e| match e {
            custos_chain::Error::Url { .. } => Failure::input(e),
            other => Failure::env(other),
        })?;
        if let (Some(case), Some(fp)) = (&case, source.tls_fingerprint()) {
            if custos_chain::tls::remember(case, &normalized, fp).map_err(Failure::env)? {
                tracing::info!(target: "custos::tls", server = %custos_chain::tls::server_key(&normalized), fingerprint = %fp,
                    "recorded the server's certificate in the case: later connections must present it");
            }
        }
        Ok(source)
    }
}

#[derive(Debug, Subcommand)]
enum InspectSub {
    /// Render the case's latest inventory as a self-contained HTML report.
    Report {
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs `custos inspect`.
pub fn run(app: &App, args: &InspectArgs) -> CmdResult {
    if let Some(InspectSub::Report { out }) = &args.sub {
        return run_report(app, out.as_deref());
    }
    let input = args.input.as_deref().ok_or_else(|| {
        Failure::input(anyhow!(
            "missing INPUT: a watch-only file, xpubs, descriptors or addresses"
        ))
    })?;
    if let Some(out) = args.out.as_deref().filter(|p| p.exists()) {
        // Refuse before the scan, not after it: `--out` is never overwritten.
        return Err(custos_core::file::FileError::Exists {
            path: out.to_path_buf(),
        }
        .into());
    }
    let mut case = app.open_case()?;
    if args.offline && case.is_none() {
        return Err(Failure::input(anyhow!(
            "--offline replays a case's cache: pass --case DIR"
        )));
    }
    let network = app.network(case.as_ref());
    let (watch, watch_bytes) = load_watch_only(input, network)?;
    if watch.network != network {
        return Err(Failure::input(anyhow!(
            "the watch-only file is for {}, this command runs on {network} (use --network or a case on {})",
            watch.network,
            watch.network
        )));
    }
    let opts = ScanOptions {
        gap_receive: args.gap.max(1),
        gap_change: args.change_gap.max(1),
        accounts: parse_accounts(&args.accounts)?,
        paths: parse_paths(&args.paths),
    };
    let mut bar = ProgressBar::new(app);
    let report = {
        let electrum = if args.offline {
            None
        } else {
            Some(args.server.connect(None)?)
        };
        let second = match (&args.verify_with, args.offline) {
            (Some(_), true) => {
                return Err(Failure::input(anyhow!(
                    "--verify-with needs the network; it cannot run with --offline"
                )))
            }
            (Some(url), false) => Some(args.server.connect(Some(url))?),
            (None, _) => None,
        };
        let cached;
        let primary: &dyn BitcoinSource = match (&electrum, case.as_ref()) {
            (Some(e), Some(c)) => {
                cached = CachedSource::online(e, c);
                &cached
            }
            (Some(e), None) => e,
            (None, Some(c)) => {
                cached = CachedSource::offline(c);
                &cached
            }
            (None, None) => return Err(Failure::input(anyhow!("no source"))),
        };
        let second_ref: Option<&dyn BitcoinSource> =
            second.as_ref().map(|s| s as &dyn BitcoinSource);
        let r = scan(&watch, primary, second_ref, &opts, &mut |p| bar.update(&p));
        bar.finish();
        r.map_err(|e| match e {
            custos_inspect::Error::Source(SourceError::Transport { .. }) => Failure::env(e),
            custos_inspect::Error::Source(_) => Failure::env(e),
            other => Failure::input(other),
        })?
    };

    let inv_json = serde_json::to_vec_pretty(&report.inventory).map_err(Failure::env)?;
    if let Some(path) = &args.out {
        custos_core::file::write_new(path, &inv_json)?;
    }
    if let Some(c) = case.as_mut() {
        record(app, c, &report, &watch_bytes, &inv_json, args)?;
    }
    if app.json {
        print_json(&serde_json::json!({
            "inventory": report.inventory,
            "sources": report.sources,
            "tx_status": report.tx_status,
            "round_trips": report.round_trips,
            "verify_round_trips": report.verify_round_trips,
            "rounds": report.rounds,
            "scripts_scanned": report.scripts_scanned,
            "cross_check": report.cross_check,
        }))?;
    } else if args.csv {
        out!("{}", render::csv(&report.inventory))?;
    } else {
        out!("{}", render::text(&report.inventory, &report.sources))?;
        outln!(
            "round trips: {} ({} discovery rounds over {} scripts){}",
            report.round_trips,
            report.rounds,
            report.scripts_scanned,
            if report.verify_round_trips > 0 {
                format!(", {} to the second server", report.verify_round_trips)
            } else {
                String::new()
            }
        )?;
    }
    if report.inventory.complete {
        Ok(())
    } else {
        Err(Failure {
            code: exit::FINDING,
            error: anyhow!(
                "scan incomplete or not fully verified ({} warning(s)); the totals are not final",
                report.inventory.warnings.len()
            ),
        })
    }
}

fn parse_accounts(s: &str) -> CmdResult<Accounts> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Accounts::Auto);
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .map(Accounts::Fixed)
        .ok_or_else(|| {
            Failure::input(anyhow!(
                "--accounts {s:?}: expected auto or a positive number"
            ))
        })
}

fn parse_paths(s: &str) -> Paths {
    if s.eq_ignore_ascii_case("all") {
        Paths::All
    } else {
        Paths::Only(
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
        )
    }
}

/// Whether INPUT names a file rather than being material: `-`, anything that exists on disk,
/// or a single word with a `/` that is no descriptor (`wpkh([fp/84'/..]..)` has brackets).
fn names_a_file(input: &str) -> bool {
    input == "-"
        || std::path::Path::new(input).exists()
        || (input.contains('/') && !input.contains(|c: char| c.is_whitespace() || "([".contains(c)))
}

/// Reads INPUT: a file path, `-` for stdin, or the material itself. A path that is missing,
/// a directory or too large is reported as such, never parsed as material.
fn read_input(input: &str) -> CmdResult<String> {
    if names_a_file(input) {
        let limit = custos_core::file::Limit {
            kind: "watch-only file or material file",
            bytes: custos_core::file::WATCH_ONLY.bytes,
        };
        return Ok(custos_core::file::read_text_or_stdin(
            std::path::Path::new(input),
            limit,
        )?);
    }
    Ok(input.to_string())
}

/// A watch-only file as is, or public material turned into one through custos-keys.
fn load_watch_only(input: &str, network: Network) -> CmdResult<(WatchOnly, Vec<u8>)> {
    let text = read_input(input)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| {
            Failure::input(anyhow!("input looks like JSON but does not parse: {e}"))
        })?;
        let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if format == INVENTORY_FORMAT {
            return Err(Failure::input(anyhow!(
                "input is an inventory (the result of a scan), not a watch-only file; render it with `custos inspect report` or pass the watch-only file"
            )));
        }
        if format != WATCH_ONLY_FORMAT {
            return Err(Failure::input(anyhow!(
                "JSON input has format {format:?}; expected {WATCH_ONLY_FORMAT:?}"
            )));
        }
        let w: WatchOnly = serde_json::from_value(v).map_err(|e| {
            Failure::input(anyhow!(
                "watch-only file does not match {WATCH_ONLY_FORMAT}: {e}"
            ))
        })?;
        return Ok((w, text.into_bytes()));
    }
    let secret = SecretString::new(text);
    let material = custos_keys::classify(&secret, network).map_err(Failure::input)?;
    if material.is_secret() {
        return Err(Failure::input(anyhow!(
            "input is secret material ({}); the online workstation does not take secrets: run `custos-signer material watch-only` on the air-gapped signer and inspect its watch-only file",
            material.kind_name()
        )));
    }
    let w = custos_keys::watch_only(
        &material,
        None,
        network,
        &custos_keys::Catalogue::builtin(),
        &custos_keys::WatchOnlyOptions::default(),
    )
    .map_err(Failure::input)?;
    let bytes = serde_json::to_vec_pretty(&w).map_err(Failure::env)?;
    Ok((w, bytes))
}

fn record(
    app: &App,
    case: &mut Case,
    report: &ScanReport,
    watch_bytes: &[u8],
    inv_json: &[u8],
    args: &InspectArgs,
) -> CmdResult {
    let mut artifacts = vec![
        NewArtifact {
            kind: "inventory".into(),
            name: "inventory.json".into(),
            data: inv_json.to_vec(),
        },
        NewArtifact {
            kind: "watch_only".into(),
            name: "watch-only.json".into(),
            data: watch_bytes.to_vec(),
        },
    ];
    for (txid, raw, ok) in &report.evidence.raw_txs {
        artifacts.push(NewArtifact {
            kind: if *ok {
                "raw_tx".into()
            } else {
                "raw_tx_rejected".into()
            },
            name: txid.to_string(),
            data: raw.clone(),
        });
    }
    let proofs: Vec<serde_json::Value> = report
        .evidence
        .proofs
        .iter()
        .map(|(p, st)| serde_json::json!({ "proof": p, "status": st }))
        .collect();
    artifacts.push(NewArtifact {
        kind: "merkle_proofs".into(),
        name: "merkle-proofs.json".into(),
        data: serde_json::to_vec_pretty(&proofs).map_err(Failure::env)?,
    });
    let headers: Vec<serde_json::Value> = report
        .evidence
        .headers
        .iter()
        .map(|(h, hd)| {
            serde_json::json!({
                "height": h,
                "hash": hd.block_hash().to_string(),
                "header": hex_header(hd),
            })
        })
        .collect();
    artifacts.push(NewArtifact {
        kind: "headers".into(),
        name: "headers.json".into(),
        data: serde_json::to_vec_pretty(&headers).map_err(Failure::env)?,
    });
    let inv_sha = artifacts[0].sha256();
    let inv = &report.inventory;
    let draft = EventDraft::new(
        EVENT_KIND,
        serde_json::json!({
            "servers": inv.servers,
            "offline": args.offline,
            "tip_height": inv.tip_height,
            "tip_hash": inv.tip_hash,
            "complete": inv.complete,
            "confirmed_sat": inv.confirmed.0,
            "unconfirmed_sat": inv.unconfirmed.0,
            "used_addresses": inv.addresses.len(),
            "utxos": inv.utxos.len(),
            "warnings": inv.warnings.len(),
            "round_trips": report.round_trips,
            "inventory_sha256": inv_sha,
            "gap": args.gap,
            "change_gap": args.change_gap,
            "accounts": args.accounts,
            "paths": args.paths,
        }),
    );
    app.record(Some(case), draft, artifacts)?;
    Ok(())
}

fn hex_header(h: &bitcoin::block::Header) -> String {
    hex::encode(bitcoin::consensus::serialize(h))
}

/// The latest inventory recorded in the case, if any.
pub fn latest_inventory(case: &Case) -> CmdResult<Option<Inventory>> {
    let events = case.events()?;
    let Some(ev) = events.iter().rev().find(|e| e.kind == EVENT_KIND) else {
        return Ok(None);
    };
    let sha = ev
        .payload
        .get("inventory_sha256")
        .and_then(|v| v.as_str())
        .ok_or_else(|| Failure::input(anyhow!("event {} has no inventory_sha256", ev.seq)))?;
    let a = case.artifact(sha)?;
    let inv: Inventory = serde_json::from_slice(&a.data)
        .map_err(|e| Failure::input(anyhow!("inventory artifact {sha} does not parse: {e}")))?;
    Ok(Some(inv))
}

/// The inventory section of the case report (none before the first scan).
pub fn report_section(case: &Case) -> CmdResult<Option<Section>> {
    Ok(latest_inventory(case)?.map(|inv| render::html_section(&inv)))
}

fn run_report(app: &App, out: Option<&std::path::Path>) -> CmdResult {
    let case = app.require_case()?;
    let Some(section) = report_section(&case)? else {
        return Err(Failure::input(anyhow!(
            "case {} holds no inventory yet: run `custos inspect INPUT --case DIR` first",
            case.info().case_id
        )));
    };
    let events = case.events()?;
    let artifacts = case.artifacts()?;
    let verify = case.verify(None)?;
    let html = custos_case::report::render_html(
        case.info(),
        &events,
        &artifacts,
        &verify,
        &[section],
        &custos_core::ledger::now_utc(),
    );
    match out {
        Some(p) => custos_core::file::write_new(p, html.as_bytes())?,
        None => out!("{html}")?,
    }
    Ok(())
}

/// Inspection's progress events in words, on the shared progress line.
struct ProgressBar(crate::progress::ProgressLine);

impl ProgressBar {
    fn new(_app: &App) -> Self {
        ProgressBar(crate::progress::ProgressLine::new())
    }

    fn update(&mut self, p: &Progress) {
        if !self.0.is_on() {
            return;
        }
        let line = match p {
            Progress::Tip { height } => format!("inspect: tip at height {height}"),
            Progress::Window {
                round,
                scripts,
                used,
            } => {
                format!("inspect: discovery round {round}: {scripts} scripts asked, {used} used addresses so far")
            }
            Progress::Transactions { count } => {
                format!("inspect: {count} transactions fetched and hashed")
            }
            Progress::Headers { done, total } => {
                let pct = u64::from(*done) * 100 / u64::from((*total).max(1));
                format!(
                    "inspect: headers {done}/{total} validated [{:<20}] {pct}%",
                    "#".repeat((pct / 5) as usize)
                )
            }
            Progress::Proofs { count } => format!("inspect: {count} merkle proofs checked"),
            Progress::CrossCheck { server } => format!("inspect: cross-checking with {server}"),
        };
        self.0.show(&line);
    }

    fn finish(&mut self) {
        self.0.finish();
    }
}
