//! # custos-lab
//!
//! The training and test chain: a local Bitcoin regtest chain whose blocks are validated by
//! Bitcoin Core's consensus code (libbitcoinkernel), with a mempool that applies the policy a
//! sweep meets on the real network, served over the Electrum protocol on 127.0.0.1 and built
//! from scenario files in `fixtures/lab/`.
//!
//! ```no_run
//! use custos_lab::{Lab, LabConfig};
//! let lab = Lab::start(LabConfig::scenario("seized-basic"))?;
//! let url = lab.url(); // tcp://127.0.0.1:PORT for electrum-client
//! let truth = lab.ground_truth();
//! # Ok::<(), custos_lab::Error>(())
//! ```
//!
//! The [`eth`] module is the Ethereum scenario kind: an anvil node with the lab's contracts and
//! a custody Safe, built from `fixtures/lab/eth-*/` (see [`eth::EthLab`]).
//!
//! Not for: production use on real networks. Online side.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod block;
mod builder;
mod chain;
pub mod class;
mod error;
pub mod eth;
mod index;
mod kernel;
mod keys;
mod lab;
mod mempool;
mod node;
mod persist;
mod scenario;
mod server;
mod source;
mod truth;
pub mod variant;
mod world;

use std::path::PathBuf;

pub use block::grind;
pub use error::Error;
pub use index::{script_hash, ElectrumScriptHash};
pub use keys::{electrum_seed_version, ScriptType};
pub use lab::{ControlFile, Lab, LabConfig};
pub use mempool::MAX_STANDARD_TX_WEIGHT;
pub use scenario::{CoinJoinKind, Scenario};
pub use server::{
    call as control_call, scripthash_hex, status_hash, ConnLimits, ADMIN_REFUSED, MAX_HEADERS,
    MAX_MINE_PER_CALL, MAX_REQUEST_BYTES,
};
pub use source::LabSource;
pub use truth::{
    AddressTruth, BackgroundTruth, ChainIn, ChainOut, ChainTx, ChangeTruth, CoinJoinTruth,
    EntityTruth, FlowTruth, GroundTruth, PeelHop, PeelTruth, TracingTruth, TxTruth, UtxoTruth,
    WalletTruth,
};
pub use world::WalletMaterial;

/// The fixtures directory: `$CUSTOS_FIXTURES`, else `<workspace>/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CUSTOS_FIXTURES") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}
