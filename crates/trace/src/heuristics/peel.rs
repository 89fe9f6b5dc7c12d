//! Peeling chains: a large coin paying out a small amount at each hop and carrying the rest on.
//!
//! A *hop* is a transaction that is not a coinbase nor a detected CoinJoin, with exactly two
//! outputs, one at least twice the other: the larger is the change, the smaller the payment
//! (`change ≥ 2 × payment`). Hop B *follows* hop A when B spends A's change and B's inputs are
//! either that one coin or all coins at A's change address. A peeling chain is a maximal run of
//! three or more hops each following the previous one, whose first hop spends a single coin (a
//! first hop with several inputs is left out and the chain starts at its follower). BlockSci's
//! `isPeelingChain` looks at one input / two outputs and a neighbour of the same shape; this
//! follows the whole run.
//!
//! Each chain also lists the change-detection heuristics whose calls agreed with the chain's
//! change on some hop, and those whose calls pointed at the payment instead.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, Txid};
use serde::{Deserialize, Serialize};

use super::{coinjoin_with, ChangeCall, HeuristicId, HeuristicSet};
use crate::graph::{Graph, TxNode};

/// Fewest hops that make a chain.
pub const MIN_HOPS: usize = 3;

/// A peeling chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeelChain {
    /// The hops, in spending order.
    pub txids: Vec<Txid>,
    /// The change output of each hop.
    pub change: Vec<OutPoint>,
    /// The payment output of each hop.
    pub payments: Vec<OutPoint>,
    /// `peel-chain`, then the change heuristics whose calls agreed with the chain's change.
    pub heuristics: Vec<HeuristicId>,
    /// Change heuristics whose calls named a hop's payment as change instead.
    pub disagreed: Vec<HeuristicId>,
}

/// A hop's (change vout, payment vout), when the transaction has the shape of one.
fn hop(tx: &TxNode, set: &HeuristicSet) -> Option<(usize, usize)> {
    if tx.coinbase || tx.outputs.len() != 2 || coinjoin_with(tx, set).is_some() {
        return None;
    }
    let (a, b) = (tx.outputs[0].value.0, tx.outputs[1].value.0);
    let (change, payment) = if a >= b { (0, 1) } else { (1, 0) };
    let (big, small) = (a.max(b), a.min(b));
    (small.checked_mul(2).is_some_and(|twice| big >= twice)).then_some((change, payment))
}

/// The hop that follows `tx` (whose change is at `change`), if any.
fn next_hop(graph: &Graph, set: &HeuristicSet, tx: &TxNode, change: usize) -> Option<Txid> {
    let out = &tx.outputs[change];
    let (spender, _) = out.spent_by?;
    let next = graph.tx(&spender)?;
    hop(next, set)?;
    let change_op = tx.outpoint(change);
    let from_change = match next.inputs.as_slice() {
        [only] => only.prevout == change_op,
        inputs => inputs
            .iter()
            .all(|i| i.address.as_deref() == Some(out.address.as_str())),
    };
    from_change.then_some(spender)
}

/// Every peeling chain of the graph, sorted by first txid.
pub fn peeling_chains(graph: &Graph, set: &HeuristicSet, calls: &[ChangeCall]) -> Vec<PeelChain> {
    if !set.is_enabled(HeuristicId::PeelChain) {
        return Vec::new();
    }
    let hops: BTreeMap<Txid, (usize, usize)> = graph
        .txs
        .values()
        .filter_map(|tx| Some((tx.txid, hop(tx, set)?)))
        .collect();
    let mut next: BTreeMap<Txid, Txid> = BTreeMap::new();
    for (txid, (change, _)) in &hops {
        let tx = graph
            .tx(txid)
            .expect("hops are built from the graph's transactions");
        if let Some(n) = next_hop(graph, set, tx, *change) {
            next.insert(*txid, n);
        }
    }
    let followers: BTreeSet<Txid> = next.values().copied().collect();
    let calls: BTreeMap<Txid, &ChangeCall> = calls.iter().map(|c| (c.txid, c)).collect();
    let mut chains = Vec::new();
    for start in hops.keys().filter(|t| !followers.contains(*t)) {
        let mut txids = vec![*start];
        while let Some(n) = next.get(txids.last().expect("starts with one txid")) {
            txids.push(*n);
        }
        if graph.tx(start).is_some_and(|t| t.inputs.len() != 1) {
            txids.remove(0);
        }
        if txids.len() >= MIN_HOPS {
            chains.push(describe(graph, &hops, &calls, txids));
        }
    }
    chains
}

fn describe(
    graph: &Graph,
    hops: &BTreeMap<Txid, (usize, usize)>,
    calls: &BTreeMap<Txid, &ChangeCall>,
    txids: Vec<Txid>,
) -> PeelChain {
    let mut change = Vec::new();
    let mut payments = Vec::new();
    let mut agreed: BTreeSet<HeuristicId> = BTreeSet::new();
    let mut disagreed: BTreeSet<HeuristicId> = BTreeSet::new();
    for t in &txids {
        let (c, p) = hops[t];
        let tx = graph.tx(t).expect("chain hops are in the graph");
        change.push(tx.outpoint(c));
        payments.push(tx.outpoint(p));
        if let Some(call) = calls.get(t) {
            if usize::try_from(call.vout).ok() == Some(c) {
                agreed.extend(call.agreed.iter().copied());
                disagreed.extend(call.disagreed.iter().copied());
            } else {
                disagreed.extend(call.agreed.iter().copied());
            }
        }
    }
    let mut heuristics = vec![HeuristicId::PeelChain];
    heuristics.extend(agreed);
    PeelChain {
        txids,
        change,
        payments,
        heuristics,
        disagreed: disagreed.into_iter().collect(),
    }
}
