//! The custody key ceremony as users run it: keys made by separate `custos-signer` processes
//! with fixed test entropy, `custos ceremony assemble`, `custos-signer ceremony verify`, the
//! custody wallet funded on the lab chain and spent 2-of-3; and every bad input refused with
//! exit 2 naming the key or the file.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::bip32::Xpriv;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{
    absolute, transaction, Amount, OutPoint, Psbt, Sequence, Transaction, TxIn, TxOut, Witness,
};
use custos_ceremony::keys::{derive_account, ScriptKind};
use custos_ceremony::{mnemonic, record};
use custos_core::inventory::CustodyPolicy;
use custos_core::{Network, Secret};
use custos_lab::{Lab, LabConfig};
use custos_testkit::{custos_bin, run, run_with_stdin, signer_next_to_custos};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
use miniscript::psbt::PsbtExt;

const CHALLENGE: &str = "LAB-7 custody ceremony 2026-11-25";

/// Fixed test entropy for keyholder `i` and its mnemonic.
fn entropy(i: u8) -> (String, String) {
    let hex: String = (0..32u8)
        .map(|b| format!("{:02x}", b.wrapping_mul(7).wrapping_add(i.wrapping_mul(31))))
        .collect();
    let m = mnemonic::from_entropy(&Secret::new(hex::decode(&hex).unwrap())).unwrap();
    (hex, mnemonic::phrase(&m).expose_secret().clone())
}

/// Runs `custos-signer key generate --batch` for keyholder `i`; returns the key record path.
fn generate(dir: &Path, i: u8, network: &str, script: &str) -> PathBuf {
    let (hex, phrase) = entropy(i);
    let ent = dir.join(format!("entropy-{i}.hex"));
    std::fs::write(&ent, hex).unwrap();
    let out = dir.join(format!("holder-{i}-{network}-{script}"));
    let (code, stdout, err) = run_with_stdin(
        signer_next_to_custos!().args([
            "--json",
            "key",
            "generate",
            "--batch",
            "--network",
            network,
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
        &format!("{phrase}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !stdout.contains(&phrase) && !err.contains(&phrase),
        "mnemonic leaked"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    PathBuf::from(v["files"][0]["path"].as_str().unwrap())
}

fn assemble(keys: &[&Path], k: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = vec![
        "--network".into(),
        "regtest".into(),
        "ceremony".into(),
        "assemble".into(),
        "--threshold".into(),
        k.into(),
    ];
    args.extend(keys.iter().map(|p| p.display().to_string()));
    args.extend(["--out-dir".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    run(custos_bin!().args(&args))
}

#[test]
fn signer_quiz_failure_writes_nothing_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let (hex, _) = entropy(1);
    let (_, other) = entropy(2);
    let ent = tmp.path().join("e.hex");
    std::fs::write(&ent, hex).unwrap();
    let out = tmp.path().join("k");
    let (code, _, err) = run_with_stdin(
        signer_next_to_custos!().args([
            "key",
            "generate",
            "--batch",
            "--entropy-file",
            ent.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--challenge",
            CHALLENGE,
        ]),
        &format!("{other}\n"),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("quiz"), "{err}");
    assert!(std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0) == 0);
}

#[test]
fn signer_refuses_too_few_coldcard_dice_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run_with_stdin(
        signer_next_to_custos!().args([
            "key",
            "generate",
            "--batch",
            "--coldcard-dice",
            "--words",
            "12",
            "--out-dir",
            tmp.path().join("k").to_str().unwrap(),
            "--challenge",
            CHALLENGE,
        ]),
        &format!("{}\n", "3".repeat(49)),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 50"), "{err}");
}

#[test]
fn refuses_bad_ceremony_inputs_naming_the_key_or_file() {
    // Refusals (duplicate key, failed proof, another challenge) exit 1 as README promises
    // (issue 10 item 2; they exited 2); bad input (network, K and N, script, checksum) exits 2.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let k1 = generate(d, 1, "regtest", "wsh");
    let k2 = generate(d, 2, "regtest", "wsh");
    let k3 = generate(d, 3, "regtest", "wsh");
    let fp = |p: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["fingerprint"].as_str().unwrap().to_string()
    };

    // Duplicate key.
    let (code, _, err) = assemble(&[&k1, &k2, &k1], "2", &d.join("o1"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("duplicate") && err.contains(&fp(&k1)), "{err}");

    // Wrong network: a mainnet key in a regtest ceremony.
    let kmain = generate(d, 4, "bitcoin", "wsh");
    let (code, _, err) = assemble(&[&k1, &k2, &kmain], "2", &d.join("o2"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&kmain.display().to_string()) && err.contains("bitcoin"),
        "{err}"
    );

    // Failed proof: the signature replaced by another keyholder's.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&k3).unwrap()).unwrap();
    let other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&k2).unwrap()).unwrap();
    let tampered = d.join("tampered.json");
    v["proof"]["signature"] = other["proof"]["signature"].clone();
    std::fs::write(&tampered, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let (code, _, err) = assemble(&[&k1, &k2, &tampered], "2", &d.join("o3"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("tampered.json") && err.contains("proof"),
        "{err}"
    );

    // A proof over another ceremony's challenge.
    let (code, _, err) = assemble(
        &[&k1, &k2, &k3],
        "2",
        &d.join("o3b"),
        &["--challenge", "some other ceremony"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("challenge"), "{err}");

    // K > N.
    let (code, _, err) = assemble(&[&k1, &k2, &k3], "4", &d.join("o4"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("k = 4") && err.contains("n = 3"), "{err}");

    // More than 15 keys for wsh sortedmulti (16 distinct proven records made with the library).
    let secp = Secp256k1::new();
    let many: Vec<PathBuf> = (0..16u8)
        .map(|i| {
            let (hex, _) = entropy(100 + i);
            let m = mnemonic::from_entropy(&Secret::new(hex::decode(hex).unwrap())).unwrap();
            let seed = mnemonic::seed(&m, None);
            let acct = derive_account(
                &secp,
                &seed,
                Network::Regtest,
                &ScriptKind::Wsh.account_path(Network::Regtest),
            )
            .unwrap();
            let g = record::make_record(
                &secp,
                &acct,
                Network::Regtest,
                ScriptKind::Wsh,
                &format!("m{i}"),
                CHALLENGE,
                "2026-11-25T00:00:00.000Z",
            )
            .unwrap();
            let p = d.join(format!("many-{i}.json"));
            std::fs::write(&p, serde_json::to_string(&g.record).unwrap()).unwrap();
            p
        })
        .collect();
    let refs: Vec<&Path> = many.iter().map(|p| p.as_path()).collect();
    let (code, _, err) = assemble(&refs, "2", &d.join("o5"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("16 keys") && err.contains("15"), "{err}");
    // Taproot multi_a would take 16 keys, but these were made for the wsh path.
    let (code, _, err) = assemble(&refs, "2", &d.join("o6"), &["--script", "tr"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("made for wsh"), "{err}");

    // Wrong descriptor checksum, given to the signer's verify.
    let (code, _, err) = assemble(&[&k1, &k2, &k3], "2", &d.join("ok"), &[]);
    assert_eq!(code, 0, "{err}");
    let desc_file = std::fs::read_dir(d.join("ok"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "descriptor"))
        .unwrap();
    let text = std::fs::read_to_string(&desc_file).unwrap();
    let first = text.lines().next().unwrap();
    let (body, sum) = first.split_once('#').unwrap();
    let flipped: String = sum.chars().rev().collect();
    let bad = d.join("bad-checksum.descriptor");
    std::fs::write(&bad, format!("{body}#{flipped}\n")).unwrap();
    let (code, _, err) = run(signer_next_to_custos!().args([
        "ceremony",
        "verify",
        bad.to_str().unwrap(),
        "--key-record",
        k1.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad-checksum.descriptor") && err.contains("checksum"),
        "{err}"
    );
    // And a key that is not in the wallet is refused with exit 1.
    let k5 = generate(d, 5, "regtest", "wsh");
    let (code, _, err) = run(signer_next_to_custos!().args([
        "ceremony",
        "verify",
        desc_file.to_str().unwrap(),
        "--key-record",
        k5.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not appear"), "{err}");
}

fn xpriv_of(i: u8) -> Xpriv {
    let (hex, _) = entropy(i);
    let m = mnemonic::from_entropy(&Secret::new(hex::decode(hex).unwrap())).unwrap();
    let seed = mnemonic::seed(&m, None);
    Xpriv::new_master(bitcoin::Network::Regtest, seed.expose_secret()).unwrap()
}

#[test]
fn three_signer_keys_make_a_2_of_3_wallet_that_receives_and_spends_on_the_lab_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Three keyholders, three separate signer processes.
    let keys: Vec<PathBuf> = (1..=3).map(|i| generate(d, i, "regtest", "wsh")).collect();
    // A case records the assembly and the transcripts.
    let case = d.join("case");
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "case",
        "new",
        case.to_str().unwrap(),
        "--case-id",
        "LAB-7",
        "--examiner",
        "tester",
    ]));
    assert_eq!(code, 0, "{err}");
    let out = d.join("wallet");
    let mut args = vec!["--case".to_string(), case.display().to_string()];
    args.extend(
        [
            "--json",
            "--network",
            "regtest",
            "ceremony",
            "assemble",
            "--threshold",
            "2",
            "--name",
            "LAB-7 custody",
            "--challenge",
            CHALLENGE,
        ]
        .map(String::from),
    );
    args.extend(keys.iter().map(|p| p.display().to_string()));
    args.extend(["--out-dir".to_string(), out.display().to_string()]);
    let (code, stdout, err) = run(custos_bin!().args(&args));
    assert_eq!(code, 0, "{err}");
    let res: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(res["ledger_seq"].as_u64().unwrap() >= 2);
    let first_addr = res["first_receive_addresses"][0]
        .as_str()
        .unwrap()
        .to_string();

    // Each keyholder verifies on their own signer: own key once, same first address.
    for k in &keys {
        let (code, stdout, err) = run(signer_next_to_custos!().args([
            "--json",
            "ceremony",
            "verify",
            out.join("LAB-7-custody.bsms").to_str().unwrap(),
            out.join("custody-policy.json").to_str().unwrap(),
            out.join("LAB-7-custody.descriptor").to_str().unwrap(),
            "--key-record",
            k.to_str().unwrap(),
        ]));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            v["membership"]["first_addresses"][0].as_str().unwrap(),
            first_addr
        );
        assert_eq!(v["membership"]["n"], 3);
        // The transcript goes into the case.
        let t = k.parent().unwrap().join("ceremony-transcript.jsonl");
        let (code, _, err) = run(custos_bin!().args([
            "--case",
            case.to_str().unwrap(),
            "ceremony",
            "import-transcript",
            t.to_str().unwrap(),
        ]));
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) =
        run(custos_bin!().args(["--case", case.to_str().unwrap(), "case", "verify"]));
    assert_eq!(code, 0, "{err}");

    // The custody policy file.
    let policy: CustodyPolicy =
        serde_json::from_str(&std::fs::read_to_string(out.join("custody-policy.json")).unwrap())
            .unwrap();
    assert_eq!(policy.format, "custos-custody-policy-v1");
    assert_eq!(
        (policy.threshold, policy.keys.len(), policy.next_index),
        (2, 3, 0)
    );
    let receive = Descriptor::<DescriptorPublicKey>::from_str(&policy.receive_descriptor).unwrap();

    // Fund the first receive address on the lab chain.
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let secp = Secp256k1::new();
    let def0 = receive.at_derivation_index(0).unwrap();
    assert_eq!(
        def0.address(bitcoin::Network::Regtest).unwrap().to_string(),
        first_addr
    );
    let funding = lab
        .fund(&def0.script_pubkey(), Amount::from_sat(1_000_000))
        .unwrap();
    let prev_raw = lab.raw_transaction(&funding.txid).unwrap();
    let prev: Transaction = bitcoin::consensus::deserialize(&prev_raw).unwrap();

    // Spend it 2-of-3 to receive index 1.
    let def1 = receive.at_derivation_index(1).unwrap();
    let unsigned = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: funding,
            script_sig: Default::default(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1_000_000 - 2_000),
            script_pubkey: def1.script_pubkey(),
        }],
    };
    let mut psbt = Psbt::from_unsigned_tx(unsigned).unwrap();
    psbt.inputs[0].witness_utxo = Some(prev.output[funding.vout as usize].clone());
    psbt.inputs[0].non_witness_utxo = Some(prev);
    psbt.update_input_with_descriptor(0, &def0).unwrap();
    assert!(psbt.inputs[0].witness_script.is_some());
    assert_eq!(psbt.inputs[0].bip32_derivation.len(), 3);

    // One signature is not enough.
    let mut one = psbt.clone();
    one.sign(&xpriv_of(1), &secp).unwrap();
    assert!(one.clone().finalize_mut(&secp).is_err());

    // Keyholders 1 and 3 sign.
    psbt.sign(&xpriv_of(1), &secp).unwrap();
    psbt.sign(&xpriv_of(3), &secp).unwrap();
    assert_eq!(psbt.inputs[0].partial_sigs.len(), 2);
    psbt.finalize_mut(&secp).unwrap();
    let tx = psbt.extract_tx().unwrap();
    let txid = lab.submit_tx(&tx).unwrap();
    lab.mine(1).unwrap();
    let spent_to = OutPoint::new(txid, 0);
    let utxo = lab.utxo(&spent_to).expect("the 2-of-3 spend is confirmed");
    assert_eq!(utxo.value, Amount::from_sat(998_000));
    assert!(lab.utxo(&funding).is_none());
}
