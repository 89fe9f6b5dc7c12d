//! Exact transaction weight estimation, the way Bitcoin Core's wallet estimates it.
//!
//! An ECDSA signature in DER with its sighash byte is 71 bytes when R is low (Core grinds for low
//! R on every signature it makes, and so does custos) and at most 72 bytes otherwise (Core's
//! `DUMMY_MAXIMUM_SIGNATURE_CREATOR`, used for external signers). A BIP340 signature with the
//! default sighash is 64 bytes. Weight is counted in weight units (WU): non-witness bytes × 4 plus
//! witness bytes; virtual size is `ceil(weight / 4)`.
//!
//! Units are types: weights are [`Weight`], virtual sizes [`Vsize`], fees [`Amount`] and fee
//! rates [`FeeRate`] (sat per 1000 vbytes, exact to 0.001 sat/vB, which `bitcoin::FeeRate` in
//! sat/kWU cannot hold). Rounding is documented where it happens: a virtual size and a fee from
//! a rate round up; a rate from a fee rounds down. Swapping the arguments of a fee helper does
//! not compile.

use std::fmt;

use bitcoin::{blockdata::script::Instruction, opcodes::all as op, Amount, Script, Weight};
pub use custos_core::source::SatPerKvb as FeeRate;

/// A virtual size in vbytes: `ceil(weight / 4)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Vsize(pub u64);

impl Vsize {
    /// The virtual size of `weight`, rounded up (as Bitcoin Core's `GetVirtualTransactionSize`).
    pub const fn from_weight(weight: Weight) -> Vsize {
        Vsize(weight.to_vbytes_ceil())
    }

    /// The number of vbytes.
    pub const fn to_vb(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Vsize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} vB", self.0)
    }
}

/// Which signature size to assume for ECDSA signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigSize {
    /// 71 bytes with sighash byte: low R, as custos-signer and Bitcoin Core's wallet make them.
    #[default]
    LowR,
    /// 72 bytes with sighash byte: the largest a standard low-S signature can be.
    Max,
}

impl SigSize {
    /// Bytes of a DER signature plus its sighash byte.
    pub fn ecdsa_len(self) -> u64 {
        match self {
            SigSize::LowR => 71,
            SigSize::Max => 72,
        }
    }
}

/// The kind of an input, as far as its spending size is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// P2PKH with a compressed key (33 bytes).
    P2pkhCompressed,
    /// P2PKH with an uncompressed key (65 bytes), as old WIF keys have.
    P2pkhUncompressed,
    /// P2WPKH nested in P2SH.
    P2shP2wpkh,
    /// Native P2WPKH.
    P2wpkh,
    /// P2TR key path, default sighash (64-byte signature).
    P2trKeyPath,
    /// P2WSH with a bare (sorted)multi script: `k` signatures of `n` keys.
    P2wshMulti {
        /// Threshold.
        k: u8,
        /// Keys.
        n: u8,
    },
    /// P2TR script path through a single `multi_a(k, n keys)` leaf (the taproot custody
    /// wallet `tr(NUMS, multi_a)`): `k` BIP340 signatures (default sighash, 64 bytes), `n - k`
    /// empty pushes, the leaf script and a 33-byte control block (one leaf, no path).
    P2trMultiA {
        /// Threshold.
        k: u16,
        /// Keys.
        n: u16,
    },
}

impl InputKind {
    /// Whether the input has a witness.
    pub fn is_segwit(self) -> bool {
        !matches!(
            self,
            InputKind::P2pkhCompressed | InputKind::P2pkhUncompressed
        )
    }

    /// Whether the input spends a taproot output (no `non_witness_utxo` needed: BIP341 commits
    /// to every spent amount).
    pub fn is_taproot(self) -> bool {
        matches!(self, InputKind::P2trKeyPath | InputKind::P2trMultiA { .. })
    }

    /// Length of the scriptSig when signed.
    pub fn script_sig_len(self, sig: SigSize) -> u64 {
        let s = sig.ecdsa_len();
        match self {
            InputKind::P2pkhCompressed => 1 + s + 1 + 33,
            InputKind::P2pkhUncompressed => 1 + s + 1 + 65,
            InputKind::P2shP2wpkh => 1 + 22,
            _ => 0,
        }
    }

    /// Serialized witness length (stack item count included), 0 for non-segwit inputs.
    pub fn witness_len(self, sig: SigSize) -> u64 {
        let s = sig.ecdsa_len();
        match self {
            InputKind::P2pkhCompressed | InputKind::P2pkhUncompressed => 0,
            InputKind::P2shP2wpkh | InputKind::P2wpkh => 1 + (1 + s) + (1 + 33),
            InputKind::P2trKeyPath => 1 + 1 + 64,
            InputKind::P2wshMulti { k, n } => {
                let script = multisig_script_len(n);
                let items = 1 + u64::from(k) + 1;
                varint_len(items) + 1 + u64::from(k) * (1 + s) + varint_len(script) + script
            }
            InputKind::P2trMultiA { k, n } => {
                let script = multi_a_script_len(k, n);
                let (k, n) = (u64::from(k), u64::from(n));
                let items = n + 2;
                varint_len(items)
                    + k * (1 + 64)
                    + n.saturating_sub(k)
                    + varint_len(script)
                    + script
                    + 1
                    + 33
            }
        }
    }

    /// Weight of the input inside a transaction: non-witness part × 4 plus its witness. A
    /// non-segwit input in a segwit transaction adds one more WU (its empty witness), counted by
    /// [`tx_weight`], not here.
    pub fn weight(self, sig: SigSize) -> Weight {
        let ss = self.script_sig_len(sig);
        Weight::from_non_witness_data_size(32 + 4 + varint_len(ss) + ss + 4)
            + Weight::from_witness_data_size(self.witness_len(sig))
    }

    /// The marginal weight this input adds to a segwit transaction (what a sweep pays for it).
    pub fn marginal_weight(self, sig: SigSize) -> Weight {
        self.weight(sig) + Weight::from_wu(u64::from(!self.is_segwit()))
    }

    /// Short name (for summaries and JSON).
    pub fn name(self) -> &'static str {
        match self {
            InputKind::P2pkhCompressed => "p2pkh",
            InputKind::P2pkhUncompressed => "p2pkh-uncompressed",
            InputKind::P2shP2wpkh => "p2sh-p2wpkh",
            InputKind::P2wpkh => "p2wpkh",
            InputKind::P2trKeyPath => "p2tr",
            InputKind::P2wshMulti { .. } => "p2wsh-multisig",
            InputKind::P2trMultiA { .. } => "p2tr-multi_a",
        }
    }
}

/// Length of `OP_k <n × 33-byte keys> OP_n OP_CHECKMULTISIG`.
fn multisig_script_len(n: u8) -> u64 {
    3 + 34 * u64::from(n)
}

/// Length of a `multi_a` leaf: `<key> OP_CHECKSIG (<key> OP_CHECKSIGADD)* <k> OP_NUMEQUAL`,
/// each key a 32-byte push (33 bytes), `k` a minimal number push.
fn multi_a_script_len(k: u16, n: u16) -> u64 {
    let k_push = match k {
        0..=16 => 1,
        17..=127 => 2,
        _ => 3,
    };
    34 * u64::from(n) + k_push + 1
}

/// Bitcoin's CompactSize length.
pub fn varint_len(n: u64) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Weight of an output paying a script of `script_len` bytes.
pub fn output_weight(script_len: u64) -> Weight {
    Weight::from_non_witness_data_size(8 + varint_len(script_len) + script_len)
}

/// Exact weight of a version-2 transaction with these inputs (signed as `sig` says) and outputs
/// (given by their script lengths).
pub fn tx_weight(inputs: &[InputKind], output_script_lens: &[u64], sig: SigSize) -> Weight {
    let any_segwit = inputs.iter().any(|k| k.is_segwit());
    let mut w = Weight::from_non_witness_data_size(
        4 + 4 + varint_len(inputs.len() as u64) + varint_len(output_script_lens.len() as u64),
    );
    for k in inputs {
        w += k.weight(sig);
        if any_segwit && !k.is_segwit() {
            w += Weight::from_wu(1);
        }
    }
    for l in output_script_lens {
        w += output_weight(*l);
    }
    if any_segwit {
        w += Weight::from_wu(2);
    }
    w
}

/// Virtual size: `ceil(weight / 4)`.
pub fn vsize(weight: Weight) -> Vsize {
    Vsize::from_weight(weight)
}

/// Fee for `vsize` at `rate`, rounded up (as Core's `CFeeRate::GetFee`). `None` when the fee
/// does not fit in a `u64` of satoshis.
///
/// ```
/// use custos_tx::weight::{fee_for_vsize, FeeRate, Vsize};
/// let fee = fee_for_vsize(Vsize(141), FeeRate(1_500));
/// assert_eq!(fee, Some(bitcoin::Amount::from_sat(212)));
/// ```
///
/// Swapped arguments do not compile:
///
/// ```compile_fail
/// use custos_tx::weight::{fee_for_vsize, FeeRate, Vsize};
/// let fee = fee_for_vsize(FeeRate(1_500), Vsize(141));
/// ```
pub fn fee_for_vsize(vsize: Vsize, rate: FeeRate) -> Option<Amount> {
    let v = u128::from(vsize.0) * u128::from(rate.0);
    u64::try_from(v.div_ceil(1000)).ok().map(Amount::from_sat)
}

/// Fee for `weight` at `rate`, rounded up, without rounding the weight to vbytes first (the
/// marginal cost of one input). `None` when the fee does not fit in a `u64` of satoshis.
pub fn fee_for_weight(weight: Weight, rate: FeeRate) -> Option<Amount> {
    let v = u128::from(weight.to_wu()) * u128::from(rate.0);
    u64::try_from(v.div_ceil(4000)).ok().map(Amount::from_sat)
}

/// The fee rate of `fee` over `vsize`, rounded down (so a cap compared against it is never
/// passed by rounding), 0 for an empty size. `None` when the rate does not fit in a `u64`.
///
/// ```compile_fail
/// use custos_tx::weight::{rate_of, Vsize};
/// let rate = rate_of(Vsize(141), bitcoin::Amount::from_sat(212));
/// ```
pub fn rate_of(fee: Amount, vsize: Vsize) -> Option<FeeRate> {
    if vsize.0 == 0 {
        return Some(FeeRate(0));
    }
    u64::try_from(u128::from(fee.to_sat()) * 1000 / u128::from(vsize.0))
        .ok()
        .map(FeeRate)
}

/// Parses a `multi_a` leaf script (`<k1> OP_CHECKSIG <k2> OP_CHECKSIGADD … <k> OP_NUMEQUAL`,
/// x-only keys) into `(k, n)`.
pub fn parse_multi_a(script: &Script) -> Option<(u16, u16)> {
    let ins: Vec<Instruction> = script.instructions().collect::<Result<_, _>>().ok()?;
    if ins.len() < 4 || !ins.len().is_multiple_of(2) {
        return None;
    }
    let n = (ins.len() - 2) / 2;
    for (j, pair) in ins[..2 * n].chunks(2).enumerate() {
        let op_ok = if j == 0 {
            pair[1] == Instruction::Op(op::OP_CHECKSIG)
        } else {
            pair[1] == Instruction::Op(op::OP_CHECKSIGADD)
        };
        match &pair[0] {
            Instruction::PushBytes(b) if b.len() == 32 && op_ok => {}
            _ => return None,
        }
    }
    if ins[ins.len() - 1] != Instruction::Op(op::OP_NUMEQUAL) {
        return None;
    }
    let k: i64 = match &ins[ins.len() - 2] {
        Instruction::Op(o) => {
            let c = o.to_u8();
            if (op::OP_PUSHNUM_1.to_u8()..=op::OP_PUSHNUM_16.to_u8()).contains(&c) {
                i64::from(c - op::OP_PUSHNUM_1.to_u8() + 1)
            } else {
                return None;
            }
        }
        Instruction::PushBytes(b) => bitcoin::script::read_scriptint(b.as_bytes()).ok()?,
    };
    let k = u16::try_from(k).ok()?;
    let n = u16::try_from(n).ok()?;
    (k >= 1 && k <= n).then_some((k, n))
}

/// Parses a bare `OP_k <keys> OP_n OP_CHECKMULTISIG` script into `(k, n)`.
pub fn parse_multisig(script: &Script) -> Option<(u8, u8)> {
    let ins: Vec<Instruction> = script.instructions().collect::<Result<_, _>>().ok()?;
    if ins.len() < 4 {
        return None;
    }
    let small = |i: &Instruction| -> Option<u8> {
        match i {
            Instruction::Op(o) => {
                let c = o.to_u8();
                (op::OP_PUSHNUM_1.to_u8()..=op::OP_PUSHNUM_16.to_u8())
                    .contains(&c)
                    .then(|| c - op::OP_PUSHNUM_1.to_u8() + 1)
            }
            _ => None,
        }
    };
    let k = small(&ins[0])?;
    let n = small(&ins[ins.len() - 2])?;
    if ins[ins.len() - 1] != Instruction::Op(op::OP_CHECKMULTISIG)
        || usize::from(n) != ins.len() - 3
        || k > n
    {
        return None;
    }
    for i in &ins[1..ins.len() - 2] {
        match i {
            Instruction::PushBytes(b) if b.len() == 33 => {}
            _ => return None,
        }
    }
    Some((k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sizes_match_bitcoin_core_estimates() {
        // Core: p2wpkh input 68 vB (67.75), p2tr key path 57.5 vB, p2pkh 148 vB, p2sh-p2wpkh 91 vB.
        let wu = |k: InputKind, s| k.weight(s).to_wu();
        assert_eq!(wu(InputKind::P2wpkh, SigSize::LowR), 271);
        assert_eq!(wu(InputKind::P2wpkh, SigSize::Max), 272);
        assert_eq!(wu(InputKind::P2trKeyPath, SigSize::LowR), 230);
        assert_eq!(wu(InputKind::P2pkhCompressed, SigSize::Max), 4 * 148);
        assert_eq!(wu(InputKind::P2pkhCompressed, SigSize::LowR), 4 * 147);
        assert_eq!(wu(InputKind::P2pkhUncompressed, SigSize::LowR), 4 * 179);
        assert_eq!(wu(InputKind::P2shP2wpkh, SigSize::LowR), 4 * 64 + 107);
        // 2-of-3 p2wsh: witness 1 + 1 + 2*72 + 1 + 105 = 252.
        assert_eq!(
            InputKind::P2wshMulti { k: 2, n: 3 }.witness_len(SigSize::LowR),
            252
        );
    }

    #[test]
    fn tx_weight_counts_varints_and_segwit_overhead() {
        let tx_weight = |i: &[InputKind], o: &[u64], s| super::tx_weight(i, o, s).to_wu();
        // 1 p2wpkh in, 1 p2wsh out: 4*(10) + 271 + 172 + 2 = 485.
        assert_eq!(tx_weight(&[InputKind::P2wpkh], &[34], SigSize::LowR), 485);
        // legacy only: no marker/flag, no empty witnesses.
        assert_eq!(
            tx_weight(&[InputKind::P2pkhCompressed], &[34], SigSize::LowR),
            4 * 10 + 4 * 147 + 172
        );
        // mixed: the legacy input gets one empty-witness byte.
        assert_eq!(
            tx_weight(
                &[InputKind::P2pkhCompressed, InputKind::P2wpkh],
                &[34],
                SigSize::LowR
            ),
            4 * 10 + 4 * 147 + 1 + 271 + 172 + 2
        );
        // 253 inputs: the count takes 3 bytes.
        let many = vec![InputKind::P2wpkh; 253];
        assert_eq!(
            tx_weight(&many, &[34], SigSize::LowR),
            4 * 12 + 253 * 271 + 172 + 2
        );
    }

    #[test]
    fn fees_round_up_never_down() {
        let sat = Amount::from_sat;
        assert_eq!(fee_for_vsize(Vsize(141), FeeRate(1000)), Some(sat(141)));
        assert_eq!(fee_for_vsize(Vsize(141), FeeRate(1500)), Some(sat(212)));
        assert_eq!(
            fee_for_weight(Weight::from_wu(271), FeeRate(1000)),
            Some(sat(68))
        );
        assert_eq!(rate_of(sat(212), Vsize(141)), Some(FeeRate(1503)));
        assert_eq!(vsize(Weight::from_wu(485)), Vsize(122));
    }

    #[test]
    fn fee_helpers_report_overflow_instead_of_saturating() {
        assert_eq!(fee_for_vsize(Vsize(u64::MAX), FeeRate(u64::MAX)), None);
        assert_eq!(fee_for_weight(Weight::MAX, FeeRate(u64::MAX)), None);
        assert_eq!(rate_of(Amount::MAX, Vsize(1)), None);
        assert_eq!(rate_of(Amount::from_sat(5), Vsize(0)), Some(FeeRate(0)));
    }

    #[test]
    fn parses_multisig_script() {
        let s = bitcoin::ScriptBuf::from_hex(
            "5221022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe42102a0c2c4e5b9b8fe0fd9f3adbce0b3ad1c0d0f1b5a5f2b0cbe6b3e2ba5ae01c80b2103d1c0ac4f79ac2a7ea0e83f0e2a8c0c5e7df0ac1f86f6efc4d4a2c7f4f51c2e6b53ae",
        )
        .unwrap();
        assert_eq!(parse_multisig(&s), Some((2, 3)));
        let p2wpkh =
            bitcoin::ScriptBuf::from_hex("0014751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        assert_eq!(parse_multisig(&p2wpkh), None);
    }
}
