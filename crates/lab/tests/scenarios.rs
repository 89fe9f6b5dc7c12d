//! Scenarios: the committed ground truth matches the chain each scenario builds, the same
//! file gives the same chain, and a lab with a data directory survives a restart.

mod common;

use bitcoin::Amount;
use custos_core::source::BitcoinSource;
use custos_lab::{fixtures_dir, GroundTruth, Lab, LabConfig};

fn committed_truth(name: &str) -> String {
    let p = fixtures_dir()
        .join("lab")
        .join(name)
        .join("ground-truth.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn check_scenario(name: &str) -> Lab {
    let lab = Lab::start(LabConfig::scenario(name)).unwrap();
    let built = lab.ground_truth().to_toml().unwrap();
    assert_eq!(
        built,
        committed_truth(name),
        "{name}: the chain differs from ground-truth.toml"
    );
    let parsed = GroundTruth::from_toml(&built).unwrap();
    assert_eq!(parsed.tracing, lab.ground_truth().tracing);
    if let Some(tracing) = &lab.ground_truth().tracing {
        let p = fixtures_dir()
            .join("lab")
            .join(name)
            .join("transactions.jsonl");
        let committed =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let fresh = lab.ground_truth().transactions_jsonl().unwrap();
        assert!(
            committed == fresh,
            "{name}: the chain differs from transactions.jsonl"
        );
        assert_eq!(fresh.lines().count(), tracing.chain_transactions);
    }
    lab
}

#[test]
fn seized_basic_matches_its_ground_truth_and_is_deterministic() {
    let a = check_scenario("seized-basic");
    let t = a.ground_truth();
    let w = t.wallet("suspect").unwrap();
    assert!(
        (15..=25).contains(&w.utxo_count),
        "about 20 UTXOs, got {}",
        w.utxo_count
    );
    assert!(w.material.mnemonic.is_some());
    // Build it again: byte-identical chain.
    let b = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    assert_eq!(a.tip_hash(), b.tip_hash());
    let (sa, sb) = (a.source(), b.source());
    let n = a.tip_height() + 1;
    assert_eq!(sa.headers(0, n).unwrap(), sb.headers(0, n).unwrap());
    // And the story's transactions, byte for byte.
    let txids: Vec<bitcoin::Txid> = a
        .ground_truth()
        .transactions
        .iter()
        .map(|t| t.txid.parse().unwrap())
        .collect();
    assert!(!txids.is_empty());
    assert_eq!(
        sa.raw_transactions(&txids).unwrap(),
        sb.raw_transactions(&txids).unwrap()
    );
}

#[test]
fn seized_mixed_matches_its_ground_truth() {
    let lab = check_scenario("seized-mixed");
    let t = lab.ground_truth();
    let mixed = t.wallet("mixed").unwrap();
    for prefix in [
        "m/44'/1'/0'/",
        "m/49'/1'/0'/",
        "m/84'/1'/0'/",
        "m/84'/1'/1'/",
        "m/86'/1'/0'/",
        "m/0'/",
    ] {
        assert!(
            mixed
                .addresses
                .iter()
                .any(|a| a.path.starts_with(prefix) && a.balance_sat > 0),
            "{prefix}"
        );
    }
    assert!(t.wallet("hidden").unwrap().balance_sat > 0);
    assert!(t.wallet("electrum").unwrap().balance_sat > 0);
    assert!(t.wallet("watch").unwrap().balance_sat > 0);
    let loose = t.wallet("loose").unwrap();
    assert!(loose.material.wifs.len() >= 3);
    assert!(
        loose
            .addresses
            .iter()
            .any(|a| a.path == "wif #2" && a.tx_count == 2),
        "uncompressed key received and spent"
    );
    assert_eq!(
        custos_lab::electrum_seed_version(
            lab.ground_truth()
                .wallet("electrum")
                .unwrap()
                .material
                .mnemonic
                .as_ref()
                .unwrap()
                .expose_secret()
        )
        .get(..3),
        Some("100")
    );
}

#[test]
fn seized_deep_matches_its_ground_truth() {
    check_scenario("seized-deep");
}

#[test]
fn ransomware_matches_its_ground_truth() {
    let lab = check_scenario("ransomware");
    let w = lab.ground_truth().wallet("operator").unwrap();
    assert!(w.utxo_count >= 2000, "{}", w.utxo_count);
    // Some coins cost more to spend than they hold at 10 sat/vB (68 vB per p2wpkh input).
    let uneconomic = w
        .addresses
        .iter()
        .flat_map(|a| &a.utxos)
        .filter(|u| u.value_sat < 680)
        .count();
    assert!(uneconomic > 50, "{uneconomic}");
}

#[test]
fn tracing_course_matches_its_ground_truth() {
    let lab = check_scenario("tracing-course");
    let t = lab.ground_truth();
    assert!(t.change_outputs.len() >= 8);
    assert!(t
        .wallet("exchange-cold")
        .unwrap()
        .addresses
        .iter()
        .any(|a| a.script_type == custos_lab::ScriptType::P2wsh));
    let labels = fixtures_dir().join("lab/tracing-course/labels.yaml");
    let text = std::fs::read_to_string(labels).unwrap();
    for w in [
        "exchange",
        "exchange-cold",
        "shop",
        "casino",
        "whirlpool",
        "wasabi",
    ] {
        for a in &t.wallet(w).unwrap().addresses {
            assert!(text.contains(&a.address), "label pack misses {}", a.address);
        }
    }
    for a in &t.wallet("thief").unwrap().addresses {
        assert!(
            !text.contains(&a.address),
            "the thief is not a known entity"
        );
    }
    let tr = t.tracing.as_ref().expect("tracing section");
    // Every address of every wallet belongs to exactly its owner's entity.
    for w in &t.wallets {
        let owner = w.owner.clone().unwrap_or_else(|| w.id.clone());
        for a in &w.addresses {
            let holders: Vec<&str> = tr
                .entities
                .iter()
                .filter(|e| e.addresses.contains(&a.address))
                .map(|e| e.name.as_str())
                .collect();
            assert_eq!(holders, [owner.as_str()], "{}", a.address);
        }
    }
    let kinds: Vec<String> = tr
        .coinjoins
        .iter()
        .map(|c| format!("{:?}:{}x{}", c.kind, c.equal_outputs, c.equal_value_sat))
        .collect();
    assert_eq!(
        kinds,
        [
            "EqualOutput:3x100000000",
            "Whirlpool:5x1000000",
            "Wasabi:12x10000000",
            "Joinmarket:3x25000000"
        ]
    );
    let theft = &tr.flows.iter().find(|f| f.name == "theft").unwrap().txids;
    assert_eq!(
        theft.first(),
        Some(&t.transactions[1].txid),
        "starts at the theft"
    );
    for c in &tr.coinjoins {
        assert!(
            theft.contains(&c.txid),
            "the theft passes through {}",
            c.txid
        );
        assert!(c.parties.len() >= 3 && c.parties[0] == "thief");
    }
    let peel = &tr.peels[0];
    assert_eq!(peel.name, "thief-peel");
    assert_eq!(peel.hops.len(), 4);
    for pair in peel.hops.windows(2) {
        let change = pair[0].change.as_ref().unwrap();
        let next = t
            .chain_transactions
            .iter()
            .find(|x| x.txid == pair[1].txid)
            .unwrap();
        assert!(
            next.inputs.iter().any(|i| &i.prevout == change),
            "the next hop spends the change {change}"
        );
        assert!(
            t.change_outputs
                .iter()
                .any(|c| &format!("{}:{}", c.txid, c.vout) == change),
            "hop change {change} is recorded as change"
        );
    }
}

#[test]
fn lab_with_data_dir_survives_a_restart() {
    let dir = common::data_dir("restart");
    let mut cfg = LabConfig::scenario("seized-basic");
    cfg.data_dir = Some(dir.clone());
    let (tip, height, pending) = {
        let lab = Lab::start(cfg.clone()).unwrap();
        let ctl = custos_lab::ControlFile::read(&dir).unwrap();
        assert_eq!(ctl.addr(), lab.addr());
        lab.mine(3).unwrap();
        let k = bitcoin::secp256k1::SecretKey::from_slice(&[5; 32]).unwrap();
        let pk = bitcoin::CompressedPublicKey(k.public_key(&bitcoin::secp256k1::Secp256k1::new()));
        lab.fund(
            &bitcoin::ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()),
            Amount::from_sat(12_345),
        )
        .unwrap();
        // Over the admin method, like `custos-lab mine`.
        ctl.admin_call("lab.mine", &[serde_json::json!(2)]).unwrap();
        // A transaction left in the mempool survives the restart.
        let k = common::TestKey::new(3);
        let op = lab.fund(&k.p2wpkh(), Amount::from_sat(50_000)).unwrap();
        let prev = lab.utxo(&op).unwrap();
        let mut tx = common::unsigned(&[op], vec![common::out(&k.p2wpkh(), 49_000)]);
        k.sign_p2wpkh(&mut tx, &[prev]);
        lab.submit_tx(&tx).unwrap();
        assert_eq!(lab.mempool_len(), 1);
        (
            lab.tip_hash(),
            lab.tip_height(),
            lab.ground_truth().tip_hash.clone(),
        )
    };
    assert!(
        !custos_lab::ControlFile::path(&dir).exists(),
        "control file removed on stop"
    );
    let lab = Lab::start(cfg).unwrap();
    assert_eq!(lab.tip_height(), height);
    assert_eq!(lab.tip_hash(), tip);
    assert_eq!(lab.ground_truth().tip_hash, pending);
    assert_eq!(lab.mempool_len(), 1, "mempool restored");
    lab.mine(1).unwrap();
    assert_eq!(lab.mempool_len(), 0);
    assert_eq!(lab.tip_height(), height + 1);
}

#[test]
fn tracing_large_matches_its_ground_truth() {
    // One debug build of 10,000 payments takes about 20 s here; this is the only test that
    // builds tracing-large.
    let lab = check_scenario("tracing-large");
    let t = lab.ground_truth();
    let tr = t.tracing.as_ref().unwrap();
    let bg = tr.background.as_ref().unwrap();
    assert!(bg.transactions >= 10_000 && bg.wallets >= 500);
    assert!(tr.entities.len() >= 500);
    assert!(tr.chain_transactions > bg.transactions);
    assert!(tr.peels.iter().any(|p| p.hops.len() >= 8));
    assert!(tr.coinjoins.len() >= 2);
    let theft = &tr.flows.iter().find(|f| f.name == "theft").unwrap().txids;
    for c in &tr.coinjoins {
        assert!(theft.contains(&c.txid));
    }
    // The thief's flow deposits at addresses of both labelled exchanges.
    let exchange: Vec<&String> = tr
        .entities
        .iter()
        .filter(|e| e.category.as_deref() == Some("exchange"))
        .flat_map(|e| &e.addresses)
        .collect();
    let deposits = t
        .chain_transactions
        .iter()
        .filter(|x| theft.contains(&x.txid))
        .flat_map(|x| &x.outputs)
        .filter(|o| exchange.contains(&&o.address))
        .count();
    assert!(deposits >= 3, "{deposits}");
    assert!(t.wallet("thief").unwrap().balance_sat > 0);
    let labels = fixtures_dir().join("lab/tracing-large/labels.yaml");
    let text = std::fs::read_to_string(labels).unwrap();
    for a in &exchange {
        assert!(text.contains(a.as_str()), "label pack misses {a}");
    }
}
