//! # custos-disposal
//!
//! Disposal orders: the authorisation, signed by an authority the custody policy names, to pay
//! an exact amount from custody to an exact address within a validity window. This crate holds
//! the order file (`custos-disposal-order-v1`) and its canonical text, BIP-322 signing and
//! verification of that text (through `custos_ceremony::bip322`), the check of an order against
//! a custody policy and a clock that turns it into a [`custos_tx::verify::OrderPermit`], and the
//! record of used orders: a proprietary field in the signed PSBT and the signer's local journal.
//!
//! Not for: deciding whether a PSBT may be signed (that is `custos_tx::verify`, which matches
//! permits to outputs) or building the spend (`custos_tx::spend`). Offline side of the air gap:
//! linked by `custos-signer`, no network code, no I/O but the journal file it is given.
//!
//! Modules:
//! - [`authority`]: authority records with their proof of possession, added to a policy;
//! - [`order`]: the order, its canonical text, parsing and field rules, signing, verification;
//! - [`record`]: order ids recorded in a PSBT and the used-orders journal.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod authority;
pub mod error;
pub mod order;
pub mod record;

pub use error::{Error, Result};
pub use order::{DisposalOrder, OrderFields, OrderSignature, ORDER_FORMAT};
