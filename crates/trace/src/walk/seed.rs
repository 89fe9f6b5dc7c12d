//! Turning the starts into seed coins and seed transactions (hop 0). Failures here are errors:
//! nothing has been traced yet.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, ScriptBuf, Txid};

use super::{state::Walk, Direction, Start};
use crate::Error;

/// The seeds of a trace.
#[derive(Debug, Clone, Default)]
pub(super) struct Seeds {
    /// Forward: the coins followed first. Backward: the coins explained.
    pub coins: BTreeSet<OutPoint>,
    /// The transactions that created them (hop 0).
    pub txs: BTreeSet<Txid>,
}

fn all_starts(starts: &[Start]) -> String {
    starts
        .iter()
        .map(Start::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

fn bad(start: String, problem: String) -> Error {
    Error::BadStart { start, problem }
}

/// Resolves `starts`, fetches, proves and adds the seed transactions at hop 0.
pub(super) fn resolve(w: &mut Walk<'_>, starts: &[Start]) -> Result<Seeds, Error> {
    if starts.is_empty() {
        return Err(bad("(none)".into(), "no start given".into()));
    }
    let histories = script_histories(w, starts)?;
    let named: BTreeSet<Txid> = starts
        .iter()
        .filter_map(|s| match s {
            Start::Tx(t) => Some(*t),
            Start::Outpoint(op) => Some(op.txid),
            Start::Script { .. } => None,
        })
        .collect();
    let listed = histories.values().flatten().copied();
    w.fetch_txs(named.iter().copied().chain(listed))
        .map_err(|detail| bad(all_starts(starts), detail))?;

    let mut seeds = Seeds::default();
    for start in starts {
        let coins = start_coins(w, start, &histories)?;
        seeds.coins.extend(coins);
    }
    seeds.txs = seeds.coins.iter().map(|c| c.txid).collect();

    learn_named_heights(w, &seeds.txs).map_err(|detail| bad(all_starts(starts), detail))?;
    let mut inclusions = w
        .prove(&seeds.txs)
        .map_err(|detail| bad(all_starts(starts), detail))?;
    for txid in &seeds.txs {
        if let Some(inclusion) = inclusions.remove(txid) {
            w.add_tx(*txid, inclusion, 0);
        }
    }
    if w.direction == Direction::Forward {
        resolve_seed_inputs(w, &seeds);
    }
    Ok(seeds)
}

/// Histories of the script starts (one call): txids by script.
fn script_histories(
    w: &mut Walk<'_>,
    starts: &[Start],
) -> Result<BTreeMap<ScriptBuf, Vec<Txid>>, Error> {
    let labels: BTreeMap<ScriptBuf, String> = starts
        .iter()
        .filter_map(|s| match s {
            Start::Script { script, .. } => Some((script.clone(), s.describe())),
            _ => None,
        })
        .collect();
    if labels.is_empty() {
        return Ok(BTreeMap::new());
    }
    let scripts: Vec<ScriptBuf> = labels.keys().cloned().collect();
    let histories = w.src.histories(&scripts).map_err(|detail| {
        let named: Vec<&str> = labels.values().map(String::as_str).collect();
        bad(named.join(", "), detail)
    })?;
    w.learn_heights(&histories);
    let mut out = BTreeMap::new();
    for ((script, label), history) in labels.into_iter().zip(histories) {
        if history.is_empty() {
            return Err(bad(
                label,
                format!("{} lists no transaction for it", w.src.name()),
            ));
        }
        out.insert(script, history.into_iter().map(|h| h.txid).collect());
    }
    Ok(out)
}

/// The seed coins of one start.
fn start_coins(
    w: &Walk<'_>,
    start: &Start,
    histories: &BTreeMap<ScriptBuf, Vec<Txid>>,
) -> Result<Vec<OutPoint>, Error> {
    let held = |txid: &Txid| {
        w.txs
            .get(txid)
            .ok_or_else(|| bad(start.describe(), w.missing_reason(txid)))
    };
    match start {
        Start::Tx(txid) => {
            let tx = held(txid)?;
            Ok((0..tx.output.len())
                .filter_map(|v| u32::try_from(v).ok())
                .map(|v| OutPoint::new(*txid, v))
                .collect())
        }
        Start::Outpoint(op) => {
            let tx = held(&op.txid)?;
            if usize::try_from(op.vout).map_or(true, |v| v >= tx.output.len()) {
                return Err(bad(
                    start.describe(),
                    format!(
                        "transaction {} has {} outputs, no output {}",
                        op.txid,
                        tx.output.len(),
                        op.vout
                    ),
                ));
            }
            Ok(vec![*op])
        }
        Start::Script { script, .. } => {
            let mut coins = Vec::new();
            for txid in histories.get(script).into_iter().flatten() {
                // A transaction rejected for its bytes is reported by fetch_txs; skip it here.
                let Some(tx) = w.txs.get(txid) else { continue };
                for (vout, out) in tx.output.iter().enumerate() {
                    if out.script_pubkey == *script {
                        if let Ok(vout) = u32::try_from(vout) {
                            coins.push(OutPoint::new(*txid, vout));
                        }
                    }
                }
            }
            if coins.is_empty() {
                return Err(bad(
                    start.describe(),
                    "no transaction received from its history pays it".into(),
                ));
            }
            Ok(coins)
        }
    }
}

/// Heights of seed transactions no history has placed yet: the history of one output script of
/// each (one call).
fn learn_named_heights(w: &mut Walk<'_>, txs: &BTreeSet<Txid>) -> Result<(), String> {
    let scripts: BTreeSet<ScriptBuf> = txs
        .iter()
        .filter(|t| !w.heights.contains_key(*t))
        .filter_map(|t| w.txs.get(t))
        .filter_map(|tx| {
            tx.output
                .iter()
                .find(|o| !o.script_pubkey.is_op_return())
                .or_else(|| tx.output.first())
                .map(|o| o.script_pubkey.clone())
        })
        .collect();
    if scripts.is_empty() {
        return Ok(());
    }
    let scripts: Vec<ScriptBuf> = scripts.into_iter().collect();
    let histories = w.src.histories(&scripts)?;
    w.learn_heights(&histories);
    Ok(())
}

/// Forward: the parents of the seed transactions' inputs (one call), so every input value is
/// known. A failure here is reported; the walk goes on.
fn resolve_seed_inputs(w: &mut Walk<'_>, seeds: &Seeds) {
    let parents: BTreeSet<Txid> = seeds
        .txs
        .iter()
        .filter_map(|t| w.txs.get(t))
        .filter(|tx| !tx.is_coinbase())
        .flat_map(|tx| tx.input.iter().map(|i| i.previous_output.txid))
        .collect();
    if let Err(detail) = w.fetch_txs(parents) {
        w.partial.push(format!(
            "hop 0: {detail}; input values of the seed transactions unknown"
        ));
        return;
    }
    for txid in &seeds.txs {
        let n = w.txs.get(txid).map_or(0, |tx| tx.input.len());
        for vin in 0..n {
            w.resolve_input(*txid, vin);
        }
    }
}
