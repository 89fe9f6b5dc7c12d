//! Exports of a hand-built trace: CSV rows and quoting, DOT and GraphML escaping and validity,
//! the HTML view's escaping, banner, layout and determinism.

// Skipping an optional check says so on stderr.
#![allow(clippy::print_stderr)]

#[path = "export_fixture.rs"]
mod export_fixture;

use std::path::Path;
use std::process::Command;

use bitcoin::OutPoint;
use custos_trace::export::{csv_edges, dot, flow_edges, graphml, html, json, End, View};
use export_fixture::{address, fixture, peel_chain};

const HOSTILE: &str = "<script>alert(\"pwned\")</script> & \\N \"quoted\", 'x'";

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn python(script: &str, file: &Path) -> String {
    assert!(
        python_available(),
        "python3 is needed (scripts/install-deps.sh installs it)"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn flow_edges_end_at_stops_unspent_and_outside_pseudo_nodes() {
    let f = fixture("Kraken");
    let edges = flow_edges(&f.view);
    let find = |op: OutPoint| edges.iter().find(|e| e.coin == op).expect("edge present");
    assert_eq!(find(OutPoint::new(f.t0, 0)).to, End::Tx(f.t1, 0));
    assert_eq!(
        find(OutPoint::new(f.t0, 1)).to.id(),
        format!("unspent:{}:1", f.t0)
    );
    assert_eq!(
        find(OutPoint::new(f.t1, 0)).to.id(),
        format!("stop:{}:0", f.t1)
    );
    assert_eq!(
        find(OutPoint::new(f.t2, 1)).to.id(),
        format!("outside:{}:1", f.t2)
    );
    assert_eq!(
        find(OutPoint::new(f.origin, 0)).from.id(),
        format!("outside:{}:0", f.origin)
    );
    assert_eq!(find(f.extra).to, End::Tx(f.t3, 1));
    // 7 outputs made in the graph + 2 coins coming in from outside.
    assert_eq!(edges.len(), 9);
}

#[test]
fn csv_has_one_row_per_coin_with_times_and_taint() {
    let f = fixture("Kraken");
    let csv = csv_edges(&f.view);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "from_txid,to_txid,vout,vin,address,value_sat,taint_sat,from_time,to_time"
    );
    assert_eq!(lines.len(), 10);
    let row = format!(
        "{},{},0,0,{},150000000,150000000,2023-11-15T14:53:20Z,2023-11-15T15:03:20Z",
        f.t0,
        f.t1,
        address("thief")
    );
    assert!(lines.contains(&row.as_str()), "missing {row} in\n{csv}");
    let unconfirmed_end = format!("{},{},0,0,", f.t2, f.t3);
    let r = lines
        .iter()
        .find(|l| l.starts_with(&unconfirmed_end))
        .expect("t2 -> t3 row");
    assert!(
        r.ends_with(",2023-11-15T15:03:20Z,"),
        "unconfirmed spender has no time: {r}"
    );
    let stop = format!("{},stop:{}:0,0,,", f.t1, f.t1);
    assert!(
        lines.iter().any(|l| l.starts_with(&stop)),
        "stop row in\n{csv}"
    );
}

#[test]
fn csv_parses_back_with_a_strict_reader() {
    let f = fixture("Kraken");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("edges.csv");
    std::fs::write(&file, csv_edges(&f.view)).expect("write");
    let counts = python(
        "import csv,sys\nrows=list(csv.reader(open(sys.argv[1],newline=''),strict=True))\nprint(len(rows), sorted(set(len(r) for r in rows)))",
        &file,
    );
    assert_eq!(counts, "10 [9]");
}

#[test]
fn dot_escapes_hostile_labels_and_marks_partial() {
    let f = fixture(HOSTILE);
    let d = dot(&f.view);
    assert!(d.starts_with("digraph custos_trace {\n  rankdir=LR;"));
    assert!(d.contains("PARTIAL — not followed"));
    assert!(d.contains(r#"<script>alert(\"pwned\")</script> & \\N \"quoted\", 'x' (exchange)"#));
    assert!(d.contains("cluster c1"));
    assert!(d.contains("label=\"1.00000000 BTC\\ntaint 1.00000000 BTC\""));
    assert!(d.contains(&format!("\"stop:{}:0\" [shape=octagon", f.t1)));
    // Every quote inside a label is escaped: lines pair up their quotes.
    for line in d.lines() {
        let unescaped = line.replace("\\\\", "").replace("\\\"", "");
        assert_eq!(
            unescaped.matches('"').count() % 2,
            0,
            "unbalanced quotes: {line}"
        );
    }
    let complete = View {
        partial: vec![],
        ..f.view
    };
    assert!(!dot(&complete).contains("PARTIAL"));
}

#[test]
fn dot_is_accepted_by_graphviz_when_installed() {
    let f = fixture(HOSTILE);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("trace.dot");
    std::fs::write(&file, dot(&f.view)).expect("write");
    let Ok(out) = Command::new("dot").arg("-Tsvg").arg(&file).output() else {
        eprintln!("graphviz `dot` not installed: skipping the graphviz check");
        return;
    };
    assert!(
        out.status.success(),
        "dot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(
        svg.contains("&lt;script&gt;"),
        "label reached graphviz's output escaped"
    );
}

#[test]
fn graphml_is_well_formed_and_carries_the_attributes() {
    let f = fixture(HOSTILE);
    let g = graphml(&f.view);
    assert!(g.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp;"));
    assert!(!g.contains("<script>"));
    for key in ["value", "taint", "label", "category", "cluster", "time"] {
        assert!(g.contains(&format!("attr.name=\"{key}\"")), "key {key}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("trace.graphml");
    std::fs::write(&file, &g).expect("write");
    let summary = python(
        "import sys,xml.etree.ElementTree as E\nns={'g':'http://graphml.graphdrawing.org/xmlns'}\nr=E.parse(sys.argv[1]).getroot()\nnodes=r.findall('.//g:node',ns)\nedges=r.findall('.//g:edge',ns)\nlabels=[d.text for d in r.iter('{http://graphml.graphdrawing.org/xmlns}data') if d.get('key')=='label']\nprint(len(nodes),len(edges),'|'.join(sorted(labels)))",
        &file,
    );
    // 4 txs + 9 addresses + 1 stop + 3 outside nodes; 9 coins, 7 of them not unspent.
    let expected = format!(
        "17 16 <script>alert(\"pwned\")</script> & \\N \"quoted\", 'x' (exchange)|Darkmarket hot wallet (darknet market, via {})",
        address("victim")
    );
    assert_eq!(summary, expected);
}

#[test]
fn html_escapes_hostile_labels() {
    let f = fixture(HOSTILE);
    let page = html(&f.view);
    assert_eq!(
        page.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(page.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; \\N &quot;quoted&quot;, &#39;x&#39;"));
}

#[test]
fn html_shows_partial_banner_only_when_partial() {
    let f = fixture("Kraken");
    let page = html(&f.view);
    assert!(page.contains("id=\"partial\""));
    assert!(page.contains("PARTIAL TRACE"));
    assert!(page.contains(&format!(
        "{}:1 spent by {}, not fetched: server error",
        f.t2, f.spender
    )));
    let complete = View {
        partial: vec![],
        ..f.view
    };
    let page = html(&complete);
    assert!(!page.contains("PARTIAL"));
    assert!(page.contains("id=\"complete\""));
}

#[test]
fn html_is_self_contained() {
    let page = html(&fixture("Kraken").view);
    for banned in [
        "http:", "https:", "src=", "<link", "url(", "@import", "<iframe", "fetch(",
    ] {
        assert!(!page.contains(banned), "page contains {banned}");
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

#[test]
fn html_shows_amounts_labels_calls_and_taint_shading() {
    let f = fixture("Kraken");
    let page = html(&f.view);
    for text in [
        "1.50000000",
        "0.49990000",
        "Kraken (exchange)",
        "cluster c1",
        "change back to the sender",
        "same script type, non-round amount",
        "address reuse",
        "80%",
        "trace stopped: exchange deposit",
        "<td>exchange deposit</td>",
        "(not traced)",
        "unconfirmed",
        "Darkmarket hot wallet",
    ] {
        assert!(page.contains(text), "page lacks {text}");
    }
    // Fully tainted coins are red, untainted grey, 10/20 tainted half-way.
    assert!(page.contains("stroke=\"#c80000\""));
    assert!(page.contains("stroke=\"#969696\""));
    assert!(page.contains("stroke=\"#af4b4b\""));
    // Every transaction is a node with its full txid in the hover title.
    for t in [f.t0, f.t1, f.t2, f.t3] {
        assert!(page.contains(&format!("<title>transaction {t}\n")), "{t}");
    }
}

/// The x of a transaction's box in the page.
fn box_x(page: &str, txid: &str) -> i64 {
    let at = page
        .find(&format!("data-ref=\"{txid}\"><title>"))
        .expect("box present");
    let rect = &page[at..];
    let x = &rect[rect.find("class=\"box\" x=\"").expect("rect") + 15..];
    x[..x.find('"').expect("quote")].parse().expect("integer x")
}

#[test]
fn time_flows_left_to_right_with_unconfirmed_last() {
    let f = fixture("Kraken");
    let page = html(&f.view);
    let xs: Vec<i64> = [f.t0, f.t1, f.t2, f.t3]
        .iter()
        .map(|t| box_x(&page, &t.to_string()))
        .collect();
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "columns {xs:?}");
}

#[test]
fn same_view_gives_same_bytes() {
    let a = fixture("Kraken").view;
    let b = fixture("Kraken").view;
    assert_eq!(html(&a), html(&b));
    assert_eq!(dot(&a), dot(&b));
    assert_eq!(graphml(&a), graphml(&b));
    assert_eq!(csv_edges(&a), csv_edges(&b));
    assert_eq!(json(&a), json(&b));
}

#[test]
fn json_round_trips() {
    let v = fixture("Kraken").view;
    let back: View = serde_json::from_str(&json(&v)).expect("parses");
    assert_eq!(back, v);
}

/// Parses the page's graph `<svg>` element with a strict XML parser.
fn svg_is_well_formed(page: &str) -> String {
    let start = page.find("<svg id=\"graph\"").expect("graph svg");
    let end = page[start..].find("</svg>").expect("svg end") + start + 6;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("graph.svg");
    std::fs::write(&file, &page[start..end]).expect("write");
    python(
        "import sys,xml.etree.ElementTree as E\nr=E.parse(sys.argv[1]).getroot()\nprint(r.get('width'), len([g for g in r.iter('g') if g.get('class','').startswith('tx')]))",
        &file,
    )
}

#[test]
fn html_drawing_is_well_formed_svg_even_with_hostile_labels() {
    let page = html(&fixture(HOSTILE).view);
    let summary = svg_is_well_formed(&page);
    assert!(summary.ends_with(" 4"), "four transaction boxes: {summary}");
}

#[test]
fn large_graphs_stay_valid_and_scroll() {
    let view = peel_chain(250);
    let page = html(&view);
    let summary = svg_is_well_formed(&page);
    let (width, boxes) = summary.split_once(' ').expect("two fields");
    assert_eq!(boxes, "250");
    let width: u64 = width.parse().expect("integer width");
    assert!(
        width > 5_000,
        "wide drawing inside a scrolling section: {width}"
    );
    assert!(page.contains("<section class=\"scroll\">"));
    for t in view.graph.txs.keys() {
        assert!(page.contains(&format!("<title>transaction {t}\n")), "{t}");
    }
}
