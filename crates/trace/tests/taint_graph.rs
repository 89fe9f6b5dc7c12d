//! Taint through a graph and exposure, computed by hand on a small graph:
//!
//! ```text
//!  E (external, 100, addr-e) ─> T1 ─ a 60 (addr-a) ─> T2 ─ c 50 (addr-c) ─> T4 ─ e 20 (addr-e1)
//!                                 │  fee 10             fee 10                │  f 25 (addr-f1)
//!                                 └ b 30 (addr-b) ─┐                          └ fee 5
//!  F (external, 20, addr-f) ──────────────────────> T3 ─ d 45 (addr-d), fee 5
//! ```
//! T3 spends b first, then F.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Txid};
use custos_core::Sat;
use custos_trace::exposure::{backward, forward, forward_all, Direction, Exposure};
use custos_trace::graph::{Inclusion, ScriptKind, TxInput, TxOutput};
use custos_trace::taint::{run, Taint, TaintError, TaintModel};
use custos_trace::{Graph, TxNode};

fn txid(n: u8) -> Txid {
    Txid::from_byte_array([n; 32])
}

fn op(n: u8, vout: u32) -> OutPoint {
    OutPoint::new(txid(n), vout)
}

/// A transaction spending `inputs` (coin, value if known, address if known) into `outputs`.
fn node(
    n: u8,
    inputs: &[(OutPoint, Option<u64>, Option<&str>)],
    outputs: &[(u64, &str)],
) -> TxNode {
    TxNode {
        txid: txid(n),
        version: 2,
        lock_time: 0,
        coinbase: false,
        vsize: 200,
        inputs: inputs
            .iter()
            .map(|(prevout, value, address)| TxInput {
                prevout: *prevout,
                sequence: 0xffff_fffd,
                value: value.map(Sat),
                address: address.map(str::to_string),
                kind: value.map(|_| ScriptKind::P2wpkh),
            })
            .collect(),
        outputs: outputs
            .iter()
            .map(|(value, address)| TxOutput {
                value: Sat(*value),
                address: address.to_string(),
                kind: ScriptKind::P2wpkh,
                spent_by: None,
            })
            .collect(),
        inclusion: Inclusion::Unconfirmed,
    }
}

/// The external coin E.
fn e() -> OutPoint {
    op(0xe0, 7)
}

fn f_coin() -> OutPoint {
    op(0xf0, 0)
}

/// The graph above; `f_value` is the value resolved for the external coin F.
fn graph(f_value: Option<u64>) -> Graph {
    let mut g = Graph::new();
    // Children first, so the graph must link values both ways.
    g.insert(node(
        4,
        &[(op(2, 0), None, None)],
        &[(20, "addr-e1"), (25, "addr-f1")],
    ));
    g.insert(node(
        3,
        &[(op(1, 1), None, None), (f_coin(), f_value, Some("addr-f"))],
        &[(45, "addr-d")],
    ));
    g.insert(node(2, &[(op(1, 0), None, None)], &[(50, "addr-c")]));
    g.insert(node(
        1,
        &[(e(), Some(100), Some("addr-e"))],
        &[(60, "addr-a"), (30, "addr-b")],
    ));
    g
}

fn seeds(pairs: &[(OutPoint, Taint)]) -> BTreeMap<OutPoint, Taint> {
    pairs.iter().cloned().collect()
}

fn r(ranges: &[(u64, u64)]) -> Taint {
    Taint::from_ranges(ranges.iter().copied()).unwrap()
}

#[test]
fn fifo_flows_through_a_three_hop_chain_with_a_fork() {
    let g = graph(Some(20));
    let out = run(
        &g,
        TaintModel::Fifo,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(out.taint(&op(1, 0)), r(&[(0, 60)]));
    assert_eq!(out.taint(&op(1, 1)), r(&[(0, 30)]));
    assert_eq!(out.taint(&op(2, 0)), r(&[(0, 50)]));
    // T3: b's 30 tainted sats first on the line, then F's 20 clean ones; d takes [0, 45).
    assert_eq!(out.taint(&op(3, 0)), r(&[(0, 30)]));
    assert_eq!(out.taint(&op(4, 0)), r(&[(0, 20)]));
    assert_eq!(out.taint(&op(4, 1)), r(&[(0, 25)]));
    // Fees: T1 10, T2 10, T3 0 (its last 5 sats are F's, clean), T4 5.
    assert_eq!(out.fee_taint, Sat(25));
    assert!(out.unpropagated.is_empty() && out.inconsistent.is_empty());
    assert!(!out.per_coin.contains_key(&f_coin()));
}

#[test]
fn lifo_puts_the_later_clean_input_first_at_the_merge() {
    let g = graph(Some(20));
    let out = run(
        &g,
        TaintModel::Lifo,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &BTreeSet::new(),
    )
    .unwrap();
    // T3 under LIFO: F's 20 clean sats on [0, 20), b's tainted 30 on [20, 50); d = [0, 45).
    assert_eq!(out.taint(&op(3, 0)), r(&[(20, 45)]));
    assert_eq!(out.fee_taint, Sat(30));
}

#[test]
fn stop_coin_receives_taint_but_passes_none_on() {
    let g = graph(Some(20));
    let stops: BTreeSet<OutPoint> = [op(1, 0)].into();
    let out = run(
        &g,
        TaintModel::Fifo,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &stops,
    )
    .unwrap();
    assert_eq!(out.taint(&op(1, 0)), r(&[(0, 60)]));
    for coin in [op(2, 0), op(4, 0), op(4, 1)] {
        assert!(!out.per_coin.contains_key(&coin), "{coin} must be clean");
    }
    assert_eq!(out.taint(&op(3, 0)), r(&[(0, 30)]));
    assert_eq!(out.fee_taint, Sat(10));
    assert!(out.unpropagated.is_empty());
}

#[test]
fn unknown_input_value_leaves_the_transaction_unpropagated() {
    let mut g = graph(None);
    // A transaction with an unknown input value but no taint coming in is exact (clean) and
    // not listed.
    g.insert(node(5, &[(op(0xaa, 0), None, None)], &[(5, "addr-x")]));
    let out = run(
        &g,
        TaintModel::Fifo,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(out.unpropagated, vec![txid(3)]);
    assert!(!out.per_coin.contains_key(&op(3, 0)));
    assert!(!out.per_coin.contains_key(&op(5, 0)));
    // The rest of the graph is unaffected.
    assert_eq!(out.taint(&op(4, 1)), r(&[(0, 25)]));
    assert_eq!(out.fee_taint, Sat(25));
}

#[test]
fn refuses_a_seed_beyond_its_coins_value() {
    let g = graph(Some(20));
    let err = run(
        &g,
        TaintModel::Fifo,
        &seeds(&[(op(1, 1), r(&[(0, 31)]))]),
        &BTreeSet::new(),
    );
    assert_eq!(
        err,
        Err(TaintError::SeedBeyondValue {
            outpoint: op(1, 1),
            end: 31,
            value: 30
        })
    );
}

#[test]
fn seeded_graph_output_keeps_what_it_receives_as_well() {
    let g = graph(Some(20));
    let s = seeds(&[
        (op(0xe0, 0), Taint::none()),
        (e(), r(&[(0, 10)])),
        (op(1, 1), r(&[(20, 30)])),
    ]);
    let out = run(&g, TaintModel::Fifo, &s, &BTreeSet::new()).unwrap();
    // FIFO at T1: E's [0, 10) goes to a; b is seeded on [20, 30).
    assert_eq!(out.taint(&op(1, 0)), r(&[(0, 10)]));
    assert_eq!(out.taint(&op(1, 1)), r(&[(20, 30)]));
    assert_eq!(out.taint(&op(3, 0)), r(&[(20, 30)]));
    assert!(
        !out.per_coin.contains_key(&op(0xe0, 0)),
        "empty seeds are not kept"
    );
}

#[test]
fn inconsistent_transaction_is_reported_with_its_problem() {
    let mut g = graph(Some(20));
    g.insert(node(6, &[(op(4, 1), None, None)], &[(26, "addr-y")]));
    let out = run(
        &g,
        TaintModel::Tiho,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(out.inconsistent.len(), 1);
    assert_eq!(out.inconsistent[0].txid, txid(6));
    assert_eq!(
        out.inconsistent[0].problem,
        "outputs total 26 sat, more than the inputs' 25 sat"
    );
}

#[test]
fn coinbase_passes_no_taint_and_is_not_unpropagated() {
    let mut g = graph(Some(20));
    let mut cb = node(9, &[(OutPoint::null(), None, None)], &[(50, "addr-miner")]);
    cb.coinbase = true;
    g.insert(cb);
    let s = seeds(&[(OutPoint::null(), Taint::full(Sat(5)))]);
    let out = run(&g, TaintModel::Poison, &s, &BTreeSet::new()).unwrap();
    assert!(!out.per_coin.contains_key(&op(9, 0)));
    assert!(out.unpropagated.is_empty());
}

#[test]
fn taint_run_serialises_to_json_with_outpoint_keys() {
    let g = graph(Some(20));
    let out = run(
        &g,
        TaintModel::Fifo,
        &seeds(&[(e(), Taint::full(Sat(100)))]),
        &BTreeSet::new(),
    )
    .unwrap();
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["model"], "fifo");
    assert_eq!(
        json["per_coin"][op(3, 0).to_string()],
        serde_json::json!([[0, 30]])
    );
    assert_eq!(
        serde_json::from_value::<custos_trace::taint::TaintRun>(json).unwrap(),
        out
    );
}

fn forward_labels(address: &str) -> Vec<(String, String)> {
    let pair = |l: &str, c: &str| (l.to_string(), c.to_string());
    match address {
        "addr-d" => vec![pair("MixY", "mixer")],
        // Two labels, two categories, listed twice: each category counts once.
        "addr-e1" => vec![
            pair("ExchX", "exchange"),
            pair("Gamb", "gambling"),
            pair("ExchX", "exchange"),
        ],
        _ => vec![],
    }
}

fn cats(e: &Exposure) -> Vec<(&str, u64)> {
    e.per_category
        .iter()
        .map(|(k, v)| (k.as_str(), v.0))
        .collect()
}

#[test]
fn forward_exposure_per_category_under_every_model() {
    let g = graph(Some(20));
    let all = forward_all(&g, &[e()], &forward_labels);
    // model: (mixer, exchange, unresolved, fee), computed by hand above and in docs/tracing.md.
    let expected = [
        (TaintModel::Poison, 45, 20, 25, 30),
        (TaintModel::Haircut, 27, 20, 25, 28),
        (TaintModel::Fifo, 30, 20, 25, 25),
        (TaintModel::Lifo, 25, 20, 25, 30),
        (TaintModel::Tiho, 30, 20, 25, 25),
    ];
    for (e, (model, mixer, exchange, unresolved, fee)) in all.iter().zip(expected) {
        assert_eq!(e.model, model);
        assert_eq!(e.direction, Direction::Forward);
        assert_eq!(e.total_traced, Sat(100));
        assert_eq!(
            cats(e),
            vec![
                ("exchange", exchange),
                ("gambling", exchange),
                ("mixer", mixer)
            ],
            "{model}"
        );
        assert_eq!(e.per_label["ExchX"], Sat(exchange));
        assert_eq!(e.per_label["Gamb"], Sat(exchange));
        assert_eq!(e.per_label["MixY"], Sat(mixer));
        assert_eq!(e.reached, Sat(mixer + exchange), "{model}");
        assert_eq!(e.unresolved, Sat(unresolved), "{model}");
        assert_eq!(e.fee, Some(Sat(fee)), "{model}");
        assert_eq!(e.blocked, Some(Sat(0)));
        if model != TaintModel::Poison {
            assert_eq!(
                mixer + exchange + unresolved + fee,
                100,
                "{model} conserves"
            );
        }
        let stops: Vec<OutPoint> = e.labelled_coins.iter().map(|c| c.outpoint).collect();
        assert_eq!(stops, vec![op(3, 0), op(4, 0)]);
    }
}

#[test]
fn forward_exposure_counts_taint_stuck_at_an_unpropagated_transaction_as_blocked() {
    let g = graph(None);
    let e = forward(&g, TaintModel::Fifo, &[e()], &forward_labels);
    assert_eq!(e.unpropagated, vec![txid(3)]);
    assert_eq!(
        cats(&e),
        vec![("exchange", 20), ("gambling", 20), ("mixer", 0)]
    );
    assert_eq!(e.blocked, Some(Sat(30)));
    assert_eq!(e.unresolved, Sat(25));
    assert_eq!(e.fee, Some(Sat(25)));
}

#[test]
fn forward_exposure_reports_a_start_of_unknown_value_as_missing() {
    let g = graph(Some(20));
    let e = forward(&g, TaintModel::Fifo, &[e(), op(0x77, 0)], &forward_labels);
    assert_eq!(e.missing, vec![op(0x77, 0)]);
    assert_eq!(e.total_traced, Sat(100));
}

fn backward_labels(address: &str) -> Vec<(String, String)> {
    let pair = |l: &str, c: &str| vec![(l.to_string(), c.to_string())];
    match address {
        "addr-a" => pair("ExchX", "exchange"),
        "addr-f" => pair("MixY", "mixer"),
        // A target's own label does not make it a source.
        "addr-f1" => pair("Seized", "case"),
        _ => vec![],
    }
}

#[test]
fn backward_exposure_colours_each_category_on_its_own() {
    let g = graph(Some(20));
    let targets = [op(4, 1), op(3, 0)];
    // model: (exchange, mixer, reached, unresolved), computed by hand in docs/tracing.md.
    let expected = [
        (TaintModel::Poison, 25, 45, 70, 45),
        (TaintModel::Haircut, 25, 18, 43, 27),
        (TaintModel::Fifo, 25, 15, 40, 30),
        (TaintModel::Lifo, 25, 20, 45, 25),
        (TaintModel::Tiho, 25, 20, 45, 30),
    ];
    for (model, exchange, mixer, reached, unresolved) in expected {
        let e = backward(&g, model, &targets, &backward_labels);
        assert_eq!(e.direction, Direction::Backward);
        assert_eq!(e.total_traced, Sat(70));
        assert_eq!(
            cats(&e),
            vec![("exchange", exchange), ("mixer", mixer)],
            "{model}"
        );
        assert_eq!(e.per_label["ExchX"], Sat(exchange));
        assert_eq!(e.per_label["MixY"], Sat(mixer));
        assert_eq!(e.reached, Sat(reached), "{model}");
        assert_eq!(e.unresolved, Sat(unresolved), "{model}");
        assert_eq!(e.fee, None);
        let sources: Vec<OutPoint> = e.labelled_coins.iter().map(|c| c.outpoint).collect();
        assert_eq!(sources, vec![op(1, 0), f_coin()]);
        assert!(e.unpropagated.is_empty() && e.missing.is_empty());
        if matches!(model, TaintModel::Fifo | TaintModel::Lifo) {
            assert_eq!(
                reached + unresolved,
                70,
                "{model}: every target sat has one origin"
            );
        }
    }
}

#[test]
fn backward_exposure_lists_ancestors_with_unknown_input_values() {
    let g = graph(None);
    let e = backward(
        &g,
        TaintModel::Fifo,
        &[op(4, 1), op(3, 0)],
        &backward_labels,
    );
    assert_eq!(e.unpropagated, vec![txid(3)]);
    let f = e
        .labelled_coins
        .iter()
        .find(|c| c.outpoint == f_coin())
        .unwrap();
    assert_eq!((f.value, f.taint), (None, Sat(0)));
    assert_eq!(e.per_category["mixer"], Sat(0));
    assert_eq!(e.per_category["exchange"], Sat(25));
}

#[test]
fn backward_exposure_counts_an_address_with_two_categories_for_each() {
    let g = graph(Some(20));
    let labels = |address: &str| -> Vec<(String, String)> {
        match address {
            "addr-a" => vec![
                ("ExchX".to_string(), "exchange".to_string()),
                ("MarketZ".to_string(), "darknet".to_string()),
            ],
            _ => vec![],
        }
    };
    let e = backward(&g, TaintModel::Fifo, &[op(4, 1), op(3, 0)], &labels);
    assert_eq!(cats(&e), vec![("darknet", 25), ("exchange", 25)]);
    assert_eq!(e.reached, Sat(25), "one source, counted once");
    // Without F's label, F is a boundary coin: d = b's 30 + F's 15 is all unresolved.
    assert_eq!(e.unresolved, Sat(45));
}

#[test]
fn exposure_round_trips_through_json() {
    let g = graph(Some(20));
    for e in [
        forward(&g, TaintModel::Haircut, &[e()], &forward_labels),
        backward(&g, TaintModel::Lifo, &[op(4, 1)], &backward_labels),
    ] {
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Exposure>(&json).unwrap(), e);
    }
    let json =
        serde_json::to_value(forward(&g, TaintModel::Fifo, &[e()], &forward_labels)).unwrap();
    assert_eq!(json["direction"], "forward");
    assert_eq!(json["per_category"]["mixer"], 30);
}
