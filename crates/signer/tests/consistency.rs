//! Consistency of `custos-signer ceremony verify` with `sign` (issue 10 item 6): a custody
//! policy for another network than the keyholder's key record is another wallet, refused with
//! exit 1 whatever its descriptor says.

use std::path::{Path, PathBuf};

use bitcoin::secp256k1::Secp256k1;
use custos_ceremony::assemble::{self, Request};
use custos_ceremony::keys::{derive_account, ScriptKind};
use custos_ceremony::{mnemonic, record};
use custos_core::{Network, Secret};
use custos_testkit::{run, scratch, signer_bin};

const CHALLENGE: &str = "consistency ceremony";

/// Writes keyholder `i`'s JSON key record for `network` (made with the library, as
/// `key generate` does); returns its path.
fn key_record(dir: &Path, i: u8, network: Network) -> PathBuf {
    let secp = Secp256k1::new();
    let m = mnemonic::from_entropy(&Secret::new(vec![i; 16])).unwrap();
    let seed = mnemonic::seed(&m, None);
    let path = ScriptKind::Wsh.account_path(network);
    let acct = derive_account(&secp, &seed, network, &path).unwrap();
    let g = record::make_record(
        &secp,
        &acct,
        network,
        ScriptKind::Wsh,
        &format!("holder {i}"),
        CHALLENGE,
        "2026-11-26T00:00:00Z",
    )
    .unwrap();
    let p = dir.join(format!("key-{i}-{network}.json"));
    std::fs::write(&p, serde_json::to_string_pretty(&g.record).unwrap()).unwrap();
    p
}

/// A 2-of-3 custody policy over keys 1..=3 of `key_net`, declaring `policy_net`.
fn policy(dir: &Path, key_net: Network, policy_net: Network) -> PathBuf {
    let secp = Secp256k1::verification_only();
    let keys = (1..=3)
        .map(|i| record::load_key_file(&secp, &key_record(dir, i, key_net)).unwrap())
        .collect();
    let req = Request {
        name: "vault".into(),
        network: key_net,
        script: ScriptKind::Wsh,
        threshold: 2,
        allow_unproven: false,
        challenge: Some(CHALLENGE.into()),
    };
    let mut p = assemble::assemble(&req, keys).unwrap().policy(None);
    p.network = policy_net;
    let f = dir.join(format!("policy-{policy_net}.json"));
    std::fs::write(&f, serde_json::to_string_pretty(&p).unwrap()).unwrap();
    f
}

fn verify(dir: &Path, policy: &Path, key: &Path, network: &str) -> (i32, String, String) {
    run(signer_bin!().args([
        "ceremony".as_ref(),
        "verify".as_ref(),
        policy.as_os_str(),
        "--key-record".as_ref(),
        key.as_os_str(),
        "--network".as_ref(),
        network.as_ref(),
        "--transcript".as_ref(),
        dir.join("transcript.jsonl").as_os_str(),
    ]))
}

#[test]
fn ceremony_verify_refuses_a_policy_for_another_network_than_the_key_record() {
    let d = scratch("consist", "net");
    // The same wallet declared for regtest is accepted: the check is not a blanket refusal.
    let same = policy(&d, Network::Regtest, Network::Regtest);
    let mine = d.join("key-1-regtest.json");
    let (code, out, err) = verify(&d, &same, &mine, "regtest");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("accepted"), "{out}");

    // Declared for testnet: refused, naming the policy file and both networks.
    let other = policy(&d, Network::Regtest, Network::Testnet);
    let (code, out, err) = verify(&d, &other, &mine, "regtest");
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains("accepted"), "{out}");
    assert!(
        err.contains("policy-testnet.json") && err.contains("testnet") && err.contains("regtest"),
        "{err}"
    );
    // `--network` agreeing with the policy does not override the key record's network.
    let (code, _, err) = verify(&d, &other, &mine, "testnet");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("policy-testnet.json"), "{err}");
}
