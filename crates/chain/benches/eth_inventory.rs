//! Inventory of 1,000 Ethereum addresses × 5 tokens against anvil (the eth-seized lab): ETH
//! balance and nonce of every address and `balanceOf` of every token for every address, all at
//! one pinned block, in batched JSON-RPC. Prints the round trips per inventory; criterion
//! measures the wall time. Skips without anvil.
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
        let before = src.round_trips();
        let run = || {
            let s = src.accounts(&pin, &addrs).expect("accounts");
            let b = src.token_balances(&pin, &tokens, &addrs).expect("tokens");
            (s.len(), b.len())
        };
        let (n_acc, n_tok) = run();
        eprintln!(
            "eth_inventory: {n_acc} addresses, {n_tok} token balances, batch size {batch_size}: {} round trips for {} JSON-RPC calls",
            src.round_trips() - before,
            n_acc * 2 + n_tok
        );
        group.bench_function(format!("1000x5_batch{batch_size}"), |b| b.iter(run));
    }
    group.finish();
}

criterion_group!(benches, inventory);
criterion_main!(benches);
