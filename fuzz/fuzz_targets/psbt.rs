//! PSBT as `custos psbt decode|analyze|finalize|extract` and `custos-signer sign` read it: binary,
//! base64, hex, BC-UR or BBQr (`transport::read_psbt`), then the toolbox views and the signer's
//! verification against a wsh and a tr custody policy (the test vectors' policies).
use std::sync::OnceLock;

use custos_core::inventory::CustodyPolicy;
use custos_fuzz::{main as fuzz_main, outcome, Target};
use custos_tx::{custody::Custody, toolbox, transport, verify};

fn custodies() -> &'static [Custody] {
    static C: OnceLock<Vec<Custody>> = OnceLock::new();
    C.get_or_init(|| {
        [
            include_str!("../../fixtures/psbt/interop/custody-wsh.policy.json"),
            include_str!("../../fixtures/psbt/interop/custody-tr.policy.json"),
        ]
        .iter()
        .map(|t| {
            let p: CustodyPolicy = serde_json::from_str(t).expect("fixture policy is json");
            Custody::from_policy(&p).expect("fixture policy is valid")
        })
        .collect()
    })
}

fn run(data: &[u8]) -> String {
    let parsed = transport::read_psbt(data);
    let Ok((psbt, enc)) = &parsed else {
        return outcome(&parsed, |_| String::new());
    };
    let _ = toolbox::decode(psbt, bitcoin::Network::Regtest);
    let _ = toolbox::analyze(psbt);
    let _ = verify::spent_outputs(psbt);
    let mut fin = psbt.clone();
    let done = toolbox::finalize(&mut fin);
    let extracted = toolbox::extract(&fin);
    let opts = verify::VerifyOptions {
        now_unix: Some(1_790_000_000),
        tip_height: Some(500),
        ..verify::VerifyOptions::default()
    };
    let reviews: Vec<String> = custodies()
        .iter()
        .map(|c| {
            outcome(&verify::verify_psbt(psbt, c, &opts), |r| {
                r.to_text().len().to_string()
            })
        })
        .collect();
    format!(
        "ok {enc:?} in {} out {} complete {} extract {} verify {}",
        psbt.inputs.len().min(3),
        psbt.outputs.len().min(3),
        done.complete,
        extracted.is_ok(),
        reviews.join(" | ")
    )
}

fn main() {
    fuzz_main(Target {
        name: "psbt",
        tokens: &[
            "psbt\u{ff}",
            "cHNidP8",
            "70736274ff",
            "ur:psbt/",
            "ur:crypto-psbt/",
            "B$ZP",
            "B$HP",
            "B$2P",
            "\u{0}\u{0}",
            "\u{1}",
            "\u{fd}\u{ff}\u{ff}",
        ],
        run,
    });
}
