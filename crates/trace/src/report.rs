//! A trace with everything concluded about it: the walked graph, the heuristics' calls, the
//! labels (direct and propagated through clusters), the taint per coin under the chosen model
//! and the exposure under all five models. This is what `custos trace` prints as JSON, records
//! in the case as `trace.json`, and turns into the exports' [`View`].
//!
//! Exposure uses direct labels only (the ones the walk stopped at); labels propagated through a
//! cluster are shown, marked as propagated, but never counted as exposure: a cluster is a
//! heuristic, a tag is a claim with a source.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
};

use bitcoin::OutPoint;
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use crate::{
    export::{self, View},
    exposure::{self, Exposure},
    graph::Graph,
    heuristics::{self, Analysis, Clustering, HeuristicSet},
    labels::{self, AppliedLabel, LabelSet},
    taint::{self, Taint, TaintModel},
    walk::{Direction, StopReason, StopRule, Trace},
};

/// Format tag of `trace.json`.
pub const TRACE_FORMAT: &str = "custos-trace-v1";

/// Category given to a label that names none.
pub const UNCATEGORISED: &str = "uncategorised";

/// A trace and its analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceReport {
    /// Always [`TRACE_FORMAT`].
    pub format: String,
    /// The walk: graph, stops, partial marks, evidence.
    pub trace: Trace,
    /// The taint model of `taint` and of the view.
    pub model: TaintModel,
    /// CoinJoins, clusters, change calls and peeling chains, with the heuristics behind them.
    pub analysis: Analysis,
    /// Labels as applied: direct, then propagated through clusters (with their origin).
    pub labels: Vec<AppliedLabel>,
    /// Tainted sats per coin under `model` (coins without taint absent).
    pub taint: Vec<(OutPoint, Sat)>,
    /// Transactions the chosen model could not propagate (unknown input values).
    pub unpropagated: Vec<bitcoin::Txid>,
    /// Exposure per label category under every model.
    pub exposure: Vec<Exposure>,
}

impl TraceReport {
    /// Analyses a finished trace.
    pub fn build(
        trace: Trace,
        labels: &LabelSet,
        set: &HeuristicSet,
        model: TaintModel,
    ) -> TraceReport {
        let graph = &trace.graph;
        let analysis = heuristics::analyze(graph, set);
        let applied = labels::propagate(labels, &analysis.clustering);
        let lookup = |address: &str| -> Vec<(String, String)> {
            labels
                .get(address)
                .iter()
                .map(|l| {
                    (
                        l.label.clone(),
                        l.category.clone().unwrap_or_else(|| UNCATEGORISED.into()),
                    )
                })
                .collect()
        };
        let exposure = match trace.direction {
            Direction::Forward => exposure::forward_all(graph, &trace.seeds, &lookup),
            Direction::Backward => exposure::backward_all(graph, &trace.seeds, &lookup),
        };
        let (taint, unpropagated) = coin_taint(&trace, labels, model);
        TraceReport {
            format: TRACE_FORMAT.into(),
            trace,
            model,
            analysis,
            labels: applied,
            taint,
            unpropagated,
            exposure,
        }
    }

    /// Whether the trace was cut short (a limit, a source failure, an unproven transaction).
    pub fn is_partial(&self) -> bool {
        !self.trace.partial.is_empty()
    }

    /// The exposure under `model`.
    pub fn exposure_under(&self, model: TaintModel) -> Option<&Exposure> {
        self.exposure.iter().find(|e| e.model == model)
    }

    /// The input of every export.
    pub fn view(&self) -> View {
        let t = &self.trace;
        let mut view_labels: BTreeMap<String, Vec<export::NodeLabel>> = BTreeMap::new();
        for l in &self.labels {
            view_labels
                .entry(l.address.clone())
                .or_default()
                .push(export::NodeLabel {
                    label: l.label.clone(),
                    category: l.category.clone().unwrap_or_else(|| UNCATEGORISED.into()),
                    propagated_from: l.propagated_from.clone(),
                });
        }
        let mut clusters = BTreeMap::new();
        for c in &self.analysis.clustering.clusters {
            for a in &c.addresses {
                clusters.insert(a.clone(), c.id.clone());
            }
        }
        let mut exposure_rows = Vec::new();
        for e in &self.exposure {
            for (cat, amount) in &e.per_category {
                exposure_rows.push(export::Exposure {
                    model: e.model.to_string(),
                    category: cat.clone(),
                    amount: *amount,
                });
            }
        }
        View {
            title: format!(
                "{} trace from {}",
                direction_name(t.direction),
                t.starts.join(", ")
            ),
            direction: direction_name(t.direction).into(),
            network: t.network.to_string(),
            model: self.model.to_string(),
            partial: t.partial.clone(),
            graph: t.graph.clone(),
            seeds: t.seeds.clone(),
            taint: self.taint.iter().copied().collect(),
            labels: view_labels,
            clusters,
            calls: self.calls(),
            stops: t
                .stops
                .iter()
                .map(|s| export::Stop {
                    coin: s.coin,
                    reason: stop_text(&s.reason),
                })
                .collect(),
            exposure: exposure_rows,
        }
    }

    /// Every heuristic call, explained: change, CoinJoin, cluster and peeling-chain calls.
    pub fn calls(&self) -> Vec<export::Call> {
        let a = &self.analysis;
        let names = |v: &[heuristics::HeuristicId]| v.iter().map(|h| h.to_string()).collect();
        let mut calls = Vec::new();
        for c in &a.change {
            calls.push(export::Call {
                subject: format!("change {}:{}", c.txid, c.vout),
                conclusion: format!(
                    "output {} ({}, {} sat) is change: it returned to the sender",
                    c.vout, c.address, c.value
                ),
                agreed: names(&c.agreed),
                disagreed: names(&c.disagreed),
                confidence: c.confidence,
            });
        }
        for j in &a.coinjoins {
            calls.push(export::Call {
                subject: format!("coinjoin {}", j.txid),
                conclusion: format!(
                    "{:?} CoinJoin: {}; its inputs are not merged into one entity",
                    j.kind, j.reason
                ),
                agreed: vec![j.heuristic.to_string()],
                disagreed: Vec::new(),
                confidence: 100,
            });
        }
        for c in &a.clustering.clusters {
            let mut hs: BTreeSet<String> = BTreeSet::new();
            for l in &c.links {
                hs.insert(l.heuristic.to_string());
            }
            calls.push(export::Call {
                subject: format!("cluster {}", c.id),
                conclusion: format!(
                    "{} addresses controlled by one entity (linked by {} transaction(s))",
                    c.addresses.len(),
                    c.links.len()
                ),
                agreed: hs.into_iter().collect(),
                disagreed: Vec::new(),
                confidence: 100,
            });
        }
        for p in &a.peels {
            let agreed: Vec<String> = names(&p.heuristics);
            let disagreed: Vec<String> = names(&p.disagreed);
            let total = agreed.len() + disagreed.len();
            let confidence = (agreed.len() * 100)
                .checked_div(total)
                .map_or(0, |c| u8::try_from(c).expect("a share of 100 fits in u8"));
            calls.push(export::Call {
                subject: format!(
                    "peel chain {}",
                    p.txids.first().map(|t| t.to_string()).unwrap_or_default()
                ),
                conclusion: format!(
                    "peeling chain of {} hops: each hop pays a small amount and passes the rest on as change",
                    p.txids.len()
                ),
                agreed,
                disagreed,
                confidence,
            });
        }
        calls
    }

    /// A plain-text summary for the terminal.
    pub fn summary_text(&self) -> String {
        let t = &self.trace;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} trace from {} on {} (tip {} {})",
            direction_name(t.direction),
            t.starts.join(", "),
            t.network,
            t.tip.0,
            t.tip.1
        );
        if self.is_partial() {
            let _ = writeln!(
                s,
                "PARTIAL: {} thing(s) not followed or not proven:",
                t.partial.len()
            );
            for p in &t.partial {
                let _ = writeln!(s, "  - {p}");
            }
        } else {
            let _ = writeln!(s, "complete within its limits");
        }
        let _ = writeln!(
            s,
            "{} transactions over {} hop(s), {} round trip(s)",
            t.graph.len(),
            t.stats.hops,
            t.stats.round_trips
        );
        let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
        for st in &t.stops {
            *by_reason.entry(stop_kind(&st.reason)).or_default() += 1;
        }
        let _ = writeln!(s, "stops: {}", join_counts(&by_reason));
        let a = &self.analysis;
        let _ = writeln!(
            s,
            "heuristics: {} CoinJoin(s), {} cluster(s), {} change call(s), {} peeling chain(s)",
            a.coinjoins.len(),
            a.clustering.clusters.len(),
            a.change.len(),
            a.peels.len()
        );
        for j in &a.coinjoins {
            let _ = writeln!(s, "  coinjoin {} ({:?}): {}", j.txid, j.kind, j.reason);
        }
        for p in &a.peels {
            let _ = writeln!(
                s,
                "  peeling chain of {} hops starting {}",
                p.txids.len(),
                p.txids.first().map(|t| t.to_string()).unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "exposure ({}), sat per category:",
            direction_verb(t.direction)
        );
        let mut cats: BTreeSet<&String> = BTreeSet::new();
        for e in &self.exposure {
            cats.extend(e.per_category.keys());
        }
        let _ = write!(s, "  {:<10}", "model");
        for c in &cats {
            let _ = write!(s, " {c:>16}");
        }
        let _ = writeln!(s, " {:>16}", "unresolved");
        for e in &self.exposure {
            let _ = write!(s, "  {:<10}", e.model.to_string());
            for c in &cats {
                let v = e.per_category.get(*c).copied().unwrap_or(Sat(0));
                let _ = write!(s, " {:>16}", v.0);
            }
            let _ = writeln!(s, " {:>16}", e.unresolved.0);
        }
        s
    }

    /// The body of the case report's tracing section (escaped HTML, no scripts).
    pub fn html_section(&self) -> String {
        let t = &self.trace;
        let e = export::escape_html;
        let mut h = String::new();
        let _ = write!(
            h,
            "<p>{} trace from <code>{}</code> at tip {} (<code>{}</code>): {} transactions, {} hop(s), {} round trip(s); taint model of the figures below: {}.</p>",
            e(direction_name(t.direction)),
            e(&t.starts.join(", ")),
            t.tip.0,
            t.tip.1,
            t.graph.len(),
            t.stats.hops,
            t.stats.round_trips,
            e(self.model.name()),
        );
        if self.is_partial() {
            h.push_str("<p class=\"bad\">PARTIAL — not followed or not proven:</p><ul>");
            for p in &t.partial {
                let _ = write!(h, "<li>{}</li>", e(p));
            }
            h.push_str("</ul>");
        } else {
            h.push_str(
                "<p class=\"ok\">Complete within its limits; every transaction SPV-checked.</p>",
            );
        }
        // Exposure under every model.
        let mut cats: BTreeSet<&String> = BTreeSet::new();
        for x in &self.exposure {
            cats.extend(x.per_category.keys());
        }
        let _ = write!(
            h,
            "<h4>Exposure ({}), sat</h4><table><thead><tr><th>model</th>",
            e(direction_verb(t.direction))
        );
        for c in &cats {
            let _ = write!(h, "<th>{}</th>", e(c));
        }
        h.push_str("<th>unresolved</th></tr></thead><tbody>");
        for x in &self.exposure {
            let _ = write!(h, "<tr><td>{}</td>", e(x.model.name()));
            for c in &cats {
                let v = x.per_category.get(*c).copied().unwrap_or(Sat(0));
                let _ = write!(h, "<td>{}</td>", v.0);
            }
            let _ = write!(h, "<td>{}</td></tr>", x.unresolved.0);
        }
        h.push_str("</tbody></table>");
        // Conclusions with their heuristics.
        h.push_str("<h4>Conclusions and the heuristics behind them</h4><table><thead><tr><th>subject</th><th>conclusion</th><th>agreed</th><th>disagreed</th><th>confidence</th></tr></thead><tbody>");
        for c in self.calls() {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{} %</td></tr>",
                e(&c.subject),
                e(&c.conclusion),
                e(&c.agreed.join(", ")),
                e(&c.disagreed.join(", ")),
                c.confidence
            );
        }
        h.push_str("</tbody></table>");
        // Stops.
        h.push_str("<h4>Where the trace stopped</h4><table><thead><tr><th>coin</th><th>hop</th><th>reason</th></tr></thead><tbody>");
        for s in &t.stops {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                s.coin,
                s.hop,
                e(&stop_text(&s.reason))
            );
        }
        h.push_str("</tbody></table>");
        h
    }
}

/// Taint per coin under `model`, for the view: forward from the seeds (labelled coins stop it);
/// backward from every coin at a labelled address (one colour: "from a labelled entity").
fn coin_taint(
    trace: &Trace,
    labels: &LabelSet,
    model: TaintModel,
) -> (Vec<(OutPoint, Sat)>, Vec<bitcoin::Txid>) {
    let graph = &trace.graph;
    let labelled = labelled_coins(graph, labels);
    let mut seeds: BTreeMap<OutPoint, Taint> = BTreeMap::new();
    let stops: BTreeSet<OutPoint> = match trace.direction {
        Direction::Forward => {
            for s in &trace.seeds {
                if let Some(v) = coin_value(graph, s) {
                    seeds.insert(*s, Taint::full(v));
                }
            }
            labelled
                .difference(&trace.seeds.iter().copied().collect())
                .copied()
                .collect()
        }
        Direction::Backward => {
            for c in &labelled {
                if let Some(v) = coin_value(graph, c) {
                    seeds.insert(*c, Taint::full(v));
                }
            }
            BTreeSet::new()
        }
    };
    match taint::run(graph, model, &seeds, &stops) {
        Ok(run) => (
            run.per_coin
                .iter()
                .map(|(op, t)| (*op, Sat(t.amount().0)))
                .filter(|(_, s)| s.0 > 0)
                .collect(),
            run.unpropagated,
        ),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// The value of a coin: its output's, or the resolved value on an input spending it.
fn coin_value(graph: &Graph, coin: &OutPoint) -> Option<Sat> {
    if let Some(o) = graph.output(coin) {
        return Some(o.value);
    }
    graph
        .txs
        .values()
        .flat_map(|t| t.inputs.iter())
        .find(|i| i.prevout == *coin)
        .and_then(|i| i.value)
}

/// Coins of the graph (outputs, and coins its inputs spend) at directly labelled addresses.
fn labelled_coins(graph: &Graph, labels: &LabelSet) -> BTreeSet<OutPoint> {
    let mut out = BTreeSet::new();
    for tx in graph.txs.values() {
        for (vout, o) in tx.outputs.iter().enumerate() {
            if !labels.get(&o.address).is_empty() {
                out.insert(tx.outpoint(vout));
            }
        }
        for i in &tx.inputs {
            if let Some(a) = &i.address {
                if !labels.get(a).is_empty() {
                    out.insert(i.prevout);
                }
            }
        }
    }
    out
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Forward => "forward",
        Direction::Backward => "backward",
    }
}

fn direction_verb(d: Direction) -> &'static str {
    match d {
        Direction::Forward => "value reaching each category",
        Direction::Backward => "value coming from each category",
    }
}

fn join_counts(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A stop reason's short kind (`hop_limit`).
pub fn stop_kind(r: &StopReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("reason").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "other".into())
}

/// A stop reason in words.
pub fn stop_text(r: &StopReason) -> String {
    match r {
        StopReason::HopLimit => "hop limit reached".into(),
        StopReason::TxLimit => "transaction limit reached".into(),
        StopReason::BelowMinValue { value } => {
            format!("worth {value} sat, below the minimum value")
        }
        StopReason::OutsideWindow { time } => {
            format!(
                "next transaction at {} is outside the time window",
                export::utc(*time)
            )
        }
        StopReason::Labelled { label, category } => format!("labelled {label} ({category})"),
        StopReason::LargeCluster { size } => format!("address in a cluster of {size} addresses"),
        StopReason::Unspent => "unspent".into(),
        StopReason::Coinbase => "created by a coinbase (newly mined coins)".into(),
        StopReason::NotFound { detail } => format!("not found: {detail}"),
        StopReason::SourceFailed { detail } => format!("source failed: {detail}"),
    }
}

/// Stops the walk at directly labelled addresses.
#[derive(Debug)]
pub struct LabelStop<'a> {
    labels: &'a LabelSet,
}

impl<'a> LabelStop<'a> {
    /// A rule over `labels`.
    pub fn new(labels: &'a LabelSet) -> Self {
        LabelStop { labels }
    }
}

impl StopRule for LabelStop<'_> {
    fn check(&self, _graph: &Graph, _coin: &OutPoint, address: &str) -> Option<StopReason> {
        let l = self.labels.get(address).first()?;
        Some(StopReason::Labelled {
            label: l.label.clone(),
            category: l.category.clone().unwrap_or_else(|| UNCATEGORISED.into()),
        })
    }
}

/// Stops the walk at addresses whose common-input cluster (over the graph walked so far) holds
/// more than `max` addresses: an exchange or a service, whose other coins are not the case's.
#[derive(Debug)]
pub struct ClusterSizeStop {
    max: usize,
    set: HeuristicSet,
    cache: RefCell<(usize, Clustering)>,
}

impl ClusterSizeStop {
    /// A rule stopping above `max` addresses, clustering with the heuristics of `set`.
    pub fn new(max: usize, set: &HeuristicSet) -> Self {
        ClusterSizeStop {
            max,
            set: set.clone(),
            cache: RefCell::new((usize::MAX, Clustering::default())),
        }
    }
}

impl StopRule for ClusterSizeStop {
    fn check(&self, graph: &Graph, _coin: &OutPoint, address: &str) -> Option<StopReason> {
        let mut cache = self.cache.borrow_mut();
        if cache.0 != graph.len() {
            *cache = (graph.len(), heuristics::cluster(graph, &self.set, &[]));
        }
        let size = cache.1.cluster_of(address)?.addresses.len();
        (size > self.max).then_some(StopReason::LargeCluster { size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Inclusion, ScriptKind, TxInput, TxNode, TxOutput};
    use bitcoin::hashes::Hash;

    fn txid(n: u8) -> bitcoin::Txid {
        bitcoin::Txid::from_byte_array([n; 32])
    }

    fn node(id: u8, inputs: &[(&str, u64)], outputs: &[(&str, u64)]) -> TxNode {
        TxNode {
            txid: txid(id),
            version: 2,
            lock_time: 0,
            coinbase: false,
            vsize: 200,
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(i, (a, v))| TxInput {
                    prevout: OutPoint::new(txid(100 + id), u32::try_from(i).unwrap()),
                    sequence: 0xffff_fffd,
                    value: Some(Sat(*v)),
                    address: Some((*a).into()),
                    kind: Some(ScriptKind::P2wpkh),
                })
                .collect(),
            outputs: outputs
                .iter()
                .map(|(a, v)| TxOutput {
                    value: Sat(*v),
                    address: (*a).into(),
                    kind: ScriptKind::P2wpkh,
                    spent_by: None,
                })
                .collect(),
            inclusion: Inclusion::Unconfirmed,
        }
    }

    #[test]
    fn cluster_size_rule_stops_above_its_bound_only() {
        let mut g = Graph::new();
        g.insert(node(
            1,
            &[("addr-a", 5_000), ("addr-b", 7_000)],
            &[("addr-c", 11_000)],
        ));
        let coin = OutPoint::new(txid(1), 0);
        let set = HeuristicSet::default();
        assert_eq!(
            ClusterSizeStop::new(1, &set).check(&g, &coin, "addr-a"),
            Some(StopReason::LargeCluster { size: 2 })
        );
        assert_eq!(
            ClusterSizeStop::new(2, &set).check(&g, &coin, "addr-a"),
            None
        );
        assert_eq!(
            ClusterSizeStop::new(1, &set).check(&g, &coin, "addr-c"),
            None
        );
    }

    #[test]
    fn label_rule_stops_at_labelled_addresses_with_their_category() {
        let mut labels = LabelSet::new();
        labels.add(crate::labels::Label {
            address: "addr-x".into(),
            label: "Lab Exchange".into(),
            category: None,
            source: None,
            confidence: None,
            file: "t.csv".into(),
            line: 2,
        });
        let rule = LabelStop::new(&labels);
        let g = Graph::new();
        let coin = OutPoint::new(txid(9), 0);
        assert_eq!(
            rule.check(&g, &coin, "addr-x"),
            Some(StopReason::Labelled {
                label: "Lab Exchange".into(),
                category: UNCATEGORISED.into()
            })
        );
        assert_eq!(rule.check(&g, &coin, "addr-y"), None);
    }
}
