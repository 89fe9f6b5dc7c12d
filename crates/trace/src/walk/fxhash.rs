//! A fast, unkeyed hasher for the walk's maps, whose keys are txids, outpoints and small
//! integers: the multiply-rotate hash of rustc's `FxHasher`, eight bytes at a time.
//!
//! The standard `SipHash` is keyed against flooding by chosen keys; here the keys are txids (hashes
//! a server cannot choose freely without grinding transactions) and heights, and a map of
//! 10,000 transactions is hashed several hundred thousand times per trace, so speed wins. The
//! order of these maps never reaches an output (everything a trace returns is sorted).

use std::{
    collections::{HashMap, HashSet},
    hash::{BuildHasherDefault, Hasher},
};

/// A map with [`FxHasher`].
pub(super) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A set with [`FxHasher`].
pub(super) type FxHashSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// rustc's Fx hash: for each word, rotate, XOR, multiply.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use bitcoin::{hashes::Hash, OutPoint, Txid};

    use super::*;

    #[test]
    fn different_txids_and_outpoints_hash_apart_and_equal_ones_alike() {
        let b = BuildHasherDefault::<FxHasher>::default();
        let t = |n: u8| Txid::from_byte_array([n; 32]);
        assert_eq!(b.hash_one(t(1)), b.hash_one(t(1)));
        assert_ne!(b.hash_one(t(1)), b.hash_one(t(2)));
        assert_ne!(
            b.hash_one(OutPoint::new(t(1), 0)),
            b.hash_one(OutPoint::new(t(1), 1))
        );
        // A map keyed by many txids keeps them all.
        let mut m: FxHashMap<Txid, u32> = FxHashMap::default();
        for i in 0..5000u32 {
            let mut bytes = [0u8; 32];
            bytes[28..].copy_from_slice(&i.to_be_bytes());
            m.insert(Txid::from_byte_array(bytes), i);
        }
        assert_eq!(m.len(), 5000);
        assert_eq!(
            m[&Txid::from_byte_array({
                let mut bytes = [0u8; 32];
                bytes[28..].copy_from_slice(&4321u32.to_be_bytes());
                bytes
            })],
            4321
        );
    }
}
