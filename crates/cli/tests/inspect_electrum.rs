//! Issue 11: Electrum wallet files as found on a seized computer, inspected by custos to the
//! same balances Electrum itself shows for them. Each fixture in `fixtures/electrum` (real
//! Electrum 4.3.4 output: standard, segwit, watch-only xpub, 2-of-3 multisig, imported keys and
//! imported addresses; plain and storage-encrypted) is funded on the lab's `seized-mixed`
//! scenario (where some of them already hold coins), then:
//! - custos: `custos-signer material watch-only --input W.wallet [--password-file]` and
//!   `custos inspect` of that file against the lab;
//! - Electrum: Debian's `electrum` daemon on regtest, connected to the lab only
//!   (`--oneserver --server 127.0.0.1:PORT:t`), `load_wallet` and `getbalance` per wallet once
//!   it is synchronized and every transaction is SPV-verified.
//!
//! Skipped without `electrum` unless `CUSTOS_REQUIRE_LIVE=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use custos_core::Sat;
use custos_lab::{Lab, LabConfig};
use custos_testkit::{custos_bin, fixtures, live_program, run, s, signer_next_to_custos};
use miniscript::bitcoin::{Address, Amount};

/// The fixtures: (file stem, encrypted).
const WALLETS: &[(&str, bool)] = &[
    ("standard", false),
    ("segwit-encrypted", true),
    ("xpub-watch", false),
    ("multisig-2of3", false),
    ("multisig-2of3-encrypted", true),
    ("imported-keys-encrypted", true),
    ("imported-addresses", false),
];

/// An Electrum daemon on regtest in its own directory, stopped on drop.
struct Electrum {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Electrum {
    fn start(bin: PathBuf, lab_port: u16) -> Electrum {
        let e = Electrum {
            bin,
            dir: tempfile::tempdir().unwrap(),
        };
        let server = format!("127.0.0.1:{lab_port}:t");
        let (code, out, err) = e.call(&["daemon", "-d", "--oneserver", "--server", &server]);
        assert_eq!(code, 0, "electrum daemon: {out} {err}");
        e
    }

    fn call(&self, args: &[&str]) -> (i32, String, String) {
        run(Command::new(&self.bin)
            .args(["--regtest", "-D"])
            .arg(self.dir.path())
            .args(args)
            .env("HOME", self.dir.path()))
    }

    /// Loads a copy of `wallet` (Electrum may rewrite the file it opens).
    fn load(&self, wallet: &Path, password: Option<&str>) -> PathBuf {
        let copy = self.dir.path().join(wallet.file_name().unwrap());
        std::fs::copy(wallet, &copy).unwrap();
        let mut args = vec!["load_wallet", "-w", s(&copy)];
        if let Some(p) = password {
            args.extend(["-W", p]);
        }
        let (code, out, err) = self.call(&args);
        assert_eq!(code, 0, "load_wallet {}: {out} {err}", wallet.display());
        copy
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (code, out, err) = self.call(args);
        assert_eq!(code, 0, "electrum {args:?}: {out} {err}");
        serde_json::from_str(&out).unwrap_or(serde_json::Value::String(out))
    }

    /// The wallet's balance once Electrum is synchronized and has verified every transaction's
    /// merkle proof (an unverified transaction shows 0 confirmations); (confirmed, unconfirmed).
    fn balance(&self, wallet: &Path) -> (u64, u64) {
        let w = s(wallet);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let synced = self.json(&["is_synchronized", "-w", w]) == serde_json::json!(true);
            let history = self.json(&["onchain_history", "-w", w]);
            let verified = history["transactions"].as_array().is_some_and(|txs| {
                !txs.is_empty()
                    && txs
                        .iter()
                        .all(|t| t["confirmations"].as_u64().unwrap_or(0) > 0)
            });
            if synced && verified {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "electrum did not synchronize {w}: {history}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let b = self.json(&["getbalance", "-w", w]);
        let sat = |k: &str| b[k].as_str().map_or(0, |v| Sat::from_btc_str(v).unwrap().0);
        assert_eq!(sat("unmatured"), 0, "{b}");
        (sat("confirmed"), sat("unconfirmed"))
    }
}

impl Drop for Electrum {
    fn drop(&mut self) {
        let _ = self.call(&["stop"]);
    }
}

/// Addresses Electrum lists for a fixture: (receiving, change).
fn addresses(stem: &str) -> (Vec<String>, Vec<String>) {
    let p = fixtures().join(format!("electrum/{stem}.addresses.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    (list("receiving"), list("change"))
}

/// Pays each fixture on a few of its receiving and change addresses (first, within the gap,
/// on change); amounts differ per payment so a missed one changes the total.
fn fund_fixtures(lab: &Lab) {
    let mut amount = 100_000u64;
    for (stem, _) in WALLETS {
        let (receiving, change) = addresses(stem);
        let picks = [receiving.first(), receiving.get(7), change.get(2)];
        for a in picks.into_iter().flatten() {
            let script = Address::from_str(a)
                .unwrap()
                .assume_checked()
                .script_pubkey();
            lab.fund(&script, Amount::from_sat(amount)).unwrap();
            amount += 1_111;
        }
    }
}

/// custos's total for a fixture: watch-only file on the signer, inspected against the lab.
fn custos_balance(dir: &Path, stem: &str, encrypted: bool, url: &str) -> (u64, u64) {
    let wallet = fixtures().join(format!("electrum/{stem}.wallet"));
    let watch = dir.join(format!("{stem}.watch.json"));
    let mut c = signer_next_to_custos!();
    c.args(["material", "watch-only", "--input", s(&wallet)])
        .args(["--network", "regtest", "--out", s(&watch)]);
    if encrypted {
        c.args([
            "--password-file",
            s(&fixtures().join("electrum/password.txt")),
        ]);
    }
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{stem}: {err}");
    let (code, out, err) = run(custos_bin!()
        .args(["--network", "regtest", "--json", "inspect", s(&watch)])
        .args(["--server", url]));
    assert_eq!(code, 0, "{stem}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        v["inventory"]["confirmed"].as_u64().unwrap(),
        v["inventory"]["unconfirmed"].as_u64().unwrap(),
    )
}

#[test]
fn every_electrum_wallet_file_inspects_to_the_balance_electrum_shows() {
    let Some(bin) = live_program("/usr/bin/electrum") else {
        return;
    };
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    fund_fixtures(&lab);
    let tmp = tempfile::tempdir().unwrap();
    let password = std::fs::read_to_string(fixtures().join("electrum/password.txt")).unwrap();
    let password = password.trim_end_matches('\n');
    let el = Electrum::start(bin, lab.addr().port());
    for (stem, encrypted) in WALLETS {
        let copy = el.load(
            &fixtures().join(format!("electrum/{stem}.wallet")),
            encrypted.then_some(password),
        );
        let theirs = el.balance(&copy);
        let ours = custos_balance(tmp.path(), stem, *encrypted, &lab.url());
        assert!(theirs.0 > 0, "{stem}: nothing funded");
        assert_eq!(
            ours, theirs,
            "{stem}: custos vs Electrum (confirmed, unconfirmed)"
        );
    }
}
