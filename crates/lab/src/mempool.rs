//! The mempool and the relay policy a sweep meets on the real network: standard output types,
//! dust (3 sat/vB dust relay fee), 400,000 WU maximum weight, a minimum relay fee, finality,
//! coinbase maturity, double spends and BIP125 replacement (full RBF, as Core 28+ does), and a
//! script check of every input by the kernel with all spent outputs supplied.
//!
//! Rejections carry Core's reason strings (`dust`, `tx-size`, `bad-txns-inputs-missingorspent`,
//! `min relay fee not met`, `mandatory-script-verify-flag-failed`, `insufficient fee`, ...).
//!
//! The pool is indexed per script, so what touches one script costs what touches that script,
//! not the whole pool.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{absolute, Amount, Block, OutPoint, Transaction, TxOut, Txid};

use crate::index::{outpoint, script_hash, ElectrumScriptHash, Index, COINBASE_MATURITY};
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
    /// Script hash of each output, in output order.
    pub(crate) output_scripts: Vec<ElectrumScriptHash>,
    /// Script hash of each spent output, in input order.
    pub(crate) spent_scripts: Vec<ElectrumScriptHash>,
    /// Acceptance sequence number (orders the pool).
    seq: u64,
}

impl Entry {
    /// Every script it pays to or spends from, each once.
    fn scripts(&self) -> HashSet<ElectrumScriptHash> {
        self.output_scripts
            .iter()
            .chain(&self.spent_scripts)
            .copied()
            .collect()
    }
}

/// The lab's mempool.
#[derive(Debug)]
pub(crate) struct Mempool {
    min_relay_sat_per_kvb: u64,
    next_seq: u64,
    /// Txids by acceptance sequence (parents before children).
    order: BTreeMap<u64, Txid>,
    entries: HashMap<Txid, Entry>,
    spends: HashMap<OutPoint, Txid>,
    /// Per script: the transactions touching it, by acceptance sequence.
    by_script: HashMap<ElectrumScriptHash, BTreeMap<u64, Txid>>,
}

/// What a transaction's inputs spend, as the inputs check found it.
struct Inputs {
    spent: Vec<TxOut>,
    /// Mempool transactions spending the same outputs.
    conflicts: Vec<Txid>,
    unconfirmed_parent: bool,
    fee: u64,
}

/// CheckTransaction: inputs and outputs present, no coinbase, no duplicate inputs, outputs
/// within the money range. Returns the output total.
fn check_transaction(tx: &Transaction) -> Result<u64, String> {
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
    Ok(out_total)
}

/// IsStandardTx: version, weight, scriptSig size and push-only, standard outputs above dust,
/// at most one OP_RETURN.
fn check_standard(tx: &Transaction) -> Result<(), String> {
    if !(1..=3).contains(&tx.version.0) {
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
    Ok(())
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

/// Absolute lock time: final in the next block.
fn check_final(tx: &Transaction, index: &Index) -> Result<(), String> {
    if !tx.is_lock_time_enabled() {
        return Ok(());
    }
    let mtp = index.median_time_past().saturating_sub(1);
    let h = absolute::Height::from_consensus(index.tip_height()).map_err(|e| e.to_string())?;
    let t = absolute::Time::from_consensus(mtp.max(500_000_000)).map_err(|e| e.to_string())?;
    if !tx.lock_time.is_satisfied_by(h, t) {
        return Err("non-final".into());
    }
    Ok(())
}

/// BIP68 relative lock times for the next block (version >= 2 transactions).
fn bip68_final(tx: &Transaction, index: &Index, pool: &HashMap<Txid, Entry>) -> Result<(), String> {
    if tx.version.0 < 2 {
        return Ok(());
    }
    let next = index.tip_height() + 1;
    let tip_mtp = index.median_time_past();
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
                let base = index.median_time_past_at(coin_height.saturating_sub(1));
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

/// A transaction's virtual size as the fee arithmetic's `u64`.
fn vsize_of(tx: &Transaction) -> u64 {
    u64::try_from(tx.vsize()).expect("a transaction's vsize fits u64")
}

impl Mempool {
    pub(crate) fn new(min_relay_sat_per_kvb: u64) -> Self {
        Mempool {
            min_relay_sat_per_kvb,
            next_seq: 0,
            order: BTreeMap::new(),
            entries: HashMap::new(),
            spends: HashMap::new(),
            by_script: HashMap::new(),
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
        self.entries.len()
    }

    /// Entries in acceptance order (parents before children).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Txid, &Entry)> {
        self.order
            .values()
            .filter_map(|t| self.entries.get(t).map(|e| (t, e)))
    }

    /// Whether `op` is spent by a mempool transaction.
    pub(crate) fn spender(&self, op: &OutPoint) -> Option<Txid> {
        self.spends.get(op).copied()
    }

    /// Mempool transactions touching a script (paying to it or spending from it), in order.
    pub(crate) fn touching(&self, sh: &ElectrumScriptHash) -> Vec<(Txid, &Entry)> {
        self.by_script
            .get(sh)
            .map(|txids| {
                txids
                    .values()
                    .filter_map(|t| self.entries.get(t).map(|e| (*t, e)))
                    .collect()
            })
            .unwrap_or_default()
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

    /// Adds an accepted transaction to the pool and its indexes.
    fn insert(&mut self, txid: Txid, mut entry: Entry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        for inp in &entry.tx.input {
            self.spends.insert(inp.previous_output, txid);
        }
        for sh in entry.scripts() {
            self.by_script
                .entry(sh)
                .or_default()
                .insert(entry.seq, txid);
        }
        self.order.insert(entry.seq, txid);
        self.entries.insert(txid, entry);
    }

    /// Takes a transaction out of the pool, its order and its script index (not `spends`).
    fn take(&mut self, txid: &Txid) -> Option<Entry> {
        let e = self.entries.remove(txid)?;
        self.order.remove(&e.seq);
        for sh in e.scripts() {
            if let Some(txids) = self.by_script.get_mut(&sh) {
                txids.remove(&e.seq);
                if txids.is_empty() {
                    self.by_script.remove(&sh);
                }
            }
        }
        Some(e)
    }

    /// Mempool children of `t`: the transactions spending its outputs.
    fn children(&self, t: Txid, e: &Entry) -> Vec<Txid> {
        (0..e.tx.output.len())
            .filter_map(|vout| self.spends.get(&outpoint(t, vout)).copied())
            .collect()
    }

    fn remove_with_descendants(&mut self, txid: Txid) -> Vec<Txid> {
        let mut removed = Vec::new();
        let mut stack = vec![txid];
        while let Some(t) = stack.pop() {
            let Some(e) = self.take(&t) else {
                continue;
            };
            for inp in &e.tx.input {
                if self.spends.get(&inp.previous_output) == Some(&t) {
                    self.spends.remove(&inp.previous_output);
                }
            }
            stack.extend(self.children(t, &e));
            removed.push(t);
        }
        removed
    }

    /// Drops the block's transactions and everything conflicting with them.
    pub(crate) fn remove_for_block(&mut self, block: &Block) {
        for tx in &block.txdata {
            if let Some(e) = self.take(&tx.compute_txid()) {
                for inp in &e.tx.input {
                    self.spends.remove(&inp.previous_output);
                }
            }
        }
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
        let ids: Vec<Txid> = self.order.values().copied().collect();
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
        let out_total = check_transaction(&tx)?;
        check_standard(&tx)?;
        check_final(&tx, index)?;
        if self.entries.contains_key(&txid) {
            return Err("txn-already-in-mempool".into());
        }
        if index.txs.contains_key(&txid) {
            return Err("txn-already-known".into());
        }
        let inputs = self.check_inputs(&tx, index, out_total)?;
        let vsize = vsize_of(&tx);
        let min_fee = fee_for(self.min_relay_sat_per_kvb, vsize);
        if inputs.fee < min_fee {
            return Err(format!("min relay fee not met, {} < {min_fee}", inputs.fee));
        }
        let evict = self.check_replacement(txid, &tx, &inputs, vsize, min_fee)?;
        // Scripts, by Core's interpreter.
        verify_scripts(&tx, &inputs.spent)
            .map_err(|(i, e)| format!("mandatory-script-verify-flag-failed (input {i}: {e})"))?;
        for t in evict {
            self.remove_with_descendants(t);
        }
        let entry = Entry {
            output_scripts: tx
                .output
                .iter()
                .map(|o| script_hash(&o.script_pubkey))
                .collect(),
            spent_scripts: inputs
                .spent
                .iter()
                .map(|o| script_hash(&o.script_pubkey))
                .collect(),
            tx: Arc::new(tx),
            fee: inputs.fee,
            vsize,
            spent: inputs.spent,
            unconfirmed_parent: inputs.unconfirmed_parent,
            seq: 0,
        };
        self.insert(txid, entry);
        Ok(txid)
    }

    /// The inputs: each spends a mature confirmed coin or a mempool output; BIP68 relative
    /// locks are met; the inputs cover the outputs.
    fn check_inputs(
        &self,
        tx: &Transaction,
        index: &Index,
        out_total: u64,
    ) -> Result<Inputs, String> {
        let tip = index.tip_height();
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
        bip68_final(tx, index, &self.entries)?;
        let in_total = spent
            .iter()
            .try_fold(0u64, |acc, o| acc.checked_add(o.value.to_sat()))
            .ok_or_else(|| "bad-txns-inputvalues-outofrange".to_string())?;
        if in_total < out_total {
            return Err(format!(
                "bad-txns-in-belowout, value in ({in_total}) < value out ({out_total})"
            ));
        }
        Ok(Inputs {
            spent,
            conflicts,
            unconfirmed_parent,
            fee: in_total - out_total,
        })
    }

    /// Replacement (full RBF, BIP125 rules 3-5): returns the transactions to evict, or why
    /// the replacement is refused.
    fn check_replacement(
        &self,
        txid: Txid,
        tx: &Transaction,
        inputs: &Inputs,
        vsize: u64,
        min_fee: u64,
    ) -> Result<Vec<Txid>, String> {
        if inputs.conflicts.is_empty() {
            return Ok(Vec::new());
        }
        let fee = inputs.fee;
        let mut all = HashSet::new();
        let mut stack = inputs.conflicts.clone();
        while let Some(t) = stack.pop() {
            if !all.insert(t) {
                continue;
            }
            if let Some(e) = self.entries.get(&t) {
                stack.extend(self.children(t, e));
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
        for c in &inputs.conflicts {
            if let Some(e) = self.entries.get(c) {
                // new fee rate must beat each direct conflict's (cross-multiplied, integers)
                if u128::from(fee) * u128::from(e.vsize) <= u128::from(e.fee) * u128::from(vsize) {
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
        Ok(all.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash;
    use bitcoin::{transaction, ScriptBuf, Sequence, TxIn, Witness};

    use super::*;

    fn script(tag: u8) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([tag; 20]))
    }

    /// A pool entry spending `prev` (an output to `from`) and paying `to`.
    fn entry(prev: OutPoint, from: u8, to: u8) -> (Txid, Entry) {
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: prev,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1_000),
                script_pubkey: script(to),
            }],
        };
        let spent = TxOut {
            value: Amount::from_sat(2_000),
            script_pubkey: script(from),
        };
        let e = Entry {
            output_scripts: vec![script_hash(&script(to))],
            spent_scripts: vec![script_hash(&spent.script_pubkey)],
            tx: Arc::new(tx),
            fee: 1_000,
            vsize: 100,
            spent: vec![spent],
            unconfirmed_parent: false,
            seq: 0,
        };
        (e.tx.compute_txid(), e)
    }

    #[test]
    fn the_script_index_lists_what_touches_a_script_in_order_and_forgets_evicted_ones() {
        let mut pool = Mempool::new(100);
        let (a, ea) = entry(OutPoint::new(Txid::from_byte_array([1; 32]), 0), 1, 2);
        pool.insert(a, ea);
        let (b, eb) = entry(OutPoint::new(a, 0), 2, 3);
        pool.insert(b, eb);
        let touching = |pool: &Mempool, tag: u8| -> Vec<Txid> {
            pool.touching(&script_hash(&script(tag)))
                .into_iter()
                .map(|(t, _)| t)
                .collect()
        };
        assert_eq!(touching(&pool, 1), vec![a]);
        assert_eq!(touching(&pool, 2), vec![a, b], "paid by a, spent by b");
        assert_eq!(touching(&pool, 3), vec![b]);
        assert!(touching(&pool, 9).is_empty());
        // Evicting a takes its child b with it, from the pool and from every script.
        assert_eq!(pool.remove_with_descendants(a).len(), 2);
        assert_eq!(pool.len(), 0);
        assert!(pool.by_script.is_empty());
        assert!(pool.spends.is_empty());
        assert!(touching(&pool, 2).is_empty());
    }
}
