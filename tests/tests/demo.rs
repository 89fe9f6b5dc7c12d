//! `custos-lab demo` — the README's main command — runs the whole custody path end to end and
//! leaves a verified case with its report.

use custos_tests::{run, stderr, stdout};

#[test]
fn demo_runs_the_custody_path_end_to_end() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("demo");
    let o = run(
        "custos-lab",
        &["demo", "--workdir", work.to_str().unwrap()],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    let out = stdout(&o);
    for step in [
        "[1/13]",
        "[13/13]",
        "custody wallet holds",
        "seized wallet now holds 0 sat",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    // The case verifies independently of the demo, and the report is self-contained.
    let case = work.join("case");
    let v = run(
        "custos",
        &["--case", case.to_str().unwrap(), "case", "verify"],
        None,
    );
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    let html = std::fs::read_to_string(work.join("report/report.html")).unwrap();
    assert!(html.contains("LAB-DEMO-1"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    // Nothing secret in the case: the seized seed's words never reach the ledger or artifacts.
    let seed = std::fs::read_to_string(work.join("seized/seed.txt")).unwrap();
    let words: Vec<&str> = seed.split_whitespace().collect();
    let ledger = std::fs::read_to_string(work.join("report/ledger.jsonl")).unwrap();
    let phrase = words.join(" ");
    assert!(!ledger.contains(&phrase) && !html.contains(&phrase));
    // A second run into the same directory is refused without touching it.
    let again = run(
        "custos-lab",
        &["demo", "--workdir", work.to_str().unwrap()],
        None,
    );
    assert_ne!(again.status.code(), Some(0));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
}

/// Issue 6 acceptance: the lab's `ransomware` scenario (2,205 small coins) sweeps completely —
/// split into several transactions each under 400,000 WU, all accepted and mined by the lab,
/// uneconomic coins left out and reported, custody balance = sum − fees − left out, exact.
#[test]
fn ransomware_sweeps_completely_in_batches_under_the_standard_weight() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("rw");
    let o = run(
        "custos-lab",
        &[
            "demo",
            "--scenario",
            "ransomware",
            "--fee-rate",
            "20",
            "--workdir",
            work.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(work.join(p)).unwrap()).unwrap()
    };
    let before = read("online/inventory.json");
    let summary = read("online/sweep/sweep-summary.json");
    let custody = read("online/custody-inventory.json");
    let after = read("online/inventory-after.json");
    assert_eq!(before["utxos"].as_array().unwrap().len(), 2205);
    let txs = summary["transactions"].as_array().unwrap();
    assert!(
        txs.len() >= 2,
        "one transaction cannot hold 2,000 inputs under 400,000 WU"
    );
    for tx in txs {
        let w = tx["weight"].as_u64().unwrap();
        assert!(w <= 400_000, "batch weighs {w} WU");
    }
    let total = before["confirmed"].as_u64().unwrap();
    let fee = summary["total_fee_sat"].as_u64().unwrap();
    let left = summary["left_out_total_sat"].as_u64().unwrap();
    assert!(
        left > 0 && !summary["left_out"].as_array().unwrap().is_empty(),
        "at 20 sat/vB some coins are uneconomic"
    );
    assert_eq!(custody["confirmed"].as_u64().unwrap(), total - fee - left);
    assert_eq!(
        after["confirmed"].as_u64().unwrap(),
        left,
        "only the reported left-out coins remain"
    );
}
