//! Case-report sections built from the ledger: "What was seized" (every material scanned, its
//! latest scan, the case total split into spendable and watch-only, the evidence status) and
//! "Custody path" (every scan, ceremony, sweep, broadcast and confirmation in order, with the
//! figures a court asks for; Bitcoin and Ethereum steps, the Safe's deployment and transactions
//! included).

use std::collections::{BTreeMap, HashMap};

use custos_case::report::{escape, seized_section, table, Section, SeizedMaterial, SeizedTotals};
use custos_case::Case;
use custos_core::{inventory::Inventory, Sat};
use serde_json::Value;

use crate::app::Failure;

/// Text of a JSON list of strings joined with ", " (a server list), else the value as text.
fn list(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        _ => s(v, k),
    }
}

/// Whether a material description (the watch-only file's `material`, never the secret) names
/// private material: a seed, private keys. Used for scans recorded before the scan recorded it.
pub(crate) fn describes_private_material(material: &str) -> bool {
    let m = material.to_ascii_lowercase();
    [
        "bip39",
        "electrum seed",
        "extended private",
        "wif",
        "slip39",
        "slip-39",
        "private key",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// The latest scan of each material: grouped by the material's fingerprint (else its
/// watch-only file's hash, else the scan itself).
fn latest_scans(events: &[custos_core::ledger::Event]) -> Vec<&custos_core::ledger::Event> {
    let mut latest: BTreeMap<String, &custos_core::ledger::Event> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.kind == crate::cmd_inspect::EVENT_KIND)
    {
        let p = &e.payload;
        if s(p, "material").starts_with(crate::cmd_inspect::CUSTODY_MATERIAL) {
            // The custody wallet's own balance is not seized material.
            continue;
        }
        let key = [s(p, "fingerprint"), s(p, "watch_only_sha256")]
            .into_iter()
            .find(|k| !k.is_empty())
            .unwrap_or_else(|| format!("scan #{}", e.seq));
        if !latest.contains_key(&key) {
            order.push(key.clone());
        }
        latest.insert(key, e);
    }
    order
        .iter()
        .filter_map(|k| latest.get(k).copied())
        .collect()
}

/// The evidence status of a scan in words, and whether it is clean.
fn evidence(inv: &Inventory, offline: bool) -> (String, bool) {
    let unverified = inv
        .utxos
        .iter()
        .filter(|u| u.height > 0 && !u.verified)
        .count();
    let mut parts = Vec::new();
    let ok = inv.complete && unverified == 0;
    if !inv.complete {
        parts.push(format!(
            "INCOMPLETE ({} warning(s)); totals not final",
            inv.warnings.len()
        ));
    } else if unverified > 0 {
        parts.push(format!("{unverified} confirmed output(s) not SPV-verified"));
    } else {
        parts.push("SPV-verified".to_string());
    }
    match inv.servers.len() {
        0 | 1 => parts.push(format!(
            "one server ({}), not cross-checked",
            inv.servers.first().map_or("?", String::as_str)
        )),
        _ => parts.push(format!(
            "cross-checked: {} and {}",
            inv.servers[0],
            inv.servers[1..].join(", ")
        )),
    }
    if offline {
        parts.push("replayed from the case cache".into());
    }
    (parts.join("; "), ok)
}

/// The "What was seized" section (none before the first scan).
pub(crate) fn what_was_seized_section(case: &Case) -> Result<Option<Section>, Failure> {
    let events = case.events()?;
    let scans = latest_scans(&events);
    if scans.is_empty() {
        return Ok(None);
    }
    let mut materials = Vec::new();
    // outpoint -> (value, spendable, verified) over every material's latest scan.
    let mut outputs: HashMap<String, (Sat, bool, bool)> = HashMap::new();
    for e in scans {
        let p = &e.payload;
        let sha = s(p, "inventory_sha256");
        let a = case.artifact(&sha)?;
        let inv: Inventory = serde_json::from_slice(&a.data).map_err(|err| {
            Failure::input(anyhow::anyhow!(
                "inventory artifact {sha} of ledger event {} does not parse: {err}",
                e.seq
            ))
        })?;
        let kind = s(p, "material");
        let spendable = p
            .get("spendable")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| describes_private_material(&kind));
        let (ev, evidence_ok) = evidence(
            &inv,
            p.get("offline").and_then(Value::as_bool) == Some(true),
        );
        for u in &inv.utxos {
            let o = outputs.entry(u.outpoint.clone()).or_insert((
                u.value,
                spendable,
                u.verified || u.height == 0,
            ));
            o.1 |= spendable;
            o.2 &= u.verified || u.height == 0;
        }
        let or_dash = |x: String| {
            if x.is_empty() {
                "(not recorded)".to_string()
            } else {
                x
            }
        };
        materials.push(SeizedMaterial {
            file: or_dash(s(p, "input_name")),
            kind: or_dash(kind),
            fingerprint: or_dash(s(p, "fingerprint")),
            spendable,
            confirmed: inv.confirmed,
            unconfirmed: inv.unconfirmed,
            evidence: ev,
            evidence_ok,
            scanned: format!("{} (#{})", e.time, e.seq),
        });
    }
    let mut t = SeizedTotals::default();
    for (value, spendable, verified) in outputs.values() {
        let bucket = if *spendable {
            &mut t.spendable
        } else {
            &mut t.watch_only
        };
        *bucket = bucket.checked_add(*value).map_err(Failure::input)?;
        if !verified {
            t.unverified = t.unverified.checked_add(*value).map_err(Failure::input)?;
        }
    }
    Ok(Some(seized_section(&materials, &t)))
}

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

/// Number of entries of a JSON list field.
fn count(v: &Value, k: &str) -> usize {
    v.get(k).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The custody-path line of an Ethereum ledger event (inspection, Safe deployment, sweep,
/// broadcast, Safe transaction proposed and executed); `None` for any other kind.
fn eth_step(kind: &str, p: &Value) -> Option<String> {
    let block = |k: &str| p.get(k).map(|b| s(b, "number")).unwrap_or_default();
    Some(match kind {
        "eth.inspect" => format!(
            "ethereum scan of {} at block {} (chain {}): {} account(s), {} wei; {} round trip(s)",
            s(p, "material"),
            block("block"),
            s(p, "chain_id"),
            s(p, "accounts"),
            s(p, "total_eth_wei"),
            s(p, "round_trips"),
        ),
        "eth.safe.deployed" => format!(
            "custody Safe {} ({}-of-{}) deployed in block {} by transaction {}; CREATE2 prediction {}",
            s(p, "safe"),
            s(p, "threshold"),
            count(p, "owners"),
            s(p, "block"),
            s(p, "tx"),
            s(p, "predicted"),
        ),
        "eth.sweep.build" => format!(
            "ethereum sweep to Safe {}: {} transaction(s) ({} token transfer(s), {} gas funding) at block {}; {} wei to the Safe",
            s(p, "safe"),
            s(p, "transactions"),
            s(p, "token_transfers"),
            s(p, "gas_funding"),
            block("block"),
            s(p, "eth_to_safe_wei"),
        ),
        "eth.broadcast" => format!(
            "broadcast {} ethereum transaction(s), mined between block {} and block {}; {} finding(s)",
            count(p, "transactions"),
            block("before_block"),
            block("after_block"),
            count(p, "findings"),
        ),
        "eth.safe.proposed" => format!(
            "Safe {} transaction {} (nonce {}) proposed: {} to {}",
            s(p, "safe"),
            s(p, "safe_tx_hash"),
            s(p, "nonce"),
            match p.get("token").and_then(Value::as_str) {
                Some(t) => format!("{} base units of token {t}", s(p, "amount")),
                None => format!("{} wei", s(p, "value_wei")),
            },
            s(p, "payee"),
        ),
        "eth.safe.executed" => format!(
            "Safe {} transaction {} (nonce {}) executed in block {} by transaction {}: {} wei to {}; signed by {}",
            s(p, "safe"),
            s(p, "safe_tx_hash"),
            s(p, "safe_nonce"),
            s(p, "block"),
            s(p, "tx"),
            s(p, "value_wei"),
            s(p, "to"),
            list(p, "signers"),
        ),
        _ => return None,
    })
}

/// Builds the section (none when the ledger holds no custody step yet).
pub(crate) fn custody_path_section(case: &Case) -> Result<Option<Section>, Failure> {
    let events = case.events()?;
    let mut rows = Vec::new();
    for e in &events {
        let p = &e.payload;
        let what = match e.kind.as_str() {
            "inspect.scan" => format!(
                "scan of {} at tip {} ({}): confirmed {}, unconfirmed {}; complete: {}; {} round trip(s)",
                match (s(p, "material"), s(p, "sources")) {
                    (m, n) if !m.is_empty() && !n.is_empty() => format!("{m} ({n} source(s))"),
                    (m, _) if !m.is_empty() => m,
                    (_, n) if !n.is_empty() => format!("{n} source(s)"),
                    _ => format!("{} used address(es)", s(p, "used_addresses")),
                },
                s(p, "tip_height"),
                list(p, "servers"),
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
            k => match eth_step(k, p) {
                Some(what) => what,
                None => continue,
            },
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
        "<p>Every custody step recorded in the ledger, in order. Amounts are exact integers of satoshis (Bitcoin) or wei and token base units (Ethereum).</p>",
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

#[cfg(test)]
mod tests {
    use super::eth_step;
    use serde_json::json;

    #[test]
    fn ethereum_safe_execution_shows_hash_value_payee_and_signers() {
        let p = json!({"safe": "0xSAFE", "safe_tx_hash": "0xHASH", "safe_nonce": "0", "block": 35,
            "tx": "0xTX", "value_wei": "11249553019579918348", "to": "0xPAYEE",
            "signers": ["0xA", "0xB"]});
        let line = eth_step("eth.safe.executed", &p).unwrap();
        assert_eq!(
            line,
            "Safe 0xSAFE transaction 0xHASH (nonce 0) executed in block 35 by transaction 0xTX: \
             11249553019579918348 wei to 0xPAYEE; signed by 0xA, 0xB"
        );
    }

    #[test]
    fn ethereum_token_proposal_names_the_token_and_units_not_wei() {
        let p = json!({"safe": "0xSAFE", "safe_tx_hash": "0xH", "nonce": "1", "token": "0xTOKEN",
            "amount": "5", "value_wei": "0", "payee": "0xP"});
        let line = eth_step("eth.safe.proposed", &p).unwrap();
        assert!(
            line.ends_with(": 5 base units of token 0xTOKEN to 0xP"),
            "{line}"
        );
    }

    #[test]
    fn other_event_kinds_are_not_ethereum_steps() {
        assert_eq!(eth_step("case.created", &json!({})), None);
        assert_eq!(eth_step("eth.unknown", &json!({})), None);
    }
}
