//! # custos-inspect
//!
//! Discovery scans over every known wallet path and the inventories they produce (used
//! addresses, balances, UTXOs with SPV status, first and last activity), written against the
//! `custos-core` chain-source traits so they are tested with in-memory chains and the lab.
//!
//! - [`scan()`]: the server's header chain checked from genesis before any script is sent; all
//!   sources of a watch-only file at once, one batched round trip per window across every path
//!   (windows doubling while a chain keeps being used), BIP44 account discovery; transactions,
//!   proofs and unspent lists in one pipelined round trip; every transaction hashed against its txid and
//!   every confirmed one checked against its merkle proof and a header chain validated from
//!   genesis; unspent outputs derived from the transactions and compared with the server's
//!   list; optionally every answer cross-checked with a second server. A scan that cannot
//!   finish, or meets any failed check, says `complete: false`.
//! - [`render`]: the inventory as a text table, CSV and an HTML report section.
//! - [`derive`] and [`child`]: the scripts a scan asks about; the catalogue's descriptor shapes
//!   derived a window at a time on a fixed-base table of G (variable time, for public
//!   watch-only keys only — ADR 0011), everything else through miniscript.
//!
//! Not for: parsing seized material (see `custos-keys`), network transport (see `custos-chain`),
//! private keys of any kind ([`child`] is variable-time by design).
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod child;
pub mod derive;
pub mod error;
pub mod render;
pub mod scan;
mod shape;

pub use error::Error;
pub use scan::{
    scan, Accounts, Evidence, Paths, Progress, ProofStatus, ScanOptions, ScanReport, ScanSettings,
    Skipped, SourceSummary, DEFAULT_CHANGE_GAP, DEFAULT_GAP, MAX_WINDOW,
};
