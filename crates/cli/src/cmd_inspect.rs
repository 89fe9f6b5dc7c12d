//! `custos inspect INPUT`: discovery scan of public material (a watch-only file from the signer,
//! xpubs/ypubs/zpubs, descriptors, address lists) against an Electrum server, SPV-verified, with
//! the inventory and its evidence recorded in the case. `custos inspect report` renders the
//! recorded inventory as HTML.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::{report::Section, Case, NewArtifact};
use custos_chain::{CachedSource, ElectrumOptions, ElectrumSource};
use custos_core::{
    inventory::{
        is_inventory_format, CustodyPolicy, Inventory, WatchOnly, WatchSource,
        CUSTODY_POLICY_FORMAT, WATCH_ONLY_FORMAT,
    },
    ledger::EventDraft,
    source::{BitcoinSource, SourceError},
    Network, SecretString,
};
use custos_inspect::{render, scan, Accounts, Paths, Progress, ScanOptions, ScanReport};

use crate::app::{exit, print_json, App, CmdResult, Failure};

/// Ledger event kind of a completed scan.
pub(crate) const EVENT_KIND: &str = custos_case::kinds::INSPECT_SCAN;

/// `custos inspect`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct InspectArgs {
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
    /// Forensic completeness: raise --gap and --change-gap to at least 1000 and scan every
    /// account the watch-only file lists, up to 20, whatever their history (`--deep` on
    /// `custos-signer material watch-only` puts more layouts and accounts in the file).
    #[arg(long)]
    deep: bool,
    /// CSV instead of a table.
    #[arg(long)]
    csv: bool,
    /// Write the inventory file (input of `custos sweep build`) here.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replay the scan from the case's cache (no network).
    #[arg(long)]
    offline: bool,
    /// Ethereum material (`--network ethereum`, or recognised: eth watch-only, keystore, 0x lines).
    #[command(flatten)]
    eth: crate::eth::inspect::EthInspectArgs,
}

/// Connection options shared by inspect, trace, sweep, broadcast and watch.
#[derive(Debug, Args, Clone)]
pub(crate) struct ServerArgs {
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
    pub(crate) fn connect(&self, url: Option<&str>) -> CmdResult<ElectrumSource> {
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

/// The source a scan or trace asks: the server, through the case's cache when there is a case;
/// only the cache when offline.
pub(crate) enum PrimarySource<'a> {
    /// The server, no case.
    Direct(&'a ElectrumSource),
    /// The case's cache (filled from the server when online).
    Cached(CachedSource<'a>),
}

impl<'a> PrimarySource<'a> {
    /// Chooses the source from the server connection (`None` offline) and the case.
    pub(crate) fn new(
        electrum: Option<&'a ElectrumSource>,
        case: Option<&'a Case>,
    ) -> CmdResult<Self> {
        Ok(match (electrum, case) {
            (Some(e), Some(c)) => PrimarySource::Cached(CachedSource::online(e, c)),
            (Some(e), None) => PrimarySource::Direct(e),
            (None, Some(c)) => PrimarySource::Cached(CachedSource::offline(c)),
            (None, None) => return Err(Failure::input(anyhow!("no source"))),
        })
    }

    /// The source to ask.
    pub(crate) fn get(&self) -> &dyn BitcoinSource {
        match self {
            PrimarySource::Direct(e) => *e,
            PrimarySource::Cached(c) => c,
        }
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
pub(crate) fn run(app: &App, args: &InspectArgs) -> CmdResult {
    if let Some(InspectSub::Report { out }) = &args.sub {
        return run_report(app, out.as_deref());
    }
    let input = args.input.as_deref().ok_or_else(|| {
        Failure::input(anyhow!(
            "missing INPUT: a watch-only file, xpubs, descriptors or addresses"
        ))
    })?;
    if app.ethereum || crate::eth::inspect::looks_like_ethereum(input) {
        let (gap, paths, out) = (args.gap, &args.paths, args.out.as_deref());
        return crate::eth::inspect::run(app, input, gap, paths, out, &args.eth);
    }
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
    let (watch, watch_bytes, spendable) = load_watch_only(input, network)?;
    if watch.network != network {
        return Err(Failure::input(anyhow!(
            "the watch-only file is for {}, this command runs on {network} (use --network or a case on {})",
            watch.network,
            watch.network
        )));
    }
    let opts = scan_options(args)?;
    let report = scan_sources(app, args, case.as_ref(), &watch, &opts)?;

    let inv_json = serde_json::to_vec_pretty(&report.inventory).map_err(Failure::env)?;
    if let Some(path) = &args.out {
        custos_core::file::write_new(path, &inv_json)?;
    }
    if let Some(c) = case.as_mut() {
        let material = Material {
            watch: &watch,
            bytes: &watch_bytes,
            input_name: input_name(input),
            spendable,
        };
        record(app, c, &report, &material, &inv_json, args)?;
    }
    print_scan(app, args, &report, &watch)?;
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

/// Connects the sources (the server, through the case's cache when there is a case; only the
/// cache with `--offline`; the `--verify-with` server) and runs the scan with a progress bar.
fn scan_sources(
    app: &App,
    args: &InspectArgs,
    case: Option<&Case>,
    watch: &WatchOnly,
    opts: &ScanOptions,
) -> CmdResult<ScanReport> {
    let mut bar = ProgressBar::new(app);
    let electrum = if args.offline {
        None
    } else {
        let e = args.server.connect(None)?;
        e.on_progress(bar.hook());
        Some(e)
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
    let primary = PrimarySource::new(electrum.as_ref(), case)?;
    let primary = primary.get();
    let second_ref: Option<&dyn BitcoinSource> = second.as_ref().map(|s| s as &dyn BitcoinSource);
    let r = scan(watch, primary, second_ref, opts, &mut |p| bar.update(&p));
    bar.finish();
    r.map_err(|e| match e {
        custos_inspect::Error::Source(SourceError::Transport { .. }) => Failure::env(e),
        custos_inspect::Error::Source(_) => Failure::env(e),
        other => Failure::input(other),
    })
}

/// The scan's result as JSON, CSV, or text with coverage and round trips.
fn print_scan(app: &App, args: &InspectArgs, report: &ScanReport, watch: &WatchOnly) -> CmdResult {
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
            "settings": report.settings,
            "skipped": report.skipped,
            "single_server": args.verify_with.is_none(),
        }))?;
    } else if args.csv {
        out!("{}", render::csv(&report.inventory))?;
    } else {
        out!("{}", render::text(&report.inventory, &report.sources))?;
        out!(
            "{}",
            coverage_text(report, watch, args.verify_with.is_some(), args.deep)
        )?;
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
    Ok(())
}

/// Gap limit and account count `--deep` raises the scan to (at least).
pub(crate) const DEEP_GAP: u32 = 1000;
/// Accounts `--deep` scans (at least), whatever their history.
pub(crate) const DEEP_ACCOUNTS: u32 = 20;

/// The scan options from the command line; `--gap 0` is refused by the scan itself.
fn scan_options(args: &InspectArgs) -> CmdResult<ScanOptions> {
    let mut opts = ScanOptions {
        gap_receive: args.gap,
        gap_change: args.change_gap,
        accounts: parse_accounts(&args.accounts)?,
        paths: parse_paths(&args.paths),
    };
    if args.deep {
        opts.gap_receive = opts.gap_receive.max(DEEP_GAP);
        opts.gap_change = opts.gap_change.max(DEEP_GAP);
        opts.accounts = match opts.accounts {
            Accounts::Fixed(n) => Accounts::Fixed(n.max(DEEP_ACCOUNTS)),
            Accounts::Auto => Accounts::Fixed(DEEP_ACCOUNTS),
        };
    }
    if opts.gap_receive == 0 || opts.gap_change == 0 {
        return Err(Failure::input(anyhow!(
            "--gap and --change-gap must be at least 1 (a gap of 0 scans nothing)"
        )));
    }
    Ok(opts)
}

/// What the scan covered and what it did not: the limits used, the sources skipped and why,
/// what the watch-only file itself leaves out, and the single-server caveat.
fn coverage_text(
    report: &ScanReport,
    watch: &WatchOnly,
    verified_with_second: bool,
    deep: bool,
) -> String {
    use std::fmt::Write as _;
    let st = &report.settings;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "coverage: gap {} receive / {} change, accounts {} ({} in the watch-only file)",
        st.gap, st.change_gap, st.accounts, st.accounts_in_file
    );
    if report.skipped.is_empty() {
        let _ = writeln!(s, "sources skipped: none");
    } else {
        let _ = writeln!(s, "sources skipped: {}", report.skipped.len());
        for k in &report.skipped {
            let _ = writeln!(s, "  - {}: {}", k.label, k.reason);
        }
    }
    let _ = writeln!(
        s,
        "not covered: addresses after {} unused receive or {} unused change addresses in a row",
        st.gap, st.change_gap
    );
    if let Some(c) = watch.coverage.as_ref() {
        // The file's own gap line gives the limits it recommends; the scan's are said above.
        let rest: Vec<&String> = c
            .not_covered
            .iter()
            .filter(|n| !n.starts_with("addresses after "))
            .collect();
        if !rest.is_empty() {
            let _ = writeln!(s, "not covered by the watch-only file:");
        }
        for n in rest {
            let _ = writeln!(s, "  - {n}");
        }
        if !c.deep || !deep {
            let _ = writeln!(
                s,
                "  (`custos-signer material watch-only --deep` and `custos inspect --deep` cover more)"
            );
        }
    }
    if !verified_with_second {
        let _ = writeln!(
            s,
            "note: only one server was asked; a server can hide history from you. --verify-with URL cross-checks every answer with a second server."
        );
    }
    s
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

/// Material description of a custody-policy scan (the custody wallet, not seized material).
pub(crate) const CUSTODY_MATERIAL: &str = "custody policy";

/// The custody wallet of a policy as a watch-only file: its receive and change descriptors
/// (`tr(NUMS, multi_a(...))`, `wsh(sortedmulti(...))`…), so its balance can be inspected and
/// watched like any other.
fn custody_watch_only(p: &CustodyPolicy, network: Network) -> CmdResult<WatchOnly> {
    if p.network != network {
        return Err(Failure::input(anyhow!(
            "custody policy {:?} is for {}, this command runs on {network}",
            p.name,
            p.network
        )));
    }
    let source = |label: &str, descriptor: &str, change: bool| WatchSource {
        label: label.into(),
        descriptor: descriptor.into(),
        change,
        catalogue_id: Some("custody".into()),
        account: None,
        wallets: vec![],
    };
    let id = format!("{}\n{}", p.receive_descriptor, p.change_descriptor);
    Ok(WatchOnly {
        format: WATCH_ONLY_FORMAT.into(),
        network: p.network,
        created: custos_core::ledger::now_utc(),
        material: format!(
            "{CUSTODY_MATERIAL} {:?} ({}-of-{})",
            p.name,
            p.threshold,
            p.keys.len()
        ),
        fingerprint: {
            use bitcoin::hashes::Hash as _;
            bitcoin::hashes::sha256::Hash::hash(id.as_bytes()).to_string()
        },
        sources: vec![
            source("custody/receive", &p.receive_descriptor, false),
            source("custody/change", &p.change_descriptor, true),
        ],
        coverage: None,
    })
}

/// The name INPUT is recorded under: a file's name, `stdin`, or `argument`.
fn input_name(input: &str) -> String {
    if input == "-" {
        "stdin".into()
    } else if names_a_file(input) {
        std::path::Path::new(input)
            .file_name()
            .map_or_else(|| input.to_string(), |n| n.to_string_lossy().into_owned())
    } else {
        "argument".into()
    }
}

/// The material a scan was made of, for the ledger.
struct Material<'a> {
    watch: &'a WatchOnly,
    bytes: &'a [u8],
    input_name: String,
    /// Private material is held (on the signer): the funds can be moved.
    spendable: bool,
}

/// A watch-only file as is, or public material turned into one through custos-keys; with
/// whether private material stands behind it (a watch-only file made from a seed or keys).
fn load_watch_only(input: &str, network: Network) -> CmdResult<(WatchOnly, Vec<u8>, bool)> {
    let text = read_input(input)?;
    let trimmed = text.trim_start();
    if custos_core::file::is_json_object(trimmed) {
        let v: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| {
            Failure::input(anyhow!("input looks like JSON but does not parse: {e}"))
        })?;
        let format = v.get("format").and_then(|f| f.as_str()).unwrap_or("");
        if is_inventory_format(format) {
            return Err(Failure::input(anyhow!(
                "input is an inventory (the result of a scan), not a watch-only file; render it with `custos inspect report` or pass the watch-only file"
            )));
        }
        if format == CUSTODY_POLICY_FORMAT {
            let p: CustodyPolicy = serde_json::from_value(v).map_err(|e| {
                Failure::input(anyhow!(
                    "custody policy does not match {CUSTODY_POLICY_FORMAT}: {e}"
                ))
            })?;
            let w = custody_watch_only(&p, network)?;
            let bytes = serde_json::to_vec_pretty(&w).map_err(Failure::env)?;
            return Ok((w, bytes, false));
        }
        if format != WATCH_ONLY_FORMAT {
            return Err(Failure::input(anyhow!(
                "JSON input has format {format:?}; expected {WATCH_ONLY_FORMAT:?} (or a custody policy, {CUSTODY_POLICY_FORMAT:?})"
            )));
        }
        let w: WatchOnly = serde_json::from_value(v).map_err(|e| {
            Failure::input(anyhow!(
                "watch-only file does not match {WATCH_ONLY_FORMAT}: {e}"
            ))
        })?;
        let spendable = crate::report::describes_private_material(&w.material);
        return Ok((w, text.into_bytes(), spendable));
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
    Ok((w, bytes, false))
}

fn record(
    app: &App,
    case: &mut Case,
    report: &ScanReport,
    material: &Material<'_>,
    inv_json: &[u8],
    args: &InspectArgs,
) -> CmdResult {
    let watch_bytes = material.bytes;
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
    let watch_sha = artifacts[1].sha256();
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
            "gap": report.settings.gap,
            "change_gap": report.settings.change_gap,
            "accounts": report.settings.accounts,
            "deep": args.deep,
            "paths": args.paths,
            "sources": material.watch.sources.len(),
            "sources_skipped": report.skipped.len(),
            "input_name": material.input_name,
            "material": material.watch.material,
            "fingerprint": material.watch.fingerprint,
            "spendable": material.spendable,
            "watch_only_sha256": watch_sha,
        }),
    );
    app.record(Some(case), draft, artifacts)?;
    Ok(())
}

fn hex_header(h: &bitcoin::block::Header) -> String {
    hex::encode(bitcoin::consensus::serialize(h))
}

/// The latest inventory recorded in the case, if any.
pub(crate) fn latest_inventory(case: &Case) -> CmdResult<Option<Inventory>> {
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
pub(crate) fn report_section(case: &Case) -> CmdResult<Option<Section>> {
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
    let mut sections: Vec<Section> = crate::report::what_was_seized_section(&case)?
        .into_iter()
        .collect();
    sections.push(section);
    let events = case.events()?;
    let artifacts = case.artifacts()?;
    let verify = case.verify(None)?;
    let html = custos_case::report::render_html(
        case.info(),
        &events,
        &artifacts,
        &verify,
        &sections,
        &custos_core::ledger::now_utc(),
    );
    match out {
        Some(p) => custos_core::file::write_new(p, html.as_bytes())?,
        None => out!("{html}")?,
    }
    Ok(())
}

/// Inspection's progress events in words, on the shared progress line (shared with the
/// server connection, which reports answers arriving within a long round trip).
struct ProgressBar(Arc<Mutex<crate::progress::ProgressLine>>);

impl ProgressBar {
    fn new(_app: &App) -> Self {
        ProgressBar(Arc::new(Mutex::new(crate::progress::ProgressLine::new())))
    }

    fn line(&self) -> std::sync::MutexGuard<'_, crate::progress::ProgressLine> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A hook for the server connection: answers received within a round trip.
    fn hook(&self) -> custos_chain::electrum::ProgressHook {
        let line = self.0.clone();
        Box::new(move |done, total| {
            let mut l = line.lock().unwrap_or_else(|p| p.into_inner());
            if l.is_on() {
                l.show(&format!("inspect: {done}/{total} answers received"));
            }
        })
    }

    fn update(&mut self, p: &Progress) {
        let mut l = self.line();
        if !l.is_on() {
            return;
        }
        let line = match p {
            Progress::Tip { height } => format!("inspect: tip at height {height}"),
            Progress::Network { headers } => {
                format!("inspect: {headers} headers validated from genesis: the server is on this network")
            }
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
            Progress::Proofs { count } => format!("inspect: {count} merkle proofs checked"),
            Progress::CrossCheck { server } => format!("inspect: cross-checking with {server}"),
        };
        l.show(&line);
    }

    fn finish(&mut self) {
        self.line().finish();
    }
}
