//! Independent check of discovery's fast derivation path: embit (Python, not custos) derives
//! the first receive and change addresses of BIP84's and BIP86's test-vector account xpubs;
//! `ParsedDescriptor::scripts_at` must give the same addresses.
//!
//! Skipped without python3 + embit unless `CUSTOS_REQUIRE_LIVE=1`.

use bitcoin::Network;
use custos_inspect::derive::{address_of, ParsedDescriptor};

/// Account 0 xpubs of the mnemonic "abandon … about", from BIP84's and BIP86's texts.
const BIP84: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";
const BIP86: &str = "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ";

const N: u32 = 300;

/// Mainnet addresses of `xpub`/`chain`/0..N as embit derives them (`wpkh` or `tr`); `None` when
/// python3 or embit is missing.
fn embit(xpub: &str, kind: &str, chain: u32) -> Option<Vec<String>> {
    let script = r#"
import sys
from embit import bip32, script
from embit.networks import NETWORKS
key = bip32.HDKey.from_string(sys.argv[1])
kind, chain, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    pub = key.derive([chain, i]).key
    sc = script.p2wpkh(pub) if kind == "wpkh" else script.p2tr(pub)
    print(sc.address(NETWORKS["main"]))
"#;
    let (chain, n) = (chain.to_string(), N.to_string());
    custos_testkit::python_lines(script, &[xpub, kind, &chain, &n], "embit")
}

fn custos(descriptor: &str) -> Vec<Vec<String>> {
    ParsedDescriptor::parse("t", descriptor)
        .unwrap()
        .iter()
        .map(|d| {
            assert!(d.has_fast_path(), "{descriptor}");
            d.scripts_at("t", 0..N)
                .unwrap()
                .iter()
                .map(|s| address_of(s, Network::Bitcoin))
                .collect()
        })
        .collect()
}

#[test]
fn fast_path_bip84_and_bip86_addresses_equal_embits() {
    for (xpub, kind, descriptor) in [
        (
            BIP84,
            "wpkh",
            format!("wpkh([73c5da0a/84'/0'/0']{BIP84}/<0;1>/*)"),
        ),
        (
            BIP86,
            "tr",
            format!("tr([73c5da0a/86'/0'/0']{BIP86}/<0;1>/*)"),
        ),
    ] {
        let ours = custos(&descriptor);
        for chain in 0..2u32 {
            let Some(theirs) = embit(xpub, kind, chain) else {
                return;
            };
            assert_eq!(theirs.len(), N as usize);
            assert_eq!(ours[chain as usize], theirs, "{kind} chain {chain}");
        }
    }
    // The first receive addresses printed in BIP84 and BIP86.
    assert_eq!(
        custos(&format!("wpkh({BIP84}/0/*)"))[0][0],
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    );
    assert_eq!(
        custos(&format!("tr({BIP86}/0/*)"))[0][0],
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    );
}
