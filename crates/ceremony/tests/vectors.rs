//! Known-answer tests against published vectors (fixtures/ceremony, see its README).

use std::path::PathBuf;
use std::str::FromStr;

use bitcoin::secp256k1::Secp256k1;
use bitcoin::Address;
use custos_ceremony::assemble::{self, parse_descriptor};
use custos_ceremony::keys::ZKey;
use custos_ceremony::record::{self, load_key_file};
use custos_ceremony::{bip322, entropy, mnemonic, seedqr};
use custos_core::{Network, Secret};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ceremony")
}

fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn phrase_of(m: &mnemonic::SecretMnemonic) -> String {
    mnemonic::phrase(m).expose_secret().clone()
}

#[test]
fn coldcard_dice_vectors_give_published_mnemonics() {
    let v = load("dice.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 7);
    for t in vectors {
        let rolls = entropy::parse_rolls(t["rolls"].as_str().unwrap()).unwrap();
        let words = entropy::Words::from_count(t["words"].as_u64().unwrap() as usize).unwrap();
        let e = entropy::coldcard_dice_entropy(&rolls, words);
        let m = mnemonic::from_entropy(&e).unwrap();
        assert_eq!(
            phrase_of(&m),
            t["mnemonic"].as_str().unwrap(),
            "rolls {}",
            t["rolls"]
        );
    }
}

#[test]
fn entropy_to_mnemonic_vectors_match() {
    let v = load("dice.json");
    for t in v["entropy_to_mnemonic"].as_array().unwrap() {
        let e = Secret::new(hex::decode(t["entropy"].as_str().unwrap()).unwrap());
        let m = mnemonic::from_entropy(&e).unwrap();
        assert_eq!(phrase_of(&m), t["mnemonic"].as_str().unwrap());
    }
}

fn bits_to_bytes(bits: &str) -> Vec<u8> {
    bits.as_bytes()
        .chunks(8)
        .map(|c| c.iter().fold(0u8, |acc, b| (acc << 1) | (b - b'0')))
        .collect()
}

#[test]
fn seedqr_vectors_encode_and_decode() {
    let v = load("seedqr.json");
    let sizes = &v["sizes"];
    for t in v["vectors"].as_array().unwrap() {
        let phrase = t["mnemonic"].as_str().unwrap();
        let m = mnemonic::parse(&Secret::new(phrase.to_string())).unwrap();
        let digits = seedqr::standard_digits(&m);
        assert_eq!(digits.expose_secret(), t["standard"].as_str().unwrap());
        let back = seedqr::decode_standard(&digits).unwrap();
        assert_eq!(phrase_of(&back), phrase);
        let twelve = m.expose_secret().word_count() == 12;
        let code = seedqr::qr(&m, seedqr::Kind::Standard).unwrap();
        let want = if twelve {
            &sizes["standard_12"]
        } else {
            &sizes["standard_24"]
        };
        assert_eq!(code.width() as u64, want.as_u64().unwrap(), "{phrase}");
        let code = seedqr::qr(&m, seedqr::Kind::Compact).unwrap();
        let want = if twelve {
            &sizes["compact_12"]
        } else {
            &sizes["compact_24"]
        };
        assert_eq!(code.width() as u64, want.as_u64().unwrap(), "{phrase}");
        if let Some(bits) = t["compact_bits"].as_str() {
            let bytes = seedqr::compact_bytes(&m);
            assert_eq!(bytes.expose_secret(), &bits_to_bytes(bits));
            let back = seedqr::decode_compact(&bytes).unwrap();
            assert_eq!(phrase_of(&back), phrase);
        }
    }
}

#[test]
fn seedqr_renders_for_terminal_and_svg() {
    let m = mnemonic::parse(&Secret::new(
        "forum undo fragile fade shy sign arrest garment culture tube off merit".to_string(),
    ))
    .unwrap();
    let code = seedqr::qr(&m, seedqr::Kind::Compact).unwrap();
    let t = seedqr::render_terminal(&code);
    // 21 modules + 2*4 quiet zone = 29 columns; half-height rows.
    let first = t.expose_secret().lines().next().unwrap();
    assert_eq!(first.chars().count(), 29);
    let svg = seedqr::render_svg(&code);
    assert!(svg.expose_secret().contains("<svg"));
}

#[test]
fn bip322_message_hashes_and_virtual_txids_match() {
    let v = load("bip322.json");
    for t in v["message_hashes"].as_array().unwrap() {
        let h = bip322::message_hash(t["message"].as_str().unwrap().as_bytes());
        assert_eq!(hex::encode(h), t["hash"].as_str().unwrap());
    }
    let addr = Address::from_str(v["address"].as_str().unwrap()).unwrap();
    let spk = addr.assume_checked_ref().script_pubkey();
    for (spend, sign) in v["to_spend"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["to_sign"].as_array().unwrap())
    {
        let msg = spend["message"].as_str().unwrap().as_bytes();
        let ts = bip322::to_spend(&spk, msg);
        assert_eq!(
            ts.compute_txid().to_string(),
            spend["txid"].as_str().unwrap()
        );
        let tg = bip322::to_sign(ts.compute_txid());
        assert_eq!(
            tg.compute_txid().to_string(),
            sign["txid"].as_str().unwrap()
        );
    }
}

#[test]
fn bip322_signs_and_verifies_published_signatures() {
    let v = load("bip322.json");
    let secp = Secp256k1::new();
    let pk = bitcoin::PrivateKey::from_wif(v["private_key_wif"].as_str().unwrap()).unwrap();
    let sk = Secret::new(ZKey(pk.inner));
    let addr = Address::from_str(v["address"].as_str().unwrap()).unwrap();
    for t in v["signatures"].as_array().unwrap() {
        let msg = t["message"].as_str().unwrap();
        let published: Vec<&str> = t["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        for s in &published {
            bip322::verify_simple(&secp, &addr, msg.as_bytes(), s).unwrap();
        }
        // Low-R grinding gives the first published signature exactly.
        let ours = bip322::sign_simple_p2wpkh(&secp, &sk, msg.as_bytes()).unwrap();
        assert_eq!(ours, published[0], "message {msg:?}");
        // A signature of another message must fail.
        let e = bip322::verify_simple(&secp, &addr, b"Hello World!", published[0]).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
    }
}

#[test]
fn bip129_key_records_verify_and_sign_alike() {
    let secp = Secp256k1::new();
    let dir = fixtures().join("bip129");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("keys.json")).unwrap()).unwrap();
    for k in v["keys"].as_array().unwrap() {
        let file = k["file"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let rec = record::parse_bsms_key(&text, file).unwrap();
        record::verify_bsms_key(&secp, &rec, file).unwrap();
        // Signing the same four lines with the published private key verifies too.
        let pk = bitcoin::PrivateKey::from_wif(k["private_key_wif"].as_str().unwrap()).unwrap();
        let sig = bip322::sign_legacy(&secp, &Secret::new(ZKey(pk.inner)), &rec.signed_text());
        let ours = record::BsmsKeyRecord {
            signature: sig,
            ..rec.clone()
        };
        record::verify_bsms_key(&secp, &ours, file).unwrap();
        // A changed description breaks the signature.
        let tampered = record::BsmsKeyRecord {
            description: format!("{} (tampered)", rec.description),
            ..rec
        };
        assert!(record::verify_bsms_key(&secp, &tampered, file).is_err());
    }
}

#[test]
fn bip129_xpub_round_two_rebuilt_from_round_one() {
    let secp = Secp256k1::new();
    let dir = fixtures().join("bip129");
    let keys = ["xpub_signer_1_key.bsms", "xpub_signer_2_key.bsms"]
        .iter()
        .map(|f| load_key_file(&secp, &dir.join(f)).unwrap())
        .collect();
    let req = assemble::Request {
        name: "bip129".into(),
        network: Network::Bitcoin,
        script: custos_ceremony::ScriptKind::Wsh,
        threshold: 2,
        allow_unproven: false,
        challenge: None,
    };
    let a = assemble::assemble(&req, keys).unwrap();
    let round2 = std::fs::read_to_string(dir.join("xpub_my_multisig_wallet.bsms")).unwrap();
    let lines: Vec<&str> = round2.lines().collect();
    assert_eq!(a.bsms_template(), lines[1]);
    assert_eq!(a.receive_addresses(1).unwrap()[0], lines[3]);
    assert_eq!(a.bsms_round2().unwrap(), round2);
}

#[test]
fn bip129_pubkey_descriptor_checksum_and_address_match() {
    let dir = fixtures().join("bip129");
    let round2 = std::fs::read_to_string(dir.join("pubkey_my_multisig_wallet.bsms")).unwrap();
    let lines: Vec<&str> = round2.lines().collect();
    let d = parse_descriptor(lines[1], "pubkey_my_multisig_wallet.bsms").unwrap();
    let addr = d
        .at_derivation_index(0)
        .unwrap()
        .address(bitcoin::Network::Bitcoin)
        .unwrap();
    assert_eq!(addr.to_string(), lines[3]);
    // One changed checksum character is refused with the file named.
    let bad = lines[1].replace("#rzx9dffd", "#rzx9dffe");
    let e = parse_descriptor(&bad, "pubkey_my_multisig_wallet.bsms").unwrap_err();
    assert!(
        e.to_string().contains("pubkey_my_multisig_wallet.bsms"),
        "{e}"
    );
}
