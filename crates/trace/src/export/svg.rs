//! The inline SVG drawing of the HTML view, over the [`layout`](super::layout). Every
//! coordinate and colour is computed with integers; every text is HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bitcoin::OutPoint;
use custos_core::Sat;

use super::escape::{html as esc, shorten, truncate};
use super::layout::{Layout, Row, TxBox, LABEL_H, LEFT, NODE_W, ROW_H, TOP};
use super::{label_text, taint_permille, utc, End, FlowEdge, View};
use crate::graph::{Inclusion, TxNode};
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
    let gb = 255 - 100 * p / 1000;
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
    match (e.from, e.to) {
        (_, End::Stop(op)) | (End::Stop(op), _) => {
            let reason = super::stop_reason(view, &op).unwrap_or_default();
            let _ = write!(t, "\ntrace stopped: {reason}");
        }
        (_, End::Outside(op)) => {
            if let Some((spender, vin)) = view.graph.output(&op).and_then(|o| o.spent_by) {
                let _ = write!(t, "\nspent by {spender} input {vin} (not traced)");
            }
        }
        (End::Outside(_), _) => t.push_str("\nmade by a transaction not traced"),
        (_, End::Unspent(_)) => t.push_str("\nunspent"),
        _ => {}
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
                end + 12,
                y - 3,
                esc(&truncate(reason, 16))
            );
        }
        End::Outside(_) => {
            let _ = write!(
                s,
                "<text class=\"outside\" x=\"{}\" y=\"{}\">→ not traced</text>",
                x + 4,
                y - 3
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
    let start = x - 64;
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
                esc(&truncate(&l, 16))
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
    let permille = (taint * 1000)
        .checked_div(value)
        .map_or(0, |p| u32::try_from(p.min(1000)).expect("capped at 1000"));
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
            esc(&truncate(l, 40))
        );
    }
    s.push_str("</g>");
}
