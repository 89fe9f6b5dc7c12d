//! Issue 10 item 2: the signer's checks beyond "every output pays custody". Each test makes an
//! honest sweep PSBT dishonest in one way and expects a refusal (exit 1 in the signer) naming
//! the input, output or field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bitcoin::{
    absolute::LockTime,
    hashes::Hash,
    psbt::Psbt,
    secp256k1::{Message, Secp256k1, SecretKey},
    Amount, ScriptBuf,
};
use common::*;
use custos_tx::{
    build::{build_sweep, SweepParams},
    custody::Custody,
    plan::PlanParams,
    sign::sign_psbt,
    verify::{verify_psbt, VerifyOptions},
    weight::FeeRate,
    Error, Refusal,
};

fn honest(kind: &str) -> (Psbt, Custody) {
    let policy = custody_policy(kind);
    let custody = Custody::from_policy(&policy).unwrap();
    let sweep = build_sweep(
        &mixed_inventory(),
        &policy,
        &SweepParams {
            plan: PlanParams::new(FeeRate(2_000)),
            tip_height: 500,
        },
    )
    .unwrap();
    (sweep.txs[0].psbt.clone(), custody)
}

fn refused(p: &Psbt, c: &Custody, opts: &VerifyOptions) -> (Refusal, String) {
    match verify_psbt(p, c, opts) {
        Err(e @ Error::Refused(_)) => {
            assert!(e.is_refusal());
            let text = e.to_string();
            match e {
                Error::Refused(r) => (r, text),
                _ => unreachable!(),
            }
        }
        Err(e) => panic!("expected a refusal, got error {e}"),
        Ok(r) => panic!("expected a refusal, got a pass: {}", r.to_text()),
    }
}

fn tr_input(p: &Psbt) -> usize {
    p.inputs
        .iter()
        .position(|i| i.tap_internal_key.is_some())
        .unwrap()
}

const NOW: u64 = 1_764_115_200; // 2025-11-26 00:00:00 UTC

fn at_now() -> VerifyOptions {
    VerifyOptions {
        now_unix: Some(NOW),
        ..VerifyOptions::default()
    }
}

#[test]
fn refuses_height_lock_time_far_beyond_the_psbt_context_unless_allowed() {
    let (mut p, c) = honest("wsh");
    let r = verify_psbt(&p, &c, &at_now()).unwrap();
    assert_eq!(r.lock_time, "not before block height 500");
    assert!(r
        .to_text()
        .contains("lock time: not before block height 500"));
    p.unsigned_tx.lock_time = LockTime::from_height(5_000).unwrap();
    let (r, t) = refused(&p, &c, &at_now());
    assert!(matches!(r, Refusal::FarLockTime { .. }), "{t}");
    assert!(t.contains("block height 5000") && t.contains("1000"), "{t}");
    // After review: allowed explicitly, or a known tip that makes it near.
    let allow = VerifyOptions {
        allow_far_lock_time: true,
        ..at_now()
    };
    assert!(verify_psbt(&p, &c, &allow).is_ok());
    let tip = VerifyOptions {
        tip_height: Some(4_500),
        ..at_now()
    };
    assert!(verify_psbt(&p, &c, &tip).is_ok());
}

#[test]
fn refuses_time_lock_time_more_than_a_day_ahead() {
    let (mut p, c) = honest("wsh");
    let t = u32::try_from(NOW + 2 * 86_400).unwrap();
    p.unsigned_tx.lock_time = LockTime::from_time(t).unwrap();
    let (r, text) = refused(&p, &c, &at_now());
    assert!(matches!(r, Refusal::FarLockTime { .. }), "{text}");
    assert!(text.contains("2025-11-28 00:00:00 UTC"), "{text}");
    let soon = u32::try_from(NOW + 3_600).unwrap();
    p.unsigned_tx.lock_time = LockTime::from_time(soon).unwrap();
    let r = verify_psbt(&p, &c, &at_now()).unwrap();
    assert!(
        r.lock_time.contains("2025-11-26 01:00:00 UTC"),
        "{}",
        r.lock_time
    );
}

#[test]
fn refuses_output_below_its_dust_limit() {
    let (mut p, c) = honest("wsh");
    p.unsigned_tx.output[0].value = Amount::from_sat(329);
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::OutputBelowDust { index: 0, .. }),
        "{t}"
    );
    assert!(t.contains("330"), "{t}");
}

#[test]
fn refuses_output_witness_script_that_does_not_hash_to_the_output() {
    let (mut p, c) = honest("wsh");
    p.outputs[0].witness_script = Some(ScriptBuf::from_bytes(vec![0x51]));
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(
            r,
            Refusal::OutputMetadata {
                index: 0,
                field: "witness_script",
                ..
            }
        ),
        "{t}"
    );
}

#[test]
fn refuses_output_bip32_derivation_whose_key_is_not_derived_there() {
    // The origins still name the right index, but one key is another custody key's.
    let (mut p, c) = honest("wsh");
    let other = p
        .inputs
        .iter()
        .find_map(|i| i.bip32_derivation.keys().next().copied())
        .unwrap();
    let (k, src) = p.outputs[0].bip32_derivation.pop_first().unwrap();
    assert_ne!(k, other);
    p.outputs[0].bip32_derivation.insert(other, src);
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(
            r,
            Refusal::OutputMetadata {
                index: 0,
                field: "bip32_derivation",
                ..
            }
        ),
        "{t}"
    );
}

#[test]
fn refuses_output_tap_bip32_derivation_whose_key_is_not_derived_there() {
    let (mut p, c) = honest("tr");
    let foreign = SecretKey::from_slice(&[0x33; 32])
        .unwrap()
        .x_only_public_key(&Secp256k1::new())
        .0;
    let (x, entry) = p.outputs[0]
        .tap_key_origins
        .iter()
        .find(|(_, (leaves, _))| !leaves.is_empty())
        .map(|(x, e)| (*x, e.clone()))
        .unwrap();
    p.outputs[0].tap_key_origins.remove(&x);
    p.outputs[0].tap_key_origins.insert(foreign, entry);
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(
            r,
            Refusal::OutputMetadata {
                index: 0,
                field: "tap_bip32_derivation",
                ..
            }
        ),
        "{t}"
    );
}

#[test]
fn refuses_another_cosigners_partial_signature_that_does_not_verify() {
    let (mut p, c) = honest("wsh");
    sign_psbt(&mut p, &seized_keys()).unwrap();
    assert!(
        verify_psbt(&p, &c, &at_now()).is_ok(),
        "honest signatures verify"
    );
    let secp = Secp256k1::new();
    let forged = secp.sign_ecdsa(
        &Message::from_digest([7; 32]),
        &SecretKey::from_slice(&[9; 32]).unwrap(),
    );
    let i = p
        .inputs
        .iter()
        .position(|i| !i.partial_sigs.is_empty())
        .unwrap();
    let (_, sig) = p.inputs[i].partial_sigs.iter_mut().next().unwrap();
    sig.signature = forged;
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::BadPartialSignature { index, .. } if index == i),
        "{t}"
    );
}

#[test]
fn refuses_taproot_key_signature_that_does_not_verify() {
    let (mut p, c) = honest("wsh");
    sign_psbt(&mut p, &seized_keys()).unwrap();
    let i = tr_input(&p);
    let sig = p.inputs[i].tap_key_sig.as_mut().unwrap();
    let mut bytes = sig.signature.serialize();
    bytes[5] ^= 1;
    sig.signature = bitcoin::secp256k1::schnorr::Signature::from_slice(&bytes).unwrap();
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::BadPartialSignature { index, .. } if index == i),
        "{t}"
    );
}

#[test]
fn refuses_amount_above_21_million_btc_naming_it() {
    let (mut p, c) = honest("wsh");
    p.unsigned_tx.output[0].value = Amount::MAX_MONEY + Amount::from_sat(1);
    let (r, t) = refused(&p, &c, &at_now());
    assert!(matches!(r, Refusal::AmountOutOfRange { .. }), "{t}");
    assert!(t.contains("output 0"), "{t}");
    let (mut p, c) = honest("wsh");
    let i = tr_input(&p);
    p.inputs[i].witness_utxo.as_mut().unwrap().value = Amount::from_sat(u64::MAX);
    let (r, t) = refused(&p, &c, &at_now());
    assert!(matches!(r, Refusal::AmountOutOfRange { .. }), "{t}");
    assert!(t.contains(&format!("input {i}")), "{t}");
}

#[test]
fn refuses_input_sum_above_21_million_btc() {
    let (mut p, c) = honest("wsh");
    let i = tr_input(&p);
    p.inputs[i].witness_utxo.as_mut().unwrap().value = Amount::MAX_MONEY;
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::AmountSumOutOfRange { what: "inputs" }),
        "{t}"
    );
}

#[test]
fn refuses_taproot_merkle_root_that_contradicts_the_output_key() {
    let (mut p, c) = honest("wsh");
    let i = tr_input(&p);
    p.inputs[i].tap_merkle_root = Some(bitcoin::TapNodeHash::from_byte_array([5; 32]));
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::TaprootMismatch { index, .. } if index == i),
        "{t}"
    );
    // The signer refuses it as well (a refusal, exit 1; it was an input error, exit 2).
    let e = sign_psbt(&mut p, &seized_keys()).unwrap_err();
    assert!(e.is_refusal(), "{e}");
}

#[test]
fn refuses_taproot_leaf_hash_that_is_none_of_the_inputs_scripts() {
    let (mut p, c) = honest("wsh");
    let i = tr_input(&p);
    let (_, (leaves, _)) = p.inputs[i].tap_key_origins.iter_mut().next().unwrap();
    leaves.push(bitcoin::TapLeafHash::from_byte_array([6; 32]));
    let (r, t) = refused(&p, &c, &at_now());
    assert!(
        matches!(r, Refusal::TaprootMismatch { index, .. } if index == i),
        "{t}"
    );
    assert!(t.contains("tap_bip32_derivation"), "{t}");
}
