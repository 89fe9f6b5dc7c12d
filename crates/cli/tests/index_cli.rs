//! `custos index export` and `custos index import-clusters` end to end on the lab's block files
//! (tracing-course): export recorded in the case, exit codes of bad input, the Spark job's
//! clusters imported and consulted by a following `custos trace`. The Spark part skips without
//! pyspark or java unless `CUSTOS_REQUIRE_LIVE=1`.

use std::path::Path;

use custos_lab::{Lab, LabConfig};
use custos_testkit::spark::{run_job, spark_available};
use custos_testkit::{custos_bin, new_case, run, s};
use serde_json::Value;

fn export_args<'a>(case: &'a Path, blocks: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "--case",
        s(case),
        "--json",
        "index",
        "export",
        "--blocks-dir",
        s(blocks),
        "--out",
        s(out),
        "--partition-blocks",
        "50",
    ]
}

#[test]
fn export_import_and_trace_consult_the_chain_wide_clusters() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let truth = lab.ground_truth().clone();
    let blocks = lab.data_dir().join("kernel/blocks");
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    new_case(custos_bin!(), &case, "INDEX-1");
    let out = tmp.path().join("export");
    let (code, stdout, err) = run(custos_bin!().args(export_args(&case, &blocks, &out)));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["to"], truth.tip_height);
    assert_eq!(v["tip_hash"], truth.tip_hash.as_str());
    assert_eq!(
        v["partitions"],
        (truth.tip_height as usize + 1).div_ceil(50)
    );
    let (_, log, _) = run(custos_bin!().args(["--case", s(&case), "case", "log"]));
    assert!(log.contains("index.export"), "{log}");

    // Run again on the same directory: the finished export is resumed (nothing to write).
    let (code, stdout, err) = run(custos_bin!().args(export_args(&case, &blocks, &out)));
    assert_eq!(code, 0, "{err}");
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(again["written_partitions"], 0);
    assert_eq!(again["totals"], v["totals"]);

    if !spark_available() {
        return;
    }
    let clusters = tmp.path().join("clusters");
    let (code, so, se) = run_job("cluster.py", &[&out, &clusters]);
    assert_eq!(code, 0, "{so}\n{se}");
    let (code, stdout, err) = run(custos_bin!().args([
        "--case",
        s(&case),
        "--json",
        "index",
        "import-clusters",
        s(&clusters),
        "--all",
    ]));
    assert_eq!(code, 0, "{err}");
    let imp: Value = serde_json::from_str(&stdout).unwrap();
    assert!(imp["addresses_imported"].as_u64().unwrap() >= 2, "{imp}");
    assert_eq!(imp["job"]["format"], "custos-spark-clusters/1");

    // The theft traced forward: its addresses are looked up in the imported clusters, and the
    // trace's own clusters lie inside the chain-wide ones.
    let theft = truth
        .transactions
        .iter()
        .find(|t| t.note.starts_with("theft"))
        .unwrap();
    let start = format!("{}:0", theft.txid);
    let (code, stdout, err) = run(custos_bin!().args([
        "--case",
        s(&case),
        "trace",
        "forward",
        &start,
        "--hops",
        "20",
        "--server",
        &lab.url(),
    ]));
    assert!(code == 0 || code == 1, "{err}");
    assert!(stdout.contains("chain-wide clusters ("), "{stdout}");
    assert!(!stdout.contains("DISAGREES"), "{stdout}");
    let (_, log, _) = run(custos_bin!().args(["--case", s(&case), "case", "log"]));
    assert!(
        log.contains("index.import_clusters") && log.contains("index.trace_clusters"),
        "{log}"
    );
}

#[test]
fn bad_input_exits_2_naming_it_and_overwrites_nothing() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let blocks = lab.data_dir().join("kernel/blocks");
    let tmp = tempfile::tempdir().unwrap();

    // Block files of another network than asked for.
    let out = tmp.path().join("mainnet");
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "bitcoin",
        "index",
        "export",
        "--blocks-dir",
        s(&blocks),
        "--out",
        s(&out),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("network magic of regtest"), "{err}");
    assert!(!out.exists());

    // An output directory holding a different export (other partition size).
    let out = tmp.path().join("export");
    let base = [
        "--network",
        "regtest",
        "index",
        "export",
        "--blocks-dir",
        s(&blocks),
        "--out",
        s(&out),
    ];
    let (code, _, err) = run(custos_bin!().args(base).args(["--partition-blocks", "50"]));
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    let (code, _, err) = run(custos_bin!().args(base).args(["--partition-blocks", "40"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("partitions of 50 blocks") && err.contains("nothing was overwritten"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), manifest);

    // A truncated blk file: the blocks before the partial one are exported, then exit 2.
    let cut = tmp.path().join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    for e in std::fs::read_dir(&blocks).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, cut.join(p.file_name().unwrap())).unwrap();
        }
    }
    let files =
        custos_index::blocks::BlockFiles::scan(&cut, custos_core::Network::Regtest).unwrap();
    let (_, loc) = files.chain[files.chain.len() - 1];
    let blk = &files.files[loc.file];
    std::fs::OpenOptions::new()
        .write(true)
        .open(blk)
        .unwrap()
        .set_len(loc.offset + 100)
        .unwrap();
    let out = tmp.path().join("partial");
    let (code, stdout, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "index",
        "export",
        "--blocks-dir",
        s(&cut),
        "--out",
        s(&out),
    ]));
    assert_eq!(code, 2, "{err}");
    let want = format!(
        "{}: partial block at offset {}",
        blk.display(),
        loc.offset - 8
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        stdout.contains(&format!("exported heights 0..={}", files.chain.len() - 2)),
        "{stdout}"
    );
}
