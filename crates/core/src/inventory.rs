//! Files that cross the air gap between the signer and the online workstation, as plain serde
//! types (no secrets in any of them):
//!
//! - [`WatchOnly`]: what `custos-signer material watch-only` writes from seized secret material
//!   and what `custos inspect` reads — public descriptors with key origins and bare addresses;
//! - [`Inventory`]: what `custos inspect` finds — every used address, its UTXOs with proof
//!   status, and each funding transaction once, keyed by txid — and what `custos sweep build`
//!   spends.
//!
//! Descriptors are strings in BIP380 syntax with checksum; the crates that use them parse them
//! with rust-miniscript. JSON field names are stable (documented in docs/formats.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Network, Sat};

/// Format tag of [`WatchOnly`] files.
pub const WATCH_ONLY_FORMAT: &str = "custos-watch-only-v1";
/// Format tag of [`Inventory`] files written now: each funding transaction stored once, in
/// [`Inventory::transactions`].
pub const INVENTORY_FORMAT: &str = "custos-inventory-v2";
/// Format tag of the first inventory files: the funding transaction inline in every UTXO
/// ([`InventoryUtxo::prev_tx`]). Still read.
pub const INVENTORY_FORMAT_V1: &str = "custos-inventory-v1";

/// Whether `format` is an inventory format this version reads.
pub fn is_inventory_format(format: &str) -> bool {
    format == INVENTORY_FORMAT || format == INVENTORY_FORMAT_V1
}

/// A watch-only description of seized material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchOnly {
    /// Always [`WATCH_ONLY_FORMAT`].
    pub format: String,
    /// Network the material is interpreted on.
    pub network: Network,
    /// UTC creation time.
    pub created: String,
    /// What the material was (e.g. "bip39 mnemonic, 12 words, with passphrase"); never the secret.
    pub material: String,
    /// sha256 (hex) of the master fingerprint list or WIF-derived pubkeys, to tie the file to
    /// the material without revealing it.
    pub fingerprint: String,
    /// Every public source to scan.
    pub sources: Vec<WatchSource>,
    /// What the file covers and what it leaves out (absent in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<WatchCoverage>,
}

/// What a [`WatchOnly`] file covers, so a scan can use its limits and a report can say what was
/// not looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchCoverage {
    /// Deep mode: raised limits, the other network's coin type and the rare layouts.
    pub deep: bool,
    /// Gap limit of receive chains the scan should use (consecutive unused addresses).
    pub gap: u32,
    /// Gap limit of change chains.
    pub change_gap: u32,
    /// Accounts listed per path with account discovery (0..accounts).
    pub accounts: u32,
    /// Single keys listed per chain of hardened-index paths.
    pub hardened_window: u32,
    /// Layouts listed: catalogue ids, `id@coinN` for the other network's coin type, and
    /// `custom:SCRIPT:PATH` for paths given by hand.
    pub layouts: Vec<String>,
    /// What is not covered, in words (empty when nothing is known to be left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_covered: Vec<String>,
}

/// One scannable public source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchSource {
    /// Stable label, unique in the file (e.g. `bip84/0`, `electrum-segwit`, `wif/3/wpkh`).
    pub label: String,
    /// Public descriptor with key origin and checksum. Ranged (`/*`) for HD sources, a single
    /// key for WIF-derived ones, `addr(...)` for bare addresses.
    pub descriptor: String,
    /// Whether this is the change chain of an HD account.
    #[serde(default)]
    pub change: bool,
    /// Catalogue entry id that produced it (HD sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_id: Option<String>,
    /// Account number when the path has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<u32>,
    /// Wallets known to use this path (for the report).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<String>,
}

/// The result of a discovery scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Always [`INVENTORY_FORMAT`].
    pub format: String,
    /// Network.
    pub network: Network,
    /// UTC time of the scan.
    pub scanned: String,
    /// Server(s) asked.
    pub servers: Vec<String>,
    /// Height of the validated tip the scan was done against.
    pub tip_height: u32,
    /// Hash of that tip.
    pub tip_hash: String,
    /// False when the scan could not finish; an incomplete scan never reports a smaller
    /// balance as if it were final.
    pub complete: bool,
    /// Used addresses, per source.
    pub addresses: Vec<UsedAddress>,
    /// Every unspent output found.
    pub utxos: Vec<InventoryUtxo>,
    /// Confirmed total.
    pub confirmed: Sat,
    /// Unconfirmed total.
    pub unconfirmed: Sat,
    /// Problems met (lying server, disagreement with a second server, ...).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Every funding transaction of [`Inventory::utxos`], once: txid → raw transaction, hex
    /// (v2; empty in v1 files, which carry it in each UTXO).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transactions: BTreeMap<String, String>,
}

impl Inventory {
    /// The funding transaction of `u`, hex: inline (v1) or from [`Inventory::transactions`]
    /// by the outpoint's txid (v2).
    pub fn prev_tx_hex<'a>(&'a self, u: &'a InventoryUtxo) -> Option<&'a str> {
        if !u.prev_tx.is_empty() {
            return Some(&u.prev_tx);
        }
        let txid = u
            .outpoint
            .split_once(':')
            .map_or(u.outpoint.as_str(), |(t, _)| t);
        self.transactions.get(txid).map(String::as_str)
    }
}

/// A used address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedAddress {
    /// Source label.
    pub source: String,
    /// Derivation index (0 for single-key sources).
    pub index: u32,
    /// Address.
    pub address: String,
    /// Definite (non-ranged) descriptor of this address, with key origin.
    pub descriptor: String,
    /// Number of transactions.
    pub tx_count: u32,
    /// Confirmed balance.
    pub confirmed: Sat,
    /// Unconfirmed balance change (can be negative in Electrum; clamped here: pending incoming).
    pub unconfirmed: Sat,
    /// First confirmed height with activity.
    pub first_height: Option<u32>,
    /// Last confirmed height with activity.
    pub last_height: Option<u32>,
}

/// An unspent output, with everything a sweep needs to spend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryUtxo {
    /// `txid:vout`.
    pub outpoint: String,
    /// Value.
    pub value: Sat,
    /// Confirmed height, 0 when unconfirmed.
    pub height: u32,
    /// Address.
    pub address: String,
    /// Output script, hex.
    pub script_pubkey: String,
    /// Definite descriptor with key origin (e.g. `wpkh([d34db33f/84'/1'/0'/0/5]02ab…)`).
    pub descriptor: String,
    /// Source label.
    pub source: String,
    /// Whether the funding transaction was checked by SPV (hash = txid, merkle proof against a
    /// validated header chain).
    pub verified: bool,
    /// The full funding transaction, hex (for `non_witness_utxo`): v1 files only. v2 leaves it
    /// out and keeps the transaction once in [`Inventory::transactions`]; read it through
    /// [`Inventory::prev_tx_hex`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prev_tx: String,
}

/// Format tag of [`CustodyPolicy`] files.
pub const CUSTODY_POLICY_FORMAT: &str = "custos-custody-policy-v1";

/// The registered custody wallet: where swept funds may go, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyPolicy {
    /// Always [`CUSTODY_POLICY_FORMAT`].
    pub format: String,
    /// Wallet name (Coldcard: 1–20 printable ASCII).
    pub name: String,
    /// Network.
    pub network: Network,
    /// Threshold K.
    pub threshold: u32,
    /// Number of keys N.
    pub keys: Vec<CustodyKey>,
    /// Receive descriptor (`.../0/*`), with checksum.
    pub receive_descriptor: String,
    /// Change descriptor (`.../1/*`), with checksum.
    pub change_descriptor: String,
    /// Next unused receive index.
    pub next_index: u32,
    /// sha256 of the ceremony transcript / descriptor record this policy comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceremony_record: Option<String>,
    /// Authorities whose BIP-322 signature on a disposal order lets the signer pay an output
    /// outside custody (optional; without any, nothing leaves custody but a re-custody).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorities: Vec<Authority>,
}

/// An authority that may sign disposal orders for a custody wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// Who it is (e.g. "public prosecutor, case desk").
    #[serde(default)]
    pub label: String,
    /// Its P2WPKH address: orders are signed with BIP-322 (simple) by this address's key.
    pub address: String,
    /// Proof of possession: the BIP-322 (simple) signature of this address over the fixed
    /// authority challenge (`custos_disposal::authority::challenge`). Signers count an
    /// authority only when it verifies.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proof: String,
}

/// One keyholder key of the custody wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyKey {
    /// Master fingerprint, 8 hex digits.
    pub fingerprint: String,
    /// Derivation path from the master (e.g. `m/48'/1'/0'/2'`).
    pub path: String,
    /// Extended public key at that path.
    pub xpub: String,
    /// Keyholder label.
    #[serde(default)]
    pub label: String,
}
