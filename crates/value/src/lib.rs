//! # custos-value
//!
//! Valuation of seized assets for disposal: parses market quotes in the shapes exchanges publish
//! them (Kraken's public `Ticker`, Coinbase Exchange's product ticker, Bitstamp's v2 ticker, and
//! a plain CSV), FX reference rates (the ECB's daily XML and CSV), and computes, with exact
//! decimals, the reserve price (the lowest venue volume-weighted bid in the window, less a
//! volatility haircut), the value of the holdings at that price and the performance bond
//! (110 % of the value, rounded up). The rule is written out in `docs/valuation.md`.
//!
//! - [`dec`]: [`Dec`], a fixed-point decimal on `i128` with explicit rounding (no floats);
//! - [`quote`]: quote files and trading pairs; [`fx`]: FX rate files;
//! - [`rule`]: the valuation rule itself.
//!
//! Not for: fetching quotes (custos never calls an exchange; quote files are captured
//! elsewhere and stored as case artifacts), reading files (the caller reads them through the
//! bounded readers of `custos_core::file`), trading or order placement.
//!
//! Features: none. Offline: no I/O at all.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![deny(clippy::float_arithmetic)]

pub mod dec;
pub mod error;
pub mod fx;
pub mod quote;
pub mod rule;
mod time;

pub use dec::{Dec, Round};
pub use error::Error;
pub use fx::FxTable;
pub use quote::{Asset, Pair, Quote};
pub use rule::{valuate, Holding, Params, Valuation};
