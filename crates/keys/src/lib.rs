//! # custos-keys
//!
//! Seized material: parsing and classifying what the police hand over — BIP39 mnemonics (with
//! passphrase), Electrum native seeds (standard, segwit, 2FA, old), SLIP-132 extended keys,
//! xprvs, output descriptors, WIF key lists and bare addresses — and the derivation-path
//! catalogue (which wallet uses which path and script type).
//!
//! Not for: talking to any chain (see `custos-chain`), building or signing transactions (see
//! `custos-tx`). Offline side of the air gap: no networking crate may ever enter its tree.
//!
//! Features: none.
