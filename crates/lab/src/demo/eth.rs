//! `custos-lab demo --chain ethereum`: the Ethereum custody path on a fresh anvil through the
//! real binaries, files as the air gap:
//!
//! seized seed and keystore → inventory (inspect, pinned block) checked against the lab's
//! truth → custody policy for the lab's 2-of-3 Safe (address recomputed with CREATE2) → sweep
//! build (gas funding, USDT-style and fee-on-transfer tokens) → `custos-signer eth sign` once
//! per material (seed, keystore, operations account) → broadcast → final balances read with
//! `cast` and compared with what the truth and the sweep say, to the wei and token unit.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use custos_lab::eth::{tools_bin, EthLab, EthTruth, ANVIL_MNEMONIC};
use serde_json::Value;

use super::{indent, prepare_workdir, sibling_binary, write_secret_file, Demo, DemoArgs};

const STEPS: usize = 9;

fn step(d: &mut Demo, title: &str) {
    d.step += 1;
    println!();
    println!("[{}/{STEPS}] {title}", d.step);
}

/// Runs the Ethereum demo.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let scenario = if args.scenario == "seized-basic" {
        "eth-seized"
    } else {
        args.scenario.as_str()
    };
    let work = prepare_workdir(&args.workdir)?;
    println!("custos-lab demo --chain ethereum: seized seed and keystore to the custody Safe");
    println!("work directory: {}", work.display());
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
    step(&mut d, &format!("anvil up: scenario {scenario}"));
    println!(
        "  rpc {} — chain {} block {}",
        d.url, truth.chain_id, truth.block_number
    );
    step(&mut d, "open the case");
    let case = d.case.to_string_lossy().into_owned();
    let args_new = [
        "--network",
        "regtest",
        "case",
        "new",
        case.as_str(),
        "--case-id",
        "LAB-ETH-DEMO-1",
        "--examiner",
        "demo-examiner",
    ];
    indent(&d.run(&d.custos, &args_new, None)?);
    let fixtures = custos_lab::fixtures_dir().join("lab").join(scenario);
    copy_secret(&fixtures.join("seed.txt"), &d.work.join("seized/seed.txt"))?;
    copy_secret(
        &fixtures.join("keystore.json"),
        &d.work.join("seized/keystore.json"),
    )?;
    copy_secret(
        &fixtures.join("keystore-password.txt"),
        &d.work.join("seized/keystore-password.txt"),
    )?;
    inspect(&mut d, &truth)?;
    let policy = write_policy(&mut d, &truth)?;
    let ops = account(&truth, "operations")?;
    step(
        &mut d,
        "custos: sweep build (gas funding first, tokens, then ether)",
    );
    let built = d.custos_json(&[
        "eth",
        "sweep",
        "build",
        "--inventory",
        "online/inv-seed.json",
        "--inventory",
        "online/inv-keystore.json",
        "--policy",
        policy.as_str(),
        "--ops-account",
        ops.as_str(),
        "--out",
        "online/eth-sweep.json",
        "--rpc",
        d.url.as_str(),
    ])?;
    println!(
        "  {} transaction(s), {} gas funding, {} token transfers",
        built["transactions"], built["gas_funding"], built["token_transfers"]
    );
    sign(&mut d, &policy)?;
    step(
        &mut d,
        "custos: broadcast in nonce order, wait for receipts, compare balances",
    );
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
    indent(&out);
    check_final(&mut d, &truth)?;
    step(&mut d, "custos: verify the case ledger");
    indent(&d.custos(&["case", "verify"])?);
    println!(
        "\ndone. case ledger: custos --case {} case log",
        d.case.display()
    );
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
    );
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
        println!(
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
        println!(
            "  {} {}: {} wei, {} token(s) — as the truth",
            acc.id,
            acc.address,
            acc.eth_wei,
            acc.tokens.len()
        );
    }
    Ok(())
}

/// The custody policy for the lab's Safe, with its owners so the signer recomputes the address.
fn write_policy(d: &mut Demo, truth: &EthTruth) -> anyhow::Result<String> {
    step(
        d,
        "custody policy: the lab's 2-of-3 Safe (address recomputed with CREATE2)",
    );
    let safe = truth
        .safe
        .as_ref()
        .ok_or_else(|| anyhow!("the scenario deploys no Safe"))?;
    let policy = serde_json::json!({
        "format": "custos-eth-policy-v1", "name": "lab custody safe", "chain_id": truth.chain_id,
        "safe": safe.address, "max_fee_per_tx_wei": "10000000000000000",
        "safe_setup": {"owners": safe.owners, "threshold": safe.threshold, "salt_nonce": safe.salt_nonce,
            "factory": safe.factory, "singleton": safe.singleton, "fallback_handler": safe.fallback_handler},
    });
    let rel = "offline/custody-eth-policy.json";
    std::fs::write(d.work.join(rel), serde_json::to_vec_pretty(&policy)?)?;
    println!(
        "  safe {} owners {} threshold {}",
        safe.address,
        safe.owners.join(", "),
        safe.threshold
    );
    Ok(rel.to_string())
}

/// Signs the set once per material; each run signs only its own senders (`--partial`).
fn sign(d: &mut Demo, policy: &str) -> anyhow::Result<()> {
    step(
        d,
        "custos-signer: check against the policy and sign, once per material",
    );
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
        );
    }
    Ok(())
}

fn cast(d: &Demo, args: &[&str]) -> anyhow::Result<String> {
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
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.split_whitespace().next().unwrap_or_default().to_string())
}

/// Reads the final balances with `cast` and compares them with the truth and the sweep.
fn check_final(d: &mut Demo, truth: &EthTruth) -> anyhow::Result<()> {
    step(d, "cast: final balances against the truth, exact");
    let safe = truth
        .safe
        .as_ref()
        .ok_or_else(|| anyhow!("no safe"))?
        .address
        .clone();
    let text = custos_core::file::read_text(
        &d.work.join("online/eth-sweep.json"),
        custos_core::file::INVENTORY,
    )?;
    let set: Value = serde_json::from_str(&text)?;
    let txs = set["txs"].as_array().cloned().unwrap_or_default();
    let eth_sent: u128 = txs
        .iter()
        .filter(|t| t["purpose"] == "eth_transfer")
        .map(|t| t["value"].as_str().unwrap_or("0").parse::<u128>())
        .sum::<Result<u128, _>>()?;
    let got: u128 = cast(d, &["balance", &safe])?.parse()?;
    if got != eth_sent {
        bail!("safe holds {got} wei, the sweep sent {eth_sent}");
    }
    println!("  safe ETH {got} wei = the sweep's ether transfers");
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
        println!(
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
