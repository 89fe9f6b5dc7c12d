//! The checks: one function per item, each reading the facts gathered from the case once
//! ([`Facts`]) and returning pass/fail with a one-line reason.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{Address, Network, Transaction};
use custos_core::inventory::Inventory;
use custos_core::ledger::Event;
use serde_json::Value;

use crate::exercise::{Exercise, ItemId};
use crate::record::CaseRecord;
use crate::sheet::{ItemScore, ScoreSheet, Verdict};
use crate::truth::Truth;

/// One inventory scan of seized material, before the sweep.
struct Scan {
    material: String,
    watch_sha: String,
    confirmed_sat: u64,
    inventory: Option<Inventory>,
    has_proofs: bool,
    has_headers: bool,
}

/// What the grader takes from the ledger, once.
struct Facts<'a> {
    /// The last pre-sweep scan of each distinct watch-only file, in ledger order.
    scans: Vec<Scan>,
    /// Every address the pre-sweep scans found used.
    found: BTreeSet<String>,
    /// The last `ceremony.assembled` event and its custody policy's sha256.
    assembled: Option<(&'a Event, Option<String>)>,
    /// `sweep.build` events paying the assembled policy (all of them when nothing was assembled).
    sweeps: Vec<&'a Event>,
    /// Addresses the genuine sweeps pay (the custody outputs).
    custody_addresses: BTreeSet<String>,
    /// Transactions finalized or broadcast: txid → transaction.
    signed: BTreeMap<String, Transaction>,
    /// Broadcast txids.
    broadcast: Vec<String>,
    /// `tx.confirmed` payloads by txid.
    confirmed: BTreeMap<String, &'a Value>,
}

fn u64_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn addresses_of(tx: &Transaction) -> impl Iterator<Item = String> + '_ {
    tx.output.iter().map(|o| {
        Address::from_script(&o.script_pubkey, Network::Regtest)
            .map(|a| a.to_string())
            .unwrap_or_else(|_| format!("script {}", o.script_pubkey.to_hex_string()))
    })
}

fn gather<'a>(rec: &'a CaseRecord) -> Facts<'a> {
    let first_sweep = rec
        .events
        .iter()
        .find(|e| e.kind == "sweep.build")
        .map_or(u64::MAX, |e| e.seq);
    let mut by_watch: BTreeMap<String, Scan> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in rec
        .events
        .iter()
        .filter(|e| e.kind == "inspect.scan" && e.seq < first_sweep)
    {
        let p = &e.payload;
        let inv_sha = p["inventory_sha256"].as_str().unwrap_or_default();
        let inventory = rec
            .artifacts_of(e, "inventory")
            .find(|(sha, _)| *sha == inv_sha)
            .and_then(|(_, data)| serde_json::from_slice::<Inventory>(data).ok());
        let watch_sha = p["watch_only_sha256"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !order.contains(&watch_sha) {
            order.push(watch_sha.clone());
        }
        by_watch.insert(
            watch_sha.clone(),
            Scan {
                material: p["material"].as_str().unwrap_or_default().to_string(),
                watch_sha,
                confirmed_sat: u64_of(&p["confirmed_sat"]).unwrap_or(0),
                inventory,
                has_proofs: rec.artifacts_of(e, "merkle_proofs").next().is_some(),
                has_headers: rec.artifacts_of(e, "headers").next().is_some(),
            },
        );
    }
    let scans: Vec<Scan> = order.iter().filter_map(|w| by_watch.remove(w)).collect();
    let found = scans
        .iter()
        .filter_map(|s| s.inventory.as_ref())
        .flat_map(|i| i.addresses.iter().map(|a| a.address.clone()))
        .collect();
    let assembled = rec
        .events
        .iter()
        .rev()
        .find(|e| e.kind == "ceremony.assembled")
        .map(|e| {
            let sha = rec
                .artifacts_of(e, "custody_policy")
                .next()
                .map(|(s, _)| s.to_string());
            (e, sha)
        });
    let policy_sha = assembled.as_ref().and_then(|(_, s)| s.clone());
    let sweeps: Vec<&Event> = rec
        .events
        .iter()
        .filter(|e| e.kind == "sweep.build")
        .filter(|e| match &policy_sha {
            Some(sha) => rec
                .artifacts_of(e, "custody_policy")
                .any(|(s, _)| s == sha.as_str()),
            None => assembled.is_none(),
        })
        .collect();
    let custody_addresses = sweeps
        .iter()
        .flat_map(|e| e.payload["transactions"].as_array().into_iter().flatten())
        .filter_map(|t| t["custody_address"].as_str().map(str::to_string))
        .collect();
    let mut signed = BTreeMap::new();
    let mut broadcast = Vec::new();
    let mut confirmed = BTreeMap::new();
    for e in &rec.events {
        match e.kind.as_str() {
            "psbt.finalize" | "tx.broadcast" => {}
            "tx.confirmed" => {
                if let Some(t) = e.payload["txid"].as_str() {
                    confirmed.insert(t.to_string(), &e.payload);
                }
                continue;
            }
            _ => continue,
        }
        // Artifacts are stored once by content: the broadcast's raw transaction is the same
        // blob as the finalized one, kept under the kind it was first stored with.
        let txs = rec
            .artifacts_of(e, "raw_tx")
            .chain(rec.artifacts_of(e, "signed_tx"));
        for (_, data) in txs {
            if let Ok(tx) = bitcoin::consensus::deserialize::<Transaction>(data) {
                let txid = tx.compute_txid().to_string();
                if e.kind == "tx.broadcast" {
                    broadcast.push(txid.clone());
                }
                signed.insert(txid, tx);
            }
        }
    }
    Facts {
        scans,
        found,
        assembled,
        sweeps,
        custody_addresses,
        signed,
        broadcast,
        confirmed,
    }
}

pub(crate) type Check = Result<String, String>;

/// Whether a scan's material description names this kind: "electrum seed" matches every
/// Electrum seed version ("electrum segwit seed, …", "electrum standard seed, …").
fn described_as(description: &str, kind: &str) -> bool {
    match kind.strip_prefix("electrum ") {
        Some(rest) => {
            description.starts_with("electrum ")
                && description
                    .split(',')
                    .next()
                    .is_some_and(|head| head.ends_with(rest))
        }
        None => description.starts_with(kind),
    }
}

fn check_material(f: &Facts<'_>, truth: &Truth) -> Check {
    let mut missing = Vec::new();
    let mut ok = 0;
    for w in truth.seized().filter(|w| !w.addresses.is_empty()) {
        let Some(kind) = w.material_kind() else {
            continue;
        };
        // The scan records the classification, e.g. "bip39 mnemonic, 12 words (english)" or
        // "electrum segwit seed, 12 words" (the Electrum seed's version between the words).
        let identified = f.scans.iter().any(|s| {
            described_as(&s.material, kind)
                && s.inventory.as_ref().is_some_and(|i| {
                    i.addresses
                        .iter()
                        .any(|a| w.addresses.iter().any(|t| t.address == a.address))
                })
        });
        if identified {
            ok += 1;
        } else {
            let pass = if w.has_passphrase() {
                " with its passphrase"
            } else {
                ""
            };
            missing.push(format!("{} ({kind}{pass})", w.material_files.join(" + ")));
        }
    }
    if missing.is_empty() {
        Ok(format!(
            "all {ok} pieces of funded material identified and scanned"
        ))
    } else {
        Err(format!("not identified: {}", missing.join(", ")))
    }
}

fn check_paths(f: &Facts<'_>, truth: &Truth) -> Check {
    let expected: Vec<_> = truth
        .seized()
        .flat_map(|w| w.addresses.iter())
        .filter(|a| a.received_sat > 0)
        .collect();
    let missed: Vec<String> = expected
        .iter()
        .filter(|a| !f.found.contains(&a.address))
        .map(|a| format!("{} {} ({})", a.path, a.address, a.script_type))
        .collect();
    if missed.is_empty() {
        Ok(format!("all {} funded addresses found", expected.len()))
    } else {
        Err(format!(
            "missed {} of {} funded addresses: {}",
            missed.len(),
            expected.len(),
            missed
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn check_totals(f: &Facts<'_>, truth: &Truth) -> Check {
    let sum: u64 = f.scans.iter().map(|s| s.confirmed_sat).sum();
    let want = truth.seized_total_sat;
    if f.scans.is_empty() {
        Err("no inventory of the seized material in the case".into())
    } else if sum == want {
        Ok(format!(
            "inventories total {sum} sat, exactly the seized balance"
        ))
    } else if sum < want {
        Err(format!(
            "inventories total {sum} sat; the seized wallets hold {want} sat ({} sat not found)",
            want - sum
        ))
    } else {
        Err(format!("inventories total {sum} sat; the seized wallets hold {want} sat ({} sat counted twice or not seized)", sum - want))
    }
}

fn check_spv(f: &Facts<'_>) -> Check {
    if f.scans.is_empty() {
        return Err("no inventory of the seized material in the case".into());
    }
    for s in &f.scans {
        let Some(inv) = &s.inventory else {
            return Err(format!("scan of {} has no inventory artifact", s.watch_sha));
        };
        if !s.has_proofs || !s.has_headers {
            return Err(format!(
                "scan of the {} lacks its merkle proofs or headers",
                s.material
            ));
        }
        if let Some(u) = inv.utxos.iter().find(|u| !u.verified) {
            return Err(format!(
                "coin {} of the {} is not SPV-verified",
                u.outpoint, s.material
            ));
        }
    }
    let coins: usize = f
        .scans
        .iter()
        .filter_map(|s| s.inventory.as_ref())
        .map(|i| i.utxos.len())
        .sum();
    Ok(format!(
        "all {coins} coins SPV-verified; merkle proofs and headers recorded"
    ))
}

fn check_custody(f: &Facts<'_>, ex: &Exercise) -> Check {
    let Some(spec) = ex.custody else {
        return Err("the exercise names no custody wallet".into());
    };
    let Some((e, policy)) = &f.assembled else {
        return Err("no custody wallet was assembled in this case".into());
    };
    let p = &e.payload;
    let (k, n) = (u64_of(&p["threshold"]), u64_of(&p["n"]));
    if k != Some(u64::from(spec.threshold)) || n != Some(u64::from(spec.keyholders)) {
        return Err(format!(
            "assembled {}-of-{}; the exercise asks for {}-of-{}",
            k.unwrap_or(0),
            n.unwrap_or(0),
            spec.threshold,
            spec.keyholders
        ));
    }
    if u64_of(&p["unproven_keys"]) != Some(0) {
        return Err(format!(
            "{} key(s) without proof of possession",
            p["unproven_keys"]
        ));
    }
    let fps: BTreeSet<&str> = p["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["fingerprint"].as_str())
        .collect();
    if fps.len() != spec.keyholders as usize {
        return Err(format!(
            "{} distinct key fingerprints for {} keyholders",
            fps.len(),
            spec.keyholders
        ));
    }
    if policy.is_none() {
        return Err("the assembly recorded no custody policy".into());
    }
    if f.sweeps.is_empty() {
        return Err("no sweep pays the assembled custody wallet".into());
    }
    Ok(format!(
        "{}-of-{} with {} proven keys; the sweep pays this wallet (seq {})",
        spec.threshold, spec.keyholders, spec.keyholders, e.seq
    ))
}

fn check_keyholders(rec: &CaseRecord, f: &Facts<'_>, ex: &Exercise) -> Check {
    let Some(spec) = ex.custody else {
        return Err("the exercise names no custody wallet".into());
    };
    let Some((e, _)) = &f.assembled else {
        return Err("no custody wallet was assembled in this case".into());
    };
    let keys: BTreeSet<&str> = e.payload["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["fingerprint"].as_str())
        .collect();
    let files: BTreeSet<&str> = e.payload["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["sha256"].as_str())
        .collect();
    let mut verified = BTreeSet::new();
    for v in rec
        .events
        .iter()
        .filter(|v| v.kind == "signer.ceremony.verified" && v.seq > e.seq)
    {
        let of_this_wallet = v.payload["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["sha256"].as_str())
            .any(|s| files.contains(s));
        if !of_this_wallet {
            continue;
        }
        for fp in v.payload["fingerprints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if keys.contains(fp) {
                verified.insert(fp.to_string());
            }
        }
    }
    let missing: Vec<&&str> = keys.iter().filter(|k| !verified.contains(**k)).collect();
    if missing.is_empty() && keys.len() == spec.keyholders as usize {
        Ok(format!(
            "all {} keyholders verified the assembled wallet on their signers",
            keys.len()
        ))
    } else {
        Err(format!(
            "{} of {} keyholders verified the assembled wallet; missing: {}",
            verified.len(),
            keys.len(),
            missing
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn check_sweep(f: &Facts<'_>, truth: &Truth) -> Check {
    let Some(e) = f.sweeps.last() else {
        return Err("no sweep to the custody wallet was built".into());
    };
    let p = &e.payload;
    let input = u64_of(&p["total_input_sat"]).unwrap_or(0);
    let left = u64_of(&p["left_out_total_sat"]).unwrap_or(0);
    let entries = p["left_out"].as_array().cloned().unwrap_or_default();
    let listed: u64 = entries.iter().filter_map(|l| u64_of(&l["value_sat"])).sum();
    if entries
        .iter()
        .any(|l| l["reason"].as_str().is_none_or(str::is_empty))
        || listed != left
    {
        return Err(format!(
            "left-out coins not reported one by one with a reason ({listed} of {left} sat listed)"
        ));
    }
    let want = truth.seized_total_sat;
    if input + left != want {
        return Err(format!(
            "the sweep spends {input} sat and reports {left} sat left out: {} sat of the seized {want} sat unaccounted for",
            want.abs_diff(input + left)
        ));
    }
    Ok(format!(
        "spends {input} sat in {} transaction(s); {} coin(s) worth {left} sat reported as left out",
        p["transactions"].as_array().map_or(0, Vec::len),
        entries.len()
    ))
}

fn check_fee(f: &Facts<'_>, ex: &Exercise) -> Check {
    let Some(b) = ex.fee else {
        return Err("the exercise sets no fee bounds".into());
    };
    let Some(e) = f.sweeps.last() else {
        return Err("no sweep to the custody wallet was built".into());
    };
    let (lo, hi) = (b.min_sat_per_vb * 1000, b.max_sat_per_vb * 1000);
    let txs = e.payload["transactions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for t in &txs {
        let r = u64_of(&t["fee_rate_sat_per_kvb"]).unwrap_or(0);
        if r < lo || r > hi {
            return Err(format!(
                "transaction {} pays {}.{:03} sat/vB (fee {} sat); allowed {}..{} sat/vB",
                t["unsigned_txid"].as_str().unwrap_or("?"),
                r / 1000,
                r % 1000,
                t["fee"],
                b.min_sat_per_vb,
                b.max_sat_per_vb
            ));
        }
    }
    Ok(format!(
        "fee {} sat over {} transaction(s), within {}..{} sat/vB",
        e.payload["total_fee_sat"],
        txs.len(),
        b.min_sat_per_vb,
        b.max_sat_per_vb
    ))
}

fn check_refusal(rec: &CaseRecord, f: &Facts<'_>) -> Check {
    for (txid, tx) in &f.signed {
        if let Some(a) = addresses_of(tx).find(|a| !f.custody_addresses.contains(a)) {
            return Err(format!("signed transaction {txid} pays {a}, outside the custody wallet: the malicious PSBT was signed"));
        }
    }
    let refusal = rec.events.iter().find(|e| {
        e.kind == "signer.sign_refused"
            && e.payload["details"]["reason"]
                .as_str()
                .is_some_and(|r| !r.trim().is_empty())
    });
    match refusal {
        Some(e) => Ok(format!(
            "refused on the signer (seq {}): {}",
            e.seq,
            e.payload["details"]["reason"].as_str().unwrap_or_default()
        )),
        None => Err(
            "no signer refusal with its reason recorded in the case (signer.sign_refused)".into(),
        ),
    }
}

fn check_confirmed(f: &Facts<'_>) -> Check {
    if f.broadcast.is_empty() {
        return Err("nothing was broadcast".into());
    }
    for txid in &f.broadcast {
        match f.confirmed.get(txid) {
            Some(p)
                if p["spv_verified"] == true && u64_of(&p["confirmations"]).unwrap_or(0) >= 1 => {}
            _ => {
                return Err(format!(
                    "broadcast {txid} has no SPV-checked confirmation in the case"
                ))
            }
        }
    }
    let paid: BTreeSet<String> = f
        .broadcast
        .iter()
        .filter_map(|t| f.signed.get(t))
        .flat_map(|tx| addresses_of(tx).collect::<Vec<_>>())
        .collect();
    if let Some(a) = f.custody_addresses.iter().find(|a| !paid.contains(*a)) {
        return Err(format!(
            "no confirmed transaction pays the sweep's custody address {a}"
        ));
    }
    Ok(format!(
        "{} transaction(s) broadcast and confirmed (SPV-checked)",
        f.broadcast.len()
    ))
}

fn check_review(rec: &CaseRecord, ex: &Exercise) -> Check {
    let Some(spec) = &ex.review else {
        return Err("the exercise names no review finding".into());
    };
    let findings: Vec<&Event> = rec
        .events
        .iter()
        .filter(|e| e.kind == "signer.review_finding")
        .collect();
    let Some(last) = findings.last() else {
        return Err("no review finding recorded in the case (signer.review_finding)".into());
    };
    let problems: Vec<&Value> = last.payload["details"]["problems"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let hit = problems.iter().find(|p| {
        p["kind"] == spec.problem.as_str() && p["event_kind"] == spec.event_kind.as_str()
    });
    match (hit, problems.first()) {
        (Some(p), _) => Ok(format!(
            "found: {} ({} entry)",
            p["message"].as_str().unwrap_or_default(),
            spec.event_kind
        )),
        (None, None) => Err(format!(
            "the review found nothing wrong; the handed-over case has an {} on its {} entry",
            spec.problem, spec.event_kind
        )),
        (None, Some(p)) => Err(format!(
            "the review names {} on a {} entry, not the {} on the {} entry",
            p["kind"], p["event_kind"], spec.problem, spec.event_kind
        )),
    }
}

/// Addresses the case found that are not the scenario's: a case of another scenario or variant.
/// Inventoried addresses and the addresses traces started from are the robust witness: every
/// address of a variant differs from every other variant's (a tip or genesis hash is not: all
/// lab chains share regtest's genesis, and a tip moves as students broadcast and mine).
fn foreign(rec: &CaseRecord, f: &Facts<'_>, truth: &Truth) -> Option<String> {
    let starts = crate::trace_checks::trace_start_addresses(rec);
    let alien: Vec<&String> = f
        .found
        .iter()
        .chain(starts.iter())
        .filter(|a| !truth.knows(a))
        .collect();
    let first = alien.first()?;
    Some(format!(
        "the case inspected {} address(es) that are not in scenario {} (first: {first}): it is a case of another scenario or of another student's variant",
        alien.len(),
        truth.scenario
    ))
}

/// Grades `rec`.
pub(crate) fn grade(rec: &CaseRecord, truth: &Truth, ex: &Exercise) -> ScoreSheet {
    let mut sheet = ScoreSheet::new(rec, truth, ex);
    if let Some(problem) = rec.problems.first() {
        let reason = format!("case verify fails: {problem}");
        sheet.zero(Verdict::LedgerFails, &reason, ex);
        return sheet;
    }
    let f = gather(rec);
    if let Some(reason) = foreign(rec, &f, truth) {
        sheet.zero(Verdict::OtherScenario, &reason, ex);
        return sheet;
    }
    for item in &ex.items {
        let result = match item.id {
            ItemId::Ledger => Ok(format!(
                "{} events, hash chain and every artifact verify",
                rec.events.len()
            )),
            ItemId::Material => check_material(&f, truth),
            ItemId::Paths => check_paths(&f, truth),
            ItemId::Totals => check_totals(&f, truth),
            ItemId::Spv => check_spv(&f),
            ItemId::Custody => check_custody(&f, ex),
            ItemId::Keyholders => check_keyholders(rec, &f, ex),
            ItemId::Sweep => check_sweep(&f, truth),
            ItemId::Fee => check_fee(&f, ex),
            ItemId::Refusal => check_refusal(rec, &f),
            ItemId::Confirmed => check_confirmed(&f),
            ItemId::Review => check_review(rec, ex),
            ItemId::TraceDeposit => crate::trace_checks::check_deposit(rec, truth, ex),
            ItemId::TraceCoinjoin => crate::trace_checks::check_coinjoin(rec, truth),
            ItemId::TraceTaint => crate::trace_checks::check_taint(rec, truth, ex),
        };
        let (points, reason) = match result {
            Ok(r) => (item.points, r),
            Err(r) => (0, r),
        };
        sheet.items.push(ItemScore {
            id: item.id,
            title: item.id.title().to_string(),
            points,
            max: item.points,
            reason,
        });
    }
    sheet.total = sheet.items.iter().map(|i| i.points).sum();
    sheet
}

#[cfg(test)]
mod tests {
    use super::described_as;

    #[test]
    fn an_electrum_seed_of_any_version_is_described_as_an_electrum_seed() {
        assert!(described_as(
            "electrum segwit seed, 12 words",
            "electrum seed"
        ));
        assert!(described_as(
            "electrum standard seed, 13 words",
            "electrum seed"
        ));
        assert!(!described_as(
            "bip39 mnemonic, 12 words (english)",
            "electrum seed"
        ));
        assert!(described_as(
            "bip39 mnemonic, 12 words (english)",
            "bip39 mnemonic"
        ));
        assert!(!described_as(
            "electrum segwit seed, 12 words",
            "bip39 mnemonic"
        ));
    }
}
