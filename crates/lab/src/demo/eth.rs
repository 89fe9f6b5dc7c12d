//! `custos-lab demo --chain ethereum`: the Ethereum custody path on a fresh anvil through the
//! real binaries, files as the air gap:
//!
//! seized seed and keystore → inventory (inspect, pinned block) checked against the lab's
//! truth → key ceremony (three keyholders' `custos-signer` key records, each with its Ethereum
//! key's EIP-191 proof) → `custos ceremony assemble --eth-chain-id`: the custody policy and the
//! 2-of-3 Safe's CREATE2 address → `custos eth safe deploy` (deployed at the prediction) →
//! sweep build to that Safe (gas funding, USDT-style and fee-on-transfer tokens) →
//! `custos-signer eth sign` once per material (seed, keystore, operations account) → broadcast →
//! final balances read with `cast`, exact → a 2-of-3 Safe transaction paying the Safe's ether to
//! a liquidation account (`custos eth safe propose`, two `custos-signer eth safe-sign`,
//! `custos eth safe execute`) → its balance change read with `cast` → `case verify` and the
//! case export with its HTML report (Ethereum inventory section included).
//!
//! Deterministic: the lab chain is, and the keyholders' training entropy is derived from the
//! case id, so every run predicts and deploys the same Safe.

mod custody;

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use custos_lab::eth::{anvil_account, tools_bin, EthLab, EthTruth, ANVIL_MNEMONIC};
use serde_json::Value;

use super::{indent, prepare_workdir, sibling_binary, write_secret_file, Demo, DemoArgs};

const STEPS: usize = 15;
/// The demo's case id (also the seed of the keyholders' training entropy).
const CASE_ID: &str = "LAB-ETH-DEMO-1";
/// The liquidation account: anvil's mnemonic at m/44'/60'/0'/0/10, one past the ten accounts
/// anvil funds, so it starts empty and only the Safe's payment reaches it.
const LIQUIDATION_ACCOUNT: u32 = 10;

fn step(d: &mut Demo, title: &str) -> anyhow::Result<()> {
    d.step += 1;
    outln!();
    outln!("[{}/{STEPS}] {title}", d.step);
    Ok(())
}

/// Runs the Ethereum demo: each call below is one phase, in the order a case goes.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let scenario = if args.scenario == "seized-basic" {
        "eth-seized"
    } else {
        args.scenario.as_str()
    };
    let work = prepare_workdir(&args.workdir)?;
    outln!("custos-lab demo --chain ethereum: seized seed and keystore to a 2-of-3 custody Safe and out to liquidation");
    outln!("work directory: {}", work.display());
    let lab = EthLab::start(scenario).map_err(|e| anyhow!("cannot start the ethereum lab: {e}"))?;
    let truth = lab.truth().clone();
    let mut d = Demo {
        case: work.join("case"),
        url: lab.rpc_url(),
        work,
        custos: sibling_binary("custos")?,
        signer: sibling_binary("custos-signer")?,
        step: 0,
    };
    step(&mut d, &format!("anvil up: scenario {scenario}"))?;
    outln!(
        "  rpc {} — chain {} block {}",
        d.url,
        truth.chain_id,
        truth.block_number
    );
    open_case(&mut d, scenario)?;
    inspect(&mut d, &truth)?;
    let safe = custody::ceremony(&mut d, &truth)?;
    custody::deploy(&mut d, &safe)?;
    sweep(&mut d, &truth, &safe)?;
    check_final(&mut d, &truth, &safe.address)?;
    let (liquidation, _) =
        anvil_account(LIQUIDATION_ACCOUNT).map_err(|e| anyhow!("liquidation account: {e}"))?;
    custody::pay_out(&mut d, &safe, &liquidation)?;
    custody::close_case(&mut d)?;
    if args.keep_running {
        keep_running(&lab)?;
    }
    Ok(())
}

/// Serves the node until SIGINT or SIGTERM, then stops it (a test or a trainee reads the chain
/// with other tools meanwhile).
fn keep_running(lab: &EthLab) -> anyhow::Result<()> {
    crate::signals::install();
    outln!("anvil still serving at {} (Ctrl-C to stop)", lab.rpc_url());
    lab.wait(&crate::STOP);
    Ok(())
}

fn open_case(d: &mut Demo, scenario: &str) -> anyhow::Result<()> {
    step(d, "open the case")?;
    let case = d.case.to_string_lossy().into_owned();
    let args_new = [
        "--network",
        "regtest",
        "case",
        "new",
        case.as_str(),
        "--case-id",
        CASE_ID,
        "--examiner",
        "demo-examiner",
    ];
    indent(&d.run(&d.custos, &args_new, None)?)?;
    let fixtures = custos_lab::fixtures_dir().join("lab").join(scenario);
    for f in ["seed.txt", "keystore.json", "keystore-password.txt"] {
        copy_secret(&fixtures.join(f), &d.work.join("seized").join(f))?;
    }
    Ok(())
}

/// Sweep build to the ceremony's Safe, signing once per material, broadcast.
fn sweep(d: &mut Demo, truth: &EthTruth, safe: &custody::Custody) -> anyhow::Result<()> {
    let ops = account(truth, "operations")?;
    step(
        d,
        "custos: sweep build to the custody Safe (gas funding first, tokens, then ether)",
    )?;
    let built = d.custos_json(&[
        "eth",
        "sweep",
        "build",
        "--inventory",
        "online/inv-seed.json",
        "--inventory",
        "online/inv-keystore.json",
        "--policy",
        safe.policy.as_str(),
        "--ops-account",
        ops.as_str(),
        "--out",
        "online/eth-sweep.json",
        "--rpc",
        d.url.as_str(),
    ])?;
    outln!(
        "  {} transaction(s), {} gas funding, {} token transfers",
        built["transactions"],
        built["gas_funding"],
        built["token_transfers"]
    );
    sign(d, &safe.policy)?;
    step(
        d,
        "custos: broadcast in nonce order, wait for receipts, compare balances",
    )?;
    let out = d.custos(&[
        "eth",
        "sweep",
        "broadcast",
        "offline/signed-seed.json",
        "offline/signed-keystore.json",
        "offline/signed-ops.json",
        "--rpc",
        d.url.as_str(),
    ])?;
    indent(&out)?;
    Ok(())
}

fn copy_secret(from: &Path, to: &Path) -> anyhow::Result<()> {
    let text = custos_core::file::read_text(from, custos_core::file::MATERIAL)?;
    write_secret_file(to, &text)
}

fn account(t: &EthTruth, id: &str) -> anyhow::Result<String> {
    Ok(t.account(id)
        .ok_or_else(|| anyhow!("truth has no account {id}"))?
        .address
        .clone())
}

/// Inspects the seed and the keystore and checks every seized account against the truth.
fn inspect(d: &mut Demo, truth: &EthTruth) -> anyhow::Result<()> {
    step(
        d,
        "custos: inspect the seized seed and keystore (one pinned block each)",
    )?;
    let mut tokens = Vec::new();
    for t in &truth.contracts.tokens {
        tokens.push("--token".to_string());
        tokens.push(t.address.clone());
    }
    let mut invs = Vec::new();
    for (input, extra, out) in [
        ("seized/seed.txt", vec![], "online/inv-seed.json"),
        (
            "seized/keystore.json",
            vec!["--password-file", "seized/keystore-password.txt"],
            "online/inv-keystore.json",
        ),
    ] {
        let mut a = vec![
            "--network",
            "ethereum",
            "inspect",
            input,
            "--rpc",
            d.url.as_str(),
            "--gap",
            "3",
            "--out",
            out,
        ];
        a.extend(extra);
        a.extend(tokens.iter().map(String::as_str));
        let inv = d.custos_json(&a)?;
        outln!(
            "  {input}: {} account(s) at block {}",
            inv["accounts"].as_array().map_or(0, Vec::len),
            inv["block"]["number"]
        );
        invs.push(inv);
    }
    for acc in truth.accounts.iter().filter(|a| a.seized) {
        let found = invs
            .iter()
            .flat_map(|i| i["accounts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["address"].as_str() == Some(acc.address.as_str()))
            .ok_or_else(|| {
                anyhow!(
                    "inspect did not find seized account {} ({})",
                    acc.id,
                    acc.address
                )
            })?;
        if found["eth_wei"].as_str() != Some(acc.eth_wei.as_str()) {
            bail!(
                "{}: inspect says {} wei, the truth {}",
                acc.id,
                found["eth_wei"],
                acc.eth_wei
            );
        }
        for (sym, units) in &acc.tokens {
            let got = found["tokens"].as_array().and_then(|ts| {
                ts.iter()
                    .find(|t| t["symbol"].as_str() == Some(sym.as_str()))
                    .cloned()
            });
            if got.as_ref().and_then(|t| t["units"].as_str()) != Some(units.as_str()) {
                bail!(
                    "{}: inspect says {sym} {:?}, the truth {units}",
                    acc.id,
                    got
                );
            }
        }
        outln!(
            "  {} {}: {} wei, {} token(s) — as the truth",
            acc.id,
            acc.address,
            acc.eth_wei,
            acc.tokens.len()
        );
    }
    Ok(())
}

/// Signs the set once per material; each run signs only its own senders (`--partial`).
fn sign(d: &mut Demo, policy: &str) -> anyhow::Result<()> {
    step(
        d,
        "custos-signer: check against the policy and sign, once per material",
    )?;
    write_secret_file(&d.work.join("offline/operations-seed.txt"), ANVIL_MNEMONIC)?;
    for (material, extra, out) in [
        ("seized/seed.txt", vec![], "offline/signed-seed"),
        (
            "seized/keystore.json",
            vec!["--password-file", "seized/keystore-password.txt"],
            "offline/signed-keystore",
        ),
        ("offline/operations-seed.txt", vec![], "offline/signed-ops"),
    ] {
        let mut a = vec![
            "eth",
            "sign",
            "online/eth-sweep.json",
            "--policy",
            policy,
            "--material",
            material,
            "--partial",
            "--out",
            out,
        ];
        a.extend(extra);
        let o = d.signer(&a, None)?;
        indent(
            &o.lines()
                .filter(|l| l.starts_with("signed"))
                .collect::<Vec<_>>()
                .join("\n"),
        )?;
    }
    Ok(())
}

/// `cast ARGS --rpc-url URL`: its whole output, trimmed.
fn cast_out(d: &Demo, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(tools_bin("cast"))
        .args(args)
        .args(["--rpc-url", d.url.as_str()])
        .output()
        .context("cannot run cast (tools/eth)")?;
    if !out.status.success() {
        bail!(
            "cast {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The first word of `cast`'s output (a number, without the `[4.9e20]` cast adds).
fn cast(d: &Demo, args: &[&str]) -> anyhow::Result<String> {
    Ok(cast_out(d, args)?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Reads the final balances with `cast` and compares them with the truth and the sweep.
fn check_final(d: &mut Demo, truth: &EthTruth, safe: &str) -> anyhow::Result<()> {
    step(d, "cast: final balances against the truth, exact")?;
    let safe = safe.to_string();
    let text = custos_core::file::read_text(
        &d.work.join("online/eth-sweep.json"),
        custos_core::file::INVENTORY,
    )?;
    let set: Value = serde_json::from_str(&text)?;
    let txs = set["txs"]
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("online/eth-sweep.json has no txs list"))?;
    let eth_sent: u128 = txs
        .iter()
        .filter(|t| t["purpose"] == "eth_transfer")
        .map(|t| {
            t["value"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("an ether transfer of the sweep has no value"))?
                .parse::<u128>()
                .map_err(anyhow::Error::from)
        })
        .sum::<anyhow::Result<u128>>()?;
    let got: u128 = cast(d, &["balance", &safe])?.parse()?;
    if got != eth_sent {
        bail!("safe holds {got} wei, the sweep sent {eth_sent}");
    }
    outln!("  safe ETH {got} wei = the sweep's ether transfers");
    for t in &truth.contracts.tokens {
        let held: u128 = truth
            .accounts
            .iter()
            .filter(|a| a.seized)
            .filter_map(|a| a.tokens.get(&t.symbol))
            .map(|u| u.parse::<u128>())
            .sum::<Result<u128, _>>()?;
        let fee = t.fee_bps.map_or(0, |bps| held * u128::from(bps) / 10_000);
        let want = held - fee;
        let got: u128 = cast(
            d,
            &["call", &t.address, "balanceOf(address)(uint256)", &safe],
        )?
        .parse()?;
        if got != want {
            bail!(
                "safe holds {got} {}, expected {want} ({held} seized − {fee} kept by the token)",
                t.symbol
            );
        }
        outln!(
            "  safe {} {got} units (seized {held}, kept by the token {fee})",
            t.symbol
        );
        for a in truth.accounts.iter().filter(|a| a.seized) {
            let left: u128 = cast(
                d,
                &[
                    "call",
                    &t.address,
                    "balanceOf(address)(uint256)",
                    &a.address,
                ],
            )?
            .parse()?;
            if left != 0 {
                bail!("{} still holds {left} {}", a.id, t.symbol);
            }
        }
    }
    Ok(())
}
