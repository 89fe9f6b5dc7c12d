//! The PSBT toolbox, after Bitcoin Core's RPCs: `decodepsbt`, `analyzepsbt`, `combinepsbt`,
//! `finalizepsbt` and the extraction half of it. Finalization goes through rust-miniscript
//! (non-malleable satisfactions only) and extraction runs its interpreter over every input, so
//! a transaction with a bad signature is never extracted.
//!
//! Differences from Core, on purpose: amounts are integer satoshis (`*_sat` fields), never
//! floating-point BTC; fee rates are integer sat/kvB.

use bitcoin::{Address, Psbt, Transaction};
use miniscript::psbt::PsbtExt;
use serde_json::{json, Map, Value};

use crate::{
    error::{Error, Result},
    verify::{estimate_weight, spent_outputs},
    weight::{rate_of, vsize},
};

/// Result of a finalization attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FinalizeOutcome {
    /// Whether every input is now final.
    pub complete: bool,
    /// Inputs that could not be finalized, with the reason.
    pub errors: Vec<(usize, String)>,
}

/// Finalizes every input it can (rust-miniscript, non-malleable).
pub fn finalize(psbt: &mut Psbt) -> FinalizeOutcome {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let mut errors = Vec::new();
    for i in 0..psbt.inputs.len() {
        let inp = &psbt.inputs[i];
        if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
            continue;
        }
        if let Err(e) = psbt.finalize_inp_mut(&secp, i) {
            errors.push((i, e.to_string()));
        }
    }
    FinalizeOutcome {
        complete: errors.is_empty(),
        errors,
    }
}

/// Extracts the network transaction of a fully finalized PSBT, after checking every input's
/// satisfaction with rust-miniscript's interpreter.
pub fn extract(psbt: &Psbt) -> Result<Transaction> {
    for (i, inp) in psbt.inputs.iter().enumerate() {
        if inp.final_script_sig.is_none() && inp.final_script_witness.is_none() {
            return Err(Error::Extract(format!("input {i} is not finalized")));
        }
    }
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    psbt.extract(&secp)
        .map_err(|e| Error::Extract(e.to_string()))
}

/// Combines PSBTs of the same unsigned transaction (BIP174 combiner).
pub fn combine(psbts: Vec<Psbt>) -> Result<Psbt> {
    let mut it = psbts.into_iter();
    let mut first = it
        .next()
        .ok_or_else(|| Error::Combine("no psbt given".into()))?;
    for (n, p) in it.enumerate() {
        first
            .combine(p)
            .map_err(|e| Error::Combine(format!("psbt {}: {e}", n + 2)))?;
    }
    Ok(first)
}

fn script_json(s: &bitcoin::Script, network: bitcoin::Network) -> Value {
    let mut m = Map::new();
    m.insert("hex".into(), json!(s.to_hex_string()));
    m.insert("asm".into(), json!(s.to_asm_string()));
    if let Ok(a) = Address::from_script(s, network) {
        m.insert("address".into(), json!(a.to_string()));
    }
    Value::Object(m)
}

fn derivs_json(
    map: &std::collections::BTreeMap<bitcoin::secp256k1::PublicKey, bitcoin::bip32::KeySource>,
) -> Value {
    Value::Array(
        map.iter()
            .map(|(k, (fp, p))| json!({"pubkey": k.to_string(), "master_fingerprint": fp.to_string(), "path": format!("m/{p}")}))
            .collect(),
    )
}

/// `decodepsbt`: everything in the PSBT as JSON.
pub fn decode(psbt: &Psbt, network: bitcoin::Network) -> Value {
    let tx = &psbt.unsigned_tx;
    let txj = json!({
        "txid": tx.compute_txid().to_string(),
        "version": tx.version.0,
        "locktime": tx.lock_time.to_consensus_u32(),
        "vin": tx.input.iter().map(|i| json!({
            "txid": i.previous_output.txid.to_string(),
            "vout": i.previous_output.vout,
            "sequence": i.sequence.0,
        })).collect::<Vec<_>>(),
        "vout": tx.output.iter().enumerate().map(|(n, o)| json!({
            "n": n,
            "value_sat": o.value.to_sat(),
            "scriptPubKey": script_json(&o.script_pubkey, network),
        })).collect::<Vec<_>>(),
    });
    let xpubs: Vec<Value> = psbt
        .xpub
        .iter()
        .map(|(x, (fp, p))| json!({"xpub": x.to_string(), "master_fingerprint": fp.to_string(), "path": format!("m/{p}")}))
        .collect();
    let inputs: Vec<Value> = psbt
        .inputs
        .iter()
        .map(|i| {
            let mut m = Map::new();
            if let Some(t) = &i.non_witness_utxo {
                m.insert("non_witness_utxo".into(), json!({"txid": t.compute_txid().to_string()}));
            }
            if let Some(w) = &i.witness_utxo {
                m.insert(
                    "witness_utxo".into(),
                    json!({"amount_sat": w.value.to_sat(), "scriptPubKey": script_json(&w.script_pubkey, network)}),
                );
            }
            if !i.partial_sigs.is_empty() {
                let sigs: Map<String, Value> = i
                    .partial_sigs
                    .iter()
                    .map(|(k, s)| (k.to_string(), json!(hex::encode(s.to_vec()))))
                    .collect();
                m.insert("partial_signatures".into(), Value::Object(sigs));
            }
            if let Some(t) = i.sighash_type {
                m.insert("sighash".into(), json!(t.to_string()));
            }
            if let Some(s) = &i.redeem_script {
                m.insert("redeem_script".into(), script_json(s, network));
            }
            if let Some(s) = &i.witness_script {
                m.insert("witness_script".into(), script_json(s, network));
            }
            if !i.bip32_derivation.is_empty() {
                m.insert("bip32_derivs".into(), derivs_json(&i.bip32_derivation));
            }
            if let Some(s) = &i.final_script_sig {
                m.insert("final_scriptSig".into(), json!({"hex": s.to_hex_string()}));
            }
            if let Some(w) = &i.final_script_witness {
                m.insert(
                    "final_scriptwitness".into(),
                    json!(w.iter().map(hex::encode).collect::<Vec<_>>()),
                );
            }
            if let Some(s) = &i.tap_key_sig {
                m.insert("taproot_key_path_sig".into(), json!(hex::encode(s.to_vec())));
            }
            if !i.tap_script_sigs.is_empty() {
                m.insert(
                    "taproot_script_path_sigs".into(),
                    Value::Array(
                        i.tap_script_sigs
                            .iter()
                            .map(|((k, l), s)| json!({"pubkey": k.to_string(), "leaf_hash": l.to_string(), "sig": hex::encode(s.to_vec())}))
                            .collect(),
                    ),
                );
            }
            if let Some(k) = &i.tap_internal_key {
                m.insert("taproot_internal_key".into(), json!(k.to_string()));
            }
            if let Some(r) = &i.tap_merkle_root {
                m.insert("taproot_merkle_root".into(), json!(r.to_string()));
            }
            if !i.tap_key_origins.is_empty() {
                m.insert(
                    "taproot_bip32_derivs".into(),
                    Value::Array(
                        i.tap_key_origins
                            .iter()
                            .map(|(k, (ls, (fp, p)))| json!({"pubkey": k.to_string(), "master_fingerprint": fp.to_string(), "path": format!("m/{p}"), "leaf_hashes": ls.iter().map(|l| l.to_string()).collect::<Vec<_>>()}))
                            .collect(),
                    ),
                );
            }
            if !i.unknown.is_empty() {
                m.insert("unknown_count".into(), json!(i.unknown.len()));
            }
            Value::Object(m)
        })
        .collect();
    let outputs: Vec<Value> = psbt
        .outputs
        .iter()
        .map(|o| {
            let mut m = Map::new();
            if let Some(s) = &o.redeem_script {
                m.insert("redeem_script".into(), script_json(s, network));
            }
            if let Some(s) = &o.witness_script {
                m.insert("witness_script".into(), script_json(s, network));
            }
            if !o.bip32_derivation.is_empty() {
                m.insert("bip32_derivs".into(), derivs_json(&o.bip32_derivation));
            }
            if let Some(k) = &o.tap_internal_key {
                m.insert("taproot_internal_key".into(), json!(k.to_string()));
            }
            if !o.tap_key_origins.is_empty() {
                m.insert(
                    "taproot_bip32_derivs".into(),
                    Value::Array(
                        o.tap_key_origins
                            .iter()
                            .map(|(k, (_, (fp, p)))| json!({"pubkey": k.to_string(), "master_fingerprint": fp.to_string(), "path": format!("m/{p}")}))
                            .collect(),
                    ),
                );
            }
            Value::Object(m)
        })
        .collect();
    let mut top = json!({
        "tx": txj,
        "global_xpubs": xpubs,
        "psbt_version": 0,
        "inputs": inputs,
        "outputs": outputs,
    });
    if let Ok(fee) = psbt.fee() {
        top["fee_sat"] = json!(fee.to_sat());
    }
    top
}

/// `analyzepsbt`: per input whether it has its UTXO, is final and what role is next; the
/// estimated size and fee rate.
pub fn analyze(psbt: &Psbt) -> Value {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let mut next_overall = "extractor";
    let rank = |r: &str| match r {
        "updater" => 0,
        "signer" => 1,
        "finalizer" => 2,
        _ => 3,
    };
    let mut inputs = Vec::new();
    for (i, inp) in psbt.inputs.iter().enumerate() {
        let has_utxo = inp.witness_utxo.is_some() || inp.non_witness_utxo.is_some();
        let is_final = inp.final_script_sig.is_some() || inp.final_script_witness.is_some();
        let next = if !has_utxo {
            "updater"
        } else if is_final {
            "extractor"
        } else {
            let mut trial = psbt.clone();
            if trial.finalize_inp_mut(&secp, i).is_ok() {
                "finalizer"
            } else {
                "signer"
            }
        };
        if rank(next) < rank(next_overall) {
            next_overall = next;
        }
        inputs.push(json!({"has_utxo": has_utxo, "is_final": is_final, "next": next}));
    }
    let mut top = json!({"inputs": inputs, "next": next_overall});
    if let Ok(spent) = spent_outputs(psbt) {
        let w = estimate_weight(psbt, &spent);
        top["estimated_vsize"] = json!(vsize(w));
        if let Ok(fee) = psbt.fee() {
            top["fee_sat"] = json!(fee.to_sat());
            top["estimated_feerate_sat_per_kvb"] = json!(rate_of(fee, vsize(w)));
        }
    } else if let Ok(fee) = psbt.fee() {
        top["fee_sat"] = json!(fee.to_sat());
    }
    top
}
