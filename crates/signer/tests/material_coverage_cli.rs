//! `custos-signer material paths`, `watch-only --path/--deep`, Electrum wallet files with
//! `--password-file` and SLIP-39 share files, end to end through the binary.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn signer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_custos-signer"))
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("custos-coverage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn watch_only(input: &Path, out: &Path, extra: &[&str]) -> Output {
    signer()
        .args(["material", "watch-only", "--network", "regtest", "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn read(out: &Path) -> custos_core::inventory::WatchOnly {
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn paths_lists_every_catalogue_id_with_wallets_and_sources() {
    let out = signer()
        .args(["--json", "material", "paths", "--network", "regtest"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cat = custos_keys::Catalogue::builtin();
    assert_eq!(rows.len(), cat.entries.len());
    let bip84 = rows.iter().find(|r| r["id"] == "bip84").unwrap();
    assert_eq!(bip84["path"], "m/84'/1'/0'");
    assert!(!bip84["wallets"].as_array().unwrap().is_empty());
    assert!(!bip84["sources"].as_array().unwrap().is_empty());
    let root = rows.iter().find(|r| r["id"] == "root-chains").unwrap();
    assert_eq!(root["deep_only"], true);
    let text = signer().args(["material", "paths"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("m0-chains") && text.contains("wallets:") && text.contains("sources:"));
}

#[test]
fn unknown_path_id_exits_2_and_points_at_the_paths_command() {
    let d = scratch("unknown");
    let seed = fixtures().join("lab/seized-deep/seed.txt");
    let out = watch_only(&seed, &d.join("w.json"), &["--paths", "bip99"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bip99") && err.contains("custos-signer material paths"),
        "{err}"
    );
    assert!(!d.join("w.json").exists());
    let bad = watch_only(&seed, &d.join("w.json"), &["--path", "wsh:m/1'"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pkh, sh-wpkh, wpkh, tr"));
}

#[test]
fn deep_and_custom_paths_are_recorded_in_the_file_and_printed() {
    let d = scratch("deep");
    let seed = fixtures().join("lab/seized-deep/seed.txt");
    let out = watch_only(
        &seed,
        &d.join("deep.json"),
        &["--deep", "--path", "wpkh:m/84'/5'/0'"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = read(&d.join("deep.json")).coverage.unwrap();
    assert!(c.deep);
    assert_eq!((c.gap, c.change_gap, c.accounts), (1000, 1000, 20));
    assert!(c.layouts.contains(&"custom:wpkh:m/84'/5'/0'".to_string()));
    assert!(c.layouts.contains(&"bip84@coin0".to_string()));
    let plain = watch_only(&seed, &d.join("plain.json"), &["--gap", "50"]);
    assert_eq!(plain.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert!(
        stdout.contains("gap 50 / change gap 10 / accounts 5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not covered: the other network's coin type 0'"),
        "{stdout}"
    );
    assert!(stdout.contains("--deep covers more"), "{stdout}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn encrypted_electrum_wallet_opens_with_a_password_file() {
    let d = scratch("electrum");
    let wallet = fixtures().join("electrum/segwit-encrypted.wallet");
    let out = watch_only(
        &wallet,
        &d.join("w.json"),
        &[
            "--password-file",
            fixtures().join("electrum/password.txt").to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = read(&d.join("w.json"));
    assert!(
        w.material.contains("electrum wallet file"),
        "{}",
        w.material
    );
    assert_eq!(w.sources.len(), 2);
    assert!(
        w.sources[0].descriptor.starts_with("wpkh(["),
        "{}",
        w.sources[0].descriptor
    );
    std::fs::write(d.join("wrong.txt"), "nope\n").unwrap();
    let wrong = watch_only(
        &wallet,
        &d.join("w2.json"),
        &["--password-file", d.join("wrong.txt").to_str().unwrap()],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong password"));
    assert!(!d.join("w2.json").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn slip39_share_file_with_a_passphrase_gives_a_watch_only_file() {
    let d = scratch("slip39");
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("vectors/slip39.json")).unwrap(),
    )
    .unwrap();
    // Vector 17: groups of the two-level form.
    let shares: Vec<&str> = v[16][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    std::fs::write(
        d.join("shares.txt"),
        format!("# shares found\n{}\n", shares.join("\n")),
    )
    .unwrap();
    std::fs::write(d.join("pass.txt"), "TREZOR\n").unwrap();
    let out = signer()
        .args([
            "material",
            "watch-only",
            "--network",
            "bitcoin",
            "--paths",
            "bip84",
            "--accounts",
            "1",
        ])
        .arg("--input")
        .arg(d.join("shares.txt"))
        .arg("--passphrase-file")
        .arg(d.join("pass.txt"))
        .arg("--out")
        .arg(d.join("w.json"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let w = read(&d.join("w.json"));
    assert!(w.material.starts_with("slip-39 shares"), "{}", w.material);
    let root: bitcoin::bip32::Xpriv = v[16][3].as_str().unwrap().parse().unwrap();
    let fp = root.fingerprint(&bitcoin::secp256k1::Secp256k1::new());
    assert!(w.sources[0]
        .descriptor
        .contains(&format!("[{fp}/84'/0'/0']")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for s in &shares {
        let first3: Vec<&str> = s.split(' ').take(3).collect();
        assert!(!stdout.contains(&first3.join(" ")));
    }
    let _ = std::fs::remove_dir_all(&d);
}
