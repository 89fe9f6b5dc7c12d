//! Builds an Ethereum scenario on a fresh anvil: resolves the accounts, deploys the contracts,
//! plays the steps, deploys the custody Safe, and checks the bookkeeping against the node.

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolValue};

use super::anvil::{Anvil, ANVIL_CHAIN_ID, DEV_ACCOUNTS, DEV_ACCOUNT_ETHER};
use super::contracts::{self, IErc20, IForwarder, ISafe, ISafeProxyFactory};
use super::ledger::{transfer_fee, Ledger};
use super::node::{Receipt, Sender};
use super::scenario::{parse_units, EthScenario, StepSpec, TokenKind, TokenSpec};
use super::truth::{EthTxTruth, SafeTruth, TransferTruth};
use super::{keys, EthError};
use crate::Error;

/// An account of the built world.
#[derive(Debug)]
pub(crate) struct Account {
    pub id: String,
    pub address: Address,
    pub signer: Option<PrivateKeySigner>,
    pub source: String,
}

/// A deployed token.
#[derive(Debug)]
pub(crate) struct Token {
    pub spec: TokenSpec,
    pub address: Address,
    pub fee_collector: Option<Address>,
}

/// The world while it is being built.
#[derive(Debug)]
pub(crate) struct World<'a> {
    pub sc: &'a EthScenario,
    pub sender: Sender<'a>,
    pub accounts: Vec<Account>,
    pub tokens: Vec<Token>,
    pub ledger: Ledger,
    pub txs: Vec<EthTxTruth>,
    pub forwarder: Address,
    pub safe_singleton: Address,
    pub safe_factory: Address,
    pub safe_fallback: Address,
    pub safe: Option<SafeTruth>,
}

fn file_of(sc: &EthScenario) -> String {
    sc.dir.join("scenario.toml").display().to_string()
}

/// The scenario's accounts with their keys.
pub(crate) fn accounts(sc: &EthScenario) -> Result<Vec<Account>, Error> {
    let seed_path = sc.dir.join(&sc.mnemonic_file);
    let phrase = custos_core::file::read_text(&seed_path, custos_core::file::MATERIAL)
        .map_err(|e| Error::scenario(file_of(sc), e.to_string()))?;
    let phrase = zeroize::Zeroizing::new(phrase);
    let mut out = Vec::new();
    for a in &sc.accounts {
        let (signer, source) = match (&a.anvil, &a.path, &a.keystore) {
            (Some(i), _, _) if *i < DEV_ACCOUNTS => {
                (Some(keys::anvil_dev(*i)?), format!("anvil #{i}"))
            }
            (Some(i), _, _) => {
                return Err(Error::scenario(
                    file_of(sc),
                    format!("account {}: anvil #{i} is not a dev account", a.id),
                ))
            }
            (_, Some(p), _) => (Some(keys::derive(&phrase, p, &a.id)?), p.clone()),
            (_, _, Some(k)) => (None, format!("keystore {k}")),
            _ => {
                return Err(Error::scenario(
                    file_of(sc),
                    format!("account {}: no source", a.id),
                ))
            }
        };
        let address = match (&signer, &a.address) {
            (Some(s), _) => s.address(),
            (None, Some(text)) => text.parse::<Address>().map_err(|e| {
                Error::scenario(
                    file_of(sc),
                    format!("account {}: address {text}: {e}", a.id),
                )
            })?,
            (None, None) => {
                return Err(Error::scenario(
                    file_of(sc),
                    format!("account {}: no address", a.id),
                ))
            }
        };
        out.push(Account {
            id: a.id.clone(),
            address,
            signer,
            source,
        });
    }
    Ok(out)
}

impl<'a> World<'a> {
    pub(crate) fn new(sc: &'a EthScenario, anvil: &'a Anvil) -> Result<Self, Error> {
        let accounts = accounts(sc)?;
        let mut ledger = Ledger::default();
        let genesis = U256::from(DEV_ACCOUNT_ETHER) * U256::from(10u64).pow(U256::from(18u8));
        for i in 0..DEV_ACCOUNTS {
            ledger.credit_eth(keys::anvil_dev(i)?.address(), genesis, 0)?;
        }
        Ok(World {
            sc,
            sender: Sender {
                rpc: &anvil.rpc,
                chain_id: ANVIL_CHAIN_ID,
            },
            accounts,
            tokens: Vec::new(),
            ledger,
            txs: Vec::new(),
            forwarder: Address::ZERO,
            safe_singleton: Address::ZERO,
            safe_factory: Address::ZERO,
            safe_fallback: Address::ZERO,
            safe: None,
        })
    }

    fn account(&self, id: &str) -> Result<&Account, Error> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Error::scenario(file_of(self.sc), format!("unknown account {id}")))
    }

    fn addr(&self, id: &str) -> Result<Address, Error> {
        Ok(self.account(id)?.address)
    }

    fn signer(&self, id: &str) -> Result<PrivateKeySigner, Error> {
        self.account(id)?.signer.clone().ok_or_else(|| {
            Error::scenario(
                file_of(self.sc),
                format!("account {id} has no key the lab knows: it cannot send"),
            )
        })
    }

    /// Sends, books the gas and the value sent, records the transaction.
    fn send(
        &mut self,
        step: usize,
        what: String,
        from_id: &str,
        to: TxKind,
        value: U256,
        input: Bytes,
    ) -> Result<Receipt, Error> {
        let signer = self.signer(from_id)?;
        let from = signer.address();
        let r = self.sender.send(&signer, to, value, input)?;
        if !r.success {
            return Err(EthError::Reverted {
                step,
                what,
                tx: r.hash,
            }
            .into());
        }
        self.ledger.debit_eth(from, r.gas_cost, step)?;
        let target = match to {
            TxKind::Call(a) => Some(a),
            TxKind::Create => r.contract,
        };
        if let Some(t) = target {
            self.ledger.move_eth(from, t, value, step)?;
        }
        self.txs.push(EthTxTruth {
            step,
            what,
            hash: r.hash.to_string(),
            block: r.block,
            from: from.to_checksum(None),
            to: target.map(|t| t.to_checksum(None)),
            value_wei: value.to_string(),
            fee_wei: r.gas_cost.to_string(),
            internal: Vec::new(),
            token_transfers: Vec::new(),
        });
        Ok(r)
    }

    /// Deploys `name` with constructor `args` from the deployer (plain CREATE).
    fn deploy(&mut self, name: &str, args: Vec<u8>) -> Result<Address, Error> {
        let mut code = contracts::creation_code(name)?.to_vec();
        code.extend_from_slice(&args);
        let deployer = self.sc.deployer.clone();
        let r = self.send(
            0,
            format!("deploy {name}"),
            &deployer,
            TxKind::Create,
            U256::ZERO,
            code.into(),
        )?;
        r.contract.ok_or_else(|| {
            EthError::Answer {
                method: "eth_getTransactionReceipt".into(),
                detail: format!("deployment of {name} has no contractAddress"),
            }
            .into()
        })
    }

    /// Deploys the tokens, the forwarder and the Safe v1.4.1 contracts.
    pub(crate) fn deploy_all(&mut self) -> Result<(), Error> {
        let deployer = self.addr(&self.sc.deployer)?;
        for spec in self.sc.tokens.clone() {
            let supply = parse_units(&file_of(self.sc), "supply", &spec.supply)?;
            let collector = match &spec.fee_collector {
                Some(id) => Some(self.addr(id)?),
                None => None,
            };
            let (name, args) = match spec.kind {
                // Constructor arguments, ABI-encoded as a parameter list (uint8 and uint16 take
                // a full 32-byte word like uint256, so they are passed widened).
                TokenKind::Erc20 => (
                    "LabToken",
                    (
                        spec.name.clone(),
                        spec.symbol.clone(),
                        U256::from(spec.decimals),
                        supply,
                    )
                        .abi_encode_params(),
                ),
                TokenKind::UsdtStyle => (
                    "UsdtStyleToken",
                    (spec.name.clone(), spec.symbol.clone(), supply).abi_encode_params(),
                ),
                TokenKind::FeeOnTransfer => (
                    "FeeOnTransferToken",
                    (
                        spec.name.clone(),
                        spec.symbol.clone(),
                        supply,
                        U256::from(spec.fee_bps.unwrap_or_default()),
                        collector.unwrap_or_default(),
                    )
                        .abi_encode_params(),
                ),
            };
            let address = self.deploy(name, args)?;
            if let Some(last) = self.txs.last_mut() {
                last.what = format!("deploy {name} {}", spec.symbol);
            }
            let idx = self.tokens.len();
            self.ledger.mint(idx, deployer, supply)?;
            self.tokens.push(Token {
                spec,
                address,
                fee_collector: collector,
            });
        }
        self.forwarder = self.deploy("Forwarder", Vec::new())?;
        self.safe_singleton = self.deploy("Safe", Vec::new())?;
        self.safe_factory = self.deploy("SafeProxyFactory", Vec::new())?;
        self.safe_fallback = self.deploy("CompatibilityFallbackHandler", Vec::new())?;
        Ok(())
    }

    /// Plays every step in order.
    pub(crate) fn play(&mut self) -> Result<(), Error> {
        for (i, step) in self.sc.steps.clone().iter().enumerate() {
            let n = i + 1;
            let sc = self.sc;
            let units =
                |what: &str, t: &str| parse_units(&file_of(sc), &format!("step {n} {what}"), t);
            match step {
                StepSpec::SendEth { from, to, wei } => {
                    let (to, v) = (self.addr(to)?, units("wei", wei)?);
                    self.send(
                        n,
                        "send-eth".into(),
                        from,
                        TxKind::Call(to),
                        v,
                        Bytes::new(),
                    )?;
                }
                StepSpec::SendToken {
                    token,
                    from,
                    to,
                    amount,
                } => {
                    let v = units("amount", amount)?;
                    self.send_token(n, token, from, to, v)?;
                }
                StepSpec::Split { from, to, wei } => {
                    let mut payees = Vec::new();
                    for (t, w) in to.iter().zip(wei) {
                        payees.push((self.addr(t)?, units("wei", w)?));
                    }
                    self.split(n, from, &payees)?;
                }
                StepSpec::Forward { from, to, wei } => {
                    let (to, v) = (self.addr(to)?, units("wei", wei)?);
                    let data = IForwarder::forwardCall { to }.abi_encode();
                    let fwd = self.forwarder;
                    self.send(n, "forward".into(), from, TxKind::Call(fwd), v, data.into())?;
                    // forwarder -> itself (relay) -> payee: the relay hop nets to zero.
                    self.ledger.move_eth(fwd, to, v, n)?;
                    self.record_internal(&[(fwd, fwd, v), (fwd, to, v)]);
                }
            }
        }
        Ok(())
    }

    fn record_internal(&mut self, moves: &[(Address, Address, U256)]) {
        if let Some(last) = self.txs.last_mut() {
            last.internal
                .extend(moves.iter().map(|(f, t, v)| TransferTruth {
                    asset: "ETH".into(),
                    from: f.to_checksum(None),
                    to: t.to_checksum(None),
                    amount: v.to_string(),
                }));
        }
    }

    fn split(&mut self, n: usize, from: &str, payees: &[(Address, U256)]) -> Result<(), Error> {
        let total = payees
            .iter()
            .try_fold(U256::ZERO, |acc, (_, v)| acc.checked_add(*v))
            .ok_or_else(|| {
                Error::scenario(file_of(self.sc), format!("step {n}: amounts overflow"))
            })?;
        let data = IForwarder::splitCall {
            to: payees.iter().map(|p| p.0).collect(),
            amounts: payees.iter().map(|p| p.1).collect(),
        }
        .abi_encode();
        let fwd = self.forwarder;
        self.send(
            n,
            "split".into(),
            from,
            TxKind::Call(fwd),
            total,
            data.into(),
        )?;
        let mut moves = Vec::new();
        for (to, v) in payees {
            self.ledger.move_eth(fwd, *to, *v, n)?;
            moves.push((fwd, *to, *v));
        }
        self.record_internal(&moves);
        Ok(())
    }

    fn send_token(
        &mut self,
        n: usize,
        symbol: &str,
        from_id: &str,
        to_id: &str,
        v: U256,
    ) -> Result<(), Error> {
        let idx = self
            .tokens
            .iter()
            .position(|t| t.spec.symbol == symbol)
            .ok_or_else(|| {
                Error::scenario(
                    file_of(self.sc),
                    format!("step {n}: unknown token {symbol}"),
                )
            })?;
        let (from, to) = (self.addr(from_id)?, self.addr(to_id)?);
        let (token, bps, collector) = {
            let t = &self.tokens[idx];
            (
                t.address,
                t.spec.fee_bps.unwrap_or_default(),
                t.fee_collector,
            )
        };
        let data = IErc20::transferCall { to, value: v }.abi_encode();
        self.send(
            n,
            format!("send-token {symbol}"),
            from_id,
            TxKind::Call(token),
            U256::ZERO,
            data.into(),
        )?;
        let fee = match collector {
            Some(c) => transfer_fee(v, bps, from == c || to == c),
            None => U256::ZERO,
        };
        let received = v - fee;
        self.ledger.move_token(idx, from, to, received, n)?;
        let mut moves = vec![(to, received)];
        if let Some(c) = collector.filter(|_| fee > U256::ZERO) {
            self.ledger.move_token(idx, from, c, fee, n)?;
            moves.insert(0, (c, fee));
        }
        if let Some(last) = self.txs.last_mut() {
            last.token_transfers
                .extend(moves.iter().map(|(t, a)| TransferTruth {
                    asset: symbol.to_string(),
                    from: from.to_checksum(None),
                    to: t.to_checksum(None),
                    amount: a.to_string(),
                }));
        }
        Ok(())
    }

    /// Deploys the custody Safe through the factory (`createProxyWithNonce`).
    pub(crate) fn deploy_safe(&mut self) -> Result<(), Error> {
        let Some(spec) = self.sc.safe.clone() else {
            return Ok(());
        };
        let owners = spec
            .owners
            .iter()
            .map(|o| self.addr(o))
            .collect::<Result<Vec<_>, _>>()?;
        let salt = parse_units(&file_of(self.sc), "safe salt_nonce", &spec.salt_nonce)?;
        let initializer: Bytes = ISafe::setupCall {
            owners: owners.clone(),
            threshold: U256::from(spec.threshold),
            to: Address::ZERO,
            data: Bytes::new(),
            fallbackHandler: self.safe_fallback,
            paymentToken: Address::ZERO,
            payment: U256::ZERO,
            paymentReceiver: Address::ZERO,
        }
        .abi_encode()
        .into();
        let call = ISafeProxyFactory::createProxyWithNonceCall {
            singleton: self.safe_singleton,
            initializer: initializer.clone(),
            saltNonce: salt,
        };
        let factory = self.safe_factory;
        let r = self.send(
            0,
            "safe".into(),
            &spec.from,
            TxKind::Call(factory),
            U256::ZERO,
            call.abi_encode().into(),
        )?;
        let proxy = proxy_from_logs(&r, factory)?;
        self.safe = Some(SafeTruth {
            owners: owners.iter().map(|o| o.to_checksum(None)).collect(),
            threshold: spec.threshold,
            salt_nonce: salt.to_string(),
            initializer: initializer.to_string(),
            factory: factory.to_checksum(None),
            singleton: self.safe_singleton.to_checksum(None),
            fallback_handler: self.safe_fallback.to_checksum(None),
            address: proxy.to_checksum(None),
            tx: r.hash.to_string(),
        });
        Ok(())
    }
}

/// The proxy address of the factory's `ProxyCreation` event.
fn proxy_from_logs(r: &Receipt, factory: Address) -> Result<Address, Error> {
    for log in &r.logs {
        let from_factory = log["address"]
            .as_str()
            .and_then(|a| a.parse::<Address>().ok())
            == Some(factory);
        let topics: Vec<_> = log["topics"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        let data: Bytes = log["data"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or_default();
        if from_factory && topics.first() == Some(&ISafeProxyFactory::ProxyCreation::SIGNATURE_HASH)
        {
            if let Ok(ev) = ISafeProxyFactory::ProxyCreation::decode_raw_log(topics, &data) {
                return Ok(ev.proxy);
            }
        }
    }
    Err(EthError::Answer {
        method: "eth_getTransactionReceipt".into(),
        detail: format!("safe deployment {} has no ProxyCreation event", r.hash),
    }
    .into())
}
