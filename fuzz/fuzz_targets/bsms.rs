//! BSMS 1.0 (BIP129) round-1 key records: `parse_bsms_key`, the key expression inside it, the
//! public key and the signature check.
use custos_ceremony::record;
use custos_fuzz::{main as fuzz_main, text, Target};

fn run(data: &[u8]) -> String {
    let Some(t) = text(data) else {
        return "not utf-8".into();
    };
    let rec = match record::parse_bsms_key(t, "fuzz") {
        Ok(r) => r,
        Err(e) => return format!("err {e}"),
    };
    let _ = rec.signed_text();
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let expr = match record::parse_key_expr(&rec.key, "fuzz") {
        Ok(_) => "expr ok".to_string(),
        Err(e) => format!("expr err {e}"),
    };
    let pk = record::bsms_public_key(&rec.key, "fuzz").is_ok();
    let sig = match record::verify_bsms_key(&secp, &rec, "fuzz") {
        Ok(()) => "sig ok".to_string(),
        Err(e) => format!("sig err {e}"),
    };
    format!("ok {expr} pk {pk} {sig}")
}

fn main() {
    fuzz_main(Target {
        name: "bsms",
        tokens: &[
            "BSMS 1.0\n",
            "00\n",
            "\n",
            "[",
            "]",
            "/48'/0'/0'/2'",
            "xpub",
            "tpub",
            "02",
            "03",
            "=",
            "+",
            "IB7v",
            "H",
            "a9f8c2d1e0b3a4c5",
            "Signer 1 key",
        ],
        run,
    });
}
