//! The Ethereum online path through the real binaries on anvil (the eth-seized lab): inspect a
//! seized seed and keystore, build the sweep to the lab's Safe (gas funding, USDT-style and
//! fee-on-transfer tokens), sign it with `custos-signer eth sign --partial` once per material,
//! broadcast, and compare the final balances with the lab's truth read straight from the node.
//! Also: the signer's refusals of a tampered built sweep, an unreachable node (exit 3), a node
//! behind the pinned block (exit 3), secret material on the command line (exit 2).
//! Skips without anvil unless `CUSTOS_REQUIRE_LIVE=1`.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use custos_lab::eth::{Anvil, EthLab, ANVIL_MNEMONIC};
use custos_testkit::{custos_bin, new_case, run, s, scratch, signer_next_to_custos};
use serde_json::{json, Value};

fn lab() -> Option<EthLab> {
    custos_testkit::live(Anvil::available(), "anvil (scripts/install-deps.sh)")
        .then(|| EthLab::start("eth-seized").expect("build eth-seized"))
}

fn scenario(name: &str) -> PathBuf {
    custos_testkit::fixtures().join("lab/eth-seized").join(name)
}

fn rpc_u128(lab: &EthLab, method: &str, params: Value) -> u128 {
    let v = lab.anvil().call(method, params).unwrap();
    let h = v.as_str().unwrap().trim_start_matches("0x");
    let h = if h.is_empty() { "0" } else { h };
    u128::from_str_radix(h, 16).unwrap()
}

fn token_balance(lab: &EthLab, token: &str, holder: &str) -> u128 {
    let data = format!(
        "0x70a08231{:0>64}",
        holder.trim_start_matches("0x").to_ascii_lowercase()
    );
    rpc_u128(
        lab,
        "eth_call",
        json!([{"to": token, "data": data}, "latest"]),
    )
}

/// Inspects seed and keystore, writes the policy, builds the sweep; returns the policy path.
fn build(lab: &EthLab, dir: &Path, case: &Path) -> (PathBuf, Value) {
    let t = lab.truth();
    let url = lab.rpc_url();
    let mut tokens = Vec::new();
    for tk in &t.contracts.tokens {
        tokens.extend(["--token".to_string(), tk.address.clone()]);
    }
    for (input, out, extra) in [
        (scenario("seed.txt"), "inv-seed.json", vec![]),
        (
            scenario("keystore.json"),
            "inv-ks.json",
            vec![
                "--password-file".to_string(),
                s(&scenario("keystore-password.txt")).to_string(),
            ],
        ),
    ] {
        let mut c = custos_bin!();
        c.args([
            "--case",
            s(case),
            "--network",
            "ethereum",
            "--json",
            "inspect",
            s(&input),
            "--rpc",
            url.as_str(),
            "--gap",
            "3",
        ])
        .args(["--out", s(&dir.join(out))])
        .args(&extra)
        .args(&tokens);
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "inspect {}: {err}", input.display());
    }
    let safe = t.safe.as_ref().unwrap();
    let policy = dir.join("policy.json");
    let p = json!({
        "format": "custos-eth-policy-v1", "name": "lab safe", "chain_id": t.chain_id,
        "safe": safe.address, "max_fee_per_tx_wei": "10000000000000000",
        "safe_setup": {"owners": safe.owners, "threshold": safe.threshold, "salt_nonce": safe.salt_nonce,
            "factory": safe.factory, "singleton": safe.singleton, "fallback_handler": safe.fallback_handler},
    });
    std::fs::write(&policy, serde_json::to_vec_pretty(&p).unwrap()).unwrap();
    let ops = &t.account("operations").unwrap().address;
    let (code, out, err) = run(custos_bin!().args([
        "--case",
        s(case),
        "--json",
        "eth",
        "sweep",
        "build",
        "--inventory",
        s(&dir.join("inv-seed.json")),
        "--inventory",
        s(&dir.join("inv-ks.json")),
        "--policy",
        s(&policy),
        "--ops-account",
        ops.as_str(),
        "--out",
        s(&dir.join("sweep.json")),
        "--rpc",
        url.as_str(),
    ]));
    assert_eq!(code, 0, "sweep build: {err}");
    (policy, serde_json::from_str(&out).unwrap())
}

#[test]
fn seed_and_keystore_are_swept_to_the_safe_with_exact_final_balances() {
    let Some(lab) = lab() else { return };
    let dir = scratch("eth", "e2e");
    let case = dir.join("case");
    new_case(custos_bin!(), &case, "ETH-E2E-1");
    let (policy, built) = build(&lab, &dir, &case);
    assert_eq!(built["gas_funding"], 1, "{built}");
    let ops_seed = dir.join("ops-seed.txt");
    std::fs::write(&ops_seed, ANVIL_MNEMONIC).unwrap();
    for (material, out, pw) in [
        (scenario("seed.txt"), "signed-seed", None),
        (
            scenario("keystore.json"),
            "signed-ks",
            Some(scenario("keystore-password.txt")),
        ),
        (ops_seed, "signed-ops", None),
    ] {
        let mut c = signer_next_to_custos!();
        c.args([
            "eth",
            "sign",
            s(&dir.join("sweep.json")),
            "--policy",
            s(&policy),
            "--material",
            s(&material),
        ])
        .args(["--partial", "--out", s(&dir.join(out))]);
        if let Some(p) = &pw {
            c.args(["--password-file", s(p)]);
        }
        let (code, _, err) = run(&mut c);
        assert_eq!(code, 0, "sign {out}: {err}");
    }
    let (code, out, err) = run(custos_bin!().args([
        "--case",
        s(&case),
        "--json",
        "eth",
        "sweep",
        "broadcast",
        s(&dir.join("signed-seed.json")),
        s(&dir.join("signed-ks.json")),
        s(&dir.join("signed-ops.json")),
        "--rpc",
        lab.rpc_url().as_str(),
    ]));
    assert_eq!(code, 0, "broadcast: {err}\n{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert!(
        summary["eth"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["exact"] == true),
        "{summary}"
    );
    // Independent of custos: the node's balances against the lab's truth.
    let t = lab.truth();
    let safe = &t.safe.as_ref().unwrap().address;
    let set: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    let eth_sent: u128 = set["txs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["purpose"] == "eth_transfer")
        .map(|x| x["value"].as_str().unwrap().parse::<u128>().unwrap())
        .sum();
    assert_eq!(
        rpc_u128(&lab, "eth_getBalance", json!([safe, "latest"])),
        eth_sent
    );
    let mut fee_token_short = false;
    for tk in &t.contracts.tokens {
        let seized: u128 = t
            .accounts
            .iter()
            .filter(|a| a.seized)
            .filter_map(|a| a.tokens.get(&tk.symbol))
            .map(|u| u.parse::<u128>().unwrap())
            .map(|u| u - tk.fee_bps.map_or(0, |b| u * u128::from(b) / 10_000))
            .sum();
        assert_eq!(
            token_balance(&lab, &tk.address, safe),
            seized,
            "{}",
            tk.symbol
        );
        for a in t.accounts.iter().filter(|a| a.seized) {
            assert_eq!(
                token_balance(&lab, &tk.address, &a.address),
                0,
                "{} {}",
                a.id,
                tk.symbol
            );
        }
        fee_token_short |= tk.fee_bps.is_some();
    }
    // The fee-on-transfer token's shortfall is reported, not hidden.
    assert!(fee_token_short);
    assert!(
        summary["token_differences"].as_array().unwrap().len() == 1,
        "{summary}"
    );
    let (code, log, _) = run(custos_bin!().args(["--case", s(&case), "case", "log"]));
    assert_eq!(code, 0);
    for kind in ["eth.inspect", "eth.sweep.build", "eth.broadcast"] {
        assert!(log.contains(kind), "{kind} missing from the ledger:\n{log}");
    }
}

fn verify_only(dir: &Path, policy: &Path, set: &Value, name: &str) -> (i32, String) {
    let f = dir.join(name);
    std::fs::write(&f, serde_json::to_vec_pretty(set).unwrap()).unwrap();
    let (code, out, err) = run(signer_next_to_custos!().args([
        "eth",
        "sign",
        s(&f),
        "--policy",
        s(policy),
        "--verify-only",
    ]));
    (code, format!("{out}{err}"))
}

#[test]
fn a_tampered_built_sweep_is_refused_by_the_signer_with_exit_1() {
    let Some(lab) = lab() else { return };
    let dir = scratch("eth", "tamper");
    let case = dir.join("case");
    new_case(custos_bin!(), &case, "ETH-TAMPER-1");
    let (policy, _) = build(&lab, &dir, &case);
    let set: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(verify_only(&dir, &policy, &set, "ok.json").0, 0);
    let thief = "0x000000000000000000000000000000000000dEaD";
    let txs = set["txs"].as_array().unwrap();
    let eth_i = txs
        .iter()
        .position(|x| x["purpose"] == "eth_transfer")
        .unwrap();
    let tok_i = txs
        .iter()
        .position(|x| x["purpose"] == "token_transfer")
        .unwrap();

    let mut wrong_chain = set.clone();
    wrong_chain["chain_id"] = json!(1);
    let (code, msg) = verify_only(&dir, &policy, &wrong_chain, "chain.json");
    assert!(code == 1 && msg.contains("chain_id"), "{msg}");

    let mut eth_away = set.clone();
    eth_away["txs"][eth_i]["to"] = json!(thief);
    let (code, msg) = verify_only(&dir, &policy, &eth_away, "eth-away.json");
    assert!(code == 1 && msg.contains("ether goes to"), "{msg}");

    let mut tok_away = set.clone();
    let data = tok_away["txs"][tok_i]["data"].as_str().unwrap().to_string();
    let swapped = format!(
        "{}{:0>64}{}",
        &data[..10],
        thief.trim_start_matches("0x"),
        &data[74..]
    );
    tok_away["txs"][tok_i]["data"] = json!(swapped);
    let (code, msg) = verify_only(&dir, &policy, &tok_away, "tok-away.json");
    assert!(
        code == 1 && msg.contains("decoded transfer recipient"),
        "{msg}"
    );

    let mut fee = set.clone();
    fee["txs"][eth_i]["gas_limit"] = json!(50_000_000u64);
    let (code, msg) = verify_only(&dir, &policy, &fee, "fee.json");
    assert!(code == 1 && msg.contains("fee cap"), "{msg}");

    let mut gap = set.clone();
    let n = gap["txs"][tok_i + 1]["nonce"].as_u64().unwrap();
    if gap["txs"][tok_i + 1]["from"] == gap["txs"][tok_i]["from"] {
        gap["txs"][tok_i + 1]["nonce"] = json!(n + 1);
        let (code, msg) = verify_only(&dir, &policy, &gap, "gap.json");
        assert!(code == 1 && msg.contains("nonce"), "{msg}");
    }
}

#[test]
fn an_unreachable_node_is_exit_3() {
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "ethereum",
        "inspect",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "--rpc",
        "http://127.0.0.1:9",
        "--rpc-timeout",
        "5",
    ]));
    assert_eq!(code, 3, "{err}");
}

#[test]
fn a_node_behind_the_pinned_block_is_exit_3() {
    let Some(lab) = lab() else { return };
    let ahead = (lab.truth().block_number + 100).to_string();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "ethereum",
        "inspect",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "--rpc",
        lab.rpc_url().as_str(),
        "--block",
        ahead.as_str(),
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("behind the pinned block"), "{err}");
}

#[test]
fn a_private_key_on_the_command_line_is_refused_with_exit_2() {
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "ethereum",
        "inspect",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "--rpc",
        "http://127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("never an argument") && !err.contains("ac0974bec"),
        "{err}"
    );
}
