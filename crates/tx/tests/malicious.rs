//! Malicious and malformed PSBTs the signer's policy check must refuse, each with a message
//! naming the input or output at fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::str::FromStr;

use bitcoin::{
    bip32::{DerivationPath, Fingerprint, Xpriv, Xpub},
    psbt::{Psbt, PsbtSighashType},
    secp256k1::Secp256k1,
    Amount, ScriptBuf, TxOut,
};
use common::*;
use custos_tx::{
    build::{build_sweep, SweepParams},
    custody::Custody,
    plan::PlanParams,
    psbt_io::{parse_any, parse_binary},
    verify::{verify_psbt, VerifyOptions},
    Error, Refusal,
};

fn honest() -> (Psbt, Custody) {
    let policy = custody_policy("wsh");
    let custody = Custody::from_policy(&policy).unwrap();
    let sweep = build_sweep(
        &mixed_inventory(),
        &policy,
        &SweepParams {
            plan: PlanParams::new(custos_tx::weight::FeeRate(2_000)),
            tip_height: 500,
        },
    )
    .unwrap();
    (sweep.txs[0].psbt.clone(), custody)
}

fn refusal(p: &Psbt, c: &Custody, opts: &VerifyOptions) -> (Refusal, String) {
    match verify_psbt(p, c, opts) {
        Err(Error::Refused(r)) => {
            let text = r.to_string();
            (r, text)
        }
        Err(e) => panic!("expected a refusal, got error {e}"),
        Ok(r) => panic!("expected a refusal, got a pass: {}", r.to_text()),
    }
}

fn refuse(p: &Psbt, c: &Custody) -> (Refusal, String) {
    refusal(p, c, &VerifyOptions::default())
}

fn attacker_script() -> ScriptBuf {
    ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap()
}

#[test]
fn honest_sweep_passes() {
    let (p, c) = honest();
    let r = verify_psbt(&p, &c, &VerifyOptions::default()).unwrap();
    assert_eq!(r.outputs.len(), 1);
    assert_eq!(r.outputs[0].custody_index, Some(3));
    assert!(r.to_text().contains("CUSTODY 0/3"));
}

#[test]
fn refuses_extra_output_to_a_foreign_address() {
    let (mut p, c) = honest();
    p.unsigned_tx.output[0].value -= Amount::from_sat(50_000);
    p.unsigned_tx.output.push(TxOut {
        value: Amount::from_sat(50_000),
        script_pubkey: attacker_script(),
    });
    p.outputs.push(Default::default());
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(r, Refusal::OutputNotCustody { index: 1, .. }),
        "{t}"
    );
    assert!(t.contains("output 1"), "{t}");
}

#[test]
fn refuses_change_to_an_unknown_key() {
    let (mut p, c) = honest();
    // Output claims to be change of a wallet whose key is not in the policy.
    let secp = Secp256k1::new();
    let stranger = Xpriv::new_master(NET, &[0x66; 32]).unwrap();
    let path = DerivationPath::from_str("m/48'/1'/0'/2'/1/0").unwrap();
    let k = stranger
        .derive_priv(&secp, &path)
        .unwrap()
        .private_key
        .public_key(&secp);
    p.unsigned_tx.output[0].value -= Amount::from_sat(40_000);
    p.unsigned_tx.output.push(TxOut {
        value: Amount::from_sat(40_000),
        script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::CompressedPublicKey(k).wpubkey_hash()),
    });
    let mut o = bitcoin::psbt::Output::default();
    o.bip32_derivation
        .insert(k, (stranger.fingerprint(&secp), path));
    p.outputs.push(o);
    let (_, t) = refuse(&p, &c);
    assert!(
        t.contains("output 1") && t.contains("no derivation from a custody key"),
        "{t}"
    );
}

#[test]
fn refuses_output_swapped_after_review() {
    // The custody derivation is left in place, only the script is swapped.
    let (mut p, c) = honest();
    p.unsigned_tx.output[0].script_pubkey = attacker_script();
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(r, Refusal::OutputNotCustody { index: 0, .. }),
        "{t}"
    );
    assert!(
        t.contains("script differs from the custody address at 0/3"),
        "{t}"
    );
}

#[test]
fn refuses_output_swapped_to_another_custody_index_claim() {
    // Script of custody index 7 but a derivation claiming index 3: re-derivation catches it.
    let (mut p, c) = honest();
    p.unsigned_tx.output[0].script_pubkey = c.script_at(1, 3).unwrap();
    let (_, t) = refuse(&p, &c);
    assert!(t.contains("output 0"), "{t}");
}

#[test]
fn refuses_custody_output_far_beyond_next_index() {
    let (mut p, c) = honest();
    let far = c.at(0, 50_000).unwrap();
    use miniscript::psbt::PsbtOutputExt;
    p.unsigned_tx.output[0].script_pubkey = far.script_pubkey();
    p.outputs[0] = Default::default();
    p.outputs[0].update_with_descriptor_unchecked(&far).unwrap();
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(
            r,
            Refusal::OutputIndexOutOfRange {
                index: 0,
                child: 50_000,
                ..
            }
        ),
        "{t}"
    );
}

#[test]
fn refuses_inflated_witness_utxo() {
    let (mut p, c) = honest();
    let i = p
        .inputs
        .iter()
        .position(|i| i.witness_utxo.is_some() && i.non_witness_utxo.is_some())
        .unwrap();
    let w = p.inputs[i].witness_utxo.as_mut().unwrap();
    w.value += Amount::from_sat(1_000_000);
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(r, Refusal::WitnessUtxoMismatch { index, .. } if index == i),
        "{t}"
    );
    assert!(t.contains(&format!("input {i}")), "{t}");
}

#[test]
fn refuses_witness_utxo_with_another_script() {
    let (mut p, c) = honest();
    let i = p
        .inputs
        .iter()
        .position(|i| i.witness_utxo.is_some() && i.non_witness_utxo.is_some())
        .unwrap();
    p.inputs[i].witness_utxo.as_mut().unwrap().script_pubkey = attacker_script();
    let (_, t) = refuse(&p, &c);
    assert!(
        t.contains(&format!("input {i}")) && t.contains("disagrees"),
        "{t}"
    );
}

#[test]
fn refuses_segwit_v0_input_without_non_witness_utxo() {
    let (mut p, c) = honest();
    let i = p
        .inputs
        .iter()
        .position(|i| {
            i.witness_utxo
                .as_ref()
                .is_some_and(|w| w.script_pubkey.is_p2wpkh())
        })
        .unwrap();
    p.inputs[i].non_witness_utxo = None;
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(r, Refusal::MissingNonWitnessUtxo { index, .. } if index == i),
        "{t}"
    );
}

#[test]
fn refuses_non_witness_utxo_of_another_transaction() {
    let (mut p, c) = honest();
    let other = p.inputs[1]
        .non_witness_utxo
        .clone()
        .or_else(|| p.inputs[2].non_witness_utxo.clone())
        .unwrap();
    let i = p
        .inputs
        .iter()
        .position(|i| i.non_witness_utxo.is_some() && i.non_witness_utxo.as_ref() != Some(&other))
        .unwrap();
    p.inputs[i].non_witness_utxo = Some(other);
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(r, Refusal::NonWitnessUtxoTxid { index, .. } if index == i),
        "{t}"
    );
}

#[test]
fn refuses_input_without_any_utxo() {
    let (mut p, c) = honest();
    p.inputs[0].non_witness_utxo = None;
    p.inputs[0].witness_utxo = None;
    let (r, t) = refuse(&p, &c);
    assert!(matches!(r, Refusal::MissingUtxo { index: 0, .. }), "{t}");
}

fn with_sighash(raw: u32) -> (Refusal, String) {
    let (mut p, c) = honest();
    p.inputs[2].sighash_type = Some(PsbtSighashType::from_u32(raw));
    let out = refuse(&p, &c);
    assert!(out.1.contains("input 2"), "{}", out.1);
    out
}

#[test]
fn refuses_sighash_none() {
    let (_, t) = with_sighash(0x02);
    assert!(t.contains("SIGHASH_NONE"), "{t}");
}

#[test]
fn refuses_sighash_single() {
    let (_, t) = with_sighash(0x03);
    assert!(t.contains("SIGHASH_SINGLE"), "{t}");
}

#[test]
fn refuses_sighash_all_anyonecanpay() {
    let (_, t) = with_sighash(0x81);
    assert!(t.contains("ANYONECANPAY"), "{t}");
}

#[test]
fn allows_sighash_only_when_explicitly_allowed() {
    let (mut p, c) = honest();
    p.inputs[2].sighash_type = Some(PsbtSighashType::from_u32(0x82));
    let opts = VerifyOptions {
        allowed_sighash: vec![PsbtSighashType::from_u32(0x82)],
        ..VerifyOptions::default()
    };
    verify_psbt(&p, &c, &opts).unwrap();
    p.inputs[2].sighash_type = Some(PsbtSighashType::from_u32(0x83));
    refusal(&p, &c, &opts);
}

#[test]
fn refuses_duplicate_input() {
    let (mut p, c) = honest();
    let dup = p.unsigned_tx.input[0].clone();
    p.unsigned_tx.input.push(dup);
    p.inputs.push(p.inputs[0].clone());
    let (r, t) = refuse(&p, &c);
    assert!(
        matches!(
            r,
            Refusal::DuplicateInput {
                index: 6,
                first: 0,
                ..
            }
        ),
        "{t}"
    );
}

#[test]
fn refuses_fee_above_absolute_cap() {
    let (p, c) = honest();
    let opts = VerifyOptions {
        fee_cap: Amount::from_sat(100),
        ..VerifyOptions::default()
    };
    let (r, _) = refusal(&p, &c, &opts);
    assert!(matches!(r, Refusal::FeeAboveCap { cap, .. } if cap == Amount::from_sat(100)));
}

#[test]
fn refuses_fee_rate_above_cap() {
    // The attacker lowers the custody output: the difference goes to the miner.
    let (mut p, c) = honest();
    p.unsigned_tx.output[0].value -= Amount::from_sat(200_000);
    let opts = VerifyOptions {
        fee_cap: Amount::MAX,
        fee_rate_cap: custos_tx::weight::FeeRate(100_000),
        ..VerifyOptions::default()
    };
    let (r, _) = refusal(&p, &c, &opts);
    assert!(matches!(r, Refusal::FeeRateAboveCap { .. }));
}

#[test]
fn refuses_outputs_larger_than_inputs() {
    let (mut p, c) = honest();
    p.unsigned_tx.output[0].value = Amount::from_sat(10_000_000);
    let (r, _) = refuse(&p, &c);
    assert!(matches!(r, Refusal::NegativeFee { .. }));
}

#[test]
fn refuses_mainnet_global_xpub_on_a_regtest_policy() {
    let (mut p, c) = honest();
    let secp = Secp256k1::new();
    let main = Xpriv::new_master(bitcoin::Network::Bitcoin, &[0x10; 32]).unwrap();
    p.xpub.insert(
        Xpub::from_priv(&secp, &main),
        (Fingerprint::from([1, 2, 3, 4]), DerivationPath::master()),
    );
    let (r, t) = refuse(&p, &c);
    assert!(matches!(r, Refusal::NetworkMismatch { .. }), "{t}");
    assert!(t.contains("mainnet"), "{t}");
}

#[test]
fn refuses_psbt_with_zero_outputs() {
    let (mut p, c) = honest();
    p.unsigned_tx.output.clear();
    p.outputs.clear();
    let (r, _) = refuse(&p, &c);
    assert_eq!(r, Refusal::NoOutputs);
}

#[test]
fn rejects_trailing_bytes_after_the_psbt() {
    let (p, _) = honest();
    let mut bytes = p.serialize();
    bytes.extend_from_slice(b"\x00\x01");
    let e = parse_binary(&bytes).unwrap_err();
    assert!(e.to_string().contains("2 trailing byte"), "{e}");
    assert!(!e.is_refusal());
}

#[test]
fn rejects_truncated_and_garbled_psbts() {
    let (p, _) = honest();
    let bytes = p.serialize();
    for cut in [5, 40, bytes.len() / 2, bytes.len() - 1] {
        assert!(parse_binary(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut garbled = bytes.clone();
    garbled[4] = 0x00; // separator
    assert!(parse_binary(&garbled).is_err());
    let mut garbled = bytes;
    garbled[5] = 0xfe; // first key length: 4-byte length follows, far past the end
    assert!(parse_binary(&garbled).is_err());
    assert!(parse_any(b"cHNidP8BAHECAAAAAf//").is_err());
}

#[test]
fn refuses_taproot_policy_output_to_wsh_policy_signer() {
    // Same keyholders, but the output pays the taproot wallet: not the registered policy.
    let (mut p, c) = honest();
    let tr = Custody::from_policy(&custody_policy("tr")).unwrap();
    p.unsigned_tx.output[0].script_pubkey = tr.script_at(0, 3).unwrap();
    let (_, t) = refuse(&p, &c);
    assert!(t.contains("output 0"), "{t}");
}
