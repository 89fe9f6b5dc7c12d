//! The Ethereum derivation-path catalogue: which wallet derives its accounts where. Kept apart
//! from the Bitcoin catalogue (`data/paths.toml`) because an Ethereum account is one key at one
//! path, not a descriptor with receive and change chains.

use bitcoin::bip32::{ChildNumber, DerivationPath};

use super::EthKeyError;

/// One way wallets lay out Ethereum accounts: the `i`-th account is at [`EthPath::path`]`(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthPath {
    /// Stable id (`eth-bip44`, ...), used in watch-only files and `--paths`.
    pub id: &'static str,
    /// The template, `i` standing for the account index.
    pub template: &'static str,
    /// Wallets known to use it.
    pub wallets: &'static [&'static str],
    /// Where that is documented.
    pub sources: &'static [&'static str],
}

/// The catalogue, most common layout first.
pub const ETH_PATHS: [EthPath; 3] = [
    EthPath {
        id: "eth-bip44",
        template: "m/44'/60'/0'/0/i",
        wallets: &["MetaMask", "Trezor", "MyEtherWallet (default)", "Rabby", "Exodus", "anvil/hardhat"],
        sources: &[
            "BIP44 with SLIP-44 coin type 60",
            "MetaMask: accounts of the secret recovery phrase are m/44'/60'/0'/0/i",
            "Trezor: trezor-firmware core/src/apps/ethereum (SLIP-44 60, account in the last index)",
            "anvil --help: default derivation path m/44'/60'/0'/0/",
        ],
    },
    EthPath {
        id: "eth-ledger-live",
        template: "m/44'/60'/i'/0/0",
        wallets: &["Ledger Live"],
        sources: &[
            "Ledger Live: one account per BIP44 account index (ledger-live libs/coin-evm)",
            "MyEtherWallet path list: \"Ledger (Live)\" m/44'/60'/x'/0/0",
        ],
    },
    EthPath {
        id: "eth-ledger-legacy",
        template: "m/44'/60'/0'/i",
        wallets: &["Ledger Chrome app (legacy)", "MyEtherWallet (Ledger legacy)", "MyCrypto"],
        sources: &[
            "MyEtherWallet path list: \"Ledger (ETH)\" m/44'/60'/0'",
            "Ledger's pre-Live Ethereum Chrome app derived m/44'/60'/0'/i",
        ],
    },
];

impl EthPath {
    /// The catalogue entry with this id.
    pub fn by_id(id: &str) -> Result<&'static EthPath, EthKeyError> {
        ETH_PATHS
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| EthKeyError::Unsupported {
                kind: "path id",
                reason: format!(
                    "unknown ethereum path id {id:?} (known: {})",
                    ETH_PATHS
                        .iter()
                        .map(|p| p.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// The path of account `i`.
    pub fn path(&self, i: u32) -> Result<DerivationPath, EthKeyError> {
        let bad = |reason: String| EthKeyError::Derivation {
            path: self.template.replace('i', &i.to_string()),
            reason,
        };
        let h = |n: u32| ChildNumber::from_hardened_idx(n).map_err(|e| bad(e.to_string()));
        let n = |n: u32| ChildNumber::from_normal_idx(n).map_err(|e| bad(e.to_string()));
        let children = match self.id {
            "eth-bip44" => vec![h(44)?, h(60)?, h(0)?, n(0)?, n(i)?],
            "eth-ledger-live" => vec![h(44)?, h(60)?, h(i)?, n(0)?, n(0)?],
            "eth-ledger-legacy" => vec![h(44)?, h(60)?, h(0)?, n(i)?],
            other => return Err(bad(format!("no layout for path id {other}"))),
        };
        Ok(DerivationPath::from(children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_the_derived_paths() {
        for p in ETH_PATHS {
            let got = p.path(7).unwrap().to_string();
            assert_eq!(
                format!("m/{got}").replace("m/m/", "m/"),
                p.template.replace('i', "7")
            );
        }
    }

    #[test]
    fn unknown_path_id_is_an_error_listing_the_known_ones() {
        let e = EthPath::by_id("eth-nope").unwrap_err().to_string();
        assert!(e.contains("eth-bip44") && e.contains("eth-nope"), "{e}");
    }
}
