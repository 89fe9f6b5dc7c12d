//! Networks and assets.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A Bitcoin network (mirrors `bitcoin::Network`, with stable names for files and the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Bitcoin mainnet.
    Bitcoin,
    /// Testnet3.
    Testnet,
    /// Testnet4.
    Testnet4,
    /// Signet.
    Signet,
    /// Regtest (the lab chain).
    Regtest,
}

impl Network {
    /// The rust-bitcoin network.
    pub fn to_bitcoin(self) -> bitcoin::Network {
        match self {
            Network::Bitcoin => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Testnet4 => bitcoin::Network::Testnet4,
            Network::Signet => bitcoin::Network::Signet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// From a rust-bitcoin network.
    pub fn from_bitcoin(n: bitcoin::Network) -> Network {
        match n {
            bitcoin::Network::Bitcoin => Network::Bitcoin,
            bitcoin::Network::Testnet => Network::Testnet,
            bitcoin::Network::Testnet4 => Network::Testnet4,
            bitcoin::Network::Signet => Network::Signet,
            _ => Network::Regtest,
        }
    }

    /// SLIP-44 coin type used in derivation paths: 0 on mainnet, 1 on every test network.
    pub fn coin_type(self) -> u32 {
        if self == Network::Bitcoin {
            0
        } else {
            1
        }
    }

    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Network {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "bitcoin" | "mainnet" | "main" => Ok(Network::Bitcoin),
            "testnet" | "testnet3" | "test" => Ok(Network::Testnet),
            "testnet4" => Ok(Network::Testnet4),
            "signet" => Ok(Network::Signet),
            "regtest" | "lab" => Ok(Network::Regtest),
            _ => Err(Error::UnknownNetwork(s.to_string())),
        }
    }
}

/// An asset custos can account for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Asset {
    /// Bitcoin on a network, counted in satoshis.
    Btc {
        /// Which network.
        network: Network,
    },
    /// Ether on an EVM chain, counted in wei.
    Eth {
        /// EIP-155 chain id.
        chain_id: u64,
    },
    /// An ERC-20 token, counted in its base unit.
    Erc20 {
        /// EIP-155 chain id.
        chain_id: u64,
        /// Contract address, 0x-prefixed hex (EIP-55 checksummed when known).
        contract: String,
        /// Ticker as read from the contract.
        symbol: String,
        /// Decimals as read from the contract.
        decimals: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_aliases() {
        assert_eq!("mainnet".parse::<Network>().unwrap(), Network::Bitcoin);
        assert_eq!("REGTEST".parse::<Network>().unwrap(), Network::Regtest);
        let e = "ropsten".parse::<Network>().unwrap_err();
        assert!(e.to_string().contains("ropsten"));
    }

    #[test]
    fn round_trips_rust_bitcoin() {
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            assert_eq!(Network::from_bitcoin(n.to_bitcoin()), n);
        }
    }
}
