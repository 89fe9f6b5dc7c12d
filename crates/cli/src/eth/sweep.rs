//! `custos eth sweep build`: unsigned EIP-1559 transactions moving every token and then the
//! ether of the inventory's accounts to the custody Safe of the policy.
//!
//! Balances and nonces are read again at a freshly pinned block (the inventory may be old; a
//! difference is reported). Per account: one `transfer` per token held, then one ether transfer
//! of balance − Σ gas limit × max fee of the account's transactions. An account holding tokens
//! but too little ether for their gas gets a gas-funding transaction from `--ops-account`
//! first (exactly the shortfall, which is what the signer allows). Gas limits come from
//! `eth_estimateGas` at the pinned block plus `--gas-margin` percent; the max fee per gas is the
//! pinned block's base fee × `--fee-multiplier` + `--priority-fee`. Writes the unsigned set
//! (`custos-eth-unsigned-v1`, what `custos-signer eth sign` reads) and `OUT.ur.txt` with one
//! `ur:eth-sign-request` per transaction whose sender has a derivation path.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, U256};
use anyhow::anyhow;
use clap::Args;
use custos_case::NewArtifact;
use custos_chain::eth::{EthSource, PinnedBlock};
use custos_core::file;
use custos_eth::{
    erc20::encode_transfer,
    money::format_units,
    policy::EthPolicy,
    unsigned::{
        PinnedBlock as SetBlock, TokenInfo, TxPurpose, UnsignedSet, UnsignedTx, UNSIGNED_SET_FORMAT,
    },
};
use custos_keys::eth::parse_address;

use super::{
    eth_failure,
    inspect::{EthInventory, InvToken, INVENTORY_LIMIT},
    record, refuse_existing, RpcArgs,
};
use crate::app::{print_json, App, CmdResult, Failure};

/// Ledger event kind of a built Ethereum sweep.
pub(crate) const EVENT_KIND: &str = "eth.sweep.build";

/// `custos eth sweep build`.
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Ethereum inventory from `custos inspect --network ethereum --out` (repeatable: a seed's
    /// and a keystore's inventories go into one set).
    #[arg(long = "inventory", value_name = "FILE", required = true)]
    pub inventories: Vec<PathBuf>,
    /// Ethereum custody policy (`custos-eth-policy-v1`): chain id, custody Safe, fee cap.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Operations account that pays gas for accounts holding tokens but too little ether.
    #[arg(long, value_name = "ADDR")]
    pub ops_account: Option<String>,
    /// Max fee per gas = pinned base fee × this + priority fee.
    #[arg(long, default_value_t = 2)]
    pub fee_multiplier: u64,
    /// Priority fee (tip) per gas, wei.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub priority_fee: u64,
    /// Percent added to each gas estimate.
    #[arg(long, default_value_t = 20)]
    pub gas_margin: u64,
    /// The unsigned set to write (JSON); `OUT.ur.txt` gets the UR requests. Neither may exist.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub rpc: RpcArgs,
}

/// Fee settings of a sweep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fees {
    /// Max fee per gas, wei.
    pub max_fee: u128,
    /// Priority fee per gas, wei.
    pub priority: u128,
    /// Percent added to estimates.
    pub margin: u64,
}

impl Fees {
    /// An estimate plus the margin, rounded up.
    pub(crate) fn limit(&self, estimate: u64) -> u64 {
        let m = u128::from(estimate) * u128::from(100 + self.margin);
        u64::try_from(m.div_ceil(100)).unwrap_or(u64::MAX)
    }
    fn cost(&self, gas: u64) -> U256 {
        U256::from(gas) * U256::from(self.max_fee)
    }
}

/// One seized account as the planner sees it.
#[derive(Debug, Clone)]
pub(crate) struct AccountInput {
    /// Address.
    pub address: Address,
    /// Derivation path, when known.
    pub key_path: Option<String>,
    /// Current ether balance.
    pub eth: U256,
    /// Current nonce.
    pub nonce: u64,
    /// Tokens held: the token, units, gas limit of its transfer.
    pub tokens: Vec<(InvToken, U256, u64)>,
    /// Gas limit of an ether transfer to the Safe.
    pub eth_gas: u64,
}

/// What the planner decided for one account.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountPlan {
    /// Ether the operations account must send first.
    pub funding: U256,
    /// The account's own transactions (tokens, then ether), nonces set.
    pub txs: Vec<UnsignedTx>,
    /// Why ether stays behind, if it does.
    pub note: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn tx(
    purpose: TxPurpose,
    from: Address,
    nonce: u64,
    to: Address,
    value: U256,
    data: Vec<u8>,
    gas_limit: u64,
    fees: &Fees,
) -> UnsignedTx {
    UnsignedTx {
        purpose,
        from: from.to_checksum(None),
        nonce,
        to: to.to_checksum(None),
        value,
        data: format!("0x{}", hex::encode(data)),
        gas_limit,
        max_fee_per_gas: U256::from(fees.max_fee),
        max_priority_fee_per_gas: U256::from(fees.priority),
        key_path: None,
        token: None,
    }
}

/// Plans one account's transfers to `safe` (pure): tokens first, then the ether left after
/// every transaction's maximum fee; the shortfall for token gas as funding when ether is short.
pub(crate) fn plan_account(a: &AccountInput, safe: Address, fees: &Fees) -> CmdResult<AccountPlan> {
    let mut plan = AccountPlan::default();
    let mut nonce = a.nonce;
    let mut token_cost = U256::ZERO;
    for (t, units, gas) in &a.tokens {
        let token = parse_address(&t.address, None).map_err(Failure::input)?;
        let mut u = tx(
            TxPurpose::TokenTransfer,
            a.address,
            nonce,
            token,
            U256::ZERO,
            encode_transfer(safe, *units),
            *gas,
            fees,
        );
        u.key_path.clone_from(&a.key_path);
        u.token = Some(TokenInfo {
            symbol: t.symbol.clone(),
            decimals: t.decimals,
        });
        plan.txs.push(u);
        token_cost += fees.cost(*gas);
        nonce += 1;
    }
    if a.eth < token_cost {
        plan.funding = token_cost - a.eth;
        plan.note = Some(format!(
            "holds {} wei, its token transfers may cost {} wei: gas funding of {} wei",
            a.eth, token_cost, plan.funding
        ));
        return Ok(plan);
    }
    let rest = a.eth - token_cost;
    let eth_cost = fees.cost(a.eth_gas);
    if rest > eth_cost {
        let mut u = tx(
            TxPurpose::EthTransfer,
            a.address,
            nonce,
            safe,
            rest - eth_cost,
            Vec::new(),
            a.eth_gas,
            fees,
        );
        u.key_path.clone_from(&a.key_path);
        plan.txs.push(u);
    } else if !rest.is_zero() {
        plan.note = Some(format!(
            "{rest} wei stays: less than the {eth_cost} wei an ether transfer may cost"
        ));
    }
    Ok(plan)
}

/// Runs `custos eth sweep build`.
pub(crate) fn run(app: &App, a: &BuildArgs) -> CmdResult {
    let ur_path = with_suffix(&a.out, ".ur.txt");
    refuse_existing(&[&a.out, &ur_path])?;
    let mut inv_bytes = Vec::new();
    let mut invs = Vec::new();
    for p in &a.inventories {
        let text = file::read_text(p, INVENTORY_LIMIT)?;
        invs.push(EthInventory::from_json(&p.display().to_string(), &text)?);
        inv_bytes.push(text.into_bytes());
    }
    let policy_text = file::read_text(&a.policy, file::POLICY)?;
    let policy = EthPolicy::from_json(&policy_text)?;
    if let Some(i) = invs.iter().find(|i| i.chain_id != policy.chain_id) {
        return Err(Failure::finding(anyhow!(
            "inventory at block {} is for chain {}, the custody policy {:?} for chain {}",
            i.block.number,
            i.chain_id,
            policy.name,
            policy.chain_id
        )));
    }
    let ops = a
        .ops_account
        .as_deref()
        .map(|s| parse_address(s, None))
        .transpose()
        .map_err(Failure::input)?;
    let mut case = app.open_case()?;
    let src = a.rpc.connect(Some(policy.chain_id))?;
    let pin = src.pin_latest().map_err(eth_failure)?;
    let base = pin.base_fee_per_gas.ok_or_else(|| {
        Failure::env(anyhow!(
            "block {} has no base fee: the node does not run EIP-1559",
            pin.number
        ))
    })?;
    let fees = Fees {
        max_fee: u128::from(base) * u128::from(a.fee_multiplier.max(1))
            + u128::from(a.priority_fee),
        priority: u128::from(a.priority_fee),
        margin: a.gas_margin,
    };
    let (inputs, notes) = current_state(&src, &pin, &invs, policy.safe, ops)?;
    let (set, summary) = assemble(&src, &pin, &inputs, &policy, ops, &fees, notes)?;
    let set_json = serde_json::to_vec_pretty(&set).map_err(Failure::env)?;
    let urs = ur_lines(&set)?;
    file::write_all_new(&[
        (a.out.clone(), set_json.clone()),
        (ur_path.clone(), urs.into_bytes()),
    ])?;
    let mut artifacts = vec![
        NewArtifact {
            kind: "eth_unsigned_set".into(),
            name: file_name(&a.out),
            data: set_json,
        },
        NewArtifact {
            kind: "eth_custody_policy".into(),
            name: file_name(&a.policy),
            data: policy_text.into_bytes(),
        },
    ];
    for (p, b) in a.inventories.iter().zip(inv_bytes) {
        artifacts.push(NewArtifact {
            kind: "eth_inventory".into(),
            name: file_name(p),
            data: b,
        });
    }
    record(app, case.as_mut(), EVENT_KIND, summary.clone(), artifacts)?;
    if app.json {
        return print_json(&summary);
    }
    for t in &set.txs {
        let what = match &t.token {
            Some(tk) => format!("{} {}", token_units(t), tk.symbol),
            None => format!("{} ETH", format_units(t.value, 18)),
        };
        outln!(
            "tx nonce {:>3} {} {:<14} {} (gas {}, max fee {} wei/gas)",
            t.nonce,
            t.from,
            t.purpose.name(),
            what,
            t.gas_limit,
            t.max_fee_per_gas
        )?;
    }
    if let Some(n) = summary["notes"].as_array() {
        for n in n {
            outln!("note: {}", n.as_str().unwrap_or_default())?;
        }
    }
    outln!(
        "{} transaction(s) at block {} to safe {}; written: {} and {}",
        set.txs.len(),
        pin.number,
        policy.safe.to_checksum(None),
        a.out.display(),
        ur_path.display()
    )?;
    Ok(())
}

fn token_units(t: &UnsignedTx) -> String {
    let data = t.data.strip_prefix("0x").and_then(|h| hex::decode(h).ok());
    match (data, &t.token) {
        (Some(d), Some(tk)) => custos_eth::erc20::decode_transfer(&d, "tx")
            .map(|(_, u)| format_units(u, tk.decimals))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The accounts of the inventories at the freshly pinned block, with gas estimates; notes
/// name what changed since the inventory.
fn current_state(
    src: &EthSource,
    pin: &PinnedBlock,
    invs: &[EthInventory],
    safe: Address,
    ops: Option<Address>,
) -> CmdResult<(Vec<AccountInput>, Vec<String>)> {
    let mut notes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut listed = Vec::new();
    let mut tokens: Vec<InvToken> = Vec::new();
    for inv in invs {
        for t in &inv.tokens {
            if !tokens.iter().any(|x| x.address == t.address) {
                tokens.push(t.clone());
            }
        }
        for acc in &inv.accounts {
            let addr = parse_address(&acc.address, None).map_err(Failure::input)?;
            if addr == safe || Some(addr) == ops || !seen.insert(addr) {
                continue;
            }
            listed.push((addr, acc));
        }
    }
    let addrs: Vec<Address> = listed.iter().map(|(a, _)| *a).collect();
    let token_addrs = tokens
        .iter()
        .map(|t| parse_address(&t.address, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::input)?;
    let states = src.accounts(pin, &addrs).map_err(eth_failure)?;
    let balances = src
        .token_balances(pin, &token_addrs, &addrs)
        .map_err(eth_failure)?;
    let mut out = Vec::with_capacity(listed.len());
    for (i, ((addr, acc), st)) in listed.iter().zip(&states).enumerate() {
        if st.balance_wei != acc.eth_wei || st.nonce != acc.nonce {
            notes.push(format!(
                "{}: inventory had {} wei nonce {}, block {} has {} wei nonce {}",
                acc.address, acc.eth_wei, acc.nonce, pin.number, st.balance_wei, st.nonce
            ));
        }
        let mut held = Vec::new();
        for (j, t) in tokens.iter().enumerate() {
            let Some(b) = balances.get(i * tokens.len() + j) else {
                continue;
            };
            let units = match &b.balance {
                Ok(u) if !u.is_zero() => *u,
                Ok(_) => continue,
                Err(e) => {
                    notes.push(e.to_string());
                    continue;
                }
            };
            let data: Bytes = encode_transfer(safe, units).into();
            let gas = src
                .estimate_gas(pin, *addr, token_addrs[j], U256::ZERO, &data)
                .map_err(eth_failure)?;
            held.push((t.clone(), units, gas));
        }
        let eth_gas = if st.balance_wei.is_zero() {
            21_000
        } else {
            src.estimate_gas(pin, *addr, safe, U256::from(1u8), &Bytes::new())
                .map_err(eth_failure)?
        };
        out.push(AccountInput {
            address: *addr,
            key_path: acc.path.clone(),
            eth: st.balance_wei,
            nonce: st.nonce,
            tokens: held,
            eth_gas,
        });
    }
    Ok((out, notes))
}

/// Applies the margin, plans every account, puts gas funding first and checks the fee cap.
fn assemble(
    src: &EthSource,
    pin: &PinnedBlock,
    inputs: &[AccountInput],
    policy: &EthPolicy,
    ops: Option<Address>,
    fees: &Fees,
    mut notes: Vec<String>,
) -> CmdResult<(UnsignedSet, serde_json::Value)> {
    let mut funding_txs = Vec::new();
    let mut own_txs = Vec::new();
    let mut funding_total = U256::ZERO;
    let mut ops_nonce_balance: Option<(u64, U256)> = None;
    for input in inputs {
        let mut a = input.clone();
        for t in &mut a.tokens {
            t.2 = fees.limit(t.2);
        }
        a.eth_gas = fees.limit(a.eth_gas);
        let plan = plan_account(&a, policy.safe, fees)?;
        if let Some(n) = &plan.note {
            notes.push(format!("{}: {n}", a.address.to_checksum(None)));
        }
        if !plan.funding.is_zero() {
            let Some(ops) = ops else {
                return Err(Failure::finding(anyhow!(
                    "{} holds tokens but only {} wei, short of {} wei for their gas: pass --ops-account ADDR to fund it",
                    a.address.to_checksum(None),
                    a.eth,
                    plan.funding
                )));
            };
            let (nonce, bal) = match ops_nonce_balance {
                Some(v) => v,
                None => {
                    let s = src.accounts(pin, &[ops]).map_err(eth_failure)?;
                    let s = s
                        .first()
                        .ok_or_else(|| Failure::env(anyhow!("no answer for {ops}")))?;
                    (s.nonce, s.balance_wei)
                }
            };
            let gas = fees.limit(
                src.estimate_gas(pin, ops, a.address, plan.funding, &Bytes::new())
                    .map_err(eth_failure)?,
            );
            funding_txs.push(tx(
                TxPurpose::GasFunding,
                ops,
                nonce,
                a.address,
                plan.funding,
                Vec::new(),
                gas,
                fees,
            ));
            funding_total += plan.funding + fees.cost(gas);
            ops_nonce_balance = Some((nonce + 1, bal));
        }
        own_txs.extend(plan.txs);
    }
    if let (Some(ops), Some((_, bal))) = (ops, ops_nonce_balance) {
        if bal < funding_total {
            return Err(Failure::finding(anyhow!(
                "operations account {} holds {} wei; gas funding needs up to {} wei",
                ops.to_checksum(None),
                bal,
                funding_total
            )));
        }
    }
    let txs: Vec<UnsignedTx> = funding_txs.into_iter().chain(own_txs).collect();
    if txs.is_empty() {
        return Err(Failure::finding(anyhow!(
            "nothing to sweep at block {}: no account holds tokens or more ether than a transfer costs",
            pin.number
        )));
    }
    check_fee_cap(&txs, policy, fees)?;
    let set = UnsignedSet {
        format: UNSIGNED_SET_FORMAT.into(),
        chain_id: policy.chain_id,
        pinned_block: Some(SetBlock {
            number: pin.number,
            hash: pin.hash.to_string(),
        }),
        txs,
    };
    let eth_to_safe = set
        .txs
        .iter()
        .filter(|t| t.purpose == TxPurpose::EthTransfer)
        .fold(U256::ZERO, |acc, t| acc + t.value);
    let summary = serde_json::json!({
        "chain_id": policy.chain_id,
        "node": src.node(),
        "block": {"number": pin.number, "hash": pin.hash.to_string(), "base_fee_per_gas": pin.base_fee_per_gas},
        "safe": policy.safe.to_checksum(None),
        "max_fee_per_gas": fees.max_fee.to_string(),
        "max_priority_fee_per_gas": fees.priority.to_string(),
        "transactions": set.txs.len(),
        "gas_funding": set.txs.iter().filter(|t| t.purpose == TxPurpose::GasFunding).count(),
        "token_transfers": set.txs.iter().filter(|t| t.purpose == TxPurpose::TokenTransfer).count(),
        "eth_to_safe_wei": eth_to_safe.to_string(),
        "notes": notes,
        "round_trips": src.round_trips(),
    });
    Ok((set, summary))
}

/// Refuses (exit 1) when any transaction may cost more than the policy's cap per transaction,
/// naming each one.
fn check_fee_cap(txs: &[UnsignedTx], policy: &EthPolicy, fees: &Fees) -> CmdResult {
    let over: Vec<String> = txs
        .iter()
        .filter(|t| fees.cost(t.gas_limit) > policy.max_fee_per_tx_wei)
        .map(|t| {
            format!(
                "{} nonce {} ({} wei)",
                t.from,
                t.nonce,
                fees.cost(t.gas_limit)
            )
        })
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(Failure::finding(anyhow!(
        "fee cap: {} transaction(s) may cost more than the policy's {} wei: {}; lower --fee-multiplier or wait for a lower base fee",
        over.len(),
        policy.max_fee_per_tx_wei,
        over.join(", ")
    )))
}

/// One line per UR part: the requests of the transactions whose sender has a path.
fn ur_lines(set: &UnsignedSet) -> CmdResult<String> {
    let mut s = String::new();
    for t in set.check()? {
        if t.key_path.is_none() {
            s.push_str(&format!(
                "# tx {}: no derivation path (keystore or raw key): sign from the JSON file\n",
                t.index
            ));
            continue;
        }
        s.push_str(&format!("# tx {}\n", t.index));
        for part in custos_eth::ur::eth_sign_request_parts(set.chain_id, &t, None, 250, 0)? {
            s.push_str(&part);
            s.push('\n');
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fees() -> Fees {
        Fees {
            max_fee: 10,
            priority: 1,
            margin: 20,
        }
    }

    fn token(units: u64, gas: u64) -> (InvToken, U256, u64) {
        (
            InvToken {
                address: Address::repeat_byte(0x11).to_checksum(None),
                symbol: "TOK".into(),
                decimals: 6,
            },
            U256::from(units),
            gas,
        )
    }

    fn input(eth: u64, tokens: Vec<(InvToken, U256, u64)>) -> AccountInput {
        AccountInput {
            address: Address::repeat_byte(0x22),
            key_path: Some("m/44'/60'/0'/0/1".into()),
            eth: U256::from(eth),
            nonce: 7,
            tokens,
            eth_gas: 30_000,
        }
    }

    #[test]
    fn gas_limit_adds_the_margin_rounding_up() {
        assert_eq!(fees().limit(21_000), 25_200);
        assert_eq!(fees().limit(1), 2);
    }

    #[test]
    fn tokens_go_first_then_ether_minus_every_max_fee() {
        let safe = Address::repeat_byte(0x33);
        let p = plan_account(&input(1_000_000, vec![token(5, 50_000)]), safe, &fees()).unwrap();
        assert!(p.funding.is_zero());
        assert_eq!(p.txs.len(), 2);
        assert_eq!(p.txs[0].purpose, TxPurpose::TokenTransfer);
        assert_eq!((p.txs[0].nonce, p.txs[1].nonce), (7, 8));
        // 1,000,000 − 50,000 × 10 − 30,000 × 10
        assert_eq!(p.txs[1].value, U256::from(200_000u64));
        assert_eq!(p.txs[1].to, safe.to_checksum(None));
        let (to, units) = custos_eth::erc20::decode_transfer(
            &hex::decode(p.txs[0].data.trim_start_matches("0x")).unwrap(),
            "t",
        )
        .unwrap();
        assert_eq!((to, units), (safe, U256::from(5u8)));
    }

    #[test]
    fn ether_short_of_token_gas_is_funded_by_exactly_the_shortfall() {
        let safe = Address::repeat_byte(0x33);
        let p = plan_account(
            &input(100_000, vec![token(5, 50_000), token(9, 60_000)]),
            safe,
            &fees(),
        )
        .unwrap();
        assert_eq!(p.funding, U256::from(1_100_000u64 - 100_000));
        assert_eq!(p.txs.len(), 2, "no ether transfer after funding");
    }

    #[test]
    fn ether_below_one_transfer_fee_stays_with_a_note() {
        let p = plan_account(&input(200_000, vec![]), Address::ZERO, &fees()).unwrap();
        assert!(p.txs.is_empty());
        assert!(p.note.unwrap().contains("200000 wei stays"));
    }
}
