//! Seized material text of every kind, as `custos-signer material` / `custos inspect` read it:
//! `custos_keys::classify` (BIP39 in every language, Electrum seeds, SLIP-132 extended keys,
//! xprv, descriptors, WIF lists, addresses) on every network, then its description.
use custos_core::{Network, SecretString};
use custos_fuzz::{main as fuzz_main, text, Target};

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let secret = SecretString::new(t.to_string());
    let mut out = String::new();
    for net in [Network::Bitcoin, Network::Testnet, Network::Regtest] {
        match custos_keys::classify(&secret, net) {
            Ok(m) => {
                let _ = m.describe();
                let _ = m.script_hints();
                out.push_str(&format!("ok {} {};", m.kind_name(), m.is_secret()));
            }
            Err(e) => out.push_str(&format!("err {e};")),
        }
    }
    out
}

fn main() {
    fuzz_main(Target {
        name: "material",
        tokens: &[
            "abandon ",
            "zoo ",
            "xpub",
            "tpub",
            "zpub",
            "Ypub",
            "xprv",
            "wpkh(",
            "wsh(",
            "tr(",
            "sh(",
            "multi(",
            "sortedmulti(",
            "[d34db33f/84'/0'/0']",
            "/0/*",
            "/<0;1>/*",
            "#",
            "bc1q",
            "tb1q",
            "bcrt1q",
            "1",
            "3",
            "5",
            "K",
            "L",
            "c",
            "addr(",
            "pkh(",
            "combo(",
            "\u{3000}",
            "あい",
        ],
        run,
    });
}
