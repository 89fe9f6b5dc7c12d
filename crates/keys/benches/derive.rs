//! Addresses derived per second on one core, through the scanner's own derivation path (BIP84
//! and BIP86 receive chains).
//!
//! The descriptors are made the way the product makes them: the BIP84/BIP86 test-vector
//! mnemonic ("abandon … about") goes through [`custos_keys::watch_only`] into a watch-only file,
//! whose `bip84` and `bip86` account-0 descriptors are parsed by
//! [`custos_inspect::derive::ParsedDescriptor`], the type the discovery scan derives with. Each
//! index then costs what one slot of the scan's `derive_window` costs: "script" is
//! `ParsedDescriptor::script_at` (output script and address value; Electrum script hashes are
//! taken over the script), "address" adds formatting the address string as the scan does for
//! every slot.
//!
//! "floor/ckd_pub" is one BIP32 public child derivation per index through rust-bitcoin
//! (HMAC-SHA512 and libsecp256k1's variable-base tweak of the chain's extended key), nothing
//! else: what the scan paid per index before the fast path.
//!
//! "fast/…" is the path the scan takes now for the catalogue's shapes
//! ([`custos_inspect::child`]: a fixed-base table of G, a window of children normalised with
//! one inversion per batch): "fast/children" the child keys alone, "fast/script" the output
//! scripts of a window through `ParsedDescriptor::scripts_at`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use custos_core::{secret::SecretString, Network};
use custos_inspect::{child::Parent, derive::ParsedDescriptor};
use custos_keys::{classify, watch_only, Catalogue, WatchOnlyOptions};

const N: u32 = 1000;

/// BIP84's and BIP86's test-vector mnemonic (public; in both BIPs' texts).
const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

/// The receive chain of account 0 of catalogue entry `id`, as the scan parses it.
fn receive_chain(id: &str) -> (String, ParsedDescriptor) {
    let material = classify(&SecretString::new(MNEMONIC.to_string()), Network::Bitcoin)
        .expect("the vector mnemonic is valid");
    let opts = WatchOnlyOptions {
        accounts: 1,
        paths: Some(vec![id.to_string()]),
        ..WatchOnlyOptions::default()
    };
    let file = watch_only(
        &material,
        None,
        Network::Bitcoin,
        &Catalogue::builtin(),
        &opts,
    )
    .expect("watch-only file of the vector mnemonic");
    let source = file
        .sources
        .into_iter()
        .find(|s| s.account == Some(0) && !s.change)
        .expect("an account-0 receive source");
    let desc = ParsedDescriptor::parse(&source.label, &source.descriptor)
        .expect("the product's descriptor parses")
        .into_iter()
        .next()
        .expect("receive chain first");
    assert!(desc.is_ranged(), "{}", source.descriptor);
    (source.label, desc)
}

fn bench(c: &mut Criterion) {
    let network = bitcoin::Network::Bitcoin;
    let mut g = c.benchmark_group("derive");
    g.throughput(Throughput::Elements(u64::from(N)));
    for (name, first) in [
        // First receive addresses from BIP84's and BIP86's texts: the path derives the right keys.
        ("bip84", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"),
        (
            "bip86",
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
        ),
    ] {
        let (label, desc) = receive_chain(name);
        let (_, a) = desc.script_at(&label, 0, network).expect("derive index 0");
        assert_eq!(a.map(|a| a.to_string()).as_deref(), Some(first), "{name}");
        g.bench_with_input(BenchmarkId::new("script", name), &desc, |b, d| {
            b.iter(|| {
                for i in 0..N {
                    black_box(d.script_at(&label, i, network).expect("derive"));
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("fast/script", name), &desc, |b, d| {
            b.iter(|| black_box(d.scripts_at(&label, 0..N).expect("derive")))
        });
        g.bench_with_input(BenchmarkId::new("address", name), &desc, |b, d| {
            b.iter(|| {
                for i in 0..N {
                    let (script, address) = d.script_at(&label, i, network).expect("derive");
                    black_box(address.map_or_else(
                        || format!("script:{}", script.to_hex_string()),
                        |a| a.to_string(),
                    ));
                }
            })
        });
    }
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let chain: bitcoin::bip32::Xpub =
        // BIP84's account-0 xpub of the vector mnemonic (in BIP84's text), its receive chain.
        "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
            .parse()
            .expect("BIP84's xpub");
    let chain = chain
        .ckd_pub(&secp, bitcoin::bip32::ChildNumber::Normal { index: 0 })
        .expect("receive chain");
    let parent = Parent::new(&chain);
    g.bench_function("fast/children", |b| {
        b.iter(|| black_box(parent.children(0..N)))
    });
    g.bench_function("floor/ckd_pub", |b| {
        b.iter(|| {
            for i in 0..N {
                black_box(
                    chain
                        .ckd_pub(&secp, bitcoin::bip32::ChildNumber::Normal { index: i })
                        .expect("derive"),
                );
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
