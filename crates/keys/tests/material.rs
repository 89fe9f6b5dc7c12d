//! Classification and watch-only behaviour, and the promise that no secret leaks into errors,
//! `Debug` output or watch-only files.

use std::str::FromStr;

use custos_core::{Network, SecretString};
use custos_keys::{
    classify, watch_only, Catalogue, ElectrumSeedKind, Error, Material, WatchOnlyOptions,
};
use miniscript::descriptor::{checksum, Descriptor, DescriptorPublicKey};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
// BIP84 vector WIFs (fixtures/vectors/bip84.json) and the Bitcoin wiki's uncompressed WIF example.
const WIF_C: &str = "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d";
const WIF_U: &str = "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ";
// BIP32 test vector 1, chain m.
const XPRV: &str = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
const ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";

fn secret(t: &str) -> SecretString {
    SecretString::new(t.to_string())
}

fn opts(paths: &[&str], accounts: u32) -> WatchOnlyOptions {
    WatchOnlyOptions {
        accounts,
        paths: if paths.is_empty() {
            None
        } else {
            Some(paths.iter().map(|s| s.to_string()).collect())
        },
        hardened_window: 2,
        ..WatchOnlyOptions::default()
    }
}

#[test]
fn unknown_word_error_names_position_and_suggestion_but_not_the_typed_word() {
    let typo = ABANDON.replacen("abandon", "abandan", 1);
    let e = classify(&secret(&typo), Network::Bitcoin).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("word 1"), "{text}");
    assert!(text.contains("abandon"), "suggestion expected: {text}");
    assert!(!text.contains("abandan"), "typed word leaked: {text}");
}

#[test]
fn checksum_error_names_positions_not_words() {
    let bad = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
    let e = classify(&secret(bad), Network::Bitcoin).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("bip39 mnemonic: checksum does not match"),
        "{text}"
    );
    assert!(!text.contains("abandon"), "{text}");
}

#[test]
fn bad_word_count_is_reported_as_such() {
    let e = classify(&secret("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"), Network::Bitcoin)
        .unwrap_err();
    assert!(e.to_string().contains("11 words"), "{e}");
}

#[test]
fn material_debug_output_is_redacted() {
    let m = classify(&secret(ABANDON), Network::Bitcoin).unwrap();
    let d = format!("{m:?}");
    assert!(!d.contains("abandon") && d.contains("REDACTED"), "{d}");
    let m = classify(&secret(&format!("{WIF_C}\n{WIF_U}")), Network::Bitcoin).unwrap();
    let d = format!("{m:?}");
    assert!(!d.contains(WIF_C) && !d.contains(WIF_U), "{d}");
    let m = classify(&secret(XPRV), Network::Bitcoin).unwrap();
    assert!(!format!("{m:?}").contains(XPRV));
}

#[test]
fn wif_lists_give_one_source_per_plausible_script_type() {
    let m = classify(
        &secret(&format!("# seized list\n{WIF_C}\n\n{WIF_U}\n")),
        Network::Bitcoin,
    )
    .unwrap();
    let Material::Wif(keys) = &m else {
        panic!("{}", m.kind_name())
    };
    assert_eq!((keys[0].line, keys[1].line), (2, 4));
    assert!(keys[0].public_key.compressed && !keys[1].public_key.compressed);
    let w = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1),
    )
    .unwrap();
    let labels: Vec<&str> = w.sources.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "wif/2/pkh",
            "wif/2/wpkh",
            "wif/2/sh-wpkh",
            "wif/2/tr",
            "wif/4/pkh"
        ]
    );
    let json = serde_json::to_string(&w).unwrap();
    assert!(!json.contains(WIF_C) && !json.contains(WIF_U));
    // The uncompressed key is written uncompressed (130 hex digits starting 04).
    let u = &w.sources[4].descriptor;
    assert!(
        u.starts_with("pkh(04") && u.split(['(', ')']).nth(1).unwrap().len() == 130,
        "{u}"
    );
    for s in &w.sources {
        Descriptor::<DescriptorPublicKey>::from_str(&s.descriptor).unwrap();
    }
}

#[test]
fn wrong_network_is_refused_for_every_line_kind() {
    for (text, kind) in [
        (WIF_C, "wif key"),
        (ZPUB, "extended public key"),
        ("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "address"),
    ] {
        match classify(&secret(text), Network::Regtest) {
            Err(Error::WrongNetwork { kind: k, line, .. }) => {
                assert_eq!(k, kind);
                assert_eq!(line, Some(1));
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn mixed_input_names_both_lines() {
    let e = classify(
        &secret(&format!(
            "{WIF_C}\nbc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        )),
        Network::Bitcoin,
    )
    .unwrap_err();
    let t = e.to_string();
    assert!(
        t.contains("line 1 is a wif key") && t.contains("line 2 is an address"),
        "{t}"
    );
}

#[test]
fn malformed_items_name_kind_fault_and_line() {
    let cases = [
        (
            format!("{WIF_C}\nKyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9e"),
            "wif key, line 2: base58check",
        ),
        (
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyv".to_string(),
            "address, line 1: bech32",
        ),
        (
            ZPUB.replace("AGutZYs", "AGutZYt"),
            "extended public key, line 1: base58check",
        ),
        ("wpkh(02zz)".to_string(), "descriptor, line 1"),
    ];
    for (text, expected) in cases {
        let e = classify(&secret(&text), Network::Bitcoin).unwrap_err();
        assert!(e.to_string().starts_with(expected), "{text}: {e}");
    }
    assert!(matches!(
        classify(&secret("\n# nothing\n"), Network::Bitcoin),
        Err(Error::Empty)
    ));
    assert!(matches!(
        classify(&secret("hello world"), Network::Bitcoin),
        Err(Error::Unrecognised { .. })
    ));
}

#[test]
fn secret_descriptor_errors_never_echo_the_key() {
    let bad = format!("wpkh({XPRV}/0/*)#deadbeef");
    let e = classify(&secret(&bad), Network::Bitcoin).unwrap_err();
    assert!(!format!("{e} {e:?}").contains(XPRV), "{e}");
}

#[test]
fn private_descriptors_become_public_with_checksums() {
    let m = classify(
        &secret(&format!("wpkh([d34db33f/84'/0'/0']{XPRV}/<0;1>/*)")),
        Network::Bitcoin,
    )
    .unwrap();
    let Material::Descriptors(items) = &m else {
        panic!()
    };
    assert!(items[0].secret.is_some());
    assert!(m.is_secret());
    let w = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1),
    )
    .unwrap();
    assert_eq!(w.sources.len(), 2);
    assert!(!w.sources[0].change && w.sources[1].change);
    for s in &w.sources {
        assert!(!s.descriptor.contains("prv"), "{}", s.descriptor);
        assert!(
            s.descriptor.contains("[d34db33f/84'/0'/0']xpub"),
            "{}",
            s.descriptor
        );
        checksum::verify_checksum(&s.descriptor).unwrap();
    }
}

#[test]
fn addresses_become_addr_descriptors_with_checksums() {
    let m = classify(
        &secret("bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu\n1NNkttn1YvVGdqBW4PR6zvc3Zx3H5owKRf"),
        Network::Bitcoin,
    )
    .unwrap();
    assert!(!m.is_secret());
    let w = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1),
    )
    .unwrap();
    assert_eq!(w.sources[1].label, "address/2");
    for s in &w.sources {
        assert!(s.descriptor.starts_with("addr("));
        checksum::verify_checksum(&s.descriptor).unwrap();
    }
}

#[test]
fn regtest_seed_sources_carry_key_origin_coin_type_1_and_accounts() {
    let m = classify(&secret(ABANDON), Network::Regtest).unwrap();
    let w = watch_only(
        &m,
        None,
        Network::Regtest,
        &Catalogue::builtin(),
        &opts(&["bip84", "bisq"], 3),
    )
    .unwrap();
    let bip84: Vec<_> = w
        .sources
        .iter()
        .filter(|s| s.catalogue_id.as_deref() == Some("bip84"))
        .collect();
    assert_eq!(bip84.len(), 6);
    assert_eq!(bip84.iter().filter_map(|s| s.account).max(), Some(2));
    let first = &bip84[0];
    assert!(
        first
            .descriptor
            .starts_with("wpkh([73c5da0a/84'/1'/0']tpub"),
        "{}",
        first.descriptor
    );
    assert!(first.descriptor.contains("/0/*)#"));
    assert!(!first.change && bip84[1].change);
    assert!(!first.wallets.is_empty());
    // Bisq hard-codes coin type 0.
    let bisq = w
        .sources
        .iter()
        .find(|s| s.catalogue_id.as_deref() == Some("bisq"))
        .unwrap();
    assert!(
        bisq.descriptor.contains("[73c5da0a/44'/0'/1']"),
        "{}",
        bisq.descriptor
    );
    assert_eq!(bisq.account, None);
    assert_eq!(w.network, Network::Regtest);
    assert_eq!(w.format, custos_core::inventory::WATCH_ONLY_FORMAT);
}

#[test]
fn passphrase_changes_the_wallet() {
    let m = classify(&secret(ABANDON), Network::Bitcoin).unwrap();
    let cat = Catalogue::builtin();
    let a = watch_only(&m, None, Network::Bitcoin, &cat, &opts(&["bip84"], 1)).unwrap();
    let b = watch_only(
        &m,
        Some(&secret("TREZOR")),
        Network::Bitcoin,
        &cat,
        &opts(&["bip84"], 1),
    )
    .unwrap();
    assert_ne!(a.sources[0].descriptor, b.sources[0].descriptor);
    assert!(b.material.ends_with("with passphrase"));
    assert!(b.sources[0].descriptor.contains("[b4e3f5ed/"));
}

#[test]
fn hardened_paths_list_a_window_of_single_keys() {
    let m = classify(&secret(ABANDON), Network::Bitcoin).unwrap();
    let w = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&["core-legacy-hd"], 1),
    )
    .unwrap();
    // 2 chains x 2 indexes x 3 script types.
    assert_eq!(w.sources.len(), 12);
    assert!(
        w.sources[0]
            .descriptor
            .starts_with("pkh([73c5da0a/0'/0'/0']02")
            || w.sources[0]
                .descriptor
                .starts_with("pkh([73c5da0a/0'/0'/0']03")
    );
}

#[test]
fn master_xprv_also_covers_electrum_standard_paths() {
    let m = classify(&secret(XPRV), Network::Bitcoin).unwrap();
    let w = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1),
    )
    .unwrap();
    assert!(w
        .sources
        .iter()
        .any(|s| s.catalogue_id.as_deref() == Some("electrum-standard")));
    assert!(w
        .sources
        .iter()
        .any(|s| s.catalogue_id.as_deref() == Some("bip84")));
    assert!(w.sources.iter().all(|s| !s.descriptor.contains("xprv")));
}

#[test]
fn lone_multisig_cosigner_key_is_refused_with_a_reason() {
    // BIP84 vector account key re-encoded with the Zpub version (SLIP-132).
    let custos_keys::slip132::Decoded::Public(x, _) = custos_keys::slip132::decode(ZPUB).unwrap()
    else {
        panic!()
    };
    let zpub_ms = custos_keys::slip132::encode_public(&x, "Zpub").unwrap();
    let m = classify(&secret(&zpub_ms), Network::Bitcoin).unwrap();
    let e = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("multisig cosigner"), "{e}");
}

#[test]
fn unknown_path_ids_are_refused() {
    let m = classify(&secret(ABANDON), Network::Bitcoin).unwrap();
    let e = watch_only(
        &m,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&["bip999"], 1),
    )
    .unwrap_err();
    assert!(matches!(e, Error::UnknownPath(ref p) if p == "bip999"));
}

#[test]
fn old_electrum_seeds_take_no_passphrase() {
    let m = classify(
        &secret(
            "powerful random nobody notice nothing important anyway look away hidden message over",
        ),
        Network::Bitcoin,
    )
    .unwrap();
    assert!(matches!(
        m,
        Material::ElectrumSeed {
            kind: ElectrumSeedKind::Old,
            ..
        }
    ));
    assert!(watch_only(
        &m,
        Some(&secret("x")),
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts(&[], 1)
    )
    .is_err());
}

#[test]
fn byte_order_marks_and_crlf_line_ends_are_tolerated() {
    let m = classify(
        &secret(&format!("\u{feff}{WIF_C}\r\n{WIF_U}\r\n")),
        Network::Bitcoin,
    )
    .unwrap();
    assert!(matches!(m, Material::Wif(ref k) if k.len() == 2));
    let m = classify(&secret(&format!("\u{feff}{ABANDON}\r\n")), Network::Bitcoin).unwrap();
    assert!(matches!(m, Material::Bip39 { words: 12, .. }));
}

#[test]
fn numbered_paper_backups_are_read() {
    let numbered = ABANDON
        .split(' ')
        .enumerate()
        .map(|(i, w)| format!("{}. {w}", i + 1))
        .collect::<Vec<_>>()
        .join("\n");
    let m = classify(&secret(&numbered), Network::Bitcoin).unwrap();
    assert!(matches!(m, Material::Bip39 { words: 12, .. }));
}
