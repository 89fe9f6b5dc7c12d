//! Disposal authorities and orders through the real binaries, offline: `custos disposal
//! authority add` writes a new policy only from records whose proof of possession verifies
//! (exit 1 naming the address otherwise) and never over a file; every keyholder's `custos-signer
//! ceremony verify` accepts that policy and refuses one whose authority was added by hand; a
//! malformed order exits 2 naming its file.

use custos_testkit::custody::{add_authorities, authority, ceremony};
use custos_testkit::{bins, run, s};

#[test]
fn authority_add_checks_each_proof_and_keyholders_refuse_a_hand_edited_authority() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = bins!();
    let wallet = ceremony(&b, d, "wsh", "custody", 1, None);
    let auth = authority(&b, d, 0x41, "public prosecutor, case desk");
    let policy = add_authorities(&b, &wallet.policy, &[&auth.record], None);
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&policy).unwrap()).unwrap();
    assert_eq!(p["authorities"][0]["address"], auth.address.as_str());
    assert_eq!(p["authorities"][0]["label"], "public prosecutor, case desk");
    assert!(!p["authorities"][0]["proof"].as_str().unwrap().is_empty());
    let verify = |policy: &std::path::Path| {
        run(b.signer().args([
            "ceremony",
            "verify",
            s(policy),
            "--key-record",
            s(&wallet.holders[0].record),
        ]))
    };
    let (code, out, err) = verify(&policy);
    assert_eq!(code, 0, "{out}{err}");

    // never over an existing file
    let (code, _, err) = run(b.custos().args([
        "--network",
        "regtest",
        "disposal",
        "authority",
        "add",
        "--policy",
        s(&wallet.policy),
        s(&auth.record),
        "--out",
        s(&policy),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");

    // a record whose proof is another key's: refused, naming the address
    let other = authority(&b, d, 0x42, "someone");
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&other.record).unwrap()).unwrap();
    forged["address"] = auth.address.clone().into();
    forged["label"] = "someone".into();
    let forged_file = d.join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let out = d.join("forged-policy.json");
    let (code, _, err) = run(b.custos().args([
        "--network",
        "regtest",
        "disposal",
        "authority",
        "add",
        "--policy",
        s(&wallet.policy),
        s(&forged_file),
        "--out",
        s(&out),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&auth.address) && err.contains("does not verify"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");

    // an authority added by hand (no proof): the keyholder's signer refuses the policy
    let mut hand: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&wallet.policy).unwrap()).unwrap();
    hand["authorities"] = serde_json::json!([{"label": "x", "address": other.address}]);
    let hand_file = d.join("hand-edited-policy.json");
    std::fs::write(&hand_file, hand.to_string()).unwrap();
    let (code, out, err) = verify(&hand_file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&other.address) && err.contains("no proof of possession"),
        "{err}"
    );
}

#[test]
fn malformed_order_exits_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let b = bins!();
    let policy = d.join("policy.json");
    std::fs::write(&policy, "{}").unwrap();
    let cases = [
        ("garbage.json", "not json".to_string()),
        (
            "unknown-field.json",
            serde_json::json!({"format": "custos-disposal-order-v1", "wire_to": "x"}).to_string(),
        ),
    ];
    for (name, text) in cases {
        let f = d.join(name);
        std::fs::write(&f, text).unwrap();
        let (code, _, err) =
            run(b
                .custos()
                .args(["disposal", "order", "verify", s(&f), "--policy", s(&policy)]));
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }
}
