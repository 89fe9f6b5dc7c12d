//! Heuristics over hand-built graphs: CoinJoin kinds and near misses, clustering, each change
//! heuristic alone and in disagreement, peeling chains.

use bitcoin::hashes::Hash;
use bitcoin::{Address, BlockHash, OutPoint, PubkeyHash, ScriptBuf, Txid, WPubkeyHash};
use custos_core::Sat;
use custos_trace::graph::{Inclusion, ScriptKind, TxInput, TxOutput};
use custos_trace::heuristics::change::change_votes;
use custos_trace::heuristics::{
    analyze, cluster, coinjoin, coinjoin_with, detect_change, peeling_chains, CoinJoinKind,
    HeuristicId, HeuristicSet,
};
use custos_trace::{Graph, TxNode};

fn txid(n: u32) -> Txid {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    Txid::from_byte_array(b)
}

fn hash20(n: u32) -> [u8; 20] {
    let mut h = [0x11u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    h
}

/// A regtest P2WPKH address, distinct per `n`.
fn addr(n: u32) -> String {
    let spk = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(hash20(n)));
    Address::from_script(&spk, bitcoin::Network::Regtest)
        .unwrap()
        .to_string()
}

/// A regtest P2PKH address, distinct per `n`.
fn addr_pkh(n: u32) -> String {
    let spk = ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash20(n)));
    Address::from_script(&spk, bitcoin::Network::Regtest)
        .unwrap()
        .to_string()
}

/// An input spending a coin from outside the graph, resolved (value, address, kind known).
fn ext(n: u32, value: u64, address: &str, kind: ScriptKind) -> TxInput {
    TxInput {
        prevout: OutPoint::new(txid(1_000_000 + n), 0),
        sequence: 0xffff_ffff,
        value: Some(Sat(value)),
        address: Some(address.to_string()),
        kind: Some(kind),
    }
}

/// An input spending output `vout` of transaction `parent` (resolved by `Graph::insert`).
fn spend(parent: u32, vout: u32) -> TxInput {
    TxInput {
        prevout: OutPoint::new(txid(parent), vout),
        sequence: 0xffff_ffff,
        value: None,
        address: None,
        kind: None,
    }
}

fn out(value: u64, address: &str, kind: ScriptKind) -> TxOutput {
    TxOutput {
        value: Sat(value),
        address: address.to_string(),
        kind,
        spent_by: None,
    }
}

fn wout(value: u64, address: &str) -> TxOutput {
    out(value, address, ScriptKind::P2wpkh)
}

fn node(id: u32, inputs: Vec<TxInput>, outputs: Vec<TxOutput>) -> TxNode {
    TxNode {
        txid: txid(id),
        version: 2,
        lock_time: 0,
        coinbase: false,
        vsize: 200,
        inputs,
        outputs,
        inclusion: Inclusion::Verified {
            height: id,
            block: BlockHash::all_zeros(),
            time: 1_700_000_000 + id,
        },
    }
}

/// `n` external P2WPKH inputs of `value` each, from distinct addresses starting at `first`.
fn ext_inputs(first: u32, n: u32, value: u64) -> Vec<TxInput> {
    (0..n)
        .map(|i| ext(first + i, value, &addr(first + i), ScriptKind::P2wpkh))
        .collect()
}

fn equal_outputs(first: u32, n: u32, value: u64) -> Vec<TxOutput> {
    (0..n).map(|i| wout(value, &addr(first + i))).collect()
}

fn graph_of(nodes: Vec<TxNode>) -> Graph {
    let mut g = Graph::new();
    for n in nodes {
        g.insert(n);
    }
    g
}

fn only(id: HeuristicId) -> HeuristicSet {
    let mut s = HeuristicSet::none();
    s.enable(id);
    s
}

// ---- CoinJoin detection ----

#[test]
fn detects_whirlpool_pool_mix() {
    let tx = node(
        1,
        ext_inputs(100, 5, 1_001_700),
        equal_outputs(200, 5, 1_000_000),
    );
    let cj = coinjoin(&tx).expect("a whirlpool mix");
    assert_eq!(cj.kind, CoinJoinKind::Whirlpool);
    assert_eq!(cj.heuristic, HeuristicId::CoinjoinWhirlpool);
    assert_eq!(cj.denomination, Sat(1_000_000));
    assert_eq!(cj.equal_outputs, 5);
    assert!(cj.reason.contains("1000000 sat"), "{}", cj.reason);
}

#[test]
fn whirlpool_shape_with_six_outputs_is_no_coinjoin() {
    let tx = node(
        1,
        ext_inputs(100, 5, 1_201_700),
        equal_outputs(200, 6, 1_000_000),
    );
    assert_eq!(coinjoin(&tx), None);
}

#[test]
fn five_equal_outputs_outside_the_pools_are_not_whirlpool() {
    let tx = node(
        1,
        ext_inputs(100, 5, 2_001_700),
        equal_outputs(200, 5, 2_000_000),
    );
    assert_eq!(coinjoin(&tx), None);
}

#[test]
fn detects_wasabi1_round_near_the_base_denomination() {
    let mut outputs = equal_outputs(200, 12, 9_950_000);
    outputs.extend((0..4).map(|i| wout(3_000_000 + i * 17_001, &addr(300 + i as u32))));
    let tx = node(1, ext_inputs(100, 14, 12_000_000), outputs);
    let cj = coinjoin(&tx).expect("a wasabi 1 round");
    assert_eq!(cj.kind, CoinJoinKind::Wasabi);
    assert_eq!((cj.denomination, cj.equal_outputs), (Sat(9_950_000), 12));
}

#[test]
fn wasabi1_needs_as_many_inputs_as_equal_outputs() {
    let mut outputs = equal_outputs(200, 12, 10_000_000);
    outputs.extend((0..4).map(|i| wout(3_000_000 + i * 17_001, &addr(300 + i as u32))));
    let tx = node(1, ext_inputs(100, 11, 15_000_000), outputs);
    assert_ne!(coinjoin(&tx).map(|c| c.kind), Some(CoinJoinKind::Wasabi));
}

fn wabisabi_outputs() -> Vec<TxOutput> {
    let mut outputs = equal_outputs(200, 6, 1_048_576);
    outputs.extend(equal_outputs(220, 4, 100_000));
    outputs.extend(equal_outputs(240, 3, 59_049));
    outputs.extend((0..3).map(|i| wout(77_777 + i, &addr(260 + i as u32))));
    outputs
}

#[test]
fn detects_wasabi2_standard_denominations() {
    let tx = node(1, ext_inputs(100, 60, 200_000), wabisabi_outputs());
    let cj = coinjoin(&tx).expect("a wabisabi round");
    assert_eq!(cj.kind, CoinJoinKind::Wasabi);
    assert_eq!((cj.denomination, cj.equal_outputs), (Sat(1_048_576), 6));
    assert!(cj.reason.contains("13 of 16 outputs"), "{}", cj.reason);
}

#[test]
fn wasabi2_shape_with_49_inputs_is_not_wasabi() {
    let tx = node(1, ext_inputs(100, 49, 200_000), wabisabi_outputs());
    assert_ne!(coinjoin(&tx).map(|c| c.kind), Some(CoinJoinKind::Wasabi));
}

fn joinmarket_tx(id: u32) -> TxNode {
    let mut outputs = equal_outputs(200 + id * 10, 3, 5_000_000);
    outputs.push(wout(1_234_567, &addr(250 + id * 10)));
    outputs.push(wout(2_345_678, &addr(251 + id * 10)));
    node(id, ext_inputs(100 + id * 10, 4, 5_000_000), outputs)
}

#[test]
fn detects_joinmarket_equal_outputs_with_change() {
    let cj = coinjoin(&joinmarket_tx(1)).expect("a joinmarket coinjoin");
    assert_eq!(cj.kind, CoinJoinKind::JoinMarket);
    assert_eq!((cj.denomination, cj.equal_outputs), (Sat(5_000_000), 3));
}

#[test]
fn disabled_kind_falls_back_to_the_less_specific_rule() {
    let mut set = HeuristicSet::default();
    set.disable(HeuristicId::CoinjoinJoinmarket);
    let cj = coinjoin_with(&joinmarket_tx(1), &set).expect("still an equal-output coinjoin");
    assert_eq!(cj.kind, CoinJoinKind::EqualOutput);
    set.disable(HeuristicId::CoinjoinEqualOutput);
    assert_eq!(coinjoin_with(&joinmarket_tx(1), &set), None);
}

#[test]
fn detects_two_party_equal_output_join_by_the_blocksci_rule() {
    let outputs = vec![
        wout(700_000, &addr(200)),
        wout(700_000, &addr(201)),
        wout(123_456, &addr(202)),
    ];
    let tx = node(1, ext_inputs(100, 2, 800_000), outputs);
    let cj = coinjoin(&tx).expect("blocksci equal-output");
    assert_eq!(cj.kind, CoinJoinKind::EqualOutput);
    assert_eq!((cj.denomination, cj.equal_outputs), (Sat(700_000), 2));
}

#[test]
fn equal_outputs_from_one_address_are_no_coinjoin() {
    let a = addr(100);
    let inputs = vec![
        ext(1, 800_000, &a, ScriptKind::P2wpkh),
        ext(2, 800_000, &a, ScriptKind::P2wpkh),
    ];
    let outputs = vec![
        wout(700_000, &addr(200)),
        wout(700_000, &addr(201)),
        wout(123_456, &addr(202)),
    ];
    assert_eq!(coinjoin(&node(1, inputs, outputs)), None);
}

#[test]
fn equal_outputs_of_546_sat_are_no_coinjoin() {
    let mut outputs = equal_outputs(200, 3, 546);
    outputs.push(wout(1_234_567, &addr(250)));
    outputs.push(wout(2_345_678, &addr(251)));
    let tx = node(1, ext_inputs(100, 4, 1_000_000), outputs);
    assert_eq!(coinjoin(&tx), None);
}

// ---- clustering ----

fn pay(id: u32, inputs: Vec<TxInput>, to: &[(u64, String)]) -> TxNode {
    node(id, inputs, to.iter().map(|(v, a)| wout(*v, a)).collect())
}

#[test]
fn merges_co_spent_inputs_transitively() {
    let (a, b, c, d) = (addr(1), addr(2), addr(3), addr(4));
    let g = graph_of(vec![
        pay(
            10,
            vec![
                ext(1, 50_000, &a, ScriptKind::P2wpkh),
                ext(2, 60_000, &b, ScriptKind::P2wpkh),
            ],
            &[(100_000, d.clone())],
        ),
        pay(
            11,
            vec![
                ext(3, 50_000, &b, ScriptKind::P2wpkh),
                ext(4, 60_000, &c, ScriptKind::P2wpkh),
            ],
            &[(100_000, d.clone())],
        ),
    ]);
    let clustering = cluster(&g, &HeuristicSet::default(), &[]);
    assert_eq!(clustering.clusters.len(), 1);
    let c0 = &clustering.clusters[0];
    let mut expected = vec![a, b, c.clone()];
    expected.sort();
    assert_eq!(c0.addresses, expected);
    assert_eq!(c0.id, expected[0]);
    assert_eq!(c0.links.len(), 2);
    assert!(c0
        .links
        .iter()
        .all(|l| l.heuristic == HeuristicId::CommonInput));
    assert_eq!(clustering.of(&c), Some(expected[0].as_str()));
    assert_eq!(clustering.of(&d), None);
}

#[test]
fn never_merges_across_a_coinjoin() {
    let cj = joinmarket_tx(1);
    let first_input = cj.inputs[0].address.clone().unwrap();
    let e = addr(999);
    let g = graph_of(vec![
        cj,
        pay(
            50,
            vec![
                ext(50, 40_000, &first_input, ScriptKind::P2wpkh),
                ext(51, 40_000, &e, ScriptKind::P2wpkh),
            ],
            &[(70_000, addr(998))],
        ),
    ]);
    let clustering = cluster(&g, &HeuristicSet::default(), &[]);
    assert_eq!(
        clustering.clusters.len(),
        1,
        "only the ordinary spend links"
    );
    assert_eq!(clustering.clusters[0].addresses.len(), 2);
    assert_eq!(clustering.clusters[0].links[0].txid, txid(50));

    let mut no_detection = HeuristicSet::default();
    for k in [
        HeuristicId::CoinjoinWasabi,
        HeuristicId::CoinjoinWhirlpool,
        HeuristicId::CoinjoinJoinmarket,
        HeuristicId::CoinjoinEqualOutput,
    ] {
        no_detection.disable(k);
    }
    let merged = cluster(&g, &no_detection, &[]);
    assert_eq!(
        merged.clusters[0].addresses.len(),
        5,
        "without detection the coinjoin inputs merge"
    );
}

/// One P2PKH input; a P2WPKH payment and a P2PKH change (script-type calls it).
fn script_type_case() -> (Graph, String, String) {
    let (a, change) = (addr_pkh(1), addr_pkh(2));
    let tx = node(
        10,
        vec![ext(1, 1_000_000, &a, ScriptKind::P2pkh)],
        vec![
            wout(400_000, &addr(3)),
            out(599_000, &change, ScriptKind::P2pkh),
        ],
    );
    (graph_of(vec![tx]), a, change)
}

#[test]
fn change_link_merges_change_only_when_enabled() {
    let (g, a, change) = script_type_case();
    let calls = detect_change(&g, &HeuristicSet::default());
    assert_eq!(calls.len(), 1);
    assert_eq!(cluster(&g, &HeuristicSet::default(), &calls).of(&a), None);
    let mut set = HeuristicSet::default();
    set.enable(HeuristicId::ChangeLink);
    let clustering = cluster(&g, &set, &calls);
    let c = clustering
        .cluster_of(&change)
        .expect("change merged with its input");
    assert!(c.addresses.contains(&a));
    assert_eq!(c.links[0].heuristic, HeuristicId::ChangeLink);
}

#[test]
fn coinbase_outputs_merge_only_when_enabled() {
    let mut cb = pay(5, vec![], &[(312_500_000, addr(1)), (10_000, addr(2))]);
    cb.coinbase = true;
    cb.inputs = vec![TxInput {
        prevout: OutPoint::null(),
        sequence: 0xffff_ffff,
        value: None,
        address: None,
        kind: None,
    }];
    let g = graph_of(vec![cb]);
    assert!(cluster(&g, &HeuristicSet::default(), &[])
        .clusters
        .is_empty());
    let clustering = cluster(&g, &HeuristicSet::all(), &[]);
    assert_eq!(
        clustering.clusters[0].links[0].heuristic,
        HeuristicId::CoinbaseOutputs
    );
}

// ---- change detection, one heuristic at a time ----

#[test]
fn address_reuse_calls_the_output_back_to_an_input_address_change() {
    let a = addr(1);
    let g = graph_of(vec![pay(
        10,
        vec![ext(1, 1_000_000, &a, ScriptKind::P2wpkh)],
        &[(400_000, addr(2)), (599_000, a.clone())],
    )]);
    let calls = detect_change(&g, &only(HeuristicId::AddressReuse));
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].vout, calls[0].address.as_str()), (1, a.as_str()));
    assert_eq!(calls[0].agreed, vec![HeuristicId::AddressReuse]);
    assert_eq!(calls[0].confidence, 100);
}

#[test]
fn address_reuse_marks_an_address_paid_before_as_payment() {
    let shop = addr(50);
    let g = graph_of(vec![
        pay(
            5,
            vec![ext(9, 90_000, &addr(9), ScriptKind::P2wpkh)],
            &[(80_000, shop.clone())],
        ),
        pay(
            10,
            vec![ext(1, 1_000_000, &addr(1), ScriptKind::P2wpkh)],
            &[(400_000, shop), (599_000, addr(2))],
        ),
    ]);
    let votes = change_votes(&g, &txid(10), &only(HeuristicId::AddressReuse)).unwrap();
    assert_eq!(votes[0].not_change, vec![HeuristicId::AddressReuse]);
    assert!(votes[1].change.is_empty() && votes[1].not_change.is_empty());
    assert!(
        detect_change(&g, &only(HeuristicId::AddressReuse)).is_empty(),
        "one-sided evidence is no call"
    );
}

#[test]
fn script_type_calls_the_only_output_matching_the_inputs() {
    let (g, _, change) = script_type_case();
    let calls = detect_change(&g, &only(HeuristicId::ScriptType));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].address, change);
    assert_eq!(
        (calls[0].agreed.clone(), calls[0].confidence),
        (vec![HeuristicId::ScriptType], 100)
    );
}

#[test]
fn optimal_change_calls_the_output_smaller_than_every_input() {
    let g = graph_of(vec![pay(
        10,
        vec![
            ext(1, 50_000, &addr(1), ScriptKind::P2wpkh),
            ext(2, 60_000, &addr(2), ScriptKind::P2wpkh),
        ],
        &[(95_000, addr(3)), (14_000, addr(4))],
    )]);
    let calls = detect_change(&g, &only(HeuristicId::OptimalChange));
    assert_eq!((calls.len(), calls[0].vout), (1, 1));
    let votes = change_votes(&g, &txid(10), &only(HeuristicId::OptimalChange)).unwrap();
    assert_eq!(votes[0].not_change, vec![HeuristicId::OptimalChange]);
}

#[test]
fn optimal_change_is_silent_with_one_input() {
    let g = graph_of(vec![pay(
        10,
        vec![ext(1, 500_000, &addr(1), ScriptKind::P2wpkh)],
        &[(95_000, addr(3)), (404_000, addr(4))],
    )]);
    assert!(detect_change(&g, &only(HeuristicId::OptimalChange)).is_empty());
}

#[test]
fn round_amount_calls_the_non_round_output_change() {
    let g = graph_of(vec![pay(
        10,
        vec![ext(1, 1_234_567, &addr(1), ScriptKind::P2wpkh)],
        &[(500_000, addr(2)), (733_321, addr(3))],
    )]);
    let calls = detect_change(&g, &only(HeuristicId::RoundAmount));
    assert_eq!(
        (calls.len(), calls[0].vout, calls[0].value),
        (1, 1, Sat(733_321))
    );
    let none_round = graph_of(vec![pay(
        10,
        vec![ext(1, 1_234_567, &addr(1), ScriptKind::P2wpkh)],
        &[(500_001, addr(2)), (733_320 - 1, addr(3))],
    )]);
    assert!(detect_change(&none_round, &only(HeuristicId::RoundAmount)).is_empty());
}

#[test]
fn fresh_address_calls_the_one_time_output_change() {
    let exchange = addr(60);
    let g = graph_of(vec![
        pay(
            10,
            vec![ext(1, 1_000_000, &addr(1), ScriptKind::P2wpkh)],
            &[(400_000, exchange.clone()), (599_000, addr(2))],
        ),
        // The exchange address shows up again later: it is not one-time.
        pay(
            20,
            vec![ext(7, 70_000, &addr(7), ScriptKind::P2wpkh)],
            &[(69_000, exchange)],
        ),
        // The change is spent; that spend does not make it reused.
        pay(30, vec![spend(10, 1)], &[(598_000, addr(3))]),
    ]);
    let calls = detect_change(&g, &only(HeuristicId::FreshAddress));
    let call = calls
        .iter()
        .find(|c| c.txid == txid(10))
        .expect("a call on tx 10");
    assert_eq!(
        (call.vout, call.agreed.clone()),
        (1, vec![HeuristicId::FreshAddress])
    );
}

#[test]
fn fingerprint_calls_the_output_spent_in_the_same_wallet_style() {
    let mut other_wallet = pay(20, vec![spend(10, 0)], &[(399_000, addr(5))]);
    other_wallet.version = 1;
    other_wallet.lock_time = 800_000;
    let g = graph_of(vec![
        pay(
            10,
            vec![ext(1, 1_000_000, &addr(1), ScriptKind::P2wpkh)],
            &[(400_000, addr(2)), (599_000, addr(3))],
        ),
        other_wallet,
        pay(30, vec![spend(10, 1)], &[(598_000, addr(4))]),
    ]);
    let calls = detect_change(&g, &only(HeuristicId::Fingerprint));
    let call = calls
        .iter()
        .find(|c| c.txid == txid(10))
        .expect("a call on tx 10");
    assert_eq!(call.vout, 1);
    let votes = change_votes(&g, &txid(10), &only(HeuristicId::Fingerprint)).unwrap();
    assert_eq!(votes[0].not_change, vec![HeuristicId::Fingerprint]);
}

/// Script type, optimal change and round amount say output 1; its spender's fingerprint differs.
fn disagreement_case() -> Graph {
    let mut spender = pay(20, vec![spend(10, 1)], &[(97_000, addr(9))]);
    spender.version = 1;
    graph_of(vec![
        node(
            10,
            vec![
                ext(1, 300_000, &addr(1), ScriptKind::P2wpkh),
                ext(2, 400_000, &addr(2), ScriptKind::P2wpkh),
            ],
            vec![
                out(600_000, &addr_pkh(3), ScriptKind::P2pkh),
                wout(98_766, &addr(4)),
            ],
        ),
        spender,
    ])
}

#[test]
fn disagreeing_heuristics_lower_the_confidence() {
    let g = disagreement_case();
    let calls = detect_change(&g, &HeuristicSet::default());
    let call = calls
        .iter()
        .find(|c| c.txid == txid(10))
        .expect("a call on tx 10");
    assert_eq!(call.vout, 1);
    assert_eq!(
        call.agreed,
        vec![
            HeuristicId::ScriptType,
            HeuristicId::OptimalChange,
            HeuristicId::RoundAmount
        ]
    );
    assert_eq!(call.disagreed, vec![HeuristicId::Fingerprint]);
    assert_eq!(call.confidence, 75);
}

#[test]
fn no_call_when_disagreement_matches_agreement() {
    let g = disagreement_case();
    let mut set = only(HeuristicId::RoundAmount);
    assert!(
        detect_change(&g, &set).iter().any(|c| c.txid == txid(10)),
        "round-amount alone calls it"
    );
    set.enable(HeuristicId::Fingerprint);
    assert!(detect_change(&g, &set).iter().all(|c| c.txid != txid(10)));
}

#[test]
fn coinjoins_get_no_change_call() {
    let g = graph_of(vec![joinmarket_tx(1)]);
    assert!(detect_change(&g, &HeuristicSet::default()).is_empty());
}

// ---- peeling chains ----

/// Four hops: 10 BTC peeling off 1, 0.5, 0.25 and 0.1 BTC; each hop spends the previous change.
fn peel_graph() -> Vec<TxNode> {
    let mut value = 1_000_000_000u64;
    let pays = [100_000_000u64, 50_000_000, 25_000_000, 10_000_000];
    let mut nodes = Vec::new();
    for (i, p) in pays.iter().enumerate() {
        let id = 10 + i as u32;
        let input = if i == 0 {
            ext(1, value, &addr(1), ScriptKind::P2wpkh)
        } else {
            spend(id - 1, 1)
        };
        value -= p + 1_000;
        nodes.push(pay(
            id,
            vec![input],
            &[(*p, addr(100 + id)), (value, addr(200 + id))],
        ));
    }
    nodes
}

#[test]
fn finds_a_four_hop_peeling_chain_hop_by_hop() {
    let mut nodes = peel_graph();
    nodes.reverse(); // insertion order must not matter
    let g = graph_of(nodes);
    let chains = peeling_chains(&g, &HeuristicSet::default(), &[]);
    assert_eq!(chains.len(), 1);
    let c = &chains[0];
    assert_eq!(c.txids, vec![txid(10), txid(11), txid(12), txid(13)]);
    assert_eq!(
        c.change,
        (10..14)
            .map(|t| OutPoint::new(txid(t), 1))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        c.payments,
        (10..14)
            .map(|t| OutPoint::new(txid(t), 0))
            .collect::<Vec<_>>()
    );
    assert_eq!(c.heuristics[0], HeuristicId::PeelChain);
}

#[test]
fn peeling_chain_lists_agreeing_change_heuristics() {
    let g = graph_of(peel_graph());
    let analysis = analyze(&g, &HeuristicSet::default());
    let chain = &analysis.peels[0];
    // Round payments: round-amount calls every hop's change; the fingerprint of each next hop matches.
    assert!(
        chain.heuristics.contains(&HeuristicId::RoundAmount),
        "{:?}",
        chain.heuristics
    );
    assert!(
        chain.heuristics.contains(&HeuristicId::Fingerprint),
        "{:?}",
        chain.heuristics
    );
    assert!(chain.disagreed.is_empty(), "{:?}", chain.disagreed);
}

#[test]
fn a_first_hop_with_several_inputs_is_left_out_of_the_chain() {
    let mut nodes = peel_graph();
    nodes[0]
        .inputs
        .push(ext(2, 5_000, &addr(2), ScriptKind::P2wpkh));
    nodes[0].outputs[1].value = Sat(nodes[0].outputs[1].value.0 + 5_000);
    let chains = peeling_chains(&graph_of(nodes), &HeuristicSet::default(), &[]);
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0].txids, vec![txid(11), txid(12), txid(13)]);
}

#[test]
fn a_hop_with_a_large_payment_breaks_the_chain() {
    let mut nodes = peel_graph();
    // Hop 12 pays out more than half of what remains: no longer a peel.
    nodes[2].outputs[0].value = Sat(400_000_000);
    nodes[2].outputs[1].value = Sat(448_999_000);
    let chains = peeling_chains(&graph_of(nodes), &HeuristicSet::default(), &[]);
    assert!(chains.is_empty(), "{chains:?}");
}

#[test]
fn peeling_chains_switch_off() {
    let mut set = HeuristicSet::default();
    set.disable(HeuristicId::PeelChain);
    assert!(peeling_chains(&graph_of(peel_graph()), &set, &[]).is_empty());
}

// ---- names and the whole analysis ----

#[test]
fn heuristic_names_parse_back_and_unknown_names_are_refused() {
    for h in HeuristicId::ALL {
        assert_eq!(h.name().parse::<HeuristicId>().unwrap(), h);
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            format!("\"{}\"", h.name())
        );
    }
    let err = "round-amounts".parse::<HeuristicId>().unwrap_err();
    assert!(err.to_string().contains("round-amounts"));
}

#[test]
fn analysis_serializes_deterministically_and_round_trips() {
    let mut nodes = peel_graph();
    nodes.push(joinmarket_tx(2));
    let g = graph_of(nodes);
    let a = analyze(&g, &HeuristicSet::default());
    assert_eq!(a.coinjoins.len(), 1);
    assert_eq!(a.peels.len(), 1);
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(
        json,
        serde_json::to_string(&analyze(&g, &HeuristicSet::default())).unwrap()
    );
    let back: custos_trace::heuristics::Analysis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}
