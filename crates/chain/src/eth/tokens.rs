//! Token lists: `fixtures/eth/tokens-mainnet.json` (well-known mainnet ERC-20s with symbols and
//! decimals, from the Uniswap default token list; see fixtures/eth/README.md), other files of the
//! same shape, and tokens added by address.

use std::path::Path;

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use super::EthError;

const MAINNET: &str = include_str!("../../../../fixtures/eth/tokens-mainnet.json");

/// Largest token list file read.
pub const TOKEN_LIST_LIMIT: custos_core::file::Limit = custos_core::file::Limit {
    kind: "token list",
    bytes: 16 << 20,
};

/// One ERC-20.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Contract address.
    pub address: Address,
    /// Ticker symbol.
    pub symbol: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Decimals (how many base units make one token).
    pub decimals: u8,
}

/// A list of tokens for one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    /// Where the list comes from.
    #[serde(default)]
    pub source: String,
    /// Chain the addresses are on.
    pub chain_id: u64,
    /// The tokens.
    pub tokens: Vec<TokenInfo>,
}

impl TokenList {
    /// The well-known mainnet tokens shipped with custos.
    pub fn mainnet() -> Result<TokenList, EthError> {
        Self::parse("fixtures/eth/tokens-mainnet.json", MAINNET)
    }

    /// Reads a list file (same shape as the mainnet list).
    pub fn load(path: &Path) -> Result<TokenList, EthError> {
        let shown = path.display().to_string();
        let text = custos_core::file::read_text(path, TOKEN_LIST_LIMIT).map_err(|e| {
            EthError::TokenList {
                file: shown.clone(),
                detail: e.to_string(),
            }
        })?;
        Self::parse(&shown, &text)
    }

    /// Parses list text; `file` names it in errors. Refuses a token listed twice.
    pub fn parse(file: &str, text: &str) -> Result<TokenList, EthError> {
        let list: TokenList = serde_json::from_str(text).map_err(|e| EthError::TokenList {
            file: file.to_string(),
            detail: e.to_string(),
        })?;
        let mut seen = std::collections::HashSet::new();
        for (i, t) in list.tokens.iter().enumerate() {
            if !seen.insert(t.address) {
                return Err(EthError::TokenList {
                    file: file.to_string(),
                    detail: format!(
                        "token {i} ({}): address {} listed twice",
                        t.symbol, t.address
                    ),
                });
            }
        }
        Ok(list)
    }

    /// The token at `address`, if listed.
    pub fn get(&self, address: Address) -> Option<&TokenInfo> {
        self.tokens.iter().find(|t| t.address == address)
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::address;

    use super::*;

    #[test]
    fn mainnet_list_has_usdt_and_usdc_with_six_decimals() {
        let l = TokenList::mainnet().unwrap();
        assert_eq!(l.chain_id, 1);
        let usdt = l
            .get(address!("dAC17F958D2ee523a2206206994597C13D831ec7"))
            .unwrap();
        assert_eq!((usdt.symbol.as_str(), usdt.decimals), ("USDT", 6));
        let usdc = l
            .get(address!("A0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"))
            .unwrap();
        assert_eq!((usdc.symbol.as_str(), usdc.decimals), ("USDC", 6));
        assert!(l.tokens.len() > 100);
    }

    #[test]
    fn a_token_listed_twice_is_refused_with_its_index() {
        let text = r#"{"chain_id":1,"tokens":[
            {"address":"0x0000000000000000000000000000000000000001","symbol":"A","decimals":1},
            {"address":"0x0000000000000000000000000000000000000001","symbol":"B","decimals":1}]}"#;
        let e = TokenList::parse("x.json", text).unwrap_err().to_string();
        assert!(e.contains("token 1 (B)") && e.contains("x.json"), "{e}");
    }
}
