//! Records the `lab_trace` bench's trace (tracing-large, forward from every faucet payment) into
//! a case once, then replays it from the case's cache as often as asked: a repeatable workload
//! for a profiler (`valgrind --tool=callgrind`), without the lab or criterion in the profile.
//!
//! ```text
//! cargo run --release -p custos-trace --example lab_replay -- record DIR
//! cargo run --release -p custos-trace --example lab_replay -- replay DIR [TIMES]
//! cargo run --release -p custos-trace --example lab_replay -- check DIR
//! ```
//!
//! `record` starts the lab (no latency), traces over Electrum into `DIR/case` and writes the
//! start txids to `DIR/starts.txt`; `replay` opens that case offline and traces again. `check`
//! replays once and checks the result the slow, general way: [`Trace::recheck`] (every
//! transaction's bytes hashed by `custos_chain::spv`, every proof folded plainly), every address
//! in the graph against `bitcoin::Address`, every evidence hex against the `hex` crate; it
//! prints the SHA-256 of the trace's JSON, to compare between builds.

#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, time::Instant};

use bitcoin::Txid;
use custos_case::Case;
use custos_chain::{CachedSource, ElectrumOptions, ElectrumSource};
use custos_core::{
    ids::{CaseId, ExaminerId},
    source::BitcoinSource,
    Network,
};
use custos_lab::{Lab, LabConfig};
use custos_trace::walk::{trace, Direction, Limits, Start, Trace};

fn run(src: &dyn BitcoinSource, starts: &[Txid]) -> Trace {
    let starts: Vec<Start> = starts.iter().map(|t| Start::Tx(*t)).collect();
    let limits = Limits {
        hops: 100_000,
        max_txs: 1_000_000,
        ..Limits::default()
    };
    trace(
        src,
        Network::Regtest,
        Direction::Forward,
        &starts,
        &limits,
        &[],
        &mut |_| {},
    )
    .expect("the trace runs")
}

fn record(dir: &Path) {
    let lab = Lab::start(LabConfig::scenario("tracing-large")).expect("the lab starts");
    let txs = &lab.ground_truth().chain_transactions;
    let known: std::collections::HashSet<&str> = txs.iter().map(|t| t.txid.as_str()).collect();
    let starts: Vec<Txid> = txs
        .iter()
        .filter(|t| {
            t.inputs
                .iter()
                .all(|i| !known.contains(i.prevout.split(':').next().unwrap_or_default()))
        })
        .map(|t| t.txid.parse().expect("a txid"))
        .collect();
    std::fs::create_dir_all(dir).expect("the directory");
    let case = Case::create(
        &dir.join("case"),
        &CaseId::new("REPLAY-1").expect("an id"),
        &ExaminerId::new("bench").expect("an examiner"),
        Network::Regtest,
        "replay",
    )
    .expect("a case");
    let electrum =
        ElectrumSource::connect(&lab.url(), ElectrumOptions::default()).expect("connects");
    let online = CachedSource::online(&electrum, &case);
    let t = run(&online, &starts);
    assert!(t.partial.is_empty(), "{:?}", t.partial);
    let list: Vec<String> = starts.iter().map(ToString::to_string).collect();
    std::fs::write(dir.join("starts.txt"), list.join("\n")).expect("starts written");
    eprintln!(
        "recorded {} transactions, {} round trips",
        t.graph.len(),
        t.stats.round_trips
    );
}

/// The start txids and the case that `record` wrote under `dir`.
fn recorded(dir: &Path) -> (Vec<Txid>, Case) {
    let starts: Vec<Txid> = std::fs::read_to_string(dir.join("starts.txt"))
        .expect("starts.txt")
        .lines()
        .map(|l| l.parse().expect("a txid"))
        .collect();
    let case = Case::open(&dir.join("case")).expect("the case opens");
    (starts, case)
}

fn replay(dir: &Path, times: usize) {
    let (starts, case) = recorded(dir);
    let offline = CachedSource::offline(&case);
    for _ in 0..times {
        let t0 = Instant::now();
        let t = run(&offline, &starts);
        let elapsed = t0.elapsed();
        assert!(t.partial.is_empty(), "{:?}", t.partial);
        let micros = elapsed.as_micros().max(1);
        eprintln!(
            "replayed {} transactions in {elapsed:.3?}: {} tx/s",
            t.graph.len(),
            t.graph.len() as u128 * 1_000_000 / micros
        );
    }
}

fn check(dir: &Path) {
    use bitcoin::{
        hashes::{sha256, Hash},
        Address,
    };
    let (starts, case) = recorded(dir);
    let t = run(&CachedSource::offline(&case), &starts);
    assert!(t.partial.is_empty(), "{:?}", t.partial);
    let problems = t.recheck();
    assert!(problems.is_empty(), "{problems:?}");
    let (mut addresses, mut inputs) = (0usize, 0usize);
    let label = |s: &bitcoin::Script| match Address::from_script(s, bitcoin::Network::Regtest) {
        Ok(a) => a.to_string(),
        Err(_) => format!("script:{}", hex::encode(s.as_bytes())),
    };
    let mut held = std::collections::BTreeMap::new();
    for (txid, raw) in &t.evidence.raw_txs {
        let bytes = hex::decode(raw).expect("hex");
        assert_eq!(&hex::encode(&bytes), raw, "evidence hex of {txid}");
        let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&bytes).expect("a tx");
        assert_eq!(tx.compute_txid(), *txid);
        held.insert(*txid, tx);
    }
    for (txid, node) in &t.graph.txs {
        let tx = &held[txid];
        for (o, out) in node.outputs.iter().zip(&tx.output) {
            assert_eq!(o.address, label(&out.script_pubkey), "an output of {txid}");
            addresses += 1;
        }
        for i in &node.inputs {
            if let (Some(a), Some(parent)) = (&i.address, held.get(&i.prevout.txid)) {
                let out = &parent.output[i.prevout.vout as usize];
                assert_eq!(
                    a,
                    &label(&out.script_pubkey),
                    "input {} of {txid}",
                    i.prevout
                );
                inputs += 1;
            }
        }
    }
    let json = serde_json::to_vec(&t).expect("the trace serializes");
    eprintln!(
        "checked {} transactions, {addresses} output and {inputs} input addresses; trace JSON sha256 {}",
        t.graph.len(),
        sha256::Hash::hash(&json)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "record" => record(Path::new(dir)),
        [cmd, dir] if cmd == "replay" => replay(Path::new(dir), 1),
        [cmd, dir] if cmd == "check" => check(Path::new(dir)),
        [cmd, dir, n] if cmd == "replay" => replay(Path::new(dir), n.parse().expect("a count")),
        _ => eprintln!("usage: lab_replay record DIR | replay DIR [TIMES] | check DIR"),
    }
}
