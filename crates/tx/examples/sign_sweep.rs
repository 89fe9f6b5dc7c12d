//! Peak-memory probe for the signing benchmark: builds (untimed) a 1,000-input P2WPKH sweep
//! PSBT, then parses, verifies, signs and serializes it once. Run under `/usr/bin/time -v`:
//! `cargo run --release -p custos-tx --example sign_sweep -- 1000` (prints the phase that matters
//! on stderr). Test-only public keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use custos_tx::{
    build::{build_sweep, SweepParams},
    custody::Custody,
    plan::PlanParams,
    psbt_io::parse_binary,
    sign::sign_psbt,
    verify::{verify_psbt, VerifyOptions},
    weight::InputKind,
};

/// CPU time (user + system) of this process in clock ticks (1/100 s), from /proc/self/stat.
fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // fields after the command: state is index 0, utime 11, stime 12.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let repeat: u32 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let inv = inventory(
        (0..n)
            .map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000 + u64::from(i)))
            .collect(),
    );
    let policy = custody_policy("wsh");
    let s = build_sweep(
        &inv,
        &policy,
        &SweepParams {
            plan: PlanParams::new(custos_tx::weight::FeeRate(2_000)),
            tip_height: 900,
        },
    )
    .unwrap();
    let bytes = s.txs[0].psbt.serialize();
    drop(s);
    drop(inv);
    let keys = seized_keys();
    let custody = Custody::from_policy(&policy).unwrap();
    if repeat > 1 {
        // CPU time per parse + sign + serialize, independent of other load on the machine.
        let c0 = cpu_ticks();
        let t0 = std::time::Instant::now();
        for _ in 0..repeat {
            let mut p = parse_binary(&bytes).unwrap();
            sign_psbt(&mut p, &keys).unwrap();
            std::hint::black_box(p.serialize());
        }
        let cpu_ms = (cpu_ticks() - c0) * 10 / u64::from(repeat);
        eprintln!(
            "parse+sign+serialize x{repeat}: {:?} wall per run, {cpu_ms} ms cpu per run (all threads)",
            t0.elapsed() / repeat
        );
    }
    let t = std::time::Instant::now();
    let mut p = parse_binary(&bytes).unwrap();
    let t_parse = t.elapsed();
    verify_psbt(&p, &custody, &VerifyOptions::default()).unwrap();
    let t_verify = t.elapsed();
    let o = sign_psbt(&mut p, &keys).unwrap();
    let t_sign = t.elapsed();
    let out = p.serialize();
    eprintln!(
        "{} inputs, {} signatures, psbt {} -> {} bytes; parse {:?}, +verify {:?}, +sign {:?}, +serialize {:?}",
        n,
        o.signatures,
        bytes.len(),
        out.len(),
        t_parse,
        t_verify,
        t_sign,
        t.elapsed()
    );
}
