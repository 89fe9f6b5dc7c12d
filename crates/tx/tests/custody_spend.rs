//! Custody spends built offline: coin selection, exact change to custody change, every input
//! re-derived from the policy, and the signer's check accepting an outside output only under an
//! order permit (exact script and amount, one output per order).

mod common;

use bitcoin::Amount;
use common::{custody_policy, funding_tx, NET};
use custos_core::{inventory::InventoryUtxo, Sat};
use custos_tx::{
    custody::{Custody, CHANGE, RECEIVE},
    spend::{build_custody_spend, custody_utxo, Destination, PayAmount, SpendParams},
    verify::{verify_psbt, verify_psbt_with, Destinations, OrderPermit, VerifyOptions},
    weight::FeeRate,
    Error,
};

const EXCHANGE: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn custody_coin(c: &Custody, index: u32, value: u64) -> InventoryUtxo {
    let d = c.at(RECEIVE, index).unwrap();
    let spk = d.script_pubkey();
    let tx = funding_tx(900 + index, spk.clone(), value, 0);
    InventoryUtxo {
        outpoint: format!("{}:0", tx.compute_txid()),
        value: Sat(value),
        height: 100,
        address: bitcoin::Address::from_script(&spk, NET)
            .unwrap()
            .to_string(),
        script_pubkey: spk.to_hex_string(),
        descriptor: d.to_string(),
        source: "custody".into(),
        verified: true,
        prev_tx: bitcoin::consensus::encode::serialize_hex(&tx),
    }
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        now_unix: Some(0),
        ..VerifyOptions::default()
    }
}

fn permit(amount: u64, problem: Option<&str>) -> OrderPermit {
    let d = Destination::address(EXCHANGE, NET, PayAmount::All).unwrap();
    OrderPermit {
        order_id: "ord-1".into(),
        script_pubkey: d.script_pubkey,
        address: EXCHANGE.into(),
        amount: Amount::from_sat(amount),
        problem: problem.map(String::from),
    }
}

#[test]
fn spends_largest_first_with_exact_change_to_custody_change_for_wsh_and_tr() {
    for kind in ["wsh", "tr"] {
        let c = Custody::from_policy(&custody_policy(kind)).unwrap();
        let utxos: Vec<_> = [(0, 100_000), (1, 60_000), (2, 5_000)]
            .iter()
            .map(|(i, v)| custody_utxo(&custody_coin(&c, *i, *v), &c).unwrap())
            .collect();
        let dest = Destination::address(EXCHANGE, NET, PayAmount::Exact(Amount::from_sat(120_000)))
            .unwrap();
        let s = build_custody_spend(
            &utxos,
            &c,
            &[dest],
            &SpendParams::new(FeeRate(1_000), 300, 4),
        )
        .unwrap();
        let tx = &s.psbt.unsigned_tx;
        assert_eq!(
            tx.input.len(),
            2,
            "{kind}: the 5,000 sat coin is not needed"
        );
        assert_eq!(tx.output.len(), 2);
        assert_eq!(tx.output[0].value.to_sat(), 120_000);
        assert_eq!(tx.output[1].script_pubkey, c.script_at(CHANGE, 4).unwrap());
        assert_eq!(
            tx.output[1].value + s.summary.fee + Amount::from_sat(120_000),
            Amount::from_sat(160_000),
            "{kind}: change is exact"
        );
        assert_eq!(tx.lock_time.to_consensus_u32(), 300);
        assert!(tx.input.iter().all(|i| i.sequence.is_rbf()));
        assert_eq!(s.summary.next_change_index, 5);
        assert_eq!(s.psbt.xpub.len(), 3);
        let out = &s.psbt.outputs[1];
        if kind == "wsh" {
            assert!(s.psbt.inputs.iter().all(|i| i.witness_script.is_some()
                && i.bip32_derivation.len() == 3
                && i.non_witness_utxo.is_some()));
            assert!(out.witness_script.is_some() && out.bip32_derivation.len() == 3);
        } else {
            assert!(s
                .psbt
                .inputs
                .iter()
                .all(|i| i.tap_scripts.len() == 1 && i.tap_merkle_root.is_some()));
            assert!(out.tap_internal_key.is_some() && out.tap_tree.is_some());
        }
        // the signer: refused without an order, naming output 0; accepted with a permit
        let e = verify_psbt(&s.psbt, &c, &opts()).unwrap_err();
        assert!(e.to_string().contains("output 0 (120000 sat to"), "{e}");
        let ok = Destinations {
            orders: vec![permit(120_000, None)],
            ..Destinations::default()
        };
        let r = verify_psbt_with(&s.psbt, &c, &ok, &opts()).unwrap();
        assert_eq!(r.orders_used, vec!["ord-1".to_string()]);
        assert_eq!(r.outputs[1].custody_chain, Some(CHANGE));
        for (bad, needle) in [
            (
                permit(119_999, None),
                "no order is for this address and amount",
            ),
            (
                permit(120_000, Some("expired at x")),
                "order ord-1: expired at x",
            ),
        ] {
            let d = Destinations {
                orders: vec![bad],
                ..Destinations::default()
            };
            let e = verify_psbt_with(&s.psbt, &c, &d, &opts()).unwrap_err();
            assert!(e.is_refusal() && e.to_string().contains(needle), "{e}");
        }
    }
}

#[test]
fn all_spends_every_coin_without_change_and_insufficient_funds_is_named() {
    let c = Custody::from_policy(&custody_policy("wsh")).unwrap();
    let utxos: Vec<_> = [(0, 100_000), (1, 60_000)]
        .iter()
        .map(|(i, v)| custody_utxo(&custody_coin(&c, *i, *v), &c).unwrap())
        .collect();
    let all = Destination::address(EXCHANGE, NET, PayAmount::All).unwrap();
    let s = build_custody_spend(
        &utxos,
        &c,
        &[all],
        &SpendParams::new(FeeRate(2_000), 300, 0),
    )
    .unwrap();
    assert_eq!(s.psbt.unsigned_tx.output.len(), 1);
    assert_eq!(
        s.summary.outputs[0].value + s.summary.fee,
        Amount::from_sat(160_000)
    );
    assert_eq!(s.summary.next_change_index, 0);
    let too_much =
        Destination::address(EXCHANGE, NET, PayAmount::Exact(Amount::from_sat(160_000))).unwrap();
    let e = build_custody_spend(
        &utxos,
        &c,
        &[too_much],
        &SpendParams::new(FeeRate(2_000), 300, 0),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InsufficientFunds { .. }), "{e}");
}

#[test]
fn refuses_an_inventory_utxo_that_is_not_the_custody_policys() {
    let c = Custody::from_policy(&custody_policy("wsh")).unwrap();
    let mut u = custody_coin(&c, 0, 50_000);
    // a descriptor whose keys are no custody key's
    u.descriptor = common::seized_descriptor(custos_tx::weight::InputKind::P2wpkh, 0);
    let e = custody_utxo(&u, &c).unwrap_err();
    assert!(e.to_string().contains("not a custody output"), "{e}");
}
