//! Taint models: how tainted sats entering a transaction are shared among its outputs and its
//! fee. Five models — poison, haircut, FIFO, LIFO and TIHO — exactly as defined in
//! `docs/tracing.md`, in integer satoshis (haircut's shares are floored in `u128`).
//!
//! - [`propagate`] applies a model to one transaction given its input values and taints;
//! - [`run`] flows taint through a whole [`Graph`](crate::Graph) in topological order.
//!
//! A model is a convention for dividing value, not a finding about who owns what.
//!
//! Not for: deciding which coins to start from or what a label means (see
//! [`exposure`](crate::exposure)); fetching anything.

use std::fmt;
use std::str::FromStr;

use bitcoin::OutPoint;
use custos_core::Sat;
use serde::{Deserialize, Serialize};

mod ranges;
mod run;

pub use ranges::Taint;
pub(crate) use run::CoinIndex;
pub use run::{run, InconsistentTx, TaintRun};

/// A taint model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaintModel {
    /// Any taint in taints every output fully.
    Poison,
    /// Each output gets the input taint in proportion to its value (floored).
    Haircut,
    /// First in, first out: inputs and outputs laid on one line in order, fee last.
    Fifo,
    /// Last in, first out: as FIFO with the inputs laid in reverse order.
    Lifo,
    /// Taint in, highest out: the tainted amount fills the largest outputs first.
    Tiho,
}

impl TaintModel {
    /// Every model, in a fixed order.
    pub const ALL: [TaintModel; 5] = [
        TaintModel::Poison,
        TaintModel::Haircut,
        TaintModel::Fifo,
        TaintModel::Lifo,
        TaintModel::Tiho,
    ];

    /// Its name (`fifo`), as parsed and serialised.
    pub fn name(self) -> &'static str {
        match self {
            TaintModel::Poison => "poison",
            TaintModel::Haircut => "haircut",
            TaintModel::Fifo => "fifo",
            TaintModel::Lifo => "lifo",
            TaintModel::Tiho => "tiho",
        }
    }
}

impl fmt::Display for TaintModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaintModel {
    type Err = TaintError;
    fn from_str(s: &str) -> Result<TaintModel, TaintError> {
        TaintModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| TaintError::UnknownModel(s.to_string()))
    }
}

/// A taint computation that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaintError {
    /// Not one of the five model names.
    #[error("unknown taint model `{0}` (expected poison, haircut, fifo, lifo or tiho)")]
    UnknownModel(String),
    /// A range with its end before its start.
    #[error("taint range [{start}, {end}) is reversed")]
    ReversedRange {
        /// Start.
        start: u64,
        /// End.
        end: u64,
    },
    /// An input's taint reaches past the coin's value.
    #[error("input {input}: taint reaches sat {end} but the coin holds {value} sat")]
    InputTaintBeyondValue {
        /// Input index.
        input: usize,
        /// End of its last tainted range.
        end: u64,
        /// The coin's value.
        value: u64,
    },
    /// The outputs are worth more than the inputs.
    #[error("outputs total {outputs} sat, more than the inputs' {inputs} sat")]
    OutputsExceedInputs {
        /// Sum of input values.
        inputs: u64,
        /// Sum of output values.
        outputs: u64,
    },
    /// A sum of values does not fit in 64 bits.
    #[error("the sum of the {what} values overflows 64 bits")]
    Overflow {
        /// Which values (`input`, `output`).
        what: &'static str,
    },
    /// A seed taints sats a coin does not have.
    #[error("seed for coin {outpoint}: taint reaches sat {end} but the coin holds {value} sat")]
    SeedBeyondValue {
        /// The seeded coin.
        outpoint: OutPoint,
        /// End of its last tainted range.
        end: u64,
        /// The coin's value.
        value: u64,
    },
}

/// Applies `model` to one transaction: `inputs` are (value, taint) in input order, `outputs` the
/// output values in output order. Returns each output's taint (output order) and the tainted
/// amount that went to the fee.
///
/// Fails when an input's taint reaches past its value, when the outputs exceed the inputs, or on
/// a 64-bit overflow. The fee's taint: poison taints the whole fee when anything is tainted;
/// haircut gives the fee what the floors leave over (which can exceed the fee by rounding);
/// FIFO and LIFO give it the tainted sats laid on its slot `[B, A)`; TIHO gives it what the
/// outputs could not take.
pub fn propagate(
    model: TaintModel,
    inputs: &[(Sat, &Taint)],
    outputs: &[Sat],
) -> Result<(Vec<Taint>, Sat), TaintError> {
    let mut total_in = 0u64;
    let mut tainted = 0u64;
    for (i, (value, taint)) in inputs.iter().enumerate() {
        if taint.end() > value.0 {
            return Err(TaintError::InputTaintBeyondValue {
                input: i,
                end: taint.end(),
                value: value.0,
            });
        }
        total_in = total_in
            .checked_add(value.0)
            .ok_or(TaintError::Overflow { what: "input" })?;
        // Each taint fits inside its value, so this sum is at most `total_in`.
        tainted += taint.amount().0;
    }
    let mut total_out = 0u64;
    for value in outputs {
        total_out = total_out
            .checked_add(value.0)
            .ok_or(TaintError::Overflow { what: "output" })?;
    }
    if total_out > total_in {
        return Err(TaintError::OutputsExceedInputs {
            inputs: total_in,
            outputs: total_out,
        });
    }
    let fee = total_in - total_out;
    Ok(match model {
        TaintModel::Poison => poison(tainted, fee, outputs),
        TaintModel::Haircut => haircut(tainted, total_in, outputs),
        TaintModel::Fifo => on_a_line(inputs.iter(), outputs, total_out),
        TaintModel::Lifo => on_a_line(inputs.iter().rev(), outputs, total_out),
        TaintModel::Tiho => tiho(tainted, outputs),
    })
}

fn poison(tainted: u64, fee: u64, outputs: &[Sat]) -> (Vec<Taint>, Sat) {
    if tainted == 0 {
        (vec![Taint::none(); outputs.len()], Sat(0))
    } else {
        (outputs.iter().map(|v| Taint::full(*v)).collect(), Sat(fee))
    }
}

fn haircut(tainted: u64, total_in: u64, outputs: &[Sat]) -> (Vec<Taint>, Sat) {
    if total_in == 0 {
        return (vec![Taint::none(); outputs.len()], Sat(0));
    }
    let mut given = 0u64;
    let taints = outputs
        .iter()
        .map(|b| {
            let share = u128::from(tainted) * u128::from(b.0) / u128::from(total_in);
            // tainted <= total_in, so the share is at most b.
            let share = u64::try_from(share).expect("a share is at most its output's value");
            given += share;
            Taint::prefix(share)
        })
        .collect();
    // Each share is at most tainted * b_j / A, so they sum to at most `tainted`.
    (taints, Sat(tainted - given))
}

/// FIFO (inputs in order) and LIFO (inputs reversed): the inputs' sats laid on one line, the
/// outputs cut from it in order, the fee the rest `[B, A)`.
fn on_a_line<'a>(
    inputs: impl Iterator<Item = &'a (Sat, &'a Taint)>,
    outputs: &[Sat],
    total_out: u64,
) -> (Vec<Taint>, Sat) {
    let mut line: Vec<(u64, u64)> = Vec::new();
    let mut at = 0u64;
    for (value, taint) in inputs {
        line.extend(taint.ranges().iter().map(|(s, e)| (at + s, at + e)));
        at += value.0;
    }
    // `line` is sorted: each input's ranges are sorted and inside its own slot.
    let mut cursor = 0usize;
    let mut start = 0u64;
    let mut taints = Vec::with_capacity(outputs.len());
    for value in outputs {
        let end = start + value.0;
        taints.push(Taint::from_sorted(cut(&line, &mut cursor, start, end)));
        start = end;
    }
    debug_assert_eq!(start, total_out);
    let fee: u64 = cut(&line, &mut cursor, total_out, at)
        .iter()
        .map(|(s, e)| e - s)
        .sum();
    (taints, Sat(fee))
}

/// The parts of the sorted `line` inside `[lo, hi)`, shifted by `-lo`. `cursor` moves past the
/// ranges that end at or before `hi`, so successive windows in increasing order cost O(ranges).
fn cut(line: &[(u64, u64)], cursor: &mut usize, lo: u64, hi: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut i = *cursor;
    while let Some(&(s, e)) = line.get(i) {
        if s >= hi {
            break;
        }
        let (s2, e2) = (s.max(lo), e.min(hi));
        if s2 < e2 {
            out.push((s2 - lo, e2 - lo));
        }
        if e <= hi {
            i += 1;
            *cursor = i;
        } else {
            break;
        }
    }
    out
}

fn tiho(tainted: u64, outputs: &[Sat]) -> (Vec<Taint>, Sat) {
    let mut order: Vec<usize> = (0..outputs.len()).collect();
    // Decreasing value; the sort is stable, so ties keep the lower index first.
    order.sort_by(|a, b| outputs[*b].cmp(&outputs[*a]));
    let mut taints = vec![Taint::none(); outputs.len()];
    let mut remaining = tainted;
    for j in order {
        let share = remaining.min(outputs[j].0);
        taints[j] = Taint::prefix(share);
        remaining -= share;
    }
    (taints, Sat(remaining))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip_through_display_from_str_and_serde() {
        for m in TaintModel::ALL {
            assert_eq!(m.to_string().parse::<TaintModel>().unwrap(), m);
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert_eq!(
            "FIFO".parse::<TaintModel>(),
            Err(TaintError::UnknownModel("FIFO".to_string()))
        );
    }

    #[test]
    fn cut_splits_a_range_across_windows() {
        let line = [(2, 8), (10, 12)];
        let mut c = 0;
        assert_eq!(cut(&line, &mut c, 0, 5), vec![(2, 5)]);
        assert_eq!(cut(&line, &mut c, 5, 11), vec![(0, 3), (5, 6)]);
        assert_eq!(cut(&line, &mut c, 11, 20), vec![(0, 1)]);
    }
}
