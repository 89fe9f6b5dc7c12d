//! Batched BIP32 *public* child derivation for discovery, on a fixed-base table of the
//! generator.
//!
//! A non-hardened child of a parent (public key P, chain code c) at index i is
//! `P + I_L·G` with `I = HMAC-SHA512(c, ser_P(P) ‖ ser32(i))` (BIP32). libsecp256k1's
//! `ec_pubkey_tweak_add`, which `Xpub::ckd_pub` calls, computes `I_L·G + P` as a general
//! double-scalar multiplication: about 256 point doublings per child. Here `I_L·G` is read from
//! a table of multiples of G built once per process (`TABLE`: 33 signed 8-bit windows × 128
//! affine points), so a child costs at most 33 additions and no doubling. From 48 children on,
//! the additions are affine and done in lockstep across the window: one field inversion per
//! window step shared by every child (Montgomery's trick), then 5 multiplications and a
//! squaring per child; equal points (doubling), opposite points (infinity) and an identity
//! accumulator are handled explicitly. Fewer children take k256's complete projective additions
//! and one batched normalisation. Keys are then serialised compressed.
//!
//! **Variable time, public data only.** The table index and the branches depend on `I_L`: the
//! time taken leaks the tweak. Every input here is public (a watch-only extended public key and
//! an index; the tweak is computable by anyone holding the xpub), so that leaks nothing. Never
//! use this module with private keys or any other secret; signing and private derivation stay
//! with libsecp256k1's constant-time code. ADR 0011 records the choice.
//!
//! Not for: hardened derivation, private keys, anything but the last (wildcard) step of a
//! chain — the fixed steps of `xpub/0/*` are folded into the key once, at parse time.

use std::{ops::Range, sync::LazyLock};

use bitcoin::{
    bip32::Xpub,
    hashes::{hmac, sha512, Hash, HashEngine},
    taproot::TapTweakHash,
};
use k256::{
    elliptic_curve::{
        ff::PrimeField,
        group::{prime::PrimeCurveAffine, Group as _, GroupEncoding},
        point::BatchNormalize,
        sec1::{FromEncodedPoint, ToEncodedPoint},
    },
    AffinePoint, CompressedPoint, FieldBytes, FieldElement, ProjectivePoint, Scalar,
};

/// Signed 8-bit windows: 32 for the bytes of a scalar below the group order, one for the carry.
const WINDOWS: usize = 33;
/// Entries per window: `d·256^w·G` for d in 1..=128 (negative digits use the negated point).
const PER_WINDOW: usize = 128;
/// Points brought to affine coordinates per field inversion.
pub const BATCH: usize = 64;
/// Below this many children, complete projective additions and one normalisation at the end
/// beat affine additions in lockstep, whose inversion per window is shared by fewer points.
const LOCKSTEP_FROM: usize = 48;

/// An affine point as the lockstep additions keep it: coordinates of magnitude 1 (weakly
/// normalised); never the identity (a lane at infinity is `None`).
#[derive(Clone, Copy)]
struct Pt {
    x: FieldElement,
    y: FieldElement,
}

impl Pt {
    fn of(p: &AffinePoint) -> Option<Pt> {
        let e = p.to_encoded_point(false);
        let x = Option::from(FieldElement::from_bytes(e.x()?))?;
        let y = Option::from(FieldElement::from_bytes(e.y()?))?;
        Some(Pt { x, y })
    }

    fn neg(&self) -> Pt {
        Pt {
            x: self.x,
            y: self.y.negate(1).normalize_weak(),
        }
    }

    fn compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = 0x02 | u8::from(bool::from(self.y.normalize().is_odd()));
        out[1..].copy_from_slice(&self.x.to_bytes());
        out
    }
}

/// The table of multiples of G, in both forms the two addition paths read.
struct Table {
    /// `affine[w·128 + d − 1] = d·256^w·G`.
    affine: Vec<AffinePoint>,
    /// The same points as lockstep coordinates.
    pts: Vec<Pt>,
}

/// Built once per process by additions and batched normalisation (about 4,200 additions;
/// 33 × 128 points, ~0.7 MB in both forms).
static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut projective = Vec::with_capacity(WINDOWS * PER_WINDOW);
    let mut base = ProjectivePoint::GENERATOR;
    for _ in 0..WINDOWS {
        let mut p = base;
        projective.push(p);
        for _ in 1..PER_WINDOW {
            p += base;
            projective.push(p);
        }
        // p = 128·base, so the next window's base is 256·base.
        base = p.double();
    }
    let affine = normalize(&projective);
    let pts = affine
        .iter()
        .map(|p| Pt::of(p).expect("a multiple of G below the group order is not the identity"))
        .collect();
    Table { affine, pts }
});

/// Points in affine coordinates, one field inversion per [`BATCH`] points; the identity stays
/// the identity.
pub fn normalize(points: &[ProjectivePoint]) -> Vec<AffinePoint> {
    let mut out = Vec::with_capacity(points.len());
    for chunk in points.chunks(BATCH) {
        let mut buf = [ProjectivePoint::IDENTITY; BATCH];
        for (b, p) in buf.iter_mut().zip(chunk) {
            // k256's batch normalisation spots the identity by a z whose limbs are all zero;
            // an identity reached by addition (P + −P) can have a z that only reduces to zero,
            // which would make the whole batch's inversion fail. Give it the canonical form.
            if !bool::from(p.is_identity()) {
                *b = *p;
            }
        }
        let affine =
            <ProjectivePoint as BatchNormalize<[ProjectivePoint; BATCH]>>::batch_normalize(&buf);
        out.extend_from_slice(&affine[..chunk.len()]);
    }
    out
}

/// Whether 32 big-endian bytes are a scalar in [1, n): what BIP32 requires of `I_L` (libsecp's
/// `SecretKey::from_slice`, which `ckd_pub` uses, refuses zero and values ≥ n).
fn nonzero_scalar(bytes: &[u8; 32]) -> bool {
    bytes != &[0u8; 32] && bool::from(Scalar::from_repr(FieldBytes::from(*bytes)).is_some())
}

/// The signed base-256 digits of a scalar below the group order (big-endian bytes), least
/// significant first: each in -127..=128, `Σ digit·256^w` equal to the scalar.
fn digits(k: &[u8; 32]) -> [i16; WINDOWS] {
    let mut out = [0i16; WINDOWS];
    let mut carry = 0i16;
    for (w, &byte) in k.iter().rev().enumerate() {
        let v = i16::from(byte) + carry;
        let (digit, c) = if v > 128 { (v - 256, 1) } else { (v, 0) };
        out[w] = digit;
        carry = c;
    }
    out[WINDOWS - 1] = carry;
    out
}

/// The table index of a nonzero digit in window `w`.
fn entry(w: usize, digit: i16) -> usize {
    w * PER_WINDOW + usize::from(digit.unsigned_abs()) - 1
}

/// `acc + k·G` for a scalar `k` below the group order, by complete projective additions.
/// Variable time (see the module documentation): public scalars only.
fn add_mul_g(mut acc: ProjectivePoint, k: &[u8; 32]) -> ProjectivePoint {
    let table = &TABLE.affine;
    for (w, &digit) in digits(k).iter().enumerate() {
        if digit > 0 {
            acc += &table[entry(w, digit)];
        } else if digit < 0 {
            acc -= &table[entry(w, digit)];
        }
    }
    acc
}

/// `k·G` by the projective path (a reference for tests and benches).
pub fn mul_g(k: &[u8; 32]) -> ProjectivePoint {
    add_mul_g(ProjectivePoint::IDENTITY, k)
}

/// Inverts every element in place with one field inversion (Montgomery's trick); false, with
/// `v` unchanged, when some element is zero. `prefix` is scratch space.
fn batch_invert(v: &mut [FieldElement], prefix: &mut Vec<FieldElement>) -> bool {
    prefix.clear();
    let mut acc = FieldElement::ONE;
    for x in v.iter() {
        acc = acc.mul(x);
        prefix.push(acc);
    }
    let Some(mut inv) = Option::<FieldElement>::from(acc.invert()) else {
        return false;
    };
    for i in (0..v.len()).rev() {
        let before = if i == 0 {
            FieldElement::ONE
        } else {
            prefix[i - 1]
        };
        let x = v[i];
        v[i] = inv.mul(&before);
        inv = inv.mul(&x);
    }
    true
}

/// `a + q` for two points with the same x: `2a` when they are equal, the identity (`None`)
/// when `q = −a`. One inversion: this happens for crafted inputs only.
fn add_same_x(a: Pt, q: Pt) -> Option<Pt> {
    if !bool::from((q.y + a.y.negate(1)).normalizes_to_zero()) {
        return None;
    }
    // No point of secp256k1 has y = 0 (the group has odd order), so 2y is invertible.
    let inv = Option::<FieldElement>::from(a.y.double().invert())?;
    let lambda = a.x.square().mul_single(3).mul(&inv);
    let x3 = (lambda.square() + a.x.double().negate(2)).normalize_weak();
    let y3 = (lambda.mul(&(a.x + x3.negate(1))) + a.y.negate(1)).normalize_weak();
    Some(Pt { x: x3, y: y3 })
}

/// `start_j + k_j·G` for every lane, by affine additions done in lockstep: in each window,
/// one field inversion shared by every lane (Montgomery's trick), then ~5 multiplications and a
/// squaring per lane. `None` in `start` is the identity; a lane whose `k` is `None`, or whose
/// result is the identity, gives `None`. Equal or opposite points are handled explicitly.
/// Variable time: public scalars only.
fn add_mul_g_lockstep(start: &[Option<Pt>], ks: &[Option<[u8; 32]>]) -> Vec<Option<Pt>> {
    let table = &TABLE.pts;
    let lanes: Vec<(usize, [i16; WINDOWS])> = ks
        .iter()
        .enumerate()
        .filter_map(|(j, k)| k.as_ref().map(|k| (j, digits(k))))
        .collect();
    let mut acc: Vec<Option<Pt>> = start.to_vec();
    let mut pending: Vec<(usize, Pt)> = Vec::with_capacity(lanes.len());
    let mut dxs: Vec<FieldElement> = Vec::with_capacity(lanes.len());
    let mut prefix: Vec<FieldElement> = Vec::with_capacity(lanes.len());
    for w in 0..WINDOWS {
        pending.clear();
        dxs.clear();
        for &(j, ref d) in &lanes {
            let digit = d[w];
            if digit == 0 {
                continue;
            }
            let t = table[entry(w, digit)];
            let q = if digit < 0 { t.neg() } else { t };
            match acc[j] {
                None => acc[j] = Some(q),
                Some(a) => {
                    pending.push((j, q));
                    dxs.push(q.x + a.x.negate(1));
                }
            }
        }
        if !batch_invert(&mut dxs, &mut prefix) {
            // Some lane adds a point with its own x (equal or opposite points): settle those
            // lanes apart, then invert the rest. Never happens for honest inputs.
            let mut k = 0;
            while k < pending.len() {
                let (j, q) = pending[k];
                if bool::from(dxs[k].normalizes_to_zero()) {
                    acc[j] = acc[j].and_then(|a| add_same_x(a, q));
                    pending.swap_remove(k);
                    dxs.swap_remove(k);
                } else {
                    k += 1;
                }
            }
            batch_invert(&mut dxs, &mut prefix);
        }
        for (&(j, q), inv) in pending.iter().zip(&dxs) {
            let Some(a) = acc[j] else { continue };
            let lambda = (q.y + a.y.negate(1)).mul(inv);
            let x3 = (lambda.square() + a.x.negate(1) + q.x.negate(1)).normalize_weak();
            let y3 = (lambda.mul(&(a.x + x3.negate(1))) + a.y.negate(1)).normalize_weak();
            acc[j] = Some(Pt { x: x3, y: y3 });
        }
    }
    for (j, k) in ks.iter().enumerate() {
        if k.is_none() {
            acc[j] = None;
        }
    }
    acc
}

/// `start_j + k_j·G` for every lane, by whichever path is cheaper for this many lanes.
fn add_mul_g_many(start: &[Option<Pt>], ks: &[Option<[u8; 32]>]) -> Vec<Option<Pt>> {
    if ks.len() >= LOCKSTEP_FROM {
        return add_mul_g_lockstep(start, ks);
    }
    let sums: Vec<Option<ProjectivePoint>> = start
        .iter()
        .zip(ks)
        .map(|(s, k)| {
            let k = k.as_ref()?;
            let s = s.map_or(ProjectivePoint::IDENTITY, |s| projective(&s));
            Some(add_mul_g(s, k))
        })
        .collect();
    let flat: Vec<ProjectivePoint> = sums
        .iter()
        .map(|s| s.unwrap_or(ProjectivePoint::IDENTITY))
        .collect();
    normalize(&flat)
        .iter()
        .zip(&sums)
        .map(|(p, s)| {
            if s.is_none() || bool::from(p.is_identity()) {
                None
            } else {
                Pt::of(p)
            }
        })
        .collect()
}

/// A lockstep point as a k256 point (through its uncompressed encoding; off the hot path).
fn projective(p: &Pt) -> ProjectivePoint {
    let mut bytes = [0u8; 65];
    bytes[0] = 0x04;
    bytes[1..33].copy_from_slice(&p.x.to_bytes());
    bytes[33..].copy_from_slice(&p.y.to_bytes());
    let point = k256::EncodedPoint::from_bytes(bytes)
        .ok()
        .and_then(|e| Option::<AffinePoint>::from(k256::AffinePoint::from_encoded_point(&e)));
    point.map_or(ProjectivePoint::IDENTITY, ProjectivePoint::from)
}

/// A derived child public key.
#[derive(Clone, Copy)]
pub struct Child(Pt);

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Child({})", hex::encode(self.compressed()))
    }
}

impl Child {
    /// The compressed SEC1 encoding (33 bytes).
    pub fn compressed(&self) -> [u8; 33] {
        self.0.compressed()
    }
}

/// A watch-only parent key ready for child derivation: its point and the HMAC state keyed with
/// its chain code that has already absorbed `ser_P(P)`.
#[derive(Clone)]
pub struct Parent {
    point: Pt,
    hmac: hmac::HmacEngine<sha512::Hash>,
}

impl std::fmt::Debug for Parent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parent").finish_non_exhaustive()
    }
}

impl Parent {
    /// The parent of `xpub`'s non-hardened children.
    pub fn new(xpub: &Xpub) -> Parent {
        let ser = xpub.public_key.serialize();
        let point: Option<AffinePoint> =
            AffinePoint::from_bytes(CompressedPoint::from_slice(&ser)).into();
        // A libsecp256k1 public key is always a valid curve point, never the identity.
        let point = point
            .as_ref()
            .and_then(Pt::of)
            .expect("a secp256k1 public key decodes as a curve point");
        let mut hmac = hmac::HmacEngine::<sha512::Hash>::new(xpub.chain_code.as_bytes());
        hmac.input(&ser);
        Parent { point, hmac }
    }

    /// `I_L` for `index`, when it is a valid tweak of a non-hardened index.
    fn tweak(&self, index: u32) -> Option<[u8; 32]> {
        if index >= 1 << 31 {
            return None;
        }
        let mut e = self.hmac.clone();
        e.input(&index.to_be_bytes());
        let i = hmac::Hmac::<sha512::Hash>::from_engine(e).to_byte_array();
        let mut il = [0u8; 32];
        il.copy_from_slice(&i[..32]);
        nonzero_scalar(&il).then_some(il)
    }

    /// The child public keys at `indices`. `None` for an index BIP32 gives no child for
    /// (hardened, `I_L` zero or ≥ n, or a child at infinity): the caller reports it the way the
    /// reference derivation does.
    pub fn children(&self, indices: Range<u32>) -> Vec<Option<Child>> {
        let ks: Vec<Option<[u8; 32]>> = indices.map(|i| self.tweak(i)).collect();
        let start = vec![Some(self.point); ks.len()];
        add_mul_g_many(&start, &ks)
            .into_iter()
            .map(|p| p.map(Child))
            .collect()
    }
}

/// BIP341 key-path output keys (x-only) of internal keys, as BIP86 derives them:
/// `Q = P' + int(hash_TapTweak(x(P)))·G` with `P'` the even-y point of x(P). `None` where the
/// internal key is `None`, the tweak is not a nonzero scalar below n, or Q is infinity (the
/// caller falls back to the reference path for those).
pub fn taproot_outputs(internal: &[Option<Child>]) -> Vec<Option<[u8; 32]>> {
    let mut start = Vec::with_capacity(internal.len());
    let mut ks = Vec::with_capacity(internal.len());
    for p in internal {
        let Some(Child(p)) = p else {
            start.push(None);
            ks.push(None);
            continue;
        };
        let x = p.x.to_bytes();
        let even = if bool::from(p.y.normalize().is_odd()) {
            p.neg()
        } else {
            *p
        };
        let mut e = TapTweakHash::engine();
        e.input(&x);
        let t = TapTweakHash::from_engine(e).to_byte_array();
        start.push(Some(even));
        ks.push(nonzero_scalar(&t).then_some(t));
    }
    add_mul_g_many(&start, &ks)
        .into_iter()
        .map(|q| {
            q.map(|q| {
                let mut x = [0u8; 32];
                x.copy_from_slice(&q.x.to_bytes());
                x
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bitcoin::{
        bip32::{ChainCode, ChildNumber, Fingerprint},
        key::TapTweak,
        secp256k1::{PublicKey, Secp256k1, SecretKey},
        NetworkKind,
    };

    use k256::elliptic_curve::point::AffineCoordinates;

    use super::*;

    fn compressed(p: &AffinePoint) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = 0x02 | u8::from(bool::from(p.y_is_odd()));
        out[1..].copy_from_slice(&p.x());
        out
    }

    /// Deterministic xorshift64 bytes (no new crates).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes32(&mut self) -> [u8; 32] {
            let mut b = [0u8; 32];
            for c in b.chunks_mut(8) {
                c.copy_from_slice(&self.next().to_le_bytes());
            }
            b
        }
    }

    fn xpub(secret: &[u8; 32], chain_code: [u8; 32]) -> Xpub {
        let secp = Secp256k1::signing_only();
        let sk = SecretKey::from_slice(secret).unwrap();
        Xpub {
            network: NetworkKind::Main,
            depth: 3,
            parent_fingerprint: Fingerprint::default(),
            child_number: ChildNumber::Normal { index: 0 },
            public_key: PublicKey::from_secret_key(&secp, &sk),
            chain_code: ChainCode::from(chain_code),
        }
    }

    fn reference(x: &Xpub, index: u32) -> [u8; 33] {
        let secp = Secp256k1::verification_only();
        x.ckd_pub(&secp, ChildNumber::Normal { index })
            .unwrap()
            .public_key
            .serialize()
    }

    #[test]
    fn table_multiples_equal_libsecp256k1_public_keys_including_carries_and_n_minus_1() {
        let secp = Secp256k1::signing_only();
        let n_minus_1 = {
            let mut b = [0u8; 32];
            b.copy_from_slice(
                &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
                    .unwrap(),
            );
            b
        };
        let mut ks: Vec<[u8; 32]> = vec![n_minus_1];
        for small in [1u8, 2, 127, 128, 129, 255] {
            let mut b = [0u8; 32];
            b[31] = small;
            ks.push(b);
        }
        // Every byte 0xff or 0x80/0x81: the signed digits carry through every window.
        ks.push([0x7f; 32]);
        ks.push([0x81; 32]);
        let mut b = [0xffu8; 32];
        b[0] = 0x7f;
        ks.push(b);
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        ks.extend((0..200).map(|_| rng.bytes32()).filter(nonzero_scalar));
        let mine: Vec<ProjectivePoint> = ks.iter().map(mul_g).collect();
        for (k, p) in ks.iter().zip(normalize(&mine)) {
            let sk = SecretKey::from_slice(k).unwrap();
            let theirs = PublicKey::from_secret_key(&secp, &sk).serialize();
            assert_eq!(compressed(&p), theirs, "k = {}", hex::encode(k));
        }
    }

    #[test]
    fn scalars_zero_and_at_or_above_the_order_are_not_tweaks() {
        assert!(!nonzero_scalar(&[0u8; 32]));
        assert!(!nonzero_scalar(&[0xff; 32]));
        let mut n = [0u8; 32];
        n.copy_from_slice(
            &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .unwrap(),
        );
        assert!(!nonzero_scalar(&n));
        n[31] -= 1;
        assert!(nonzero_scalar(&n));
    }

    #[test]
    fn children_equal_ckd_pub_for_the_bip32_vectors_public_steps() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../fixtures/vectors/bip32.json")).unwrap();
        let mut steps = 0;
        for vector in v["vectors"].as_array().unwrap() {
            let chains = vector["chains"].as_array().unwrap();
            for pair in chains.windows(2) {
                let (parent_path, child_path) = (
                    pair[0]["path"].as_str().unwrap(),
                    pair[1]["path"].as_str().unwrap(),
                );
                let Some(last) = child_path.strip_prefix(&format!("{parent_path}/")) else {
                    continue;
                };
                let Ok(index) = last.parse::<u32>() else {
                    continue; // hardened: no public derivation
                };
                let parent: Xpub = pair[0]["xpub"].as_str().unwrap().parse().unwrap();
                let child: Xpub = pair[1]["xpub"].as_str().unwrap().parse().unwrap();
                let got = Parent::new(&parent).children(index..index + 1);
                assert_eq!(
                    got[0].as_ref().map(Child::compressed),
                    Some(child.public_key.serialize()),
                    "{child_path}"
                );
                assert_eq!(reference(&parent, index), child.public_key.serialize());
                steps += 1;
            }
        }
        // Vector 1: m/0'/1, m/0'/1/2'/2, …/1000000000; vector 2: m/0, …/1, …/2. Vectors 3 and
        // 4 have hardened steps only.
        assert_eq!(steps, 6);
    }

    #[test]
    fn ten_thousand_pseudo_random_children_equal_ckd_pub_on_both_addition_paths() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut checked = 0;
        // 100 windows of 100 (lockstep affine path) and 200 windows of 10 (projective path),
        // each from its own random parent, anywhere below 2^31.
        for len in std::iter::repeat_n(100u32, 100).chain(std::iter::repeat_n(10, 200)) {
            let x = loop {
                let secret = rng.bytes32();
                if nonzero_scalar(&secret) {
                    break xpub(&secret, rng.bytes32());
                }
            };
            let start =
                u32::try_from(rng.next() % (u64::from(1u32 << 31) - u64::from(len))).unwrap();
            let got = Parent::new(&x).children(start..start + len);
            for (i, c) in (start..start + len).zip(got) {
                assert_eq!(
                    c.as_ref().map(Child::compressed),
                    Some(reference(&x, i)),
                    "index {i}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 12_000);
    }

    fn pt(k: &[u8; 32]) -> Pt {
        Pt::of(&mul_g(k).to_affine()).unwrap()
    }

    fn scalar(v: u8) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[31] = v;
        b
    }

    #[test]
    fn lockstep_addition_handles_equal_opposite_and_identity_points() {
        let g = pt(&scalar(1));
        let n_minus = |v: u8| {
            let mut b = [0u8; 32];
            b.copy_from_slice(
                &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                    .unwrap(),
            );
            b[31] -= v;
            b
        };
        // Lanes: G + 1·G (equal points: doubling), −G + 1·G (opposite: identity),
        // identity + 5·G, −2G + 3·G = G, −G + (n−1)·G = −2G, and an invalid lane; padded to
        // the lockstep size with random lanes.
        let mut start = vec![
            Some(g),
            Some(g.neg()),
            None,
            Some(pt(&scalar(2)).neg()),
            Some(g.neg()),
            Some(g),
        ];
        let mut ks = vec![
            Some(scalar(1)),
            Some(scalar(1)),
            Some(scalar(5)),
            Some(scalar(3)),
            Some(n_minus(1)),
            None,
        ];
        let mut rng = XorShift(7);
        while ks.len() < LOCKSTEP_FROM {
            start.push(Some(pt(&rng.bytes32().map(|b| b & 0x7f))));
            ks.push(Some(rng.bytes32().map(|b| b & 0x7f)));
        }
        for (name, got) in [
            ("lockstep", add_mul_g_lockstep(&start, &ks)),
            ("projective", add_mul_g_many(&start[..6], &ks[..6])),
        ] {
            let c = |i: usize| got[i].map(|p| p.compressed());
            assert_eq!(c(0), Some(pt(&scalar(2)).compressed()), "{name}: G + G");
            assert_eq!(c(1), None, "{name}: −G + G");
            assert_eq!(c(2), Some(pt(&scalar(5)).compressed()), "{name}: O + 5G");
            assert_eq!(c(3), Some(g.compressed()), "{name}: −2G + 3G");
            assert_eq!(
                c(4),
                Some(pt(&scalar(2)).neg().compressed()),
                "{name}: −G − G"
            );
            assert_eq!(c(5), None, "{name}: invalid lane");
        }
        // The random lanes agree between the two paths.
        let lock = add_mul_g_lockstep(&start, &ks);
        for j in 6..ks.len() {
            let reference = add_mul_g(projective(&start[j].unwrap()), &ks[j].unwrap());
            assert_eq!(
                lock[j].map(|p| p.compressed()),
                Some(compressed(&reference.to_affine())),
                "lane {j}"
            );
        }
    }

    #[test]
    fn a_hardened_index_has_no_public_child() {
        let x = xpub(&[7u8; 32], [9u8; 32]);
        let got = Parent::new(&x).children((1 << 31) - 1..(1 << 31) + 1);
        assert!(got[0].is_some());
        assert!(got[1].is_none());
    }

    #[test]
    fn taproot_outputs_equal_rust_bitcoins_bip341_tweak_for_odd_and_even_keys() {
        let secp = Secp256k1::verification_only();
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        let x = xpub(&rng.bytes32(), rng.bytes32());
        // 300 children take the lockstep path, the first 5 alone the projective one.
        let children = Parent::new(&x).children(0..300);
        let few = taproot_outputs(&Parent::new(&x).children(0..5));
        assert_eq!(few[..], taproot_outputs(&children[..5])[..]);
        let outputs = taproot_outputs(&children);
        let mut odd = 0;
        for (i, q) in outputs.iter().enumerate() {
            let key = bitcoin::secp256k1::PublicKey::from_slice(&reference(&x, i as u32)).unwrap();
            let (internal, parity) = key.x_only_public_key();
            if parity == bitcoin::secp256k1::Parity::Odd {
                odd += 1;
            }
            let (tweaked, _) = internal.tap_tweak(&secp, None);
            assert_eq!(
                q.unwrap(),
                tweaked.to_x_only_public_key().serialize(),
                "index {i}"
            );
        }
        assert!(odd > 100 && odd < 200, "{odd}");
        assert_eq!(taproot_outputs(&[None]), vec![None]);
    }
}
