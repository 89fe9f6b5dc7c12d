//! The self-contained HTML case report (no external assets, no scripts). Later stages add their
//! own [`Section`]s (inventory, ceremony, sweep); the ledger, the artifact list and the
//! verification result are always present.

use std::fmt::Write as _;

use custos_core::{ledger::Event, Sat};

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

/// One piece of seized material in the "What was seized" section: its latest scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeizedMaterial {
    /// File (or "argument", "stdin") the material was read from.
    pub file: String,
    /// Kind, as the watch-only file describes it (never the secret).
    pub kind: String,
    /// Fingerprint tying the scan to the material (master fingerprints' hash).
    pub fingerprint: String,
    /// Whether private material is held (the funds can be moved), or only public keys.
    pub spendable: bool,
    /// Confirmed balance of the latest scan.
    pub confirmed: Sat,
    /// Unconfirmed balance of the latest scan.
    pub unconfirmed: Sat,
    /// Evidence status in words (SPV-verified, cross-checked…).
    pub evidence: String,
    /// Whether that status is a clean one.
    pub evidence_ok: bool,
    /// Time of the latest scan (UTC) and its ledger sequence number.
    pub scanned: String,
}

/// Case-wide totals over distinct unspent outputs (an output found from two materials counts
/// once; spendable when any material holding it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeizedTotals {
    /// Held with private material.
    pub spendable: Sat,
    /// Watch-only.
    pub watch_only: Sat,
    /// Of the above, in outputs not (or not yet) SPV-verified.
    pub unverified: Sat,
}

/// The "What was seized" section: per material its latest scan, and the case totals.
pub fn seized_section(materials: &[SeizedMaterial], totals: &SeizedTotals) -> Section {
    let btc = |s: Sat| format!("{} BTC ({} sat)", s.to_btc_string(), s.0);
    let mut h = String::new();
    let total = totals.spendable.0.saturating_add(totals.watch_only.0);
    let _ = write!(
        h,
        "<p id=\"seized-total\">Case total: <b>{}</b> &mdash; spendable (private material held) {}, watch-only {}.</p>",
        escape(&btc(Sat(total))),
        escape(&btc(totals.spendable)),
        escape(&btc(totals.watch_only)),
    );
    if totals.unverified.0 > 0 {
        let _ = write!(
            h,
            "<p class=\"bad\">{} of it is in outputs not SPV-verified.</p>",
            escape(&btc(totals.unverified))
        );
    }
    h.push_str("<p>Each material's latest scan; an output found from two materials is counted once in the total.</p>");
    let rows: Vec<Vec<String>> = materials
        .iter()
        .map(|m| {
            vec![
                m.file.clone(),
                m.kind.clone(),
                m.fingerprint.clone(),
                if m.spendable {
                    "spendable"
                } else {
                    "watch-only"
                }
                .into(),
                btc(m.confirmed),
                btc(m.unconfirmed),
                m.evidence.clone(),
                m.scanned.clone(),
            ]
        })
        .collect();
    h.push_str(&table(
        &[
            "material file",
            "kind",
            "fingerprint",
            "control",
            "confirmed",
            "unconfirmed",
            "evidence",
            "latest scan",
        ],
        &rows,
    ));
    Section {
        title: "What was seized".into(),
        html: h,
    }
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
    fn seized_section_shows_the_total_split_and_one_row_per_material() {
        let m = |file: &str, spendable: bool, sat: u64| SeizedMaterial {
            file: file.into(),
            kind: "bip39 mnemonic".into(),
            fingerprint: "ab".into(),
            spendable,
            confirmed: Sat(sat),
            unconfirmed: Sat::ZERO,
            evidence: "SPV-verified; one server".into(),
            evidence_ok: true,
            scanned: "2026-01-01T00:00:00Z (#3)".into(),
        };
        let totals = SeizedTotals {
            spendable: Sat(150_000_000),
            watch_only: Sat(7),
            unverified: Sat::ZERO,
        };
        let s = seized_section(
            &[m("seed.txt", true, 150_000_000), m("x<pub>.txt", false, 7)],
            &totals,
        );
        assert!(
            s.html.contains("1.50000007 BTC (150000007 sat)"),
            "{}",
            s.html
        );
        assert!(s
            .html
            .contains("spendable (private material held) 1.50000000 BTC"));
        assert!(
            s.html.contains("<td>x&lt;pub&gt;.txt</td>"),
            "escaped file name"
        );
        assert_eq!(s.html.matches("<tr>").count(), 3, "header and two rows");
        assert!(!s.html.contains("not SPV-verified"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
