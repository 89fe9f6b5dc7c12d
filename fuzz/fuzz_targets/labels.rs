//! Trace label files: GraphSense TagPack YAML (`parse_tagpack`) and label CSV (`parse_csv`), on
//! mainnet and regtest.
use custos_core::Network;
use custos_fuzz::{main as fuzz_main, outcome, text, Target};
use custos_trace::labels::{parse_csv, parse_tagpack};

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let mut s = String::new();
    for net in [Network::Regtest, Network::Bitcoin] {
        s.push_str(&outcome(&parse_tagpack(t, "fuzz", net), |p| {
            format!("{:?}", p).len().min(1).to_string()
        }));
        s.push_str(" / ");
        s.push_str(&outcome(&parse_csv(t, "fuzz", net), |l| {
            l.len().min(3).to_string()
        }));
        s.push_str(" ; ");
    }
    s
}

fn main() {
    fuzz_main(Target {
        name: "labels",
        tokens: &[
            "tags:\n",
            "  - address: ",
            "    label: ",
            "    category: ",
            "currency: BTC",
            "currency: ETH",
            "confidence: ",
            "is_public: ",
            "address,label,category\n",
            "\"",
            ",",
            "&a",
            "*a",
            "<<: *a",
            "!!binary",
            "---\n",
            "...\n",
            "? ",
            "|\n",
            ">-\n",
            "bcrt1q",
            "bc1q",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        ],
        run,
    });
}
