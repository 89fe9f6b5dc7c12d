//! The layout of the HTML view's drawing: deterministic layered columns by block height (time
//! flowing left to right, unconfirmed transactions in the rightmost columns; a transaction
//! spending one of the same block goes one column further), rows in topological order nudged
//! towards their parents. Integer coordinates only.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::Txid;

use super::{label_text, FlowEdge, View};
use crate::graph::TxNode;

/// Width of a transaction box.
pub(super) const NODE_W: i64 = 236;
/// Horizontal gap between columns (room for amounts and stubs).
pub(super) const GAP: i64 = 170;
/// Left margin (room for stubs of coins coming from outside the first column).
pub(super) const LEFT: i64 = 150;
/// Top margin (column headings).
pub(super) const TOP: i64 = 56;
/// Height of a box's header (three lines).
pub(super) const HEADER_H: i64 = 46;
/// Height of one output row, and of its label line when it has one.
pub(super) const ROW_H: i64 = 14;
pub(super) const LABEL_H: i64 = 11;
/// Vertical gap between boxes in a column.
pub(super) const V_GAP: i64 = 28;
/// Outputs shown one per row; the rest share one summary row.
pub(super) const MAX_ROWS: usize = 16;
/// Inputs with their own port; the rest share the last one.
pub(super) const MAX_IN: usize = 24;

/// One column of the layout.
#[derive(Debug)]
pub(super) struct Column {
    pub(super) x: i64,
    pub(super) height: Option<u32>,
    pub(super) time: Option<u32>,
}

/// One output row of a box (or the summary row of the outputs past [`MAX_ROWS`]).
#[derive(Debug)]
pub(super) struct Row {
    pub(super) top: i64,
    pub(super) vouts: Vec<u32>,
    pub(super) label: Option<String>,
}

/// A placed transaction.
#[derive(Debug)]
pub(super) struct TxBox {
    pub(super) x: i64,
    pub(super) y: i64,
    pub(super) h: i64,
    pub(super) rows: Vec<Row>,
    pub(super) in_step: i64,
}

impl TxBox {
    fn row_of(&self, vout: u32) -> Option<&Row> {
        self.rows.iter().find(|r| r.vouts.contains(&vout))
    }

    pub(super) fn out_port(&self, vout: u32) -> (i64, i64) {
        let y = self.row_of(vout).map(|r| r.top + 10).unwrap_or(self.y + 10);
        (self.x + NODE_W, y)
    }

    pub(super) fn in_port(&self, vin: u32) -> (i64, i64) {
        let shown = i64::try_from((vin as usize).min(MAX_IN - 1)).expect("small");
        (self.x, self.y + 12 + shown * self.in_step)
    }
}

/// Where everything goes.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) width: i64,
    pub(super) height: i64,
    pub(super) columns: Vec<Column>,
    pub(super) boxes: BTreeMap<Txid, TxBox>,
}

/// Column key of each transaction: (height or `u32::MAX` when unconfirmed, depth among
/// transactions of the same height that it spends from).
fn column_keys(view: &View, order: &[Txid]) -> BTreeMap<Txid, (u32, u32)> {
    let mut keys: BTreeMap<Txid, (u32, u32)> = BTreeMap::new();
    for txid in order {
        let Some(node) = view.graph.tx(txid) else {
            continue;
        };
        let h = node.height().unwrap_or(u32::MAX);
        let depth = node
            .inputs
            .iter()
            .filter_map(|i| keys.get(&i.prevout.txid))
            .filter(|(ph, _)| *ph == h)
            .map(|(_, d)| d + 1)
            .max()
            .unwrap_or(0);
        keys.insert(*txid, (h, depth));
    }
    keys
}

/// Computes the layout of the view's graph.
pub(super) fn layout(view: &View, edges: &[FlowEdge]) -> Layout {
    let order = view.graph.topological();
    let keys = column_keys(view, &order);
    let mut distinct: Vec<(u32, u32)> = keys.values().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut times: BTreeMap<u32, u32> = BTreeMap::new();
    for node in view.graph.txs.values() {
        if let (Some(h), Some(t)) = (node.height(), node.time()) {
            times.entry(h).or_insert(t);
        }
    }
    // Transactions with an input from outside the graph whose address has a label.
    let labelled_in: BTreeSet<Txid> = edges
        .iter()
        .filter(|e| e.from.txid().is_none())
        .filter(|e| {
            e.address
                .as_deref()
                .is_some_and(|a| view.labels.contains_key(a))
        })
        .filter_map(|e| e.to.txid())
        .collect();
    let columns: Vec<Column> = distinct
        .iter()
        .enumerate()
        .map(|(i, (h, _))| Column {
            x: LEFT + i64::try_from(i).expect("few columns") * (NODE_W + GAP),
            height: (*h != u32::MAX).then_some(*h),
            time: times.get(h).copied(),
        })
        .collect();
    let rank: BTreeMap<Txid, usize> = order.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut boxes: BTreeMap<Txid, TxBox> = BTreeMap::new();
    let mut bottom = TOP;
    for (ci, key) in distinct.iter().enumerate() {
        let mut members: Vec<(i64, usize, Txid)> = order
            .iter()
            .filter(|t| keys.get(*t) == Some(key))
            .map(|t| {
                (
                    parent_pull(view, &boxes, t),
                    rank.get(t).copied().unwrap_or(0),
                    *t,
                )
            })
            .collect();
        members.sort_unstable();
        let mut y = TOP;
        for (_, _, txid) in members {
            let Some(node) = view.graph.tx(&txid) else {
                continue;
            };
            let b = place(view, node, labelled_in.contains(&txid), columns[ci].x, y);
            y = b.y + b.h + V_GAP;
            boxes.insert(txid, b);
        }
        bottom = bottom.max(y);
    }
    let ncols = i64::try_from(columns.len()).expect("few columns");
    Layout {
        width: LEFT + ncols * (NODE_W + GAP) + 40,
        height: bottom + 30,
        columns,
        boxes,
    }
}

/// The mean height of the ports of a transaction's placed parents (0 when none is placed),
/// so that children line up with their parents.
fn parent_pull(view: &View, boxes: &BTreeMap<Txid, TxBox>, txid: &Txid) -> i64 {
    let Some(node) = view.graph.tx(txid) else {
        return 0;
    };
    let ys: Vec<i64> = node
        .inputs
        .iter()
        .filter_map(|i| {
            boxes
                .get(&i.prevout.txid)
                .map(|b| b.out_port(i.prevout.vout).1)
        })
        .collect();
    match i64::try_from(ys.len()) {
        Ok(n) if n > 0 => ys.iter().sum::<i64>() / n,
        _ => 0,
    }
}

/// Places one transaction's box with its top-left corner at (x, y).
fn place(view: &View, node: &TxNode, labelled_in: bool, x: i64, y: i64) -> TxBox {
    let mut rows = Vec::new();
    let mut top = y + HEADER_H;
    for (vout, out) in node.outputs.iter().enumerate().take(MAX_ROWS) {
        let labels = label_line(view, &out.address);
        rows.push(Row {
            top,
            vouts: vec![u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs")],
            label: labels,
        });
        top += ROW_H
            + rows
                .last()
                .map_or(0, |r| if r.label.is_some() { LABEL_H } else { 0 });
    }
    if node.outputs.len() > MAX_ROWS {
        rows.push(Row {
            top,
            vouts: (MAX_ROWS..node.outputs.len())
                .map(|v| u32::try_from(v).expect("a transaction has fewer than 2^32 outputs"))
                .collect(),
            label: None,
        });
        top += ROW_H;
    }
    // Inputs from outside the graph carry a label line under their stub: space them wider.
    let in_step = if labelled_in { 24 } else { 14 };
    let shown = i64::try_from(node.inputs.len().clamp(1, MAX_IN)).expect("small");
    let h = (top - y + 6).max(24 + (shown - 1) * in_step);
    TxBox {
        x,
        y,
        h,
        rows,
        in_step,
    }
}

/// The label line shown under an output row: labels, then the cluster id.
fn label_line(view: &View, address: &str) -> Option<String> {
    let mut parts = Vec::new();
    let labels = label_text(view, address);
    if !labels.is_empty() {
        parts.push(labels);
    }
    if let Some(c) = view.clusters.get(address) {
        parts.push(format!("cluster {c}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}
