//! custos-eth against an implementation it shares no code with: PyPI eth-account, eth-abi and
//! eth-utils wrote fixtures/eth/safe-and-tx-vectors.json (fixtures/eth/make_vectors.py) —
//! EIP-1559 transactions signed byte for byte, Safe v1.4.1 CREATE2 addresses computed the way
//! the npm package's own `calculateProxyAddress` does, SafeTx EIP-712 hashes and signatures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{Address, Bytes, U256};
use custos_core::SecretString;
use custos_eth::{
    safe::{safe_address, safe_tx_hash, setup_calldata, SafeDeployment, SafeTx},
    safe_tx::{sign_safe_tx, SafeTxFile, SAFE_TX_FORMAT},
    tx::{sign, signer_from_key},
    unsigned::{CheckedTx, TxPurpose},
};
use serde_json::Value;

fn vectors() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/eth/safe-and-tx-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn anvil_key(i: usize) -> custos_core::secret::SecretBytes {
    let phrase =
        SecretString::new("test test test test test test test test test test test junk".into());
    let seed = custos_keys::bip39_seed(&phrase, None).unwrap();
    let path = custos_keys::eth::ETH_PATHS[0].path(i as u32).unwrap();
    custos_keys::eth::derive_account(&seed, &path).unwrap().key
}

fn addr(v: &Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

fn u256(v: &Value) -> U256 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => U256::from(other.as_u64().unwrap()),
    }
}

fn bytes(v: &Value) -> Bytes {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x"))
        .unwrap()
        .into()
}

#[test]
fn signed_eip1559_transactions_equal_eth_accounts_byte_for_byte() {
    let v = vectors();
    for (i, t) in v["signed_eip1559"].as_array().unwrap().iter().enumerate() {
        let ct = CheckedTx {
            index: i,
            purpose: TxPurpose::EthTransfer,
            from: addr(&t["from"]),
            nonce: t["nonce"].as_u64().unwrap(),
            to: addr(&t["to"]),
            value: u256(&t["value"]),
            data: bytes(&t["data"]),
            gas_limit: t["gas"].as_u64().unwrap(),
            max_fee_per_gas: u128::from(t["maxFeePerGas"].as_u64().unwrap()),
            max_priority_fee_per_gas: u128::from(t["maxPriorityFeePerGas"].as_u64().unwrap()),
            key_path: None,
            token: None,
        };
        let signed = sign(
            t["chainId"].as_u64().unwrap(),
            &ct,
            &signer_from_key(&anvil_key(2)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(&signed.raw)),
            t["raw"].as_str().unwrap(),
            "tx {i}"
        );
        assert_eq!(signed.signer, ct.from);
    }
}

#[test]
fn signing_refuses_a_key_that_is_not_the_sender() {
    let v = vectors();
    let t = &v["signed_eip1559"][0];
    let ct = CheckedTx {
        index: 0,
        purpose: TxPurpose::EthTransfer,
        from: addr(&t["from"]),
        nonce: 0,
        to: addr(&t["to"]),
        value: U256::from(1u8),
        data: Bytes::new(),
        gas_limit: 21_000,
        max_fee_per_gas: 1,
        max_priority_fee_per_gas: 1,
        key_path: None,
        token: None,
    };
    let e = sign(1, &ct, &signer_from_key(&anvil_key(3)).unwrap()).unwrap_err();
    assert!(e.to_string().contains("the key given is for"), "{e}");
}

#[test]
fn safe_addresses_equal_the_npm_packages_create2_computation() {
    let v = vectors();
    let d = SafeDeployment::CANONICAL_V1_4_1;
    for s in v["safes"].as_array().unwrap() {
        let owners: Vec<Address> = s["owners"].as_array().unwrap().iter().map(addr).collect();
        let threshold = s["threshold"].as_u64().unwrap();
        let nonce = u256(&s["salt_nonce"]);
        assert_eq!(
            format!("0x{}", hex::encode(setup_calldata(&d, &owners, threshold))),
            s["setup_calldata"].as_str().unwrap()
        );
        assert_eq!(
            safe_address(&d, &owners, threshold, nonce).unwrap(),
            addr(&s["address"])
        );
    }
}

fn safe_tx_of(t: &Value) -> SafeTx {
    SafeTx {
        to: addr(&t["to"]),
        value: u256(&t["value"]),
        data: bytes(&t["data"]),
        operation: t["operation"].as_u64().unwrap() as u8,
        safeTxGas: u256(&t["safeTxGas"]),
        baseGas: u256(&t["baseGas"]),
        gasPrice: u256(&t["gasPrice"]),
        gasToken: addr(&t["gasToken"]),
        refundReceiver: addr(&t["refundReceiver"]),
        nonce: u256(&t["nonce"]),
    }
}

#[test]
fn safe_tx_hashes_and_signatures_equal_eth_accounts() {
    let v = vectors();
    for s in v["safe_txs"].as_array().unwrap() {
        let chain_id = s["chain_id"].as_u64().unwrap();
        let safe = addr(&s["safe"]);
        let tx = safe_tx_of(&s["tx"]);
        let hash = safe_tx_hash(&tx, chain_id, safe);
        assert_eq!(hash.to_string(), s["safe_tx_hash"].as_str().unwrap());
        // through the file format, as the signer reads it
        let file = SafeTxFile {
            format: SAFE_TX_FORMAT.into(),
            chain_id,
            safe: s["safe"].as_str().unwrap().into(),
            to: s["tx"]["to"].as_str().unwrap().into(),
            value: tx.value,
            data: s["tx"]["data"].as_str().unwrap().into(),
            operation: tx.operation,
            safe_tx_gas: tx.safeTxGas,
            base_gas: tx.baseGas,
            gas_price: tx.gasPrice,
            gas_token: s["tx"]["gasToken"].as_str().unwrap().into(),
            refund_receiver: s["tx"]["refundReceiver"].as_str().unwrap().into(),
            nonce: tx.nonce,
            safe_tx_hash: Some(hash.to_string()),
        };
        let parsed = file.parse().unwrap();
        let sig = sign_safe_tx(&parsed, &signer_from_key(&anvil_key(1)).unwrap()).unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(sig)),
            s["signature"].as_str().unwrap()
        );
        assert!(sig[64] == 27 || sig[64] == 28);
    }
}

#[test]
fn a_stated_safe_tx_hash_that_differs_is_refused() {
    let v = vectors();
    let s = &v["safe_txs"][0];
    let mut f: SafeTxFile = serde_json::from_value(serde_json::json!({
        "format": SAFE_TX_FORMAT, "chain_id": s["chain_id"], "safe": s["safe"],
        "to": s["tx"]["to"], "value": s["tx"]["value"], "data": s["tx"]["data"], "operation": 0,
        "safe_tx_gas": "0", "base_gas": "0", "gas_price": "0",
        "gas_token": s["tx"]["gasToken"], "refund_receiver": s["tx"]["refundReceiver"],
        "nonce": s["tx"]["nonce"],
    }))
    .unwrap();
    assert!(f.parse().is_ok());
    f.safe_tx_hash = Some(format!("0x{}", "00".repeat(32)));
    let e = f.parse().unwrap_err();
    assert!(matches!(e, custos_eth::Error::Refused { .. }), "{e}");
}
