//! `eth-sign-request` (ERC-4527, CBOR tag 401) for QR signers: one request per unsigned
//! EIP-1559 transaction, sign-data = the EIP-1559 signing payload (`0x02 ‖ rlp(...)`),
//! data-type 4 (typed transaction), the chain id, the sender's key path (tag 304
//! crypto-keypath) and address, encoded as a `ur:eth-sign-request/...` string (single part) or
//! as fountain-coded parts for an animated QR.
//!
//! The request id is derived from the payload (keccak256, first 16 bytes, RFC 4122 version 8
//! bits set), so the same transaction always gives the same request.

use alloy_primitives::keccak256;

use crate::{
    error::{Error, Result},
    tx::signing_payload,
    unsigned::CheckedTx,
};

/// CBOR tag of `eth-sign-request`.
pub const TAG_ETH_SIGN_REQUEST: u64 = 401;
/// CBOR tag of `crypto-keypath`.
pub const TAG_CRYPTO_KEYPATH: u64 = 304;
/// CBOR tag of a UUID.
pub const TAG_UUID: u64 = 37;
/// ERC-4527 data type of a typed (EIP-2718) transaction.
pub const DATA_TYPE_TYPED_TRANSACTION: u64 = 4;

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

/// Parses `m/44'/60'/0'/0/3` into (index, hardened) components.
fn path_components(path: &str, subject: &str) -> Result<Vec<(u32, bool)>> {
    let bad = || {
        Error::malformed(
            format!("{subject} field key_path"),
            format!("{path:?} is not a derivation path"),
        )
    };
    let rest = path.strip_prefix("m/").ok_or_else(bad)?;
    rest.split('/')
        .map(|c| {
            let (n, hardened) = match c.strip_suffix('\'').or_else(|| c.strip_suffix('h')) {
                Some(n) => (n, true),
                None => (c, false),
            };
            let i: u32 = n.parse().map_err(|_| bad())?;
            if i >= 1 << 31 {
                return Err(bad());
            }
            Ok((i, hardened))
        })
        .collect()
}

/// The CBOR of the `eth-sign-request` for one transaction (untagged map, as carried in a UR).
pub fn eth_sign_request_cbor(
    chain_id: u64,
    t: &CheckedTx,
    source_fingerprint: Option<u32>,
) -> Result<Vec<u8>> {
    let path = t.key_path.as_deref().ok_or_else(|| {
        Error::malformed(
            format!("{} field key_path", t.subject()),
            "missing; a qr signer needs the sender's derivation path",
        )
    })?;
    let components = path_components(path, &t.subject())?;
    let payload = signing_payload(chain_id, t);
    let mut id = [0u8; 16];
    id.copy_from_slice(&keccak256(&payload)[..16]);
    id[6] = (id[6] & 0x0f) | 0x80; // version 8 (custom)
    id[8] = (id[8] & 0x3f) | 0x80; // RFC 4122 variant

    let mut out = Vec::with_capacity(payload.len() + 96);
    head(&mut out, 5, 6); // map of 6 entries (1..=6; no origin)
    head(&mut out, 0, 1);
    head(&mut out, 6, TAG_UUID);
    bytes(&mut out, &id);
    head(&mut out, 0, 2);
    bytes(&mut out, &payload);
    head(&mut out, 0, 3);
    head(&mut out, 0, DATA_TYPE_TYPED_TRANSACTION);
    head(&mut out, 0, 4);
    head(&mut out, 0, chain_id);
    head(&mut out, 0, 5);
    head(&mut out, 6, TAG_CRYPTO_KEYPATH);
    head(
        &mut out,
        5,
        if source_fingerprint.is_some() { 2 } else { 1 },
    );
    head(&mut out, 0, 1);
    head(&mut out, 4, 2 * components.len() as u64);
    for (i, h) in &components {
        head(&mut out, 0, u64::from(*i));
        out.push(if *h { 0xf5 } else { 0xf4 });
    }
    if let Some(fp) = source_fingerprint {
        head(&mut out, 0, 2);
        head(&mut out, 0, u64::from(fp));
    }
    head(&mut out, 0, 6);
    bytes(&mut out, t.from.as_slice());
    Ok(out)
}

/// The request as one `ur:eth-sign-request/...` string.
pub fn eth_sign_request_ur(
    chain_id: u64,
    t: &CheckedTx,
    source_fingerprint: Option<u32>,
) -> Result<String> {
    let cbor = eth_sign_request_cbor(chain_id, t, source_fingerprint)?;
    Ok(ur::ur::encode(&cbor, &ur::Type::Custom("eth-sign-request")))
}

/// The request as fountain-coded UR parts (`max_fragment_len` bytes each; the first
/// `ceil(len / fragment)` parts are the message itself, then `extra` mixed parts).
pub fn eth_sign_request_parts(
    chain_id: u64,
    t: &CheckedTx,
    source_fingerprint: Option<u32>,
    max_fragment_len: usize,
    extra: usize,
) -> Result<Vec<String>> {
    let cbor = eth_sign_request_cbor(chain_id, t, source_fingerprint)?;
    let mut enc = ur::Encoder::new(&cbor, max_fragment_len, "eth-sign-request")
        .map_err(|e| Error::malformed(t.subject(), format!("ur encoding: {e}")))?;
    let n = enc.fragment_count() + extra;
    (0..n)
        .map(|_| {
            enc.next_part()
                .map_err(|e| Error::malformed(t.subject(), format!("ur encoding: {e}")))
        })
        .collect()
}
