//! k-of-n assembly from key records made with the library: the taproot choice, refusals, and
//! the exports' shapes.

use std::str::FromStr;

use bitcoin::secp256k1::Secp256k1;
use custos_ceremony::assemble::{self, Request, NUMS_H};
use custos_ceremony::keys::{derive_account, ScriptKind};
use custos_ceremony::record::{self, CeremonyKey};
use custos_ceremony::verify::check_membership;
use custos_ceremony::{cbor, mnemonic};
use custos_core::{Network, Secret};

const CHALLENGE: &str = "test ceremony";

fn key(i: u8, network: Network, script: ScriptKind) -> CeremonyKey {
    let secp = Secp256k1::new();
    let m = mnemonic::from_entropy(&Secret::new(vec![i; 16])).unwrap();
    let seed = mnemonic::seed(&m, None);
    let acct = derive_account(&secp, &seed, network, &script.account_path(network)).unwrap();
    let g = record::make_record(
        &secp,
        &acct,
        network,
        script,
        &format!("k{i}"),
        CHALLENGE,
        "t",
    )
    .unwrap();
    let json = serde_json::to_string(&g.record).unwrap();
    record::load_key_text(&secp, &json, &format!("k{i}.json")).unwrap()
}

fn req(script: ScriptKind, k: usize) -> Request {
    Request {
        name: "vault".into(),
        network: Network::Regtest,
        script,
        threshold: k,
        allow_unproven: false,
        challenge: Some(CHALLENGE.into()),
    }
}

#[test]
fn taproot_choice_uses_nums_internal_key_and_multi_a() {
    let keys: Vec<_> = (1..=3)
        .map(|i| key(i, Network::Regtest, ScriptKind::Tr))
        .collect();
    assert!(keys.iter().all(|k| k.path_string() == "m/48'/1'/0'/3'"));
    let a = assemble::assemble(&req(ScriptKind::Tr, 2), keys.clone()).unwrap();
    let r = a.receive_string();
    assert!(r.starts_with(&format!("tr({NUMS_H},multi_a(2,")), "{r}");
    let addrs = a.receive_addresses(2).unwrap();
    assert!(addrs.iter().all(|x| x.starts_with("bcrt1p")), "{addrs:?}");
    // Coldcard's file format has no taproot: refused with a reason, not a wrong file.
    assert!(a.coldcard_text().is_err());
    // Every keyholder finds its key once and the same first address.
    for k in &keys {
        let m = check_membership(
            &a.receive,
            "vault",
            k.fingerprint,
            &k.path,
            &k.xpub,
            Network::Regtest,
            1,
        )
        .unwrap();
        assert_eq!(m.n, 3);
        assert_eq!(m.threshold, Some(2));
        assert_eq!(m.first_addresses[0], addrs[0]);
    }
}

#[test]
fn key_order_does_not_change_the_descriptor() {
    let keys: Vec<_> = (1..=3)
        .map(|i| key(i, Network::Regtest, ScriptKind::Wsh))
        .collect();
    let a = assemble::assemble(&req(ScriptKind::Wsh, 2), keys.clone()).unwrap();
    let mut rev = keys;
    rev.reverse();
    let b = assemble::assemble(&req(ScriptKind::Wsh, 2), rev).unwrap();
    assert_eq!(a.receive_string(), b.receive_string());
    assert_eq!(a.change_string(), b.change_string());
}

#[test]
fn refuses_same_master_key_twice_and_unproven_keys_unless_allowed() {
    let k1 = key(1, Network::Regtest, ScriptKind::Wsh);
    let k2 = key(2, Network::Regtest, ScriptKind::Wsh);
    // Same seed, another account: a different xpub but the same keyholder.
    let mut same_master = k1.clone();
    same_master.source = "again.json".into();
    same_master.xpub = k2.xpub;
    let e = assemble::assemble(
        &req(ScriptKind::Wsh, 2),
        vec![k1.clone(), k2.clone(), same_master],
    )
    .unwrap_err();
    assert!(e.to_string().contains("duplicate"), "{e}");
    let mut unproven = key(3, Network::Regtest, ScriptKind::Wsh);
    unproven.proof = record::ProofStatus::Unproven;
    unproven.source = "coldcard.json".into();
    let e = assemble::assemble(
        &req(ScriptKind::Wsh, 2),
        vec![k1.clone(), k2.clone(), unproven.clone()],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("coldcard.json") && e.to_string().contains("--allow-unproven"),
        "{e}"
    );
    let mut r = req(ScriptKind::Wsh, 2);
    r.allow_unproven = true;
    assemble::assemble(&r, vec![k1, k2, unproven]).unwrap();
}

#[test]
fn refuses_sh_wsh_keys_in_a_wsh_wallet_and_k_zero() {
    let k1 = key(1, Network::Regtest, ScriptKind::Wsh);
    let k2 = key(2, Network::Regtest, ScriptKind::ShWsh);
    let e = assemble::assemble(&req(ScriptKind::Wsh, 1), vec![k1.clone(), k2]).unwrap_err();
    assert!(
        e.to_string().contains("k2.json") && e.to_string().contains("sh-wsh"),
        "{e}"
    );
    let e = assemble::assemble(&req(ScriptKind::Wsh, 0), vec![k1]).unwrap_err();
    assert!(e.to_string().contains("k = 0"), "{e}");
}

#[test]
fn ur_output_descriptor_round_trips_and_animates_when_long() {
    let keys: Vec<_> = (1..=3)
        .map(|i| key(i, Network::Regtest, ScriptKind::Wsh))
        .collect();
    let a = assemble::assemble(&req(ScriptKind::Wsh, 2), keys).unwrap();
    let frames = a.ur_output_descriptor(2).unwrap();
    // ~400 bytes of descriptor: more than one 250-byte fragment, so animated.
    assert!(frames.len() >= 4, "{}", frames.len());
    let mut dec = ur::ur::Decoder::default();
    for f in &frames {
        assert!(f.starts_with("ur:output-descriptor/"), "{f}");
        dec.receive(f).unwrap();
        if dec.complete() {
            break;
        }
    }
    let payload = dec.message().unwrap().unwrap();
    let v = cbor::decode(&payload, "ur").unwrap();
    assert_eq!(
        v.get(1),
        Some(&cbor::Value::Text(a.multipath_string().unwrap()))
    );
    assert_eq!(v.get(3), Some(&cbor::Value::Text("vault".into())));
}

#[test]
fn ur_output_descriptor_carries_both_chains() {
    for script in [ScriptKind::Wsh, ScriptKind::Tr] {
        let keys: Vec<_> = (1..=3).map(|i| key(i, Network::Regtest, script)).collect();
        let a = assemble::assemble(&req(script, 2), keys).unwrap();
        let payload = a.ur_payload().unwrap();
        let v = cbor::decode(&payload, "ur").unwrap();
        let Some(cbor::Value::Text(text)) = v.get(1) else {
            panic!("no descriptor text in {v:?}");
        };
        // Every key carries `<0;1>/*`: a wallet scanning the QR watches receive and change.
        assert_eq!(text.matches("/<0;1>/*").count(), 3, "{text}");
        assert!(!text.contains("/0/*") && !text.contains("/1/*"), "{text}");
        let d = miniscript::Descriptor::<miniscript::DescriptorPublicKey>::from_str(text).unwrap();
        let singles = d.into_single_descriptors().unwrap();
        let got: Vec<String> = singles.iter().map(ToString::to_string).collect();
        assert_eq!(got, vec![a.receive_string(), a.change_string()]);
    }
}
