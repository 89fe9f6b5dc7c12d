//! CoinJoin detection from a transaction's shape alone (counts and values of inputs and
//! outputs). The rules and where they come from:
//!
//! - **Whirlpool** (Samourai): exactly 5 inputs and 5 outputs, every output the same value and
//!   that value one of the pool denominations 100,000 / 1,000,000 / 5,000,000 / 50,000,000 sat
//!   (the 0.001, 0.01, 0.05 and 0.5 BTC pools). Dumplings (nopara73/Dumplings,
//!   `Scanning/Scanner.cs`) uses the same 5-in/5-out, all-equal rule; we require the exact pool
//!   value because Whirlpool mix outputs are exactly the pool denomination (the mining fee is
//!   paid from the premix inputs).
//! - **Wasabi 1.x**: at least 10 equal outputs, at least as many inputs as equal outputs, and the
//!   equal value within 0.02 BTC of the 0.1 BTC base denomination (Dumplings
//!   `ApproximateWasabiBaseDenomination` = 0.1 BTC, `WasabiBaseDenominationPrecision` = 0.02 BTC,
//!   inclusive). Wasabi 1's mixing levels (multiples of the base) are not recognised.
//! - **Wasabi 2.x (WabiSabi)**: at least 50 inputs, at least half of the outputs carry a WabiSabi
//!   standard denomination, and the most frequent standard value occurs at least twice. The
//!   standard denominations are those of WalletWasabi's `BaseDenominationGenerator`: powers of 2,
//!   powers of 3, 2×powers of 3, powers of 10, 2×powers of 10 and 5×powers of 10, bounded to
//!   5,000 ..= 134,375,000,000 sat as in the Dumplings/BlockSci port (`compute_ww2_denominations`).
//! - **JoinMarket**: n ≥ 3 outputs of one value (the most frequent), between n−1 and n other
//!   (change) outputs — the taker may have none — and at least n inputs. This is the shape the
//!   JoinMarket protocol produces (every maker and the taker get one CoinJoin output; makers and
//!   usually the taker get one change output).
//! - **EqualOutput**: BlockSci's `isCoinjoin` (`heuristics/tx_identification.cpp`): at least 2
//!   inputs and 3 outputs; participants = (outputs + 1) / 2 must not exceed the number of inputs
//!   nor of distinct input addresses; the most frequent output value must occur exactly
//!   `participants` times and must not be 546 or 2730 sat (dust values used by other protocols).
//!   Inputs whose address is unknown count as distinct addresses: a missed CoinJoin would let
//!   clustering merge strangers, which is worse than skipping a transaction.
//!
//! The most specific kind wins, in the order Whirlpool, Wasabi, JoinMarket, EqualOutput. A
//! disabled kind is skipped, so a less specific one may still match.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::Txid;
use custos_core::Sat;
use serde::{Deserialize, Serialize};

use super::{HeuristicId, HeuristicSet};
use crate::graph::{ScriptKind, TxNode};

/// Whirlpool pool denominations, in sat.
pub const WHIRLPOOL_POOLS: [u64; 4] = [100_000, 1_000_000, 5_000_000, 50_000_000];
/// Wasabi 1.x base denomination, in sat (0.1 BTC).
pub const WASABI1_BASE: u64 = 10_000_000;
/// Wasabi 1.x tolerance around the base denomination, in sat (0.02 BTC).
pub const WASABI1_PRECISION: u64 = 2_000_000;
/// Smallest WabiSabi standard denomination, in sat.
pub const WABISABI_MIN: u64 = 5_000;
/// Largest WabiSabi standard denomination considered, in sat.
pub const WABISABI_MAX: u64 = 134_375_000_000;
/// Output values BlockSci's rule refuses as CoinJoin denominations (protocol dust markers).
pub const EQUAL_OUTPUT_EXCLUDED: [u64; 2] = [546, 2730];

/// Which coordinator or rule a CoinJoin matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoinJoinKind {
    /// Wasabi 1.x or 2.x.
    Wasabi,
    /// Samourai Whirlpool.
    Whirlpool,
    /// JoinMarket.
    JoinMarket,
    /// The generic equal-output rule.
    EqualOutput,
}

impl CoinJoinKind {
    /// The heuristic that detects this kind.
    pub fn heuristic(self) -> HeuristicId {
        match self {
            CoinJoinKind::Wasabi => HeuristicId::CoinjoinWasabi,
            CoinJoinKind::Whirlpool => HeuristicId::CoinjoinWhirlpool,
            CoinJoinKind::JoinMarket => HeuristicId::CoinjoinJoinmarket,
            CoinJoinKind::EqualOutput => HeuristicId::CoinjoinEqualOutput,
        }
    }
}

/// A detected CoinJoin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinJoin {
    /// The transaction.
    pub txid: Txid,
    /// The kind that matched (the most specific enabled one).
    pub kind: CoinJoinKind,
    /// The heuristic that matched.
    pub heuristic: HeuristicId,
    /// The equal-output value.
    pub denomination: Sat,
    /// How many outputs carry it.
    pub equal_outputs: usize,
    /// Why, in words, with the numbers that decided it.
    pub reason: String,
}

/// Detects a CoinJoin with every kind enabled.
pub fn coinjoin(tx: &TxNode) -> Option<CoinJoin> {
    coinjoin_with(tx, &HeuristicSet::all())
}

/// Detects a CoinJoin with the kinds enabled in `set`; the most specific match wins.
pub fn coinjoin_with(tx: &TxNode, set: &HeuristicSet) -> Option<CoinJoin> {
    if tx.coinbase || tx.inputs.len() < 2 {
        return None;
    }
    let shape = Shape::of(tx);
    type Rule = fn(&Shape) -> Option<Match>;
    let rules: [(CoinJoinKind, Rule); 4] = [
        (CoinJoinKind::Whirlpool, whirlpool),
        (CoinJoinKind::Wasabi, wasabi),
        (CoinJoinKind::JoinMarket, joinmarket),
        (CoinJoinKind::EqualOutput, equal_output),
    ];
    rules
        .into_iter()
        .filter(|(kind, _)| set.is_enabled(kind.heuristic()))
        .find_map(|(kind, rule)| {
            rule(&shape).map(|m| CoinJoin {
                txid: tx.txid,
                kind,
                heuristic: kind.heuristic(),
                denomination: Sat(m.denomination),
                equal_outputs: m.count,
                reason: m.reason,
            })
        })
}

/// What a rule found.
struct Match {
    denomination: u64,
    count: usize,
    reason: String,
}

/// The counts every rule looks at.
struct Shape {
    inputs: usize,
    outputs: usize,
    /// Distinct input addresses, unknown ones counted as distinct.
    distinct_input_addresses: usize,
    /// Output value → how many outputs carry it (OP_RETURN outputs left out).
    values: BTreeMap<u64, usize>,
    /// The most frequent value and its count; ties go to the larger value (deterministic).
    top: Option<(u64, usize)>,
}

impl Shape {
    fn of(tx: &TxNode) -> Shape {
        let mut known = BTreeSet::new();
        let mut unknown = 0usize;
        for i in &tx.inputs {
            match &i.address {
                Some(a) => {
                    known.insert(a.as_str());
                }
                None => unknown += 1,
            }
        }
        let mut values = BTreeMap::new();
        let mut outputs = 0usize;
        for o in tx.outputs.iter().filter(|o| o.kind != ScriptKind::OpReturn) {
            *values.entry(o.value.0).or_insert(0usize) += 1;
            outputs += 1;
        }
        let top = values
            .iter()
            .map(|(v, c)| (*v, *c))
            .max_by_key(|(v, c)| (*c, *v));
        Shape {
            inputs: tx.inputs.len(),
            outputs,
            distinct_input_addresses: known.len() + unknown,
            values,
            top,
        }
    }
}

fn whirlpool(s: &Shape) -> Option<Match> {
    let (value, count) = s.top?;
    (s.inputs == 5 && s.outputs == 5 && count == 5 && WHIRLPOOL_POOLS.contains(&value)).then(|| {
        Match {
            denomination: value,
            count,
            reason: format!(
                "5 inputs, 5 outputs all of {value} sat, a whirlpool pool denomination"
            ),
        }
    })
}

fn wasabi(s: &Shape) -> Option<Match> {
    wasabi1(s).or_else(|| wasabi2(s))
}

fn wasabi1(s: &Shape) -> Option<Match> {
    let (value, count) = s.top?;
    let near_base = value.abs_diff(WASABI1_BASE) <= WASABI1_PRECISION;
    (count >= 10 && s.inputs >= count && near_base).then(|| Match {
        denomination: value,
        count,
        reason: format!(
            "wasabi 1.x: {count} equal outputs of {value} sat (within {WASABI1_PRECISION} sat of the \
             {WASABI1_BASE} sat base denomination), {} inputs",
            s.inputs
        ),
    })
}

fn wasabi2(s: &Shape) -> Option<Match> {
    if s.inputs < 50 {
        return None;
    }
    let standard: usize = s
        .values
        .iter()
        .filter(|(v, _)| is_wabisabi_denomination(**v))
        .map(|(_, c)| *c)
        .sum();
    let (value, count) = s
        .values
        .iter()
        .filter(|(v, _)| is_wabisabi_denomination(**v))
        .map(|(v, c)| (*v, *c))
        .max_by_key(|(v, c)| (*c, *v))?;
    (standard * 2 >= s.outputs && count >= 2).then(|| Match {
        denomination: value,
        count,
        reason: format!(
            "wasabi 2.x (wabisabi): {} inputs, {standard} of {} outputs carry standard \
             denominations, the most frequent {value} sat ({count} times)",
            s.inputs, s.outputs
        ),
    })
}

fn joinmarket(s: &Shape) -> Option<Match> {
    let (value, n) = s.top?;
    let others = s.outputs - n;
    let ok = n >= 3
        && (n - 1..=n).contains(&others)
        && s.inputs >= n
        && !EQUAL_OUTPUT_EXCLUDED.contains(&value);
    ok.then(|| Match {
        denomination: value,
        count: n,
        reason: format!(
            "joinmarket: {n} equal outputs of {value} sat, {others} change outputs, {} inputs",
            s.inputs
        ),
    })
}

fn equal_output(s: &Shape) -> Option<Match> {
    if s.inputs < 2 || s.outputs < 3 {
        return None;
    }
    let participants = s.outputs.div_ceil(2);
    let (value, count) = s.top?;
    let ok = participants <= s.inputs
        && participants <= s.distinct_input_addresses
        && count == participants
        && !EQUAL_OUTPUT_EXCLUDED.contains(&value);
    ok.then(|| Match {
        denomination: value,
        count,
        reason: format!(
            "equal-output (blocksci): {participants} participants for {} outputs, {} inputs from {} \
             distinct addresses, {count} outputs of {value} sat",
            s.outputs, s.inputs, s.distinct_input_addresses
        ),
    })
}

/// Whether `v` is a WabiSabi standard denomination (see the module documentation).
pub fn is_wabisabi_denomination(v: u64) -> bool {
    if !(WABISABI_MIN..=WABISABI_MAX).contains(&v) {
        return false;
    }
    let even_half = v.is_multiple_of(2).then_some(v / 2);
    let fifth = v.is_multiple_of(5).then_some(v / 5);
    v.is_power_of_two()
        || is_power_of(v, 3)
        || even_half.is_some_and(|h| is_power_of(h, 3) || is_power_of(h, 10))
        || is_power_of(v, 10)
        || fifth.is_some_and(|f| is_power_of(f, 10))
}

fn is_power_of(mut v: u64, base: u64) -> bool {
    if v == 0 {
        return false;
    }
    while v.is_multiple_of(base) {
        v /= base;
    }
    v == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wabisabi_denominations_follow_the_generator_families() {
        for v in [
            5_000,
            6_561,
            8_192,
            10_000,
            13_122,
            20_000,
            50_000,
            1_048_576,
            100_000_000,
        ] {
            assert!(is_wabisabi_denomination(v), "{v}");
        }
        for v in [4_096, 5_001, 7_000, 12_345, 30_000, 134_375_000_001] {
            assert!(!is_wabisabi_denomination(v), "{v}");
        }
    }
}
