//! Lab benchmarks: building the large scenarios from scratch, and a batch of 1,000
//! `blockchain.scripthash.get_history` requests through electrum-client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use custos_lab::{Lab, LabConfig};
use electrum_client::{Client, ElectrumApi};

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("scenario_build");
    g.sample_size(10).measurement_time(Duration::from_secs(60));
    for name in ["ransomware", "tracing-course"] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let lab = Lab::start(LabConfig::scenario(name)).expect("lab starts");
                criterion::black_box(lab.tip_height());
            })
        });
    }
    g.finish();
}

fn history_batch(c: &mut Criterion) {
    let lab = Lab::start(LabConfig::scenario("ransomware")).expect("lab starts");
    let scripts: Vec<bitcoin::ScriptBuf> = lab
        .ground_truth()
        .wallet("operator")
        .expect("operator wallet")
        .addresses
        .iter()
        .take(1000)
        .map(|a| {
            a.address
                .parse::<bitcoin::Address<_>>()
                .expect("address")
                .assume_checked()
                .script_pubkey()
        })
        .collect();
    assert_eq!(scripts.len(), 1000);
    let client = Client::new(&lab.url()).expect("connects");
    c.bench_function("electrum_get_history_batch_1000", |b| {
        b.iter(|| {
            let h = client
                .batch_script_get_history(scripts.iter().map(|s| s.as_script()))
                .expect("histories");
            criterion::black_box(h.len());
        })
    });
}

criterion_group!(benches, build, history_batch);
criterion_main!(benches);
