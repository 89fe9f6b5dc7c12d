//! # custos-chain
//!
//! Online data sources implementing the `custos-core` chain-source traits:
//!
//! - [`ElectrumSource`]: an Electrum-protocol client (TCP, TLS via `ssl://`, SOCKS5/Tor) with
//!   every per-script and per-transaction request batched into one round trip, and reconnection
//!   with bounded backoff; errors say whether a retry can help;
//! - [`rpc`]: the JSON-RPC line protocol under it — a batch of any size pipelined in one round
//!   trip, answers matched by id, constant cost per request;
//! - [`tls`]: TLS trust as Electrum does it — CA roots, a pinned certificate fingerprint, or
//!   trust on first use recorded in the case; [`socks`]: a SOCKS5 client whose errors say
//!   whether the proxy or the server is at fault;
//! - [`spv`] and [`VerifiedChain`]: simplified payment verification as pure functions — every
//!   transaction hashed against its txid, every confirmed one checked against its merkle proof
//!   and a header chain validated from genesis (linkage and proof of work under the network's
//!   difficulty rules);
//! - [`CachedSource`]: a cache in the case store so a re-run or a report works offline;
//! - [`crosscheck`]: a second server asked the same questions, every disagreement reported;
//! - [`eth`]: an Ethereum JSON-RPC source (alloy provider): every query pinned to one block by
//!   hash, reorgs and lagging nodes detected, balances, nonces and ERC-20 `balanceOf` in batched
//!   JSON-RPC requests, and the shipped list of well-known mainnet tokens.
//!
//! Not for: anything the air-gapped signer links. Online side.
//!
//! Difficulty rules: regtest (bits fixed at the pow limit 0x207fffff) and mainnet (retarget every
//! 2016 blocks as Core computes it) are checked exactly; on testnet3/4 and signet only
//! "target no easier than the pow limit and met by the hash" is checked (their min-difficulty
//! exceptions and signet block solutions are not modelled).
//!
//! Features: `test-support` makes [`MemoryChain`] (an in-process regtest chain for tests of
//! the scanners) public; dependants enable it in their dev-dependencies only.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod cache;
pub mod crosscheck;
pub mod electrum;
pub mod error;
pub mod eth;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod rpc;
pub mod socks;
pub mod spv;
pub mod tls;
pub mod verified;

pub use cache::{CacheMode, CachedSource};
pub use electrum::{ElectrumOptions, ElectrumSource};
pub use error::{Error, SpvError};
#[cfg(any(test, feature = "test-support"))]
pub use memory::MemoryChain;
pub use tls::{Fingerprint, TlsTrust};
pub use verified::VerifiedChain;
