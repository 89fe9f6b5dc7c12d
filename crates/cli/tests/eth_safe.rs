//! The Ethereum custody Safe end to end on anvil, through the real binaries: three keyholders'
//! keys from separate `custos-signer key generate` processes, `custos ceremony assemble
//! --eth-chain-id` predicting the 2-of-3 Safe, `custos-signer ceremony verify` checking it,
//! `custos eth safe deploy` (deployed address = CREATE2 prediction), funding, `custos eth safe
//! propose`, two `custos-signer eth safe-sign` processes, `custos eth safe execute`; balances
//! exact and the Safe's owners, threshold and nonce read with `cast`, which we did not write.
//!
//! Skips without anvil unless `CUSTOS_REQUIRE_LIVE=1`.

use std::path::{Path, PathBuf};

use custos_lab::eth::{tools_bin, Anvil, EthLab};
use custos_testkit::custody::{generate_keyholder, Keyholder};
use custos_testkit::{custos_bin, run, s, scratch, signer_next_to_custos};

const CHALLENGE: &str = "ETH-1 custody ceremony";
/// anvil's dev account 1 (the lab's `operations` account): a public test key.
const OPS_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// anvil's dev account 0 (the lab's `deployer`): funds the Safe through `cast send`.
const DEPLOYER_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn lab() -> Option<EthLab> {
    custos_testkit::live(Anvil::available(), "anvil (scripts/install-deps.sh)")
        .then(|| EthLab::start("eth-seized").expect("build eth-seized"))
}

fn cast(args: &[&str]) -> String {
    let (code, out, err) = run(std::process::Command::new(tools_bin("cast")).args(args));
    assert_eq!(code, 0, "cast {args:?}: {err}");
    out.trim().to_string()
}

fn json_file(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn safe_sign(
    dir: &Path,
    seed: &Path,
    stx: &Path,
    policy: &Path,
    payee: &str,
    n: u8,
) -> (i32, PathBuf, String) {
    let sig = dir.join(format!("sig-{n}.json"));
    let (code, _, err) = run(signer_next_to_custos!().args([
        "eth",
        "safe-sign",
        s(stx),
        "--policy",
        s(policy),
        "--allow-destination",
        payee,
        "--material",
        s(seed),
        "--out",
        s(&sig),
    ]));
    (code, sig, err)
}

#[test]
fn ceremony_safe_is_deployed_at_its_prediction_and_pays_out_with_two_of_three() {
    let Some(lab) = lab() else { return };
    let url = lab.rpc_url();
    let t = lab.truth();
    let dir = scratch("eth-safe", "e2e");
    let b = custos_testkit::bins!();
    let holders: Vec<Keyholder> = (0..3)
        .map(|i| generate_keyholder(&b, &dir, i, "wsh", CHALLENGE))
        .collect();
    let out = dir.join("assembled");
    let c = &t.contracts;
    let mut args: Vec<String> = [
        "--network",
        "regtest",
        "ceremony",
        "assemble",
        "--threshold",
        "2",
    ]
    .map(String::from)
    .to_vec();
    args.extend(holders.iter().map(|h| h.record.display().to_string()));
    args.extend(
        [
            "--out-dir",
            s(&out),
            "--challenge",
            CHALLENGE,
            "--eth-chain-id",
            "31337",
            "--eth-salt-nonce",
            "42",
            "--eth-safe-factory",
            &c.safe_proxy_factory,
            "--eth-safe-singleton",
            &c.safe_singleton,
            "--eth-fallback-handler",
            &c.safe_fallback_handler,
        ]
        .map(String::from),
    );
    let (code, stdout, err) = run(custos_bin!().args(&args));
    assert_eq!(code, 0, "{err}");
    let policy = out.join("eth-custody-policy.json");
    let p = json_file(&policy);
    let safe = p["safe"].as_str().unwrap().to_string();
    assert!(stdout.contains(&safe), "{stdout}");
    let owners: Vec<String> = p["safe_setup"]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    assert_eq!(owners.len(), 3);

    // Each keyholder's signer checks the Bitcoin and the Ethereum policy.
    let (code, vout, err) = run(signer_next_to_custos!().args([
        "ceremony",
        "verify",
        s(&out.join("custody-policy.json")),
        s(&policy),
        "--key-record",
        s(&holders[1].record),
        "--network",
        "regtest",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(vout.contains(&format!("ethereum safe: {safe}")), "{vout}");

    // Deploy: one transaction from the operations account; the address is the prediction.
    let ops = dir.join("ops.key");
    std::fs::write(&ops, format!("{OPS_KEY}\n")).unwrap();
    let deployed = dir.join("deploy.json");
    let (code, _, err) = run(custos_bin!().args([
        "eth",
        "safe",
        "deploy",
        "--policy",
        s(&policy),
        "--rpc",
        &url,
        "--ops-key",
        s(&ops),
        "--out",
        s(&deployed),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_file(&deployed)["safe"], safe.as_str());
    let on_chain = cast(&["call", &safe, "getOwners()(address[])", "--rpc-url", &url]);
    assert_eq!(on_chain, format!("[{}]", owners.join(", ")));
    assert_eq!(
        cast(&["call", &safe, "getThreshold()(uint256)", "--rpc-url", &url]),
        "2"
    );
    // A second deployment of the same Safe is refused before anything is sent.
    let (code, _, err) = run(custos_bin!().args([
        "eth",
        "safe",
        "deploy",
        "--policy",
        s(&policy),
        "--rpc",
        &url,
        "--ops-key",
        s(&ops),
        "--out",
        s(&dir.join("deploy-again.json")),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already deployed"), "{err}");

    // Fund it with 3 ETH, then pay 1.25 ETH to the counterparty out of it.
    cast(&[
        "send",
        "--private-key",
        DEPLOYER_KEY,
        "--rpc-url",
        &url,
        &safe,
        "--value",
        "3000000000000000000",
    ]);
    let payee = t
        .accounts
        .iter()
        .find(|a| a.id == "counterparty")
        .unwrap()
        .address
        .clone();
    let before: u128 = cast(&["balance", &payee, "--rpc-url", &url])
        .parse()
        .unwrap();
    let stx = dir.join("out.safe-tx.json");
    let (code, _, err) = run(custos_bin!().args([
        "eth",
        "safe",
        "propose",
        "--policy",
        s(&policy),
        "--rpc",
        &url,
        "--to",
        &payee,
        "--value",
        "1250000000000000000",
        "--out",
        s(&stx),
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_file(&stx)["nonce"], "0");

    // A signer told another destination refuses (exit 1) and writes nothing.
    let (code, sig, err) = safe_sign(&dir, &holders[0].mnemonic, &stx, &policy, &owners[0], 9);
    assert_eq!(code, 1, "{err}");
    assert!(!sig.exists());
    let (code, sig0, err) = safe_sign(&dir, &holders[0].mnemonic, &stx, &policy, &payee, 0);
    assert_eq!(code, 0, "{err}");
    // One signature is not enough: refused before anything is sent.
    let executed = dir.join("exec.json");
    let exec = |sigs: &[&Path], out: &Path| {
        let mut a: Vec<String> = [
            "eth",
            "safe",
            "execute",
            "--policy",
            s(&policy),
            "--rpc",
            &url,
            "--ops-key",
            s(&ops),
            "--safe-tx",
            s(&stx),
            "--out",
            s(out),
        ]
        .map(String::from)
        .to_vec();
        for g in sigs {
            a.extend(["--signature".to_string(), g.display().to_string()]);
        }
        run(custos_bin!().args(&a))
    };
    let (code, _, err) = exec(&[&sig0], &executed);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("needs 2"), "{err}");
    let (code, sig2, err) = safe_sign(&dir, &holders[2].mnemonic, &stx, &policy, &payee, 2);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = exec(&[&sig2, &sig0], &executed);
    assert_eq!(code, 0, "{err}");

    let after: u128 = cast(&["balance", &payee, "--rpc-url", &url])
        .parse()
        .unwrap();
    assert_eq!(after - before, 1_250_000_000_000_000_000);
    assert_eq!(
        cast(&["balance", &safe, "--rpc-url", &url]),
        "1750000000000000000"
    );
    assert_eq!(
        cast(&["call", &safe, "nonce()(uint256)", "--rpc-url", &url]),
        "1"
    );
    let rec = json_file(&executed);
    assert_eq!(rec["safe_tx_hash"], json_file(&stx)["safe_tx_hash"]);
    // The same Safe transaction again: the Safe has moved on (nonce 1), refused.
    let (code, _, err) = exec(&[&sig0, &sig2], &dir.join("exec-again.json"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nonce"), "{err}");
}
