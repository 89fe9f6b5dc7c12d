//! Tracing heuristics over a [`Graph`]: CoinJoin detection, common-input-ownership clustering,
//! change detection and peeling chains. Every heuristic is a pure function of the graph, has a
//! kebab-case name ([`HeuristicId`]) and can be switched off ([`HeuristicSet`]); every conclusion
//! lists the heuristics that agreed and disagreed, and change calls carry an integer confidence.
//!
//! These are *heuristics*: each one is a documented guess about wallet behaviour that real
//! wallets break on purpose or by accident. Their output is a lead for an investigator, never a
//! finding on its own.
//!
//! - [`coinjoin`](mod@coinjoin): Wasabi (1.x and 2.x), Whirlpool, JoinMarket and the generic equal-output rule;
//! - [`cluster`](mod@cluster): union-find over addresses, never across a CoinJoin;
//! - [`change`]: per-output votes from six named change heuristics;
//! - [`peel`]: peeling chains of three or more hops;
//! - [`external`]: chain-wide clusters imported from the Spark job, looked up per address.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::graph::Graph;

pub mod change;
pub mod cluster;
pub mod coinjoin;
pub mod external;
pub mod peel;

pub use change::{detect_change, ChangeCall};
pub use cluster::{cluster, Cluster, Clustering, Link};
pub use coinjoin::{coinjoin, coinjoin_with, CoinJoin, CoinJoinKind};
pub use external::{ExternalCluster, ExternalClusters, Membership};
pub use peel::{peeling_chains, PeelChain};

/// A named heuristic. The kebab-case name is what users type (`--disable round-amount`) and
/// what every conclusion lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeuristicId {
    /// Wasabi 1.x / 2.x (WabiSabi) CoinJoin shapes.
    CoinjoinWasabi,
    /// Samourai Whirlpool 5-in/5-out pool mixes.
    CoinjoinWhirlpool,
    /// JoinMarket maker/taker CoinJoins.
    CoinjoinJoinmarket,
    /// The generic equal-output rule (BlockSci `isCoinjoin`).
    CoinjoinEqualOutput,
    /// All input addresses of a transaction belong to one entity.
    CommonInput,
    /// All outputs of a coinbase belong to the miner (weak: pools pay out in coinbases). Off by default.
    CoinbaseOutputs,
    /// A detected change output belongs to the entity of the inputs (weak). Off by default.
    ChangeLink,
    /// Change goes back to an input address; a previously used address is a payment.
    AddressReuse,
    /// Change has the script kind of the inputs.
    ScriptType,
    /// Change is smaller than the smallest input (else that input was unnecessary).
    OptimalChange,
    /// Round amounts are payments.
    RoundAmount,
    /// Change goes to a one-time address.
    FreshAddress,
    /// Change is spent by a transaction with the same wallet fingerprint.
    Fingerprint,
    /// Peeling chains.
    PeelChain,
}

impl HeuristicId {
    /// Every heuristic, in a fixed order.
    pub const ALL: [HeuristicId; 14] = [
        HeuristicId::CoinjoinWasabi,
        HeuristicId::CoinjoinWhirlpool,
        HeuristicId::CoinjoinJoinmarket,
        HeuristicId::CoinjoinEqualOutput,
        HeuristicId::CommonInput,
        HeuristicId::CoinbaseOutputs,
        HeuristicId::ChangeLink,
        HeuristicId::AddressReuse,
        HeuristicId::ScriptType,
        HeuristicId::OptimalChange,
        HeuristicId::RoundAmount,
        HeuristicId::FreshAddress,
        HeuristicId::Fingerprint,
        HeuristicId::PeelChain,
    ];

    /// The change-detection heuristics, the ones that vote on outputs.
    pub const CHANGE: [HeuristicId; 6] = [
        HeuristicId::AddressReuse,
        HeuristicId::ScriptType,
        HeuristicId::OptimalChange,
        HeuristicId::RoundAmount,
        HeuristicId::FreshAddress,
        HeuristicId::Fingerprint,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            HeuristicId::CoinjoinWasabi => "coinjoin-wasabi",
            HeuristicId::CoinjoinWhirlpool => "coinjoin-whirlpool",
            HeuristicId::CoinjoinJoinmarket => "coinjoin-joinmarket",
            HeuristicId::CoinjoinEqualOutput => "coinjoin-equal-output",
            HeuristicId::CommonInput => "common-input",
            HeuristicId::CoinbaseOutputs => "coinbase-outputs",
            HeuristicId::ChangeLink => "change-link",
            HeuristicId::AddressReuse => "address-reuse",
            HeuristicId::ScriptType => "script-type",
            HeuristicId::OptimalChange => "optimal-change",
            HeuristicId::RoundAmount => "round-amount",
            HeuristicId::FreshAddress => "fresh-address",
            HeuristicId::Fingerprint => "fingerprint",
            HeuristicId::PeelChain => "peel-chain",
        }
    }

    /// Whether it is on in [`HeuristicSet::default`]: all are, except the two weak linking
    /// heuristics (`coinbase-outputs`, `change-link`) that merge clusters on a guess.
    pub fn on_by_default(self) -> bool {
        !matches!(self, HeuristicId::CoinbaseOutputs | HeuristicId::ChangeLink)
    }
}

impl fmt::Display for HeuristicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A heuristic name that is not one of [`HeuristicId::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown heuristic `{0}` (known: coinjoin-wasabi, coinjoin-whirlpool, coinjoin-joinmarket, coinjoin-equal-output, common-input, coinbase-outputs, change-link, address-reuse, script-type, optimal-change, round-amount, fresh-address, fingerprint, peel-chain)")]
pub struct UnknownHeuristic(pub String);

impl FromStr for HeuristicId {
    type Err = UnknownHeuristic;

    fn from_str(s: &str) -> Result<HeuristicId, UnknownHeuristic> {
        let wanted = s.trim();
        HeuristicId::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownHeuristic(s.to_string()))
    }
}

/// Which heuristics are switched on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeuristicSet {
    enabled: BTreeSet<HeuristicId>,
}

impl Default for HeuristicSet {
    /// Every heuristic on except `coinbase-outputs` and `change-link` (see
    /// [`HeuristicId::on_by_default`]).
    fn default() -> HeuristicSet {
        HeuristicSet {
            enabled: HeuristicId::ALL
                .into_iter()
                .filter(|h| h.on_by_default())
                .collect(),
        }
    }
}

impl HeuristicSet {
    /// Every heuristic on, the weak linking ones included.
    pub fn all() -> HeuristicSet {
        HeuristicSet {
            enabled: HeuristicId::ALL.into_iter().collect(),
        }
    }

    /// No heuristic on.
    pub fn none() -> HeuristicSet {
        HeuristicSet {
            enabled: BTreeSet::new(),
        }
    }

    /// Switches one off.
    pub fn disable(&mut self, id: HeuristicId) -> &mut HeuristicSet {
        self.enabled.remove(&id);
        self
    }

    /// Switches one on.
    pub fn enable(&mut self, id: HeuristicId) -> &mut HeuristicSet {
        self.enabled.insert(id);
        self
    }

    /// Whether it is on.
    pub fn is_enabled(&self, id: HeuristicId) -> bool {
        self.enabled.contains(&id)
    }

    /// The heuristics that are on, in order.
    pub fn enabled(&self) -> impl Iterator<Item = HeuristicId> + '_ {
        self.enabled.iter().copied()
    }
}

/// Everything the heuristics concluded about a graph, in a deterministic order (transactions by
/// txid, clusters by id, chains by their first txid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Analysis {
    /// The heuristics that were on.
    pub heuristics: Vec<HeuristicId>,
    /// Detected CoinJoins, by txid.
    pub coinjoins: Vec<CoinJoin>,
    /// Address clusters.
    pub clustering: Clustering,
    /// Change calls, by (txid, vout).
    pub change: Vec<ChangeCall>,
    /// Peeling chains.
    pub peels: Vec<PeelChain>,
}

/// Runs every enabled heuristic over the graph: CoinJoins first (clustering and change
/// detection skip them), then change detection, then clustering (which may use the change calls
/// when `change-link` is on) and peeling chains.
pub fn analyze(graph: &Graph, set: &HeuristicSet) -> Analysis {
    let coinjoins: Vec<CoinJoin> = graph
        .txs
        .values()
        .filter_map(|tx| coinjoin_with(tx, set))
        .collect();
    let change = detect_change(graph, set);
    let clustering = cluster(graph, set, &change);
    let peels = peeling_chains(graph, set, &change);
    Analysis {
        heuristics: set.enabled().collect(),
        coinjoins,
        clustering,
        change,
        peels,
    }
}
