//! Scenario wallets: key derivation (BIP32 from BIP39 or Electrum seeds, WIF lists, watch-only
//! xpubs, deterministic lab keys) and signing of the lab's own transactions.
//!
//! Signing covers p2pkh, p2sh-p2wpkh, p2wpkh, p2tr key path and p2wsh multisig, with
//! rust-bitcoin's sighash code and deterministic signatures (RFC 6979 for ECDSA, no auxiliary
//! randomness for Schnorr) so that a scenario always produces the same bytes.

use std::collections::HashMap;
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::hashes::{hmac, sha256, sha512, Hash, HashEngine};
use bitcoin::key::{CompressedPublicKey, Keypair, TapTweak};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{
    opcodes, Address, Network, NetworkKind, PrivateKey, PublicKey, ScriptBuf, Transaction, TxOut,
    Witness,
};
use serde::{Deserialize, Serialize};

/// The output script types the lab can receive on and spend from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptType {
    /// Legacy pay-to-pubkey-hash.
    P2pkh,
    /// Nested segwit (BIP49).
    P2shP2wpkh,
    /// Native segwit v0 (BIP84).
    P2wpkh,
    /// Taproot key path (BIP86).
    P2tr,
    /// Native segwit v0 multisig (sortedmulti).
    P2wsh,
}

impl ScriptType {
    /// Name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ScriptType::P2pkh => "p2pkh",
            ScriptType::P2shP2wpkh => "p2sh-p2wpkh",
            ScriptType::P2wpkh => "p2wpkh",
            ScriptType::P2tr => "p2tr",
            ScriptType::P2wsh => "p2wsh",
        }
    }
}

/// How one output script is spent.
#[derive(Clone)]
pub(crate) enum Spend {
    /// A single key (p2pkh, p2sh-p2wpkh, p2wpkh, p2tr).
    Single {
        key: PrivateKey,
        script_type: ScriptType,
    },
    /// `threshold` of the keys, sorted multisig in a p2wsh witness script.
    Multi {
        keys: Vec<PrivateKey>,
        threshold: usize,
        witness_script: ScriptBuf,
    },
}

impl std::fmt::Debug for Spend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spend::Single { script_type, .. } => write!(f, "Spend::Single({})", script_type.name()),
            Spend::Multi {
                threshold, keys, ..
            } => {
                write!(f, "Spend::Multi({threshold}-of-{})", keys.len())
            }
        }
    }
}

/// The script a single key receives on for a script type.
pub(crate) fn single_key_script(
    secp: &Secp256k1<All>,
    pk: &PublicKey,
    script_type: ScriptType,
) -> Result<ScriptBuf, String> {
    let compressed = || {
        CompressedPublicKey::try_from(*pk)
            .map_err(|_| format!("{} needs a compressed public key", script_type.name()))
    };
    Ok(match script_type {
        ScriptType::P2pkh => ScriptBuf::new_p2pkh(&pk.pubkey_hash()),
        ScriptType::P2wpkh => ScriptBuf::new_p2wpkh(&compressed()?.wpubkey_hash()),
        ScriptType::P2shP2wpkh => {
            let redeem = ScriptBuf::new_p2wpkh(&compressed()?.wpubkey_hash());
            ScriptBuf::new_p2sh(&redeem.script_hash())
        }
        ScriptType::P2tr => {
            let xonly = compressed()?.0.x_only_public_key().0;
            ScriptBuf::new_p2tr(secp, xonly, None)
        }
        ScriptType::P2wsh => return Err("p2wsh needs a multisig wallet".into()),
    })
}

/// Sorted multisig witness script.
pub(crate) fn sorted_multi(threshold: usize, pubkeys: &[PublicKey]) -> Result<ScriptBuf, String> {
    if threshold == 0 || threshold > pubkeys.len() || pubkeys.len() > 16 {
        return Err(format!("bad multisig {threshold}-of-{}", pubkeys.len()));
    }
    let mut keys: Vec<Vec<u8>> = pubkeys.iter().map(|k| k.to_bytes()).collect();
    keys.sort();
    let num = |n: usize| -> Result<i64, String> { i64::try_from(n).map_err(|e| e.to_string()) };
    let mut b = Builder::new().push_int(num(threshold)?);
    for k in keys {
        let push = PushBytesBuf::try_from(k).map_err(|e| e.to_string())?;
        b = b.push_slice(push);
    }
    Ok(b.push_int(num(pubkeys.len())?)
        .push_opcode(opcodes::all::OP_CHECKMULTISIG)
        .into_script())
}

/// BIP39 mnemonic (+ passphrase) to a regtest master key.
pub(crate) fn bip39_master(phrase: &str, passphrase: &str) -> Result<Xpriv, String> {
    let m = bip39::Mnemonic::parse_normalized(phrase.trim())
        .map_err(|e| format!("invalid bip39 mnemonic: {e}"))?;
    let seed = m.to_seed_normalized(passphrase);
    Xpriv::new_master(NetworkKind::Test, &seed).map_err(|e| e.to_string())
}

fn normalize_electrum(phrase: &str) -> String {
    phrase
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Electrum seed version prefix (hex of HMAC-SHA512("Seed version", phrase)).
pub fn electrum_seed_version(phrase: &str) -> String {
    let mut engine = hmac::HmacEngine::<sha512::Hash>::new(b"Seed version");
    engine.input(normalize_electrum(phrase).as_bytes());
    let mac = hmac::Hmac::<sha512::Hash>::from_engine(engine);
    hex::encode(&mac.to_byte_array()[..2])
}

fn pbkdf2_sha512(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    let mut salt1 = salt.to_vec();
    salt1.extend_from_slice(&1u32.to_be_bytes());
    let prf = |data: &[u8]| {
        let mut e = hmac::HmacEngine::<sha512::Hash>::new(password);
        e.input(data);
        hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array()
    };
    let mut u = prf(&salt1);
    let mut out = u;
    for _ in 1..rounds {
        u = prf(&u);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// Electrum (new-style) seed to a regtest master key; checks the seed version prefix.
pub(crate) fn electrum_master(
    phrase: &str,
    passphrase: &str,
    want_segwit: bool,
) -> Result<Xpriv, String> {
    let version = electrum_seed_version(phrase);
    let ok = if want_segwit {
        version.starts_with("100")
    } else {
        version.starts_with("01")
    };
    if !ok {
        return Err(format!(
            "electrum seed version {version} is not the expected kind"
        ));
    }
    let salt = format!("electrum{}", normalize_electrum(passphrase));
    let seed = pbkdf2_sha512(normalize_electrum(phrase).as_bytes(), salt.as_bytes(), 2048);
    Xpriv::new_master(NetworkKind::Test, &seed).map_err(|e| e.to_string())
}

/// A deterministic lab-internal master key (for wallets whose secrets are not handed out).
pub(crate) fn lab_master(seed: u64, wallet_id: &str) -> Result<Xpriv, String> {
    let mut e = sha256::Hash::engine();
    e.input(b"custos-lab wallet");
    e.input(&seed.to_le_bytes());
    e.input(wallet_id.as_bytes());
    let h = sha256::Hash::from_engine(e);
    Xpriv::new_master(NetworkKind::Test, h.as_byte_array()).map_err(|e| e.to_string())
}

/// Derives `path` below `xpriv`.
pub(crate) fn derive_priv(
    secp: &Secp256k1<All>,
    xpriv: &Xpriv,
    path: &[ChildNumber],
) -> Result<Xpriv, String> {
    xpriv.derive_priv(secp, &path).map_err(|e| e.to_string())
}

/// Derives `path` below `xpub` (unhardened only).
pub(crate) fn derive_pub(
    secp: &Secp256k1<All>,
    xpub: &Xpub,
    path: &[ChildNumber],
) -> Result<Xpub, String> {
    xpub.derive_pub(secp, &path).map_err(|e| e.to_string())
}

/// Parses `m/84'/1'/0'` style paths (`h` accepted for `'`).
pub(crate) fn parse_path(s: &str) -> Result<DerivationPath, String> {
    DerivationPath::from_str(s.trim()).map_err(|e| format!("bad derivation path {s}: {e}"))
}

/// SLIP-132 version bytes for the testnet/regtest forms.
pub(crate) fn slip132_version(prefix: &str) -> Option<[u8; 4]> {
    Some(match prefix {
        "tpub" => [0x04, 0x35, 0x87, 0xcf],
        "upub" => [0x04, 0x4a, 0x52, 0x62],
        "vpub" => [0x04, 0x5f, 0x1c, 0xf6],
        _ => return None,
    })
}

/// Parses an extended public key in tpub/upub/vpub form.
pub(crate) fn parse_xpub(s: &str) -> Result<Xpub, String> {
    let s = s.trim();
    let mut data = bitcoin::base58::decode_check(s).map_err(|e| format!("bad xpub: {e}"))?;
    if data.len() != 78 {
        return Err(format!("bad xpub length {}", data.len()));
    }
    let known = ["tpub", "upub", "vpub"]
        .iter()
        .filter_map(|p| slip132_version(p))
        .any(|v| data[..4] == v);
    if !known {
        return Err("xpub is not a testnet tpub/upub/vpub".into());
    }
    data[..4].copy_from_slice(&[0x04, 0x35, 0x87, 0xcf]);
    Xpub::decode(&data).map_err(|e| format!("bad xpub: {e}"))
}

/// Encodes an xpub with a SLIP-132 prefix.
#[cfg(test)]
pub(crate) fn encode_xpub(xpub: &Xpub, prefix: &str) -> Result<String, String> {
    let mut data = xpub.encode();
    let v = slip132_version(prefix).ok_or_else(|| format!("unknown xpub prefix {prefix}"))?;
    data[..4].copy_from_slice(&v);
    Ok(bitcoin::base58::encode_check(&data))
}

/// Address of a script on regtest.
pub(crate) fn address(script: &ScriptBuf) -> Option<String> {
    Address::from_script(script, Network::Regtest)
        .ok()
        .map(|a| a.to_string())
}

/// Signs every input of `tx` whose spent output's script is in `keys`.
/// `prevouts[i]` is the output input `i` spends.
pub(crate) fn sign_tx(
    secp: &Secp256k1<All>,
    tx: &mut Transaction,
    prevouts: &[TxOut],
    keys: &HashMap<ScriptBuf, Spend>,
) -> Result<(), String> {
    if prevouts.len() != tx.input.len() {
        return Err("prevouts do not match inputs".into());
    }
    let mut script_sigs = Vec::with_capacity(tx.input.len());
    let mut witnesses = Vec::with_capacity(tx.input.len());
    {
        let mut cache = SighashCache::new(&*tx);
        for (i, prev) in prevouts.iter().enumerate() {
            let spend = keys
                .get(&prev.script_pubkey)
                .ok_or_else(|| format!("no key for input {i} ({})", prev.script_pubkey))?;
            let (ss, w) = sign_input(secp, &mut cache, i, prev, prevouts, spend)?;
            script_sigs.push(ss);
            witnesses.push(w);
        }
    }
    for ((inp, ss), w) in tx.input.iter_mut().zip(script_sigs).zip(witnesses) {
        inp.script_sig = ss;
        inp.witness = w;
    }
    Ok(())
}

fn ecdsa_sig(secp: &Secp256k1<All>, msg: [u8; 32], key: &SecretKey) -> Vec<u8> {
    let sig = secp.sign_ecdsa(&Message::from_digest(msg), key);
    bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    }
    .to_vec()
}

fn push(bytes: Vec<u8>) -> Result<PushBytesBuf, String> {
    PushBytesBuf::try_from(bytes).map_err(|e| e.to_string())
}

fn sign_input(
    secp: &Secp256k1<All>,
    cache: &mut SighashCache<&Transaction>,
    i: usize,
    prev: &TxOut,
    prevouts: &[TxOut],
    spend: &Spend,
) -> Result<(ScriptBuf, Witness), String> {
    let err = |e: &dyn std::fmt::Display| format!("input {i}: {e}");
    match spend {
        Spend::Single { key, script_type } => {
            let pk = key.public_key(secp);
            match script_type {
                ScriptType::P2pkh => {
                    let h = cache
                        .legacy_signature_hash(
                            i,
                            &prev.script_pubkey,
                            EcdsaSighashType::All.to_u32(),
                        )
                        .map_err(|e| err(&e))?;
                    let sig = ecdsa_sig(secp, h.to_byte_array(), &key.inner);
                    let ss = Builder::new()
                        .push_slice(push(sig)?)
                        .push_slice(push(pk.to_bytes())?)
                        .into_script();
                    Ok((ss, Witness::new()))
                }
                ScriptType::P2wpkh | ScriptType::P2shP2wpkh => {
                    let cpk = CompressedPublicKey::try_from(pk).map_err(|e| err(&e))?;
                    let wpkh = ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash());
                    let h = cache
                        .p2wpkh_signature_hash(i, &wpkh, prev.value, EcdsaSighashType::All)
                        .map_err(|e| err(&e))?;
                    let sig = ecdsa_sig(secp, h.to_byte_array(), &key.inner);
                    let mut w = Witness::new();
                    w.push(sig);
                    w.push(cpk.to_bytes());
                    let ss = if *script_type == ScriptType::P2shP2wpkh {
                        Builder::new()
                            .push_slice(push(wpkh.to_bytes())?)
                            .into_script()
                    } else {
                        ScriptBuf::new()
                    };
                    Ok((ss, w))
                }
                ScriptType::P2tr => {
                    let h = cache
                        .taproot_key_spend_signature_hash(
                            i,
                            &Prevouts::All(prevouts),
                            TapSighashType::Default,
                        )
                        .map_err(|e| err(&e))?;
                    let kp = Keypair::from_secret_key(secp, &key.inner);
                    let tweaked = kp.tap_tweak(secp, None);
                    let sig = secp.sign_schnorr_no_aux_rand(
                        &Message::from_digest(h.to_byte_array()),
                        &tweaked.to_keypair(),
                    );
                    let mut w = Witness::new();
                    w.push(sig.as_ref());
                    Ok((ScriptBuf::new(), w))
                }
                ScriptType::P2wsh => Err(format!("input {i}: p2wsh needs a multisig spend")),
            }
        }
        Spend::Multi {
            keys,
            threshold,
            witness_script,
        } => {
            let h = cache
                .p2wsh_signature_hash(i, witness_script, prev.value, EcdsaSighashType::All)
                .map_err(|e| err(&e))?;
            // Signatures must appear in the order of the keys in the script.
            let mut by_pub: Vec<(Vec<u8>, &PrivateKey)> = keys
                .iter()
                .map(|k| (k.public_key(secp).to_bytes(), k))
                .collect();
            by_pub.sort_by(|a, b| a.0.cmp(&b.0));
            let mut w = Witness::new();
            w.push(Vec::<u8>::new());
            for (_, k) in by_pub.iter().take(*threshold) {
                w.push(ecdsa_sig(secp, h.to_byte_array(), &k.inner));
            }
            w.push(witness_script.as_bytes());
            Ok((ScriptBuf::new(), w))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_bip39_seed_derivation() {
        // BIP39's seed is PBKDF2-HMAC-SHA512(mnemonic, "mnemonic"+passphrase, 2048).
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let m = bip39::Mnemonic::parse_normalized(phrase).unwrap();
        let want = m.to_seed_normalized("TREZOR");
        let got = pbkdf2_sha512(phrase.as_bytes(), b"mnemonicTREZOR", 2048);
        assert_eq!(want, got);
    }

    #[test]
    fn slip132_round_trip_keeps_key() {
        let secp = Secp256k1::new();
        let m = bip39_master(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            "",
        )
        .unwrap();
        let x = Xpub::from_priv(&secp, &m);
        let v = encode_xpub(&x, "vpub").unwrap();
        assert!(v.starts_with("vpub"));
        assert_eq!(parse_xpub(&v).unwrap(), x);
    }
}
