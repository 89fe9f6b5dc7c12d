//! Custody policy JSON as `custos sweep build --custody` and `custos-signer sign --policy` read
//! it: `CustodyPolicy` from JSON, then `Custody::from_policy` and the scripts at a few indexes.
use custos_core::inventory::CustodyPolicy;
use custos_fuzz::{main as fuzz_main, Target};
use custos_tx::custody::Custody;

fn run(data: &[u8]) -> String {
    let policy: CustodyPolicy = match serde_json::from_slice(data) {
        Ok(p) => p,
        Err(e) => return format!("json {:?}", e.classify()),
    };
    let custody = match Custody::from_policy(&policy) {
        Ok(c) => c,
        Err(e) => return format!("err {e}"),
    };
    let mut s = String::from("ok");
    for (chain, index) in [
        (0u32, 0u32),
        (1, 7),
        (0, policy.next_index),
        (1, u32::MAX),
        (2, 0),
    ] {
        s.push_str(&format!(" {}", custody.script_at(chain, index).is_ok()));
    }
    s.push_str(&format!(" len {}", custody.script_len().is_ok()));
    let xpubs = custody.global_xpubs();
    if let Some((_, (fp, path))) = xpubs.iter().next() {
        s.push_str(&format!(" locate {}", custody.locate(*fp, path).is_some()));
    }
    s
}

fn main() {
    fuzz_main(Target {
        name: "policy",
        tokens: &[
            "\"format\"",
            "custos-custody-policy-v1",
            "\"network\"",
            "\"regtest\"",
            "\"bitcoin\"",
            "\"threshold\"",
            "\"keys\"",
            "\"receive_descriptor\"",
            "\"change_descriptor\"",
            "\"next_index\"",
            "wsh(sortedmulti(",
            "tr(",
            "multi_a(",
            "/0/*",
            "/1/*",
            "/<0;1>/*",
            "#",
        ],
        run,
    });
}
