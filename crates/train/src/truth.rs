//! The part of a scenario's ground truth (`ground-truth.toml`, written by `custos-lab truth`)
//! the grader needs. Read from the TOML text, so the grader does not depend on the lab crate
//! (the lab's binary depends on this one).

use serde::Deserialize;

use crate::Error;

/// An unspent output at the end of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthUtxo {
    /// Transaction id.
    pub txid: String,
    /// Output index.
    pub vout: u32,
    /// Value, sat.
    pub value_sat: u64,
}

/// One address a wallet was paid on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthAddress {
    /// Regtest address.
    pub address: String,
    /// Derivation path, `wif #n` or `xpub/0/3`.
    pub path: String,
    /// Script type name.
    pub script_type: String,
    /// Ever received, sat.
    pub received_sat: u64,
    /// Balance at the end of the scenario, sat.
    pub balance_sat: u64,
    /// Unspent outputs.
    #[serde(default)]
    pub utxos: Vec<TruthUtxo>,
}

/// One wallet of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthWallet {
    /// Id in the scenario.
    pub id: String,
    /// Kind (`bip39`, `electrum-segwit`, `wif`, `xpub`, `multisig`, `lab`).
    pub kind: String,
    /// Part of the seized material.
    pub seized: bool,
    /// Files the student receives for it.
    #[serde(default)]
    pub material_files: Vec<String>,
    /// Balance, sat.
    pub balance_sat: u64,
    /// Addresses that were paid.
    #[serde(default)]
    pub addresses: Vec<TruthAddress>,
}

impl TruthWallet {
    /// The material kind `custos-signer material watch-only` reports for this wallet (the
    /// `material` of an `inspect.scan` event), if it is seized material.
    pub fn material_kind(&self) -> Option<&'static str> {
        match self.kind.as_str() {
            "bip39" => Some("bip39 mnemonic"),
            "electrum-segwit" => Some("electrum seed"),
            "wif" => Some("wif keys"),
            "xpub" => Some("extended public keys"),
            _ => None,
        }
    }

    /// Whether the wallet needs a passphrase (its material includes a passphrase file).
    pub fn has_passphrase(&self) -> bool {
        self.material_files.iter().any(|f| f.contains("passphrase"))
    }
}

/// The ground truth of a Bitcoin scenario (or of one student's variant of it).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Truth {
    /// Scenario name.
    pub scenario: String,
    /// Tip height when the scenario was built.
    pub tip_height: u32,
    /// That tip's hash.
    pub tip_hash: String,
    /// Balance of the seized wallets, sat.
    pub seized_total_sat: u64,
    /// Unspent outputs of the seized wallets.
    pub seized_utxo_count: usize,
    /// Wallets.
    #[serde(rename = "wallet")]
    pub wallets: Vec<TruthWallet>,
    /// Tracing ground truth (tracing scenarios).
    #[serde(default)]
    pub tracing: Option<TruthTracing>,
}

/// An entity of a tracing scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthEntity {
    /// Name.
    pub name: String,
    /// Label category when the entity is publicly known.
    #[serde(default)]
    pub category: Option<String>,
    /// Its addresses.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// A planted CoinJoin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthCoinJoin {
    /// Transaction id.
    pub txid: String,
    /// Kind (`equal-output`, `whirlpool`, ...).
    pub kind: String,
}

/// The part of the `[tracing]` ground truth the tracing items need.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TruthTracing {
    /// Entities.
    #[serde(default, rename = "entity")]
    pub entities: Vec<TruthEntity>,
    /// Planted CoinJoins.
    #[serde(default, rename = "coinjoin")]
    pub coinjoins: Vec<TruthCoinJoin>,
}

impl Truth {
    /// Parses `ground-truth.toml` text.
    pub fn from_toml(text: &str) -> Result<Truth, Error> {
        toml::from_str(text).map_err(|e| Error::malformed("ground truth", e))
    }

    /// The seized wallets.
    pub fn seized(&self) -> impl Iterator<Item = &TruthWallet> {
        self.wallets.iter().filter(|w| w.seized)
    }

    /// Whether `address` belongs to any wallet of the scenario.
    pub fn knows(&self, address: &str) -> bool {
        self.wallets
            .iter()
            .any(|w| w.addresses.iter().any(|a| a.address == address))
    }
}
