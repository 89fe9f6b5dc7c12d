//! The Ethereum source against the eth-seized lab on anvil: balances, nonces and token balances
//! at the pinned block equal the lab's ground truth (itself checked against the node with cast
//! in custos-lab's tests); reorgs, lagging nodes and unreachable nodes are told apart.
//! Skips without anvil unless `CUSTOS_REQUIRE_LIVE=1`.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use alloy_primitives::{Address, U256};
use custos_chain::eth::{EthError, EthOptions, EthSource};
use custos_core::exit::{Classify, ExitClass};
use custos_lab::eth::{Anvil, EthLab};
use serde_json::json;

fn lab() -> Option<EthLab> {
    custos_testkit::live(Anvil::available(), "anvil (scripts/install-deps.sh)")
        .then(|| EthLab::start("eth-seized").expect("build eth-seized"))
}

fn units(s: &str) -> U256 {
    U256::from_str_radix(s, 10).unwrap()
}

#[test]
fn balances_nonces_and_tokens_at_the_pinned_block_equal_the_lab_truth() {
    let Some(lab) = lab() else { return };
    let t = lab.truth();
    let src = EthSource::connect(
        &lab.rpc_url(),
        EthOptions {
            expected_chain_id: Some(31337),
            ..Default::default()
        },
    )
    .unwrap();
    let pin = src.pin_at(t.block_number).unwrap();
    assert_eq!(pin.hash.to_string(), t.block_hash);
    let addrs: Vec<Address> = t
        .accounts
        .iter()
        .map(|a| a.address.parse().unwrap())
        .collect();
    let tokens: Vec<Address> = t
        .contracts
        .tokens
        .iter()
        .map(|x| x.address.parse().unwrap())
        .collect();
    // Mine past the pin: answers must still be those of the pinned block.
    lab.anvil().call("evm_mine", json!([])).unwrap();
    let states = src.accounts(&pin, &addrs).unwrap();
    let balances = src.token_balances(&pin, &tokens, &addrs).unwrap();
    for (i, a) in t.accounts.iter().enumerate() {
        assert_eq!(states[i].balance_wei, units(&a.eth_wei), "ETH of {}", a.id);
        assert_eq!(states[i].nonce, a.nonce, "nonce of {}", a.id);
        for (j, tok) in t.contracts.tokens.iter().enumerate() {
            let b = &balances[i * tokens.len() + j];
            assert_eq!((b.owner, b.token), (addrs[i], tokens[j]));
            let want = a
                .tokens
                .get(&tok.symbol)
                .map(|s| units(s))
                .unwrap_or_default();
            assert_eq!(
                *b.balance.as_ref().unwrap(),
                want,
                "{} of {}",
                tok.symbol,
                a.id
            );
        }
    }
    src.check_pin(&pin).unwrap();
}

#[test]
fn many_balances_go_out_in_few_batched_round_trips() {
    let Some(lab) = lab() else { return };
    let t = lab.truth();
    let src = EthSource::connect(
        &lab.rpc_url(),
        EthOptions {
            batch_size: 100,
            ..Default::default()
        },
    )
    .unwrap();
    let pin = src.pin_latest().unwrap();
    let addrs: Vec<Address> = (1..=250u64)
        .map(|i| Address::left_padding_from(&i.to_be_bytes()))
        .collect();
    let tokens: Vec<Address> = t
        .contracts
        .tokens
        .iter()
        .map(|x| x.address.parse().unwrap())
        .collect();
    let before = src.round_trips();
    let states = src.accounts(&pin, &addrs).unwrap();
    let balances = src.token_balances(&pin, &tokens, &addrs).unwrap();
    assert_eq!(states.len(), 250);
    assert_eq!(balances.len(), 250 * tokens.len());
    // 500 account calls in batches of 100 (50 addresses × 2) and 1250 balanceOf in batches of 100.
    assert_eq!(src.round_trips() - before, 5 + 13);
}

#[test]
fn a_reorganised_pinned_block_is_reported_as_a_reorg() {
    let Some(lab) = lab() else { return };
    let src = EthSource::connect(&lab.rpc_url(), EthOptions::default()).unwrap();
    let snap = lab.anvil().call("evm_snapshot", json!([])).unwrap();
    lab.anvil().call("evm_mine", json!([])).unwrap();
    let pin = src.pin_latest().unwrap();
    assert!(lab
        .anvil()
        .call("evm_revert", json!([snap]))
        .unwrap()
        .as_bool()
        .unwrap());
    // Another block at the same height (another timestamp, so another hash).
    lab.anvil()
        .call("evm_mine", json!([pin.timestamp + 1]))
        .unwrap();
    let e = src.check_pin(&pin).unwrap_err();
    assert!(
        matches!(e, EthError::Reorg { number, .. } if number == pin.number),
        "{e}"
    );
    assert_eq!(e.exit_class(), ExitClass::Environment);
    // A query at the vanished block is explained the same way.
    let e = src.accounts(&pin, &[Address::ZERO]).unwrap_err();
    assert!(matches!(e, EthError::Reorg { .. }), "{e}");
}

#[test]
fn a_block_the_node_has_not_reached_is_refused_as_node_behind() {
    let Some(lab) = lab() else { return };
    let src = EthSource::connect(&lab.rpc_url(), EthOptions::default()).unwrap();
    let tip = src.pin_latest().unwrap().number;
    let e = src.pin_at(tip + 10).unwrap_err();
    assert!(
        matches!(e, EthError::NodeBehind { tip: t, pinned, .. } if t == tip && pinned == tip + 10),
        "{e}"
    );
}

#[test]
fn an_address_without_code_is_not_a_token_and_the_rest_still_answers() {
    let Some(lab) = lab() else { return };
    let t = lab.truth();
    let src = EthSource::connect(&lab.rpc_url(), EthOptions::default()).unwrap();
    let pin = src.pin_at(t.block_number).unwrap();
    let real: Address = t.token("LDAI").unwrap().address.parse().unwrap();
    let holder: Address = t.account("seized-0").unwrap().address.parse().unwrap();
    let answers = src
        .token_balances(&pin, &[Address::repeat_byte(0x42), real], &[holder])
        .unwrap();
    assert!(matches!(
        answers[0].balance,
        Err(EthError::NotAToken { .. })
    ));
    assert_eq!(
        *answers[1].balance.as_ref().unwrap(),
        units(&t.account("seized-0").unwrap().tokens["LDAI"])
    );
    let info = src.token_info(&pin, &[real]).unwrap();
    assert_eq!((info[0].symbol.as_str(), info[0].decimals), ("LDAI", 18));
}

#[test]
fn a_node_serving_another_chain_is_refused() {
    let Some(lab) = lab() else { return };
    let e = EthSource::connect(
        &lab.rpc_url(),
        EthOptions {
            expected_chain_id: Some(1),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            EthError::ChainId {
                expected: 1,
                got: 31337,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_unreachable_node_is_an_environment_error() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e =
        EthSource::connect(&format!("http://127.0.0.1:{port}"), EthOptions::default()).unwrap_err();
    assert!(matches!(e, EthError::Unreachable { .. }), "{e}");
    assert_eq!(e.exit_class(), ExitClass::Environment);
}

#[test]
fn internal_transfers_of_the_forwarder_history_are_those_the_lab_made() {
    let Some(lab) = lab() else { return };
    let t = lab.truth();
    let src = EthSource::connect(&lab.rpc_url(), EthOptions::default()).unwrap();
    let story: Vec<_> = t
        .transactions
        .iter()
        .filter(|x| x.what == "split" || x.what == "forward")
        .collect();
    assert_eq!(story.len(), 2);
    let hashes: Vec<_> = story.iter().map(|x| x.hash.parse().unwrap()).collect();
    let traced = src.call_transfers(&hashes).unwrap();
    for (tx, moves) in story.iter().zip(&traced) {
        // The top-level payment to the forwarder, then the internal ones the lab recorded.
        assert_eq!(moves[0].to.to_checksum(None), t.contracts.forwarder);
        assert_eq!(moves[0].value, units(&tx.value_wei));
        let internal: Vec<(String, String, String)> = moves[1..]
            .iter()
            .map(|m| {
                (
                    m.from.to_checksum(None),
                    m.to.to_checksum(None),
                    m.value.to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String, String)> = tx
            .internal
            .iter()
            .map(|m| (m.from.clone(), m.to.clone(), m.amount.clone()))
            .collect();
        assert_eq!(internal, want, "{}", tx.what);
        assert!(moves.iter().all(|m| !m.reverted));
    }
}

#[test]
fn transfer_logs_show_the_fee_tokens_split_and_every_token_movement_of_an_account() {
    use custos_chain::eth::TransferFilter;
    let Some(lab) = lab() else { return };
    let t = lab.truth();
    let src = EthSource::connect(&lab.rpc_url(), EthOptions::default()).unwrap();
    let pin = src.pin_at(t.block_number).unwrap();
    let s1: Address = t.account("seized-1").unwrap().address.parse().unwrap();
    let fee: Address = t.token("LFEE").unwrap().address.parse().unwrap();
    let to_s1 = src
        .transfer_logs(
            &pin,
            0,
            &TransferFilter {
                to: Some(s1),
                ..Default::default()
            },
        )
        .unwrap();
    // LUSDT and LFEE came in; nothing else.
    let mut got: Vec<(String, String)> = to_s1
        .iter()
        .map(|l| (l.token.to_checksum(None), l.value.to_string()))
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = t
        .transactions
        .iter()
        .flat_map(|x| &x.token_transfers)
        .filter(|m| m.to == t.account("seized-1").unwrap().address)
        .map(|m| (t.token(&m.asset).unwrap().address.clone(), m.amount.clone()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // The fee token's one transfer call emitted two events in the same transaction.
    let fee_logs = src
        .transfer_logs(
            &pin,
            0,
            &TransferFilter {
                tokens: vec![fee],
                ..Default::default()
            },
        )
        .unwrap();
    let step = t
        .transactions
        .iter()
        .find(|x| x.what == "send-token LFEE")
        .unwrap();
    let in_step: Vec<_> = fee_logs
        .iter()
        .filter(|l| l.tx.to_string() == step.hash)
        .collect();
    assert_eq!(in_step.len(), 2);
}
