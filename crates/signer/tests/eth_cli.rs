//! `custos-signer eth sign|safe-sign` and `material --network ethereum` end to end through the
//! real binary: refusals exit 1 naming the transaction and field, nothing is written when
//! refused, secrets never appear in any output, and `cast` (npm @foundry-rs/cast-linux-amd64,
//! tools/eth) decodes each signed transaction to the fields the signer showed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::{json, Value};

const ANVIL: &str = "test test test test test test test test test test test junk";
const SAFE: &str = "0xe80F3c2046C04bf94B04Ca142F94fbf7480110C7";
const ACCT1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const ACCT2: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const ACCT1_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const THIEF: &str = "0x00000000000000000000000000000000000000aa";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/eth")
}

fn signer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_custos-signer"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("custos-eth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn policy(d: &Path) -> PathBuf {
    let p = d.join("policy.json");
    let v = json!({
        "format": "custos-eth-policy-v1", "name": "case-7 custody", "chain_id": 31337,
        "safe": SAFE, "max_fee_per_tx_wei": "10000000000000000",
        "safe_setup": {"owners": ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", ACCT1, ACCT2],
                       "threshold": 2, "salt_nonce": "0"}
    });
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn tx(purpose: &str, from: &str, nonce: u64, to: &str, value: &str, data: &str, gas: u64) -> Value {
    json!({
        "purpose": purpose, "from": from, "nonce": nonce, "to": to, "value": value, "data": data,
        "gas_limit": gas, "max_fee_per_gas": "20000000000", "max_priority_fee_per_gas": "1000000000",
    })
}

fn transfer_data(to: &str, units: u64) -> String {
    format!(
        "0xa9059cbb{:0>64}{:064x}",
        to.trim_start_matches("0x").to_lowercase(),
        units
    )
}

fn good_set() -> Vec<Value> {
    let mut token = tx(
        "token_transfer",
        ACCT1,
        0,
        TOKEN,
        "0",
        &transfer_data(SAFE, 12_500_000),
        65_000,
    );
    token["token"] = json!({"symbol": "USDT", "decimals": 6});
    vec![
        token,
        tx(
            "eth_transfer",
            ACCT1,
            1,
            SAFE,
            "1000000000000000001",
            "0x",
            21_000,
        ),
        tx("eth_transfer", ACCT2, 5, SAFE, "7", "0x", 21_000),
    ]
}

fn write_set(d: &Path, name: &str, chain_id: u64, txs: Vec<Value>) -> PathBuf {
    let p = d.join(name);
    let v = json!({"format": "custos-eth-unsigned-v1", "chain_id": chain_id, "txs": txs});
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

fn sign(d: &Path, set: &Path, material: &Path, extra: &[&str]) -> Output {
    signer()
        .args(["eth", "sign"])
        .arg(set)
        .arg("--policy")
        .arg(policy(d))
        .arg("--material")
        .arg(material)
        .arg("--out")
        .arg(d.join("signed"))
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn seed_file(d: &Path) -> PathBuf {
    let p = d.join("seed.txt");
    std::fs::write(&p, format!("{ANVIL}\n")).unwrap();
    p
}

/// The cast binary from tools/eth (npm, scripts/install-deps.sh), or None (then the live check is skipped,
/// unless CUSTOS_REQUIRE_LIVE=1 makes a missing cast a failure).
fn cast() -> Option<PathBuf> {
    let p = fixtures().join("../../tools/eth/node_modules/.bin/cast");
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() != Ok("1"),
        "cast is missing (scripts/install-deps.sh: npm ci in tools/eth) and CUSTOS_REQUIRE_LIVE=1"
    );
    eprintln!("skipping the cast cross-check: {} missing", p.display());
    None
}

fn hex_u(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn signs_a_sweep_from_a_mnemonic_and_cast_decodes_the_same_fields() {
    let d = scratch("sign");
    let set = write_set(&d, "set.json", 31337, good_set());
    let o = sign(&d, &set, &seed_file(&d), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = text(&o);
    assert!(shown.contains("12.500000 USDT"), "{shown}");
    assert!(shown.contains("1.000000000000000001 ETH"), "{shown}");
    assert!(
        !shown.contains("junk") && !shown.contains(ACCT1_KEY),
        "secret in output"
    );
    let lines: Vec<String> = std::fs::read_to_string(d.join("signed.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 3);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("signed.json")).unwrap()).unwrap();
    let Some(cast) = cast() else { return };
    for (raw, t) in lines.iter().zip(doc["txs"].as_array().unwrap()) {
        assert_eq!(t["raw"].as_str().unwrap(), raw);
        let out = Command::new(&cast)
            .args(["decode-transaction", raw])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        // cast prints the JSON as a JSON string
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        let c: Value = match s {
            Value::String(inner) => serde_json::from_str(&inner).unwrap(),
            v => v,
        };
        assert_eq!(c["type"], "0x2");
        assert_eq!(hex_u(&c["chainId"]), 31337);
        assert_eq!(hex_u(&c["nonce"]), u128::from(t["nonce"].as_u64().unwrap()));
        assert_eq!(
            hex_u(&c["gas"]),
            u128::from(t["gas_limit"].as_u64().unwrap())
        );
        assert_eq!(
            hex_u(&c["maxFeePerGas"]).to_string(),
            t["max_fee_per_gas"].as_str().unwrap()
        );
        assert_eq!(
            hex_u(&c["maxPriorityFeePerGas"]).to_string(),
            t["max_priority_fee_per_gas"].as_str().unwrap()
        );
        assert_eq!(hex_u(&c["value"]).to_string(), t["value"].as_str().unwrap());
        assert_eq!(
            c["to"].as_str().unwrap(),
            t["to"].as_str().unwrap().to_lowercase()
        );
        assert_eq!(c["input"].as_str().unwrap(), t["data"].as_str().unwrap());
        assert_eq!(
            c["signer"].as_str().unwrap(),
            t["from"].as_str().unwrap().to_lowercase()
        );
        assert_eq!(c["hash"].as_str().unwrap(), t["hash"].as_str().unwrap());
    }
    // a second run refuses to overwrite
    let o = sign(&d, &set, &seed_file(&d), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refusing to overwrite"), "{}", text(&o));
}

fn assert_refused(name: &str, chain_id: u64, txs: Vec<Value>, want: &[&str]) {
    let d = scratch(name);
    let set = write_set(&d, "set.json", chain_id, txs);
    let o = sign(&d, &set, &seed_file(&d), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    for w in want {
        assert!(t.contains(w), "{name}: {w:?} missing in {t}");
    }
    assert!(!d.join("signed.txt").exists() && !d.join("signed.json").exists());
}

#[test]
fn refuses_a_wrong_chain_id() {
    assert_refused("chain", 1, good_set(), &["field chain_id is 1"]);
}

#[test]
fn refuses_ether_outside_the_policy() {
    let mut s = good_set();
    s[1]["to"] = json!(THIEF);
    assert_refused(
        "dest",
        31337,
        s,
        &[
            "tx 1 (from 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, nonce 1)",
            "field to",
        ],
    );
}

#[test]
fn refuses_token_call_data_paying_outside_the_policy() {
    let mut s = good_set();
    s[0]["data"] = json!(transfer_data(THIEF, 12_500_000));
    assert_refused(
        "calldata",
        31337,
        s,
        &["tx 0", "field data", "decoded transfer recipient"],
    );
}

#[test]
fn refuses_a_fee_above_the_cap() {
    let mut s = good_set();
    s[2]["max_fee_per_gas"] = json!("1000000000000");
    assert_refused("fee", 31337, s, &["tx 2", "fee cap"]);
}

#[test]
fn refuses_a_nonce_gap() {
    let mut s = good_set();
    s[1]["nonce"] = json!(2);
    assert_refused(
        "nonce",
        31337,
        s,
        &["tx 1", "field nonce: 2 follows nonce 0"],
    );
}

#[test]
fn signs_with_a_keystore_and_a_password_file_and_says_only_wrong_password() {
    let d = scratch("keystore");
    let set = write_set(&d, "set.json", 31337, good_set()[..2].to_vec());
    let ks = fixtures().join("keystore/eth-account-scrypt.json");
    std::fs::write(d.join("pw.txt"), "correct horse\n").unwrap();
    let o = sign(
        &d,
        &set,
        &ks,
        &["--password-file", d.join("pw.txt").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(d.join("bad.txt"), "correct horsf\n").unwrap();
    let d2 = scratch("keystore-bad");
    let o = sign(
        &d2,
        &set,
        &ks,
        &["--password-file", d.join("bad.txt").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("keystore: wrong password") && !t.contains("mac"),
        "{t}"
    );
}

#[test]
fn a_sender_the_material_cannot_sign_for_is_an_input_error() {
    let d = scratch("nokey");
    let set = write_set(&d, "set.json", 31337, good_set());
    std::fs::write(d.join("key.txt"), format!("0x{ACCT1_KEY}\n")).unwrap();
    let o = sign(&d, &set, &d.join("key.txt"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("no key for {ACCT2}")),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains(ACCT1_KEY));
}

fn safe_tx(to: &str, value: &str, data: &str, operation: u8) -> Value {
    json!({
        "format": "custos-safe-tx-v1", "chain_id": 31337, "safe": SAFE, "to": to, "value": value,
        "data": data, "operation": operation, "safe_tx_gas": "0", "base_gas": "0", "gas_price": "0",
        "gas_token": "0x0000000000000000000000000000000000000000",
        "refund_receiver": "0x0000000000000000000000000000000000000000", "nonce": "0",
    })
}

fn safe_sign(d: &Path, tx: &Value, allow: &[&str]) -> Output {
    let p = d.join("safe-tx.json");
    std::fs::write(&p, tx.to_string()).unwrap();
    std::fs::write(d.join("key.txt"), format!("{ACCT1_KEY}\n")).unwrap();
    let mut c = signer();
    c.args(["eth", "safe-sign"])
        .arg(&p)
        .arg("--policy")
        .arg(policy(d));
    for a in allow {
        c.args(["--allow-destination", a]);
    }
    c.arg("--material")
        .arg(d.join("key.txt"))
        .arg("--out")
        .arg(d.join("sig.json"))
        .output()
        .unwrap()
}

#[test]
fn safe_sign_writes_the_signature_eth_account_computes() {
    let d = scratch("safe");
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("safe-and-tx-vectors.json")).unwrap(),
    )
    .unwrap();
    let vec0 = &v["safe_txs"][0];
    let to = vec0["tx"]["to"].as_str().unwrap();
    let tx = safe_tx(to, vec0["tx"]["value"].as_str().unwrap(), "0x", 0);
    let o = safe_sign(&d, &tx, &[to]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("allowed destination: {to}")),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("1.000000000000000001 ETH"),
        "{}",
        text(&o)
    );
    let sig: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("sig.json")).unwrap()).unwrap();
    assert_eq!(sig["safe_tx_hash"], vec0["safe_tx_hash"]);
    assert_eq!(sig["signature"], vec0["signature"]);
    assert_eq!(sig["signer"], ACCT1);
}

#[test]
fn safe_sign_refuses_delegatecall_owner_change_and_unlisted_payee() {
    let d = scratch("safe-refuse");
    let o = safe_sign(&d, &safe_tx(THIEF, "1", "0x", 1), &[THIEF]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("delegatecall"), "{}", text(&o));
    // addOwnerWithThreshold(THIEF, 1) on the safe itself
    let add = format!(
        "0x0d582f13{:0>64}{:064x}",
        THIEF.trim_start_matches("0x"),
        1
    );
    let o = safe_sign(&d, &safe_tx(SAFE, "0", &add, 0), &[SAFE]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("addOwnerWithThreshold"), "{}", text(&o));
    let o = safe_sign(&d, &safe_tx(THIEF, "1", "0x", 0), &[ACCT2]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is not among the destinations allowed"),
        "{}",
        text(&o)
    );
    assert!(!d.join("sig.json").exists());
}

#[test]
fn material_commands_recognise_ethereum_keystores_and_write_addresses_with_paths() {
    let d = scratch("material");
    let o = signer()
        .args(["material", "classify", "--network", "ethereum", "--input"])
        .arg(fixtures().join("keystore/wiki-pbkdf2.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("ethereum keystore") && text(&o).contains("pbkdf2"),
        "{}",
        text(&o)
    );
    // on a bitcoin network the keystore is named as such, with the way to read it
    let o = signer()
        .args(["material", "classify", "--input"])
        .arg(fixtures().join("keystore/wiki-scrypt.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--network ethereum"), "{}", text(&o));
    let out = d.join("wo.json");
    let o = signer()
        .args([
            "material",
            "watch-only",
            "--network",
            "ethereum",
            "--accounts",
            "10",
            "--paths",
            "eth-bip44",
            "--input",
        ])
        .arg(seed_file(&d))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let file = std::fs::read_to_string(&out).unwrap();
    assert!(!file.contains("junk"));
    let w: custos_keys::eth::EthWatchOnly = serde_json::from_str(&file).unwrap();
    let acc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("accounts.json")).unwrap())
            .unwrap();
    for (a, want) in w
        .accounts
        .iter()
        .zip(acc["no_passphrase"].as_array().unwrap())
    {
        assert_eq!(a.address, want["address"].as_str().unwrap());
        assert_eq!(a.path.as_deref(), want["path"].as_str());
    }
    assert_eq!(w.accounts.len(), 10);
    // a mixed-case address with a wrong checksum is an input error
    std::fs::write(
        d.join("addr.txt"),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD\n",
    )
    .unwrap();
    let o = signer()
        .args(["material", "classify", "--network", "ethereum", "--input"])
        .arg(d.join("addr.txt"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("checksum"), "{}", text(&o));
}
