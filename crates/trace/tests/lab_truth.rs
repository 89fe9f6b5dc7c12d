//! Acceptance on the lab's tracing scenarios, against ground truth that comes from the scenario
//! and from an independent implementation of the taint specification
//! (`fixtures/lab/tools/taint_truth.py`), never from this crate:
//!
//! - the trace recovers every planted flow transaction and every peeling-chain hop;
//! - every planted CoinJoin is detected, and no cluster merges addresses of two entities;
//! - the exposure per category equals `exposure.toml` exactly under each taint model, forward
//!   and backward.
//!
//! `tracing-large` (10,000 background payments) is built once and shared by its checks.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{OutPoint, Txid};
use custos_core::Network;
use custos_lab::{fixtures_dir, GroundTruth, Lab, LabConfig};
use custos_trace::{
    heuristics::HeuristicSet,
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

#[test]
fn tracing_course_trace_matches_the_ground_truth() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let truth = lab.ground_truth().clone();
    check_scenario("tracing-course", &lab, &truth);
}

#[test]
fn tracing_large_trace_matches_the_ground_truth() {
    let lab = Lab::start(LabConfig::scenario("tracing-large")).unwrap();
    let truth = lab.ground_truth().clone();
    check_scenario("tracing-large", &lab, &truth);
}
