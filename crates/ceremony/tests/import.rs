//! Hardware-wallet exports into key records.

use std::path::PathBuf;

use bitcoin::secp256k1::Secp256k1;
use custos_ceremony::import;
use custos_ceremony::keys::{derive_account, key_expression, ScriptKind};
use custos_ceremony::mnemonic;
use custos_core::{Network, Secret};
use serde_json::Value;

fn fixture() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ceremony/ur_crypto_account.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn ur_crypto_account_vector_gives_the_bip48_wsh_key_of_its_mnemonic() {
    let v = fixture();
    let rec = import::import_text(
        v["ur"].as_str().unwrap(),
        "bcr-2020-015",
        Network::Bitcoin,
        ScriptKind::Wsh,
        "hw",
        "2026-01-01T00:00:00.000Z",
    )
    .unwrap();
    assert_eq!(rec.fingerprint, v["master_fingerprint"].as_str().unwrap());
    assert_eq!(rec.path, "m/48'/0'/0'/2'");
    assert!(rec.proof.is_none());
    assert_eq!(rec.origin, "ur:crypto-account");
    // The same key derived from the published mnemonic.
    let secp = Secp256k1::new();
    let m = mnemonic::parse(&Secret::new(v["mnemonic"].as_str().unwrap().to_string())).unwrap();
    let seed = mnemonic::seed(&m, None);
    let acct = derive_account(
        &secp,
        &seed,
        Network::Bitcoin,
        &ScriptKind::Wsh.account_path(Network::Bitcoin),
    )
    .unwrap();
    assert_eq!(rec.xpub, acct.xpub.to_string());
    assert_eq!(
        hex::encode(acct.xpub.public_key.serialize()),
        v["p2wsh_key_data"].as_str().unwrap()
    );
    assert_eq!(acct.fingerprint.to_string(), rec.fingerprint);
    // The record loads as an unproven ceremony key.
    let key = rec.check(&secp, "bcr").unwrap();
    assert_eq!(
        key.key_expr(),
        key_expression(&acct.fingerprint, &acct.path, &acct.xpub)
    );
    // There is no taproot multisig key in that export.
    let e = import::import_text(
        v["ur"].as_str().unwrap(),
        "bcr",
        Network::Bitcoin,
        ScriptKind::Tr,
        "",
        "t",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("no account key at m/48'/0'/0'/3'"),
        "{e}"
    );
    // Wrong network: the export is mainnet, the ceremony testnet.
    assert!(import::import_text(
        v["ur"].as_str().unwrap(),
        "bcr",
        Network::Testnet,
        ScriptKind::Wsh,
        "",
        "t"
    )
    .is_err());
}

#[test]
fn coldcard_generic_and_multisig_exports_import() {
    let v = fixture();
    let secp = Secp256k1::new();
    let m = mnemonic::parse(&Secret::new(v["mnemonic"].as_str().unwrap().to_string())).unwrap();
    let seed = mnemonic::seed(&m, None);
    let path = ScriptKind::Wsh.account_path(Network::Testnet);
    let acct = derive_account(&secp, &seed, Network::Testnet, &path).unwrap();
    let xfp = acct.fingerprint.to_string().to_ascii_uppercase();
    let generic = serde_json::json!({
        "chain": "XTN", "xfp": xfp, "account": 0,
        "bip48_2": {"name": "p2wsh", "xfp": xfp, "deriv": "m/48'/1'/0'/2'", "xpub": acct.xpub.to_string()}
    })
    .to_string();
    let rec = import::import_text(
        &generic,
        "generic.json",
        Network::Regtest,
        ScriptKind::Wsh,
        "cc",
        "t",
    )
    .unwrap();
    assert_eq!(rec.xpub, acct.xpub.to_string());
    assert_eq!(rec.origin, "coldcard-json");
    let multisig = serde_json::json!({
        "xfp": xfp, "account": 0, "p2wsh_deriv": "m/48'/1'/0'/2'", "p2wsh": acct.xpub.to_string()
    })
    .to_string();
    let rec2 = import::import_text(
        &multisig,
        "ms.json",
        Network::Regtest,
        ScriptKind::Wsh,
        "cc",
        "t",
    )
    .unwrap();
    assert_eq!(rec2.xpub, rec.xpub);
    // A mainnet ceremony refuses the test-network key, naming the file.
    let e = import::import_text(
        &multisig,
        "ms.json",
        Network::Bitcoin,
        ScriptKind::Wsh,
        "",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("ms.json"), "{e}");
}
