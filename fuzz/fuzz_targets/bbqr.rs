//! BBQr PSBT transport (Coldcard Q): `B$` + encoding + type + total + index parts, hex, base32
//! or zlib, as `bbqr_decode` and `psbt_from_bbqr` read them.
use custos_fuzz::{main as fuzz_main, outcome, text, Target};
use custos_tx::transport;

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let d = outcome(&transport::bbqr_decode(t), |(ty, b)| {
        format!("{ty} {}", b.len().min(1))
    });
    let p = outcome(&transport::psbt_from_bbqr(t), |p| {
        p.inputs.len().min(3).to_string()
    });
    format!("{d} / {p}")
}

fn main() {
    fuzz_main(Target {
        name: "bbqr",
        tokens: &[
            "B$ZP",
            "B$HP",
            "B$2P",
            "B$ZT",
            "B$ZJ",
            "B$ZU",
            "B$XP",
            "0100",
            "0200",
            "0201",
            "ZZ",
            "ZZZY",
            "00",
            "\n",
            "70736274FF",
            "====",
            "AAAA",
        ],
        run,
    });
}
