//! [`run`]: taint flowing through a whole graph, parents before children.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, Txid};
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use super::{propagate, Taint, TaintError, TaintModel};
use crate::graph::{Graph, TxNode};

/// The outcome of [`run`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaintRun {
    /// The model used.
    pub model: TaintModel,
    /// Every coin holding taint (seeded or received), by outpoint. Coins without taint are absent.
    pub per_coin: BTreeMap<OutPoint, Taint>,
    /// Transactions that taint entered but whose input values are not all known: their outputs
    /// got no taint from their inputs (the trace is partial there). In topological order.
    pub unpropagated: Vec<Txid>,
    /// Transactions whose data contradict themselves (outputs above inputs, a value sum
    /// overflowing, an input's taint past its value): not propagated either.
    pub inconsistent: Vec<InconsistentTx>,
    /// Tainted sats that went to fees, over all transactions.
    pub fee_taint: Sat,
}

/// A transaction [`run`] could not propagate because its data contradict themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InconsistentTx {
    /// The transaction.
    pub txid: Txid,
    /// What is wrong (a [`TaintError`] message).
    pub problem: String,
}

impl TaintRun {
    /// The taint of a coin (none when it holds none).
    pub fn taint(&self, coin: &OutPoint) -> Taint {
        self.per_coin.get(coin).cloned().unwrap_or_default()
    }

    /// Whether the transaction was left out (unpropagated or inconsistent).
    pub fn blocked(&self, txid: &Txid) -> bool {
        self.unpropagated.contains(txid) || self.inconsistent.iter().any(|i| i.txid == *txid)
    }
}

/// What a graph knows of coins: the outputs of its transactions, and, for coins outside it, the
/// value and address resolved on the first input (in txid order) spending them. Built once, so
/// lookups do not scan the graph.
#[derive(Debug)]
pub(crate) struct CoinIndex<'a> {
    graph: &'a Graph,
    spent: BTreeMap<OutPoint, (Option<Sat>, Option<&'a str>)>,
}

impl<'a> CoinIndex<'a> {
    pub(crate) fn new(graph: &'a Graph) -> CoinIndex<'a> {
        let mut spent: BTreeMap<OutPoint, (Option<Sat>, Option<&'a str>)> = BTreeMap::new();
        for input in graph.txs.values().flat_map(|t| t.inputs.iter()) {
            let entry = spent.entry(input.prevout).or_default();
            entry.0 = entry.0.or(input.value);
            entry.1 = entry.1.or(input.address.as_deref());
        }
        CoinIndex { graph, spent }
    }

    /// The coin's value: its output's when its transaction is in the graph, else resolved on
    /// an input spending it.
    pub(crate) fn value(&self, coin: &OutPoint) -> Option<Sat> {
        match self.graph.output(coin) {
            Some(out) => Some(out.value),
            None => self.spent.get(coin).and_then(|e| e.0),
        }
    }

    /// The coin's address, likewise.
    pub(crate) fn address(&self, coin: &OutPoint) -> Option<&'a str> {
        match self.graph.output(coin) {
            Some(out) => Some(out.address.as_str()),
            None => self.spent.get(coin).and_then(|e| e.1),
        }
    }
}

/// Flows taint through `graph` under `model`, transactions in topological order.
///
/// `seeds` give coins their initial taint (a seeded output of a graph transaction also keeps
/// whatever it receives: the union). Inputs spending coins outside the graph are untainted
/// unless seeded; their values come from [`TxInput::value`](crate::graph::TxInput::value).
/// Coins in `stops` receive taint but pass none on: an input spending one counts as untainted.
/// A coinbase transaction has no tainted inputs. A transaction whose input values are not all
/// known and into which taint flows is listed in [`TaintRun::unpropagated`] and its outputs get
/// no taint from it; when no taint flows in, its outputs are exactly untainted under every model
/// and it is not listed.
///
/// Fails only when a seed reaches past the value of its coin as the graph knows it (its
/// output, or else the value resolved on the first input, in txid order, spending it).
pub fn run(
    graph: &Graph,
    model: TaintModel,
    seeds: &BTreeMap<OutPoint, Taint>,
    stops: &BTreeSet<OutPoint>,
) -> Result<TaintRun, TaintError> {
    let coins = CoinIndex::new(graph);
    for (coin, taint) in seeds {
        if let Some(value) = coins.value(coin) {
            if taint.end() > value.0 {
                return Err(TaintError::SeedBeyondValue {
                    outpoint: *coin,
                    end: taint.end(),
                    value: value.0,
                });
            }
        }
    }
    let mut out = TaintRun {
        model,
        per_coin: seeds
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(c, t)| (*c, t.clone()))
            .collect(),
        unpropagated: Vec::new(),
        inconsistent: Vec::new(),
        fee_taint: Sat(0),
    };
    let none = Taint::none();
    for txid in graph.topological() {
        let Some(node) = graph.tx(&txid) else {
            continue;
        };
        if node.coinbase {
            continue;
        }
        let taints: Vec<&Taint> = node
            .inputs
            .iter()
            .map(|i| match stops.contains(&i.prevout) {
                true => &none,
                false => out.per_coin.get(&i.prevout).unwrap_or(&none),
            })
            .collect();
        if taints.iter().all(|t| t.is_empty()) {
            continue;
        }
        let Some(values) = input_values(graph, node) else {
            out.unpropagated.push(txid);
            continue;
        };
        let inputs: Vec<(Sat, &Taint)> = values.into_iter().zip(taints).collect();
        let outputs: Vec<Sat> = node.outputs.iter().map(|o| o.value).collect();
        match propagate(model, &inputs, &outputs) {
            Ok((received, fee)) => {
                out.fee_taint.0 = out.fee_taint.0.saturating_add(fee.0);
                for (vout, taint) in received.into_iter().enumerate() {
                    if taint.is_empty() {
                        continue;
                    }
                    let coin = node.outpoint(vout);
                    let merged = match out.per_coin.get(&coin) {
                        Some(seed) => seed.union(&taint),
                        None => taint,
                    };
                    out.per_coin.insert(coin, merged);
                }
            }
            Err(e) => out.inconsistent.push(InconsistentTx {
                txid,
                problem: e.to_string(),
            }),
        }
    }
    Ok(out)
}

/// Every input's value: resolved on the input, or read from its parent in the graph.
fn input_values(graph: &Graph, node: &TxNode) -> Option<Vec<Sat>> {
    node.inputs
        .iter()
        .map(|i| {
            i.value
                .or_else(|| graph.output(&i.prevout).map(|o| o.value))
        })
        .collect()
}
