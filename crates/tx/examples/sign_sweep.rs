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

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let inv = inventory((0..n).map(|i| inventory_utxo(InputKind::P2wpkh, i, 20_000 + u64::from(i))).collect());
    let policy = custody_policy("wsh");
    let s = build_sweep(&inv, &policy, &SweepParams { plan: PlanParams::new(2_000), tip_height: 900 }).unwrap();
    let bytes = s.txs[0].psbt.serialize();
    drop(s);
    drop(inv);
    let keys = seized_keys();
    let custody = Custody::from_policy(&policy).unwrap();
    let t = std::time::Instant::now();
    let mut p = parse_binary(&bytes).unwrap();
    verify_psbt(&p, &custody, &VerifyOptions::default()).unwrap();
    let o = sign_psbt(&mut p, &keys).unwrap();
    let out = p.serialize();
    eprintln!(
        "{} inputs, {} signatures, psbt {} -> {} bytes, {:?}",
        n,
        o.signatures,
        bytes.len(),
        out.len(),
        t.elapsed()
    );
}
