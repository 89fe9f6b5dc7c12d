//! Address clustering by union-find.
//!
//! - `common-input`: all input addresses of a transaction are controlled by one entity (it had to
//!   sign for all of them). Never applied to a detected CoinJoin (its inputs belong to many
//!   people) nor to a coinbase (it has no input addresses).
//! - `coinbase-outputs` (off by default): all addressed outputs of a coinbase belong to the miner.
//!   Weak: pools and P2Pool-style miners pay many parties from the coinbase.
//! - `change-link` (off by default): a change output called by change detection belongs to the
//!   entity of its transaction's inputs. Weaker than common-input: a wrong change call merges a
//!   payee into the payer's cluster.
//!
//! Only addresses take part (`script:<hex>` outputs do not). Only clusters of two or more
//! addresses are listed; [`Clustering::of`] answers `None` for an address clustered with nothing.
//! A cluster's id is its smallest address, so ids are stable across runs.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::Txid;
use serde::{Deserialize, Serialize};

use super::{coinjoin_with, ChangeCall, HeuristicId, HeuristicSet};
use crate::graph::Graph;

/// Why some addresses were merged: one transaction, one heuristic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// The transaction that links them.
    pub txid: Txid,
    /// The heuristic that linked them.
    pub heuristic: HeuristicId,
    /// The addresses it links, sorted.
    pub addresses: Vec<String>,
}

/// One entity's addresses and the links that put them together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// The smallest address of the cluster.
    pub id: String,
    /// Its addresses, sorted.
    pub addresses: Vec<String>,
    /// The links that merged them, sorted by txid then heuristic.
    pub links: Vec<Link>,
}

/// All clusters of a graph, with a lookup by address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ClusteringData", into = "ClusteringData")]
pub struct Clustering {
    /// Clusters of two or more addresses, sorted by id.
    pub clusters: Vec<Cluster>,
    index: BTreeMap<String, usize>,
}

/// The serialised form of a [`Clustering`] (the lookup index is rebuilt on reading).
#[derive(Serialize, Deserialize)]
struct ClusteringData {
    clusters: Vec<Cluster>,
}

impl From<ClusteringData> for Clustering {
    fn from(d: ClusteringData) -> Clustering {
        Clustering::from_clusters(d.clusters)
    }
}

impl From<Clustering> for ClusteringData {
    fn from(c: Clustering) -> ClusteringData {
        ClusteringData {
            clusters: c.clusters,
        }
    }
}

impl Clustering {
    /// Builds the lookup over clusters (sorted by id here).
    pub fn from_clusters(mut clusters: Vec<Cluster>) -> Clustering {
        clusters.sort_by(|a, b| a.id.cmp(&b.id));
        let mut index = BTreeMap::new();
        for (n, c) in clusters.iter().enumerate() {
            for a in &c.addresses {
                index.insert(a.clone(), n);
            }
        }
        Clustering { clusters, index }
    }

    /// The id of the cluster holding `address`, when it is clustered with another address.
    pub fn of(&self, address: &str) -> Option<&str> {
        self.index
            .get(address)
            .map(|&n| self.clusters[n].id.as_str())
    }

    /// The cluster with this id.
    pub fn cluster(&self, id: &str) -> Option<&Cluster> {
        self.index
            .get(id)
            .map(|&n| &self.clusters[n])
            .filter(|c| c.id == id)
    }

    /// The cluster holding `address`.
    pub fn cluster_of(&self, address: &str) -> Option<&Cluster> {
        self.index.get(address).map(|&n| &self.clusters[n])
    }
}

/// Union-find over address indices (path halving, union by size).
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn add(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.size.push(1);
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (big, small) = if self.size[ra] >= self.size[rb] {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[small] = big;
        self.size[big] += self.size[small];
    }
}

/// Clusters the graph's addresses with the enabled linking heuristics; `change` are the change
/// calls used by `change-link`.
pub fn cluster(graph: &Graph, set: &HeuristicSet, change: &[ChangeCall]) -> Clustering {
    let links = collect_links(graph, set, change);
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut uf = UnionFind {
        parent: Vec::new(),
        size: Vec::new(),
    };
    for link in &links {
        let mut members = link
            .addresses
            .iter()
            .map(|a| *ids.entry(a.clone()).or_insert_with(|| uf.add()));
        if let Some(first) = members.next() {
            let rest: Vec<usize> = members.collect();
            for m in rest {
                uf.union(first, m);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (addr, n) in &ids {
        groups.entry(uf.find(*n)).or_default().push(addr.clone());
    }
    let root_of: BTreeMap<&str, usize> =
        ids.iter().map(|(a, n)| (a.as_str(), uf.find(*n))).collect();
    let mut links_by_root: BTreeMap<usize, Vec<Link>> = BTreeMap::new();
    for link in links {
        if let Some(root) = link.addresses.first().and_then(|a| root_of.get(a.as_str())) {
            links_by_root.entry(*root).or_default().push(link);
        }
    }
    let clusters = groups
        .into_iter()
        .filter(|(_, addrs)| addrs.len() >= 2)
        .map(|(root, addresses)| {
            let mut links = links_by_root.remove(&root).unwrap_or_default();
            links.sort();
            Cluster {
                id: addresses[0].clone(),
                addresses,
                links,
            }
        })
        .collect();
    Clustering::from_clusters(clusters)
}

/// Every link the enabled heuristics make, each over two or more distinct addresses.
fn collect_links(graph: &Graph, set: &HeuristicSet, change: &[ChangeCall]) -> Vec<Link> {
    let is_address = |a: &&String| !a.starts_with("script:");
    let mut links = Vec::new();
    let mut push = |txid: Txid, heuristic: HeuristicId, addrs: BTreeSet<String>| {
        if addrs.len() >= 2 {
            links.push(Link {
                txid,
                heuristic,
                addresses: addrs.into_iter().collect(),
            });
        }
    };
    let mut input_addresses: BTreeMap<Txid, BTreeSet<String>> = BTreeMap::new();
    for tx in graph.txs.values() {
        if tx.coinbase {
            if set.is_enabled(HeuristicId::CoinbaseOutputs) {
                let outs = tx
                    .outputs
                    .iter()
                    .map(|o| &o.address)
                    .filter(is_address)
                    .cloned();
                push(tx.txid, HeuristicId::CoinbaseOutputs, outs.collect());
            }
            continue;
        }
        if coinjoin_with(tx, set).is_some() {
            continue;
        }
        let ins: BTreeSet<String> = tx
            .inputs
            .iter()
            .filter_map(|i| i.address.as_ref())
            .filter(is_address)
            .cloned()
            .collect();
        if set.is_enabled(HeuristicId::CommonInput) {
            push(tx.txid, HeuristicId::CommonInput, ins.clone());
        }
        input_addresses.insert(tx.txid, ins);
    }
    if set.is_enabled(HeuristicId::ChangeLink) {
        for call in change.iter().filter(|c| !c.address.starts_with("script:")) {
            if let Some(ins) = input_addresses.get(&call.txid) {
                let mut addrs = ins.clone();
                addrs.insert(call.address.clone());
                push(call.txid, HeuristicId::ChangeLink, addrs);
            }
        }
    }
    links
}
