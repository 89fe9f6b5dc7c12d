//! Blocks and transactions judged by Bitcoin Core's kernel: invalid blocks are rejected with
//! Core's reason and leave the tip unchanged; the mempool applies policy and script checks.

mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};

use bitcoin::{Amount, OutPoint, TxOut};
use common::{out, unsigned, TestKey};
use custos_lab::{Error, Lab, LabConfig};

/// One lab for the whole test binary; tests that move the tip take the lock.
fn lab() -> MutexGuard<'static, Lab> {
    static LAB: OnceLock<Mutex<Lab>> = OnceLock::new();
    LAB.get_or_init(|| {
        let mut cfg = LabConfig::scenario("seized-basic");
        cfg.data_dir = Some(common::data_dir("consensus"));
        Mutex::new(Lab::start(cfg).expect("lab starts"))
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn funded(lab: &Lab, script: &bitcoin::ScriptBuf, sat: u64) -> (OutPoint, TxOut) {
    let op = lab.fund(script, Amount::from_sat(sat)).unwrap();
    let txout = lab.utxo(&op).expect("funded output is confirmed");
    (op, txout)
}

fn assert_rejected(lab: &Lab, block: &bitcoin::Block, want: &str) {
    let tip_before = lab.tip_hash();
    let height_before = lab.tip_height();
    match lab.submit_block(block) {
        Err(Error::BlockRejected { reason, .. }) => {
            assert!(
                reason.contains(want),
                "reason {reason:?} does not mention {want}"
            )
        }
        other => panic!("block accepted or wrong error: {other:?}"),
    }
    assert_eq!(lab.tip_hash(), tip_before, "tip moved");
    assert_eq!(lab.tip_height(), height_before);
}

#[test]
fn rejects_block_with_bad_segwit_v0_signature() {
    let lab = lab();
    let k = TestKey::new(7);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let mut tx = unsigned(&[op], vec![out(&k.p2wpkh(), 90_000)]);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    // Re-sign after changing the output: the signature no longer commits to this transaction.
    let good_witness = tx.input[0].witness.clone();
    tx.output[0].value = Amount::from_sat(89_000);
    tx.input[0].witness = good_witness;
    let block = lab
        .block_template(vec![tx], Amount::from_sat(11_000))
        .unwrap();
    assert_rejected(&lab, &block, "script-verify-flag-failed");
}

#[test]
fn rejects_block_with_bad_taproot_signature() {
    let lab = lab();
    let k = TestKey::new(8);
    let (op, prev) = funded(&lab, &k.p2tr(), 100_000);
    let mut tx = unsigned(&[op], vec![out(&k.p2tr(), 90_000)]);
    k.sign_p2tr(&mut tx, std::slice::from_ref(&prev), 0);
    // A signature over a different amount of the spent output (taproot commits to all amounts).
    let mut lie = prev.clone();
    lie.value = Amount::from_sat(100_001);
    let mut forged = tx.clone();
    k.sign_p2tr(&mut forged, &[lie], 0);
    tx.input[0].witness = forged.input[0].witness.clone();
    let block = lab
        .block_template(vec![tx], Amount::from_sat(10_000))
        .unwrap();
    assert_rejected(&lab, &block, "script-verify-flag-failed");
}

#[test]
fn rejects_block_with_bad_merkle_root() {
    let lab = lab();
    let mut block = lab.block_template(vec![], Amount::ZERO).unwrap();
    block.header.merkle_root =
        bitcoin::TxMerkleNode::from_raw_hash(bitcoin::hashes::Hash::hash(b"not the merkle root"));
    custos_lab::grind(&mut block.header);
    assert_rejected(&lab, &block, "bad-txnmrklroot");
}

#[test]
fn rejects_block_with_inflated_coinbase() {
    let lab = lab();
    // The coinbase claims one satoshi of fees that no transaction pays.
    let block = lab.block_template(vec![], Amount::from_sat(1)).unwrap();
    assert_rejected(&lab, &block, "bad-cb-amount");
}

#[test]
fn rejects_block_with_double_spend() {
    let lab = lab();
    let k = TestKey::new(9);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let mut a = unsigned(&[op], vec![out(&k.p2wpkh(), 90_000)]);
    k.sign_p2wpkh(&mut a, std::slice::from_ref(&prev));
    let mut b = unsigned(&[op], vec![out(&k.p2wpkh(), 80_000)]);
    k.sign_p2wpkh(&mut b, std::slice::from_ref(&prev));
    let block = lab
        .block_template(vec![a, b], Amount::from_sat(30_000))
        .unwrap();
    assert_rejected(&lab, &block, "bad-txns-inputs-missingorspent");
}

#[test]
fn accepts_a_valid_block_built_by_hand() {
    let lab = lab();
    let k = TestKey::new(10);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let mut tx = unsigned(&[op], vec![out(&k.p2wpkh(), 90_000)]);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    let h = lab.tip_height();
    let block = lab
        .block_template(vec![tx.clone()], Amount::from_sat(10_000))
        .unwrap();
    lab.submit_block(&block).unwrap();
    assert_eq!(lab.tip_height(), h + 1);
    assert!(lab.utxo(&OutPoint::new(tx.compute_txid(), 0)).is_some());
}

#[test]
fn mempool_refuses_bad_signature_with_core_reason() {
    let lab = lab();
    let k = TestKey::new(11);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let mut tx = unsigned(&[op], vec![out(&k.p2wpkh(), 90_000)]);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    tx.output[0].value = Amount::from_sat(89_999);
    match lab.submit_tx(&tx) {
        Err(Error::TxRejected { reason, .. }) => assert!(
            reason.contains("mandatory-script-verify-flag-failed"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mempool_applies_dust_fee_and_double_spend_policy() {
    let lab = lab();
    let k = TestKey::new(12);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let sign = |outs: Vec<TxOut>| {
        let mut tx = unsigned(&[op], outs);
        k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
        tx
    };
    // 293 sat on p2wpkh is dust at 3 sat/vB; 294 is not.
    let dust = sign(vec![out(&k.p2wpkh(), 293), out(&k.p2wpkh(), 99_000)]);
    let err = lab.submit_tx(&dust).unwrap_err().to_string();
    assert!(err.contains("dust"), "{err}");
    // Fee below 0.1 sat/vB.
    let cheap = sign(vec![out(&k.p2wpkh(), 99_995)]);
    let err = lab.submit_tx(&cheap).unwrap_err().to_string();
    assert!(err.contains("min relay fee not met"), "{err}");
    // First spend accepted; an equal-fee conflict refused; a higher-fee replacement accepted.
    let first = sign(vec![out(&k.p2wpkh(), 99_000)]);
    lab.submit_tx(&first).unwrap();
    let same = sign(vec![out(&k.p2wpkh(), 98_000), out(&k.p2wpkh(), 1_000)]);
    let err = lab.submit_tx(&same).unwrap_err().to_string();
    assert!(err.contains("insufficient fee"), "{err}");
    let better = sign(vec![out(&k.p2wpkh(), 98_000)]);
    let txid = lab.submit_tx(&better).unwrap();
    assert!(
        lab.raw_transaction(&first.compute_txid()).is_none(),
        "replaced tx still known"
    );
    lab.mine(1).unwrap();
    assert!(lab.utxo(&OutPoint::new(txid, 0)).is_some());
    // Spending it again (already confirmed spent) is refused.
    let again = sign(vec![out(&k.p2wpkh(), 97_000)]);
    let err = lab.submit_tx(&again).unwrap_err().to_string();
    assert!(err.contains("bad-txns-inputs-missingorspent"), "{err}");
}

#[test]
fn mempool_refuses_transaction_over_standard_weight() {
    let lab = lab();
    let k = TestKey::new(13);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 1_000_000_000);
    // 3,300 p2wpkh outputs: 31 bytes each, about 409,000 WU.
    let outs = (0..3300).map(|_| out(&k.p2wpkh(), 10_000)).collect();
    let mut tx = unsigned(&[op], outs);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    assert!(tx.weight().to_wu() > custos_lab::MAX_STANDARD_TX_WEIGHT);
    let err = lab.submit_tx(&tx).unwrap_err().to_string();
    assert!(err.contains("tx-size"), "{err}");
}

#[test]
fn accepts_and_mines_a_1000_input_transaction() {
    let lab = lab();
    let k = TestKey::new(14);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 20_000_000);
    let outs = (0..1000).map(|_| out(&k.p2wpkh(), 15_000)).collect();
    let mut split = unsigned(&[op], outs);
    k.sign_p2wpkh(&mut split, std::slice::from_ref(&prev));
    let split_id = lab.submit_tx(&split).unwrap();
    lab.mine(1).unwrap();
    let ops: Vec<OutPoint> = (0..1000).map(|v| OutPoint::new(split_id, v)).collect();
    let prevs: Vec<TxOut> = split.output.clone();
    let mut sweep = unsigned(&ops, vec![out(&k.p2wpkh(), 15_000 * 1000 - 200_000)]);
    k.sign_p2wpkh(&mut sweep, &prevs);
    assert_eq!(sweep.input.len(), 1000);
    let txid = lab.submit_tx(&sweep).unwrap();
    let h = lab.tip_height();
    lab.mine(1).unwrap();
    assert_eq!(lab.tip_height(), h + 1);
    assert!(
        lab.utxo(&OutPoint::new(txid, 0)).is_some(),
        "sweep output confirmed"
    );
    assert_eq!(lab.mempool_len(), 0);
}

#[test]
fn mempool_enforces_bip68_relative_lock_times() {
    let lab = lab();
    let k = TestKey::new(15);
    let (op, prev) = funded(&lab, &k.p2wpkh(), 100_000);
    let mut tx = unsigned(&[op], vec![out(&k.p2wpkh(), 90_000)]);
    tx.input[0].sequence = bitcoin::Sequence::from_height(5);
    k.sign_p2wpkh(&mut tx, std::slice::from_ref(&prev));
    // Confirmed at height H: the spend may enter block H + 5 at the earliest.
    let err = lab.submit_tx(&tx).unwrap_err().to_string();
    assert!(err.contains("non-BIP68-final"), "{err}");
    lab.mine(3).unwrap();
    let err = lab.submit_tx(&tx).unwrap_err().to_string();
    assert!(err.contains("non-BIP68-final"), "one block early: {err}");
    lab.mine(1).unwrap();
    lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    assert!(lab.utxo(&OutPoint::new(tx.compute_txid(), 0)).is_some());
}
