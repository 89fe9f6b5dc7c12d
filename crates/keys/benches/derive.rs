//! Addresses derived per second from an account xpub on one core (BIP84 and BIP86).
//!
//! The account xpubs are those of the BIP84 and BIP86 test vectors. "script" measures
//! derivation down to the output script (what a scanner needs: Electrum script hashes are taken
//! over the script); "address" adds formatting the address string.

use std::str::FromStr;

use bitcoin::{
    bip32::{ChildNumber, Xpub},
    key::CompressedPublicKey,
    Address, Network, ScriptBuf,
};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use custos_keys::{catalogue::ScriptType, derive::ChainDeriver, slip132};

const N: u32 = 1000;

fn account(kind: &str) -> Xpub {
    match kind {
        // BIP84 account 0 zpub (bip-0084.mediawiki), re-encoded as xpub by SLIP-132 decoding.
        "bip84" => match slip132::decode("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs") {
            Ok(slip132::Decoded::Public(x, _)) => x,
            _ => panic!("bip84 vector key"),
        },
        // BIP86 account 0 xpub (bip-0086.mediawiki).
        _ => Xpub::from_str("xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49yfdDEHGCtMMj92pReUsQ").expect("bip86 vector key"),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("derive");
    g.throughput(Throughput::Elements(u64::from(N)));
    for (name, script) in [("bip84", ScriptType::Wpkh), ("bip86", ScriptType::Tr)] {
        let d = ChainDeriver::new(&account(name), 0, script).expect("chain key");
        g.bench_with_input(BenchmarkId::new("script", name), &d, |b, d| {
            b.iter(|| {
                for i in 0..N {
                    black_box(d.script_at(i).expect("derive"));
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("address", name), &d, |b, d| {
            b.iter(|| {
                for i in 0..N {
                    let s = d.script_at(i).expect("derive");
                    black_box(
                        Address::from_script(&s, Network::Bitcoin)
                            .expect("address")
                            .to_string(),
                    );
                }
            })
        });
    }
    // Baseline for comparison: rust-bitcoin's own `ckd_pub` (generic tweak-add) and script
    // constructors, the straightforward way to do the same work.
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    for name in ["bip84", "bip86"] {
        let chain = account(name)
            .ckd_pub(&secp, ChildNumber::Normal { index: 0 })
            .expect("chain key");
        g.bench_with_input(
            BenchmarkId::new("naive-script", name),
            &chain,
            |b, chain| {
                b.iter(|| {
                    for i in 0..N {
                        let k = chain
                            .ckd_pub(&secp, ChildNumber::Normal { index: i })
                            .expect("derive");
                        let s = if name == "bip84" {
                            ScriptBuf::new_p2wpkh(&CompressedPublicKey(k.public_key).wpubkey_hash())
                        } else {
                            ScriptBuf::new_p2tr(&secp, k.public_key.x_only_public_key().0, None)
                        };
                        black_box(s);
                    }
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
