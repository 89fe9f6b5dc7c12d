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
        if let Some(e) = missing_prevout(psbt, i) {
            errors.push((i, e));
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

/// Input `i` spends an output its `non_witness_utxo` does not have (and carries no
/// `witness_utxo`): rust-miniscript's finalizer and interpreter index that output without a check
/// and would panic, so it is refused first.
fn missing_prevout(psbt: &Psbt, i: usize) -> Option<String> {
    let inp = psbt.inputs.get(i)?;
    if inp.witness_utxo.is_some() {
        return None;
    }
    let prev = inp.non_witness_utxo.as_ref()?;
    let Some(txin) = psbt.unsigned_tx.input.get(i) else {
        return Some(format!(
            "input {i}: no such input in the unsigned transaction"
        ));
    };
    let vout = txin.previous_output.vout;
    let has = usize::try_from(vout).is_ok_and(|v| v < prev.output.len());
    (!has).then(|| {
        format!(
            "input {i}: non_witness_utxo {} has {} output(s), the input spends output {vout}",
            prev.compute_txid(),
            prev.output.len()
        )
    })
}

/// Extracts the network transaction of a fully finalized PSBT, after checking every input's
/// satisfaction with rust-miniscript's interpreter.
pub fn extract(psbt: &Psbt) -> Result<Transaction> {
    for (i, inp) in psbt.inputs.iter().enumerate() {
        if inp.final_script_sig.is_none() && inp.final_script_witness.is_none() {
            return Err(Error::Extract(format!("input {i} is not finalized")));
        }
    }
    if let Some(e) = (0..psbt.inputs.len()).find_map(|i| missing_prevout(psbt, i)) {
        return Err(Error::Extract(e));
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

/// `decodepsbt`: everything in the PSBT as JSON: the unsigned transaction, the global xpubs,
/// each input's and each output's fields, and the fee when it can be computed.
pub fn decode(psbt: &Psbt, network: bitcoin::Network) -> Value {
    let xpubs: Vec<Value> = psbt
        .xpub
        .iter()
        .map(|(x, (fp, p))| json!({"xpub": x.to_string(), "master_fingerprint": fp.to_string(), "path": format!("m/{p}")}))
        .collect();
    let inputs: Vec<Value> = psbt.inputs.iter().map(|i| input_json(i, network)).collect();
    let outputs: Vec<Value> = psbt
        .outputs
        .iter()
        .map(|o| output_json(o, network))
        .collect();
    let mut top = json!({
        "tx": unsigned_tx_json(&psbt.unsigned_tx, network),
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

/// The unsigned transaction of a PSBT, as `decodepsbt` shows it.
fn unsigned_tx_json(tx: &Transaction, network: bitcoin::Network) -> Value {
    json!({
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
    })
}

/// One PSBT input's fields (only those present).
fn input_json(i: &bitcoin::psbt::Input, network: bitcoin::Network) -> Value {
    let mut m = Map::new();
    if let Some(t) = &i.non_witness_utxo {
        m.insert(
            "non_witness_utxo".into(),
            json!({"txid": t.compute_txid().to_string()}),
        );
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
        m.insert(
            "taproot_key_path_sig".into(),
            json!(hex::encode(s.to_vec())),
        );
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
}

/// One PSBT output's fields (only those present).
fn output_json(o: &bitcoin::psbt::Output, network: bitcoin::Network) -> Value {
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
        // A non_witness_utxo without the spent output does not give the UTXO (and would make
        // the trial finalization below panic inside rust-miniscript).
        let has_utxo = (inp.witness_utxo.is_some() || inp.non_witness_utxo.is_some())
            && missing_prevout(psbt, i).is_none();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz target `psbt` (fuzz/corpus/psbt/regress-finalize-prevout-out-of-range): input 0
    /// spends output 536870912 of a `non_witness_utxo` that has 2 outputs; rust-miniscript's
    /// finalizer indexed it unchecked and panicked (in `finalize` and in `analyze`'s trial run).
    const PREVOUT_OUT_OF_RANGE: &[&str] = &[
    "70736274ff0100a00200000002ab0949a08c5af7c49b8212f417e2f15ab3f5c33dcf153821a8139f877a5b7be4000000",
    "2000feffffffab0949a08c5af7c49b8212f417e2f15ab3f5c33dcf153821a8139f877a5b7be40100000000feffffff02",
    "603bea0b000000001976a914768a40bbd740cbe81d988e71de2a4d5c71396b1d88ac8e240000000000001976a9146f46",
    "20b553fa095e721b9ee0efe9fa039cca459788ac00000000000100df0200000001268171371edff285e937adeea4b37b",
    "78000c0566cbb3ad64641713ca40171bf6000000006a473044022070b2245123e6bf474d60c5b50c043d4c621a5d2435",
    "f09a34a7662a9dc251790a022001329ca9dacf280bdf30740ec0390422422c81cb45839457aeb76fc12edd95b3012102",
    "657d118d3357b8e0f4c2cd46db7b39f6d9c38d9a70abcb9b2de5dc8dbfe4ce31feffffff02d3dff505000000001976a9",
    "14d0c59903c5bac2868760e90fd521a4665aa7652088ac00e1f5050000000017a9143545e6e33b832c47050f24d3eeb9",
    "3c9c03948bc787b32e13000001012000e1f5050000000017a9143545e6e33b832c47050f24d3eeb93c9c03948bc78701",
    "0416001485d13537f2e265405a34dbafa9e3dda01fb8230800220202ead596687ca806043edc3de116cdf29d5e9257c1",
    "96cd055cf698c8d02bf24e9910b4a6ba670000008000000080020000800022020394f62be9df19952c5587768aeb7698",
    "061ad2c4a25c894f47d8c162b4d7213d0510b4a6ba6700000080010000800200008000",
    ];

    #[test]
    fn finalize_and_analyze_treat_a_prevout_missing_from_non_witness_utxo_as_no_utxo() {
        let psbt = crate::psbt_io::parse_any(PREVOUT_OUT_OF_RANGE.concat().as_bytes())
            .expect("the fuzz input is a well-formed psbt");
        let mut p = psbt.clone();
        let out = finalize(&mut p);
        assert!(!out.complete);
        assert!(
            out.errors
                .iter()
                .any(|(i, e)| *i == 0 && e.contains("spends output 536870912")),
            "{out:?}"
        );
        assert!(missing_prevout(&psbt, 0).is_some());
        let analysis = analyze(&psbt);
        assert_eq!(analysis["inputs"][0]["next"], "updater", "{analysis}");
        assert!(missing_prevout(&psbt, 1).is_none());
    }
}
