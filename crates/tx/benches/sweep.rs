//! Benchmarks: parse + sign + serialize a 1,000-input P2WPKH sweep PSBT (target ≤ 60 ms), the
//! same with the custody-policy check, and planning + building a sweep of 2,000 UTXOs
//! (target < 1 s). Peak memory: `examples/sign_sweep.rs` under `/usr/bin/time -v`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use custos_tx::{
    build::{build_sweep, SweepParams},
    custody::Custody,
    plan::PlanParams,
    psbt_io::parse_binary,
    sign::sign_psbt,
    verify::{verify_psbt, VerifyOptions},
    weight::InputKind,
};

fn params() -> SweepParams {
    SweepParams {
        plan: PlanParams::new(custos_tx::weight::FeeRate(2_000)),
        tip_height: 900,
    }
}

fn sweep_bytes(n: u32) -> Vec<u8> {
    let inv = inventory(
        (0..n)
            .map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000 + u64::from(i)))
            .collect(),
    );
    let s = build_sweep(&inv, &custody_policy("wsh"), &params()).unwrap();
    assert_eq!(s.txs.len(), 1);
    s.txs[0].psbt.serialize()
}

fn sign_1000(c: &mut Criterion) {
    let bytes = sweep_bytes(1000);
    let keys = seized_keys();
    let custody = Custody::from_policy(&custody_policy("wsh")).unwrap();
    let mut g = c.benchmark_group("sign");
    g.sample_size(20);
    g.bench_function("parse_sign_serialize_1000_p2wpkh", |b| {
        b.iter(|| {
            let mut p = parse_binary(black_box(&bytes)).unwrap();
            let o = sign_psbt(&mut p, &keys).unwrap();
            assert_eq!(o.signatures, 1000);
            black_box(p.serialize())
        })
    });
    g.bench_function("parse_verify_sign_serialize_1000_p2wpkh", |b| {
        b.iter(|| {
            let mut p = parse_binary(black_box(&bytes)).unwrap();
            verify_psbt(&p, &custody, &VerifyOptions::default()).unwrap();
            sign_psbt(&mut p, &keys).unwrap();
            black_box(p.serialize())
        })
    });
    g.finish();
}

fn build_2000(c: &mut Criterion) {
    let kinds = [
        InputKind::P2wpkh,
        InputKind::P2shP2wpkh,
        InputKind::P2pkhCompressed,
        InputKind::P2trKeyPath,
    ];
    let inv = inventory(
        (0..2000u32)
            .map(|i| inventory_utxo(kinds[(i % 4) as usize], i, 30_000 + u64::from(i)))
            .collect(),
    );
    let json = serde_json::to_vec(&inv).unwrap();
    let policy = custody_policy("wsh");
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("plan_and_build_2000_utxos_from_inventory_json", |b| {
        b.iter(|| {
            let inv: custos_core::inventory::Inventory =
                serde_json::from_slice(black_box(&json)).unwrap();
            let s = build_sweep(&inv, &policy, &params()).unwrap();
            black_box(s.txs.len())
        })
    });
    g.finish();
}

criterion_group!(benches, sign_1000, build_2000);
criterion_main!(benches);
