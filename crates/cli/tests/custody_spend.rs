//! Issue 13 items 1–2 on the lab: seized coins swept into custody (wsh and tr policies), the
//! custody wallet inspected, a disposal order signed by an authority the policy names, `custos
//! custody spend` to a lab "exchange" address with change back to custody, signed by two
//! keyholder signer processes (each checking the order), combined, finalized, broadcast and
//! mined; the exchange gets exactly the order's amount and custody the exact change. The signer's
//! refusals (another amount, expired, a key outside the policy, used twice, an unlisted output)
//! exit 1 naming the output. The wsh spend is finalized by embit too (an independent PSBT
//! implementation; `CUSTOS_PYTHON` names a python with embit, skipped when it has none unless
//! `CUSTOS_REQUIRE_LIVE=1`).

#![allow(clippy::print_stderr)] // a skipped independent check says so on stderr

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bitcoin::{OutPoint, Psbt, Transaction, Txid};
use custos_ceremony::mnemonic;
use custos_core::inventory::CustodyPolicy;
use custos_core::Secret;
use custos_lab::{Lab, LabConfig};

const CHALLENGE: &str = "LAB custody spend ceremony 2026-11-26";

fn custos() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_custos"));
    c.env_remove("CUSTOS_CASE")
        .env_remove("CUSTOS_SERVER")
        .env("CUSTOS_LOG", "error");
    c
}

/// The signer binary next to `custos` (built on demand: it belongs to another package).
fn signer() -> Command {
    let dir = Path::new(env!("CARGO_BIN_EXE_custos"))
        .parent()
        .unwrap()
        .to_path_buf();
    let bin = dir.join("custos-signer");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", "custos-signer"])
            .status()
            .unwrap();
        assert!(st.success(), "cannot build custos-signer");
    }
    let mut c = Command::new(bin);
    c.env("RUST_LOG", "error");
    c
}

fn run_in(c: &mut Command, stdin: Option<&str>) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(c: &mut Command) -> String {
    let (code, out, err) = run_in(c, None);
    assert_eq!(code, 0, "{c:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Fixed test entropy for keyholder `i` and its mnemonic.
fn entropy(i: u8) -> (String, String) {
    let hex: String = (0..32u8)
        .map(|b| {
            format!(
                "{:02x}",
                b.wrapping_mul(11).wrapping_add(i.wrapping_mul(29))
            )
        })
        .collect();
    let m = mnemonic::from_entropy(&Secret::new(hex::decode(&hex).unwrap())).unwrap();
    (hex, mnemonic::phrase(&m).expose_secret().clone())
}

/// `custos-signer key generate --script tr` for keyholder `i`; returns (key record, mnemonic
/// file for signing later).
fn generate(dir: &Path, i: u8, script: &str) -> (PathBuf, PathBuf) {
    let (hex, phrase) = entropy(i);
    let ent = dir.join(format!("entropy-{i}.hex"));
    std::fs::write(&ent, hex).unwrap();
    let words = dir.join(format!("TEST-ONLY-mnemonic-{i}.txt"));
    std::fs::write(&words, format!("{phrase}\n")).unwrap();
    let out = dir.join(format!("holder-{i}"));
    let (code, stdout, err) = run_in(
        signer().args([
            "--json",
            "key",
            "generate",
            "--batch",
            "--network",
            "regtest",
            "--script",
            script,
            "--entropy-file",
            ent.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--label",
            &format!("holder {i}"),
            "--challenge",
            CHALLENGE,
        ]),
        Some(&format!("{phrase}\n")),
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    (
        PathBuf::from(v["files"][0]["path"].as_str().unwrap()),
        words,
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three keys, the assembled 2-of-3 wallet (`wsh` or `tr`), verified on each signer.
fn ceremony(d: &Path, script: &str) -> (PathBuf, Vec<PathBuf>) {
    let gen: Vec<(PathBuf, PathBuf)> = (1..=3).map(|i| generate(d, i, script)).collect();
    let wallet = d.join("wallet");
    let mut args: Vec<String> = [
        "--network",
        "regtest",
        "ceremony",
        "assemble",
        "--script",
        script,
        "--threshold",
        "2",
        "--name",
        "custody",
        "--challenge",
        CHALLENGE,
    ]
    .map(String::from)
    .to_vec();
    args.extend(gen.iter().map(|(k, _)| k.display().to_string()));
    args.extend(["--out-dir".to_string(), wallet.display().to_string()]);
    ok(custos().args(&args));
    let policy = wallet.join("custody-policy.json");
    for (key, _) in &gen {
        ok(signer().args([
            "ceremony",
            "verify",
            s(&wallet.join("custody.bsms")),
            s(&policy),
            s(&wallet.join("custody.descriptor")),
            "--key-record",
            s(key),
        ]));
    }
    (policy, gen.into_iter().map(|(_, w)| w).collect())
}

/// Steps 3–4: inspect the lab's seized wallet, sweep it into custody, sign, finalize,
/// broadcast, mine. Returns the custody outpoint and its value.
fn sweep_into_custody(d: &Path, lab: &Lab, policy: &Path) -> (OutPoint, u64) {
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab/seized-basic/seed.txt");
    let watch = d.join("watch-only.json");
    ok(signer().args([
        "material",
        "watch-only",
        "--input",
        s(&seed),
        "--network",
        "regtest",
        "--out",
        s(&watch),
    ]));
    let inv = d.join("inventory.json");
    ok(custos().args([
        "--network",
        "regtest",
        "inspect",
        s(&watch),
        "--server",
        &lab.url(),
        "--out",
        s(&inv),
    ]));
    let sweep_dir = d.join("sweep");
    let summary: serde_json::Value = serde_json::from_str(&ok(custos().args([
        "--json",
        "--network",
        "regtest",
        "sweep",
        "build",
        "--inventory",
        s(&inv),
        "--custody",
        s(policy),
        "--fee-rate",
        "2",
        "--server",
        &lab.url(),
        "--out-dir",
        s(&sweep_dir),
    ])))
    .unwrap();
    let files = summary["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{summary}");
    let psbt = PathBuf::from(files[0].as_str().unwrap());
    ok(signer().args([
        "sign",
        s(&psbt),
        "--material",
        s(&seed),
        "--policy",
        s(policy),
    ]));
    let signed = sweep_dir.join("sweep-1-signed.psbt");
    ok(custos().args(["psbt", "finalize", s(&signed)]));
    let final_hex = std::fs::read_to_string(sweep_dir.join("sweep-1-final.txn")).unwrap();
    let tx: Transaction = bitcoin::consensus::encode::deserialize_hex(final_hex.trim()).unwrap();
    let txid: Txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    let value = summary["transactions"][0]["output_value"].as_u64().unwrap();
    let out = OutPoint::new(txid, 0);
    assert_eq!(lab.utxo(&out).unwrap().value.to_sat(), value);
    (out, value)
}

/// A TEST-ONLY authority key (WIF) written to a file; returns (key file, its address).
fn authority(d: &Path, byte: u8, name: &str) -> (PathBuf, String) {
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[byte; 32]).unwrap();
    let wif = bitcoin::PrivateKey::new(sk, bitcoin::NetworkKind::Test).to_wif();
    let path = d.join(format!("TEST-ONLY-{name}.wif"));
    std::fs::write(&path, format!("{wif}\n")).unwrap();
    let out = ok(signer().args([
        "disposal",
        "address",
        "--key",
        s(&path),
        "--network",
        "regtest",
    ]));
    (path, out.trim().to_string())
}

/// The policy with `authorities` added (a copy next to it).
fn with_authority(policy: &Path, address: &str) -> PathBuf {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(policy).unwrap()).unwrap();
    v["authorities"] = serde_json::json!([{"label": "prosecutor", "address": address}]);
    let out = policy.with_file_name("custody-policy-with-authority.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    out
}

/// The lab "exchange": a regtest P2WPKH address of a fixed key.
fn exchange_address(byte: u8) -> String {
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[byte; 32]).unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let pk = bitcoin::CompressedPublicKey(sk.public_key(&secp));
    bitcoin::Address::p2wpkh(&pk, bitcoin::Network::Regtest).to_string()
}

const NOW: &str = "2026-11-26T12:00:00Z";

/// `custos disposal order new` + `custos-signer disposal sign-order`; returns the signed order.
fn order(d: &Path, name: &str, dest: &str, amount: u64, key: &Path) -> PathBuf {
    let unsigned = d.join(format!("{name}.json"));
    ok(custos().args([
        "--network",
        "regtest",
        "disposal",
        "order",
        "new",
        "--case-id",
        "LAB-13",
        "--amount-sat",
        &amount.to_string(),
        "--destination",
        dest,
        "--reference",
        &format!("court order 13/2026 {name}"),
        "--not-before",
        "2026-11-01T00:00:00Z",
        "--not-after",
        "2026-12-01T00:00:00Z",
        "--issuer",
        "public prosecutor, case desk",
        "--out",
        s(&unsigned),
    ]));
    ok(signer().args(["disposal", "sign-order", s(&unsigned), "--key", s(key)]));
    d.join(format!("{name}-signed.json"))
}

/// The custody wallet's inventory: `custos inspect` of its receive and change descriptors.
fn inspect_custody(d: &Path, lab: &Lab, policy: &Path) -> PathBuf {
    let p: CustodyPolicy = serde_json::from_str(&std::fs::read_to_string(policy).unwrap()).unwrap();
    let descs = d.join("custody-descriptors.txt");
    std::fs::write(
        &descs,
        format!("{}\n{}\n", p.receive_descriptor, p.change_descriptor),
    )
    .unwrap();
    let inv = d.join("custody-inventory.json");
    ok(custos().args([
        "--network",
        "regtest",
        "inspect",
        s(&descs),
        "--server",
        &lab.url(),
        "--out",
        s(&inv),
    ]));
    inv
}

/// `custos custody spend`; returns the summary.
fn spend(
    d: &Path,
    lab: &Lab,
    policy: &Path,
    inv: &Path,
    extra: &[&str],
    name: &str,
) -> serde_json::Value {
    let out = d.join(format!("{name}.psbt"));
    let mut args: Vec<String> = [
        "--json",
        "--network",
        "regtest",
        "custody",
        "spend",
        "--custody",
        s(policy),
        "--inventory",
        s(inv),
        "--fee-rate",
        "2",
        "--server",
        &lab.url(),
        "--out",
        s(&out),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    serde_json::from_str(&ok(custos().args(&args))).unwrap()
}

/// `custos-signer sign` of a copy of `psbt` by keyholder `holder`; returns (exit, stdout,
/// stderr, signed file).
fn keyholder_sign(
    psbt: &Path,
    copy: &str,
    mnemonic: &Path,
    policy: &Path,
    orders: &[&Path],
    now: &str,
    state: &Path,
) -> (i32, String, String, PathBuf) {
    let path = psbt.with_file_name(format!("{copy}.psbt"));
    std::fs::copy(psbt, &path).unwrap();
    let mut args: Vec<String> = [
        "sign",
        s(&path),
        "--material",
        s(mnemonic),
        "--policy",
        s(policy),
        "--now",
        now,
        "--state-dir",
        s(state),
    ]
    .map(String::from)
    .to_vec();
    for o in orders {
        args.extend(["--order".to_string(), s(o).to_string()]);
    }
    std::fs::create_dir_all(state).unwrap();
    let (code, out, err) = run_in(signer().args(&args), None);
    (
        code,
        out,
        err,
        psbt.with_file_name(format!("{copy}-signed.psbt")),
    )
}

fn python() -> Option<String> {
    let py = std::env::var("CUSTOS_PYTHON").unwrap_or_else(|_| "python3".into());
    let has = Command::new(&py)
        .args(["-c", "import embit"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has {
        return Some(py);
    }
    assert!(
        std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() != Ok("1"),
        "embit is required (CUSTOS_PYTHON={py})"
    );
    eprintln!("skipping the embit check: {py} has no embit");
    None
}

/// embit parses the unsigned spend (fields a hardware signer needs) and, for wsh, finalizes
/// the combined PSBT into the same transaction custos finalized.
const EMBIT: &str = r#"
import sys, json
from embit.psbt import PSBT
from embit.finalizer import finalize_psbt
unsigned = PSBT.from_string(open(sys.argv[1]).read().strip())
out = {"xpubs": len(unsigned.xpubs), "inputs": [], "outputs": []}
for i in unsigned.inputs:
    out["inputs"].append({"bip32": len(i.bip32_derivations), "witness_script": i.witness_script is not None,
        "tap_bip32": len(i.taproot_bip32_derivations), "tap_scripts": len(i.taproot_scripts),
        "tap_internal_key": i.taproot_internal_key is not None, "non_witness_utxo": i.non_witness_utxo is not None})
for o in unsigned.outputs:
    out["outputs"].append({"bip32": len(o.bip32_derivations), "witness_script": o.witness_script is not None,
        "tap_bip32": len(o.taproot_bip32_derivations), "tap_internal_key": o.taproot_internal_key is not None})
if len(sys.argv) > 2:
    raw = open(sys.argv[2], "rb").read()
    combined = PSBT.parse(raw) if raw.startswith(b"psbt\xff") else PSBT.from_string(raw.decode().strip())
    tx = finalize_psbt(combined)
    out["final"] = tx.serialize().hex() if tx is not None else None
print(json.dumps(out))
"#;

fn embit_check(unsigned: &Path, combined: Option<&Path>) -> Option<serde_json::Value> {
    let py = python()?;
    let mut c = Command::new(py);
    c.args(["-c", EMBIT, s(unsigned)]);
    if let Some(p) = combined {
        c.arg(s(p));
    }
    let out = ok(&mut c);
    Some(serde_json::from_str(&out).unwrap())
}

struct Flow {
    d: PathBuf,
    policy: PathBuf,
    mnemonics: Vec<PathBuf>,
    inventory: PathBuf,
    order: PathBuf,
    other_key: PathBuf,
    auth_key: PathBuf,
    coin_value: u64,
}

/// Ceremony, authority, sweep into custody, inspection of custody, a signed order.
fn prepare(tmp: &Path, lab: &Lab, script: &str) -> Flow {
    let d = tmp.to_path_buf();
    let (policy, mnemonics) = ceremony(&d, script);
    let (auth_key, auth_addr) = authority(&d, 0x41, "authority");
    let (other_key, _) = authority(&d, 0x42, "not-an-authority");
    let policy = with_authority(&policy, &auth_addr);
    let (_, coin_value) = sweep_into_custody(&d, lab, &policy);
    let inventory = inspect_custody(&d, lab, &policy);
    let inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inventory).unwrap()).unwrap();
    assert_eq!(inv["utxos"].as_array().unwrap().len(), 1, "{inv}");
    assert_eq!(inv["utxos"][0]["value"].as_u64(), Some(coin_value));
    let order = order(&d, "order", &exchange_address(0x51), 1_500_000, &auth_key);
    let (code, out, err) = run_in(
        custos().args([
            "disposal",
            "order",
            "verify",
            s(&order),
            "--policy",
            s(&policy),
            "--now",
            NOW,
        ]),
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    Flow {
        d,
        policy,
        mnemonics,
        inventory,
        order,
        other_key,
        auth_key,
        coin_value,
    }
}

/// Two keyholders sign, combine, finalize, broadcast, mine; checks the exact amounts.
fn spend_and_mine(f: &Flow, lab: &Lab, script: &str) {
    let summary = spend(
        &f.d,
        lab,
        &f.policy,
        &f.inventory,
        &["--order", s(&f.order)],
        "spend",
    );
    let psbt = f.d.join("spend.psbt");
    let sp = &summary["spend"];
    let outs = sp["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 2, "{summary}");
    assert_eq!(outs[0]["address"], exchange_address(0x51));
    assert_eq!(outs[0]["value"], 1_500_000);
    assert_eq!(outs[1]["role"], "change");
    assert_eq!(outs[1]["custody_path"], "1/0");
    let fee = sp["fee"].as_u64().unwrap();
    let change = outs[1]["value"].as_u64().unwrap();
    assert_eq!(
        change + 1_500_000 + fee,
        f.coin_value,
        "custody change is exact"
    );
    let mut signed = Vec::new();
    for (n, holder) in [0usize, 2].into_iter().enumerate() {
        let state = f.d.join(format!("signer-state-{n}"));
        let (code, out, err, file) = keyholder_sign(
            &psbt,
            &format!("spend-{n}"),
            &f.mnemonics[holder],
            &f.policy,
            &[&f.order],
            NOW,
            &state,
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("DISPOSAL ORDER ord-"), "{out}");
        assert!(out.contains("[CUSTODY 1/0]"), "{out}");
        signed.push(file);
    }
    let combined = f.d.join("spend-combined.psbt");
    ok(custos().args([
        "psbt",
        "combine",
        s(&signed[0]),
        s(&signed[1]),
        "--out",
        s(&combined),
    ]));
    let c = read_psbt(&combined);
    assert_eq!(c.proprietary.len(), 1, "the order's use is recorded once");
    ok(custos().args(["psbt", "finalize", s(&combined)]));
    let hex = std::fs::read_to_string(f.d.join("spend-combined-final.txn")).unwrap();
    let tx: Transaction = bitcoin::consensus::encode::deserialize_hex(hex.trim()).unwrap();
    // the estimate the fee was paid on is the signed size or above (low-R: equal for ECDSA)
    assert!(
        tx.vsize() as u64 <= sp["vsize"].as_u64().unwrap(),
        "{} > {}",
        tx.vsize(),
        sp["vsize"]
    );
    if let Some(e) = embit_check(&psbt, (script == "wsh").then_some(combined.as_path())) {
        assert!(e["xpubs"].as_u64().unwrap() == 3, "{e}");
        let i0 = &e["inputs"][0];
        let ch = &e["outputs"][1];
        if script == "wsh" {
            assert_eq!(i0["bip32"], 3, "{e}");
            assert_eq!(i0["witness_script"], true, "{e}");
            assert_eq!(i0["non_witness_utxo"], true, "{e}");
            assert_eq!(ch["bip32"], 3, "{e}");
            assert_eq!(ch["witness_script"], true, "{e}");
            assert_eq!(
                e["final"].as_str(),
                Some(hex.trim()),
                "embit finalizes the same tx"
            );
        } else {
            // three keyholders and the NUMS internal key (BIP371 lists it with an empty origin)
            assert_eq!(i0["tap_bip32"], 4, "{e}");
            assert_eq!(i0["tap_scripts"], 1, "{e}");
            assert_eq!(i0["tap_internal_key"], true, "{e}");
            assert_eq!(ch["tap_bip32"], 4, "{e}");
            assert_eq!(ch["tap_internal_key"], true, "{e}");
        }
    }
    let txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    assert_eq!(
        lab.utxo(&OutPoint::new(txid, 0)).unwrap().value.to_sat(),
        1_500_000
    );
    assert_eq!(
        lab.utxo(&OutPoint::new(txid, 1)).unwrap().value.to_sat(),
        change
    );
}

/// A PSBT file, binary or base64.
fn read_psbt(p: &Path) -> Psbt {
    let b = std::fs::read(p).unwrap();
    if b.starts_with(b"psbt\xff") {
        return Psbt::deserialize(&b).unwrap();
    }
    let t = String::from_utf8(b).unwrap();
    t.trim().parse().unwrap()
}

fn refused(r: (i32, String, String, PathBuf), needle: &str) {
    let (code, out, err, file) = r;
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!file.exists(), "a refused psbt is not written");
}

/// The signer's refusals, each exit 1 naming the output.
fn refusals(f: &Flow, lab: &Lab) {
    let psbt = f.d.join("spend.psbt");
    let m = &f.mnemonics[1];
    let st = |n: &str| f.d.join(format!("state-{n}"));
    // another amount
    let other_amount = order(
        &f.d,
        "order-amount",
        &exchange_address(0x51),
        1_400_000,
        &f.auth_key,
    );
    refused(
        keyholder_sign(
            &psbt,
            "r-amount",
            m,
            &f.policy,
            &[&other_amount],
            NOW,
            &st("a"),
        ),
        "output 0 (1500000 sat to",
    );
    // another address
    let other_addr = order(
        &f.d,
        "order-addr",
        &exchange_address(0x52),
        1_500_000,
        &f.auth_key,
    );
    refused(
        keyholder_sign(&psbt, "r-addr", m, &f.policy, &[&other_addr], NOW, &st("b")),
        "no order is for this address and amount",
    );
    // expired
    refused(
        keyholder_sign(
            &psbt,
            "r-expired",
            m,
            &f.policy,
            &[&f.order],
            "2026-12-02T00:00:00Z",
            &st("c"),
        ),
        "expired",
    );
    // signed by a key not in the policy
    let foreign = order(
        &f.d,
        "order-foreign",
        &exchange_address(0x51),
        1_500_000,
        &f.other_key,
    );
    refused(
        keyholder_sign(&psbt, "r-foreign", m, &f.policy, &[&foreign], NOW, &st("d")),
        "not an authority",
    );
    // no order at all
    refused(
        keyholder_sign(&psbt, "r-none", m, &f.policy, &[], NOW, &st("e")),
        "output 0",
    );
    // the order's output plus an unlisted one
    spend(
        &f.d,
        lab,
        &f.policy,
        &f.inventory,
        &[
            "--order",
            s(&f.order),
            "--to",
            &format!("{}:50000", exchange_address(0x53)),
        ],
        "spend-extra",
    );
    refused(
        keyholder_sign(
            &f.d.join("spend-extra.psbt"),
            "r-extra",
            m,
            &f.policy,
            &[&f.order],
            NOW,
            &st("f"),
        ),
        "output 0 (50000 sat to",
    );
    // used twice: the journal of a signer that signed the first spend refuses another tx
    spend(
        &f.d,
        lab,
        &f.policy,
        &f.inventory,
        &["--order", s(&f.order), "--change-index", "5"],
        "spend-again",
    );
    let again = f.d.join("spend-again.psbt");
    refused(
        keyholder_sign(
            &again,
            "r-twice",
            &f.mnemonics[0],
            &f.policy,
            &[&f.order],
            NOW,
            &f.d.join("signer-state-0"),
        ),
        "used before: this signer's journal",
    );
    // ... and a psbt that carries the order's record for another tx is refused by any signer
    let first = read_psbt(&f.d.join("spend-0-signed.psbt"));
    let mut p = read_psbt(&again);
    p.proprietary = first.proprietary.clone();
    let carried = f.d.join("spend-carried.psbt");
    std::fs::write(&carried, p.serialize()).unwrap();
    refused(
        keyholder_sign(
            &carried,
            "r-carried",
            m,
            &f.policy,
            &[&f.order],
            NOW,
            &st("g"),
        ),
        "used before: the psbt records it",
    );
}

#[test]
fn wsh_custody_pays_an_exchange_under_a_signed_disposal_order_and_refuses_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let f = prepare(tmp.path(), &lab, "wsh");
    spend_and_mine(&f, &lab, "wsh");
    refusals(&f, &lab);
}

#[test]
fn taproot_custody_pays_an_exchange_under_a_signed_disposal_order() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let f = prepare(tmp.path(), &lab, "tr");
    spend_and_mine(&f, &lab, "tr");
}
