//! Consistency findings of issue 10 item 6, as users run the commands: a sweep of an
//! incomplete inventory is refused unless `--allow-incomplete`, exporting a case that fails
//! verification appends nothing to its ledger, and finalizing an incomplete PSBT prints no
//! PSBT unless `--json`. Exit codes: 0 ok, 1 refusal, 2 input, 3 environment.

use custos_testkit::{custos_bin, interop, run, s};
use std::path::Path;

fn sweep(inventory: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let policy = interop("custody-wsh.policy.json");
    let mut args = vec![
        "--network",
        "regtest",
        "sweep",
        "build",
        "--inventory",
        s(inventory),
        "--custody",
        s(&policy),
        "--fee-rate",
        "2",
        "--tip-height",
        "300",
        "--out-dir",
        s(out),
    ];
    args.extend_from_slice(extra);
    run(custos_bin!().args(&args))
}

#[test]
fn sweep_build_refuses_an_incomplete_inventory_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(interop("sweep-mixed-wsh.inventory.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["complete"], serde_json::json!(true));
    // The complete inventory sweeps: the refusal below is about completeness only.
    let complete = t.path().join("complete.json");
    std::fs::write(&complete, &text).unwrap();
    let (code, _, err) = sweep(&complete, &t.path().join("ok"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(t.path().join("ok/sweep-1.psbt").exists());

    v["complete"] = serde_json::json!(false);
    let partial = t.path().join("partial.json");
    std::fs::write(&partial, serde_json::to_string(&v).unwrap()).unwrap();
    let refused = t.path().join("refused");
    let (code, out, err) = sweep(&partial, &refused, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("partial.json")
            && err.contains("incomplete")
            && err.contains("--allow-incomplete"),
        "{err}"
    );
    assert!(!refused.join("sweep-1.psbt").exists(), "a psbt was written");

    let allowed = t.path().join("allowed");
    let (code, _, err) = sweep(&partial, &allowed, &["--allow-incomplete"]);
    assert_eq!(code, 0, "{err}");
    assert!(allowed.join("sweep-1.psbt").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(allowed.join("sweep-summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["inventory_complete"], serde_json::json!(false));
}

fn event_count(case: &Path) -> usize {
    let (code, out, err) = run(custos_bin!().args(["--json", "--case", s(case), "case", "log"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array().unwrap().len()
}

/// Changes one byte of the ledger's first row (its command line names `marker`) in place.
fn tamper(case: &Path, marker: &str) {
    let mut hit = false;
    for e in std::fs::read_dir(case).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        let m = marker.as_bytes();
        let mut i = 0;
        while i + m.len() <= bytes.len() {
            if &bytes[i..i + m.len()] == m {
                bytes[i + m.len() - 1] ^= 0x01;
                hit = true;
            }
            i += 1;
        }
        std::fs::write(&p, bytes).unwrap();
    }
    assert!(hit, "marker {marker} not found in {}", case.display());
}

#[test]
fn case_export_of_a_case_failing_verification_appends_nothing() {
    let t = tempfile::tempdir().unwrap();
    let case = t.path().join("case-zqxwv");
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "case",
        "new",
        s(&case),
        "--case-id",
        "CONSIST-1",
        "--examiner",
        "tester",
    ]));
    assert_eq!(code, 0, "{err}");
    // An intact case exports and records the export.
    let (code, _, err) = run(custos_bin!().args([
        "--case",
        s(&case),
        "case",
        "export",
        s(&t.path().join("e1")),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(event_count(&case), 2);

    tamper(&case, "zqxwv");
    let (code, _, _) = run(custos_bin!().args(["--case", s(&case), "case", "verify"]));
    assert_eq!(code, 1, "tampering was not detected");
    let before = event_count(&case);
    let e2 = t.path().join("e2");
    let (code, out, err) = run(custos_bin!().args(["--case", s(&case), "case", "export", s(&e2)]));
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains("verified"), "{out}");
    assert!(
        err.contains("CONSIST-1") && err.contains("nothing appended"),
        "{err}"
    );
    assert_eq!(
        event_count(&case),
        before,
        "the export was appended to a failing ledger"
    );
    // The export itself is kept for examination, and says it does not verify.
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e2.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["verified"], serde_json::json!(false));
}

#[test]
fn psbt_finalize_of_an_incomplete_psbt_prints_no_psbt_unless_json() {
    let t = tempfile::tempdir().unwrap();
    let psbt = t.path().join("unsigned.psbt");
    std::fs::copy(interop("sweep-mixed-wsh.psbt"), &psbt).unwrap();
    let (code, out, err) = run(custos_bin!().args(["psbt", "finalize", s(&psbt)]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "printed on stdout: {out}");
    assert!(
        err.contains("unsigned.psbt") && err.contains("not complete") && err.contains("input 0"),
        "{err}"
    );
    assert!(!t.path().join("unsigned-final.txn").exists());
    assert!(
        std::fs::read_dir(t.path()).unwrap().count() == 1,
        "a file was written"
    );

    let (code, out, err) = run(custos_bin!().args(["--json", "psbt", "finalize", s(&psbt)]));
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["complete"], serde_json::json!(false));
    assert!(v["psbt"].as_str().unwrap().starts_with("cHNidP"), "{v}");
    assert!(
        v["errors"][0].as_str().unwrap().starts_with("input 0"),
        "{v}"
    );
}
