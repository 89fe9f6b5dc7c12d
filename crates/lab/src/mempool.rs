//! The mempool and the relay policy a sweep meets on the real network: standard output types,
//! dust (3 sat/vB dust relay fee), 400,000 WU maximum weight, a minimum relay fee, finality,
//! coinbase maturity, double spends and BIP125 replacement (full RBF, as Core 28+ does), and a
//! script check of every input by the kernel with all spent outputs supplied.
//!
//! Rejections carry Core's reason strings (`dust`, `tx-size`, `bad-txns-inputs-missingorspent`,
//! `min relay fee not met`, `mandatory-script-verify-flag-failed`, `insufficient fee`, ...).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{absolute, Amount, Block, OutPoint, Transaction, TxOut, Txid};

use crate::chain::{script_hash, Index, ScriptHash, COINBASE_MATURITY};
use crate::kernel::verify_scripts;

/// Maximum standard transaction weight.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Maximum number of transactions a replacement may evict.
const MAX_REPLACEMENT_EVICTIONS: usize = 100;

/// A transaction waiting in the mempool.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) tx: Arc<Transaction>,
    pub(crate) fee: u64,
    pub(crate) vsize: u64,
    /// The outputs its inputs spend, in input order.
    pub(crate) spent: Vec<TxOut>,
    /// Whether an input spends another mempool transaction.
    pub(crate) unconfirmed_parent: bool,
}

/// The lab's mempool.
#[derive(Debug)]
pub(crate) struct Mempool {
    min_relay_sat_per_kvb: u64,
    order: Vec<Txid>,
    entries: HashMap<Txid, Entry>,
    spends: HashMap<OutPoint, Txid>,
}

fn median_time_past(index: &Index) -> u32 {
    let n = index.headers.len();
    let mut times: Vec<u32> = index.headers[n.saturating_sub(11)..]
        .iter()
        .map(|h| h.time)
        .collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

fn standard_output(out: &TxOut) -> Result<(), String> {
    let s = &out.script_pubkey;
    if s.is_op_return() {
        if s.len() > 83 {
            return Err("scriptpubkey".into());
        }
        return Ok(());
    }
    if !(s.is_p2pkh() || s.is_p2sh() || s.is_p2wpkh() || s.is_p2wsh() || s.is_p2tr()) {
        return Err("scriptpubkey".into());
    }
    if out.value < s.minimal_non_dust() {
        return Err("dust".into());
    }
    Ok(())
}

fn mtp_at(index: &Index, height: u32) -> u32 {
    let end = (height as usize + 1).min(index.headers.len());
    let mut times: Vec<u32> = index.headers[end.saturating_sub(11)..end]
        .iter()
        .map(|h| h.time)
        .collect();
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or(0)
}

/// BIP68 relative lock times for the next block (version >= 2 transactions).
fn bip68_final(tx: &Transaction, index: &Index, pool: &HashMap<Txid, Entry>) -> Result<(), String> {
    if tx.version.0 < 2 {
        return Ok(());
    }
    let next = index.tip_height() + 1;
    let tip_mtp = median_time_past(index);
    for (i, inp) in tx.input.iter().enumerate() {
        let Some(lock) = inp.sequence.to_relative_lock_time() else {
            continue;
        };
        let coin_height = match index.utxos.get(&inp.previous_output) {
            Some(c) => c.height,
            None if pool.contains_key(&inp.previous_output.txid) => next,
            None => continue,
        };
        let ok = match lock {
            bitcoin::relative::LockTime::Blocks(h) => coin_height + u32::from(h.value()) <= next,
            bitcoin::relative::LockTime::Time(t) => {
                let base = mtp_at(index, coin_height.saturating_sub(1));
                base.saturating_add(u32::from(t.value()) << 9) <= tip_mtp
            }
        };
        if !ok {
            return Err(format!("non-BIP68-final (input {i})"));
        }
    }
    Ok(())
}

fn fee_for(sat_per_kvb: u64, vsize: u64) -> u64 {
    sat_per_kvb.saturating_mul(vsize) / 1000
}

impl Mempool {
    pub(crate) fn new(min_relay_sat_per_kvb: u64) -> Self {
        Mempool {
            min_relay_sat_per_kvb,
            order: Vec::new(),
            entries: HashMap::new(),
            spends: HashMap::new(),
        }
    }

    /// Minimum relay fee in sat/kvB.
    pub(crate) fn min_relay(&self) -> u64 {
        self.min_relay_sat_per_kvb
    }

    pub(crate) fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.entries.get(txid)
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Entries in acceptance order (parents before children).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Txid, &Entry)> {
        self.order
            .iter()
            .filter_map(|t| self.entries.get(t).map(|e| (t, e)))
    }

    /// Whether `op` is spent by a mempool transaction.
    pub(crate) fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spends.get(op).copied()
    }

    /// Mempool transactions touching a script (paying to it or spending from it), in order.
    pub(crate) fn touching(&self, sh: &ScriptHash) -> Vec<(Txid, &Entry)> {
        self.iter()
            .filter(|(_, e)| {
                e.tx.output
                    .iter()
                    .any(|o| script_hash(&o.script_pubkey) == *sh)
                    || e.spent.iter().any(|o| script_hash(&o.script_pubkey) == *sh)
            })
            .map(|(t, e)| (*t, e))
            .collect()
    }

    /// Every transaction in order, with the fees of all.
    pub(crate) fn block_candidates(&self) -> (Vec<Transaction>, Amount) {
        let mut fees = 0u64;
        let txs = self
            .iter()
            .map(|(_, e)| {
                fees = fees.saturating_add(e.fee);
                (*e.tx).clone()
            })
            .collect();
        (txs, Amount::from_sat(fees))
    }

    /// Fee histogram as Electrum wants it: (sat/vB, vsize) buckets, highest fee rate first.
    pub(crate) fn fee_histogram(&self) -> Vec<(u64, u64)> {
        let mut rates: Vec<(u64, u64)> = self
            .entries
            .values()
            .map(|e| (e.fee / e.vsize.max(1), e.vsize))
            .collect();
        rates.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (rate, vsize) in rates {
            match out.last_mut() {
                Some(last) if last.0 == rate => last.1 = last.1.saturating_add(vsize),
                _ => out.push((rate, vsize)),
            }
        }
        out
    }

    fn remove_with_descendants(&mut self, txid: Txid) -> Vec<Txid> {
        let mut removed = Vec::new();
        let mut stack = vec![txid];
        while let Some(t) = stack.pop() {
            let Some(e) = self.entries.remove(&t) else {
                continue;
            };
            for inp in &e.tx.input {
                if self.spends.get(&inp.previous_output) == Some(&t) {
                    self.spends.remove(&inp.previous_output);
                }
            }
            for vout in 0..e.tx.output.len() {
                let op = OutPoint::new(t, u32::try_from(vout).unwrap_or(u32::MAX));
                if let Some(child) = self.spends.get(&op) {
                    stack.push(*child);
                }
            }
            removed.push(t);
        }
        let gone: HashSet<Txid> = removed.iter().copied().collect();
        self.order.retain(|t| !gone.contains(t));
        removed
    }

    /// Drops the block's transactions and everything conflicting with them.
    pub(crate) fn remove_for_block(&mut self, block: &Block) {
        let mut confirmed = HashSet::new();
        for tx in &block.txdata {
            let txid = tx.compute_txid();
            confirmed.insert(txid);
            if let Some(e) = self.entries.remove(&txid) {
                for inp in &e.tx.input {
                    self.spends.remove(&inp.previous_output);
                }
            }
        }
        self.order.retain(|t| !confirmed.contains(t));
        for tx in &block.txdata {
            if tx.is_coinbase() {
                continue;
            }
            for inp in &tx.input {
                if let Some(conflict) = self.spends.get(&inp.previous_output).copied() {
                    self.remove_with_descendants(conflict);
                }
            }
        }
        // Children of confirmed parents now have confirmed inputs.
        let ids: Vec<Txid> = self.order.clone();
        for t in ids {
            let parent_in_pool = self.entries.get(&t).map(|e| {
                e.tx.input
                    .iter()
                    .any(|i| self.entries.contains_key(&i.previous_output.txid))
            });
            if let (Some(p), Some(e)) = (parent_in_pool, self.entries.get_mut(&t)) {
                e.unconfirmed_parent = p;
            }
        }
    }

    /// Policy and script checks, then acceptance. Errors are Core-style reason strings.
    pub(crate) fn accept(&mut self, tx: Transaction, index: &Index) -> Result<Txid, String> {
        let txid = tx.compute_txid();
        // CheckTransaction.
        if tx.input.is_empty() {
            return Err("bad-txns-vin-empty".into());
        }
        if tx.output.is_empty() {
            return Err("bad-txns-vout-empty".into());
        }
        if tx.is_coinbase() {
            return Err("coinbase".into());
        }
        let mut seen = HashSet::new();
        for inp in &tx.input {
            if !seen.insert(inp.previous_output) {
                return Err("bad-txns-inputs-duplicate".into());
            }
        }
        let mut out_total = 0u64;
        for o in &tx.output {
            out_total = out_total
                .checked_add(o.value.to_sat())
                .filter(|v| *v <= Amount::MAX_MONEY.to_sat())
                .ok_or_else(|| "bad-txns-txouttotal-toolarge".to_string())?;
        }
        // IsStandardTx.
        let version = tx.version.0;
        if !(1..=3).contains(&version) {
            return Err("version".into());
        }
        let weight = tx.weight().to_wu();
        if weight > MAX_STANDARD_TX_WEIGHT {
            return Err(format!(
                "tx-size, weight {weight} > {MAX_STANDARD_TX_WEIGHT}"
            ));
        }
        for inp in &tx.input {
            if inp.script_sig.len() > 1650 {
                return Err("scriptsig-size".into());
            }
            if !inp.script_sig.is_push_only() {
                return Err("scriptsig-not-pushonly".into());
            }
        }
        let mut op_returns = 0;
        for (vout, o) in tx.output.iter().enumerate() {
            standard_output(o).map_err(|r| format!("{r} (output {vout})"))?;
            if o.script_pubkey.is_op_return() {
                op_returns += 1;
            }
        }
        if op_returns > 1 {
            return Err("multi-op-return".into());
        }
        // Finality for the next block.
        let tip = index.tip_height();
        if tx.is_lock_time_enabled() {
            let mtp = median_time_past(index).saturating_sub(1);
            let h = absolute::Height::from_consensus(tip).map_err(|e| e.to_string())?;
            let t =
                absolute::Time::from_consensus(mtp.max(500_000_000)).map_err(|e| e.to_string())?;
            if !tx.lock_time.is_satisfied_by(h, t) {
                return Err("non-final".into());
            }
        }
        if self.entries.contains_key(&txid) {
            return Err("txn-already-in-mempool".into());
        }
        if index.txs.contains_key(&txid) {
            return Err("txn-already-known".into());
        }
        // Inputs.
        let mut spent = Vec::with_capacity(tx.input.len());
        let mut conflicts: Vec<Txid> = Vec::new();
        let mut unconfirmed_parent = false;
        for (i, inp) in tx.input.iter().enumerate() {
            let op = inp.previous_output;
            let out = if let Some(coin) = index.utxos.get(&op) {
                if coin.coinbase && tip + 1 - coin.height < COINBASE_MATURITY {
                    return Err(format!(
                        "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth {} (input {i})",
                        tip + 1 - coin.height
                    ));
                }
                coin.txout.clone()
            } else if let Some(parent) = self.entries.get(&op.txid) {
                unconfirmed_parent = true;
                usize::try_from(op.vout)
                    .ok()
                    .and_then(|v| parent.tx.output.get(v))
                    .cloned()
                    .ok_or_else(|| format!("bad-txns-inputs-missingorspent (input {i}: {op})"))?
            } else {
                return Err(format!("bad-txns-inputs-missingorspent (input {i}: {op})"));
            };
            if let Some(other) = self.spends.get(&op) {
                if !conflicts.contains(other) {
                    conflicts.push(*other);
                }
            }
            spent.push(out);
        }
        bip68_final(&tx, index, &self.entries)?;
        let in_total = spent
            .iter()
            .try_fold(0u64, |acc, o| acc.checked_add(o.value.to_sat()))
            .ok_or_else(|| "bad-txns-inputvalues-outofrange".to_string())?;
        if in_total < out_total {
            return Err(format!(
                "bad-txns-in-belowout, value in ({in_total}) < value out ({out_total})"
            ));
        }
        let fee = in_total - out_total;
        let vsize = tx.vsize() as u64;
        let min_fee = fee_for(self.min_relay_sat_per_kvb, vsize);
        if fee < min_fee {
            return Err(format!("min relay fee not met, {fee} < {min_fee}"));
        }
        // Replacement (full RBF).
        let mut evict: Vec<Txid> = Vec::new();
        if !conflicts.is_empty() {
            let mut all = HashSet::new();
            let mut stack = conflicts.clone();
            while let Some(t) = stack.pop() {
                if !all.insert(t) {
                    continue;
                }
                if let Some(e) = self.entries.get(&t) {
                    for vout in 0..e.tx.output.len() {
                        let op = OutPoint::new(t, u32::try_from(vout).unwrap_or(u32::MAX));
                        if let Some(c) = self.spends.get(&op) {
                            stack.push(*c);
                        }
                    }
                }
            }
            if all.len() > MAX_REPLACEMENT_EVICTIONS {
                return Err(format!(
                    "too many potential replacements, rejecting replacement {txid}"
                ));
            }
            if tx
                .input
                .iter()
                .any(|i| all.contains(&i.previous_output.txid))
            {
                return Err(format!(
                    "bad-txns-spends-conflicting-tx, {txid} spends conflicting transaction"
                ));
            }
            for c in &conflicts {
                if let Some(e) = self.entries.get(c) {
                    // new fee rate must beat each direct conflict's (cross-multiplied, integers)
                    if u128::from(fee) * u128::from(e.vsize)
                        <= u128::from(e.fee) * u128::from(vsize)
                    {
                        return Err(format!(
                            "insufficient fee, rejecting replacement {txid}; new feerate {fee}/{vsize} <= old feerate {}/{}",
                            e.fee, e.vsize
                        ));
                    }
                }
            }
            let old_fees: u64 = all
                .iter()
                .filter_map(|t| self.entries.get(t))
                .map(|e| e.fee)
                .sum();
            if fee < old_fees {
                return Err(format!(
                    "insufficient fee, rejecting replacement {txid}, less fees than conflicting txs; {fee} < {old_fees}"
                ));
            }
            let extra = fee - old_fees;
            if extra < min_fee {
                return Err(format!(
                    "insufficient fee, rejecting replacement {txid}, not enough additional fees to relay; {extra} < {min_fee}"
                ));
            }
            evict = all.into_iter().collect();
        }
        // Scripts, by Core's interpreter.
        verify_scripts(&tx, &spent)
            .map_err(|(i, e)| format!("mandatory-script-verify-flag-failed (input {i}: {e})"))?;
        for t in evict {
            self.remove_with_descendants(t);
        }
        for inp in &tx.input {
            self.spends.insert(inp.previous_output, txid);
        }
        self.entries.insert(
            txid,
            Entry {
                tx: Arc::new(tx),
                fee,
                vsize,
                spent,
                unconfirmed_parent,
            },
        );
        self.order.push(txid);
        Ok(txid)
    }
}
