//! Runs a scenario's story on a fresh chain: premine, faucet payments, payments between
//! wallets (signed by the lab), blocks. Every random choice comes from the scenario seed, and
//! every signature is deterministic, so the same file gives the same chain byte for byte.

use std::collections::HashMap;

use bitcoin::{
    absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::chain::{script_hash, ChainState, COINBASE_MATURITY};
use crate::keys::{sign_tx, ScriptType};
use crate::scenario::{
    BackgroundSpec, JoinOrder, JoinSpec, LockTimeSpec, OutSpec, PaySpec, Scenario, Step,
};
use crate::truth::{self, ChangeTruth, GroundTruth, StoryTx, TracingInput, TxTruth};
use crate::world::World;
use crate::Error;

/// Default fee rate of the lab's own payments, sat/kvB.
pub(crate) const DEFAULT_FEE_RATE: u64 = 2_000;
/// Outputs per faucet transaction.
const MAX_OUTPUTS_PER_TX: usize = 1_000;

/// nVersion, nLockTime, nSequence and change position of a lab payment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxShape {
    pub(crate) version: i32,
    pub(crate) lock_time: absolute::LockTime,
    pub(crate) sequence: Sequence,
    /// Output position of the change (default: last).
    pub(crate) change_index: Option<usize>,
}

impl Default for TxShape {
    fn default() -> Self {
        TxShape {
            version: 2,
            lock_time: absolute::LockTime::ZERO,
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            change_index: None,
        }
    }
}

/// Builds a transaction spending `inputs` to `outputs`, with change to `change` (dropped when
/// it would be dust), signed with the world's keys.
pub(crate) fn make_tx(
    world: &World,
    inputs: &[(OutPoint, TxOut)],
    outputs: &[TxOut],
    change: Option<&ScriptBuf>,
    fee_rate: u64,
) -> Result<(Transaction, Option<u32>), Error> {
    make_shaped_tx(world, inputs, outputs, change, fee_rate, TxShape::default())
}

fn sign_all(world: &World, tx: &mut Transaction, prevouts: &[TxOut]) -> Result<(), Error> {
    sign_tx(world.secp(), tx, prevouts, &world.spends).map_err(|d| Error::Wallet {
        wallet: "lab".into(),
        detail: d,
    })
}

fn unsigned(inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>, shape: &TxShape) -> Transaction {
    Transaction {
        version: transaction::Version(shape.version),
        lock_time: shape.lock_time,
        input: inputs
            .iter()
            .map(|(op, _)| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: shape.sequence,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// Refuses a fee below half the lab's default rate (a scenario mistake, not a policy test).
fn check_fee(tx: &Transaction, total_in: u64, fee_rate: u64) -> Result<(), Error> {
    let fee = total_in.saturating_sub(tx.output.iter().map(|o| o.value.to_sat()).sum::<u64>());
    let min = DEFAULT_FEE_RATE.min(fee_rate) * tx.vsize() as u64 / 1000;
    if fee < min / 2 {
        return Err(Error::Faucet(format!(
            "fee {fee} sat too low for {} vB",
            tx.vsize()
        )));
    }
    Ok(())
}

/// [`make_tx`] with an explicit version, lock time, sequence and change position.
pub(crate) fn make_shaped_tx(
    world: &World,
    inputs: &[(OutPoint, TxOut)],
    outputs: &[TxOut],
    change: Option<&ScriptBuf>,
    fee_rate: u64,
    shape: TxShape,
) -> Result<(Transaction, Option<u32>), Error> {
    let total_in: u64 = inputs.iter().map(|(_, o)| o.value.to_sat()).sum();
    let total_out: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
    if total_in < total_out {
        return Err(Error::Faucet(format!(
            "inputs ({total_in} sat) do not cover outputs ({total_out} sat)"
        )));
    }
    let prevouts: Vec<TxOut> = inputs.iter().map(|(_, o)| o.clone()).collect();
    let mut tx = unsigned(inputs, outputs.to_vec(), &shape);
    let mut change_vout = None;
    if let Some(ch) = change {
        let pos = shape
            .change_index
            .unwrap_or(usize::MAX)
            .min(tx.output.len());
        tx.output.insert(
            pos,
            TxOut {
                value: Amount::from_sat(total_in - total_out),
                script_pubkey: ch.clone(),
            },
        );
        sign_all(world, &mut tx, &prevouts)?;
        // +1 vB per input covers a signature one byte longer after re-signing.
        let vsize = tx.vsize() as u64 + inputs.len() as u64;
        let fee = fee_rate * vsize / 1000;
        let rest = total_in - total_out;
        let dust = ch.minimal_non_dust().to_sat();
        if rest >= fee + dust {
            tx.output[pos].value = Amount::from_sat(rest - fee);
            change_vout = u32::try_from(pos).ok();
        } else {
            tx.output.remove(pos);
        }
    }
    sign_all(world, &mut tx, &prevouts)?;
    check_fee(&tx, total_in, fee_rate)?;
    Ok((tx, change_vout))
}

/// One party of a multi-party transaction, resolved.
struct Party {
    inputs: Vec<(OutPoint, TxOut)>,
    outputs: Vec<TxOut>,
    change: Option<ScriptBuf>,
    fee: Option<i64>,
}

impl Party {
    fn balance(&self) -> i128 {
        let i: u64 = self.inputs.iter().map(|(_, o)| o.value.to_sat()).sum();
        let o: u64 = self.outputs.iter().map(|o| o.value.to_sat()).sum();
        i128::from(i) - i128::from(o)
    }
}

/// How much each party leaves for the fee and the shared outputs: fixed contributions, the
/// remainders of parties without change (all of it goes to the fee), and an even split of
/// what is still missing among the others (the first of them takes the odd sats).
fn contributions(parties: &[Party], need: i128) -> Result<Vec<i128>, String> {
    let mut c: Vec<Option<i128>> = parties
        .iter()
        .map(|p| match (&p.change, p.fee) {
            (None, _) => Some(p.balance()),
            (Some(_), Some(f)) => Some(i128::from(f)),
            (Some(_), None) => None,
        })
        .collect();
    let fixed: i128 = c.iter().flatten().sum();
    let free: Vec<usize> = (0..c.len()).filter(|i| c[*i].is_none()).collect();
    if let Some(first) = free.first() {
        // What the others leave beyond the need is fee; the free parties never get it.
        let rest = (need - fixed).max(0);
        let k = i128::try_from(free.len()).map_err(|e| e.to_string())?;
        let share = rest.div_euclid(k);
        for i in &free {
            c[*i] = Some(share);
        }
        c[*first] = Some(share + rest - share * k);
    } else if fixed < need {
        return Err(format!(
            "the parties leave {fixed} sat for {need} sat of fee and shared outputs"
        ));
    }
    Ok(c.into_iter().map(|x| x.unwrap_or(0)).collect())
}

/// Builds and signs a transaction with several parties' inputs; returns it and the
/// `(party, vout)` of every change output.
fn join_tx(
    world: &World,
    parties: &[Party],
    shared: &[TxOut],
    fee_rate: u64,
    order: JoinOrder,
    rng: &mut ChaCha8Rng,
) -> Result<(Transaction, Vec<(usize, u32)>), Error> {
    let mut ins: Vec<(OutPoint, TxOut)> = parties.iter().flat_map(|p| p.inputs.clone()).collect();
    let mut outs: Vec<(TxOut, Option<usize>)> = shared.iter().map(|o| (o.clone(), None)).collect();
    for p in parties {
        outs.extend(p.outputs.iter().map(|o| (o.clone(), None)));
    }
    for (i, p) in parties.iter().enumerate() {
        if let Some(ch) = &p.change {
            let placeholder = u64::try_from(p.balance().max(0)).unwrap_or(0);
            outs.push((
                TxOut {
                    value: Amount::from_sat(placeholder),
                    script_pubkey: ch.clone(),
                },
                Some(i),
            ));
        }
    }
    if order == JoinOrder::Shuffle {
        ins.shuffle(rng);
        outs.shuffle(rng);
    }
    let prevouts: Vec<TxOut> = ins.iter().map(|(_, o)| o.clone()).collect();
    let shape = TxShape::default();
    let mut tx = unsigned(&ins, outs.iter().map(|(o, _)| o.clone()).collect(), &shape);
    sign_all(world, &mut tx, &prevouts)?;
    let vsize = tx.vsize() as u64 + ins.len() as u64;
    let shared_total: u64 = shared.iter().map(|o| o.value.to_sat()).sum();
    let need = i128::from(fee_rate * vsize / 1000) + i128::from(shared_total);
    let contrib = contributions(parties, need).map_err(Error::Faucet)?;
    let mut changes = Vec::new();
    for (vout, (o, party)) in outs.iter().enumerate() {
        let Some(pi) = party else { continue };
        let value = parties[*pi].balance() - contrib[*pi];
        let dust = i128::from(o.script_pubkey.minimal_non_dust().to_sat());
        if value < dust {
            return Err(Error::Faucet(format!(
                "party {pi}: change of {value} sat is below dust"
            )));
        }
        let value = u64::try_from(value).map_err(|e| Error::Faucet(e.to_string()))?;
        tx.output[vout].value = Amount::from_sat(value);
        changes.push((
            *pi,
            u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs"),
        ));
    }
    sign_all(world, &mut tx, &prevouts)?;
    let total_in: u64 = prevouts.iter().map(|o| o.value.to_sat()).sum();
    let total_out: u64 = tx.output.iter().map(|o| o.value.to_sat()).sum();
    if total_out > total_in {
        return Err(Error::Faucet(format!(
            "outputs ({total_out} sat) exceed inputs ({total_in} sat)"
        )));
    }
    check_fee(&tx, total_in, fee_rate)?;
    Ok((tx, changes))
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

/// Coins with the outputs they spend.
type Coins = Vec<(OutPoint, TxOut)>;

/// A generated background wallet.
struct BgWallet {
    id: String,
    /// Confirmed coins it may spend.
    coins: Vec<(OutPoint, TxOut)>,
    /// Coins received in the mempool (spendable after the next block).
    pending: Vec<(OutPoint, TxOut)>,
    next_receive: u32,
    next_change: u32,
    last_receive: Option<ScriptBuf>,
    last_change: Option<ScriptBuf>,
}

/// State of the background generator.
struct Background {
    rng: ChaCha8Rng,
    wallets: Vec<BgWallet>,
    by_id: HashMap<String, usize>,
    coin_owner: HashMap<OutPoint, usize>,
    deposits: Vec<ScriptBuf>,
    deposit_percent: u32,
    per_block: usize,
    total: usize,
    made: usize,
    deposits_made: usize,
    since_block: usize,
}

/// Smallest total a background wallet needs before it pays anyone, sat.
const BG_MIN_BALANCE: u64 = 100_000;

struct Run<'a> {
    st: &'a mut ChainState,
    world: &'a mut World,
    rng: ChaCha8Rng,
    change: Vec<ChangeTruth>,
    txs: Vec<TxTruth>,
    story: Vec<StoryTx>,
    bg: Option<Background>,
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
        if let Some(bg) = &mut self.bg {
            bg.observe(self.world, &tx);
        }
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
        if n > 0 {
            if let Some(bg) = &mut self.bg {
                bg.confirm();
            }
        }
        Ok(())
    }

    /// Every unspent output at `refs` (in reference order) and the wallets they belong to.
    fn gather(&mut self, refs: &[String]) -> Result<(Coins, Vec<String>), Error> {
        let mut inputs: Vec<(OutPoint, TxOut)> = Vec::new();
        let mut from_wallets: Vec<String> = Vec::new();
        for r in refs {
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
        Ok((inputs, from_wallets))
    }

    fn shape(&self, pay: &PaySpec, i: usize) -> Result<TxShape, Error> {
        let tip = self.st.index.tip_height();
        let lock_time = match &pay.lock_time {
            None => absolute::LockTime::ZERO,
            Some(LockTimeSpec::Value(n)) => absolute::LockTime::from_consensus(*n),
            Some(LockTimeSpec::Named(n)) if n == "zero" => absolute::LockTime::ZERO,
            Some(LockTimeSpec::Named(n)) if n == "height" => {
                absolute::LockTime::from_height(tip)
                    .map_err(|e| Error::scenario(format!("step {i}"), e.to_string()))?
            }
            Some(LockTimeSpec::Named(n)) => {
                return Err(Error::scenario(
                    format!("step {i}"),
                    format!("lock_time {n:?}: give \"zero\", \"height\" or a number"),
                ))
            }
        };
        Ok(TxShape {
            version: pay.version.unwrap_or(2),
            lock_time,
            sequence: if pay.rbf == Some(false) {
                Sequence::ENABLE_LOCKTIME_NO_RBF
            } else {
                Sequence::ENABLE_RBF_NO_LOCKTIME
            },
            change_index: pay.change_index,
        })
    }

    fn fund(&mut self, fund: &[OutSpec], note: &str) -> Result<(), Error> {
        let outs = self.outputs(fund)?;
        for chunk in outs.chunks(MAX_OUTPUTS_PER_TX) {
            let tx = faucet_tx(self.st, self.world, chunk)?;
            let txid = self.accept(tx)?;
            self.txs.push(TxTruth {
                txid: txid.to_string(),
                kind: "fund".into(),
                note: note.to_string(),
                from_wallets: Vec::new(),
            });
        }
        Ok(())
    }

    fn pay(&mut self, i: usize, pay: &PaySpec, note: &str) -> Result<StoryTx, Error> {
        let (inputs, from_wallets) = self.gather(&pay.from)?;
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
        let shape = self.shape(pay, i)?;
        let (tx, change_vout) = make_shaped_tx(
            self.world,
            &inputs,
            &outs,
            change.as_ref(),
            pay.fee_rate.unwrap_or(DEFAULT_FEE_RATE),
            shape,
        )
        .map_err(|e| Error::scenario(format!("step {i}"), e.to_string()))?;
        let n_out =
            u32::try_from(tx.output.len()).expect("a transaction has fewer than 2^32 outputs");
        let txid = self.accept(tx)?;
        let mut change_out = None;
        if let (Some(v), Some(c), None) = (change_vout, &change, &pay.sweep_to) {
            if let Some(info) = self.world.scripts.get(c) {
                self.change.push(ChangeTruth {
                    txid: txid.to_string(),
                    vout: v,
                    wallet: info.wallet.clone(),
                    address: info.address.clone(),
                });
            }
            change_out = Some(v);
        }
        self.txs.push(TxTruth {
            txid: txid.to_string(),
            kind: "pay".into(),
            note: note.to_string(),
            from_wallets: from_wallets.clone(),
        });
        Ok(StoryTx {
            txid: txid.to_string(),
            payments: (0..n_out).filter(|v| Some(*v) != change_out).collect(),
            change: change_out,
            parties: from_wallets,
            ..StoryTx::default()
        })
    }

    fn join(&mut self, i: usize, js: &JoinSpec, note: &str) -> Result<StoryTx, Error> {
        let mut parties = Vec::new();
        let mut wallets: Vec<String> = Vec::new();
        for (k, p) in js.parties.iter().enumerate() {
            let (inputs, from) = self.gather(&p.from)?;
            if inputs.is_empty() {
                return Err(Error::scenario(
                    format!("step {i}"),
                    format!("join: party {k} has nothing to spend"),
                ));
            }
            for w in from {
                if !wallets.contains(&w) {
                    wallets.push(w);
                }
            }
            let outputs = self.outputs(&p.to)?;
            let change = match &p.change {
                Some(c) => Some(self.world.resolve(c)?),
                None => None,
            };
            parties.push(Party {
                inputs,
                outputs,
                change,
                fee: p.fee,
            });
        }
        let shared = self.outputs(&js.to)?;
        let fee_rate = js.fee_rate.unwrap_or(DEFAULT_FEE_RATE);
        let (tx, changes) = join_tx(
            self.world,
            &parties,
            &shared,
            fee_rate,
            js.order,
            &mut self.rng,
        )
        .map_err(|e| Error::scenario(format!("step {i}"), e.to_string()))?;
        let txid = self.accept(tx)?;
        for (pi, vout) in &changes {
            let script = parties[*pi].change.as_ref();
            if let Some(info) = script.and_then(|c| self.world.scripts.get(c)) {
                self.change.push(ChangeTruth {
                    txid: txid.to_string(),
                    vout: *vout,
                    wallet: info.wallet.clone(),
                    address: info.address.clone(),
                });
            }
        }
        self.txs.push(TxTruth {
            txid: txid.to_string(),
            kind: "join".into(),
            note: note.to_string(),
            from_wallets: wallets.clone(),
        });
        Ok(StoryTx {
            txid: txid.to_string(),
            parties: wallets,
            ..StoryTx::default()
        })
    }

    fn step(&mut self, i: usize, step: &Step) -> Result<(), Error> {
        let note = step.note.clone().unwrap_or_default();
        if let Some(fund) = &step.fund {
            self.fund(fund, &note)?;
        }
        let story = match (&step.pay, &step.join) {
            (Some(pay), _) => Some(self.pay(i, pay, &note)?),
            (None, Some(js)) => Some(self.join(i, js, &note)?),
            (None, None) => None,
        };
        if let Some(mut t) = story {
            t.note = note;
            t.flow = step.flow.clone();
            t.coinjoin = step.coinjoin;
            t.peel = step.peel.clone();
            self.story.push(t);
        }
        if let Some(n) = step.mine {
            self.mine(n)?;
        }
        Ok(())
    }
}

impl Background {
    /// Creates the wallets (script types drawn from the seed) in `world`.
    fn new(sc: &Scenario, spec: &BackgroundSpec, world: &mut World) -> Result<Self, Error> {
        let mut rng = ChaCha8Rng::seed_from_u64(sc.seed ^ 0x6261_636b_6772_6f75);
        let mut wallets = Vec::with_capacity(spec.wallets);
        let mut by_id = HashMap::new();
        for k in 0..spec.wallets {
            let id = format!("bg-{k:04}");
            let script = match rng.gen_range(0..100) {
                0..=54 => ScriptType::P2wpkh,
                55..=74 => ScriptType::P2tr,
                75..=89 => ScriptType::P2shP2wpkh,
                _ => ScriptType::P2pkh,
            };
            world.add_lab_wallet(sc.seed, &id, script)?;
            by_id.insert(id.clone(), k);
            wallets.push(BgWallet {
                id,
                coins: Vec::new(),
                pending: Vec::new(),
                next_receive: 0,
                next_change: 0,
                last_receive: None,
                last_change: None,
            });
        }
        let mut deposits = Vec::new();
        for r in &spec.deposits {
            deposits.extend(world.expand(r)?);
        }
        if spec.deposit_percent > 0 && deposits.is_empty() {
            return Err(Error::scenario(
                &sc.name,
                "background: deposit_percent without deposits",
            ));
        }
        Ok(Background {
            rng,
            wallets,
            by_id,
            coin_owner: HashMap::new(),
            deposits,
            deposit_percent: spec.deposit_percent,
            per_block: spec.per_block.unwrap_or(50).max(1),
            total: spec.transactions,
            made: 0,
            deposits_made: 0,
            since_block: 0,
        })
    }

    /// Follows a transaction accepted into the mempool: background coins it spends are gone,
    /// outputs to background wallets are theirs once mined.
    fn observe(&mut self, world: &World, tx: &Transaction) {
        for inp in &tx.input {
            let op = inp.previous_output;
            if let Some(w) = self.coin_owner.remove(&op) {
                self.wallets[w].coins.retain(|(o, _)| *o != op);
                self.wallets[w].pending.retain(|(o, _)| *o != op);
            }
        }
        let txid = tx.compute_txid();
        for (vout, o) in tx.output.iter().enumerate() {
            let owner = world
                .scripts
                .get(&o.script_pubkey)
                .and_then(|info| self.by_id.get(&info.wallet).copied());
            if let Some(w) = owner {
                let op = OutPoint::new(
                    txid,
                    u32::try_from(vout).expect("a transaction has fewer than 2^32 outputs"),
                );
                self.wallets[w].pending.push((op, o.clone()));
                self.coin_owner.insert(op, w);
            }
        }
    }

    /// After a block: every pending coin is confirmed.
    fn confirm(&mut self) {
        self.since_block = 0;
        for w in &mut self.wallets {
            let p = std::mem::take(&mut w.pending);
            w.coins.extend(p);
        }
    }
}

/// What one background payment looks like, drawn before it is built.
struct BgPlan {
    payer: usize,
    outputs: Vec<TxOut>,
    inputs: Vec<(OutPoint, TxOut)>,
    change: Option<ScriptBuf>,
    fee_rate: u64,
    shape: TxShape,
    deposit: bool,
}

impl Run<'_> {
    /// A fresh (or, now and then, the last) address of a background wallet.
    fn bg_address(&mut self, w: usize, change: bool) -> Result<ScriptBuf, Error> {
        let Some(bg) = &mut self.bg else {
            return Err(Error::Faucet("no background".into()));
        };
        let reuse = bg.rng.gen_range(0..100) < 8;
        let wallet = &mut bg.wallets[w];
        let last = if change {
            &wallet.last_change
        } else {
            &wallet.last_receive
        };
        if let (true, Some(s)) = (reuse, last) {
            return Ok(s.clone());
        }
        let (chain, idx) = if change {
            wallet.next_change += 1;
            (1, wallet.next_change - 1)
        } else {
            wallet.next_receive += 1;
            (0, wallet.next_receive - 1)
        };
        let r = format!("{}:main/{chain}/{idx}", wallet.id);
        let script = self.world.resolve(&r)?;
        if let Some(bg) = &mut self.bg {
            let wallet = &mut bg.wallets[w];
            if change {
                wallet.last_change = Some(script.clone());
            } else {
                wallet.last_receive = Some(script.clone());
            }
        }
        Ok(script)
    }

    /// Funds every background wallet from the faucet and mines the funding.
    fn bg_fund(&mut self, spec: &BackgroundSpec) -> Result<(), Error> {
        let [lo, hi] = spec.fund_range;
        if lo > hi || lo < BG_MIN_BALANCE {
            return Err(Error::scenario(
                "background",
                format!("fund_range [lo, hi] with {BG_MIN_BALANCE} <= lo <= hi"),
            ));
        }
        let n = self.bg.as_ref().map(|b| b.wallets.len()).unwrap_or(0);
        let mut outs = Vec::with_capacity(n);
        for w in 0..n {
            let script = self.bg_address(w, false)?;
            let value = match &mut self.bg {
                Some(bg) => bg.rng.gen_range(lo..=hi),
                None => lo,
            };
            outs.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script,
            });
        }
        for chunk in outs.chunks(MAX_OUTPUTS_PER_TX) {
            let tx = faucet_tx(self.st, self.world, chunk)?;
            self.accept(tx)?;
        }
        self.mine(1)
    }

    fn bg_state(&mut self) -> Result<&mut Background, Error> {
        self.bg
            .as_mut()
            .ok_or_else(|| Error::Faucet("no background".into()))
    }

    /// Draws one background payment: payer, recipients, coins, change and shape.
    fn bg_plan(&mut self) -> Result<BgPlan, Error> {
        let tip = self.st.index.tip_height();
        let bg = self.bg_state()?;
        let n = bg.wallets.len();
        let mut payer = None;
        for _ in 0..10 * n.max(1) {
            let w = bg.rng.gen_range(0..n);
            let total: u64 = bg.wallets[w]
                .coins
                .iter()
                .map(|(_, o)| o.value.to_sat())
                .sum();
            if total >= BG_MIN_BALANCE {
                payer = Some((w, total));
                break;
            }
        }
        let Some((payer, balance)) = payer else {
            return Err(Error::scenario(
                "background",
                "no background wallet has coins left; raise fund_range",
            ));
        };
        let fee_rate = bg.rng.gen_range(1_000..=5_000);
        let consolidate = bg.wallets[payer].coins.len() >= 3 && bg.rng.gen_range(0..100) < 4;
        let deposit = !consolidate && bg.rng.gen_range(0..100) < bg.deposit_percent;
        let shape = TxShape {
            version: if bg.rng.gen_range(0..100) < 10 { 1 } else { 2 },
            lock_time: if bg.rng.gen_bool(0.4) {
                absolute::LockTime::from_height(tip)
                    .expect("a lab tip is far below the 500,000,000 height limit of lock times")
            } else {
                absolute::LockTime::ZERO
            },
            sequence: if bg.rng.gen_bool(0.5) {
                Sequence::ENABLE_RBF_NO_LOCKTIME
            } else {
                Sequence::ENABLE_LOCKTIME_NO_RBF
            },
            change_index: Some(bg.rng.gen_range(0..2)),
        };
        let mut coins = bg.wallets[payer].coins.clone();
        coins.shuffle(&mut bg.rng);
        if consolidate {
            let to = self.bg_address(payer, false)?;
            return Ok(BgPlan {
                payer,
                outputs: Vec::new(),
                inputs: coins,
                change: Some(to),
                fee_rate,
                shape: TxShape {
                    change_index: None,
                    ..shape
                },
                deposit: false,
            });
        }
        let amount = bg
            .rng
            .gen_range(balance / 100..=balance * 6 / 10)
            .max(20_000);
        let mut amounts = vec![amount];
        if bg.rng.gen_range(0..100) < 10 {
            amounts.push((amount / bg.rng.gen_range(2..10)).max(20_000));
        }
        let mut outputs = Vec::new();
        for a in amounts {
            let bg = self.bg_state()?;
            let script = if deposit {
                let k = bg.rng.gen_range(0..bg.deposits.len());
                bg.deposits[k].clone()
            } else {
                let mut to = bg.rng.gen_range(0..n);
                if to == payer {
                    to = (to + 1) % n;
                }
                self.bg_address(to, false)?
            };
            outputs.push(TxOut {
                value: Amount::from_sat(a),
                script_pubkey: script,
            });
        }
        let out_total: u64 = outputs.iter().map(|o| o.value.to_sat()).sum();
        let mut inputs = Vec::new();
        let mut have = 0u64;
        for c in coins {
            have += c.1.value.to_sat();
            inputs.push(c);
            let fee = fee_rate * (60 + 150 * inputs.len() as u64 + 45 * 3) / 1000;
            if have >= out_total + fee + 1_000 {
                break;
            }
        }
        let change = self.bg_address(payer, true)?;
        Ok(BgPlan {
            payer,
            outputs,
            inputs,
            change: Some(change),
            fee_rate,
            shape,
            deposit,
        })
    }

    /// Makes `n` background payments, mining a block every `per_block` of them.
    fn background(&mut self, n: usize) -> Result<(), Error> {
        for _ in 0..n {
            let Some(bg) = &self.bg else { return Ok(()) };
            if bg.made >= bg.total {
                return Ok(());
            }
            let plan = self.bg_plan()?;
            let payer = plan.payer;
            let (tx, _) = make_shaped_tx(
                self.world,
                &plan.inputs,
                &plan.outputs,
                plan.change.as_ref(),
                plan.fee_rate,
                plan.shape,
            )
            .map_err(|e| {
                Error::scenario("background", format!("payment from bg-{payer:04}: {e}"))
            })?;
            self.accept(tx)?;
            let mine = match &mut self.bg {
                Some(bg) => {
                    bg.made += 1;
                    bg.deposits_made += usize::from(plan.deposit);
                    bg.since_block += 1;
                    bg.since_block >= bg.per_block
                }
                None => false,
            };
            if mine {
                self.mine(1)?;
            }
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
    let bg = match &sc.background {
        Some(spec) => Some(Background::new(sc, spec, world)?),
        None => None,
    };
    let bg_ids: Vec<String> = bg
        .as_ref()
        .map(|b| b.wallets.iter().map(|w| w.id.clone()).collect())
        .unwrap_or_default();
    let mut run = Run {
        st,
        world,
        rng: ChaCha8Rng::seed_from_u64(sc.seed),
        change: Vec::new(),
        txs: Vec::new(),
        story: Vec::new(),
        bg,
    };
    run.mine(sc.premine)?;
    let per_step = match &sc.background {
        Some(spec) => {
            run.bg_fund(spec)?;
            spec.transactions / (sc.steps.len() + 1)
        }
        None => 0,
    };
    for (i, step) in sc.steps.iter().enumerate() {
        run.background(per_step)?;
        run.step(i, step)?;
    }
    run.background(usize::MAX)?;
    // Anything left in the mempool is mined so the truth describes a settled chain.
    if run.st.mempool.len() > 0 {
        run.mine(1)?;
    }
    let (bg_txs, bg_deposits) = run
        .bg
        .as_ref()
        .map(|b| (b.made, b.deposits_made))
        .unwrap_or((0, 0));
    let Run {
        st,
        world,
        change,
        txs,
        story,
        ..
    } = run;
    let tracing = TracingInput {
        story,
        background_wallets: bg_ids,
        background_txs: bg_txs,
        background_deposits: bg_deposits,
    };
    Ok(truth::compute(sc, world, st, &change, &txs, &tracing))
}
