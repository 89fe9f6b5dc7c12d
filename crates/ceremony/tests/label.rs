//! The keyholder label of a JSON key record is covered by the proof of possession or not
//! carried into the custody policy (issue 10 item 6).

use bitcoin::secp256k1::Secp256k1;
use custos_ceremony::assemble::{self, Request};
use custos_ceremony::keys::{derive_account, AccountKey, ScriptKind};
use custos_ceremony::record::{self, KeyRecord};
use custos_ceremony::{bip322, mnemonic, Error};
use custos_core::{Network, Secret};

const CHALLENGE: &str = "label ceremony";

fn account(i: u8) -> AccountKey {
    let secp = Secp256k1::new();
    let m = mnemonic::from_entropy(&Secret::new(vec![i; 16])).unwrap();
    let seed = mnemonic::seed(&m, None);
    let path = ScriptKind::Wsh.account_path(Network::Regtest);
    derive_account(&secp, &seed, Network::Regtest, &path).unwrap()
}

fn made(i: u8) -> KeyRecord {
    let secp = Secp256k1::new();
    record::make_record(
        &secp,
        &account(i),
        Network::Regtest,
        ScriptKind::Wsh,
        &format!("holder {i}"),
        CHALLENGE,
        "t",
    )
    .unwrap()
    .record
}

fn load(r: &KeyRecord, file: &str) -> Result<record::CeremonyKey, Error> {
    let secp = Secp256k1::verification_only();
    record::load_key_text(&secp, &serde_json::to_string(r).unwrap(), file)
}

fn policy_labels(keys: Vec<record::CeremonyKey>) -> Vec<String> {
    let req = Request {
        name: "vault".into(),
        network: Network::Regtest,
        script: ScriptKind::Wsh,
        threshold: 2,
        allow_unproven: true,
        challenge: Some(CHALLENGE.into()),
    };
    let a = assemble::assemble(&req, keys).unwrap();
    let mut l: Vec<String> = a.policy(None).keys.into_iter().map(|k| k.label).collect();
    l.sort();
    l
}

#[test]
fn proof_of_possession_covers_the_label() {
    let r = made(1);
    assert!(r
        .proof
        .as_ref()
        .unwrap()
        .message
        .ends_with("\nlabel: holder 1"));
    assert_eq!(load(&r, "k1.json").unwrap().label, "holder 1");
}

#[test]
fn refuses_a_key_record_whose_label_was_changed_after_signing() {
    let mut r = made(1);
    r.label = "holder 3".into();
    let e = load(&r, "renamed.json").unwrap_err();
    assert!(matches!(e, Error::ProofRefused { .. }), "{e:?}");
    assert!(e.to_string().contains("renamed.json"), "{e}");
    // Changing the signed message along with the label breaks the signature instead.
    let p = r.proof.as_mut().unwrap();
    p.message = p.message.replace("holder 1", "holder 3");
    let e = load(&r, "renamed.json").unwrap_err();
    assert!(matches!(e, Error::ProofRefused { .. }), "{e:?}");
}

#[test]
fn label_not_covered_by_the_proof_is_not_carried_into_the_policy() {
    let secp = Secp256k1::new();
    // A record whose proof signs the message without the label line: the key is proven, the
    // label is not, so it loads empty.
    let acct = account(2);
    let mut legacy = made(2);
    let key_expr = format!(
        "[{}/{}]{}",
        legacy.fingerprint,
        legacy.path.trim_start_matches("m/"),
        legacy.xpub
    );
    let msg = record::legacy_proof_message(CHALLENGE, &key_expr);
    let sig = bip322::sign_simple_p2wpkh(&secp, &acct.secret, msg.as_bytes()).unwrap();
    let p = legacy.proof.as_mut().unwrap();
    p.message = msg;
    p.signature = sig;
    legacy.label = "treasury cold key".into();
    let k2 = load(&legacy, "k2.json").unwrap();
    assert!(matches!(k2.proof, record::ProofStatus::Bip322 { .. }));
    assert_eq!(k2.label, "");
    // A record without any proof: its label is not carried either.
    let mut unproven = made(3);
    unproven.proof = None;
    unproven.label = "holder 1".into();
    let k3 = load(&unproven, "k3.json").unwrap();
    let k1 = load(&made(1), "k1.json").unwrap();
    assert_eq!(policy_labels(vec![k1, k2, k3]), vec!["", "", "holder 1"]);
}
