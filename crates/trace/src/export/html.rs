//! The self-contained HTML view: one page, inline CSS, an inline SVG drawing, a few lines of
//! inline script for hover highlighting, and a Content-Security-Policy that forbids fetching
//! anything at all.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::escape::{html as esc, shorten};
use super::layout::layout;
use super::svg::{draw, edge_colour, token};
use super::{flow_edges, label_text, View};

const STYLE: &str = "\
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:10px 16px;background:#263238;color:#fff}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;color:#cfd8dc}
.partial{margin:8px 16px;padding:8px 12px;border:2px solid #b71c1c;background:#ffebee;color:#7f0000}
.partial ul{margin:4px 0 0 18px;padding:0}
.complete{margin:8px 16px;color:#1b5e20}
main{display:grid;grid-template-columns:minmax(0,1fr) 360px;gap:12px;padding:0 16px 16px}
.scroll{overflow:auto;max-height:85vh;border:1px solid #ccc;background:#fff}
aside section{background:#fff;border:1px solid #ccc;margin-bottom:10px;padding:6px 8px;max-height:40vh;overflow:auto}
aside h2{font-size:14px;margin:2px 0 6px}
table{border-collapse:collapse;width:100%;font-size:12px;table-layout:fixed}
th,td{border-bottom:1px solid #e0e0e0;padding:2px 4px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
td.num{text-align:right;font-family:monospace;white-space:nowrap}
code{font-size:11px}
.bar{display:block;height:6px;margin-top:2px;background:#1565c0}
svg text{font-family:monospace;font-size:10px;fill:#1d1d1f}
svg .axis{font-size:11px;fill:#555}
svg .colhead{font-weight:bold;font-size:11px}
svg .colsub{fill:#555}
svg .mempool{fill:#fff8e1}
svg .box{fill:#fff;stroke:#455a64;stroke-width:1.2}
svg .called .box{stroke:#6a1b9a;stroke-width:2}
svg .txid{font-weight:bold}
svg .meta{fill:#455a64}
svg .lbl{fill:#0d47a1;font-size:9px}
svg .amt{font-size:9px;fill:#333}
svg .unspent{fill:#fff;stroke:#2e7d32;stroke-width:2}
svg .stop{fill:#c62828}
svg .stoptext{fill:#c62828;font-size:9px}
svg .outside{fill:#555;font-size:9px}
svg .origin{fill:#78909c}
svg .seed{fill:#1565c0;font-size:12px}
svg .hl .box,svg .hl.row .rowbg{stroke:#ff6f00;stroke-width:3}
svg .hl.row .rowbg{fill:#fff59d}
svg .coin.hl path,svg .coin.hl line{stroke:#ff6f00}
tr.hl{background:#fff59d}
";

const SCRIPT: &str = "\
(function(){
var els=Array.prototype.slice.call(document.querySelectorAll('[data-ref]'));
function toks(e){return (e.getAttribute('data-ref')||'').split(' ').filter(function(t){return t.length>0;});}
function mark(src){var t=src?toks(src):[];els.forEach(function(e){
var hit=t.length>0&&toks(e).some(function(x){return t.indexOf(x)>=0;});e.classList.toggle('hl',hit);});}
els.forEach(function(e){
e.addEventListener('mouseenter',function(){mark(e);});
e.addEventListener('mouseleave',function(){mark(null);});});
document.documentElement.setAttribute('data-interactive',String(els.length));
})();
";

/// The view as one self-contained HTML page (see the module documentation of
/// [`export`](super)): header, a PARTIAL banner listing what was not followed (only when the
/// trace is partial), the SVG drawing, a legend, and side tables of heuristic calls (with the
/// heuristics that agreed and disagreed and the confidence), stops, exposure and labelled
/// addresses. Every piece of text from the view is HTML-escaped.
pub fn html(view: &View) -> String {
    let edges = flow_edges(view);
    let lay = layout(view, &edges);
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    s.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(s, "<title>{}</title>", esc(&view.title));
    let _ = writeln!(s, "<style>\n{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        s,
        "<header><h1>{}</h1><p>{} trace · network {} · taint model {} · {} transactions · {} coins · {} seeds</p></header>",
        esc(&view.title),
        esc(&view.direction),
        esc(&view.network),
        esc(&view.model),
        view.graph.len(),
        edges.len(),
        view.seeds.len()
    );
    partial_banner(&mut s, view);
    s.push_str("<main>\n<section class=\"scroll\">\n");
    s.push_str(&draw(view, &edges, &lay));
    s.push_str("</section>\n<aside>\n");
    legend(&mut s, view);
    calls_table(&mut s, view);
    stops_table(&mut s, view);
    exposure_table(&mut s, view);
    addresses_table(&mut s, view);
    let _ = write!(
        s,
        "</aside>\n</main>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n"
    );
    s
}

fn partial_banner(s: &mut String, view: &View) {
    if view.partial.is_empty() {
        s.push_str("<p class=\"complete\" id=\"complete\">Complete trace: nothing was left unfollowed (stops are listed at the right).</p>\n");
        return;
    }
    s.push_str("<div class=\"partial\" id=\"partial\" role=\"alert\"><strong>PARTIAL TRACE</strong> — these were not followed, so the graph and every figure below are incomplete:<ul>");
    for p in &view.partial {
        let _ = write!(s, "<li>{}</li>", esc(p));
    }
    s.push_str("</ul></div>\n");
}

fn legend(s: &mut String, view: &View) {
    s.push_str("<section id=\"legend\"><h2>Legend</h2>\n<svg width=\"330\" height=\"142\" role=\"img\" aria-label=\"legend\">\n");
    let _ = write!(
        s,
        "<text x=\"4\" y=\"12\">coin shading = tainted share under {}:</text>",
        esc(&view.model)
    );
    for (i, p) in [0u32, 250, 500, 750, 1000].iter().enumerate() {
        let x = 8 + 64 * i64::try_from(i).expect("five samples");
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"24\" x2=\"{}\" y2=\"24\" stroke=\"{}\" stroke-width=\"4\"/><text x=\"{x}\" y=\"38\">{}%</text>",
            x + 46,
            edge_colour(*p),
            p / 10
        );
    }
    s.push_str("<circle class=\"unspent\" cx=\"12\" cy=\"54\" r=\"4\"/><text x=\"22\" y=\"57\">unspent coin</text>");
    s.push_str("<rect class=\"stop\" x=\"166\" y=\"50\" width=\"9\" height=\"9\" transform=\"rotate(45 170 54)\"/><text x=\"182\" y=\"57\">trace stopped (reason)</text>");
    s.push_str("<polygon class=\"origin\" points=\"7,74 12,69 17,74 12,79\"/><text x=\"22\" y=\"77\">from a tx not traced</text>");
    s.push_str("<line x1=\"160\" y1=\"74\" x2=\"180\" y2=\"74\" stroke=\"#999\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/><text x=\"182\" y=\"77\">spent outside the trace</text>");
    s.push_str(
        "<text class=\"seed\" x=\"6\" y=\"98\">★</text><text x=\"22\" y=\"97\">seed coin</text>",
    );
    s.push_str("<rect x=\"162\" y=\"88\" width=\"16\" height=\"12\" fill=\"none\" stroke=\"#6a1b9a\" stroke-width=\"2\"/><text x=\"182\" y=\"97\">◆ tx with a call</text>");
    s.push_str("<rect class=\"mempool\" x=\"4\" y=\"108\" width=\"16\" height=\"12\"/><text x=\"22\" y=\"117\">unconfirmed column</text>");
    s.push_str("<text x=\"4\" y=\"137\">amounts in BTC; hover for details</text>");
    s.push_str("</svg></section>\n");
}

/// Highlight tokens of a call's subject: every txid (and `txid:vout`) in it, and the cluster
/// id of a `cluster <id>` subject.
fn subject_tokens(subject: &str) -> String {
    let mut tokens = BTreeSet::new();
    if let Some(id) = subject.strip_prefix("cluster ") {
        tokens.insert(token("c", id.trim()));
    }
    let bytes = subject.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex_len = bytes[i..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if hex_len == 64 && boundary {
            let txid = &subject[i..i + 64];
            tokens.insert(txid.to_ascii_lowercase());
            let rest = &bytes[i + 64..];
            let digits = rest
                .iter()
                .skip(1)
                .take_while(|b| b.is_ascii_digit())
                .count();
            if rest.first() == Some(&b':') && digits > 0 {
                tokens.insert(format!(
                    "{}:{}",
                    txid.to_ascii_lowercase(),
                    &subject[i + 65..i + 65 + digits]
                ));
            }
        }
        i += hex_len.max(1);
    }
    tokens.into_iter().collect::<Vec<_>>().join(" ")
}

fn calls_table(s: &mut String, view: &View) {
    let _ = writeln!(
        s,
        "<section id=\"calls\"><h2>Heuristic calls ({})</h2>",
        view.calls.len()
    );
    if view.calls.is_empty() {
        s.push_str("<p>No heuristic call was made.</p></section>\n");
        return;
    }
    s.push_str("<table><colgroup><col style=\"width:30%\"><col style=\"width:22%\"><col style=\"width:20%\"><col style=\"width:15%\"><col style=\"width:13%\"></colgroup><thead><tr><th>subject</th><th>conclusion</th><th>agreed</th><th>disagreed</th><th>conf.</th></tr></thead><tbody>\n");
    for c in &view.calls {
        let conf = c.confidence.min(100);
        let _ = writeln!(
            s,
            "<tr data-ref=\"{}\"><td><code title=\"{}\">{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{conf}% <span class=\"bar\" style=\"width:{}px\"></span></td></tr>",
            esc(&subject_tokens(&c.subject)),
            esc(&c.subject),
            esc(&shorten(&c.subject, 40)),
            esc(&c.conclusion),
            esc(&c.agreed.join(", ")),
            esc(&c.disagreed.join(", ")),
            u32::from(conf) * 30 / 100
        );
    }
    s.push_str("</tbody></table></section>\n");
}

fn stops_table(s: &mut String, view: &View) {
    let _ = writeln!(
        s,
        "<section id=\"stops\"><h2>Stops ({})</h2>",
        view.stops.len()
    );
    if view.stops.is_empty() {
        s.push_str("<p>The trace stopped nowhere before the ends of the chain.</p></section>\n");
        return;
    }
    s.push_str("<table><thead><tr><th>coin</th><th>reason</th></tr></thead><tbody>\n");
    for st in &view.stops {
        let coin = st.coin.to_string();
        let _ = writeln!(
            s,
            "<tr data-ref=\"{coin}\"><td><code title=\"{coin}\">{}</code></td><td>{}</td></tr>",
            esc(&shorten(&coin, 24)),
            esc(&st.reason)
        );
    }
    s.push_str("</tbody></table></section>\n");
}

fn exposure_table(s: &mut String, view: &View) {
    if view.exposure.is_empty() {
        return;
    }
    s.push_str("<section id=\"exposure\"><h2>Exposure</h2><table><thead><tr><th>model</th><th>category</th><th>BTC</th></tr></thead><tbody>\n");
    for e in &view.exposure {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&e.model),
            esc(&e.category),
            e.amount.to_btc_string()
        );
    }
    s.push_str("</tbody></table></section>\n");
}

fn addresses_table(s: &mut String, view: &View) {
    let addresses: BTreeSet<&String> = view.labels.keys().chain(view.clusters.keys()).collect();
    if addresses.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "<section id=\"addresses\"><h2>Labelled and clustered addresses ({})</h2><table><thead><tr><th>address</th><th>labels</th><th>cluster</th></tr></thead><tbody>",
        addresses.len()
    );
    for a in addresses {
        let cluster = view.clusters.get(a.as_str());
        let mut refs = token("a", a);
        if let Some(c) = cluster {
            refs.push(' ');
            refs.push_str(&token("c", c));
        }
        let _ = writeln!(
            s,
            "<tr data-ref=\"{}\"><td><code title=\"{}\">{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&refs),
            esc(a),
            esc(&shorten(a, 22)),
            esc(&label_text(view, a)),
            esc(cluster.map(String::as_str).unwrap_or(""))
        );
    }
    s.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tokens_find_txids_coins_and_clusters() {
        let t = "ab".repeat(32);
        assert_eq!(
            subject_tokens(&format!("change {t}:1")),
            format!("{t} {t}:1")
        );
        assert_eq!(subject_tokens(&format!("coinjoin {t}")), t);
        assert_eq!(subject_tokens("cluster c 7"), "c:c_7");
        assert_eq!(subject_tokens("peel chain of 12 hops"), "");
        // 65 hex digits are no txid.
        assert_eq!(subject_tokens(&format!("x {t}a")), "");
    }
}
