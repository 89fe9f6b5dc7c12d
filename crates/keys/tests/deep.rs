//! The `seized-deep` lab scenario (fixtures/lab/seized-deep): funds on the root chains, under
//! m/0, on the mainnet coin type on regtest, beyond the gap limits and on account 7. Checked
//! against the scenario's ground truth (written by the lab from the chain it builds, not by
//! this crate): the deep watch-only file reaches every funded address under the limits it
//! records, the default file misses exactly the ones off its layouts and says what it left out.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use custos_core::{inventory::WatchOnly, Network, SecretString};
use custos_keys::{classify, watch_only, Catalogue, WatchOnlyOptions};
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};

fn scenario_file(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/lab/seized-deep")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (address, path) of every address of the seized wallet in the ground truth.
fn funded() -> Vec<(String, String)> {
    let truth: toml::Value = toml::from_str(&scenario_file("ground-truth.toml")).unwrap();
    let wallet = truth["wallet"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"].as_str() == Some("deep"))
        .unwrap();
    wallet["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn file(opts: &WatchOnlyOptions) -> WatchOnly {
    let seed = SecretString::new(scenario_file("seed.txt"));
    let m = classify(&seed, Network::Regtest).unwrap();
    watch_only(&m, None, Network::Regtest, &Catalogue::builtin(), opts).unwrap()
}

/// The funded addresses each source of `w` derives: source label -> (index, address, change).
fn reached(
    w: &WatchOnly,
    funded: &[(String, String)],
) -> BTreeMap<String, Vec<(u32, String, bool)>> {
    let mut out: BTreeMap<String, Vec<(u32, String, bool)>> = BTreeMap::new();
    let parsed: Vec<(&str, bool, Descriptor<DescriptorPublicKey>)> = w
        .sources
        .iter()
        .map(|s| {
            let d = Descriptor::<DescriptorPublicKey>::from_str(&s.descriptor).unwrap();
            (s.label.as_str(), s.change, d)
        })
        .collect();
    for (address, path) in funded {
        let index: u32 = path.rsplit('/').next().unwrap().parse().unwrap();
        for (label, change, d) in &parsed {
            let at = if d.has_wildcard() { index } else { 0 };
            let Ok(def) = d.at_derivation_index(at) else {
                continue;
            };
            let Ok(a) = def.address(bitcoin::Network::Regtest) else {
                continue;
            };
            if a.to_string() == *address {
                out.entry(label.to_string())
                    .or_default()
                    .push((at, address.clone(), *change));
            }
        }
    }
    out
}

/// The addresses a scan with the file's recorded gap limits reaches: walking each chain from
/// index 0, a chain ends after `gap` unused indexes in a row.
fn reachable(w: &WatchOnly, funded: &[(String, String)]) -> Vec<String> {
    let c = w.coverage.as_ref().unwrap();
    let mut out = Vec::new();
    for (_, mut hits) in reached(w, funded) {
        hits.sort();
        let mut last_used: i64 = -1;
        for (index, address, change) in hits {
            let gap = i64::from(if change { c.change_gap } else { c.gap });
            // index - last_used - 1 unused indexes lie between: a chain ends after `gap`.
            if i64::from(index) - last_used > gap {
                break;
            }
            last_used = i64::from(index);
            out.push(address);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn deep_watch_only_reaches_every_funded_address_of_seized_deep() {
    let funded = funded();
    assert_eq!(funded.len(), 19, "ground truth changed");
    let w = file(&WatchOnlyOptions::deep());
    let c = w.coverage.as_ref().unwrap();
    assert!(c.deep);
    assert_eq!((c.gap, c.change_gap, c.accounts), (1000, 1000, 20));
    for layout in [
        "root-chains",
        "m0-chains",
        "bip84@coin0",
        "bip44@coin0",
        "bip84",
    ] {
        assert!(
            c.layouts.iter().any(|l| l == layout),
            "layout {layout} missing: {:?}",
            c.layouts
        );
    }
    let got = reachable(&w, &funded);
    for (address, path) in &funded {
        assert!(
            got.contains(address),
            "deep file misses {address} at {path}"
        );
    }
    assert!(!c.not_covered.iter().any(|n| n.contains("coin type")));
    assert!(!c.not_covered.iter().any(|n| n.contains("deep-only")));
}

#[test]
fn default_watch_only_misses_the_deep_layouts_and_says_what_it_did_not_cover() {
    let funded = funded();
    let w = file(&WatchOnlyOptions::default());
    let got = reachable(&w, &funded);
    let missed: Vec<&str> = funded
        .iter()
        .filter(|(a, _)| !got.contains(a))
        .map(|(_, p)| p.as_str())
        .collect();
    // Found: BIP84 account 0 receive 0..2 and the change-less spend's nothing else.
    for (address, path) in &funded {
        let ordinary = path.starts_with("m/84'/1'/0'/0/") && !path.ends_with("/45");
        assert_eq!(got.contains(address), ordinary, "{path}");
    }
    for p in [
        "m/0/0",
        "m/1/0",
        "m/0/0/1",
        "m/84'/0'/0'/0/0",
        "m/44'/0'/0'/0/0",
        "m/84'/1'/7'/0/0",
        "m/84'/1'/0'/0/45",
        "m/84'/1'/0'/1/30",
    ] {
        assert!(missed.contains(&p), "{p} not missed: {missed:?}");
    }
    let c = w.coverage.as_ref().unwrap();
    assert!(!c.deep);
    assert_eq!((c.gap, c.change_gap, c.accounts), (20, 10, 5));
    let said = c.not_covered.join("\n");
    for words in [
        "20 unused receive or 10 unused change",
        "accounts 5 and above",
        "coin type 0'",
        "deep-only layouts: root-chains, m0-chains",
    ] {
        assert!(said.contains(words), "{words:?} not in {said}");
    }
}

#[test]
fn a_path_given_by_hand_reaches_the_mainnet_coin_type_without_deep_mode() {
    let funded = funded();
    let opts = WatchOnlyOptions {
        paths: Some(Vec::new()),
        custom: vec!["wpkh:m/84'/0'/0'".parse().unwrap()],
        ..WatchOnlyOptions::default()
    };
    let w = file(&opts);
    assert_eq!(w.sources.len(), 2);
    assert_eq!(
        w.coverage.as_ref().unwrap().layouts,
        vec!["custom:wpkh:m/84'/0'/0'".to_string()]
    );
    let got = reachable(&w, &funded);
    let want: Vec<&String> = funded
        .iter()
        .filter(|(_, p)| p.starts_with("m/84'/0'/0'/"))
        .map(|(a, _)| a)
        .collect();
    assert_eq!(want.len(), 3);
    for a in want {
        assert!(got.contains(a));
    }
    assert_eq!(got.len(), 3);
}
