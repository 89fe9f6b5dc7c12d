//! # custos-keys
//!
//! Seized material: parsing and classifying what the police hand over — BIP39 mnemonics (with
//! passphrase), Electrum native seeds (standard, segwit, 2FA, old), SLIP-132 extended keys,
//! xprvs, output descriptors, WIF key lists and bare addresses — and the derivation-path
//! catalogue (which wallet uses which path and script type).
//!
//! - [`classify`] recognises and checks material ([`Material`]); [`bip39_corrections`] proposes
//!   single-word fixes for a mnemonic whose checksum fails;
//! - [`Catalogue::builtin`] is the path catalogue (`data/paths.toml`, every entry with sources);
//! - [`watch_only`] turns material into the [`custos_core::inventory::WatchOnly`] file the
//!   online side scans (public descriptors with key origins; never a secret);
//! - [`electrum`] has Electrum's seed versions, seed derivation and the old (pre-2.0) scheme;
//! - [`eth`] has Ethereum material: BIP39 accounts on the wallets' paths, raw keys, keystore V3
//!   files, EIP-55 addresses, and the Ethereum watch-only file.
//!
//! Not for: talking to any chain (see `custos-chain`), building or signing transactions (see
//! `custos-tx`). Offline side of the air gap: no networking crate may ever enter its tree.
//!
//! Known limits: BIP39 word lists of all ten BIP39 languages are recognised; Electrum's text
//! normalisation is implemented in full (NFKD, lower case, accents, CJK spaces) except Python's
//! rare special lower-casing rules. Electrum 2FA seeds are derived with the TrustedCoin
//! cosigner key computed offline from TrustedCoin's published signing xpub, as Electrum does.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod catalogue;
pub mod electrum;
mod electrum_wallet;
mod error;
pub mod eth;
mod material;
mod mnemonic;
mod normalize;
pub(crate) mod pbkdf2;
mod phrase;
pub mod slip132;
pub mod slip39;
pub mod watch_only;

pub use catalogue::{Catalogue, CatalogueEntry};
pub use electrum::ElectrumSeedKind;
pub use error::Error;
pub use material::{classify, unlock, Material};
pub use mnemonic::{bip39_corrections, bip39_seed, Correction};
pub use watch_only::{master_fingerprint, watch_only, CustomPath, WatchOnlyOptions};

/// PBKDF2-HMAC-SHA512 (64-byte output) as used by BIP39 and Electrum.
pub use pbkdf2::pbkdf2_hmac_sha512;
