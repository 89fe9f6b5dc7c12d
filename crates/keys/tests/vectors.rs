//! Official test vectors from fixtures/vectors (see its README for the sources).

use std::{path::PathBuf, str::FromStr};

use bitcoin::{bip32::Xpriv, secp256k1::Secp256k1, Address};
use custos_core::{Network, SecretString};
use custos_keys::{
    bip39_seed, classify, electrum,
    slip132::{self, Decoded},
    watch_only, Catalogue, ElectrumSeedKind, Material, WatchOnlyOptions,
};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn secret(t: &str) -> SecretString {
    SecretString::new(t.to_string())
}

fn address_at(descriptor: &str, index: u32, network: Network) -> String {
    let d = Descriptor::<DescriptorPublicKey>::from_str(descriptor).unwrap();
    d.at_derivation_index(index)
        .unwrap()
        .address(network.to_bitcoin())
        .unwrap()
        .to_string()
}

fn only(paths: &[&str]) -> WatchOnlyOptions {
    WatchOnlyOptions {
        accounts: 1,
        paths: Some(paths.iter().map(|p| p.to_string()).collect()),
        hardened_window: 3,
        ..WatchOnlyOptions::default()
    }
}

fn source<'a>(w: &'a custos_core::inventory::WatchOnly, label: &str) -> &'a str {
    &w.sources
        .iter()
        .find(|s| s.label == label)
        .unwrap_or_else(|| panic!("no source {label}"))
        .descriptor
}

#[test]
fn bip39_trezor_vectors_give_seed_and_root_key() {
    let v = fixture("bip39-trezor-vectors.json");
    let english = v["english"].as_array().unwrap();
    assert_eq!(english.len(), 24);
    let secp = Secp256k1::new();
    for case in english {
        let (entropy, words, seed_hex, xprv) = (s(&case[0]), s(&case[1]), s(&case[2]), s(&case[3]));
        let m = bip39::Mnemonic::from_entropy(&hex::decode(entropy).unwrap()).unwrap();
        assert_eq!(m.to_string(), words);
        match classify(&secret(words), Network::Bitcoin).unwrap() {
            Material::Bip39 {
                words: n, language, ..
            } => {
                assert_eq!(n, words.split(' ').count());
                assert_eq!(language, "english");
            }
            other => panic!("{words}: classified as {}", other.kind_name()),
        }
        let seed = bip39_seed(&secret(words), Some(&secret("TREZOR"))).unwrap();
        assert_eq!(hex::encode(seed.expose_secret()), seed_hex);
        let master = Xpriv::new_master(bitcoin::Network::Bitcoin, seed.expose_secret()).unwrap();
        assert_eq!(master.to_string(), xprv);
        let _ = &secp;
    }
}

#[test]
fn bip32_vectors_decode_and_derive() {
    let v = fixture("bip32.json");
    let secp = Secp256k1::new();
    for vector in v["vectors"].as_array().unwrap() {
        let seed = hex::decode(s(&vector["seed"])).unwrap();
        let master = Xpriv::new_master(bitcoin::Network::Bitcoin, &seed).unwrap();
        for chain in vector["chains"].as_array().unwrap() {
            let path = bitcoin::bip32::DerivationPath::from_str(s(&chain["path"])).unwrap();
            let k = master.derive_priv(&secp, &path).unwrap();
            assert_eq!(k.to_string(), s(&chain["xprv"]));
            assert_eq!(
                bitcoin::bip32::Xpub::from_priv(&secp, &k).to_string(),
                s(&chain["xpub"])
            );
            match slip132::decode(s(&chain["xpub"])).unwrap() {
                Decoded::Public(x, ver) => {
                    assert_eq!(ver.prefix, "xpub");
                    assert_eq!(x.to_string(), s(&chain["xpub"]));
                }
                Decoded::Private(..) => panic!("xpub decoded as private"),
            }
        }
    }
}

#[test]
fn bip84_vector_through_classify_and_watch_only() {
    let v = fixture("bip84.json");
    let material = classify(&secret(s(&v["mnemonic"])), Network::Bitcoin).unwrap();
    let w = watch_only(
        &material,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &only(&["bip84"]),
    )
    .unwrap();
    let receive = source(&w, "bip84/0/0");
    let change = source(&w, "bip84/0/1");
    assert!(
        receive.starts_with("wpkh([73c5da0a/84'/0'/0']xpub"),
        "{receive}"
    );
    let a = v["addresses"].as_array().unwrap();
    assert_eq!(
        address_at(receive, 0, Network::Bitcoin),
        s(&a[0]["address"])
    );
    assert_eq!(
        address_at(receive, 1, Network::Bitcoin),
        s(&a[1]["address"])
    );
    assert_eq!(address_at(change, 0, Network::Bitcoin), s(&a[2]["address"]));
    // The account key in the descriptor is the BIP84 account zpub re-encoded.
    let Decoded::Public(zpub, _) = slip132::decode(s(&v["account0_xpub"])).unwrap() else {
        panic!()
    };
    assert!(receive.contains(&zpub.to_string()));
    // The WIFs of the vector are single keys with the listed pubkeys and addresses.
    for entry in a {
        let m = classify(&secret(s(&entry["privkey"])), Network::Bitcoin).unwrap();
        let Material::Wif(keys) = &m else {
            panic!("not wif")
        };
        assert_eq!(keys[0].public_key.to_string(), s(&entry["pubkey"]));
        let w = watch_only(
            &m,
            None,
            Network::Bitcoin,
            &Catalogue::builtin(),
            &WatchOnlyOptions::default(),
        )
        .unwrap();
        assert_eq!(
            address_at(source(&w, "wif/1/wpkh"), 0, Network::Bitcoin),
            s(&entry["address"])
        );
    }
}

#[test]
fn bip86_vector_through_classify_and_watch_only() {
    let v = fixture("bip86.json");
    let material = classify(&secret(s(&v["mnemonic"])), Network::Bitcoin).unwrap();
    let w = watch_only(
        &material,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &only(&["bip86"]),
    )
    .unwrap();
    let receive = source(&w, "bip86/0/0");
    let change = source(&w, "bip86/0/1");
    assert!(receive.contains(s(&v["account0_xpub"])), "{receive}");
    let a = v["addresses"].as_array().unwrap();
    assert_eq!(
        address_at(receive, 0, Network::Bitcoin),
        s(&a[0]["address"])
    );
    assert_eq!(
        address_at(receive, 1, Network::Bitcoin),
        s(&a[1]["address"])
    );
    assert_eq!(address_at(change, 0, Network::Bitcoin), s(&a[2]["address"]));
    let spk = Address::from_str(s(&a[0]["address"]))
        .unwrap()
        .assume_checked()
        .script_pubkey();
    assert_eq!(hex::encode(spk.as_bytes()), s(&a[0]["script_pubkey"]));
}

#[test]
fn slip132_keys_classify_and_derive_their_bips_addresses() {
    let v = fixture("slip132.json");
    for key in v["keys"].as_array().unwrap() {
        let network = Network::from_str(s(&key["network"])).unwrap();
        let m = classify(&secret(s(&key["key"])), network).unwrap();
        let w = watch_only(
            &m,
            None,
            network,
            &Catalogue::builtin(),
            &WatchOnlyOptions::default(),
        )
        .unwrap();
        assert!(w.sources.iter().all(|s| !s.descriptor.contains("prv")));
        let receive = &w.sources.iter().find(|s| !s.change).unwrap().descriptor;
        assert_eq!(
            address_at(receive, 0, network),
            s(&key["first_receive"]),
            "{}",
            s(&key["name"])
        );
        if let Some(second) = key.get("second_receive") {
            assert_eq!(address_at(receive, 1, network), s(second));
        }
        if let Some(change0) = key.get("first_change") {
            let change = &w.sources.iter().find(|s| s.change).unwrap().descriptor;
            assert_eq!(address_at(change, 0, network), s(change0));
        }
    }
    // The private upub counterpart decodes to the same public key.
    let b = &v["bip49"];
    let Decoded::Private(uprv, ver) = slip132::decode(s(&b["account0_uprv"])).unwrap() else {
        panic!()
    };
    assert_eq!(ver.prefix, "uprv");
    let Decoded::Public(upub, _) = slip132::decode(s(&b["account0_upub"])).unwrap() else {
        panic!()
    };
    assert_eq!(
        bitcoin::bip32::Xpub::from_priv(&Secp256k1::new(), &uprv),
        upub
    );
    for (prefix, bytes) in v["versions_from_bip49"].as_object().unwrap() {
        let ver = slip132::VERSIONS
            .iter()
            .find(|x| x.prefix == prefix)
            .unwrap();
        assert_eq!(hex::encode(ver.bytes), s(bytes));
    }
    // The BIP49 mnemonic on testnet gives the listed first address through the catalogue.
    let m = classify(&secret(s(&b["mnemonic"])), Network::Testnet).unwrap();
    let w = watch_only(
        &m,
        None,
        Network::Testnet,
        &Catalogue::builtin(),
        &only(&["bip49"]),
    )
    .unwrap();
    assert_eq!(
        address_at(source(&w, "bip49/0/0"), 0, Network::Testnet),
        s(&b["recv0_address"])
    );
}

fn kind_of(name: &str) -> Option<ElectrumSeedKind> {
    match name {
        "standard" => Some(ElectrumSeedKind::Standard),
        "segwit" => Some(ElectrumSeedKind::Segwit),
        "2fa" => Some(ElectrumSeedKind::TwoFactor),
        "2fa_segwit" => Some(ElectrumSeedKind::TwoFactorSegwit),
        "old" => Some(ElectrumSeedKind::Old),
        "" => None,
        other => panic!("unknown seed type {other}"),
    }
}

#[test]
fn electrum_seed_types_match_electrums_own_table() {
    let v = fixture("electrum.json");
    for case in v["seed_types"].as_array().unwrap() {
        let (words, t) = (s(&case[0]), s(&case[1]));
        assert_eq!(electrum::seed_type(words), kind_of(t), "{words:?}");
    }
}

#[test]
fn electrum_seeds_match_electrums_pbkdf2_vectors() {
    let v = fixture("electrum.json");
    let basic = &v["pbkdf2_basic"];
    let seed = electrum::electrum_seed(
        &secret(s(&basic["mnemonic"])),
        Some(&secret(s(&basic["passphrase"]))),
    );
    assert_eq!(hex::encode(seed.expose_secret()), s(&basic["seed"]));
    for case in v["mnemonic_to_seed"].as_array().unwrap() {
        let name = s(&case["name"]);
        let words = s(&case["words"]);
        if let Some(h) = case.get("words_hex") {
            assert_eq!(
                hex::encode(words.as_bytes()),
                s(h),
                "{name}: fixture text encoding"
            );
        }
        let version = s(&case["seed_version"]);
        let kind = if version == "01" {
            ElectrumSeedKind::Standard
        } else {
            ElectrumSeedKind::Segwit
        };
        assert_eq!(electrum::seed_type(words), Some(kind), "{name}");
        let pass = case["passphrase"].as_str().map(secret);
        let seed = electrum::electrum_seed(&secret(words), pass.as_ref());
        assert_eq!(
            hex::encode(seed.expose_secret()),
            s(&case["bip32_seed"]),
            "{name}"
        );
    }
}

#[test]
fn electrum_old_word_codec_matches_electrum() {
    let v = fixture("electrum.json");
    let c = &v["old_mnemonic_codec"];
    let words: Vec<&str> = s(&c["words"]).split(' ').collect();
    assert_eq!(electrum::old_mn_encode(s(&c["hex"])).unwrap(), words);
    assert_eq!(electrum::old_mn_decode(&words).unwrap(), s(&c["hex"]));
}

#[test]
fn electrum_wallet_vectors_give_the_same_keys_and_addresses() {
    let v = fixture("electrum.json");
    let cat = Catalogue::builtin();
    let opts = WatchOnlyOptions {
        hardened_window: 2,
        ..WatchOnlyOptions::default()
    };
    for wallet in v["wallets"].as_array().unwrap() {
        let name = s(&wallet["name"]);
        let words = secret(s(&wallet["words"]));
        let kind = kind_of(s(&wallet["seed_type"])).unwrap();
        let m = classify(&words, Network::Bitcoin).unwrap();
        match &m {
            Material::ElectrumSeed { kind: k, .. } => assert_eq!(*k, kind, "{name}"),
            other => panic!("{name}: classified as {}", other.kind_name()),
        }
        match kind {
            ElectrumSeedKind::Standard | ElectrumSeedKind::Segwit => {
                let w = watch_only(&m, None, Network::Bitcoin, &cat, &opts).unwrap();
                let id = if kind == ElectrumSeedKind::Standard {
                    "electrum-standard"
                } else {
                    "electrum-segwit"
                };
                let receive = source(&w, &format!("{id}/0/0"));
                let change = source(&w, &format!("{id}/0/1"));
                assert_eq!(
                    address_at(receive, 0, Network::Bitcoin),
                    s(&wallet["receive0"]),
                    "{name}"
                );
                assert_eq!(
                    address_at(change, 0, Network::Bitcoin),
                    s(&wallet["change0"]),
                    "{name}"
                );
                let Decoded::Public(x, _) = slip132::decode(s(&wallet["xpub"])).unwrap() else {
                    panic!()
                };
                assert!(receive.contains(&x.to_string()), "{name}: {receive}");
                assert!(w
                    .sources
                    .iter()
                    .all(|s| s.catalogue_id.as_deref() == Some(id)));
            }
            ElectrumSeedKind::Old => {
                let hex_seed = electrum::old_hex_seed(&words).unwrap();
                let mpk = electrum::old_master_public_key(&hex_seed).unwrap();
                assert_eq!(electrum::old_mpk_hex(&mpk), s(&wallet["mpk"]));
                let w = watch_only(&m, None, Network::Bitcoin, &cat, &opts).unwrap();
                assert_eq!(
                    address_at(source(&w, "electrum-old/0/0"), 0, Network::Bitcoin),
                    s(&wallet["receive0"])
                );
                assert_eq!(
                    address_at(source(&w, "electrum-old/1/0"), 0, Network::Bitcoin),
                    s(&wallet["change0"])
                );
                assert_eq!(w.sources.len(), 4);
            }
            ElectrumSeedKind::TwoFactor | ElectrumSeedKind::TwoFactorSegwit => {
                let keys = electrum::two_factor_keys(&words, None, kind, Network::Bitcoin).unwrap();
                let as_written = |x: &bitcoin::bip32::Xpub| {
                    if kind == ElectrumSeedKind::TwoFactorSegwit {
                        slip132::encode_public(x, "Zpub").unwrap()
                    } else {
                        x.to_string()
                    }
                };
                assert_eq!(as_written(&keys.x1.xpub), s(&wallet["xpub1"]), "{name}");
                assert_eq!(as_written(&keys.x2.xpub), s(&wallet["xpub2"]), "{name}");
                let w = watch_only(&m, None, Network::Bitcoin, &cat, &opts).unwrap();
                let id = if kind == ElectrumSeedKind::TwoFactor {
                    "electrum-2fa"
                } else {
                    "electrum-2fa-segwit"
                };
                assert_eq!(w.sources.len(), 2, "{name}");
                let receive = source(&w, &format!("{id}/0"));
                let change = source(&w, &format!("{id}/1"));
                assert_eq!(
                    address_at(receive, 0, Network::Bitcoin),
                    s(&wallet["receive0"]),
                    "{name}"
                );
                assert_eq!(
                    address_at(change, 0, Network::Bitcoin),
                    s(&wallet["change0"]),
                    "{name}"
                );
            }
        }
    }
}
