//! Air-gap transports for PSBTs: BC-UR (`ur:psbt`, reading `ur:crypto-psbt` too, single or
//! fountain-coded multi-part, parts in any order, missing parts reported) and BBQr (Coinkite's
//! "Better Bitcoin QR": `B$` header, hex / base32 / zlib+base32, parts in any order), plus
//! terminal and SVG QR rendering.
//!
//! A `psbt` UR body is a CBOR byte string holding the PSBT (BCR-2020-006); custos writes the v2
//! name `psbt` and reads both `psbt` and the older `crypto-psbt`.

use std::collections::BTreeMap;

use bitcoin::Psbt;

use crate::{
    error::{Error, Result},
    psbt_io::{parse_any_with_encoding, parse_binary, Encoding},
};

fn ur_err(reason: impl Into<String>) -> Error {
    Error::Transport {
        format: "bc-ur",
        reason: reason.into(),
    }
}

fn bbqr_err(reason: impl Into<String>) -> Error {
    Error::Transport {
        format: "bbqr",
        reason: reason.into(),
    }
}

/// CBOR byte string (major type 2) around `data`.
pub fn cbor_bytes(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut out = Vec::with_capacity(n + 9);
    if n < 24 {
        out.push(0x40 | n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x58, n as u8]);
    } else if n < 0x1_0000 {
        out.push(0x59);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x5a);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// The content of a CBOR byte string that must span the whole input.
pub fn cbor_unwrap_bytes(cbor: &[u8]) -> Result<Vec<u8>> {
    let (&first, rest) = cbor.split_first().ok_or_else(|| ur_err("empty cbor"))?;
    if first >> 5 != 2 {
        return Err(ur_err(format!(
            "cbor item is major type {}, expected a byte string",
            first >> 5
        )));
    }
    let info = first & 0x1f;
    let (len, body) = match info {
        0..=23 => (usize::from(info), rest),
        24..=27 => {
            let w = 1usize << (info - 24);
            if rest.len() < w {
                return Err(ur_err("truncated cbor length"));
            }
            let mut v: u64 = 0;
            for b in &rest[..w] {
                v = (v << 8) | u64::from(*b);
            }
            (
                usize::try_from(v).map_err(|_| ur_err("cbor length too large"))?,
                &rest[w..],
            )
        }
        _ => return Err(ur_err("indefinite or invalid cbor byte string length")),
    };
    if body.len() != len {
        return Err(ur_err(format!(
            "cbor byte string says {len} bytes, {} present",
            body.len()
        )));
    }
    Ok(body.to_vec())
}

/// A single-part `ur:psbt/...`.
pub fn psbt_to_ur(psbt: &Psbt) -> String {
    ur::ur::encode(&cbor_bytes(&psbt.serialize()), &ur::Type::Custom("psbt"))
}

/// Fountain-coded `ur:psbt/SEQ-LEN/...` parts: the `LEN` pure fragments and then `extra`
/// mixed ones (a receiver that misses some pure fragments recovers from mixed ones).
pub fn psbt_to_ur_parts(psbt: &Psbt, max_fragment_len: usize, extra: usize) -> Result<Vec<String>> {
    let msg = cbor_bytes(&psbt.serialize());
    let mut enc =
        ur::Encoder::new(&msg, max_fragment_len, "psbt").map_err(|e| ur_err(e.to_string()))?;
    let n = enc.fragment_count();
    (0..n + extra)
        .map(|_| enc.next_part().map_err(|e| ur_err(e.to_string())))
        .collect()
}

/// Parses `seq-len` of a multi-part UR.
fn ur_indices(part: &str) -> Option<(usize, usize)> {
    let rest = part.get(3..)?;
    let mut it = rest.split('/');
    let _ty = it.next()?;
    let idx = it.next()?;
    it.next()?;
    let (a, b) = idx.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Reads a PSBT from UR text: one `ur:psbt` / `ur:crypto-psbt`, or many fountain parts (one per
/// line, any order, duplicates fine). When parts are missing, the error lists them.
pub fn psbt_from_ur(text: &str) -> Result<Psbt> {
    let parts: Vec<String> = text
        .split_whitespace()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| s.starts_with("ur:"))
        .collect();
    let first = parts.first().ok_or_else(|| ur_err("no ur: part found"))?;
    let ty = first[3..].split('/').next().unwrap_or("");
    if ty != "psbt" && ty != "crypto-psbt" {
        return Err(ur_err(format!("ur type {ty:?} is not psbt or crypto-psbt")));
    }
    let cbor = if parts.len() == 1 && ur_indices(first).is_none() {
        let (_, payload) = ur::ur::decode(first).map_err(|e| ur_err(e.to_string()))?;
        payload
    } else {
        let mut dec = ur::Decoder::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut total = 0;
        for (n, p) in parts.iter().enumerate() {
            let Some((seq, len)) = ur_indices(p) else {
                return Err(ur_err(format!(
                    "part {} is a single-part ur among multi-part ones",
                    n + 1
                )));
            };
            if !p[3..].starts_with(ty) {
                return Err(ur_err(format!(
                    "part {} has another ur type than {ty}",
                    n + 1
                )));
            }
            total = len;
            seen.insert(seq);
            dec.receive(p)
                .map_err(|e| ur_err(format!("part {} ({seq}-{len}): {e}", n + 1)))?;
            if dec.complete() {
                break;
            }
        }
        if !dec.complete() {
            let missing: Vec<String> = (1..=total)
                .filter(|s| !seen.contains(s))
                .map(|s| s.to_string())
                .collect();
            return Err(ur_err(format!(
                "incomplete: {} of {total} fragments resolved; missing part(s) {} of {total}",
                dec.resolved_fragment_count().unwrap_or(0),
                if missing.is_empty() {
                    "(none by number; more mixed parts needed)".to_string()
                } else {
                    missing.join(", ")
                }
            )));
        }
        dec.message()
            .map_err(|e| ur_err(e.to_string()))?
            .ok_or_else(|| ur_err("decoder complete but no message"))?
    };
    let bytes = cbor_unwrap_bytes(&cbor)?;
    parse_binary(&bytes)
}

// ---------------------------------------------------------------------------------------------
// BBQr

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buf: u64 = 0;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

fn base32_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buf: u64 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let v = B32
            .iter()
            .position(|x| *x == c.to_ascii_uppercase())
            .ok_or_else(|| bbqr_err(format!("invalid base32 character {:?}", char::from(c))))?;
        buf = (buf << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

fn base36(n: usize) -> String {
    const D: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!("{}{}", char::from(D[(n / 36) % 36]), char::from(D[n % 36]))
}

fn from_base36(s: &str) -> Option<usize> {
    usize::from_str_radix(s, 36).ok()
}

/// BBQr parts for a PSBT (`B$2P…`, base32 without compression, which every BBQr reader accepts),
/// with at most `max_chars` characters of data per part (rounded down to whole 5-byte groups).
pub fn psbt_to_bbqr(psbt: &Psbt, max_chars: usize) -> Result<Vec<String>> {
    let data = base32_encode(&psbt.serialize());
    let per = (max_chars / 8).max(1) * 8;
    let chunks: Vec<&str> = data
        .as_bytes()
        .chunks(per)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    if chunks.len() > 1295 {
        return Err(bbqr_err(format!(
            "{} parts needed, at most 1295 allowed",
            chunks.len()
        )));
    }
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, c)| format!("B$2P{}{}{c}", base36(chunks.len()), base36(i)))
        .collect())
}

/// Reads BBQr parts (one per line or whitespace-separated, any order, duplicates fine). When
/// parts are missing, the error lists them.
pub fn bbqr_decode(text: &str) -> Result<(char, Vec<u8>)> {
    let mut parts: BTreeMap<usize, String> = BTreeMap::new();
    let mut header: Option<(char, char, usize)> = None;
    for p in text.split_whitespace().filter(|p| p.starts_with("B$")) {
        // The header is 8 ASCII characters; anything else (a multi-byte character in it) is
        // refused before slicing, so the slices below fall on character boundaries.
        let Some(head) = p.get(..8).filter(|h| h.is_ascii()) else {
            return Err(bbqr_err(format!(
                "part {p:?} does not start with an 8-character ascii header"
            )));
        };
        let enc = char::from(head.as_bytes()[2]);
        let ty = char::from(head.as_bytes()[3]);
        let total = from_base36(&head[4..6])
            .ok_or_else(|| bbqr_err(format!("bad part count in {head:?}")))?;
        let idx = from_base36(&head[6..8])
            .ok_or_else(|| bbqr_err(format!("bad part index in {head:?}")))?;
        if total == 0 || idx >= total {
            return Err(bbqr_err(format!("part index {idx} of {total}")));
        }
        match header {
            None => header = Some((enc, ty, total)),
            Some(h) if h != (enc, ty, total) => {
                return Err(bbqr_err(format!(
                    "part {idx} belongs to another bbqr series"
                )));
            }
            _ => {}
        }
        parts.insert(idx, p[8..].to_string());
    }
    let (enc, ty, total) = header.ok_or_else(|| bbqr_err("no B$ part found"))?;
    let missing: Vec<String> = (0..total)
        .filter(|i| !parts.contains_key(i))
        .map(|i| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(bbqr_err(format!(
            "incomplete: {} of {total} parts; missing part(s) {} of {total}",
            parts.len(),
            missing.join(", ")
        )));
    }
    let joined: String = parts.into_values().collect();
    let data = match enc {
        'H' => hex::decode(&joined).map_err(|e| bbqr_err(format!("hex: {e}")))?,
        '2' => base32_decode(&joined)?,
        'Z' => {
            let z = base32_decode(&joined)?;
            miniz_oxide::inflate::decompress_to_vec_with_limit(&z, 16 * 1024 * 1024)
                .map_err(|e| bbqr_err(format!("zlib: {e:?}")))?
        }
        other => return Err(bbqr_err(format!("unknown encoding {other:?}"))),
    };
    Ok((ty, data))
}

/// Reads a PSBT from BBQr parts.
pub fn psbt_from_bbqr(text: &str) -> Result<Psbt> {
    let (ty, data) = bbqr_decode(text)?;
    if ty != 'P' {
        return Err(bbqr_err(format!("file type {ty:?} is not a psbt ('P')")));
    }
    parse_binary(&data)
}

/// Reads a PSBT in any supported form: binary, base64, hex, BC-UR parts or BBQr parts.
pub fn read_psbt(data: &[u8]) -> Result<(Psbt, Encoding)> {
    if let Ok(text) = std::str::from_utf8(data) {
        let t = text.trim_start();
        if t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ur:")) {
            return Ok((psbt_from_ur(t)?, Encoding::Ur));
        }
        if t.starts_with("B$") {
            return Ok((psbt_from_bbqr(t)?, Encoding::Bbqr));
        }
    }
    parse_any_with_encoding(data)
}

/// A QR code of `text` drawn with Unicode half blocks for a terminal (two rows per line).
pub fn qr_terminal(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| Error::Transport {
        format: "qr",
        reason: e.to_string(),
    })?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}

/// A QR code of `text` as an SVG document.
pub fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| Error::Transport {
        format: "qr",
        reason: e.to_string(),
    })?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found by fuzz target `psbt` (fuzz/corpus/psbt/regress-*): a non-ASCII character inside
    // the first bytes of the input was sliced through and panicked.
    #[test]
    fn bbqr_header_with_multibyte_char_is_an_error_not_a_panic() {
        for text in [
            "B$HPu\u{fd}\u{ff}r:z j70-17",
            "B$ao %:\u{2adf}eak",
            "B$\u{e9}P0100",
            "B$ZP01\u{e9}",
        ] {
            let e = bbqr_decode(text).unwrap_err().to_string();
            assert!(
                e.contains("ascii header") || e.contains("bad part"),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn read_psbt_with_multibyte_char_at_start_is_an_error_not_a_panic() {
        for text in ["ur\u{fd}", "u\u{e9}psbt", "\u{2adf}"] {
            assert!(read_psbt(text.as_bytes()).is_err(), "{text:?}");
        }
    }

    #[test]
    fn base32_round_trips() {
        for n in 0..40 {
            let d: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(base32_decode(&base32_encode(&d)).unwrap(), d);
        }
        // RFC 4648 test vector.
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn cbor_byte_strings() {
        for n in [0usize, 5, 23, 24, 255, 256, 70_000] {
            let d = vec![7u8; n];
            assert_eq!(cbor_unwrap_bytes(&cbor_bytes(&d)).unwrap(), d);
        }
        assert!(cbor_unwrap_bytes(&[0x45, 1, 2]).is_err());
        assert!(cbor_unwrap_bytes(&[0x80]).is_err());
    }

    #[test]
    fn base36_two_digits() {
        assert_eq!(base36(0), "00");
        assert_eq!(base36(35), "0Z");
        assert_eq!(base36(36), "10");
        assert_eq!(from_base36("1Z"), Some(71));
    }
}
