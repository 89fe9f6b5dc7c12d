//! Building sweep PSBTs from an inventory and a custody policy.
//!
//! Every PSBT is v0 (BIP174) with: version-2 transaction, nLockTime = tip height
//! (anti-fee-sniping), every input's nSequence 0xfffffffd (RBF), `non_witness_utxo` for every
//! non-taproot input (so the signer can check amounts against the real previous transaction),
//! `witness_utxo` for every segwit input, `bip32_derivation` / `tap_key_origins` from the inventory
//! descriptors' key origins, the custody output's `witness_script` / taproot data and derivations
//! (so a signer can prove the destination), and the custody descriptor's global xpubs.

use std::str::FromStr;

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
    plan::{plan_sweep, LeftOut, PlanParams, PlanUtxo, SweepPlan},
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
pub fn input_kind(d: &Descriptor<DefiniteDescriptorKey>) -> std::result::Result<InputKind, String> {
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

/// Parses and checks one UTXO of a v1 inventory (funding transaction inline in `prev_tx`): see
/// [`parse_inventory_utxo`].
pub fn parse_utxo(u: &InventoryUtxo) -> Result<SweepUtxo> {
    parse_utxo_with(u, &u.prev_tx)
}

/// Parses and checks one inventory UTXO: its outpoint, its funding transaction (inline in a v1
/// inventory, in `transactions` by txid in v2; txid must match, output must exist with the same
/// value and script), its descriptor (must produce that script).
pub fn parse_inventory_utxo(inventory: &Inventory, u: &InventoryUtxo) -> Result<SweepUtxo> {
    let hex = inventory.prev_tx_hex(u).ok_or_else(|| Error::Utxo {
        outpoint: u.outpoint.clone(),
        reason: "the inventory holds no funding transaction for it (no prev_tx, no entry in transactions)".into(),
    })?;
    parse_utxo_with(u, hex)
}

fn parse_utxo_with(u: &InventoryUtxo, prev_tx_hex: &str) -> Result<SweepUtxo> {
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
    let d = Descriptor::<DescriptorPublicKey>::from_str(&u.descriptor).map_err(|e| {
        Error::Descriptor {
            descriptor: u.descriptor.clone(),
            reason: e.to_string(),
        }
    })?;
    if d.has_wildcard() || d.is_multipath() {
        return Err(bad("descriptor must be definite (no /* or <a;b>)".into()));
    }
    let descriptor = d
        .at_derivation_index(0)
        .map_err(|e| bad(format!("descriptor: {e}")))?;
    if descriptor.script_pubkey() != spk {
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

/// Plans and builds a sweep of already-parsed UTXOs.
pub fn build_sweep_from(
    utxos: &[SweepUtxo],
    custody: &Custody,
    params: &SweepParams,
) -> Result<Sweep> {
    if utxos.is_empty() {
        return Err(Error::NothingToSweep("the inventory has no utxos".into()));
    }
    let lock_time = LockTime::from_height(params.tip_height)
        .map_err(|e| Error::Policy(format!("tip height {}: {e}", params.tip_height)))?;
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
    let by_outpoint: std::collections::HashMap<OutPoint, &SweepUtxo> =
        utxos.iter().map(|u| (u.outpoint, u)).collect();
    let xpubs = custody.global_xpubs();
    let mut txs = Vec::with_capacity(plan.batches.len());
    let mut index = custody.policy.next_index;
    for (bi, batch) in plan.batches.iter().enumerate() {
        let out_desc = custody.at(RECEIVE, index)?;
        let out_spk = out_desc.script_pubkey();
        let tx = Transaction {
            version: Version::TWO,
            lock_time,
            input: batch
                .inputs
                .iter()
                .map(|u| TxIn {
                    previous_output: u.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![TxOut {
                value: batch.output_value,
                script_pubkey: out_spk.clone(),
            }],
        };
        let unsigned_txid = tx.compute_txid().to_string();
        let mut psbt = Psbt::from_unsigned_tx(tx).map_err(|e| Error::PsbtParse(e.to_string()))?;
        for (i, pu) in batch.inputs.iter().enumerate() {
            let u = by_outpoint.get(&pu.outpoint).ok_or_else(|| Error::Utxo {
                outpoint: pu.outpoint.to_string(),
                reason: "planned utxo missing from input set".into(),
            })?;
            let inp = &mut psbt.inputs[i];
            if u.kind != InputKind::P2trKeyPath {
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
        }
        psbt.outputs[0]
            .update_with_descriptor_unchecked(&out_desc)
            .map_err(|e| Error::Descriptor {
                descriptor: out_desc.to_string(),
                reason: e.to_string(),
            })?;
        psbt.xpub = xpubs.clone();
        let address = bitcoin::Address::from_script(&out_spk, custody.network)
            .map(|a| a.to_string())
            .unwrap_or_else(|_| out_spk.to_hex_string());
        let mut kinds: Vec<(String, usize)> = Vec::new();
        for u in &batch.inputs {
            match kinds.iter_mut().find(|(n, _)| n == u.kind.name()) {
                Some((_, c)) => *c += 1,
                None => kinds.push((u.kind.name().to_string(), 1)),
            }
        }
        txs.push(SweepTx {
            psbt,
            summary: SweepTxSummary {
                batch: bi + 1,
                unsigned_txid,
                inputs: batch.inputs.len(),
                input_kinds: kinds,
                input_total: batch.input_total,
                output_value: batch.output_value,
                custody_address: address,
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
        });
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
