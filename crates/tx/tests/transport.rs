//! Air-gap transports: BC-UR and BBQr, against published vectors and round trips with parts
//! in any order and missing parts reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use custos_tx::{
    psbt_io::{parse_any, parse_binary, Encoding},
    transport::{
        psbt_from_bbqr, psbt_from_ur, psbt_to_bbqr, psbt_to_ur, psbt_to_ur_parts, qr_svg,
        qr_terminal, read_psbt,
    },
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/psbt")
}

fn sample() -> bitcoin::Psbt {
    parse_any(&std::fs::read(fixtures().join("interop/sweep-mixed-wsh.psbt")).unwrap()).unwrap()
}

#[test]
fn reads_the_bcr_2020_006_crypto_psbt_vector() {
    let ur = std::fs::read_to_string(fixtures().join("ur/bcr-2020-006-crypto-psbt.txt")).unwrap();
    let hexs =
        std::fs::read_to_string(fixtures().join("ur/bcr-2020-006-crypto-psbt.psbt.hex")).unwrap();
    let p = psbt_from_ur(&ur).unwrap();
    assert_eq!(p.serialize(), hex::decode(hexs.trim()).unwrap());
    // and the same PSBT written as v2 `ur:psbt` has the same body.
    let ours = psbt_to_ur(&p);
    assert_eq!(
        ours.strip_prefix("ur:psbt/").unwrap(),
        ur.trim().strip_prefix("ur:crypto-psbt/").unwrap()
    );
}

#[test]
fn multipart_ur_round_trips_in_any_order() {
    let p = sample();
    let mut parts = psbt_to_ur_parts(&p, 250, 3).unwrap();
    assert!(parts.len() > 5);
    parts.reverse();
    let back = psbt_from_ur(&parts.join("\n")).unwrap();
    assert_eq!(back.serialize(), p.serialize());
    let (q, enc) = read_psbt(parts.join("\n").as_bytes()).unwrap();
    assert_eq!(enc, Encoding::Ur);
    assert_eq!(q, p);
}

#[test]
fn multipart_ur_with_missing_parts_names_them() {
    let p = sample();
    let parts = psbt_to_ur_parts(&p, 250, 0).unwrap();
    let n = parts.len();
    let some: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 3)
        .map(|(_, s)| s.clone())
        .collect();
    let e = psbt_from_ur(&some.join("\n")).unwrap_err().to_string();
    assert!(e.contains(&format!("missing part(s) 2, 4 of {n}")), "{e}");
}

#[test]
fn bbqr_round_trips_and_reports_missing_parts() {
    let p = sample();
    let parts = psbt_to_bbqr(&p, 600).unwrap();
    assert!(parts.len() >= 3);
    assert!(parts[0].starts_with("B$2P"));
    let mut shuffled = parts.clone();
    shuffled.rotate_left(2);
    assert_eq!(psbt_from_bbqr(&shuffled.join("\n")).unwrap(), p);
    let e = psbt_from_bbqr(&parts[1..].join("\n"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("missing part(s) 1 of {}", parts.len())),
        "{e}"
    );
}

#[test]
fn reads_bbqr_zlib_parts_made_by_python_zlib() {
    let text = std::fs::read_to_string(fixtures().join("bbqr/sweep-mixed-wsh.Z.txt")).unwrap();
    let (p, enc) = read_psbt(text.as_bytes()).unwrap();
    assert_eq!(enc, Encoding::Bbqr);
    assert_eq!(p, sample());
}

#[test]
fn rejects_garbage_transports_with_a_named_format() {
    let e = read_psbt(b"ur:bytes/iehsjyhspmwfwfia")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bc-ur:"), "{e}");
    let e = read_psbt(b"B$2P0100AAAA").unwrap_err().to_string();
    assert!(e.starts_with("bbqr:") || e.contains("psbt"), "{e}");
    assert!(parse_binary(b"psbt\xff").is_err());
}

#[test]
fn renders_qr_for_terminal_and_svg() {
    let ur = psbt_to_ur_parts(&sample(), 200, 0).unwrap();
    let t = qr_terminal(&ur[0].to_ascii_uppercase()).unwrap();
    assert!(t.lines().count() > 10);
    let s = qr_svg(&ur[0]).unwrap();
    assert!(s.contains("<svg"));
}
