//! # custos-case
//!
//! The case store: one SQLite file per case (`DIR/case.sqlite`, WAL, `synchronous=FULL`),
//! opened through a typed API ([`Case`]). It holds
//!
//! - the append-only, hash-chained **ledger** (the event model and chain rules are pure functions
//!   in `custos_core::ledger`); every append is one transaction, so a crash leaves the event whole
//!   or absent;
//! - **artifacts** (raw transactions, proofs, PSBTs, reports) stored content-addressed by sha256
//!   inside the same file, written in the same transaction as the event that refers to them;
//! - a **cache** of chain data, so a re-run or a report works offline;
//! - [`checkpoint`]: ledger heads signed by the examiner and countersigned by a supervisor
//!   (BIP-322), checked by `verify` against the chain;
//! - [`kinds`]: the ledger event kinds, shared by the commands that write and the readers;
//! - [`timeline`]: the custody-to-remittance timeline, valuation and disposal report sections;
//! - [`report`]: the self-contained HTML report and the JSONL export.
//!
//! Not for: secrets. Nothing that reaches this crate may hold a mnemonic, key or password; the
//! types that carry secrets (`custos_core::Secret`) do not implement `Serialize`.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
// Issue 15 item 8: set here, not in [workspace.lints], while other crates are still being
// changed by others; move to the workspace table once every crate is clean.

pub mod checkpoint;
pub mod error;
pub mod export;
pub mod kinds;
pub mod report;
mod schema;
mod store;
pub mod timeline;

pub use error::Error;
pub use store::{Artifact, Case, CaseInfo, NewArtifact, Problem, VerifyReport};

/// The file name of the case database inside a case directory.
pub const CASE_FILE: &str = "case.sqlite";
