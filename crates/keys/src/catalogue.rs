//! The derivation-path catalogue: which wallet derives which keys under which path, with which
//! script type. The data lives in `data/paths.toml` (every entry names its sources) and is
//! compiled in by [`Catalogue::builtin`].

use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath};
use custos_core::Network;
use serde::Deserialize;

use crate::Error;

static BUILTIN: &str = include_str!("../data/paths.toml");

/// Script type of a catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum ScriptType {
    /// P2PKH.
    #[serde(rename = "pkh")]
    Pkh,
    /// P2WPKH nested in P2SH.
    #[serde(rename = "sh-wpkh")]
    ShWpkh,
    /// Native P2WPKH.
    #[serde(rename = "wpkh")]
    Wpkh,
    /// Single-key taproot (BIP86).
    #[serde(rename = "tr")]
    Tr,
    /// Bare-P2SH multisig (Electrum 2FA).
    #[serde(rename = "sh-multi")]
    ShMulti,
    /// Multisig P2WSH nested in P2SH (cosigner paths only).
    #[serde(rename = "sh-wsh-multi")]
    ShWshMulti,
    /// Multisig native P2WSH (cosigner paths only).
    #[serde(rename = "wsh-multi")]
    WshMulti,
}

impl ScriptType {
    /// The single-key script types, in the order sources list them.
    pub const SINGLE_KEY: [ScriptType; 4] = [
        ScriptType::Pkh,
        ScriptType::ShWpkh,
        ScriptType::Wpkh,
        ScriptType::Tr,
    ];

    /// The single-key script type of a name: `pkh`, `sh-wpkh`, `wpkh`, `tr` (or their
    /// `p2…` forms: `p2pkh`, `p2sh-p2wpkh`, `p2wpkh`, `p2tr`).
    pub fn from_single_key_name(name: &str) -> Option<ScriptType> {
        match name {
            "pkh" | "p2pkh" => Some(ScriptType::Pkh),
            "sh-wpkh" | "p2sh-p2wpkh" | "p2wpkh-p2sh" => Some(ScriptType::ShWpkh),
            "wpkh" | "p2wpkh" => Some(ScriptType::Wpkh),
            "tr" | "p2tr" => Some(ScriptType::Tr),
            _ => None,
        }
    }

    /// Short name used in labels ("pkh", "sh-wpkh", ...).
    pub fn name(self) -> &'static str {
        match self {
            ScriptType::Pkh => "pkh",
            ScriptType::ShWpkh => "sh-wpkh",
            ScriptType::Wpkh => "wpkh",
            ScriptType::Tr => "tr",
            ScriptType::ShMulti => "sh-multi",
            ScriptType::ShWshMulti => "sh-wsh-multi",
            ScriptType::WshMulti => "wsh-multi",
        }
    }

    /// Wraps a key expression into a single-key descriptor; `None` for multisig types.
    pub fn wrap(self, key: &str) -> Option<String> {
        match self {
            ScriptType::Pkh => Some(format!("pkh({key})")),
            ScriptType::ShWpkh => Some(format!("sh(wpkh({key}))")),
            ScriptType::Wpkh => Some(format!("wpkh({key})")),
            ScriptType::Tr => Some(format!("tr({key})")),
            ScriptType::ShMulti | ScriptType::ShWshMulti | ScriptType::WshMulti => None,
        }
    }
}

/// How address indexes are derived under a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Non-hardened, ranged: a public descriptor with `/*`.
    #[default]
    Normal,
    /// Hardened indexes: only the private key can derive them; a window of single keys is listed.
    Hardened,
    /// One address at a fixed index.
    Fixed,
}

/// Coin-type rule of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoinRule {
    /// 0 on mainnet, 1 on every test network (BIP44 / SLIP-44).
    Network,
    /// 0 on every network (the wallet hard-codes it).
    Zero,
}

/// The chain (coin) an entry derives keys for. Only Bitcoin today; an Ethereum entry will add a
/// variant here and its own script types, so a catalogue can list both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    /// Bitcoin (and its test networks).
    #[default]
    Bitcoin,
}

/// Which seized material an entry applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum MaterialClass {
    /// BIP39 seeds and master extended private keys.
    #[serde(rename = "bip32")]
    Bip32,
    /// Electrum standard seeds.
    #[serde(rename = "electrum-standard")]
    ElectrumStandard,
    /// Electrum segwit seeds.
    #[serde(rename = "electrum-segwit")]
    ElectrumSegwit,
    /// Electrum old (pre-2.0) seeds.
    #[serde(rename = "electrum-old")]
    ElectrumOld,
    /// Electrum 2FA (TrustedCoin) seeds, p2sh.
    #[serde(rename = "electrum-2fa")]
    ElectrumTwoFactor,
    /// Electrum 2FA (TrustedCoin) segwit seeds, p2wsh.
    #[serde(rename = "electrum-2fa-segwit")]
    ElectrumTwoFactorSegwit,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// Stable id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Chain the entry derives keys for (default bitcoin).
    #[serde(default)]
    pub chain: ChainKind,
    /// Scanned only in deep mode (rare layouts: chains at the wallet root, under m/0).
    #[serde(default)]
    pub deep_only: bool,
    /// Account-level path template with `{coin}` and `{account}`.
    pub path: String,
    /// Chains under the account path (empty: addresses directly under it).
    pub chains: Vec<u32>,
    /// Whether chain steps are hardened.
    #[serde(default)]
    pub chain_hardened: bool,
    /// Index derivation.
    #[serde(default)]
    pub index: IndexKind,
    /// Index for [`IndexKind::Fixed`].
    #[serde(default)]
    pub fixed_index: u32,
    /// Script types.
    pub scripts: Vec<ScriptType>,
    /// Whether accounts are discovered (BIP44 account discovery).
    pub discover_accounts: bool,
    /// Coin-type rule.
    pub coin: CoinRule,
    /// Material classes the entry applies to.
    pub material: Vec<MaterialClass>,
    /// Multisig cosigner path.
    #[serde(default)]
    pub cosigner: bool,
    /// Wallets known to use it.
    pub wallets: Vec<String>,
    /// Documentation or source code naming the path.
    pub sources: Vec<String>,
    /// Caveats.
    #[serde(default)]
    pub note: String,
}

impl CatalogueEntry {
    /// Coin type on `network` under this entry's rule.
    pub fn coin_type(&self, network: Network) -> u32 {
        match self.coin {
            CoinRule::Network => network.coin_type(),
            CoinRule::Zero => 0,
        }
    }

    /// The other network's coin type, when the path follows the network (`{coin}` with the
    /// "network" rule): 0 on test networks, 1 on mainnet. Wallets misconfigured for testnet
    /// and lab material derive there.
    pub fn other_coin_type(&self, network: Network) -> Option<u32> {
        (self.coin == CoinRule::Network && self.path.contains("{coin}"))
            .then(|| u32::from(network.coin_type() == 0))
    }

    /// Whether the template has an `{account}` placeholder.
    pub fn has_account(&self) -> bool {
        self.path.contains("{account}")
    }

    /// The account-level derivation path on `network` for `account`.
    pub fn account_path(&self, network: Network, account: u32) -> Result<DerivationPath, Error> {
        self.account_path_with_coin(self.coin_type(network), account)
    }

    /// The account-level derivation path with an explicit coin type (see
    /// [`CatalogueEntry::other_coin_type`]).
    pub fn account_path_with_coin(&self, coin: u32, account: u32) -> Result<DerivationPath, Error> {
        let text = self
            .path
            .replace("{coin}", &coin.to_string())
            .replace("{account}", &account.to_string());
        DerivationPath::from_str(&text).map_err(|e| Error::Catalogue {
            reason: format!("entry {}: path {text:?}: {e}", self.id),
        })
    }

    /// Child number of chain `c` under this entry.
    pub fn chain_child(&self, c: u32) -> Result<ChildNumber, Error> {
        let r = if self.chain_hardened {
            ChildNumber::from_hardened_idx(c)
        } else {
            ChildNumber::from_normal_idx(c)
        };
        r.map_err(|e| Error::Catalogue {
            reason: format!("entry {}: chain {c}: {e}", self.id),
        })
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |r: &str| Error::Catalogue {
            reason: format!("entry {}: {r}", self.id),
        };
        if self.id.is_empty()
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad("id must be lower-case ascii, digits and '-'"));
        }
        if self.scripts.is_empty() {
            return Err(bad("no script type"));
        }
        if self.material.is_empty() {
            return Err(bad("no material class"));
        }
        if self.sources.is_empty() {
            return Err(bad("no source"));
        }
        if self.wallets.is_empty() {
            return Err(bad("no wallet"));
        }
        if self.discover_accounts && !self.has_account() {
            return Err(bad("discover_accounts without {account} in the path"));
        }
        if self.index == IndexKind::Fixed && self.chains.len() != 1 {
            return Err(bad("a fixed index needs exactly one chain"));
        }
        let multi = self.scripts.iter().any(|s| s.wrap("k").is_none());
        let two_factor = self.material.iter().any(|m| {
            matches!(
                m,
                MaterialClass::ElectrumTwoFactor | MaterialClass::ElectrumTwoFactorSegwit
            )
        });
        if multi != (self.cosigner || two_factor) {
            return Err(bad("multisig script types go with cosigner = true or an electrum 2fa material, and only with them"));
        }
        for n in [Network::Bitcoin, Network::Regtest] {
            self.account_path(n, 0)?;
        }
        for &c in &self.chains {
            self.chain_child(c)?;
        }
        Ok(())
    }
}

/// The catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Catalogue {
    /// Entries, in file order.
    #[serde(rename = "entry")]
    pub entries: Vec<CatalogueEntry>,
}

impl Catalogue {
    /// The catalogue compiled in from `crates/keys/data/paths.toml`.
    ///
    /// # Panics
    /// Never in a released build: the file is validated by this crate's tests
    /// (`builtin_catalogue_loads_and_validates`).
    pub fn builtin() -> Catalogue {
        #[allow(clippy::expect_used)]
        Catalogue::from_toml(BUILTIN)
            .expect("crates/keys/data/paths.toml is validated by the test suite")
    }

    /// Parses and validates a catalogue in the `paths.toml` format.
    pub fn from_toml(text: &str) -> Result<Catalogue, Error> {
        let c: Catalogue = toml::from_str(text).map_err(|e| Error::Catalogue {
            reason: e.to_string(),
        })?;
        let mut ids = std::collections::HashSet::new();
        for e in &c.entries {
            e.validate()?;
            if !ids.insert(e.id.as_str()) {
                return Err(Error::Catalogue {
                    reason: format!("duplicate id {}", e.id),
                });
            }
        }
        Ok(c)
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&CatalogueEntry> {
        self.entries.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_loads_and_validates() {
        let c = Catalogue::from_toml(BUILTIN).unwrap();
        for id in [
            "bip44",
            "bip49",
            "bip84",
            "bip86",
            "m0h",
            "bip84-path-p2pkh",
            "bip49-path-p2pkh",
            "bip44-path-p2wpkh",
            "bip44-path-p2sh-p2wpkh",
            "bisq",
            "samourai-badbank",
            "samourai-premix",
            "samourai-postmix",
            "samourai-ricochet",
            "bip48-p2sh-p2wsh",
            "bip48-p2wsh",
            "core-legacy-hd",
            "blockchain-info",
            "atomic",
            "electrum-standard",
            "electrum-segwit",
            "electrum-old",
            "electrum-2fa",
            "electrum-2fa-segwit",
        ] {
            assert!(c.get(id).is_some(), "missing {id}");
        }
    }

    #[test]
    fn coin_type_follows_the_network_unless_hard_coded() {
        let c = Catalogue::builtin();
        let bip84 = c.get("bip84").unwrap();
        assert_eq!(
            bip84.account_path(Network::Regtest, 2).unwrap().to_string(),
            "84'/1'/2'"
        );
        assert_eq!(
            bip84.account_path(Network::Bitcoin, 0).unwrap().to_string(),
            "84'/0'/0'"
        );
        let bisq = c.get("bisq").unwrap();
        assert_eq!(
            bisq.account_path(Network::Regtest, 0).unwrap().to_string(),
            "44'/0'/1'"
        );
    }

    #[test]
    fn rejects_entries_without_sources_or_with_duplicate_ids() {
        let entry = r#"
[[entry]]
id = "x"
name = "x"
path = "m/1'"
chains = [0]
scripts = ["pkh"]
discover_accounts = false
coin = "network"
material = ["bip32"]
wallets = ["w"]
sources = [SRC]
"#;
        assert!(Catalogue::from_toml(&entry.replace("SRC", "")).is_err());
        let one = entry.replace("SRC", "\"s\"");
        assert!(Catalogue::from_toml(&one).is_ok());
        assert!(Catalogue::from_toml(&format!("{one}{one}")).is_err());
    }
}
