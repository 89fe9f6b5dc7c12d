//! The seed corpus: most of it is copied from fixtures/ (see fuzz/README.md); the inputs no fixture
//! holds (ledger rows, JSON key records, Coldcard exports, Electrum replies, label CSV, descriptor
//! lines) are written by `write_generated_seeds` from test vectors through custos' own code, so
//! they are real outputs, not hand-made. Regenerate with
//! `cargo test --test seeds -- --ignored write_generated_seeds`.

use std::path::PathBuf;

use bitcoin::{consensus::serialize, secp256k1::Secp256k1};
use custos_ceremony::{keys::derive_account, mnemonic, record, ScriptKind};
use custos_core::{
    inventory::CustodyPolicy,
    ledger::{chain_event, verify_chain, Context, Event, EventDraft},
    Network, Secret,
};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(target: &str) -> PathBuf {
    root().join("corpus").join(target)
}

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(root().join("../fixtures").join(rel)).expect("fixture is readable")
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), data).expect("corpus file");
}

/// Three chained ledger events made by `chain_event`, as `case export` writes them.
fn ledger_rows() -> Vec<Event> {
    let ctx = |t: &str| Context {
        examiner: "examiner-1".into(),
        host: "workstation".into(),
        command: "custos case create --id CASE-1".into(),
        time: t.into(),
    };
    let drafts = [
        EventDraft::new(
            "case.created",
            json!({"case_id": "CASE-1", "network": "regtest"}),
        ),
        EventDraft::new(
            "inspect.scan",
            json!({"scripts": 40, "funded": [{"address": "bcrt1q", "sat": 5000}]}),
        )
        .with_artifacts([
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string(),
        ]),
        EventDraft::new(
            "sweep.build",
            json!({"psbts": 1, "fee_sat": 1410, "nested": {"b": [1, 2], "a": null}}),
        ),
    ];
    let mut rows: Vec<Event> = Vec::new();
    for (i, d) in drafts.into_iter().enumerate() {
        let e = chain_event(rows.last(), &ctx(&format!("2026-11-25T10:00:0{i}.000Z")), d);
        rows.push(e);
    }
    rows
}

fn write_ledger() {
    let rows = ledger_rows();
    let jsonl: String = rows
        .iter()
        .map(|e| serde_json::to_string(e).expect("event serializes") + "\n")
        .collect();
    write("ledger", "chain-3.jsonl", jsonl.as_bytes());
}

/// A JSON key record and its BSMS twin from the BIP84 vector mnemonic, and the two Coldcard
/// export shapes of the same account.
fn write_key_records() {
    let secp = Secp256k1::new();
    let v: Value = serde_json::from_str(&fixture("vectors/bip84.json")).expect("json");
    let phrase = v["mnemonic"].as_str().expect("mnemonic").to_string();
    let m = mnemonic::parse(&Secret::new(phrase)).expect("vector mnemonic");
    let seed = mnemonic::seed(&m, None);
    for (net, script, tag) in [
        (Network::Regtest, ScriptKind::Wsh, "regtest-wsh"),
        (Network::Bitcoin, ScriptKind::Tr, "bitcoin-tr"),
    ] {
        let path = script.account_path(net);
        let acct = derive_account(&secp, &seed, net, &path).expect("derive");
        let rec = record::make_record(
            &secp,
            &acct,
            net,
            script,
            "keyholder 1",
            "challenge-1234",
            "2026-11-25T10:00:00Z",
        )
        .expect("record");
        let json = serde_json::to_string_pretty(&rec.record).expect("record serializes");
        write("key_record", &format!("record-{tag}.json"), json.as_bytes());
        write(
            "key_record",
            &format!("record-{tag}.bsms"),
            rec.bsms.as_bytes(),
        );
        write("bsms", &format!("record-{tag}.bsms"), rec.bsms.as_bytes());
        let xfp = acct.fingerprint.to_string().to_ascii_uppercase();
        let deriv = format!("m/{}", acct.path.to_string().trim_start_matches("m/"));
        let generic = json!({
            "chain": if net == Network::Bitcoin { "BTC" } else { "XTN" }, "xfp": xfp, "account": 0,
            "bip48_2": {"name": "p2wsh", "xfp": xfp, "deriv": deriv, "xpub": acct.xpub.to_string()}
        });
        write(
            "key_record",
            &format!("coldcard-generic-{tag}.json"),
            generic.to_string().as_bytes(),
        );
        let multisig =
            json!({"xfp": xfp, "account": 0, "p2wsh_deriv": deriv, "p2wsh": acct.xpub.to_string()});
        write(
            "key_record",
            &format!("coldcard-multisig-{tag}.json"),
            multisig.to_string().as_bytes(),
        );
    }
    let ur: Value =
        serde_json::from_str(&fixture("ceremony/ur_crypto_account.json")).expect("json");
    write(
        "key_record",
        "ur-crypto-account.txt",
        ur["ur"].as_str().expect("ur").as_bytes(),
    );
}

/// Descriptor lines: the custody policies' descriptors and the inventories' descriptors.
fn write_descriptors() {
    for name in ["custody-wsh", "custody-tr"] {
        let p: CustodyPolicy =
            serde_json::from_str(&fixture(&format!("psbt/interop/{name}.policy.json")))
                .expect("policy");
        write(
            "descriptor",
            &format!("{name}-receive.txt"),
            p.receive_descriptor.as_bytes(),
        );
        write(
            "descriptor",
            &format!("{name}-change.txt"),
            p.change_descriptor.as_bytes(),
        );
        write(
            "material",
            &format!("{name}-descriptors.txt"),
            format!("{}\n{}\n", p.receive_descriptor, p.change_descriptor).as_bytes(),
        );
    }
    let inv: Value = serde_json::from_str(&fixture("psbt/interop/sweep-mixed-tr.inventory.json"))
        .expect("inventory");
    let mut found = Vec::new();
    collect_strings(&inv, "descriptor", &mut found);
    for (i, d) in found.iter().enumerate().take(6) {
        write("descriptor", &format!("inventory-{i}.txt"), d.as_bytes());
    }
}

fn collect_strings(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => collect_strings(x, key, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, key, out)),
        _ => {}
    }
}

/// Material of the vector files: a BIP39 phrase per language, Electrum seeds, SLIP-132 keys.
fn write_material() {
    let bip39: Value =
        serde_json::from_str(&fixture("vectors/bip39-trezor-vectors.json")).expect("json");
    if let Some(map) = bip39.as_object() {
        for (lang, list) in map {
            if let Some(phrase) = list.get(3).and_then(|v| v.get(1)).and_then(Value::as_str) {
                write("material", &format!("bip39-{lang}.txt"), phrase.as_bytes());
            }
        }
    }
    let v84: Value = serde_json::from_str(&fixture("vectors/bip84.json")).expect("json");
    for k in ["rootpub", "account0_xprv", "account0_xpub"] {
        if let Some(s) = v84.get(k).and_then(Value::as_str) {
            write("material", &format!("bip84-{k}.txt"), s.as_bytes());
        }
    }
    let el: Value = serde_json::from_str(&fixture("vectors/electrum.json")).expect("json");
    let mut phrases = Vec::new();
    collect_strings(&el, "mnemonic", &mut phrases);
    collect_strings(&el, "seed_words", &mut phrases);
    for (i, p) in phrases.iter().enumerate().take(8) {
        write("material", &format!("electrum-{i}.txt"), p.as_bytes());
    }
}

/// Electrum replies as a server sends them, built from real data: the regtest genesis block,
/// fixture transactions and the fee values of the electrum tests.
fn write_electrum() {
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    let header_hex = hex::encode(serialize(&genesis.header));
    let coinbase = genesis.txdata[0].compute_txid();
    write(
        "electrum",
        "headers.json",
        json!(header_hex.repeat(2)).to_string().as_bytes(),
    );
    write(
        "electrum",
        "merkle.json",
        json!({"block_height": 0, "pos": 0, "merkle": []})
            .to_string()
            .as_bytes(),
    );
    write(
        "electrum",
        "merkle-branch.json",
        json!({"block_height": 0, "pos": 1, "merkle": [coinbase.to_string()]})
            .to_string()
            .as_bytes(),
    );
    let tx_hex = fixture("psbt/interop/sweep-mixed-wsh.embit-final.hex");
    write(
        "electrum",
        "transaction.json",
        json!(tx_hex.trim()).to_string().as_bytes(),
    );
    write(
        "electrum",
        "history.json",
        json!([[{"tx_hash": coinbase.to_string(), "height": 0}, {"tx_hash": coinbase.to_string(), "height": -1, "fee": 141}]])
            .to_string()
            .as_bytes(),
    );
    write(
        "electrum",
        "listunspent.json",
        json!([[{"tx_hash": coinbase.to_string(), "tx_pos": 0, "height": 1, "value": 5_000_000_000u64}]]).to_string().as_bytes(),
    );
    write(
        "electrum",
        "tip.json",
        json!({"height": 0, "hex": header_hex})
            .to_string()
            .as_bytes(),
    );
    for (i, fee) in ["0.00001", "1e-05", "0.00012345", "-1", "2.5E-7"]
        .iter()
        .enumerate()
    {
        write("electrum", &format!("fee-{i}.json"), fee.as_bytes());
    }
}

/// A label CSV with the addresses of the tracing course's TagPack.
fn write_labels() {
    let yaml = fixture("lab/tracing-course/labels.yaml");
    let addrs: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- address: "))
        .take(4)
        .collect();
    let mut csv = String::from("address,label,category,source,confidence\r\n");
    for (i, a) in addrs.iter().enumerate() {
        csv.push_str(&format!(
            "{a},\"Entity {i}, \"\"quoted\"\"\",exchange,custos-lab,ownership\r\n"
        ));
    }
    write("labels", "tracing-course.csv", csv.as_bytes());
}

#[test]
#[ignore = "writes the generated part of the seed corpus; run on purpose"]
fn write_generated_seeds() {
    write_ledger();
    write_key_records();
    write_descriptors();
    write_material();
    write_electrum();
    write_labels();
}

#[test]
fn every_target_has_a_seed_corpus() {
    let targets: Vec<String> = std::fs::read_dir(root().join("fuzz_targets"))
        .expect("fuzz_targets")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    // Every target file is a `[[bin]]` of the manifest, and every bin a target file.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut bins: Vec<String> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| {
            let line = b.lines().find(|l| l.trim_start().starts_with("name"))?;
            Some(line.split('"').nth(1)?.to_string())
        })
        .collect();
    let mut files = targets.clone();
    bins.sort();
    files.sort();
    assert_eq!(
        files, bins,
        "fuzz_targets/ and the manifest's [[bin]] entries"
    );
    assert!(targets.len() >= 13, "{targets:?}");
    for t in targets {
        let n = std::fs::read_dir(corpus(&t))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(
            n > 0,
            "target {t} has no seed corpus in {}",
            corpus(&t).display()
        );
    }
}

#[test]
fn ledger_seed_is_a_valid_chain_of_the_current_format() {
    let text = std::fs::read_to_string(corpus("ledger").join("chain-3.jsonl")).expect("seed");
    let rows: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert_eq!(rows, ledger_rows());
    assert!(verify_chain(&rows).is_ok());
}
