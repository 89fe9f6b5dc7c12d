//! Deterministic test material shared by the integration tests and the benches: a "seized"
//! wallet (a BIP32 master from a fixed test seed plus two WIF keys), 2-of-3 custody policies
//! over three test keyholders, and inventories whose funding transactions pay those keys.
//! These keys are test-only and public.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use bitcoin::{
    absolute::LockTime,
    bip32::{DerivationPath, Xpriv, Xpub},
    hashes::Hash,
    secp256k1::{Secp256k1, SecretKey},
    transaction::Version,
    Amount, OutPoint, PrivateKey, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use custos_core::{
    inventory::{
        CustodyKey, CustodyPolicy, Inventory, InventoryUtxo, CUSTODY_POLICY_FORMAT,
        INVENTORY_FORMAT_V1,
    },
    Network, Sat,
};
use custos_tx::{sign::SigningKeys, weight::InputKind};
use miniscript::{Descriptor, DescriptorPublicKey};

pub(crate) const NET: bitcoin::Network = bitcoin::Network::Regtest;

/// The seized BIP32 master (seed = 32 bytes of 0x42).
pub(crate) fn seized_master() -> Xpriv {
    Xpriv::new_master(NET, &[0x42; 32]).unwrap()
}

/// A seized WIF key with an uncompressed public key.
pub(crate) fn seized_wif_uncompressed() -> PrivateKey {
    PrivateKey::new_uncompressed(SecretKey::from_slice(&[0x07; 32]).unwrap(), NET)
}

/// A seized WIF key with a compressed public key.
pub(crate) fn seized_wif_compressed() -> PrivateKey {
    PrivateKey::new(SecretKey::from_slice(&[0x08; 32]).unwrap(), NET)
}

/// All seized keys, as the signer gets them.
pub(crate) fn seized_keys() -> SigningKeys {
    let mut k = SigningKeys::new();
    k.add_master(seized_master());
    k.add_private_key(seized_wif_uncompressed());
    k.add_private_key(seized_wif_compressed());
    k
}

/// Master xprv of custody keyholder `i` (seed = 32 bytes of 0x10 + i).
pub(crate) fn keyholder(i: u8) -> Xpriv {
    Xpriv::new_master(NET, &[0x10 + i; 32]).unwrap()
}

fn checksummed(body: &str) -> String {
    let mut eng = miniscript::descriptor::checksum::Engine::new();
    eng.input(body).unwrap();
    format!("{body}#{}", eng.checksum())
}

/// 2-of-3 custody policy: `wsh(sortedmulti(...))` or `tr(NUMS,sortedmulti_a(...))`.
pub(crate) fn custody_policy(kind: &str) -> CustodyPolicy {
    let secp = Secp256k1::new();
    let path = DerivationPath::from_str("m/48'/1'/0'/2'").unwrap();
    let mut keys = Vec::new();
    let mut exprs = Vec::new();
    for i in 0..3 {
        let m = keyholder(i);
        let fp = m.fingerprint(&secp);
        let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).unwrap());
        keys.push(CustodyKey {
            fingerprint: fp.to_string(),
            path: "m/48'/1'/0'/2'".into(),
            xpub: x.to_string(),
            label: format!("keyholder {i}"),
        });
        exprs.push(format!("[{fp}/48'/1'/0'/2']{x}"));
    }
    let desc = |chain: u32| {
        let ks: Vec<String> = exprs.iter().map(|e| format!("{e}/{chain}/*")).collect();
        let body = match kind {
            "wsh" => format!("wsh(sortedmulti(2,{}))", ks.join(",")),
            _ => format!(
                "tr(50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0,sortedmulti_a(2,{}))",
                ks.join(",")
            ),
        };
        checksummed(&body)
    };
    CustodyPolicy {
        format: CUSTODY_POLICY_FORMAT.into(),
        name: "test custody".into(),
        network: Network::Regtest,
        threshold: 2,
        keys,
        receive_descriptor: desc(0),
        change_descriptor: desc(1),
        next_index: 3,
        ceremony_record: None,
        authorities: Vec::new(),
    }
}

/// The definite descriptor of seized key number `i` of a kind.
pub(crate) fn seized_descriptor(kind: InputKind, i: u32) -> String {
    let secp = Secp256k1::new();
    let m = seized_master();
    let fp = m.fingerprint(&secp);
    let at = |purpose: u32| {
        let p = DerivationPath::from_str(&format!("m/{purpose}'/1'/0'/0/{i}")).unwrap();
        let k = m
            .derive_priv(&secp, &p)
            .unwrap()
            .private_key
            .public_key(&secp);
        (format!("[{fp}/{purpose}'/1'/0'/0/{i}]"), k)
    };
    match kind {
        InputKind::P2wpkh => {
            let (o, k) = at(84);
            format!("wpkh({o}{k})")
        }
        InputKind::P2shP2wpkh => {
            let (o, k) = at(49);
            format!("sh(wpkh({o}{k}))")
        }
        InputKind::P2pkhCompressed => {
            let (o, k) = at(44);
            format!("pkh({o}{k})")
        }
        InputKind::P2trKeyPath => {
            let (o, k) = at(86);
            format!("tr({o}{})", k.x_only_public_key().0)
        }
        InputKind::P2pkhUncompressed => {
            format!("pkh({})", seized_wif_uncompressed().public_key(&secp))
        }
        InputKind::P2wshMulti { .. } | InputKind::P2trMultiA { .. } => {
            panic!("not a seized kind")
        }
    }
}

/// A funding transaction with one input (from a made-up outpoint numbered `n`) paying `value`
/// to `spk` at output `vout` (earlier outputs pay an unrelated script).
pub(crate) fn funding_tx(n: u32, spk: ScriptBuf, value: u64, vout: u32) -> Transaction {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_le_bytes());
    b[31] = 0xee;
    let mut output: Vec<TxOut> = (0..vout)
        .map(|_| TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
        })
        .collect();
    output.push(TxOut {
        value: Amount::from_sat(value),
        script_pubkey: spk,
    });
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array(b), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from_slice(&[vec![1u8; 72], vec![2u8; 33]]),
        }],
        output,
    }
}

/// An inventory UTXO of seized key `i` of a kind, worth `value`.
pub(crate) fn inventory_utxo(kind: InputKind, i: u32, value: u64) -> InventoryUtxo {
    let desc = seized_descriptor(kind, i);
    let d = Descriptor::<DescriptorPublicKey>::from_str(&desc).unwrap();
    let spk = d.at_derivation_index(0).unwrap().script_pubkey();
    let vout = i % 2;
    let tx = funding_tx(i * 10 + kind_no(kind), spk.clone(), value, vout);
    InventoryUtxo {
        outpoint: format!("{}:{vout}", tx.compute_txid()),
        value: Sat(value),
        height: 100,
        address: bitcoin::Address::from_script(&spk, NET)
            .unwrap()
            .to_string(),
        script_pubkey: spk.to_hex_string(),
        descriptor: desc,
        source: format!("{}/{i}", kind.name()),
        verified: true,
        prev_tx: bitcoin::consensus::encode::serialize_hex(&tx),
    }
}

fn kind_no(k: InputKind) -> u32 {
    match k {
        InputKind::P2pkhCompressed => 1,
        InputKind::P2pkhUncompressed => 2,
        InputKind::P2shP2wpkh => 3,
        InputKind::P2wpkh => 4,
        InputKind::P2trKeyPath => 5,
        InputKind::P2wshMulti { .. } => 6,
        InputKind::P2trMultiA { .. } => 7,
    }
}

/// An inventory holding these UTXOs.
pub(crate) fn inventory(utxos: Vec<InventoryUtxo>) -> Inventory {
    let total = utxos.iter().map(|u| u.value.0).sum();
    Inventory {
        format: INVENTORY_FORMAT_V1.into(),
        network: Network::Regtest,
        scanned: "2026-01-01T00:00:00Z".into(),
        servers: vec!["test".into()],
        tip_height: 200,
        tip_hash: "00".repeat(32),
        complete: true,
        addresses: vec![],
        utxos,
        confirmed: Sat(total),
        unconfirmed: Sat(0),
        warnings: vec![],
        transactions: Default::default(),
    }
}

/// One UTXO of every seized kind.
pub(crate) fn mixed_inventory() -> Inventory {
    inventory(vec![
        inventory_utxo(InputKind::P2wpkh, 0, 150_000),
        inventory_utxo(InputKind::P2wpkh, 1, 70_000),
        inventory_utxo(InputKind::P2shP2wpkh, 2, 90_000),
        inventory_utxo(InputKind::P2pkhCompressed, 3, 60_000),
        inventory_utxo(InputKind::P2pkhUncompressed, 0, 55_000),
        inventory_utxo(InputKind::P2trKeyPath, 4, 80_000),
    ])
}
