//! Interoperability: a PSBT signed by custos finalizes to exactly the transaction bytes that an
//! independent implementation (embit 0.8, Python, low-R grinding ECDSA and BIP340 without aux
//! randomness) produces from the same keys.
//!
//! fixtures/psbt/interop/ holds the unsigned PSBTs (written once by the ignored test
//! `write_unsigned_interop_fixtures`) and the final transactions embit made from them
//! (fixtures/psbt/interop/sign_with_embit.py). See fixtures/psbt/README.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::*;
use custos_tx::{
    build::{build_sweep, SweepParams},
    plan::PlanParams,
    psbt_io::parse_any,
    sign::{sign_psbt, SigningKeys},
    toolbox::{extract, finalize},
    weight::{FeeRate, InputKind},
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/psbt/interop")
}

fn cases() -> Vec<(
    &'static str,
    custos_core::inventory::Inventory,
    &'static str,
)> {
    vec![
        ("sweep-mixed-wsh", mixed_inventory(), "wsh"),
        ("sweep-mixed-tr", mixed_inventory(), "tr"),
        (
            "sweep-p2wpkh-20",
            inventory(
                (0..20)
                    .map(|i| inventory_utxo(InputKind::P2wpkh, i, 10_000 * u64::from(i + 1)))
                    .collect(),
            ),
            "wsh",
        ),
    ]
}

#[test]
#[ignore = "writes the unsigned interop fixtures; run once, then sign them with sign_with_embit.py"]
fn write_unsigned_interop_fixtures() {
    for (name, inv, kind) in cases() {
        let s = build_sweep(
            &inv,
            &custody_policy(kind),
            &SweepParams {
                plan: PlanParams::new(FeeRate(3_000)),
                tip_height: 812,
            },
        )
        .unwrap();
        let path = dir().join(format!("{name}.psbt"));
        std::fs::write(path, custos_tx::psbt_io::to_base64(&s.txs[0].psbt)).unwrap();
        std::fs::write(
            dir().join(format!("{name}.inventory.json")),
            serde_json::to_string_pretty(&inv).unwrap(),
        )
        .unwrap();
    }
    for kind in ["wsh", "tr"] {
        std::fs::write(
            dir().join(format!("custody-{kind}.policy.json")),
            serde_json::to_string_pretty(&custody_policy(kind)).unwrap(),
        )
        .unwrap();
    }
}

fn sign_and_compare(name: &str, keys: &SigningKeys) {
    let text = std::fs::read(dir().join(format!("{name}.psbt"))).unwrap();
    let mut psbt = parse_any(&text).unwrap();
    sign_psbt(&mut psbt, keys).unwrap();
    let f = finalize(&mut psbt);
    assert!(f.complete, "{name}: {:?}", f.errors);
    let tx = extract(&psbt).unwrap();
    let ours = bitcoin::consensus::encode::serialize_hex(&tx);
    let theirs = std::fs::read_to_string(dir().join(format!("{name}.embit-final.hex"))).unwrap();
    assert_eq!(ours, theirs.trim(), "{name}: custos and embit disagree");
}

#[test]
fn custos_signatures_match_embit_for_every_seized_input_type() {
    for (name, _, _) in cases() {
        sign_and_compare(name, &seized_keys());
    }
}

#[test]
fn unsigned_fixtures_are_what_the_builder_produces() {
    // The builder is deterministic: same inventory, policy, rate and height give the same PSBT.
    for (name, inv, kind) in cases() {
        let s = build_sweep(
            &inv,
            &custody_policy(kind),
            &SweepParams {
                plan: PlanParams::new(FeeRate(3_000)),
                tip_height: 812,
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(dir().join(format!("{name}.psbt"))).unwrap();
        assert_eq!(
            custos_tx::psbt_io::to_base64(&s.txs[0].psbt),
            text.trim(),
            "{name}"
        );
    }
}
