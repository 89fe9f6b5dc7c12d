//! `custos-signer material ...` end to end: exit codes, refusal to overwrite, no secret in any
//! output.

use custos_testkit::{scratch, signer_bin};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

#[test]
fn watch_only_writes_public_file_and_refuses_to_overwrite() {
    let d = scratch("material", "wo");
    std::fs::write(d.join("seed.txt"), format!("{ABANDON}\n")).unwrap();
    std::fs::write(d.join("pass.txt"), "TREZOR\n").unwrap();
    let out = d.join("wo.json");
    let run = || {
        signer_bin!()
            .args([
                "material",
                "watch-only",
                "--network",
                "regtest",
                "--accounts",
                "2",
                "--paths",
                "bip84,bip86",
            ])
            .arg("--input")
            .arg(d.join("seed.txt"))
            .arg("--passphrase-file")
            .arg(d.join("pass.txt"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("b4e3f5ed"),
        "master fingerprint expected: {stdout}"
    );
    let file = std::fs::read_to_string(&out).unwrap();
    let w: custos_core::inventory::WatchOnly = serde_json::from_str(&file).unwrap();
    assert_eq!(w.sources.len(), 8);
    assert!(w.sources[0]
        .descriptor
        .starts_with("wpkh([b4e3f5ed/84'/1'/0']tpub"));
    for text in [
        &file,
        &stdout.to_string(),
        &String::from_utf8_lossy(&first.stderr).to_string(),
    ] {
        assert!(!text.contains("abandon") && !text.contains("TREZOR") && !text.contains("prv"));
    }
    let second = run();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), file);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn malformed_material_exits_2_naming_kind_and_fault() {
    let d = scratch("material", "bad");
    let typo = ABANDON.replacen("abandon", "abandan", 1);
    std::fs::write(d.join("seed.txt"), &typo).unwrap();
    let o = signer_bin!()
        .args(["material", "watch-only", "--input"])
        .arg(d.join("seed.txt"))
        .arg("--out")
        .arg(d.join("wo.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bip39 mnemonic: word 1 is not in the english word list"),
        "{err}"
    );
    assert!(!err.contains("abandan"), "{err}");
    assert!(!d.join("wo.json").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn classify_reads_stdin_and_prints_json_without_secrets() {
    use std::io::Write;
    let mut child = signer_bin!()
        .args(["--json", "material", "classify", "--input", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wif = "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{wif}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "wif keys");
    assert_eq!(v["secret"], true);
    assert!(!String::from_utf8_lossy(&o.stdout).contains(wif));
}
