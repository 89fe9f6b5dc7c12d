//! Signing PSBT inputs with seized keys or a custody keyholder's key.
//!
//! Supported: p2pkh (compressed and uncompressed keys), p2sh-p2wpkh, p2wpkh, p2wsh multisig
//! (custody cosigning), p2tr key path (BIP86 tweak, or the tweak of the input's merkle root) and
//! p2tr script path (custody `multi_a` leaves).
//!
//! ECDSA signatures are RFC6979 with low-R grinding (`sign_ecdsa_low_r`), as Bitcoin Core makes
//! them, so the same keys give the same bytes as Core, BDK, Electrum or embit. BIP340 signatures
//! use no auxiliary randomness (`sign_schnorr_no_aux_rand`), which BIP340 permits; they are then
//! deterministic (Core adds random aux data, so its Schnorr bytes differ run to run).
//!
//! Each input is classified once ([`crate::classify::classify_input`]) and every step `match`es
//! on that. Keys are asked of a [`KeyRing`] through [`GetKey`]: master xprvs (matched to
//! `bip32_derivation` / `tap_key_origins` by fingerprint; a derived key that is not the PSBT's
//! public key is a [`Refusal::KeyMismatch`], never a silent "unsigned") and single private keys
//! (matched by public key, by the spent script's key hash, or by their BIP86 output key). A
//! signing thread that fails is an [`Error::SigningThread`]. This module only adds signatures;
//! run [`crate::verify::verify_psbt`] first.

use bitcoin::{
    bip32::KeySource,
    hashes::Hash,
    key::{Keypair, TapTweak, XOnlyPublicKey},
    psbt::Input,
    secp256k1::{self, All, Message, Secp256k1},
    sighash::{Prevouts, SighashCache},
    taproot::TapLeafHash,
    CompressedPublicKey, Psbt, PublicKey, Transaction, TxOut,
};

pub use crate::keyring::SigningKeys;
use crate::{
    classify::{classify_input, Spend},
    error::{Error, Refusal, Result},
    keyring::{FoundKey, GetKey, KeyMismatch, KeyRequest, KeyRing},
    verify::spent_outputs,
};

/// What signing did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SignOutcome {
    /// Inputs that got at least one new signature.
    pub signed_inputs: Vec<usize>,
    /// Number of signatures added.
    pub signatures: usize,
    /// Inputs for which no key was held.
    pub unsigned_inputs: Vec<usize>,
}

fn sign_err(index: usize, reason: impl Into<String>) -> Error {
    Error::Sign {
        index,
        reason: reason.into(),
    }
}

/// A sighash type field the input's script type cannot use.
fn sighash_type_err(index: usize, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::SighashType {
        index,
        source: Box::new(e),
    }
}

/// A signature hash that could not be computed.
fn sighash_err(index: usize, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Sighash {
        index,
        source: Box::new(e),
    }
}

fn mismatch(index: usize, m: KeyMismatch) -> Error {
    let (fingerprint, path) = m.origin;
    Refusal::KeyMismatch {
        index,
        fingerprint,
        path,
    }
    .into()
}

/// One ECDSA signature to make (the expensive part runs in parallel).
struct EcdsaJob {
    index: usize,
    full: PublicKey,
    key: FoundKey,
    origin: Option<KeySource>,
    msg: Message,
    hash_ty: bitcoin::EcdsaSighashType,
}

fn ecdsa_job(j: &EcdsaJob, secp: &Secp256k1<All>) -> Result<secp256k1::ecdsa::Signature> {
    if j.key.check_pending && j.key.secret.public_key(secp) != j.full.inner {
        return Err(match &j.origin {
            Some(origin) => mismatch(
                j.index,
                KeyMismatch {
                    origin: origin.clone(),
                },
            ),
            None => sign_err(j.index, "derived key is not the psbt's key"),
        });
    }
    Ok(secp.sign_ecdsa_low_r(&j.msg, &j.key.secret))
}

/// Makes the signatures of `jobs` on all cores: the deferred public-key check, then low-R
/// ECDSA. A derived key that is not the PSBT's key, or a thread that fails, fails the whole run.
fn run_ecdsa_jobs(
    jobs: &[EcdsaJob],
    secp: &Secp256k1<All>,
) -> Result<Vec<secp256k1::ecdsa::Signature>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || jobs.len() < 64 {
        return jobs.iter().map(|j| ecdsa_job(j, secp)).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    let mut out = Vec::with_capacity(jobs.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(|j| ecdsa_job(j, secp)).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            let part = h.join().map_err(|_| Error::SigningThread)?;
            for sig in part {
                out.push(sig?);
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(out)
}

/// Signs every input of `psbt` it holds keys for. Inputs already carrying a signature by the
/// same key are left as they are. Nothing is written to the PSBT when any input fails.
pub fn sign_psbt(psbt: &mut Psbt, keys: &SigningKeys) -> Result<SignOutcome> {
    let secp = Secp256k1::new();
    let spent = spent_outputs(psbt)?;
    let spends: Vec<Spend> = psbt
        .inputs
        .iter()
        .zip(&spent)
        .enumerate()
        .map(|(i, (inp, out))| classify_input(i, inp, out))
        .collect::<std::result::Result<_, _>>()?;
    for (index, (inp, spend)) in psbt.inputs.iter().zip(&spends).enumerate() {
        if let Spend::P2tr { output_key } = spend {
            crate::checks::taproot_script_data(index, inp, *output_key, &secp)?;
        }
    }
    let mut ring = KeyRing::new(keys, &secp);
    let tx = psbt.unsigned_tx.clone();
    let mut cache = SighashCache::new(&tx);
    let mut signed = psbt.clone();
    let mut counts = vec![0usize; signed.inputs.len()];
    let mut jobs: Vec<EcdsaJob> = Vec::new();
    for (index, inp) in signed.inputs.iter_mut().enumerate() {
        if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
            continue;
        }
        let out = &spent[index];
        match &spends[index] {
            Spend::P2tr { output_key } => {
                let ctx = TaprootCtx {
                    index,
                    output_key: *output_key,
                    prevouts: Prevouts::All(&spent),
                    secp: &secp,
                };
                counts[index] += sign_taproot(&ctx, inp, &mut cache, &mut ring)?;
            }
            Spend::Other => {}
            spend => queue_ecdsa(index, inp, spend, out, &mut cache, &mut ring, &mut jobs)?,
        }
    }
    let sigs = run_ecdsa_jobs(&jobs, &secp);
    for j in &mut jobs {
        j.key.secret.non_secure_erase();
    }
    for (j, signature) in jobs.iter().zip(sigs?) {
        signed.inputs[j.index].partial_sigs.insert(
            j.full,
            bitcoin::ecdsa::Signature {
                signature,
                sighash_type: j.hash_ty,
            },
        );
        counts[j.index] += 1;
    }
    *psbt = signed;
    let mut outcome = SignOutcome::default();
    for (index, n) in counts.into_iter().enumerate() {
        if n > 0 {
            outcome.signed_inputs.push(index);
            outcome.signatures += n;
        } else {
            outcome.unsigned_inputs.push(index);
        }
    }
    Ok(outcome)
}

/// The keys an ECDSA input can be signed with: every `bip32_derivation` key, and for key-hash
/// scripts a held single key whose hash the script commits to.
fn ecdsa_candidates(
    inp: &Input,
    spend: &Spend,
    ring: &KeyRing<'_>,
) -> Vec<(secp256k1::PublicKey, Option<KeySource>)> {
    let mut cands: Vec<(secp256k1::PublicKey, Option<KeySource>)> = inp
        .bip32_derivation
        .iter()
        .map(|(k, s)| (*k, Some(s.clone())))
        .collect();
    let hash = match spend {
        Spend::P2pkh(h) => Some(*h),
        Spend::P2wpkh(h) | Spend::P2shP2wpkh { hash: h, .. } => {
            Some(bitcoin::PubkeyHash::from_byte_array(h.to_byte_array()))
        }
        _ => None,
    };
    if let Some(pk) = hash.and_then(|h| ring.key_for_hash(&h)) {
        if !cands.iter().any(|(k, _)| *k == pk.inner) {
            cands.push((pk.inner, None));
        }
    }
    cands
}

/// The serialisation of `pk` the script commits to and the sighash to sign, or `None` when the
/// key is not the one this key-hash script pays.
fn ecdsa_sighash(
    index: usize,
    spend: &Spend,
    pk: secp256k1::PublicKey,
    out: &TxOut,
    hash_ty: bitcoin::EcdsaSighashType,
    cache: &mut SighashCache<&Transaction>,
) -> Result<Option<(PublicKey, [u8; 32])>> {
    let spk = &out.script_pubkey;
    let wpkh_ok = |h: &bitcoin::WPubkeyHash| CompressedPublicKey(pk).wpubkey_hash() == *h;
    let (full, digest) = match spend {
        Spend::P2pkh(h) => {
            let c = PublicKey::new(pk);
            let u = PublicKey::new_uncompressed(pk);
            let full = if c.pubkey_hash() == *h {
                c
            } else if u.pubkey_hash() == *h {
                u
            } else {
                return Ok(None);
            };
            let d = cache
                .legacy_signature_hash(index, spk, hash_ty.to_u32())
                .map_err(|e| sighash_err(index, e))?;
            (full, d.to_byte_array())
        }
        Spend::P2wpkh(h) => {
            if !wpkh_ok(h) {
                return Ok(None);
            }
            let d = cache
                .p2wpkh_signature_hash(index, spk, out.value, hash_ty)
                .map_err(|e| sighash_err(index, e))?;
            (PublicKey::new(pk), d.to_byte_array())
        }
        Spend::P2shP2wpkh { redeem, hash } => {
            if !wpkh_ok(hash) {
                return Ok(None);
            }
            let d = cache
                .p2wpkh_signature_hash(index, redeem, out.value, hash_ty)
                .map_err(|e| sighash_err(index, e))?;
            (PublicKey::new(pk), d.to_byte_array())
        }
        Spend::P2wsh { witness_script } | Spend::P2shP2wsh { witness_script } => {
            let d = cache
                .p2wsh_signature_hash(index, witness_script, out.value, hash_ty)
                .map_err(|e| sighash_err(index, e))?;
            (PublicKey::new(pk), d.to_byte_array())
        }
        Spend::P2tr { .. } | Spend::Other => return Ok(None),
    };
    Ok(Some((full, digest)))
}

fn queue_ecdsa(
    index: usize,
    inp: &mut Input,
    spend: &Spend,
    out: &TxOut,
    cache: &mut SighashCache<&Transaction>,
    ring: &mut KeyRing<'_>,
    jobs: &mut Vec<EcdsaJob>,
) -> Result<()> {
    let hash_ty = inp
        .ecdsa_hash_ty()
        .map_err(|e| sighash_type_err(index, e))?;
    for (pk, origin) in ecdsa_candidates(inp, spend, ring) {
        let request = KeyRequest::Pubkey {
            key: pk,
            origin: origin.as_ref(),
        };
        let Some(key) = ring.get_key(&request).map_err(|m| mismatch(index, m))? else {
            continue;
        };
        let Some((full, digest)) = ecdsa_sighash(index, spend, pk, out, hash_ty, cache)? else {
            // The named key is not the one this script pays: a derived key that is not the
            // named key either means the PSBT lies about the key at that origin.
            if key.check_pending && key.secret.public_key(ring.secp()) != pk {
                if let Some(origin) = origin {
                    return Err(mismatch(index, KeyMismatch { origin }));
                }
            }
            continue;
        };
        if inp.partial_sigs.contains_key(&full) {
            continue;
        }
        jobs.push(EcdsaJob {
            index,
            full,
            key,
            origin,
            msg: Message::from_digest(digest),
            hash_ty,
        });
    }
    Ok(())
}

/// What every taproot signature of one input shares.
struct TaprootCtx<'a> {
    index: usize,
    output_key: XOnlyPublicKey,
    prevouts: Prevouts<'a, TxOut>,
    secp: &'a Secp256k1<All>,
}

fn sign_taproot(
    ctx: &TaprootCtx<'_>,
    inp: &mut Input,
    cache: &mut SighashCache<&Transaction>,
    ring: &mut KeyRing<'_>,
) -> Result<usize> {
    let index = ctx.index;
    let hash_ty = inp
        .taproot_hash_ty()
        .map_err(|e| sighash_type_err(index, e))?;
    let mut added = 0;
    if inp.tap_key_sig.is_none() {
        added += sign_taproot_key_path(ctx, inp, hash_ty, cache, ring)?;
    }
    // Script path: every leaf a held key is listed for.
    let origins: Vec<(XOnlyPublicKey, Vec<TapLeafHash>, KeySource)> = inp
        .tap_key_origins
        .iter()
        .filter(|(_, (leaves, _))| !leaves.is_empty())
        .map(|(k, (leaves, src))| (*k, leaves.clone(), src.clone()))
        .collect();
    for (x, leaves, src) in origins {
        let request = KeyRequest::XOnly {
            key: x,
            origin: Some(&src),
        };
        let Some(found) = ring.get_key(&request).map_err(|m| mismatch(index, m))? else {
            continue;
        };
        let kp = Keypair::from_secret_key(ctx.secp, &found.secret);
        for leaf in leaves {
            if inp.tap_script_sigs.contains_key(&(x, leaf)) {
                continue;
            }
            let h = cache
                .taproot_script_spend_signature_hash(index, &ctx.prevouts, leaf, hash_ty)
                .map_err(|e| sighash_err(index, e))?;
            let msg = Message::from_digest(h.to_byte_array());
            let sig = ctx.secp.sign_schnorr_no_aux_rand(&msg, &kp);
            inp.tap_script_sigs.insert(
                (x, leaf),
                bitcoin::taproot::Signature {
                    signature: sig,
                    sighash_type: hash_ty,
                },
            );
            added += 1;
        }
    }
    Ok(added)
}

/// Key path: the internal key (from the PSBT, or a held single key whose BIP86 tweak is the
/// output key), tweaked with the input's merkle root.
fn sign_taproot_key_path(
    ctx: &TaprootCtx<'_>,
    inp: &mut Input,
    hash_ty: bitcoin::TapSighashType,
    cache: &mut SighashCache<&Transaction>,
    ring: &mut KeyRing<'_>,
) -> Result<usize> {
    let index = ctx.index;
    let internal: Option<(XOnlyPublicKey, Option<KeySource>)> = match inp.tap_internal_key {
        Some(ik) => Some((ik, inp.tap_key_origins.get(&ik).map(|(_, s)| s.clone()))),
        None => ring
            .internal_for_output_key(&ctx.output_key)
            .map(|x| (x, None)),
    };
    let Some((ik, origin)) = internal else {
        return Ok(0);
    };
    let request = KeyRequest::XOnly {
        key: ik,
        origin: origin.as_ref(),
    };
    let Some(found) = ring.get_key(&request).map_err(|m| mismatch(index, m))? else {
        return Ok(0);
    };
    let kp: Keypair = Keypair::from_secret_key(ctx.secp, &found.secret);
    let tweaked = kp.tap_tweak(ctx.secp, inp.tap_merkle_root);
    if tweaked.to_keypair().x_only_public_key().0 != ctx.output_key {
        return Err(sign_err(
            index,
            "tweaked internal key is not the output key",
        ));
    }
    let h = cache
        .taproot_key_spend_signature_hash(index, &ctx.prevouts, hash_ty)
        .map_err(|e| sighash_err(index, e))?;
    let msg = Message::from_digest(h.to_byte_array());
    let sig = ctx
        .secp
        .sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
    inp.tap_key_sig = Some(bitcoin::taproot::Signature {
        signature: sig,
        sighash_type: hash_ty,
    });
    Ok(1)
}
