//! Sweep planning: a pure function from UTXOs, a fee rate and a weight limit to batches.
//!
//! Each batch is one transaction paying everything it spends, less its fee, to one custody
//! output. A UTXO worth no more than the fee its own input costs at that rate is uneconomic and
//! left out (listed with its total). When all inputs would pass the weight limit (400,000 WU,
//! Bitcoin Core's standardness limit) they are split greedily over several transactions, each
//! filled up to the limit. Inputs are ordered by outpoint (BIP69) so a plan is deterministic.

use bitcoin::{Amount, OutPoint, Weight};
use serde::Serialize;

use crate::{
    error::{Error, Result},
    weight::{fee_for_vsize, fee_for_weight, tx_weight, vsize, FeeRate, InputKind, SigSize, Vsize},
};

/// Bitcoin Core's maximum standard transaction weight.
pub const MAX_STANDARD_WEIGHT: Weight = Weight::from_wu(400_000);

/// Dust threshold of a P2WSH / P2TR output at the 3 sat/vB dust-relay fee.
pub const CUSTODY_DUST: Amount = Amount::from_sat(330);

/// One spendable UTXO as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanUtxo {
    /// Outpoint.
    pub outpoint: OutPoint,
    /// Value.
    pub value: Amount,
    /// Spending kind.
    pub kind: InputKind,
}

/// Planning parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanParams {
    /// Fee rate.
    pub fee_rate: FeeRate,
    /// Largest weight a batch may have.
    pub max_weight: Weight,
    /// Length of the custody output script in bytes (34 for wsh and tr).
    pub output_script_len: u64,
    /// ECDSA signature size assumed.
    pub sig_size: SigSize,
    /// Smallest output value allowed.
    pub dust: Amount,
}

impl PlanParams {
    /// Parameters with the defaults: 400,000 WU, 34-byte custody script, low-R signatures.
    pub fn new(fee_rate: FeeRate) -> PlanParams {
        PlanParams {
            fee_rate,
            max_weight: MAX_STANDARD_WEIGHT,
            output_script_len: 34,
            sig_size: SigSize::LowR,
            dust: CUSTODY_DUST,
        }
    }

    /// Fee the input of `u` costs at this rate (its marginal weight, rounded up); `None` when
    /// that fee passes `u64::MAX` sat, which no UTXO can pay.
    fn fee_to_spend(&self, u: &PlanUtxo) -> Option<Amount> {
        fee_for_weight(u.kind.marginal_weight(self.sig_size), self.fee_rate)
    }
}

/// A UTXO left out of the sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// Outpoint.
    pub outpoint: OutPoint,
    /// Value.
    pub value: Amount,
    /// Fee its input would cost at the plan's rate (`None`: more than `u64::MAX` sat).
    pub fee_to_spend: Option<Amount>,
    /// Why it was left out.
    pub reason: &'static str,
}

/// One planned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Inputs, in transaction order.
    pub inputs: Vec<PlanUtxo>,
    /// Sum of input values.
    pub input_total: Amount,
    /// Estimated weight when signed.
    pub weight: Weight,
    /// `ceil(weight / 4)`.
    pub vsize: Vsize,
    /// Fee.
    pub fee: Amount,
    /// Value of the custody output.
    pub output_value: Amount,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepPlan {
    /// Transactions to build.
    pub batches: Vec<Batch>,
    /// UTXOs left out.
    pub left_out: Vec<LeftOut>,
    /// Sum of the values left out.
    pub left_out_total: Amount,
}

fn checked_sum(values: impl IntoIterator<Item = Amount>, what: &str) -> Result<Amount> {
    values
        .into_iter()
        .try_fold(Amount::ZERO, |acc, v| acc.checked_add(v))
        .ok_or_else(|| Error::AmountOverflow {
            what: what.to_string(),
        })
}

impl SweepPlan {
    /// Sum of all fees. Cannot overflow: each batch's fee is at most its checked input total,
    /// and the input totals are at most the sum of distinct UTXOs checked by [`plan_sweep`].
    pub fn total_fee(&self) -> Amount {
        self.batches.iter().map(|b| b.fee).sum()
    }
    /// Sum of all custody outputs (bounded like [`SweepPlan::total_fee`]).
    pub fn total_output(&self) -> Amount {
        self.batches.iter().map(|b| b.output_value).sum()
    }
}

/// BIP69 input order: txid as displayed (big-endian), then vout.
pub fn bip69_key(o: &OutPoint) -> ([u8; 32], u32) {
    use bitcoin::hashes::Hash;
    let mut b = o.txid.to_byte_array();
    b.reverse();
    (b, o.vout)
}

/// Splits UTXOs into those worth more than the fee to spend them and those left out.
fn split_uneconomic(
    sorted: Vec<PlanUtxo>,
    params: &PlanParams,
    left_out: &mut Vec<LeftOut>,
) -> Vec<PlanUtxo> {
    let mut spendable = Vec::with_capacity(sorted.len());
    for u in sorted {
        let fee = params.fee_to_spend(&u);
        match fee {
            Some(f) if u.value > f => spendable.push(u),
            _ => left_out.push(LeftOut {
                outpoint: u.outpoint,
                value: u.value,
                fee_to_spend: fee,
                reason: "uneconomic: worth no more than the fee to spend it",
            }),
        }
    }
    spendable
}

/// Greedy fill: keeps adding inputs while the transaction stays within the limit.
fn group_by_weight(spendable: Vec<PlanUtxo>, params: &PlanParams) -> Vec<Vec<PlanUtxo>> {
    let outs = [params.output_script_len];
    let mut groups: Vec<Vec<PlanUtxo>> = Vec::new();
    let mut current: Vec<PlanUtxo> = Vec::new();
    let mut kinds: Vec<InputKind> = Vec::new();
    for u in spendable {
        kinds.push(u.kind);
        let w = tx_weight(&kinds, &outs, params.sig_size);
        if w > params.max_weight && !current.is_empty() {
            groups.push(std::mem::take(&mut current));
            kinds.clear();
            kinds.push(u.kind);
        }
        current.push(u);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Plans a sweep. What cannot be swept is listed in [`SweepPlan::left_out`]; the only error is
/// a sum of UTXO values that overflows (no real set of UTXOs does: 21M BTC fit many times).
pub fn plan_sweep(utxos: &[PlanUtxo], params: &PlanParams) -> Result<SweepPlan> {
    let mut sorted: Vec<PlanUtxo> = utxos.to_vec();
    sorted.sort_by_key(|u| bip69_key(&u.outpoint));
    sorted.dedup_by(|a, b| a.outpoint == b.outpoint);
    checked_sum(sorted.iter().map(|u| u.value), "sum of utxo values")?;

    let mut left_out = Vec::new();
    let spendable = split_uneconomic(sorted, params, &mut left_out);
    let outs = [params.output_script_len];
    let mut batches = Vec::new();
    for g in group_by_weight(spendable, params) {
        let kinds: Vec<InputKind> = g.iter().map(|u| u.kind).collect();
        let weight = tx_weight(&kinds, &outs, params.sig_size);
        let vs = vsize(weight);
        let fee = fee_for_vsize(vs, params.fee_rate);
        let input_total = checked_sum(g.iter().map(|u| u.value), "batch input total")?;
        let output_value = fee.and_then(|f| input_total.checked_sub(f));
        match (fee, output_value) {
            (Some(fee), Some(output_value))
                if weight <= params.max_weight && output_value >= params.dust =>
            {
                batches.push(Batch {
                    inputs: g,
                    input_total,
                    weight,
                    vsize: vs,
                    fee,
                    output_value,
                })
            }
            _ => {
                let reason = if weight > params.max_weight {
                    "a single input passes the weight limit"
                } else {
                    "its batch would pay less than the dust limit to custody"
                };
                for u in g {
                    left_out.push(LeftOut {
                        outpoint: u.outpoint,
                        value: u.value,
                        fee_to_spend: params.fee_to_spend(&u),
                        reason,
                    });
                }
            }
        }
    }
    let left_out_total = checked_sum(left_out.iter().map(|l| l.value), "left-out total")?;
    Ok(SweepPlan {
        batches,
        left_out,
        left_out_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{hashes::Hash, Txid};

    fn utxo(n: u32, value: u64, kind: InputKind) -> PlanUtxo {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        PlanUtxo {
            outpoint: OutPoint::new(Txid::from_byte_array(b), n % 3),
            value: Amount::from_sat(value),
            kind,
        }
    }

    fn plan_sweep(us: &[PlanUtxo], params: &PlanParams) -> SweepPlan {
        super::plan_sweep(us, params).expect("no overflow")
    }

    fn rate(kvb: u64) -> PlanParams {
        PlanParams::new(FeeRate(kvb))
    }

    fn sat(v: u64) -> Amount {
        Amount::from_sat(v)
    }

    #[test]
    fn single_batch_pays_all_less_exact_fee() {
        let us = vec![
            utxo(1, 100_000, InputKind::P2wpkh),
            utxo(2, 50_000, InputKind::P2pkhUncompressed),
            utxo(3, 20_000, InputKind::P2trKeyPath),
            utxo(4, 30_000, InputKind::P2shP2wpkh),
        ];
        let p = plan_sweep(&us, &rate(2_000));
        assert_eq!(p.batches.len(), 1);
        let b = &p.batches[0];
        let w = tx_weight(
            &b.inputs.iter().map(|u| u.kind).collect::<Vec<_>>(),
            &[34],
            SigSize::LowR,
        );
        assert_eq!(b.weight, w);
        assert_eq!(b.fee, sat(vsize(w).0 * 2));
        assert_eq!(b.output_value + b.fee, sat(200_000));
        assert!(p.left_out.is_empty());
    }

    #[test]
    fn leaves_out_uneconomic_utxos_and_reports_total() {
        // at 10 sat/vB a p2wpkh input costs ceil(271*10/4) = 678 sat.
        let us = vec![
            utxo(1, 100_000, InputKind::P2wpkh),
            utxo(2, 678, InputKind::P2wpkh),
            utxo(3, 679, InputKind::P2wpkh),
            utxo(4, 500, InputKind::P2pkhCompressed),
        ];
        let p = plan_sweep(&us, &rate(10_000));
        assert_eq!(p.left_out.len(), 2);
        assert_eq!(p.left_out_total, sat(678 + 500));
        assert_eq!(p.batches[0].inputs.len(), 2);
    }

    #[test]
    fn splits_batches_under_max_weight() {
        let us: Vec<PlanUtxo> = (0..3000)
            .map(|i| utxo(i, 10_000 + u64::from(i), InputKind::P2wpkh))
            .collect();
        let p = plan_sweep(&us, &rate(1_000));
        assert!(p.batches.len() >= 3, "{}", p.batches.len());
        let mut n = 0;
        for b in &p.batches {
            assert!(b.weight <= MAX_STANDARD_WEIGHT, "{}", b.weight);
            n += b.inputs.len();
        }
        assert_eq!(n, 3000);
        // every batch but the last is full: one more input would pass the limit.
        let first = &p.batches[0];
        let mut kinds: Vec<InputKind> = first.inputs.iter().map(|u| u.kind).collect();
        kinds.push(InputKind::P2wpkh);
        assert!(tx_weight(&kinds, &[34], SigSize::LowR) > MAX_STANDARD_WEIGHT);
        let total_in: Amount = us.iter().map(|u| u.value).sum();
        assert_eq!(p.total_output() + p.total_fee(), total_in);
    }

    #[test]
    fn small_max_weight_splits_into_many() {
        let us: Vec<PlanUtxo> = (0..10)
            .map(|i| utxo(i, 50_000, InputKind::P2wpkh))
            .collect();
        let mut params = rate(1_000);
        params.max_weight = Weight::from_wu(1_100); // 3 inputs: 40+3*271+172+2 = 1027
        let p = plan_sweep(&us, &params);
        assert_eq!(
            p.batches.iter().map(|b| b.inputs.len()).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
    }

    #[test]
    fn batch_below_dust_is_left_out() {
        let us = vec![utxo(1, 400, InputKind::P2trKeyPath)];
        let p = plan_sweep(&us, &rate(1_000));
        assert!(p.batches.is_empty());
        assert_eq!(p.left_out_total, sat(400));
        assert!(p.left_out[0].reason.contains("dust"));
    }

    #[test]
    fn duplicate_outpoints_are_spent_once() {
        let us = vec![
            utxo(1, 10_000, InputKind::P2wpkh),
            utxo(1, 10_000, InputKind::P2wpkh),
        ];
        let p = plan_sweep(&us, &rate(1_000));
        assert_eq!(p.batches[0].inputs.len(), 1);
    }
}
