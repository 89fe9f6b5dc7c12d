//! The examiner's path from seized material to provenance, through the real binaries: the seized
//! seed of `tracing-course` → watch-only file (signer) → inventory (inspect, SPV-verified) →
//! `custos trace backward INVENTORY` with the course's labels: the seized wallet's coins come from
//! the reported theft, and the trace is recorded in the case and shown in its report.

use std::path::Path;

use custos_tests::{bin, run, stderr, stdout};

fn start_lab(scenario: &str, data: &Path) -> (custos_testkit::lab::LabProcess, String) {
    custos_testkit::lab::start_lab(&bin("custos-lab"), scenario, data)
}

#[test]
fn traces_a_seized_wallets_inventory_back_to_the_reported_theft() {
    let t = tempfile::tempdir().unwrap();
    let (_lab, url) = start_lab("tracing-course", &t.path().join("lab"));
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/lab/tracing-course/seed.txt")
        .canonicalize()
        .unwrap();
    let labels = seed.with_file_name("labels.yaml");
    let watch = t.path().join("watch-only.json");
    let o = run(
        "custos-signer",
        &[
            "material",
            "watch-only",
            "--input",
            seed.to_str().unwrap(),
            "--network",
            "regtest",
            "--out",
            watch.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let case = t.path().join("case");
    let c = case.to_str().unwrap();
    let o = run(
        "custos",
        &[
            "--network",
            "regtest",
            "case",
            "new",
            c,
            "--case-id",
            "TRACE-INV",
            "--examiner",
            "t",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let inventory = t.path().join("inventory.json");
    let o = run(
        "custos",
        &[
            "--case",
            c,
            "inspect",
            watch.to_str().unwrap(),
            "--server",
            &url,
            "--out",
            inventory.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = run(
        "custos",
        &[
            "--case",
            c,
            "--json",
            "trace",
            "backward",
            inventory.to_str().unwrap(),
            "--hops",
            "30",
            "--labels",
            labels.to_str().unwrap(),
            "--server",
            &url,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Every used address of the inventory is a start.
    let inv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&inventory).unwrap()).unwrap();
    let used = inv["addresses"].as_array().unwrap().len();
    assert!(used > 0);
    assert!(v["trace"]["starts"].as_array().unwrap().len() >= used.min(1));
    // Under every model, part of the seized wallet's coins comes from the reported theft.
    for e in v["exposure"].as_array().unwrap() {
        let theft = e["per_category"]["theft"].as_u64().unwrap_or(0);
        assert!(
            theft > 0,
            "no value traced back to the theft under {}",
            e["model"]
        );
    }
    // Recorded in the case, which verifies, and shown in the case report.
    let o = run("custos", &["--case", c, "case", "verify"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let export = t.path().join("export");
    let o = run(
        "custos",
        &["--case", c, "case", "export", export.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = std::fs::read_to_string(export.join("report.html")).unwrap();
    assert!(report.contains("Tracing") && report.contains("theft"));
}
