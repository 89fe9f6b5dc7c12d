//! The self-contained HTML case report (no external assets, no scripts). Later stages add their
//! own [`Section`]s (inventory, ceremony, sweep); the ledger, the artifact list and the
//! verification result are always present.

use std::fmt::Write as _;

use custos_core::ledger::Event;

use crate::{Artifact, CaseInfo, VerifyReport};

/// A report section supplied by a stage (its body is already-escaped HTML built with [`escape`]).
#[derive(Debug, Clone)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// HTML body.
    pub html: String,
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds an HTML table from a header and rows of plain text (escaped here).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><thead><tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", escape(c));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#111}\
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;font-size:.85em;width:100%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f0f0f0}code,.mono{font-family:ui-monospace,monospace;word-break:break-all}\
.ok{color:#060;font-weight:bold}.bad{color:#a00;font-weight:bold}";

/// Renders the report.
pub fn render_html(
    info: &CaseInfo,
    events: &[Event],
    artifacts: &[Artifact],
    verify: &VerifyReport,
    sections: &[Section],
    generated: &str,
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>custos case {}</title><style>{STYLE}</style></head><body>",
        escape(&info.case_id)
    );
    let _ = write!(h, "<h1>Case {}</h1>", escape(&info.case_id));
    h.push_str(&table(
        &["field", "value"],
        &[
            vec!["case id".into(), info.case_id.clone()],
            vec!["opened by".into(), info.examiner.clone()],
            vec!["opened (UTC)".into(), info.created.clone()],
            vec!["network".into(), info.network.to_string()],
            vec!["report generated (UTC)".into(), generated.to_string()],
            vec!["ledger events".into(), verify.events.to_string()],
            vec!["ledger head hash".into(), verify.head.clone()],
            vec![
                "custos version".into(),
                env!("CARGO_PKG_VERSION").to_string(),
            ],
        ],
    ));
    h.push_str("<h2>Integrity</h2>");
    if verify.ok() {
        let _ = write!(
            h,
            "<p class=\"ok\">Ledger chain and all {} artifacts verified.</p>",
            verify.artifacts
        );
    } else {
        h.push_str("<p class=\"bad\">Verification failed:</p><ul>");
        for p in &verify.problems {
            let _ = write!(h, "<li>{}</li>", escape(&p.message));
        }
        h.push_str("</ul>");
    }
    h.push_str("<p>To re-check: <code>custos --case DIR case verify --expect-head ");
    h.push_str(&escape(&verify.head));
    h.push_str("</code>, or recompute each event hash from <code>ledger.jsonl</code> as described in docs/ledger.md.</p>");
    for s in sections {
        let _ = write!(h, "<h2>{}</h2>{}", escape(&s.title), s.html);
    }
    h.push_str("<h2>Ledger</h2>");
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.time.clone(),
                e.examiner.clone(),
                e.host.clone(),
                e.kind.clone(),
                e.command.clone(),
                custos_core::ledger::canonical_json(&e.payload),
                e.hash.clone(),
            ]
        })
        .collect();
    h.push_str(&table(
        &[
            "seq",
            "time (UTC)",
            "examiner",
            "host",
            "kind",
            "command",
            "payload",
            "hash",
        ],
        &rows,
    ));
    h.push_str("<h2>Artifacts</h2>");
    let rows: Vec<Vec<String>> = artifacts
        .iter()
        .map(|a| {
            vec![
                a.sha256.clone(),
                a.kind.clone(),
                a.name.clone(),
                a.size.to_string(),
            ]
        })
        .collect();
    h.push_str(&table(&["sha256", "kind", "name", "bytes"], &rows));
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
