//! `custos inspect` of Ethereum material: a watch-only file from the signer, addresses, or —
//! read from a file or stdin, never the command line — a BIP39 mnemonic (with passphrase),
//! raw private keys or a keystore V3 file (password from `--password-file` or a no-echo
//! prompt). A mnemonic's accounts are discovered on every catalogue path until `--gap`
//! consecutive unused accounts. ETH balance, nonce and ERC-20 balances (the shipped mainnet
//! list on chain 1, `--token-list`, `--token ADDR`) are all read at one pinned block, batched.
//! Writes the Ethereum inventory (`custos-eth-inventory-v1`) and records it in the case.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256};
use anyhow::anyhow;
use clap::Args;
use custos_case::{report::Section, Case, NewArtifact};
use custos_chain::eth::{EthSource, PinnedBlock, TokenInfo, TokenList};
use custos_core::{file, Secret, SecretString};
use custos_eth::money::{format_units, u256_decimal};
use custos_keys::eth::{
    classify_eth, derive_account, material::EthDeriveOptions, parse_address, EthMaterial, EthPath,
    EthWatchOnly, ETH_PATHS,
};
use serde::{Deserialize, Serialize};

use super::{eth_failure, record, RpcArgs};
use crate::app::{print_json, App, CmdResult, Failure};

/// Format tag of [`EthInventory`] files.
pub(crate) const ETH_INVENTORY_FORMAT: &str = "custos-eth-inventory-v1";
/// Ledger event kind of an Ethereum inspection.
pub(crate) const EVENT_KIND: &str = "eth.inspect";
/// Largest Ethereum inventory read.
pub(crate) const INVENTORY_LIMIT: file::Limit = file::INVENTORY;

/// Ethereum options of `custos inspect` (used with `--network ethereum` or Ethereum material).
#[derive(Debug, Args, Clone)]
pub(crate) struct EthInspectArgs {
    #[command(flatten)]
    pub rpc: RpcArgs,
    /// An ERC-20 to ask every account about (repeatable), in addition to the token lists.
    #[arg(long = "token", value_name = "ADDR")]
    pub tokens: Vec<String>,
    /// A token list file (same shape as fixtures/eth/tokens-mainnet.json) for the node's chain.
    #[arg(long, value_name = "FILE")]
    pub token_list: Option<PathBuf>,
    /// Keystore password file (`-` for stdin); without it the password is asked without echo.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// BIP39 passphrase file of a mnemonic (one trailing newline removed).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Pin this block number instead of the node's latest (refused if the node is behind it).
    #[arg(long, value_name = "N")]
    pub block: Option<u64>,
}

/// A block as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InvBlock {
    /// Number.
    pub number: u64,
    /// Hash (0x hex).
    pub hash: String,
    /// Timestamp.
    pub timestamp: u64,
    /// Base fee per gas, wei.
    #[serde(default)]
    pub base_fee_per_gas: Option<u64>,
}

/// One token of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InvToken {
    /// Contract (EIP-55).
    pub address: String,
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
}

/// A token balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InvTokenBalance {
    /// Contract (EIP-55).
    pub token: String,
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Base units (decimal string).
    #[serde(with = "u256_decimal")]
    pub units: U256,
}

/// One account of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InvAccount {
    /// Address (EIP-55).
    pub address: String,
    /// Where it came from (`mnemonic`, `keystore`, `private key (line N)`, ...).
    pub source: String,
    /// Derivation path, for mnemonic accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Catalogue path id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_id: Option<String>,
    /// ETH balance, wei (decimal string).
    #[serde(with = "u256_decimal")]
    pub eth_wei: U256,
    /// Next nonce.
    pub nonce: u64,
    /// Non-zero token balances.
    pub tokens: Vec<InvTokenBalance>,
}

/// The Ethereum inventory file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EthInventory {
    /// Always [`ETH_INVENTORY_FORMAT`].
    pub format: String,
    /// Chain id of the node.
    pub chain_id: u64,
    /// `scheme://host:port` of the node.
    pub node: String,
    /// The block every figure is at.
    pub block: InvBlock,
    /// What was inspected (never the secret).
    pub material: String,
    /// Gap limit of the discovery (mnemonics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<u32>,
    /// Tokens asked about.
    pub tokens: Vec<InvToken>,
    /// Accounts (for a mnemonic: those with a nonce or a balance).
    pub accounts: Vec<InvAccount>,
    /// ETH total, wei.
    #[serde(with = "u256_decimal")]
    pub total_eth_wei: U256,
    /// Token totals.
    pub total_tokens: Vec<InvTokenBalance>,
    /// Tokens that did not answer as ERC-20s, and other caveats.
    pub warnings: Vec<String>,
    /// JSON-RPC requests made.
    pub round_trips: u64,
}

impl EthInventory {
    /// Parses an inventory file's text; `name` is shown in errors.
    pub(crate) fn from_json(name: &str, text: &str) -> CmdResult<EthInventory> {
        let inv: EthInventory = serde_json::from_str(text).map_err(|e| {
            Failure::input(anyhow!(
                "ethereum inventory {name}: line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        if inv.format != ETH_INVENTORY_FORMAT {
            return Err(Failure::input(anyhow!(
                "ethereum inventory {name}: format {:?}, expected {ETH_INVENTORY_FORMAT}",
                inv.format
            )));
        }
        Ok(inv)
    }
}

/// An address to ask about, with where it came from.
#[derive(Debug, Clone)]
struct Candidate {
    address: Address,
    source: String,
    path: Option<String>,
    catalogue_id: Option<String>,
}

impl Candidate {
    fn plain(address: Address, source: String) -> Candidate {
        Candidate {
            address,
            source,
            path: None,
            catalogue_id: None,
        }
    }
}

/// What INPUT held.
enum Loaded {
    Watch(EthWatchOnly),
    Material(EthMaterial),
}

fn names_a_file(input: &str) -> bool {
    input == "-" || Path::new(input).exists()
}

/// Whether INPUT is Ethereum material without `--network ethereum`: an Ethereum watch-only
/// file, a keystore, or 0x addresses / keys (a mnemonic needs `--network ethereum`).
pub(crate) fn looks_like_ethereum(input: &str) -> bool {
    if input == "-" {
        return false;
    }
    let text = if Path::new(input).is_file() {
        match file::read_secret_or_stdin(Path::new(input), file::WATCH_ONLY) {
            Ok(t) => t,
            Err(_) => return false,
        }
    } else {
        Secret::new(input.to_string())
    };
    let t = text.expose_secret().trim_start();
    if custos_core::file::is_json_object(t) {
        return t.contains(custos_keys::eth::watch_only::ETH_WATCH_ONLY_FORMAT)
            || custos_keys::eth::keystore::looks_like_keystore(t);
    }
    matches!(
        classify_eth(&text),
        Ok(EthMaterial::Addresses(_) | EthMaterial::PrivateKeys(_))
    )
}

fn load(input: &str) -> CmdResult<Loaded> {
    let from_file = names_a_file(input);
    let text: SecretString = if from_file {
        file::read_secret_or_stdin(Path::new(input), file::WATCH_ONLY)?
    } else {
        Secret::new(input.to_string())
    };
    let t = text.expose_secret().trim_start();
    if custos_core::file::is_json_object(t)
        && t.contains(custos_keys::eth::watch_only::ETH_WATCH_ONLY_FORMAT)
    {
        let w: EthWatchOnly = serde_json::from_str(t)
            .map_err(|e| Failure::input(anyhow!("ethereum watch-only file {input}: {e}")))?;
        return Ok(Loaded::Watch(w));
    }
    let m = classify_eth(&text).map_err(Failure::input)?;
    if m.is_secret() && !from_file {
        return Err(Failure::input(anyhow!(
            "{} on the command line: secret material is read from a file or stdin (-), never an argument",
            m.kind_name()
        )));
    }
    Ok(Loaded::Material(m))
}

fn read_line_secret(path: &Path) -> CmdResult<SecretString> {
    let mut s = file::read_secret_or_stdin(path, file::PASSPHRASE)?;
    let t = s.expose_secret_mut();
    if t.ends_with('\n') {
        t.pop();
        if t.ends_with('\r') {
            t.pop();
        }
    }
    Ok(s)
}

fn password(e: &EthInspectArgs) -> CmdResult<SecretString> {
    match &e.password_file {
        Some(p) => read_line_secret(p),
        None => rpassword::prompt_password("keystore password (input hidden): ")
            .map(Secret::new)
            .map_err(|err| Failure::input(anyhow!("cannot read the keystore password: {err}"))),
    }
}

fn selected_paths(paths: &str) -> CmdResult<Vec<&'static EthPath>> {
    if paths.eq_ignore_ascii_case("all") {
        return Ok(ETH_PATHS.iter().collect());
    }
    paths
        .split(',')
        .map(|p| EthPath::by_id(p.trim()).map_err(Failure::input))
        .collect()
}

/// Runs `custos inspect` on Ethereum material.
pub(crate) fn run(
    app: &App,
    input: &str,
    gap: u32,
    paths: &str,
    out: Option<&Path>,
    e: &EthInspectArgs,
) -> CmdResult {
    if let Some(o) = out {
        super::refuse_existing(&[o])?;
    }
    if gap == 0 {
        return Err(Failure::input(anyhow!("--gap must be at least 1")));
    }
    let loaded = load(input)?;
    let mut case = app.open_case()?;
    let src = e.rpc.connect(None)?;
    let pin = match e.block {
        Some(n) => src.pin_at(n),
        None => src.pin_latest(),
    }
    .map_err(eth_failure)?;
    let (tokens, mut warnings) = token_set(&src, &pin, e)?;
    let (material, accounts, used_gap) = match &loaded {
        Loaded::Watch(w) => {
            let c = watch_candidates(w)?;
            (
                w.material.clone(),
                query(&src, &pin, &tokens, &c, &mut warnings)?,
                None,
            )
        }
        Loaded::Material(m @ EthMaterial::Mnemonic { .. }) => {
            let passphrase = e
                .passphrase_file
                .as_deref()
                .map(read_line_secret)
                .transpose()?;
            let found = discover(
                &src,
                &pin,
                &tokens,
                m,
                passphrase.as_ref(),
                gap,
                paths,
                &mut warnings,
            )?;
            let mut d = m.describe();
            if passphrase.as_ref().is_some_and(|p| !p.is_empty()) {
                d.push_str(", with passphrase");
            }
            (d, found, Some(gap))
        }
        Loaded::Material(m) => {
            let c = listed_candidates(m, e)?;
            (
                m.describe(),
                query(&src, &pin, &tokens, &c, &mut warnings)?,
                None,
            )
        }
    };
    src.check_pin(&pin).map_err(eth_failure)?;
    let inv = inventory(&src, &pin, material, used_gap, &tokens, accounts, warnings);
    let bytes = serde_json::to_vec_pretty(&inv).map_err(Failure::env)?;
    if let Some(o) = out {
        file::write_new(o, &bytes)?;
    }
    let inv_artifact = NewArtifact {
        kind: "eth_inventory".into(),
        name: "eth-inventory.json".into(),
        data: bytes,
    };
    let payload = serde_json::json!({
        "chain_id": inv.chain_id, "node": inv.node, "block": inv.block,
        "material": inv.material, "accounts": inv.accounts.len(),
        "total_eth_wei": inv.total_eth_wei.to_string(), "total_tokens": inv.total_tokens,
        "inventory_sha256": inv_artifact.sha256(), "round_trips": inv.round_trips,
        "warnings": inv.warnings,
    });
    let mut artifacts = vec![inv_artifact];
    if let Loaded::Watch(w) = &loaded {
        artifacts.push(NewArtifact {
            kind: "eth_watch_only".into(),
            name: "eth-watch-only.json".into(),
            data: serde_json::to_vec_pretty(w).map_err(Failure::env)?,
        });
    }
    record(app, case.as_mut(), EVENT_KIND, payload, artifacts)?;
    if app.json {
        return print_json(&inv);
    }
    outln!("{}", text(&inv))?;
    Ok(())
}

fn token_set(
    src: &EthSource,
    pin: &PinnedBlock,
    e: &EthInspectArgs,
) -> CmdResult<(Vec<TokenInfo>, Vec<String>)> {
    let mut tokens: Vec<TokenInfo> = Vec::new();
    let warnings = Vec::new();
    if src.chain_id() == 1 {
        tokens.extend(TokenList::mainnet().map_err(eth_failure)?.tokens);
    }
    if let Some(p) = &e.token_list {
        let l = TokenList::load(p).map_err(eth_failure)?;
        if l.chain_id != src.chain_id() {
            return Err(Failure::input(anyhow!(
                "token list {} is for chain {}, the node serves chain {}",
                p.display(),
                l.chain_id,
                src.chain_id()
            )));
        }
        tokens.extend(l.tokens);
    }
    let mut extra = Vec::new();
    for t in &e.tokens {
        let a = parse_address(t, None).map_err(Failure::input)?;
        if !tokens.iter().any(|x| x.address == a) && !extra.contains(&a) {
            extra.push(a);
        }
    }
    tokens.extend(src.token_info(pin, &extra).map_err(eth_failure)?);
    let mut seen = std::collections::HashSet::new();
    tokens.retain(|t| seen.insert(t.address));
    Ok((tokens, warnings))
}

fn watch_candidates(w: &EthWatchOnly) -> CmdResult<Vec<Candidate>> {
    w.accounts
        .iter()
        .map(|a| {
            Ok(Candidate {
                address: parse_address(&a.address, None).map_err(Failure::input)?,
                source: a.source.clone(),
                path: a.path.clone(),
                catalogue_id: a.catalogue_id.clone(),
            })
        })
        .collect()
}

fn listed_candidates(m: &EthMaterial, e: &EthInspectArgs) -> CmdResult<Vec<Candidate>> {
    Ok(match m {
        EthMaterial::Addresses(a) => a
            .iter()
            .map(|(a, n)| Candidate::plain(*a, format!("address (line {n})")))
            .collect(),
        EthMaterial::PrivateKeys(k) => k
            .iter()
            .map(|k| Candidate::plain(k.address, format!("private key (line {})", k.line)))
            .collect(),
        EthMaterial::Keystore(_) => {
            let pw = password(e)?;
            m.unlock(None, Some(&pw), &EthDeriveOptions::default())
                .map_err(Failure::input)?
                .into_iter()
                .map(|k| Candidate::plain(k.address, "keystore".into()))
                .collect()
        }
        EthMaterial::Mnemonic { .. } => Vec::new(),
    })
}

/// Discovery of a mnemonic's accounts: per catalogue path, rounds of `gap` accounts until a
/// whole round is unused; keeps the used ones.
#[allow(clippy::too_many_arguments)]
fn discover(
    src: &EthSource,
    pin: &PinnedBlock,
    tokens: &[TokenInfo],
    m: &EthMaterial,
    passphrase: Option<&SecretString>,
    gap: u32,
    paths: &str,
    warnings: &mut Vec<String>,
) -> CmdResult<Vec<InvAccount>> {
    let EthMaterial::Mnemonic { phrase, .. } = m else {
        return Ok(Vec::new());
    };
    let seed = custos_keys::bip39_seed(phrase, passphrase).map_err(Failure::input)?;
    let mut found = Vec::new();
    for p in selected_paths(paths)? {
        let mut start = 0u32;
        let mut unused_run = 0u32;
        while unused_run < gap {
            let mut round = Vec::with_capacity(gap as usize);
            for i in start..start.saturating_add(gap) {
                let k = derive_account(&seed, &p.path(i).map_err(Failure::input)?)
                    .map_err(Failure::input)?;
                round.push(Candidate {
                    address: k.address,
                    source: "mnemonic".into(),
                    path: k.path.clone(),
                    catalogue_id: Some(p.id.to_string()),
                });
            }
            for a in query(src, pin, tokens, &round, warnings)? {
                if a.nonce > 0 || !a.eth_wei.is_zero() || !a.tokens.is_empty() {
                    unused_run = 0;
                    found.push(a);
                } else {
                    unused_run += 1;
                    if unused_run >= gap {
                        break;
                    }
                }
            }
            start = start.saturating_add(gap);
        }
    }
    Ok(found)
}

/// ETH, nonce and token balances of the candidates at `pin` (two batched passes).
fn query(
    src: &EthSource,
    pin: &PinnedBlock,
    tokens: &[TokenInfo],
    cands: &[Candidate],
    warnings: &mut Vec<String>,
) -> CmdResult<Vec<InvAccount>> {
    let addrs: Vec<Address> = cands.iter().map(|c| c.address).collect();
    let states = src.accounts(pin, &addrs).map_err(eth_failure)?;
    let token_addrs: Vec<Address> = tokens.iter().map(|t| t.address).collect();
    let balances = src
        .token_balances(pin, &token_addrs, &addrs)
        .map_err(eth_failure)?;
    let mut out = Vec::with_capacity(cands.len());
    for (i, (c, s)) in cands.iter().zip(&states).enumerate() {
        let mut held = Vec::new();
        let row = balances
            .get(i * tokens.len()..(i + 1) * tokens.len())
            .unwrap_or_default();
        for (t, b) in tokens.iter().zip(row) {
            match &b.balance {
                Ok(units) if !units.is_zero() => held.push(InvTokenBalance {
                    token: t.address.to_checksum(None),
                    symbol: t.symbol.clone(),
                    decimals: t.decimals,
                    units: *units,
                }),
                Ok(_) => {}
                Err(err) => warnings.push(err.to_string()),
            }
        }
        out.push(InvAccount {
            address: c.address.to_checksum(None),
            source: c.source.clone(),
            path: c.path.clone(),
            catalogue_id: c.catalogue_id.clone(),
            eth_wei: s.balance_wei,
            nonce: s.nonce,
            tokens: held,
        });
    }
    Ok(out)
}

fn inventory(
    src: &EthSource,
    pin: &PinnedBlock,
    material: String,
    gap: Option<u32>,
    tokens: &[TokenInfo],
    accounts: Vec<InvAccount>,
    mut warnings: Vec<String>,
) -> EthInventory {
    warnings.sort();
    warnings.dedup();
    let total_eth_wei = accounts
        .iter()
        .fold(U256::ZERO, |acc, a| acc.saturating_add(a.eth_wei));
    let mut total_tokens: Vec<InvTokenBalance> = Vec::new();
    for b in accounts.iter().flat_map(|a| &a.tokens) {
        match total_tokens.iter_mut().find(|t| t.token == b.token) {
            Some(t) => t.units = t.units.saturating_add(b.units),
            None => total_tokens.push(b.clone()),
        }
    }
    EthInventory {
        format: ETH_INVENTORY_FORMAT.into(),
        chain_id: src.chain_id(),
        node: src.node().to_string(),
        block: InvBlock {
            number: pin.number,
            hash: pin.hash.to_string(),
            timestamp: pin.timestamp,
            base_fee_per_gas: pin.base_fee_per_gas,
        },
        material,
        gap,
        tokens: tokens
            .iter()
            .map(|t| InvToken {
                address: t.address.to_checksum(None),
                symbol: t.symbol.clone(),
                decimals: t.decimals,
            })
            .collect(),
        accounts,
        total_eth_wei,
        total_tokens,
        warnings,
        round_trips: src.round_trips(),
    }
}

fn text(inv: &EthInventory) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ethereum inventory: chain {} at block {} {} ({})",
        inv.chain_id, inv.block.number, inv.block.hash, inv.node
    );
    let _ = writeln!(s, "material: {}", inv.material);
    for a in &inv.accounts {
        let _ = writeln!(
            s,
            "  {} {:<18} nonce {:>4}  {} ETH",
            a.address,
            a.path.as_deref().unwrap_or(&a.source),
            a.nonce,
            format_units(a.eth_wei, 18)
        );
        for t in &a.tokens {
            let _ = writeln!(
                s,
                "      {} {}",
                format_units(t.units, t.decimals),
                t.symbol
            );
        }
    }
    let _ = writeln!(s, "total: {} ETH", format_units(inv.total_eth_wei, 18));
    for t in &inv.total_tokens {
        let _ = writeln!(
            s,
            "       {} {} ({})",
            format_units(t.units, t.decimals),
            t.symbol,
            t.token
        );
    }
    for w in &inv.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = write!(s, "round trips: {}", inv.round_trips);
    s
}

/// The Ethereum inventory section of the case report (none before the first inspection): the
/// latest inspection of each piece of material, in ledger order. An inspection is left out only
/// when a later one covers every account it found (the same material inspected again), so a
/// seed and a keystore inspected one after the other both appear.
pub(crate) fn report_section(case: &Case) -> CmdResult<Option<Section>> {
    let events = case.events()?;
    let mut seen = std::collections::HashSet::new();
    let mut shown = Vec::new();
    for ev in events.iter().rev().filter(|e| e.kind == EVENT_KIND) {
        let Some(sha) = ev.payload.get("inventory_sha256").and_then(|v| v.as_str()) else {
            continue;
        };
        let a = case.artifact(sha)?;
        let inv = EthInventory::from_json(sha, &String::from_utf8_lossy(&a.data))?;
        let mut new = false;
        for acc in &inv.accounts {
            new |= seen.insert(acc.address.to_lowercase());
        }
        // An inspection that found no account at all is shown when it is the latest.
        if new || (inv.accounts.is_empty() && seen.is_empty() && shown.is_empty()) {
            shown.push(inv);
        }
    }
    if shown.is_empty() {
        return Ok(None);
    }
    let html: String = shown.iter().rev().map(inventory_table).collect();
    Ok(Some(Section {
        title: "Ethereum inventory".into(),
        html,
    }))
}

/// One inspection as a paragraph (chain, pinned block, material) and a table of its accounts.
fn inventory_table(inv: &EthInventory) -> String {
    use custos_case::report::escape;
    let mut html = format!(
        "<p>Chain {} at block {} <code>{}</code>; {}.</p><table><tr><th>address</th><th>path / source</th><th>nonce</th><th>ETH</th><th>tokens</th></tr>",
        inv.chain_id,
        inv.block.number,
        escape(&inv.block.hash),
        escape(&inv.material)
    );
    for acc in &inv.accounts {
        let toks: Vec<String> = acc
            .tokens
            .iter()
            .map(|t| {
                format!(
                    "{} {}",
                    format_units(t.units, t.decimals),
                    escape(&t.symbol)
                )
            })
            .collect();
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&acc.address),
            escape(acc.path.as_deref().unwrap_or(&acc.source)),
            acc.nonce,
            format_units(acc.eth_wei, 18),
            toks.join("<br>")
        ));
    }
    html.push_str("</table>");
    html
}
