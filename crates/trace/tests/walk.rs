//! Forward and backward traces over an in-process regtest chain of real blocks
//! (custos-chain's MemoryChain): known paths recovered, every limit and rule reported as a stop,
//! cycles, round trips per hop, failing and lying sources, determinism.

use std::cell::RefCell;

use bitcoin::{
    absolute::LockTime, block::Header, consensus::serialize, hashes::Hash, transaction, Amount,
    OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, WPubkeyHash,
    Witness,
};
use custos_chain::MemoryChain;
use custos_core::{
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Network, Sat,
};
use custos_trace::{
    graph::{script_label, Inclusion},
    walk::{trace, Direction, Limits, Progress, Start, StopReason, StopRule, Trace},
    Error, Graph,
};

fn script(n: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([n; 20]))
}

fn addr(n: u8) -> String {
    script_label(&script(n), Network::Regtest)
}

fn tx(inputs: &[OutPoint], outputs: &[(ScriptBuf, u64)]) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .iter()
            .map(|(s, v)| TxOut {
                value: Amount::from_sat(*v),
                script_pubkey: s.clone(),
            })
            .collect(),
    }
}

fn op(t: &Transaction, vout: u32) -> OutPoint {
    OutPoint::new(t.compute_txid(), vout)
}

/// A path, one block per step:
/// t0 pays A 1,000,000 (funded from a coinbase); t1: A -> B 990,000;
/// t2: B -> C 600,000 + D 380,000; t3: C -> E 590,000.
struct Path {
    chain: MemoryChain,
    t: Vec<Transaction>,
}

fn path() -> Path {
    let mut chain = MemoryChain::regtest();
    chain.mine();
    let t0 = chain.fund(&[(script(0xa), 1_000_000)]);
    chain.mine();
    let t1 = tx(&[op(&t0, 0)], &[(script(0xb), 990_000)]);
    chain.submit(t1.clone());
    chain.mine();
    let t2 = tx(
        &[op(&t1, 0)],
        &[(script(0xc), 600_000), (script(0xd), 380_000)],
    );
    chain.submit(t2.clone());
    chain.mine();
    let t3 = tx(&[op(&t2, 0)], &[(script(0xe), 590_000)]);
    chain.submit(t3.clone());
    chain.mine();
    Path {
        chain,
        t: vec![t0, t1, t2, t3],
    }
}

fn run(
    src: &dyn BitcoinSource,
    direction: Direction,
    starts: &[Start],
    limits: &Limits,
    rules: &[&dyn StopRule],
) -> Result<Trace, Error> {
    trace(
        src,
        Network::Regtest,
        direction,
        starts,
        limits,
        rules,
        &mut |_| {},
    )
}

fn ids(t: &Trace) -> Vec<Txid> {
    t.graph.txs.keys().copied().collect()
}

fn sorted(txs: &[&Transaction]) -> Vec<Txid> {
    let mut v: Vec<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    v.sort();
    v
}

fn stop_at(t: &Trace, coin: OutPoint) -> Vec<StopReason> {
    t.stops
        .iter()
        .filter(|s| s.coin == coin)
        .map(|s| s.reason.clone())
        .collect()
}

#[test]
fn forward_trace_recovers_a_known_path_with_every_hop_verified() {
    let p = path();
    let [t0, t1, t2, t3] = [&p.t[0], &p.t[1], &p.t[2], &p.t[3]];
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(t0, 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert_eq!(ids(&tr), sorted(&[t0, t1, t2, t3]));
    let hop = |t: &Transaction| tr.hop_of[&t.compute_txid()];
    assert_eq!((hop(t0), hop(t1), hop(t2), hop(t3)), (0, 1, 2, 3));
    assert_eq!(tr.stats.hops, 3);
    assert_eq!(tr.seeds, vec![op(t0, 0)]);
    for node in tr.graph.txs.values() {
        assert!(
            matches!(node.inclusion, Inclusion::Verified { .. }),
            "{node:?}"
        );
        assert!(node.fee().is_some(), "every input value known: {node:?}");
    }
    let heights: Vec<Option<u32>> = [t0, t1, t2, t3]
        .iter()
        .map(|t| tr.graph.tx(&t.compute_txid()).unwrap().height())
        .collect();
    assert_eq!(heights, vec![Some(2), Some(3), Some(4), Some(5)]);
    let n1 = tr.graph.tx(&t1.compute_txid()).unwrap();
    assert_eq!(n1.inputs[0].value, Some(Sat(1_000_000)));
    assert_eq!(n1.inputs[0].address.as_deref(), Some(addr(0xa).as_str()));
    assert_eq!(
        tr.graph.output(&op(t2, 0)).unwrap().spent_by,
        Some((t3.compute_txid(), 0))
    );
    // The ends: D and E unspent; nothing else stopped, nothing partial.
    assert_eq!(stop_at(&tr, op(t2, 1)), vec![StopReason::Unspent]);
    assert_eq!(stop_at(&tr, op(t3, 0)), vec![StopReason::Unspent]);
    assert_eq!(tr.stops.len(), 2, "{:?}", tr.stops);
    let order: Vec<(u32, OutPoint)> = tr.stops.iter().map(|s| (s.hop, s.coin)).collect();
    assert_eq!(order, vec![(3, op(t2, 1)), (4, op(t3, 0))], "sorted by hop");
    assert!(tr.is_complete(), "{:?}", tr.partial);
    // Evidence: every graph transaction's bytes and proof, headers at their heights.
    for t in [t0, t1, t2, t3] {
        let id = t.compute_txid();
        assert_eq!(tr.evidence.raw_txs[&id], hex::encode(serialize(t)));
        assert!(tr.evidence.proofs.contains_key(&id));
    }
    for h in 2..=5u32 {
        let hd = p.chain.blocks()[h as usize].header;
        assert_eq!(tr.evidence.headers[&h], hex::encode(serialize(&hd)));
    }
}

#[test]
fn backward_trace_recovers_provenance_down_to_the_coinbase() {
    let p = path();
    let [t0, t1, t2, t3] = [&p.t[0], &p.t[1], &p.t[2], &p.t[3]];
    let tr = run(
        &p.chain,
        Direction::Backward,
        &[Start::Tx(t3.compute_txid())],
        &Limits::default(),
        &[],
    )
    .unwrap();
    let coinbase = &p.chain.blocks()[1].txdata[0];
    assert_eq!(t0.input[0].previous_output, op(coinbase, 0));
    assert_eq!(ids(&tr), sorted(&[coinbase, t0, t1, t2, t3]));
    let hop = |t: &Transaction| tr.hop_of[&t.compute_txid()];
    assert_eq!(
        (hop(t3), hop(t2), hop(t1), hop(t0), hop(coinbase)),
        (0, 1, 2, 3, 4)
    );
    assert_eq!(tr.seeds, vec![op(t3, 0)]);
    assert_eq!(stop_at(&tr, op(coinbase, 0)), vec![StopReason::Coinbase]);
    assert_eq!(tr.stops.len(), 1, "{:?}", tr.stops);
    assert!(tr.is_complete(), "{:?}", tr.partial);
    // D (t2:1) is not walked backward: nothing spends it in the graph.
    assert_eq!(tr.graph.output(&op(t2, 1)).unwrap().spent_by, None);
    assert_eq!(
        tr.graph.tx(&t3.compute_txid()).unwrap().inputs[0].value,
        Some(Sat(600_000))
    );
}

#[test]
fn script_start_follows_every_coin_the_script_received() {
    let mut p = path();
    // A second payment to B, spent to F.
    let extra = p.chain.fund(&[(script(0xb), 50_000)]);
    p.chain.mine();
    let spend = tx(&[op(&extra, 0)], &[(script(0xf), 40_000)]);
    p.chain.submit(spend.clone());
    p.chain.mine();
    let start = Start::Script {
        label: addr(0xb),
        script: script(0xb),
    };
    let tr = run(
        &p.chain,
        Direction::Forward,
        std::slice::from_ref(&start),
        &Limits::default(),
        &[],
    )
    .unwrap();
    let mut seeds = vec![op(&p.t[1], 0), op(&extra, 0)];
    seeds.sort();
    assert_eq!(tr.seeds, seeds);
    assert_eq!(tr.starts, vec![format!("script:{}", addr(0xb))]);
    for t in [&p.t[2], &p.t[3], &spend] {
        assert_eq!(tr.hop_of[&t.compute_txid()], 1 + u32::from(t == &p.t[3]));
    }
    let back = run(
        &p.chain,
        Direction::Backward,
        &[start],
        &Limits {
            hops: 1,
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(back.hop_of[&p.t[1].compute_txid()], 0);
    assert_eq!(back.hop_of[&p.t[0].compute_txid()], 1);
    assert_eq!(back.hop_of[&extra.compute_txid()], 0);
}

#[test]
fn hop_limit_is_reported_as_stops_and_partial() {
    let p = path();
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits {
            hops: 1,
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(ids(&tr), sorted(&[&p.t[0], &p.t[1]]));
    assert_eq!(tr.stops.len(), 1);
    assert_eq!(tr.stops[0].coin, op(&p.t[1], 0));
    assert_eq!(tr.stops[0].hop, 2);
    assert_eq!(tr.stops[0].reason, StopReason::HopLimit);
    assert!(
        tr.partial
            .iter()
            .any(|m| m.contains("hop limit 1") && m.contains(&op(&p.t[1], 0).to_string())),
        "{:?}",
        tr.partial
    );
    // Backward at the hop limit: the parent is still fetched so the input value is known.
    let back = run(
        &p.chain,
        Direction::Backward,
        &[Start::Tx(p.t[3].compute_txid())],
        &Limits {
            hops: 0,
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(ids(&back), sorted(&[&p.t[3]]));
    assert_eq!(stop_at(&back, op(&p.t[2], 0)), vec![StopReason::HopLimit]);
    let n3 = back.graph.tx(&p.t[3].compute_txid()).unwrap();
    assert_eq!(n3.inputs[0].value, Some(Sat(600_000)));
    assert_eq!(n3.fee(), Some(Sat(10_000)));
}

#[test]
fn transaction_limit_is_reported_as_stops_and_partial() {
    let p = path();
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits {
            max_txs: 2,
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(tr.graph.len(), 2);
    assert_eq!(stop_at(&tr, op(&p.t[1], 0)), vec![StopReason::TxLimit]);
    assert!(tr.partial.iter().any(|m| m.contains("transaction limit 2")));
    let back = run(
        &p.chain,
        Direction::Backward,
        &[Start::Tx(p.t[3].compute_txid())],
        &Limits {
            max_txs: 3,
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(ids(&back), sorted(&[&p.t[1], &p.t[2], &p.t[3]]));
    assert_eq!(stop_at(&back, op(&p.t[0], 0)), vec![StopReason::TxLimit]);
}

#[test]
fn coins_below_the_minimum_value_are_stopped_with_their_value() {
    let p = path();
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits {
            min_value: Sat(400_000),
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(
        stop_at(&tr, op(&p.t[2], 1)),
        vec![StopReason::BelowMinValue {
            value: Sat(380_000)
        }]
    );
    assert!(tr.graph.tx(&p.t[3].compute_txid()).is_some());
    // A minimum value is a rule, not a limit: the trace is complete within it.
    assert!(tr.is_complete(), "{:?}", tr.partial);
}

#[test]
fn transactions_outside_the_time_window_are_stopped_with_their_time() {
    let p = path();
    let t2_time = p.chain.blocks()[4].header.time;
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits {
            not_after: Some(t2_time - 1),
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(ids(&tr), sorted(&[&p.t[0], &p.t[1]]));
    assert_eq!(
        stop_at(&tr, op(&p.t[1], 0)),
        vec![StopReason::OutsideWindow { time: t2_time }]
    );
    let t1_time = p.chain.blocks()[3].header.time;
    let back = run(
        &p.chain,
        Direction::Backward,
        &[Start::Tx(p.t[3].compute_txid())],
        &Limits {
            not_before: Some(t1_time + 1),
            ..Limits::default()
        },
        &[],
    )
    .unwrap();
    assert_eq!(ids(&back), sorted(&[&p.t[2], &p.t[3]]));
    assert_eq!(
        stop_at(&back, op(&p.t[1], 0)),
        vec![StopReason::OutsideWindow { time: t1_time }]
    );
}

struct Exchange(String);

impl StopRule for Exchange {
    fn check(&self, _graph: &Graph, _coin: &OutPoint, address: &str) -> Option<StopReason> {
        (address == self.0).then(|| StopReason::Labelled {
            label: "exchange x".into(),
            category: "exchange".into(),
        })
    }
}

#[test]
fn a_stop_rule_stops_the_walk_at_a_labelled_address() {
    let p = path();
    let rule = Exchange(addr(0xc));
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits::default(),
        &[&rule],
    )
    .unwrap();
    assert_eq!(
        stop_at(&tr, op(&p.t[2], 0)),
        vec![StopReason::Labelled {
            label: "exchange x".into(),
            category: "exchange".into()
        }]
    );
    assert!(tr.graph.tx(&p.t[3].compute_txid()).is_none());
    // Backward, the rule sees the address of the coin spent.
    let rule = Exchange(addr(0xa));
    let back = run(
        &p.chain,
        Direction::Backward,
        &[Start::Tx(p.t[3].compute_txid())],
        &Limits::default(),
        &[&rule],
    )
    .unwrap();
    assert!(back.graph.tx(&p.t[0].compute_txid()).is_none());
    assert!(matches!(
        stop_at(&back, op(&p.t[0], 0))[..],
        [StopReason::Labelled { .. }]
    ));
}

/// A source that counts and records calls, and can fail or lie on purpose.
#[derive(Default)]
struct Wrapper<'a> {
    inner: Option<&'a MemoryChain>,
    calls: RefCell<Vec<&'static str>>,
    raw_asked: RefCell<Vec<Txid>>,
    /// Fail the n-th (1-based) call of this method.
    fail_on: Option<(&'static str, usize)>,
    /// Send the bytes of the second txid when the first is asked for.
    swap: Option<(Txid, Txid)>,
    /// Send a wrong merkle branch for this txid.
    bad_proof: Option<Txid>,
}

impl<'a> Wrapper<'a> {
    fn new(inner: &'a MemoryChain) -> Self {
        Wrapper {
            inner: Some(inner),
            ..Wrapper::default()
        }
    }

    fn chain(&self) -> &MemoryChain {
        self.inner.unwrap()
    }

    fn call(&self, method: &'static str) -> Result<(), SourceError> {
        let mut calls = self.calls.borrow_mut();
        calls.push(method);
        let n = calls.iter().filter(|m| **m == method).count();
        if self.fail_on == Some((method, n)) {
            return Err(SourceError::Transport {
                server: "tcp://flaky.example:50001".into(),
                detail: "timed out".into(),
                retryable: true,
            });
        }
        Ok(())
    }

    fn count(&self) -> usize {
        self.calls.borrow().len()
    }
}

impl BitcoinSource for Wrapper<'_> {
    fn name(&self) -> String {
        "tcp://flaky.example:50001".into()
    }
    fn tip(&self) -> Result<Tip, SourceError> {
        self.call("tip")?;
        self.chain().tip()
    }
    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        self.call("headers")?;
        self.chain().headers(start, count)
    }
    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        self.call("histories")?;
        self.chain().histories(scripts)
    }
    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        self.call("unspents")?;
        self.chain().unspents(scripts)
    }
    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        self.call("raw_transactions")?;
        self.raw_asked.borrow_mut().extend_from_slice(txids);
        let asked: Vec<Txid> = txids
            .iter()
            .map(|t| match self.swap {
                Some((from, to)) if *t == from => to,
                _ => *t,
            })
            .collect();
        self.chain().raw_transactions(&asked)
    }
    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        self.call("merkle_proofs")?;
        let mut proofs = self.chain().merkle_proofs(requests)?;
        for p in &mut proofs {
            if Some(p.txid) == self.bad_proof {
                p.branch = vec![TxMerkleNode::from_byte_array([7; 32]); p.branch.len().max(1)];
            }
        }
        Ok(proofs)
    }
    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        self.chain().broadcast(raw_tx)
    }
    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        self.chain().relay_fee()
    }
    fn estimate_fee(&self, blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        self.chain().estimate_fee(blocks)
    }
}

#[test]
fn coins_returning_to_an_earlier_address_do_not_loop() {
    let mut chain = MemoryChain::regtest();
    chain.mine();
    let t0 = chain.fund(&[(script(1), 100_000)]);
    chain.mine();
    let mut txs = vec![t0.clone()];
    // A -> B -> A -> B -> A, one block each.
    for i in 0..4u64 {
        let prev = txs.last().unwrap();
        let to = if i % 2 == 0 { script(2) } else { script(1) };
        let next = tx(&[op(prev, 0)], &[(to, 100_000 - 1_000 * (i + 1))]);
        chain.submit(next.clone());
        chain.mine();
        txs.push(next);
    }
    let src = Wrapper::new(&chain);
    let limits = Limits {
        hops: 100,
        ..Limits::default()
    };
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&t0, 0))],
        &limits,
        &[],
    )
    .unwrap();
    assert_eq!(tr.graph.len(), 5);
    assert_eq!(tr.hop_of[&txs[4].compute_txid()], 4);
    assert_eq!(stop_at(&tr, op(&txs[4], 0)), vec![StopReason::Unspent]);
    assert!(tr.is_complete(), "{:?}", tr.partial);
    let mut asked = src.raw_asked.borrow().clone();
    let n = asked.len();
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), n, "a transaction was fetched twice");
    // The same chain backward from the end, by address.
    let back = run(
        &chain,
        Direction::Backward,
        &[Start::Script {
            label: addr(1),
            script: script(1),
        }],
        &limits,
        &[],
    )
    .unwrap();
    for t in &txs {
        assert!(back.graph.tx(&t.compute_txid()).is_some());
    }
}

/// `width` parallel chains of two spends each, from one funding transaction; returns the chain,
/// the funding outpoints, and the last transactions.
fn fan(width: u8) -> (MemoryChain, Vec<OutPoint>, Vec<Txid>) {
    let mut chain = MemoryChain::regtest();
    chain.mine();
    let outs: Vec<(ScriptBuf, u64)> = (0..width).map(|i| (script(i), 100_000)).collect();
    let t0 = chain.fund(&outs);
    chain.mine();
    let mut coins: Vec<OutPoint> = (0..u32::from(width)).map(|v| op(&t0, v)).collect();
    let seeds = coins.clone();
    for round in 1..=2u8 {
        let mut next = Vec::new();
        for (i, c) in coins.iter().enumerate() {
            let s = script(u8::try_from(i).unwrap().wrapping_add(100 * round));
            let t = tx(&[*c], &[(s, 100_000 - 1_000 * u64::from(round))]);
            chain.submit(t.clone());
            next.push(op(&t, 0));
        }
        chain.mine();
        coins = next;
    }
    let last = coins.iter().map(|c| c.txid).collect();
    (chain, seeds, last)
}

/// Round trips made during each hop, from the progress reports.
fn trips_per_hop(src: &Wrapper<'_>, direction: Direction, starts: &[Start]) -> Vec<u64> {
    let mut marks = Vec::new();
    let tr = trace(
        src,
        Network::Regtest,
        direction,
        starts,
        &Limits::default(),
        &[],
        &mut |p| {
            if let Progress::Hop { round_trips, .. } = p {
                marks.push(round_trips);
            }
        },
    )
    .unwrap();
    assert!(tr.is_complete(), "{:?}", tr.partial);
    assert_eq!(tr.stats.round_trips, src.count() as u64);
    marks.push(tr.stats.round_trips);
    marks.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn round_trips_per_hop_do_not_grow_with_the_frontier() {
    let (narrow, narrow_seeds, narrow_last) = fan(1);
    let (wide, wide_seeds, wide_last) = fan(50);
    let starts =
        |seeds: &[OutPoint]| -> Vec<Start> { seeds.iter().map(|s| Start::Outpoint(*s)).collect() };
    let a = trips_per_hop(
        &Wrapper::new(&narrow),
        Direction::Forward,
        &starts(&narrow_seeds),
    );
    let b = trips_per_hop(
        &Wrapper::new(&wide),
        Direction::Forward,
        &starts(&wide_seeds),
    );
    assert_eq!(a, b);
    // Hops 1 and 2: histories, candidates, proofs (the other parents are held already);
    // hop 3: the histories that show the ends unspent.
    assert_eq!(a, vec![3, 3, 1]);

    let tx_starts = |last: &[Txid]| -> Vec<Start> { last.iter().map(|t| Start::Tx(*t)).collect() };
    let a = trips_per_hop(
        &Wrapper::new(&narrow),
        Direction::Backward,
        &tx_starts(&narrow_last),
    );
    let b = trips_per_hop(
        &Wrapper::new(&wide),
        Direction::Backward,
        &tx_starts(&wide_last),
    );
    assert_eq!(a, b);
    // Parents, their heights, their proofs; hop 3 reaches the coinbase.
    assert_eq!(a, vec![3, 3, 3]);
}

#[test]
fn a_source_failing_at_hop_two_gives_a_partial_trace_naming_what_was_not_followed() {
    let p = path();
    // Histories: 1 for the seed's height, 2 for hop 1, 3 for hop 2.
    let src = Wrapper {
        fail_on: Some(("histories", 3)),
        ..Wrapper::new(&p.chain)
    };
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert_eq!(ids(&tr), sorted(&[&p.t[0], &p.t[1]]));
    let coin = op(&p.t[1], 0);
    assert!(matches!(
        &stop_at(&tr, coin)[..],
        [StopReason::SourceFailed { detail }] if detail.contains("timed out")
    ));
    assert!(!tr.is_complete());
    let msg = tr.partial.join("\n");
    assert!(
        msg.contains("hop 2") && msg.contains(&coin.to_string()) && msg.contains("flaky.example"),
        "{msg}"
    );
    // Backward: raw transactions 1 = start, 2 = hop 1, 3 = hop 2 fails.
    let src = Wrapper {
        fail_on: Some(("raw_transactions", 3)),
        ..Wrapper::new(&p.chain)
    };
    let back = run(
        &src,
        Direction::Backward,
        &[Start::Tx(p.t[3].compute_txid())],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert_eq!(ids(&back), sorted(&[&p.t[2], &p.t[3]]));
    assert!(matches!(
        &stop_at(&back, op(&p.t[1], 0))[..],
        [StopReason::SourceFailed { .. }]
    ));
    assert!(back.partial.iter().any(|m| m.starts_with("hop 2:")));
}

#[test]
fn bytes_that_do_not_hash_to_the_txid_are_rejected_and_reported() {
    let p = path();
    let liar = p.t[2].compute_txid();
    let src = Wrapper {
        swap: Some((liar, p.t[3].compute_txid())),
        ..Wrapper::new(&p.chain)
    };
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert!(tr.graph.tx(&liar).is_none());
    assert_eq!(
        tr.evidence.rejected[&liar].hex,
        hex::encode(serialize(&p.t[3]))
    );
    assert!(matches!(
        &stop_at(&tr, op(&p.t[1], 0))[..],
        [StopReason::SourceFailed { detail }] if detail.contains(&liar.to_string())
    ));
    assert!(tr.partial.iter().any(|m| m.contains(&liar.to_string())));
    // The bytes swapped for a start transaction: an error naming it.
    let err = run(
        &src,
        Direction::Backward,
        &[Start::Tx(liar)],
        &Limits::default(),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains(&liar.to_string()), "{err}");
}

#[test]
fn a_bad_merkle_proof_leaves_the_transaction_unproven_and_the_trace_partial() {
    let p = path();
    let t2 = p.t[2].compute_txid();
    let src = Wrapper {
        bad_proof: Some(t2),
        ..Wrapper::new(&p.chain)
    };
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    match &tr.graph.tx(&t2).unwrap().inclusion {
        Inclusion::Unproven { reason } => assert!(reason.contains(&t2.to_string()), "{reason}"),
        other => panic!("expected unproven, got {other:?}"),
    }
    assert!(matches!(
        tr.graph.tx(&p.t[3].compute_txid()).unwrap().inclusion,
        Inclusion::Verified { .. }
    ));
    assert!(tr.partial.iter().any(|m| m.contains(&t2.to_string())));
}

#[test]
fn mempool_spends_are_followed_as_unconfirmed() {
    let p = path();
    let t4 = tx(&[op(&p.t[3], 0)], &[(script(0x44), 580_000)]);
    p.chain.submit(t4.clone());
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[2], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert_eq!(
        tr.graph.tx(&t4.compute_txid()).unwrap().inclusion,
        Inclusion::Unconfirmed
    );
    assert!(tr.is_complete(), "{:?}", tr.partial);
}

#[test]
fn an_unknown_start_txid_is_an_error_naming_it() {
    let p = path();
    let unknown = Txid::from_byte_array([9; 32]);
    let err = run(
        &p.chain,
        Direction::Forward,
        &[Start::Tx(unknown)],
        &Limits::default(),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadStart { .. }));
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    let err = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[1], 5))],
        &Limits::default(),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("no output 5"), "{err}");
}

#[test]
fn a_tip_failure_is_an_error_naming_the_server() {
    let p = path();
    let src = Wrapper {
        fail_on: Some(("tip", 1)),
        ..Wrapper::new(&p.chain)
    };
    let err = run(
        &src,
        Direction::Forward,
        &[Start::Tx(p.t[0].compute_txid())],
        &Limits::default(),
        &[],
    )
    .unwrap_err();
    // The cause is kept as a value (printed once, by the CLI's `{:#}`), so look down the chain.
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(text.contains("flaky.example"), "{text}");
}

#[test]
fn two_identical_runs_give_byte_identical_json_that_reads_back() {
    let (chain, seeds, _) = fan(12);
    let starts: Vec<Start> = seeds.iter().map(|s| Start::Outpoint(*s)).collect();
    let limits = Limits {
        hops: 1,
        min_value: Sat(1),
        ..Limits::default()
    };
    let a = run(&chain, Direction::Forward, &starts, &limits, &[]).unwrap();
    let b = run(&chain, Direction::Forward, &starts, &limits, &[]).unwrap();
    let ja = serde_json::to_string_pretty(&a).unwrap();
    let jb = serde_json::to_string_pretty(&b).unwrap();
    assert_eq!(ja, jb);
    let back: Trace = serde_json::from_str(&ja).unwrap();
    assert_eq!(back, a);
    assert!(ja.contains("\"reason\": \"hop_limit\""), "{ja}");
}

#[test]
fn a_spender_reached_early_is_linked_to_a_coin_found_later_not_walked_twice() {
    // S pays o0 and o1; o0 -> X -> X2; Z spends o1 (hop 1) and X2's output (hop 2).
    let mut chain = MemoryChain::regtest();
    chain.mine();
    let s = chain.fund(&[(script(1), 100_000), (script(2), 100_000)]);
    chain.mine();
    let x = tx(&[op(&s, 0)], &[(script(3), 99_000)]);
    chain.submit(x.clone());
    chain.mine();
    let x2 = tx(&[op(&x, 0)], &[(script(4), 98_000)]);
    chain.submit(x2.clone());
    chain.mine();
    let z = tx(&[op(&s, 1), op(&x2, 0)], &[(script(5), 197_000)]);
    chain.submit(z.clone());
    chain.mine();
    let src = Wrapper::new(&chain);
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&s, 0)), Start::Outpoint(op(&s, 1))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    let zid = z.compute_txid();
    assert_eq!(tr.hop_of[&zid], 1);
    assert_eq!(tr.hop_of[&x2.compute_txid()], 2);
    assert_eq!(
        tr.graph.output(&op(&x2, 0)).unwrap().spent_by,
        Some((zid, 1))
    );
    let zn = tr.graph.tx(&zid).unwrap();
    assert_eq!(zn.inputs[1].value, Some(Sat(98_000)));
    assert_eq!(zn.fee(), Some(Sat(1_000)));
    assert_eq!(stop_at(&tr, op(&z, 0)), vec![StopReason::Unspent]);
    assert_eq!(tr.stops.len(), 1, "{:?}", tr.stops);
    let mut asked = src.raw_asked.borrow().clone();
    let n = asked.len();
    asked.sort();
    asked.dedup();
    assert_eq!(asked.len(), n, "a transaction was fetched twice");
}

#[test]
fn conflicting_spends_of_a_coin_are_reported_and_one_is_followed() {
    let p = path();
    let a = tx(&[op(&p.t[3], 0)], &[(script(0x41), 580_000)]);
    let b = tx(&[op(&p.t[3], 0)], &[(script(0x42), 570_000)]);
    p.chain.submit(a.clone());
    p.chain.submit(b.clone());
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[3], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    let (first, second) = if a.compute_txid() < b.compute_txid() {
        (a.compute_txid(), b.compute_txid())
    } else {
        (b.compute_txid(), a.compute_txid())
    };
    assert!(tr.graph.tx(&first).is_some());
    assert!(tr.graph.tx(&second).is_none());
    assert!(
        tr.partial
            .iter()
            .any(|m| m.contains(&first.to_string()) && m.contains(&second.to_string())),
        "{:?}",
        tr.partial
    );
}

#[test]
fn a_trace_file_rechecks_from_its_own_evidence_and_tampering_is_caught() {
    let p = path();
    let tr = run(
        &p.chain,
        Direction::Forward,
        &[Start::Outpoint(op(&p.t[0], 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    let file: Trace = serde_json::from_str(&serde_json::to_string(&tr).unwrap()).unwrap();
    assert_eq!(file.recheck(), Vec::<String>::new());

    // Raw bytes of another transaction.
    let t1 = p.t[1].compute_txid();
    let mut bad = file.clone();
    bad.evidence
        .raw_txs
        .insert(t1, hex::encode(serialize(&p.t[2])));
    let problems = bad.recheck();
    assert!(
        problems.iter().any(|m| m.contains(&t1.to_string())),
        "{problems:?}"
    );

    // An output value edited in the graph.
    let mut bad = file.clone();
    bad.graph.txs.get_mut(&t1).unwrap().outputs[0].value = Sat(1);
    assert_eq!(bad.recheck().len(), 1);

    // A header swapped for another block's.
    let mut bad = file;
    let other = p.chain.blocks()[1].header;
    bad.evidence
        .headers
        .insert(3, hex::encode(serialize(&other)));
    let problems = bad.recheck();
    assert!(
        problems.iter().any(|m| m.contains("height 3")),
        "{problems:?}"
    );
}

#[test]
fn a_trace_recorded_in_a_case_replays_offline_to_the_same_json() {
    use custos_case::Case;
    use custos_chain::CachedSource;
    use custos_core::ids::{CaseId, ExaminerId};

    let (chain, seeds, last) = fan(5);
    let dir = tempfile::tempdir().unwrap();
    let case = Case::create(
        &dir.path().join("case"),
        &CaseId::new("T-1").unwrap(),
        &ExaminerId::new("tester").unwrap(),
        Network::Regtest,
        "custos trace",
    )
    .unwrap();
    let starts: Vec<Start> = seeds.iter().map(|s| Start::Outpoint(*s)).collect();
    let back: Vec<Start> = last.iter().map(|t| Start::Tx(*t)).collect();
    for (direction, starts) in [(Direction::Forward, &starts), (Direction::Backward, &back)] {
        let online = CachedSource::online(&chain, &case);
        let recorded = run(&online, direction, starts, &Limits::default(), &[]).unwrap();
        let offline = CachedSource::offline(&case);
        let replayed = run(&offline, direction, starts, &Limits::default(), &[]).unwrap();
        assert!(recorded.is_complete(), "{:?}", recorded.partial);
        assert_eq!(
            serde_json::to_string(&recorded).unwrap(),
            serde_json::to_string(&replayed).unwrap()
        );
    }
}

#[test]
fn forward_discovery_on_a_reused_script_fetches_only_history_at_or_after_the_funding_height() {
    // Twenty payments to one reused script R, one block each, one of them spent early; then
    // the coin followed (height h) and its spender (h + 1); and a mempool spend of an early coin.
    let reused = script(0x77);
    let mut chain = MemoryChain::regtest();
    chain.mine();
    let mut early = Vec::new();
    for i in 0..20u64 {
        early.push(chain.fund(&[(reused.clone(), 10_000 + i)]));
        chain.mine();
    }
    let early_spend = tx(&[op(&early[0], 0)], &[(script(0x78), 9_000)]);
    chain.submit(early_spend.clone());
    chain.mine();
    let coin = chain.fund(&[(reused.clone(), 50_000)]);
    let funded_at = chain.mine();
    let spender = tx(&[op(&coin, 0)], &[(script(0x79), 49_000)]);
    chain.submit(spender.clone());
    chain.mine();
    let in_mempool = tx(&[op(&early[5], 0)], &[(script(0x7a), 14_000)]);
    chain.submit(in_mempool.clone());
    let history = chain.histories(std::slice::from_ref(&reused)).unwrap();
    assert_eq!(
        history[0].len(),
        20 + 1 + 1 + 1 + 1,
        "the script is heavily reused"
    );

    let src = Wrapper::new(&chain);
    let tr = run(
        &src,
        Direction::Forward,
        &[Start::Outpoint(op(&coin, 0))],
        &Limits::default(),
        &[],
    )
    .unwrap();
    assert!(tr.is_complete(), "{:?}", tr.partial);
    assert_eq!(ids(&tr), sorted(&[&coin, &spender]));
    assert_eq!(tr.hop_of[&spender.compute_txid()], 1);
    assert!(matches!(
        tr.graph.tx(&spender.compute_txid()).unwrap().inclusion,
        Inclusion::Verified { height, .. } if height == funded_at + 1
    ));
    assert_eq!(stop_at(&tr, op(&spender, 0)), vec![StopReason::Unspent]);
    let asked = src.raw_asked.borrow();
    for t in early.iter().chain([&early_spend]) {
        assert!(
            !asked.contains(&t.compute_txid()),
            "{} (below the funding height {funded_at}) was fetched",
            t.compute_txid()
        );
    }
    // The mempool entry is kept: a mempool transaction can spend any confirmed coin.
    assert!(asked.contains(&in_mempool.compute_txid()));
    assert!(!tr.evidence.raw_txs.contains_key(&early[3].compute_txid()));
}
