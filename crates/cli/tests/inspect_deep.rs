//! Issue 11, coverage through the real binaries on the lab's `seized-deep` scenario: funds on
//! the ordinary BIP84 account, beyond the gap limits, on the wallet-root chains and under m/0,
//! on the mainnet coin type and on account 7 (accounts 1-6 unused, so BIP44 account discovery
//! stops at account 1). `--deep` finds every one of them; the default scan finds less and its
//! summary names what it did not cover.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use custos_lab::{Lab, LabConfig, WalletTruth};
use custos_testkit::{custos_bin, run, s, signer_next_to_custos};

/// The lab on `seized-deep`, the seized wallet's ground truth, and the watch-only file of its
/// seed made by `custos-signer material watch-only` with `extra` flags (in the temp dir).
fn lab_and_watch_only(extra: &[&str]) -> (Lab, WalletTruth, tempfile::TempDir, PathBuf) {
    let lab = Lab::start(LabConfig::scenario("seized-deep")).unwrap();
    let truth = lab.ground_truth().wallet("deep").unwrap().clone();
    let tmp = tempfile::tempdir().unwrap();
    let seed = custos_lab::fixtures_dir().join("lab/seized-deep/seed.txt");
    let file = tmp.path().join("watch-only.json");
    let (code, _, err) = run(signer_next_to_custos!()
        .args(["material", "watch-only", "--input", s(&seed)])
        .args(["--network", "regtest", "--out", s(&file)])
        .args(extra));
    assert_eq!(code, 0, "{err}");
    (lab, truth, tmp, file)
}

/// `custos inspect FILE --server URL` with `extra` flags: (exit code, stdout, stderr).
fn inspect(file: &Path, url: &str, extra: &[&str]) -> (i32, String, String) {
    run(custos_bin!()
        .args(["--network", "regtest"])
        .args(extra)
        .args(["inspect", s(file), "--server", url]))
}

#[test]
fn deep_scan_finds_every_funded_layout_including_account_7() {
    let (lab, truth, _tmp, file) = lab_and_watch_only(&["--deep"]);

    let (code, out, err) = run(custos_bin!()
        .args(["--network", "regtest", "--json", "inspect", s(&file)])
        .args(["--server", &lab.url(), "--deep"]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inv = &v["inventory"];
    let total = inv["confirmed"].as_u64().unwrap() + inv["unconfirmed"].as_u64().unwrap();
    assert_eq!(total, truth.balance_sat, "deep scan total");
    let utxos = inv["utxos"].as_array().unwrap();
    assert_eq!(utxos.len(), truth.utxo_count);
    let found: BTreeSet<&str> = utxos
        .iter()
        .map(|u| u["address"].as_str().unwrap())
        .collect();
    // Every funded address of the ground truth, named by its path, is in the inventory.
    for a in truth.addresses.iter().filter(|a| a.balance_sat > 0) {
        assert!(
            found.contains(a.address.as_str()),
            "deep scan missed {} at {}",
            a.address,
            a.path
        );
    }
    let acct7 = truth
        .addresses
        .iter()
        .filter(|a| a.path.starts_with("m/84'/1'/7'/"))
        .count();
    // scenario.toml: `to = "deep:acct7/0/0..2"` (an exclusive range: two addresses).
    assert_eq!(acct7, 2, "the scenario funds account 7 at two addresses");
    assert_eq!(v["settings"]["gap"], 1000);
    assert_eq!(v["settings"]["change_gap"], 1000);
    assert_eq!(v["settings"]["accounts"], "20");
}

#[test]
fn default_scan_finds_less_and_names_what_it_did_not_cover() {
    let (lab, truth, _tmp, file) = lab_and_watch_only(&[]);

    let (code, out, err) = inspect(&file, &lab.url(), &["--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inv = &v["inventory"];
    let total = inv["confirmed"].as_u64().unwrap() + inv["unconfirmed"].as_u64().unwrap();
    // What a default scan can reach: BIP84 account 0's receive chain within the gap of 20.
    let reachable: u64 = truth
        .addresses
        .iter()
        .filter(|a| {
            a.path
                .strip_prefix("m/84'/1'/0'/0/")
                .and_then(|i| i.parse::<u32>().ok())
                .is_some_and(|i| i < 20)
        })
        .map(|a| a.balance_sat)
        .sum();
    assert!(reachable > 0);
    assert_eq!(total, reachable, "default scan total");
    assert!(total < truth.balance_sat);

    let (code, text, err) = inspect(&file, &lab.url(), &[]);
    assert_eq!(code, 0, "{err}");
    for words in [
        "coverage: gap 20 receive / 10 change, accounts auto",
        // Account discovery stopped: the accounts the file lists past the first unused one.
        "account discovery stopped at an earlier account with no history",
        // What the watch-only file itself leaves out.
        "not covered by the watch-only file:",
        "20 unused receive or 10 unused change addresses in a row",
        "accounts 5 and above",
        "coin type 0'",
        "deep-only layouts: root-chains, m0-chains",
        "--deep",
    ] {
        assert!(text.contains(words), "summary lacks {words:?}:\n{text}");
    }
}
