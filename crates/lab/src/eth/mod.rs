//! The Ethereum lab: a scenario kind (`kind = "ethereum"` in `scenario.toml`) built on a local
//! anvil node. [`EthLab::start`] starts anvil on 127.0.0.1 with a free port and anvil's default
//! mnemonic, deploys the lab's contracts (OpenZeppelin ERC-20s, a USDT-style token, a
//! fee-on-transfer token, an ETH forwarder, and the Safe v1.4.1 singleton, proxy factory and
//! fallback handler from the npm artifacts), plays the scenario's steps with transactions signed
//! in-process, deploys the custody Safe through the factory, and writes the ground truth
//! ([`EthTruth`]) after checking its bookkeeping against the node.
//!
//! The node is stopped when the [`EthLab`] is dropped. Nothing is persisted: the chain is the
//! same on every build (fixed keys, fixed timestamps), so a lab is rebuilt rather than resumed.

mod anvil;
mod contracts;
mod error;
mod keys;
mod ledger;
mod node;
mod play;
mod rpc;
mod scenario;
mod truth;

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use serde_json::json;

pub use anvil::{tools_bin, Anvil, ANVIL_CHAIN_ID};
pub use contracts::creation_code;
pub use error::EthError;
pub use keys::{anvil_account, ANVIL_MNEMONIC};
pub use scenario::{AccountSpec, EthScenario, SafeSpec, StepSpec, TokenKind, TokenSpec};
pub use truth::{
    AccountTruth, ContractsTruth, EthTruth, EthTxTruth, SafeTruth, TokenTruth, TransferTruth,
};

use crate::Error;
use contracts::IErc20;
use node::{quantity_u64, Sender};
use play::World;

/// A built Ethereum scenario on a running anvil.
#[derive(Debug)]
pub struct EthLab {
    anvil: Anvil,
    truth: EthTruth,
}

impl EthLab {
    /// Builds the scenario (a name in `fixtures/lab/` or a path) on a fresh anvil.
    pub fn start(scenario: &str) -> Result<EthLab, Error> {
        let sc = EthScenario::resolve(scenario)?;
        let anvil = Anvil::start(sc.genesis_timestamp)?;
        let truth = {
            let mut w = World::new(&sc, &anvil)?;
            w.deploy_all()?;
            w.play()?;
            w.deploy_safe()?;
            finish(&w)?
        };
        tracing::info!(target: "custos_lab::eth", scenario = %sc.name, block = truth.block_number, url = %anvil.url(), "ethereum scenario built");
        Ok(EthLab { anvil, truth })
    }

    /// `http://127.0.0.1:PORT` of the node.
    pub fn rpc_url(&self) -> String {
        self.anvil.url()
    }

    /// The ground truth of the build.
    pub fn truth(&self) -> &EthTruth {
        &self.truth
    }

    /// The node.
    pub fn anvil(&self) -> &Anvil {
        &self.anvil
    }

    /// Serves until `stop` is set (the node runs on its own; this only waits).
    pub fn wait(&self, stop: &std::sync::atomic::AtomicBool) {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Pins the tip, checks the bookkeeping against the node there, and writes the truth.
fn finish(w: &World<'_>) -> Result<EthTruth, Error> {
    let s = &w.sender;
    let block = quantity_u64(
        "eth_blockNumber",
        &s.rpc.call("eth_blockNumber", json!([]))?,
    )?;
    let head = s.rpc.call(
        "eth_getBlockByNumber",
        json!([format!("{block:#x}"), false]),
    )?;
    let block_hash = node::hash("eth_getBlockByNumber", &head["hash"])?;
    let mut accounts = Vec::new();
    for (a, spec) in w.accounts.iter().zip(&w.sc.accounts) {
        let eth = w.ledger.eth(a.address);
        check(&a.id, "ETH", eth, s.balance(a.address, block)?, block)?;
        let mut tokens = BTreeMap::new();
        for (i, t) in w.tokens.iter().enumerate() {
            let mine = w.ledger.token(i, a.address);
            check(
                &a.id,
                &t.spec.symbol,
                mine,
                balance_of(s, t.address, a.address, block)?,
                block,
            )?;
            if mine > U256::ZERO {
                tokens.insert(t.spec.symbol.clone(), mine.to_string());
            }
        }
        let nonce = quantity_u64(
            "eth_getTransactionCount",
            &s.rpc.call(
                "eth_getTransactionCount",
                json!([a.address, format!("{block:#x}")]),
            )?,
        )?;
        let sent = w
            .txs
            .iter()
            .filter(|t| t.from == a.address.to_checksum(None))
            .count() as u64;
        if nonce != sent {
            return Err(EthError::TruthMismatch {
                account: format!("{} (nonce)", a.id),
                asset: "transactions".into(),
                expected: U256::from(sent),
                got: U256::from(nonce),
                block,
            }
            .into());
        }
        accounts.push(AccountTruth {
            id: a.id.clone(),
            address: a.address.to_checksum(None),
            source: a.source.clone(),
            seized: spec.seized,
            owner: spec.owner.clone(),
            eth_wei: eth.to_string(),
            nonce,
            tokens,
        });
    }
    // The forwarder must hold nothing: every wei it received went on.
    check(
        "forwarder",
        "ETH",
        w.ledger.eth(w.forwarder),
        s.balance(w.forwarder, block)?,
        block,
    )?;
    Ok(EthTruth {
        scenario: w.sc.name.clone(),
        chain_id: ANVIL_CHAIN_ID,
        block_number: block,
        block_hash: block_hash.to_string(),
        contracts: ContractsTruth {
            forwarder: w.forwarder.to_checksum(None),
            safe_singleton: w.safe_singleton.to_checksum(None),
            safe_proxy_factory: w.safe_factory.to_checksum(None),
            safe_fallback_handler: w.safe_fallback.to_checksum(None),
            tokens: w
                .tokens
                .iter()
                .map(|t| TokenTruth {
                    symbol: t.spec.symbol.clone(),
                    kind: t.spec.kind,
                    address: t.address.to_checksum(None),
                    decimals: t.spec.decimals,
                    fee_bps: t.spec.fee_bps,
                })
                .collect(),
        },
        accounts,
        safe: w.safe.clone(),
        transactions: w.txs.clone(),
    })
}

fn check(who: &str, asset: &str, expected: U256, got: U256, block: u64) -> Result<(), EthError> {
    if expected == got {
        return Ok(());
    }
    Err(EthError::TruthMismatch {
        account: who.to_string(),
        asset: asset.to_string(),
        expected,
        got,
        block,
    })
}

fn balance_of(s: &Sender<'_>, token: Address, who: Address, block: u64) -> Result<U256, EthError> {
    let data: Bytes = IErc20::balanceOfCall { owner: who }.abi_encode().into();
    let out = s.call(token, data, block)?;
    IErc20::balanceOfCall::abi_decode_returns(&out).map_err(|e| EthError::Answer {
        method: "eth_call balanceOf".into(),
        detail: format!("token {token}: {e}"),
    })
}
