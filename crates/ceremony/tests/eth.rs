//! The keyholder's Ethereum key in the key record (EIP-191 proof bound to the Bitcoin key) and
//! the Safe custody policy assembled from the ceremony's keys.

use alloy_primitives::{address, Address, U256};
use bitcoin::secp256k1::Secp256k1;
use custos_ceremony::assemble::{self, Request};
use custos_ceremony::eth::{eth_policy, EthSafeRequest};
use custos_ceremony::keys::{derive_account, ScriptKind};
use custos_ceremony::record::{self, KeyRecord};
use custos_ceremony::{mnemonic, Error};
use custos_core::{Network, Secret};
use custos_eth::policy::EthPolicy;
use custos_eth::safe::{safe_address, SafeDeployment};

const CHALLENGE: &str = "eth ceremony";

fn record_with_eth(entropy: [u8; 16], label: &str) -> KeyRecord {
    let secp = Secp256k1::new();
    let m = mnemonic::from_entropy(&Secret::new(entropy.to_vec())).unwrap();
    let seed = mnemonic::seed(&m, None);
    let net = Network::Regtest;
    let acct = derive_account(&secp, &seed, net, &ScriptKind::Wsh.account_path(net)).unwrap();
    record::make_record_with_eth(
        &secp,
        &acct,
        &seed,
        net,
        ScriptKind::Wsh,
        label,
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

/// BIP39 "abandon … about" (entropy 00…00) at m/44'/60'/0'/0/0 is MetaMask's and ethers'
/// well-known first account.
#[test]
fn ethereum_key_is_the_seeds_first_metamask_account_with_a_verified_proof() {
    let r = record_with_eth([0u8; 16], "alice");
    let eth = r.ethereum.as_ref().expect("ethereum key in the record");
    assert_eq!(eth.address, "0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
    assert_eq!(eth.path, "m/44'/60'/0'/0/0");
    // The Bitcoin proof covers the Ethereum address.
    let btc = r.proof.as_ref().unwrap();
    assert!(btc
        .message
        .ends_with("\nethereum: 0x9858EfFD232B4033E47d90003D41EC34EcaEda94"));
    let k = load(&r, "alice.json").unwrap();
    assert_eq!(
        k.eth,
        Some(address!("9858EfFD232B4033E47d90003D41EC34EcaEda94"))
    );
    assert_eq!(k.label, "alice");
}

#[test]
fn refuses_a_record_whose_ethereum_part_was_swapped_or_edited() {
    let a = record_with_eth([1u8; 16], "a");
    let b = record_with_eth([2u8; 16], "b");
    // b's (validly signed) Ethereum key moved onto a's record.
    let mut swapped = a.clone();
    swapped.ethereum = b.ethereum.clone();
    let e = load(&swapped, "swapped.json").unwrap_err();
    assert!(matches!(e, Error::ProofRefused { .. }), "{e}");
    // Another address written in, message left alone.
    let mut edited = a.clone();
    edited.ethereum.as_mut().unwrap().address = b.ethereum.as_ref().unwrap().address.clone();
    assert!(matches!(
        load(&edited, "edited.json").unwrap_err(),
        Error::ProofRefused { .. }
    ));
    // A forged signature byte.
    let mut forged = a.clone();
    let sig = &mut forged.ethereum.as_mut().unwrap().signature;
    let last = if sig.ends_with('b') { "c" } else { "b" };
    sig.replace_range(10..11, last);
    assert!(load(&forged, "forged.json").is_err());
    // The Ethereum part dropped: the Bitcoin proof no longer matches what is left? It still
    // covers the address, so the record without it is refused too.
    let mut dropped = a.clone();
    dropped.ethereum = None;
    assert!(matches!(
        load(&dropped, "dropped.json").unwrap_err(),
        Error::ProofRefused { .. }
    ));
    assert!(load(&a, "a.json").is_ok());
}

fn request() -> Request {
    Request {
        name: "vault".into(),
        network: Network::Regtest,
        script: ScriptKind::Wsh,
        threshold: 2,
        allow_unproven: false,
        challenge: Some(CHALLENGE.into()),
    }
}

fn safe_request() -> EthSafeRequest {
    EthSafeRequest {
        chain_id: 31337,
        salt_nonce: U256::from(7u8),
        deployment: SafeDeployment::CANONICAL_V1_4_1,
        max_fee_per_tx_wei: U256::from(10u64.pow(16)),
    }
}

#[test]
fn assembles_the_safe_policy_from_the_keyholders_ethereum_keys() {
    let keys: Vec<_> = (1..=3u8)
        .map(|i| {
            load(
                &record_with_eth([i; 16], &format!("k{i}")),
                &format!("k{i}.json"),
            )
            .unwrap()
        })
        .collect();
    let asm = assemble::assemble(&request(), keys).unwrap();
    let (file, policy) = eth_policy(&asm, &safe_request()).unwrap();
    let owners: Vec<Address> = asm.keys.iter().map(|k| k.eth.unwrap()).collect();
    let want = safe_address(
        &SafeDeployment::CANONICAL_V1_4_1,
        &owners,
        2,
        U256::from(7u8),
    )
    .unwrap();
    assert_eq!(policy.safe, want);
    assert_eq!(policy.owners, Some((owners, 2)));
    assert_eq!(policy.chain_id, 31337);
    // The written file checks on its own (the signer recomputes the address).
    let text = serde_json::to_string_pretty(&file).unwrap();
    assert_eq!(EthPolicy::from_json(&text).unwrap(), policy);
    // Another salt is another Safe.
    let mut other = safe_request();
    other.salt_nonce = U256::from(8u8);
    assert_ne!(eth_policy(&asm, &other).unwrap().1.safe, want);
}

#[test]
fn refuses_a_safe_when_a_key_has_no_ethereum_key() {
    let secp = Secp256k1::new();
    let mut keys: Vec<_> = (1..=2u8)
        .map(|i| load(&record_with_eth([i; 16], "x"), &format!("k{i}.json")).unwrap())
        .collect();
    let m = mnemonic::from_entropy(&Secret::new(vec![9u8; 16])).unwrap();
    let seed = mnemonic::seed(&m, None);
    let net = Network::Regtest;
    let acct = derive_account(&secp, &seed, net, &ScriptKind::Wsh.account_path(net)).unwrap();
    let plain = record::make_record(&secp, &acct, net, ScriptKind::Wsh, "old", CHALLENGE, "t")
        .unwrap()
        .record;
    keys.push(load(&plain, "old.json").unwrap());
    let asm = assemble::assemble(&request(), keys).unwrap();
    let e = eth_policy(&asm, &safe_request()).unwrap_err();
    assert!(e.to_string().contains("old.json"), "{e}");
    assert!(matches!(e, Error::KeyRefused { .. }), "{e}");
}
