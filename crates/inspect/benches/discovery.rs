//! Discovery over every catalogue path for all seized material of the lab's `seized-mixed`, over
//! a link with 50 ms latency: wall time per full scan (criterion) and round trips (printed).
//!
//! The latency is the lab's own `--latency-ms 50`: each answer leaves 50 ms after its request
//! arrived, as on a real link, so requests pipelined in one batch share one round trip.
#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use custos_chain::{ElectrumOptions, ElectrumSource};
use custos_core::{
    inventory::{WatchOnly, WATCH_ONLY_FORMAT},
    Network, SecretString,
};
use custos_inspect::{scan, ScanOptions};
use custos_lab::{Lab, LabConfig};

fn material(name: &str) -> String {
    std::fs::read_to_string(
        custos_lab::fixtures_dir()
            .join("lab/seized-mixed")
            .join(name),
    )
    .unwrap()
}

fn seized_watch_only() -> WatchOnly {
    let pass = SecretString::new(
        material("passphrase.txt")
            .trim_end_matches(['\n', '\r'])
            .to_string(),
    );
    let cat = custos_keys::Catalogue::builtin();
    let mut all = WatchOnly {
        format: WATCH_ONLY_FORMAT.into(),
        network: Network::Regtest,
        created: custos_core::ledger::now_utc(),
        material: "seized-mixed".into(),
        fingerprint: String::new(),
        sources: Vec::new(),
        coverage: None,
    };
    for (name, file, pass) in [
        ("seed", "seed.txt", None),
        ("seed+passphrase", "seed.txt", Some(&pass)),
        ("electrum", "electrum-seed.txt", None),
        ("wif", "wif-keys.txt", None),
        ("xpub", "xpub.txt", None),
    ] {
        let m =
            custos_keys::classify(&SecretString::new(material(file)), Network::Regtest).unwrap();
        let w = custos_keys::watch_only(
            &m,
            pass,
            Network::Regtest,
            &cat,
            &custos_keys::WatchOnlyOptions::default(),
        )
        .unwrap();
        for mut s in w.sources {
            s.label = format!("{name}:{}", s.label);
            all.sources.push(s);
        }
    }
    all
}

fn discovery(c: &mut Criterion) {
    let mut cfg = LabConfig::scenario("seized-mixed");
    cfg.latency_ms = 50;
    let lab = Lab::start(cfg).unwrap();
    let watch = seized_watch_only();
    let opts = ScanOptions::default();
    let once = || {
        let src = ElectrumSource::connect(&lab.url(), ElectrumOptions::default()).unwrap();
        scan(&watch, &src, None, &opts, &mut |_| {}).unwrap()
    };
    let r = once();
    eprintln!(
        "seized-mixed: {} sources, {} scripts in {} discovery rounds, {} round trips, {} used addresses, {} utxos, confirmed {} sat, complete {}",
        watch.sources.len(),
        r.scripts_scanned,
        r.rounds,
        r.round_trips,
        r.inventory.addresses.len(),
        r.inventory.utxos.len(),
        r.inventory.confirmed.0,
        r.inventory.complete
    );
    let mut g = c.benchmark_group("discovery");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("seized-mixed all paths, 50 ms latency", |b| b.iter(once));
    g.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
