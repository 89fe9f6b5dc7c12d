//! Electrum wallet files as found on a seized computer (Electrum 2.x – 4.x JSON wallet files):
//! plain or storage-encrypted with a password, standard (p2pkh / p2wpkh-p2sh / p2wpkh from
//! the keystore's SLIP-132 prefix), old-seed, multisig (`MofN`, TrustedCoin `2fa`) and imported
//! (keys or addresses) wallets. Read into their public parts: keystore xpubs with their key
//! origin, old master public keys, imported addresses and public keys. Nothing secret is kept.
//!
//! Storage encryption (Electrum's `storage.py`, version "BIE1", the user-password form): the
//! file is base64 of `"BIE1" ‖ ephemeral pubkey (33) ‖ AES-128-CBC ciphertext ‖ HMAC-SHA256 (32)`;
//! the decryption key is PBKDF2-HMAC-SHA512(password, salt "", 1024 rounds) reduced modulo the
//! curve order; ECDH with the ephemeral key, SHA-512 of the compressed shared point gives
//! IV ‖ AES key ‖ MAC key; the plaintext is zlib-compressed JSON. "BIE2" (encrypted with a
//! hardware device's xpub) cannot be opened without the device and is refused as such.
//!
//! Not for: reading keystore secrets (xprv, seed, imported WIF keys), which Electrum encrypts
//! separately with the same password; the signer does not need them for a watch-only file.

use std::str::FromStr;

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use base64::Engine as _;
use bitcoin::{
    bip32::Xpub,
    hashes::{hmac, sha256, sha512, Hash, HashEngine},
    secp256k1::{PublicKey as EcPublicKey, Scalar, Secp256k1, SecretKey},
    Address,
};
use custos_core::{Network, Secret, SecretString};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use crate::{
    slip132::{self, Decoded, ScriptHint},
    watch_only::sink::{addr_descriptor, checked_descriptor},
    Error,
};

const KIND: &str = "electrum wallet file";
/// Largest decompressed wallet accepted (a wallet with a long history is a few MB).
const MAX_PLAIN: usize = 64 * 1024 * 1024;

fn fault(f: impl Into<String>) -> Error {
    Error::Invalid {
        kind: KIND,
        line: None,
        fault: f.into(),
    }
}

/// Whether `text` is a storage-encrypted Electrum wallet ("BIE1"/"BIE2" in base64).
pub(crate) fn is_encrypted_wallet(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("QklFMQ") || t.starts_with("QklFMg")
}

/// Whether `text` is a plain Electrum wallet file (a JSON object with `wallet_type` and
/// `seed_version`).
pub(crate) fn is_plain_wallet(text: &str) -> bool {
    let t = text.trim_start();
    custos_core::file::is_json_object(t)
        && t.contains("\"seed_version\"")
        && t.contains("\"wallet_type\"")
}

/// One public source of a wallet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSource {
    /// Label (`electrum/0`, `electrum-multisig/1`, `electrum-imported/3`, ...).
    pub label: String,
    /// Public descriptor with checksum.
    pub descriptor: String,
    /// Change chain.
    pub change: bool,
}

/// The public parts of an Electrum wallet file.
#[derive(Debug, Clone)]
pub struct ElectrumWallet {
    /// `standard`, `2of3`, `2fa`, `imported`, ...
    pub wallet_type: String,
    /// Electrum's file format version.
    pub seed_version: u64,
    /// Script type in words (`p2wpkh`, `2-of-3 p2wsh`, `imported`, `old (p2pkh, uncompressed)`).
    pub script: String,
    /// Whether the file holds private material (seed, xprv or imported keys; Electrum may
    /// have encrypted those fields with the password).
    pub has_private: bool,
    /// Whether the file was storage-encrypted.
    pub was_encrypted: bool,
    /// Sources (ranged descriptors for HD wallets, single keys or addresses for imported ones).
    pub sources: Vec<WalletSource>,
    /// Master public key of an old-seed keystore (keys are listed in a window when scanned).
    pub old_mpk: Option<EcPublicKey>,
}

/// Decrypts a storage-encrypted wallet file with its password. A wrong password is reported
/// as such (the MAC does not match), never with any content.
pub(crate) fn decrypt(raw: &SecretString, password: &SecretString) -> Result<SecretString, Error> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(raw.expose_secret().trim().as_bytes())
        .map_err(|e| fault(format!("encrypted wallet is not base64: {e}")))?;
    if data.len() < 85 {
        return Err(fault(format!(
            "encrypted wallet of {} bytes is too short",
            data.len()
        )));
    }
    if &data[..4] == b"BIE2" {
        return Err(Error::Unsupported {
            kind: KIND,
            reason:
                "the file is encrypted with a hardware wallet's key (BIE2); open it with the device"
                    .into(),
        });
    }
    if &data[..4] != b"BIE1" {
        return Err(fault("unknown encryption magic (not BIE1)"));
    }
    let key = password_key(password)?;
    let secp = Secp256k1::new();
    let ephemeral =
        EcPublicKey::from_slice(&data[4..37]).map_err(|_| fault("invalid ephemeral public key"))?;
    let shared = ephemeral
        .mul_tweak(&secp, &Scalar::from(key))
        .map_err(|_| fault("invalid ephemeral public key"))?;
    let mut keys = sha512::Hash::hash(&shared.serialize()).to_byte_array();
    let body = &data[..data.len() - 32];
    let mut mac = hmac::HmacEngine::<sha256::Hash>::new(&keys[32..]);
    mac.input(body);
    let mac = hmac::Hmac::<sha256::Hash>::from_engine(mac).to_byte_array();
    if mac[..] != data[data.len() - 32..] {
        keys.zeroize();
        return Err(fault(
            "wrong password (the file's authentication code does not match)",
        ));
    }
    let compressed = aes128_cbc_decrypt(&keys[16..32], &keys[..16], &data[37..data.len() - 32]);
    keys.zeroize();
    let compressed = compressed?;
    let plain = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_PLAIN)
        .map_err(|e| {
            fault(format!(
                "decrypted wallet does not decompress: {:?}",
                e.status
            ))
        })?;
    String::from_utf8(plain)
        .map(Secret::new)
        .map_err(|_| fault("decrypted wallet is not utf-8 text"))
}

/// Electrum's storage key: PBKDF2-HMAC-SHA512(password, "", 1024) as a 512-bit number modulo
/// the curve order n (`ECPrivkey.from_arbitrary_size_secret`).
fn password_key(password: &SecretString) -> Result<SecretKey, Error> {
    let mut stretched =
        crate::pbkdf2::pbkdf2_hmac_sha512(password.expose_secret().as_bytes(), b"", 1024);
    let reduce = |half: &[u8]| -> Zeroizing<[u8; 32]> {
        let mut a = Zeroizing::new([0u8; 32]);
        a.copy_from_slice(half);
        reduce_once(&mut a);
        a
    };
    let hi = reduce(&stretched[..32]);
    let lo = reduce(&stretched[32..]);
    stretched.zeroize();
    // value = hi · 2^256 + lo  (mod n), with 2^256 mod n = 2^256 − n.
    let two_256 =
        Scalar::from_be_bytes(TWO_256_MOD_N).map_err(|_| fault("internal: 2^256 mod n"))?;
    let lo_scalar = Scalar::from_be_bytes(*lo).map_err(|_| fault("internal: reduced scalar"))?;
    let key = SecretKey::from_slice(&*hi)
        .and_then(|k| k.mul_tweak(&two_256))
        .and_then(|k| k.add_tweak(&lo_scalar))
        .map_err(|_| fault("the password gives a zero key (astronomically unlikely)"))?;
    Ok(key)
}

/// The curve order n of secp256k1, big-endian.
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
];
/// 2^256 − n, big-endian.
const TWO_256_MOD_N: [u8; 32] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x45, 0x51, 0x23, 0x19, 0x50, 0xB7, 0x5F,
    0xC4, 0x40, 0x2D, 0xA1, 0x73, 0x2F, 0xC9, 0xBE, 0xBF,
];

/// a < 2^256 < 2n, so one conditional subtraction of n reduces it.
fn reduce_once(a: &mut [u8; 32]) {
    if a[..] < N[..] {
        return;
    }
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(a[i]) - i16::from(N[i]) - borrow;
        borrow = i16::from(d < 0);
        a[i] = (d + 256 * borrow) as u8;
    }
}

/// AES-128-CBC decryption with PKCS#7 padding removed.
fn aes128_cbc_decrypt(key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if ct.is_empty() || !ct.len().is_multiple_of(16) {
        return Err(fault("ciphertext is not a whole number of aes blocks"));
    }
    let cipher = aes::Aes128::new(GenericArray::from_slice(key));
    let mut out = Zeroizing::new(Vec::with_capacity(ct.len()));
    let mut prev = [0u8; 16];
    prev.copy_from_slice(iv);
    for block in ct.chunks(16) {
        let mut b = GenericArray::clone_from_slice(block);
        cipher.decrypt_block(&mut b);
        out.extend(b.iter().zip(prev.iter()).map(|(x, p)| x ^ p));
        prev.copy_from_slice(block);
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0
        || pad > 16
        || out[out.len() - pad..]
            .iter()
            .any(|&b| usize::from(b) != pad)
    {
        return Err(fault("bad padding after decryption"));
    }
    let keep = out.len() - pad;
    out.truncate(keep);
    Ok(out)
}

/// Reads a (decrypted) wallet file into its public parts, checked against `network`.
pub(crate) fn parse(
    text: &SecretString,
    network: Network,
    was_encrypted: bool,
) -> Result<ElectrumWallet, Error> {
    let v: Value = serde_json::from_str(text.expose_secret())
        .map_err(|e| fault(format!("not json: line {} column {}", e.line(), e.column())))?;
    let wallet_type = v["wallet_type"]
        .as_str()
        .ok_or_else(|| fault("no wallet_type"))?
        .to_string();
    let seed_version = v["seed_version"].as_u64().unwrap_or_default();
    let mut w = ElectrumWallet {
        wallet_type: wallet_type.clone(),
        seed_version,
        script: String::new(),
        has_private: false,
        was_encrypted,
        sources: Vec::new(),
        old_mpk: None,
    };
    if wallet_type == "imported" {
        imported(&v, network, &mut w)?;
    } else if let Some((m, n)) = multisig_shape(&wallet_type) {
        multisig(&v, m, n, network, &mut w)?;
    } else {
        single(&v["keystore"], network, &mut w)?;
    }
    Ok(w)
}

/// `MofN` wallets, and TrustedCoin `2fa` (2 of 3).
fn multisig_shape(wallet_type: &str) -> Option<(usize, usize)> {
    if wallet_type == "2fa" {
        return Some((2, 3));
    }
    let (m, n) = wallet_type.split_once("of")?;
    Some((m.parse().ok()?, n.parse().ok()?))
}

fn keystore_private(k: &Value) -> bool {
    let present = |f: &str| k[f].as_str().is_some_and(|s| !s.is_empty());
    present("xprv") || present("seed") || k["keypairs"].as_object().is_some_and(|m| !m.is_empty())
}

/// A keystore's xpub with its key origin and script hint, checked against the network.
fn keystore_key(k: &Value, network: Network, which: &str) -> Result<(String, ScriptHint), Error> {
    let text = k["xpub"]
        .as_str()
        .ok_or_else(|| fault(format!("keystore {which} has no xpub")))?;
    let (xpub, v) = match slip132::decode(text) {
        Ok(Decoded::Public(x, v)) => (x, v),
        Ok(Decoded::Private(..)) => {
            return Err(fault(format!(
                "keystore {which}: xpub field holds a private key"
            )))
        }
        Err(e) => return Err(fault(format!("keystore {which}: xpub: {e}"))),
    };
    if v.mainnet != (network == Network::Bitcoin) {
        return Err(Error::WrongNetwork {
            kind: KIND,
            line: None,
            found: if v.mainnet {
                "mainnet"
            } else {
                "a test network"
            }
            .into(),
            expected: network,
        });
    }
    Ok((with_origin(k, &xpub), v.hint))
}

/// `[fp/path]xpub` when the keystore records its root fingerprint and derivation.
fn with_origin(k: &Value, xpub: &Xpub) -> String {
    let fp = k["root_fingerprint"]
        .as_str()
        .filter(|f| f.len() == 8 && f.bytes().all(|b| b.is_ascii_hexdigit()));
    let path = k["derivation"]
        .as_str()
        .and_then(|d| bitcoin::bip32::DerivationPath::from_str(d).ok());
    match (fp, path) {
        (Some(fp), Some(p)) if p.len() == usize::from(xpub.depth) => {
            if p.is_empty() {
                format!("[{fp}]{xpub}")
            } else {
                format!("[{fp}/{p}]{xpub}")
            }
        }
        _ => xpub.to_string(),
    }
}

fn single(k: &Value, network: Network, w: &mut ElectrumWallet) -> Result<(), Error> {
    w.has_private = keystore_private(k);
    if k["type"].as_str() == Some("old") {
        let mpk = k["mpk"]
            .as_str()
            .ok_or_else(|| fault("old keystore without mpk"))?;
        let bytes = hex::decode(mpk).map_err(|_| fault("old keystore mpk is not hex"))?;
        let mut full = vec![0x04];
        full.extend_from_slice(&bytes);
        let pk = EcPublicKey::from_slice(&full)
            .map_err(|_| fault("old keystore mpk is not a public key"))?;
        w.old_mpk = Some(pk);
        w.script = "old (p2pkh, uncompressed keys)".into();
        return Ok(());
    }
    let (key, hint) = keystore_key(k, network, "keystore")?;
    let (wrap, script): (fn(&str) -> String, &str) = match hint {
        ScriptHint::Generic => (|k| format!("pkh({k})"), "p2pkh"),
        ScriptHint::ShWpkh => (|k| format!("sh(wpkh({k}))"), "p2wpkh-p2sh"),
        ScriptHint::Wpkh => (|k| format!("wpkh({k})"), "p2wpkh"),
        ScriptHint::ShWshMulti | ScriptHint::WshMulti => {
            return Err(fault("a single-key wallet with a multisig keystore key"))
        }
    };
    w.script = script.into();
    for chain in [0u32, 1] {
        w.sources.push(WalletSource {
            label: format!("electrum/{chain}"),
            descriptor: checked_descriptor(&wrap(&format!("{key}/{chain}/*")))?,
            change: chain == 1,
        });
    }
    Ok(())
}

fn multisig(
    v: &Value,
    m: usize,
    n: usize,
    network: Network,
    w: &mut ElectrumWallet,
) -> Result<(), Error> {
    if m == 0 || m > n || n > 15 {
        return Err(fault(format!(
            "wallet type {} is no valid multisig",
            w.wallet_type
        )));
    }
    let mut keys = Vec::new();
    let mut hints = Vec::new();
    for i in 1..=n {
        let k = &v[format!("x{i}/")];
        w.has_private |= keystore_private(k);
        let (key, hint) = keystore_key(k, network, &format!("x{i}/"))?;
        keys.push(key);
        hints.push(hint);
    }
    let (open, close, script) = match hints[0] {
        ScriptHint::WshMulti => ("wsh(", ")", "p2wsh"),
        ScriptHint::ShWshMulti => ("sh(wsh(", "))", "p2wsh-p2sh"),
        ScriptHint::Generic => ("sh(", ")", "p2sh"),
        ScriptHint::ShWpkh | ScriptHint::Wpkh => {
            return Err(fault(
                "multisig keystores carry single-key (ypub/zpub) prefixes",
            ))
        }
    };
    if hints.iter().any(|h| *h != hints[0]) {
        return Err(fault("multisig keystores of different script types"));
    }
    w.script = format!("{m}-of-{n} {script}");
    for chain in [0u32, 1] {
        let ks: Vec<String> = keys.iter().map(|k| format!("{k}/{chain}/*")).collect();
        let text = format!("{open}sortedmulti({m},{}){close}", ks.join(","));
        w.sources.push(WalletSource {
            label: format!("electrum-multisig/{chain}"),
            descriptor: checked_descriptor(&text)?,
            change: chain == 1,
        });
    }
    Ok(())
}

/// Imported wallets: every address, as a key descriptor when Electrum recorded its public key
/// and script type (imported private keys), else as `addr(...)` (imported addresses).
fn imported(v: &Value, network: Network, w: &mut ElectrumWallet) -> Result<(), Error> {
    w.has_private = keystore_private(&v["keystore"]);
    w.script = "imported".into();
    let addrs = v["addresses"]
        .as_object()
        .ok_or_else(|| fault("imported wallet without addresses"))?;
    for (i, (addr, info)) in addrs.iter().enumerate() {
        let a =
            Address::from_str(addr).map_err(|e| fault(format!("imported address {addr}: {e}")))?;
        if !a.is_valid_for_network(network.to_bitcoin()) {
            return Err(Error::WrongNetwork {
                kind: KIND,
                line: None,
                found: format!("another network (address {addr})"),
                expected: network,
            });
        }
        let pubkey = info["pubkey"].as_str();
        let text = match (info["type"].as_str(), pubkey) {
            (Some("p2pkh"), Some(p)) => checked_descriptor(&format!("pkh({p})"))?,
            (Some("p2wpkh"), Some(p)) => checked_descriptor(&format!("wpkh({p})"))?,
            (Some("p2wpkh-p2sh"), Some(p)) => checked_descriptor(&format!("sh(wpkh({p}))"))?,
            _ => addr_descriptor(addr)?,
        };
        w.sources.push(WalletSource {
            label: format!("electrum-imported/{}", i + 1),
            descriptor: text,
            change: false,
        });
    }
    Ok(())
}
