//! Output descriptors from outside: the ceremony's `parse_descriptor` (policies, BSMS round 2,
//! `ceremony verify`) and the inventory's `ParsedDescriptor::parse` (multipath split, addr(),
//! derivation at an index, network check).
use bitcoin::Network;
use custos_fuzz::{main as fuzz_main, outcome, text, Target};
use custos_inspect::derive::ParsedDescriptor;

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let a = custos_ceremony::assemble::parse_descriptor(t, "fuzz");
    let a = outcome(&a, |d| d.to_string().len().min(1).to_string());
    let b = ParsedDescriptor::parse("fuzz", t);
    let b = match &b {
        Ok(list) => {
            let mut s = format!("ok {}", list.len().min(3));
            for d in list {
                let _ = d.is_ranged();
                for net in [Network::Bitcoin, Network::Regtest] {
                    s.push_str(&format!(" net {}", d.check_network("fuzz", net).is_ok()));
                }
                for i in [0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
                    s.push_str(&format!(" {}", d.at("fuzz", i).is_ok()));
                }
            }
            s
        }
        Err(e) => format!("err {e}"),
    };
    format!("{a} / {b}")
}

fn main() {
    fuzz_main(Target {
        name: "descriptor",
        tokens: &["wpkh(", "wsh(", "tr(", "sh(", "pkh(", "multi(", "sortedmulti(", "multi_a(", "sortedmulti_a(", "and_v(", "v:", "pk(", "older(", "after(", "thresh(", "addr(", "raw(", "rawtr(", "combo(", "[d34db33f/48'/0'/0'/2']", "/0/*", "/1/*", "/<0;1>/*", "/<0;1;2>/*", "/*'", "/*h", "#", "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8", "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B", "50929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0", "02", ","],
        run,
    });
}
