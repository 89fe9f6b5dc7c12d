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
