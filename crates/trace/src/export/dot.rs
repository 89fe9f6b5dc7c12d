//! Graphviz DOT: transactions (boxes) and addresses (ellipses), left to right.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::escape::{dot_str, shorten};
use super::{category_text, flow_edges, label_text, taint_permille, utc, End, FlowEdge, View};
use crate::graph::TxNode;

/// The view as a Graphviz digraph: transaction nodes (boxes) and address nodes (ellipses,
/// carrying their labels and cluster id); each coin is an edge from its transaction to its
/// address and, when spent in the graph, one from the address to the spender, labelled with
/// the amount in BTC (and the taint when there is some). Coins where the trace stopped lead to
/// a `stop:` octagon with the reason; coins made or spent by transactions the trace did not
/// follow to an `outside:` node. A partial trace says so in the graph label.
pub fn dot(view: &View) -> String {
    let mut out = String::new();
    out.push_str("digraph custos_trace {\n");
    out.push_str("  rankdir=LR;\n  labelloc=t;\n");
    let _ = writeln!(out, "  label=\"{}\";", dot_str(&graph_label(view)));
    out.push_str("  node [fontname=\"monospace\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for txid in view.graph.topological() {
        if let Some(node) = view.graph.tx(&txid) {
            let _ = writeln!(
                out,
                "  \"{}\" [shape=box, label=\"{}\", tooltip=\"{}\"];",
                txid,
                dot_str(&tx_label(node)),
                txid
            );
        }
    }
    let edges = flow_edges(view);
    let mut addresses = BTreeSet::new();
    let mut pseudo = BTreeSet::new();
    for e in &edges {
        addresses.insert(address_node(e));
        for end in [&e.from, &e.to] {
            if matches!(end, End::Stop(_) | End::Outside(_)) {
                pseudo.insert(*end);
            }
        }
    }
    for a in &addresses {
        write_address(&mut out, view, a);
    }
    for p in &pseudo {
        write_pseudo(&mut out, view, p);
    }
    for e in &edges {
        write_edges(&mut out, view, e);
    }
    out.push_str("}\n");
    out
}

fn graph_label(view: &View) -> String {
    let mut s = format!(
        "{} — {} trace on {}, taint model {}",
        view.title, view.direction, view.network, view.model
    );
    if !view.partial.is_empty() {
        s.push_str("\nPARTIAL — not followed: ");
        s.push_str(&view.partial.join("; "));
    }
    s
}

fn tx_label(node: &TxNode) -> String {
    let mut s = shorten(&node.txid.to_string(), 19);
    match (node.height(), node.time()) {
        (Some(h), Some(t)) => {
            let _ = write!(s, "\nheight {h}\n{}", utc(t));
        }
        _ => s.push_str("\nunconfirmed"),
    }
    if node.coinbase {
        s.push_str("\ncoinbase");
    } else if let Some(fee) = node.fee() {
        let _ = write!(s, "\nfee {} sat", fee.0);
    }
    s
}

/// The address node of a coin: `addr:<address>`, or `coin:<txid>:<vout>` when unknown.
fn address_node(e: &FlowEdge) -> String {
    match &e.address {
        Some(a) => format!("addr:{a}"),
        None => format!("coin:{}", e.coin),
    }
}

fn write_address(out: &mut String, view: &View, id: &str) {
    let (label, tooltip) = match id.strip_prefix("addr:") {
        Some(address) => {
            let mut l = shorten(address, 27);
            let labels = label_text(view, address);
            if !labels.is_empty() {
                l.push('\n');
                l.push_str(&labels);
            }
            if let Some(c) = view.clusters.get(address) {
                let _ = write!(l, "\ncluster {c}");
            }
            let cats = category_text(view, address);
            (l, format!("{address} {cats}"))
        }
        None => ("unknown address".to_string(), id.to_string()),
    };
    let _ = writeln!(
        out,
        "  \"{}\" [shape=ellipse, label=\"{}\", tooltip=\"{}\"];",
        dot_str(id),
        dot_str(&label),
        dot_str(tooltip.trim_end())
    );
}

fn write_pseudo(out: &mut String, view: &View, end: &End) {
    let (shape, label) = match end {
        End::Stop(op) => (
            "octagon",
            format!(
                "stop {}\n{}",
                shorten(&op.to_string(), 21),
                super::stop_reason(view, op).unwrap_or_default()
            ),
        ),
        _ => (
            "plaintext",
            format!("not traced\n{}", shorten(&end.id(), 29)),
        ),
    };
    let _ = writeln!(
        out,
        "  \"{}\" [shape={shape}, label=\"{}\"];",
        dot_str(&end.id()),
        dot_str(&label)
    );
}

fn write_edges(out: &mut String, view: &View, e: &FlowEdge) {
    let addr = dot_str(&address_node(e));
    let mut label = e
        .value
        .map(|v| format!("{} BTC", v.to_btc_string()))
        .unwrap_or_else(|| "? BTC".to_string());
    if let Some(t) = e.taint.filter(|t| t.0 > 0) {
        let _ = write!(label, "\ntaint {} BTC", t.to_btc_string());
    }
    if matches!(e.to, End::Unspent(_)) {
        label.push_str("\nunspent");
    }
    let permille = taint_permille(e.taint, e.value);
    // Grey to red in proportion to the taint share, integer arithmetic only.
    let color = format!(
        "#{:02x}{:02x}{:02x}",
        160 + (40 * permille / 1000),
        160 - (160 * permille / 1000),
        160 - (160 * permille / 1000)
    );
    let seed = if view.seeds.contains(&e.coin) {
        ", penwidth=3, style=bold"
    } else {
        ""
    };
    let attrs = format!("label=\"{}\", color=\"{color}\"{seed}", dot_str(&label));
    match e.from {
        End::Tx(t, _) => {
            let _ = writeln!(out, "  \"{t}\" -> \"{addr}\" [{attrs}];");
        }
        from => {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{addr}\" [{attrs}];",
                dot_str(&from.id())
            );
        }
    }
    match e.to {
        End::Tx(t, vin) => {
            let _ = writeln!(
                out,
                "  \"{addr}\" -> \"{t}\" [label=\"{} (in {vin})\", color=\"{color}\"{seed}];",
                dot_str(label.lines().next().unwrap_or_default())
            );
        }
        End::Unspent(_) => {}
        to => {
            let _ = writeln!(
                out,
                "  \"{addr}\" -> \"{}\" [style=dashed, color=\"{color}\"];",
                dot_str(&to.id())
            );
        }
    }
}
