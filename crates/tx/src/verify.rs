//! The custody-policy check a signer runs before it signs anything.
//!
//! [`verify_psbt`] refuses (returns [`Error::Refused`]) when any of these holds, naming the input
//! or output: the PSBT has no outputs; an output does not pay the custody policy (its script is
//! re-derived from the policy descriptor at the derivation the PSBT claims, and that index must be
//! within a window above the policy's next index); the fee or the fee rate passes its cap; an
//! input lacks `non_witness_utxo` while not being taproot; `non_witness_utxo` is not the
//! transaction the input spends; `witness_utxo` disagrees with it; an input asks for a sighash
//! type other than ALL / DEFAULT that was not explicitly allowed; a prevout is spent twice; a
//! global xpub belongs to another network; and the checks of [`crate::checks`]: an amount or a
//! sum above 21 million BTC, an output below its dust limit, output metadata that is not the
//! custody policy's, taproot script data contradicting the output key, a partial signature that
//! does not verify, an nLockTime far beyond the PSBT's context (unless allowed).
//!
//! When it does not refuse, it returns a [`Review`]: what a human should see before signing.

use std::collections::HashMap;

use bitcoin::{
    bip32::{DerivationPath, Fingerprint},
    psbt::PsbtSighashType,
    secp256k1::Secp256k1,
    sighash::SighashCache,
    Address, Amount, NetworkKind, OutPoint, Psbt, TxOut, Weight,
};
use serde::Serialize;

use crate::{
    checks,
    classify::{classify_input, Spend},
    custody::Custody,
    error::{Refusal, Result},
    weight::{rate_of, vsize, FeeRate, InputKind, SigSize, Vsize},
};

/// Bitcoin Core's default `-maxtxfee`: 0.1 BTC.
pub const DEFAULT_FEE_CAP: Amount = Amount::from_sat(10_000_000);
/// Default fee-rate cap: 1,000 sat/vB.
pub const DEFAULT_FEE_RATE_CAP: FeeRate = FeeRate(1_000_000);
/// How far above the policy's next receive index an output may be.
pub const DEFAULT_INDEX_WINDOW: u32 = 1_000;

/// Limits of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Largest acceptable fee.
    pub fee_cap: Amount,
    /// Largest acceptable fee rate (estimated on the signed size).
    pub fee_rate_cap: FeeRate,
    /// Sighash types allowed beyond ALL / DEFAULT.
    pub allowed_sighash: Vec<PsbtSighashType>,
    /// Window above `next_index` within which custody outputs may be.
    pub index_window: u32,
    /// Accept an nLockTime beyond the PSBT's context (after a human reviewed it).
    pub allow_far_lock_time: bool,
    /// The chain tip height, when the operator knows it; the context height is the larger of
    /// it and what the PSBT's previous transactions prove.
    pub tip_height: Option<u32>,
    /// The signer's clock (unix seconds); `None`: read the system clock.
    pub now_unix: Option<u64>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            fee_cap: DEFAULT_FEE_CAP,
            fee_rate_cap: DEFAULT_FEE_RATE_CAP,
            allowed_sighash: Vec::new(),
            index_window: DEFAULT_INDEX_WINDOW,
            allow_far_lock_time: false,
            tip_height: None,
            now_unix: None,
        }
    }
}

/// One input as reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputReview {
    /// Index.
    pub index: usize,
    /// Prevout.
    pub outpoint: String,
    /// Value (JSON: sat).
    pub value: Amount,
    /// Spent address (or script hex).
    pub address: String,
    /// Kind name.
    pub kind: String,
}

/// One output as reviewed (always custody when the check passed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputReview {
    /// Index.
    pub index: usize,
    /// Value (JSON: sat).
    pub value: Amount,
    /// Address.
    pub address: String,
    /// Custody chain (0 receive, 1 change).
    pub custody_chain: u32,
    /// Custody index.
    pub custody_index: u32,
}

/// What the check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// Unsigned txid.
    pub unsigned_txid: String,
    /// Inputs.
    pub inputs: Vec<InputReview>,
    /// Outputs.
    pub outputs: Vec<OutputReview>,
    /// Sum of inputs (JSON: sat).
    pub input_total: Amount,
    /// Sum of outputs (JSON: sat).
    pub output_total: Amount,
    /// Fee (JSON: sat).
    pub fee: Amount,
    /// Estimated signed weight (JSON: WU).
    pub weight: Weight,
    /// Estimated signed vsize.
    pub vsize: Vsize,
    /// Fee rate, sat/kvB, rounded down.
    pub fee_rate_sat_per_kvb: FeeRate,
    /// The nLockTime in words.
    pub lock_time: String,
}

fn addr(script: &bitcoin::Script, network: bitcoin::Network) -> String {
    Address::from_script(script, network)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| script.to_hex_string())
}

/// The output each input spends, checked: `non_witness_utxo` required unless taproot, txid and
/// vout checked, `witness_utxo` equal to it.
pub fn spent_outputs(psbt: &Psbt) -> Result<Vec<TxOut>> {
    let tx = &psbt.unsigned_tx;
    let mut out = Vec::with_capacity(tx.input.len());
    for (index, (txin, inp)) in tx.input.iter().zip(&psbt.inputs).enumerate() {
        let outpoint = txin.previous_output;
        let txout = match (&inp.non_witness_utxo, &inp.witness_utxo) {
            (Some(prev), wit) => {
                let got = prev.compute_txid();
                if got != outpoint.txid {
                    return Err(Refusal::NonWitnessUtxoTxid {
                        index,
                        outpoint,
                        got,
                    }
                    .into());
                }
                let real =
                    prev.output
                        .get(outpoint.vout as usize)
                        .ok_or(Refusal::NonWitnessUtxoVout {
                            index,
                            vout: outpoint.vout,
                        })?;
                if let Some(w) = wit {
                    if w != real {
                        return Err(Refusal::WitnessUtxoMismatch {
                            index,
                            outpoint,
                            vout: outpoint.vout,
                            witness_value: w.value,
                            witness_script: w.script_pubkey.to_hex_string(),
                            value: real.value,
                            script: real.script_pubkey.to_hex_string(),
                        }
                        .into());
                    }
                }
                real.clone()
            }
            (None, Some(w)) => {
                if !w.script_pubkey.is_p2tr() {
                    return Err(Refusal::MissingNonWitnessUtxo { index, outpoint }.into());
                }
                w.clone()
            }
            (None, None) => return Err(Refusal::MissingUtxo { index, outpoint }.into()),
        };
        out.push(txout);
    }
    Ok(out)
}

/// The spending kind of a PSBT input, for the size estimate. Unknown kinds (and inputs whose
/// script data contradicts the spent script) give `None`: counted without a witness, which can
/// only overestimate the fee rate.
pub fn psbt_input_kind(inp: &bitcoin::psbt::Input, spent: &TxOut) -> Option<InputKind> {
    classify_input(0, inp, spent).ok()?.input_kind(inp)
}

/// Estimated signed weight of a PSBT's transaction.
pub fn estimate_weight(psbt: &Psbt, spent: &[TxOut]) -> Weight {
    let kinds: Vec<Option<InputKind>> = psbt
        .inputs
        .iter()
        .zip(spent)
        .map(|(i, s)| psbt_input_kind(i, s))
        .collect();
    weight_of_kinds(&psbt.unsigned_tx, &kinds)
}

/// Estimated signed weight of `tx` whose inputs are of `kinds` (`None`: unknown).
fn weight_of_kinds(tx: &bitcoin::Transaction, kinds: &[Option<InputKind>]) -> Weight {
    let known: Vec<InputKind> = kinds.iter().flatten().copied().collect();
    let lens: Vec<u64> = tx
        .output
        .iter()
        .map(|o| o.script_pubkey.len() as u64)
        .collect();
    let w = crate::weight::tx_weight(&known, &lens, SigSize::LowR);
    let unknown = kinds.iter().filter(|k| k.is_none()).count() as u64;
    // unknown inputs: outpoint, empty scriptSig, sequence; and count varint growth ignored.
    w + Weight::from_non_witness_data_size(41) * unknown
}

fn allowed(t: PsbtSighashType, taproot: bool, opts: &VerifyOptions) -> bool {
    let raw = t.to_u32();
    raw == 1 || (taproot && raw == 0) || opts.allowed_sighash.contains(&t)
}

fn locate_output(custody: &Custody, out: &bitcoin::psbt::Output) -> Option<(u32, u32)> {
    let mut origins: Vec<(Fingerprint, &DerivationPath)> = out
        .bip32_derivation
        .values()
        .map(|(fp, p)| (*fp, p))
        .collect();
    origins.extend(out.tap_key_origins.values().map(|(_, (fp, p))| (*fp, p)));
    origins
        .into_iter()
        .find_map(|(fp, p)| custody.locate(fp, p))
}

fn check_globals(psbt: &Psbt, custody: &Custody) -> Result<()> {
    let tx = &psbt.unsigned_tx;
    if tx.output.is_empty() {
        return Err(Refusal::NoOutputs.into());
    }
    for (xpub, (fp, path)) in &psbt.xpub {
        if xpub.network != NetworkKind::from(custody.network) {
            let found = if xpub.network == NetworkKind::Main {
                "mainnet"
            } else {
                "a test network"
            };
            return Err(Refusal::NetworkMismatch {
                what: format!("global xpub [{fp}/{path}]"),
                found: found.into(),
                expected: custody.policy.network.to_string(),
            }
            .into());
        }
    }
    let mut seen: HashMap<OutPoint, usize> = HashMap::with_capacity(tx.input.len());
    for (index, txin) in tx.input.iter().enumerate() {
        if let Some(first) = seen.insert(txin.previous_output, index) {
            return Err(Refusal::DuplicateInput {
                index,
                first,
                outpoint: txin.previous_output,
            }
            .into());
        }
    }
    Ok(())
}

/// Inputs as reviewed, their total and their kinds (for the size estimate).
struct InputsReviewed {
    inputs: Vec<InputReview>,
    total: Amount,
    kinds: Vec<Option<InputKind>>,
}

fn review_inputs(
    psbt: &Psbt,
    spent: &[TxOut],
    network: bitcoin::Network,
    opts: &VerifyOptions,
) -> Result<InputsReviewed> {
    let tx = &psbt.unsigned_tx;
    let secp = Secp256k1::verification_only();
    let mut cache = SighashCache::new(tx);
    let mut r = InputsReviewed {
        inputs: Vec::with_capacity(spent.len()),
        total: Amount::ZERO,
        kinds: Vec::with_capacity(spent.len()),
    };
    for (index, ((txin, inp), s)) in tx.input.iter().zip(&psbt.inputs).zip(spent).enumerate() {
        checks::amount_in_range(format!("input {index}"), s.value)?;
        r.total = checks::add_amount(r.total, s.value, "inputs")?;
        let spend: Spend = classify_input(index, inp, s)?;
        if let Spend::P2tr { output_key } = spend {
            checks::taproot_script_data(index, inp, output_key, &secp)?;
        }
        if let Some(t) = inp.sighash_type {
            if !allowed(t, s.script_pubkey.is_p2tr(), opts) {
                return Err(Refusal::SighashNotAllowed {
                    index,
                    sighash: t.to_string(),
                }
                .into());
            }
        }
        checks::partial_signatures(index, inp, &spend, spent, &mut cache, &secp)?;
        let kind = spend.input_kind(inp);
        r.kinds.push(kind);
        r.inputs.push(InputReview {
            index,
            outpoint: txin.previous_output.to_string(),
            value: s.value,
            address: addr(&s.script_pubkey, network),
            kind: kind.map(|k| k.name()).unwrap_or("unknown").to_string(),
        });
    }
    Ok(r)
}

fn review_output(
    index: usize,
    o: &TxOut,
    po: &bitcoin::psbt::Output,
    custody: &Custody,
    opts: &VerifyOptions,
) -> Result<OutputReview> {
    let network = custody.network;
    checks::amount_in_range(format!("output {index}"), o.value)?;
    checks::not_dust(index, o)?;
    let address = addr(&o.script_pubkey, network);
    let not_custody = |reason: String| Refusal::OutputNotCustody {
        index,
        value: o.value,
        address: address.clone(),
        reason,
    };
    let (chain, child) = locate_output(custody, po)
        .ok_or_else(|| not_custody("no derivation from a custody key in the psbt output".into()))?;
    let limit = custody.policy.next_index.saturating_add(opts.index_window);
    if child > limit {
        return Err(Refusal::OutputIndexOutOfRange {
            index,
            chain,
            child,
            next_index: custody.policy.next_index,
            window: opts.index_window,
        }
        .into());
    }
    let desc = custody.at(chain, child)?;
    let expected = desc.script_pubkey();
    if expected != o.script_pubkey {
        return Err(not_custody(format!(
            "script differs from the custody address at {chain}/{child} ({})",
            addr(&expected, network)
        ))
        .into());
    }
    checks::output_metadata(index, o, po, &desc, &format!("{chain}/{child}"))?;
    Ok(OutputReview {
        index,
        value: o.value,
        address,
        custody_chain: chain,
        custody_index: child,
    })
}

fn check_lock_time(psbt: &Psbt, opts: &VerifyOptions) -> Result<()> {
    if opts.allow_far_lock_time {
        return Ok(());
    }
    let context = checks::context_height(psbt).max(opts.tip_height.unwrap_or(0));
    let now = opts.now_unix.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    checks::lock_time(&psbt.unsigned_tx, context, now)?;
    Ok(())
}

/// Runs every check. See the module documentation.
pub fn verify_psbt(psbt: &Psbt, custody: &Custody, opts: &VerifyOptions) -> Result<Review> {
    let tx = &psbt.unsigned_tx;
    check_globals(psbt, custody)?;
    check_lock_time(psbt, opts)?;
    let spent = spent_outputs(psbt)?;
    let reviewed = review_inputs(psbt, &spent, custody.network, opts)?;
    let input_total = reviewed.total;
    let mut outputs = Vec::with_capacity(tx.output.len());
    let mut output_total = Amount::ZERO;
    for (index, (o, po)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        outputs.push(review_output(index, o, po, custody, opts)?);
        output_total = checks::add_amount(output_total, o.value, "outputs")?;
    }
    let fee = input_total
        .checked_sub(output_total)
        .ok_or(Refusal::NegativeFee {
            inputs: input_total,
            outputs: output_total,
        })?;
    if fee > opts.fee_cap {
        return Err(Refusal::FeeAboveCap {
            fee,
            cap: opts.fee_cap,
        }
        .into());
    }
    let weight = weight_of_kinds(tx, &reviewed.kinds);
    let vs = vsize(weight);
    // A rate too large for a u64 is above every cap.
    let rate = rate_of(fee, vs).unwrap_or(FeeRate(u64::MAX));
    if rate > opts.fee_rate_cap {
        return Err(Refusal::FeeRateAboveCap {
            rate,
            cap: opts.fee_rate_cap,
        }
        .into());
    }
    Ok(Review {
        unsigned_txid: tx.compute_txid().to_string(),
        inputs: reviewed.inputs,
        outputs,
        input_total,
        output_total,
        fee,
        weight,
        vsize: vs,
        fee_rate_sat_per_kvb: rate,
        lock_time: checks::lock_time_words(tx),
    })
}

impl Review {
    /// A human summary, one line per input and output.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "transaction {} (unsigned txid)", self.unsigned_txid);
        let _ = writeln!(s, "inputs ({}):", self.inputs.len());
        const SHOWN: usize = 50;
        for i in self.inputs.iter().take(SHOWN) {
            let _ = writeln!(
                s,
                "  #{} {} {} sat {} ({})",
                i.index,
                i.outpoint,
                i.value.to_sat(),
                i.address,
                i.kind
            );
        }
        if self.inputs.len() > SHOWN {
            let _ = writeln!(
                s,
                "  ... {} more input(s) totalling {} sat (all {} inputs: {} sat)",
                self.inputs.len() - SHOWN,
                self.inputs[SHOWN..]
                    .iter()
                    .map(|i| i.value.to_sat())
                    .sum::<u64>(),
                self.inputs.len(),
                self.input_total.to_sat()
            );
        }
        let _ = writeln!(s, "outputs ({}):", self.outputs.len());
        for o in &self.outputs {
            let _ = writeln!(
                s,
                "  #{} {} sat -> {} [CUSTODY {}/{}]",
                o.index,
                o.value.to_sat(),
                o.address,
                o.custody_chain,
                o.custody_index
            );
        }
        let _ = writeln!(s, "lock time: {}", self.lock_time);
        let _ = writeln!(
            s,
            "fee {} sat, {} estimated, {}.{:03} sat/vB",
            self.fee.to_sat(),
            self.vsize,
            self.fee_rate_sat_per_kvb.0 / 1000,
            self.fee_rate_sat_per_kvb.0 % 1000
        );
        s
    }
}
