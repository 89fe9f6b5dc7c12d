//! An Ethereum source over HTTP JSON-RPC (alloy provider and its RPC client).
//!
//! One inspection pins one block ([`PinnedBlock`]: number and hash) and asks every question at
//! that block by hash (EIP-1898, `requireCanonical`), so all balances belong to one state. A
//! call that fails is explained by [`EthSource::check_pin`]: the pinned block reorganised away
//! ([`EthError::Reorg`]) or a node that has not reached it ([`EthError::NodeBehind`]).
//!
//! Balances, nonces and ERC-20 `balanceOf` calls go out as batched JSON-RPC: one HTTP request
//! carries up to [`EthOptions::batch_size`] calls. [`EthSource::round_trips`] counts the HTTP
//! requests made.
//!
//! A sweep's calls (gas estimates at the pin, `eth_sendRawTransaction`, receipts) are in
//! `send.rs`.
//!
//! Plain `http://` only in this build (no TLS backend is linked): for a remote provider use a
//! local TLS-terminating proxy. The URL's path and credentials never appear in messages.

mod error;
mod safe;
mod send;
mod tokens;
mod trace;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_client::{ClientBuilder, RpcClient, Waiter};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, RpcBlockHash};
use alloy_sol_types::SolCall;
use serde_json::json;

pub use error::EthError;
pub use safe::SafeState;
pub use send::{Receipt, ReceiptLog};
pub use tokens::{TokenInfo, TokenList, TOKEN_LIST_LIMIT};
pub use trace::{CallTransfer, TokenTransfer, TracedTransfer, TransferFilter};

alloy_sol_types::sol! {
    /// The ERC-20 views the source calls.
    #[derive(Debug)]
    interface IErc20View {
        function balanceOf(address owner) external view returns (uint256);
        function decimals() external view returns (uint8);
        function symbol() external view returns (string);
    }
}

/// How the source talks to its node.
#[derive(Debug, Clone)]
pub struct EthOptions {
    /// Calls per HTTP request (public providers accept 100 to 1,000; anvil and geth more).
    pub batch_size: usize,
    /// Refuse a node serving another chain.
    pub expected_chain_id: Option<u64>,
    /// Longest wait for one HTTP request.
    pub timeout: Duration,
}

impl Default for EthOptions {
    fn default() -> Self {
        EthOptions {
            batch_size: 200,
            expected_chain_id: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// The block an inspection is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedBlock {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Timestamp (seconds since the epoch).
    pub timestamp: u64,
    /// Base fee per gas of the block (EIP-1559), wei.
    pub base_fee_per_gas: Option<u64>,
}

impl PinnedBlock {
    fn id(&self) -> BlockId {
        BlockId::Hash(RpcBlockHash {
            block_hash: self.hash,
            require_canonical: Some(true),
        })
    }
}

/// ETH balance and nonce of an address at the pinned block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountState {
    /// The address.
    pub address: Address,
    /// Balance in wei.
    pub balance_wei: U256,
    /// Transactions sent (the next nonce).
    pub nonce: u64,
}

/// One `balanceOf` answer.
#[derive(Debug)]
pub struct TokenBalance {
    /// Token contract.
    pub token: Address,
    /// Holder asked about.
    pub owner: Address,
    /// Base units held, or why the contract did not answer as an ERC-20.
    pub balance: Result<U256, EthError>,
}

/// An Ethereum JSON-RPC node, asked in batches, every answer at one pinned block.
pub struct EthSource {
    rt: tokio::runtime::Runtime,
    client: RpcClient,
    provider: RootProvider,
    node: String,
    opts: EthOptions,
    chain_id: u64,
    round_trips: AtomicU64,
}

impl fmt::Debug for EthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthSource")
            .field("node", &self.node)
            .field("chain_id", &self.chain_id)
            .field("batch_size", &self.opts.batch_size)
            .finish_non_exhaustive()
    }
}

/// `scheme://host:port` of a URL: what messages show (never a path, query or credentials,
/// which often hold an API key).
fn node_name(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

impl EthSource {
    /// Connects to the node at `url` (`http://host:port[/path]`) and reads its chain id.
    pub fn connect(url: &str, opts: EthOptions) -> Result<EthSource, EthError> {
        let node = node_name(url);
        let bad = |detail: &str| EthError::BadUrl {
            url: node.clone(),
            detail: detail.to_string(),
        };
        if !url.starts_with("http://") {
            return Err(bad("only http:// nodes are supported by this build (no TLS backend): use a local TLS-terminating proxy for https"));
        }
        if opts.batch_size == 0 {
            return Err(bad("batch size must be at least 1"));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EthError::Unreachable {
                node: node.clone(),
                method: "runtime".into(),
                detail: e.to_string(),
            })?;
        let client = rt
            .block_on(ClientBuilder::default().connect(url))
            .map_err(|e| bad(&e.to_string()))?;
        let provider = RootProvider::new(client.clone());
        let mut src = EthSource {
            rt,
            client,
            provider,
            node,
            opts,
            chain_id: 0,
            round_trips: AtomicU64::new(0),
        };
        src.chain_id = src.single("eth_chainId", |p| async move { p.get_chain_id().await })?;
        if let Some(expected) = src.opts.expected_chain_id {
            if expected != src.chain_id {
                return Err(EthError::ChainId {
                    node: src.node.clone(),
                    expected,
                    got: src.chain_id,
                });
            }
        }
        Ok(src)
    }

    /// The node's chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// `scheme://host:port` of the node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// HTTP requests made so far (a batch counts once).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn unreachable(&self, method: &str, e: impl fmt::Display) -> EthError {
        EthError::Unreachable {
            node: self.node.clone(),
            method: method.to_string(),
            detail: e.to_string(),
        }
    }

    fn answer(&self, method: &str, detail: impl Into<String>) -> EthError {
        EthError::Answer {
            node: self.node.clone(),
            method: method.to_string(),
            detail: detail.into(),
        }
    }

    /// One call through the provider, with the timeout, counted as a round trip.
    fn single<T, F, Fut>(&self, method: &str, f: F) -> Result<T, EthError>
    where
        F: FnOnce(RootProvider) -> Fut,
        Fut: std::future::Future<Output = alloy_provider::transport::TransportResult<T>>,
    {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let fut = f(self.provider.clone());
        let timeout = self.opts.timeout;
        self.rt
            .block_on(async move { tokio::time::timeout(timeout, fut).await })
            .map_err(|_| self.unreachable(method, format!("no answer within {timeout:?}")))?
            .map_err(|e| self.classify(method, e))
    }

    fn classify(&self, method: &str, e: alloy_provider::transport::TransportError) -> EthError {
        use alloy_provider::transport::RpcError;
        match e {
            RpcError::ErrorResp(p) => {
                self.answer(method, format!("error {}: {}", p.code, p.message))
            }
            RpcError::NullResp => self.answer(method, "null answer"),
            RpcError::DeserError { err, .. } => {
                self.answer(method, format!("malformed answer: {err}"))
            }
            other => self.unreachable(method, other),
        }
    }

    /// Pins the node's latest block.
    pub fn pin_latest(&self) -> Result<PinnedBlock, EthError> {
        self.block(BlockNumberOrTag::Latest)?
            .ok_or_else(|| self.answer("eth_getBlockByNumber", "no latest block"))
    }

    /// Pins the block at `number`; refuses a node that has not reached it.
    pub fn pin_at(&self, number: u64) -> Result<PinnedBlock, EthError> {
        match self.block(BlockNumberOrTag::Number(number))? {
            Some(b) => Ok(b),
            None => Err(EthError::NodeBehind {
                node: self.node.clone(),
                tip: self.tip()?,
                pinned: number,
            }),
        }
    }

    fn tip(&self) -> Result<u64, EthError> {
        self.single(
            "eth_blockNumber",
            |p| async move { p.get_block_number().await },
        )
    }

    fn block(&self, tag: BlockNumberOrTag) -> Result<Option<PinnedBlock>, EthError> {
        let b = self.single("eth_getBlockByNumber", |p| async move {
            p.get_block_by_number(tag).await
        })?;
        Ok(b.map(|b| PinnedBlock {
            number: b.header.number,
            hash: b.header.hash,
            timestamp: b.header.timestamp,
            base_fee_per_gas: b.header.base_fee_per_gas,
        }))
    }

    /// Checks that `pin` is still the node's block at its height: [`EthError::Reorg`] if another
    /// block replaced it, [`EthError::NodeBehind`] if the node has not reached it.
    pub fn check_pin(&self, pin: &PinnedBlock) -> Result<(), EthError> {
        match self.block(BlockNumberOrTag::Number(pin.number))? {
            None => Err(EthError::NodeBehind {
                node: self.node.clone(),
                tip: self.tip()?,
                pinned: pin.number,
            }),
            Some(b) if b.hash != pin.hash => Err(EthError::Reorg {
                number: pin.number,
                pinned: pin.hash,
                now: b.hash,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Sends one batch; the waiters then resolve. A failed batch is explained by the pin.
    fn send_batch(
        &self,
        batch: alloy_rpc_client::BatchRequest<'_>,
        n: usize,
    ) -> Result<(), EthError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let timeout = self.opts.timeout;
        let method = format!("batch of {n} calls");
        self.rt
            .block_on(async move { tokio::time::timeout(timeout, batch.send()).await })
            .map_err(|_| self.unreachable(&method, format!("no answer within {timeout:?}")))?
            .map_err(|e| self.classify(&method, e))
    }

    fn wait<T>(&self, method: &str, w: Waiter<T>, pin: &PinnedBlock) -> Result<T, EthError>
    where
        Waiter<T>: std::future::Future<Output = alloy_provider::transport::TransportResult<T>>,
    {
        match self.rt.block_on(w) {
            Ok(v) => Ok(v),
            Err(e) => {
                // An answer that fails at a pinned hash is most often a reorg or a lagging node.
                self.check_pin(pin)?;
                Err(self.classify(method, e))
            }
        }
    }

    /// ETH balance and nonce of every address at `pin`: two calls per address, batched.
    pub fn accounts(
        &self,
        pin: &PinnedBlock,
        addrs: &[Address],
    ) -> Result<Vec<AccountState>, EthError> {
        let id = pin.id();
        let per_batch = (self.opts.batch_size / 2).max(1);
        let mut out = Vec::with_capacity(addrs.len());
        for chunk in addrs.chunks(per_batch) {
            let mut batch = self.client.new_batch();
            let mut waiters = Vec::with_capacity(chunk.len());
            for a in chunk {
                let bal: Waiter<U256> = batch
                    .add_call("eth_getBalance", &(a, id))
                    .map_err(|e| self.classify("eth_getBalance", e))?;
                let nonce: Waiter<U64> = batch
                    .add_call("eth_getTransactionCount", &(a, id))
                    .map_err(|e| self.classify("eth_getTransactionCount", e))?;
                waiters.push((*a, bal, nonce));
            }
            self.send_batch(batch, chunk.len() * 2)?;
            for (address, bal, nonce) in waiters {
                let balance_wei = self.wait("eth_getBalance", bal, pin)?;
                let nonce = self.wait("eth_getTransactionCount", nonce, pin)?;
                out.push(AccountState {
                    address,
                    balance_wei,
                    nonce: nonce.to::<u64>(),
                });
            }
        }
        Ok(out)
    }

    /// `balanceOf(owner)` of every token for every owner at `pin`, batched; the answers come
    /// owner-major (all tokens of the first owner, then the next owner).
    pub fn token_balances(
        &self,
        pin: &PinnedBlock,
        tokens: &[Address],
        owners: &[Address],
    ) -> Result<Vec<TokenBalance>, EthError> {
        let pairs: Vec<(Address, Address)> = owners
            .iter()
            .flat_map(|o| tokens.iter().map(move |t| (*t, *o)))
            .collect();
        let id = pin.id();
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(self.opts.batch_size) {
            let mut batch = self.client.new_batch();
            let mut waiters = Vec::with_capacity(chunk.len());
            for (token, owner) in chunk {
                let data: Bytes = IErc20View::balanceOfCall { owner: *owner }
                    .abi_encode()
                    .into();
                let w: Waiter<Bytes> = batch
                    .add_call("eth_call", &(json!({"to": token, "data": data}), id))
                    .map_err(|e| self.classify("eth_call", e))?;
                waiters.push((*token, *owner, w));
            }
            self.send_batch(batch, chunk.len())?;
            for (token, owner, w) in waiters {
                let balance = match self.rt.block_on(w) {
                    Ok(ret) => decode_balance(token, owner, &ret),
                    Err(e) => {
                        self.check_pin(pin)?;
                        match self.classify("eth_call", e) {
                            // A revert is the token's answer; anything else is the node's failure.
                            EthError::Answer { detail, .. } => Err(EthError::NotAToken {
                                token,
                                owner,
                                detail,
                            }),
                            other => return Err(other),
                        }
                    }
                };
                out.push(TokenBalance {
                    token,
                    owner,
                    balance,
                });
            }
        }
        Ok(out)
    }

    /// `symbol()` and `decimals()` of tokens not on a list, at `pin` (one batch per chunk).
    /// A token whose symbol is not a string (old bytes32 tokens) gets its hex address as symbol.
    pub fn token_info(
        &self,
        pin: &PinnedBlock,
        tokens: &[Address],
    ) -> Result<Vec<TokenInfo>, EthError> {
        let id = pin.id();
        let mut out = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks((self.opts.batch_size / 2).max(1)) {
            let mut batch = self.client.new_batch();
            let mut waiters = Vec::with_capacity(chunk.len());
            for t in chunk {
                let dec: Bytes = IErc20View::decimalsCall {}.abi_encode().into();
                let sym: Bytes = IErc20View::symbolCall {}.abi_encode().into();
                let wd: Waiter<Bytes> = batch
                    .add_call("eth_call", &(json!({"to": t, "data": dec}), id))
                    .map_err(|e| self.classify("eth_call", e))?;
                let ws: Waiter<Bytes> = batch
                    .add_call("eth_call", &(json!({"to": t, "data": sym}), id))
                    .map_err(|e| self.classify("eth_call", e))?;
                waiters.push((*t, wd, ws));
            }
            self.send_batch(batch, chunk.len() * 2)?;
            for (address, wd, ws) in waiters {
                let dec = self.wait("eth_call decimals", wd, pin)?;
                let decimals = IErc20View::decimalsCall::abi_decode_returns(&dec).map_err(|e| {
                    self.answer("eth_call decimals", format!("token {address}: {e}"))
                })?;
                let symbol = self
                    .wait("eth_call symbol", ws, pin)
                    .ok()
                    .and_then(|s| IErc20View::symbolCall::abi_decode_returns(&s).ok())
                    .unwrap_or_else(|| address.to_checksum(None));
                out.push(TokenInfo {
                    address,
                    symbol,
                    name: String::new(),
                    decimals,
                });
            }
        }
        Ok(out)
    }
}

/// `balanceOf` returns exactly one uint256; anything else (an empty answer from an address
/// without code, a short or long return) is not an ERC-20 answer.
fn decode_balance(token: Address, owner: Address, ret: &[u8]) -> Result<U256, EthError> {
    match ret.len() {
        32 => Ok(U256::from_be_slice(ret)),
        0 => Err(EthError::NotAToken {
            token,
            owner,
            detail: "empty answer (no contract at this address?)".into(),
        }),
        n => Err(EthError::NotAToken {
            token,
            owner,
            detail: format!("{n} bytes returned, a uint256 is 32"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_name_hides_path_query_and_credentials() {
        assert_eq!(
            node_name("http://user:pw@node.example:8545/v3/APIKEY?x=1"),
            "http://node.example:8545"
        );
        assert_eq!(node_name("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
    }

    #[test]
    fn balance_answers_that_are_not_one_word_are_refused() {
        let (t, o) = (Address::repeat_byte(1), Address::repeat_byte(2));
        assert_eq!(decode_balance(t, o, &[0u8; 32]).unwrap(), U256::ZERO);
        let mut word = [0u8; 32];
        word[31] = 7;
        assert_eq!(decode_balance(t, o, &word).unwrap(), U256::from(7u8));
        assert!(decode_balance(t, o, &[])
            .unwrap_err()
            .to_string()
            .contains("empty answer"));
        assert!(decode_balance(t, o, &[0u8; 64]).is_err());
    }

    #[test]
    fn https_is_refused_with_a_clear_message_and_exit_class_input() {
        use custos_core::exit::{Classify, ExitClass};
        let e =
            EthSource::connect("https://node.example/v3/KEY", EthOptions::default()).unwrap_err();
        assert_eq!(e.exit_class(), ExitClass::Input);
        assert!(!e.to_string().contains("KEY"), "{e}");
    }
}
