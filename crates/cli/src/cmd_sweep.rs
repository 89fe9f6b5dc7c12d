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
    psbt_io::{to_base64, write_new},
    transport,
    weight::FeeRate,
};

use crate::{
    app::{print_json, App, CmdResult, Failure},
    cmd_inspect::ServerArgs,
};

/// Ledger event kind of a built sweep.
pub const EVENT_KIND: &str = custos_case::kinds::SWEEP_BUILD;

/// `custos sweep ...`.
#[derive(Debug, Subcommand)]
pub enum SweepCmd {
    /// Build unsigned sweep PSBTs from an inventory to the custody policy.
    Build(BuildArgs),
}

/// `custos sweep build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
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
pub fn run(app: &App, cmd: &SweepCmd) -> CmdResult {
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
    let (inventory, inv_bytes): (Inventory, _) =
        read_json(&a.inventory, "inventory", custos_core::file::INVENTORY)?;
    let (policy, policy_bytes): (CustodyPolicy, _) =
        read_json(&a.custody, "custody policy", custos_core::file::POLICY)?;
    if let Some(c) = &case {
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
    let need_server = a.fee_rate == "auto" || a.tip_height.is_none();
    let source = if need_server {
        Some(a.server.connect(None)?)
    } else {
        None
    };
    let fee_rate_kvb = if a.fee_rate == "auto" {
        let src = source
            .as_ref()
            .ok_or_else(|| Failure::input(anyhow!("--fee-rate auto needs --server")))?;
        let relay = src.relay_fee().map_err(Failure::env)?.0;
        let est = src
            .estimate_fee(a.target_blocks)
            .map_err(Failure::env)?
            .map(|r| r.0)
            .unwrap_or(relay);
        FeeRate(est.max(relay).max(1))
    } else {
        parse_rate(&a.fee_rate)?
    };
    let tip_height = match a.tip_height {
        Some(h) => h,
        None => {
            let src = source
                .as_ref()
                .ok_or_else(|| Failure::input(anyhow!("give --tip-height or --server")))?;
            src.tip().map_err(Failure::env)?.height
        }
    };
    let mut plan = PlanParams::new(fee_rate_kvb);
    plan.max_weight = bitcoin::Weight::from_wu(a.max_weight);
    let params = SweepParams { plan, tip_height };
    let sweep = build_sweep(&inventory, &policy, &params).map_err(|e| match e {
        custos_tx::Error::NothingToSweep(_) => Failure::finding(e),
        other => Failure::input(other),
    })?;

    std::fs::create_dir_all(&a.out_dir)
        .map_err(|e| Failure::env(anyhow!("cannot create {}: {e}", a.out_dir.display())))?;
    // Refuse before writing anything when any target exists.
    let mut targets = vec![a.out_dir.join(format!("{}-summary.json", a.name))];
    for t in &sweep.txs {
        targets.push(
            a.out_dir
                .join(format!("{}-{}.psbt", a.name, t.summary.batch)),
        );
        if a.qr_parts {
            targets.push(
                a.out_dir
                    .join(format!("{}-{}.ur.txt", a.name, t.summary.batch)),
            );
            targets.push(
                a.out_dir
                    .join(format!("{}-{}.bbqr.txt", a.name, t.summary.batch)),
            );
        }
    }
    if let Some(t) = targets.iter().find(|t| t.exists()) {
        return Err(Failure::input(anyhow!(
            "{} already exists; not overwriting anything",
            t.display()
        )));
    }
    let mut files = Vec::new();
    let mut artifacts = Vec::new();
    for t in &sweep.txs {
        let name = format!("{}-{}.psbt", a.name, t.summary.batch);
        let path = a.out_dir.join(&name);
        let text = format!("{}\n", to_base64(&t.psbt));
        write_new(&path, text.as_bytes()).map_err(Failure::input)?;
        if a.qr_parts {
            let ur = transport::psbt_to_ur_parts(&t.psbt, 250, 0).map_err(Failure::env)?;
            write_new(
                &a.out_dir
                    .join(format!("{}-{}.ur.txt", a.name, t.summary.batch)),
                (ur.join("\n") + "\n").as_bytes(),
            )
            .map_err(Failure::input)?;
            let bb = transport::psbt_to_bbqr(&t.psbt, 1000).map_err(Failure::env)?;
            write_new(
                &a.out_dir
                    .join(format!("{}-{}.bbqr.txt", a.name, t.summary.batch)),
                (bb.join("\n") + "\n").as_bytes(),
            )
            .map_err(Failure::input)?;
        }
        files.push(path.display().to_string());
        artifacts.push(NewArtifact {
            kind: "psbt".into(),
            name,
            data: t.psbt.serialize(),
        });
    }
    let left_out: Vec<serde_json::Value> = sweep
        .left_out()
        .iter()
        .map(|l| serde_json::json!({"outpoint": l.outpoint.to_string(), "value_sat": l.value.to_sat(), "fee_to_spend_sat": l.fee_to_spend.map(|f| f.to_sat()), "reason": l.reason}))
        .collect();
    let summary = serde_json::json!({
        "network": inventory.network,
        "inventory_complete": inventory.complete,
        "custody_policy": policy.name,
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
    });
    let summary_bytes = serde_json::to_vec_pretty(&summary).map_err(Failure::env)?;
    write_new(
        &a.out_dir.join(format!("{}-summary.json", a.name)),
        &summary_bytes,
    )
    .map_err(Failure::input)?;

    if let Some(c) = case.as_mut() {
        artifacts.push(NewArtifact {
            kind: "inventory".into(),
            name: "sweep-inventory.json".into(),
            data: inv_bytes,
        });
        artifacts.push(NewArtifact {
            kind: "custody_policy".into(),
            name: "custody-policy.json".into(),
            data: policy_bytes,
        });
        artifacts.push(NewArtifact {
            kind: "sweep_summary".into(),
            name: format!("{}-summary.json", a.name),
            data: summary_bytes.clone(),
        });
        let shas: Vec<String> = artifacts.iter().map(|x| x.sha256()).collect();
        let draft = EventDraft::new(EVENT_KIND, summary.clone()).with_artifacts(shas);
        app.record(Some(c), draft, artifacts)?;
    }

    if app.json {
        return print_json(&summary);
    }
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
    for f in &files {
        outln!("wrote {f}")?;
    }
    Ok(())
}
