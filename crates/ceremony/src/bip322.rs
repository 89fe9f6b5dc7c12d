//! BIP-322 generic signed messages, *simple* variant, for P2WPKH addresses, and the legacy
//! (`signmessage`) format BIP129 key records use.
//!
//! A simple signature is the base64 of the consensus-encoded witness of the virtual `to_sign`
//! transaction that spends the virtual `to_spend` transaction committing to the message:
//!
//! - `message_hash = SHA256(SHA256(tag) || SHA256(tag) || message)` with tag
//!   `BIP0322-signed-message`;
//! - `to_spend`: version 0, locktime 0, one input spending `0000…0000:0xFFFFFFFF` with
//!   scriptSig `OP_0 PUSH32[message_hash]`, sequence 0; one output of 0 sat paying the address's
//!   scriptPubKey;
//! - `to_sign`: version 0, locktime 0, one input spending `to_spend:0`, sequence 0, whose witness
//!   is the signature; one output of 0 sat to `OP_RETURN`.
//!
//! For P2WPKH the witness is `[ecdsa signature || SIGHASH_ALL, compressed pubkey]`, checked here
//! exactly as the script interpreter would (pubkey hash matches the program, BIP143 sighash,
//! low-S ECDSA). Other address types are refused rather than half-checked.

use bitcoin::address::{Address, NetworkUnchecked};
use bitcoin::base64::{engine::general_purpose::STANDARD, Engine};
use bitcoin::blockdata::opcodes::all::OP_RETURN;
use bitcoin::blockdata::opcodes::OP_0;
use bitcoin::consensus::encode;
use bitcoin::hashes::{sha256, Hash, HashEngine};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{Message, Secp256k1, Signing, Verification};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::sign_message::{signed_msg_hash, MessageSignature};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, CompressedPublicKey, OutPoint, PublicKey, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Txid, Witness,
};
use custos_core::Secret;

use crate::keys::ZKey;
use crate::Error;

const TAG: &[u8] = b"BIP0322-signed-message";

/// The BIP-322 message hash.
pub fn message_hash(message: &[u8]) -> [u8; 32] {
    let tag = sha256::Hash::hash(TAG);
    let mut e = sha256::Hash::engine();
    e.input(tag.as_byte_array());
    e.input(tag.as_byte_array());
    e.input(message);
    sha256::Hash::from_engine(e).to_byte_array()
}

/// The virtual `to_spend` transaction.
pub fn to_spend(script_pubkey: &ScriptBuf, message: &[u8]) -> Transaction {
    let script_sig = Builder::new()
        .push_opcode(OP_0)
        .push_slice(message_hash(message))
        .into_script();
    Transaction {
        version: Version(0),
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::all_zeros(),
                vout: 0xFFFF_FFFF,
            },
            script_sig,
            sequence: Sequence(0),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: script_pubkey.clone(),
        }],
    }
}

/// The virtual `to_sign` transaction (with an empty witness).
pub fn to_sign(to_spend_txid: Txid) -> Transaction {
    Transaction {
        version: Version(0),
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: to_spend_txid,
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence(0),
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: Builder::new().push_opcode(OP_RETURN).into_script(),
        }],
    }
}

fn p2wpkh_sighash(script_pubkey: &ScriptBuf, message: &[u8]) -> Result<Message, Error> {
    let spend = to_spend(script_pubkey, message);
    let sign = to_sign(spend.compute_txid());
    let mut cache = SighashCache::new(&sign);
    let h = cache
        .p2wpkh_signature_hash(0, script_pubkey, Amount::ZERO, EcdsaSighashType::All)
        .map_err(|e| Error::BadSignature {
            what: "bip-322 message".into(),
            reason: e.to_string(),
        })?;
    Ok(Message::from_digest(h.to_byte_array()))
}

/// Signs `message` for the P2WPKH address of `secret_key`; returns the base64 simple signature.
/// Signing grinds for a low R value, as Bitcoin Core does.
pub fn sign_simple_p2wpkh<C: Signing>(
    secp: &Secp256k1<C>,
    secret_key: &Secret<ZKey>,
    message: &[u8],
) -> Result<String, Error> {
    let pk = CompressedPublicKey::from_private_key(
        secp,
        &bitcoin::PrivateKey::new(secret_key.expose_secret().0, bitcoin::NetworkKind::Main),
    )
    .map_err(Error::SigningKey)?;
    let spk = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
    let msg = p2wpkh_sighash(&spk, message)?;
    let sig = secp.sign_ecdsa_low_r(&msg, &secret_key.expose_secret().0);
    let witness = Witness::p2wpkh(
        &bitcoin::ecdsa::Signature {
            signature: sig,
            sighash_type: EcdsaSighashType::All,
        },
        &pk.0,
    );
    Ok(STANDARD.encode(encode::serialize(&witness)))
}

/// Verifies a BIP-322 simple signature of `message` by `address` (P2WPKH only).
pub fn verify_simple<C: Verification>(
    secp: &Secp256k1<C>,
    address: &Address<NetworkUnchecked>,
    message: &[u8],
    signature_b64: &str,
) -> Result<(), Error> {
    let addr = address.clone().assume_checked();
    let what = addr.to_string();
    let bad = |reason: &str| Error::BadSignature {
        what: what.clone(),
        reason: reason.to_string(),
    };
    let spk = addr.script_pubkey();
    if !spk.is_p2wpkh() {
        return Err(Error::UnsupportedAddress(what.clone()));
    }
    let raw = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| bad("signature is not base64"))?;
    let witness: Witness = encode::deserialize(&raw)
        .map_err(|_| bad("signature is not a consensus-encoded witness"))?;
    if witness.len() != 2 {
        return Err(bad("p2wpkh witness must have exactly two items"));
    }
    let (sig_bytes, pk_bytes) = match (witness.nth(0), witness.nth(1)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(bad("p2wpkh witness must have exactly two items")),
    };
    let pk = CompressedPublicKey::from_slice(pk_bytes)
        .map_err(|_| bad("witness public key is not a compressed key"))?;
    if ScriptBuf::new_p2wpkh(&pk.wpubkey_hash()) != spk {
        return Err(bad("witness public key does not match the address"));
    }
    let sig = bitcoin::ecdsa::Signature::from_slice(sig_bytes)
        .map_err(|_| bad("witness signature is not a valid der signature with sighash byte"))?;
    if sig.sighash_type != EcdsaSighashType::All {
        return Err(bad("sighash type must be SIGHASH_ALL"));
    }
    let msg = p2wpkh_sighash(&spk, message)?;
    let mut normalized = sig.signature;
    normalized.normalize_s();
    if normalized != sig.signature {
        return Err(bad("high-s signature"));
    }
    secp.verify_ecdsa(&msg, &sig.signature, &pk.0)
        .map_err(|_| bad("ecdsa signature does not verify"))
}

/// Legacy `signmessage` signature (base64, 65-byte recoverable compact, compressed key), as
/// BIP129 key records carry.
pub fn sign_legacy<C: Signing>(
    secp: &Secp256k1<C>,
    secret_key: &Secret<ZKey>,
    message: &str,
) -> String {
    let hash = signed_msg_hash(message);
    let msg = Message::from_digest(hash.to_byte_array());
    let sig = secp.sign_ecdsa_recoverable(&msg, &secret_key.expose_secret().0);
    MessageSignature::new(sig, true).to_base64()
}

/// Verifies a legacy `signmessage` signature against a public key (recovery, then exact key
/// comparison).
pub fn verify_legacy<C: Verification>(
    secp: &Secp256k1<C>,
    public_key: &bitcoin::secp256k1::PublicKey,
    message: &str,
    signature_b64: &str,
    what: &str,
) -> Result<(), Error> {
    let bad = |reason: &str| Error::BadSignature {
        what: what.to_string(),
        reason: reason.to_string(),
    };
    let sig = MessageSignature::from_base64(signature_b64.trim())
        .map_err(|_| bad("not a base64 65-byte message signature"))?;
    let recovered: PublicKey = sig
        .recover_pubkey(secp, signed_msg_hash(message))
        .map_err(|_| bad("cannot recover a public key"))?;
    if recovered.inner != *public_key {
        return Err(bad("signed by a different key"));
    }
    Ok(())
}
