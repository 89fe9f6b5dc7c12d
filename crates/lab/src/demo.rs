//! `custos-lab demo`: the whole custody path, end to end, on a fresh lab chain, through the real
//! `custos` and `custos-signer` binaries with files as the air gap:
//!
//! seized material → watch-only file (signer) → inventory (inspect, SPV-verified) → key ceremony
//! (three keyholders, 2-of-3) → sweep PSBTs → offline signing (signer, verify-then-sign) →
//! finalize → broadcast → mined → confirmations watched → custody balance checked → case
//! verified and exported with its HTML report.
//!
//! Everything it runs is printed, so a trainee can repeat each step by hand. The keyholders'
//! entropy files are written into the work directory because this is a training run on the lab
//! chain; a real ceremony uses `custos-signer key generate` interactively on air-gapped machines.

mod eth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use custos_lab::{fixtures_dir, GroundTruth, Lab, LabConfig};
use serde_json::Value;

/// `custos-lab demo` options.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Work directory for the case, the files crossing the air gap and the report (must not exist).
    #[arg(long, default_value = "demo-run")]
    pub workdir: PathBuf,
    /// Scenario whose seized material is swept.
    #[arg(long, default_value = "seized-basic")]
    pub scenario: String,
    /// Sweep fee rate in sat/vB (or `auto` to ask the lab's estimatefee).
    #[arg(long, default_value = "2")]
    pub fee_rate: String,
    /// Keep the lab running at the end (Ctrl-C to stop) to explore it with other tools.
    #[arg(long)]
    pub keep_running: bool,
    /// `bitcoin` (the lab chain) or `ethereum` (anvil; scenario eth-seized unless --scenario).
    #[arg(long, default_value = "bitcoin", value_parser = ["bitcoin", "ethereum"])]
    pub chain: String,
}

struct Demo {
    work: PathBuf,
    custos: PathBuf,
    signer: PathBuf,
    case: PathBuf,
    url: String,
    step: usize,
}

const STEPS: usize = 13;

impl Demo {
    fn step(&mut self, title: &str) -> anyhow::Result<()> {
        self.step += 1;
        outln!();
        outln!("[{}/{STEPS}] {title}", self.step);
        Ok(())
    }

    /// Runs a binary, printing the command; returns stdout. Fails on a non-zero exit.
    fn run(&self, bin: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let name = bin
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        outln!("  $ {name} {}", args.join(" "));
        let mut child = Command::new(bin)
            .args(args)
            .current_dir(&self.work)
            .env_remove("CUSTOS_CASE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().ok_or_else(|| anyhow!("no stdin pipe"))?;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!(
                "{name} {} failed with exit code {:?}:\n{}{}",
                args.join(" "),
                out.status.code(),
                stdout,
                stderr
            );
        }
        Ok(stdout)
    }

    fn custos(&self, args: &[&str]) -> anyhow::Result<String> {
        let case = self.case.to_string_lossy().into_owned();
        let mut full = vec!["--case", case.as_str()];
        full.extend_from_slice(args);
        self.run(&self.custos, &full, None)
    }

    fn custos_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let case = self.case.to_string_lossy().into_owned();
        let mut full = vec!["--case", case.as_str(), "--json"];
        full.extend_from_slice(args);
        let out = self.run(&self.custos, &full, None)?;
        serde_json::from_str(&out)
            .with_context(|| format!("custos {} printed no JSON", args.join(" ")))
    }

    fn signer(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        self.run(&self.signer, args, stdin)
    }
}

fn indent(text: &str) -> anyhow::Result<()> {
    for line in text.lines() {
        outln!("    {line}");
    }
    Ok(())
}

fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("no directory for {}", exe.display()))?;
    let p = dir.join(name);
    if !p.is_file() {
        bail!(
            "{} not found next to custos-lab; build all three binaries first: \
             cargo build -p custos-cli -p custos-signer -p custos-lab",
            p.display()
        );
    }
    Ok(p)
}

fn find_one(dir: &Path, prefix: &str, suffix: &str) -> anyhow::Result<PathBuf> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(prefix) && n.ends_with(suffix) {
            hits.push(e.path());
        }
    }
    hits.sort();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        n => bail!(
            "expected one {prefix}*{suffix} in {}, found {n}",
            dir.display()
        ),
    }
}

fn sat(v: &Value, key: &str) -> anyhow::Result<u64> {
    v.get(key)
        .and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
        .ok_or_else(|| anyhow!("missing integer field {key:?} in {v}"))
}

fn write_secret_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs the demo.
/// What the sweep build reported.
struct Sweep {
    fee: u64,
    left_out: u64,
    psbts: Vec<String>,
}

/// Runs the demo: each step below is one phase, in the order a case goes.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    if args.chain == "ethereum" {
        return eth::run(args);
    }
    let work = prepare_workdir(&args.workdir)?;
    outln!("custos-lab demo: the custody path end to end on the lab chain");
    outln!("work directory: {}", work.display());
    let scenario_dir = fixtures_dir().join("lab").join(&args.scenario);
    let lab = Lab::start(LabConfig {
        data_dir: Some(work.join("lab")),
        ..LabConfig::scenario(&args.scenario)
    })
    .map_err(|e| anyhow!("cannot start the lab: {e}"))?;
    let mut demo = Demo {
        case: work.join("case"),
        url: lab.url(),
        work,
        custos: sibling_binary("custos")?,
        signer: sibling_binary("custos-signer")?,
        step: 0,
    };
    demo.lab_up(&lab, &args.scenario, &scenario_dir)?;
    let truth = lab.ground_truth().clone();
    demo.open_case()?;
    let seed = demo.watch_only(&truth, &args.scenario, &scenario_dir)?;
    let found = demo.inspect_seized(&truth)?;
    let key_files = demo.key_ceremony(lab.tip_height())?;
    let receive = demo.assemble_custody(&key_files)?;
    let sweep = demo.build_sweep(&args.fee_rate)?;
    let signed = demo.sign_offline(&sweep.psbts, &seed)?;
    let txfiles = demo.finalize(&signed)?;
    let txids = demo.broadcast(&txfiles)?;
    demo.confirm(&lab, &txids)?;
    demo.check_custody(&receive, found, &sweep)?;
    demo.close_case()?;
    if args.keep_running {
        outln!("lab still serving at {} (Ctrl-C to stop)", demo.url);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    Ok(())
}

/// Creates the (new) work directory and its air-gap folders; returns its canonical path.
fn prepare_workdir(workdir: &Path) -> anyhow::Result<PathBuf> {
    if workdir.exists() {
        bail!(
            "{} already exists; the demo needs a fresh work directory (nothing was changed)",
            workdir.display()
        );
    }
    // Both binaries must be there before anything is created.
    sibling_binary("custos")?;
    sibling_binary("custos-signer")?;
    std::fs::create_dir_all(workdir)?;
    let work = workdir.canonicalize()?;
    for d in ["seized", "offline", "online", "ceremony"] {
        std::fs::create_dir_all(work.join(d))?;
    }
    Ok(work)
}

impl Demo {
    /// Step 1: the lab chain.
    fn lab_up(&mut self, lab: &Lab, scenario: &str, scenario_dir: &Path) -> anyhow::Result<()> {
        self.step(&format!("lab chain up: scenario {scenario}"))?;
        outln!(
            "  electrum server {} — tip height {}",
            self.url,
            lab.tip_height()
        );
        let handout = scenario_dir.join("handout.md");
        if let Ok(h) = custos_core::file::read_text(&handout, custos_core::file::SCENARIO_FILE) {
            indent(h.lines().take(12).collect::<Vec<_>>().join("\n").as_str())?;
        }
        Ok(())
    }

    /// Step 2: the case.
    fn open_case(&mut self) -> anyhow::Result<()> {
        self.step("open the case")?;
        let case = self.case.to_string_lossy().into_owned();
        let out = self.run(
            &self.custos,
            &[
                "--network",
                "regtest",
                "case",
                "new",
                &case,
                "--case-id",
                "LAB-DEMO-1",
                "--examiner",
                "demo-examiner",
            ],
            None,
        )?;
        indent(&out)?;
        Ok(())
    }

    /// Step 3: seized material → watch-only (offline). Returns the seed file's path.
    fn watch_only(
        &mut self,
        truth: &GroundTruth,
        scenario: &str,
        scenario_dir: &Path,
    ) -> anyhow::Result<String> {
        self.step("signer (offline): seized material -> watch-only file")?;
        let mut material = Vec::new();
        for w in truth.wallets.iter().filter(|w| w.seized) {
            for f in &w.material_files {
                let src = scenario_dir.join(f);
                let dst = self.work.join("seized").join(f);
                std::fs::copy(&src, &dst).with_context(|| format!("{}", src.display()))?;
                material.push(dst);
            }
        }
        let seed = material
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "seed.txt"))
            .cloned()
            .ok_or_else(|| {
                anyhow!("scenario {scenario} has no seed.txt among its seized material")
            })?;
        let seed = seed.to_string_lossy().into_owned();
        let out = self.signer(
            &[
                "material",
                "watch-only",
                "--input",
                &seed,
                "--network",
                "regtest",
                "--accounts",
                "2",
                "--out",
                "offline/watch-only.json",
            ],
            None,
        )?;
        indent(&out)?;
        Ok(seed)
    }

    /// Step 4: inspect (online). Returns the confirmed total found, checked against the scenario.
    fn inspect_seized(&mut self, truth: &GroundTruth) -> anyhow::Result<u64> {
        self.step("custos (online): discovery scan over every catalogue path, SPV-verified")?;
        self.custos_json(&[
            "inspect",
            "offline/watch-only.json",
            "--server",
            &self.url,
            "--out",
            "online/inventory.json",
        ])?;
        let inv = self.read_json("online/inventory.json")?;
        let found = sat(&inv, "confirmed")?;
        let utxos = inv["utxos"].as_array().map_or(0, Vec::len);
        outln!(
            "  found {utxos} UTXOs, {found} sat confirmed (scenario ground truth: {} UTXOs, {} sat); complete: {}",
            truth.seized_utxo_count, truth.seized_total_sat, inv["complete"]
        );
        if found != truth.seized_total_sat {
            bail!(
                "inventory total {found} sat differs from the scenario's {} sat",
                truth.seized_total_sat
            );
        }
        Ok(found)
    }

    /// Step 5: key ceremony: three keyholders on (simulated) separate air-gapped signers. Returns
    /// their key records.
    fn key_ceremony(&mut self, tip_height: u32) -> anyhow::Result<Vec<PathBuf>> {
        self.step("key ceremony: three keyholders generate keys on their signers")?;
        let challenge = format!("custos custody ceremony LAB-DEMO-1 at lab tip {tip_height}");
        std::fs::write(self.work.join("ceremony/challenge.txt"), &challenge)?;
        let mut key_files = Vec::new();
        for i in 1..=3 {
            key_files.push(self.keyholder(i)?);
        }
        Ok(key_files)
    }

    /// One keyholder's `key generate`, fed a training-only entropy file of fresh random bytes.
    fn keyholder(&self, i: u32) -> anyhow::Result<PathBuf> {
        let mut entropy = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut entropy);
        Ok(self.keyholder_from(i, &entropy)?.0)
    }

    /// Keyholder `i`'s `key generate` in `ceremony/keyholder-I`, fed `entropy` through a
    /// training-only file. Returns the key record and the keyholder's mnemonic.
    fn keyholder_from(&self, i: u32, entropy: &[u8]) -> anyhow::Result<(PathBuf, bip39::Mnemonic)> {
        let dir = self.work.join(format!("ceremony/keyholder-{i}"));
        std::fs::create_dir_all(&dir)?;
        let mnemonic = bip39::Mnemonic::from_entropy(entropy).map_err(|e| anyhow!("bip39: {e}"))?;
        // Training only: the entropy file stands in for the keyholder typing dice / the quiz.
        let entropy_file = dir.join("TRAINING-ONLY-entropy.hex");
        write_secret_file(&entropy_file, &hex::encode(entropy))?;
        let d = dir.to_string_lossy().into_owned();
        let ef = entropy_file.to_string_lossy().into_owned();
        let label = format!("keyholder {i}");
        let out = self.signer(
            &[
                "key",
                "generate",
                "--batch",
                "--words",
                "12",
                "--entropy-file",
                &ef,
                "--network",
                "regtest",
                "--out-dir",
                &d,
                "--label",
                &label,
                "--challenge-file",
                "ceremony/challenge.txt",
            ],
            Some(&format!("{mnemonic}\n")),
        )?;
        indent(&out)?;
        Ok((find_one(&dir, "key-", ".json")?, mnemonic))
    }

    /// The 2-of-3 custody wallet from the key records. Returns its receive descriptor.
    fn assemble_custody(&mut self, key_files: &[PathBuf]) -> anyhow::Result<String> {
        self.step("custos: assemble the 2-of-3 custody wallet from the key records")?;
        let mut a: Vec<String> = vec![
            "ceremony".into(),
            "assemble".into(),
            "--threshold".into(),
            "2".into(),
            "--out-dir".into(),
            "ceremony/custody".into(),
            "--challenge-file".into(),
            "ceremony/challenge.txt".into(),
            "--name".into(),
            "lab-custody".into(),
        ];
        a.extend(key_files.iter().map(|p| p.to_string_lossy().into_owned()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        indent(&self.custos(&refs)?)?;
        let policy = self.read_json("ceremony/custody/custody-policy.json")?;
        Ok(policy["receive_descriptor"]
            .as_str()
            .ok_or_else(|| anyhow!("custody policy without receive_descriptor"))?
            .to_string())
    }

    /// Step 6: sweep (online, unsigned).
    fn build_sweep(&mut self, fee_rate: &str) -> anyhow::Result<Sweep> {
        self.step("custos (online): build the sweep PSBTs to custody")?;
        let summary = self.custos_json(&[
            "sweep",
            "build",
            "--inventory",
            "online/inventory.json",
            "--custody",
            "ceremony/custody/custody-policy.json",
            "--fee-rate",
            fee_rate,
            "--server",
            &self.url,
            "--out-dir",
            "online/sweep",
        ])?;
        let fee = sat(&summary, "total_fee_sat")?;
        let to_custody = sat(&summary, "total_to_custody_sat")?;
        let left_out = sat(&summary, "left_out_total_sat")?;
        let txs = summary["transactions"].as_array().map_or(0, Vec::len);
        outln!("  {txs} transaction(s): {to_custody} sat to custody, fee {fee} sat, left out as uneconomic {left_out} sat");
        let psbts: Vec<String> = summary["files"]
            .as_array()
            .ok_or_else(|| anyhow!("sweep summary lists no files"))?
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        Ok(Sweep {
            fee,
            left_out,
            psbts,
        })
    }

    /// Step 7: offline signing. Returns the signed PSBTs' names.
    fn sign_offline(&mut self, psbts: &[String], seed: &str) -> anyhow::Result<Vec<String>> {
        self.step("signer (offline): verify every output against the custody policy, then sign")?;
        let mut signed = Vec::new();
        for p in psbts {
            let out = self.signer(
                &[
                    "sign",
                    p,
                    "--material",
                    seed,
                    "--policy",
                    "ceremony/custody/custody-policy.json",
                ],
                None,
            )?;
            indent(&out)?;
            signed.push(p.trim_end_matches(".psbt").to_string() + "-signed.psbt");
        }
        Ok(signed)
    }

    /// Finalize. Returns the extracted transactions' file names.
    fn finalize(&mut self, signed: &[String]) -> anyhow::Result<Vec<String>> {
        self.step("custos (online): finalize the signed PSBTs and extract the transactions")?;
        let mut txfiles = Vec::new();
        for s in signed {
            indent(&self.custos(&["psbt", "finalize", s])?)?;
            // Coldcard's naming: `<name>-signed.psbt` finalizes to `<name>-final.txn`.
            txfiles.push(s.trim_end_matches("-signed.psbt").to_string() + "-final.txn");
        }
        Ok(txfiles)
    }

    /// Broadcast. Returns the txids.
    fn broadcast(&mut self, txfiles: &[String]) -> anyhow::Result<Vec<String>> {
        self.step("custos (online): broadcast")?;
        let mut txids = Vec::new();
        for t in txfiles {
            let v = self.custos_json(&["broadcast", t, "--server", &self.url])?;
            let txid = v["txid"]
                .as_str()
                .ok_or_else(|| anyhow!("broadcast printed no txid: {v}"))?
                .to_string();
            outln!("  accepted by the lab's mempool: {txid}");
            txids.push(txid);
        }
        Ok(txids)
    }

    /// Mine and watch the confirmations.
    fn confirm(&mut self, lab: &Lab, txids: &[String]) -> anyhow::Result<()> {
        self.step("lab: mine a block; custos watches the confirmation (SPV-checked)")?;
        lab.mine(1).map_err(|e| anyhow!("mining failed: {e}"))?;
        for txid in txids {
            indent(&self.custos(&[
                "watch",
                txid,
                "--confirmations",
                "1",
                "--interval",
                "1",
                "--give-up-after",
                "60",
                "--server",
                &self.url,
            ])?)?;
        }
        Ok(())
    }

    /// The custody balance must be what was found less fees and what was left out; the
    /// seized wallet keeps only the left-out dust.
    fn check_custody(&mut self, receive: &str, found: u64, sweep: &Sweep) -> anyhow::Result<()> {
        self.step("custos (online): custody balance and the emptied seized wallet")?;
        std::fs::write(
            self.work.join("online/custody-descriptors.txt"),
            format!("{receive}\n"),
        )?;
        self.custos_json(&[
            "inspect",
            "online/custody-descriptors.txt",
            "--server",
            &self.url,
            "--out",
            "online/custody-inventory.json",
        ])?;
        let custody_balance = sat(
            &self.read_json("online/custody-inventory.json")?,
            "confirmed",
        )?;
        let (fee, left_out) = (sweep.fee, sweep.left_out);
        let expected = found
            .checked_sub(fee)
            .and_then(|v| v.checked_sub(left_out))
            .ok_or_else(|| anyhow!("fee and left-out amounts exceed the inventory total"))?;
        outln!(
            "  custody wallet holds {custody_balance} sat = seized {found} - fees {fee} - left out {left_out} = {expected} sat"
        );
        if custody_balance != expected {
            bail!("custody balance {custody_balance} sat differs from the expected {expected} sat");
        }
        self.custos_json(&[
            "inspect",
            "offline/watch-only.json",
            "--server",
            &self.url,
            "--out",
            "online/inventory-after.json",
        ])?;
        let after = self.read_json("online/inventory-after.json")?;
        outln!(
            "  seized wallet now holds {} sat (left-out dust only)",
            sat(&after, "confirmed")?
        );
        Ok(())
    }

    /// Verify the case ledger and export the report.
    fn close_case(&mut self) -> anyhow::Result<()> {
        self.step("custos: verify the case ledger and export the report")?;
        indent(&self.custos(&["case", "verify"])?)?;
        indent(&self.custos(&["case", "export", "report"])?)?;
        outln!();
        outln!(
            "done. report: {}",
            self.work.join("report/report.html").display()
        );
        outln!(
            "case ledger: custos --case {} case log",
            self.case.display()
        );
        Ok(())
    }

    /// A JSON file of the work directory (an inventory or a policy the demo's commands wrote;
    /// read with the inventory limit, the larger of the two).
    fn read_json(&self, rel: &str) -> anyhow::Result<Value> {
        let p = self.work.join(rel);
        let text = custos_core::file::read_text(&p, custos_core::file::INVENTORY)?;
        serde_json::from_str(&text).with_context(|| format!("{}", p.display()))
    }
}
