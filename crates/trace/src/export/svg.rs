//! The inline SVG drawing of the HTML view: a deterministic layered layout (columns by block
//! height, time flowing left to right, unconfirmed transactions in the rightmost columns; rows
//! in topological order, nudged towards their parents) and its drawing. Every coordinate and
//! colour is computed with integers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bitcoin::{OutPoint, Txid};
use custos_core::Sat;

use super::escape::{html as esc, shorten};
use super::{label_text, taint_permille, utc, End, FlowEdge, View};
use crate::graph::{Inclusion, TxNode};

/// Width of a transaction box.
const NODE_W: i64 = 250;
/// Horizontal gap between columns (room for amounts and stubs).
const GAP: i64 = 170;
/// Left margin (room for stubs of coins coming from outside the first column).
const LEFT: i64 = 150;
/// Top margin (column headings).
const TOP: i64 = 56;
/// Height of a box's header (three lines).
const HEADER_H: i64 = 46;
/// Height of one output row, and of its label line when it has one.
const ROW_H: i64 = 14;
const LABEL_H: i64 = 11;
/// Vertical gap between boxes in a column.
const V_GAP: i64 = 28;
/// Outputs shown one per row; the rest share one summary row.
const MAX_ROWS: usize = 16;
/// Inputs with their own port; the rest share the last one.
const MAX_IN: usize = 24;

/// One column of the layout.
#[derive(Debug)]
pub(super) struct Column {
    x: i64,
    height: Option<u32>,
    time: Option<u32>,
}

/// One output row of a box (or the summary row of the outputs past [`MAX_ROWS`]).
#[derive(Debug)]
pub(super) struct Row {
    top: i64,
    vouts: Vec<u32>,
    label: Option<String>,
}

/// A placed transaction.
#[derive(Debug)]
pub(super) struct TxBox {
    x: i64,
    y: i64,
    h: i64,
    rows: Vec<Row>,
    in_step: i64,
}

impl TxBox {
    fn row_of(&self, vout: u32) -> Option<&Row> {
        self.rows.iter().find(|r| r.vouts.contains(&vout))
    }

    fn out_port(&self, vout: u32) -> (i64, i64) {
        let y = self.row_of(vout).map(|r| r.top + 10).unwrap_or(self.y + 10);
        (self.x + NODE_W, y)
    }

    fn in_port(&self, vin: u32) -> (i64, i64) {
        let shown = i64::try_from((vin as usize).min(MAX_IN - 1)).expect("small");
        (self.x, self.y + 12 + shown * self.in_step)
    }
}

/// Where everything goes.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) width: i64,
    pub(super) height: i64,
    columns: Vec<Column>,
    boxes: BTreeMap<Txid, TxBox>,
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

/// Stroke colour of a coin: grey, shading to red in proportion to its taint share.
pub(super) fn edge_colour(permille: u32) -> String {
    let p = i64::from(permille.min(1000));
    format!(
        "#{:02x}{:02x}{:02x}",
        150 + 50 * p / 1000,
        150 - 150 * p / 1000,
        150 - 150 * p / 1000
    )
}

/// Background of a coin's row: white, shading to pink in proportion to its taint share.
fn row_colour(permille: u32) -> String {
    let p = i64::from(permille.min(1000));
    let gb = 255 - 125 * p / 1000;
    format!("#ff{gb:02x}{gb:02x}")
}

/// Highlight tokens of a coin (see the page script): the coin, its address, its cluster.
fn coin_tokens(view: &View, coin: &OutPoint, address: Option<&str>) -> String {
    let mut t = vec![coin.to_string()];
    if let Some(a) = address {
        t.push(token("a", a));
        if let Some(c) = view.clusters.get(a) {
            t.push(token("c", c));
        }
    }
    t.join(" ")
}

/// A highlight token: prefix, colon, text with whitespace replaced (tokens are space-separated).
pub(super) fn token(prefix: &str, s: &str) -> String {
    let body: String = s
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!("{prefix}:{body}")
}

fn btc(v: Option<Sat>) -> String {
    v.map(|v| v.to_btc_string())
        .unwrap_or_else(|| "?".to_string())
}

/// Draws the whole SVG element.
pub(super) fn draw(view: &View, edges: &[FlowEdge], lay: &Layout) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg id=\"graph\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"transaction graph\">",
        w = lay.width,
        h = lay.height
    );
    draw_columns(&mut s, lay);
    for e in edges {
        draw_edge(&mut s, view, lay, e);
    }
    let made: BTreeMap<OutPoint, &FlowEdge> = edges
        .iter()
        .filter(|e| e.from.txid().is_some())
        .map(|e| (e.coin, e))
        .collect();
    for (txid, b) in &lay.boxes {
        if let Some(node) = view.graph.tx(txid) {
            draw_box(&mut s, view, &made, node, b);
        }
    }
    s.push_str("</svg>\n");
    s
}

fn draw_columns(s: &mut String, lay: &Layout) {
    let _ = writeln!(
        s,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"14\">time →  (columns by block height; unconfirmed at the right)</text>"
    );
    let mut previous: Option<Option<u32>> = None;
    for c in &lay.columns {
        if c.height.is_none() {
            let _ = writeln!(
                s,
                "<rect class=\"mempool\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                c.x - 12,
                TOP - 34,
                NODE_W + 24,
                lay.height - TOP + 24
            );
        }
        let (line1, line2) = match (c.height, c.time) {
            (Some(h), Some(t)) => (format!("height {h}"), utc(t)),
            (Some(h), None) => (format!("height {h}"), String::new()),
            (None, _) => ("unconfirmed".to_string(), "mempool".to_string()),
        };
        let cont = if previous == Some(c.height) {
            " (same block, later)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<text class=\"colhead\" x=\"{}\" y=\"{}\">{}{}</text><text class=\"colsub\" x=\"{}\" y=\"{}\">{}</text>",
            c.x,
            TOP - 22,
            esc(&line1),
            cont,
            c.x,
            TOP - 10,
            esc(&line2)
        );
        previous = Some(c.height);
    }
}

fn edge_title(view: &View, e: &FlowEdge) -> String {
    let mut t = format!(
        "coin {}\naddress {}\nvalue {} BTC",
        e.coin,
        e.address.as_deref().unwrap_or("unknown"),
        btc(e.value)
    );
    if let Some(taint) = e.taint {
        let _ = write!(t, "\ntaint ({}) {} BTC", view.model, taint.to_btc_string());
    }
    if let Some(a) = e.address.as_deref() {
        let l = label_text(view, a);
        if !l.is_empty() {
            let _ = write!(t, "\nlabels {l}");
        }
    }
    t
}

fn draw_edge(s: &mut String, view: &View, lay: &Layout, e: &FlowEdge) {
    let permille = taint_permille(e.taint, e.value);
    let colour = edge_colour(permille);
    let title = esc(&edge_title(view, e));
    let refs = esc(&coin_tokens(view, &e.coin, e.address.as_deref()));
    let seed = view.seeds.contains(&e.coin);
    let width = if seed { 3 } else { 2 };
    let from = match e.from {
        End::Tx(t, vout) => lay.boxes.get(&t).map(|b| b.out_port(vout)),
        _ => None,
    };
    let to = match e.to {
        End::Tx(t, vin) => lay.boxes.get(&t).map(|b| b.in_port(vin)),
        _ => None,
    };
    let _ = write!(
        s,
        "<g class=\"coin\" data-ref=\"{refs}\"><title>{title}</title>"
    );
    match (from, to) {
        (Some((x1, y1)), Some((x2, y2))) => {
            let dx = ((x2 - x1) / 2).max(40);
            let _ = write!(
                s,
                "<path d=\"M{x1} {y1} C{} {y1} {} {y2} {x2} {y2}\" stroke=\"{colour}\" stroke-width=\"{width}\" fill=\"none\"/>",
                x1 + dx,
                x2 - dx
            );
            amount_at_input(s, e, x2, y2);
        }
        (Some((x1, y1)), None) => draw_out_stub(s, view, e, x1, y1, &colour, width),
        (None, Some((x2, y2))) => {
            draw_in_stub(s, view, e, x2, y2, &colour, width);
            amount_at_input(s, e, x2, y2);
        }
        (None, None) => {}
    }
    s.push_str("</g>\n");
}

fn amount_at_input(s: &mut String, e: &FlowEdge, x: i64, y: i64) {
    let _ = write!(
        s,
        "<text class=\"amt\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        x - 4,
        y - 3,
        esc(&btc(e.value))
    );
}

fn draw_out_stub(
    s: &mut String,
    view: &View,
    e: &FlowEdge,
    x: i64,
    y: i64,
    colour: &str,
    width: u8,
) {
    let end = x + 36;
    let _ = write!(
        s,
        "<line x1=\"{x}\" y1=\"{y}\" x2=\"{end}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"{width}\"{}/>",
        if matches!(e.to, End::Outside(_)) { " stroke-dasharray=\"4 3\"" } else { "" }
    );
    match e.to {
        End::Unspent(_) => {
            let _ = write!(
                s,
                "<circle class=\"unspent\" cx=\"{}\" cy=\"{y}\" r=\"4\"/>",
                end + 4
            );
        }
        End::Stop(op) => {
            marker_stop(s, end + 6, y);
            let reason = super::stop_reason(view, &op).unwrap_or_default();
            let _ = write!(
                s,
                "<text class=\"stoptext\" x=\"{}\" y=\"{}\">stop: {}</text>",
                end + 14,
                y + 3,
                esc(&shorten(reason, 18))
            );
        }
        End::Outside(op) => {
            let spender = view
                .graph
                .output(&op)
                .and_then(|o| o.spent_by)
                .map(|(t, _)| shorten(&t.to_string(), 13))
                .unwrap_or_default();
            let _ = write!(
                s,
                "<text class=\"outside\" x=\"{}\" y=\"{}\">→ {} (not traced)</text>",
                end + 3,
                y + 3,
                esc(&spender)
            );
        }
        End::Tx(..) => {}
    }
}

fn draw_in_stub(
    s: &mut String,
    view: &View,
    e: &FlowEdge,
    x: i64,
    y: i64,
    colour: &str,
    width: u8,
) {
    let start = x - 96;
    let _ = write!(
        s,
        "<line x1=\"{start}\" y1=\"{y}\" x2=\"{x}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-dasharray=\"4 3\"/>"
    );
    match e.from {
        End::Stop(_) => marker_stop(s, start - 6, y),
        _ => {
            let _ = write!(
                s,
                "<polygon class=\"origin\" points=\"{},{y} {},{} {},{y} {},{}\"/>",
                start - 11,
                start - 6,
                y - 5,
                start - 1,
                start - 6,
                y + 5
            );
        }
    }
    if view.seeds.contains(&e.coin) {
        let _ = write!(
            s,
            "<text class=\"seed\" x=\"{}\" y=\"{}\">★</text>",
            start - 24,
            y + 4
        );
    }
    if let Some(a) = e.address.as_deref() {
        let l = label_text(view, a);
        if !l.is_empty() {
            let _ = write!(
                s,
                "<text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                x - 4,
                y + 10,
                esc(&shorten(&l, 26))
            );
        }
    }
}

fn marker_stop(s: &mut String, cx: i64, cy: i64) {
    let _ = write!(
        s,
        "<rect class=\"stop\" x=\"{}\" y=\"{}\" width=\"9\" height=\"9\" transform=\"rotate(45 {cx} {cy})\"/>",
        cx - 4,
        cy - 4
    );
}

fn inclusion_line(node: &TxNode) -> String {
    match &node.inclusion {
        Inclusion::Verified { height, time, .. } => format!("h {height} · {}", utc(*time)),
        Inclusion::Unconfirmed => "unconfirmed (mempool)".to_string(),
        Inclusion::Unproven { .. } => "inclusion not proven".to_string(),
    }
}

fn box_title(view: &View, node: &TxNode) -> String {
    let mut t = format!("transaction {}\n", node.txid);
    match &node.inclusion {
        Inclusion::Verified {
            height,
            block,
            time,
        } => {
            let _ = write!(t, "block {height} ({block}), {}, SPV-verified", utc(*time));
        }
        Inclusion::Unconfirmed => t.push_str("unconfirmed"),
        Inclusion::Unproven { reason } => {
            let _ = write!(t, "inclusion not proven: {reason}");
        }
    }
    let _ = write!(
        t,
        "\n{} inputs, {} outputs, {} vB, version {}, locktime {}",
        node.inputs.len(),
        node.outputs.len(),
        node.vsize,
        node.version,
        node.lock_time
    );
    if let Some(fee) = node.fee() {
        let _ = write!(t, "\nfee {} sat", fee.0);
    }
    let txid = node.txid.to_string();
    for c in view.calls.iter().filter(|c| c.subject.contains(&txid)) {
        let _ = write!(
            t,
            "\ncall: {} — {} ({}%)",
            c.subject, c.conclusion, c.confidence
        );
    }
    t
}

fn draw_box(s: &mut String, view: &View, made: &Made<'_>, node: &TxNode, b: &TxBox) {
    let txid = node.txid.to_string();
    let called = view.calls.iter().any(|c| c.subject.contains(&txid));
    let _ = write!(
        s,
        "<g class=\"tx{}\" data-ref=\"{txid}\"><title>{}</title><rect class=\"box\" x=\"{}\" y=\"{}\" width=\"{NODE_W}\" height=\"{}\" rx=\"4\"/>",
        if called { " called" } else { "" },
        esc(&box_title(view, node)),
        b.x,
        b.y,
        b.h
    );
    let third = if node.coinbase {
        format!("coinbase · {} out", node.outputs.len())
    } else {
        let fee = node
            .fee()
            .map(|f| format!("fee {} sat · ", f.0))
            .unwrap_or_default();
        format!("{fee}{} in / {} out", node.inputs.len(), node.outputs.len())
    };
    let _ = write!(
        s,
        "<text class=\"txid\" x=\"{x}\" y=\"{}\">{}{}</text><text class=\"meta\" x=\"{x}\" y=\"{}\">{}</text><text class=\"meta\" x=\"{x}\" y=\"{}\">{}</text>",
        b.y + 13,
        esc(&shorten(&txid, 27)),
        if called { " ◆" } else { "" },
        b.y + 26,
        esc(&inclusion_line(node)),
        b.y + 38,
        esc(&third),
        x = b.x + 6
    );
    for row in &b.rows {
        draw_row(s, view, made, node, b, row);
    }
    s.push_str("</g>\n");
}

/// The coins made by graph transactions, by outpoint.
type Made<'a> = BTreeMap<OutPoint, &'a FlowEdge>;

fn draw_row(s: &mut String, view: &View, made: &Made<'_>, node: &TxNode, b: &TxBox, row: &Row) {
    let coins: Vec<&FlowEdge> = row
        .vouts
        .iter()
        .filter_map(|v| made.get(&OutPoint::new(node.txid, *v)).copied())
        .collect();
    let value: u128 = coins
        .iter()
        .filter_map(|e| e.value)
        .map(|v| u128::from(v.0))
        .sum();
    let taint: u128 = coins
        .iter()
        .filter_map(|e| e.taint)
        .map(|v| u128::from(v.0))
        .sum();
    let permille = if value > 0 {
        u32::try_from((taint * 1000 / value).min(1000)).expect("capped")
    } else {
        0
    };
    let h = ROW_H + if row.label.is_some() { LABEL_H } else { 0 };
    let (text, refs) = match (row.vouts.as_slice(), coins.first()) {
        ([vout], Some(e)) => {
            let star = if view.seeds.contains(&e.coin) {
                "★"
            } else {
                ""
            };
            let addr = e.address.as_deref().unwrap_or("?");
            (
                format!("{star}#{vout} {}", shorten(addr, 20)),
                coin_tokens(view, &e.coin, e.address.as_deref()),
            )
        }
        _ => (format!("+{} more outputs", row.vouts.len()), String::new()),
    };
    let total = u64::try_from(value).ok().map(Sat);
    let fill = if taint > 0 {
        row_colour(permille)
    } else {
        "none".to_string()
    };
    let _ = write!(
        s,
        "<g class=\"row\" data-ref=\"{}\"><rect class=\"rowbg\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"{fill}\"/><text class=\"out\" x=\"{}\" y=\"{}\">{}</text><text class=\"out\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
        esc(&refs),
        b.x + 1,
        row.top,
        NODE_W - 2,
        b.x + 6,
        row.top + 10,
        esc(&text),
        b.x + NODE_W - 6,
        row.top + 10,
        esc(&btc(total))
    );
    if let Some(l) = &row.label {
        let _ = write!(
            s,
            "<text class=\"lbl\" x=\"{}\" y=\"{}\">{}</text>",
            b.x + 14,
            row.top + 21,
            esc(&shorten(l, 40))
        );
    }
    s.push_str("</g>");
}
