//! `custos eth sweep broadcast` and `custos eth sweep watch`: the signer's output
//! (`custos-eth-signed-v1`, one file per signing run; a set signed in parts by several materials
//! is merged by transaction index) is decoded — every raw transaction must be the set's entry,
//! signed by its sender, for the node's chain — then sent in two waves (gas funding, then the
//! sweep, each sender in nonce order), and the receipts awaited. Afterwards every address the
//! sweep touched is compared between the block before the first receipt and the block of the
//! last: ether exactly (received − sent − fees paid), tokens per holder, with any difference
//! reported (a fee-on-transfer token delivers less than was sent).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{keccak256, Address, B256, U256};
use anyhow::anyhow;
use clap::Args;
use custos_case::NewArtifact;
use custos_chain::eth::{EthSource, Receipt};
use custos_core::file;
use custos_eth::{erc20::decode_transfer, unsigned::TxPurpose};
use custos_keys::eth::parse_address;
use serde::Deserialize;
use serde_json::json;

use super::{eth_failure, record, RpcArgs};
use crate::app::{print_json, App, CmdResult, Failure};

/// Ledger event kind of a broadcast.
pub(crate) const BROADCAST_EVENT: &str = "eth.broadcast";
/// Ledger event kind of a watch.
pub(crate) const WATCH_EVENT: &str = "eth.watch";

const SIGNED_LIMIT: file::Limit = file::Limit {
    kind: "signed ethereum transactions",
    bytes: 16 << 20,
};

/// `custos eth sweep broadcast`.
#[derive(Debug, Args)]
pub(crate) struct BroadcastArgs {
    /// Signed files (`<prefix>.json` of `custos-signer eth sign`); parts of one set signed by
    /// different materials are merged.
    #[arg(required = true, value_name = "SIGNED.json")]
    pub signed: Vec<PathBuf>,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Longest wait for the receipts, seconds.
    #[arg(long, default_value_t = 600)]
    pub wait: u64,
}

/// `custos eth sweep watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Signed files, as for broadcast.
    #[arg(required = true, value_name = "SIGNED.json")]
    pub signed: Vec<PathBuf>,
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// Confirmations to wait for (1 = mined).
    #[arg(long, default_value_t = 1)]
    pub confirmations: u64,
    /// Longest wait, seconds.
    #[arg(long, default_value_t = 600)]
    pub wait: u64,
}

#[derive(Debug, Deserialize)]
struct SignedFile {
    format: String,
    chain_id: u64,
    txs: Vec<SignedEntry>,
}

#[derive(Debug, Clone, Deserialize)]
struct SignedEntry {
    index: usize,
    purpose: TxPurpose,
    from: String,
    nonce: u64,
    to: String,
    value: String,
    data: String,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default)]
    raw: Option<String>,
}

/// What a transaction does, decoded from the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Effect {
    Eth {
        to: Address,
        value: U256,
    },
    Token {
        contract: Address,
        recipient: Address,
        units: U256,
    },
}

/// A signed transaction checked against its set entry.
#[derive(Debug, Clone)]
struct Prepared {
    index: usize,
    purpose: TxPurpose,
    from: Address,
    nonce: u64,
    hash: B256,
    raw: Vec<u8>,
    effect: Effect,
}

impl Prepared {
    fn subject(&self) -> String {
        format!(
            "tx {} (from {}, nonce {})",
            self.index,
            self.from.to_checksum(None),
            self.nonce
        )
    }
}

/// Reads and merges the signed files into one chain id and the set's transactions in order.
fn load(paths: &[PathBuf]) -> CmdResult<(u64, Vec<Prepared>, Vec<NewArtifact>)> {
    let mut chain: Option<u64> = None;
    let mut entries: BTreeMap<usize, SignedEntry> = BTreeMap::new();
    let mut artifacts = Vec::new();
    for p in paths {
        let text = file::read_text(p, SIGNED_LIMIT)?;
        let f: SignedFile = serde_json::from_str(&text).map_err(|e| {
            Failure::input(anyhow!(
                "{}: line {} column {}: {e}",
                p.display(),
                e.line(),
                e.column()
            ))
        })?;
        if f.format != "custos-eth-signed-v1" {
            return Err(Failure::input(anyhow!(
                "{}: format {:?}, expected custos-eth-signed-v1",
                p.display(),
                f.format
            )));
        }
        if chain.is_some_and(|c| c != f.chain_id) {
            return Err(Failure::input(anyhow!(
                "{}: chain id {} differs from the other files",
                p.display(),
                f.chain_id
            )));
        }
        chain = Some(f.chain_id);
        merge(&mut entries, f.txs, p)?;
        artifacts.push(NewArtifact {
            kind: "eth_signed".into(),
            name: p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            data: text.into_bytes(),
        });
    }
    let chain_id = chain.ok_or_else(|| Failure::input(anyhow!("no signed file given")))?;
    let mut out = Vec::with_capacity(entries.len());
    for (i, (index, e)) in entries.iter().enumerate() {
        if *index != i {
            return Err(Failure::input(anyhow!(
                "the signed files list no transaction {i} of the set"
            )));
        }
        out.push(prepare(chain_id, e)?);
    }
    Ok((chain_id, out, artifacts))
}

fn merge(
    entries: &mut BTreeMap<usize, SignedEntry>,
    txs: Vec<SignedEntry>,
    p: &std::path::Path,
) -> CmdResult {
    for t in txs {
        match entries.get_mut(&t.index) {
            None => {
                entries.insert(t.index, t);
            }
            Some(have) => {
                let same = (
                    have.purpose,
                    &have.from,
                    have.nonce,
                    &have.to,
                    &have.value,
                    &have.data,
                ) == (t.purpose, &t.from, t.nonce, &t.to, &t.value, &t.data);
                if !same {
                    return Err(Failure::input(anyhow!(
                        "{}: tx {} differs from the same transaction in another file: not parts of one set",
                        p.display(),
                        t.index
                    )));
                }
                match (&have.raw, &t.raw) {
                    (None, Some(_)) => *have = t,
                    (Some(a), Some(b)) if a != b => {
                        return Err(Failure::input(anyhow!(
                            "{}: tx {} is signed differently in two files",
                            p.display(),
                            t.index
                        )))
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Decodes the raw transaction and checks it is the entry, for `chain_id`, signed by `from`.
fn prepare(chain_id: u64, e: &SignedEntry) -> CmdResult<Prepared> {
    let subject = format!("tx {} (from {}, nonce {})", e.index, e.from, e.nonce);
    let raw_hex = e.raw.as_deref().ok_or_else(|| {
        Failure::finding(anyhow!("{subject} is not signed in any of the files given"))
    })?;
    let raw = hex::decode(raw_hex.trim_start_matches("0x"))
        .map_err(|err| Failure::input(anyhow!("{subject}: raw is not hex: {err}")))?;
    let env = TxEnvelope::decode_2718(&mut raw.as_slice())
        .map_err(|err| Failure::input(anyhow!("{subject}: raw does not decode: {err}")))?;
    let TxEnvelope::Eip1559(signed) = &env else {
        return Err(Failure::finding(anyhow!(
            "{subject}: not an eip-1559 transaction"
        )));
    };
    let from = parse_address(&e.from, None).map_err(Failure::input)?;
    let signer = signed
        .recover_signer()
        .map_err(|err| Failure::finding(anyhow!("{subject}: signature does not recover: {err}")))?;
    let t = signed.tx();
    let to = t
        .to()
        .ok_or_else(|| Failure::finding(anyhow!("{subject}: creates a contract")))?;
    let mismatch = |field: &str| {
        Failure::finding(anyhow!(
            "{subject}: the signed transaction's {field} is not the set's"
        ))
    };
    if signer != from {
        return Err(mismatch("signer"));
    }
    if t.chain_id != chain_id {
        return Err(mismatch("chain id"));
    }
    if t.nonce != e.nonce {
        return Err(mismatch("nonce"));
    }
    if Some(to) != parse_address(&e.to, None).ok() {
        return Err(mismatch("recipient"));
    }
    if t.value.to_string() != e.value
        || format!("0x{}", hex::encode(&t.input)) != e.data.to_ascii_lowercase()
    {
        return Err(mismatch("value or data"));
    }
    let hash = keccak256(&raw);
    if e.hash.as_deref().is_some_and(|h| h != hash.to_string()) {
        return Err(mismatch("hash"));
    }
    let effect = if t.input.is_empty() {
        Effect::Eth { to, value: t.value }
    } else {
        let (recipient, units) = decode_transfer(&t.input, &subject).map_err(Failure::finding)?;
        Effect::Token {
            contract: to,
            recipient,
            units,
        }
    };
    Ok(Prepared {
        index: e.index,
        purpose: e.purpose,
        from,
        nonce: e.nonce,
        hash,
        raw,
        effect,
    })
}

/// Runs `custos eth sweep broadcast`.
pub(crate) fn run_broadcast(app: &App, a: &BroadcastArgs) -> CmdResult {
    let (chain_id, txs, artifacts) = load(&a.signed)?;
    let mut case = app.open_case()?;
    let src = a.rpc.connect(Some(chain_id))?;
    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let mut receipts = BTreeMap::new();
    let (funding, sweep): (Vec<&Prepared>, Vec<&Prepared>) =
        txs.iter().partition(|t| t.purpose == TxPurpose::GasFunding);
    let mut sent = Vec::new();
    for wave in [funding, sweep] {
        for t in &wave {
            if src.receipt(t.hash).map_err(eth_failure)?.is_some() {
                tracing::info!(target: "custos::eth", tx = %t.hash, "already mined; not sent again");
                continue;
            }
            // The node's hash is checked against the signed one (exit 3 when it names another).
            src.send_raw(&t.raw, t.hash).map_err(|e| {
                let f = Failure::classified(e);
                Failure {
                    code: f.code,
                    error: f.error.context(t.subject()),
                }
            })?;
            sent.push(t.hash.to_string());
        }
        wait_receipts(&src, &wave, 1, deadline, &mut receipts)?;
    }
    settle(
        app,
        case.as_mut(),
        &src,
        &txs,
        &receipts,
        BROADCAST_EVENT,
        json!({"sent": sent}),
        artifacts,
    )
}

/// Runs `custos eth sweep watch`.
pub(crate) fn run_watch(app: &App, a: &WatchArgs) -> CmdResult {
    let (chain_id, txs, artifacts) = load(&a.signed)?;
    let mut case = app.open_case()?;
    let src = a.rpc.connect(Some(chain_id))?;
    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let mut receipts = BTreeMap::new();
    let all: Vec<&Prepared> = txs.iter().collect();
    wait_receipts(&src, &all, a.confirmations.max(1), deadline, &mut receipts)?;
    let extra = json!({"confirmations": a.confirmations});
    settle(
        app,
        case.as_mut(),
        &src,
        &txs,
        &receipts,
        WATCH_EVENT,
        extra,
        artifacts,
    )
}

fn wait_receipts(
    src: &EthSource,
    txs: &[&Prepared],
    confirmations: u64,
    deadline: Instant,
    receipts: &mut BTreeMap<usize, Receipt>,
) -> CmdResult {
    loop {
        for t in txs {
            if let std::collections::btree_map::Entry::Vacant(slot) = receipts.entry(t.index) {
                if let Some(r) = src.receipt(t.hash).map_err(eth_failure)? {
                    slot.insert(r);
                }
            }
        }
        let mined = txs
            .iter()
            .filter_map(|t| receipts.get(&t.index))
            .collect::<Vec<_>>();
        if mined.len() == txs.len() {
            let tip = src.block_number().map_err(eth_failure)?;
            let deepest = mined.iter().map(|r| r.block_number).max().unwrap_or(0);
            if tip + 1 >= deepest + confirmations {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            let missing: Vec<String> = txs
                .iter()
                .filter(|t| !receipts.contains_key(&t.index))
                .map(|t| format!("{} {}", t.subject(), t.hash))
                .collect();
            return Err(Failure::env(anyhow!(
                "timed out waiting: {} transaction(s) without a receipt ({}) or too few confirmations",
                missing.len(),
                missing.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Compares every touched address between the block before the first receipt and the block of
/// the last, records the outcome and prints it.
#[allow(clippy::too_many_arguments)]
fn settle(
    app: &App,
    case: Option<&mut custos_case::Case>,
    src: &EthSource,
    txs: &[Prepared],
    receipts: &BTreeMap<usize, Receipt>,
    kind: &str,
    extra: serde_json::Value,
    artifacts: Vec<NewArtifact>,
) -> CmdResult {
    let first = receipts.values().map(|r| r.block_number).min().unwrap_or(0);
    let last = receipts.values().map(|r| r.block_number).max().unwrap_or(0);
    let before = src.pin_at(first.saturating_sub(1)).map_err(eth_failure)?;
    let after = src.pin_at(last).map_err(eth_failure)?;
    let (eth_in, eth_out, tok) = expected_flows(txs, receipts);
    let addrs: Vec<Address> = eth_in
        .keys()
        .chain(eth_out.keys())
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let b = src.accounts(&before, &addrs).map_err(eth_failure)?;
    let c = src.accounts(&after, &addrs).map_err(eth_failure)?;
    let mut findings = Vec::new();
    let mut eth_rows = Vec::new();
    for (x, y) in b.iter().zip(&c) {
        let inn = eth_in.get(&x.address).copied().unwrap_or_default();
        let out = eth_out.get(&x.address).copied().unwrap_or_default();
        let ok = x.balance_wei + inn == y.balance_wei + out;
        if !ok {
            findings.push(format!(
                "{}: ether {} wei before + {inn} received − {out} sent and paid in fees should leave {} wei, block {} shows {} wei",
                x.address.to_checksum(None),
                x.balance_wei,
                (x.balance_wei + inn).saturating_sub(out),
                after.number,
                y.balance_wei
            ));
        }
        eth_rows.push(json!({"address": x.address.to_checksum(None), "before_wei": x.balance_wei.to_string(),
            "after_wei": y.balance_wei.to_string(), "received_wei": inn.to_string(), "sent_and_fees_wei": out.to_string(), "exact": ok}));
    }
    let (token_rows, differences) = token_check(src, &before, &after, &tok)?;
    let failed: Vec<String> = txs
        .iter()
        .filter(|t| receipts.get(&t.index).is_some_and(|r| !r.success))
        .map(|t| format!("{} {} reverted", t.subject(), t.hash))
        .collect();
    findings.extend(failed);
    let tx_rows: Vec<_> = txs
        .iter()
        .map(|t| {
            let r = receipts.get(&t.index);
            json!({"index": t.index, "hash": t.hash.to_string(), "from": t.from.to_checksum(None), "nonce": t.nonce,
                "block": r.map(|r| r.block_number), "success": r.map(|r| r.success),
                "fee_wei": r.map(|r| r.fee_wei().to_string())})
        })
        .collect();
    let summary = json!({
        "chain_id": src.chain_id(), "node": src.node(),
        "before_block": {"number": before.number, "hash": before.hash.to_string()},
        "after_block": {"number": after.number, "hash": after.hash.to_string()},
        "transactions": tx_rows, "eth": eth_rows, "tokens": token_rows,
        "token_differences": differences, "findings": findings, "detail": extra,
    });
    record(app, case, kind, summary.clone(), artifacts)?;
    if app.json {
        print_json(&summary)?;
    } else {
        print_settled(
            txs,
            receipts,
            &differences,
            (before.number, after.number),
            findings.is_empty(),
        )?;
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Failure::finding(anyhow!("{}", findings.join("; "))))
    }
}

/// What the transactions should have moved: ether received and ether sent (fees included) per
/// address, and token units (received, sent) per (token, holder).
#[allow(clippy::type_complexity)]
fn expected_flows(
    txs: &[Prepared],
    receipts: &BTreeMap<usize, Receipt>,
) -> (BTreeMap<Address, U256>, BTreeMap<Address, U256>, TokenFlows) {
    let mut eth_in: BTreeMap<Address, U256> = BTreeMap::new();
    let mut eth_out: BTreeMap<Address, U256> = BTreeMap::new();
    let mut tok: TokenFlows = BTreeMap::new();
    for t in txs {
        // An unmined transaction paid no fee.
        let fee = receipts
            .get(&t.index)
            .map(Receipt::fee_wei)
            .unwrap_or_default();
        *eth_out.entry(t.from).or_default() += fee;
        match t.effect {
            Effect::Eth { to, value } => {
                *eth_out.entry(t.from).or_default() += value;
                *eth_in.entry(to).or_default() += value;
            }
            Effect::Token {
                contract,
                recipient,
                units,
            } => {
                eth_in.entry(t.from).or_default();
                tok.entry((contract, t.from)).or_default().1 += units;
                tok.entry((contract, recipient)).or_default().0 += units;
            }
        }
    }
    (eth_in, eth_out, tok)
}

/// The human lines of a settled broadcast: each transaction, each token difference, the verdict.
fn print_settled(
    txs: &[Prepared],
    receipts: &BTreeMap<usize, Receipt>,
    differences: &[String],
    (before, after): (u64, u64),
    exact: bool,
) -> CmdResult {
    for t in txs {
        let r = receipts.get(&t.index);
        outln!(
            "{} {} block {} {}",
            t.subject(),
            t.hash,
            r.map_or_else(|| "-".into(), |r| r.block_number.to_string()),
            if r.is_some_and(|r| r.success) {
                "ok"
            } else {
                "FAILED"
            }
        )?;
    }
    for d in differences {
        outln!("difference: {d}")?;
    }
    outln!(
        "balances compared between block {before} and block {after}: {}",
        if exact { "ether exact" } else { "MISMATCH" }
    )?;
    Ok(())
}

type TokenFlows = BTreeMap<(Address, Address), (U256, U256)>;

/// Token balances of every (token, holder) before and after; a holder that received less than
/// was sent to it (or lost more than it sent) is a difference, reported, not a failure.
fn token_check(
    src: &EthSource,
    before: &custos_chain::eth::PinnedBlock,
    after: &custos_chain::eth::PinnedBlock,
    tok: &TokenFlows,
) -> CmdResult<(Vec<serde_json::Value>, Vec<String>)> {
    let mut rows = Vec::new();
    let mut diffs = Vec::new();
    for ((token, holder), (inn, out)) in tok {
        let b = src
            .token_balances(before, &[*token], &[*holder])
            .map_err(eth_failure)?;
        let c = src
            .token_balances(after, &[*token], &[*holder])
            .map_err(eth_failure)?;
        let (Some(Ok(x)), Some(Ok(y))) =
            (b.first().map(|t| &t.balance), c.first().map(|t| &t.balance))
        else {
            diffs.push(format!("token {token}: balanceOf({holder}) did not answer"));
            continue;
        };
        let expected = (*x + *inn).saturating_sub(*out);
        if *y != expected {
            let what = if *y < expected { "short" } else { "over" };
            let d = if *y < expected {
                expected - *y
            } else {
                *y - expected
            };
            diffs.push(format!(
                "token {}: {} expected {expected} units after +{inn} −{out}, holds {y}: {d} units {what} (a fee-on-transfer token keeps a part)",
                token.to_checksum(None),
                holder.to_checksum(None)
            ));
        }
        rows.push(json!({"token": token.to_checksum(None), "holder": holder.to_checksum(None),
            "before": x.to_string(), "after": y.to_string(), "received": inn.to_string(), "sent": out.to_string(),
            "expected_after": expected.to_string(), "exact": *y == expected}));
    }
    Ok((rows, diffs))
}
