//! `custos disposal order new|verify|show` and `custos disposal authority add`: disposal orders
//! and the authorities that sign them, on the workstation.
//!
//! - `new` writes an unsigned order (`custos-disposal-order-v1`) for an authority to sign on its
//!   own machine with `custos-signer disposal sign-order`;
//! - `verify ORDER --policy P [--now T]` checks its fields, signatures (BIP-322 over the canonical
//!   text) and window against the custody policy's authorities: exit 0 valid, 1 not valid
//!   (naming why), 2 malformed;
//! - `show ORDER` prints the canonical text and who signed it;
//! - `authority add --policy P RECORD... --out NEW` writes a new custody policy listing the
//!   authorities of the records (`custos-signer disposal authority-record`), each proof of
//!   possession checked; the old policy is left as it is and nothing is overwritten.
//!
//! With a case open, `new`, `verify` and `authority add` are recorded (the order file or the
//! new policy as an artifact).

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::kinds;
use custos_case::NewArtifact;
use custos_core::{inventory::CustodyPolicy, ledger::EventDraft};
use custos_disposal::{
    authority::{add_authorities, AuthorityRecord},
    order::parse_time,
    DisposalOrder, OrderFields,
};

use crate::{
    app::{print_json, App, CmdResult, Failure},
    cmd_sweep::read_json,
};

/// `custos disposal ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DisposalCmd {
    /// Disposal orders: new, verify, show.
    #[command(subcommand)]
    Order(OrderCmd),
    /// The authorities a custody policy names.
    #[command(subcommand)]
    Authority(AuthorityCmd),
}

/// `custos disposal authority ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthorityCmd {
    /// Write a new custody policy with authorities added (their proofs checked).
    Add(AuthorityAddArgs),
}

/// `custos disposal authority add`.
#[derive(Debug, Args)]
pub(crate) struct AuthorityAddArgs {
    /// The custody policy to start from (left unchanged).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Authority records (`custos-signer disposal authority-record`).
    #[arg(required = true, value_name = "RECORD")]
    records: Vec<PathBuf>,
    /// The new custody policy file. Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `custos disposal order ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum OrderCmd {
    /// Write a new, unsigned disposal order.
    New(NewArgs),
    /// Check an order's signatures and window against a custody policy's authorities.
    Verify(VerifyArgs),
    /// Print an order's canonical text and signers.
    Show {
        /// The order file.
        order: PathBuf,
    },
}

/// `custos disposal order new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Case id (default: the open case's).
    #[arg(long = "case-id", value_name = "ID")]
    case_id: Option<String>,
    /// Exact amount in satoshis.
    #[arg(long, value_name = "SAT")]
    amount_sat: u64,
    /// Destination address.
    #[arg(long, value_name = "ADDRESS")]
    destination: String,
    /// Reference (court order, exchange deposit reference).
    #[arg(long)]
    reference: String,
    /// Start of the validity window, RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME")]
    not_before: String,
    /// End of the validity window, RFC 3339 UTC.
    #[arg(long, value_name = "TIME")]
    not_after: String,
    /// Who issues the order.
    #[arg(long)]
    issuer: String,
    /// Order id (default: derived from the other fields).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Asset.
    #[arg(long, default_value = "BTC")]
    asset: String,
    /// The order file to write. Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `custos disposal order verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The order file.
    order: PathBuf,
    /// The custody policy naming the authorities.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Check the window against this time (RFC 3339 UTC) instead of the clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
}

/// Runs `custos disposal`.
pub(crate) fn run(app: &App, cmd: &DisposalCmd) -> CmdResult {
    match cmd {
        DisposalCmd::Order(OrderCmd::New(a)) => new(app, a),
        DisposalCmd::Order(OrderCmd::Verify(a)) => verify(app, a),
        DisposalCmd::Order(OrderCmd::Show { order }) => show(app, order),
        DisposalCmd::Authority(AuthorityCmd::Add(a)) => authority_add(app, a),
    }
}

fn read_order(path: &std::path::Path) -> CmdResult<(DisposalOrder, Vec<u8>)> {
    let bytes = custos_core::file::read_bytes(path, custos_core::file::ORDER)?;
    let o = DisposalOrder::parse(&bytes, &path.display().to_string())?;
    Ok((o, bytes))
}

fn record(
    app: &App,
    kind: &str,
    order: &DisposalOrder,
    bytes: Vec<u8>,
    details: serde_json::Value,
) -> CmdResult {
    let mut case = app.open_case()?;
    if let Some(c) = case.as_mut() {
        let art = NewArtifact {
            kind: "disposal_order".into(),
            name: format!("{}.json", order.order_id),
            data: bytes,
        };
        let draft = EventDraft::new(kind, details).with_artifacts(vec![art.sha256()]);
        app.record(Some(c), draft, vec![art])?;
    }
    Ok(())
}

fn new(app: &App, a: &NewArgs) -> CmdResult {
    let case = app.open_case()?;
    let case_id = match (&a.case_id, &case) {
        (Some(id), _) => id.clone(),
        (None, Some(c)) => c.info().case_id.to_string(),
        (None, None) => return Err(Failure::input(anyhow!("give --case-id or --case"))),
    };
    let network = app.network(case.as_ref());
    drop(case);
    let order = DisposalOrder::new(OrderFields {
        order_id: a.id.clone(),
        case_id,
        network,
        asset: a.asset.clone(),
        amount_sat: a.amount_sat,
        destination: a.destination.clone(),
        reference: a.reference.clone(),
        not_before: a.not_before.clone(),
        not_after: a.not_after.clone(),
        issuer: a.issuer.clone(),
    })?;
    let bytes = order.to_json()?;
    custos_core::file::write_new(&a.out, &bytes)?;
    record(
        app,
        kinds::DISPOSAL_ORDER_NEW,
        &order,
        bytes,
        serde_json::json!({"order_id": order.order_id, "amount_sat": order.amount_sat, "destination": order.destination}),
    )?;
    if app.json {
        return print_json(
            &serde_json::json!({"order_id": order.order_id, "out": a.out.display().to_string()}),
        );
    }
    out!("{}", order.canonical_text())?;
    outln!(
        "wrote {} (unsigned: an authority signs it with `custos-signer disposal sign-order`)",
        a.out.display()
    )?;
    Ok(())
}

fn verify(app: &App, a: &VerifyArgs) -> CmdResult {
    let (order, bytes) = read_order(&a.order)?;
    let (policy, _): (CustodyPolicy, _) =
        read_json(&a.policy, "custody policy", custos_core::file::POLICY)?;
    let now = match &a.now {
        Some(t) => parse_time("--now", t)?,
        None => chrono_now(),
    };
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let problem = order.problem(&secp, &policy, now)?;
    let (signers, _) = order.verified_signers(&secp);
    let details = serde_json::json!({
        "order_id": order.order_id,
        "valid": problem.is_none(),
        "problem": problem,
        "verified_signers": signers,
        "policy": policy.name,
    });
    record(
        app,
        kinds::DISPOSAL_ORDER_VERIFY,
        &order,
        bytes,
        details.clone(),
    )?;
    if app.json {
        print_json(&details)?;
    } else if problem.is_none() {
        outln!(
            "order {} is valid: signed by {} (authority of \"{}\"), {} sat to {}",
            order.order_id,
            signers.join(", "),
            policy.name,
            order.amount_sat,
            order.destination
        )?;
    }
    match problem {
        None => Ok(()),
        Some(p) => Err(Failure::finding(anyhow!(
            "order {} is not valid: {p}",
            order.order_id
        ))),
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn show(app: &App, path: &std::path::Path) -> CmdResult {
    let (order, _) = read_order(path)?;
    if app.json {
        return print_json(&order);
    }
    out!("{}", order.to_text())?;
    Ok(())
}

fn authority_add(app: &App, a: &AuthorityAddArgs) -> CmdResult {
    if a.out.exists() {
        return Err(Failure::input(anyhow!(
            "{} already exists; not overwriting it",
            a.out.display()
        )));
    }
    let (policy, _): (CustodyPolicy, _) =
        read_json(&a.policy, "custody policy", custos_core::file::POLICY)?;
    let mut records = Vec::with_capacity(a.records.len());
    for r in &a.records {
        let bytes = custos_core::file::read_bytes(r, custos_core::file::ORDER)?;
        records.push(AuthorityRecord::parse(&bytes, &r.display().to_string())?);
    }
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let new = add_authorities(&secp, &policy, &records)?;
    let mut bytes = serde_json::to_vec_pretty(&new).map_err(Failure::env)?;
    bytes.push(b'\n');
    custos_core::file::write_new(&a.out, &bytes)?;
    let added: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::json!({"address": r.address, "label": r.label}))
        .collect();
    let details = serde_json::json!({
        "policy": new.name,
        "from": a.policy.display().to_string(),
        "out": a.out.display().to_string(),
        "added": added,
        "authorities": new.authorities.len(),
    });
    let mut case = app.open_case()?;
    if let Some(c) = case.as_mut() {
        let art = NewArtifact {
            kind: "custody_policy".into(),
            name: a.out.file_name().map_or_else(
                || "custody-policy.json".into(),
                |n| n.to_string_lossy().into_owned(),
            ),
            data: bytes,
        };
        let draft = EventDraft::new(kinds::DISPOSAL_AUTHORITY_ADD, details.clone())
            .with_artifacts(vec![art.sha256()]);
        app.record(Some(c), draft, vec![art])?;
    }
    if app.json {
        return print_json(&details);
    }
    for r in &records {
        outln!(
            "authority {} ({}): proof of possession verified",
            r.address,
            r.label
        )?;
    }
    outln!(
        "wrote {} ({} authorities; keyholders check it with `custos-signer ceremony verify`)",
        a.out.display(),
        new.authorities.len()
    )?;
    Ok(())
}
