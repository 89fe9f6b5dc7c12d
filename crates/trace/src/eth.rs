//! Ethereum tracing: an account graph of value transfers — ETH, including internal transfers made
//! by contracts, and ERC-20 `Transfer` logs — followed forward (to whom an address paid) or
//! backward (who paid it), hop by hop from addresses or from one transaction, with hop, value
//! and size limits and labels that stop the walk.
//!
//! The walk runs over [`EthFlows`], so it is tested with an in-memory chain; the node
//! implementation ([`NodeFlows`]) asks `trace_filter` for an address's ETH moves (every frame,
//! internal ones included), `eth_getLogs` for its token transfers, and for a transaction start
//! `debug_traceTransaction` (call tracer) and the receipt's logs.
//!
//! Exports ([`EthTrace::json`], [`EthTrace::csv`], [`EthTrace::dot`], [`EthTrace::graphml`],
//! [`EthTrace::html`]) carry an `asset` on every edge (`ETH` or the token contract) and use the
//! same escaping as the Bitcoin exports. Values are integer base units (wei, token units).
//!
//! Not for: balances (custos-inspect), taint models or heuristics (Bitcoin's UTXO models do not
//! carry over to accounts).

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, U256};
use custos_chain::eth::{EthError, EthSource, PinnedBlock};
use serde::Serialize;

use crate::export::escape;
use crate::walk::Direction;

/// What moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Asset {
    /// Ether (wei).
    Eth,
    /// An ERC-20 token (its contract; base units).
    Token(Address),
}

impl Serialize for Asset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

fn decimal<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Asset {
    /// `ETH` or the token contract (EIP-55).
    pub fn name(&self) -> String {
        match self {
            Asset::Eth => "ETH".into(),
            Asset::Token(a) => a.to_checksum(None),
        }
    }
}

/// One transfer (an edge).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EthTransfer {
    /// Block height.
    pub block: u64,
    /// Transaction.
    pub tx: B256,
    /// Position within the transaction: call order for ETH, log index for tokens.
    pub position: u64,
    /// Payer.
    pub from: Address,
    /// Payee.
    pub to: Address,
    /// What moved.
    pub asset: Asset,
    /// Base units (a decimal string in JSON).
    #[serde(serialize_with = "decimal")]
    pub value: U256,
    /// Made by a contract inside the transaction (call depth > 0): seen only in call traces.
    pub internal: bool,
}

/// Where the transfers come from.
pub trait EthFlows {
    /// Transfers paid by (`outgoing`) or to `addr`, up to the pinned block.
    fn of_address(&self, addr: Address, outgoing: bool) -> Result<Vec<EthTransfer>, EthTraceError>;
    /// The transfers one transaction made.
    fn of_tx(&self, tx: B256) -> Result<Vec<EthTransfer>, EthTraceError>;
}

/// Errors of an Ethereum trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EthTraceError {
    /// The node failed or lacks a method the trace needs.
    #[error("ethereum trace")]
    Node(#[from] EthError),
}

impl custos_core::exit::Classify for EthTraceError {
    fn exit_class(&self) -> custos_core::exit::ExitClass {
        match self {
            EthTraceError::Node(e) => custos_core::exit::Classify::exit_class(e),
        }
    }
}

/// A start: addresses or one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EthStart {
    /// An address.
    Address(Address),
    /// A transaction hash.
    Tx(B256),
}

/// Limits of a walk.
#[derive(Debug, Clone)]
pub struct EthLimits {
    /// Hops to follow from the start.
    pub hops: u32,
    /// Transfers below this many base units (of any asset) are not followed.
    pub min_value: U256,
    /// Most transfers kept; the trace is partial beyond.
    pub max_transfers: usize,
}

/// The result: transfers (edges), the addresses reached with their hop, labels, stops.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EthTrace {
    /// `forward` or `backward`.
    pub direction: String,
    /// Pinned block the trace read up to.
    pub block: u64,
    /// Addresses with the hop at which they were reached (0 for starts).
    pub nodes: BTreeMap<Address, u32>,
    /// Transfers in (block, tx, position) order.
    pub transfers: Vec<EthTransfer>,
    /// Labels per address (`label (category)`).
    pub labels: BTreeMap<Address, Vec<String>>,
    /// Addresses not followed, with why.
    pub stops: BTreeMap<Address, String>,
    /// What was cut short; empty when complete.
    pub partial: Vec<String>,
}

/// Walks from `starts`. A labelled address is recorded and not followed further.
pub fn walk(
    flows: &dyn EthFlows,
    starts: &[EthStart],
    direction: Direction,
    limits: &EthLimits,
    labels: &BTreeMap<Address, Vec<String>>,
    block: u64,
) -> Result<EthTrace, EthTraceError> {
    let forward = direction == Direction::Forward;
    let mut t = EthTrace {
        direction: if forward { "forward" } else { "backward" }.into(),
        block,
        ..EthTrace::default()
    };
    let mut seen: BTreeSet<EthTransfer> = BTreeSet::new();
    let mut frontier: Vec<Address> = Vec::new();
    for s in starts {
        match s {
            EthStart::Address(a) => {
                t.nodes.insert(*a, 0);
                frontier.push(*a);
            }
            EthStart::Tx(h) => {
                for x in flows.of_tx(*h)? {
                    if x.value < limits.min_value {
                        continue;
                    }
                    t.nodes.entry(x.from).or_insert(0);
                    t.nodes.entry(x.to).or_insert(0);
                    frontier.push(if forward { x.to } else { x.from });
                    seen.insert(x);
                }
            }
        }
    }
    for hop in 1..=limits.hops {
        let mut next = Vec::new();
        for a in std::mem::take(&mut frontier) {
            if let Some(l) = labels.get(&a) {
                t.stops.insert(a, format!("labelled: {}", l.join(", ")));
                continue;
            }
            for x in flows.of_address(a, forward)? {
                if x.value < limits.min_value || seen.contains(&x) {
                    continue;
                }
                if seen.len() >= limits.max_transfers {
                    t.partial.push(format!(
                        "more than {} transfers: stopped at hop {hop}",
                        limits.max_transfers
                    ));
                    return Ok(finish(t, seen, labels));
                }
                let other = if forward { x.to } else { x.from };
                if let std::collections::btree_map::Entry::Vacant(e) = t.nodes.entry(other) {
                    e.insert(hop);
                    next.push(other);
                }
                seen.insert(x);
            }
        }
        frontier = next;
    }
    for a in frontier {
        t.stops.entry(a).or_insert_with(|| "hop limit".into());
    }
    Ok(finish(t, seen, labels))
}

fn finish(
    mut t: EthTrace,
    seen: BTreeSet<EthTransfer>,
    labels: &BTreeMap<Address, Vec<String>>,
) -> EthTrace {
    t.transfers = seen.into_iter().collect();
    t.labels = t
        .nodes
        .keys()
        .filter_map(|a| labels.get(a).map(|l| (*a, l.clone())))
        .collect();
    t
}

/// The CSV header of [`EthTrace::csv`].
pub const ETH_CSV_HEADER: &str = "block,tx,position,from,to,asset,value,internal";

impl EthTrace {
    /// JSON (the whole trace).
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the trace is plain data")
    }

    /// One row per transfer (RFC 4180, CRLF).
    pub fn csv(&self) -> String {
        let mut out = format!("{ETH_CSV_HEADER}\r\n");
        for x in &self.transfers {
            let f = [
                x.block.to_string(),
                x.tx.to_string(),
                x.position.to_string(),
                x.from.to_checksum(None),
                x.to.to_checksum(None),
                x.asset.name(),
                x.value.to_string(),
                x.internal.to_string(),
            ];
            let row: Vec<String> = f.iter().map(|s| escape::csv_field(s)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        out
    }

    fn node_title(&self, a: &Address) -> String {
        match self.labels.get(a) {
            Some(l) => format!("{} [{}]", a.to_checksum(None), l.join(", ")),
            None => a.to_checksum(None),
        }
    }

    /// Graphviz DOT: addresses as nodes, one edge per transfer labelled with value and asset.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph eth_trace {\n  rankdir=LR;\n  node [shape=box];\n");
        for (a, hop) in &self.nodes {
            out.push_str(&format!(
                "  {} [label={}, hop={hop}];\n",
                escape::dot_str(&a.to_checksum(None)),
                escape::dot_str(&self.node_title(a))
            ));
        }
        for x in &self.transfers {
            out.push_str(&format!(
                "  {} -> {} [label={}, asset={}, tx={}{}];\n",
                escape::dot_str(&x.from.to_checksum(None)),
                escape::dot_str(&x.to.to_checksum(None)),
                escape::dot_str(&format!("{} {}", x.value, x.asset.name())),
                escape::dot_str(&x.asset.name()),
                escape::dot_str(&x.tx.to_string()),
                if x.internal { ", style=dashed" } else { "" }
            ));
        }
        out.push_str("}\n");
        out
    }

    /// GraphML with `hop`/`label` node data and `asset`/`value`/`tx`/`block`/`internal` edge
    /// data.
    pub fn graphml(&self) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n",
        );
        for (id, on, ty) in [
            ("hop", "node", "int"),
            ("label", "node", "string"),
            ("asset", "edge", "string"),
            ("value", "edge", "string"),
            ("tx", "edge", "string"),
            ("block", "edge", "long"),
            ("internal", "edge", "boolean"),
        ] {
            out.push_str(&format!(
                "  <key id=\"{id}\" for=\"{on}\" attr.name=\"{id}\" attr.type=\"{ty}\"/>\n"
            ));
        }
        out.push_str("  <graph id=\"eth_trace\" edgedefault=\"directed\">\n");
        for (a, hop) in &self.nodes {
            out.push_str(&format!(
                "    <node id=\"{}\"><data key=\"hop\">{hop}</data><data key=\"label\">{}</data></node>\n",
                a.to_checksum(None),
                escape::xml(&self.labels.get(a).map(|l| l.join(", ")).unwrap_or_default())
            ));
        }
        for (i, x) in self.transfers.iter().enumerate() {
            out.push_str(&format!(
                "    <edge id=\"e{i}\" source=\"{}\" target=\"{}\"><data key=\"asset\">{}</data><data key=\"value\">{}</data><data key=\"tx\">{}</data><data key=\"block\">{}</data><data key=\"internal\">{}</data></edge>\n",
                x.from.to_checksum(None),
                x.to.to_checksum(None),
                x.asset.name(),
                x.value,
                x.tx,
                x.block,
                x.internal
            ));
        }
        out.push_str("  </graph>\n</graphml>\n");
        out
    }

    /// A self-contained HTML page (no script, nothing fetched): addresses and transfers.
    pub fn html(&self, title: &str) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\n<h1>{t}</h1>\n<p>{} trace up to block {}{}</p>\n",
            escape::html(&self.direction),
            self.block,
            if self.partial.is_empty() {
                String::new()
            } else {
                format!(" — PARTIAL: {}", escape::html(&self.partial.join("; ")))
            },
            t = escape::html(title),
        );
        out.push_str("<h2>Addresses</h2>\n<table><tr><th>address</th><th>hop</th><th>labels</th><th>stop</th></tr>\n");
        for (a, hop) in &self.nodes {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{hop}</td><td>{}</td><td>{}</td></tr>\n",
                a.to_checksum(None),
                escape::html(&self.labels.get(a).map(|l| l.join(", ")).unwrap_or_default()),
                escape::html(self.stops.get(a).map(String::as_str).unwrap_or(""))
            ));
        }
        out.push_str("</table>\n<h2>Transfers</h2>\n<table><tr><th>block</th><th>tx</th><th>from</th><th>to</th><th>asset</th><th>value</th><th>internal</th></tr>\n");
        for x in &self.transfers {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                x.block,
                x.tx,
                x.from.to_checksum(None),
                x.to.to_checksum(None),
                x.asset.name(),
                x.value,
                if x.internal { "yes" } else { "" }
            ));
        }
        out.push_str("</table>\n</body></html>\n");
        out
    }
}

/// [`EthFlows`] over a node, pinned to one block.
#[derive(Debug)]
pub struct NodeFlows<'a> {
    /// The node.
    pub src: &'a EthSource,
    /// The block every answer is read up to.
    pub pin: PinnedBlock,
}

impl EthFlows for NodeFlows<'_> {
    fn of_address(&self, addr: Address, outgoing: bool) -> Result<Vec<EthTransfer>, EthTraceError> {
        let mut out: Vec<EthTransfer> = self
            .src
            .eth_moves_of(&self.pin, addr, outgoing)?
            .into_iter()
            .filter(|m| !m.transfer.reverted)
            .enumerate()
            .map(|(i, m)| EthTransfer {
                block: m.block,
                tx: m.tx,
                position: i as u64,
                from: m.transfer.from,
                to: m.transfer.to,
                asset: Asset::Eth,
                value: m.transfer.value,
                internal: m.transfer.depth > 0,
            })
            .collect();
        let filter = custos_chain::eth::TransferFilter {
            tokens: Vec::new(),
            from: outgoing.then_some(addr),
            to: (!outgoing).then_some(addr),
        };
        out.extend(
            self.src
                .transfer_logs(&self.pin, 0, &filter)?
                .into_iter()
                .map(token_edge),
        );
        Ok(out)
    }

    fn of_tx(&self, tx: B256) -> Result<Vec<EthTransfer>, EthTraceError> {
        let block = self
            .src
            .tx_token_transfers(tx)?
            .into_iter()
            .map(token_edge)
            .collect::<Vec<_>>();
        let calls = self.src.call_transfers(&[tx])?;
        let height = block.first().map(|b| b.block).unwrap_or(self.pin.number);
        let mut out: Vec<EthTransfer> = calls
            .into_iter()
            .flatten()
            .filter(|c| !c.reverted)
            .enumerate()
            .map(|(i, c)| EthTransfer {
                block: height,
                tx,
                position: i as u64,
                from: c.from,
                to: c.to,
                asset: Asset::Eth,
                value: c.value,
                internal: c.depth > 0,
            })
            .collect();
        out.extend(block);
        Ok(out)
    }
}

fn token_edge(t: custos_chain::eth::TokenTransfer) -> EthTransfer {
    EthTransfer {
        block: t.block,
        tx: t.tx,
        position: t.log_index,
        from: t.from,
        to: t.to,
        asset: Asset::Token(t.token),
        value: t.value,
        internal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    /// An in-memory chain: a list of transfers.
    struct Mem(Vec<EthTransfer>);

    impl EthFlows for Mem {
        fn of_address(&self, a: Address, out: bool) -> Result<Vec<EthTransfer>, EthTraceError> {
            Ok(self
                .0
                .iter()
                .filter(|x| if out { x.from == a } else { x.to == a })
                .cloned()
                .collect())
        }
        fn of_tx(&self, tx: B256) -> Result<Vec<EthTransfer>, EthTraceError> {
            Ok(self.0.iter().filter(|x| x.tx == tx).cloned().collect())
        }
    }

    fn t(n: u8, from: Address, to: Address, asset: Asset, v: u64, internal: bool) -> EthTransfer {
        EthTransfer {
            block: u64::from(n),
            tx: B256::with_last_byte(n),
            position: u64::from(internal),
            from,
            to,
            asset,
            value: U256::from(v),
            internal,
        }
    }

    const A: Address = address!("00000000000000000000000000000000000000aa");
    const F: Address = address!("00000000000000000000000000000000000000ff");
    const C: Address = address!("00000000000000000000000000000000000000cc");
    const D: Address = address!("00000000000000000000000000000000000000dd");
    const TOKEN: Address = address!("0000000000000000000000000000000000000070");

    fn chain() -> Mem {
        Mem(vec![
            t(1, A, F, Asset::Eth, 500, false),
            t(1, F, C, Asset::Eth, 500, true),
            t(2, A, C, Asset::Token(TOKEN), 30, false),
            t(3, C, D, Asset::Eth, 7, false),
        ])
    }

    fn limits(hops: u32, min: u64) -> EthLimits {
        EthLimits {
            hops,
            min_value: U256::from(min),
            max_transfers: 100,
        }
    }

    #[test]
    fn forward_follows_a_contracts_internal_transfer_and_token_logs() {
        let tr = walk(
            &chain(),
            &[EthStart::Address(A)],
            Direction::Forward,
            &limits(2, 0),
            &BTreeMap::new(),
            9,
        )
        .unwrap();
        assert_eq!(tr.transfers.len(), 4);
        assert!(tr
            .transfers
            .iter()
            .any(|x| x.from == F && x.to == C && x.internal));
        assert_eq!(tr.nodes.get(&C), Some(&1));
        assert_eq!(tr.nodes.get(&D), Some(&2));
        assert!(tr
            .csv()
            .contains(&format!(",{},30,false", TOKEN.to_checksum(None))));
        // One hop less: D is not reached, C is a hop-limit stop.
        let tr = walk(
            &chain(),
            &[EthStart::Address(A)],
            Direction::Forward,
            &limits(1, 0),
            &BTreeMap::new(),
            9,
        )
        .unwrap();
        assert!(!tr.nodes.contains_key(&D));
    }

    #[test]
    fn backward_value_limit_and_labels_stop_the_walk() {
        let tr = walk(
            &chain(),
            &[EthStart::Address(D)],
            Direction::Backward,
            &limits(5, 0),
            &BTreeMap::new(),
            9,
        )
        .unwrap();
        assert!(tr.nodes.contains_key(&A));
        let tr = walk(
            &chain(),
            &[EthStart::Address(D)],
            Direction::Backward,
            &limits(5, 8),
            &BTreeMap::new(),
            9,
        )
        .unwrap();
        assert_eq!(tr.transfers.len(), 0);
        let labels = BTreeMap::from([(C, vec!["exchange (exchange)".to_string()])]);
        let tr = walk(
            &chain(),
            &[EthStart::Address(D)],
            Direction::Backward,
            &limits(5, 0),
            &labels,
            9,
        )
        .unwrap();
        assert!(tr.stops.get(&C).is_some_and(|s| s.starts_with("labelled")));
        assert!(!tr.nodes.contains_key(&A));
        assert!(tr.graphml().contains("exchange (exchange)"));
    }

    #[test]
    fn transaction_start_includes_its_internal_transfer() {
        let tr = walk(
            &chain(),
            &[EthStart::Tx(B256::with_last_byte(1))],
            Direction::Forward,
            &limits(0, 0),
            &BTreeMap::new(),
            9,
        )
        .unwrap();
        assert_eq!(tr.transfers.len(), 2);
        assert!(tr.dot().contains("style=dashed"));
    }
}
