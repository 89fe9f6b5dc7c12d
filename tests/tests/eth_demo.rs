//! `custos-lab demo --chain ethereum` — the Ethereum custody path the README shows — runs end to
//! end on the anvil it starts itself, and what it claims is read back independently: the case
//! verifies with `custos case verify`, the deployed Safe is the ceremony's prediction and has
//! its owners (read with `cast`, which we did not write), the liquidation account's balance
//! change over the execution block is the Safe transaction's value (`cast balance --block`),
//! and the exported report carries the Ethereum inventory of both seized materials.
//!
//! The demo runs with `--keep-running` so its anvil stays up for `cast`; the test stops it with
//! SIGTERM (by its process id) and checks that it exits 0 and takes anvil down with it.
//! Skips without anvil and cast unless `CUSTOS_REQUIRE_LIVE=1`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use custos_lab::eth::{tools_bin, Anvil};
use custos_tests::{bin, run, stderr, stdout};
use serde_json::Value;

/// The running demo; SIGTERM and reaped on drop, so a failed assertion leaves no anvil behind.
struct Running(Child);

impl Running {
    fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        self.0.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

fn cast(args: &[&str], url: &str) -> (i32, String) {
    let o = Command::new(tools_bin("cast"))
        .args(args)
        .args(["--rpc-url", url])
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
    )
}

fn cast_ok(args: &[&str], url: &str) -> String {
    let (code, out) = cast(args, url);
    assert_eq!(code, 0, "cast {args:?}");
    out
}

fn json(work: &Path, rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(work.join(rel)).unwrap()).unwrap()
}

fn field(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no {k} in {v}"))
        .to_string()
}

#[test]
fn ethereum_demo_deploys_the_predicted_safe_and_pays_the_liquidation_account_exactly() {
    let live = Anvil::available() && tools_bin("cast").is_file();
    if !custos_testkit::live(live, "anvil and cast (scripts/install-deps.sh)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("eth-demo");
    let err_log = t.path().join("demo.stderr");
    let mut demo = Running(
        Command::new(bin("custos-lab"))
            .args(["demo", "--chain", "ethereum", "--keep-running", "--workdir"])
            .arg(&work)
            .env_remove("CUSTOS_CASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err_log).unwrap())
            .spawn()
            .unwrap(),
    );
    // Read the demo's steps until it says the node is still up (or it ends, having failed).
    let mut printed = String::new();
    let mut url = None;
    for line in BufReader::new(demo.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("anvil still serving at ") {
            url = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let Some(url) = url else {
        let code = demo.stop();
        panic!(
            "demo ended with {code:?} before serving:\n{printed}\nstderr:\n{}",
            std::fs::read_to_string(&err_log).unwrap_or_default()
        );
    };
    for s in ["[1/15]", "[15/15]", "done. report:"] {
        assert!(printed.contains(s), "missing {s:?} in:\n{printed}");
    }

    // The case verifies, checked by a custos process of our own.
    let case = work.join("case");
    let v = run(
        "custos",
        &["--case", case.to_str().unwrap(), "case", "verify"],
        None,
    );
    assert_eq!(v.status.code(), Some(0), "{}{}", stdout(&v), stderr(&v));

    // The deployed Safe is the ceremony's CREATE2 prediction, with the policy's owners on chain.
    let policy = json(&work, "ceremony/custody/eth-custody-policy.json");
    let predicted = field(&policy, "safe");
    assert_eq!(
        field(&json(&work, "online/safe-deployed.json"), "safe"),
        predicted
    );
    let owners: Vec<&str> = policy["safe_setup"]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(owners.len(), 3);
    assert_eq!(
        cast_ok(&["call", &predicted, "getOwners()(address[])"], &url),
        format!("[{}]", owners.join(", "))
    );
    assert_eq!(
        cast_ok(&["call", &predicted, "getThreshold()(uint256)"], &url),
        "2"
    );

    // The liquidation account gained exactly the Safe transaction's value in the execution block.
    let stx = json(&work, "online/liquidation.safe-tx.json");
    assert_eq!(
        (stx["data"].as_str(), stx["operation"].as_u64()),
        (Some("0x"), Some(0))
    );
    let payee = field(&stx, "to");
    let value: u128 = field(&stx, "value").parse().unwrap();
    assert!(value > 0, "the Safe transaction pays something");
    let executed = json(&work, "online/liquidation-executed.json");
    assert_eq!(executed["safe_tx_hash"], stx["safe_tx_hash"]);
    let block = executed["block"].as_u64().unwrap();
    let balance = |b: u64| -> u128 {
        cast_ok(&["balance", &payee, "--block", &b.to_string()], &url)
            .parse()
            .unwrap()
    };
    assert_eq!(balance(block) - balance(block - 1), value);
    assert_eq!(
        cast_ok(&["call", &predicted, "nonce()(uint256)"], &url),
        "1"
    );

    // The report carries the Ethereum inventory of the seed's accounts and the keystore's.
    let html = std::fs::read_to_string(work.join("report/report.html")).unwrap();
    assert!(html.contains("LAB-ETH-DEMO-1"));
    let start = html
        .find(">Ethereum inventory</h2>")
        .expect("an Ethereum inventory section");
    let section = &html[start..];
    let section = &section[..section.find("<h2").unwrap_or(section.len())];
    for inv in ["online/inv-seed.json", "online/inv-keystore.json"] {
        for acc in json(&work, inv)["accounts"].as_array().unwrap() {
            let a = field(acc, "address");
            assert!(
                section.contains(&a),
                "the inventory section lacks {a} of {inv}"
            );
        }
    }
    // The custody path names the Safe's deployment and the hand-over.
    let path = &html[html
        .find(">Custody path</h2>")
        .expect("a custody path section")..];
    let path = &path[..path.find("<h2").unwrap_or(path.len())];
    for want in [
        format!("custody Safe {predicted} (2-of-3) deployed"),
        format!("{} wei to {payee}; signed by", field(&stx, "value")),
    ] {
        assert!(path.contains(&want), "custody path lacks {want:?}");
    }
    // No secret in the case: neither the seized seed's words nor a keyholder's.
    let ledger = std::fs::read_to_string(work.join("report/ledger.jsonl")).unwrap();
    for secret in [
        "seized/seed.txt",
        "ceremony/keyholder-1/TRAINING-ONLY-seed.txt",
    ] {
        let phrase = std::fs::read_to_string(work.join(secret)).unwrap();
        let phrase = phrase.trim();
        assert!(
            !ledger.contains(phrase) && !html.contains(phrase),
            "{secret}"
        );
    }

    // SIGTERM: the demo exits 0 and its anvil is gone.
    assert_eq!(demo.stop(), Some(0));
    let (code, _) = cast(&["block-number"], &url);
    assert_ne!(
        code, 0,
        "anvil still answers at {url} after the demo stopped"
    );
}
