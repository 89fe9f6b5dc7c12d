//! Per-student variants: two students' variants of one exercise share the story and differ in
//! every address and amount; a variant's ground truth matches the chain the lab builds for it
//! (checked over the Electrum protocol, and against the student's written folder built as a
//! scenario of its own); generating a variant is deterministic.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{Address, Network};
use custos_lab::variant::{make_variant, variant_scenario, write_variant};
use custos_lab::{GroundTruth, Lab, LabConfig};
use electrum_client::{Client, ElectrumApi};

const EXERCISE: &str = "ex-01-passphrase-decoys";

fn variant_lab(student: &str) -> Lab {
    let sc = variant_scenario(EXERCISE, student).unwrap();
    Lab::start_scenario(sc, LabConfig::scenario(EXERCISE)).unwrap()
}

/// A wallet's kind, whether it is seized, and every paid address's path and script type.
type WalletStory = (String, bool, BTreeSet<(String, String)>);

/// The story of a ground truth, per wallet.
fn story(t: &GroundTruth) -> BTreeMap<String, WalletStory> {
    t.wallets
        .iter()
        .map(|w| {
            let paths = w
                .addresses
                .iter()
                .map(|a| (a.path.clone(), a.script_type.name().to_string()))
                .collect();
            (w.id.clone(), (w.kind.clone(), w.seized, paths))
        })
        .collect()
}

/// Every (wallet, path) → (address, received sat).
fn paid(t: &GroundTruth) -> BTreeMap<(String, String), (String, u64)> {
    t.wallets
        .iter()
        .flat_map(|w| {
            w.addresses.iter().map(move |a| {
                (
                    (w.id.clone(), a.path.clone()),
                    (a.address.clone(), a.received_sat),
                )
            })
        })
        .collect()
}

#[test]
fn two_variants_share_the_story_and_differ_in_every_address_and_amount() {
    let (a, b) = (variant_lab("alice"), variant_lab("bob"));
    let base = Lab::start(LabConfig::scenario(EXERCISE)).unwrap();
    let (ta, tb, t0) = (a.ground_truth(), b.ground_truth(), base.ground_truth());
    assert_eq!(story(ta), story(tb), "same wallets, kinds, paths");
    assert_eq!(story(ta), story(t0), "the story of the scenario itself");
    assert_eq!(ta.transactions.len(), tb.transactions.len());
    let (sa, sb) = (
        variant_scenario(EXERCISE, "alice").unwrap(),
        variant_scenario(EXERCISE, "bob").unwrap(),
    );
    assert_eq!(sa.steps.len(), sb.steps.len());
    assert_ne!(ta.scenario, tb.scenario);
    let (pa, pb) = (paid(ta), paid(tb));
    assert!(!pa.is_empty());
    for (key, (addr_a, sat_a)) in &pa {
        let (addr_b, sat_b) = &pb[key];
        assert_ne!(addr_a, addr_b, "{key:?}: same address in both variants");
        assert_ne!(sat_a, sat_b, "{key:?}: same amount in both variants");
    }
    let all_b: BTreeSet<&String> = pb.values().map(|(a, _)| a).collect();
    assert!(pa.values().all(|(a, _)| !all_b.contains(a)));
    // Every transaction differs, and so do the seized totals.
    let txa: BTreeSet<&String> = ta.transactions.iter().map(|t| &t.txid).collect();
    assert!(tb.transactions.iter().all(|t| !txa.contains(&t.txid)));
    assert_ne!(ta.seized_total_sat, tb.seized_total_sat);
    // Dust stays dust: the duress card's small payments are scaled, the passphrase wallet's
    // savings stay in the hundreds of thousands.
    for t in [ta, tb] {
        let card = t.wallet("card").unwrap();
        assert!(card.addresses.iter().all(|a| a.received_sat < 30_000));
    }
}

#[test]
fn a_variants_truth_matches_the_chain_its_lab_serves() {
    let lab = variant_lab("carol");
    let t = lab.ground_truth();
    let client = Client::new(&lab.url()).unwrap();
    let mut checked = 0;
    for w in &t.wallets {
        for a in &w.addresses {
            let addr: Address = a
                .address
                .parse::<Address<_>>()
                .unwrap()
                .require_network(Network::Regtest)
                .unwrap();
            let bal = client.script_get_balance(&addr.script_pubkey()).unwrap();
            assert_eq!(bal.confirmed, a.balance_sat, "{}", a.address);
            let unspent = client.script_list_unspent(&addr.script_pubkey()).unwrap();
            assert_eq!(unspent.len(), a.utxos.len(), "{}", a.address);
            checked += 1;
        }
    }
    assert!(checked > 10);
    let seized: u64 = t
        .wallets
        .iter()
        .filter(|w| w.seized)
        .map(|w| w.balance_sat)
        .sum();
    assert_eq!(seized, t.seized_total_sat);
    assert_eq!(
        client.block_headers_subscribe().unwrap().height,
        t.tip_height as usize
    );
}

#[test]
fn a_students_written_folder_builds_the_same_chain_as_the_variant() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("dave");
    let files = write_variant(EXERCISE, "dave", &dir).unwrap();
    assert!(files.iter().all(|f| f.is_file()));
    assert!(
        !dir.join("ground-truth.toml").exists(),
        "the truth stays with the instructor"
    );
    let from_folder = Lab::start(LabConfig::scenario(dir.to_str().unwrap())).unwrap();
    let from_variant = variant_lab("dave");
    assert_eq!(
        from_folder.ground_truth().to_toml().unwrap(),
        from_variant.ground_truth().to_toml().unwrap()
    );
    assert_eq!(from_folder.tip_hash(), from_variant.tip_hash());
    // Never overwritten.
    assert!(write_variant(EXERCISE, "dave", &dir).is_err());
}

#[test]
fn variant_generation_is_deterministic() {
    let out = tempfile::tempdir().unwrap();
    let (x, y) = (out.path().join("x"), out.path().join("y"));
    write_variant(EXERCISE, "erin", &x).unwrap();
    write_variant(EXERCISE, "erin", &y).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&x)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for n in &names {
        assert_eq!(
            std::fs::read(x.join(n)).unwrap(),
            std::fs::read(y.join(n)).unwrap(),
            "{n:?}"
        );
    }
    let v = make_variant(EXERCISE, "erin").unwrap();
    let w = make_variant(EXERCISE, "frank").unwrap();
    assert_ne!(
        std::fs::read_to_string(x.join("seed.txt")).unwrap(),
        std::fs::read_to_string(fixture("seed.txt")).unwrap()
    );
    assert_ne!(v.scenario_toml, w.scenario_toml);
}

#[test]
fn bad_student_ids_are_input_errors() {
    use custos_core::exit::{Classify, ExitClass};
    for bad in ["", "../escape", "with space"] {
        let e = variant_scenario(EXERCISE, bad).unwrap_err();
        assert_eq!(e.exit_class(), ExitClass::Input, "{bad:?}");
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    custos_lab::fixtures_dir()
        .join("lab")
        .join(EXERCISE)
        .join(name)
}

#[test]
fn a_tracing_exercise_variant_gets_its_own_label_pack() {
    let name = "ex-06-theft-to-exchange";
    let base = Lab::start(LabConfig::scenario(name)).unwrap();
    // The committed pack is what the lab's own writer gives for the scenario itself.
    let committed = std::fs::read_to_string(
        custos_lab::fixtures_dir()
            .join("lab")
            .join(name)
            .join("labels.yaml"),
    )
    .unwrap();
    assert_eq!(
        custos_lab::variant::label_pack(base.ground_truth())
            .unwrap()
            .trim_end(),
        committed.trim_end()
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("gina");
    write_variant(name, "gina", &dir).unwrap();
    let pack = std::fs::read_to_string(dir.join("labels.yaml")).unwrap();
    let lab = Lab::start(LabConfig::scenario(dir.to_str().unwrap())).unwrap();
    let exchange = &lab.ground_truth().wallet("exchange").unwrap().addresses[0].address;
    assert!(pack.contains(exchange.as_str()), "{pack}");
    let base_exchange = &base.ground_truth().wallet("exchange").unwrap().addresses[0].address;
    assert!(!pack.contains(base_exchange.as_str()));
}
