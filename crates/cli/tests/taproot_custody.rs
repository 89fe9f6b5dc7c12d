//! Issue 10 item 1: a taproot custody wallet (`ceremony assemble --script tr`, which writes
//! `tr(NUMS, multi_a(2, ...))`) works in every command of the custody path. Three keyholders
//! make keys on separate signer processes, the wallet is assembled and verified on each signer,
//! the lab's seized wallet is inspected and swept into it (`sweep build --custody`, `custos-signer
//! sign --policy`, finalize, broadcast), and the custody coin is then spent by two keyholders
//! through the `multi_a` leaf (a script-path spend), combined, finalized and accepted by the lab.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::{
    absolute, transaction, Amount, OutPoint, Psbt, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use custos_core::inventory::CustodyPolicy;
use custos_lab::{Lab, LabConfig};
use custos_testkit::custody::{self, Bins};
use custos_testkit::{custos_bin, ok, s, signer_next_to_custos};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
use miniscript::psbt::PsbtExt;

/// Steps 1–2: three keys (`key generate --script tr`), the assembled `tr(NUMS, multi_a)` wallet,
/// verified on each signer.
fn ceremony(b: &Bins, d: &Path) -> (PathBuf, Vec<PathBuf>) {
    let w = custody::ceremony(b, d, "tr", "tr-custody", 1, None);
    let p: CustodyPolicy =
        serde_json::from_str(&std::fs::read_to_string(&w.policy).unwrap()).unwrap();
    assert!(
        p.receive_descriptor.starts_with(
            "tr(50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0,multi_a(2,"
        ),
        "{}",
        p.receive_descriptor
    );
    (
        w.policy,
        w.holders.into_iter().map(|h| h.mnemonic).collect(),
    )
}

/// Steps 3–4: the lab's seized wallet inspected, swept into custody, signed, finalized,
/// broadcast and mined. Returns the custody outpoint and its value.
fn sweep_into_custody(b: &Bins, d: &Path, lab: &Lab, policy: &Path) -> (OutPoint, u64) {
    let swept = custody::sweep_seized(b, d, &lab.url(), policy, None);
    let tx: Transaction = bitcoin::consensus::encode::deserialize_hex(&swept.final_hex).unwrap();
    let txid: Txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    let out = OutPoint::new(txid, 0);
    assert_eq!(lab.utxo(&out).unwrap().value.to_sat(), swept.value);
    (out, swept.value)
}

/// Step 5: the unsigned custody spend to receive index 5, with the leaf's script data.
fn custody_spend(lab: &Lab, policy: &CustodyPolicy, coin: OutPoint, value: u64) -> Psbt {
    let receive = Descriptor::<DescriptorPublicKey>::from_str(&policy.receive_descriptor).unwrap();
    let from = receive.at_derivation_index(0).unwrap();
    let to = receive.at_derivation_index(5).unwrap();
    let prev: Transaction =
        bitcoin::consensus::deserialize(&lab.raw_transaction(&coin.txid).unwrap()).unwrap();
    assert_eq!(prev.output[0].script_pubkey, from.script_pubkey());
    let unsigned = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::from_height(lab.tip_height()).unwrap(),
        input: vec![TxIn {
            previous_output: coin,
            script_sig: Default::default(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value - 1_000),
            script_pubkey: to.script_pubkey(),
        }],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).unwrap();
    psbt.inputs[0].witness_utxo = Some(prev.output[0].clone());
    psbt.update_input_with_descriptor(0, &from).unwrap();
    psbt.update_output_with_descriptor(0, &to).unwrap();
    assert!(psbt.inputs[0].tap_merkle_root.is_some());
    psbt
}

#[test]
fn taproot_custody_receives_a_sweep_and_spends_2_of_3_through_its_multi_a_leaf() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = custos_testkit::bins!();
    let (policy_path, mnemonics) = ceremony(&b, d);
    let policy: CustodyPolicy =
        serde_json::from_str(&std::fs::read_to_string(&policy_path).unwrap()).unwrap();
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let (coin, value) = sweep_into_custody(&b, d, &lab, &policy_path);

    // The custody wallet inspected like any other material (issue 10 item 1, watch and
    // inspection): its policy file finds exactly the swept coin, SPV-verified.
    let out = ok(custos_bin!().args([
        "--json",
        "--network",
        "regtest",
        "inspect",
        s(&policy_path),
        "--server",
        &lab.url(),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let utxos = v["inventory"]["utxos"].as_array().unwrap();
    assert_eq!(utxos.len(), 1, "{v}");
    assert_eq!(utxos[0]["outpoint"], coin.to_string());
    assert_eq!(utxos[0]["value"], value);
    assert_eq!(utxos[0]["verified"], true);
    assert_eq!(utxos[0]["source"], "custody/receive");
    assert_eq!(v["inventory"]["confirmed"], value);
    assert_eq!(v["inventory"]["complete"], true);

    // Two keyholders sign separate copies on their own signers, checked against the policy.
    let psbt = custody_spend(&lab, &policy, coin, value);
    let mut signed = Vec::new();
    for (n, holder) in [0usize, 2].into_iter().enumerate() {
        let path = d.join(format!("spend-{n}.psbt"));
        std::fs::write(&path, psbt.serialize()).unwrap();
        let out = ok(signer_next_to_custos!().args([
            "--json",
            "sign",
            s(&path),
            "--material",
            s(&mnemonics[holder]),
            "--policy",
            s(&policy_path),
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["signed"]["signatures"], 1, "{v}");
        signed.push(d.join(format!("spend-{n}-signed.psbt")));
    }
    // One signature does not finalize; the two combined do.
    let one = Psbt::deserialize(&std::fs::read(&signed[0]).unwrap()).unwrap();
    assert_eq!(one.inputs[0].tap_script_sigs.len(), 1);
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    assert!(one.finalize(&secp).is_err());
    let combined = d.join("spend-combined.psbt");
    ok(custos_bin!().args([
        "psbt",
        "combine",
        s(&signed[0]),
        s(&signed[1]),
        "--out",
        s(&combined),
    ]));
    ok(custos_bin!().args(["psbt", "finalize", s(&combined)]));
    let hex = std::fs::read_to_string(d.join("spend-combined-final.txn")).unwrap();
    let tx: Transaction = bitcoin::consensus::encode::deserialize_hex(hex.trim()).unwrap();
    // A script-path spend: signatures, the multi_a leaf script and its control block.
    assert!(tx.input[0].witness.len() >= 4, "{:?}", tx.input[0].witness);
    let txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    assert_eq!(
        lab.utxo(&OutPoint::new(txid, 0)).unwrap().value.to_sat(),
        value - 1_000
    );
    assert!(lab.utxo(&coin).is_none());
}
