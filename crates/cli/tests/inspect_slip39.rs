//! Issue 11: a lab wallet funded from SLIP-39 shares is found in full. The shares are SLIP-0039's
//! published vector 17 (two-level groups, passphrase "TREZOR"); the funded addresses are derived
//! from the vector's BIP32 root by embit (Python), not by custos; custos recovers the secret from
//! the shares on the signer, lists the watch-only file and inspects it against the lab.
//!
//! Skipped without python3 + embit unless `CUSTOS_REQUIRE_LIVE=1`.

use std::collections::BTreeSet;
use std::str::FromStr;

use custos_lab::{Lab, LabConfig};
use custos_testkit::{custos_bin, fixtures, run, s, signer_next_to_custos};
use miniscript::bitcoin::{Address, Amount};

/// Funded layouts: (path, script type for embit, amount). Account 1 is funded too: account
/// discovery reaches it because account 0 has history.
const FUNDED: &[(&str, &str, u64)] = &[
    ("m/84'/1'/0'/0/0", "wpkh", 150_000),
    ("m/84'/1'/0'/0/4", "wpkh", 160_000),
    ("m/84'/1'/0'/1/0", "wpkh", 170_000),
    ("m/84'/1'/1'/0/0", "wpkh", 180_000),
    ("m/49'/1'/0'/0/1", "sh-wpkh", 190_000),
    ("m/44'/1'/0'/0/2", "pkh", 200_000),
];

/// Regtest addresses of `FUNDED` under `xprv`, derived by embit; `None` when embit is missing.
fn embit_addresses(xprv: &str) -> Option<Vec<String>> {
    let script = r#"
import sys
from embit import bip32, script
from embit.networks import NETWORKS
root = bip32.HDKey.from_string(sys.argv[1])
net = NETWORKS["regtest"]
for arg in sys.argv[2:]:
    path, kind = arg.split(",")
    pub = root.derive(path).key.get_public_key()
    if kind == "wpkh":
        sc = script.p2wpkh(pub)
    elif kind == "sh-wpkh":
        sc = script.p2sh(script.p2wpkh(pub))
    else:
        sc = script.p2pkh(pub)
    print(sc.address(net))
"#;
    let funded: Vec<String> = FUNDED.iter().map(|(p, k, _)| format!("{p},{k}")).collect();
    let mut args = vec![xprv];
    args.extend(funded.iter().map(String::as_str));
    custos_testkit::python_lines(script, &args, "embit")
}

#[test]
fn a_wallet_funded_from_slip39_shares_is_found_in_full() {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("vectors/slip39.json")).unwrap())
            .unwrap();
    let vector = &v[16];
    let Some(addresses) = embit_addresses(vector[3].as_str().unwrap()) else {
        return;
    };
    assert_eq!(addresses.len(), FUNDED.len());
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    for (a, (_, _, sat)) in addresses.iter().zip(FUNDED) {
        let spk = Address::from_str(a)
            .unwrap()
            .assume_checked()
            .script_pubkey();
        lab.fund(&spk, Amount::from_sat(*sat)).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let shares: Vec<&str> = vector[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let share_file = tmp.path().join("shares.txt");
    std::fs::write(&share_file, format!("{}\n", shares.join("\n"))).unwrap();
    let pass = tmp.path().join("pass.txt");
    std::fs::write(&pass, "TREZOR\n").unwrap();
    let watch = tmp.path().join("watch.json");
    let (code, _, err) = run(signer_next_to_custos!()
        .args(["material", "watch-only", "--network", "regtest"])
        .args(["--input", s(&share_file), "--passphrase-file", s(&pass)])
        .args(["--out", s(&watch)]));
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = run(custos_bin!()
        .args(["--network", "regtest", "--json", "inspect", s(&watch)])
        .args(["--server", &lab.url()]));
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inv = &j["inventory"];
    let total = inv["confirmed"].as_u64().unwrap() + inv["unconfirmed"].as_u64().unwrap();
    let want: u64 = FUNDED.iter().map(|(_, _, sat)| sat).sum();
    assert_eq!(total, want);
    let found: BTreeSet<&str> = inv["utxos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap())
        .collect();
    for (a, (path, _, _)) in addresses.iter().zip(FUNDED) {
        assert!(found.contains(a.as_str()), "missed {a} at {path}");
    }
}
