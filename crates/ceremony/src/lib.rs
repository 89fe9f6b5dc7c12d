//! # custos-ceremony
//!
//! The custody key ceremony: entropy from the OS CSPRNG mixed with dice rolls, mnemonic
//! generation and verification, keyholder key records with proof of possession, k-of-n custody
//! descriptor assembly and its exports (descriptor, Coldcard multisig text, BSMS 1.0, SeedQR,
//! UR account/output descriptors), and the custody policy file.
//!
//! - [`entropy`]: OS CSPRNG, dice mixing, Coldcard-compatible dice;
//! - [`mnemonic`]: BIP39 words and the verification quiz; [`seedqr`]: SeedQR codes;
//! - [`keys`]: BIP48 account derivation; [`record`]: key records, BSMS round 1, proofs;
//! - [`bip322`]: BIP-322 simple and legacy message signatures;
//! - [`assemble`]: checks and k-of-n descriptors; [`exports`]: BSMS round 2, Coldcard, UR;
//! - [`eth`]: each keyholder's Ethereum key (m/44'/60'/0'/0/0, EIP-191 proof) and the k-of-n
//!   Safe v1.4.1 custody policy (`custos-eth-policy-v1`) assembled from them;
//! - [`import`]: hardware-wallet exports (Coldcard JSON, UR `crypto-account`/`account-descriptor`);
//! - [`verify`]: a keyholder's check of the assembled wallet; [`transcript`]: the signer's log.
//!
//! Not for: signing spends (see `custos-tx`), anything online. Offline side of the air gap: no
//! crate here opens a socket. Secrets (entropy, rolls, mnemonics, private keys) only ever live
//! inside `custos_core::Secret`.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]
// Issue 15 item 8: set here, not in [workspace.lints], while other crates are still being
// changed by others; move to the workspace table once every crate is clean.

pub mod assemble;
pub mod bip322;
pub mod cbor;
pub mod entropy;
pub mod error;
pub mod eth;
pub mod exports;
pub mod import;
pub mod keys;
pub mod mnemonic;
pub mod record;
pub mod seedqr;
pub mod transcript;
pub mod verify;

pub use error::Error;
pub use keys::ScriptKind;
