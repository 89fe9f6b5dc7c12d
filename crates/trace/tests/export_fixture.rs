//! A small hand-built forward trace used by the export and browser tests (included by them
//! with `#[path]`); its own tests check the fixture is what they assume.
//!
//! The transactions are real `bitcoin::Transaction`s (txids computed, addresses from real
//! scripts on regtest); only their inclusion data is made up for the layout:
//!
//! ```text
//! outside ─► t0 (h100) ─0 (seed, 1.5)─► t1 (h101) ─0 (1.0)──► stop: exchange deposit
//!             └─1 (0.3) unspent           └─1 (0.4999 change)─► t2 (h101, same block)
//!                                                       t2 ─0 (0.2)──► t3 (unconfirmed, + outside input)
//!                                                       t2 ─1 (0.2998)─► spent by a tx not traced
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    WPubkeyHash, Witness,
};
use custos_core::{Network, Sat};
use custos_trace::export::{Call, Exposure, NodeLabel, Stop, View};
use custos_trace::graph::{Inclusion, TxNode};
use custos_trace::Graph;

/// A P2WPKH script paying to the hash of `name` (no key exists for it; it is a valid script).
pub(crate) fn script(name: &str) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(name.as_bytes()))
}

/// The regtest address of [`script`].
pub(crate) fn address(name: &str) -> String {
    Address::from_script(&script(name), bitcoin::Network::Regtest)
        .expect("p2wpkh has an address")
        .to_string()
}

fn tx(inputs: &[OutPoint], outputs: &[(&str, u64)]) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(name, sat)| TxOut {
                value: Amount::from_sat(*sat),
                script_pubkey: script(name),
            })
            .collect(),
    }
}

fn confirmed(height: u32) -> Inclusion {
    Inclusion::Verified {
        height,
        block: BlockHash::from_byte_array([u8::try_from(height % 256).expect("< 256"); 32]),
        time: 1_700_000_000 + height * 600,
    }
}

/// The fixture's transactions, in the order of the diagram.
#[derive(Debug)]
pub(crate) struct Fixture {
    pub view: View,
    pub t0: Txid,
    pub t1: Txid,
    pub t2: Txid,
    pub t3: Txid,
    /// The transaction outside the trace that made t0's input.
    pub origin: Txid,
    /// The transaction outside the trace that spends t2:1.
    pub spender: Txid,
    /// The coin from outside that t3 also spends.
    pub extra: OutPoint,
}

/// Builds the fixture; `exchange_label` is the label of the exchange deposit address.
pub(crate) fn fixture(exchange_label: &str) -> Fixture {
    let origin_tx = tx(&[OutPoint::null()], &[("victim", 150_010_000)]);
    let origin = origin_tx.compute_txid();
    let tx0 = tx(
        &[OutPoint::new(origin, 0)],
        &[("thief", 150_000_000), ("thief-2", 30_000_000)],
    );
    let t0 = tx0.compute_txid();
    let tx1 = tx(
        &[OutPoint::new(t0, 0)],
        &[("exchange", 100_000_000), ("change", 49_990_000)],
    );
    let t1 = tx1.compute_txid();
    let tx2 = tx(
        &[OutPoint::new(t1, 1)],
        &[("mule", 20_000_000), ("mule-2", 29_980_000)],
    );
    let t2 = tx2.compute_txid();
    let other = tx(&[OutPoint::new(origin, 1)], &[("other", 5_000_000)]);
    let extra = OutPoint::new(other.compute_txid(), 0);
    let tx3 = tx(&[OutPoint::new(t2, 0), extra], &[("final", 24_990_000)]);
    let t3 = tx3.compute_txid();
    let spend_tx = tx(&[OutPoint::new(t2, 1)], &[("elsewhere", 29_970_000)]);
    let spender = spend_tx.compute_txid();

    let mut graph = Graph::new();
    // Inserted out of order on purpose: the graph links both ways whatever the order.
    graph.insert(TxNode::from_tx(&tx2, Network::Regtest, confirmed(101)));
    graph.insert(TxNode::from_tx(&tx0, Network::Regtest, confirmed(100)));
    graph.insert(TxNode::from_tx(
        &tx3,
        Network::Regtest,
        Inclusion::Unconfirmed,
    ));
    graph.insert(TxNode::from_tx(&tx1, Network::Regtest, confirmed(101)));
    graph.resolve_input(
        &t0,
        0,
        Sat(150_010_000),
        address("victim"),
        custos_trace::graph::ScriptKind::P2wpkh,
    );
    graph.resolve_input(
        &t3,
        1,
        Sat(5_000_000),
        address("other"),
        custos_trace::graph::ScriptKind::P2wpkh,
    );
    if let Some(node) = graph.txs.get_mut(&t2) {
        node.outputs[1].spent_by = Some((spender, 0));
    }

    let taint = fixture_taint([t0, t1, t2, t3]);
    let (labels, clusters) = fixture_labels(exchange_label);

    let view = View {
        title: "Case 2024-017: forward trace of the stolen coins".to_string(),
        direction: "forward".to_string(),
        network: "regtest".to_string(),
        model: "haircut".to_string(),
        partial: vec![format!(
            "{t2}:1 spent by {spender}, not fetched: server error"
        )],
        graph,
        seeds: vec![OutPoint::new(t0, 0)],
        taint,
        labels,
        clusters,
        calls: vec![Call {
            subject: format!("change {t1}:1"),
            conclusion: "change back to the sender".to_string(),
            agreed: vec![
                "same script type".to_string(),
                "non-round amount".to_string(),
            ],
            disagreed: vec!["address reuse".to_string()],
            confidence: 80,
        }],
        stops: vec![Stop {
            coin: OutPoint::new(t1, 0),
            reason: "exchange deposit".to_string(),
        }],
        exposure: vec![Exposure {
            model: "haircut".to_string(),
            category: "exchange".to_string(),
            amount: Sat(100_000_000),
        }],
    };
    Fixture {
        view,
        t0,
        t1,
        t2,
        t3,
        origin,
        spender,
        extra,
    }
}

/// The fixture's taint per coin: t0..t3 as built by [`fixture`].
fn fixture_taint([t0, t1, t2, t3]: [Txid; 4]) -> BTreeMap<OutPoint, Sat> {
    let mut taint = BTreeMap::new();
    taint.insert(OutPoint::new(t0, 0), Sat(150_000_000));
    taint.insert(OutPoint::new(t0, 1), Sat(0));
    taint.insert(OutPoint::new(t1, 0), Sat(100_000_000));
    taint.insert(OutPoint::new(t1, 1), Sat(49_990_000));
    taint.insert(OutPoint::new(t2, 0), Sat(10_000_000));
    taint.insert(OutPoint::new(t2, 1), Sat(29_980_000));
    taint.insert(OutPoint::new(t3, 0), Sat(10_000_000));
    taint
}

/// The fixture's labels (the exchange deposit, a propagated darknet label) and clusters.
fn fixture_labels(
    exchange_label: &str,
) -> (BTreeMap<String, Vec<NodeLabel>>, BTreeMap<String, String>) {
    let mut labels = BTreeMap::new();
    labels.insert(
        address("exchange"),
        vec![NodeLabel {
            label: exchange_label.to_string(),
            category: "exchange".to_string(),
            propagated_from: None,
        }],
    );
    labels.insert(
        address("other"),
        vec![NodeLabel {
            label: "Darkmarket hot wallet".to_string(),
            category: "darknet market".to_string(),
            propagated_from: Some(address("victim")),
        }],
    );
    let mut clusters = BTreeMap::new();
    clusters.insert(address("thief"), "c1".to_string());
    clusters.insert(address("change"), "c1".to_string());
    (labels, clusters)
}

/// A peeling chain of `n` transactions: each pays a small amount out (left unspent) and sends
/// the rest on; three transactions per block, the last ten unconfirmed; every seventh payment
/// address labelled, every change address in cluster `peel`, one change call per tenth hop.
pub(crate) fn peel_chain(n: usize) -> View {
    let mut graph = Graph::new();
    let mut labels = BTreeMap::new();
    let mut clusters = BTreeMap::new();
    let mut taint = BTreeMap::new();
    let mut calls = Vec::new();
    let start = tx(&[OutPoint::null()], &[("peel-start", 5_000_000_000)]);
    let seed = OutPoint::new(start.compute_txid(), 0);
    let mut prev = seed;
    let mut value = 5_000_000_000u64;
    for i in 0..n {
        let pay = 1_000_000 + u64::try_from(i).expect("small") * 1_000;
        let fee = 500;
        value -= pay + fee;
        let (pay_name, change_name) = (format!("pay-{i}"), format!("change-{i}"));
        let t = tx(
            &[prev],
            &[(pay_name.as_str(), pay), (change_name.as_str(), value)],
        );
        let txid = t.compute_txid();
        let height = u32::try_from(i / 3).expect("small") + 200;
        let inclusion = if i + 10 >= n {
            Inclusion::Unconfirmed
        } else {
            confirmed(height)
        };
        graph.insert(TxNode::from_tx(&t, Network::Regtest, inclusion));
        if i % 7 == 0 {
            labels.insert(
                address(&pay_name),
                vec![NodeLabel {
                    label: format!("merchant {i}"),
                    category: "merchant".to_string(),
                    propagated_from: None,
                }],
            );
        }
        clusters.insert(address(&change_name), "peel".to_string());
        taint.insert(OutPoint::new(txid, 0), Sat(pay / 2));
        taint.insert(OutPoint::new(txid, 1), Sat(value / 2));
        if i % 10 == 0 {
            calls.push(Call {
                subject: format!("change {txid}:1"),
                conclusion: "change".to_string(),
                agreed: vec!["peel chain shape".to_string()],
                disagreed: vec![],
                confidence: 90,
            });
        }
        prev = OutPoint::new(txid, 1);
    }
    View {
        title: format!("peeling chain of {n} transactions"),
        direction: "forward".to_string(),
        network: "regtest".to_string(),
        model: "haircut".to_string(),
        partial: vec![],
        graph,
        seeds: vec![seed],
        taint,
        labels,
        clusters,
        calls,
        stops: vec![],
        exposure: vec![],
    }
}

#[test]
fn peel_chain_is_one_long_path() {
    let v = peel_chain(30);
    assert_eq!(v.graph.len(), 30);
    let linked = v
        .graph
        .txs
        .values()
        .filter(|t| t.outputs[1].spent_by.is_some())
        .count();
    assert_eq!(linked, 29);
}

#[test]
fn fixture_links_the_graph_both_ways() {
    let f = fixture("Kraken");
    let g = &f.view.graph;
    assert_eq!(g.len(), 4);
    assert_eq!(
        g.output(&OutPoint::new(f.t0, 0)).and_then(|o| o.spent_by),
        Some((f.t1, 0))
    );
    assert_eq!(
        g.output(&OutPoint::new(f.t2, 0)).and_then(|o| o.spent_by),
        Some((f.t3, 0))
    );
    assert_eq!(
        g.tx(&f.t3).map(|t| t.inputs[0].value),
        Some(Some(Sat(20_000_000)))
    );
    assert_eq!(g.topological(), vec![f.t0, f.t1, f.t2, f.t3]);
}
