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
    Address, Amount, NetworkKind, OutPoint, Psbt, ScriptBuf, TxOut, Weight,
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

/// One output as reviewed: custody (of the policy or of a re-custody policy given to the
/// signer), or paid under a disposal order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputReview {
    /// Index.
    pub index: usize,
    /// Value (JSON: sat).
    pub value: Amount,
    /// Address.
    pub address: String,
    /// `custody`, `recustody` or `order`.
    pub destination: &'static str,
    /// The custody policy's name (custody and re-custody outputs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Custody chain (0 receive, 1 change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custody_chain: Option<u32>,
    /// Custody index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custody_index: Option<u32>,
    /// The disposal order that covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// A disposal order the caller has checked (its signatures by policy authorities, its window,
/// its network, whether it was used before), reduced to what an output must match exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderPermit {
    /// The order's id.
    pub order_id: String,
    /// The destination's output script.
    pub script_pubkey: ScriptBuf,
    /// The destination address as the order names it.
    pub address: String,
    /// The exact amount (JSON: sat).
    pub amount: Amount,
    /// Why the order cannot be used (expired, not signed by an authority of the policy, used
    /// for another transaction), when it cannot.
    pub problem: Option<String>,
}

/// What outputs may pay besides the custody policy: another custody policy (a re-custody the
/// operator registered on the signer) and outputs covered by disposal orders.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Re-custody policies.
    pub recustody: Vec<Custody>,
    /// Checked disposal orders.
    pub orders: Vec<OrderPermit>,
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
    /// Ids of the disposal orders that cover outputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orders_used: Vec<String>,
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

/// A custody output of `custody`, checked: its derivation within the window, the script the
/// policy derives there, the metadata the policy gives.
fn review_custody_output(
    index: usize,
    o: &TxOut,
    po: &bitcoin::psbt::Output,
    custody: &Custody,
    (chain, child): (u32, u32),
    opts: &VerifyOptions,
) -> Result<OutputReview> {
    let network = custody.network;
    let address = addr(&o.script_pubkey, network);
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
        return Err(Refusal::OutputNotCustody {
            index,
            value: o.value,
            address,
            reason: format!(
                "script differs from the custody address at {chain}/{child} of \"{}\" ({})",
                custody.policy.name,
                addr(&expected, network)
            ),
        }
        .into());
    }
    checks::output_metadata(index, o, po, &desc, &format!("{chain}/{child}"))?;
    Ok(OutputReview {
        index,
        value: o.value,
        address,
        destination: "custody",
        policy: Some(custody.policy.name.clone()),
        custody_chain: Some(chain),
        custody_index: Some(child),
        order_id: None,
    })
}

/// An output outside every custody policy: covered by exactly one unused, valid order for
/// this script and amount, or refused with the reason.
fn review_order_output(
    index: usize,
    o: &TxOut,
    network: bitcoin::Network,
    orders: &[OrderPermit],
    used: &mut [bool],
) -> Result<OutputReview> {
    let address = addr(&o.script_pubkey, network);
    let refuse = |reason: String| -> crate::Error {
        Refusal::NotCoveredByOrder {
            index,
            value: o.value,
            address: address.clone(),
            reason,
        }
        .into()
    };
    if orders.is_empty() {
        return Err(Refusal::OutputNotCustody {
            index,
            value: o.value,
            address: address.clone(),
            reason:
                "no derivation from a custody key in the psbt output, and no disposal order given"
                    .into(),
        }
        .into());
    }
    let mut problem = None;
    for (i, p) in orders.iter().enumerate() {
        if p.script_pubkey != o.script_pubkey || p.amount != o.value {
            continue;
        }
        if used[i] {
            problem.get_or_insert(format!(
                "order {} already covers another output",
                p.order_id
            ));
            continue;
        }
        match &p.problem {
            Some(why) => {
                problem.get_or_insert(format!("order {}: {why}", p.order_id));
            }
            None => {
                used[i] = true;
                return Ok(OutputReview {
                    index,
                    value: o.value,
                    address,
                    destination: "order",
                    policy: None,
                    custody_chain: None,
                    custody_index: None,
                    order_id: Some(p.order_id.clone()),
                });
            }
        }
    }
    Err(refuse(problem.unwrap_or_else(|| {
        let listed: Vec<String> = orders
            .iter()
            .map(|p| {
                format!(
                    "order {} pays {} sat to {}",
                    p.order_id,
                    p.amount.to_sat(),
                    p.address
                )
            })
            .collect();
        format!(
            "no order is for this address and amount ({})",
            listed.join("; ")
        )
    })))
}

fn review_output(
    index: usize,
    o: &TxOut,
    po: &bitcoin::psbt::Output,
    custody: &Custody,
    dest: &Destinations,
    used: &mut [bool],
    opts: &VerifyOptions,
) -> Result<OutputReview> {
    checks::amount_in_range(format!("output {index}"), o.value)?;
    checks::not_dust(index, o)?;
    if let Some(at) = locate_output(custody, po) {
        return review_custody_output(index, o, po, custody, at, opts);
    }
    for other in &dest.recustody {
        if let Some(at) = locate_output(other, po) {
            let mut r = review_custody_output(index, o, po, other, at, opts)?;
            r.destination = "recustody";
            return Ok(r);
        }
    }
    review_order_output(index, o, custody.network, &dest.orders, used)
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

/// Runs every check, every output paying the custody policy. See the module documentation.
pub fn verify_psbt(psbt: &Psbt, custody: &Custody, opts: &VerifyOptions) -> Result<Review> {
    verify_psbt_with(psbt, custody, &Destinations::default(), opts)
}

/// Runs every check; an output may also pay a re-custody policy of `dest`, or an address under
/// one of its disposal orders (exactly: script and amount; each order covers one output).
pub fn verify_psbt_with(
    psbt: &Psbt,
    custody: &Custody,
    dest: &Destinations,
    opts: &VerifyOptions,
) -> Result<Review> {
    let tx = &psbt.unsigned_tx;
    check_globals(psbt, custody)?;
    check_lock_time(psbt, opts)?;
    let spent = spent_outputs(psbt)?;
    let reviewed = review_inputs(psbt, &spent, custody.network, opts)?;
    let input_total = reviewed.total;
    let mut outputs = Vec::with_capacity(tx.output.len());
    let mut output_total = Amount::ZERO;
    let mut used = vec![false; dest.orders.len()];
    for (index, (o, po)) in tx.output.iter().zip(&psbt.outputs).enumerate() {
        outputs.push(review_output(index, o, po, custody, dest, &mut used, opts)?);
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
        input_total,
        output_total,
        fee,
        weight,
        vsize: vs,
        fee_rate_sat_per_kvb: rate,
        lock_time: checks::lock_time_words(tx),
        orders_used: outputs_orders(&outputs),
        outputs,
    })
}

fn outputs_orders(outputs: &[OutputReview]) -> Vec<String> {
    outputs.iter().filter_map(|o| o.order_id.clone()).collect()
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
            let tag = match (o.order_id.as_deref(), o.custody_chain, o.custody_index) {
                (Some(id), _, _) => format!("DISPOSAL ORDER {id}"),
                (None, Some(c), Some(i)) if o.destination == "recustody" => format!(
                    "NEW CUSTODY \"{}\" {c}/{i}",
                    o.policy.as_deref().unwrap_or("")
                ),
                (None, Some(c), Some(i)) => format!("CUSTODY {c}/{i}"),
                _ => "?".to_string(),
            };
            let _ = writeln!(
                s,
                "  #{} {} sat -> {} [{tag}]",
                o.index,
                o.value.to_sat(),
                o.address
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
