//! Backward (provenance) and forward (destination) multi-hop traces over any
//! [`BitcoinSource`].
//!
//! A trace starts from seeds (a transaction, a coin, or every coin a script received), and
//! walks hop by hop: forward to the transactions that spend the coins, backward to the
//! transactions that created the coins spent. Each hop handles its whole frontier at once, so it
//! costs a small constant number of batched round trips whatever the frontier's width:
//!
//! - forward: histories of the frontier coins' scripts, raw transactions of the new candidates,
//!   raw transactions of the spenders' other parents (so every input value is known), merkle
//!   proofs of the spenders — four round trips;
//! - backward: raw transactions of the parents, histories of the spent coins' scripts (for the
//!   heights), merkle proofs — three round trips.
//!
//! Each request hands the whole frontier to the source in one call, however wide (the source
//! decides how to split it on the wire). Every transaction's bytes are hashed to its
//! txid (bytes that do not are rejected, kept in the evidence and reported), and every confirmed
//! transaction's merkle proof is checked against a header chain validated from genesis to the
//! tip, synced once at the start.
//!
//! A trace stops at a coin for a reason ([`StopReason`]) and records where. A source failing
//! mid-trace ends the walk with what it has: the trace is returned with `partial` saying what
//! was not followed and why. Only failures before anything could be traced (the tip, the
//! header chain, the start transactions) are errors.
//!
//! The seeds themselves are always followed (they are what the examiner asked about): the
//! minimum value and the stop rules apply from the next coins on, and the time window applies to
//! the transactions found by the walk, not to the seed transactions.
//!
//! Time of a transaction for the window: its block's header time when its proof checked; the
//! time of the header at the height the server claimed when its proof did not check; the tip's
//! time for a mempool transaction (it cannot be earlier).
//!
//! Evidence: the raw transactions, proofs and headers used are kept in the trace, and
//! [`Trace::recheck`] re-verifies a trace file from them alone.
//!
//! Determinism: requests are made in sorted order and every collection in a [`Trace`] is sorted,
//! so the same answers give a byte-identical JSON trace (and a cached source replays offline).

mod backward;
mod fetch;
mod forward;
mod fxhash;
mod merkle;
mod recheck;
mod seed;
mod state;
mod txid;

use std::collections::BTreeMap;

use bitcoin::{BlockHash, OutPoint, ScriptBuf, Txid};
use custos_chain::VerifiedChain;
use custos_core::{
    source::{BitcoinSource, MerkleProof},
    Network, Sat,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Graph};
use fetch::Fetcher;
use state::Walk;

/// Which way a trace walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Destination: to the transactions spending the coins.
    Forward,
    /// Provenance: to the transactions that created the coins spent.
    Backward,
}

/// Where a trace starts. An address is resolved to its script by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// A transaction: forward, all its outputs; backward, all its outputs as targets (its
    /// inputs are walked).
    Tx(Txid),
    /// One coin.
    Outpoint(OutPoint),
    /// Every output paying this script in its history.
    Script {
        /// How the examiner named it (the address, usually).
        label: String,
        /// The script.
        script: ScriptBuf,
    },
}

impl Start {
    /// The start as shown in a trace (`tx:<txid>`, `outpoint:<txid>:<vout>`, `script:<label>`).
    pub fn describe(&self) -> String {
        match self {
            Start::Tx(t) => format!("tx:{t}"),
            Start::Outpoint(op) => format!("outpoint:{op}"),
            Start::Script { label, .. } => format!("script:{label}"),
        }
    }
}

/// Bounds of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Hops walked from the seed transactions (hop 0).
    pub hops: u32,
    /// Transactions in the graph at most (the seed transactions are always included).
    pub max_txs: usize,
    /// Coins below this value are not followed.
    pub min_value: Sat,
    /// Transactions earlier than this Unix time (block time) are not followed.
    pub not_before: Option<u32>,
    /// Transactions later than this Unix time (block time) are not followed.
    pub not_after: Option<u32>,
}

impl Default for Limits {
    /// 6 hops, 10,000 transactions, no minimum value, no time window.
    fn default() -> Self {
        Limits {
            hops: 6,
            max_txs: 10_000,
            min_value: Sat(0),
            not_before: None,
            not_after: None,
        }
    }
}

/// A rule that may stop the walk at a coin (a labelled address, a large cluster). Rules are
/// asked in order; the first that answers decides.
pub trait StopRule {
    /// Whether to stop at `coin`, paying `address`, given the graph built so far.
    fn check(&self, graph: &Graph, coin: &OutPoint, address: &str) -> Option<StopReason>;
}

/// Why the walk did not go past a coin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The hop limit was reached.
    HopLimit,
    /// The transaction limit was reached.
    TxLimit,
    /// The coin is worth less than the minimum value.
    BelowMinValue {
        /// Its value.
        value: Sat,
    },
    /// The next transaction lies outside the time window.
    OutsideWindow {
        /// Its time.
        time: u32,
    },
    /// A stop rule matched a label.
    Labelled {
        /// The label.
        label: String,
        /// Its category.
        category: String,
    },
    /// A stop rule found the coin's address in a large cluster.
    LargeCluster {
        /// Cluster size (addresses).
        size: usize,
    },
    /// Forward: the coin is not spent (or cannot be: a data carrier).
    Unspent,
    /// Backward: the coin was created by a coinbase transaction.
    Coinbase,
    /// The coin or its transaction does not exist as the walk expected.
    NotFound {
        /// What is missing.
        detail: String,
    },
    /// The source failed or lied while this coin was being followed.
    SourceFailed {
        /// What happened.
        detail: String,
    },
}

/// Where and why the walk stopped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stop {
    /// The coin not followed.
    pub coin: OutPoint,
    /// The hop the walk would have reached through it.
    pub hop: u32,
    /// Why.
    #[serde(flatten)]
    pub reason: StopReason,
}

/// What a trace cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Highest hop of a transaction in the graph.
    pub hops: u32,
    /// Transactions in the graph.
    pub transactions: usize,
    /// Round trips to the source (the tip and the header chain included).
    pub round_trips: u64,
}

/// Bytes a source sent that did not hash to the txid asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedTx {
    /// The bytes, hex.
    pub hex: String,
    /// Why they were rejected.
    pub reason: String,
}

/// What a second examiner needs to re-check a trace without trusting the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Every transaction the walk used (graph transactions, the parents that gave input
    /// values, the history entries examined for spends), raw bytes in hex, each hashing to its
    /// txid.
    pub raw_txs: BTreeMap<Txid, String>,
    /// Bytes that did not hash to the txid asked for.
    pub rejected: BTreeMap<Txid, RejectedTx>,
    /// Merkle proofs as received (checked or not; the graph says which).
    pub proofs: BTreeMap<Txid, MerkleProof>,
    /// Validated headers (hex) at the heights of the checked proofs and of the tip.
    pub headers: BTreeMap<u32, String>,
}

/// A finished trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Which way it walked.
    pub direction: Direction,
    /// The network.
    pub network: Network,
    /// The starts as given ([`Start::describe`]).
    pub starts: Vec<String>,
    /// The seed coins: forward, the coins followed first; backward, the coins explained.
    pub seeds: Vec<OutPoint>,
    /// The limits it ran under.
    pub limits: Limits,
    /// The tip the header chain was validated to.
    pub tip: (u32, BlockHash),
    /// The traced transactions.
    pub graph: Graph,
    /// The hop at which each transaction entered the graph (seed transactions: 0).
    pub hop_of: BTreeMap<Txid, u32>,
    /// Where the walk stopped and why, sorted by hop and coin.
    pub stops: Vec<Stop>,
    /// Empty when the trace is complete within its rules; otherwise each entry says what was
    /// not followed or not proven, and why (a limit reached, a source failure, a lie caught).
    pub partial: Vec<String>,
    /// What it cost.
    pub stats: Stats,
    /// Raw transactions, proofs and headers.
    pub evidence: Evidence,
}

impl Trace {
    /// Whether the walk went everywhere its rules allowed, with every transaction proven.
    pub fn is_complete(&self) -> bool {
        self.partial.is_empty()
    }
}

/// Progress of a running trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// Headers validated so far, of the total to the tip.
    Headers {
        /// Validated.
        done: u32,
        /// To validate.
        total: u32,
    },
    /// A hop begins.
    Hop {
        /// The hop.
        hop: u32,
        /// Coins in its frontier.
        frontier: usize,
        /// Transactions in the graph so far.
        transactions: usize,
        /// Round trips so far.
        round_trips: u64,
    },
}

/// Traces from `starts` in `direction` over `source`, within `limits`, asking `rules` at every
/// coin. Returns the trace, partial when a limit was reached or the source failed midway;
/// errors only when nothing could be traced (tip, header chain or start transactions).
pub fn trace(
    source: &dyn BitcoinSource,
    network: Network,
    direction: Direction,
    starts: &[Start],
    limits: &Limits,
    rules: &[&dyn StopRule],
    progress: &mut dyn FnMut(Progress),
) -> Result<Trace, Error> {
    let mut fetcher = Fetcher::new(source);
    let tip = fetcher.tip().map_err(|cause| Error::Source {
        what: "reading the tip".into(),
        cause,
    })?;
    let mut chain = VerifiedChain::new(network.to_bitcoin());
    let trips = chain
        .sync(source, &tip, &mut |done, total| {
            progress(Progress::Headers { done, total })
        })
        .map_err(|e| Error::Headers {
            server: source.name(),
            detail: e.to_string(),
        })?;
    fetcher.trips = fetcher.trips.saturating_add(trips);

    let mut walk = Walk::new(fetcher, network, direction, limits, rules, chain, tip);
    let seeds = seed::resolve(&mut walk, starts)?;
    match direction {
        Direction::Forward => forward::run(&mut walk, &seeds, progress),
        Direction::Backward => backward::run(&mut walk, &seeds, progress),
    }
    Ok(walk.finish(starts, &seeds))
}
