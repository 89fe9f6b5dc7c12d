//! The `custos-lab` binary killed with SIGKILL: on restart on the same `--data` it comes back
//! with the same tip and the same mempool (issue 10, item 7a).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bitcoin::{Network, PrivateKey, Transaction};
use electrum_client::{Client, ElectrumApi};

const BIN: &str = env!("CARGO_BIN_EXE_custos-lab");

/// A one-wallet scenario whose key the test holds: 1,000,000 sat confirmed on its p2wpkh.
fn scenario(dir: &Path, key: &common::TestKey) -> PathBuf {
    let sc = dir.join("scenario");
    std::fs::create_dir_all(&sc).unwrap();
    let wif = PrivateKey::new(key.sk, Network::Regtest).to_wif();
    std::fs::write(sc.join("wif.txt"), format!("{wif}\n")).unwrap();
    std::fs::write(
        sc.join("scenario.toml"),
        r#"name = "crash-test"
seed = 77
start_time = 1735689600
premine = 110

[[wallet]]
id = "key"
kind = "wif"
seized = true
wif_file = "wif.txt"

[[step]]
fund = [{ to = "key:0/p2wpkh", amount = 1000000 }]
mine = 1
"#,
    )
    .unwrap();
    sc
}

/// Starts `custos-lab up` and returns it with its Electrum URL.
fn up(scenario: &Path, data: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("up")
        .arg("--scenario")
        .arg(scenario)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .find_map(|l| {
            l.unwrap()
                .strip_prefix("electrum server: ")
                .map(str::to_string)
        })
        .expect("the lab prints its url");
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

fn cli(args: &[&str], data: &Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn status(data: &Path) -> serde_json::Value {
    serde_json::from_str(&cli(&["status", "--json"], data)).unwrap()
}

/// Spends the key's coin back to itself (leaves it in the mempool).
fn spend(c: &Client, key: &common::TestKey) -> Transaction {
    let spk = key.p2wpkh();
    let utxos = c.script_list_unspent(&spk).unwrap();
    let u = utxos
        .iter()
        .find(|u| u.height > 0)
        .expect("a confirmed coin");
    let op = bitcoin::OutPoint::new(u.tx_hash, u.tx_pos as u32);
    let prev = common::out(&spk, u.value);
    let mut tx = common::unsigned(&[op], vec![common::out(&spk, u.value - 1_000)]);
    key.sign_p2wpkh(&mut tx, &[prev]);
    tx
}

#[test]
fn lab_killed_with_sigkill_restarts_with_the_same_tip_and_mempool() {
    let dir = common::data_dir("crash");
    let key = common::TestKey::new(7);
    let sc = scenario(&dir, &key);
    let data = dir.join("data");

    let (mut child, url) = up(&sc, &data);
    let built = status(&data)["tip_height"].as_u64().unwrap();
    assert_eq!(cli(&["mine", "3"], &data).lines().count(), 3);
    let c = Client::new(&url).unwrap();
    let tx = spend(&c, &key);
    let txid = c.transaction_broadcast(&tx).unwrap();
    let before = status(&data);
    assert_eq!(before["tip_height"].as_u64().unwrap(), built + 3);
    assert_eq!(before["mempool_txs"].as_u64().unwrap(), 1);
    drop(c);

    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().unwrap();

    let (mut child, url) = up(&sc, &data);
    let after = status(&data);
    assert_eq!(after["tip_height"], before["tip_height"], "tip height kept");
    assert_eq!(after["tip_hash"], before["tip_hash"], "tip hash kept");
    assert_eq!(after["mempool_txs"].as_u64().unwrap(), 1, "mempool kept");
    let c = Client::new(&url).unwrap();
    let pending = c.script_get_history(&key.p2wpkh()).unwrap();
    assert!(
        pending.iter().any(|h| h.tx_hash == txid && h.height == 0),
        "the broadcast transaction is still unconfirmed: {pending:?}"
    );
    // The restored lab keeps working: the pending transaction confirms.
    cli(&["mine", "1"], &data);
    assert_eq!(status(&data)["mempool_txs"].as_u64().unwrap(), 0);
    drop(c);
    cli(&["down"], &data);
    assert!(child.wait().unwrap().success());
}
