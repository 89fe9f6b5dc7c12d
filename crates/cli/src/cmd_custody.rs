//! `custos custody spend`: a PSBT spending the custody wallet's UTXOs (from an inspection of the
//! custody policy: `custos inspect` of its descriptors, `--out` inventory) to given addresses
//! (`--to ADDR:AMOUNT`, `--to ADDR:all`, `--order FILE` for an order's address and amount) or to
//! a new custody policy (`--to-policy FILE`, a re-custody), with change to the next unused
//! custody change address. Fee, RBF and lock-time rules are the sweep's. Keyholders sign it with
//! `custos-signer sign --policy` (and `--order` / `--to-policy`); `custos psbt combine` and
//! `finalize` finish it.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::NewArtifact;
use custos_core::{
    inventory::{CustodyPolicy, Inventory},
    ledger::EventDraft,
};
use custos_disposal::DisposalOrder;
use custos_tx::{
    custody::Custody,
    plan::MAX_STANDARD_WEIGHT,
    psbt_io::{to_base64, write_new},
    spend::{
        build_custody_spend, custody_utxo_in, next_change_index, Destination, PayAmount,
        SpendParams,
    },
};

use crate::{
    app::{print_json, App, CmdResult, Failure},
    cmd_inspect::ServerArgs,
    cmd_sweep::{fee_rate_and_tip, read_json},
};

/// Ledger event kind of a built custody spend.
pub(crate) const EVENT_KIND: &str = custos_case::kinds::CUSTODY_SPEND;

/// `custos custody ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CustodyCmd {
    /// Build an unsigned PSBT spending custody UTXOs to addresses or a new custody policy.
    Spend(SpendArgs),
}

/// `custos custody spend`.
#[derive(Debug, Args)]
pub(crate) struct SpendArgs {
    /// The custody policy the UTXOs belong to.
    #[arg(long, value_name = "FILE")]
    custody: PathBuf,
    /// Inventory of the custody wallet (`custos inspect` of the policy's descriptors).
    #[arg(long, value_name = "FILE")]
    inventory: PathBuf,
    /// A destination: `ADDRESS:SAT`, `ADDRESS:0.015btc` or `ADDRESS:all`. Repeatable.
    #[arg(long, value_name = "ADDR:AMOUNT")]
    to: Vec<String>,
    /// Pay a disposal order's address its amount. Repeatable.
    #[arg(long, value_name = "FILE")]
    order: Vec<PathBuf>,
    /// Re-custody: pay everything (less the fee and other destinations) to the next receive
    /// address of this new custody policy.
    #[arg(long, value_name = "FILE")]
    to_policy: Option<PathBuf>,
    /// Fee rate in sat/vB (e.g. 12 or 1.5), or `auto` to ask the server.
    #[arg(long, value_name = "SAT_PER_VB|auto")]
    fee_rate: String,
    /// Confirmation target for `--fee-rate auto`.
    #[arg(long, default_value_t = 6)]
    target_blocks: u16,
    /// Current tip height, used as nLockTime (default: the server's tip).
    #[arg(long)]
    tip_height: Option<u32>,
    /// Custody change index (default: one above the highest change index the inventory saw).
    #[arg(long)]
    change_index: Option<u32>,
    /// Largest weight of the transaction (WU).
    #[arg(long, default_value_t = MAX_STANDARD_WEIGHT.to_wu())]
    max_weight: u64,
    /// Spend from an inventory whose scan did not finish.
    #[arg(long)]
    allow_incomplete: bool,
    /// The PSBT file to write (base64). Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `custos custody`.
pub(crate) fn run(app: &App, cmd: &CustodyCmd) -> CmdResult {
    match cmd {
        CustodyCmd::Spend(a) => spend(app, a),
    }
}

/// Parses `SAT`, `N.NNNbtc` or `all`.
fn parse_amount(s: &str) -> CmdResult<PayAmount> {
    let bad = |why: String| Failure::input(anyhow!("amount {s:?}: {why}"));
    if s.eq_ignore_ascii_case("all") {
        return Ok(PayAmount::All);
    }
    let sat = match s.to_ascii_lowercase().strip_suffix("btc") {
        Some(btc) => custos_core::amount::parse_decimal(btc.trim(), 8)
            .map_err(|e| bad(e.to_string()))
            .and_then(|v| u64::try_from(v).map_err(|_| bad("too large".into())))?,
        None => s
            .strip_suffix("sat")
            .unwrap_or(s)
            .trim()
            .parse::<u64>()
            .map_err(|e| bad(format!("{e} (give satoshis, N.NNNbtc or all)")))?,
    };
    if sat == 0 {
        return Err(bad("zero".into()));
    }
    Ok(PayAmount::Exact(bitcoin::Amount::from_sat(sat)))
}

fn destinations(a: &SpendArgs, network: bitcoin::Network) -> CmdResult<Vec<Destination>> {
    let mut out = Vec::new();
    for t in &a.to {
        let (addr, amount) = t
            .rsplit_once(':')
            .ok_or_else(|| Failure::input(anyhow!("--to {t:?}: expected ADDRESS:AMOUNT")))?;
        out.push(
            Destination::address(addr, network, parse_amount(amount)?).map_err(Failure::input)?,
        );
    }
    for p in &a.order {
        let bytes = custos_core::file::read_bytes(p, custos_core::file::ORDER)?;
        let o = DisposalOrder::parse(&bytes, &p.display().to_string())?;
        let amount = PayAmount::Exact(bitcoin::Amount::from_sat(o.amount_sat));
        out.push(Destination::address(&o.destination, network, amount).map_err(Failure::input)?);
    }
    if let Some(p) = &a.to_policy {
        let (to, _): (CustodyPolicy, _) =
            read_json(p, "custody policy", custos_core::file::POLICY)?;
        let c = Custody::from_policy(&to).map_err(Failure::input)?;
        if c.network != network {
            return Err(Failure::input(anyhow!(
                "--to-policy {} is for {}, the custody policy for {network}",
                p.display(),
                to.network
            )));
        }
        out.push(Destination::recustody(&c, PayAmount::All).map_err(Failure::input)?);
    }
    Ok(out)
}

/// The ids of the `--order` files (read again: [`destinations`] has checked them).
fn order_ids(a: &SpendArgs) -> CmdResult<Vec<String>> {
    a.order
        .iter()
        .map(|p| {
            let bytes = custos_core::file::read_bytes(p, custos_core::file::ORDER)?;
            Ok(DisposalOrder::parse(&bytes, &p.display().to_string())?.order_id)
        })
        .collect()
}

fn spend(app: &App, a: &SpendArgs) -> CmdResult {
    let mut case = app.open_case()?;
    let (policy, policy_bytes, inventory) = read_spend_inputs(a)?;
    let built = build_spend(a, &policy, &inventory)?;
    let text = format!("{}\n", to_base64(&built.psbt));
    write_new(&a.out, text.as_bytes()).map_err(Failure::input)?;
    let summary = spend_summary(a, &policy, &built)?;
    if let Some(c) = case.as_mut() {
        let artifacts = vec![
            NewArtifact {
                kind: "psbt".into(),
                name: a.out.file_name().map_or_else(
                    || "custody-spend.psbt".into(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                data: built.psbt.serialize(),
            },
            NewArtifact {
                kind: "custody_policy".into(),
                name: "custody-policy.json".into(),
                data: policy_bytes,
            },
        ];
        let shas: Vec<String> = artifacts.iter().map(|x| x.sha256()).collect();
        app.record(
            Some(c),
            EventDraft::new(EVENT_KIND, summary.clone()).with_artifacts(shas),
            artifacts,
        )?;
    }
    if app.json {
        return print_json(&summary);
    }
    print_spend(a, &built.summary)
}

/// Reads the custody policy (with its bytes, recorded in the case) and the inventory; refuses
/// an inventory for another network, an incomplete one without `--allow-incomplete`, and an
/// existing `--out`.
fn read_spend_inputs(a: &SpendArgs) -> CmdResult<(CustodyPolicy, Vec<u8>, Inventory)> {
    let (policy, policy_bytes): (CustodyPolicy, _) =
        read_json(&a.custody, "custody policy", custos_core::file::POLICY)?;
    let (inventory, _): (Inventory, _) =
        read_json(&a.inventory, "inventory", custos_core::file::INVENTORY)?;
    if inventory.network != policy.network {
        return Err(Failure::input(anyhow!(
            "inventory is for {}, the custody policy for {}",
            inventory.network,
            policy.network
        )));
    }
    if !inventory.complete && !a.allow_incomplete {
        return Err(Failure::finding(anyhow!(
            "refused: inventory {} is marked incomplete; re-run the scan, or give --allow-incomplete",
            a.inventory.display()
        )));
    }
    if a.out.exists() {
        return Err(Failure::input(anyhow!(
            "{} already exists; not overwriting it",
            a.out.display()
        )));
    }
    Ok((policy, policy_bytes, inventory))
}

/// Builds the unsigned spend of the inventory's custody UTXOs to the destinations; too little
/// money is a finding (exit 1).
fn build_spend(
    a: &SpendArgs,
    policy: &CustodyPolicy,
    inventory: &Inventory,
) -> CmdResult<custos_tx::spend::CustodySpend> {
    let custody = Custody::from_policy(policy).map_err(Failure::input)?;
    let dests = destinations(a, custody.network)?;
    let utxos = inventory
        .utxos
        .iter()
        .map(|u| custody_utxo_in(inventory, u, &custody))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::input)?;
    let change_index = a.change_index.unwrap_or_else(|| {
        next_change_index(
            inventory.addresses.iter().map(|u| u.descriptor.as_str()),
            &custody,
        )
    });
    let (fee_rate, tip_height) =
        fee_rate_and_tip(&a.server, &a.fee_rate, a.target_blocks, a.tip_height)?;
    let mut params = SpendParams::new(fee_rate, tip_height, change_index);
    params.max_weight = bitcoin::Weight::from_wu(a.max_weight);
    build_custody_spend(&utxos, &custody, &dests, &params).map_err(|e| match e {
        custos_tx::Error::InsufficientFunds { .. } => Failure::finding(e),
        other => Failure::input(other),
    })
}

/// The spend's summary as recorded in the case (the timeline reads its top-level fields).
fn spend_summary(
    a: &SpendArgs,
    policy: &CustodyPolicy,
    built: &custos_tx::spend::CustodySpend,
) -> CmdResult<serde_json::Value> {
    let sum_role = |role: &str| -> u64 {
        built
            .summary
            .outputs
            .iter()
            .filter(|o| o.role == role)
            .map(|o| o.value.to_sat())
            .sum()
    };
    // The timeline (custos_case::timeline) reads these top-level fields.
    let summary = serde_json::json!({
        "custody_policy": policy.name,
        "psbt": a.out.display().to_string(),
        "txid": built.summary.unsigned_txid,
        "disposed_sat": sum_role("destination"),
        "recustody_sat": sum_role("recustody"),
        "change_sat": sum_role("change"),
        "fee_sat": built.summary.fee.to_sat(),
        "orders": order_ids(a)?,
        "spend": built.summary,
    });
    Ok(summary)
}

/// The human-readable spend: inputs, each output with its role, fee and lock time.
fn print_spend(a: &SpendArgs, s: &custos_tx::spend::SpendSummary) -> CmdResult {
    outln!(
        "custody spend {} (unsigned txid): {} input(s), {} sat in",
        s.unsigned_txid,
        s.inputs.len(),
        s.input_total.to_sat()
    )?;
    for o in &s.outputs {
        outln!(
            "  #{} {} sat -> {} [{}{}]",
            o.index,
            o.value.to_sat(),
            o.address,
            o.role,
            o.custody_path
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        )?;
    }
    outln!(
        "fee {} sat at {}.{:03} sat/vB ({} vB){}; lock time {}",
        s.fee.to_sat(),
        s.fee_rate_sat_per_kvb.0 / 1000,
        s.fee_rate_sat_per_kvb.0 % 1000,
        s.vsize.to_vb(),
        if s.fee_from_dropped_change.to_sat() > 0 {
            format!(
                ", of which {} sat left over below the dust limit",
                s.fee_from_dropped_change.to_sat()
            )
        } else {
            String::new()
        },
        s.lock_time
    )?;
    outln!("wrote {}", a.out.display())?;
    Ok(())
}
