//! Chain-wide clusters from outside the trace: the cluster table the Spark job computes over a
//! whole-chain export (`custos index import-clusters`), consulted for the addresses a trace
//! touches. The trace's own [`Clustering`] only sees the transactions it walked; the external
//! source answers "which cluster does this address belong to across the chain, and how big is
//! it". Both use the same rules (common-input, never across a CoinJoin) and the same cluster
//! ids (the cluster's smallest address), so a local cluster must lie inside one external
//! cluster — [`Membership::agrees`] says whether it does.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Clustering;
use crate::graph::Graph;

/// One address's chain-wide cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCluster {
    /// The cluster id (its smallest address).
    pub id: String,
    /// Addresses in the cluster, chain-wide.
    pub size: u64,
}

/// A chain-wide cluster table (or the slice of it for some addresses), with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalClusters {
    /// Provenance in words (job, export manifest hash), shown with every answer.
    pub source: String,
    /// Address → cluster.
    pub members: BTreeMap<String, ExternalCluster>,
}

/// What the external source says about one address of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The address.
    pub address: String,
    /// Its chain-wide cluster.
    pub cluster: ExternalCluster,
    /// Its cluster in the trace's own clustering, if any.
    pub local_cluster: Option<String>,
    /// Whether the local cluster (if any) lies inside the chain-wide one: every address of it
    /// that the source knows is in the same chain-wide cluster.
    pub agrees: bool,
}

impl ExternalClusters {
    /// The chain-wide cluster of `address`.
    pub fn of(&self, address: &str) -> Option<&ExternalCluster> {
        self.members.get(address)
    }

    /// The memberships of every address in `graph` (inputs and outputs) that the source
    /// knows, sorted by address, checked against the trace's `clustering`.
    pub fn memberships(&self, graph: &Graph, clustering: &Clustering) -> Vec<Membership> {
        let mut addresses = BTreeSet::new();
        for tx in graph.txs.values() {
            addresses.extend(tx.inputs.iter().filter_map(|i| i.address.as_deref()));
            addresses.extend(tx.outputs.iter().map(|o| o.address.as_str()));
        }
        addresses
            .into_iter()
            .filter_map(|a| {
                let cluster = self.of(a)?.clone();
                let local = clustering.cluster_of(a);
                let agrees = local.is_none_or(|c| {
                    c.addresses
                        .iter()
                        .filter_map(|m| self.of(m))
                        .all(|m| m.id == cluster.id)
                });
                Some(Membership {
                    address: a.to_string(),
                    cluster,
                    local_cluster: local.map(|c| c.id.clone()),
                    agrees,
                })
            })
            .collect()
    }
}
