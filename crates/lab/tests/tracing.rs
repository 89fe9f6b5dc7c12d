//! Tracing lab material: the independent taint checker (fixtures/lab/tools/taint_truth.py)
//! passes its hand-worked cases and reproduces the committed `exposure.toml`, and the scenario
//! features that plant tracing patterns (multi-party joins, transaction shape, background
//! activity) build what they say.

use std::path::Path;
use std::process::Command;

use custos_lab::{fixtures_dir, GroundTruth, Lab, LabConfig};

fn checker(args: &[&str]) -> String {
    let script = fixtures_dir().join("lab/tools/taint_truth.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "taint_truth.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn taint_checker_passes_its_hand_worked_cases() {
    let out = checker(&["--self-test"]);
    assert!(out.contains(" passed, 0 failed"), "{out}");
}

#[test]
fn tracing_large_exposure_matches_the_independent_checker() {
    let dir = fixtures_dir().join("lab/tracing-large");
    let fresh = checker(&["--exposure", dir.to_str().unwrap()]);
    let committed = std::fs::read_to_string(dir.join("exposure.toml")).unwrap();
    assert_eq!(fresh.trim_end(), committed.trim_end());
}

#[test]
fn committed_exposure_matches_the_independent_checker() {
    let dir = fixtures_dir().join("lab/tracing-course");
    let fresh = checker(&["--exposure", dir.to_str().unwrap()]);
    let committed = std::fs::read_to_string(dir.join("exposure.toml")).unwrap();
    assert_eq!(fresh.trim_end(), committed.trim_end());
    let t: toml::Value = toml::from_str(&committed).unwrap();
    let forward = t["forward"].as_array().unwrap();
    assert_eq!(forward.len(), 5, "all five models");
    let casino = |model: &str| {
        let f = forward
            .iter()
            .find(|f| f["model"].as_str() == Some(model))
            .unwrap();
        f["exposure"]["gambling"].as_integer().unwrap()
    };
    // The planted FIFO/LIFO case: the tainted input first and the casino paid first.
    assert_eq!(casino("fifo"), 60_000_000);
    assert_eq!(casino("lifo"), 10_000_000);
    assert!(!t["backward"].as_array().unwrap().is_empty());
}

fn write_scenario(dir: &Path, body: &str) -> GroundTruth {
    std::fs::write(dir.join("scenario.toml"), body).unwrap();
    let lab = Lab::start(LabConfig::scenario(dir.to_str().unwrap())).unwrap();
    lab.ground_truth().clone()
}

const WALLETS: &str = r#"
name = "join-test"
seed = 77
start_time = 1735689600
[[wallet]]
id = "a"
kind = "lab"
account = [{ id = "m", path = "m/84'/1'/0'", script = "p2wpkh" }]
[[wallet]]
id = "b"
kind = "lab"
account = [{ id = "m", path = "m/84'/1'/0'", script = "p2wpkh" }]
[[wallet]]
id = "c"
kind = "lab"
label = { name = "C Exchange", category = "exchange" }
account = [{ id = "m", path = "m/86'/1'/0'", script = "p2tr" }]
[[step]]
fund = [{ to = "a:m/0/0", amount = 5000000 }, { to = "b:m/0/0", amount = 7000000 }, { to = "c:m/0/0", amount = 3000000 }]
mine = 1
"#;

#[test]
fn join_gives_fixed_fees_and_splits_the_rest_among_the_other_parties() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{WALLETS}{}",
        r#"
[[step]]
coinjoin = "joinmarket"
join = { to = [{ to = "c:m/0/1", amount = 10000 }], parties = [
  { from = ["a:m/0/0"], to = [{ to = "a:m/0/1", amount = 2000000 }], change = "a:m/1/0" },
  { from = ["b:m/0/0"], to = [{ to = "b:m/0/1", amount = 2000000 }], change = "b:m/1/0", fee = -1000 },
  { from = ["c:m/0/0"], to = [{ to = "c:m/0/2", amount = 2000000 }] },
] }
mine = 1
"#
    );
    let t = write_scenario(dir.path(), &body);
    let cj = &t.tracing.as_ref().unwrap().coinjoins[0];
    assert_eq!((cj.equal_outputs, cj.equal_value_sat), (3, 2_000_000));
    assert_eq!(cj.parties, ["a", "b", "c"]);
    let tx = t
        .chain_transactions
        .iter()
        .find(|x| x.txid == cj.txid)
        .unwrap();
    let addr = |w: &str, path: &str| {
        t.wallet(w)
            .unwrap()
            .addresses
            .iter()
            .find(|a| a.path.ends_with(path))
            .unwrap()
            .address
            .clone()
    };
    let value_at = |a: &str| tx.outputs.iter().find(|o| o.address == a).unwrap().value;
    // b is paid 1,000 sat: its change is its input minus its output plus 1,000.
    assert_eq!(value_at(&addr("b", "/1/0")), 7_000_000 - 2_000_000 + 1_000);
    // c has no change: its remainder (1,000,000) goes to the fee and the shared output.
    let fee: u64 = tx.inputs.iter().map(|i| i.value).sum::<u64>()
        - tx.outputs.iter().map(|o| o.value).sum::<u64>();
    let a_paid = 5_000_000 - 2_000_000 - value_at(&addr("a", "/1/0"));
    // what a and c leave covers the fee, the shared 10,000 and b's 1,000
    assert_eq!(a_paid + 1_000_000, fee + 10_000 + 1_000);
    // given order: inputs party by party, outputs shared, payments, then changes
    assert_eq!(tx.outputs[0].address, addr("c", "/0/1"));
    assert_eq!(tx.outputs.len(), 6);
    assert_eq!(tx.inputs.len(), 3);
}

#[test]
fn pay_shape_sets_lock_time_version_sequence_and_change_position() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{WALLETS}{}",
        r#"
[[step]]
flow = "f"
peel = "p"
pay = { from = ["a:m/0/0"], to = [{ to = "b:m/0/1", amount = 1000000 }], change = "a:m/1/0", change_index = 0, lock_time = "height", version = 1, rbf = false }
mine = 1
"#
    );
    let t = write_scenario(dir.path(), &body);
    let tr = t.tracing.as_ref().unwrap();
    let txid = &tr.flows[0].txids[0];
    let tx = t
        .chain_transactions
        .iter()
        .find(|x| &x.txid == txid)
        .unwrap();
    assert_eq!(tx.version, 1);
    assert_eq!(
        tx.lock_time,
        tx.height - 1,
        "the tip height when it was made"
    );
    assert!(tx.inputs.iter().all(|i| i.sequence == 0xffff_fffe));
    assert_eq!(t.change_outputs[0].vout, 0);
    assert_eq!(tr.peels[0].hops[0].change, Some(format!("{txid}:0")));
    assert_eq!(tr.peels[0].hops[0].payments, [format!("{txid}:1")]);
    let labelled = tr.entities.iter().find(|e| e.name == "c").unwrap();
    assert_eq!(labelled.category.as_deref(), Some("exchange"));
}

#[test]
fn background_makes_the_asked_payments_deterministically() {
    let body = r#"
name = "bg-test"
seed = 9
start_time = 1735689600
[[wallet]]
id = "shop"
kind = "lab"
label = { name = "Shop", category = "shop" }
account = [{ id = "m", path = "m/84'/1'/0'", script = "p2wpkh" }]
[background]
wallets = 30
transactions = 120
per_block = 25
fund_range = [1000000, 50000000]
deposits = ["shop:m/0/0..5"]
deposit_percent = 10
"#;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = write_scenario(d1.path(), body);
    let b = write_scenario(d2.path(), body);
    assert_eq!(a.tip_hash, b.tip_hash, "same file, same chain");
    let tr = a.tracing.as_ref().unwrap();
    let bg = tr.background.as_ref().unwrap();
    assert_eq!((bg.wallets, bg.transactions), (30, 120));
    assert!(bg.deposits > 0, "some payments went to the shop");
    // 120 payments plus the faucet funding of the 30 wallets.
    assert_eq!(tr.chain_transactions, 121);
    assert!(t_entities_disjoint(&a));
    let shop = tr.entities.iter().find(|e| e.name == "shop").unwrap();
    assert!(!shop.addresses.is_empty());
}

fn t_entities_disjoint(t: &GroundTruth) -> bool {
    let mut seen = std::collections::HashSet::new();
    t.tracing
        .as_ref()
        .unwrap()
        .entities
        .iter()
        .flat_map(|e| &e.addresses)
        .all(|a| seen.insert(a.clone()))
}
