//! Exposure: how much traced value reaches (forward) or comes from (backward) addresses of each
//! label category, under a taint model. The definitions are in `docs/tracing.md`.
//!
//! - [`forward`] (destination): the start coins are fully tainted; a coin received at a labelled
//!   address is a stop whose taint counts toward its labels' categories; tainted coins whose
//!   spender was not followed are "unresolved".
//! - [`backward`] (provenance): from the targets, back through inputs to the coins at labelled
//!   addresses (the sources); each category is a colour run on its own from its sources, forward
//!   through the ancestor transactions to the targets.
//!
//! Labels are given as a function from an address (as [`TxOutput::address`] spells it) to its
//! (label, category) pairs; an address with several labels counts for each distinct category.
//!
//! Not for: reading label files (see [`labels`](crate::labels)); walking the chain (the graph is
//! already traced); saying who owns what — a model is a convention, not a finding.
//!
//! [`TxOutput::address`]: crate::graph::TxOutput::address

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, Txid};
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use crate::graph::Graph;
use crate::taint::{run, CoinIndex, InconsistentTx, Taint, TaintModel, TaintRun};

/// Which way the exposure was traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Destination: where the start coins' value went.
    Forward,
    /// Provenance: where the target coins' value came from.
    Backward,
}

/// One label of an address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelRef {
    /// The label (an entity name).
    pub label: String,
    /// Its category (`exchange`, `mixer`, …).
    pub category: String,
}

/// A coin at a labelled address that ends the trace: a stop (forward) or a source (backward).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledCoin {
    /// The coin.
    pub outpoint: OutPoint,
    /// Its address.
    pub address: String,
    /// Its value (backward: `None` when the graph does not know it).
    pub value: Option<Sat>,
    /// Forward: the taint it received. Backward: the sats it is coloured with — its whole
    /// value, or 0 when the value is unknown (such a source cannot be seeded, and the
    /// transaction spending it is listed as unpropagated).
    pub taint: Sat,
    /// The address's labels, sorted, without repeats.
    pub labels: Vec<LabelRef>,
}

/// Exposure of traced value to label categories under one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Forward or backward.
    pub direction: Direction,
    /// The taint model.
    pub model: TaintModel,
    /// Forward: the value of the start coins. Backward: the value of the target coins.
    pub total_traced: Sat,
    /// Exposure per category (categories of every labelled coin found, zero included).
    pub per_category: BTreeMap<String, Sat>,
    /// Exposure per label, likewise.
    pub per_label: BTreeMap<String, Sat>,
    /// Exposure to any label, each coin counted once (categories can overlap, this cannot).
    pub reached: Sat,
    /// Forward: taint left on coins whose spender was not followed (unspent, or past a limit).
    /// Backward: target value coloured from coins whose creating transaction was not traced
    /// and whose address carries no label.
    pub unresolved: Sat,
    /// Forward only: taint paid as fees.
    pub fee: Option<Sat>,
    /// Forward only: taint on coins spent by transactions that could not be propagated.
    pub blocked: Option<Sat>,
    /// The stops (forward, only those that received taint) or sources (backward).
    pub labelled_coins: Vec<LabelledCoin>,
    /// Transactions the trace could not propagate because input values are unknown (forward:
    /// those taint entered; backward: every ancestor of a target with an unknown input value).
    pub unpropagated: Vec<Txid>,
    /// Transactions whose data contradict themselves, not propagated.
    pub inconsistent: Vec<InconsistentTx>,
    /// Starts (or targets) whose value the graph does not know: left out of the trace.
    pub missing: Vec<OutPoint>,
}

/// The labels of an address: (label, category) pairs.
pub type Labels<'a> = &'a dyn Fn(&str) -> Vec<(String, String)>;

fn label_refs(labels: Labels<'_>, address: &str) -> Vec<LabelRef> {
    let set: BTreeSet<LabelRef> = labels(address)
        .into_iter()
        .map(|(label, category)| LabelRef { label, category })
        .collect();
    set.into_iter().collect()
}

fn categories(refs: &[LabelRef]) -> BTreeSet<&str> {
    refs.iter().map(|r| r.category.as_str()).collect()
}

/// Forward (destination) exposure of the `starts` under `model`. See the module documentation.
///
/// Start coins are not stops even at a labelled address (the trace begins there). A start that
/// descends from another start is counted in `total_traced` once for itself: give starts that
/// are not each other's descendants when the totals must add up.
pub fn forward(
    graph: &Graph,
    model: TaintModel,
    starts: &[OutPoint],
    labels: Labels<'_>,
) -> Exposure {
    let index = CoinIndex::new(graph);
    let mut seeds: BTreeMap<OutPoint, Taint> = BTreeMap::new();
    let mut missing = Vec::new();
    for s in starts {
        match index.value(s) {
            Some(v) => {
                seeds.insert(*s, Taint::full(v));
            }
            None => missing.push(*s),
        }
    }
    let total_traced = Sat(seeds.values().map(|t| t.amount().0).sum());
    let mut stop_coins: BTreeMap<OutPoint, LabelledCoin> = BTreeMap::new();
    for node in graph.txs.values() {
        for (vout, out) in node.outputs.iter().enumerate() {
            let coin = node.outpoint(vout);
            let refs = label_refs(labels, &out.address);
            if refs.is_empty() || seeds.contains_key(&coin) || missing.contains(&coin) {
                continue;
            }
            let lc = LabelledCoin {
                outpoint: coin,
                address: out.address.clone(),
                value: Some(out.value),
                taint: Sat(0),
                labels: refs,
            };
            stop_coins.insert(coin, lc);
        }
    }
    let stops: BTreeSet<OutPoint> = stop_coins.keys().copied().collect();
    let traced = run(graph, model, &seeds, &stops)
        .expect("every seed is a full coin of the value the run checks it against");
    let mut exposure = Exposure {
        direction: Direction::Forward,
        model,
        total_traced,
        per_category: BTreeMap::new(),
        per_label: BTreeMap::new(),
        reached: Sat(0),
        unresolved: Sat(0),
        fee: Some(traced.fee_taint),
        blocked: Some(Sat(0)),
        labelled_coins: Vec::new(),
        unpropagated: traced.unpropagated.clone(),
        inconsistent: traced.inconsistent.clone(),
        missing,
    };
    settle_forward(graph, &traced, stop_coins, &mut exposure);
    exposure
}

/// Sorts every tainted coin of a forward run into reached, passed on, blocked or unresolved.
fn settle_forward(
    graph: &Graph,
    traced: &TaintRun,
    mut stop_coins: BTreeMap<OutPoint, LabelledCoin>,
    e: &mut Exposure,
) {
    for lc in stop_coins.values() {
        for r in &lc.labels {
            e.per_category.entry(r.category.clone()).or_default();
            e.per_label.entry(r.label.clone()).or_default();
        }
    }
    let spenders = spender_index(graph);
    let mut blocked = 0u64;
    for (coin, taint) in &traced.per_coin {
        let amount = taint.amount();
        if let Some(mut lc) = stop_coins.remove(coin) {
            lc.taint = amount;
            e.reached.0 += amount.0;
            for c in categories(&lc.labels) {
                e.per_category.entry(c.to_string()).or_default().0 += amount.0;
            }
            let names: BTreeSet<&str> = lc.labels.iter().map(|r| r.label.as_str()).collect();
            for l in names {
                e.per_label.entry(l.to_string()).or_default().0 += amount.0;
            }
            e.labelled_coins.push(lc);
            continue;
        }
        match spenders.get(coin) {
            Some(t) if traced.blocked(t) => blocked += amount.0,
            Some(_) => {}
            None => e.unresolved.0 += amount.0,
        }
    }
    e.blocked = Some(Sat(blocked));
}

/// For every coin spent inside the graph, the (first, in txid order) graph transaction spending it.
fn spender_index(graph: &Graph) -> BTreeMap<OutPoint, Txid> {
    let mut index = BTreeMap::new();
    for node in graph.txs.values().filter(|n| !n.coinbase) {
        for input in &node.inputs {
            index.entry(input.prevout).or_insert(node.txid);
        }
    }
    index
}

/// What a backward walk found behind the targets.
struct Ancestry {
    /// The ancestor transactions (targets' own included), as a graph.
    sub: Graph,
    /// Coins at labelled addresses where the walk stopped.
    sources: BTreeMap<OutPoint, LabelledCoin>,
    /// Coins without a label whose creating transaction is not in the graph.
    boundary: BTreeSet<OutPoint>,
}

fn walk_back(
    graph: &Graph,
    index: &CoinIndex<'_>,
    targets: &BTreeSet<OutPoint>,
    labels: Labels<'_>,
) -> Ancestry {
    let mut sub = Graph::new();
    let mut sources = BTreeMap::new();
    let mut boundary = BTreeSet::new();
    let mut seen: BTreeSet<OutPoint> = BTreeSet::new();
    let mut queue: Vec<OutPoint> = targets.iter().copied().collect();
    while let Some(coin) = queue.pop() {
        if !seen.insert(coin) {
            continue;
        }
        let address = index.address(&coin);
        // A coin without an address (OP_RETURN, non-standard script) carries no label.
        let refs = address.map(|a| label_refs(labels, a)).unwrap_or_default();
        if let Some(address) = address.filter(|_| !refs.is_empty() && !targets.contains(&coin)) {
            let value = index.value(&coin);
            let lc = LabelledCoin {
                outpoint: coin,
                address: address.to_string(),
                value,
                // Documented on `taint`: an unknown value seeds nothing (and `value` stays None).
                taint: value.unwrap_or_default(),
                labels: refs,
            };
            sources.insert(coin, lc);
            continue;
        }
        match graph.tx(&coin.txid) {
            Some(node) if !sub.txs.contains_key(&node.txid) => {
                if !node.coinbase {
                    queue.extend(node.inputs.iter().map(|i| i.prevout));
                }
                sub.txs.insert(node.txid, node.clone());
            }
            Some(_) => {}
            None => {
                boundary.insert(coin);
            }
        }
    }
    Ancestry {
        sub,
        sources,
        boundary,
    }
}

/// Backward (provenance) exposure of the `targets` under `model`. See the module documentation.
///
/// Targets are not sources even at a labelled address (the trace ends there).
pub fn backward(
    graph: &Graph,
    model: TaintModel,
    targets: &[OutPoint],
    labels: Labels<'_>,
) -> Exposure {
    let index = CoinIndex::new(graph);
    let mut known: BTreeMap<OutPoint, Sat> = BTreeMap::new();
    let mut missing = Vec::new();
    for t in targets {
        match index.value(t) {
            Some(v) => {
                known.insert(*t, v);
            }
            None => missing.push(*t),
        }
    }
    let target_set: BTreeSet<OutPoint> = known.keys().copied().collect();
    let ancestry = walk_back(graph, &index, &target_set, labels);
    let mut colours = Colours {
        sub: &ancestry.sub,
        coins: CoinIndex::new(&ancestry.sub),
        model,
        targets: &target_set,
        inconsistent: BTreeMap::new(),
    };
    let all_sources: BTreeSet<OutPoint> = ancestry.sources.keys().copied().collect();
    let reached = colours.run(&all_sources, &BTreeSet::new());
    let unresolved = colours.run(&ancestry.boundary, &all_sources);
    let mut per_category = BTreeMap::new();
    let mut per_label = BTreeMap::new();
    let refs = ancestry.sources.values().flat_map(|s| s.labels.iter());
    let cats: BTreeSet<&str> = refs.clone().map(|r| r.category.as_str()).collect();
    let names: BTreeSet<&str> = refs.map(|r| r.label.as_str()).collect();
    for cat in cats {
        let (of, others) = split_sources(&ancestry.sources, |r| r.category == cat);
        per_category.insert(cat.to_string(), colours.run(&of, &others));
    }
    for name in names {
        let (of, others) = split_sources(&ancestry.sources, |r| r.label == name);
        per_label.insert(name.to_string(), colours.run(&of, &others));
    }
    let inconsistent = colours.inconsistent.into_values().collect();
    let unpropagated = ancestry
        .sub
        .topological()
        .into_iter()
        .filter(|t| {
            ancestry
                .sub
                .tx(t)
                .is_some_and(|n| !n.coinbase && n.input_total().is_none())
        })
        .collect();
    Exposure {
        direction: Direction::Backward,
        model,
        total_traced: Sat(known.values().map(|v| v.0).sum()),
        per_category,
        per_label,
        reached,
        unresolved,
        fee: None,
        blocked: None,
        labelled_coins: ancestry.sources.into_values().collect(),
        unpropagated,
        inconsistent,
        missing,
    }
}

/// The sources with a label matching `pred`, and the others.
fn split_sources(
    sources: &BTreeMap<OutPoint, LabelledCoin>,
    pred: impl Fn(&LabelRef) -> bool,
) -> (BTreeSet<OutPoint>, BTreeSet<OutPoint>) {
    let mut of = BTreeSet::new();
    let mut others = BTreeSet::new();
    for (coin, lc) in sources {
        if lc.labels.iter().any(&pred) {
            of.insert(*coin);
        } else {
            others.insert(*coin);
        }
    }
    (of, others)
}

/// Colour runs over the ancestor graph of a backward trace.
struct Colours<'a> {
    sub: &'a Graph,
    /// The coins of `sub`, as [`run`] reads their values.
    coins: CoinIndex<'a>,
    model: TaintModel,
    targets: &'a BTreeSet<OutPoint>,
    /// Inconsistent transactions met by any colour.
    inconsistent: BTreeMap<Txid, InconsistentTx>,
}

impl Colours<'_> {
    /// One colour: `coins` fully tainted (those of known value), `stops` passing nothing on;
    /// returns the colour's amount in the targets.
    fn run(&mut self, coins: &BTreeSet<OutPoint>, stops: &BTreeSet<OutPoint>) -> Sat {
        let seeds: BTreeMap<OutPoint, Taint> = coins
            .iter()
            .filter_map(|c| self.coins.value(c).map(|v| (*c, Taint::full(v))))
            .collect();
        let traced = run(self.sub, self.model, &seeds, stops)
            .expect("every seed is a full coin of the value the run checks it against");
        let amount = self
            .targets
            .iter()
            .map(|t| traced.taint(t).amount().0)
            .sum();
        for i in traced.inconsistent {
            self.inconsistent.entry(i.txid).or_insert(i);
        }
        Sat(amount)
    }
}

/// [`forward`] under every model, in [`TaintModel::ALL`] order.
pub fn forward_all(graph: &Graph, starts: &[OutPoint], labels: Labels<'_>) -> Vec<Exposure> {
    TaintModel::ALL
        .into_iter()
        .map(|m| forward(graph, m, starts, labels))
        .collect()
}

/// [`backward`] under every model, in [`TaintModel::ALL`] order.
pub fn backward_all(graph: &Graph, targets: &[OutPoint], labels: Labels<'_>) -> Vec<Exposure> {
    TaintModel::ALL
        .into_iter()
        .map(|m| backward(graph, m, targets, labels))
        .collect()
}
