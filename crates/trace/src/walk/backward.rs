//! Backward (provenance) walk: from coins spent to the transactions that created them.
//!
//! Per hop, for the whole frontier: the parents' raw transactions (one call; fetched also for
//! coins that will not be followed, so every input value of the graph is known), the histories
//! of the spent coins' scripts for the parents' heights (one call), the parents' merkle proofs
//! (one call).

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, ScriptBuf, Txid};
use custos_core::Sat;

use super::{seed::Seeds, state::Walk, Progress, StopReason};
use crate::graph::script_label;

/// A coin of the frontier and the graph input that spends it: (child txid, input index).
type Frontier = BTreeMap<OutPoint, (Txid, usize)>;

/// Walks backward from the seed transactions' inputs until the frontier is empty.
pub(super) fn run(w: &mut Walk<'_>, seeds: &Seeds, progress: &mut dyn FnMut(Progress)) {
    let mut frontier = inputs_of(w, 0, &seeds.txs, &seeds.coins);
    let mut hop = 1u32;
    while !frontier.is_empty() {
        progress(Progress::Hop {
            hop,
            frontier: frontier.len(),
            transactions: w.graph.len(),
            round_trips: w.src.trips,
        });
        frontier = step(w, hop, frontier);
        hop = hop.saturating_add(1);
    }
}

/// The inputs of `txs` (graph transactions added at `hop`) as the next frontier. A coinbase
/// has none: the coins of it that were being explained (`explained`) stop there.
fn inputs_of(
    w: &mut Walk<'_>,
    hop: u32,
    txs: &BTreeSet<Txid>,
    explained: &BTreeSet<OutPoint>,
) -> Frontier {
    let mut next = Frontier::new();
    for txid in txs {
        let Some(tx) = w.txs.get(txid) else { continue };
        if tx.is_coinbase() {
            let coins: Vec<OutPoint> = explained
                .iter()
                .filter(|c| c.txid == *txid)
                .copied()
                .collect();
            for coin in coins {
                w.stop(coin, hop, StopReason::Coinbase);
            }
            continue;
        }
        for (vin, input) in tx.input.iter().enumerate() {
            next.entry(input.previous_output).or_insert((*txid, vin));
        }
    }
    next
}

/// One hop: returns the next frontier (the inputs of the parents added at `hop`).
fn step(w: &mut Walk<'_>, hop: u32, frontier: Frontier) -> Frontier {
    let mut coins = Frontier::new();
    for (coin, child) in frontier {
        // A parent already in the graph is linked, not re-walked.
        if w.followed.insert(coin) && w.graph.tx(&coin.txid).is_none() {
            coins.insert(coin, child);
        }
    }
    if coins.is_empty() {
        return Frontier::new();
    }
    if let Err(detail) = w.fetch_txs(coins.keys().map(|c| c.txid)) {
        let open: BTreeSet<OutPoint> = coins.keys().copied().collect();
        w.fail(hop, &open, &detail);
        return Frontier::new();
    }
    let parents = select(w, hop, &coins);
    match add_parents(w, hop, &parents) {
        Ok(added) => {
            let explained: BTreeSet<OutPoint> = parents.values().flatten().copied().collect();
            inputs_of(w, hop, &added, &explained)
        }
        Err(detail) => {
            let open: BTreeSet<OutPoint> = parents.values().flatten().copied().collect();
            w.fail(hop, &open, &detail);
            Frontier::new()
        }
    }
}

/// Resolves the spending inputs from the fetched parents and picks the parents to follow, by
/// txid with the coins of theirs being explained; the other coins get their stop.
fn select(w: &mut Walk<'_>, hop: u32, coins: &Frontier) -> BTreeMap<Txid, Vec<OutPoint>> {
    let mut follow: BTreeMap<Txid, Vec<OutPoint>> = BTreeMap::new();
    for (coin, (child, vin)) in coins {
        w.resolve_input(*child, *vin);
        if !w.txs.contains_key(&coin.txid) {
            let detail = w.missing_reason(&coin.txid);
            w.stop(*coin, hop, StopReason::SourceFailed { detail });
            continue;
        }
        let Some(out) = w.txout(coin) else {
            let detail = format!("transaction {} has no output {}", coin.txid, coin.vout);
            w.stop(*coin, hop, StopReason::NotFound { detail });
            continue;
        };
        let value = Sat(out.value.to_sat());
        let address = script_label(&out.script_pubkey, w.network);
        let reason = w.check_coin(coin, value, &address).or_else(|| {
            let room = w.limits.max_txs.saturating_sub(w.graph.len());
            if hop > w.limits.hops {
                Some(StopReason::HopLimit)
            } else if follow.len() >= room && !follow.contains_key(&coin.txid) {
                Some(StopReason::TxLimit)
            } else {
                None
            }
        });
        match reason {
            Some(r) => w.stop(*coin, hop, r),
            None => follow.entry(coin.txid).or_default().push(*coin),
        }
    }
    follow
}

/// Heights (histories of the coins' scripts, one call) and proofs (one call) of the parents,
/// then adds those inside the time window to the graph at `hop`. Returns the ones added.
fn add_parents(
    w: &mut Walk<'_>,
    hop: u32,
    parents: &BTreeMap<Txid, Vec<OutPoint>>,
) -> Result<BTreeSet<Txid>, String> {
    // One script per parent: the parent is in the history of every script it pays.
    let scripts: BTreeSet<ScriptBuf> = parents
        .iter()
        .filter(|(txid, _)| !w.heights.contains_key(*txid))
        .filter_map(|(_, coins)| coins.first())
        .filter_map(|c| w.txout(c))
        .map(|o| o.script_pubkey.clone())
        .collect();
    if !scripts.is_empty() {
        let scripts: Vec<ScriptBuf> = scripts.into_iter().collect();
        let histories = w.src.histories(&scripts)?;
        w.learn_heights(&histories);
    }
    let ids: BTreeSet<Txid> = parents.keys().copied().collect();
    let mut inclusions = w.prove(&ids)?;
    let mut added = BTreeSet::new();
    for (txid, coins) in parents {
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
        added.insert(*txid);
    }
    Ok(added)
}
