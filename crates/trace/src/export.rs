//! Graph exports: JSON, CSV, Graphviz DOT, GraphML and one self-contained HTML page with an
//! inline SVG drawing.
//!
//! Every export is a pure function of a [`View`]: the traced [`Graph`] plus what the other parts
//! of the crate concluded about it (taint under one model, labels, clusters, heuristic calls,
//! stops, exposure). The view is a plain data type so that this module depends on no other
//! analysis module; whoever runs a trace fills it in. The same view always gives the same bytes
//! (every collection is ordered, nothing reads the clock).
//!
//! The flow model shared by all exports ([`flow_edges`]): one edge per coin, from the
//! transaction that made it to the transaction that spent it. A coin whose other end is not a
//! transaction of the graph ends (or starts) at a pseudo-node named after the coin itself:
//! `stop:<txid>:<vout>` when the trace stopped there (the coin is in [`View::stops`]),
//! `unspent:<txid>:<vout>` when nothing spends it, `outside:<txid>:<vout>` when it was spent by
//! (or made by) a transaction the trace did not follow.
//!
//! Not for: computing taint, labels or heuristics (see the sibling modules), nor rendering case
//! reports (`custos-case`). The HTML fetches nothing and runs only a few lines of inline script
//! for hover highlighting.

use std::collections::BTreeMap;

use bitcoin::{OutPoint, Txid};
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use crate::graph::Graph;

mod csv;
mod dot;
pub(crate) mod escape;
mod graphml;
mod html;
mod layout;
mod svg;

pub use csv::{csv_edges, CSV_HEADER};
pub use dot::dot;
pub use graphml::graphml;
pub use html::html;

/// Escapes text for HTML (element content and attribute values).
pub fn escape_html(s: &str) -> String {
    escape::html(s)
}

/// Everything an export shows: the graph and the conclusions drawn about it.
///
/// Shape notes: `stops` and `exposure` are lists of named structs rather than tuples, so that the
/// JSON form is self-describing. `taint` holds the tainted amount per coin under `model`; a coin
/// that is absent has no taint figure (shown empty in CSV/GraphML, unshaded in HTML).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// Title of the view (case or seed description).
    pub title: String,
    /// `forward` (destinations) or `backward` (provenance).
    pub direction: String,
    /// Network name (`bitcoin`, `regtest`, ...).
    pub network: String,
    /// Name of the taint model whose figures are in `taint`.
    pub model: String,
    /// What was not followed; empty when the trace is complete.
    pub partial: Vec<String>,
    /// The traced transactions.
    pub graph: Graph,
    /// The coins the trace started from.
    pub seeds: Vec<OutPoint>,
    /// Tainted amount per coin under `model`.
    pub taint: BTreeMap<OutPoint, Sat>,
    /// Labels per address (or `script:<hex>`).
    pub labels: BTreeMap<String, Vec<NodeLabel>>,
    /// Cluster id per address.
    pub clusters: BTreeMap<String, String>,
    /// Heuristic calls (change, cluster, CoinJoin, peeling chain).
    pub calls: Vec<Call>,
    /// Coins where the trace stopped, with the reason.
    pub stops: Vec<Stop>,
    /// Exposure per (model, category).
    pub exposure: Vec<Exposure>,
}

/// A label on an address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeLabel {
    /// The label (entity name).
    pub label: String,
    /// Its category (`exchange`, `mixer`, ...).
    pub category: String,
    /// The address it was propagated from (through a cluster), when not tagged directly.
    pub propagated_from: Option<String>,
}

/// One heuristic call and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// What the call is about: `change <txid>:<vout>`, `cluster c1`, `coinjoin <txid>`, `peel chain ...`.
    pub subject: String,
    /// What was concluded.
    pub conclusion: String,
    /// Heuristics that agreed.
    pub agreed: Vec<String>,
    /// Heuristics that disagreed.
    pub disagreed: Vec<String>,
    /// Confidence, 0–100.
    pub confidence: u8,
}

/// A coin where the trace stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The coin.
    pub coin: OutPoint,
    /// Why the trace did not go on (`depth limit`, `exchange deposit`, ...).
    pub reason: String,
}

/// Traced value reaching (or coming from) one label category under one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Taint model.
    pub model: String,
    /// Label category.
    pub category: String,
    /// Amount.
    pub amount: Sat,
}

/// The view as pretty-printed JSON (the input format of every other export).
pub fn json(view: &View) -> String {
    serde_json::to_string_pretty(view)
        .expect("a view serialises: its only map keys are strings and outpoints, which serialise as strings")
}

/// One end of a flow edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// A transaction of the graph, with the input index (at the spending end) or output index
    /// (at the making end).
    Tx(Txid, u32),
    /// The trace stopped at this coin.
    Stop(OutPoint),
    /// Nothing spends this coin.
    Unspent(OutPoint),
    /// The coin's other end is a transaction the trace did not follow.
    Outside(OutPoint),
}

impl End {
    /// The node id: the txid, or `stop:`/`unspent:`/`outside:` and the coin.
    pub fn id(&self) -> String {
        match self {
            End::Tx(txid, _) => txid.to_string(),
            End::Stop(op) => format!("stop:{op}"),
            End::Unspent(op) => format!("unspent:{op}"),
            End::Outside(op) => format!("outside:{op}"),
        }
    }

    /// The transaction, when this end is one of the graph.
    pub fn txid(&self) -> Option<Txid> {
        match self {
            End::Tx(t, _) => Some(*t),
            _ => None,
        }
    }
}

/// One coin as a flow edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEdge {
    /// The coin.
    pub coin: OutPoint,
    /// Where it was made (a graph transaction with the output index, or a pseudo-node).
    pub from: End,
    /// Where it was spent (a graph transaction with the input index, or a pseudo-node).
    pub to: End,
    /// Its address (or `script:<hex>`), when known.
    pub address: Option<String>,
    /// Its value, when known.
    pub value: Option<Sat>,
    /// Its taint under the view's model, when given.
    pub taint: Option<Sat>,
}

/// Every coin of the view as a flow edge, in a fixed order: first the coins made by graph
/// transactions (transactions in topological order, outputs in order), then the coins spent by
/// graph transactions whose maker is not in the graph (same order, inputs in order). Coinbase
/// inputs spend no coin and give no edge.
pub fn flow_edges(view: &View) -> Vec<FlowEdge> {
    let graph = &view.graph;
    let stops: BTreeMap<OutPoint, &str> = view
        .stops
        .iter()
        .map(|s| (s.coin, s.reason.as_str()))
        .collect();
    let order = graph.topological();
    let mut edges = Vec::new();
    for txid in &order {
        let Some(node) = graph.tx(txid) else { continue };
        for (vout, out) in node.outputs.iter().enumerate() {
            let coin = node.outpoint(vout);
            let to = match out.spent_by {
                Some((child, vin)) if graph.tx(&child).is_some() => End::Tx(child, vin),
                _ if stops.contains_key(&coin) => End::Stop(coin),
                Some(_) => End::Outside(coin),
                None => End::Unspent(coin),
            };
            edges.push(FlowEdge {
                coin,
                from: End::Tx(node.txid, coin.vout),
                to,
                address: Some(out.address.clone()),
                value: Some(out.value),
                taint: view.taint.get(&coin).copied(),
            });
        }
    }
    for txid in &order {
        let Some(node) = graph.tx(txid) else { continue };
        if node.coinbase {
            continue;
        }
        for (vin, input) in node.inputs.iter().enumerate() {
            let coin = input.prevout;
            if graph.output(&coin).is_some() {
                continue;
            }
            let from = if stops.contains_key(&coin) {
                End::Stop(coin)
            } else {
                End::Outside(coin)
            };
            edges.push(FlowEdge {
                coin,
                from,
                to: End::Tx(
                    node.txid,
                    u32::try_from(vin).expect("a transaction has fewer than 2^32 inputs"),
                ),
                address: input.address.clone(),
                value: input.value,
                taint: view.taint.get(&coin).copied(),
            });
        }
    }
    edges
}

/// The reason a coin is a stop, when it is one.
pub(crate) fn stop_reason<'a>(view: &'a View, coin: &OutPoint) -> Option<&'a str> {
    view.stops
        .iter()
        .find(|s| s.coin == *coin)
        .map(|s| s.reason.as_str())
}

/// Labels of an address joined for one-line display: `Label (category); Other (category, via addr)`.
pub(crate) fn label_text(view: &View, address: &str) -> String {
    view.labels
        .get(address)
        .map(|ls| {
            ls.iter()
                .map(|l| match &l.propagated_from {
                    Some(from) => format!("{} ({}, via {})", l.label, l.category, from),
                    None => format!("{} ({})", l.label, l.category),
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Categories of an address's labels, deduplicated, joined with `;`.
pub(crate) fn category_text(view: &View, address: &str) -> String {
    let mut cats: Vec<&str> = view
        .labels
        .get(address)
        .map(|ls| ls.iter().map(|l| l.category.as_str()).collect())
        .unwrap_or_default();
    cats.sort_unstable();
    cats.dedup();
    cats.join(";")
}

/// A Unix time as ISO 8601 UTC (`2024-01-31T12:00:00Z`), with integer arithmetic only.
pub fn utc(unix: u32) -> String {
    let secs = u64::from(unix);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// Taint as a share of value in thousandths (0..=1000), rounded down; 0 when either is unknown
/// or the value is zero. Integer arithmetic: `taint * 1000 / value`, capped at 1000.
pub fn taint_permille(taint: Option<Sat>, value: Option<Sat>) -> u32 {
    match (taint, value) {
        (Some(t), Some(v)) if v.0 > 0 => {
            let p = u128::from(t.0) * 1000 / u128::from(v.0);
            u32::try_from(p.min(1000)).expect("capped at 1000")
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_times_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // Bitcoin's genesis block.
        assert_eq!(utc(1_231_006_505), "2009-01-03T18:15:05Z");
        // A leap day.
        assert_eq!(utc(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(utc(u32::MAX), "2106-02-07T06:28:15Z");
    }

    #[test]
    fn taint_share_is_integer_and_capped() {
        assert_eq!(taint_permille(Some(Sat(1)), Some(Sat(3))), 333);
        assert_eq!(taint_permille(Some(Sat(5)), Some(Sat(3))), 1000);
        assert_eq!(taint_permille(Some(Sat(5)), Some(Sat(0))), 0);
        assert_eq!(taint_permille(None, Some(Sat(3))), 0);
        assert_eq!(
            taint_permille(Some(Sat(u64::MAX)), Some(Sat(u64::MAX))),
            1000
        );
    }
}
