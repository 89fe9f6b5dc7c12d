//! The transaction graph a trace builds: transactions with their inputs (resolved to the value,
//! script and address of the coin they spend, when that coin's transaction is known) and their
//! outputs (with the spending transaction, when it was found). Everything else in this crate —
//! taint, heuristics, labels, exports — reads this graph and never the network.
//!
//! The graph is a DAG of transactions (a transaction cannot spend its own descendant); the
//! address-level view of it may well have cycles (coins coming back to an address), and every
//! consumer must cope with that.

mod base58;
#[cfg(test)]
mod fixtures;
mod segwit;

use std::collections::BTreeMap;

use bitcoin::{Address, OutPoint, Script, Transaction, Txid};
use custos_core::{Network, Sat};
use serde::{Deserialize, Serialize};

/// The kind of an output script, as the heuristics compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptKind {
    /// Pay to public key hash.
    P2pkh,
    /// Pay to script hash (includes wrapped segwit; the two cannot be told apart from the output).
    P2sh,
    /// Pay to witness public key hash.
    P2wpkh,
    /// Pay to witness script hash.
    P2wsh,
    /// Pay to taproot.
    P2tr,
    /// Bare public key.
    P2pk,
    /// OP_RETURN data carrier.
    OpReturn,
    /// Anything else.
    Other,
}

impl ScriptKind {
    /// Classifies an output script.
    pub fn of(script: &Script) -> ScriptKind {
        if script.is_p2pkh() {
            ScriptKind::P2pkh
        } else if script.is_p2sh() {
            ScriptKind::P2sh
        } else if script.is_p2wpkh() {
            ScriptKind::P2wpkh
        } else if script.is_p2wsh() {
            ScriptKind::P2wsh
        } else if script.is_p2tr() {
            ScriptKind::P2tr
        } else if script.is_p2pk() {
            ScriptKind::P2pk
        } else if script.is_op_return() {
            ScriptKind::OpReturn
        } else {
            ScriptKind::Other
        }
    }

    /// A short name (`p2wpkh`).
    pub fn name(self) -> &'static str {
        match self {
            ScriptKind::P2pkh => "p2pkh",
            ScriptKind::P2sh => "p2sh",
            ScriptKind::P2wpkh => "p2wpkh",
            ScriptKind::P2wsh => "p2wsh",
            ScriptKind::P2tr => "p2tr",
            ScriptKind::P2pk => "p2pk",
            ScriptKind::OpReturn => "op_return",
            ScriptKind::Other => "other",
        }
    }
}

/// Where an output script is shown: its address, or `script:<hex>` for scripts without one.
pub fn script_label(script: &Script, network: Network) -> String {
    if let Some(address) = segwit::address(script, network) {
        return address;
    }
    if let Some(address) = base58::address(script, network) {
        return address;
    }
    match Address::from_script(script, network.to_bitcoin()) {
        Ok(a) => a.to_string(),
        Err(_) => format!("script:{}", hex::encode(script.as_bytes())),
    }
}

/// An input of a traced transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxInput {
    /// The coin it spends.
    pub prevout: OutPoint,
    /// nSequence.
    pub sequence: u32,
    /// Value of the spent coin, when the transaction that made it is known.
    pub value: Option<Sat>,
    /// Address (or `script:<hex>`) of the spent coin, when known.
    pub address: Option<String>,
    /// Script kind of the spent coin, when known.
    pub kind: Option<ScriptKind>,
}

/// An output of a traced transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutput {
    /// Value.
    pub value: Sat,
    /// Address, or `script:<hex>` for scripts without one.
    pub address: String,
    /// Script kind.
    pub kind: ScriptKind,
    /// The input that spends it, when the trace found one: (txid, input index).
    pub spent_by: Option<(Txid, u32)>,
}

/// How a transaction's inclusion was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Inclusion {
    /// Bytes hashed to the txid and a merkle proof checked against a validated header chain.
    Verified {
        /// Block height.
        height: u32,
        /// Block hash.
        block: bitcoin::BlockHash,
        /// Block time (header timestamp).
        time: u32,
    },
    /// Bytes hashed to the txid; the transaction is in the mempool (no proof possible).
    Unconfirmed,
    /// Bytes hashed to the txid, but the proof could not be checked (the reason).
    Unproven {
        /// Why.
        reason: String,
    },
}

impl Inclusion {
    /// Confirmed height, when verified.
    pub fn height(&self) -> Option<u32> {
        match self {
            Inclusion::Verified { height, .. } => Some(*height),
            _ => None,
        }
    }

    /// Block time, when verified.
    pub fn time(&self) -> Option<u32> {
        match self {
            Inclusion::Verified { time, .. } => Some(*time),
            _ => None,
        }
    }
}

/// One traced transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxNode {
    /// Transaction id.
    pub txid: Txid,
    /// nVersion.
    pub version: i32,
    /// nLockTime (consensus value: a height below 500,000,000, a Unix time above).
    pub lock_time: u32,
    /// Whether it is a coinbase transaction.
    pub coinbase: bool,
    /// Virtual size in vbytes.
    pub vsize: u64,
    /// Inputs, in order.
    pub inputs: Vec<TxInput>,
    /// Outputs, in order.
    pub outputs: Vec<TxOutput>,
    /// How its inclusion was established.
    pub inclusion: Inclusion,
}

impl TxNode {
    /// Builds a node from a transaction (inputs not yet resolved).
    pub fn from_tx(tx: &Transaction, network: Network, inclusion: Inclusion) -> TxNode {
        TxNode::from_checked_tx(tx.compute_txid(), tx, network, inclusion)
    }

    /// [`TxNode::from_tx`] for a transaction already hashed to `txid` (the walk checks every
    /// transaction's bytes against its txid when it receives them), so it is not hashed again.
    pub fn from_checked_tx(
        txid: Txid,
        tx: &Transaction,
        network: Network,
        inclusion: Inclusion,
    ) -> TxNode {
        TxNode {
            txid,
            version: tx.version.0,
            lock_time: tx.lock_time.to_consensus_u32(),
            coinbase: tx.is_coinbase(),
            vsize: u64::try_from(tx.vsize()).expect("a transaction's vsize fits in u64"),
            inputs: tx
                .input
                .iter()
                .map(|i| TxInput {
                    prevout: i.previous_output,
                    sequence: i.sequence.0,
                    value: None,
                    address: None,
                    kind: None,
                })
                .collect(),
            outputs: tx
                .output
                .iter()
                .map(|o| TxOutput {
                    value: Sat(o.value.to_sat()),
                    address: script_label(&o.script_pubkey, network),
                    kind: ScriptKind::of(&o.script_pubkey),
                    spent_by: None,
                })
                .collect(),
            inclusion,
        }
    }

    /// Sum of the input values, when all are known (and it does not overflow).
    pub fn input_total(&self) -> Option<Sat> {
        let mut total = 0u64;
        for i in &self.inputs {
            total = total.checked_add(i.value?.0)?;
        }
        Some(Sat(total))
    }

    /// Sum of the output values (None on overflow, which a valid transaction cannot have).
    pub fn output_total(&self) -> Option<Sat> {
        let mut total = 0u64;
        for o in &self.outputs {
            total = total.checked_add(o.value.0)?;
        }
        Some(Sat(total))
    }

    /// The fee, when every input value is known. Zero for a coinbase.
    pub fn fee(&self) -> Option<Sat> {
        if self.coinbase {
            return Some(Sat(0));
        }
        self.input_total()?
            .0
            .checked_sub(self.output_total()?.0)
            .map(Sat)
    }

    /// Whether any input signals replaceability (BIP125).
    pub fn signals_rbf(&self) -> bool {
        self.inputs.iter().any(|i| i.sequence < 0xffff_fffe)
    }

    /// Block height when verified.
    pub fn height(&self) -> Option<u32> {
        self.inclusion.height()
    }

    /// Block time when verified.
    pub fn time(&self) -> Option<u32> {
        self.inclusion.time()
    }

    /// The outpoint of output `vout`.
    pub fn outpoint(&self, vout: usize) -> OutPoint {
        OutPoint::new(
            self.txid,
            u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs"),
        )
    }
}

/// The traced graph: transactions by txid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// Transactions, by txid.
    pub txs: BTreeMap<Txid, TxNode>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether it holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The transaction with this txid.
    pub fn tx(&self, txid: &Txid) -> Option<&TxNode> {
        self.txs.get(txid)
    }

    /// The output at `op`, when its transaction is in the graph.
    pub fn output(&self, op: &OutPoint) -> Option<&TxOutput> {
        self.txs
            .get(&op.txid)
            .and_then(|t| t.outputs.get(usize::try_from(op.vout).ok()?))
    }

    /// Inserts a transaction and links it both ways with what the graph already holds: its
    /// inputs get the value and address of coins whose transaction is known, and the coins it
    /// spends get `spent_by`. A transaction already present is left as it is.
    pub fn insert(&mut self, node: TxNode) {
        let children: Vec<Txid> = self
            .txs
            .values()
            .filter(|c| c.inputs.iter().any(|i| i.prevout.txid == node.txid))
            .map(|c| c.txid)
            .collect();
        self.insert_with_children(node, &children);
    }

    /// [`Graph::insert`] for a caller that knows which graph transactions spend the new one's
    /// outputs (`children`; others are not looked for), so inserting costs the size of the
    /// transaction, not of the graph.
    pub fn insert_with_children(&mut self, mut node: TxNode, children: &[Txid]) {
        if self.txs.contains_key(&node.txid) {
            return;
        }
        let txid = node.txid;
        // Its inputs, from known parents.
        for (vin, input) in node.inputs.iter_mut().enumerate() {
            if let Some(parent) = self.txs.get_mut(&input.prevout.txid) {
                if let Some(out) = usize::try_from(input.prevout.vout)
                    .ok()
                    .and_then(|v| parent.outputs.get_mut(v))
                {
                    input.value = Some(out.value);
                    input.address = Some(out.address.clone());
                    input.kind = Some(out.kind);
                    out.spent_by = Some((
                        txid,
                        u32::try_from(vin).expect("a transaction has fewer than 2^32 inputs"),
                    ));
                }
            }
        }
        // Known children spending its outputs.
        let mut spenders: Vec<(usize, Txid, u32)> = Vec::new();
        for child_txid in children {
            let Some(child) = self.txs.get_mut(child_txid) else {
                continue;
            };
            for (vin, input) in child.inputs.iter_mut().enumerate() {
                if input.prevout.txid != txid {
                    continue;
                }
                if let Some(out) = usize::try_from(input.prevout.vout)
                    .ok()
                    .and_then(|v| node.outputs.get(v))
                {
                    input.value = Some(out.value);
                    input.address = Some(out.address.clone());
                    input.kind = Some(out.kind);
                    spenders.push((
                        usize::try_from(input.prevout.vout).expect("checked above"),
                        child.txid,
                        u32::try_from(vin).expect("a transaction has fewer than 2^32 inputs"),
                    ));
                }
            }
        }
        for (vout, child, vin) in spenders {
            node.outputs[vout].spent_by = Some((child, vin));
        }
        self.txs.insert(txid, node);
    }

    /// Resolves an input's value and address from a parent transaction that is not itself part
    /// of the graph (fetched only to learn what the input spends).
    pub fn resolve_input(
        &mut self,
        txid: &Txid,
        vin: usize,
        value: Sat,
        address: String,
        kind: ScriptKind,
    ) {
        if let Some(i) = self.txs.get_mut(txid).and_then(|t| t.inputs.get_mut(vin)) {
            i.value = Some(value);
            i.address = Some(address);
            i.kind = Some(kind);
        }
    }

    /// Transactions in an order where every parent in the graph comes before its children
    /// (height, then dependency; unconfirmed last). Cycles cannot occur between transactions.
    pub fn topological(&self) -> Vec<Txid> {
        let mut indegree: BTreeMap<Txid, usize> = BTreeMap::new();
        let mut children: BTreeMap<Txid, Vec<Txid>> = BTreeMap::new();
        for (txid, node) in &self.txs {
            let mut parents: Vec<Txid> = node
                .inputs
                .iter()
                .map(|i| i.prevout.txid)
                .filter(|p| self.txs.contains_key(p) && p != txid)
                .collect();
            parents.sort();
            parents.dedup();
            indegree.insert(*txid, parents.len());
            for p in parents {
                children.entry(p).or_default().push(*txid);
            }
        }
        let key = |t: &Txid| {
            let h = self.txs.get(t).and_then(|n| n.height()).unwrap_or(u32::MAX);
            (h, *t)
        };
        let mut ready: std::collections::BTreeSet<(u32, Txid)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(t, _)| key(t))
            .collect();
        let mut order = Vec::with_capacity(self.txs.len());
        while let Some(first) = ready.pop_first() {
            let t = first.1;
            order.push(t);
            if let Some(cs) = children.get(&t) {
                for c in cs {
                    if let Some(d) = indegree.get_mut(c) {
                        *d -= 1;
                        if *d == 0 {
                            ready.insert(key(c));
                        }
                    }
                }
            }
        }
        order
    }
}
