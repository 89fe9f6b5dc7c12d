//! Change detection: which output of a transaction went back to the spender.
//!
//! Only transactions that are not coinbases, not detected CoinJoins and have at least two
//! outputs (OP_RETURN outputs left out) are considered. Each enabled change heuristic votes
//! *change* or *not change* on some outputs, or abstains:
//!
//! - `address-reuse`: an output to one of the input addresses is change; an output to an address
//!   that already received coins in an earlier transaction of the graph (topological order) is not.
//! - `script-type`: when every input's script kind is known and the same, and exactly one output has
//!   that kind, it is change and the others are not.
//! - `optimal-change`: a wallet that selects inputs sensibly does not add an input it does not need,
//!   so its change is smaller than its smallest input (else that input was unnecessary). With every
//!   input value known: outputs at least as large as the smallest input are not change (this covers
//!   an output larger than every input, which needed several inputs and is a payment); if exactly
//!   one output is smaller than the smallest input, it is change. With one input every output is
//!   smaller, so the heuristic says nothing about which is change.
//! - `round-amount`: an amount that is a multiple of 10,000 sat (0.0001 BTC) is a payment, so not
//!   change; when exactly one output is not round, it is change. Silent when all or none are round.
//! - `fresh-address`: an output to an address that appears nowhere else in the graph than this
//!   transaction and the one spending it (a one-time address) is change, when exactly one output is
//!   one-time; outputs to addresses seen elsewhere are not change. Silent when all or none are.
//! - `fingerprint`: an output whose spending transaction (in the graph) has the same nVersion, the
//!   same nLockTime style (zero / height / time) and the same RBF signalling as this transaction is
//!   change; one whose spender differs in any of them is not.
//!
//! An output is called change when the heuristics voting *change* on it outnumber those voting
//! *not change*; confidence = agreed × 100 / (agreed + disagreed), rounded down. When several
//! outputs qualify, the one with the largest margin (agreed − disagreed) wins; a tie is no call.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::Txid;
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use super::{coinjoin_with, HeuristicId, HeuristicSet};
use crate::graph::{Graph, ScriptKind, TxNode};

/// Amounts that are a multiple of this (in sat) count as round.
pub const ROUND_UNIT: u64 = 10_000;

/// A change call on one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCall {
    /// The transaction.
    pub txid: Txid,
    /// The output called change.
    pub vout: u32,
    /// Its address.
    pub address: String,
    /// Its value.
    pub value: Sat,
    /// Heuristics that voted change on it.
    pub agreed: Vec<HeuristicId>,
    /// Heuristics that voted not change on it.
    pub disagreed: Vec<HeuristicId>,
    /// agreed × 100 / (agreed + disagreed), rounded down.
    pub confidence: u8,
}

/// The votes on one output of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputVotes {
    /// The output.
    pub vout: u32,
    /// Heuristics that voted change.
    pub change: Vec<HeuristicId>,
    /// Heuristics that voted not change.
    pub not_change: Vec<HeuristicId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vote {
    Change,
    NotChange,
}

/// What the heuristics need to know about the whole graph.
struct Context {
    /// Position of each transaction in topological order.
    order: BTreeMap<Txid, usize>,
    /// Address → order positions of the transactions paying it.
    received: BTreeMap<String, BTreeSet<usize>>,
    /// Address → every transaction it appears in (as input or output).
    appears: BTreeMap<String, BTreeSet<Txid>>,
}

impl Context {
    fn new(graph: &Graph) -> Context {
        let order: BTreeMap<Txid, usize> = graph
            .topological()
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i))
            .collect();
        let mut received: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let mut appears: BTreeMap<String, BTreeSet<Txid>> = BTreeMap::new();
        for tx in graph.txs.values() {
            let pos = order.get(&tx.txid).copied().unwrap_or(usize::MAX);
            for o in &tx.outputs {
                received.entry(o.address.clone()).or_default().insert(pos);
                appears
                    .entry(o.address.clone())
                    .or_default()
                    .insert(tx.txid);
            }
            for a in tx.inputs.iter().filter_map(|i| i.address.as_ref()) {
                appears.entry(a.clone()).or_default().insert(tx.txid);
            }
        }
        Context {
            order,
            received,
            appears,
        }
    }
}

/// Change calls for every eligible transaction of the graph, by txid.
pub fn detect_change(graph: &Graph, set: &HeuristicSet) -> Vec<ChangeCall> {
    if !HeuristicId::CHANGE.iter().any(|h| set.is_enabled(*h)) {
        return Vec::new();
    }
    let ctx = Context::new(graph);
    graph
        .txs
        .values()
        .filter_map(|tx| call_change(graph, &ctx, tx, set))
        .collect()
}

/// The votes of every enabled change heuristic on every output of `txid`, or `None` when the
/// transaction is not in the graph or not eligible (coinbase, CoinJoin, fewer than two outputs).
pub fn change_votes(graph: &Graph, txid: &Txid, set: &HeuristicSet) -> Option<Vec<OutputVotes>> {
    let tx = graph.tx(txid)?;
    votes(graph, &Context::new(graph), tx, set)
}

fn call_change(
    graph: &Graph,
    ctx: &Context,
    tx: &TxNode,
    set: &HeuristicSet,
) -> Option<ChangeCall> {
    let votes = votes(graph, ctx, tx, set)?;
    let margin = |v: &OutputVotes| {
        i64::try_from(v.change.len()).unwrap_or(i64::MAX)
            - i64::try_from(v.not_change.len()).unwrap_or(i64::MAX)
    };
    let mut qualified: Vec<&OutputVotes> = votes.iter().filter(|v| margin(v) > 0).collect();
    qualified.sort_by_key(|v| std::cmp::Reverse(margin(v)));
    let best = *qualified.first()?;
    if qualified
        .get(1)
        .is_some_and(|second| margin(second) == margin(best))
    {
        return None;
    }
    let out = tx.outputs.get(usize::try_from(best.vout).ok()?)?;
    let total = best.change.len() + best.not_change.len();
    let confidence = u8::try_from(best.change.len() * 100 / total).unwrap_or(100);
    Some(ChangeCall {
        txid: tx.txid,
        vout: best.vout,
        address: out.address.clone(),
        value: out.value,
        agreed: best.change.clone(),
        disagreed: best.not_change.clone(),
        confidence,
    })
}

fn votes(
    graph: &Graph,
    ctx: &Context,
    tx: &TxNode,
    set: &HeuristicSet,
) -> Option<Vec<OutputVotes>> {
    let candidates: Vec<usize> = (0..tx.outputs.len())
        .filter(|&v| tx.outputs[v].kind != ScriptKind::OpReturn)
        .collect();
    if tx.coinbase || candidates.len() < 2 || coinjoin_with(tx, set).is_some() {
        return None;
    }
    let mut table: BTreeMap<usize, OutputVotes> = candidates
        .iter()
        .map(|&v| {
            (
                v,
                OutputVotes {
                    vout: tx.outpoint(v).vout,
                    change: vec![],
                    not_change: vec![],
                },
            )
        })
        .collect();
    type Rule = fn(&Graph, &Context, &TxNode, &[usize]) -> Vec<(usize, Vote)>;
    let rules: [(HeuristicId, Rule); 6] = [
        (HeuristicId::AddressReuse, address_reuse),
        (HeuristicId::ScriptType, script_type),
        (HeuristicId::OptimalChange, optimal_change),
        (HeuristicId::RoundAmount, round_amount),
        (HeuristicId::FreshAddress, fresh_address),
        (HeuristicId::Fingerprint, fingerprint),
    ];
    for (id, rule) in rules.into_iter().filter(|(id, _)| set.is_enabled(*id)) {
        for (vout, vote) in rule(graph, ctx, tx, &candidates) {
            if let Some(entry) = table.get_mut(&vout) {
                match vote {
                    Vote::Change => entry.change.push(id),
                    Vote::NotChange => entry.not_change.push(id),
                }
            }
        }
    }
    Some(table.into_values().collect())
}

fn address_reuse(_: &Graph, ctx: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let inputs: BTreeSet<&str> = tx
        .inputs
        .iter()
        .filter_map(|i| i.address.as_deref())
        .collect();
    let here = ctx.order.get(&tx.txid).copied().unwrap_or(usize::MAX);
    cands
        .iter()
        .filter_map(|&v| {
            let addr = tx.outputs[v].address.as_str();
            if inputs.contains(addr) {
                Some((v, Vote::Change))
            } else {
                let earlier = ctx
                    .received
                    .get(addr)
                    .is_some_and(|s| s.range(..here).next().is_some());
                earlier.then_some((v, Vote::NotChange))
            }
        })
        .collect()
}

fn script_type(_: &Graph, _: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let kinds: Option<BTreeSet<ScriptKind>> = tx.inputs.iter().map(|i| i.kind).collect();
    let Some(kinds) = kinds else { return vec![] };
    let [kind] = kinds.into_iter().collect::<Vec<_>>()[..] else {
        return vec![];
    };
    let matching: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&v| tx.outputs[v].kind == kind)
        .collect();
    if matching.len() != 1 {
        return vec![];
    }
    cands
        .iter()
        .map(|&v| {
            (
                v,
                if matching.contains(&v) {
                    Vote::Change
                } else {
                    Vote::NotChange
                },
            )
        })
        .collect()
}

fn optimal_change(_: &Graph, _: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let values: Option<Vec<Sat>> = tx.inputs.iter().map(|i| i.value).collect();
    let Some(smallest) = values.and_then(|v| v.into_iter().min()) else {
        return vec![];
    };
    let (smaller, larger): (Vec<usize>, Vec<usize>) =
        cands.iter().partition(|&&v| tx.outputs[v].value < smallest);
    let mut votes: Vec<(usize, Vote)> = larger.into_iter().map(|v| (v, Vote::NotChange)).collect();
    if let [only] = smaller[..] {
        votes.push((only, Vote::Change));
    }
    votes
}

fn round_amount(_: &Graph, _: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let is_round =
        |v: usize| tx.outputs[v].value.0 > 0 && tx.outputs[v].value.0.is_multiple_of(ROUND_UNIT);
    split_votes(cands, is_round)
}

fn fresh_address(_: &Graph, ctx: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let reused = |v: usize| {
        let out = &tx.outputs[v];
        let spender = out.spent_by.map(|(t, _)| t);
        ctx.appears
            .get(&out.address)
            .is_some_and(|txs| txs.iter().any(|t| *t != tx.txid && Some(*t) != spender))
    };
    split_votes(cands, reused)
}

/// For rules that mark some outputs as payments: those are not change, and when exactly one
/// output is left unmarked it is change. Silent when all or none are marked.
fn split_votes(cands: &[usize], payment: impl Fn(usize) -> bool) -> Vec<(usize, Vote)> {
    let (paid, rest): (Vec<usize>, Vec<usize>) = cands.iter().partition(|&&v| payment(v));
    if paid.is_empty() || rest.is_empty() {
        return vec![];
    }
    let mut votes: Vec<(usize, Vote)> = paid.into_iter().map(|v| (v, Vote::NotChange)).collect();
    if let [only] = rest[..] {
        votes.push((only, Vote::Change));
    }
    votes
}

/// nLockTime style: zero, a height, or a time.
fn lock_time_style(lock_time: u32) -> u8 {
    match lock_time {
        0 => 0,
        1..=499_999_999 => 1,
        _ => 2,
    }
}

fn fingerprint(graph: &Graph, _: &Context, tx: &TxNode, cands: &[usize]) -> Vec<(usize, Vote)> {
    let mine = (tx.version, lock_time_style(tx.lock_time), tx.signals_rbf());
    cands
        .iter()
        .filter_map(|&v| {
            let (spender, _) = tx.outputs[v].spent_by?;
            let s = graph.tx(&spender)?;
            let theirs = (s.version, lock_time_style(s.lock_time), s.signals_rbf());
            Some((
                v,
                if theirs == mine {
                    Vote::Change
                } else {
                    Vote::NotChange
                },
            ))
        })
        .collect()
}
