//! Ground truth of a built Ethereum scenario: every account's ETH and token balances at one
//! block (exact integers, decimal strings), the deployed contracts, the custody Safe's inputs
//! and address, and every transaction the story made with its internal ETH payments and token
//! transfers. Computed by the lab's own bookkeeping of the scenario (amounts sent, fees kept by
//! the fee token, gas paid per receipt) and checked against the node before it is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole truth of one build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthTruth {
    /// Scenario name.
    pub scenario: String,
    /// Chain id of the node.
    pub chain_id: u64,
    /// The block every balance below is at (the chain's tip after the story).
    pub block_number: u64,
    /// Its hash (the chain is deterministic: same scenario, same hash).
    pub block_hash: String,
    /// Deployed contracts.
    pub contracts: ContractsTruth,
    /// Every account of the scenario.
    pub accounts: Vec<AccountTruth>,
    /// The custody Safe, if the scenario deploys one.
    #[serde(default)]
    pub safe: Option<SafeTruth>,
    /// The story's transactions, in order.
    pub transactions: Vec<EthTxTruth>,
}

/// Addresses of the deployed contracts (EIP-55 checksummed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractsTruth {
    /// `contracts/src/Forwarder.sol`.
    pub forwarder: String,
    /// Safe v1.4.1 singleton (`Safe`).
    pub safe_singleton: String,
    /// Safe v1.4.1 `SafeProxyFactory`.
    pub safe_proxy_factory: String,
    /// Safe v1.4.1 `CompatibilityFallbackHandler`.
    pub safe_fallback_handler: String,
    /// The tokens.
    pub tokens: Vec<TokenTruth>,
}

/// One token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTruth {
    /// Symbol.
    pub symbol: String,
    /// erc20, usdt-style, fee-on-transfer.
    pub kind: super::scenario::TokenKind,
    /// Contract address.
    pub address: String,
    /// Decimals.
    pub decimals: u8,
    /// Fee in basis points (fee-on-transfer).
    #[serde(default)]
    pub fee_bps: Option<u16>,
}

/// One account at the truth block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTruth {
    /// Id in the scenario.
    pub id: String,
    /// Address (EIP-55).
    pub address: String,
    /// `anvil #i`, the derivation path under the seized mnemonic, or `keystore FILE`.
    pub source: String,
    /// Part of the seized material.
    pub seized: bool,
    /// Who it belongs to.
    #[serde(default)]
    pub owner: Option<String>,
    /// ETH balance in wei (decimal).
    pub eth_wei: String,
    /// Transactions sent (the next nonce).
    pub nonce: u64,
    /// Token balances in base units (decimal), by symbol; only non-zero ones.
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
}

/// The custody Safe and everything needed to recompute its CREATE2 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeTruth {
    /// Owner addresses, in the order given to `setup`.
    pub owners: Vec<String>,
    /// Signatures needed.
    pub threshold: u32,
    /// `saltNonce` of `createProxyWithNonce` (decimal).
    pub salt_nonce: String,
    /// The `setup` calldata passed as `initializer` (hex).
    pub initializer: String,
    /// The factory used.
    pub factory: String,
    /// The singleton the proxy points to.
    pub singleton: String,
    /// The fallback handler given to `setup`.
    pub fallback_handler: String,
    /// The proxy's address, from the factory's `ProxyCreation` event.
    pub address: String,
    /// The deployment transaction.
    pub tx: String,
}

/// One transaction of the story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthTxTruth {
    /// 1-based step number; 0 for deployments.
    pub step: usize,
    /// What it does (`send-eth`, `send-token LDAI`, `split`, `forward`, `deploy NAME`, `safe`).
    pub what: String,
    /// Transaction hash.
    pub hash: String,
    /// Block it was mined in.
    pub block: u64,
    /// Sender.
    pub from: String,
    /// The `to` of the transaction (a contract for token, split and forward steps).
    #[serde(default)]
    pub to: Option<String>,
    /// Value of the transaction itself, wei.
    pub value_wei: String,
    /// Gas paid (gasUsed × effectiveGasPrice), wei.
    pub fee_wei: String,
    /// ETH moved by internal calls (forwarder), in order.
    #[serde(default)]
    pub internal: Vec<TransferTruth>,
    /// Token movements (what each address received; a fee token's fee is its own entry).
    #[serde(default)]
    pub token_transfers: Vec<TransferTruth>,
}

/// A movement of ETH or a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTruth {
    /// ETH or a token symbol.
    pub asset: String,
    /// Payer.
    pub from: String,
    /// Payee.
    pub to: String,
    /// Amount in base units (decimal).
    pub amount: String,
}

impl EthTruth {
    /// The truth as TOML.
    pub fn to_toml(&self) -> Result<String, crate::Error> {
        toml::to_string_pretty(self).map_err(|e| crate::Error::Control(format!("truth toml: {e}")))
    }

    /// The account with this id.
    pub fn account(&self, id: &str) -> Option<&AccountTruth> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The token with this symbol.
    pub fn token(&self, symbol: &str) -> Option<&TokenTruth> {
        self.contracts.tokens.iter().find(|t| t.symbol == symbol)
    }
}
