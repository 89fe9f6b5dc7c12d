//! # custos-core
//!
//! Domain types shared by every custos crate, with **no I/O** of any kind:
//!
//! - [`network`]: which chain a piece of data belongs to ([`network::Network`], [`network::Asset`]);
//! - [`amount`]: integer money newtypes ([`amount::Sat`], [`amount::Wei`]) with checked arithmetic
//!   and exact decimal formatting and parsing (no floats anywhere);
//! - [`secret`]: the [`secret::Secret`] wrapper that zeroizes on drop and never prints its content;
//! - [`ledger`]: the case-ledger event model and its hash chain as pure functions;
//! - [`source`]: the chain-source traits and their request/response types, implemented by
//!   `custos-chain` (Electrum servers) and `custos-lab` (the in-process lab chain);
//! - [`inventory`]: the watch-only, inventory and custody-policy files that cross the air gap;
//! - [`ids`]: validated case and examiner identifiers;
//! - [`exit`]: the exit-code classes every binary maps its errors to (ADR 0005);
//! - [`file`] and [`out`]: the exceptions to "no I/O", shared by the binaries: size-limited
//!   reading of input files, never-overwriting writes of outputs, and stdout writes that report
//!   a closed pipe or a full disk instead of panicking.
//!
//! Not for: storage (see `custos-case`), networking (see `custos-chain`), key handling (see
//! `custos-keys`). This crate is on the offline side of the air gap and must stay free of any
//! crate that can open a socket.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
// Issue 15 item 8: set here, not in [workspace.lints], while other crates are still being
// changed by others; move to the workspace table once every crate is clean.

pub mod amount;
pub mod error;
pub mod exit;
pub mod file;
pub mod ids;
pub mod inventory;
pub mod ledger;
pub mod network;
pub mod out;
pub mod secret;
pub mod source;

pub use amount::{Sat, Wei};
pub use error::Error;
pub use network::{Asset, Network};
pub use secret::{Secret, SecretString};
