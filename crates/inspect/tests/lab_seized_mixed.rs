//! Discovery against the lab's `seized-mixed` scenario over the Electrum protocol: every funded
//! path and key of the seized material is found, nothing else, totals exact to the satoshi
//! (from the scenario's ground truth); and a lying server (a proxy rewriting the lab's answers)
//! is caught on each lie, with nothing it falsified marked verified.

mod support;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use bitcoin::{block::Header, consensus::deserialize, consensus::serialize, Transaction};
use custos_chain::{ElectrumOptions, ElectrumSource};
use custos_core::{
    inventory::{WatchOnly, WATCH_ONLY_FORMAT},
    Network, Sat, SecretString,
};
use custos_inspect::{scan, ScanOptions, ScanReport};
use custos_lab::{GroundTruth, Lab, LabConfig};
use serde_json::{json, Value};
use support::proxy::{honest, Proxy, Rewrite};

fn material(name: &str) -> String {
    let p = custos_lab::fixtures_dir()
        .join("lab/seized-mixed")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every piece of seized material of the scenario as one watch-only file (what the signer
/// exports), labels prefixed with the material they come from.
fn seized_watch_only() -> WatchOnly {
    let pass = material("passphrase.txt");
    let pass = SecretString::new(pass.trim_end_matches(['\n', '\r']).to_string());
    let items: Vec<(&str, &str, Option<&SecretString>)> = vec![
        ("seed", "seed.txt", None),
        ("seed+passphrase", "seed.txt", Some(&pass)),
        ("electrum", "electrum-seed.txt", None),
        ("wif", "wif-keys.txt", None),
        ("xpub", "xpub.txt", None),
    ];
    let cat = custos_keys::Catalogue::builtin();
    let mut all = WatchOnly {
        format: WATCH_ONLY_FORMAT.into(),
        network: Network::Regtest,
        created: custos_core::ledger::now_utc(),
        material: "seized-mixed".into(),
        fingerprint: String::new(),
        sources: Vec::new(),
        coverage: None,
    };
    for (name, file, pass) in items {
        let text = SecretString::new(material(file));
        let m = custos_keys::classify(&text, Network::Regtest).unwrap();
        let w = custos_keys::watch_only(
            &m,
            pass,
            Network::Regtest,
            &cat,
            &custos_keys::WatchOnlyOptions::default(),
        )
        .unwrap();
        for mut s in w.sources {
            s.label = format!("{name}:{}", s.label);
            all.sources.push(s);
        }
    }
    all
}

fn start_lab() -> Lab {
    Lab::start(LabConfig::scenario("seized-mixed")).expect("the lab starts seized-mixed")
}

fn connect(url: &str) -> ElectrumSource {
    ElectrumSource::connect(
        url,
        ElectrumOptions {
            timeout: Duration::from_secs(60),
            ..ElectrumOptions::default()
        },
    )
    .unwrap()
}

fn expected_addresses(truth: &GroundTruth) -> BTreeSet<String> {
    let seized: BTreeSet<&str> = truth
        .wallets
        .iter()
        .filter(|w| w.seized)
        .map(|w| w.id.as_str())
        .collect();
    let mut set: BTreeSet<String> = truth
        .wallets
        .iter()
        .filter(|w| w.seized)
        .flat_map(|w| w.addresses.iter().map(|a| a.address.clone()))
        .collect();
    for c in &truth.change_outputs {
        if seized.contains(c.wallet.as_str()) {
            set.insert(c.address.clone());
        }
    }
    set
}

fn expected_utxos(truth: &GroundTruth) -> BTreeSet<String> {
    truth
        .wallets
        .iter()
        .filter(|w| w.seized)
        .flat_map(|w| {
            w.addresses
                .iter()
                .flat_map(|a| a.utxos.iter().map(|u| format!("{}:{}", u.txid, u.vout)))
        })
        .collect()
}

fn run(url: &str, verify_with: Option<&str>) -> ScanReport {
    let primary = connect(url);
    let second = verify_with.map(connect);
    scan(
        &seized_watch_only(),
        &primary,
        second
            .as_ref()
            .map(|s| s as &dyn custos_core::source::BitcoinSource),
        &ScanOptions::default(),
        &mut |_| {},
    )
    .unwrap()
}

#[test]
fn finds_every_funded_path_and_key_of_seized_mixed_and_nothing_else() {
    let lab = start_lab();
    let truth = lab.ground_truth().clone();
    let r = run(&lab.url(), None);
    let inv = &r.inventory;
    eprintln!(
        "seized-mixed: {} scripts in {} rounds, {} round trips, {} used addresses, {} utxos, {} + {} sat (truth {} sat)",
        r.scripts_scanned,
        r.rounds,
        r.round_trips,
        inv.addresses.len(),
        inv.utxos.len(),
        inv.confirmed.0,
        inv.unconfirmed.0,
        truth.seized_total_sat
    );
    assert!(inv.complete, "{:#?}", inv.warnings);
    let found: BTreeSet<String> = inv.addresses.iter().map(|a| a.address.clone()).collect();
    let want = expected_addresses(&truth);
    let missing: Vec<_> = want.difference(&found).collect();
    let extra: Vec<_> = found.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    let utxos: BTreeSet<String> = inv.utxos.iter().map(|u| u.outpoint.clone()).collect();
    assert_eq!(utxos, expected_utxos(&truth));
    let total = inv.confirmed.checked_add(inv.unconfirmed).unwrap();
    assert_eq!(total, Sat(truth.seized_total_sat));
    assert_eq!(inv.utxos.len(), truth.seized_utxo_count);
    assert!(inv.utxos.iter().all(|u| u.verified || u.height == 0));
    // Per wallet: the balance of each seized wallet is found under the sources of its material.
    for w in truth.wallets.iter().filter(|w| w.seized) {
        let addrs: BTreeSet<&str> = w.addresses.iter().map(|a| a.address.as_str()).collect();
        let bal = Sat::checked_sum(
            inv.utxos
                .iter()
                .filter(|u| addrs.contains(u.address.as_str()))
                .map(|u| u.value),
        )
        .unwrap();
        let truth_bal: u64 = w.addresses.iter().map(|a| a.balance_sat).sum();
        assert_eq!(bal.0, truth_bal, "wallet {}", w.id);
    }
    // One batched history request per round, across all paths.
    assert!(r.rounds <= 4, "{} rounds", r.rounds);
}

fn hex_tx(v: &Value) -> Transaction {
    deserialize(&hex::decode(v.as_str().unwrap()).unwrap()).unwrap()
}

/// A seized UTXO to lie about, with its height.
fn victim(truth: &GroundTruth) -> (String, u32) {
    let u = truth
        .wallets
        .iter()
        .filter(|w| w.seized)
        .flat_map(|w| w.addresses.iter().flat_map(|a| a.utxos.iter()))
        .max_by_key(|u| u.height)
        .unwrap();
    (u.txid.clone(), u.height)
}

fn lying(lab: &Lab, rewrite: Rewrite) -> Proxy {
    Proxy::start(lab.addr(), rewrite, Duration::ZERO)
}

fn assert_caught(r: &ScanReport, txid: &str, needle: &str) {
    let inv = &r.inventory;
    assert!(!inv.complete, "a lie went unnoticed");
    assert!(
        inv.warnings.iter().any(|w| w.contains(needle)),
        "no warning with {needle:?}: {:#?}",
        inv.warnings
    );
    for u in &inv.utxos {
        if u.outpoint.starts_with(txid) {
            assert!(!u.verified, "{} is marked verified", u.outpoint);
        }
    }
}

#[test]
fn catches_a_transaction_that_does_not_hash_to_its_txid() {
    let lab = start_lab();
    let (txid, _) = victim(lab.ground_truth());
    let t2 = txid.clone();
    let proxy = lying(
        &lab,
        Arc::new(move |m, p, v| {
            if m == "blockchain.transaction.get"
                && p.first().and_then(Value::as_str) == Some(t2.as_str())
            {
                let mut tx = hex_tx(&v);
                tx.output[0].value += bitcoin::Amount::from_sat(1);
                return json!(hex::encode(serialize(&tx)));
            }
            v
        }),
    );
    let r = run(&proxy.url(), None);
    assert_caught(
        &r,
        &txid,
        &format!("transaction {txid}: bytes sent hash to"),
    );
}

#[test]
fn catches_a_wrong_merkle_branch() {
    let lab = start_lab();
    let (txid, height) = victim(lab.ground_truth());
    let t2 = txid.clone();
    let proxy = lying(
        &lab,
        Arc::new(move |m, p, mut v| {
            if m == "blockchain.transaction.get_merkle"
                && p.first().and_then(Value::as_str) == Some(t2.as_str())
            {
                v["merkle"][0] = json!("09".repeat(32));
            }
            v
        }),
    );
    let r = run(&proxy.url(), None);
    assert_caught(
        &r,
        &txid,
        &format!("transaction {txid} at height {height}: merkle branch"),
    );
}

#[test]
fn catches_a_header_with_bad_proof_of_work() {
    let lab = start_lab();
    let (txid, height) = victim(lab.ground_truth());
    let proxy = lying(
        &lab,
        Arc::new(move |m, p, mut v| {
            if m == "blockchain.block.headers" {
                let start = p.first().and_then(Value::as_u64).unwrap() as u32;
                if height >= start && v.get("hex").is_some() {
                    let mut raw = hex::decode(v["hex"].as_str().unwrap()).unwrap();
                    let off = ((height - start) * 80) as usize;
                    if off + 80 <= raw.len() {
                        let mut h: Header = deserialize(&raw[off..off + 80]).unwrap();
                        while h.target().is_met_by(h.block_hash()) {
                            h.nonce = h.nonce.wrapping_add(1);
                        }
                        raw[off..off + 80].copy_from_slice(&serialize(&h));
                        v["hex"] = json!(hex::encode(raw));
                    }
                }
            }
            v
        }),
    );
    let r = run(&proxy.url(), None);
    assert_caught(&r, &txid, &format!("header at height {height}"));
    // Below the bad header, everything verifies.
    assert!(r
        .inventory
        .utxos
        .iter()
        .filter(|u| u.height < height && u.height > 0)
        .all(|u| u.verified));
}

#[test]
fn catches_an_omitted_history_entry_with_verify_with() {
    let lab = start_lab();
    let (txid, _) = victim(lab.ground_truth());
    let t2 = txid.clone();
    let proxy = lying(
        &lab,
        Arc::new(move |m, _p, mut v| {
            if m == "blockchain.scripthash.get_history" || m == "blockchain.scripthash.listunspent"
            {
                if let Some(a) = v.as_array_mut() {
                    a.retain(|e| e.get("tx_hash").and_then(Value::as_str) != Some(t2.as_str()));
                }
            }
            v
        }),
    );
    let r = run(&proxy.url(), Some(&lab.url()));
    assert_caught(&r, &txid, &txid);
    let cc = r.cross_check.as_ref().unwrap();
    assert!(cc
        .disagreements
        .iter()
        .any(|d| d.to_string().contains(&txid) && d.to_string().contains("omitted by")));
    // Through an honest proxy the same cross-check finds nothing.
    let honest = lying(&lab, honest());
    let r = run(&honest.url(), Some(&lab.url()));
    assert!(r.inventory.complete, "{:#?}", r.inventory.warnings);
}

#[test]
fn reconnects_after_a_dropped_connection_and_finishes_the_scan() {
    let lab = start_lab();
    let truth = lab.ground_truth().clone();
    // The first connection dies after 3 answers (the connect handshake and the first requests).
    let flaky = Proxy::start_flaky(lab.addr(), honest(), Duration::ZERO, Some(3));
    let primary = connect(&flaky.url());
    let r = scan(
        &seized_watch_only(),
        &primary,
        None,
        &ScanOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(primary.reconnects() >= 1, "no reconnection happened");
    assert!(r.inventory.complete, "{:#?}", r.inventory.warnings);
    let total = r
        .inventory
        .confirmed
        .checked_add(r.inventory.unconfirmed)
        .unwrap();
    assert_eq!(total, Sat(truth.seized_total_sat));
}
