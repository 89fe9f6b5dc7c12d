//! The custody half of the Ethereum demo: three keyholders' key records (`custos-signer key
//! generate`, each carrying its Ethereum key with an EIP-191 proof of possession), the custody
//! policy and the Safe's CREATE2 address from `custos ceremony assemble --eth-chain-id`, checked
//! by every keyholder's signer; the Safe's deployment; the 2-of-3 Safe transaction that hands
//! its ether to a liquidation account; the closing `case verify` and export.

use std::path::PathBuf;
use std::str::FromStr;

use alloy_primitives::U256;
use anyhow::{anyhow, bail, Context};
use custos_lab::eth::{anvil_account, EthTruth};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{cast, cast_out, step, CASE_ID};
use crate::demo::{indent, write_secret_file, Demo};

/// The assembled custody on Ethereum.
pub(super) struct Custody {
    /// The Ethereum custody policy (`custos-eth-policy-v1`), relative to the work directory.
    pub(super) policy: String,
    /// The Safe's address as the ceremony predicted it (EIP-55).
    pub(super) address: String,
    /// Its owners, in the order of the policy.
    owners: Vec<String>,
    /// Its threshold.
    threshold: u64,
    /// Each keyholder's mnemonic file (training only), relative to the work directory.
    seeds: Vec<String>,
}

/// Where the ceremony writes (relative to the work directory).
const CUSTODY_DIR: &str = "ceremony/custody";
/// The operations account's key file (pays the deployment and the execution's gas).
const OPS_KEY: &str = "online/TRAINING-ONLY-ops-key.txt";
/// The operations account: anvil dev account 1 (the scenario's `operations`).
const OPS_ACCOUNT: u32 = 1;

/// Key ceremony and assembly: returns the custody with its predicted Safe.
pub(super) fn ceremony(d: &mut Demo, truth: &EthTruth) -> anyhow::Result<Custody> {
    step(
        d,
        "key ceremony: three keyholders generate keys on their signers (Bitcoin and Ethereum)",
    )?;
    let challenge = format!(
        "custos custody ceremony {CASE_ID} at ethereum block {} {}",
        truth.block_number, truth.block_hash
    );
    std::fs::write(d.work.join("ceremony/challenge.txt"), &challenge)?;
    let mut records = Vec::new();
    let mut seeds = Vec::new();
    for i in 1..=3 {
        let (record, seed) = keyholder(d, i)?;
        records.push(record);
        seeds.push(seed);
    }
    step(
        d,
        "custos: assemble the 2-of-3 custody policy and predict the Safe (CREATE2)",
    )?;
    let c = &truth.contracts;
    let chain_id = truth.chain_id.to_string();
    let mut a: Vec<String> = [
        "ceremony",
        "assemble",
        "--threshold",
        "2",
        "--out-dir",
        CUSTODY_DIR,
        "--challenge-file",
        "ceremony/challenge.txt",
        "--name",
        "lab-eth-custody",
        "--eth-chain-id",
        chain_id.as_str(),
        "--eth-safe-factory",
        c.safe_proxy_factory.as_str(),
        "--eth-safe-singleton",
        c.safe_singleton.as_str(),
        "--eth-fallback-handler",
        c.safe_fallback_handler.as_str(),
    ]
    .map(String::from)
    .to_vec();
    a.extend(records.iter().cloned());
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    indent(&d.custos(&refs)?)?;
    let policy = format!("{CUSTODY_DIR}/eth-custody-policy.json");
    let p = d.read_json(&policy)?;
    let address = text(&p["safe"], "safe")?;
    let owners = p["safe_setup"]["owners"]
        .as_array()
        .ok_or_else(|| anyhow!("{policy}: no safe_setup.owners"))?
        .iter()
        .map(|o| text(o, "owner"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let threshold = p["safe_setup"]["threshold"]
        .as_u64()
        .ok_or_else(|| anyhow!("{policy}: no safe_setup.threshold"))?;
    outln!(
        "  predicted safe {address}: {threshold}-of-{} owners {}",
        owners.len(),
        owners.join(", ")
    );
    for (i, record) in records.iter().enumerate() {
        let out = d.signer(
            &[
                "ceremony",
                "verify",
                &format!("{CUSTODY_DIR}/custody-policy.json"),
                &policy,
                "--key-record",
                record,
                "--network",
                "regtest",
            ],
            None,
        )?;
        let line = out
            .lines()
            .find(|l| l.contains("ethereum safe"))
            .ok_or_else(|| anyhow!("keyholder {}'s signer did not show the safe", i + 1))?;
        outln!("  keyholder {}'s signer: {}", i + 1, line.trim());
    }
    Ok(Custody {
        policy,
        address,
        owners,
        threshold,
        seeds,
    })
}

fn text(v: &Value, what: &str) -> anyhow::Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("expected a string {what}, found {v}"))
}

/// One keyholder's `key generate`, fed training-only entropy derived from the case id (so the
/// demo predicts the same Safe on every run). Returns the key record and the keyholder's
/// mnemonic file, which stands in for the words the keyholder types into the signer later.
fn keyholder(d: &Demo, i: u32) -> anyhow::Result<(String, String)> {
    let digest = Sha256::digest(format!("{CASE_ID} training keyholder {i}").as_bytes());
    let (record, mnemonic) = d.keyholder_from(i, &digest[..16])?;
    let seed = format!("ceremony/keyholder-{i}/TRAINING-ONLY-seed.txt");
    write_secret_file(&d.work.join(&seed), &format!("{mnemonic}\n"))?;
    let record = relative(d, &record)?;
    let rec = d.read_json(&record)?;
    outln!(
        "  keyholder {i}'s ethereum key: {}",
        rec["ethereum"]["address"].as_str().unwrap_or("(none)")
    );
    Ok((record, seed))
}

fn relative(d: &Demo, p: &std::path::Path) -> anyhow::Result<String> {
    Ok(p.strip_prefix(&d.work)
        .with_context(|| format!("{} is outside the work directory", p.display()))?
        .to_string_lossy()
        .into_owned())
}

/// Deploys the Safe (one recorded transaction from the operations account) and checks the
/// deployed address, owners and threshold against the prediction with `cast`.
pub(super) fn deploy(d: &mut Demo, c: &Custody) -> anyhow::Result<()> {
    step(
        d,
        "custos: deploy the custody Safe (createProxyWithNonce from the operations account)",
    )?;
    let (_, key) = anvil_account(OPS_ACCOUNT).map_err(|e| anyhow!("operations key: {e}"))?;
    write_secret_file(&d.work.join(OPS_KEY), &format!("{}\n", key.as_str()))?;
    indent(&eth_safe(
        d,
        "deploy",
        c,
        &["--ops-key", OPS_KEY, "--out", "online/safe-deployed.json"],
    )?)?;
    let rec = d.read_json("online/safe-deployed.json")?;
    let deployed = text(&rec["safe"], "safe")?;
    if deployed != c.address {
        bail!(
            "the Safe was deployed at {deployed}, the ceremony predicted {}",
            c.address
        );
    }
    let owners = cast_out(d, &["call", &deployed, "getOwners()(address[])"])?;
    if owners != format!("[{}]", c.owners.join(", ")) {
        bail!(
            "safe {deployed} has owners {owners}, the policy {:?}",
            c.owners
        );
    }
    let threshold = cast(d, &["call", &deployed, "getThreshold()(uint256)"])?;
    if threshold != c.threshold.to_string() {
        bail!(
            "safe {deployed} has threshold {threshold}, the policy {}",
            c.threshold
        );
    }
    outln!(
        "  deployed at the prediction {deployed} in block {}; cast: owners and threshold {threshold} as the policy",
        rec["block"]
    );
    Ok(())
}

/// `custos --case CASE eth safe SUB --policy POLICY --rpc URL ARGS...`: its output.
fn eth_safe(d: &Demo, sub: &str, c: &Custody, args: &[&str]) -> anyhow::Result<String> {
    let mut a = vec![
        "eth",
        "safe",
        sub,
        "--policy",
        c.policy.as_str(),
        "--rpc",
        d.url.as_str(),
    ];
    a.extend_from_slice(args);
    d.custos(&a)
}

fn wei(s: &str, what: &str) -> anyhow::Result<U256> {
    U256::from_str(s).map_err(|e| anyhow!("{what}: {s:?} is not an amount of wei: {e}"))
}

/// The hand-over: a Safe transaction paying all the Safe's ether to `payee`, proposed, signed
/// offline by keyholders 1 and 3 (each told the payee with `--allow-destination`), executed,
/// and the payee's balance change read with `cast` at the blocks around the execution.
pub(super) fn pay_out(d: &mut Demo, c: &Custody, payee: &str) -> anyhow::Result<()> {
    step(
        d,
        "custos: propose a Safe transaction paying the Safe's ether to the liquidation account",
    )?;
    let value = cast(d, &["balance", &c.address])?;
    let stx = "online/liquidation.safe-tx.json";
    indent(&eth_safe(
        d,
        "propose",
        c,
        &["--to", payee, "--value", value.as_str(), "--out", stx],
    )?)?;
    step(
        d,
        "custos-signer: keyholders 1 and 3 check the Safe transaction and sign it offline",
    )?;
    let mut sigs = Vec::new();
    for i in [0usize, 2] {
        let seed = c
            .seeds
            .get(i)
            .ok_or_else(|| anyhow!("no keyholder {}", i + 1))?;
        let sig = format!("offline/safe-signature-{}.json", i + 1);
        let out = d.signer(
            &[
                "eth",
                "safe-sign",
                stx,
                "--policy",
                c.policy.as_str(),
                "--allow-destination",
                payee,
                "--material",
                seed,
                "--out",
                &sig,
            ],
            None,
        )?;
        indent(&out)?;
        sigs.push(sig);
    }
    step(
        d,
        "custos: execute the Safe transaction with the two signatures",
    )?;
    let mut a = vec![
        "--ops-key",
        OPS_KEY,
        "--safe-tx",
        stx,
        "--out",
        "online/liquidation-executed.json",
    ];
    for s in &sigs {
        a.extend(["--signature", s.as_str()]);
    }
    indent(&eth_safe(d, "execute", c, &a)?)?;
    check_liquidation(d, c, payee, &value)
}

/// The payee's balance change over the execution's block equals the Safe transaction's value,
/// and the Safe is left with no ether.
fn check_liquidation(d: &mut Demo, c: &Custody, payee: &str, value: &str) -> anyhow::Result<()> {
    step(
        d,
        "cast: the liquidation account received exactly the Safe transaction's value",
    )?;
    let rec = d.read_json("online/liquidation-executed.json")?;
    let block = rec["block"]
        .as_u64()
        .ok_or_else(|| anyhow!("execution record without a block"))?;
    let before_block = block
        .checked_sub(1)
        .ok_or_else(|| anyhow!("execution in block 0"))?
        .to_string();
    let before = wei(
        &cast(d, &["balance", payee, "--block", &before_block])?,
        "balance before",
    )?;
    let after = wei(
        &cast(d, &["balance", payee, "--block", &block.to_string()])?,
        "balance after",
    )?;
    let sent = wei(value, "safe transaction value")?;
    let got = after
        .checked_sub(before)
        .ok_or_else(|| anyhow!("{payee} lost ether in block {block}"))?;
    if got != sent {
        bail!("{payee} received {got} wei in block {block}, the Safe transaction paid {sent}");
    }
    let left = cast(d, &["balance", &c.address])?;
    if left != "0" {
        bail!("safe {} still holds {left} wei", c.address);
    }
    let nonce = cast(d, &["call", &c.address, "nonce()(uint256)"])?;
    outln!(
        "  {payee}: {before} → {after} wei in block {block} (+{got} = the Safe transaction's value); safe holds 0 wei, its nonce is {nonce}"
    );
    Ok(())
}

/// Verifies the case ledger and exports it with the HTML report, which must carry the
/// Ethereum inventory.
pub(super) fn close_case(d: &mut Demo) -> anyhow::Result<()> {
    step(d, "custos: verify the case ledger and export the report")?;
    indent(&d.custos(&["case", "verify"])?)?;
    indent(&d.custos(&["case", "export", "report"])?)?;
    let report: PathBuf = d.work.join("report/report.html");
    let html = custos_core::file::read_text(&report, custos_core::file::INVENTORY)?;
    if !html.contains("Ethereum inventory") {
        bail!("{} has no Ethereum inventory section", report.display());
    }
    outln!();
    outln!("done. report: {}", report.display());
    outln!("case ledger: custos --case {} case log", d.case.display());
    Ok(())
}
