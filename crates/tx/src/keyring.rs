//! The private keys a signer holds, and the one interface signing looks them up through.
//!
//! [`SigningKeys`] is what the signer was given (master or account xprvs with their origin,
//! single private keys). [`KeyRing`] indexes it once per signing run: single keys by public key,
//! by key hash (compressed and uncompressed), by x-only key and by their BIP86 output key; BIP32
//! parents are derived once and cached. Lookups go through [`GetKey`] with a [`KeyRequest`], after
//! rust-bitcoin's `GetKey` / `KeyRequest`.
//!
//! A key derived from a held master at the origin the PSBT names, whose public key is not the
//! one the PSBT names, is an error ([`KeyMismatch`]): either the material is not the wallet the
//! PSBT was built for, or the PSBT lies about its keys. It is never a silent "no key".

use std::collections::HashMap;

use bitcoin::{
    bip32::{ChainCode, ChildNumber, DerivationPath, Fingerprint, KeySource, Xpriv},
    hashes::{hmac, sha512, Hash, HashEngine},
    key::{TapTweak, XOnlyPublicKey},
    secp256k1::{self, All, Scalar, Secp256k1, SecretKey},
    PrivateKey, PubkeyHash, PublicKey,
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

/// What a signer asks the key store for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRequest<'a> {
    /// The private key of a full (ECDSA) public key, with the BIP32 origin the PSBT gives it.
    Pubkey {
        /// The public key.
        key: secp256k1::PublicKey,
        /// Its origin, if the PSBT names one.
        origin: Option<&'a KeySource>,
    },
    /// The private key of an x-only (BIP340) public key, with its origin if known.
    XOnly {
        /// The x-only key.
        key: XOnlyPublicKey,
        /// Its origin, if the PSBT names one.
        origin: Option<&'a KeySource>,
    },
}

/// A private key found for a request.
#[derive(Clone, Copy)]
pub struct FoundKey {
    /// The secret.
    pub secret: SecretKey,
    /// True when the caller must still check that the secret's public key is the requested
    /// one (only for [`KeyRequest::Pubkey`] keys derived from a master: the point
    /// multiplication is left to the parallel signing step). A mismatch then is a
    /// [`KeyMismatch`].
    pub check_pending: bool,
}

impl std::fmt::Debug for FoundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundKey")
            .field("check_pending", &self.check_pending)
            .finish_non_exhaustive()
    }
}

/// A key derived at the origin the PSBT names is not the key the PSBT names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMismatch {
    /// The origin named by the PSBT.
    pub origin: KeySource,
}

/// A store of private keys that signing asks through one interface.
pub trait GetKey {
    /// The private key for `request`: `Ok(None)` when none is held, `Err` when a held master
    /// derives another key at the requested origin.
    fn get_key(&mut self, request: &KeyRequest<'_>) -> Result<Option<FoundKey>, KeyMismatch>;
}

struct Node {
    secret: SecretKey,
    chain_code: ChainCode,
    public: secp256k1::PublicKey,
}

/// [`SigningKeys`] indexed for one signing run. See the module documentation.
pub struct KeyRing<'a> {
    keys: &'a SigningKeys,
    secp: &'a Secp256k1<All>,
    nodes: HashMap<(usize, Vec<ChildNumber>), Node>,
    by_pubkey: HashMap<secp256k1::PublicKey, SecretKey>,
    by_hash: HashMap<PubkeyHash, PublicKey>,
    by_xonly: HashMap<XOnlyPublicKey, SecretKey>,
    by_output_key: HashMap<XOnlyPublicKey, XOnlyPublicKey>,
}

impl std::fmt::Debug for KeyRing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", self.keys)
            .finish_non_exhaustive()
    }
}

impl<'a> KeyRing<'a> {
    /// Builds the indexes of the single keys (one pass; masters are derived on demand).
    pub fn new(keys: &'a SigningKeys, secp: &'a Secp256k1<All>) -> KeyRing<'a> {
        let mut ring = KeyRing {
            keys,
            secp,
            nodes: HashMap::new(),
            by_pubkey: HashMap::new(),
            by_hash: HashMap::new(),
            by_xonly: HashMap::new(),
            by_output_key: HashMap::new(),
        };
        for k in &keys.singles {
            let pk = k.inner.public_key(secp);
            ring.by_pubkey.insert(pk, k.inner);
            for compressed in [true, false] {
                let full = PublicKey {
                    compressed,
                    inner: pk,
                };
                ring.by_hash.insert(full.pubkey_hash(), full);
            }
            let x = pk.x_only_public_key().0;
            ring.by_xonly.insert(x, k.inner);
            let output = x.tap_tweak(secp, None).0.to_x_only_public_key();
            ring.by_output_key.insert(output, x);
        }
        ring
    }

    /// The secp256k1 context of this run.
    pub fn secp(&self) -> &'a Secp256k1<All> {
        self.secp
    }

    /// The held single key whose compressed or uncompressed HASH160 is `hash`, in the
    /// serialisation that hashes to it.
    pub fn key_for_hash(&self, hash: &PubkeyHash) -> Option<PublicKey> {
        self.by_hash.get(hash).copied()
    }

    /// The internal key of a held single key whose BIP86 tweak (no script tree) is `output`.
    pub fn internal_for_output_key(&self, output: &XOnlyPublicKey) -> Option<XOnlyPublicKey> {
        self.by_output_key.get(output).copied()
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

    /// Every key the held masters derive at `origin` (a master matches when its fingerprint is
    /// the origin's and its own path is a prefix of the origin's path).
    fn derive_at(&mut self, origin: &KeySource) -> Vec<SecretKey> {
        let (fp, path) = origin;
        let full: &[ChildNumber] = path.as_ref();
        let Some((last, parent)) = full.split_last() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for m in 0..self.keys.masters.len() {
            let (mfp, prefix, _) = &self.keys.masters[m];
            let prefix: &[ChildNumber] = prefix.as_ref();
            if mfp != fp || !parent.starts_with(prefix) {
                continue;
            }
            let rel = parent[prefix.len()..].to_vec();
            if let Some(sk) = self.node(m, &rel).and_then(|n| Self::child(n, *last)) {
                out.push(sk);
            }
        }
        out
    }
}

impl GetKey for KeyRing<'_> {
    fn get_key(&mut self, request: &KeyRequest<'_>) -> Result<Option<FoundKey>, KeyMismatch> {
        match *request {
            KeyRequest::Pubkey { key, origin } => {
                if let Some(sk) = self.by_pubkey.get(&key) {
                    return Ok(Some(FoundKey {
                        secret: *sk,
                        check_pending: false,
                    }));
                }
                let Some(origin) = origin else {
                    return Ok(None);
                };
                let derived = self.derive_at(origin);
                // One candidate: defer the check. Several (masters sharing a fingerprint and
                // a path prefix): pick the right one now, or report the mismatch.
                match derived.as_slice() {
                    [] => Ok(None),
                    [sk] => Ok(Some(FoundKey {
                        secret: *sk,
                        check_pending: true,
                    })),
                    many => many
                        .iter()
                        .find(|sk| sk.public_key(self.secp) == key)
                        .map(|sk| {
                            Some(FoundKey {
                                secret: *sk,
                                check_pending: false,
                            })
                        })
                        .ok_or_else(|| KeyMismatch {
                            origin: origin.clone(),
                        }),
                }
            }
            KeyRequest::XOnly { key, origin } => {
                if let Some(sk) = self.by_xonly.get(&key) {
                    return Ok(Some(FoundKey {
                        secret: *sk,
                        check_pending: false,
                    }));
                }
                let Some(origin) = origin else {
                    return Ok(None);
                };
                let derived = self.derive_at(origin);
                if derived.is_empty() {
                    return Ok(None);
                }
                let secp = self.secp;
                derived
                    .into_iter()
                    .find(|sk| sk.x_only_public_key(secp).0 == key)
                    .map(|secret| {
                        Some(FoundKey {
                            secret,
                            check_pending: false,
                        })
                    })
                    .ok_or_else(|| KeyMismatch {
                        origin: origin.clone(),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn master() -> Xpriv {
        Xpriv::new_master(bitcoin::Network::Regtest, &[0x42; 32]).expect("seed")
    }

    #[test]
    fn finds_single_keys_by_hash_in_the_serialisation_that_hashes() {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[0x07; 32]).expect("key");
        let mut keys = SigningKeys::new();
        keys.add_private_key(PrivateKey::new_uncompressed(sk, bitcoin::Network::Regtest));
        let ring = KeyRing::new(&keys, &secp);
        let u = PublicKey::new_uncompressed(sk.public_key(&secp));
        let c = PublicKey::new(sk.public_key(&secp));
        assert_eq!(ring.key_for_hash(&u.pubkey_hash()), Some(u));
        assert_eq!(ring.key_for_hash(&c.pubkey_hash()), Some(c));
        let x = sk.x_only_public_key(&secp).0;
        let out = x.tap_tweak(&secp, None).0.to_x_only_public_key();
        assert_eq!(ring.internal_for_output_key(&out), Some(x));
    }

    #[test]
    fn derives_master_keys_at_the_named_origin() {
        let secp = Secp256k1::new();
        let m = master();
        let mut keys = SigningKeys::new();
        keys.add_master(m);
        let mut ring = KeyRing::new(&keys, &secp);
        let path = DerivationPath::from_str("m/86'/1'/0'/0/3").expect("path");
        let want = m.derive_priv(&secp, &path).expect("derive").private_key;
        let origin = (m.fingerprint(&secp), path);
        let x = want.x_only_public_key(&secp).0;
        let got = ring
            .get_key(&KeyRequest::XOnly {
                key: x,
                origin: Some(&origin),
            })
            .expect("no mismatch")
            .expect("found");
        assert_eq!(got.secret, want);
        let other = Fingerprint::from([1, 2, 3, 4]);
        assert_ne!(other, origin.0);
        let foreign = (other, origin.1.clone());
        assert!(ring
            .get_key(&KeyRequest::XOnly {
                key: x,
                origin: Some(&foreign),
            })
            .expect("no mismatch")
            .is_none());
    }

    #[test]
    fn derived_key_that_is_not_the_named_key_is_a_mismatch() {
        let secp = Secp256k1::new();
        let m = master();
        let mut keys = SigningKeys::new();
        keys.add_master(m);
        let mut ring = KeyRing::new(&keys, &secp);
        let origin = (
            m.fingerprint(&secp),
            DerivationPath::from_str("m/86'/1'/0'/0/3").expect("path"),
        );
        let wrong = SecretKey::from_slice(&[0x09; 32])
            .expect("key")
            .x_only_public_key(&secp)
            .0;
        let e = ring
            .get_key(&KeyRequest::XOnly {
                key: wrong,
                origin: Some(&origin),
            })
            .unwrap_err();
        assert_eq!(e.origin, origin);
    }
}
