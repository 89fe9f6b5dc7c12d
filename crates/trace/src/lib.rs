//! # custos-trace
//!
//! Provenance and destination tracing: transaction graphs, taint models, clustering and change
//! heuristics, entity labels and graph exports, over the `custos-core` chain-source traits.
//!
//! Not for: balances and inventories (see `custos-inspect`).
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
