//! Ethereum seized material: accounts from BIP39 mnemonics on the paths wallets really use
//! ([`paths`]), raw private keys, Web3 Secret Storage (keystore V3) files ([`keystore`]) and
//! EIP-55 addresses ([`address`]); and the Ethereum watch-only file ([`watch_only`]).
//!
//! One BIP39/BIP32 implementation (rust-bitcoin's) serves both chains: a key at
//! m/44'/60'/0'/0/0 gives the same address as alloy's or eth-account's mnemonic signer (checked
//! against eth-account in the tests). Secrets stay in [`custos_core::Secret`]; errors never carry
//! a key, a phrase or a password.
//!
//! Not for: transactions, Safe or signing (see `custos-eth`).

pub mod address;
pub mod derive;
pub mod error;
pub mod keystore;
pub mod material;
pub mod paths;
mod romix;
pub mod watch_only;

pub use address::{checksummed, parse_address};
pub use derive::{address_of_key, derive_account, EthAccountKey};
pub use error::EthKeyError;
pub use keystore::Keystore;
pub use material::{classify_eth, EthMaterial};
pub use paths::{EthPath, ETH_PATHS};
pub use watch_only::{eth_watch_only, EthWatchAccount, EthWatchOnly};
