//! The signer's checks, one refusal at a time: each names the transaction and the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{address, Address, U256};
use alloy_sol_types::SolCall;
use custos_ceremony::cbor::{decode, Value};
use custos_eth::{
    check::review,
    erc20::encode_transfer,
    policy::{EthPolicy, ETH_POLICY_FORMAT},
    safe::{addOwnerWithThresholdCall, changeThresholdCall, SafeDeployment},
    safe_tx::{review_safe_tx, Payment, SafeTxFile, SAFE_TX_FORMAT},
    unsigned::{TokenInfo, TxPurpose, UnsignedSet, UnsignedTx, UNSIGNED_SET_FORMAT},
    ur::{eth_sign_request_cbor, eth_sign_request_parts, eth_sign_request_ur},
    Error,
};

const SAFE: Address = address!("e80F3c2046C04bf94B04Ca142F94fbf7480110C7");
const SEIZED: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
const SEIZED2: Address = address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
const OPS: Address = address!("90F79bf6EB2c4f870365E785982E1f101E93b906");
const TOKEN: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
const THIEF: Address = address!("00000000000000000000000000000000000000aa");
const GWEI: u64 = 1_000_000_000;

fn policy() -> EthPolicy {
    EthPolicy::from_json(
        &serde_json::json!({
            "format": ETH_POLICY_FORMAT, "name": "case-7 custody", "chain_id": 31337,
            "safe": SAFE.to_checksum(None), "max_fee_per_tx_wei": "10000000000000000",
            "safe_setup": {
                "owners": ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                           "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                           "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"],
                "threshold": 2, "salt_nonce": "0"
            }
        })
        .to_string(),
    )
    .unwrap()
}

fn eth(from: Address, nonce: u64, to: Address, wei: u64) -> UnsignedTx {
    UnsignedTx {
        purpose: TxPurpose::EthTransfer,
        from: from.to_checksum(None),
        nonce,
        to: to.to_checksum(None),
        value: U256::from(wei),
        data: "0x".into(),
        gas_limit: 21_000,
        max_fee_per_gas: U256::from(20 * GWEI),
        max_priority_fee_per_gas: U256::from(GWEI),
        key_path: Some("m/44'/60'/0'/0/1".into()),
        token: None,
    }
}

fn token(from: Address, nonce: u64, recipient: Address, units: u64) -> UnsignedTx {
    UnsignedTx {
        purpose: TxPurpose::TokenTransfer,
        to: TOKEN.to_checksum(None),
        value: U256::ZERO,
        data: format!(
            "0x{}",
            hex::encode(encode_transfer(recipient, U256::from(units)))
        ),
        gas_limit: 65_000,
        token: Some(TokenInfo {
            symbol: "USDT".into(),
            decimals: 6,
        }),
        ..eth(from, nonce, TOKEN, 0)
    }
}

fn set(txs: Vec<UnsignedTx>) -> UnsignedSet {
    UnsignedSet {
        format: UNSIGNED_SET_FORMAT.into(),
        chain_id: 31337,
        pinned_block: None,
        txs,
    }
}

fn refusals(s: &UnsignedSet) -> Vec<String> {
    review(s, &policy())
        .unwrap()
        .refusals
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn a_clean_sweep_with_gas_funding_passes_and_summarises_exact_amounts() {
    let mut fund = eth(OPS, 4, SEIZED2, 65_000 * 20 * GWEI);
    fund.purpose = TxPurpose::GasFunding;
    let s = set(vec![
        fund,
        token(SEIZED2, 0, SAFE, 12_500_000),
        token(SEIZED, 0, SAFE, 1),
        eth(SEIZED, 1, SAFE, 1_000_000_000_000_000_001),
    ]);
    let r = review(&s, &policy()).unwrap();
    assert!(r.refusals.is_empty(), "{:?}", r.refusals);
    let text = custos_eth::check::summary(&r, &policy()).join("\n");
    assert!(text.contains("12.500000 USDT"), "{text}");
    assert!(
        text.contains("1.000000000000000001 ETH -> 0xe80F3c2046C04bf94B04Ca142F94fbf7480110C7"),
        "{text}"
    );
    assert!(
        text.contains("total ether to the safe: 1.000000000000000001 ETH"),
        "{text}"
    );
}

#[test]
fn refuses_wrong_chain_id() {
    let mut s = set(vec![eth(SEIZED, 0, SAFE, 1)]);
    s.chain_id = 1;
    let r = refusals(&s);
    assert!(
        r[0].contains("field chain_id is 1") && r[0].contains("31337"),
        "{r:?}"
    );
}

#[test]
fn refuses_ether_to_a_destination_outside_the_policy() {
    let r = refusals(&set(vec![eth(SEIZED, 0, THIEF, 1)]));
    assert_eq!(r.len(), 1);
    assert!(
        r[0].contains("tx 0 (from 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, nonce 0)"),
        "{r:?}"
    );
    assert!(
        r[0].contains("field to") && r[0].contains("0x00000000000000000000000000000000000000AA"),
        "{r:?}"
    );
}

#[test]
fn refuses_token_call_data_whose_decoded_recipient_is_outside_the_policy() {
    let r = refusals(&set(vec![token(SEIZED, 0, THIEF, 5)]));
    assert!(
        r[0].contains("field data") && r[0].contains("decoded transfer recipient"),
        "{r:?}"
    );
    // an approve is not a transfer, whatever the label says
    let mut t = token(SEIZED, 0, SAFE, 5);
    t.data = t.data.replacen("a9059cbb", "095ea7b3", 1);
    let r = refusals(&set(vec![t]));
    assert!(r[0].contains("not an erc-20 transfer"), "{r:?}");
}

#[test]
fn refuses_a_label_that_disagrees_with_the_call_data() {
    let mut t = token(SEIZED, 0, SAFE, 5);
    t.purpose = TxPurpose::EthTransfer;
    let r = refusals(&set(vec![t]));
    assert!(r[0].contains("field purpose"), "{r:?}");
}

#[test]
fn refuses_a_fee_above_the_cap() {
    let mut t = eth(SEIZED, 0, SAFE, 1);
    t.max_fee_per_gas = U256::from(1_000 * GWEI); // 21000 × 1000 gwei = 0.021 ETH > 0.01
    let r = refusals(&set(vec![t]));
    assert!(
        r[0].contains("fee cap") && r[0].contains("0.021000000000000000 ETH"),
        "{r:?}"
    );
}

#[test]
fn refuses_a_nonce_gap_and_a_repeat() {
    let r = refusals(&set(vec![eth(SEIZED, 3, SAFE, 1), eth(SEIZED, 5, SAFE, 1)]));
    assert!(
        r[0].contains("tx 1")
            && r[0].contains("field nonce: 5 follows nonce 3")
            && r[0].contains("expected 4"),
        "{r:?}"
    );
    let r = refusals(&set(vec![eth(SEIZED, 3, SAFE, 1), eth(SEIZED, 3, SAFE, 1)]));
    assert!(r[0].contains("field nonce"), "{r:?}");
    // different senders have their own sequences
    assert!(refusals(&set(vec![
        eth(SEIZED, 3, SAFE, 1),
        eth(SEIZED2, 9, SAFE, 1)
    ]))
    .is_empty());
}

#[test]
fn refuses_gas_funding_beyond_the_fees_it_pays_or_to_a_stranger() {
    let mut fund = eth(OPS, 0, SEIZED2, 65_000 * 20 * GWEI + 1);
    fund.purpose = TxPurpose::GasFunding;
    let r = refusals(&set(vec![fund.clone(), token(SEIZED2, 0, SAFE, 1)]));
    assert!(r[0].contains("exceeds"), "{r:?}");
    fund.to = THIEF.to_checksum(None);
    let r = refusals(&set(vec![fund, token(SEIZED2, 0, SAFE, 1)]));
    assert!(r[0].contains("sends no later transaction"), "{r:?}");
}

#[test]
fn a_policy_whose_safe_does_not_match_its_owners_is_refused() {
    let text = serde_json::json!({
        "format": ETH_POLICY_FORMAT, "name": "x", "chain_id": 1,
        "safe": THIEF.to_checksum(None), "max_fee_per_tx_wei": "1",
        "safe_setup": {"owners": [SEIZED.to_checksum(None)], "threshold": 1, "salt_nonce": "0"}
    });
    let e = EthPolicy::from_json(&text.to_string()).unwrap_err();
    assert!(
        matches!(e, Error::Refused { .. }) && e.to_string().contains("is not the address"),
        "{e}"
    );
    let _ = SafeDeployment::CANONICAL_V1_4_1;
}

fn safe_tx(to: Address, value: u64, data: Vec<u8>, operation: u8) -> SafeTxFile {
    SafeTxFile {
        format: SAFE_TX_FORMAT.into(),
        chain_id: 31337,
        safe: SAFE.to_checksum(None),
        to: to.to_checksum(None),
        value: U256::from(value),
        data: format!("0x{}", hex::encode(data)),
        operation,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: Address::ZERO.to_checksum(None),
        refund_receiver: Address::ZERO.to_checksum(None),
        nonce: U256::from(3u8),
        safe_tx_hash: None,
    }
}

#[test]
fn safe_review_accepts_only_allowed_payees() {
    let p = safe_tx(THIEF, 5, vec![], 0).parse().unwrap();
    assert_eq!(
        review_safe_tx(&p, &[THIEF]).unwrap(),
        Payment::Eth {
            payee: THIEF,
            value: U256::from(5u8)
        }
    );
    let e = review_safe_tx(&p, &[OPS]).unwrap_err().to_string();
    assert!(
        e.contains("payee 0x00000000000000000000000000000000000000AA is not among"),
        "{e}"
    );
    let p = safe_tx(TOKEN, 0, encode_transfer(OPS, U256::from(7u8)), 0)
        .parse()
        .unwrap();
    assert!(
        matches!(review_safe_tx(&p, &[OPS]).unwrap(), Payment::Token { payee, .. } if payee == OPS)
    );
    assert!(
        review_safe_tx(&p, &[TOKEN]).is_err(),
        "the token contract is not the payee"
    );
}

#[test]
fn safe_review_refuses_delegatecall_owner_changes_and_refunds() {
    let p = safe_tx(THIEF, 0, vec![], 1).parse().unwrap();
    let e = review_safe_tx(&p, &[THIEF]).unwrap_err().to_string();
    assert!(
        e.contains("field operation is 1") && e.contains("delegatecall"),
        "{e}"
    );
    let add = addOwnerWithThresholdCall {
        owner: THIEF,
        _threshold: U256::from(1u8),
    }
    .abi_encode();
    let p = safe_tx(SAFE, 0, add, 0).parse().unwrap();
    let e = review_safe_tx(&p, &[SAFE, THIEF]).unwrap_err().to_string();
    assert!(e.contains("addOwnerWithThreshold"), "{e}");
    let ch = changeThresholdCall {
        _threshold: U256::from(1u8),
    }
    .abi_encode();
    let e = review_safe_tx(&safe_tx(SAFE, 0, ch, 0).parse().unwrap(), &[SAFE])
        .unwrap_err()
        .to_string();
    assert!(e.contains("changeThreshold"), "{e}");
    let mut f = safe_tx(THIEF, 1, vec![], 0);
    f.gas_price = U256::from(1u8);
    let e = review_safe_tx(&f.parse().unwrap(), &[THIEF])
        .unwrap_err()
        .to_string();
    assert!(e.contains("field gas_price"), "{e}");
}

#[test]
fn eth_sign_request_decodes_to_the_erc4527_fields() {
    let s = set(vec![eth(SEIZED, 7, SAFE, 42)]);
    let t = &s.check().unwrap()[0];
    let cbor = eth_sign_request_cbor(31337, t, Some(0x1234_5678)).unwrap();
    let v = decode(&cbor, "eth-sign-request").unwrap();
    assert!(
        matches!(v.get(1), Some(Value::Tag(37, b)) if matches!(**b, Value::Bytes(ref id) if id.len() == 16))
    );
    let Some(Value::Bytes(payload)) = v.get(2) else {
        panic!("sign-data")
    };
    assert_eq!(payload[0], 0x02, "eip-1559 signing payload");
    assert_eq!(*payload, custos_eth::tx::signing_payload(31337, t));
    assert_eq!(v.get(3), Some(&Value::Uint(4)));
    assert_eq!(v.get(4), Some(&Value::Uint(31337)));
    let Some(Value::Tag(304, kp)) = v.get(5) else {
        panic!("keypath")
    };
    assert_eq!(kp.get(2), Some(&Value::Uint(0x1234_5678)));
    let Some(Value::Array(c)) = kp.get(1) else {
        panic!("components")
    };
    assert_eq!(
        *c,
        vec![
            Value::Uint(44),
            Value::Bool(true),
            Value::Uint(60),
            Value::Bool(true),
            Value::Uint(0),
            Value::Bool(true),
            Value::Uint(0),
            Value::Bool(false),
            Value::Uint(1),
            Value::Bool(false)
        ]
    );
    assert_eq!(v.get(6), Some(&Value::Bytes(SEIZED.to_vec())));
    // the UR string round-trips through the ur crate's decoder
    let ur = eth_sign_request_ur(31337, t, None).unwrap();
    assert!(ur.starts_with("ur:eth-sign-request/"), "{ur}");
    let (_, back) = ur::ur::decode(&ur).unwrap();
    assert_eq!(back, eth_sign_request_cbor(31337, t, None).unwrap());
    let mut dec = ur::Decoder::default();
    for p in eth_sign_request_parts(31337, t, None, 40, 2).unwrap() {
        dec.receive(&p).unwrap();
    }
    assert_eq!(dec.message().unwrap().unwrap(), back);
}

#[test]
fn eth_sign_request_needs_the_key_path() {
    let mut tx = eth(SEIZED, 7, SAFE, 42);
    tx.key_path = None;
    let s = set(vec![tx]);
    let e = eth_sign_request_cbor(31337, &s.check().unwrap()[0], None).unwrap_err();
    assert!(e.to_string().contains("key_path"), "{e}");
}
