//! Acceptance on the lab's tracing scenarios, against ground truth that comes from the scenario
//! and from an independent implementation of the taint specification
//! (`fixtures/lab/tools/taint_truth.py`), never from this crate:
//!
//! - the trace recovers every planted flow transaction and every peeling-chain hop;
//! - every planted CoinJoin is detected, and no cluster merges addresses of two entities;
//! - the exposure per category equals `exposure.toml` exactly under each taint model, forward
//!   and backward.
//!
//! - common-input clustering (with the CoinJoin exclusion) over the whole chain gives exactly the
//!   clusters the ground truth implies (`clusters.toml`, written by
//!   `fixtures/lab/tools/cluster_truth.py` from the truth's owners and planted CoinJoins): the
//!   same counts of clusters, addresses and address pairs, and no cluster merges two owners.
//!
//! `tracing-large` (10,000 background payments) is built once and shared by its checks.

#![allow(clippy::print_stderr)] // the clustering figures are reported for docs/tracing.md

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, Txid};
use custos_core::Network;
use custos_lab::{fixtures_dir, GroundTruth, Lab, LabConfig};
use custos_trace::{
    heuristics::{cluster, HeuristicSet},
    labels::LabelSet,
    report::{LabelStop, TraceReport},
    taint::TaintModel,
    walk::{self, Direction, Limits, Start, StopRule},
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ExposureFile {
    #[serde(default)]
    forward: Vec<Expected>,
    #[serde(default)]
    backward: Vec<Expected>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    model: String,
    #[serde(default)]
    start: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    exposure: BTreeMap<String, u64>,
}

fn outpoints(v: &[String]) -> Vec<OutPoint> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

fn run(lab: &Lab, labels: &LabelSet, direction: Direction, starts: &[OutPoint]) -> TraceReport {
    let src = lab.source();
    let stop = LabelStop::new(labels);
    let rules: [&dyn StopRule; 1] = [&stop];
    let limits = Limits {
        hops: 1_000,
        max_txs: 100_000,
        ..Limits::default()
    };
    let starts: Vec<Start> = starts.iter().map(|o| Start::Outpoint(*o)).collect();
    let trace = walk::trace(
        &src,
        Network::Regtest,
        direction,
        &starts,
        &limits,
        &rules,
        &mut |_| {},
    )
    .unwrap();
    assert!(trace.partial.is_empty(), "partial: {:?}", trace.partial);
    TraceReport::build(trace, labels, &HeuristicSet::default(), TaintModel::Haircut)
}

fn check_exposure(report: &TraceReport, expected: &[&Expected], what: &str) {
    for e in expected {
        let model: TaintModel = e.model.parse().unwrap();
        let got = report.exposure_under(model).unwrap();
        let got: BTreeMap<String, u64> = got
            .per_category
            .iter()
            .filter(|(_, v)| v.0 > 0)
            .map(|(k, v)| (k.clone(), v.0))
            .collect();
        let want: BTreeMap<String, u64> = e
            .exposure
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(
            got, want,
            "{what}: exposure under {model} differs from the ground truth"
        );
    }
}

fn check_scenario(name: &str, lab: &Lab, truth: &GroundTruth) {
    let dir = fixtures_dir().join("lab").join(name);
    let mut labels = LabelSet::new();
    labels
        .load(&dir.join("labels.yaml"), Network::Regtest)
        .unwrap();
    let file: ExposureFile =
        toml::from_str(&std::fs::read_to_string(dir.join("exposure.toml")).unwrap()).unwrap();
    let tracing = truth
        .tracing
        .as_ref()
        .expect("the scenario has tracing truth");

    // Forward from the theft: one trace, exposure checked under every model.
    let starts = outpoints(&file.forward[0].start);
    let forward = run(lab, &labels, Direction::Forward, &starts);
    check_exposure(
        &forward,
        &file.forward.iter().collect::<Vec<_>>(),
        "forward",
    );

    // Every planted flow transaction and peeling-chain hop is in the graph, and the peeling
    // chain is found hop by hop.
    let graph = &forward.trace.graph;
    // (Flows the theft cannot reach on chain — a custodial mixer's payout, an exchange's own
    // consolidation — are planted for the handout, not for a trace from the theft.)
    for flow in tracing.flows.iter().filter(|f| f.name == "theft") {
        for t in &flow.txids {
            let txid: Txid = t.parse().unwrap();
            assert!(
                graph.tx(&txid).is_some(),
                "flow {}: {t} not recovered",
                flow.name
            );
        }
    }
    for peel in &tracing.peels {
        let hops: Vec<Txid> = peel.hops.iter().map(|h| h.txid.parse().unwrap()).collect();
        let found = forward
            .analysis
            .peels
            .iter()
            .any(|p| hops.iter().all(|h| p.txids.contains(h)));
        assert!(
            found,
            "peeling chain {} not found hop by hop: {:?}",
            peel.name, forward.analysis.peels
        );
    }
    // Every planted CoinJoin the trace reached is detected (kind matched where it is specific).
    let detected: BTreeMap<Txid, String> = forward
        .analysis
        .coinjoins
        .iter()
        .map(|c| (c.txid, format!("{:?}", c.kind).to_lowercase()))
        .collect();
    for cj in &tracing.coinjoins {
        let txid: Txid = cj.txid.parse().unwrap();
        if graph.tx(&txid).is_none() {
            continue;
        }
        let kind = detected
            .get(&txid)
            .unwrap_or_else(|| panic!("coinjoin {txid} not detected"));
        let want = format!("{:?}", cj.kind)
            .to_lowercase()
            .replace(['-', '_'], "");
        if want != "equaloutput" {
            assert_eq!(kind.replace(['-', '_'], ""), want, "coinjoin {txid} kind");
        }
    }
    // Clusters never merge two entities (in particular never across a CoinJoin).
    let owner: BTreeMap<&str, &str> = tracing
        .entities
        .iter()
        .flat_map(|e| {
            e.addresses
                .iter()
                .map(move |a| (a.as_str(), e.name.as_str()))
        })
        .collect();
    for c in &forward.analysis.clustering.clusters {
        let owners: BTreeSet<&str> = c
            .addresses
            .iter()
            .filter_map(|a| owner.get(a.as_str()).copied())
            .collect();
        assert!(owners.len() <= 1, "cluster {} merges {owners:?}", c.id);
    }

    // Backward from each target named by the truth.
    let mut by_targets: BTreeMap<Vec<String>, Vec<&Expected>> = BTreeMap::new();
    for e in &file.backward {
        by_targets.entry(e.targets.clone()).or_default().push(e);
    }
    for (targets, expected) in by_targets {
        let report = run(lab, &labels, Direction::Backward, &outpoints(&targets));
        check_exposure(&report, &expected, &format!("backward from {targets:?}"));
    }
}

/// Precision and recall of a clustering against the true owners, as counts (see
/// `fixtures/lab/tools/cluster_truth.py` for each one's definition).
#[derive(Debug, Deserialize, PartialEq, Eq)]
struct ClusterFigures {
    clusters: u64,
    clustered_addresses: u64,
    mixed_clusters: u64,
    predicted_pairs: u64,
    correct_pairs: u64,
    spent_addresses: u64,
    owner_pairs: u64,
    owners_spending: u64,
    owners_whole: u64,
    owner_pairs_all: u64,
}

fn pairs(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Every transaction that spends only coins from outside the chain's non-coinbase transactions
/// (the faucet's payments): forward from them, a trace reaches the whole chain.
fn faucet_payments(truth: &GroundTruth) -> Vec<Txid> {
    let known: BTreeSet<&str> = truth
        .chain_transactions
        .iter()
        .map(|t| t.txid.as_str())
        .collect();
    truth
        .chain_transactions
        .iter()
        .filter(|t| {
            t.inputs
                .iter()
                .all(|i| !known.contains(i.prevout.split(':').next().unwrap_or_default()))
        })
        .map(|t| t.txid.parse().unwrap())
        .collect()
}

/// Traces the whole chain forward, clusters it with the default heuristics (common-input, the
/// CoinJoin exclusion on) and measures the clusters against the truth's owners.
fn check_clustering(name: &str, lab: &Lab, truth: &GroundTruth) -> ClusterFigures {
    let tracing = truth.tracing.as_ref().unwrap();
    let starts: Vec<Start> = faucet_payments(truth).into_iter().map(Start::Tx).collect();
    let limits = Limits {
        hops: 100_000,
        max_txs: 1_000_000,
        ..Limits::default()
    };
    let src = lab.source();
    let trace = walk::trace(
        &src,
        Network::Regtest,
        Direction::Forward,
        &starts,
        &limits,
        &[],
        &mut |_| {},
    )
    .unwrap();
    assert!(trace.partial.is_empty(), "partial: {:?}", trace.partial);
    assert_eq!(
        trace.graph.len(),
        tracing.chain_transactions,
        "{name}: whole chain"
    );
    let clustering = cluster(&trace.graph, &HeuristicSet::default(), &[]);

    let owner: BTreeMap<&str, &str> = tracing
        .entities
        .iter()
        .flat_map(|e| {
            e.addresses
                .iter()
                .map(move |a| (a.as_str(), e.name.as_str()))
        })
        .collect();
    let mut got = ClusterFigures {
        clusters: clustering.clusters.len() as u64,
        clustered_addresses: 0,
        mixed_clusters: 0,
        predicted_pairs: 0,
        correct_pairs: 0,
        spent_addresses: 0,
        owner_pairs: 0,
        owners_spending: 0,
        owners_whole: 0,
        owner_pairs_all: 0,
    };
    for c in &clustering.clusters {
        let n = c.addresses.len() as u64;
        got.clustered_addresses += n;
        got.predicted_pairs += pairs(n);
        let mut by_owner: BTreeMap<&str, u64> = BTreeMap::new();
        for a in &c.addresses {
            let o = owner
                .get(a.as_str())
                .unwrap_or_else(|| panic!("{a} has no owner"));
            *by_owner.entry(o).or_default() += 1;
        }
        got.correct_pairs += by_owner.values().map(|n| pairs(*n)).sum::<u64>();
        if by_owner.len() > 1 {
            got.mixed_clusters += 1;
            eprintln!("{name}: cluster {} merges {:?}", c.id, by_owner.keys());
        }
    }
    let spent: BTreeSet<&str> = trace
        .graph
        .txs
        .values()
        .flat_map(|t| t.inputs.iter().filter_map(|i| i.address.as_deref()))
        .filter(|a| !a.starts_with("script:"))
        .collect();
    got.spent_addresses = spent.len() as u64;
    let mut spent_by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in &spent {
        let o = owner.get(a).unwrap_or_else(|| panic!("{a} has no owner"));
        spent_by_owner.entry(o).or_default().push(a);
    }
    got.owners_spending = spent_by_owner.len() as u64;
    for addrs in spent_by_owner.values() {
        got.owner_pairs += pairs(addrs.len() as u64);
        let places: BTreeSet<&str> = addrs
            .iter()
            .map(|a| clustering.of(a).unwrap_or(a))
            .collect();
        got.owners_whole += u64::from(places.len() == 1);
    }
    got.owner_pairs_all = tracing
        .entities
        .iter()
        .map(|e| pairs(e.addresses.len() as u64))
        .sum();

    let dir = fixtures_dir().join("lab").join(name);
    let want: ClusterFigures =
        toml::from_str(&std::fs::read_to_string(dir.join("clusters.toml")).unwrap()).unwrap();
    assert_eq!(got, want, "{name}: clustering against the ground truth");
    assert_eq!(got.mixed_clusters, 0, "{name}: a cluster merges two owners");
    eprintln!(
        "{name}: {} clusters of {} addresses; precision {}/{} pairs, recall {}/{} pairs \
         ({} spent addresses), {}/{} owners in one cluster",
        got.clusters,
        got.clustered_addresses,
        got.correct_pairs,
        got.predicted_pairs,
        got.correct_pairs,
        got.owner_pairs,
        got.spent_addresses,
        got.owners_whole,
        got.owners_spending
    );
    got
}

#[test]
fn tracing_course_trace_matches_the_ground_truth() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let truth = lab.ground_truth().clone();
    check_scenario("tracing-course", &lab, &truth);
    check_clustering("tracing-course", &lab, &truth);
}

#[test]
fn tracing_large_trace_matches_the_ground_truth() {
    let lab = Lab::start(LabConfig::scenario("tracing-large")).unwrap();
    let truth = lab.ground_truth().clone();
    check_scenario("tracing-large", &lab, &truth);
    check_clustering("tracing-large", &lab, &truth);
}
