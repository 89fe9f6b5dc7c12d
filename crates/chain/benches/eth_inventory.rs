//! Inventory of 1,000 Ethereum addresses × 5 tokens against anvil (the eth-seized lab): ETH
//! balance and nonce of every address and `balanceOf` of every token for every address, all at
//! one pinned block, in batched JSON-RPC. Prints the round trips per inventory; criterion
//! measures the wall time of the whole inventory (`1000x5_*`) and, for comparison, of the ETH
//! balances and nonces alone (`1000x0_*`). Skips without anvil.
//!
//! `nice cargo bench -p custos-chain --bench eth_inventory`

#![allow(clippy::print_stderr)]

use alloy_primitives::Address;
use criterion::{criterion_group, criterion_main, Criterion};
use custos_chain::eth::{EthOptions, EthSource};
use custos_lab::eth::{Anvil, EthLab};

const ADDRESSES: u64 = 1_000;

fn inventory(c: &mut Criterion) {
    if !Anvil::available() {
        eprintln!("eth_inventory: skipped, anvil not installed");
        return;
    }
    let lab = EthLab::start("eth-seized").expect("eth-seized lab");
    let tokens: Vec<Address> = lab
        .truth()
        .contracts
        .tokens
        .iter()
        .map(|t| t.address.parse().expect("token address"))
        .collect();
    assert_eq!(tokens.len(), 5);
    // The scenario's own accounts first, then addresses nobody used.
    let mut addrs: Vec<Address> = lab
        .truth()
        .accounts
        .iter()
        .map(|a| a.address.parse().expect("address"))
        .collect();
    addrs.extend(
        (1..)
            .map(|i: u64| Address::left_padding_from(&(i << 20).to_be_bytes()))
            .take(ADDRESSES as usize - addrs.len()),
    );
    let mut group = c.benchmark_group("eth_inventory");
    group.sample_size(10);
    for batch_size in [100usize, 500] {
        let src = EthSource::connect(
            &lab.rpc_url(),
            EthOptions {
                batch_size,
                ..Default::default()
            },
        )
        .expect("connect");
        let pin = src.pin_latest().expect("pin");
        // One inventory, counted: ETH balance and nonce of every address, then every token.
        let start = src.round_trips();
        let states = src.accounts(&pin, &addrs).expect("accounts");
        let eth_trips = src.round_trips() - start;
        let balances = src.token_balances(&pin, &tokens, &addrs).expect("tokens");
        let token_trips = src.round_trips() - start - eth_trips;
        assert_eq!(states.len(), addrs.len());
        assert_eq!(balances.len(), addrs.len() * tokens.len());
        eprintln!(
            "eth_inventory: batch size {batch_size}: {} addresses (ETH + nonce, {} calls) in {eth_trips} round trips; \
             + {} token balances ({} tokens) in {token_trips} round trips; total {} round trips for {} JSON-RPC calls",
            states.len(),
            states.len() * 2,
            balances.len(),
            tokens.len(),
            eth_trips + token_trips,
            states.len() * 2 + balances.len()
        );
        group.bench_function(format!("1000x0_batch{batch_size}"), |b| {
            b.iter(|| src.accounts(&pin, &addrs).expect("accounts").len())
        });
        group.bench_function(format!("1000x5_batch{batch_size}"), |b| {
            b.iter(|| {
                let s = src.accounts(&pin, &addrs).expect("accounts");
                let t = src.token_balances(&pin, &tokens, &addrs).expect("tokens");
                (s.len(), t.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, inventory);
criterion_main!(benches);
