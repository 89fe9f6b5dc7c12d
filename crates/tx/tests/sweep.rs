//! Building, verifying, signing and finalizing sweeps end to end (offline).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bitcoin::{psbt::Psbt, Amount, Sequence};
use common::*;
use custos_tx::{
    build::{build_sweep, SweepParams},
    custody::Custody,
    plan::PlanParams,
    sign::{sign_psbt, SigningKeys},
    toolbox::{extract, finalize},
    verify::{verify_psbt, VerifyOptions},
    weight::{FeeRate, InputKind},
};

fn params(rate_kvb: u64) -> SweepParams {
    SweepParams {
        plan: PlanParams::new(FeeRate(rate_kvb)),
        tip_height: 321,
    }
}

#[test]
fn sweep_psbt_carries_everything_a_signer_needs() {
    let policy = custody_policy("wsh");
    let sweep = build_sweep(&mixed_inventory(), &policy, &params(5_000)).unwrap();
    assert_eq!(sweep.txs.len(), 1);
    let p = &sweep.txs[0].psbt;
    assert_eq!(p.unsigned_tx.lock_time.to_consensus_u32(), 321);
    assert_eq!(p.unsigned_tx.version.0, 2);
    for i in &p.unsigned_tx.input {
        assert_eq!(i.sequence, Sequence(0xfffffffd));
    }
    for (n, i) in p.inputs.iter().enumerate() {
        let spk = i
            .witness_utxo
            .as_ref()
            .map(|w| w.script_pubkey.clone())
            .unwrap_or_else(|| {
                let t = i.non_witness_utxo.as_ref().unwrap();
                t.output[p.unsigned_tx.input[n].previous_output.vout as usize]
                    .script_pubkey
                    .clone()
            });
        if spk.is_p2tr() {
            assert!(i.tap_internal_key.is_some() && !i.tap_key_origins.is_empty());
        } else {
            assert!(i.non_witness_utxo.is_some(), "input {n}");
            assert!(!i.bip32_derivation.is_empty(), "input {n}");
        }
        if !spk.is_p2pkh() {
            assert!(i.witness_utxo.is_some(), "input {n}");
        }
    }
    let o = &p.outputs[0];
    assert!(o.witness_script.is_some());
    assert_eq!(o.bip32_derivation.len(), 3);
    assert_eq!(p.xpub.len(), 3);
    assert_eq!(sweep.txs[0].summary.custody_index, policy.next_index);
    assert_eq!(sweep.next_index, policy.next_index + 1);
    let total: u64 = mixed_inventory().utxos.iter().map(|u| u.value.0).sum();
    assert_eq!(
        sweep.txs[0].summary.output_value + sweep.txs[0].summary.fee,
        Amount::from_sat(total)
    );
}

fn sign_finalize(psbt: &mut Psbt, keys: &SigningKeys) -> bitcoin::Transaction {
    let out = sign_psbt(psbt, keys).unwrap();
    assert!(
        out.unsigned_inputs.is_empty(),
        "unsigned: {:?}",
        out.unsigned_inputs
    );
    let f = finalize(psbt);
    assert!(f.complete, "{:?}", f.errors);
    extract(psbt).unwrap()
}

#[test]
fn signed_sweep_weighs_exactly_the_estimate_for_every_policy() {
    for kind in ["wsh", "tr"] {
        let policy = custody_policy(kind);
        let custody = Custody::from_policy(&policy).unwrap();
        let mut sweep = build_sweep(&mixed_inventory(), &policy, &params(2_000)).unwrap();
        let tx0 = &mut sweep.txs[0];
        let review = verify_psbt(&tx0.psbt, &custody, &VerifyOptions::default()).unwrap();
        assert_eq!(review.fee, tx0.summary.fee);
        assert_eq!(review.weight, tx0.summary.weight);
        let tx = sign_finalize(&mut tx0.psbt, &seized_keys());
        assert_eq!(tx.weight(), tx0.summary.weight, "{kind}");
        assert_eq!(tx.output[0].value, tx0.summary.output_value);
    }
}

#[test]
fn large_inventory_splits_into_standard_transactions() {
    let utxos = (0..1600)
        .map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000 + u64::from(i)))
        .collect();
    let inv = inventory(utxos);
    let policy = custody_policy("wsh");
    let mut sweep = build_sweep(&inv, &policy, &params(1_000)).unwrap();
    assert_eq!(sweep.txs.len(), 2);
    let keys = seized_keys();
    let mut swept = 0;
    for (n, t) in sweep.txs.iter_mut().enumerate() {
        assert_eq!(t.summary.custody_index, policy.next_index + n as u32);
        let tx = sign_finalize(&mut t.psbt, &keys);
        // low-R signatures are 71 bytes, except when R or S happens to be shorter still
        // (about 1 in 128 signatures): the estimate is an exact upper bound.
        let w = tx.weight().to_wu();
        let summary_wu = t.summary.weight.to_wu();
        assert!(
            w <= summary_wu && w + 40 >= summary_wu,
            "{w} vs {}",
            t.summary.weight
        );
        assert!(w <= 400_000);
        swept += tx.input.len();
    }
    assert_eq!(swept, 1600);
}

#[test]
fn uneconomic_utxos_are_reported_not_spent() {
    let inv = inventory(vec![
        inventory_utxo(InputKind::P2wpkh, 0, 100_000),
        inventory_utxo(InputKind::P2wpkh, 1, 600),
        inventory_utxo(InputKind::P2pkhUncompressed, 0, 1_500),
    ]);
    // 10 sat/vB: p2wpkh input costs 678 sat, uncompressed p2pkh 1791 sat.
    let sweep = build_sweep(&inv, &custody_policy("wsh"), &params(10_000)).unwrap();
    assert_eq!(sweep.left_out().len(), 2);
    assert_eq!(sweep.plan.left_out_total, Amount::from_sat(2_100));
    assert_eq!(sweep.txs[0].psbt.unsigned_tx.input.len(), 1);
}

#[test]
fn refuses_inventory_whose_prev_tx_does_not_match() {
    let mut inv = mixed_inventory();
    inv.utxos[0].value = custos_core::Sat(150_001);
    let e = build_sweep(&inv, &custody_policy("wsh"), &params(1_000)).unwrap_err();
    assert!(e.to_string().contains(&inv.utxos[0].outpoint), "{e}");
}

fn custody_spend(kind: &str) -> Psbt {
    // A custody UTXO at receive index 0 moved to receive index 4 (custody consolidation).
    use bitcoin::{OutPoint, ScriptBuf, Transaction, TxIn, TxOut, Witness};
    use miniscript::psbt::{PsbtInputExt, PsbtOutputExt};
    let policy = custody_policy(kind);
    let c = Custody::from_policy(&policy).unwrap();
    let from = c.at(0, 0).unwrap();
    let to = c.at(0, 4).unwrap();
    let fund = funding_tx(9_999, from.script_pubkey(), 500_000, 1);
    let tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::from_height(300).unwrap(),
        input: vec![TxIn {
            previous_output: OutPoint::new(fund.compute_txid(), 1),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(499_000),
            script_pubkey: to.script_pubkey(),
        }],
    };
    let mut p = Psbt::from_unsigned_tx(tx).unwrap();
    p.inputs[0].witness_utxo = Some(fund.output[1].clone());
    p.inputs[0].non_witness_utxo = Some(fund);
    p.inputs[0].update_with_descriptor_unchecked(&from).unwrap();
    p.outputs[0].update_with_descriptor_unchecked(&to).unwrap();
    p.xpub = c.global_xpubs();
    p
}

#[test]
fn keyholders_cosign_custody_multisig_in_two_rounds() {
    for kind in ["wsh", "tr"] {
        let c = Custody::from_policy(&custody_policy(kind)).unwrap();
        let base = custody_spend(kind);
        verify_psbt(&base, &c, &VerifyOptions::default()).unwrap();
        // keyholder 0 and keyholder 2 sign separate copies; the combiner merges them.
        let mut a = base.clone();
        let mut k0 = SigningKeys::new();
        k0.add_master(keyholder(0));
        assert_eq!(sign_psbt(&mut a, &k0).unwrap().signatures, 1);
        let mut one = a.clone();
        assert!(
            !finalize(&mut one).complete,
            "{kind}: one signature must not finalize"
        );
        let mut b = base.clone();
        let mut k2 = SigningKeys::new();
        k2.add_master(keyholder(2));
        assert_eq!(sign_psbt(&mut b, &k2).unwrap().signatures, 1);
        let mut both = custos_tx::toolbox::combine(vec![a, b]).unwrap();
        assert!(finalize(&mut both).complete, "{kind}");
        let tx = extract(&both).unwrap();
        assert_eq!(tx.input.len(), 1);
    }
}

#[test]
fn keys_that_are_not_in_the_psbt_sign_nothing() {
    let policy = custody_policy("wsh");
    let mut sweep = build_sweep(&mixed_inventory(), &policy, &params(1_000)).unwrap();
    let mut k = SigningKeys::new();
    k.add_master(keyholder(1));
    let out = sign_psbt(&mut sweep.txs[0].psbt, &k).unwrap();
    assert_eq!(out.signatures, 0);
    assert_eq!(out.unsigned_inputs.len(), 6);
}

#[test]
fn refuses_derivation_claiming_a_foreign_pubkey() {
    // 100 inputs: the parallel signing path. Input 5's derivation names our path but another
    // key: issue 15 item 3 makes this an error naming the input (it was a silent "unsigned").
    let inv = inventory(
        (0..100)
            .map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000))
            .collect(),
    );
    let mut sweep = build_sweep(&inv, &custody_policy("wsh"), &params(1_000)).unwrap();
    let p = &mut sweep.txs[0].psbt;
    let (pk, src) = p.inputs[5].bip32_derivation.pop_first().unwrap();
    let (other, _) = p.inputs[6]
        .bip32_derivation
        .first_key_value()
        .map(|(k, v)| (*k, v.clone()))
        .unwrap();
    assert_ne!(pk, other);
    p.inputs[5].bip32_derivation.insert(other, src);
    let before = p.clone();
    let e = sign_psbt(p, &seized_keys()).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(
        matches!(
            e,
            custos_tx::Error::Refused(custos_tx::Refusal::KeyMismatch { index: 5, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("input 5"), "{e}");
    // nothing of the failed run is kept
    assert_eq!(*p, before);
}

#[test]
fn refuses_derivation_path_that_derives_another_key_in_the_parallel_path() {
    // Input 5 keeps its real key but claims input 6's path: the derived key differs, found by
    // the deferred check inside the signing threads (100 inputs).
    let inv = inventory(
        (0..100)
            .map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000))
            .collect(),
    );
    let mut sweep = build_sweep(&inv, &custody_policy("wsh"), &params(1_000)).unwrap();
    let p = &mut sweep.txs[0].psbt;
    let src6 = p.inputs[6]
        .bip32_derivation
        .values()
        .next()
        .unwrap()
        .clone();
    let pk5 = *p.inputs[5].bip32_derivation.keys().next().unwrap();
    p.inputs[5].bip32_derivation.insert(pk5, src6);
    let e = sign_psbt(p, &seized_keys()).unwrap_err();
    assert!(
        matches!(
            e,
            custos_tx::Error::Refused(custos_tx::Refusal::KeyMismatch { index: 5, .. })
        ),
        "{e}"
    );
    assert!(p.inputs.iter().all(|i| i.partial_sigs.is_empty()));
}
