//! `custos broadcast RAWTX|FILE` and `custos watch TXID --confirmations N`: hand a finalized
//! transaction to an Electrum server and follow it until it is buried deep enough, checking its
//! inclusion by SPV (merkle proof against a header chain validated from genesis).

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::anyhow;
use bitcoin::{consensus::deserialize, Transaction, Txid};
use clap::Args;
use custos_case::NewArtifact;
use custos_chain::{spv, VerifiedChain};
use custos_core::file;
use custos_core::{
    ledger::EventDraft,
    source::{BitcoinSource, SourceError},
};

use crate::{
    app::{print_json, App, CmdResult, Failure},
    cmd_inspect::ServerArgs,
};

/// `custos broadcast`.
#[derive(Debug, Args)]
pub(crate) struct BroadcastArgs {
    /// The finalized transaction: hex on the command line, or a file holding hex or raw bytes
    /// (e.g. Coldcard's `<name>-final.txn`); `-` reads hex from stdin.
    tx: String,
    #[command(flatten)]
    server: ServerArgs,
}

/// `custos watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Transaction id.
    txid: String,
    /// Confirmations to wait for.
    #[arg(long, default_value_t = 1)]
    confirmations: u32,
    /// Seconds between polls.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// Give up after this many seconds (exit 1). (`--timeout` is the socket timeout.)
    #[arg(long, default_value_t = 3600)]
    give_up_after: u64,
    #[command(flatten)]
    server: ServerArgs,
}

fn read_tx(arg: &str) -> CmdResult<Vec<u8>> {
    let is_hex = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_hexdigit());
    let data: Vec<u8> = if arg == "-" || !is_hex || Path::new(arg).exists() {
        // A file (or stdin): a missing path, a directory or an oversized file is named.
        file::read_bytes_or_stdin(Path::new(arg), file::TRANSACTION)?
    } else {
        arg.as_bytes().to_vec()
    };
    let text = String::from_utf8_lossy(&data);
    let t = text.trim();
    let raw = if !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(t)
            .map_err(|e| Failure::input(anyhow!("transaction hex does not decode: {e}")))?
    } else {
        data
    };
    let tx: Transaction = deserialize(&raw)
        .map_err(|e| Failure::input(anyhow!("input is not a serialized transaction: {e}")))?;
    if tx
        .input
        .iter()
        .any(|i| i.script_sig.is_empty() && i.witness.is_empty())
    {
        return Err(Failure::input(anyhow!(
            "transaction {} has unsigned inputs; finalize it first",
            tx.compute_txid()
        )));
    }
    Ok(raw)
}

/// Runs `custos broadcast`.
pub(crate) fn run_broadcast(app: &App, args: &BroadcastArgs) -> CmdResult {
    let raw = read_tx(&args.tx)?;
    let mut case = app.open_case()?;
    let server = args.server.connect(None)?;
    let txid = match server.broadcast(&raw) {
        Ok(t) => t,
        Err(e @ SourceError::Rejected { .. }) => return Err(Failure::finding(e)),
        Err(e @ SourceError::Malformed { .. }) => return Err(Failure::finding(e)),
        Err(e) => return Err(Failure::env(e)),
    };
    app.record(
        case.as_mut(),
        EventDraft::new(
            custos_case::kinds::TX_BROADCAST,
            serde_json::json!({ "txid": txid.to_string(), "server": server.name(), "bytes": raw.len() }),
        ),
        vec![NewArtifact {
            kind: "raw_tx".into(),
            name: txid.to_string(),
            data: raw,
        }],
    )?;
    if app.json {
        print_json(&serde_json::json!({ "txid": txid.to_string(), "server": server.name() }))
    } else {
        outln!("{txid}")?;
        Ok(())
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Standing {
    height: Option<u32>,
    tip: u32,
}

fn standing(src: &dyn BitcoinSource, txid: &Txid) -> CmdResult<(Standing, Transaction)> {
    let raw = src
        .raw_transactions(&[*txid])
        .map_err(|e| match e {
            SourceError::Server { .. } => {
                Failure::finding(anyhow!("server does not know transaction {txid}: {e}"))
            }
            other => Failure::env(other),
        })?
        .pop()
        .ok_or_else(|| Failure::env(anyhow!("server sent no transaction for {txid}")))?;
    let tx = spv::check_tx_bytes(txid, &raw).map_err(Failure::finding)?;
    let script = tx
        .output
        .first()
        .map(|o| o.script_pubkey.clone())
        .ok_or_else(|| Failure::input(anyhow!("transaction {txid} has no output")))?;
    let hist = src.histories(&[script]).map_err(Failure::env)?;
    let height = hist
        .iter()
        .flatten()
        .find(|h| h.txid == *txid)
        .and_then(|h| h.confirmed_height());
    let tip = src.tip().map_err(Failure::env)?;
    Ok((
        Standing {
            height,
            tip: tip.height,
        },
        tx,
    ))
}

/// Runs `custos watch`.
pub(crate) fn run_watch(app: &App, args: &WatchArgs) -> CmdResult {
    let txid = Txid::from_str(args.txid.trim())
        .map_err(|e| Failure::input(anyhow!("{:?} is not a txid: {e}", args.txid)))?;
    let mut case = app.open_case()?;
    let network = app.network(case.as_ref()).to_bitcoin();
    let src = args.server.connect(None)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.give_up_after);
    let want = args.confirmations.max(1);
    loop {
        let (st, _tx) = standing(&src, &txid)?;
        let confs = st
            .height
            .map_or(0, |h| st.tip.saturating_sub(h).saturating_add(1));
        eprintln!(
            "watch: {txid}: {confs} of {want} confirmation(s) (tip {})",
            st.tip
        );
        if let (Some(height), true) = (st.height, confs >= want) {
            // SPV: merkle proof against a header chain validated from genesis to the tip.
            let tip = src.tip().map_err(Failure::env)?;
            let mut chain = VerifiedChain::new(network);
            chain
                .sync(&src, &tip, &mut |_, _| {})
                .map_err(|e| Failure::finding(anyhow!("header chain: {e}")))?;
            let proof = src
                .merkle_proofs(&[(txid, height)])
                .map_err(Failure::env)?
                .pop()
                .ok_or_else(|| Failure::env(anyhow!("server sent no merkle proof for {txid}")))?;
            chain
                .verify_proof(&proof, height)
                .map_err(Failure::finding)?;
            let confs = tip.height.saturating_sub(height).saturating_add(1);
            app.record(
                case.as_mut(),
                EventDraft::new(
                    custos_case::kinds::TX_CONFIRMED,
                    serde_json::json!({
                        "txid": txid.to_string(),
                        "height": height,
                        "block_hash": chain.hash(height).map(|h| h.to_string()),
                        "confirmations": confs,
                        "tip_height": tip.height,
                        "spv_verified": true,
                        "server": src.name(),
                    }),
                ),
                vec![NewArtifact {
                    kind: "merkle_proof".into(),
                    name: txid.to_string(),
                    data: serde_json::to_vec_pretty(&proof).map_err(Failure::env)?,
                }],
            )?;
            return if app.json {
                print_json(&serde_json::json!({
                    "txid": txid.to_string(), "height": height, "confirmations": confs,
                    "block_hash": chain.hash(height).map(|h| h.to_string()), "spv_verified": true,
                }))
            } else {
                outln!(
                    "{txid} confirmed at height {height}: {confs} confirmation(s), SPV-verified"
                )?;
                Ok(())
            };
        }
        if std::time::Instant::now() + Duration::from_secs(args.interval) > deadline {
            return Err(Failure::finding(anyhow!(
                "transaction {txid} has {confs} of {want} confirmation(s) after {} s; giving up",
                args.give_up_after
            )));
        }
        std::thread::sleep(Duration::from_secs(args.interval.max(1)));
    }
}
