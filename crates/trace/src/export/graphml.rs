//! GraphML: the same node and edge structure as the DOT export, with typed attributes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::escape::xml;
use super::{category_text, flow_edges, label_text, stop_reason, utc, End, FlowEdge, View};

const KEYS: &[(&str, &str, &str, &str)] = &[
    // (id, for, attr.name, attr.type)
    ("kind", "node", "kind", "string"),
    ("height", "node", "height", "long"),
    ("time", "node", "time", "string"),
    ("label", "node", "label", "string"),
    ("category", "node", "category", "string"),
    ("cluster", "node", "cluster", "string"),
    ("reason", "node", "reason", "string"),
    ("coin", "edge", "coin", "string"),
    ("value", "edge", "value", "long"),
    ("taint", "edge", "taint", "long"),
];

/// The view as GraphML: nodes of kind `tx` (with `height` and ISO 8601 `time` when confirmed),
/// `address` (with `label`, `category` and `cluster` when known), `coin` (a coin whose address is
/// unknown), `stop` (with its `reason`) and `outside`; one edge from the making transaction to
/// the address and one from the address to the spender per coin, each with the coin, its
/// `value` and its `taint` in satoshis. The graph's own data holds title, direction, network,
/// model and what a partial trace did not follow.
pub fn graphml(view: &View) -> String {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n");
    for (id, domain, name, ty) in KEYS {
        let _ = writeln!(
            out,
            "  <key id=\"{id}\" for=\"{domain}\" attr.name=\"{name}\" attr.type=\"{ty}\"/>"
        );
    }
    for name in ["title", "direction", "network", "model", "partial"] {
        let _ = writeln!(
            out,
            "  <key id=\"{name}\" for=\"graph\" attr.name=\"{name}\" attr.type=\"string\"/>"
        );
    }
    out.push_str("  <graph id=\"trace\" edgedefault=\"directed\">\n");
    for (k, v) in [
        ("title", view.title.clone()),
        ("direction", view.direction.clone()),
        ("network", view.network.clone()),
        ("model", view.model.clone()),
        ("partial", view.partial.join("; ")),
    ] {
        data(&mut out, k, &v);
    }
    for txid in view.graph.topological() {
        let Some(node) = view.graph.tx(&txid) else {
            continue;
        };
        let _ = writeln!(out, "    <node id=\"{txid}\">");
        data(&mut out, "kind", "tx");
        if let (Some(h), Some(t)) = (node.height(), node.time()) {
            data(&mut out, "height", &h.to_string());
            data(&mut out, "time", &utc(t));
        }
        out.push_str("    </node>\n");
    }
    let edges = flow_edges(view);
    let mut addresses = BTreeSet::new();
    let mut pseudo = BTreeSet::new();
    for e in &edges {
        addresses.insert((address_node(e), e.address.clone()));
        for end in [e.from, e.to] {
            if matches!(end, End::Stop(_) | End::Outside(_)) {
                pseudo.insert(end);
            }
        }
    }
    for (id, address) in &addresses {
        write_address(&mut out, view, id, address.as_deref());
    }
    for p in &pseudo {
        let _ = writeln!(out, "    <node id=\"{}\">", xml(&p.id()));
        match p {
            End::Stop(op) => {
                data(&mut out, "kind", "stop");
                data(
                    &mut out,
                    "reason",
                    stop_reason(view, op).unwrap_or_default(),
                );
            }
            _ => data(&mut out, "kind", "outside"),
        }
        out.push_str("    </node>\n");
    }
    for (i, e) in edges.iter().enumerate() {
        write_edges(&mut out, i, e);
    }
    out.push_str("  </graph>\n</graphml>\n");
    out
}

fn data(out: &mut String, key: &str, value: &str) {
    let _ = writeln!(out, "      <data key=\"{key}\">{}</data>", xml(value));
}

fn address_node(e: &FlowEdge) -> String {
    match &e.address {
        Some(a) => format!("addr:{a}"),
        None => format!("coin:{}", e.coin),
    }
}

fn write_address(out: &mut String, view: &View, id: &str, address: Option<&str>) {
    let _ = writeln!(out, "    <node id=\"{}\">", xml(id));
    match address {
        Some(a) => {
            data(out, "kind", "address");
            let labels = label_text(view, a);
            if !labels.is_empty() {
                data(out, "label", &labels);
                data(out, "category", &category_text(view, a));
            }
            if let Some(c) = view.clusters.get(a) {
                data(out, "cluster", c);
            }
        }
        None => data(out, "kind", "coin"),
    }
    out.push_str("    </node>\n");
}

fn write_edges(out: &mut String, i: usize, e: &FlowEdge) {
    let addr = xml(&address_node(e));
    let mut edge = |suffix: &str, source: &str, target: &str| {
        let _ = writeln!(
            out,
            "    <edge id=\"e{i}{suffix}\" source=\"{}\" target=\"{}\">",
            source, target
        );
        data(out, "coin", &e.coin.to_string());
        if let Some(v) = e.value {
            data(out, "value", &v.0.to_string());
        }
        if let Some(t) = e.taint {
            data(out, "taint", &t.0.to_string());
        }
        out.push_str("    </edge>\n");
    };
    edge("a", &xml(&e.from.id()), &addr);
    if !matches!(e.to, End::Unspent(_)) {
        edge("b", &addr, &xml(&e.to.id()));
    }
}
