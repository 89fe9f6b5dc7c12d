//! # custos-eth
//!
//! Ethereum, offline: everything the air-gapped signer needs and nothing that talks to a node.
//!
//! - [`money`]: [`money::Wei`] and [`money::TokenAmount`] (U256 base units, checked arithmetic,
//!   exact decimal strings; no floats);
//! - [`erc20`]: `transfer` call data, encoded with `sol!` and decoded strictly;
//! - [`unsigned`]: the unsigned-transaction set file (`custos-eth-unsigned-v1`) that
//!   `custos eth sweep build` writes and the signer reads;
//! - [`tx`]: EIP-1559 transactions built from it, signed with alloy's local signer and encoded
//!   as EIP-2718 envelopes; [`ur`]: ERC-4527 `eth-sign-request` URs for QR signers;
//! - [`policy`]: the Ethereum custody policy (chain id, custody Safe, fee cap);
//!   [`check`]: the signer's review of a set against it (destinations decoded, nonces, fees);
//! - [`safe`]: Safe v1.4.1 CREATE2 addresses, `setup`/`createProxyWithNonce`/`execTransaction`
//!   call data, SafeTx EIP-712 hashes; [`safe_tx`]: the Safe transaction proposal file, its
//!   review (no delegatecall, no owner/module/guard change, allowed payees only) and signing.
//!
//! Not for: keys and keystores (see `custos_keys::eth`), anything online (balances, gas
//! estimation, broadcast: `custos-chain`). It depends only on alloy's offline crates
//! (consensus, eips, network, signer, signer-local, primitives, sol-types): no provider,
//! transport, TLS or async runtime, so `custos-signer` can link it (scripts/check-airgap.sh).
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod check;
pub mod erc20;
pub mod error;
pub mod money;
pub mod policy;
pub mod safe;
pub mod safe_tx;
pub mod tx;
pub mod unsigned;
pub mod ur;

pub use error::{Error, Result};
pub use money::{TokenAmount, Wei};
