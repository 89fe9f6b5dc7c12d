//! The Spark job (`scripts/spark/cluster.py`) against custos-trace's in-memory clustering on
//! the same chain: the lab's block files exported with custos-index, clustered by Spark in
//! local mode and by `custos_trace::heuristics::cluster` over a graph of every transaction
//! of the chain. The two must agree address for address, and on which transactions are
//! CoinJoins (and of which kind). Skips without pyspark or java unless `CUSTOS_REQUIRE_LIVE=1`.
//! tracing-course runs in CI (a minute of Spark); tracing-large (10,000 transactions, planted
//! CoinJoins of every kind) is `--ignored`, run by `scripts/spark/bench.sh`.

use std::collections::BTreeMap;
use std::path::Path;

use custos_core::Network;
use custos_index::blocks::BlockFiles;
use custos_index::tables::read_table;
use custos_index::{export, ExportOptions};
use custos_lab::{Lab, LabConfig};
use custos_testkit::spark::{run_job, spark_available};
use custos_trace::graph::{Graph, Inclusion, TxNode};
use custos_trace::heuristics::{cluster, coinjoin_with, CoinJoinKind, HeuristicSet};
use parquet::record::{Field, Row};

fn text(row: &Row, name: &str) -> String {
    match row.get_column_iter().find(|(n, _)| n.as_str() == name) {
        Some((_, Field::Str(s))) => s.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn int(row: &Row, name: &str) -> u64 {
    match row.get_column_iter().find(|(n, _)| n.as_str() == name) {
        Some((_, Field::Long(n))) => *n as u64,
        other => panic!("{name}: {other:?}"),
    }
}

/// Every transaction of the best chain, inserted in block order so every input resolves.
fn whole_chain_graph(blocks: &Path) -> Graph {
    let files = BlockFiles::scan(blocks, Network::Regtest).unwrap();
    let mut g = Graph::new();
    for (height, (hash, loc)) in files.chain.iter().enumerate() {
        let block = files.read(*loc).unwrap();
        for tx in &block.txdata {
            let inclusion = Inclusion::Verified {
                height: height as u32,
                block: *hash,
                time: block.header.time,
            };
            g.insert_with_children(TxNode::from_tx(tx, Network::Regtest, inclusion), &[]);
        }
    }
    g
}

fn kind_name(k: CoinJoinKind) -> &'static str {
    match k {
        CoinJoinKind::Whirlpool => "whirlpool",
        CoinJoinKind::Wasabi => "wasabi",
        CoinJoinKind::JoinMarket => "joinmarket",
        CoinJoinKind::EqualOutput => "equal-output",
    }
}

fn crosscheck(scenario: &str) {
    if !spark_available() {
        return;
    }
    let lab = Lab::start(LabConfig::scenario(scenario)).unwrap();
    let blocks = lab.data_dir().join("kernel/blocks");
    let tmp = tempfile::tempdir().unwrap();
    let exported = tmp.path().join("export");
    export(
        &ExportOptions::new(blocks.clone(), exported.clone(), Network::Regtest),
        &mut |_| {},
    )
    .unwrap();
    let out = tmp.path().join("clusters");
    let (code, stdout, stderr) = run_job("cluster.py", &[&exported, &out]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let graph = whole_chain_graph(&blocks);
    let set = HeuristicSet::default();
    let local = cluster(&graph, &set, &[]);
    let mut want: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for c in &local.clusters {
        for a in &c.addresses {
            want.insert(a.clone(), (c.id.clone(), c.addresses.len() as u64));
        }
    }
    let got: BTreeMap<String, (String, u64)> = read_table(&out.join("clusters"))
        .unwrap()
        .iter()
        .map(|r| {
            (
                text(r, "address"),
                (text(r, "cluster_id"), int(r, "cluster_size")),
            )
        })
        .collect();
    assert!(!want.is_empty(), "the scenario has multi-input clusters");
    let missing: Vec<_> = want
        .keys()
        .filter(|a| !got.contains_key(*a))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .keys()
        .filter(|a| !want.contains_key(*a))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (a, w) in &want {
        assert_eq!(&got[a], w, "address {a}");
    }

    let want_cj: BTreeMap<String, &str> = graph
        .txs
        .values()
        .filter_map(|t| coinjoin_with(t, &set).map(|c| (t.txid.to_string(), kind_name(c.kind))))
        .collect();
    let got_cj: BTreeMap<String, String> = read_table(&out.join("coinjoins"))
        .unwrap()
        .iter()
        .map(|r| (text(r, "txid"), text(r, "kind")))
        .collect();
    assert_eq!(got_cj.len(), want_cj.len());
    for (txid, k) in &want_cj {
        assert_eq!(
            got_cj.get(txid).map(String::as_str),
            Some(*k),
            "coinjoin {txid}"
        );
    }
    #[allow(clippy::print_stderr)] // the figures, shown with --nocapture
    {
        eprintln!(
            "{scenario}: {} clustered addresses in {} clusters, {} coinjoins agree",
            want.len(),
            local.clusters.len(),
            want_cj.len()
        );
    }
}

#[test]
fn spark_clusters_equal_custos_trace_clusters_on_tracing_course() {
    crosscheck("tracing-course");
}

#[test]
#[ignore = "minutes of Spark on 10,000 transactions: run by scripts/spark/bench.sh"]
fn spark_clusters_equal_custos_trace_clusters_on_tracing_large() {
    crosscheck("tracing-large");
}
