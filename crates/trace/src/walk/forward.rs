//! Forward (destination) walk: from coins to the transactions that spend them.
//!
//! Per hop, for the whole frontier: the histories of the coins' scripts (one call), the raw
//! candidates not yet held (one call), the spenders' other parents (one call), the spenders'
//! merkle proofs (one call).
//!
//! A reused script's history lists every transaction that ever paid or spent it; only those at
//! or after the height of the block that made a coin can spend it. So a history entry is a
//! candidate only when it is in the mempool or confirmed at or above the lowest proven height of
//! the script's coins in the hop (a coin made by a mempool transaction admits mempool entries
//! only). When a coin's transaction is not proven in a block, its script's whole history is
//! kept.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
};

use bitcoin::{OutPoint, ScriptBuf, Txid};
use custos_core::{source::HistoryItem, Sat};

use super::{
    fxhash::{FxHashMap, FxHashSet},
    seed::Seeds,
    state::Walk,
    Progress, StopReason,
};
use crate::graph::{script_label, Inclusion};

/// Walks forward from the seed coins until the frontier is empty.
pub(super) fn run(w: &mut Walk<'_>, seeds: &Seeds, progress: &mut dyn FnMut(Progress)) {
    let mut frontier = seeds.coins.clone();
    let mut hop = 1u32;
    while !frontier.is_empty() {
        progress(Progress::Hop {
            hop,
            frontier: frontier.len(),
            transactions: w.graph.len(),
            round_trips: w.src.trips,
        });
        frontier = step(w, hop, frontier, &seeds.coins);
        hop = hop.saturating_add(1);
    }
}

/// One hop: returns the next frontier (the outputs of the spenders added at `hop`).
fn step(
    w: &mut Walk<'_>,
    hop: u32,
    frontier: BTreeSet<OutPoint>,
    seeds: &BTreeSet<OutPoint>,
) -> BTreeSet<OutPoint> {
    let follow = select(w, hop, frontier, seeds);
    if follow.is_empty() {
        return BTreeSet::new();
    }
    let spenders = match find_spenders(w, hop, &follow) {
        Ok(s) => s,
        Err(detail) => {
            let all: BTreeSet<OutPoint> = follow.values().flatten().copied().collect();
            w.fail(hop, &all, &detail);
            return BTreeSet::new();
        }
    };
    let spenders = cap_to_limit(w, hop, spenders);
    match add_spenders(w, hop, &spenders) {
        Ok(next) => next,
        Err(detail) => {
            let open: BTreeSet<OutPoint> = spenders.values().flatten().copied().collect();
            w.fail(hop, &open, &detail);
            BTreeSet::new()
        }
    }
}

/// The frontier coins to look up, by script; the others get their stop.
fn select(
    w: &mut Walk<'_>,
    hop: u32,
    frontier: BTreeSet<OutPoint>,
    seeds: &BTreeSet<OutPoint>,
) -> BTreeMap<ScriptBuf, Vec<OutPoint>> {
    let mut follow: BTreeMap<ScriptBuf, Vec<OutPoint>> = BTreeMap::new();
    for coin in frontier {
        if !w.followed.insert(coin) {
            continue;
        }
        // A spender already in the graph (reached through another coin) is linked, not re-walked.
        if w.graph.output(&coin).and_then(|o| o.spent_by).is_some() {
            continue;
        }
        let Some(out) = w.txout(&coin) else {
            w.stop(
                coin,
                hop,
                StopReason::NotFound {
                    detail: format!("transaction {} has no output {}", coin.txid, coin.vout),
                },
            );
            continue;
        };
        let script = out.script_pubkey.clone();
        let value = Sat(out.value.to_sat());
        if !seeds.contains(&coin) {
            // The graph holds the address of every output of its transactions already.
            let address = match w.graph.output(&coin) {
                Some(o) => Cow::Borrowed(o.address.as_str()),
                None => Cow::Owned(script_label(&script, w.network)),
            };
            if let Some(reason) = w.check_coin(&coin, value, &address) {
                w.stop(coin, hop, reason);
                continue;
            }
        }
        let reason = if script.is_op_return() {
            Some(StopReason::Unspent)
        } else if hop > w.limits.hops {
            Some(StopReason::HopLimit)
        } else if w.graph.len() >= w.limits.max_txs {
            Some(StopReason::TxLimit)
        } else {
            None
        };
        match reason {
            Some(r) => w.stop(coin, hop, r),
            None => follow.entry(script).or_default().push(coin),
        }
    }
    follow
}

/// Histories of the scripts and the candidates they list: the spender of each coin, by txid.
/// Coins without a spender get their stop (unspent, or the source at fault when a candidate of
/// their script was rejected).
fn find_spenders(
    w: &mut Walk<'_>,
    hop: u32,
    follow: &BTreeMap<ScriptBuf, Vec<OutPoint>>,
) -> Result<BTreeMap<Txid, Vec<OutPoint>>, String> {
    let scripts: Vec<ScriptBuf> = follow.keys().cloned().collect();
    let histories = w.src.histories(&scripts)?;
    let histories: Vec<Vec<HistoryItem>> = follow
        .values()
        .zip(histories)
        .map(|(coins, history)| can_spend(w, coins, history))
        .collect();
    w.learn_heights(&histories);
    let candidates: BTreeSet<Txid> = histories.iter().flatten().map(|h| h.txid).collect();
    w.fetch_txs(candidates.iter().copied())?;

    let wanted: FxHashSet<OutPoint> = follow.values().flatten().copied().collect();
    let mut spender_of: FxHashMap<OutPoint, Txid> = FxHashMap::default();
    spender_of.reserve(wanted.len());
    let mut conflicts: Vec<String> = Vec::new();
    for txid in &candidates {
        let Some(tx) = w.txs.get(txid) else { continue };
        for input in &tx.input {
            if !wanted.contains(&input.previous_output) {
                continue;
            }
            let first = *spender_of.entry(input.previous_output).or_insert(*txid);
            if first != *txid {
                conflicts.push(format!(
                    "coin {}: spent by both {first} and {txid} (conflicting transactions); only {first} followed",
                    input.previous_output
                ));
            }
        }
    }
    w.partial.extend(conflicts);
    let mut spenders: BTreeMap<Txid, Vec<OutPoint>> = BTreeMap::new();
    for (coins, history) in follow.values().zip(&histories) {
        let rejected: Vec<String> = history
            .iter()
            .filter(|h| !w.txs.contains_key(&h.txid))
            .map(|h| w.missing_reason(&h.txid))
            .collect();
        for coin in coins {
            match spender_of.get(coin) {
                Some(txid) => spenders.entry(*txid).or_default().push(*coin),
                None if rejected.is_empty() => w.stop(*coin, hop, StopReason::Unspent),
                None => w.stop(
                    *coin,
                    hop,
                    StopReason::SourceFailed {
                        detail: format!(
                            "no spender found, but the history of its script holds a transaction that could not be used: {}",
                            rejected.join("; ")
                        ),
                    },
                ),
            }
        }
    }
    // A spender already in the graph was linked when it was added.
    spenders.retain(|txid, _| w.graph.tx(txid).is_none());
    Ok(spenders)
}

/// The entries of a script's history that can spend one of `coins` (its coins in this hop):
/// mempool entries, and confirmed entries at or above the lowest block height of the coins'
/// transactions. The whole history when one of them is not proven in a block.
fn can_spend(w: &Walk<'_>, coins: &[OutPoint], history: Vec<HistoryItem>) -> Vec<HistoryItem> {
    let mut lowest = i64::MAX; // only mempool entries, unless a coin is confirmed
    for coin in coins {
        match w.graph.tx(&coin.txid).map(|n| &n.inclusion) {
            Some(Inclusion::Verified { height, .. }) => lowest = lowest.min(i64::from(*height)),
            Some(Inclusion::Unconfirmed) => {}
            Some(Inclusion::Unproven { .. }) | None => return history,
        }
    }
    history
        .into_iter()
        .filter(|h| h.height <= 0 || h.height >= lowest)
        .collect()
}

/// Keeps the first spenders (by txid) that fit under the transaction limit.
fn cap_to_limit(
    w: &mut Walk<'_>,
    hop: u32,
    mut spenders: BTreeMap<Txid, Vec<OutPoint>>,
) -> BTreeMap<Txid, Vec<OutPoint>> {
    let room = w.limits.max_txs.saturating_sub(w.graph.len());
    if spenders.len() > room {
        let cut = spenders.keys().nth(room).copied();
        if let Some(cut) = cut {
            for coin in spenders.split_off(&cut).into_values().flatten() {
                w.stop(coin, hop, StopReason::TxLimit);
            }
        }
    }
    spenders
}

/// Fetches the spenders' other parents and their proofs, and adds those inside the time
/// window to the graph at `hop`. Returns their outputs.
fn add_spenders(
    w: &mut Walk<'_>,
    hop: u32,
    spenders: &BTreeMap<Txid, Vec<OutPoint>>,
) -> Result<BTreeSet<OutPoint>, String> {
    let parents: BTreeSet<Txid> = spenders
        .keys()
        .filter_map(|t| w.txs.get(t))
        .flat_map(|tx| tx.input.iter().map(|i| i.previous_output.txid))
        .collect();
    w.fetch_txs(parents)?;
    let ids: BTreeSet<Txid> = spenders.keys().copied().collect();
    let mut inclusions = w.prove(&ids)?;
    let mut next = BTreeSet::new();
    for (txid, coins) in spenders {
        let Some(inclusion) = inclusions.remove(txid) else {
            continue;
        };
        if let Some(time) = w.outside_window(txid, &inclusion) {
            for coin in coins {
                w.stop(*coin, hop, StopReason::OutsideWindow { time });
            }
            continue;
        }
        w.add_tx(*txid, inclusion, hop);
        let outputs = w.txs.get(txid).map_or(0, |tx| tx.output.len());
        next.extend(
            (0..outputs)
                .filter_map(|v| u32::try_from(v).ok())
                .map(|v| OutPoint::new(*txid, v)),
        );
    }
    Ok(next)
}
