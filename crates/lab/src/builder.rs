//! Runs a scenario's story on a fresh chain: premine, faucet payments, payments between
//! wallets (signed by the lab), blocks. Every random choice comes from the scenario seed, and
//! every signature is deterministic, so the same file gives the same chain byte for byte.

use bitcoin::{
    absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chain::{script_hash, ChainState, COINBASE_MATURITY};
use crate::keys::sign_tx;
use crate::scenario::{OutSpec, Scenario};
use crate::truth::{self, ChangeTruth, GroundTruth, TxTruth};
use crate::world::World;
use crate::Error;

/// Default fee rate of the lab's own payments, sat/kvB.
pub(crate) const DEFAULT_FEE_RATE: u64 = 2_000;
/// Outputs per faucet transaction.
const MAX_OUTPUTS_PER_TX: usize = 1_000;

/// Builds a transaction spending `inputs` to `outputs`, with change to `change` (dropped when
/// it would be dust), signed with the world's keys.
pub(crate) fn make_tx(
    world: &World,
    inputs: &[(OutPoint, TxOut)],
    outputs: &[TxOut],
    change: Option<&ScriptBuf>,
    fee_rate: u64,
) -> Result<(Transaction, Option<u32>), Error> {
    let total_in: u64 = inputs.iter().map(|(_, o)| o.value.to_sat()).sum();
    let total_out: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
    if total_in < total_out {
        return Err(Error::Faucet(format!(
            "inputs ({total_in} sat) do not cover outputs ({total_out} sat)"
        )));
    }
    let prevouts: Vec<TxOut> = inputs.iter().map(|(_, o)| o.clone()).collect();
    let mut tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|(op, _)| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs.to_vec(),
    };
    let sign = |tx: &mut Transaction| -> Result<(), Error> {
        sign_tx(world.secp(), tx, &prevouts, &world.spends).map_err(|d| Error::Wallet {
            wallet: "lab".into(),
            detail: d,
        })
    };
    let mut change_vout = None;
    if let Some(ch) = change {
        tx.output.push(TxOut {
            value: Amount::from_sat(total_in - total_out),
            script_pubkey: ch.clone(),
        });
        sign(&mut tx)?;
        // +1 vB per input covers a signature one byte longer after re-signing.
        let vsize = tx.vsize() as u64 + inputs.len() as u64;
        let fee = fee_rate * vsize / 1000;
        let rest = total_in - total_out;
        let dust = ch.minimal_non_dust().to_sat();
        if rest >= fee + dust {
            let last = tx.output.len() - 1;
            tx.output[last].value = Amount::from_sat(rest - fee);
            change_vout = u32::try_from(last).ok();
        } else {
            tx.output.pop();
        }
    }
    sign(&mut tx)?;
    let fee = total_in - tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>();
    let min = DEFAULT_FEE_RATE.min(fee_rate) * tx.vsize() as u64 / 1000;
    if fee < min / 2 {
        return Err(Error::Faucet(format!(
            "fee {fee} sat too low for {} vB",
            tx.vsize()
        )));
    }
    Ok((tx, change_vout))
}

/// Pays `outputs` from the miner's mature coins; change back to the miner.
pub(crate) fn faucet_tx(
    st: &ChainState,
    world: &World,
    outputs: &[TxOut],
) -> Result<Transaction, Error> {
    let need: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
    let miner = &world.miner_script;
    let tip = st.index.tip_height();
    let mut inputs = Vec::new();
    let mut have = 0u64;
    let est_fee = |n_in: usize| {
        DEFAULT_FEE_RATE * (11 + 68 * n_in as u64 + 43 * (outputs.len() as u64 + 1)) / 1000
    };
    for (op, out, height, coinbase) in st.unspent(&script_hash(miner)) {
        if coinbase && tip + 1 - height < COINBASE_MATURITY {
            continue;
        }
        have += out.value.to_sat();
        inputs.push((op, out));
        if have >= need + est_fee(inputs.len()) + 1000 {
            break;
        }
    }
    if have < need + est_fee(inputs.len()) {
        return Err(Error::Faucet(format!(
            "the lab miner has {have} sat of mature coins, {need} sat asked; mine more blocks"
        )));
    }
    Ok(make_tx(world, &inputs, outputs, Some(miner), DEFAULT_FEE_RATE)?.0)
}

struct Run<'a> {
    st: &'a mut ChainState,
    world: &'a mut World,
    rng: ChaCha8Rng,
    change: Vec<ChangeTruth>,
    txs: Vec<TxTruth>,
}

impl Run<'_> {
    fn outputs(&mut self, specs: &[OutSpec]) -> Result<Vec<TxOut>, Error> {
        let mut out = Vec::new();
        for s in specs {
            let scripts = self.world.expand(&s.to)?;
            let times = s.times.unwrap_or(1);
            for _ in 0..times {
                for script in &scripts {
                    let value = match (s.amount, s.amount_range) {
                        (Some(a), None) => a,
                        (None, Some([lo, hi])) if lo <= hi => self.rng.gen_range(lo..=hi),
                        _ => {
                            return Err(Error::scenario(
                                &s.to,
                                "give exactly one of amount, amount_range [lo, hi]",
                            ))
                        }
                    };
                    out.push(TxOut {
                        value: Amount::from_sat(value),
                        script_pubkey: script.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn accept(&mut self, tx: Transaction) -> Result<bitcoin::Txid, Error> {
        let txid = tx.compute_txid();
        self.st
            .mempool
            .accept(tx, &self.st.index)
            .map_err(|reason| Error::TxRejected { txid, reason })
    }

    fn mine(&mut self, n: u32) -> Result<(), Error> {
        for _ in 0..n {
            let miner = self.world.miner_script.clone();
            self.st.mine_one(&miner)?;
        }
        Ok(())
    }

    fn step(&mut self, i: usize, step: &crate::scenario::Step) -> Result<(), Error> {
        let note = step.note.clone().unwrap_or_default();
        if let Some(fund) = &step.fund {
            let outs = self.outputs(fund)?;
            for chunk in outs.chunks(MAX_OUTPUTS_PER_TX) {
                let tx = faucet_tx(self.st, self.world, chunk)?;
                let txid = self.accept(tx)?;
                self.txs.push(TxTruth {
                    txid: txid.to_string(),
                    kind: "fund".into(),
                    note: note.clone(),
                    from_wallets: Vec::new(),
                });
            }
        }
        if let Some(pay) = &step.pay {
            let mut inputs = Vec::new();
            let mut from_wallets: Vec<String> = Vec::new();
            for r in &pay.from {
                for script in self.world.expand(r)? {
                    if let Some(info) = self.world.scripts.get(&script) {
                        if !from_wallets.contains(&info.wallet) {
                            from_wallets.push(info.wallet.clone());
                        }
                    }
                    for (op, out, _, _) in self.st.unspent(&script_hash(&script)) {
                        if !inputs.iter().any(|(o, _)| *o == op) {
                            inputs.push((op, out));
                        }
                    }
                }
            }
            if inputs.is_empty() {
                return Err(Error::scenario(
                    format!("step {i}"),
                    "pay: nothing to spend at the from references",
                ));
            }
            let outs = self.outputs(&pay.to)?;
            let change = match (&pay.change, &pay.sweep_to) {
                (Some(c), None) | (None, Some(c)) => Some(self.world.resolve(c)?),
                (None, None) => None,
                (Some(_), Some(_)) => {
                    return Err(Error::scenario(
                        format!("step {i}"),
                        "pay: change and sweep_to are exclusive",
                    ))
                }
            };
            let (tx, change_vout) = make_tx(
                self.world,
                &inputs,
                &outs,
                change.as_ref(),
                pay.fee_rate.unwrap_or(DEFAULT_FEE_RATE),
            )
            .map_err(|e| Error::scenario(format!("step {i}"), e.to_string()))?;
            let txid = self.accept(tx)?;
            if let (Some(v), Some(c), None) = (change_vout, &change, &pay.sweep_to) {
                if let Some(info) = self.world.scripts.get(c) {
                    self.change.push(ChangeTruth {
                        txid: txid.to_string(),
                        vout: v,
                        wallet: info.wallet.clone(),
                        address: info.address.clone(),
                    });
                }
            }
            self.txs.push(TxTruth {
                txid: txid.to_string(),
                kind: "pay".into(),
                note,
                from_wallets,
            });
        }
        if let Some(n) = step.mine {
            self.mine(n)?;
        }
        Ok(())
    }
}

/// Runs the whole scenario on `st` (a fresh chain at genesis) and returns its ground truth.
pub(crate) fn build(
    sc: &Scenario,
    st: &mut ChainState,
    world: &mut World,
) -> Result<GroundTruth, Error> {
    let mut run = Run {
        st,
        world,
        rng: ChaCha8Rng::seed_from_u64(sc.seed),
        change: Vec::new(),
        txs: Vec::new(),
    };
    run.mine(sc.premine)?;
    for (i, step) in sc.steps.iter().enumerate() {
        run.step(i, step)?;
    }
    // Anything left in the mempool is mined so the truth describes a settled chain.
    if run.st.mempool.len() > 0 {
        run.mine(1)?;
    }
    let Run {
        st,
        world,
        change,
        txs,
        ..
    } = run;
    Ok(truth::compute(sc, world, st, &change, &txs))
}
