//! `custos sweep build`: spend every UTXO of an inventory to the next unused custody addresses,
//! as one or more unsigned PSBTs (each under the weight limit), for offline signing with
//! `custos-signer sign`.
//!
//! The fee rate is given in sat/vB (exact decimal, at most 3 places) or `auto` (the server's
//! estimate for `--target-blocks`, never below its relay fee); the nLockTime is the current tip
//! height (`--tip-height`, or the server's tip). Recorded in the case with the PSBTs.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::NewArtifact;
use custos_core::{
    inventory::{CustodyPolicy, Inventory},
    ledger::EventDraft,
    source::BitcoinSource,
};
use custos_tx::{
    build::{build_sweep, SweepParams},
    plan::{PlanParams, MAX_STANDARD_WEIGHT},
    psbt_io::to_base64,
    transport,
    weight::FeeRate,
};

use crate::{
    app::{print_json, App, CmdResult, Failure},
    cmd_inspect::ServerArgs,
};

/// Ledger event kind of a built sweep.
pub(crate) const EVENT_KIND: &str = custos_case::kinds::SWEEP_BUILD;

/// `custos sweep ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SweepCmd {
    /// Build unsigned sweep PSBTs from an inventory to the custody policy.
    Build(BuildArgs),
}

/// `custos sweep build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Inventory file (from `custos inspect`).
    #[arg(long, value_name = "FILE")]
    inventory: PathBuf,
    /// Custody policy file (from the key ceremony).
    #[arg(long, value_name = "FILE")]
    custody: PathBuf,
    /// Fee rate in sat/vB (e.g. 12 or 1.5), or `auto` to ask the server.
    #[arg(long, value_name = "SAT_PER_VB|auto")]
    fee_rate: String,
    /// Confirmation target for `--fee-rate auto`.
    #[arg(long, default_value_t = 6)]
    target_blocks: u16,
    /// Largest weight of one transaction (WU).
    #[arg(long, default_value_t = MAX_STANDARD_WEIGHT.to_wu())]
    max_weight: u64,
    /// Current tip height, used as nLockTime (default: the server's tip).
    #[arg(long)]
    tip_height: Option<u32>,
    /// Directory for the PSBTs and the summary (created; existing files are never overwritten).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// File name prefix of the PSBTs: `<prefix>-<n>.psbt`.
    #[arg(long, default_value = "sweep")]
    name: String,
    /// Also write each PSBT as BC-UR parts (`<prefix>-<n>.ur.txt`) and BBQr parts (`.bbqr.txt`).
    #[arg(long)]
    qr_parts: bool,
    /// Sweep an inventory whose scan did not finish (`"complete": false`): what it found
    /// may not be everything, so this is refused unless asked for.
    #[arg(long)]
    allow_incomplete: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `custos sweep`.
pub(crate) fn run(app: &App, cmd: &SweepCmd) -> CmdResult {
    match cmd {
        SweepCmd::Build(a) => build(app, a),
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
    limit: custos_core::file::Limit,
) -> CmdResult<(T, Vec<u8>)> {
    let bytes = custos_core::file::read_bytes(path, limit)?;
    let v = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::input(anyhow!("{} is not a {what} file: {e}", path.display())))?;
    Ok((v, bytes))
}

/// Parses `N` / `N.NNN` sat/vB exactly into a rate in sat/kvB.
pub(crate) fn parse_rate(s: &str) -> CmdResult<FeeRate> {
    let v = custos_core::amount::parse_decimal(s, 3)
        .map_err(|e| Failure::input(anyhow!("--fee-rate {s:?}: {e}")))?;
    let v = u64::try_from(v).map_err(|_| Failure::input(anyhow!("--fee-rate {s:?} too large")))?;
    if v == 0 {
        return Err(Failure::input(anyhow!("--fee-rate must be above zero")));
    }
    Ok(FeeRate(v))
}

fn build(app: &App, a: &BuildArgs) -> CmdResult {
    let mut case = app.open_case()?;
    let inputs = read_sweep_inputs(case.as_ref(), a)?;
    let (fee_rate_kvb, tip_height) =
        fee_rate_and_tip(&a.server, &a.fee_rate, a.target_blocks, a.tip_height)?;
    let mut plan = PlanParams::new(fee_rate_kvb);
    plan.max_weight = bitcoin::Weight::from_wu(a.max_weight);
    let params = SweepParams { plan, tip_height };
    let sweep = build_sweep(&inputs.inventory, &inputs.policy, &params).map_err(|e| match e {
        custos_tx::Error::NothingToSweep(_) => Failure::finding(e),
        other => Failure::input(other),
    })?;

    let mut outputs = sweep_outputs(a, &sweep)?;
    let summary = sweep_summary(a, &inputs, &sweep, &outputs.files, fee_rate_kvb, tip_height);
    let summary_bytes = serde_json::to_vec_pretty(&summary).map_err(Failure::env)?;
    write_sweep_outputs(a, &outputs, &summary_bytes)?;
    if let Some(c) = case.as_mut() {
        outputs
            .artifacts
            .extend(inputs.into_artifacts(a, summary_bytes));
        let shas: Vec<String> = outputs.artifacts.iter().map(|x| x.sha256()).collect();
        let draft = EventDraft::new(EVENT_KIND, summary.clone()).with_artifacts(shas);
        app.record(Some(c), draft, outputs.artifacts)?;
    }
    if app.json {
        return print_json(&summary);
    }
    print_sweep(&sweep, &outputs.files)
}

/// The inventory and custody policy of a sweep, parsed and with the bytes recorded in the case.
struct SweepInputs {
    inventory: Inventory,
    inv_bytes: Vec<u8>,
    policy: CustodyPolicy,
    policy_bytes: Vec<u8>,
}

impl SweepInputs {
    /// The inputs and the summary as case artifacts (after the PSBTs).
    fn into_artifacts(self, a: &BuildArgs, summary_bytes: Vec<u8>) -> [NewArtifact; 3] {
        [
            NewArtifact {
                kind: "inventory".into(),
                name: "sweep-inventory.json".into(),
                data: self.inv_bytes,
            },
            NewArtifact {
                kind: "custody_policy".into(),
                name: "custody-policy.json".into(),
                data: self.policy_bytes,
            },
            NewArtifact {
                kind: "sweep_summary".into(),
                name: format!("{}-summary.json", a.name),
                data: summary_bytes,
            },
        ]
    }
}

/// Reads the inventory and the policy; refuses an inventory for another network than the case's,
/// and an incomplete one unless `--allow-incomplete` was given.
fn read_sweep_inputs(case: Option<&custos_case::Case>, a: &BuildArgs) -> CmdResult<SweepInputs> {
    let (inventory, inv_bytes): (Inventory, _) =
        read_json(&a.inventory, "inventory", custos_core::file::INVENTORY)?;
    let (policy, policy_bytes): (CustodyPolicy, _) =
        read_json(&a.custody, "custody policy", custos_core::file::POLICY)?;
    if let Some(c) = case {
        if c.info().network != inventory.network {
            return Err(Failure::input(anyhow!(
                "inventory is for {}, the case for {}",
                inventory.network,
                c.info().network
            )));
        }
    }
    if !inventory.complete {
        if !a.allow_incomplete {
            return Err(Failure::finding(anyhow!(
                "refused: inventory {} is marked incomplete (the scan did not finish); \
                 re-run the scan, or give --allow-incomplete to sweep what it found",
                a.inventory.display()
            )));
        }
        tracing::warn!(target: "custos::sweep", "inventory scan was incomplete: sweeping what it found");
    }
    Ok(SweepInputs {
        inventory,
        inv_bytes,
        policy,
        policy_bytes,
    })
}

/// The fee rate (`--fee-rate N`, or with `auto` the server's estimate for `target_blocks`,
/// never below its relay fee) and the tip height used as nLockTime (given, or the server's tip);
/// connects only when one of them is needed. Shared by `sweep build` and `custody spend`.
pub(crate) fn fee_rate_and_tip(
    server: &ServerArgs,
    fee_rate: &str,
    target_blocks: u16,
    tip_height: Option<u32>,
) -> CmdResult<(FeeRate, u32)> {
    let source = if fee_rate == "auto" || tip_height.is_none() {
        Some(server.connect(None)?)
    } else {
        None
    };
    let rate = match &source {
        Some(src) if fee_rate == "auto" => {
            let relay = src.relay_fee().map_err(Failure::env)?.0;
            // No estimate for this target (the server has too little data): the relay fee is
            // the floor the network accepts, which the next line applies anyway.
            let est = src
                .estimate_fee(target_blocks)
                .map_err(Failure::env)?
                .map_or(relay, |r| r.0);
            FeeRate(est.max(relay).max(1))
        }
        _ => parse_rate(fee_rate)?,
    };
    let tip = match (tip_height, &source) {
        (Some(h), _) => h,
        (None, Some(src)) => src.tip().map_err(Failure::env)?.height,
        (None, None) => return Err(Failure::input(anyhow!("give --tip-height or --server"))),
    };
    Ok((rate, tip))
}

/// Everything a sweep writes besides its summary, rendered before anything is written.
struct SweepOutputs {
    /// Path and content of each PSBT (and its QR parts).
    writes: Vec<(PathBuf, Vec<u8>)>,
    /// The PSBT paths, as listed in the summary.
    files: Vec<String>,
    /// The PSBTs as case artifacts.
    artifacts: Vec<NewArtifact>,
}

/// Renders each PSBT as base64 (and as BC-UR and BBQr parts with `--qr-parts`).
fn sweep_outputs(a: &BuildArgs, sweep: &custos_tx::build::Sweep) -> CmdResult<SweepOutputs> {
    let mut out = SweepOutputs {
        writes: Vec::new(),
        files: Vec::new(),
        artifacts: Vec::new(),
    };
    for t in &sweep.txs {
        let name = format!("{}-{}.psbt", a.name, t.summary.batch);
        let path = a.out_dir.join(&name);
        let text = format!("{}\n", to_base64(&t.psbt));
        out.writes.push((path.clone(), text.into_bytes()));
        if a.qr_parts {
            let ur = transport::psbt_to_ur_parts(&t.psbt, 250, 0).map_err(Failure::env)?;
            out.writes.push((
                a.out_dir
                    .join(format!("{}-{}.ur.txt", a.name, t.summary.batch)),
                (ur.join("\n") + "\n").into_bytes(),
            ));
            let bb = transport::psbt_to_bbqr(&t.psbt, 1000).map_err(Failure::env)?;
            out.writes.push((
                a.out_dir
                    .join(format!("{}-{}.bbqr.txt", a.name, t.summary.batch)),
                (bb.join("\n") + "\n").into_bytes(),
            ));
        }
        out.files.push(path.display().to_string());
        out.artifacts.push(NewArtifact {
            kind: "psbt".into(),
            name,
            data: t.psbt.serialize(),
        });
    }
    Ok(out)
}

/// Creates the output directory and writes the PSBTs and the summary, all or none; refuses
/// before writing anything when any of them exists.
fn write_sweep_outputs(a: &BuildArgs, outputs: &SweepOutputs, summary: &[u8]) -> CmdResult {
    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Failure::env(anyhow!("cannot create {}: {e}", a.out_dir.display())))?;
    let mut writes = outputs.writes.clone();
    writes.push((
        a.out_dir.join(format!("{}-summary.json", a.name)),
        summary.to_vec(),
    ));
    if let Some((t, _)) = writes.iter().find(|(t, _)| t.exists()) {
        return Err(Failure::input(anyhow!(
            "{} already exists; not overwriting anything",
            t.display()
        )));
    }
    custos_core::file::write_all_new(&writes)?;
    Ok(())
}

/// The summary written beside the PSBTs and recorded in the case.
fn sweep_summary(
    a: &BuildArgs,
    inputs: &SweepInputs,
    sweep: &custos_tx::build::Sweep,
    files: &[String],
    fee_rate_kvb: FeeRate,
    tip_height: u32,
) -> serde_json::Value {
    let left_out: Vec<serde_json::Value> = sweep
        .left_out()
        .iter()
        .map(|l| serde_json::json!({"outpoint": l.outpoint.to_string(), "value_sat": l.value.to_sat(), "fee_to_spend_sat": l.fee_to_spend.map(|f| f.to_sat()), "reason": l.reason}))
        .collect();
    serde_json::json!({
        "network": inputs.inventory.network,
        "inventory_complete": inputs.inventory.complete,
        "custody_policy": inputs.policy.name,
        "fee_rate_sat_per_kvb": fee_rate_kvb,
        "tip_height": tip_height,
        "max_weight": a.max_weight,
        "transactions": sweep.txs.iter().map(|t| &t.summary).collect::<Vec<_>>(),
        "files": files,
        "total_input_sat": sweep.txs.iter().map(|t| t.summary.input_total.to_sat()).sum::<u64>(),
        "total_fee_sat": sweep.plan.total_fee().to_sat(),
        "total_to_custody_sat": sweep.plan.total_output().to_sat(),
        "left_out": left_out,
        "left_out_total_sat": sweep.plan.left_out_total.to_sat(),
        "next_custody_index": sweep.next_index,
    })
}

/// The human-readable result: one line per transaction, the left-out UTXOs, totals, files.
fn print_sweep(sweep: &custos_tx::build::Sweep, files: &[String]) -> CmdResult {
    for t in &sweep.txs {
        let s = &t.summary;
        let kinds: Vec<String> = s
            .input_kinds
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        outln!(
            "tx {}: {} inputs ({}), {} sat in, {} sat to custody {} (index {}), fee {} sat at {}.{:03} sat/vB, {} vB, {} WU",
            s.batch,
            s.inputs,
            kinds.join(", "),
            s.input_total.to_sat(),
            s.output_value.to_sat(),
            s.custody_address,
            s.custody_index,
            s.fee.to_sat(),
            s.fee_rate_sat_per_kvb.0 / 1000,
            s.fee_rate_sat_per_kvb.0 % 1000,
            s.vsize.to_vb(),
            s.weight.to_wu()
        )?;
    }
    if !sweep.left_out().is_empty() {
        outln!(
            "left out: {} utxo(s) worth {} sat in total (uneconomic at this fee rate or below dust):",
            sweep.left_out().len(),
            sweep.plan.left_out_total.to_sat()
        )?;
        for l in sweep.left_out() {
            let fee = l.fee_to_spend.map_or_else(
                || "more than u64::MAX".to_string(),
                |f| f.to_sat().to_string(),
            );
            outln!(
                "  {} {} sat (fee to spend {fee} sat): {}",
                l.outpoint,
                l.value.to_sat(),
                l.reason
            )?;
        }
    }
    outln!(
        "total: {} sat to custody, {} sat fees; next custody index {}",
        sweep.plan.total_output().to_sat(),
        sweep.plan.total_fee().to_sat(),
        sweep.next_index
    )?;
    for f in files {
        outln!("wrote {f}")?;
    }
    Ok(())
}
