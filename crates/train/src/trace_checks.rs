//! The tracing items: read the student's latest forward trace (`custos trace forward`, a
//! `trace.run` event and its `trace` artifact, the report `custos trace view` renders) and check
//! it against the scenario's `[tracing]` ground truth.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::checks::Check;
use crate::exercise::{Exercise, TraceSpec};
use crate::record::CaseRecord;
use crate::truth::Truth;

/// The case's latest forward trace report (its `trace` artifact, parsed), with the event's seq.
pub(crate) fn latest_forward_trace(rec: &CaseRecord) -> Option<(u64, Value)> {
    rec.events
        .iter()
        .rev()
        .filter(|e| e.kind == "trace.run" && e.payload["direction"] == "forward")
        .find_map(|e| {
            let want = e.payload["trace_sha256"].as_str()?;
            let (_, data) = rec.artifacts_of(e, "trace").find(|(sha, _)| *sha == want)?;
            serde_json::from_slice::<Value>(data)
                .ok()
                .map(|v| (e.seq, v))
        })
}

/// Addresses the case's traces started from (`script:ADDRESS` starts), for telling a case of
/// another scenario or variant.
pub(crate) fn trace_start_addresses(rec: &CaseRecord) -> Vec<String> {
    rec.events
        .iter()
        .filter(|e| e.kind == "trace.run")
        .flat_map(|e| e.payload["starts"].as_array().into_iter().flatten())
        .filter_map(|s| s.as_str()?.strip_prefix("script:").map(str::to_string))
        .collect()
}

fn spec(ex: &Exercise) -> TraceSpec {
    ex.trace.clone().unwrap_or_default()
}

/// The addresses of the entities of the deposit's category.
fn deposit_addresses(truth: &Truth, category: &str) -> BTreeSet<String> {
    truth
        .tracing
        .iter()
        .flat_map(|t| t.entities.iter())
        .filter(|e| e.category.as_deref() == Some(category))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect()
}

fn exposure<'a>(report: &'a Value, model: &str) -> Option<&'a Value> {
    report["exposure"]
        .as_array()?
        .iter()
        .find(|x| x["model"] == model)
}

fn no_trace() -> String {
    "no forward trace in the case (custos trace forward ... --labels LABELS)".into()
}

/// The trace reached a labelled deposit address of the scenario's entity of that category.
pub(crate) fn check_deposit(rec: &CaseRecord, truth: &Truth, ex: &Exercise) -> Check {
    let spec = spec(ex);
    let (seq, report) = latest_forward_trace(rec).ok_or_else(no_trace)?;
    let want = deposit_addresses(truth, &spec.category);
    let reached: BTreeSet<String> = report["exposure"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|x| x["labelled_coins"].as_array().into_iter().flatten())
        .filter_map(|c| c["address"].as_str().map(str::to_string))
        .filter(|a| want.contains(a))
        .collect();
    let stops = report["trace"]["stops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["reason"] == "labelled" && s["category"] == spec.category.as_str())
        .count();
    match reached.first() {
        Some(a) if stops > 0 => Ok(format!(
            "the trace (seq {seq}) stops at the {} deposit {a}",
            spec.category
        )),
        _ => Err(format!(
            "the trace (seq {seq}) never reaches a labelled {} address (were the labels given?)",
            spec.category
        )),
    }
}

/// Every planted CoinJoin is among the trace's reported CoinJoins.
pub(crate) fn check_coinjoin(rec: &CaseRecord, truth: &Truth) -> Check {
    let (seq, report) = latest_forward_trace(rec).ok_or_else(no_trace)?;
    let found: BTreeSet<&str> = report["analysis"]["coinjoins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["txid"].as_str())
        .collect();
    let planted: Vec<&str> = truth
        .tracing
        .iter()
        .flat_map(|t| t.coinjoins.iter())
        .map(|c| c.txid.as_str())
        .collect();
    let missed: Vec<&&str> = planted.iter().filter(|t| !found.contains(**t)).collect();
    match (planted.is_empty(), missed.first()) {
        (true, _) => Err("the scenario plants no CoinJoin: this item does not apply".into()),
        (false, None) => Ok(format!(
            "the trace (seq {seq}) reports the {} planted CoinJoin(s)",
            planted.len()
        )),
        (false, Some(t)) => Err(format!(
            "the trace (seq {seq}) does not report the CoinJoin {t} (did it stop before it, or was coinjoin detection switched off?)"
        )),
    }
}

/// The exposure to the deposit's category under the exercise's model equals, to the sat, what
/// the entity of that category received in the scenario (all of it from the traced flow).
pub(crate) fn check_taint(rec: &CaseRecord, truth: &Truth, ex: &Exercise) -> Check {
    let spec = spec(ex);
    let (seq, report) = latest_forward_trace(rec).ok_or_else(no_trace)?;
    let want = deposit_addresses(truth, &spec.category);
    let expected: u64 = truth
        .wallets
        .iter()
        .flat_map(|w| w.addresses.iter())
        .filter(|a| want.contains(&a.address))
        .map(|a| a.received_sat)
        .sum();
    let got = exposure(&report, &spec.model)
        .and_then(|x| x["per_category"][spec.category.as_str()].as_u64())
        .ok_or_else(|| {
            format!(
                "the trace (seq {seq}) has no {} exposure under the {} model",
                spec.category, spec.model
            )
        })?;
    if got == expected {
        Ok(format!(
            "{} exposure under {}: {got} sat, exact",
            spec.category, spec.model
        ))
    } else {
        Err(format!(
            "{} exposure under {}: {got} sat, the ground truth says {expected} sat",
            spec.category, spec.model
        ))
    }
}
