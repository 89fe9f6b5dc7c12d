//! Key records from keyholders, as `custos-signer ceremony assemble` / `custos ceremony` read them:
//! `load_key_text` (a JSON key record with its proof of possession, or a BSMS round-1 record) and
//! `import_text` (a Coldcard JSON export or a `ur:crypto-account` / `ur:account-descriptor`).
use custos_ceremony::{import, record, ScriptKind};
use custos_core::Network;
use custos_fuzz::{main as fuzz_main, outcome, text, Target};

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let a = outcome(&record::load_key_text(&secp, t, "fuzz"), |k| {
        k.key_expr().len().min(1).to_string()
    });
    let mut s = a;
    for (net, script) in [
        (Network::Bitcoin, ScriptKind::Wsh),
        (Network::Regtest, ScriptKind::Tr),
        (Network::Testnet, ScriptKind::ShWsh),
    ] {
        let r = import::import_text(t, "fuzz", net, script, "label", "2026-01-01T00:00:00Z");
        s.push_str(" / ");
        s.push_str(&outcome(&r, |_| String::new()));
    }
    s
}

fn main() {
    fuzz_main(Target {
        name: "key_record",
        tokens: &[
            "BSMS 1.0",
            "\n00\n",
            "{\"format\"",
            "custos-key-record-v1",
            "\"xpub\"",
            "\"xfp\"",
            "\"p2wsh\"",
            "\"p2wsh_deriv\"",
            "\"bip48_2\"",
            "\"deriv\"",
            "\"proof\"",
            "\"fingerprint\"",
            "\"path\"",
            "m/48'/0'/0'/2'",
            "m/48h/1h/0h/2h",
            "ur:crypto-account/",
            "ur:account-descriptor/",
            "Zpub",
            "Vpub",
            "tpub",
            "xpub",
        ],
        run,
    });
}
