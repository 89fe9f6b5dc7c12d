//! Hand-worked single-transaction cases for every taint model (the same example as in
//! docs/tracing.md), and the property that the lossless models conserve taint.

use custos_core::Sat;
use custos_trace::taint::{propagate, Taint, TaintError, TaintModel};

fn t(ranges: &[(u64, u64)]) -> Taint {
    Taint::from_ranges(ranges.iter().copied()).unwrap()
}

/// The worked example of docs/tracing.md: inputs 50 sat tainted on [10, 30), 30 sat clean,
/// 20 sat fully tainted (40 tainted sats in); outputs 40 (address X), 25 and 25 (both address
/// Y); fee 10.
fn example(model: TaintModel) -> (Vec<Taint>, Sat) {
    let i1 = t(&[(10, 30)]);
    let i2 = Taint::none();
    let i3 = Taint::full(Sat(20));
    let inputs = [(Sat(50), &i1), (Sat(30), &i2), (Sat(20), &i3)];
    propagate(model, &inputs, &[Sat(40), Sat(25), Sat(25)]).unwrap()
}

fn amounts(taints: &[Taint]) -> Vec<u64> {
    taints.iter().map(|t| t.amount().0).collect()
}

#[test]
fn poison_taints_every_output_and_the_whole_fee() {
    let (outs, fee) = example(TaintModel::Poison);
    assert_eq!(outs, vec![t(&[(0, 40)]), t(&[(0, 25)]), t(&[(0, 25)])]);
    assert_eq!(fee, Sat(10));
}

#[test]
fn haircut_shares_taint_in_proportion_to_value() {
    // 40 * 40 / 100 = 16; 40 * 25 / 100 = 10 twice; the fee keeps 40 - 36 = 4.
    let (outs, fee) = example(TaintModel::Haircut);
    assert_eq!(outs, vec![t(&[(0, 16)]), t(&[(0, 10)]), t(&[(0, 10)])]);
    assert_eq!(fee, Sat(4));
}

#[test]
fn fifo_lays_inputs_in_order_with_the_fee_last() {
    // Line: [10,30) from input 1, [80,100) from input 3. Output 1 = [0,40), output 2 =
    // [40,65), output 3 = [65,90), fee = [90,100).
    let (outs, fee) = example(TaintModel::Fifo);
    assert_eq!(outs, vec![t(&[(10, 30)]), Taint::none(), t(&[(15, 25)])]);
    assert_eq!(fee, Sat(10));
    // Address Y (outputs 2 and 3) receives 10.
    assert_eq!(amounts(&outs), vec![20, 0, 10]);
}

#[test]
fn lifo_lays_inputs_in_reverse_keeping_each_inputs_orientation() {
    // Line: input 3 at [0,20) (all tainted), input 2 at [20,50), input 1 at [50,100) with
    // its taint at [60,80).
    let (outs, fee) = example(TaintModel::Lifo);
    assert_eq!(outs, vec![t(&[(0, 20)]), t(&[(20, 25)]), t(&[(0, 15)])]);
    assert_eq!(fee, Sat(0));
    assert_eq!(amounts(&outs), vec![20, 5, 15]);
}

#[test]
fn fifo_and_lifo_differ_on_partial_taint_inside_an_input() {
    let (fifo, fifo_fee) = example(TaintModel::Fifo);
    let (lifo, lifo_fee) = example(TaintModel::Lifo);
    assert_ne!(amounts(&fifo), amounts(&lifo));
    assert_ne!(fifo_fee, lifo_fee);
}

#[test]
fn tiho_gives_the_tainted_amount_to_the_largest_output() {
    let (outs, fee) = example(TaintModel::Tiho);
    assert_eq!(outs, vec![t(&[(0, 40)]), Taint::none(), Taint::none()]);
    assert_eq!(fee, Sat(0));
}

#[test]
fn tiho_breaks_ties_by_lower_output_index() {
    let i = Taint::full(Sat(50));
    let c = Taint::none();
    let (outs, fee) = propagate(
        TaintModel::Tiho,
        &[(Sat(50), &i), (Sat(50), &c)],
        &[Sat(25), Sat(40), Sat(25)],
    )
    .unwrap();
    assert_eq!(amounts(&outs), vec![10, 40, 0]);
    assert_eq!(fee, Sat(0));
}

#[test]
fn tiho_sends_taint_the_outputs_cannot_take_to_the_fee() {
    // 95 tainted sats, outputs 40 + 25 + 25 = 90: 5 go to the fee of 10.
    let i1 = Taint::full(Sat(50));
    let i2 = Taint::full(Sat(45));
    let i3 = Taint::none();
    let inputs = [(Sat(50), &i1), (Sat(45), &i2), (Sat(5), &i3)];
    let (outs, fee) = propagate(TaintModel::Tiho, &inputs, &[Sat(40), Sat(25), Sat(25)]).unwrap();
    assert_eq!(amounts(&outs), vec![40, 25, 25]);
    assert_eq!(fee, Sat(5));
}

#[test]
fn haircut_floors_each_share_and_the_fee_keeps_the_rest() {
    // 7 of 10 tainted, three outputs of 3: 21/10 floors to 2 each; fee (1 sat) keeps 1.
    let i = t(&[(0, 7)]);
    let (outs, fee) = propagate(
        TaintModel::Haircut,
        &[(Sat(10), &i)],
        &[Sat(3), Sat(3), Sat(3)],
    )
    .unwrap();
    assert_eq!(amounts(&outs), vec![2, 2, 2]);
    assert_eq!(fee, Sat(1));
    // 1 of 3 tainted, no fee: every share floors to 0 and the rounding leftover is the fee's,
    // even though the fee is 0 sat.
    let i = t(&[(2, 3)]);
    let (outs, fee) = propagate(
        TaintModel::Haircut,
        &[(Sat(3), &i)],
        &[Sat(1), Sat(1), Sat(1)],
    )
    .unwrap();
    assert_eq!(amounts(&outs), vec![0, 0, 0]);
    assert_eq!(fee, Sat(1));
}

#[test]
fn haircut_is_exact_for_values_whose_product_overflows_64_bits() {
    // 2.1e15 * 2.1e15 overflows u64; the share must still be exact.
    let v = 2_100_000_000_000_000u64;
    let i = Taint::full(Sat(v));
    let (outs, fee) =
        propagate(TaintModel::Haircut, &[(Sat(v), &i)], &[Sat(v - 3), Sat(1)]).unwrap();
    assert_eq!(amounts(&outs), vec![v - 3, 1]);
    assert_eq!(fee, Sat(2));
}

#[test]
fn zero_taint_in_gives_no_taint_out_under_every_model() {
    let a = Taint::none();
    let b = Taint::none();
    for model in TaintModel::ALL {
        let (outs, fee) =
            propagate(model, &[(Sat(30), &a), (Sat(20), &b)], &[Sat(45), Sat(1)]).unwrap();
        assert!(outs.iter().all(Taint::is_empty), "{model}");
        assert_eq!(fee, Sat(0), "{model}");
    }
}

#[test]
fn outputs_to_the_same_address_stay_separate_coins() {
    // Two equal outputs (same address in the example): FIFO cuts them from different places
    // on the line, so they carry different taints.
    let (outs, _) = example(TaintModel::Fifo);
    assert_ne!(outs[1], outs[2]);
    let (outs, _) = example(TaintModel::Poison);
    assert_eq!(outs[1], outs[2]);
}

#[test]
fn refuses_outputs_exceeding_inputs() {
    let i = Taint::full(Sat(10));
    for model in TaintModel::ALL {
        assert_eq!(
            propagate(model, &[(Sat(10), &i)], &[Sat(6), Sat(5)]),
            Err(TaintError::OutputsExceedInputs {
                inputs: 10,
                outputs: 11
            })
        );
    }
}

#[test]
fn refuses_input_taint_beyond_its_value() {
    let ok = Taint::none();
    let bad = t(&[(5, 12)]);
    let err = propagate(
        TaintModel::Fifo,
        &[(Sat(10), &ok), (Sat(10), &bad)],
        &[Sat(20)],
    );
    assert_eq!(
        err,
        Err(TaintError::InputTaintBeyondValue {
            input: 1,
            end: 12,
            value: 10
        })
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "input 1: taint reaches sat 12 but the coin holds 10 sat"
    );
}

#[test]
fn refuses_value_sums_overflowing_64_bits() {
    let n = Taint::none();
    let err = propagate(TaintModel::Fifo, &[(Sat(u64::MAX), &n), (Sat(1), &n)], &[]);
    assert_eq!(err, Err(TaintError::Overflow { what: "input" }));
}

#[test]
fn no_outputs_sends_all_taint_to_the_fee() {
    let i = t(&[(3, 9)]);
    for model in [
        TaintModel::Haircut,
        TaintModel::Fifo,
        TaintModel::Lifo,
        TaintModel::Tiho,
    ] {
        let (outs, fee) = propagate(model, &[(Sat(10), &i)], &[]).unwrap();
        assert!(outs.is_empty());
        assert_eq!(fee, Sat(6), "{model}");
    }
}

/// A small deterministic generator (xorshift64*), so the property test needs no dependency
/// and fails the same way every time.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in [0, n) (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random taint inside a coin of value `v`: a few random cut points paired up.
fn random_taint(rng: &mut XorShift, v: u64) -> Taint {
    if v == 0 || rng.below(4) == 0 {
        return Taint::none();
    }
    let mut cuts: Vec<u64> = (0..2 * rng.below(4)).map(|_| rng.below(v + 1)).collect();
    cuts.sort_unstable();
    Taint::from_ranges(cuts.chunks(2).map(|c| (c[0], c[1]))).unwrap()
}

#[test]
fn random_transactions_conserve_taint_and_never_overfill_an_output() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for case in 0..3000 {
        let n_in = 1 + rng.below(5) as usize;
        let n_out = rng.below(6) as usize;
        let values: Vec<u64> = (0..n_in).map(|_| rng.below(1_000)).collect();
        let taints: Vec<Taint> = values.iter().map(|v| random_taint(&mut rng, *v)).collect();
        let total_in: u64 = values.iter().sum();
        let tainted: u64 = taints.iter().map(|t| t.amount().0).sum();
        // Outputs: cut the inputs' total at random points, leaving a random fee.
        let mut budget = total_in - rng.below(total_in / 4 + 1);
        let mut outputs = Vec::new();
        for k in 0..n_out {
            let b = if k + 1 == n_out {
                budget
            } else {
                rng.below(budget + 1)
            };
            budget -= b;
            outputs.push(Sat(b));
        }
        let inputs: Vec<(Sat, &Taint)> = values.iter().map(|v| Sat(*v)).zip(&taints).collect();
        for model in TaintModel::ALL {
            let (outs, fee) = propagate(model, &inputs, &outputs).unwrap();
            assert_eq!(outs.len(), outputs.len());
            for (taint, value) in outs.iter().zip(&outputs) {
                assert!(
                    taint.end() <= value.0,
                    "case {case} {model}: {taint:?} > {value}"
                );
            }
            let out_sum: u64 = outs.iter().map(|t| t.amount().0).sum();
            match model {
                TaintModel::Fifo | TaintModel::Lifo | TaintModel::Tiho => {
                    assert_eq!(out_sum + fee.0, tainted, "case {case} {model}");
                }
                TaintModel::Haircut => {
                    assert!(out_sum + fee.0 <= tainted, "case {case} {model}");
                    assert_eq!(
                        out_sum + fee.0,
                        tainted,
                        "case {case}: the fee keeps the rest"
                    );
                }
                TaintModel::Poison => {
                    let expect = if tainted > 0 { total_in } else { 0 };
                    assert_eq!(out_sum + fee.0, expect, "case {case} {model}");
                }
            }
            if matches!(
                model,
                TaintModel::Fifo | TaintModel::Lifo | TaintModel::Tiho
            ) {
                let fee_sats = total_in - outputs.iter().map(|o| o.0).sum::<u64>();
                assert!(
                    fee.0 <= fee_sats,
                    "case {case} {model}: fee taint above the fee"
                );
            }
        }
    }
}

#[test]
fn fifo_and_lifo_agree_on_a_single_input() {
    // With one input there is no order to reverse.
    let mut rng = XorShift(42);
    for _ in 0..500 {
        let v = rng.below(500);
        let taint = random_taint(&mut rng, v);
        let a = rng.below(v + 1);
        let b = rng.below(v - a + 1);
        let inputs = [(Sat(v), &taint)];
        let outputs = [Sat(a), Sat(b)];
        assert_eq!(
            propagate(TaintModel::Fifo, &inputs, &outputs).unwrap(),
            propagate(TaintModel::Lifo, &inputs, &outputs).unwrap()
        );
    }
}
