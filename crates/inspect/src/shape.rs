//! The fast path of discovery: output scripts of the descriptor shapes the catalogue produces,
//! built directly from batched child keys ([`crate::child`]) instead of through miniscript's
//! per-index derivation.
//!
//! Shapes: `wpkh(K)`, `pkh(K)`, `sh(wpkh(K))`, `tr(K)` (key path only, BIP86), and
//! `multi`/`sortedmulti` under `wsh`, `sh` and `sh(wsh)` — every key K a ranged extended public
//! key whose only remaining step is the unhardened wildcard (fixed steps are folded into the
//! key at parse time). Anything else (miniscript trees, `tr` with a script tree, non-ranged or
//! hardened-wildcard keys) has no [`Shape`] and keeps the miniscript path. Scripts are equal to
//! miniscript's `at_derivation_index(i).script_pubkey()` (checked for every shape in the tests).
//!
//! Not for: definite descriptors, key origins or anything written to an inventory (see
//! [`crate::derive`]).

use std::ops::Range;

use bitcoin::{
    hashes::Hash,
    opcodes::all::OP_CHECKMULTISIG,
    script::{Builder, PushBytes},
    PubkeyHash, ScriptBuf, WPubkeyHash, WitnessProgram, WitnessVersion,
};
use miniscript::{
    descriptor::{DescriptorPublicKey, ShInner, Wildcard, WshInner},
    Descriptor, Terminal,
};

use crate::child::{taproot_outputs, Child, Parent};

/// Indices derived per batch: bounds the transient memory of a large window.
const CHUNK: u32 = 512;

/// How a multisig script is wrapped.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wrap {
    Sh,
    Wsh,
    ShWsh,
}

/// A descriptor the fast path can derive.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// `wpkh(K)`.
    Wpkh(Parent),
    /// `pkh(K)`.
    Pkh(Parent),
    /// `sh(wpkh(K))`.
    ShWpkh(Parent),
    /// `tr(K)`, key path only.
    Tr(Parent),
    /// `multi`/`sortedmulti` wrapped in `sh`, `wsh` or `sh(wsh)`.
    Multi {
        /// The wrapping.
        wrap: Wrap,
        /// Signatures required.
        k: usize,
        /// Keys sorted (BIP67) in each script.
        sorted: bool,
        /// The keys, in descriptor order.
        keys: Vec<Parent>,
    },
}

/// The parent of a ranged key whose only step left is an unhardened wildcard.
fn parent(pk: &DescriptorPublicKey) -> Option<Parent> {
    match pk {
        DescriptorPublicKey::XPub(x)
            if x.wildcard == Wildcard::Unhardened && x.derivation_path.is_master() =>
        {
            Some(Parent::new(&x.xkey))
        }
        _ => None,
    }
}

fn multi(wrap: Wrap, k: usize, sorted: bool, pks: &[DescriptorPublicKey]) -> Option<Shape> {
    let keys = pks.iter().map(parent).collect::<Option<Vec<_>>>()?;
    Some(Shape::Multi {
        wrap,
        k,
        sorted,
        keys,
    })
}

impl Shape {
    /// The shape of `desc`, when the fast path can derive it.
    pub(crate) fn of(desc: &Descriptor<DescriptorPublicKey>) -> Option<Shape> {
        match desc {
            Descriptor::Wpkh(w) => parent(w.as_inner()).map(Shape::Wpkh),
            Descriptor::Pkh(p) => parent(p.as_inner()).map(Shape::Pkh),
            Descriptor::Tr(tr) if tr.tap_tree().is_none() => {
                parent(tr.internal_key()).map(Shape::Tr)
            }
            Descriptor::Wsh(wsh) => wsh_shape(wsh.as_inner(), Wrap::Wsh),
            Descriptor::Sh(sh) => match sh.as_inner() {
                ShInner::Wpkh(w) => parent(w.as_inner()).map(Shape::ShWpkh),
                ShInner::Wsh(wsh) => wsh_shape(wsh.as_inner(), Wrap::ShWsh),
                ShInner::SortedMulti(s) => multi(Wrap::Sh, s.k(), true, s.pks()),
                ShInner::Ms(ms) => match &ms.node {
                    Terminal::Multi(t) => multi(Wrap::Sh, t.k(), false, t.data()),
                    _ => None,
                },
            },
            _ => None,
        }
    }

    /// The output scripts at `indices`; `None` where some key has no child at that index (the
    /// caller reports it through the reference path).
    pub(crate) fn scripts(&self, indices: Range<u32>) -> Vec<Option<ScriptBuf>> {
        let mut out = Vec::with_capacity(indices.len());
        let mut start = indices.start;
        while start < indices.end {
            let end = start.saturating_add(CHUNK).min(indices.end);
            self.scripts_chunk(start..end, &mut out);
            start = end;
        }
        out
    }

    fn scripts_chunk(&self, indices: Range<u32>, out: &mut Vec<Option<ScriptBuf>>) {
        let single = |p: &Parent, f: fn(&[u8; 33]) -> ScriptBuf| {
            p.children(indices.clone())
                .into_iter()
                .map(|c| c.map(|c| f(&c.compressed())))
                .collect::<Vec<_>>()
        };
        match self {
            Shape::Wpkh(p) => out.extend(single(p, p2wpkh)),
            Shape::Pkh(p) => out.extend(single(p, p2pkh)),
            Shape::ShWpkh(p) => out.extend(single(p, |k| p2sh(&p2wpkh(k)))),
            Shape::Tr(p) => out.extend(
                taproot_outputs(&p.children(indices.clone()))
                    .into_iter()
                    .map(|q| q.map(|x| p2tr(&x))),
            ),
            Shape::Multi {
                wrap,
                k,
                sorted,
                keys,
            } => {
                let children: Vec<Vec<_>> =
                    keys.iter().map(|p| p.children(indices.clone())).collect();
                for j in 0..indices.len() {
                    let set: Option<Vec<[u8; 33]>> = children
                        .iter()
                        .map(|c| c[j].as_ref().map(Child::compressed))
                        .collect();
                    out.push(set.map(|mut set| {
                        if *sorted {
                            set.sort_unstable();
                        }
                        wrapped(*wrap, &multisig(*k, &set))
                    }));
                }
            }
        }
    }
}

fn wsh_shape(inner: &WshInner<DescriptorPublicKey>, wrap: Wrap) -> Option<Shape> {
    match inner {
        WshInner::SortedMulti(s) => multi(wrap, s.k(), true, s.pks()),
        WshInner::Ms(ms) => match &ms.node {
            Terminal::Multi(t) => multi(wrap, t.k(), false, t.data()),
            _ => None,
        },
    }
}

fn p2wpkh(key: &[u8; 33]) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(key))
}

fn p2pkh(key: &[u8; 33]) -> ScriptBuf {
    ScriptBuf::new_p2pkh(&PubkeyHash::hash(key))
}

fn p2sh(redeem: &ScriptBuf) -> ScriptBuf {
    ScriptBuf::new_p2sh(&redeem.script_hash())
}

fn p2wsh(witness_script: &ScriptBuf) -> ScriptBuf {
    ScriptBuf::new_p2wsh(&witness_script.wscript_hash())
}

/// The output key is already tweaked (`child::taproot_outputs`): no parsing, which would cost a
/// square root per script.
fn p2tr(output_key: &[u8; 32]) -> ScriptBuf {
    let program = WitnessProgram::new(WitnessVersion::V1, output_key)
        .expect("32 bytes are a valid version 1 program");
    ScriptBuf::new_witness_program(&program)
}

/// `<k> <key>… <n> OP_CHECKMULTISIG`, as miniscript encodes `multi`.
fn multisig(k: usize, keys: &[[u8; 33]]) -> ScriptBuf {
    let mut b = Builder::new().push_int(script_int(k));
    for key in keys {
        let push: &PushBytes = key.into();
        b = b.push_slice(push);
    }
    b.push_int(script_int(keys.len()))
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

/// A key count as a script number (at most 20 keys in any multisig a descriptor allows).
fn script_int(n: usize) -> i64 {
    i64::try_from(n).expect("a multisig has at most 20 keys")
}

fn wrapped(wrap: Wrap, script: &ScriptBuf) -> ScriptBuf {
    match wrap {
        Wrap::Sh => p2sh(script),
        Wrap::Wsh => p2wsh(script),
        Wrap::ShWsh => p2sh(&p2wsh(script)),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::derive::ParsedDescriptor;

    // Public test-vector keys: BIP32 vector 1 m/0', vector 2 m, vector 1 m, BIP84 account 0.
    const A: &str = "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw";
    const B: &str = "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB";
    const C: &str = "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8";
    const D: &str = "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V";

    fn fast_equals_miniscript(text: &str) {
        let parsed = ParsedDescriptor::parse("t", text).unwrap();
        let raw = Descriptor::<DescriptorPublicKey>::from_str(text)
            .unwrap()
            .into_single_descriptors()
            .unwrap();
        assert_eq!(parsed.len(), raw.len());
        for (p, r) in parsed.iter().zip(&raw) {
            let fast = p.scripts_at("t", 0..200).unwrap();
            for (i, script) in fast.iter().enumerate() {
                let expected = r.at_derivation_index(i as u32).unwrap().script_pubkey();
                assert_eq!(script, &expected, "{text} index {i}");
            }
        }
    }

    fn shape_of(text: &str) -> Option<Shape> {
        let d = Descriptor::<DescriptorPublicKey>::from_str(text).unwrap();
        Shape::of(&d)
    }

    #[test]
    fn every_catalogue_shape_takes_the_fast_path_and_equals_miniscript_for_200_indices() {
        let multi = |f: &str| format!("{f}(2,[d34db33f/48'/0'/0'/2']{A}/0/*,{B}/1/*,{C}/7/*)");
        let texts = [
            format!("wpkh([73c5da0a/84'/0'/0']{D}/0/*)"),
            format!("wpkh({D}/<0;1>/*)"),
            format!("pkh({A}/0/*)"),
            format!("sh(wpkh({B}/1/*))"),
            format!("tr({C}/0/*)"),
            format!("tr({D}/<0;1>/*)"),
            format!("wsh({})", multi("multi")),
            format!("wsh({})", multi("sortedmulti")),
            format!("sh({})", multi("multi")),
            format!("sh({})", multi("sortedmulti")),
            format!("sh(wsh({}))", multi("multi")),
            format!("sh(wsh({}))", multi("sortedmulti")),
            format!("wsh(sortedmulti(1,{A}/*))"),
        ];
        for text in &texts {
            let single = Descriptor::<DescriptorPublicKey>::from_str(text)
                .unwrap()
                .into_single_descriptors()
                .unwrap();
            let folded = ParsedDescriptor::parse("t", text).unwrap();
            assert_eq!(single.len(), folded.len());
            assert!(
                folded.iter().all(ParsedDescriptor::has_fast_path),
                "no fast path for {text}"
            );
            fast_equals_miniscript(text);
        }
    }

    #[test]
    fn other_descriptors_keep_the_miniscript_path_with_the_same_scripts() {
        let key = "02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13";
        let texts = [
            // A miniscript tree.
            format!("wsh(and_v(v:pk({A}/0/*),older(144)))"),
            // Taproot with a script tree.
            format!("tr({C}/0/*,pk({D}/0/*))"),
            // A multisig with a fixed key.
            format!("wsh(multi(1,{A}/0/*,{key}))"),
        ];
        for text in &texts {
            assert!(shape_of(text).is_none(), "{text}");
            fast_equals_miniscript(text);
        }
        // Non-ranged and hardened-wildcard keys: no shape.
        assert!(shape_of(&format!("wpkh({A}/0)")).is_none());
        assert!(shape_of(&format!("wpkh({key})")).is_none());
        assert!(shape_of(&format!("wpkh({A}/0/*')")).is_none());
    }

    #[test]
    fn a_window_longer_than_one_chunk_keeps_index_order() {
        let text = format!("wpkh({D}/0/*)");
        let d = ParsedDescriptor::parse("t", &text).unwrap().remove(0);
        let raw = Descriptor::<DescriptorPublicKey>::from_str(&text).unwrap();
        let n = CHUNK + 3;
        let scripts = d.scripts_at("t", 5..5 + n).unwrap();
        assert_eq!(scripts.len(), n as usize);
        for i in [5, 5 + CHUNK - 1, 5 + CHUNK, 5 + n - 1] {
            assert_eq!(
                scripts[(i - 5) as usize],
                raw.at_derivation_index(i).unwrap().script_pubkey(),
                "index {i}"
            );
        }
    }
}
