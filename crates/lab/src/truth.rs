//! Ground truth of a built scenario: every wallet, every address it was paid on (with path,
//! amounts and unspent outputs), change outputs and the story's transactions. Graders and
//! tests compare what custos finds with this; `custos-lab truth` writes it to
//! `fixtures/lab/<name>/ground-truth.toml`.
//!
//! Tracing scenarios (tagged steps, labels, background activity) also get a `[tracing]`
//! section — the owner of every address, the planted flows, CoinJoins and peeling chains —
//! and a dump of every non-coinbase transaction of the chain (`transactions.jsonl`). All of
//! it comes from the scenario and the built chain, never from a tracer.

use std::collections::HashMap;

use bitcoin::{OutPoint, ScriptBuf};
use serde::{Deserialize, Serialize};

use crate::chain::{script_hash, ChainState};
use crate::keys::{self, ScriptType};
use crate::scenario::{CoinJoinKind, Scenario, WalletSpec};
use crate::world::{AddrInfo, WalletMaterial, World};

/// An unspent output in the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtxoTruth {
    /// Transaction id.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Value in sat.
    pub value_sat: u64,
    /// Confirmation height.
    pub height: u32,
}

/// One address of a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressTruth {
    /// Regtest address.
    pub address: String,
    /// Derivation path (`m/84'/1'/0'/0/3`), `wif #n` or `xpub/0/3`.
    pub path: String,
    /// Script type.
    pub script_type: ScriptType,
    /// Total ever received, sat.
    pub received_sat: u64,
    /// Balance at the end of the scenario, sat.
    pub balance_sat: u64,
    /// Transactions touching it.
    pub tx_count: usize,
    /// Unspent outputs at the end of the scenario.
    #[serde(default)]
    pub utxos: Vec<UtxoTruth>,
}

/// One wallet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletTruth {
    /// Id in the scenario.
    pub id: String,
    /// Kind (bip39, electrum-segwit, wif, xpub, multisig, lab).
    pub kind: String,
    /// Owning entity, if the scenario names one.
    #[serde(default)]
    pub owner: Option<String>,
    /// Part of the seized material.
    pub seized: bool,
    /// Files a student receives for this wallet.
    #[serde(default)]
    pub material_files: Vec<String>,
    /// Balance at the end of the scenario, sat.
    pub balance_sat: u64,
    /// Total received, sat.
    pub received_sat: u64,
    /// Number of unspent outputs.
    pub utxo_count: usize,
    /// Addresses that were paid, in derivation order.
    pub addresses: Vec<AddressTruth>,
    /// Key material (test-only; never serialized).
    #[serde(skip)]
    pub material: WalletMaterial,
}

/// A change output created by the story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeTruth {
    /// Transaction id.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Wallet it returned to.
    pub wallet: String,
    /// Address.
    pub address: String,
}

/// A transaction of the story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxTruth {
    /// Transaction id.
    pub txid: String,
    /// `fund` (from the lab faucet) or `pay`.
    pub kind: String,
    /// The step's note.
    #[serde(default)]
    pub note: String,
    /// Paying wallets (ids).
    #[serde(default)]
    pub from_wallets: Vec<String>,
}

/// The ground truth of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Scenario name.
    pub scenario: String,
    /// Tip height when the scenario finished.
    pub tip_height: u32,
    /// Hash of that tip.
    pub tip_hash: String,
    /// Sum of the balances of the seized wallets, sat.
    pub seized_total_sat: u64,
    /// Number of unspent outputs of the seized wallets.
    pub seized_utxo_count: usize,
    /// Wallets in scenario order.
    #[serde(rename = "wallet")]
    pub wallets: Vec<WalletTruth>,
    /// Change outputs.
    #[serde(default, rename = "change")]
    pub change_outputs: Vec<ChangeTruth>,
    /// The story's transactions in order.
    #[serde(default, rename = "transaction")]
    pub transactions: Vec<TxTruth>,
    /// Tracing ground truth (scenarios with tagged steps, labels or background activity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingTruth>,
    /// Every non-coinbase transaction of the built chain in block order (what
    /// `transactions.jsonl` holds). Not kept in `ground-truth.toml`: empty when the truth was
    /// read back from a file (a resumed lab).
    #[serde(skip)]
    pub chain_transactions: Vec<ChainTx>,
}

/// The tracing section of the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracingTruth {
    /// Number of lines of `transactions.jsonl` (non-coinbase transactions of the chain).
    pub chain_transactions: usize,
    /// Background activity, if the scenario generates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundTruth>,
    /// Owners: every address that appears on the chain, grouped by entity (the true clusters).
    #[serde(default, rename = "entity")]
    pub entities: Vec<EntityTruth>,
    /// Planted flows: tagged transactions in story order.
    #[serde(default, rename = "flow")]
    pub flows: Vec<FlowTruth>,
    /// Planted CoinJoins.
    #[serde(default, rename = "coinjoin")]
    pub coinjoins: Vec<CoinJoinTruth>,
    /// Planted peeling chains.
    #[serde(default, rename = "peel")]
    pub peels: Vec<PeelTruth>,
}

/// Generated background activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackgroundTruth {
    /// Background wallets (each its own entity, named like its wallet).
    pub wallets: usize,
    /// Background payments (faucet funding not counted).
    pub transactions: usize,
    /// Background payments that went to a service address (`deposits`).
    pub deposits: usize,
}

/// One entity and every address of it seen on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityTruth {
    /// Owner name (the wallet's `owner`, else its id; `lab-miner` for the faucet).
    pub name: String,
    /// Public label, when the scenario declares the entity publicly known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Label category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Its wallets (ids).
    pub wallets: Vec<String>,
    /// Its addresses, sorted.
    pub addresses: Vec<String>,
}

/// A planted flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTruth {
    /// Flow name (`theft`).
    pub name: String,
    /// Its transactions in story order.
    pub txids: Vec<String>,
}

/// A planted CoinJoin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinJoinTruth {
    /// Transaction id.
    pub txid: String,
    /// Kind of CoinJoin.
    pub kind: CoinJoinKind,
    /// The step's note.
    #[serde(default)]
    pub note: String,
    /// The most frequent output value (the denomination), sat.
    pub equal_value_sat: u64,
    /// Number of outputs of that value.
    pub equal_outputs: usize,
    /// Number of inputs.
    pub inputs: usize,
    /// Number of outputs.
    pub outputs: usize,
    /// Paying wallets (ids), in party order.
    pub parties: Vec<String>,
}

/// A planted peeling chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeelTruth {
    /// Chain name.
    pub name: String,
    /// Hops in order.
    #[serde(rename = "hop")]
    pub hops: Vec<PeelHop>,
}

/// One hop of a peeling chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeelHop {
    /// Transaction id.
    pub txid: String,
    /// The peeled payments (`txid:vout`).
    pub payments: Vec<String>,
    /// The change that carries the chain on (`txid:vout`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// One transaction of the chain, as `transactions.jsonl` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTx {
    /// Transaction id.
    pub txid: String,
    /// Block height.
    pub height: u32,
    /// nVersion.
    pub version: i32,
    /// nLockTime (consensus value).
    pub lock_time: u32,
    /// Inputs in transaction order.
    pub inputs: Vec<ChainIn>,
    /// Outputs in transaction order.
    pub outputs: Vec<ChainOut>,
}

/// An input of a dumped transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainIn {
    /// The spent output, `txid:vout`.
    pub prevout: String,
    /// Its value, sat.
    pub value: u64,
    /// Its address (empty for a script without one).
    pub address: String,
    /// nSequence.
    pub sequence: u32,
}

/// An output of a dumped transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainOut {
    /// Value, sat.
    pub value: u64,
    /// Address (empty for a script without one, such as OP_RETURN).
    pub address: String,
}

/// What the builder records of a tagged story transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoryTx {
    pub(crate) txid: String,
    pub(crate) note: String,
    pub(crate) flow: Option<String>,
    pub(crate) coinjoin: Option<CoinJoinKind>,
    pub(crate) peel: Option<String>,
    /// Outputs that are not change (the payments).
    pub(crate) payments: Vec<u32>,
    pub(crate) change: Option<u32>,
    pub(crate) parties: Vec<String>,
}

/// What the builder knows of the story's tracing side.
#[derive(Debug, Clone, Default)]
pub(crate) struct TracingInput {
    pub(crate) story: Vec<StoryTx>,
    /// Background wallet ids, in order.
    pub(crate) background_wallets: Vec<String>,
    pub(crate) background_txs: usize,
    pub(crate) background_deposits: usize,
}

impl GroundTruth {
    /// A wallet by id.
    pub fn wallet(&self, id: &str) -> Option<&WalletTruth> {
        self.wallets.iter().find(|w| w.id == id)
    }

    /// TOML text (what `ground-truth.toml` holds).
    pub fn to_toml(&self) -> Result<String, crate::Error> {
        toml::to_string_pretty(self).map_err(|e| crate::Error::data_syntax("ground-truth.toml", e))
    }

    /// Parses a `ground-truth.toml`.
    pub fn from_toml(text: &str) -> Result<GroundTruth, crate::Error> {
        toml::from_str(text).map_err(|e| crate::Error::data_syntax("ground-truth.toml", e))
    }

    /// `transactions.jsonl`: one JSON object per non-coinbase transaction of the chain, in
    /// block order (so parents come before children).
    pub fn transactions_jsonl(&self) -> Result<String, crate::Error> {
        let mut out = String::new();
        for t in &self.chain_transactions {
            let line = serde_json::to_string(t)
                .map_err(|e| crate::Error::data_syntax("transactions.jsonl", e))?;
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }
}

fn path_key(p: &str) -> Vec<(u8, u64)> {
    p.split(['/', ' ', '#'])
        .map(|c| {
            let digits: String = c.chars().filter(char::is_ascii_digit).collect();
            match digits.parse::<u64>() {
                Ok(n) => (u8::from(c.ends_with('\'') || c.ends_with('h')), n),
                Err(_) => (2, 0),
            }
        })
        .collect()
}

/// Computes the ground truth from the built chain: every used address per wallet
/// ([`address_truth`]), each scenario wallet's totals ([`wallet_truth`]), the seized totals,
/// and for tracing scenarios the whole chain and the planted flows.
pub(crate) fn compute(
    sc: &Scenario,
    world: &World,
    st: &ChainState,
    change: &[ChangeTruth],
    txs: &[TxTruth],
    tracing: &TracingInput,
) -> GroundTruth {
    let mut by_wallet: HashMap<&str, Vec<AddressTruth>> = HashMap::new();
    for (script, info) in &world.scripts {
        if let Some(a) = address_truth(script, info, st) {
            by_wallet.entry(info.wallet.as_str()).or_default().push(a);
        }
    }
    let wallets: Vec<WalletTruth> = sc
        .wallets
        .iter()
        .map(|w| {
            wallet_truth(
                w,
                by_wallet.remove(w.id.as_str()).unwrap_or_default(),
                world,
            )
        })
        .collect();
    let mut truth = GroundTruth {
        scenario: sc.name.clone(),
        tip_height: st.index.tip_height(),
        tip_hash: st.kernel.tip_hash().to_string(),
        seized_total_sat: wallets
            .iter()
            .filter(|w| w.seized)
            .map(|w| w.balance_sat)
            .sum(),
        seized_utxo_count: wallets
            .iter()
            .filter(|w| w.seized)
            .map(|w| w.utxo_count)
            .sum(),
        wallets,
        change_outputs: change.to_vec(),
        transactions: txs.to_vec(),
        tracing: None,
        chain_transactions: Vec::new(),
    };
    if is_tracing_scenario(sc) {
        truth.chain_transactions = dump_chain(st);
        truth.tracing = Some(tracing_truth(
            sc,
            world,
            st,
            tracing,
            truth.chain_transactions.len(),
        ));
    }
    truth
}

/// What the chain holds for one script the lab paid to: received, balance, transactions and
/// unspent outputs. `None` for a script without history.
fn address_truth(script: &ScriptBuf, info: &AddrInfo, st: &ChainState) -> Option<AddressTruth> {
    let sh = script_hash(script);
    let history = st.index.history.get(&sh).cloned().unwrap_or_default();
    if history.is_empty() {
        return None;
    }
    let mut received = 0u64;
    for (_, txid) in &history {
        if let Some(loc) = st.index.txs.get(txid) {
            received += loc
                .tx
                .output
                .iter()
                .filter(|o| &o.script_pubkey == script)
                .map(|o| o.value.to_sat())
                .sum::<u64>();
        }
    }
    let mut utxos: Vec<UtxoTruth> = st
        .index
        .by_script
        .get(&sh)
        .map(|set| {
            set.iter()
                .filter_map(|op| {
                    st.index.utxos.get(op).map(|c| UtxoTruth {
                        txid: op.txid.to_string(),
                        vout: op.vout,
                        value_sat: c.txout.value.to_sat(),
                        height: c.height,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    utxos.sort_by(|a, b| (a.height, &a.txid, a.vout).cmp(&(b.height, &b.txid, b.vout)));
    Some(AddressTruth {
        address: info.address.clone(),
        path: info.path.clone(),
        script_type: info.script_type,
        received_sat: received,
        balance_sat: utxos.iter().map(|u| u.value_sat).sum(),
        tx_count: history.len(),
        utxos,
    })
}

/// One scenario wallet with its used addresses (sorted by path) and totals.
fn wallet_truth(w: &WalletSpec, mut addresses: Vec<AddressTruth>, world: &World) -> WalletTruth {
    addresses.sort_by(|a, b| {
        (path_key(&a.path), a.script_type.name()).cmp(&(path_key(&b.path), b.script_type.name()))
    });
    let material_files = [
        &w.mnemonic_file,
        &w.passphrase_file,
        &w.wif_file,
        &w.xpub_file,
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    let kind = toml::Value::try_from(w.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    WalletTruth {
        id: w.id.clone(),
        kind,
        owner: w.owner.clone(),
        seized: w.seized,
        material_files,
        balance_sat: addresses.iter().map(|a| a.balance_sat).sum(),
        received_sat: addresses.iter().map(|a| a.received_sat).sum(),
        utxo_count: addresses.iter().map(|a| a.utxos.len()).sum(),
        addresses,
        material: world.material.get(&w.id).cloned().unwrap_or_default(),
    }
}

fn is_tracing_scenario(sc: &Scenario) -> bool {
    sc.background.is_some()
        || sc.wallets.iter().any(|w| w.label.is_some())
        || sc
            .steps
            .iter()
            .any(|s| s.flow.is_some() || s.coinjoin.is_some() || s.peel.is_some())
}

/// Every non-coinbase transaction of the chain, in block order, with its spent outputs.
fn dump_chain(st: &ChainState) -> Vec<ChainTx> {
    let mut out = Vec::new();
    let prev = |op: &OutPoint| {
        st.index
            .txs
            .get(&op.txid)
            .and_then(|loc| loc.tx.output.get(usize::try_from(op.vout).ok()?).cloned())
    };
    for (height, txids) in st.index.block_txids.iter().enumerate() {
        for txid in txids.iter().skip(1) {
            let tx = &st
                .index
                .txs
                .get(txid)
                .expect("every txid of a block is in the index")
                .tx;
            let inputs =
                tx.input
                    .iter()
                    .map(|i| {
                        let p = prev(&i.previous_output);
                        ChainIn {
                            prevout: i.previous_output.to_string(),
                            value: p.as_ref().map(|o| o.value.to_sat()).expect(
                                "the kernel validated the chain: every spent output exists",
                            ),
                            address: p
                                .and_then(|o| keys::address(&o.script_pubkey))
                                .unwrap_or_default(),
                            sequence: i.sequence.0,
                        }
                    })
                    .collect();
            let outputs = tx
                .output
                .iter()
                .map(|o| ChainOut {
                    value: o.value.to_sat(),
                    address: keys::address(&o.script_pubkey).unwrap_or_default(),
                })
                .collect();
            out.push(ChainTx {
                txid: txid.to_string(),
                height: u32::try_from(height).expect("a lab chain is shorter than 2^32 blocks"),
                version: tx.version.0,
                lock_time: tx.lock_time.to_consensus_u32(),
                inputs,
                outputs,
            });
        }
    }
    out
}

/// Entities (owners) with every address of theirs seen on the chain.
fn entities(sc: &Scenario, world: &World, st: &ChainState, bg: &[String]) -> Vec<EntityTruth> {
    let mut order: Vec<EntityTruth> = Vec::new();
    let mut wallet_entity: HashMap<&str, usize> = HashMap::new();
    let add = |order: &mut Vec<EntityTruth>, name: &str, wallet: &str| -> usize {
        let i = match order.iter().position(|e| e.name == name) {
            Some(i) => i,
            None => {
                order.push(EntityTruth {
                    name: name.to_string(),
                    label: None,
                    category: None,
                    wallets: Vec::new(),
                    addresses: Vec::new(),
                });
                order.len() - 1
            }
        };
        order[i].wallets.push(wallet.to_string());
        i
    };
    for w in &sc.wallets {
        let i = add(&mut order, w.owner.as_deref().unwrap_or(&w.id), &w.id);
        if let (Some(l), None) = (&w.label, &order[i].label) {
            order[i].label = Some(l.name.clone());
            order[i].category = Some(l.category.clone());
        }
        wallet_entity.insert(w.id.as_str(), i);
    }
    for id in bg {
        let i = add(&mut order, id, id);
        wallet_entity.insert(id.as_str(), i);
    }
    let miner = add(&mut order, "lab-miner", "lab-miner");
    let seen = |script: &bitcoin::ScriptBuf| st.index.history.contains_key(&script_hash(script));
    for (script, info) in &world.scripts {
        if let Some(i) = wallet_entity.get(info.wallet.as_str()) {
            if seen(script) {
                order[*i].addresses.push(info.address.clone());
            }
        }
    }
    if let Some(a) = keys::address(&world.miner_script) {
        order[miner].addresses.push(a);
    }
    for e in &mut order {
        e.addresses.sort();
        e.addresses.dedup();
    }
    order.retain(|e| !e.addresses.is_empty());
    order
}

fn outpoint(txid: &str, vout: u32) -> String {
    format!("{txid}:{vout}")
}

fn tracing_truth(
    sc: &Scenario,
    world: &World,
    st: &ChainState,
    input: &TracingInput,
    chain_transactions: usize,
) -> TracingTruth {
    let mut flows: Vec<FlowTruth> = Vec::new();
    let mut peels: Vec<PeelTruth> = Vec::new();
    let mut coinjoins = Vec::new();
    for t in &input.story {
        if let Some(name) = &t.flow {
            match flows.iter_mut().find(|f| &f.name == name) {
                Some(f) => f.txids.push(t.txid.clone()),
                None => flows.push(FlowTruth {
                    name: name.clone(),
                    txids: vec![t.txid.clone()],
                }),
            }
        }
        if let Some(name) = &t.peel {
            let hop = PeelHop {
                txid: t.txid.clone(),
                payments: t.payments.iter().map(|v| outpoint(&t.txid, *v)).collect(),
                change: t.change.map(|v| outpoint(&t.txid, v)),
            };
            match peels.iter_mut().find(|p| &p.name == name) {
                Some(p) => p.hops.push(hop),
                None => peels.push(PeelTruth {
                    name: name.clone(),
                    hops: vec![hop],
                }),
            }
        }
        if let Some(kind) = t.coinjoin {
            let txid: Option<bitcoin::Txid> = t.txid.parse().ok();
            if let Some(loc) = txid.and_then(|id| st.index.txs.get(&id)) {
                let mut counts: HashMap<u64, usize> = HashMap::new();
                for o in &loc.tx.output {
                    *counts.entry(o.value.to_sat()).or_default() += 1;
                }
                let (value, n) = counts
                    .into_iter()
                    .max_by_key(|(v, n)| (*n, *v))
                    .unwrap_or((0, 0));
                coinjoins.push(CoinJoinTruth {
                    txid: t.txid.clone(),
                    kind,
                    note: t.note.clone(),
                    equal_value_sat: value,
                    equal_outputs: n,
                    inputs: loc.tx.input.len(),
                    outputs: loc.tx.output.len(),
                    parties: t.parties.clone(),
                });
            }
        }
    }
    TracingTruth {
        chain_transactions,
        background: sc.background.as_ref().map(|_| BackgroundTruth {
            wallets: input.background_wallets.len(),
            transactions: input.background_txs,
            deposits: input.background_deposits,
        }),
        entities: entities(sc, world, st, &input.background_wallets),
        flows,
        coinjoins,
        peels,
    }
}
