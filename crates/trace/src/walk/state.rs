//! The state of a walk and the steps both directions share: fetching and hashing transactions,
//! proving inclusion, adding to the graph, checking a coin against the limits and rules,
//! recording stops and failures.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::{consensus::serialize, BlockHash, OutPoint, Transaction, TxOut, Txid};
use custos_chain::{SpvError, VerifiedChain};
use custos_core::{
    source::{HistoryItem, Tip},
    Network, Sat,
};

use super::{
    fetch::Fetcher,
    fxhash::{FxHashMap, FxHashSet},
    merkle::MerkleMemo,
    seed::Seeds,
    Direction, Evidence, Limits, RejectedTx, Start, Stats, Stop, StopReason, StopRule, Trace,
};
use crate::graph::{script_label, Inclusion, ScriptKind, TxNode};
use crate::Graph;

/// Coins named in a partial entry before "and N more".
const NAMED_COINS: usize = 5;

/// A walk in progress.
pub(super) struct Walk<'a> {
    pub src: Fetcher<'a>,
    pub network: Network,
    pub direction: Direction,
    pub limits: &'a Limits,
    rules: &'a [&'a dyn StopRule],
    pub chain: VerifiedChain,
    pub tip: Tip,
    /// Every transaction fetched whose bytes hashed to its txid (graph or not).
    pub txs: FxHashMap<Txid, Transaction>,
    /// Heights the source's histories gave (0 or -1: mempool).
    pub heights: FxHashMap<Txid, i64>,
    pub graph: Graph,
    pub hop_of: BTreeMap<Txid, u32>,
    pub stops: Vec<Stop>,
    pub partial: Vec<String>,
    pub evidence: Evidence,
    /// Coins already taken up by a hop (never followed twice).
    pub followed: FxHashSet<OutPoint>,
    /// Graph transactions by the txids they spend from (so linking a new transaction does not
    /// scan the graph).
    children: FxHashMap<Txid, Vec<Txid>>,
    /// Inner merkle nodes already proven, per block.
    merkle: MerkleMemo,
    /// Hashes of the validated headers proofs were checked against, by height.
    block_hashes: FxHashMap<u32, BlockHash>,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(
        src: Fetcher<'a>,
        network: Network,
        direction: Direction,
        limits: &'a Limits,
        rules: &'a [&'a dyn StopRule],
        chain: VerifiedChain,
        tip: Tip,
    ) -> Self {
        Walk {
            src,
            network,
            direction,
            limits,
            rules,
            chain,
            tip,
            txs: FxHashMap::default(),
            heights: FxHashMap::default(),
            graph: Graph::new(),
            hop_of: BTreeMap::new(),
            stops: Vec::new(),
            partial: Vec::new(),
            evidence: Evidence::default(),
            followed: FxHashSet::default(),
            children: FxHashMap::default(),
            merkle: MerkleMemo::default(),
            block_hashes: FxHashMap::default(),
        }
    }

    /// Fetches, in one batched call, those of `wanted` not fetched before, and hashes each to
    /// its txid. Bytes that do not hash are kept in the evidence as rejected and reported.
    pub(crate) fn fetch_txs(
        &mut self,
        wanted: impl IntoIterator<Item = Txid>,
    ) -> Result<(), String> {
        let need: BTreeSet<Txid> = wanted
            .into_iter()
            .filter(|t| !self.txs.contains_key(t) && !self.evidence.rejected.contains_key(t))
            .collect();
        if need.is_empty() {
            return Ok(());
        }
        let need: Vec<Txid> = need.into_iter().collect();
        let raws = self.src.raw_transactions(&need)?;
        for (txid, raw) in need.iter().zip(raws) {
            match super::txid::check_tx_bytes(txid, &raw) {
                Ok(tx) => {
                    self.evidence.raw_txs.insert(*txid, to_hex(&raw));
                    self.txs.insert(*txid, tx);
                }
                Err(e) => {
                    let reason = e.to_string();
                    self.partial
                        .push(format!("{reason}: rejected, not used in the trace"));
                    self.evidence.rejected.insert(
                        *txid,
                        RejectedTx {
                            hex: hex::encode(&raw),
                            reason,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Why `txid` is not held (rejected bytes, or never fetched).
    pub(crate) fn missing_reason(&self, txid: &Txid) -> String {
        match self.evidence.rejected.get(txid) {
            Some(r) => r.reason.clone(),
            None => format!("transaction {txid} was not received"),
        }
    }

    /// The output a coin refers to, when its transaction is held.
    pub(crate) fn txout(&self, coin: &OutPoint) -> Option<&TxOut> {
        self.txs
            .get(&coin.txid)?
            .output
            .get(usize::try_from(coin.vout).ok()?)
    }

    /// Records the heights the histories gave. A transaction seen in the mempool and later
    /// confirmed takes the confirmed height; two different confirmed heights contradict each
    /// other: the higher is kept (its proof decides) and the contradiction reported.
    pub(crate) fn learn_heights(&mut self, histories: &[Vec<HistoryItem>]) {
        for item in histories.iter().flatten() {
            let known = *self.heights.entry(item.txid).or_insert(item.height);
            if known == item.height {
                continue;
            }
            let (low, high) = (known.min(item.height), known.max(item.height));
            if low > 0 {
                let note = format!(
                    "transaction {}: the server gives heights {low} and {high} in different histories",
                    item.txid
                );
                if !self.partial.contains(&note) {
                    self.partial.push(note);
                }
            }
            self.heights.insert(item.txid, high);
        }
    }

    /// Establishes the inclusion of `txids` (held transactions) with one batched proof request:
    /// verified against the header chain, unconfirmed, or unproven with the reason (reported).
    pub(crate) fn prove(
        &mut self,
        txids: &BTreeSet<Txid>,
    ) -> Result<BTreeMap<Txid, Inclusion>, String> {
        let mut out = BTreeMap::new();
        let mut requests: Vec<(Txid, u32)> = Vec::new();
        for txid in txids {
            match self.heights.get(txid) {
                None => {
                    out.insert(
                        *txid,
                        Inclusion::Unproven {
                            reason: format!(
                                "transaction {txid}: no history the server sent lists it, so it has no height to prove"
                            ),
                        },
                    );
                }
                Some(h) => match u32::try_from(*h) {
                    Ok(h) if h > 0 => requests.push((*txid, h)),
                    _ => {
                        out.insert(*txid, Inclusion::Unconfirmed);
                    }
                },
            }
        }
        let proofs = self.src.merkle_proofs(&requests)?;
        for (proof, (txid, height)) in proofs.into_iter().zip(requests) {
            let inclusion = self.check_proof(&proof, txid, height);
            self.evidence.proofs.insert(txid, proof);
            out.insert(txid, inclusion);
        }
        for inclusion in out.values() {
            if let Inclusion::Unproven { reason } = inclusion {
                self.partial
                    .push(format!("{reason}; its inclusion in a block is not proven"));
            }
        }
        Ok(out)
    }

    fn check_proof(
        &mut self,
        proof: &custos_core::source::MerkleProof,
        txid: Txid,
        height: u32,
    ) -> Inclusion {
        if proof.txid != txid {
            return Inclusion::Unproven {
                reason: format!("transaction {txid}: server sent a proof for {}", proof.txid),
            };
        }
        let checked = match self.chain.header(height) {
            Some(header) => self.merkle.verify(proof, height, header).map(|()| *header),
            None => Err(SpvError::HeaderUnavailable { height }),
        };
        match checked {
            Ok(header) => {
                let block = *self
                    .block_hashes
                    .entry(height)
                    .or_insert_with(|| header.block_hash());
                self.evidence
                    .headers
                    .entry(height)
                    .or_insert_with(|| to_hex(&serialize(&header)));
                Inclusion::Verified {
                    height,
                    block,
                    time: header.time,
                }
            }
            Err(SpvError::HeaderUnavailable { height: h }) => Inclusion::Unproven {
                reason: format!(
                    "transaction {txid} at height {height}: no validated header at height {h}"
                ),
            },
            Err(e) => Inclusion::Unproven {
                reason: e.to_string(),
            },
        }
    }

    /// Adds a held transaction to the graph at `hop`, linked with what the graph holds, its
    /// other inputs resolved from held parents.
    pub(crate) fn add_tx(&mut self, txid: Txid, inclusion: Inclusion, hop: u32) {
        if self.graph.tx(&txid).is_some() {
            return;
        }
        let Some(tx) = self.txs.get(&txid) else {
            return;
        };
        let node = TxNode::from_checked_tx(txid, tx, self.network, inclusion);
        let children = self.children.get(&txid).map_or(&[][..], Vec::as_slice);
        self.graph.insert_with_children(node, children);
        for input in &tx.input {
            let list = self.children.entry(input.previous_output.txid).or_default();
            if list.last() != Some(&txid) {
                list.push(txid);
            }
        }
        self.hop_of.entry(txid).or_insert(hop);
        let n = tx.input.len();
        for vin in 0..n {
            self.resolve_input(txid, vin);
        }
    }

    /// Fills in the value and address of input `vin` of graph transaction `txid` from its held
    /// parent, when the graph does not link it already.
    pub(crate) fn resolve_input(&mut self, txid: Txid, vin: usize) {
        let Some(prevout) = self
            .graph
            .tx(&txid)
            .and_then(|n| n.inputs.get(vin))
            .filter(|i| i.value.is_none())
            .map(|i| i.prevout)
        else {
            return;
        };
        let Some(out) = self.txout(&prevout) else {
            return;
        };
        let (value, address, kind) = (
            Sat(out.value.to_sat()),
            script_label(&out.script_pubkey, self.network),
            ScriptKind::of(&out.script_pubkey),
        );
        self.graph.resolve_input(&txid, vin, value, address, kind);
    }

    /// The minimum value and the stop rules, for a coin that is not a seed.
    pub(crate) fn check_coin(
        &self,
        coin: &OutPoint,
        value: Sat,
        address: &str,
    ) -> Option<StopReason> {
        if value < self.limits.min_value {
            return Some(StopReason::BelowMinValue { value });
        }
        self.rules
            .iter()
            .find_map(|r| r.check(&self.graph, coin, address))
    }

    /// The time of a transaction outside the window, if it is.
    pub(crate) fn outside_window(&self, txid: &Txid, inclusion: &Inclusion) -> Option<u32> {
        if self.limits.not_before.is_none() && self.limits.not_after.is_none() {
            return None;
        }
        let time = match inclusion {
            Inclusion::Verified { time, .. } => *time,
            Inclusion::Unconfirmed => self.tip.header.time,
            Inclusion::Unproven { .. } => {
                let h = u32::try_from(*self.heights.get(txid)?).ok()?;
                self.chain.header(h)?.time
            }
        };
        let early = self.limits.not_before.is_some_and(|t| time < t);
        let late = self.limits.not_after.is_some_and(|t| time > t);
        (early || late).then_some(time)
    }

    pub(crate) fn stop(&mut self, coin: OutPoint, hop: u32, reason: StopReason) {
        self.stops.push(Stop { coin, hop, reason });
    }

    /// A source failure at `hop`: every coin still open gets a stop naming it, and the trace
    /// says what was not followed.
    pub(crate) fn fail(&mut self, hop: u32, coins: &BTreeSet<OutPoint>, detail: &str) {
        for coin in coins {
            self.stop(
                *coin,
                hop,
                StopReason::SourceFailed {
                    detail: detail.to_string(),
                },
            );
        }
        self.partial.push(format!(
            "hop {hop}: {detail}; {} not followed",
            name_coins(coins)
        ));
    }

    /// The finished trace: stops sorted, limits reached reported.
    pub(crate) fn finish(mut self, starts: &[Start], seeds: &Seeds) -> Trace {
        self.stops
            .sort_by(|a, b| (a.hop, a.coin, &a.reason).cmp(&(b.hop, b.coin, &b.reason)));
        self.stops.dedup();
        for (reason, what) in [
            (
                StopReason::HopLimit,
                format!("hop limit {}", self.limits.hops),
            ),
            (
                StopReason::TxLimit,
                format!("transaction limit {}", self.limits.max_txs),
            ),
        ] {
            let coins: BTreeSet<OutPoint> = self
                .stops
                .iter()
                .filter(|s| s.reason == reason)
                .map(|s| s.coin)
                .collect();
            if !coins.is_empty() {
                self.partial.push(format!(
                    "{what} reached: {} not followed",
                    name_coins(&coins)
                ));
            }
        }
        if let Some(header) = self.chain.header(self.tip.height) {
            self.evidence
                .headers
                .insert(self.tip.height, hex::encode(serialize(header)));
        }
        let stats = Stats {
            hops: self.hop_of.values().copied().max().unwrap_or(0),
            transactions: self.graph.len(),
            round_trips: self.src.trips,
        };
        Trace {
            direction: self.direction,
            network: self.network,
            starts: starts.iter().map(Start::describe).collect(),
            seeds: seeds.coins.iter().copied().collect(),
            limits: self.limits.clone(),
            tip: (self.tip.height, self.tip.header.block_hash()),
            graph: self.graph,
            hop_of: self.hop_of,
            stops: self.stops,
            partial: self.partial,
            stats,
            evidence: self.evidence,
        }
    }
}

/// Lower-case hex of `bytes` (the evidence's form of raw transactions and headers): the output
/// allocated once at its final size and filled two digits per byte from a 256-entry table.
pub(super) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    const PAIRS: [[u8; 2]; 256] = {
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [DIGITS[i >> 4], DIGITS[i & 0x0f]];
            i += 1;
        }
        t
    };
    let mut out = vec![0u8; bytes.len() * 2];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&PAIRS[usize::from(*b)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// "3 coins (a:0, b:1, c:2)", naming at most [`NAMED_COINS`].
pub(super) fn name_coins(coins: &BTreeSet<OutPoint>) -> String {
    let named: Vec<String> = coins
        .iter()
        .take(NAMED_COINS)
        .map(ToString::to_string)
        .collect();
    let more = coins.len().saturating_sub(NAMED_COINS);
    let noun = if coins.len() == 1 { "coin" } else { "coins" };
    if more == 0 {
        format!("{} {noun} ({})", coins.len(), named.join(", "))
    } else {
        format!(
            "{} {noun} ({}, and {more} more)",
            coins.len(),
            named.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn to_hex_writes_what_the_hex_crate_writes() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(super::to_hex(&bytes), hex::encode(&bytes));
        assert_eq!(super::to_hex(&[]), "");
    }
}
