//! Renderings of an inventory: a text table for the terminal, CSV, and an HTML section for the
//! case report (self-contained, built with `custos_case::report` helpers).

use std::fmt::Write as _;

use custos_case::report::{escape, table, Section};
use custos_core::inventory::Inventory;

use crate::{scan::count_u32, SourceSummary};

fn opt(h: Option<u32>) -> String {
    h.map_or_else(|| "-".into(), |h| h.to_string())
}

/// Per-source summaries computed from an inventory alone (for reports of a stored inventory).
pub fn summarize(inv: &Inventory) -> Vec<SourceSummary> {
    let mut labels: Vec<String> = Vec::new();
    for a in &inv.addresses {
        if !labels.contains(&a.source) {
            labels.push(a.source.clone());
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let addrs: Vec<_> = inv.addresses.iter().filter(|a| a.source == label).collect();
            let utxos: Vec<_> = inv.utxos.iter().filter(|u| u.source == label).collect();
            let sum = |f: &dyn Fn(&&custos_core::inventory::InventoryUtxo) -> bool| {
                custos_core::Sat::checked_sum(utxos.iter().filter(|u| f(u)).map(|u| u.value))
                    .unwrap_or(custos_core::Sat(u64::MAX))
            };
            SourceSummary {
                label,
                catalogue_id: None,
                account: None,
                change: false,
                wallets: Vec::new(),
                scanned: true,
                scanned_to: addrs
                    .iter()
                    .map(|a| a.index.saturating_add(1))
                    .max()
                    .unwrap_or(0),
                used: count_u32(addrs.len()),
                utxos: count_u32(utxos.len()),
                confirmed: sum(&|u| u.height > 0),
                unconfirmed: sum(&|u| u.height == 0),
                first_height: addrs.iter().filter_map(|a| a.first_height).min(),
                last_height: addrs.iter().filter_map(|a| a.last_height).max(),
            }
        })
        .collect()
}

/// A plain-text report: totals, per-source findings (sources with history only), UTXOs,
/// warnings.
pub fn text(inv: &Inventory, sources: &[SourceSummary]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "network {}  tip {} ({})  servers {}",
        inv.network,
        inv.tip_height,
        inv.tip_hash,
        inv.servers.join(", ")
    );
    let _ = writeln!(
        s,
        "scan {}  confirmed {} BTC ({} sat)  unconfirmed {} BTC ({} sat)  used addresses {}  utxos {}",
        if inv.complete { "COMPLETE" } else { "INCOMPLETE (totals are not final)" },
        inv.confirmed.to_btc_string(),
        inv.confirmed.0,
        inv.unconfirmed.to_btc_string(),
        inv.unconfirmed.0,
        inv.addresses.len(),
        inv.utxos.len()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<34} {:>5} {:>5} {:>17} {:>17} {:>7} {:>7}",
        "source", "used", "utxos", "confirmed (sat)", "unconfirmed (sat)", "first", "last"
    );
    for x in sources.iter().filter(|x| x.used > 0) {
        let _ = writeln!(
            s,
            "{:<34} {:>5} {:>5} {:>17} {:>17} {:>7} {:>7}",
            x.label,
            x.used,
            x.utxos,
            x.confirmed.0,
            x.unconfirmed.0,
            opt(x.first_height),
            opt(x.last_height)
        );
    }
    let scanned = sources.iter().filter(|x| x.scanned).count();
    let _ = writeln!(
        s,
        "({} of {} sources scanned, {} with history)",
        scanned,
        sources.len(),
        sources.iter().filter(|x| x.used > 0).count()
    );
    if !inv.utxos.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<68} {:>14} {:>7} {:<9} {:<28} address",
            "outpoint", "value (sat)", "height", "proof", "source"
        );
        for u in &inv.utxos {
            let proof = if u.verified {
                "verified"
            } else if u.height == 0 {
                "mempool"
            } else {
                "UNVERIFIED"
            };
            let _ = writeln!(
                s,
                "{:<68} {:>14} {:>7} {:<9} {:<28} {}",
                u.outpoint, u.value.0, u.height, proof, u.source, u.address
            );
        }
    }
    if !inv.warnings.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "warnings:");
        for w in &inv.warnings {
            let _ = writeln!(s, "  - {w}");
        }
    }
    s
}

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// CSV, one row per used address (with its balances) and UTXO count.
pub fn csv(inv: &Inventory) -> String {
    let mut s = String::from(
        "source,index,address,tx_count,confirmed_sat,unconfirmed_sat,first_height,last_height,utxos,verified_utxos,descriptor\n",
    );
    for a in &inv.addresses {
        let utxos: Vec<_> = inv
            .utxos
            .iter()
            .filter(|u| u.address == a.address)
            .collect();
        let fields = [
            a.source.clone(),
            a.index.to_string(),
            a.address.clone(),
            a.tx_count.to_string(),
            a.confirmed.0.to_string(),
            a.unconfirmed.0.to_string(),
            a.first_height.map(|h| h.to_string()).unwrap_or_default(),
            a.last_height.map(|h| h.to_string()).unwrap_or_default(),
            utxos.len().to_string(),
            utxos.iter().filter(|u| u.verified).count().to_string(),
            a.descriptor.clone(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    s
}

/// The inventory as a case-report section.
pub fn html_section(inv: &Inventory) -> Section {
    let mut h = String::new();
    let status = if inv.complete {
        "<p class=\"ok\">Scan complete; every confirmed unspent output SPV-verified.</p>"
            .to_string()
    } else {
        "<p class=\"bad\">Scan INCOMPLETE: the totals below are not final.</p>".to_string()
    };
    h.push_str(&status);
    h.push_str(&overview_table(inv));
    h.push_str("<h3>Per source</h3>");
    h.push_str(&sources_table(inv));
    h.push_str("<h3>Used addresses</h3>");
    h.push_str(&addresses_table(inv));
    h.push_str("<h3>Unspent outputs</h3>");
    h.push_str(&utxos_table(inv));
    if !inv.warnings.is_empty() {
        h.push_str("<h3>Warnings</h3><ul>");
        for w in &inv.warnings {
            let _ = write!(h, "<li>{}</li>", escape(w));
        }
        h.push_str("</ul>");
    }
    Section {
        title: "Inventory".into(),
        html: h,
    }
}

/// Network, time, servers, tip and totals.
fn overview_table(inv: &Inventory) -> String {
    table(
        &["field", "value"],
        &[
            vec!["network".into(), inv.network.to_string()],
            vec!["scanned (UTC)".into(), inv.scanned.clone()],
            vec!["servers".into(), inv.servers.join(", ")],
            vec![
                "tip".into(),
                format!("{} ({})", inv.tip_height, inv.tip_hash),
            ],
            vec![
                "confirmed".into(),
                format!(
                    "{} BTC ({} sat)",
                    inv.confirmed.to_btc_string(),
                    inv.confirmed.0
                ),
            ],
            vec![
                "unconfirmed".into(),
                format!(
                    "{} BTC ({} sat)",
                    inv.unconfirmed.to_btc_string(),
                    inv.unconfirmed.0
                ),
            ],
            vec!["used addresses".into(), inv.addresses.len().to_string()],
            vec!["unspent outputs".into(), inv.utxos.len().to_string()],
        ],
    )
}

/// Per-source summaries.
fn sources_table(inv: &Inventory) -> String {
    let rows: Vec<Vec<String>> = summarize(inv)
        .iter()
        .map(|x| {
            vec![
                x.label.clone(),
                x.used.to_string(),
                x.utxos.to_string(),
                x.confirmed.0.to_string(),
                x.unconfirmed.0.to_string(),
                opt(x.first_height),
                opt(x.last_height),
            ]
        })
        .collect();
    table(
        &[
            "source",
            "used addresses",
            "utxos",
            "confirmed (sat)",
            "unconfirmed (sat)",
            "first height",
            "last height",
        ],
        &rows,
    )
}

/// Every used address with its descriptor.
fn addresses_table(inv: &Inventory) -> String {
    let rows: Vec<Vec<String>> = inv
        .addresses
        .iter()
        .map(|a| {
            vec![
                a.source.clone(),
                a.index.to_string(),
                a.address.clone(),
                a.tx_count.to_string(),
                a.confirmed.0.to_string(),
                a.unconfirmed.0.to_string(),
                opt(a.first_height),
                opt(a.last_height),
                a.descriptor.clone(),
            ]
        })
        .collect();
    table(
        &[
            "source",
            "index",
            "address",
            "txs",
            "confirmed (sat)",
            "unconfirmed (sat)",
            "first",
            "last",
            "descriptor",
        ],
        &rows,
    )
}

/// Every unspent output with its SPV status.
fn utxos_table(inv: &Inventory) -> String {
    let rows: Vec<Vec<String>> = inv
        .utxos
        .iter()
        .map(|u| {
            vec![
                u.outpoint.clone(),
                u.value.0.to_string(),
                u.height.to_string(),
                if u.verified {
                    "verified".into()
                } else {
                    "not verified".into()
                },
                u.source.clone(),
                u.address.clone(),
            ]
        })
        .collect();
    table(
        &[
            "outpoint",
            "value (sat)",
            "height",
            "SPV",
            "source",
            "address",
        ],
        &rows,
    )
}
