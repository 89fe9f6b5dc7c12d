//! `custos inspect` as a user runs it: malformed material is refused with exit 2 naming the
//! kind and the fault; against the lab, a scan recorded in a case replays offline and renders
//! a self-contained HTML report.

use custos_lab::{Lab, LabConfig};
use custos_testkit::{custos_bin, new_case, run, signer_next_to_custos};
use std::path::Path;
use std::process::Command;

#[test]
fn refuses_malformed_material_with_exit_2_naming_kind_and_fault() {
    let cases: &[(&str, &[&str])] = &[
        // An xpub with its last character changed: the base58 checksum fails.
        (
            "tpubDC8msFGeGuwnKG9Upg7DM2b4DaRqg3CUZa5g8v2SRQ6K4NSkxUgd7HsL2XVWbVm39yBA4LAxysQAm397zwQSQoQgewGiYZqrA9DsP4zbQ1N",
            &["checksum"],
        ),
        // A descriptor with a wrong checksum.
        (
            "wpkh(02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9)#aaaaaaaa",
            &["descriptor", "checksum"],
        ),
        // A bech32 address with a typo.
        ("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081", &["address"]),
        // Words that are no mnemonic at all.
        ("correct horse battery staple", &["material"]),
    ];
    for (input, needles) in cases {
        let (code, _, err) = run(custos_bin!().args([
            "--network",
            "regtest",
            "inspect",
            input,
            "--server",
            "127.0.0.1:9",
        ]));
        assert_eq!(code, 2, "{input}: {err}");
        let low = err.to_lowercase();
        for n in *needles {
            assert!(low.contains(n), "{input}: stderr lacks {n:?}: {err}");
        }
    }
}

#[test]
fn refuses_secret_material_on_the_online_side() {
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "inspect",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        "--server",
        "127.0.0.1:9",
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains("bip39 mnemonic") && err.contains("custos-signer"),
        "{err}"
    );
    assert!(!err.contains("abandon"), "the secret was echoed: {err}");
}

#[test]
fn unreachable_server_is_exit_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "inspect",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "2",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("retrying later may help"), "{err}");
}

#[test]
fn records_a_scan_in_the_case_replays_it_offline_and_renders_a_report() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let truth = lab.ground_truth().clone();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    custos_testkit::new_case(custos_bin!(), &case, "LAB-1");
    let xpub = custos_lab::fixtures_dir().join("lab/seized-mixed/xpub.txt");
    let inv_path = tmp.path().join("inventory.json");
    let (code, out, err) = run(custos_bin!().args([
        "--case",
        case.to_str().unwrap(),
        "--json",
        "inspect",
        xpub.to_str().unwrap(),
        "--server",
        &lab.url(),
        "--out",
        inv_path.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want: u64 = truth.wallet("watch").unwrap().balance_sat;
    let got = v["inventory"]["confirmed"].as_u64().unwrap()
        + v["inventory"]["unconfirmed"].as_u64().unwrap();
    assert_eq!(got, want);
    assert!(v["round_trips"].as_u64().unwrap() > 0);
    let file: custos_core::inventory::Inventory =
        serde_json::from_slice(&std::fs::read(&inv_path).unwrap()).unwrap();
    assert_eq!(file.confirmed.0 + file.unconfirmed.0, want);

    // The same scan replayed from the case, with the lab gone.
    drop(lab);
    let (code, out, err) = run(custos_bin!().args([
        "--case",
        case.to_str().unwrap(),
        "--json",
        "inspect",
        xpub.to_str().unwrap(),
        "--offline",
    ]));
    assert_eq!(code, 0, "{err}");
    let v2: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v2["inventory"]["utxos"], v["inventory"]["utxos"]);

    // Report: self-contained HTML with the inventory.
    let html_path = tmp.path().join("report.html");
    let (code, _, err) = run(custos_bin!().args([
        "--case",
        case.to_str().unwrap(),
        "inspect",
        "report",
        "--out",
        html_path.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<h2>Inventory</h2>"));
    assert!(html.contains(&want.to_string()));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"));

    // The ledger verifies and holds both scans with their evidence.
    let (code, out, err) =
        run(custos_bin!().args(["--case", case.to_str().unwrap(), "--json", "case", "log"]));
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let scans = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "inspect.scan")
        .count();
    assert_eq!(scans, 2);
    let (code, _, err) =
        run(custos_bin!().args(["--case", case.to_str().unwrap(), "case", "verify"]));
    assert_eq!(code, 0, "{err}");
}

/// A P2WPKH spend of `prev` (paid to `sk`'s key) to `to`, signed.
fn signed_spend(
    sk: &bitcoin::secp256k1::SecretKey,
    prev: bitcoin::OutPoint,
    prev_value: bitcoin::Amount,
    to: &bitcoin::Script,
) -> bitcoin::Transaction {
    use bitcoin::{
        secp256k1::{Message, Secp256k1},
        sighash::{EcdsaSighashType, SighashCache},
        transaction, Amount, CompressedPublicKey, ScriptBuf, Transaction, TxIn, TxOut, Witness,
    };
    let secp = Secp256k1::new();
    let pk = CompressedPublicKey(sk.public_key(&secp));
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            ..Default::default()
        }],
        output: vec![TxOut {
            value: prev_value - Amount::from_sat(1_000),
            script_pubkey: to.to_owned(),
        }],
    };
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &spk, prev_value, EcdsaSighashType::All)
        .unwrap();
    let sig = secp.sign_ecdsa(&Message::from(sighash), sk);
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[0].witness = Witness::p2wpkh(&sig, &pk.0);
    tx
}

#[test]
fn broadcasts_a_signed_transaction_and_watches_it_to_an_spv_checked_confirmation() {
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    // A test-only key, fixed so the test is reproducible.
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = bitcoin::CompressedPublicKey(sk.public_key(&secp));
    let spk = bitcoin::ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let amount = bitcoin::Amount::from_sat(250_000);
    let prev = lab.fund(&spk, amount).unwrap();
    lab.mine(1).unwrap();
    let tx = signed_spend(&sk, prev, amount, &spk);
    let hex_tx = hex::encode(bitcoin::consensus::serialize(&tx));

    // Unsigned input: refused before anything is sent.
    let mut unsigned = tx.clone();
    unsigned.input[0].witness = bitcoin::Witness::new();
    let (code, _, err) = run(custos_bin!().args([
        "broadcast",
        &hex::encode(bitcoin::consensus::serialize(&unsigned)),
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = run(custos_bin!().args(["broadcast", &hex_tx, "--server", &lab.url()]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), tx.compute_txid().to_string());
    // A double spend is a refusal (exit 1) with the server's reason.
    let double = signed_spend(
        &sk,
        prev,
        amount,
        &bitcoin::ScriptBuf::new_op_return([1u8; 4]),
    );
    let (code, _, err) = run(custos_bin!().args([
        "broadcast",
        &hex::encode(bitcoin::consensus::serialize(&double)),
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&double.compute_txid().to_string()), "{err}");

    lab.mine(2).unwrap();
    let (code, out, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "watch",
        &tx.compute_txid().to_string(),
        "--confirmations",
        "2",
        "--interval",
        "1",
        "--give-up-after",
        "30",
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 confirmation(s), SPV-verified"), "{out}");
    // Waiting for more confirmations than exist times out with exit 1.
    let (code, _, _) = run(custos_bin!().args([
        "--network",
        "regtest",
        "watch",
        &tx.compute_txid().to_string(),
        "--confirmations",
        "50",
        "--interval",
        "1",
        "--give-up-after",
        "1",
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 1);
}

/// Issue 11 item 4 with a case: the recording cache forwards the pipelined bundle (transactions,
/// merkle proofs, unspent lists and headers in one round trip) instead of asking part by part,
/// so `--case` costs no extra round trips; the recorded scan still replays offline.
#[test]
fn a_scan_recorded_in_a_case_costs_the_same_round_trips_as_one_without() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    new_case(custos_bin!(), &case, "LAB-RT");
    let xpub = custos_lab::fixtures_dir().join("lab/seized-mixed/xpub.txt");
    let scan = |with_case: bool, online: bool| {
        let mut c = custos_bin!();
        if with_case {
            c.args(["--case", case.to_str().unwrap()]);
        }
        c.args([
            "--network",
            "regtest",
            "--json",
            "inspect",
            xpub.to_str().unwrap(),
        ]);
        if online {
            c.args(["--server", &lab.url()]);
        } else {
            c.arg("--offline");
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let plain = scan(false, true);
    let recorded = scan(true, true);
    let trips = |v: &serde_json::Value| v["round_trips"].as_u64().unwrap();
    assert!(trips(&plain) > 0);
    assert!(plain["inventory"]["utxos"].as_array().unwrap().len() > 1);
    assert_eq!(
        trips(&recorded),
        trips(&plain),
        "round trips with --case vs without"
    );
    assert_eq!(recorded["inventory"]["utxos"], plain["inventory"]["utxos"]);
    let replayed = scan(true, false);
    assert_eq!(replayed["inventory"]["utxos"], plain["inventory"]["utxos"]);
}

#[test]
fn a_gap_of_zero_is_an_input_error_not_a_gap_of_one() {
    let xpub = custos_lab::fixtures_dir().join("lab/seized-mixed/xpub.txt");
    for flag in ["--gap", "--change-gap"] {
        let (code, _, err) = run(custos_bin!().args([
            "--network",
            "regtest",
            "inspect",
            xpub.to_str().unwrap(),
            flag,
            "0",
            "--server",
            "tcp://127.0.0.1:1",
        ]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("at least 1"), "{err}");
    }
}

/// The page's DOM after headless chromium ran it, with the console errors it logged.
fn rendered_dom(bin: &Path, page: &Path) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium failed: {o:?}");
    let errors = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), errors)
}

/// Issue 11 items 7 and 8: the case report's "What was seized" section (per material its
/// latest scan, the total split into spendable and watch-only, the evidence status) as a
/// browser renders it; the custody-path row has no template hole; `-q` silences progress and
/// progress written to a file carries no escape codes.
#[test]
fn the_case_report_says_what_was_seized_per_material_and_in_total() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let truth = lab.ground_truth().clone();
    let (seed_sat, watch_sat) = (
        truth.wallet("mixed").unwrap().balance_sat,
        truth.wallet("watch").unwrap().balance_sat,
    );
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    new_case(custos_bin!(), &case, "LAB-1");
    let dir = custos_lab::fixtures_dir().join("lab/seized-mixed");
    let seed_watch = tmp.path().join("seed-watch-only.json");
    let (code, _, err) = run(signer_next_to_custos!().args([
        "material",
        "watch-only",
        "--input",
        dir.join("seed.txt").to_str().unwrap(),
        "--network",
        "regtest",
        "--out",
        seed_watch.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let inspect = |input: &Path, extra: &[&str]| {
        let mut c = custos_bin!();
        c.env_remove("CUSTOS_NO_PROGRESS").args([
            "--case",
            case.to_str().unwrap(),
            "inspect",
            input.to_str().unwrap(),
            "--server",
            &lab.url(),
        ]);
        c.args(extra);
        run(&mut c)
    };
    // The xpub twice (its latest scan counts), the seed's watch-only once, quietly.
    let (code, _, err) = inspect(&dir.join("xpub.txt"), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("inspect: discovery round 1"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "escape codes in redirected stderr: {err:?}"
    );
    let (code, _, err) = inspect(&dir.join("xpub.txt"), &["-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "-q printed: {err}");
    let (code, out, err) = inspect(&seed_watch, &["-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("coverage: gap 20 receive / 10 change, accounts auto"),
        "{out}"
    );
    assert!(out.contains("only one server was asked"), "{out}");

    let page = tmp.path().join("report.html");
    let (code, _, err) = run(custos_bin!().args([
        "--case",
        case.to_str().unwrap(),
        "inspect",
        "report",
        "--out",
        page.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    let btc = |sat: u64| format!("{} BTC ({sat} sat)", custos_core::Sat(sat).to_btc_string());
    let expect = [
        "<h2>What was seized</h2>".to_string(),
        format!("Case total: <b>{}</b>", btc(seed_sat + watch_sat)),
        format!("spendable (private material held) {}", btc(seed_sat)),
        format!("watch-only {}", btc(watch_sat)),
        "<td>seed-watch-only.json</td>".to_string(),
        "<td>xpub.txt</td>".to_string(),
        "SPV-verified; one server".to_string(),
    ];
    for e in &expect {
        assert!(html.contains(e.as_str()), "report lacks {e}");
    }
    // One row per material, not per scan: three scans, two materials.
    let section = html.split("<h2>What was seized</h2>").nth(1).unwrap();
    let section = section.split("<h2>").next().unwrap();
    assert_eq!(section.matches("<tr>").count(), 3, "header + 2 materials");

    let (code, _, err) = run(custos_bin!().args([
        "--case",
        case.to_str().unwrap(),
        "case",
        "export",
        tmp.path().join("export").to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let full = std::fs::read_to_string(tmp.path().join("export/report.html")).unwrap();
    assert!(
        !full.contains("scan of  source"),
        "template hole in the custody path"
    );
    // The rendered rows, not the raw ledger table at the end (that one shows each event's
    // canonical JSON payload on purpose: it is what the hash chain covers).
    let rendered = full.split("<h2>Ledger</h2>").next().unwrap();
    assert!(
        !rendered.contains("[&quot;tcp://"),
        "server list printed as a JSON array"
    );
    assert!(
        full.contains(&format!("({})", lab.url())),
        "server named in the custody path"
    );

    let Some(bin) = custos_testkit::live_program("/usr/bin/chromium") else {
        return;
    };
    let (dom, errors) = rendered_dom(&bin, &page);
    assert!(errors.is_empty(), "console: {errors:?}");
    for e in &expect {
        assert!(dom.contains(e.as_str()), "rendered page lacks {e}");
    }
}
