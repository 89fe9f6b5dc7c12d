//! A trace over the lab's `tracing-large` chain (10,000 background payments) touching more than
//! 10,000 transactions: forward, with no label stops, from every payment of the lab's faucet
//! (the only source of coins), so every transaction of the chain is reached.
//!
//! Measured:
//! - once, over the Electrum protocol with the lab answering after `--latency-ms 50`: wall time,
//!   round trips, and round trips per hop against the hop's width (printed);
//! - with criterion, the same trace replayed from the case's cache (`--offline`): transactions
//!   per second, SPV checks included.
//!
//! Run: `cargo bench -p custos-trace --bench lab_trace -- --warm-up-time 1 --measurement-time 10`.

#![allow(clippy::print_stderr)] // a bench reports its one-shot figures on stderr

use std::time::{Duration, Instant};

use bitcoin::Txid;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use custos_case::Case;
use custos_chain::{CachedSource, ElectrumOptions, ElectrumSource};
use custos_core::{
    ids::{CaseId, ExaminerId},
    source::BitcoinSource,
    Network,
};
use custos_lab::{Lab, LabConfig};
use custos_trace::walk::{trace, Direction, Limits, Progress, Start, Trace};

/// Every transaction that spends newly mined coins (the lab faucet's payments, which fund every
/// wallet of the story and of the background): their descendants are the whole chain.
fn faucet_payments(lab: &Lab) -> Vec<Txid> {
    let txs = &lab.ground_truth().chain_transactions;
    let known: std::collections::HashSet<&str> = txs.iter().map(|t| t.txid.as_str()).collect();
    txs.iter()
        .filter(|t| {
            t.inputs.iter().all(|i| {
                let parent = i.prevout.split(':').next().unwrap_or_default();
                !known.contains(parent)
            })
        })
        .map(|t| t.txid.parse().expect("a txid"))
        .collect()
}

fn limits() -> Limits {
    Limits {
        hops: 100_000,
        max_txs: 1_000_000,
        ..Limits::default()
    }
}

fn run(src: &dyn BitcoinSource, starts: &[Txid], hops: &mut Vec<(u32, usize, u64)>) -> Trace {
    let starts: Vec<Start> = starts.iter().map(|t| Start::Tx(*t)).collect();
    trace(
        src,
        Network::Regtest,
        Direction::Forward,
        &starts,
        &limits(),
        &[],
        &mut |p| {
            if let Progress::Hop {
                hop,
                frontier,
                round_trips,
                ..
            } = p
            {
                hops.push((hop, frontier, round_trips));
            }
        },
    )
    .expect("the trace runs")
}

fn bench(c: &mut Criterion) {
    let lab = Lab::start(LabConfig {
        latency_ms: 50,
        ..LabConfig::scenario("tracing-large")
    })
    .expect("the lab starts");
    let start = faucet_payments(&lab);
    let tmp = tempfile::tempdir().expect("a temp dir");
    let case = Case::create(
        &tmp.path().join("case"),
        &CaseId::new("BENCH-1").expect("an id"),
        &ExaminerId::new("bench").expect("an examiner"),
        Network::Regtest,
        "bench",
    )
    .expect("a case");

    // Over Electrum at 50 ms latency, recording into the case.
    let electrum = ElectrumSource::connect(
        &lab.url(),
        ElectrumOptions {
            timeout: Duration::from_secs(120),
            ..ElectrumOptions::default()
        },
    )
    .expect("connects");
    let online = CachedSource::online(&electrum, &case);
    let mut hops = Vec::new();
    let t0 = Instant::now();
    let recorded = run(&online, &start, &mut hops);
    let wall = t0.elapsed();
    let mut per_hop: Vec<(u32, usize, u64)> = Vec::new();
    for w in hops.windows(2) {
        per_hop.push((w[0].0, w[0].1, w[1].2 - w[0].2));
    }
    let widest = per_hop
        .iter()
        .max_by_key(|h| h.1)
        .copied()
        .unwrap_or_default();
    let narrowest = per_hop
        .iter()
        .min_by_key(|h| h.1)
        .copied()
        .unwrap_or_default();
    let max_trips = per_hop.iter().map(|h| h.2).max().unwrap_or(0);
    let min_trips = per_hop.iter().map(|h| h.2).min().unwrap_or(0);
    eprintln!(
        "electrum @50ms: {} transactions, {} hops, {} round trips, wall {:.1?}; round trips per hop {}..{} \
         (narrowest hop {} coins: {}, widest hop {} coins: {})",
        recorded.graph.len(),
        recorded.stats.hops,
        recorded.stats.round_trips,
        wall,
        min_trips,
        max_trips,
        narrowest.1,
        narrowest.2,
        widest.1,
        widest.2
    );
    assert!(recorded.partial.is_empty(), "{:?}", recorded.partial);
    assert!(
        recorded.graph.len() >= 10_000,
        "{} transactions",
        recorded.graph.len()
    );

    // Replayed from the case's cache.
    let offline = CachedSource::offline(&case);
    let n = recorded.graph.len();
    let mut g = c.benchmark_group("trace");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("tracing-large forward from the case cache", |b| {
        b.iter(|| {
            let t = run(&offline, &start, &mut Vec::new());
            assert_eq!(t.graph.len(), n);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
