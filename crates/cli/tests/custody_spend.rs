//! Issue 13 items 1–2 on the lab: seized coins swept into custody (wsh and tr policies), the
//! custody wallet inspected, a disposal order signed by an authority the policy names, `custos
//! custody spend` to a lab "exchange" address with change back to custody, signed by two
//! keyholder signer processes (each checking the order), combined, finalized, broadcast and
//! mined; the exchange gets exactly the order's amount and custody the exact change. The signer's
//! refusals (another amount, expired, a key outside the policy, used twice, an unlisted output)
//! exit 1 naming the output. The wsh spend is finalized by embit too (an independent PSBT
//! implementation; `CUSTOS_PYTHON` names a python with embit, skipped when it has none unless
//! `CUSTOS_REQUIRE_LIVE=1`).
//!
//! The authority's key enters the policy only through `custos disposal authority add` (its
//! record's proof of possession checked), and every keyholder's `ceremony verify` accepts that
//! policy. A re-custody (wsh → a new tr wallet → a new wsh wallet) is the same command with
//! `--to-policy`: signed without an order by two keyholders whose signer is given the new
//! policy, refused (exit 1, naming the output) by a signer that is not.

#![allow(clippy::print_stderr)] // a skipped independent check says so on stderr

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bitcoin::{OutPoint, Psbt, Transaction, Txid};
use custos_lab::{Lab, LabConfig};
use custos_testkit::custody::{
    add_authorities, authority, ceremony, inspect_custody, sweep_seized, test_address, Bins,
};
use custos_testkit::{bins, ok, run, s};

/// Submits a finalized transaction (hex) to the lab and mines it; returns its txid.
fn submit_and_mine(lab: &Lab, hex: &str) -> Txid {
    let tx: Transaction = bitcoin::consensus::encode::deserialize_hex(hex.trim()).unwrap();
    let txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    txid
}

/// The lab "exchange": a regtest P2WPKH address of a fixed key.
fn exchange_address(byte: u8) -> String {
    test_address(byte)
}

const NOW: &str = "2026-11-26T12:00:00Z";

/// `custos disposal order new` + `custos-signer disposal sign-order`; returns the signed order.
fn order(b: &Bins, d: &Path, name: &str, dest: &str, amount: u64, key: &Path) -> PathBuf {
    let unsigned = d.join(format!("{name}.json"));
    ok(b.custos().args([
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
    ok(b.signer()
        .args(["disposal", "sign-order", s(&unsigned), "--key", s(key)]));
    d.join(format!("{name}-signed.json"))
}

/// `custos custody spend`; returns the summary.
fn spend(
    b: &Bins,
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
    serde_json::from_str(&ok(b.custos().args(&args))).unwrap()
}

/// `custos-signer sign` of a copy of `psbt` by keyholder `holder`; returns (exit, stdout,
/// stderr, signed file).
#[allow(clippy::too_many_arguments)]
fn keyholder_sign(
    b: &Bins,
    psbt: &Path,
    copy: &str,
    mnemonic: &Path,
    policy: &Path,
    orders: &[&Path],
    to_policy: Option<&Path>,
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
    if let Some(p) = to_policy {
        args.extend(["--to-policy".to_string(), s(p).to_string()]);
    }
    std::fs::create_dir_all(state).unwrap();
    let (code, out, err) = run(b.signer().args(&args));
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
    b: Bins,
    d: PathBuf,
    policy: PathBuf,
    mnemonics: Vec<PathBuf>,
    inventory: PathBuf,
    order: PathBuf,
    other_key: PathBuf,
    auth_key: PathBuf,
    coin_value: u64,
}

/// Ceremony, authority (its record written into the policy by `custos disposal authority add`),
/// sweep into custody, inspection of custody, a signed order.
fn prepare(tmp: &Path, lab: &Lab, script: &str) -> Flow {
    let b = bins!();
    let d = tmp.to_path_buf();
    let wallet = ceremony(&b, &d, script, "custody", 1, None);
    let auth = authority(&b, &d, 0x41, "public prosecutor, case desk");
    let other = authority(&b, &d, 0x42, "not an authority");
    let policy = add_authorities(&b, &wallet.policy, &[&auth.record], None);
    // every keyholder accepts the new policy, its authority's proof checked
    for h in &wallet.holders {
        ok(b.signer().args([
            "ceremony",
            "verify",
            s(&policy),
            "--key-record",
            s(&h.record),
        ]));
    }
    let swept = sweep_seized(&b, &d, &lab.url(), &policy, None);
    let txid = submit_and_mine(lab, &swept.final_hex);
    let coin_value = swept.value;
    assert_eq!(
        lab.utxo(&OutPoint::new(txid, 0)).unwrap().value.to_sat(),
        coin_value
    );
    let inventory = inspect_custody(&b, &d, &lab.url(), &policy, "custody", None);
    let inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inventory).unwrap()).unwrap();
    assert_eq!(inv["utxos"].as_array().unwrap().len(), 1, "{inv}");
    assert_eq!(inv["utxos"][0]["value"].as_u64(), Some(coin_value));
    let order = order(
        &b,
        &d,
        "order",
        &exchange_address(0x51),
        1_500_000,
        &auth.key,
    );
    let (code, out, err) = run(b.custos().args([
        "disposal",
        "order",
        "verify",
        s(&order),
        "--policy",
        s(&policy),
        "--now",
        NOW,
    ]));
    assert_eq!(code, 0, "{out}{err}");
    Flow {
        b,
        d,
        policy,
        mnemonics: wallet.holders.into_iter().map(|h| h.mnemonic).collect(),
        inventory,
        order,
        other_key: other.key,
        auth_key: auth.key,
        coin_value,
    }
}

/// Two keyholders sign, combine, finalize, broadcast, mine; checks the exact amounts.
fn spend_and_mine(f: &Flow, lab: &Lab, script: &str) {
    let summary = spend(
        &f.b,
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
            &f.b,
            &psbt,
            &format!("spend-{n}"),
            &f.mnemonics[holder],
            &f.policy,
            &[&f.order],
            None,
            NOW,
            &state,
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("DISPOSAL ORDER ord-"), "{out}");
        assert!(out.contains("[CUSTODY 1/0]"), "{out}");
        signed.push(file);
    }
    let combined = f.d.join("spend-combined.psbt");
    ok(f.b.custos().args([
        "psbt",
        "combine",
        s(&signed[0]),
        s(&signed[1]),
        "--out",
        s(&combined),
    ]));
    let c = read_psbt(&combined);
    assert_eq!(c.proprietary.len(), 1, "the order's use is recorded once");
    ok(f.b.custos().args(["psbt", "finalize", s(&combined)]));
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
        &f.b,
        &f.d,
        "order-amount",
        &exchange_address(0x51),
        1_400_000,
        &f.auth_key,
    );
    refused(
        keyholder_sign(
            &f.b,
            &psbt,
            "r-amount",
            m,
            &f.policy,
            &[&other_amount],
            None,
            NOW,
            &st("a"),
        ),
        "output 0 (1500000 sat to",
    );
    // another address
    let other_addr = order(
        &f.b,
        &f.d,
        "order-addr",
        &exchange_address(0x52),
        1_500_000,
        &f.auth_key,
    );
    refused(
        keyholder_sign(
            &f.b,
            &psbt,
            "r-addr",
            m,
            &f.policy,
            &[&other_addr],
            None,
            NOW,
            &st("b"),
        ),
        "no order is for this address and amount",
    );
    // expired
    refused(
        keyholder_sign(
            &f.b,
            &psbt,
            "r-expired",
            m,
            &f.policy,
            &[&f.order],
            None,
            "2026-12-02T00:00:00Z",
            &st("c"),
        ),
        "expired",
    );
    // signed by a key not in the policy
    let foreign = order(
        &f.b,
        &f.d,
        "order-foreign",
        &exchange_address(0x51),
        1_500_000,
        &f.other_key,
    );
    refused(
        keyholder_sign(
            &f.b,
            &psbt,
            "r-foreign",
            m,
            &f.policy,
            &[&foreign],
            None,
            NOW,
            &st("d"),
        ),
        "not an authority",
    );
    // no order at all
    refused(
        keyholder_sign(
            &f.b,
            &psbt,
            "r-none",
            m,
            &f.policy,
            &[],
            None,
            NOW,
            &st("e"),
        ),
        "output 0",
    );
    // the order's output plus an unlisted one
    spend(
        &f.b,
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
            &f.b,
            &f.d.join("spend-extra.psbt"),
            "r-extra",
            m,
            &f.policy,
            &[&f.order],
            None,
            NOW,
            &st("f"),
        ),
        "output 0 (50000 sat to",
    );
    // used twice: the journal of a signer that signed the first spend refuses another tx
    spend(
        &f.b,
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
            &f.b,
            &again,
            "r-twice",
            &f.mnemonics[0],
            &f.policy,
            &[&f.order],
            None,
            NOW,
            &f.d.join("signer-state-0"),
        ),
        "used before: this signer's journal",
    );
    // ... and a psbt that carries the order's record for another tx is refused by any signer
    let first = read_psbt(&f.d.join("spend-0-signed.psbt"));
    let mut p = read_psbt(&again);
    p.proprietary = first.proprietary;
    let carried = f.d.join("spend-carried.psbt");
    std::fs::write(&carried, p.serialize()).unwrap();
    refused(
        keyholder_sign(
            &f.b,
            &carried,
            "r-carried",
            m,
            &f.policy,
            &[&f.order],
            None,
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

/// The first receive address of a wallet, as its BSMS record states it (line 4).
fn bsms_first_address(policy: &Path) -> String {
    let dir = policy.parent().unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let bsms = std::fs::read_to_string(dir.join(format!("{name}.bsms"))).unwrap();
    bsms.lines().nth(3).unwrap().trim().to_string()
}

/// One re-custody step: `custody spend --to-policy TO` of the single UTXO in `inv`, refused by a
/// keyholder's signer without `--to-policy`, signed by keyholders 0 and 2 with it, combined,
/// finalized, mined. Returns the new coin's value after checking amount and address exactly.
#[allow(clippy::too_many_arguments)]
fn recustody(
    b: &Bins,
    d: &Path,
    lab: &Lab,
    from: &Path,
    mnemonics: &[PathBuf],
    inv: &Path,
    to: &Path,
    value: u64,
) -> u64 {
    let tag = to
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let summary = spend(
        b,
        d,
        lab,
        from,
        inv,
        &["--to-policy", s(to)],
        &format!("to-{tag}"),
    );
    let psbt = d.join(format!("to-{tag}.psbt"));
    let outs = summary["spend"]["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 1, "everything moves: {summary}");
    assert_eq!(outs[0]["role"], "recustody");
    assert_eq!(
        outs[0]["address"],
        bsms_first_address(to),
        "the new wallet's first address"
    );
    let fee = summary["spend"]["fee"].as_u64().unwrap();
    let moved = outs[0]["value"].as_u64().unwrap();
    assert_eq!(moved + fee, value, "re-custody is exact");
    assert_eq!(summary["recustody_sat"], moved);
    assert_eq!(summary["disposed_sat"], 0);
    let state = d.join(format!("state-{tag}"));
    let (code, out, err, file) = keyholder_sign(
        b,
        &psbt,
        &format!("to-{tag}-plain"),
        &mnemonics[1],
        from,
        &[],
        None,
        NOW,
        &state,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(&format!("output 0 ({moved} sat to")), "{err}");
    assert!(!file.exists());
    let mut signed = Vec::new();
    for holder in [0usize, 2] {
        let (code, out, err, file) = keyholder_sign(
            b,
            &psbt,
            &format!("to-{tag}-{holder}"),
            &mnemonics[holder],
            from,
            &[],
            Some(to),
            NOW,
            &state,
        );
        assert_eq!(code, 0, "{out}{err}");
        signed.push(file);
    }
    let combined = d.join(format!("to-{tag}-combined.psbt"));
    ok(b.custos().args([
        "psbt",
        "combine",
        s(&signed[0]),
        s(&signed[1]),
        "--out",
        s(&combined),
    ]));
    ok(b.custos().args(["psbt", "finalize", s(&combined)]));
    let hex = std::fs::read_to_string(d.join(format!("to-{tag}-combined-final.txn"))).unwrap();
    let txid = submit_and_mine(lab, &hex);
    let coin = lab.utxo(&OutPoint::new(txid, 0)).unwrap();
    assert_eq!(coin.value.to_sat(), moved);
    let addr =
        bitcoin::Address::from_script(&coin.script_pubkey, bitcoin::Network::Regtest).unwrap();
    assert_eq!(addr.to_string(), bsms_first_address(to));
    moved
}

#[test]
fn recustody_moves_custody_from_wsh_to_a_new_taproot_wallet_and_on_to_a_new_wsh_wallet() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let b = bins!();
    let first = ceremony(&b, d, "wsh", "custody", 1, None);
    let swept = sweep_seized(&b, d, &lab.url(), &first.policy, None);
    submit_and_mine(&lab, &swept.final_hex);
    let inv = inspect_custody(&b, d, &lab.url(), &first.policy, "custody", None);
    let tr = ceremony(&b, d, "tr", "custodytr", 4, None);
    let words = |w: &custos_testkit::custody::Wallet| -> Vec<PathBuf> {
        w.holders.iter().map(|h| h.mnemonic.clone()).collect()
    };
    let v = recustody(
        &b,
        d,
        &lab,
        &first.policy,
        &words(&first),
        &inv,
        &tr.policy,
        swept.value,
    );
    let inv = inspect_custody(&b, d, &lab.url(), &tr.policy, "custodytr", None);
    let again = ceremony(&b, d, "wsh", "custodyb", 7, None);
    let last = recustody(&b, d, &lab, &tr.policy, &words(&tr), &inv, &again.policy, v);
    assert!(last < v && v < swept.value);
}
