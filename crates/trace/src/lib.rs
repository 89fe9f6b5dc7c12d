//! # custos-trace
//!
//! Provenance and destination tracing: transaction graphs, taint models, clustering and change
//! heuristics, entity labels and graph exports, over the `custos-core` chain-source traits.
//!
//! - [`graph`]: the traced transactions, linked both ways;
//! - [`walk`]: backward (provenance) and forward (destination) traces over a
//!   [`BitcoinSource`](custos_core::source::BitcoinSource), each hop a constant number of
//!   batched round trips, every transaction SPV-checked, every stop reported with its reason;
//! - [`taint`]: poison, haircut, FIFO, LIFO and TIHO, exact in integer satoshis;
//! - [`heuristics`]: CoinJoin detection, common-input clustering, change detection and peeling
//!   chains, each call listing the heuristics that agreed and disagreed;
//! - [`labels`]: GraphSense TagPack YAML and CSV label files, propagated through clusters;
//! - [`exposure`]: how much traced value reaches or comes from each label category;
//! - [`export`]: JSON, CSV, DOT, GraphML and a self-contained HTML/SVG view;
//! - [`eth`]: Ethereum account graphs (ETH including internal transfers, ERC-20 `Transfer`
//!   logs), forward and backward, with their own JSON/CSV/DOT/GraphML/HTML exports (an `asset`
//!   on every edge).
//!
//! Not for: balances and inventories (see `custos-inspect`); anything the signer links.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod error;
pub mod eth;
pub mod export;
pub mod exposure;
pub mod graph;
pub mod heuristics;
pub mod labels;
pub mod report;
pub mod taint;
pub mod walk;

pub use error::Error;
pub use graph::{Graph, TxNode};
pub use report::TraceReport;
