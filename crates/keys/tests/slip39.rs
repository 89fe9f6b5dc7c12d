//! SLIP-0039 Shamir shares: every published vector (fixtures/vectors/slip39.json), the share
//! set through classify and watch-only, and shares made by an independent implementation
//! (PyPI `shamir-mnemonic`, skipped when python3 or the package is missing unless
//! `CUSTOS_REQUIRE_LIVE=1`).

// A skipped cross-check says so on stderr.
#![allow(clippy::print_stderr)]

use std::{path::PathBuf, process::Command, str::FromStr};

use bitcoin::bip32::Xpriv;
use custos_core::{Network, SecretString};
use custos_keys::{
    classify, master_fingerprint, slip39, watch_only, Catalogue, Error, Material, WatchOnlyOptions,
};
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vectors/slip39.json");
    serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn secret(t: &str) -> SecretString {
    SecretString::new(t.to_string())
}

/// The fault a refused vector must be refused for (by its description).
fn expected_fault(description: &str) -> &'static str {
    let table = [
        ("invalid checksum", "checksum"),
        ("invalid padding", "padding"),
        ("different identifiers", "identifier differs"),
        (
            "different iteration exponents",
            "iteration exponent differs",
        ),
        ("mismatching group thresholds", "group threshold differs"),
        ("mismatching group counts", "group count differs"),
        (
            "greater group threshold than group counts",
            "greater than the group count",
        ),
        ("duplicate member indices", "member index"),
        ("mismatching member thresholds", "member threshold"),
        ("invalid digest", "digest"),
        ("Insufficient number of groups", "complete group(s)"),
        ("insufficient number of members", "complete group(s)"),
        ("insufficient length", "at least 20"),
        ("invalid master secret length", "not a valid share length"),
        ("Basic sharing 2-of-3", "complete group(s)"),
    ];
    table
        .iter()
        .find(|(k, _)| description.contains(k))
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no expected fault for {description:?}"))
}

#[test]
fn every_published_vector_recovers_its_master_secret_or_is_refused_for_its_fault() {
    let vs = vectors();
    assert_eq!(vs.len(), 45);
    let pass = secret("TREZOR");
    let (mut valid, mut invalid) = (0, 0);
    for v in &vs {
        let description = v[0].as_str().unwrap();
        let shares: Vec<&str> = v[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let text = secret(&shares.join("\n"));
        let want = v[2].as_str().unwrap();
        let got = classify(&text, Network::Bitcoin);
        if want.is_empty() {
            invalid += 1;
            let e = got.expect_err(description);
            let msg = e.to_string();
            assert!(
                matches!(&e, Error::Invalid { kind, .. } if kind.starts_with("slip-39")),
                "{description}: {msg}"
            );
            assert!(
                msg.contains(expected_fault(description)),
                "{description}: {msg}"
            );
            let share_fault = [
                "checksum",
                "padding",
                "at least 20",
                "share length",
                "differs",
                "member index",
                "greater than the group count",
            ];
            if share_fault.iter().any(|f| msg.contains(f)) {
                assert!(
                    msg.contains("slip-39 share, line "),
                    "{description}: names no share: {msg}"
                );
            }
            for s in &shares {
                let w: Vec<&str> = s.split(' ').collect();
                for three in w.windows(3) {
                    assert!(
                        !msg.contains(&three.join(" ")),
                        "{description}: echoes the share"
                    );
                }
            }
            continue;
        }
        valid += 1;
        let Ok(Material::Slip39 { ems }) = got else {
            panic!("{description}: not read as slip-39 shares: {got:?}")
        };
        let ms = slip39::decrypt(&ems, Some(&pass)).unwrap();
        assert_eq!(hex::encode(ms.expose_secret()), want, "{description}");
        let root = Xpriv::new_master(bitcoin::Network::Bitcoin, ms.expose_secret()).unwrap();
        assert_eq!(root.to_string(), v[3].as_str().unwrap(), "{description}");
    }
    assert_eq!((valid, invalid), (15, 30));
}

#[test]
fn a_share_given_twice_is_read_once() {
    // Vector 4: two shares of a 2-of-3 set; the first is given again.
    let vs = vectors();
    let v4: Vec<&str> = vs[3][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    // The same share twice is harmless.
    let twice = format!("{}\n{}\n{}", v4[0], v4[1], v4[0]);
    let Material::Slip39 { ems } = classify(&secret(&twice), Network::Bitcoin).unwrap() else {
        panic!("not slip-39")
    };
    let ms = slip39::decrypt(&ems, Some(&secret("TREZOR"))).unwrap();
    assert_eq!(hex::encode(ms.expose_secret()), vs[3][2].as_str().unwrap());
}

#[test]
fn a_share_set_gives_a_watch_only_file_of_its_bip32_seed() {
    let vs = vectors();
    let v = &vs[3];
    let text: Vec<&str> = v[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let m = classify(&secret(&text.join("\n")), Network::Bitcoin).unwrap();
    assert!(m.is_secret());
    assert!(m.describe().contains("2 share(s)"), "{}", m.describe());
    let pass = secret("TREZOR");
    let opts = WatchOnlyOptions {
        accounts: 1,
        paths: Some(vec!["bip84".into()]),
        ..WatchOnlyOptions::default()
    };
    let w = watch_only(
        &m,
        Some(&pass),
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts,
    )
    .unwrap();
    let root = Xpriv::from_str(v[3].as_str().unwrap()).unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let fp = root.fingerprint(&secp);
    assert!(
        w.sources[0]
            .descriptor
            .contains(&format!("[{fp}/84'/0'/0']")),
        "{}",
        w.sources[0].descriptor
    );
    assert_eq!(
        master_fingerprint(&m, Some(&pass), Network::Bitcoin).unwrap(),
        Some(fp)
    );
    // Another passphrase is another wallet, as SLIP-39 intends (no error: plausible deniability).
    let other = watch_only(
        &m,
        Some(&secret("x")),
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts,
    )
    .unwrap();
    assert_ne!(other.sources[0].descriptor, w.sources[0].descriptor);
}

fn python_shamir() -> Option<()> {
    let ok = Command::new("python3")
        .args(["-c", "import shamir_mnemonic"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() != Ok("1"),
            "python3 with shamir-mnemonic not found and CUSTOS_REQUIRE_LIVE=1 (pip install shamir-mnemonic)"
        );
        eprintln!(
            "skipped: python3 -c 'import shamir_mnemonic' failed (pip install shamir-mnemonic)"
        );
        return None;
    }
    Some(())
}

/// Shares generated by the reference implementation (python-shamir-mnemonic), groups of the
/// extendable and of the original form, with passphrases: our recovery gives its secret.
#[test]
fn shares_made_by_python_shamir_mnemonic_recover_the_same_secret() {
    if python_shamir().is_none() {
        return;
    }
    let script = r#"
import json, shamir_mnemonic as s
cases = []
for i, (gt, groups, ext, pw, n) in enumerate([
    (1, [(3, 5)], True, b"", 16),
    (2, [(2, 3), (1, 1), (3, 5)], True, b"TREZOR", 32),
    (2, [(2, 3), (2, 2)], False, b"correct horse", 16),
    (3, [(1, 1), (2, 4), (1, 1), (2, 2)], False, b"", 32),
]):
    secret = bytes((7 * i + 13 * k) % 256 for k in range(n))
    g = s.generate_mnemonics(gt, groups, secret, pw, extendable=ext, iteration_exponent=0)
    # the last gt groups, each with its threshold of members, the last members first
    pick = []
    for gi in range(len(groups) - gt, len(groups)):
        t = groups[gi][0]
        pick += list(reversed(g[gi]))[:t]
    assert s.combine_mnemonics(pick, pw) == secret
    if i == 0:
        pick = list(g[0])  # all five of a 3-of-5: the two beyond the threshold are checked
    cases.append({"shares": pick, "pass": pw.decode(), "secret": secret.hex()})
print(json.dumps(cases))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let shares: Vec<&str> = c["shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let m = classify(&secret(&shares.join("\n")), Network::Regtest).unwrap();
        let Material::Slip39 { ems } = m else {
            panic!("not slip-39")
        };
        let pass = secret(c["pass"].as_str().unwrap());
        let ms = slip39::decrypt(&ems, Some(&pass)).unwrap();
        assert_eq!(
            hex::encode(ms.expose_secret()),
            c["secret"].as_str().unwrap()
        );
    }
}
