//! BC-UR PSBT transport: `ur:psbt` / `ur:crypto-psbt`, single or multi-part (fountain codes), as
//! the QR reader hands them over (one part per line), and the CBOR byte-string unwrapping.
use custos_fuzz::{main as fuzz_main, outcome, text, Target};
use custos_tx::transport;

fn run(data: &[u8]) -> String {
    let cbor = outcome(&transport::cbor_unwrap_bytes(data), |b| {
        b.len().min(1).to_string()
    });
    let Some(t) = text(data) else {
        return format!("cbor {cbor} / not utf-8");
    };
    let r = transport::psbt_from_ur(t);
    format!(
        "cbor {cbor} / {}",
        outcome(&r, |p| p.inputs.len().min(3).to_string())
    )
}

fn main() {
    fuzz_main(Target {
        name: "ur",
        tokens: &[
            "ur:psbt/",
            "ur:crypto-psbt/",
            "ur:PSBT/",
            "1-1/",
            "1-2/",
            "2-2/",
            "3-2/",
            "4294967295-1/",
            "1-4294967295/",
            "0-0/",
            "\n",
            "lpad",
            "lpaa",
            "hdosjojk",
            "ae",
            "zm",
            "/",
        ],
        run,
    });
}
