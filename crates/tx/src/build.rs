//! Building sweep PSBTs from an inventory and a custody policy.
//!
//! Every PSBT is v0 (BIP174) with: version-2 transaction, nLockTime = tip height
//! (anti-fee-sniping), every input's nSequence 0xfffffffd (RBF), `non_witness_utxo` for every
//! non-taproot input (so the signer can check amounts against the real previous transaction),
//! `witness_utxo` for every segwit input, `bip32_derivation` / `tap_key_origins` from the inventory
//! descriptors' key origins, the custody output's `witness_script` / taproot data and derivations
//! (so a signer can prove the destination), and the custody descriptor's global xpubs.

use std::{collections::HashMap, str::FromStr};

use bitcoin::{
    absolute::LockTime, consensus::encode::deserialize, transaction::Version, Amount, OutPoint,
    Psbt, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Weight, Witness,
};
use custos_core::inventory::{CustodyPolicy, Inventory, InventoryUtxo};
use miniscript::{
    descriptor::{DefiniteDescriptorKey, DescriptorPublicKey, ShInner},
    psbt::{PsbtInputExt, PsbtOutputExt},
    Descriptor,
};
use serde::Serialize;

use crate::{
    custody::{Custody, RECEIVE},
    error::{Error, Result},
    plan::{plan_sweep, Batch, LeftOut, PlanParams, PlanUtxo, SweepPlan},
    weight::{rate_of, FeeRate, InputKind, Vsize},
};

/// A UTXO of the inventory, parsed and checked against its previous transaction.
#[derive(Debug, Clone)]
pub struct SweepUtxo {
    /// Outpoint.
    pub outpoint: OutPoint,
    /// The output being spent.
    pub txout: TxOut,
    /// Spending kind.
    pub kind: InputKind,
    /// Definite descriptor of the output.
    pub descriptor: Descriptor<DefiniteDescriptorKey>,
    /// Funding transaction.
    pub prev_tx: Transaction,
}

/// The spending kind of a definite single-key descriptor.
/// (The reason becomes an [`Error::Utxo`] naming the outpoint in [`parse_utxo_with`].)
pub(crate) fn input_kind(
    d: &Descriptor<DefiniteDescriptorKey>,
) -> std::result::Result<InputKind, String> {
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    match d.derived_descriptor(&secp) {
        Descriptor::Pkh(p) => Ok(if p.as_inner().compressed {
            InputKind::P2pkhCompressed
        } else {
            InputKind::P2pkhUncompressed
        }),
        Descriptor::Wpkh(_) => Ok(InputKind::P2wpkh),
        Descriptor::Sh(sh) => match sh.as_inner() {
            ShInner::Wpkh(_) => Ok(InputKind::P2shP2wpkh),
            _ => Err("only sh(wpkh(...)) is supported inside sh()".into()),
        },
        Descriptor::Tr(tr) => {
            if tr.tap_tree().is_some() {
                Err("taproot with a script tree is not supported for seized inputs".into())
            } else {
                Ok(InputKind::P2trKeyPath)
            }
        }
        _ => Err("unsupported descriptor type for a seized input (supported: pkh, wpkh, sh(wpkh), tr(key))".into()),
    }
}

/// The outpoint, spent output and funding transaction of a v1 inventory UTXO (funding
/// transaction inline in `prev_tx`): see [`parse_prevout_with`].
pub fn parse_prevout(u: &InventoryUtxo) -> Result<(OutPoint, TxOut, Transaction)> {
    parse_prevout_with(u, &u.prev_tx)
}

/// The funding transaction of an inventory UTXO as hex: inline in a v1 inventory, in
/// `transactions` by txid in v2.
pub fn funding_tx_hex<'a>(inventory: &'a Inventory, u: &'a InventoryUtxo) -> Result<&'a str> {
    inventory.prev_tx_hex(u).ok_or_else(|| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason: "the inventory holds no funding transaction for it (no prev_tx, no entry in transactions)".into(),
    })
}

/// Parses and checks one inventory UTXO of either inventory version: see [`parse_utxo_with`].
pub fn parse_inventory_utxo(inventory: &Inventory, u: &InventoryUtxo) -> Result<SweepUtxo> {
    parse_utxo_with(u, funding_tx_hex(inventory, u)?)
}

/// The outpoint, spent output and funding transaction of an inventory UTXO, checked: the
/// funding transaction hashes to the outpoint's txid and its output has the inventory's value
/// and script.
pub fn parse_prevout_with(
    u: &InventoryUtxo,
    prev_tx_hex: &str,
) -> Result<(OutPoint, TxOut, Transaction)> {
    let bad = |reason: String| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason,
    };
    let outpoint =
        OutPoint::from_str(&u.outpoint).map_err(|e| bad(format!("invalid outpoint: {e}")))?;
    let raw =
        hex::decode(prev_tx_hex.trim()).map_err(|e| bad(format!("prev_tx is not hex: {e}")))?;
    let prev_tx: Transaction =
        deserialize(&raw).map_err(|e| bad(format!("prev_tx does not parse: {e}")))?;
    let txid = prev_tx.compute_txid();
    if txid != outpoint.txid {
        return Err(bad(format!(
            "prev_tx hashes to {txid}, not the outpoint's txid"
        )));
    }
    let txout = prev_tx
        .output
        .get(outpoint.vout as usize)
        .cloned()
        .ok_or_else(|| bad(format!("prev_tx has no output {}", outpoint.vout)))?;
    if txout.value.to_sat() != u.value.0 {
        return Err(bad(format!(
            "inventory says {} sat, prev_tx output says {} sat",
            u.value.0,
            txout.value.to_sat()
        )));
    }
    let spk = ScriptBuf::from_hex(u.script_pubkey.trim())
        .map_err(|e| bad(format!("script_pubkey is not hex: {e}")))?;
    if spk != txout.script_pubkey {
        return Err(bad(
            "inventory script_pubkey differs from prev_tx output".into()
        ));
    }
    Ok((outpoint, txout, prev_tx))
}

/// The definite descriptor an inventory UTXO names (no wildcard, no multipath).
pub fn utxo_descriptor(u: &InventoryUtxo) -> Result<Descriptor<DefiniteDescriptorKey>> {
    let d = Descriptor::<DescriptorPublicKey>::from_str(&u.descriptor).map_err(|e| {
        Error::Descriptor {
            descriptor: u.descriptor.clone(),
            reason: e.to_string(),
        }
    })?;
    let bad = |reason: String| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason,
    };
    if d.has_wildcard() || d.is_multipath() {
        return Err(bad("descriptor must be definite (no /* or <a;b>)".into()));
    }
    d.at_derivation_index(0)
        .map_err(|e| bad(format!("descriptor: {e}")))
}

/// Parses and checks one UTXO of a v1 inventory (funding transaction inline in `prev_tx`).
pub fn parse_utxo(u: &InventoryUtxo) -> Result<SweepUtxo> {
    parse_utxo_with(u, &u.prev_tx)
}

/// Parses and checks one inventory UTXO: its outpoint, its funding transaction (txid must match,
/// output must exist with the same value and script), its descriptor (must produce that script).
pub fn parse_utxo_with(u: &InventoryUtxo, prev_tx_hex: &str) -> Result<SweepUtxo> {
    let (outpoint, txout, prev_tx) = parse_prevout_with(u, prev_tx_hex)?;
    let bad = |reason: String| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason,
    };
    let descriptor = utxo_descriptor(u)?;
    if descriptor.script_pubkey() != txout.script_pubkey {
        return Err(bad(format!(
            "descriptor {} does not produce the output script",
            u.descriptor
        )));
    }
    let kind = input_kind(&descriptor).map_err(bad)?;
    Ok(SweepUtxo {
        outpoint,
        txout,
        kind,
        descriptor,
        prev_tx,
    })
}

/// Parameters of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepParams {
    /// Planning parameters (fee rate, weight limit, signature size). The output script length is
    /// taken from the custody policy.
    pub plan: PlanParams,
    /// Current tip height: the nLockTime of every transaction.
    pub tip_height: u32,
}

/// One built transaction.
#[derive(Debug, Clone)]
pub struct SweepTx {
    /// The PSBT.
    pub psbt: Psbt,
    /// Summary.
    pub summary: SweepTxSummary,
}

/// Summary of one built transaction (printed and recorded in the case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepTxSummary {
    /// 1-based batch number.
    pub batch: usize,
    /// Unsigned txid (final txid when every input is segwit).
    pub unsigned_txid: String,
    /// Number of inputs.
    pub inputs: usize,
    /// Input kinds and counts, e.g. `p2wpkh: 12`.
    pub input_kinds: Vec<(String, usize)>,
    /// Sum of inputs (JSON: sat).
    pub input_total: Amount,
    /// Custody output value (JSON: sat).
    pub output_value: Amount,
    /// Custody address.
    pub custody_address: String,
    /// Custody receive index.
    pub custody_index: u32,
    /// Fee (JSON: sat).
    pub fee: Amount,
    /// Fee rate, sat/kvB (rounded down).
    pub fee_rate_sat_per_kvb: FeeRate,
    /// Estimated weight when signed (JSON: WU).
    pub weight: Weight,
    /// Estimated vsize when signed.
    pub vsize: Vsize,
}

/// A whole sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The plan it was built from.
    pub plan: SweepPlan,
    /// Built transactions.
    pub txs: Vec<SweepTx>,
    /// The custody index the next sweep should start at.
    pub next_index: u32,
}

impl Sweep {
    /// UTXOs left out.
    pub fn left_out(&self) -> &[LeftOut] {
        &self.plan.left_out
    }
}

/// Plans and builds a sweep of every UTXO in `inventory` to `policy`.
pub fn build_sweep(
    inventory: &Inventory,
    policy: &CustodyPolicy,
    params: &SweepParams,
) -> Result<Sweep> {
    if inventory.network != policy.network {
        return Err(Error::Policy(format!(
            "inventory is for {}, custody policy for {}",
            inventory.network, policy.network
        )));
    }
    let custody = Custody::from_policy(policy)?;
    let utxos: Vec<SweepUtxo> = inventory
        .utxos
        .iter()
        .map(|u| parse_inventory_utxo(inventory, u))
        .collect::<Result<_>>()?;
    build_sweep_from(&utxos, &custody, params)
}

/// Phase: the nLockTime of every new transaction, the tip height (anti-fee-sniping, as Bitcoin
/// Core's wallet sets it).
pub fn anti_fee_sniping_lock_time(tip_height: u32) -> Result<LockTime> {
    LockTime::from_height(tip_height)
        .map_err(|e| Error::Policy(format!("tip height {tip_height}: {e}")))
}

/// Phase: the unsigned transaction, version 2, every input signalling RBF (nSequence
/// 0xfffffffd, which also enforces the lock time).
pub fn unsigned_tx(inputs: &[OutPoint], output: Vec<TxOut>, lock_time: LockTime) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time,
        input: inputs
            .iter()
            .map(|o| TxIn {
                previous_output: *o,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output,
    }
}

/// Phase: one PSBT input filled from its UTXO: `non_witness_utxo` unless taproot (the signer
/// checks amounts against the real previous transaction), `witness_utxo` when segwit, and what
/// the descriptor gives (`bip32_derivation`, witness script, taproot leaves and origins).
pub fn fill_input(inp: &mut bitcoin::psbt::Input, u: &SweepUtxo) -> Result<()> {
    if !u.kind.is_taproot() {
        inp.non_witness_utxo = Some(u.prev_tx.clone());
    }
    if u.kind.is_segwit() {
        inp.witness_utxo = Some(u.txout.clone());
    }
    inp.update_with_descriptor_unchecked(&u.descriptor)
        .map_err(|e| Error::Descriptor {
            descriptor: u.descriptor.to_string(),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Phase: one PSBT output filled from the descriptor it pays (custody or change), so a signer
/// can prove where it goes.
pub fn fill_output(
    out: &mut bitcoin::psbt::Output,
    d: &Descriptor<DefiniteDescriptorKey>,
) -> Result<()> {
    out.update_with_descriptor_unchecked(d)
        .map_err(|e| Error::Descriptor {
            descriptor: d.to_string(),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Phase: the PSBT of `tx` with every input filled from `utxos` (in the transaction's input
/// order) and the custody policy's global xpubs.
pub fn psbt_for(tx: Transaction, utxos: &[&SweepUtxo], custody: &Custody) -> Result<Psbt> {
    let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|e| Error::PsbtParse(e.to_string()))?;
    for (inp, u) in psbt.inputs.iter_mut().zip(utxos) {
        fill_input(inp, u)?;
    }
    psbt.xpub = custody.global_xpubs();
    Ok(psbt)
}

/// Input kinds and how many of each, in first-seen order (`p2wpkh: 12`).
pub fn kind_counts(kinds: impl IntoIterator<Item = InputKind>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for k in kinds {
        match counts.iter_mut().find(|(n, _)| n == k.name()) {
            Some((_, c)) => *c += 1,
            None => counts.push((k.name().to_string(), 1)),
        }
    }
    counts
}

/// The address of a script on `network`, or its hex when it has none.
pub fn address_of(script: &bitcoin::Script, network: bitcoin::Network) -> String {
    bitcoin::Address::from_script(script, network)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| script.to_hex_string())
}

/// Phase: plans the sweep (custody output script length from the policy) and refuses a plan
/// with nothing economic to sweep.
fn plan_for(utxos: &[SweepUtxo], custody: &Custody, params: &SweepParams) -> Result<SweepPlan> {
    if utxos.is_empty() {
        return Err(Error::NothingToSweep("the inventory has no utxos".into()));
    }
    let mut plan_params = params.plan;
    plan_params.output_script_len = custody.script_len()?;
    let plan_in: Vec<PlanUtxo> = utxos
        .iter()
        .map(|u| PlanUtxo {
            outpoint: u.outpoint,
            value: u.txout.value,
            kind: u.kind,
        })
        .collect();
    let plan = plan_sweep(&plan_in, &plan_params)?;
    if plan.batches.is_empty() {
        return Err(Error::NothingToSweep(format!(
            "all {} utxos ({} sat) are uneconomic at {} sat/kvB",
            plan.left_out.len(),
            plan.left_out_total.to_sat(),
            plan_params.fee_rate.0
        )));
    }
    Ok(plan)
}

/// Phase: one batch of the plan built into a PSBT paying custody receive index `index`.
fn build_batch(
    bi: usize,
    batch: &Batch,
    by_outpoint: &HashMap<OutPoint, &SweepUtxo>,
    custody: &Custody,
    index: u32,
    lock_time: LockTime,
) -> Result<SweepTx> {
    let out_desc = custody.at(RECEIVE, index)?;
    let out_spk = out_desc.script_pubkey();
    let outpoints: Vec<OutPoint> = batch.inputs.iter().map(|u| u.outpoint).collect();
    let tx = unsigned_tx(
        &outpoints,
        vec![TxOut {
            value: batch.output_value,
            script_pubkey: out_spk.clone(),
        }],
        lock_time,
    );
    let unsigned_txid = tx.compute_txid().to_string();
    let utxos: Vec<&SweepUtxo> = outpoints
        .iter()
        .map(|o| {
            by_outpoint.get(o).copied().ok_or_else(|| Error::Utxo {
                outpoint: o.to_string(),
                reason: "planned utxo missing from input set".into(),
            })
        })
        .collect::<Result<_>>()?;
    let mut psbt = psbt_for(tx, &utxos, custody)?;
    fill_output(&mut psbt.outputs[0], &out_desc)?;
    Ok(SweepTx {
        psbt,
        summary: SweepTxSummary {
            batch: bi + 1,
            unsigned_txid,
            inputs: batch.inputs.len(),
            input_kinds: kind_counts(batch.inputs.iter().map(|u| u.kind)),
            input_total: batch.input_total,
            output_value: batch.output_value,
            custody_address: address_of(&out_spk, custody.network),
            custody_index: index,
            fee: batch.fee,
            fee_rate_sat_per_kvb: rate_of(batch.fee, batch.vsize).ok_or_else(|| {
                Error::AmountOverflow {
                    what: format!("fee rate of batch {}", bi + 1),
                }
            })?,
            weight: batch.weight,
            vsize: batch.vsize,
        },
    })
}

/// Plans and builds a sweep of already-parsed UTXOs: [`plan_for`], then [`build_batch`] for
/// each batch at the next custody receive index.
pub fn build_sweep_from(
    utxos: &[SweepUtxo],
    custody: &Custody,
    params: &SweepParams,
) -> Result<Sweep> {
    let lock_time = anti_fee_sniping_lock_time(params.tip_height)?;
    let plan = plan_for(utxos, custody, params)?;
    let by_outpoint: HashMap<OutPoint, &SweepUtxo> =
        utxos.iter().map(|u| (u.outpoint, u)).collect();
    let mut txs = Vec::with_capacity(plan.batches.len());
    let mut index = custody.policy.next_index;
    for (bi, batch) in plan.batches.iter().enumerate() {
        txs.push(build_batch(
            bi,
            batch,
            &by_outpoint,
            custody,
            index,
            lock_time,
        )?);
        index = index
            .checked_add(1)
            .ok_or_else(|| Error::Policy("custody index overflow".into()))?;
    }
    Ok(Sweep {
        plan,
        txs,
        next_index: index,
    })
}
