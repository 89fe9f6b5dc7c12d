//! Spending from custody (`custos custody spend`): a PSBT spending custody UTXOs (`wsh(sortedmulti)`
//! or `tr(NUMS, multi_a)`) to given destinations, with change to a custody change address.
//!
//! It shares the sweep's phases ([`crate::build`]): the same nLockTime (tip height,
//! anti-fee-sniping), RBF on every input, `non_witness_utxo` for every non-taproot input, and
//! every field a hardware signer needs — `bip32_derivation` / witness scripts, taproot leaf
//! scripts and `tap_bip32_derivation`s of the inputs and of the change, and the custody policy's
//! global xpubs. A re-custody pays a new custody policy's receive address the same way, with its
//! derivations, so a signer given that policy can prove the output.
//!
//! Every custody input is re-derived from the policy: the inventory's descriptor only says
//! *where* in the policy the output is (its key origins); the script data put in the PSBT is the
//! policy's at that place, and the UTXO's script must be the one it gives.
//!
//! Coin selection: `--to ADDR:all` spends every UTXO and pays no change; otherwise the largest
//! UTXOs are taken first until they pay the destinations, the fee and a change output of at least
//! the custody dust limit; when what is left over would be below it, no change output is made and
//! the remainder (less than the dust limit plus the change output's fee) goes to the fee, which
//! the summary says.

use bitcoin::{Amount, OutPoint, Psbt, ScriptBuf, TxOut, Weight};
use custos_core::inventory::{Inventory, InventoryUtxo};
use miniscript::{descriptor::DefiniteDescriptorKey, psbt::PsbtInputExt, Descriptor, ForEachKey};
use serde::Serialize;

use crate::{
    build::{
        address_of, anti_fee_sniping_lock_time, fill_output, funding_tx_hex, kind_counts,
        parse_prevout_with, psbt_for, unsigned_tx, utxo_descriptor, SweepUtxo,
    },
    checks::dust_limit,
    custody::{Custody, CHANGE, RECEIVE},
    error::{Error, Result},
    plan::{bip69_key, CUSTODY_DUST, MAX_STANDARD_WEIGHT},
    weight::{
        fee_for_vsize, parse_multi_a, parse_multisig, rate_of, tx_weight, vsize, FeeRate,
        InputKind, SigSize, Vsize,
    },
};

/// How much a destination receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayAmount {
    /// Exactly this much.
    Exact(Amount),
    /// Everything the inputs bring, less the fee and the other destinations (at most one).
    All,
}

/// Where one output goes.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Output script.
    pub script_pubkey: ScriptBuf,
    /// Address as given (or of the new custody policy).
    pub address: String,
    /// Amount.
    pub amount: PayAmount,
    /// For a re-custody: the new policy's descriptor at the paid index (its derivations go into
    /// the PSBT output), with the policy name and index.
    pub custody: Option<(Descriptor<DefiniteDescriptorKey>, String, u32)>,
}

impl Destination {
    /// A plain address destination (checked against `network`).
    pub fn address(text: &str, network: bitcoin::Network, amount: PayAmount) -> Result<Self> {
        let bad = |reason: String| Error::Destination {
            address: text.to_string(),
            reason,
        };
        let addr = text
            .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
            .map_err(|e| bad(e.to_string()))?
            .require_network(network)
            .map_err(|_| bad(format!("not an address for {network}")))?;
        Ok(Destination {
            script_pubkey: addr.script_pubkey(),
            address: addr.to_string(),
            amount,
            custody: None,
        })
    }

    /// The next receive address (`next_index`) of another custody policy: a re-custody.
    pub fn recustody(to: &Custody, amount: PayAmount) -> Result<Self> {
        let index = to.policy.next_index;
        let d = to.at(RECEIVE, index)?;
        let script_pubkey = d.script_pubkey();
        Ok(Destination {
            address: address_of(&script_pubkey, to.network),
            script_pubkey,
            amount,
            custody: Some((d, to.policy.name.clone(), index)),
        })
    }
}

/// Parameters of a custody spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendParams {
    /// Fee rate.
    pub fee_rate: FeeRate,
    /// Tip height: the nLockTime.
    pub tip_height: u32,
    /// Largest weight of the transaction.
    pub max_weight: Weight,
    /// Custody change index to pay change to.
    pub change_index: u32,
}

impl SpendParams {
    /// Parameters with the standard weight limit.
    pub fn new(fee_rate: FeeRate, tip_height: u32, change_index: u32) -> SpendParams {
        SpendParams {
            fee_rate,
            tip_height,
            max_weight: MAX_STANDARD_WEIGHT,
            change_index,
        }
    }
}

/// One output of the built spend, as summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendOutput {
    /// Output index.
    pub index: usize,
    /// Address.
    pub address: String,
    /// Value (JSON: sat).
    pub value: Amount,
    /// `destination`, `change` or `recustody`.
    pub role: &'static str,
    /// Custody chain/index for change and re-custody outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custody_path: Option<String>,
}

/// Summary of a custody spend (printed and recorded in the case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendSummary {
    /// Unsigned txid (the final txid: every input is segwit).
    pub unsigned_txid: String,
    /// Inputs spent, in transaction order.
    pub inputs: Vec<String>,
    /// Input kinds and counts.
    pub input_kinds: Vec<(String, usize)>,
    /// Sum of inputs (JSON: sat).
    pub input_total: Amount,
    /// Outputs.
    pub outputs: Vec<SpendOutput>,
    /// Fee (JSON: sat).
    pub fee: Amount,
    /// Of the fee, what was left over below the dust limit and given to the fee instead of a
    /// change output (JSON: sat).
    pub fee_from_dropped_change: Amount,
    /// Fee rate, sat/kvB, rounded down.
    pub fee_rate_sat_per_kvb: FeeRate,
    /// Estimated weight when signed.
    pub weight: Weight,
    /// Estimated vsize when signed.
    pub vsize: Vsize,
    /// The nLockTime (tip height).
    pub lock_time: u32,
    /// The change index the next spend should use (unchanged when no change was paid).
    pub next_change_index: u32,
}

/// A built custody spend.
#[derive(Debug, Clone)]
pub struct CustodySpend {
    /// The PSBT.
    pub psbt: Psbt,
    /// Summary.
    pub summary: SpendSummary,
}

/// Where a custody UTXO sits in the policy: `(chain, index)` found from the key origins of its
/// inventory descriptor.
fn locate_descriptor(
    d: &Descriptor<DefiniteDescriptorKey>,
    custody: &Custody,
) -> Option<(u32, u32)> {
    let mut found = None;
    d.for_each_key(|k| {
        if found.is_none() {
            if let Some(path) = k.full_derivation_path() {
                found = custody.locate(k.master_fingerprint(), &path);
            }
        }
        true
    });
    found
}

/// The spending kind of a custody descriptor: `wsh(multi)` or a `multi_a` leaf of taproot.
fn custody_kind(d: &Descriptor<DefiniteDescriptorKey>) -> Option<InputKind> {
    let mut probe = bitcoin::psbt::Input::default();
    probe.update_with_descriptor_unchecked(d).ok()?;
    if let Some(ws) = &probe.witness_script {
        return parse_multisig(ws).map(|(k, n)| InputKind::P2wshMulti { k, n });
    }
    probe
        .tap_scripts
        .values()
        .filter_map(|(s, _)| parse_multi_a(s))
        .min_by_key(|(k, _)| *k)
        .map(|(k, n)| InputKind::P2trMultiA { k, n })
}

/// Parses an inventory UTXO of the custody wallet: checks its funding transaction, finds its
/// place in the policy from its descriptor's key origins and takes the policy's descriptor there
/// (which must produce the UTXO's script).
pub fn custody_utxo(u: &InventoryUtxo, custody: &Custody) -> Result<SweepUtxo> {
    custody_utxo_with(u, &u.prev_tx, custody)
}

/// [`custody_utxo`] for a UTXO of either inventory version (its funding transaction inline, or
/// stored once in the inventory's `transactions`).
pub fn custody_utxo_in(
    inventory: &Inventory,
    u: &InventoryUtxo,
    custody: &Custody,
) -> Result<SweepUtxo> {
    custody_utxo_with(u, funding_tx_hex(inventory, u)?, custody)
}

fn custody_utxo_with(u: &InventoryUtxo, prev_tx_hex: &str, custody: &Custody) -> Result<SweepUtxo> {
    let (outpoint, txout, prev_tx) = parse_prevout_with(u, prev_tx_hex)?;
    let bad = |reason: String| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason,
    };
    let named = utxo_descriptor(u)?;
    let (chain, index) = locate_descriptor(&named, custody).ok_or_else(|| {
        bad("its descriptor has no key at a custody key's origin: not a custody output".into())
    })?;
    let descriptor = custody.at(chain, index)?;
    if descriptor.script_pubkey() != txout.script_pubkey {
        return Err(bad(format!(
            "the custody policy's script at {chain}/{index} is not the output's script"
        )));
    }
    let kind = custody_kind(&descriptor)
        .ok_or_else(|| bad("custody descriptor is neither wsh(multi) nor a multi_a leaf".into()))?;
    Ok(SweepUtxo {
        outpoint,
        txout,
        kind,
        descriptor,
        prev_tx,
    })
}

/// The chosen inputs and the amounts of the outputs.
struct Selection<'a> {
    inputs: Vec<&'a SweepUtxo>,
    total: Amount,
    /// Values of the destinations, in order.
    values: Vec<Amount>,
    change: Option<Amount>,
    fee: Amount,
    dropped: Amount,
    weight: Weight,
}

fn sum(values: impl IntoIterator<Item = Amount>, what: &str) -> Result<Amount> {
    values
        .into_iter()
        .try_fold(Amount::ZERO, |a, v| a.checked_add(v))
        .ok_or_else(|| Error::AmountOverflow { what: what.into() })
}

fn fee_of(kinds: &[InputKind], outs: &[u64], rate: FeeRate) -> Result<(Weight, Amount)> {
    let w = tx_weight(kinds, outs, SigSize::LowR);
    let fee = fee_for_vsize(vsize(w), rate)
        .ok_or_else(|| Error::AmountOverflow { what: "fee".into() })?;
    Ok((w, fee))
}

/// `--to ADDR:all`: every UTXO, no change.
fn select_all<'a>(
    utxos: &'a [SweepUtxo],
    dests: &[Destination],
    rate: FeeRate,
) -> Result<Selection<'a>> {
    let mut inputs: Vec<&SweepUtxo> = utxos.iter().collect();
    inputs.sort_by_key(|u| bip69_key(&u.outpoint));
    inputs.dedup_by_key(|u| u.outpoint);
    let total = sum(inputs.iter().map(|u| u.txout.value), "inputs")?;
    let kinds: Vec<InputKind> = inputs.iter().map(|u| u.kind).collect();
    let outs: Vec<u64> = dests.iter().map(|d| d.script_pubkey.len() as u64).collect();
    let (weight, fee) = fee_of(&kinds, &outs, rate)?;
    let exact = sum(
        dests.iter().filter_map(|d| match d.amount {
            PayAmount::Exact(a) => Some(a),
            PayAmount::All => None,
        }),
        "destinations",
    )?;
    let rest = exact
        .checked_add(fee)
        .and_then(|need| total.checked_sub(need))
        .ok_or(Error::InsufficientFunds {
            needed: exact.checked_add(fee).unwrap_or(Amount::MAX),
            available: total,
        })?;
    let values = dests
        .iter()
        .map(|d| match d.amount {
            PayAmount::Exact(a) => a,
            PayAmount::All => rest,
        })
        .collect();
    Ok(Selection {
        inputs,
        total,
        values,
        change: None,
        fee,
        dropped: Amount::ZERO,
        weight,
    })
}

/// Exact amounts: largest UTXOs first until destinations, fee and change are paid.
fn select_exact<'a>(
    utxos: &'a [SweepUtxo],
    dests: &[Destination],
    change_len: u64,
    rate: FeeRate,
) -> Result<Selection<'a>> {
    let values: Vec<Amount> = dests
        .iter()
        .map(|d| match d.amount {
            PayAmount::Exact(a) => a,
            PayAmount::All => Amount::ZERO,
        })
        .collect();
    let need = sum(values.iter().copied(), "destinations")?;
    let mut pool: Vec<&SweepUtxo> = utxos.iter().collect();
    pool.sort_by_key(|u| (std::cmp::Reverse(u.txout.value), bip69_key(&u.outpoint)));
    pool.dedup_by_key(|u| u.outpoint);
    let outs: Vec<u64> = dests.iter().map(|d| d.script_pubkey.len() as u64).collect();
    let mut with_change = outs.clone();
    with_change.push(change_len);
    let mut inputs: Vec<&SweepUtxo> = Vec::new();
    let mut kinds: Vec<InputKind> = Vec::new();
    let mut total = Amount::ZERO;
    let mut last_need = need;
    for u in pool {
        inputs.push(u);
        kinds.push(u.kind);
        total = total
            .checked_add(u.txout.value)
            .ok_or_else(|| Error::AmountOverflow {
                what: "inputs".into(),
            })?;
        let (wc, fc) = fee_of(&kinds, &with_change, rate)?;
        if let Some(change) = need.checked_add(fc).and_then(|n| total.checked_sub(n)) {
            if change >= CUSTODY_DUST {
                return Ok(Selection {
                    inputs,
                    total,
                    values,
                    change: Some(change),
                    fee: fc,
                    dropped: Amount::ZERO,
                    weight: wc,
                });
            }
        }
        let (w, f) = fee_of(&kinds, &outs, rate)?;
        if let Some(extra) = need.checked_add(f).and_then(|n| total.checked_sub(n)) {
            return Ok(Selection {
                inputs,
                total,
                values,
                change: None,
                fee: f + extra,
                dropped: extra,
                weight: w,
            });
        }
        last_need = need.checked_add(f).unwrap_or(Amount::MAX);
    }
    Err(Error::InsufficientFunds {
        needed: last_need,
        available: total,
    })
}

fn check_destinations(dests: &[Destination]) -> Result<()> {
    if dests.is_empty() {
        return Err(Error::Destination {
            address: String::new(),
            reason: "no destination given".into(),
        });
    }
    let all = dests.iter().filter(|d| d.amount == PayAmount::All).count();
    if all > 1 {
        return Err(Error::Destination {
            address: String::new(),
            reason: "only one destination may take `all`".into(),
        });
    }
    Ok(())
}

fn check_values(dests: &[Destination], values: &[Amount]) -> Result<()> {
    for (d, v) in dests.iter().zip(values) {
        let limit = dust_limit(&d.script_pubkey);
        if *v < limit {
            return Err(Error::Destination {
                address: d.address.clone(),
                reason: format!(
                    "{} sat is below the dust limit of {} sat",
                    v.to_sat(),
                    limit.to_sat()
                ),
            });
        }
    }
    Ok(())
}

/// Builds the PSBT spending custody UTXOs (from [`custody_utxo`]) to `dests`, change to
/// custody change index `params.change_index`.
pub fn build_custody_spend(
    utxos: &[SweepUtxo],
    custody: &Custody,
    dests: &[Destination],
    params: &SpendParams,
) -> Result<CustodySpend> {
    check_destinations(dests)?;
    if utxos.is_empty() {
        return Err(Error::InsufficientFunds {
            needed: Amount::ZERO,
            available: Amount::ZERO,
        });
    }
    let lock_time = anti_fee_sniping_lock_time(params.tip_height)?;
    let change_desc = custody.at(CHANGE, params.change_index)?;
    let change_spk = change_desc.script_pubkey();
    let mut sel = if dests.iter().any(|d| d.amount == PayAmount::All) {
        select_all(utxos, dests, params.fee_rate)?
    } else {
        select_exact(utxos, dests, change_spk.len() as u64, params.fee_rate)?
    };
    check_values(dests, &sel.values)?;
    if sel.weight > params.max_weight {
        return Err(Error::Destination {
            address: String::new(),
            reason: format!(
                "the spend would weigh {} WU, above the limit of {} WU: spend fewer utxos",
                sel.weight.to_wu(),
                params.max_weight.to_wu()
            ),
        });
    }
    sel.inputs.sort_by_key(|u| bip69_key(&u.outpoint));
    let mut outputs: Vec<TxOut> = dests
        .iter()
        .zip(&sel.values)
        .map(|(d, v)| TxOut {
            value: *v,
            script_pubkey: d.script_pubkey.clone(),
        })
        .collect();
    if let Some(c) = sel.change {
        outputs.push(TxOut {
            value: c,
            script_pubkey: change_spk.clone(),
        });
    }
    let outpoints: Vec<OutPoint> = sel.inputs.iter().map(|u| u.outpoint).collect();
    let tx = unsigned_tx(&outpoints, outputs, lock_time);
    let unsigned_txid = tx.compute_txid().to_string();
    let mut psbt = psbt_for(tx, &sel.inputs, custody)?;
    let mut summary_outs = Vec::with_capacity(psbt.outputs.len());
    for (i, (d, v)) in dests.iter().zip(&sel.values).enumerate() {
        let mut path = None;
        if let Some((desc, name, index)) = &d.custody {
            fill_output(&mut psbt.outputs[i], desc)?;
            path = Some(format!("{name} {RECEIVE}/{index}"));
        }
        summary_outs.push(SpendOutput {
            index: i,
            address: d.address.clone(),
            value: *v,
            role: if d.custody.is_some() {
                "recustody"
            } else {
                "destination"
            },
            custody_path: path,
        });
    }
    let mut next_change_index = params.change_index;
    if let Some(c) = sel.change {
        let i = dests.len();
        fill_output(&mut psbt.outputs[i], &change_desc)?;
        summary_outs.push(SpendOutput {
            index: i,
            address: address_of(&change_spk, custody.network),
            value: c,
            role: "change",
            custody_path: Some(format!("{CHANGE}/{}", params.change_index)),
        });
        next_change_index = params
            .change_index
            .checked_add(1)
            .ok_or_else(|| Error::Policy("custody change index overflow".into()))?;
    }
    let vs = vsize(sel.weight);
    let summary = SpendSummary {
        unsigned_txid,
        inputs: outpoints.iter().map(|o| o.to_string()).collect(),
        input_kinds: kind_counts(sel.inputs.iter().map(|u| u.kind)),
        input_total: sel.total,
        outputs: summary_outs,
        fee: sel.fee,
        fee_from_dropped_change: sel.dropped,
        fee_rate_sat_per_kvb: rate_of(sel.fee, vs).ok_or_else(|| Error::AmountOverflow {
            what: "fee rate".into(),
        })?,
        weight: sel.weight,
        vsize: vs,
        lock_time: params.tip_height,
        next_change_index,
    };
    Ok(CustodySpend { psbt, summary })
}

/// The next unused custody change index given the inventory's used addresses' descriptors: one
/// above the highest change index seen, 0 when none.
pub fn next_change_index<'a>(
    descriptors: impl IntoIterator<Item = &'a str>,
    custody: &Custody,
) -> u32 {
    let mut next = 0u32;
    for text in descriptors {
        let Ok(d) = text.parse::<Descriptor<miniscript::DescriptorPublicKey>>() else {
            continue;
        };
        let Ok(d) = d.at_derivation_index(0) else {
            continue;
        };
        if let Some((CHANGE, i)) = locate_descriptor(&d, custody) {
            next = next.max(i.saturating_add(1));
        }
    }
    next
}
