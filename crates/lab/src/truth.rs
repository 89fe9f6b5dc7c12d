//! Ground truth of a built scenario: every wallet, every address it was paid on (with path,
//! amounts and unspent outputs), change outputs and the story's transactions. Graders and
//! tests compare what custos finds with this; `custos-lab truth` writes it to
//! `fixtures/lab/<name>/ground-truth.toml`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::chain::{script_hash, ChainState};
use crate::keys::ScriptType;
use crate::scenario::Scenario;
use crate::world::{WalletMaterial, World};

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
}

impl GroundTruth {
    /// A wallet by id.
    pub fn wallet(&self, id: &str) -> Option<&WalletTruth> {
        self.wallets.iter().find(|w| w.id == id)
    }

    /// TOML text (what `ground-truth.toml` holds).
    pub fn to_toml(&self) -> Result<String, crate::Error> {
        toml::to_string_pretty(self)
            .map_err(|e| crate::Error::scenario(&self.scenario, e.to_string()))
    }

    /// Parses a `ground-truth.toml`.
    pub fn from_toml(text: &str) -> Result<GroundTruth, crate::Error> {
        toml::from_str(text).map_err(|e| crate::Error::scenario("ground-truth.toml", e.to_string()))
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

/// Computes the ground truth from the built chain.
pub(crate) fn compute(
    sc: &Scenario,
    world: &World,
    st: &ChainState,
    change: &[ChangeTruth],
    txs: &[TxTruth],
) -> GroundTruth {
    let mut by_wallet: HashMap<&str, Vec<AddressTruth>> = HashMap::new();
    for (script, info) in &world.scripts {
        let sh = script_hash(script);
        let history = st.index.history.get(&sh).cloned().unwrap_or_default();
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
        if history.is_empty() {
            continue;
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
        by_wallet
            .entry(info.wallet.as_str())
            .or_default()
            .push(AddressTruth {
                address: info.address.clone(),
                path: info.path.clone(),
                script_type: info.script_type,
                received_sat: received,
                balance_sat: utxos.iter().map(|u| u.value_sat).sum(),
                tx_count: history.len(),
                utxos,
            });
    }
    let mut wallets = Vec::new();
    for w in &sc.wallets {
        let mut addresses = by_wallet.remove(w.id.as_str()).unwrap_or_default();
        addresses.sort_by(|a, b| {
            (path_key(&a.path), a.script_type.name())
                .cmp(&(path_key(&b.path), b.script_type.name()))
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
        wallets.push(WalletTruth {
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
        });
    }
    GroundTruth {
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
    }
}
