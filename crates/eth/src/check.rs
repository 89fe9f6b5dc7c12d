//! The signer's checks of an unsigned-transaction set against the custody policy, done on the
//! decoded transactions (never on the builder's labels): the chain id; every destination is the
//! custody Safe (ether to it, or an ERC-20 `transfer` whose decoded recipient is it), except
//! gas funding of a seized account that pays for its own transfers in the same set; nonces in
//! sequence per sender; fee caps. Every failure is a refusal naming the transaction and field.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};

use crate::{
    erc20::decode_transfer,
    error::{Error, Result},
    money::{format_units, Wei},
    policy::EthPolicy,
    unsigned::{CheckedTx, TxPurpose, UnsignedSet},
};

/// What one transaction does, as decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ether to an address.
    Eth {
        /// Recipient.
        to: Address,
        /// Wei.
        value: U256,
    },
    /// Tokens of `contract` to `recipient` (decoded from the call data).
    Token {
        /// Token contract.
        contract: Address,
        /// Decoded recipient.
        recipient: Address,
        /// Base units.
        amount: U256,
    },
}

/// A transaction that passed the checks, with its decoded effect and fee ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// The transaction.
    pub tx: CheckedTx,
    /// What it does.
    pub effect: Effect,
    /// gas_limit × max_fee_per_gas.
    pub max_fee: Wei,
}

/// The outcome of checking a set: the transactions that pass, and the refusals (each an
/// [`Error::Refused`] naming the transaction and field). The set may be signed only when there
/// is no refusal.
#[derive(Debug)]
pub struct Review {
    /// Chain id of the set.
    pub chain_id: u64,
    /// Transactions with their decoded effects (all of them, also those refused).
    pub txs: Vec<Approved>,
    /// Refusals; empty when the set may be signed.
    pub refusals: Vec<Error>,
}

fn effect(t: &CheckedTx) -> Result<Effect> {
    if t.data.is_empty() {
        return Ok(Effect::Eth {
            to: t.to,
            value: t.value,
        });
    }
    let (recipient, amount) = decode_transfer(&t.data, &format!("{} field data", t.subject()))?;
    Ok(Effect::Token {
        contract: t.to,
        recipient,
        amount,
    })
}

/// Checks a set against the policy. Malformed input is an `Err`; policy failures are listed in
/// [`Review::refusals`].
pub fn review(set: &UnsignedSet, policy: &EthPolicy) -> Result<Review> {
    let txs = set.check()?;
    let mut refusals = Vec::new();
    if set.chain_id != policy.chain_id {
        refusals.push(Error::refused(
            "unsigned transaction set",
            format!(
                "field chain_id is {} but the custody policy {:?} is for chain {}",
                set.chain_id, policy.name, policy.chain_id
            ),
        ));
    }
    let mut approved = Vec::with_capacity(txs.len());
    for t in &txs {
        let max_fee = Wei::from_u128(t.max_fee_per_gas).checked_mul(u128::from(t.gas_limit))?;
        let eff = match effect(t) {
            Ok(e) => e,
            Err(e) => {
                refusals.push(Error::refused(t.subject(), e.to_string()));
                continue;
            }
        };
        if max_fee.0 > policy.max_fee_per_tx_wei {
            refusals.push(Error::refused(
                t.subject(),
                format!(
                    "fee cap: gas_limit {} × max_fee_per_gas {} wei = {} ETH, above the policy's {} ETH",
                    t.gas_limit,
                    t.max_fee_per_gas,
                    max_fee.to_eth_string(),
                    Wei(policy.max_fee_per_tx_wei).to_eth_string()
                ),
            ));
        }
        approved.push(Approved {
            tx: t.clone(),
            effect: eff,
            max_fee,
        });
    }
    check_destinations(&approved, policy, &mut refusals);
    check_nonces(&txs, &mut refusals);
    Ok(Review {
        chain_id: set.chain_id,
        txs: approved,
        refusals,
    })
}

fn check_destinations(txs: &[Approved], policy: &EthPolicy, refusals: &mut Vec<Error>) {
    let safe = policy.safe.to_checksum(None);
    for (pos, a) in txs.iter().enumerate() {
        let t = &a.tx;
        let refuse = |reason: String| Error::refused(t.subject(), reason);
        match (&a.effect, t.purpose) {
            (Effect::Eth { to, .. }, TxPurpose::EthTransfer) if *to == policy.safe => {}
            (Effect::Eth { to, .. }, TxPurpose::EthTransfer) => refusals.push(refuse(format!(
                "field to: ether goes to {} but the custody safe is {safe}",
                to.to_checksum(None)
            ))),
            (Effect::Token { recipient, .. }, TxPurpose::TokenTransfer) => {
                if *recipient != policy.safe {
                    refusals.push(refuse(format!(
                        "field data: the decoded transfer recipient is {} but the custody safe is {safe}",
                        recipient.to_checksum(None)
                    )));
                }
                if !t.value.is_zero() {
                    refusals.push(refuse(format!(
                        "field value: a token transfer also sends {} wei of ether to the token contract",
                        t.value
                    )));
                }
            }
            (Effect::Eth { to, value }, TxPurpose::GasFunding) => {
                if let Some(r) = check_gas_funding(txs, pos, *to, *value) {
                    refusals.push(refuse(r));
                }
            }
            (Effect::Eth { .. }, p) | (Effect::Token { .. }, p) => refusals.push(refuse(format!(
                "field purpose: labelled {} but the call data {}",
                p.name(),
                if t.data.is_empty() {
                    "is empty (an ether transfer)"
                } else {
                    "is an erc-20 transfer"
                }
            ))),
        }
    }
}

/// Gas funding is allowed only to a sender of *later* transactions of the set, and only up to
/// the fees those transactions may burn: it moves no value out of custody's reach.
fn check_gas_funding(txs: &[Approved], pos: usize, to: Address, value: U256) -> Option<String> {
    let later: Vec<&Approved> = txs[pos + 1..].iter().filter(|a| a.tx.from == to).collect();
    if later.is_empty() {
        return Some(format!(
            "field to: gas funding goes to {}, which sends no later transaction of this set",
            to.to_checksum(None)
        ));
    }
    let budget = later
        .iter()
        .try_fold(Wei::ZERO, |acc, a| acc.checked_add(a.max_fee));
    match budget {
        Ok(b) if value <= b.0 => None,
        Ok(b) => Some(format!(
            "field value: gas funding of {} ETH exceeds the {} ETH that {} can spend on gas in this set",
            Wei(value).to_eth_string(),
            b.to_eth_string(),
            to.to_checksum(None)
        )),
        Err(e) => Some(e.to_string()),
    }
}

fn check_nonces(txs: &[CheckedTx], refusals: &mut Vec<Error>) {
    let mut last: BTreeMap<Address, u64> = BTreeMap::new();
    for t in txs {
        if let Some(prev) = last.get(&t.from) {
            let want = prev.checked_add(1);
            if want != Some(t.nonce) {
                refusals.push(Error::refused(
                    t.subject(),
                    format!(
                        "field nonce: {} follows nonce {prev} of the same sender; expected {} (a gap or a repeat)",
                        t.nonce,
                        prev.saturating_add(1)
                    ),
                ));
            }
        }
        last.insert(t.from, t.nonce);
    }
}

/// A human summary of a reviewed set: one block per transaction with amounts as exact decimals
/// (token units with the builder's stated symbol and decimals), then totals.
pub fn summary(r: &Review, policy: &EthPolicy) -> Vec<String> {
    let mut out = vec![
        format!(
            "custody policy: {} (chain {}, safe {})",
            policy.name,
            policy.chain_id,
            policy.safe.to_checksum(None)
        ),
        format!("transactions:   {} on chain {}", r.txs.len(), r.chain_id),
    ];
    let mut eth_total = Wei::ZERO;
    let mut fee_total = Wei::ZERO;
    let mut tokens: BTreeMap<Address, (U256, Option<crate::unsigned::TokenInfo>)> = BTreeMap::new();
    for a in &r.txs {
        let t = &a.tx;
        out.push(format!(
            "tx {}  {}  from {}  nonce {}",
            t.index,
            t.purpose.name(),
            t.from.to_checksum(None),
            t.nonce
        ));
        match &a.effect {
            Effect::Eth { to, value } => {
                out.push(format!(
                    "      {} ETH -> {}",
                    Wei(*value).to_eth_string(),
                    to.to_checksum(None)
                ));
                if t.purpose == TxPurpose::EthTransfer {
                    eth_total = eth_total.checked_add(Wei(*value)).unwrap_or(eth_total);
                }
            }
            Effect::Token {
                contract,
                recipient,
                amount,
            } => {
                let (shown, unit) = match &t.token {
                    Some(i) => (
                        format_units(*amount, i.decimals),
                        format!("{} (as stated by the builder)", i.symbol),
                    ),
                    None => (amount.to_string(), "base units".to_string()),
                };
                out.push(format!(
                    "      {shown} {unit} of token {} -> {}",
                    contract.to_checksum(None),
                    recipient.to_checksum(None)
                ));
                let e = tokens
                    .entry(*contract)
                    .or_insert((U256::ZERO, t.token.clone()));
                e.0 = e.0.saturating_add(*amount);
            }
        }
        out.push(format!(
            "      gas limit {} × max fee {} gwei (priority {} gwei) = at most {} ETH in fees",
            t.gas_limit,
            format_units(U256::from(t.max_fee_per_gas), 9),
            format_units(U256::from(t.max_priority_fee_per_gas), 9),
            a.max_fee.to_eth_string()
        ));
        fee_total = fee_total.checked_add(a.max_fee).unwrap_or(fee_total);
    }
    out.push(format!(
        "total ether to the safe: {} ETH",
        eth_total.to_eth_string()
    ));
    for (c, (units, info)) in &tokens {
        out.push(match info {
            Some(i) => format!(
                "total of token {}: {} {} ({units} base units)",
                c.to_checksum(None),
                format_units(*units, i.decimals),
                i.symbol
            ),
            None => format!("total of token {}: {units} base units", c.to_checksum(None)),
        });
    }
    out.push(format!(
        "fees at most:            {} ETH",
        fee_total.to_eth_string()
    ));
    out
}
