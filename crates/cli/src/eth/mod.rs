//! Ethereum on the online workstation: `custos inspect` of Ethereum material (routed here from
//! `cmd_inspect`), and `custos eth sweep build|broadcast|watch` — unsigned EIP-1559 sweeps to the
//! custody Safe, their broadcast in nonce order and the check of the final balances. Every
//! query of one command is pinned to one block of an Ethereum JSON-RPC node
//! (`custos_chain::eth::EthSource`); every step is recorded in the case ledger.
//!
//! `custos eth safe deploy|propose|execute` (safe.rs) operates the custody Safe itself.
//!
//! Files: the Ethereum inventory (`custos-eth-inventory-v1`, written by inspect, read by sweep
//! build), the unsigned set (`custos-eth-unsigned-v1`, read by `custos-signer eth sign`) and
//! the signer's output (`custos-eth-signed-v1`, read by broadcast and watch).

pub(crate) mod broadcast;
pub(crate) mod inspect;
pub(crate) mod safe;
pub(crate) mod sweep;

use std::{str::FromStr, time::Duration};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_case::{Case, NewArtifact};
use custos_chain::eth::{EthError, EthOptions, EthSource};
use custos_core::{ledger::EventDraft, Network};

use crate::app::{App, CmdResult, Failure};

/// `--network`: a Bitcoin network, or `ethereum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkArg {
    /// A Bitcoin network.
    Bitcoin(Network),
    /// Ethereum (the chain id comes from the node).
    Ethereum,
}

impl FromStr for NetworkArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ethereum" | "eth" => Ok(NetworkArg::Ethereum),
            _ => Network::from_str(s)
                .map(NetworkArg::Bitcoin)
                .map_err(|e| format!("{e} (or ethereum)")),
        }
    }
}

/// `custos eth ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum EthCmd {
    /// Sweep seized Ethereum accounts to the custody Safe: build, broadcast, watch.
    #[command(subcommand)]
    Sweep(SweepCmd),
    /// The custody Safe: deploy it, propose a transaction out of it, execute it with k
    /// signatures.
    #[command(subcommand)]
    Safe(safe::SafeCmd),
}

/// `custos eth sweep ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SweepCmd {
    /// Unsigned EIP-1559 transactions moving every token and the ether of an inventory to the
    /// custody Safe (gas funding first where needed); output for `custos-signer eth sign`.
    Build(sweep::BuildArgs),
    /// Send signed transactions in nonce order, wait for their receipts, check the balances.
    Broadcast(broadcast::BroadcastArgs),
    /// Wait for the receipts (and confirmations) of signed transactions, check the balances.
    Watch(broadcast::WatchArgs),
}

/// Runs `custos eth ...`.
pub(crate) fn run(app: &App, cmd: &EthCmd) -> CmdResult {
    match cmd {
        EthCmd::Sweep(SweepCmd::Build(a)) => sweep::run(app, a),
        EthCmd::Sweep(SweepCmd::Broadcast(a)) => broadcast::run_broadcast(app, a),
        EthCmd::Sweep(SweepCmd::Watch(a)) => broadcast::run_watch(app, a),
        EthCmd::Safe(c) => safe::run(app, c),
    }
}

/// How to reach the Ethereum node.
#[derive(Debug, Args, Clone)]
pub(crate) struct RpcArgs {
    /// Ethereum JSON-RPC node, `http://host:port[/path]` (the path and credentials are never
    /// shown or recorded).
    #[arg(long, env = "CUSTOS_ETH_RPC", value_name = "URL")]
    pub rpc: Option<String>,
    /// Calls per batched JSON-RPC request.
    #[arg(long, default_value_t = 200)]
    pub batch_size: usize,
    /// Longest wait for one request, seconds.
    #[arg(long, default_value_t = 60)]
    pub rpc_timeout: u64,
}

impl RpcArgs {
    /// Connects; refuses a node on another chain than `expected` (exit 1).
    pub(crate) fn connect(&self, expected: Option<u64>) -> CmdResult<EthSource> {
        let url = self.rpc.as_deref().ok_or_else(|| {
            Failure::input(anyhow!(
                "no ethereum node: pass --rpc URL (or set CUSTOS_ETH_RPC)"
            ))
        })?;
        let opts = EthOptions {
            batch_size: self.batch_size,
            expected_chain_id: expected,
            timeout: Duration::from_secs(self.rpc_timeout.max(1)),
        };
        EthSource::connect(url, opts).map_err(eth_failure)
    }
}

/// An Ethereum source error with its exit class.
pub(crate) fn eth_failure(e: EthError) -> Failure {
    Failure::classified(e)
}

/// Appends `kind` with `payload` and `artifacts` (their hashes listed in the event) to the case.
pub(crate) fn record(
    app: &App,
    case: Option<&mut Case>,
    kind: &str,
    payload: serde_json::Value,
    artifacts: Vec<NewArtifact>,
) -> CmdResult {
    let shas: Vec<String> = artifacts.iter().map(|x| x.sha256()).collect();
    let draft = EventDraft::new(kind, payload).with_artifacts(shas);
    app.record(case, draft, artifacts)?;
    Ok(())
}

/// Refuses before any work when `path` exists (outputs are never overwritten).
pub(crate) fn refuse_existing(paths: &[&std::path::Path]) -> CmdResult {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(custos_core::file::FileError::Exists {
            path: p.to_path_buf(),
        }
        .into()),
        None => Ok(()),
    }
}
