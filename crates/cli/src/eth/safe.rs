//! `custos eth safe deploy|propose|execute`: the custody Safe on the online side.
//!
//! - `deploy`: one `createProxyWithNonce` transaction to the factory named by the Ethereum
//!   custody policy (`custos-eth-policy-v1` with `safe_setup`, written by `custos ceremony
//!   assemble`); the proxy the factory reports (`ProxyCreation`) and the owners and threshold
//!   read back from it must equal the policy's CREATE2 prediction.
//! - `propose`: a Safe transaction (`custos-safe-tx-v1`) paying ETH or an ERC-20 `transfer`,
//!   with the Safe's nonce read from the node and its EIP-712 hash, for each keyholder's
//!   `custos-signer eth safe-sign`.
//! - `execute`: checks every `custos-safe-signature-v1` (recovers to the owner it names, over
//!   this transaction's hash; the signer is an owner on chain; at least the threshold; the Safe's
//!   nonce is still the transaction's), combines them in ascending owner order and submits
//!   `execTransaction`; the receipt's `ExecutionSuccess` must name the hash.
//!
//! **Who pays the gas.** Deploying and executing are ordinary transactions from an
//! *operations account* (`--ops-key FILE`: a raw hex key or a keystore V3 file with
//! `--ops-password-file`), signed here on the workstation. The air-gapped signer is not used for
//! them on purpose: its `eth sign` signs only transfers *to* the custody Safe, and neither call
//! is one; the Safe's own authority comes from the keyholders' offline signatures, which the
//! operations key cannot forge. The operations account should hold gas money only.
//!
//! Every step records a ledger event (`eth.safe.deployed`, `eth.safe.proposed`,
//! `eth.safe.executed`) with its files, and writes its record file, never over an existing file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy_primitives::{keccak256, Address, Bytes, Signature, B256, U256};
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use custos_case::NewArtifact;
use custos_chain::eth::{EthOptions, EthSource, PinnedBlock, Receipt};
use custos_core::ledger::EventDraft;
use custos_eth::policy::{EthPolicy, EthPolicyFile};
use custos_eth::safe::{combine_signatures, deploy_calldata, exec_calldata, SafeDeployment};
use custos_eth::safe_tx::{review_safe_tx, ParsedSafeTx, SafeTxFile, SAFE_TX_FORMAT};
use custos_eth::unsigned::{CheckedTx, TxPurpose};
use custos_keys::eth::{classify_eth, material::EthDeriveOptions, parse_address, EthAccountKey};

use crate::app::{print_json, App, CmdResult, Failure};

/// Format of a Safe signature file (`custos-signer eth safe-sign --out`).
const SIGNATURE_FORMAT: &str = "custos-safe-signature-v1";
/// How long to wait for a receipt.
const RECEIPT_WAIT: Duration = Duration::from_secs(180);

/// Safe commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SafeCmd {
    /// Deploy the custody Safe of the policy (one createProxyWithNonce transaction, paid by the
    /// operations account); the deployed address must equal the CREATE2 prediction.
    Deploy(DeployArgs),
    /// Write a Safe transaction paying ETH (--value) or tokens (--token, --amount) out of the
    /// custody Safe, with the Safe's current nonce and the EIP-712 hash the owners sign.
    Propose(ProposeArgs),
    /// Combine the owners' signatures and submit execTransaction (paid by the operations
    /// account); waits for the receipt.
    Execute(ExecuteArgs),
}

/// Node and policy.
#[derive(Debug, Args)]
pub(crate) struct Node {
    /// Ethereum custody policy (`custos-eth-policy-v1`).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// JSON-RPC URL of the node (http://host:port).
    #[arg(long, env = "CUSTOS_ETH_RPC", value_name = "URL")]
    pub rpc: String,
}

/// The operations account that pays gas.
#[derive(Debug, Args)]
pub(crate) struct OpsKey {
    /// The operations account's key: a file holding a raw hex private key, or a keystore V3
    /// file (`-` for stdin). Never on the command line.
    #[arg(long, value_name = "FILE|-")]
    pub ops_key: PathBuf,
    /// File holding the keystore's password (one trailing newline removed).
    #[arg(long, value_name = "FILE")]
    pub ops_password_file: Option<PathBuf>,
    /// Max fee per gas as a multiple of the pinned block's base fee (plus the priority fee).
    #[arg(long, default_value_t = 2)]
    pub base_fee_multiplier: u64,
}

/// `eth safe deploy`.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub node: Node,
    #[command(flatten)]
    pub ops: OpsKey,
    /// Deployment record (JSON), written new.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `eth safe propose`.
#[derive(Debug, Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    pub node: Node,
    /// Payee.
    #[arg(long, value_name = "ADDR")]
    pub to: String,
    /// Wei to pay (ETH).
    #[arg(long, value_name = "WEI", conflicts_with_all = ["token", "amount"], required_unless_present = "token")]
    pub value: Option<String>,
    /// ERC-20 token contract to pay from.
    #[arg(long, value_name = "ADDR", requires = "amount")]
    pub token: Option<String>,
    /// Token base units to pay.
    #[arg(long, value_name = "N", requires = "token")]
    pub amount: Option<String>,
    /// Safe transaction file (`custos-safe-tx-v1`), written new.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `eth safe execute`.
#[derive(Debug, Args)]
pub(crate) struct ExecuteArgs {
    #[command(flatten)]
    pub node: Node,
    #[command(flatten)]
    pub ops: OpsKey,
    /// The Safe transaction (`custos-safe-tx-v1`).
    #[arg(long, value_name = "FILE")]
    pub safe_tx: PathBuf,
    /// Owners' signature files (`custos-safe-signature-v1`), at least the threshold.
    #[arg(long = "signature", value_name = "FILE", required = true)]
    pub signatures: Vec<PathBuf>,
    /// Execution record (JSON), written new.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs a Safe command.
pub(crate) fn run(app: &App, cmd: &SafeCmd) -> CmdResult {
    match cmd {
        SafeCmd::Deploy(a) => deploy(app, a),
        SafeCmd::Propose(a) => propose(app, a),
        SafeCmd::Execute(a) => execute(app, a),
    }
}

/// The policy, checked (Safe recomputed when it has `safe_setup`), with its file and text.
struct Policy {
    checked: EthPolicy,
    file: EthPolicyFile,
    bytes: Vec<u8>,
}

fn read_policy(path: &Path) -> CmdResult<Policy> {
    let text = custos_core::file::read_text(path, custos_core::file::POLICY)?;
    let checked = EthPolicy::from_json(&text)?;
    let file: EthPolicyFile = serde_json::from_str(&text).map_err(Failure::input)?;
    Ok(Policy {
        checked,
        file,
        bytes: text.into_bytes(),
    })
}

fn connect(n: &Node, chain_id: u64) -> CmdResult<EthSource> {
    Ok(EthSource::connect(
        &n.rpc,
        EthOptions {
            expected_chain_id: Some(chain_id),
            ..EthOptions::default()
        },
    )?)
}

fn ops_key(o: &OpsKey) -> CmdResult<EthAccountKey> {
    let text = custos_core::file::read_secret_or_stdin(&o.ops_key, custos_core::file::MATERIAL)?;
    let material = classify_eth(&text).map_err(Failure::input)?;
    drop(text);
    let password = match &o.ops_password_file {
        Some(p) => {
            let mut s = custos_core::file::read_secret_or_stdin(p, custos_core::file::PASSPHRASE)?;
            let t = s.expose_secret_mut();
            if t.ends_with('\n') {
                t.pop();
            }
            Some(s)
        }
        None => None,
    };
    let opts = EthDeriveOptions {
        paths: Vec::new(),
        accounts: 0,
    };
    let mut keys = material
        .unlock(None, password.as_ref(), &opts)
        .map_err(Failure::input)?;
    if keys.len() != 1 {
        return Err(Failure::input(anyhow!(
            "--ops-key {}: expected exactly one private key or a keystore, found {} key(s)",
            o.ops_key.display(),
            keys.len()
        )));
    }
    Ok(keys.remove(0))
}

/// Signs and sends one call from the operations account; waits for its receipt, which must
/// be a success.
fn send_ops_tx(
    src: &EthSource,
    o: &OpsKey,
    key: &EthAccountKey,
    to: Address,
    data: Vec<u8>,
) -> CmdResult<(custos_eth::tx::SignedTx, Receipt)> {
    let pin = src.pin_latest()?;
    let from = key.address;
    let nonce = src.nonce_at(&pin, from)?;
    let estimate = src.estimate_gas(&pin, from, to, U256::ZERO, &Bytes::from(data.clone()))?;
    let gas_limit = estimate.saturating_add(estimate / 4);
    let prio = src.priority_fee()?;
    let base = u128::from(pin.base_fee_per_gas.unwrap_or(1_000_000_000));
    let max_fee = base
        .checked_mul(u128::from(o.base_fee_multiplier.max(1)))
        .and_then(|f| f.checked_add(prio))
        .ok_or_else(|| Failure::input(anyhow!("max fee per gas overflows")))?;
    // The purpose label is not used for signing; this is neither a sweep nor gas funding.
    let t = CheckedTx {
        index: 0,
        purpose: TxPurpose::EthTransfer,
        from,
        nonce,
        to,
        value: U256::ZERO,
        data: data.into(),
        gas_limit,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: prio.min(max_fee),
        key_path: None,
        token: None,
    };
    let signer = custos_eth::tx::signer_from_key(&key.key)?;
    let signed = custos_eth::tx::sign(src.chain_id(), &t, &signer)?;
    src.send_raw(&signed.raw, signed.hash)?;
    let receipt = src.wait_receipt(signed.hash, RECEIPT_WAIT)?;
    if !receipt.success {
        return Err(Failure::finding(anyhow!(
            "transaction {} to {} reverted in block {}",
            signed.hash,
            to.to_checksum(None),
            receipt.block_number
        )));
    }
    Ok((signed, receipt))
}

fn deployment_of(f: &EthPolicyFile) -> CmdResult<(SafeDeployment, U256)> {
    let Some(s) = &f.safe_setup else {
        return Err(Failure::input(anyhow!(
            "the policy has no safe_setup (owners, threshold, salt): it cannot be deployed from"
        )));
    };
    let c = SafeDeployment::CANONICAL_V1_4_1;
    let a = |v: &Option<String>, d: Address| -> CmdResult<Address> {
        v.as_deref()
            .map(|t| parse_address(t, None).map_err(Failure::input))
            .transpose()
            .map(|o| o.unwrap_or(d))
    };
    Ok((
        SafeDeployment {
            factory: a(&s.factory, c.factory)?,
            singleton: a(&s.singleton, c.singleton)?,
            fallback_handler: a(&s.fallback_handler, c.fallback_handler)?,
        },
        s.salt_nonce,
    ))
}

fn write_record(out: &Path, doc: &serde_json::Value) -> CmdResult<Vec<u8>> {
    let body = (serde_json::to_string_pretty(doc).map_err(Failure::env)? + "\n").into_bytes();
    custos_core::file::write_new(out, &body)?;
    Ok(body)
}

fn artifact(kind: &str, path: &Path, data: Vec<u8>) -> NewArtifact {
    NewArtifact {
        kind: kind.into(),
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        data,
    }
}

fn finish(
    app: &App,
    event: &str,
    doc: serde_json::Value,
    artifacts: Vec<NewArtifact>,
    human: &[String],
) -> CmdResult {
    let mut case = app.open_case()?;
    let ev = app.record(
        case.as_mut(),
        EventDraft::new(event, doc.clone()),
        artifacts,
    )?;
    if app.json {
        let mut out = doc;
        if let Some(e) = ev {
            out["ledger_seq"] = serde_json::json!(e.seq);
        }
        return print_json(&out);
    }
    for l in human {
        outln!("{l}")?;
    }
    if let Some(e) = ev {
        outln!("ledger: seq {} {}", e.seq, e.hash)?;
    }
    Ok(())
}

fn deploy(app: &App, a: &DeployArgs) -> CmdResult {
    let policy = read_policy(&a.node.policy)?;
    let Some((owners, threshold)) = policy.checked.owners.clone() else {
        return Err(Failure::input(anyhow!(
            "the policy has no safe_setup (owners, threshold, salt): it cannot be deployed from"
        )));
    };
    let (d, salt) = deployment_of(&policy.file)?;
    let safe = policy.checked.safe;
    let src = connect(&a.node, policy.checked.chain_id)?;
    let pin = src.pin_latest()?;
    if src.code_at(&pin, d.factory)?.is_empty() {
        return Err(Failure::env(anyhow!(
            "no safe proxy factory at {} on chain {} (block {})",
            d.factory.to_checksum(None),
            src.chain_id(),
            pin.number
        )));
    }
    if !src.code_at(&pin, safe)?.is_empty() {
        return Err(Failure::finding(anyhow!(
            "safe {} is already deployed (block {}); nothing sent",
            safe.to_checksum(None),
            pin.number
        )));
    }
    let key = ops_key(&a.ops)?;
    let data = deploy_calldata(&d, &owners, threshold, salt);
    let (signed, receipt) = send_ops_tx(&src, &a.ops, &key, d.factory, data)?;
    // SafeProxyFactory v1.4.1: event ProxyCreation(SafeProxy indexed proxy, address singleton)
    let topic = keccak256("ProxyCreation(address,address)");
    let created: Vec<Address> = receipt
        .logs
        .iter()
        .filter(|l| l.address == d.factory && l.topics.first() == Some(&topic))
        .filter_map(|l| l.topics.get(1).map(|t| Address::from_word(*t)))
        .collect();
    if created != [safe] {
        return Err(Failure::finding(anyhow!(
            "transaction {} created {:?}, not the predicted safe {}",
            signed.hash,
            created,
            safe.to_checksum(None)
        )));
    }
    let at = src.pin_at(receipt.block_number)?;
    let state = src.safe_state(&at, safe)?;
    if state.owners != owners || state.threshold != U256::from(threshold) {
        return Err(Failure::finding(anyhow!(
            "deployed safe {} has owners {:?} and threshold {}, the policy says {:?} and {}",
            safe.to_checksum(None),
            state.owners,
            state.threshold,
            owners,
            threshold
        )));
    }
    let doc = serde_json::json!({
        "format": "custos-eth-safe-deployed-v1",
        "chain_id": src.chain_id(), "safe": safe.to_checksum(None),
        "predicted": safe.to_checksum(None),
        "owners": owners.iter().map(|o| o.to_checksum(None)).collect::<Vec<_>>(),
        "threshold": threshold, "salt_nonce": salt.to_string(),
        "factory": d.factory.to_checksum(None), "singleton": d.singleton.to_checksum(None),
        "tx": signed.hash.to_string(), "from": key.address.to_checksum(None),
        "block": receipt.block_number, "block_hash": receipt.block_hash.to_string(),
        "gas_used": receipt.gas_used,
        "fee_wei": fee_wei(&receipt),
        "raw": format!("0x{}", hex::encode(&signed.raw)),
    });
    let body = write_record(&a.out, &doc)?;
    let human = vec![
        format!(
            "deployed safe {} ({} of {}) in block {}",
            safe.to_checksum(None),
            threshold,
            owners.len(),
            receipt.block_number
        ),
        format!("transaction {}", signed.hash),
        "address equals the CREATE2 prediction; owners and threshold read back".to_string(),
        format!("wrote {}", a.out.display()),
    ];
    finish(
        app,
        "eth.safe.deployed",
        doc,
        vec![
            artifact("eth_custody_policy", &a.node.policy, policy.bytes),
            artifact("eth_safe_deployment", &a.out, body),
        ],
        &human,
    )
}

/// gas used × effective gas price, wei (U256: cannot overflow).
fn fee_wei(r: &Receipt) -> String {
    (U256::from(r.gas_used) * U256::from(r.effective_gas_price)).to_string()
}

fn decimal(s: &str, what: &str) -> CmdResult<U256> {
    U256::from_str_radix(s, 10)
        .map_err(|_| Failure::input(anyhow!("{what} {s:?} is not a decimal integer")))
}

fn propose(app: &App, a: &ProposeArgs) -> CmdResult {
    let policy = read_policy(&a.node.policy)?;
    let safe = policy.checked.safe;
    let payee = parse_address(&a.to, None).map_err(|e| Failure::input(anyhow!("--to: {e}")))?;
    let (to, value, data) = match (&a.value, &a.token, &a.amount) {
        (Some(v), None, None) => (payee, decimal(v, "--value")?, Vec::new()),
        (None, Some(t), Some(n)) => (
            parse_address(t, None).map_err(|e| Failure::input(anyhow!("--token: {e}")))?,
            U256::ZERO,
            custos_eth::erc20::encode_transfer(payee, decimal(n, "--amount")?),
        ),
        _ => {
            return Err(Failure::input(anyhow!(
                "give --value WEI, or --token ADDR with --amount N"
            )))
        }
    };
    let src = connect(&a.node, policy.checked.chain_id)?;
    let pin = src.pin_latest()?;
    let state = src.safe_state(&pin, safe)?;
    check_owners_match(&policy.checked, &state.owners, state.threshold)?;
    let zero = Address::ZERO.to_checksum(None);
    let mut f = SafeTxFile {
        format: SAFE_TX_FORMAT.into(),
        chain_id: src.chain_id(),
        safe: safe.to_checksum(None),
        to: to.to_checksum(None),
        value,
        data: format!("0x{}", hex::encode(&data)),
        operation: 0,
        safe_tx_gas: U256::ZERO,
        base_gas: U256::ZERO,
        gas_price: U256::ZERO,
        gas_token: zero.clone(),
        refund_receiver: zero,
        nonce: state.nonce,
        safe_tx_hash: None,
    };
    let p = f.parse()?;
    // What the keyholders' signers will check, checked here first.
    review_safe_tx(&p, &[payee])?;
    f.safe_tx_hash = Some(p.hash.to_string());
    let body = serde_json::to_string_pretty(&f).map_err(Failure::env)? + "\n";
    custos_core::file::write_new(&a.out, body.as_bytes())?;
    let doc = serde_json::json!({
        "safe": f.safe, "chain_id": f.chain_id, "nonce": state.nonce.to_string(),
        "safe_tx_hash": p.hash.to_string(), "payee": payee.to_checksum(None),
        "to": f.to, "value_wei": value.to_string(),
        "token": a.token.as_ref().map(|_| f.to.clone()), "amount": a.amount,
        "pinned_block": pin.number, "file": a.out,
    });
    let human = vec![
        format!("safe {} nonce {} (block {})", f.safe, state.nonce, pin.number),
        match &a.token {
            Some(_) => format!(
                "pays {} base units of token {} to {}",
                a.amount.as_deref().unwrap_or_default(),
                f.to,
                payee.to_checksum(None)
            ),
            None => format!("pays {value} wei to {}", payee.to_checksum(None)),
        },
        format!("safe tx hash {}", p.hash),
        format!("wrote {}", a.out.display()),
        format!(
            "each keyholder: custos-signer eth safe-sign {} --policy POLICY --allow-destination {} --out SIG",
            a.out.display(),
            payee.to_checksum(None)
        ),
    ];
    finish(
        app,
        "eth.safe.proposed",
        doc,
        vec![artifact("eth_safe_tx", &a.out, body.into_bytes())],
        &human,
    )
}

/// The on-chain owners and threshold must be the policy's (when the policy names them).
fn check_owners_match(p: &EthPolicy, owners: &[Address], threshold: U256) -> CmdResult {
    if let Some((want, k)) = &p.owners {
        let mut a = owners.to_vec();
        let mut b = want.clone();
        a.sort();
        b.sort();
        if a != b || threshold != U256::from(*k) {
            return Err(Failure::finding(anyhow!(
                "safe {} on chain has {} owners and threshold {threshold}; the policy says {} and {k}: the safe was changed or is not the custody safe",
                p.safe.to_checksum(None),
                owners.len(),
                want.len()
            )));
        }
    }
    Ok(())
}

/// Reads and checks one signature file against the transaction: over its hash, recovering to
/// the owner it names.
fn read_signature(path: &Path, p: &ParsedSafeTx) -> CmdResult<(Address, [u8; 65], Vec<u8>)> {
    let name = path.display().to_string();
    let text = custos_core::file::read_text(path, custos_core::file::POLICY)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| name.clone())
        .map_err(Failure::input)?;
    let field = |k: &str| -> CmdResult<String> {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| Failure::input(anyhow!("{name}: field {k} missing")))
    };
    if field("format")? != SIGNATURE_FORMAT {
        return Err(Failure::input(anyhow!(
            "{name}: format is not {SIGNATURE_FORMAT}"
        )));
    }
    let hash: B256 = field("safe_tx_hash")?
        .parse()
        .map_err(|_| Failure::input(anyhow!("{name}: safe_tx_hash is not 32 bytes hex")))?;
    if hash != p.hash {
        return Err(Failure::finding(anyhow!(
            "{name}: signs safe transaction {hash}, not this one ({})",
            p.hash
        )));
    }
    let signer = parse_address(&field("signer")?, None)
        .map_err(|e| Failure::input(anyhow!("{name}: signer: {e}")))?;
    let raw: [u8; 65] = field("signature")?
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Failure::input(anyhow!("{name}: signature is not 0x + 65 bytes hex")))?;
    let recovered = Signature::from_raw(&raw)
        .and_then(|s| s.recover_address_from_prehash(&p.hash))
        .map_err(|e| Failure::finding(anyhow!("{name}: signature does not recover: {e}")))?;
    if recovered != signer {
        return Err(Failure::finding(anyhow!(
            "{name}: signature recovers to {}, the file says {}",
            recovered.to_checksum(None),
            signer.to_checksum(None)
        )));
    }
    Ok((signer, raw, text.into_bytes()))
}

fn execute(app: &App, a: &ExecuteArgs) -> CmdResult {
    let policy = read_policy(&a.node.policy)?;
    let tx_text = custos_core::file::read_text(&a.safe_tx, custos_core::file::POLICY)?;
    let p = SafeTxFile::from_json(&tx_text)?.parse()?;
    if p.safe != policy.checked.safe || p.chain_id != policy.checked.chain_id {
        return Err(Failure::finding(anyhow!(
            "{}: safe {} on chain {} is not the policy's safe {} on chain {}",
            a.safe_tx.display(),
            p.safe.to_checksum(None),
            p.chain_id,
            policy.checked.safe.to_checksum(None),
            policy.checked.chain_id
        )));
    }
    let mut sigs = Vec::new();
    let mut artifacts = vec![artifact("eth_safe_tx", &a.safe_tx, tx_text.into_bytes())];
    for s in &a.signatures {
        let (owner, sig, bytes) = read_signature(s, &p)?;
        sigs.push((owner, sig));
        artifacts.push(artifact("eth_safe_signature", s, bytes));
    }
    let src = connect(&a.node, policy.checked.chain_id)?;
    let pin = src.pin_latest()?;
    let state = src.safe_state(&pin, p.safe)?;
    check_owners_match(&policy.checked, &state.owners, state.threshold)?;
    check_executable(&p, &state, &sigs, &pin)?;
    let signers: Vec<String> = {
        let mut v: Vec<Address> = sigs.iter().map(|(o, _)| *o).collect();
        v.sort();
        v.iter().map(|o| o.to_checksum(None)).collect()
    };
    let data = exec_calldata(&p.tx, combine_signatures(sigs)?);
    let key = ops_key(&a.ops)?;
    let (signed, receipt) = send_ops_tx(&src, &a.ops, &key, p.safe, data)?;
    // `ExecutionSuccess(bytes32 txHash, uint256 payment)`: the hash is indexed in some Safe
    // versions and not in others, so it is looked for in the topic and in the data.
    let topic = keccak256("ExecutionSuccess(bytes32,uint256)");
    let ok = receipt.logs.iter().any(|l| {
        l.address == p.safe
            && l.topics.first() == Some(&topic)
            && (l.topics.get(1) == Some(&p.hash) || l.data.get(..32) == Some(p.hash.as_slice()))
    });
    if !ok {
        return Err(Failure::finding(anyhow!(
            "transaction {} mined in block {} but the safe reported no ExecutionSuccess for {}",
            signed.hash,
            receipt.block_number,
            p.hash
        )));
    }
    let doc = serde_json::json!({
        "format": "custos-eth-safe-executed-v1",
        "chain_id": p.chain_id, "safe": p.safe.to_checksum(None),
        "safe_tx_hash": p.hash.to_string(), "safe_nonce": p.tx.nonce.to_string(),
        "to": p.tx.to.to_checksum(None), "value_wei": p.tx.value.to_string(),
        "data": format!("0x{}", hex::encode(&p.tx.data)), "signers": signers,
        "tx": signed.hash.to_string(), "from": key.address.to_checksum(None),
        "block": receipt.block_number, "block_hash": receipt.block_hash.to_string(),
        "gas_used": receipt.gas_used,
        "fee_wei": fee_wei(&receipt),
        "raw": format!("0x{}", hex::encode(&signed.raw)),
    });
    let body = write_record(&a.out, &doc)?;
    artifacts.push(artifact("eth_safe_execution", &a.out, body));
    let human = vec![
        format!(
            "executed safe transaction {} (nonce {}) of {} in block {}",
            p.hash,
            p.tx.nonce,
            p.safe.to_checksum(None),
            receipt.block_number
        ),
        format!("signed by {}", signers.join(", ")),
        format!("transaction {}", signed.hash),
        format!("wrote {}", a.out.display()),
    ];
    finish(app, "eth.safe.executed", doc, artifacts, &human)
}

/// The Safe's nonce is still the transaction's, every signer is an owner on chain, and there
/// are at least threshold signatures.
fn check_executable(
    p: &ParsedSafeTx,
    state: &custos_chain::eth::SafeState,
    sigs: &[(Address, [u8; 65])],
    pin: &PinnedBlock,
) -> CmdResult {
    if state.nonce != p.tx.nonce {
        return Err(Failure::finding(anyhow!(
            "safe {} is at nonce {} (block {}); the transaction was made for nonce {}",
            p.safe.to_checksum(None),
            state.nonce,
            pin.number,
            p.tx.nonce
        )));
    }
    for (o, _) in sigs {
        if !state.owners.contains(o) {
            return Err(Failure::finding(anyhow!(
                "{} signed but is not an owner of safe {}",
                o.to_checksum(None),
                p.safe.to_checksum(None)
            )));
        }
    }
    if U256::from(sigs.len()) < state.threshold {
        return Err(Failure::finding(anyhow!(
            "{} signature(s) given; safe {} needs {}",
            sigs.len(),
            p.safe.to_checksum(None),
            state.threshold
        )));
    }
    Ok(())
}
