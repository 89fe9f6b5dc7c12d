//! # custos-chain
//!
//! Online data sources implementing the `custos-core` chain-source traits: an Electrum-protocol
//! client with batched requests and SPV verification (every transaction hashed against its txid,
//! every confirmed one checked against its merkle proof and a validated header chain), and a
//! cache in the case store so a report can be re-verified offline.
//!
//! Not for: anything the air-gapped signer links. Online side.
//!
//! Features: none.
