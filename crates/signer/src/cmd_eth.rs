//! `custos-signer eth ...`: Ethereum signing on the air-gapped laptop.
//!
//! - `eth sign`: checks an unsigned-transaction set (`custos-eth-unsigned-v1`) against the
//!   Ethereum custody policy (chain id, every destination the custody Safe with token call data
//!   decoded, nonces in sequence, fee cap), shows a summary, then signs with keys of the seized
//!   material and writes the raw transactions (`<out>.txt`, one hex per line, and `<out>.json`).
//! - `eth safe-sign`: checks a Safe transaction proposal (`custos-safe-tx-v1`) — no delegatecall,
//!   no call to the Safe itself, no refund, payee only among `--allow-destination` — and signs
//!   its EIP-712 hash with the keyholder's key (m/44'/60'/0'/0/0 of the keyholder seed).
//!
//! As for PSBTs, every check runs *before* any secret is read; a refusal exits 1 naming the
//! transaction and field. Secrets come from a file, stdin or a no-echo prompt, never argv.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use alloy_primitives::Address;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use custos_core::{
    file::{self, Limit},
    Secret, SecretString,
};
use custos_eth::{
    check::{review, summary, Effect},
    money::format_units,
    policy::EthPolicy,
    safe_tx::{review_safe_tx, sign_safe_tx, Payment, SafeTxFile},
    tx::{sign, signer_from_key},
    unsigned::UnsignedSet,
    Wei,
};
use custos_keys::eth::{
    classify_eth, material::EthDeriveOptions, parse_address, EthAccountKey, EthMaterial, EthPath,
};

use crate::exit;
use crate::secrets::{read_material, read_passphrase};

/// An unsigned-transaction set or a Safe transaction file.
const TX_SET: Limit = Limit {
    kind: "unsigned transaction set",
    bytes: 16 * 1024 * 1024,
};

/// Ethereum commands.
#[derive(Debug, Subcommand)]
pub(crate) enum EthCmd {
    /// Check an unsigned-transaction set against the Ethereum custody policy and sign it with
    /// keys of the seized material.
    Sign(EthSignArgs),
    /// Check a Safe transaction and sign its EIP-712 hash with the keyholder's key.
    SafeSign(SafeSignArgs),
}

/// Where the keys come from.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// Seized material or keyholder seed: a BIP39 mnemonic, raw private keys (hex, one per
    /// line) or a keystore V3 file; `-` for stdin. Without it: a no-echo prompt (one line).
    #[arg(long, value_name = "FILE|-")]
    material: Option<PathBuf>,
    /// File holding the keystore's password (one trailing newline removed). Without it a
    /// keystore's password is asked on a no-echo prompt.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// File holding the BIP39 passphrase (one trailing newline removed).
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_prompt")]
    passphrase_file: Option<PathBuf>,
    /// Ask for the BIP39 passphrase on a no-echo prompt.
    #[arg(long)]
    passphrase_prompt: bool,
    /// Accept an empty `--passphrase-file` as "no passphrase".
    #[arg(long)]
    empty_passphrase: bool,
}

/// `eth sign`.
#[derive(Debug, Args)]
pub(crate) struct EthSignArgs {
    /// The unsigned-transaction set (JSON, `custos-eth-unsigned-v1`).
    txs: PathBuf,
    /// The Ethereum custody policy (JSON, `custos-eth-policy-v1`).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
    /// Accounts searched per catalogue path when the material is a mnemonic.
    #[arg(long, default_value_t = 20)]
    accounts: u32,
    /// Output prefix: writes `<PREFIX>.txt` (raw transactions, one 0x-hex per line) and
    /// `<PREFIX>.json`, both or neither, never over an existing file.
    #[arg(long, value_name = "PREFIX")]
    out: Option<PathBuf>,
    /// Only check and show the summary; read no secret, sign nothing.
    #[arg(long)]
    verify_only: bool,
    /// Sign only the transactions whose sender's key the material holds (the others are
    /// written unsigned, `raw: null`): a set with a gas-funding transaction from an operations
    /// account, or accounts of a seed and of a keystore, is signed in one run per material and
    /// `custos eth sweep broadcast` merges the files. At least one transaction must be signed.
    #[arg(long)]
    partial: bool,
}

/// `eth safe-sign`.
#[derive(Debug, Args)]
pub(crate) struct SafeSignArgs {
    /// The Safe transaction proposal (JSON, `custos-safe-tx-v1`).
    safe_tx: PathBuf,
    /// The Ethereum custody policy naming the Safe and chain.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// A payee this signature may pay (repeatable); shown on screen before signing.
    #[arg(long = "allow-destination", value_name = "ADDR")]
    allow_destination: Vec<String>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Output file for the signature (JSON with the 65-byte signature, v = 27/28).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only check and show the summary; read no secret, sign nothing.
    #[arg(long)]
    verify_only: bool,
}

/// Runs an eth command; returns the exit code.
pub(crate) fn run(cmd: &EthCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        EthCmd::Sign(a) => run_sign(a, json),
        EthCmd::SafeSign(a) => run_safe_sign(a, json),
    }
}

fn read_password(path: Option<&Path>) -> anyhow::Result<SecretString> {
    match path {
        Some(p) => {
            let mut s = file::read_secret_or_stdin(p, file::PASSPHRASE)?;
            let t = s.expose_secret_mut();
            if t.ends_with('\n') {
                t.pop();
                if t.ends_with('\r') {
                    t.pop();
                }
            }
            Ok(s)
        }
        None => Ok(Secret::new(
            rpassword::prompt_password("keystore password (input hidden): ")
                .context("cannot read from the terminal")?,
        )),
    }
}

/// Reads the material and unlocks its keys (derives a mnemonic's accounts on `paths`).
pub(crate) fn unlock_keys(
    k: &KeyArgs,
    opts: &EthDeriveOptions,
) -> anyhow::Result<(EthMaterial, Vec<EthAccountKey>)> {
    let text = read_material(k.material.as_deref(), "seized material (input hidden): ")?;
    let material = classify_eth(&text)?;
    drop(text);
    let passphrase = read_passphrase(
        k.passphrase_file.as_deref(),
        k.passphrase_prompt,
        k.empty_passphrase,
    )?;
    let password = match material {
        EthMaterial::Keystore(_) => Some(read_password(k.password_file.as_deref())?),
        _ => None,
    };
    let keys = material.unlock(passphrase.as_ref(), password.as_ref(), opts)?;
    Ok((material, keys))
}

fn print_refusals(refusals: &[custos_eth::Error]) {
    for r in refusals {
        eprintln!("custos-signer: eth: {r}");
    }
    eprintln!(
        "custos-signer: eth: nothing signed ({} refusal(s))",
        refusals.len()
    );
}

fn run_sign(a: &EthSignArgs, json: bool) -> anyhow::Result<u8> {
    let set = UnsignedSet::from_json(&file::read_text_or_stdin(&a.txs, TX_SET)?)?;
    let policy = EthPolicy::from_json(&file::read_text(&a.policy, file::POLICY)?)?;
    let r = review(&set, &policy)?;
    if !json {
        for l in summary(&r, &policy) {
            outln!("{l}")?;
        }
    }
    if !r.refusals.is_empty() {
        print_refusals(&r.refusals);
        return Ok(exit::REFUSED);
    }
    if a.verify_only {
        if json {
            outln!("{}", serde_json::to_string_pretty(&review_json(&r, &[]))?)?;
        } else {
            outln!("verified; nothing signed (--verify-only)")?;
        }
        return Ok(exit::OK);
    }
    let Some(out) = &a.out else {
        bail!("--out PREFIX is required to sign (or pass --verify-only)");
    };
    let with_ext = |ext: &str| {
        let mut p = out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let files = [with_ext(".txt"), with_ext(".json")];
    if let Some(p) = files.iter().find(|p| p.exists()) {
        eprintln!(
            "custos-signer: eth: refusing to overwrite existing file {}",
            p.display()
        );
        return Ok(exit::REFUSED);
    }
    let opts = EthDeriveOptions {
        accounts: a.accounts,
        ..Default::default()
    };
    let (material, keys) = unlock_keys(&a.keys, &opts)?;
    let by_address: BTreeMap<Address, &EthAccountKey> =
        keys.iter().map(|k| (k.address, k)).collect();
    let mut signed = Vec::with_capacity(r.txs.len());
    for ap in &r.txs {
        let t = &ap.tx;
        let Some(k) = by_address.get(&t.from) else {
            if a.partial {
                continue;
            }
            return Err(custos_eth::Error::NoKey {
                address: t.from.to_checksum(None),
                searched: format!("{}; {} key(s)", material.describe(), keys.len()),
            }
            .into());
        };
        signed.push(sign(r.chain_id, t, &signer_from_key(&k.key)?)?);
    }
    if signed.is_empty() {
        return Err(custos_eth::Error::NoKey {
            address: "any sender of the set".into(),
            searched: format!("{}; {} key(s)", material.describe(), keys.len()),
        }
        .into());
    }
    let txt: String = signed
        .iter()
        .map(|s| format!("0x{}\n", hex::encode(&s.raw)))
        .collect();
    let doc = review_json(&r, &signed);
    let body = serde_json::to_string_pretty(&doc)? + "\n";
    file::write_all_new(&[
        (files[0].clone(), txt.into_bytes()),
        (files[1].clone(), body.clone().into_bytes()),
    ])?;
    if json {
        outln!("{}", body.trim_end())?;
    } else {
        for s in &signed {
            outln!("signed tx {}: {}", s.index, s.hash)?;
        }
        outln!(
            "written:        {} and {}",
            files[0].display(),
            files[1].display()
        )?;
    }
    Ok(exit::OK)
}

fn review_json(
    r: &custos_eth::check::Review,
    signed: &[custos_eth::tx::SignedTx],
) -> serde_json::Value {
    let txs: Vec<serde_json::Value> = r
        .txs
        .iter()
        .map(|a| {
            let t = &a.tx;
            let s = signed.iter().find(|s| s.index == t.index);
            let effect = match &a.effect {
                Effect::Eth { to, value } => serde_json::json!({
                    "asset": "eth", "to": to.to_checksum(None),
                    "wei": value.to_string(), "eth": Wei(*value).to_eth_string(),
                }),
                Effect::Token {
                    contract,
                    recipient,
                    amount,
                } => serde_json::json!({
                    "asset": "erc20", "contract": contract.to_checksum(None),
                    "recipient": recipient.to_checksum(None), "units": amount.to_string(),
                    "amount": t.token.as_ref().map(|i| format_units(*amount, i.decimals)),
                    "symbol": t.token.as_ref().map(|i| i.symbol.clone()),
                }),
            };
            serde_json::json!({
                "index": t.index,
                "purpose": t.purpose,
                "from": t.from.to_checksum(None),
                "nonce": t.nonce,
                "to": t.to.to_checksum(None),
                "value": t.value.to_string(),
                "data": format!("0x{}", hex::encode(&t.data)),
                "gas_limit": t.gas_limit,
                "max_fee_per_gas": t.max_fee_per_gas.to_string(),
                "max_priority_fee_per_gas": t.max_priority_fee_per_gas.to_string(),
                "max_fee_wei": a.max_fee.0.to_string(),
                "effect": effect,
                "hash": s.map(|s| s.hash.to_string()),
                "raw": s.map(|s| format!("0x{}", hex::encode(&s.raw))),
            })
        })
        .collect();
    serde_json::json!({ "format": "custos-eth-signed-v1", "chain_id": r.chain_id, "txs": txs })
}

fn run_safe_sign(a: &SafeSignArgs, json: bool) -> anyhow::Result<u8> {
    let f = SafeTxFile::from_json(&file::read_text_or_stdin(&a.safe_tx, TX_SET)?)?;
    let policy = EthPolicy::from_json(&file::read_text(&a.policy, file::POLICY)?)?;
    let p = match f.parse() {
        Ok(p) => p,
        Err(e @ custos_eth::Error::Refused { .. }) => {
            print_refusals(&[e]);
            return Ok(exit::REFUSED);
        }
        Err(e) => return Err(e.into()),
    };
    let allowed = a
        .allow_destination
        .iter()
        .map(|s| parse_address(s, None))
        .collect::<Result<Vec<_>, _>>()?;
    let refusals = review_against_policy(&p, &policy, &allowed)?;
    if !refusals.is_empty() {
        print_refusals(&refusals);
        return Ok(exit::REFUSED);
    }
    if a.verify_only {
        outln!("verified; nothing signed (--verify-only)")?;
        return Ok(exit::OK);
    }
    let Some(out) = &a.out else {
        bail!("--out FILE is required to sign (or pass --verify-only)");
    };
    if out.exists() {
        eprintln!(
            "custos-signer: eth: refusing to overwrite existing file {}",
            out.display()
        );
        return Ok(exit::REFUSED);
    }
    sign_and_write(a, &p, &policy, out, json)
}

/// Shows the Safe transaction and checks it against the custody policy (same Safe, same chain)
/// and the allowed destinations; returns the refusals (none: it may be signed).
fn review_against_policy(
    p: &custos_eth::safe_tx::ParsedSafeTx,
    policy: &EthPolicy,
    allowed: &[Address],
) -> anyhow::Result<Vec<custos_eth::Error>> {
    outln!(
        "safe:                {} on chain {}",
        p.safe.to_checksum(None),
        p.chain_id
    )?;
    outln!("safe tx hash:        {}", p.hash)?;
    outln!("safe nonce:          {}", p.tx.nonce)?;
    outln!(
        "allowed destination: {}",
        if allowed.is_empty() {
            "(none)".to_string()
        } else {
            allowed
                .iter()
                .map(|a| a.to_checksum(None))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )?;
    let mut refusals = Vec::new();
    if p.safe != policy.safe {
        refusals.push(custos_eth::Error::refused(
            "safe transaction",
            format!(
                "field safe is {} but the custody policy's safe is {}",
                p.safe.to_checksum(None),
                policy.safe.to_checksum(None)
            ),
        ));
    }
    if p.chain_id != policy.chain_id {
        refusals.push(custos_eth::Error::refused(
            "safe transaction",
            format!(
                "field chain_id is {} but the custody policy is for chain {}",
                p.chain_id, policy.chain_id
            ),
        ));
    }
    match review_safe_tx(p, allowed) {
        Ok(Payment::Eth { payee, value }) => {
            outln!(
                "pays:                {} ETH to {}",
                Wei(value).to_eth_string(),
                payee.to_checksum(None)
            )?;
        }
        Ok(Payment::Token {
            contract,
            payee,
            amount,
        }) => outln!(
            "pays:                {amount} base units of token {} to {}",
            contract.to_checksum(None),
            payee.to_checksum(None)
        )?,
        Err(e) => refusals.push(e),
    }
    Ok(refusals)
}

/// Unlocks the keyholder's Ethereum key (the first account of the standard path), refuses a
/// key that is not an owner of the Safe, signs the Safe transaction hash and writes the
/// signature to `out`.
fn sign_and_write(
    a: &SafeSignArgs,
    p: &custos_eth::safe_tx::ParsedSafeTx,
    policy: &EthPolicy,
    out: &Path,
    json: bool,
) -> anyhow::Result<u8> {
    // The keyholder's Ethereum key is the first account of the standard path.
    let opts = EthDeriveOptions {
        paths: vec![EthPath::by_id("eth-bip44")?],
        accounts: 1,
    };
    let (_, keys) = unlock_keys(&a.keys, &opts)?;
    let Some(key) = keys.first() else {
        bail!("the material holds no key (addresses only)");
    };
    if let Some((owners, _)) = &policy.owners {
        if !owners.contains(&key.address) {
            eprintln!(
                "custos-signer: eth: refused: key {} is not an owner of the safe {}",
                key.address.to_checksum(None),
                policy.safe.to_checksum(None)
            );
            return Ok(exit::REFUSED);
        }
    }
    let sig = sign_safe_tx(p, &signer_from_key(&key.key)?)?;
    let doc = serde_json::json!({
        "format": "custos-safe-signature-v1",
        "safe": p.safe.to_checksum(None),
        "chain_id": p.chain_id,
        "safe_tx_hash": p.hash.to_string(),
        "signer": key.address.to_checksum(None),
        "signature": format!("0x{}", hex::encode(sig)),
    });
    let body = serde_json::to_string_pretty(&doc)? + "\n";
    file::write_new(out, body.as_bytes())?;
    if json {
        outln!("{}", body.trim_end())?;
    } else {
        outln!("signer:              {}", key.address.to_checksum(None))?;
        outln!("signature:           0x{}", hex::encode(sig))?;
        outln!("written:             {}", out.display())?;
    }
    Ok(exit::OK)
}

/// `--network` of the material commands: a Bitcoin network or `ethereum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetworkArg {
    /// A Bitcoin network.
    Bitcoin(custos_core::Network),
    /// Ethereum (any EVM chain: the keys and addresses are the same).
    Ethereum,
}

impl std::str::FromStr for NetworkArg {
    type Err = custos_core::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ethereum" | "eth" => Ok(NetworkArg::Ethereum),
            _ => s.parse().map(NetworkArg::Bitcoin),
        }
    }
}

impl std::fmt::Display for NetworkArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkArg::Bitcoin(n) => n.fmt(f),
            NetworkArg::Ethereum => f.write_str("ethereum"),
        }
    }
}

/// What `material watch-only --network ethereum` needs from its arguments.
#[derive(Debug)]
pub(crate) struct EthWatchOnlyArgs<'a> {
    /// The material, already read.
    pub text: SecretString,
    /// The BIP39 passphrase, already read.
    pub passphrase: Option<SecretString>,
    /// Keystore password file (else the prompt, for a keystore).
    pub password_file: Option<&'a Path>,
    /// Accounts per path.
    pub accounts: u32,
    /// `all` or comma-separated Ethereum path ids.
    pub paths: &'a str,
    /// Output file.
    pub out: &'a Path,
}

/// `material watch-only --network ethereum`: the addresses with their paths, as JSON
/// (`custos-eth-watch-only-v1`), never a secret.
pub(crate) fn material_watch_only(a: EthWatchOnlyArgs<'_>, json: bool) -> anyhow::Result<u8> {
    let material = match classify_eth(&a.text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("custos-signer: material: {e}");
            return Ok(exit::INPUT);
        }
    };
    drop(a.text);
    let paths = if a.paths.trim() == "all" {
        custos_keys::eth::ETH_PATHS.iter().collect()
    } else {
        a.paths
            .split(',')
            .map(|s| EthPath::by_id(s.trim()))
            .collect::<Result<Vec<_>, _>>()?
    };
    let opts = EthDeriveOptions {
        paths,
        accounts: a.accounts,
    };
    let password = match material {
        EthMaterial::Keystore(_) => Some(read_password(a.password_file)?),
        _ => None,
    };
    let wo = custos_keys::eth::eth_watch_only(
        &material,
        a.passphrase.as_ref(),
        password.as_ref(),
        &opts,
    )?;
    let body = serde_json::to_string_pretty(&wo)? + "\n";
    file::write_new(a.out, body.as_bytes())?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "out": a.out,
                "material": wo.material,
                "network": "ethereum",
                "fingerprint": wo.fingerprint,
                "accounts": wo.accounts.len(),
            }))?
        )?;
    } else {
        outln!("material:     {}", wo.material)?;
        outln!("network:      ethereum")?;
        outln!("file fingerprint:   {}", wo.fingerprint)?;
        outln!("accounts:     {}", wo.accounts.len())?;
        for acc in wo.accounts.iter().take(10) {
            outln!(
                "  {}  {}",
                acc.address,
                acc.path.as_deref().unwrap_or(&acc.source)
            )?;
        }
        if wo.accounts.len() > 10 {
            outln!("  ... {} more in the file", wo.accounts.len() - 10)?;
        }
        outln!("written:      {}", a.out.display())?;
    }
    Ok(exit::OK)
}

/// `material classify --network ethereum`.
pub(crate) fn material_classify(input: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let text = read_material(input, "seized material (input hidden): ")?;
    let m = match classify_eth(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("custos-signer: material: {e}");
            return Ok(exit::INPUT);
        }
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "kind": m.kind_name(),
                "description": m.describe(),
                "secret": m.is_secret(),
                "hints": m.hints(),
                "network": "ethereum",
            }))?
        )?;
    } else {
        outln!("kind:         {}", m.kind_name())?;
        outln!("description:  {}", m.describe())?;
        outln!(
            "secret:       {}",
            if m.is_secret() {
                "yes (can spend)"
            } else {
                "no (watch-only)"
            }
        )?;
        for h in m.hints() {
            outln!("  {h}")?;
        }
    }
    Ok(exit::OK)
}
