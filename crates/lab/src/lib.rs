//! # custos-lab
//!
//! The training and test chain: a local Bitcoin regtest chain whose blocks are validated by
//! Bitcoin Core's consensus code (libbitcoinkernel), with a mempool that applies the policy a
//! sweep meets on the real network, served over the Electrum protocol on 127.0.0.1 and built
//! from scenario files in `fixtures/lab/`.
//!
//! Not for: production use on real networks. Online side.
//!
//! Features: none.
