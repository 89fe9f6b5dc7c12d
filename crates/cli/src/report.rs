//! The "Custody path" section of the case report: every scan, ceremony, sweep, broadcast and
//! confirmation recorded in the ledger, in order, with the figures a court asks for.

use custos_case::report::{escape, table, Section};
use custos_case::Case;
use custos_core::Sat;
use serde_json::Value;

use crate::app::Failure;

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn btc(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_u64)
        .map(|n| format!("{} BTC ({n} sat)", Sat(n).to_btc_string()))
        .unwrap_or_default()
}

/// Builds the section (none when the ledger holds no custody step yet).
pub fn custody_path_section(case: &Case) -> Result<Option<Section>, Failure> {
    let events = case.events()?;
    let mut rows = Vec::new();
    for e in &events {
        let p = &e.payload;
        let what = match e.kind.as_str() {
            "inspect.scan" => format!(
                "scan of {} source(s) at tip {} ({}): confirmed {}, unconfirmed {}; complete: {}; {} round trip(s)",
                s(p, "sources"),
                s(p, "tip_height"),
                s(p, "servers"),
                btc(p, "confirmed_sat"),
                btc(p, "unconfirmed_sat"),
                s(p, "complete"),
                s(p, "round_trips"),
            ),
            "ceremony.assembled" => format!(
                "custody wallet {:?}: {}-of-{}; receive descriptor {}",
                s(p, "name"),
                s(p, "threshold"),
                p.get("keys").and_then(Value::as_array).map(Vec::len).unwrap_or(0),
                s(p, "receive_descriptor"),
            ),
            "sweep.build" => format!(
                "sweep to {:?}: {} transaction(s), inputs {}, to custody {}, fees {}, left out {} at {} sat/kvB",
                s(p, "custody_policy"),
                p.get("transactions").and_then(Value::as_array).map(Vec::len).unwrap_or(0),
                btc(p, "total_input_sat"),
                btc(p, "total_to_custody_sat"),
                btc(p, "total_fee_sat"),
                btc(p, "left_out_total_sat"),
                s(p, "fee_rate_sat_per_kvb"),
            ),
            "psbt.finalize" => format!("finalized transaction {} ({} vB)", s(p, "txid"), s(p, "vsize")),
            "tx.broadcast" => format!("broadcast {} to {}", s(p, "txid"), s(p, "server")),
            "tx.confirmed" => format!(
                "{} confirmed in block {} at height {} ({} confirmation(s), SPV-verified: {})",
                s(p, "txid"),
                s(p, "block_hash"),
                s(p, "height"),
                s(p, "confirmations"),
                s(p, "spv_verified"),
            ),
            k if k.starts_with("ceremony.") => format!("{k}: {}", custos_core::ledger::canonical_json(p)),
            _ => continue,
        };
        rows.push(vec![
            e.seq.to_string(),
            e.time.clone(),
            e.examiner.clone(),
            e.kind.clone(),
            what,
        ]);
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let mut html = String::from(
        "<p>Every custody step recorded in the ledger, in order. Amounts are exact integers of satoshis.</p>",
    );
    html.push_str(&table(
        &["seq", "time (UTC)", "examiner", "step", "what"],
        &rows,
    ));
    let _ = escape; // table() escapes every cell
    Ok(Some(Section {
        title: "Custody path".into(),
        html,
    }))
}
