//! The Ethereum lab against the node it built, checked with `cast` (foundry, npm
//! `@foundry-rs/cast-linux-amd64`) — a tool that shares no code with the lab. Skips without
//! anvil or cast unless `CUSTOS_REQUIRE_LIVE=1`.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::process::Command;

use alloy_primitives::{keccak256, Address, B256, U256};
use custos_lab::eth::{creation_code, tools_bin, Anvil, EthLab, EthTruth};

fn live() -> bool {
    let have = Anvil::available() && tools_bin("cast").is_file();
    if !have && std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() == Ok("1") {
        panic!(
            "anvil or cast missing ({}) and CUSTOS_REQUIRE_LIVE=1",
            Anvil::binary().display()
        );
    }
    if !have {
        eprintln!("skipped: anvil/cast not installed (scripts/install-deps.sh)");
    }
    have
}

fn cast(args: &[&str]) -> String {
    let out = Command::new(tools_bin("cast"))
        .args(args)
        .output()
        .expect("run cast");
    assert!(
        out.status.success(),
        "cast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// cast prints a uint256 as `123 [1.23e2]`: the first word is the exact integer.
fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap_or_default().to_string()
}

fn build() -> Option<EthLab> {
    live().then(|| EthLab::start("eth-seized").expect("build eth-seized"))
}

#[test]
fn every_balance_of_the_truth_is_what_cast_reads_from_the_node() {
    let Some(lab) = build() else { return };
    let t = lab.truth();
    let (url, block) = (lab.rpc_url(), t.block_number.to_string());
    for a in &t.accounts {
        let eth = cast(&["balance", &a.address, "--block", &block, "--rpc-url", &url]);
        assert_eq!(eth, a.eth_wei, "ETH of {}", a.id);
        let nonce = cast(&["nonce", &a.address, "--block", &block, "--rpc-url", &url]);
        assert_eq!(nonce, a.nonce.to_string(), "nonce of {}", a.id);
        for tok in &t.contracts.tokens {
            let got = first_word(&cast(&[
                "call",
                &tok.address,
                "balanceOf(address)(uint256)",
                &a.address,
                "--block",
                &block,
                "--rpc-url",
                &url,
            ]));
            let want = a
                .tokens
                .get(&tok.symbol)
                .cloned()
                .unwrap_or_else(|| "0".into());
            assert_eq!(got, want, "{} of {}", tok.symbol, a.id);
        }
    }
    // The story is really there: seized-1 got 1 % less of the fee token than was sent.
    let s1 = t.account("seized-1").unwrap();
    assert_eq!(s1.tokens["LFEE"], "495000000000000000000");
    assert_eq!(s1.eth_wei, "10000000000000");
}

#[test]
fn the_safe_has_its_owners_and_threshold_and_its_create2_address() {
    let Some(lab) = build() else { return };
    let t = lab.truth();
    let safe = t.safe.as_ref().expect("safe in truth");
    let url = lab.rpc_url();
    let owners = cast(&[
        "call",
        &safe.address,
        "getOwners()(address[])",
        "--rpc-url",
        &url,
    ]);
    assert_eq!(owners, format!("[{}]", safe.owners.join(", ")));
    let threshold = first_word(&cast(&[
        "call",
        &safe.address,
        "getThreshold()(uint256)",
        "--rpc-url",
        &url,
    ]));
    assert_eq!(threshold, "2");
    // CREATE2 as SafeProxyFactory 1.4.1 computes it: salt = keccak(keccak(initializer) ‖ saltNonce),
    // init code = SafeProxy creation code ‖ uint256(singleton).
    let init: Vec<u8> = safe
        .initializer
        .trim_start_matches("0x")
        .as_bytes()
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect();
    let nonce = U256::from_str_radix(&safe.salt_nonce, 10).unwrap();
    let mut salt_input = keccak256(&init).to_vec();
    salt_input.extend_from_slice(&nonce.to_be_bytes::<32>());
    let salt = keccak256(&salt_input);
    let singleton: Address = safe.singleton.parse().unwrap();
    let mut code = creation_code("SafeProxy").unwrap().to_vec();
    code.extend_from_slice(B256::left_padding_from(singleton.as_slice()).as_slice());
    let factory: Address = safe.factory.parse().unwrap();
    assert_eq!(
        factory.create2_from_code(salt, code).to_checksum(None),
        safe.address
    );
}

#[test]
fn the_keystore_decrypts_to_the_funded_address() {
    if !live() {
        return;
    }
    let dir = custos_lab::fixtures_dir().join("lab/eth-seized");
    let addr = cast(&[
        "wallet",
        "address",
        "--keystore",
        dir.join("keystore.json").to_str().unwrap(),
        "--password-file",
        dir.join("keystore-password.txt").to_str().unwrap(),
    ]);
    let truth = std::fs::read_to_string(dir.join("ground-truth.toml")).unwrap();
    let truth: EthTruth = toml::from_str(&truth).unwrap();
    assert_eq!(addr, truth.account("seized-keystore").unwrap().address);
}

#[test]
fn a_rebuild_gives_the_committed_ground_truth_to_the_block_hash() {
    let Some(lab) = build() else { return };
    let path = custos_lab::fixtures_dir().join("lab/eth-seized/ground-truth.toml");
    let committed: EthTruth = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(lab.truth(), &committed);
}

#[test]
fn forwarder_payments_are_internal_calls_in_the_nodes_call_trace() {
    let Some(lab) = build() else { return };
    let t = lab.truth();
    let url = lab.rpc_url();
    let forward = t
        .transactions
        .iter()
        .find(|x| x.what == "forward")
        .expect("forward tx");
    let trace = cast(&[
        "rpc",
        "--raw",
        "debug_traceTransaction",
        &format!(r#"["{}", {{"tracer": "callTracer"}}]"#, forward.hash),
        "--rpc-url",
        &url,
    ]);
    let trace: serde_json::Value = serde_json::from_str(&trace).unwrap();
    // forward -> relay (the forwarder calling itself) -> payee
    let relay = &trace["calls"][0];
    let pay = &relay["calls"][0];
    let hex = |v: &serde_json::Value| {
        U256::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        relay["to"].as_str().unwrap().to_lowercase(),
        t.contracts.forwarder.to_lowercase()
    );
    assert_eq!(
        pay["to"].as_str().unwrap().to_lowercase(),
        forward.internal[1].to.to_lowercase()
    );
    assert_eq!(hex(&pay["value"]), forward.internal[1].amount);
    assert_eq!(
        forward.internal[1].to,
        t.account("counterparty").unwrap().address
    );
}
