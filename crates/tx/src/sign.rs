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
//! Keys are taken from [`SigningKeys`]: master xprvs (matched to `bip32_derivation` /
//! `tap_key_origins` by fingerprint; the derived key must equal the PSBT's public key) and single
//! private keys (matched by public key or by the spent script's key hash). This module only adds
//! signatures; run [`crate::verify::verify_psbt`] first.

use std::collections::HashMap;

use bitcoin::{
    bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, KeySource, Xpriv},
    hashes::{hmac, sha512, Hash, HashEngine},
    key::{Keypair, TapTweak, XOnlyPublicKey},
    psbt::Input,
    secp256k1::{self, All, Message, Scalar, Secp256k1, SecretKey},
    sighash::{Prevouts, SighashCache},
    taproot::TapLeafHash,
    CompressedPublicKey, PrivateKey, Psbt, PubkeyHash, PublicKey, ScriptBuf, TxOut, WPubkeyHash,
};

use crate::{
    error::{Error, Result},
    verify::spent_outputs,
};

/// Private keys the signer may use. `Debug` never shows them; they are erased on drop.
pub struct SigningKeys {
    /// Extended keys: (master fingerprint, path from the master to this key, the key).
    masters: Vec<(Fingerprint, DerivationPath, Xpriv)>,
    singles: Vec<PrivateKey>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("masters", &self.masters.len())
            .field("singles", &self.singles.len())
            .finish_non_exhaustive()
    }
}

impl Drop for SigningKeys {
    fn drop(&mut self) {
        for (_, _, x) in &mut self.masters {
            x.private_key.non_secure_erase();
        }
        for k in &mut self.singles {
            k.inner.non_secure_erase();
        }
    }
}

impl Default for SigningKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl SigningKeys {
    /// No keys.
    pub fn new() -> SigningKeys {
        SigningKeys {
            masters: Vec::new(),
            singles: Vec::new(),
        }
    }

    /// Adds a master extended private key (its fingerprint is matched against key origins).
    /// An extended key that is not a master and has no known origin is added the same way: a
    /// watch-only wallet made from its xpub names it by its own fingerprint with relative paths.
    pub fn add_master(&mut self, xpriv: Xpriv) {
        let secp = Secp256k1::signing_only();
        let fp = xpriv.fingerprint(&secp);
        self.masters.push((fp, DerivationPath::master(), xpriv));
    }

    /// Adds an extended private key that sits at `path` below the master `master_fp`
    /// (e.g. an account xprv `[fp/84'/0'/0']xprv...`).
    pub fn add_xpriv_with_origin(
        &mut self,
        xpriv: Xpriv,
        master_fp: Fingerprint,
        path: DerivationPath,
    ) {
        self.masters.push((master_fp, path, xpriv));
    }

    /// Adds a single private key (WIF).
    pub fn add_private_key(&mut self, key: PrivateKey) {
        self.singles.push(key);
    }

    /// True when there is no key at all.
    pub fn is_empty(&self) -> bool {
        self.masters.is_empty() && self.singles.is_empty()
    }
}

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

struct Node {
    secret: SecretKey,
    chain_code: ChainCode,
    public: secp256k1::PublicKey,
}

/// Key lookup with a cache of derived parent nodes, so a sweep of many addresses of one wallet
/// costs one point multiplication per address.
struct KeyFinder<'a> {
    keys: &'a SigningKeys,
    secp: &'a Secp256k1<All>,
    nodes: HashMap<(usize, Vec<ChildNumber>), Node>,
    singles: HashMap<secp256k1::PublicKey, SecretKey>,
}

impl<'a> KeyFinder<'a> {
    fn new(keys: &'a SigningKeys, secp: &'a Secp256k1<All>) -> Self {
        let singles = keys
            .singles
            .iter()
            .map(|k| (k.inner.public_key(secp), k.inner))
            .collect();
        KeyFinder {
            keys,
            secp,
            nodes: HashMap::new(),
            singles,
        }
    }

    fn node(&mut self, master: usize, path: &[ChildNumber]) -> Option<&Node> {
        let key = (master, path.to_vec());
        if !self.nodes.contains_key(&key) {
            let (_, _, x) = self.keys.masters.get(master)?;
            let d = x
                .derive_priv(self.secp, &DerivationPath::from(path.to_vec()))
                .ok()?;
            let public = d.private_key.public_key(self.secp);
            self.nodes.insert(
                key.clone(),
                Node {
                    secret: d.private_key,
                    chain_code: d.chain_code,
                    public,
                },
            );
        }
        self.nodes.get(&key)
    }

    /// BIP32 CKDpriv from a cached parent (no point multiplication for normal children).
    fn child(node: &Node, c: ChildNumber) -> Option<SecretKey> {
        let mut e = hmac::HmacEngine::<sha512::Hash>::new(node.chain_code.as_bytes());
        match c {
            ChildNumber::Normal { .. } => e.input(&node.public.serialize()),
            ChildNumber::Hardened { .. } => {
                e.input(&[0u8]);
                e.input(&node.secret[..]);
            }
        }
        e.input(&u32::from(c).to_be_bytes());
        let h = hmac::Hmac::<sha512::Hash>::from_engine(e);
        let il: [u8; 32] = h[..32].try_into().ok()?;
        let tweak = Scalar::from_be_bytes(il).ok()?;
        node.secret.add_tweak(&tweak).ok()
    }

    /// The private key for `pk`, if held: a single key with that public key, or the derivation
    /// of a master with the origin's fingerprint. The second element says whether the caller
    /// still has to check that the derived key's public key is `pk` (deferred so that check can
    /// run in parallel with signing).
    fn find_deferred(
        &mut self,
        pk: &secp256k1::PublicKey,
        src: Option<&KeySource>,
    ) -> Option<(SecretKey, bool)> {
        if let Some(sk) = self.singles.get(pk) {
            return Some((*sk, false));
        }
        let (fp, path) = src?;
        let full: &[ChildNumber] = path.as_ref();
        let (last, parent) = full.split_last()?;
        for m in 0..self.keys.masters.len() {
            let (mfp, prefix, _) = &self.keys.masters[m];
            let prefix: &[ChildNumber] = prefix.as_ref();
            if mfp != fp || !parent.starts_with(prefix) {
                continue;
            }
            let rel = parent[prefix.len()..].to_vec();
            let Some(node) = self.node(m, &rel) else {
                continue;
            };
            if let Some(sk) = Self::child(node, *last) {
                return Some((sk, true));
            }
        }
        None
    }

    fn find_xonly(&mut self, x: &XOnlyPublicKey, src: Option<&KeySource>) -> Option<SecretKey> {
        for (pk, sk) in &self.singles {
            if pk.x_only_public_key().0 == *x {
                return Some(*sk);
            }
        }
        let (fp, path) = src?;
        let full: &[ChildNumber] = path.as_ref();
        let (last, parent) = full.split_last()?;
        for m in 0..self.keys.masters.len() {
            let (mfp, prefix, _) = &self.keys.masters[m];
            let prefix: &[ChildNumber] = prefix.as_ref();
            if mfp != fp || !parent.starts_with(prefix) {
                continue;
            }
            let rel = parent[prefix.len()..].to_vec();
            let secp = self.secp;
            let Some(node) = self.node(m, &rel) else {
                continue;
            };
            let Some(sk) = Self::child(node, *last) else {
                continue;
            };
            if sk.x_only_public_key(secp).0 == *x {
                return Some(sk);
            }
        }
        None
    }

    /// Single keys whose compressed or uncompressed hash is `h`.
    fn by_pubkey_hash(&self, h: &PubkeyHash) -> Option<PublicKey> {
        for pk in self.singles.keys() {
            for compressed in [true, false] {
                let k = PublicKey {
                    compressed,
                    inner: *pk,
                };
                if k.pubkey_hash() == *h {
                    return Some(k);
                }
            }
        }
        None
    }
}

fn sign_err(index: usize, reason: impl Into<String>) -> Error {
    Error::Sign {
        index,
        reason: reason.into(),
    }
}

/// One ECDSA signature to make (the expensive part runs in parallel).
struct EcdsaJob {
    index: usize,
    full: PublicKey,
    sk: SecretKey,
    msg: Message,
    hash_ty: bitcoin::EcdsaSighashType,
    check: bool,
}

/// Makes the signatures of `jobs` on all cores: the deferred public-key check, then low-R
/// ECDSA. A job whose derived key is not the PSBT's key gives `None`.
fn run_ecdsa_jobs(
    jobs: &[EcdsaJob],
    secp: &Secp256k1<All>,
) -> Vec<Option<secp256k1::ecdsa::Signature>> {
    let work = |j: &EcdsaJob| {
        if j.check && j.sk.public_key(secp) != j.full.inner {
            return None;
        }
        Some(secp.sign_ecdsa_low_r(&j.msg, &j.sk))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if threads <= 1 || jobs.len() < 64 {
        return jobs.iter().map(work).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    let mut out = Vec::with_capacity(jobs.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|c| scope.spawn(move || c.iter().map(work).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            match h.join() {
                Ok(v) => out.extend(v),
                Err(_) => out.extend(std::iter::repeat_n(None, chunk)),
            }
        }
    });
    out.truncate(jobs.len());
    out
}

/// Signs every input of `psbt` it holds keys for. Inputs already carrying a signature by the
/// same key are left as they are.
pub fn sign_psbt(psbt: &mut Psbt, keys: &SigningKeys) -> Result<SignOutcome> {
    let secp = Secp256k1::new();
    let spent = spent_outputs(psbt)?;
    let mut finder = KeyFinder::new(keys, &secp);
    let tx = psbt.unsigned_tx.clone();
    let mut cache = SighashCache::new(&tx);
    let any_taproot = spent.iter().any(|o| o.script_pubkey.is_p2tr());
    let mut counts = vec![0usize; psbt.inputs.len()];
    let mut jobs: Vec<EcdsaJob> = Vec::new();
    for (index, inp) in psbt.inputs.iter_mut().enumerate() {
        if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
            continue;
        }
        let out = &spent[index];
        if out.script_pubkey.is_p2tr() {
            if any_taproot {
                counts[index] +=
                    sign_taproot(index, inp, out, &spent, &mut cache, &mut finder, &secp)?;
            }
        } else {
            queue_ecdsa(index, inp, out, &mut cache, &mut finder, &mut jobs)?;
        }
    }
    let sigs = run_ecdsa_jobs(&jobs, &secp);
    for (j, sig) in jobs.iter_mut().zip(sigs) {
        j.sk.non_secure_erase();
        if let Some(signature) = sig {
            psbt.inputs[j.index].partial_sigs.insert(
                j.full,
                bitcoin::ecdsa::Signature {
                    signature,
                    sighash_type: j.hash_ty,
                },
            );
            counts[j.index] += 1;
        }
    }
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

fn candidate_keys(inp: &Input) -> Vec<(secp256k1::PublicKey, Option<KeySource>)> {
    inp.bip32_derivation
        .iter()
        .map(|(k, s)| (*k, Some(s.clone())))
        .collect()
}

fn queue_ecdsa(
    index: usize,
    inp: &mut Input,
    out: &TxOut,
    cache: &mut SighashCache<&bitcoin::Transaction>,
    finder: &mut KeyFinder<'_>,
    jobs: &mut Vec<EcdsaJob>,
) -> Result<usize> {
    let spk = &out.script_pubkey;
    let hash_ty = inp
        .ecdsa_hash_ty()
        .map_err(|e| sign_err(index, format!("sighash type: {e}")))?;
    let mut cands = candidate_keys(inp);
    // Keys the PSBT does not describe: single keys whose hash is in the script.
    let pkh: Option<PubkeyHash> = if spk.is_p2pkh() {
        PubkeyHash::from_slice(&spk.as_bytes()[3..23]).ok()
    } else if spk.is_p2wpkh() {
        WPubkeyHash::from_slice(&spk.as_bytes()[2..22])
            .ok()
            .map(|w| PubkeyHash::from_byte_array(w.to_byte_array()))
    } else {
        inp.redeem_script
            .as_ref()
            .filter(|r| r.is_p2wpkh())
            .and_then(|r| WPubkeyHash::from_slice(&r.as_bytes()[2..22]).ok())
            .map(|w| PubkeyHash::from_byte_array(w.to_byte_array()))
    };
    if let Some(h) = &pkh {
        if let Some(pk) = finder.by_pubkey_hash(h) {
            if !cands.iter().any(|(k, _)| *k == pk.inner) {
                cands.push((pk.inner, None));
            }
        }
    }
    let mut added = 0;
    for (pk, src) in cands {
        let Some((sk, check)) = finder.find_deferred(&pk, src.as_ref()) else {
            continue;
        };
        // Which serialisation of the key the script commits to.
        let full = if spk.is_p2pkh() {
            let c = PublicKey::new(pk);
            let u = PublicKey::new_uncompressed(pk);
            if ScriptBuf::new_p2pkh(&c.pubkey_hash()) == *spk {
                c
            } else if ScriptBuf::new_p2pkh(&u.pubkey_hash()) == *spk {
                u
            } else {
                continue;
            }
        } else {
            PublicKey::new(pk)
        };
        if inp.partial_sigs.contains_key(&full) {
            continue;
        }
        let sighash = if spk.is_p2pkh() {
            cache
                .legacy_signature_hash(index, spk, hash_ty.to_u32())
                .map(|h| h.to_byte_array())
                .map_err(|e| sign_err(index, e.to_string()))?
        } else if spk.is_p2wpkh() {
            if ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash()) != *spk {
                continue;
            }
            cache
                .p2wpkh_signature_hash(index, spk, out.value, hash_ty)
                .map(|h| h.to_byte_array())
                .map_err(|e| sign_err(index, e.to_string()))?
        } else if spk.is_p2sh() {
            let redeem = inp
                .redeem_script
                .clone()
                .ok_or_else(|| sign_err(index, "p2sh input without redeem_script"))?;
            if ScriptBuf::new_p2sh(&redeem.script_hash()) != *spk {
                return Err(sign_err(
                    index,
                    "redeem_script does not hash to the spent script",
                ));
            }
            if redeem.is_p2wpkh() {
                if ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash()) != redeem {
                    continue;
                }
                cache
                    .p2wpkh_signature_hash(index, &redeem, out.value, hash_ty)
                    .map(|h| h.to_byte_array())
                    .map_err(|e| sign_err(index, e.to_string()))?
            } else if redeem.is_p2wsh() {
                let ws = witness_script(index, inp, &redeem)?;
                cache
                    .p2wsh_signature_hash(index, &ws, out.value, hash_ty)
                    .map(|h| h.to_byte_array())
                    .map_err(|e| sign_err(index, e.to_string()))?
            } else {
                return Err(sign_err(index, "bare p2sh scripts are not supported"));
            }
        } else if spk.is_p2wsh() {
            let ws = witness_script(index, inp, spk)?;
            cache
                .p2wsh_signature_hash(index, &ws, out.value, hash_ty)
                .map(|h| h.to_byte_array())
                .map_err(|e| sign_err(index, e.to_string()))?
        } else {
            return Err(sign_err(
                index,
                format!("unsupported script {}", spk.to_hex_string()),
            ));
        };
        jobs.push(EcdsaJob {
            index,
            full,
            sk,
            msg: Message::from_digest(sighash),
            hash_ty,
            check,
        });
        added += 1;
    }
    Ok(added)
}

fn witness_script(index: usize, inp: &Input, expected_wsh: &ScriptBuf) -> Result<ScriptBuf> {
    let ws = inp
        .witness_script
        .clone()
        .ok_or_else(|| sign_err(index, "p2wsh input without witness_script"))?;
    if ScriptBuf::new_p2wsh(&ws.wscript_hash()) != *expected_wsh {
        return Err(sign_err(
            index,
            "witness_script does not hash to the spent script",
        ));
    }
    Ok(ws)
}

#[allow(clippy::too_many_arguments)]
fn sign_taproot(
    index: usize,
    inp: &mut Input,
    out: &TxOut,
    spent: &[TxOut],
    cache: &mut SighashCache<&bitcoin::Transaction>,
    finder: &mut KeyFinder<'_>,
    secp: &Secp256k1<All>,
) -> Result<usize> {
    let hash_ty = inp
        .taproot_hash_ty()
        .map_err(|e| sign_err(index, format!("sighash type: {e}")))?;
    let prevouts = Prevouts::All(spent);
    let mut added = 0;
    let origins: Vec<(XOnlyPublicKey, Vec<TapLeafHash>, KeySource)> = inp
        .tap_key_origins
        .iter()
        .map(|(k, (leaves, src))| (*k, leaves.clone(), src.clone()))
        .collect();
    // Key path: the internal key (from the PSBT, or a held single key whose BIP86 tweak is the
    // output key).
    let output_key = XOnlyPublicKey::from_slice(&out.script_pubkey.as_bytes()[2..34])
        .map_err(|e| sign_err(index, format!("taproot output key: {e}")))?;
    let mut internal: Option<(XOnlyPublicKey, Option<KeySource>)> =
        inp.tap_internal_key.map(|ik| {
            let src = origins
                .iter()
                .find(|(k, _, _)| *k == ik)
                .map(|(_, _, s)| s.clone());
            (ik, src)
        });
    if internal.is_none() {
        for pk in finder.singles.keys() {
            let x = pk.x_only_public_key().0;
            if x.tap_tweak(secp, None).0.to_x_only_public_key() == output_key {
                internal = Some((x, None));
                break;
            }
        }
    }
    if inp.tap_key_sig.is_none() {
        if let Some((ik, src)) = internal {
            if let Some(sk) = finder.find_xonly(&ik, src.as_ref()) {
                let kp = Keypair::from_secret_key(secp, &sk);
                let tweaked = kp.tap_tweak(secp, inp.tap_merkle_root);
                if tweaked.to_keypair().x_only_public_key().0 != output_key {
                    return Err(sign_err(
                        index,
                        "tweaked internal key is not the output key",
                    ));
                }
                let h = cache
                    .taproot_key_spend_signature_hash(index, &prevouts, hash_ty)
                    .map_err(|e| sign_err(index, e.to_string()))?;
                let msg = Message::from_digest(h.to_byte_array());
                let sig = secp.sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
                inp.tap_key_sig = Some(bitcoin::taproot::Signature {
                    signature: sig,
                    sighash_type: hash_ty,
                });
                added += 1;
            }
        }
    }
    // Script path: every leaf a held key is listed for.
    for (x, leaves, src) in origins {
        if leaves.is_empty() {
            continue;
        }
        let Some(sk) = finder.find_xonly(&x, Some(&src)) else {
            continue;
        };
        let kp = Keypair::from_secret_key(secp, &sk);
        for leaf in leaves {
            if inp.tap_script_sigs.contains_key(&(x, leaf)) {
                continue;
            }
            let h = cache
                .taproot_script_spend_signature_hash(index, &prevouts, leaf, hash_ty)
                .map_err(|e| sign_err(index, e.to_string()))?;
            let msg = Message::from_digest(h.to_byte_array());
            let sig = secp.sign_schnorr_no_aux_rand(&msg, &kp);
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
