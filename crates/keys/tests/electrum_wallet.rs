//! Electrum wallet files made by Debian's `electrum` 4.3.4 (fixtures/electrum/make.sh): each
//! file, plain or storage-encrypted, gives a watch-only file whose addresses are exactly the
//! ones Electrum's own wallet code lists for it (`<name>.addresses.json`, written by Electrum).

use std::{path::PathBuf, str::FromStr};

use custos_core::{Network, SecretString};
use custos_keys::{classify, unlock, watch_only, Catalogue, Error, Material, WatchOnlyOptions};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/electrum")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn secret(t: &str) -> SecretString {
    SecretString::new(t.to_string())
}

fn password() -> SecretString {
    secret(fixture("password.txt").trim_end_matches('\n'))
}

fn open(name: &str) -> Material {
    let m = classify(
        &secret(&fixture(&format!("{name}.wallet"))),
        Network::Regtest,
    )
    .unwrap();
    match m {
        Material::ElectrumWalletEncrypted { .. } => {
            unlock(m, &password(), Network::Regtest).unwrap()
        }
        m => m,
    }
}

/// Addresses of the watch-only file: per chain (receive, change) the first `n` of each ranged
/// source, plus every single-key or address source.
fn addresses(m: &Material, receive: usize, change: usize) -> (Vec<String>, Vec<String>) {
    let w = watch_only(
        m,
        None,
        Network::Regtest,
        &Catalogue::builtin(),
        &WatchOnlyOptions::default(),
    )
    .unwrap();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for s in &w.sources {
        if let Some(rest) = s.descriptor.strip_prefix("addr(") {
            r.push(rest.split(')').next().unwrap().to_string());
            continue;
        }
        let d = Descriptor::<DescriptorPublicKey>::from_str(&s.descriptor).unwrap();
        let n = if !d.has_wildcard() {
            1
        } else if s.change {
            change
        } else {
            receive
        };
        for i in 0..n as u32 {
            let a = d
                .at_derivation_index(i)
                .unwrap()
                .address(bitcoin::Network::Regtest)
                .unwrap()
                .to_string();
            if s.change {
                c.push(a)
            } else {
                r.push(a)
            }
        }
    }
    (r, c)
}

fn electrum_lists(name: &str) -> (Value, Vec<String>, Vec<String>) {
    let v: Value = serde_json::from_str(&fixture(&format!("{name}.addresses.json"))).unwrap();
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let (r, c) = (list("receiving"), list("change"));
    (v, r, c)
}

#[test]
fn every_fixture_wallet_gives_the_addresses_electrum_lists() {
    for (name, wallet_type, private, encrypted) in [
        ("standard", "standard", true, false),
        ("segwit-encrypted", "standard", true, true),
        ("xpub-watch", "standard", false, false),
        ("multisig-2of3", "2of3", true, false),
        ("multisig-2of3-encrypted", "2of3", true, true),
        ("imported-keys-encrypted", "imported", true, true),
        ("imported-addresses", "imported", false, false),
    ] {
        let m = open(name);
        let Material::ElectrumWallet(w) = &m else {
            panic!("{name}: {m:?}")
        };
        assert_eq!(w.wallet_type, wallet_type, "{name}");
        assert_eq!(w.has_private, private, "{name}");
        assert_eq!(w.was_encrypted, encrypted, "{name}");
        assert_eq!(m.is_secret(), private, "{name}");
        let (v, er, ec) = electrum_lists(name);
        assert_eq!(v["wallet_type"].as_str().unwrap(), wallet_type);
        let (r, c) = addresses(&m, er.len(), ec.len());
        if wallet_type == "imported" {
            let mut got = r.clone();
            got.sort();
            let mut want = er.clone();
            want.sort();
            assert_eq!(got, want, "{name}");
            assert!(c.is_empty());
        } else {
            assert_eq!(r, er, "{name}: receiving");
            assert_eq!(c, ec, "{name}: change");
            assert!(
                er.len() >= 20 && ec.len() >= 6,
                "{name}: electrum listed too few"
            );
        }
    }
}

#[test]
fn segwit_wallet_file_is_the_seized_mixed_electrum_seed() {
    // make.sh restored the scenario's Electrum seed: the file's first receive address is the
    // ground truth's m/0'/0/0 of wallet "electrum" (p2wpkh).
    let m = open("segwit-encrypted");
    let (r, _) = addresses(&m, 1, 0);
    let truth = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/lab/seized-mixed/ground-truth.toml"),
    )
    .unwrap();
    assert!(
        truth.contains(&format!("address = \"{}\"", r[0])),
        "{}",
        r[0]
    );
}

#[test]
fn a_wrong_password_is_refused_without_content() {
    let m = classify(
        &secret(&fixture("segwit-encrypted.wallet")),
        Network::Regtest,
    )
    .unwrap();
    assert!(matches!(m, Material::ElectrumWalletEncrypted { .. }));
    assert!(m.is_secret());
    let e = unlock(m.clone(), &secret("not the password"), Network::Regtest).unwrap_err();
    assert!(e.to_string().contains("wrong password"), "{e}");
    // Watch-only refuses the file until it is opened.
    let e = watch_only(
        &m,
        None,
        Network::Regtest,
        &Catalogue::builtin(),
        &WatchOnlyOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("password"), "{e}");
}

#[test]
fn a_wallet_file_of_another_network_is_refused() {
    let e = classify(&secret(&fixture("xpub-watch.wallet")), Network::Bitcoin).unwrap_err();
    assert!(matches!(e, Error::WrongNetwork { .. }), "{e}");
}

#[test]
fn wallet_errors_never_echo_the_file() {
    let text = fixture("standard.wallet").replacen("\"seed_version\"", "\"seed_version\" oops", 1);
    let e = classify(&secret(&text), Network::Regtest).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("not json"), "{msg}");
    assert!(
        !msg.contains("xprv") && !msg.contains("tprv") && !msg.contains("seed\""),
        "{msg}"
    );
}
