//! The Electrum server through the `electrum-client` crate, unchanged: every method the lab
//! serves, notifications, batches, SPV proofs, and the status hash against a hand-made value.

mod common;

use std::sync::OnceLock;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, OutPoint, ScriptBuf};
use common::{out, unsigned, TestKey};
use custos_lab::{Lab, LabConfig};
use electrum_client::{Client, ElectrumApi, Param};
use serde_json::json;

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let mut cfg = LabConfig::scenario("seized-basic");
        cfg.data_dir = Some(common::data_dir("electrum"));
        Lab::start(cfg).expect("lab starts")
    })
}

fn client() -> Client {
    Client::new(&lab().url()).expect("connects")
}

fn suspect_scripts() -> Vec<ScriptBuf> {
    let w = lab().ground_truth().wallet("suspect").unwrap();
    w.addresses
        .iter()
        .map(|a| {
            a.address
                .parse::<bitcoin::Address<_>>()
                .unwrap()
                .require_network(bitcoin::Network::Regtest)
                .unwrap()
                .script_pubkey()
        })
        .collect()
}

#[test]
fn status_hash_matches_a_hand_computed_value() {
    // sha256("<txid>:<height>:" ...) worked out with Python's hashlib:
    // hashlib.sha256(("a"*64 + ":5:" + "b"*64 + ":0:").encode()).hexdigest()
    let a: bitcoin::Txid = "a".repeat(64).parse().unwrap();
    let b: bitcoin::Txid = "b".repeat(64).parse().unwrap();
    let got = custos_lab::status_hash(&[(a, 5), (b, 0)]).unwrap();
    assert_eq!(
        got,
        "79a127da650a5d2524323656cf496efeb49ecf05f6f338e2c64b8e27789ac553"
    );
    assert_eq!(custos_lab::status_hash(&[]), None);
}

#[test]
fn server_methods_answer_like_an_electrum_server() {
    let c = client();
    let features = c.server_features().unwrap();
    assert_eq!(features.protocol_max, "1.4");
    // electrum-client keeps the hex as sent (display order).
    assert_eq!(
        hex::encode(features.genesis_hash),
        bitcoin::constants::genesis_block(bitcoin::Network::Regtest)
            .block_hash()
            .to_string()
    );
    c.ping().unwrap();
    assert_eq!(c.protocol_version().unwrap(), "1.4");
    let banner = c.raw_call("server.banner", vec![]).unwrap();
    assert!(banner.as_str().unwrap().contains("seized-basic"));
    assert_eq!(
        c.raw_call("server.donation_address", vec![]).unwrap(),
        json!("")
    );
    assert_eq!(
        c.raw_call("server.peers.subscribe", vec![]).unwrap(),
        json!([])
    );
    // 0.1 sat/vB = 100 sat/kvB = 0.000001 BTC/kB.
    assert_eq!(c.relay_fee().unwrap().to_string(), "0.000001");
    assert!(c.estimate_fee(6, None).unwrap() > 0.0);
    let info = c.mempool_get_info().unwrap();
    assert_eq!(info.minrelaytxfee.to_string(), "0.000001");
    let hist = c.raw_call("mempool.get_fee_histogram", vec![]).unwrap();
    assert!(hist.is_array());
}

#[test]
fn headers_and_checkpoint_proofs() {
    let c = client();
    let tip = c.block_headers_subscribe().unwrap();
    assert!(tip.height >= lab().ground_truth().tip_height as usize);
    let h = c.block_header(tip.height).unwrap();
    assert_eq!(h.block_hash(), tip.header.block_hash());
    let all = c.block_headers(0, 5000).unwrap();
    assert_eq!(all.max, 2016);
    // Other tests may mine meanwhile: at least up to the tip seen above.
    assert!(all.count >= (tip.height + 1).min(2016));
    assert_eq!(all.count, all.headers.len());
    for w in all.headers.windows(2) {
        assert_eq!(w[1].prev_blockhash, w[0].block_hash());
        w[1].validate_pow(w[1].target()).unwrap();
    }
    let some = c.block_headers(10, 3).unwrap();
    assert_eq!(some.count, 3);
    assert_eq!(some.headers[0], all.headers[10]);
    // cp_height: the branch proves header 7 under the root of headers 0..=20.
    let v = c
        .raw_call(
            "blockchain.block.header",
            vec![Param::Usize(7), Param::Usize(20)],
        )
        .unwrap();
    let root = v["root"].as_str().unwrap();
    let mut acc: [u8; 32] = all.headers[7].block_hash().to_byte_array();
    let mut idx = 7usize;
    for b in v["branch"].as_array().unwrap() {
        let mut sib = hex::decode(b.as_str().unwrap()).unwrap();
        sib.reverse();
        let mut data = Vec::new();
        if idx.is_multiple_of(2) {
            data.extend_from_slice(&acc);
            data.extend_from_slice(&sib);
        } else {
            data.extend_from_slice(&sib);
            data.extend_from_slice(&acc);
        }
        acc = bitcoin::hashes::sha256d::Hash::hash(&data).to_byte_array();
        idx /= 2;
    }
    acc.reverse();
    assert_eq!(hex::encode(acc), root);
    let hs = c
        .raw_call(
            "blockchain.block.headers",
            vec![Param::Usize(0), Param::Usize(8), Param::Usize(20)],
        )
        .unwrap();
    assert_eq!(hs["root"].as_str().unwrap(), root);
    let err = c.raw_call(
        "blockchain.block.header",
        vec![Param::Usize(30), Param::Usize(20)],
    );
    assert!(err.is_err());
}

#[test]
fn scripthash_queries_agree_with_ground_truth() {
    let c = client();
    let truth = lab().ground_truth().wallet("suspect").unwrap();
    let scripts = suspect_scripts();
    let balances = c
        .batch_script_get_balance(scripts.iter().map(|s| s.as_script()))
        .unwrap();
    let total: u64 = balances.iter().map(|b| b.confirmed).sum();
    assert_eq!(total, truth.balance_sat);
    let unspent = c
        .batch_script_list_unspent(scripts.iter().map(|s| s.as_script()))
        .unwrap();
    assert_eq!(
        unspent.iter().map(Vec::len).sum::<usize>(),
        truth.utxo_count
    );
    let histories = c
        .batch_script_get_history(scripts.iter().map(|s| s.as_script()))
        .unwrap();
    for (a, h) in truth.addresses.iter().zip(&histories) {
        assert_eq!(h.len(), a.tx_count, "{}", a.address);
        for w in h.windows(2) {
            assert!(w[0].height <= w[1].height, "history ascending");
        }
    }
    // Every confirmed transaction has a merkle proof that validates against its header.
    for item in histories.iter().flatten() {
        let height = item.height as usize;
        let proof = c.transaction_get_merkle(&item.tx_hash, height).unwrap();
        let header = c.block_header(height).unwrap();
        assert!(electrum_client::utils::validate_merkle_proof(
            &item.tx_hash,
            &header.merkle_root,
            &proof
        ));
        let tx = c.transaction_get(&item.tx_hash).unwrap();
        assert_eq!(tx.compute_txid(), item.tx_hash);
        let id = c.txid_from_pos(height, proof.pos).unwrap();
        assert_eq!(id, item.tx_hash);
        let with = c.txid_from_pos_with_merkle(height, proof.pos).unwrap();
        assert_eq!(with.merkle, proof.merkle);
    }
    // Status hash: sha256 over "txid:height:" of exactly the history.
    let s = &scripts[0];
    let status = c.script_subscribe(s).unwrap().unwrap();
    let h = c.script_get_history(s).unwrap();
    let mut text = String::new();
    for i in &h {
        text.push_str(&format!("{}:{}:", i.tx_hash, i.height));
    }
    assert_eq!(
        hex::encode(sha256::Hash::hash(text.as_bytes()).to_byte_array()),
        serde_json::to_value(status).unwrap().as_str().unwrap()
    );
    assert!(c.script_unsubscribe(s).unwrap());
    // An unused script: empty history, null status.
    let unused = TestKey::new(99).p2wpkh();
    assert!(c.script_subscribe(&unused).unwrap().is_none());
    assert!(c.script_get_history(&unused).unwrap().is_empty());
}

#[test]
fn broadcast_mempool_entries_and_notifications() {
    let lab = lab();
    let c = client();
    let k = TestKey::new(42);
    let spk = k.p2wpkh();
    let op = lab.fund(&spk, Amount::from_sat(500_000)).unwrap();
    let prev = lab.utxo(&op).unwrap();
    assert!(c.script_subscribe(&spk).unwrap().is_some());
    c.block_headers_subscribe().unwrap();
    let dest = TestKey::new(43).p2wpkh();
    let mut tx = unsigned(&[op], vec![out(&dest, 400_000), out(&spk, 99_000)]);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    let txid = c.transaction_broadcast(&tx).unwrap();
    assert_eq!(txid, tx.compute_txid());
    // Mempool entry: height 0 and an integer fee.
    let raw = c
        .raw_call(
            "blockchain.scripthash.get_mempool",
            vec![Param::String(custos_lab::scripthash_hex(
                &custos_lab::script_hash(&dest),
            ))],
        )
        .unwrap();
    assert_eq!(raw[0]["height"], json!(0));
    assert_eq!(raw[0]["fee"], json!(1_000));
    let bal = c.script_get_balance(&dest).unwrap();
    assert_eq!((bal.confirmed, bal.unconfirmed), (0, 400_000));
    let hist = c.raw_call("mempool.get_fee_histogram", vec![]).unwrap();
    assert!(!hist.as_array().unwrap().is_empty());
    // A child of the unconfirmed tx appears with height -1.
    let mut child = unsigned(&[OutPoint::new(txid, 1)], vec![out(&spk, 98_000)]);
    k.sign_p2wpkh(&mut child, &[tx.output[1].clone()]);
    c.transaction_broadcast(&child).unwrap();
    let h = c.script_get_history(&spk).unwrap();
    assert_eq!(h.last().unwrap().height, -1);
    // A refused broadcast comes back as a protocol error with Core's reason.
    let err = c.transaction_broadcast(&tx).unwrap_err().to_string();
    assert!(err.contains("txn-already-in-mempool"), "{err}");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = c.script_pop(&spk);
    lab.mine(1).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    c.ping().unwrap(); // lets the client read pending notifications
    let status = c.script_pop(&spk).unwrap();
    assert!(status.is_some(), "no scripthash notification after mining");
    let header = c.block_headers_pop().unwrap();
    assert_eq!(header.map(|h| h.height as u32), Some(lab.tip_height()));
    let bal = c.script_get_balance(&dest).unwrap();
    assert_eq!((bal.confirmed, bal.unconfirmed), (400_000, 0));
}

#[test]
fn batch_calls_answer_in_order() {
    let c = client();
    let mut b = electrum_client::Batch::default();
    b.raw("server.ping".into(), vec![]);
    b.raw("blockchain.block.header".into(), vec![Param::Usize(1)]);
    b.raw("blockchain.relayfee".into(), vec![]);
    let r = c.batch_call(&b).unwrap();
    assert_eq!(r.len(), 3);
    assert!(r[0].is_null());
    assert_eq!(r[1].as_str().unwrap().len(), 160);
    let heights: Vec<u32> = (0..20).collect();
    let headers = c.batch_block_header(heights).unwrap();
    assert_eq!(headers.len(), 20);
    let fees = c.batch_estimate_fee(vec![1, 2, 6]).unwrap();
    assert_eq!(fees.len(), 3);
}

#[test]
fn in_process_source_agrees_with_the_electrum_server() {
    use custos_core::source::BitcoinSource;
    let c = client();
    let src = lab().source();
    let scripts = suspect_scripts();
    let via_server = c
        .batch_script_get_history(scripts.iter().map(|s| s.as_script()))
        .unwrap();
    let via_source = src.histories(&scripts).unwrap();
    for (a, b) in via_server.iter().zip(&via_source) {
        let a: Vec<_> = a.iter().map(|i| (i.tx_hash, i.height as i64)).collect();
        let b: Vec<_> = b.iter().map(|i| (i.txid, i.height)).collect();
        assert_eq!(a, b);
    }
    let unspent = src.unspents(&scripts).unwrap();
    let total: u64 = unspent.iter().flatten().map(|u| u.value.0).sum();
    assert_eq!(
        total,
        lab().ground_truth().wallet("suspect").unwrap().balance_sat
    );
    let item = &via_source[0][0];
    let h = item.confirmed_height().unwrap();
    let proof = &src.merkle_proofs(&[(item.txid, h)]).unwrap()[0];
    let server = c.transaction_get_merkle(&item.txid, h as usize).unwrap();
    assert_eq!(proof.pos as usize, server.pos);
    assert_eq!(proof.branch.len(), server.merkle.len());
    assert_eq!(src.relay_fee().unwrap().0, 100);
    let tip = src.tip().unwrap();
    assert!(tip.height >= lab().ground_truth().tip_height);
}
