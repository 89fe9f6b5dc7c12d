//! `custos-signer material ...`: classify seized material and turn it into a watch-only file.
//!
//! Secrets come only from a file, stdin (`--input -`) or a no-echo prompt; never from argv.
//! Nothing secret is printed, with one documented exception: `classify --corrections` prints
//! the single-word corrections of a BIP39 mnemonic whose checksum fails (replacement words
//! from the public word list, at the named positions), because the examiner asked for them.
//! An unknown-word error also names suggested list words (never the word as typed).

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
};

use crate::cmd_eth::NetworkArg;
use crate::secrets::{read_material, read_passphrase, read_password};
use clap::{Args, Subcommand};
use custos_core::Network;
use custos_keys::{
    bip39_corrections, classify, master_fingerprint, unlock, watch_only, Catalogue, CustomPath,
    Material, WatchOnlyOptions,
};

use crate::exit;

/// Material commands.
#[derive(Debug, Subcommand)]
pub(crate) enum MaterialCmd {
    /// Turn seized material into a watch-only file (public descriptors with key origins; no
    /// secrets) for `custos inspect` on the online workstation.
    WatchOnly(WatchOnlyArgs),
    /// Say what the material looks like (kind, word count, script types), without any secret.
    Classify(ClassifyArgs),
    /// List the derivation-path catalogue: ids (for `--paths`), paths, script types, the
    /// wallets that use them and the sources that say so.
    Paths(PathsArgs),
}

/// `material paths`.
#[derive(Debug, Args)]
pub(crate) struct PathsArgs {
    /// Network whose coin type fills the paths (bitcoin: 0', test networks: 1').
    #[arg(long, default_value = "bitcoin")]
    network: Network,
}

/// Where the material comes from.
#[derive(Debug, Args)]
pub(crate) struct InputArgs {
    /// File holding the material, or `-` for stdin. Without it: a no-echo prompt (one line).
    #[arg(long, value_name = "FILE|-")]
    input: Option<PathBuf>,
    /// Network the material is interpreted on (bitcoin, testnet, testnet4, signet, regtest,
    /// ethereum).
    #[arg(long, default_value = "bitcoin")]
    network: NetworkArg,
}

/// `material watch-only`.
#[derive(Debug, Args)]
pub(crate) struct WatchOnlyArgs {
    #[command(flatten)]
    input: InputArgs,
    /// File holding the BIP39/Electrum passphrase (one trailing newline is removed; other
    /// whitespace is part of the passphrase).
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_prompt")]
    passphrase_file: Option<PathBuf>,
    /// Ask for the passphrase on a no-echo prompt.
    #[arg(long)]
    passphrase_prompt: bool,
    /// File holding the password of a storage-encrypted Electrum wallet file or of an Ethereum
    /// keystore (`--network ethereum`); one trailing newline removed. Without it, an encrypted
    /// file asks on a no-echo prompt.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Accept an empty `--passphrase-file` as "no passphrase" (otherwise an empty file is an
    /// error: it is more often a mistake than a choice).
    #[arg(long)]
    empty_passphrase: bool,
    /// Accounts listed per catalogue path that discovers accounts (0..N) [default: 5; 20 with
    /// --deep].
    #[arg(long)]
    accounts: Option<u32>,
    /// Catalogue path ids to use, comma separated, `all` or `none` (ids: `material paths`).
    #[arg(long, default_value = "all")]
    paths: String,
    /// An account-level path to add by hand, with a script type or without (every single-key
    /// type): `wpkh:m/84'/0'/0'`, `m/0'/5'`. Receive and change chains are listed under it.
    /// Repeatable.
    #[arg(long = "path", value_name = "[SCRIPT:]PATH")]
    custom_paths: Vec<String>,
    /// Deep mode for forensic completeness: gap, change gap and accounts raised together
    /// (1000/1000/20), every catalogue layout at the other network's coin type too, and the
    /// deep-only layouts (chains at the wallet root and under m/0).
    #[arg(long)]
    deep: bool,
    /// Receive-chain gap limit recorded for the scan [default: 20; 1000 with --deep].
    #[arg(long)]
    gap: Option<u32>,
    /// Change-chain gap limit recorded for the scan [default: 10; 1000 with --deep].
    #[arg(long)]
    change_gap: Option<u32>,
    /// Keys per chain for paths that cannot be ranged publicly (hardened indexes, old
    /// Electrum seeds).
    #[arg(long, default_value_t = 100)]
    hardened_window: u32,
    /// Output file (refuses to overwrite).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `material classify`.
#[derive(Debug, Args)]
pub(crate) struct ClassifyArgs {
    #[command(flatten)]
    input: InputArgs,
    /// When a BIP39 checksum fails, print the single-word corrections that restore it
    /// (prints candidate seed words: use only where the screen is private).
    #[arg(long)]
    corrections: bool,
}

/// Runs a material command; returns the exit code.
pub(crate) fn run(cmd: &MaterialCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        MaterialCmd::WatchOnly(a) => run_watch_only(a, json),
        MaterialCmd::Classify(a) => run_classify(a, json),
        MaterialCmd::Paths(a) => run_paths(a, json),
    }
}

fn run_paths(a: &PathsArgs, json: bool) -> anyhow::Result<u8> {
    let cat = Catalogue::builtin();
    let mut rows = Vec::new();
    for e in &cat.entries {
        let path = e
            .account_path(a.network, 0)
            .map(|p| format!("m/{p}"))
            .unwrap_or_else(|_| e.path.clone());
        let path = if path == "m/" { "m".to_string() } else { path };
        let scripts: Vec<&str> = e.scripts.iter().map(|s| s.name()).collect();
        rows.push(serde_json::json!({
            "id": e.id, "name": e.name, "path": path, "template": e.path,
            "chains": e.chains, "scripts": scripts, "deep_only": e.deep_only,
            "cosigner": e.cosigner, "accounts": e.discover_accounts,
            "wallets": e.wallets, "sources": e.sources,
        }));
        if !json {
            let mut flags = Vec::new();
            if e.deep_only {
                flags.push("deep only");
            }
            if e.cosigner {
                flags.push("multisig cosigner: not derived from one seed");
            }
            if e.discover_accounts {
                flags.push("accounts 0..N");
            }
            outln!(
                "{:<24} {:<22} {}  {}",
                e.id,
                path,
                scripts.join(","),
                flags.join("; ")
            )?;
            outln!("{:<24} wallets: {}", "", e.wallets.join("; "))?;
            outln!("{:<24} sources: {}", "", e.sources.join("; "))?;
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        outln!("custom paths: --path [SCRIPT:]PATH (scripts: pkh, sh-wpkh, wpkh, tr); --deep adds the deep-only layouts and the other network's coin type")?;
    }
    Ok(exit::OK)
}

fn input_error(e: &custos_keys::Error) -> u8 {
    eprintln!("custos-signer: material: {e}");
    if matches!(e, custos_keys::Error::UnknownPath(_)) {
        eprintln!("custos-signer: the catalogue ids, with the wallets that use them: `custos-signer material paths`");
    }
    exit::INPUT
}

/// The watch-only options of the command line: deep presets first, explicit limits over them.
fn watch_options(a: &WatchOnlyArgs) -> Result<WatchOnlyOptions, custos_keys::Error> {
    let base = if a.deep {
        WatchOnlyOptions::deep()
    } else {
        WatchOnlyOptions::default()
    };
    let paths = match a.paths.trim() {
        "all" => None,
        "none" => Some(Vec::new()),
        list => Some(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    };
    let custom = a
        .custom_paths
        .iter()
        .map(|p| p.parse::<CustomPath>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WatchOnlyOptions {
        accounts: a.accounts.unwrap_or(base.accounts),
        paths,
        hardened_window: a.hardened_window,
        gap: a.gap.unwrap_or(base.gap),
        change_gap: a.change_gap.unwrap_or(base.change_gap),
        deep: a.deep,
        custom,
    })
}

fn run_watch_only(a: &WatchOnlyArgs, json: bool) -> anyhow::Result<u8> {
    let text = read_material(a.input.input.as_deref(), "seized material (input hidden): ")?;
    let passphrase = read_passphrase(
        a.passphrase_file.as_deref(),
        a.passphrase_prompt,
        a.empty_passphrase,
    )?;
    let network = match a.input.network {
        NetworkArg::Bitcoin(n) => n,
        NetworkArg::Ethereum => {
            let eth = crate::cmd_eth::EthWatchOnlyArgs {
                text,
                passphrase,
                password_file: a.password_file.as_deref(),
                accounts: a.accounts.unwrap_or(5),
                paths: &a.paths,
                out: &a.out,
            };
            return crate::cmd_eth::material_watch_only(eth, json);
        }
    };
    let material = match classify(&text, network) {
        Ok(m) => m,
        Err(e) => return Ok(input_error(&e)),
    };
    drop(text);
    let material = match material {
        Material::ElectrumWalletEncrypted { .. } => {
            let password = read_password(a.password_file.as_deref())?;
            match unlock(material, &password, network) {
                Ok(m) => m,
                Err(e) => return Ok(input_error(&e)),
            }
        }
        m => m,
    };
    let opts = match watch_options(a) {
        Ok(o) => o,
        Err(e) => return Ok(input_error(&e)),
    };
    let wo = match watch_only(
        &material,
        passphrase.as_ref(),
        network,
        &Catalogue::builtin(),
        &opts,
    ) {
        Ok(w) => w,
        Err(e) => return Ok(input_error(&e)),
    };
    let master = master_fingerprint(&material, passphrase.as_ref(), network)
        .ok()
        .flatten();
    let body = serde_json::to_string_pretty(&wo)?;
    if let Some(code) = write_watch_only_file(&a.out, &body) {
        return Ok(code);
    }
    print_watch_only_summary(&wo, network, master, &a.out, json)?;
    Ok(exit::OK)
}

/// Writes the watch-only file as a new file (never over an existing one), synced. `Some(code)`
/// when it could not: a refusal for an existing file, an environment error otherwise (both
/// already reported).
fn write_watch_only_file(out: &Path, body: &str) -> Option<u8> {
    let mut f = match OpenOptions::new().write(true).create_new(true).open(out) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "custos-signer: material: refusing to overwrite existing file {}",
                out.display()
            );
            return Some(exit::REFUSED);
        }
        Err(e) => {
            eprintln!(
                "custos-signer: material: cannot create {}: {e}",
                out.display()
            );
            return Some(exit::ENV);
        }
    };
    if let Err(e) = f
        .write_all(body.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
    {
        eprintln!(
            "custos-signer: material: cannot write {}: {e}",
            out.display()
        );
        return Some(exit::ENV);
    }
    None
}

/// What the watch-only file holds: sources per derivation path, fingerprints and coverage.
fn print_watch_only_summary(
    wo: &custos_core::inventory::WatchOnly,
    network: Network,
    master: Option<bitcoin::bip32::Fingerprint>,
    out: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let mut per_path: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for s in &wo.sources {
        let key = s
            .catalogue_id
            .clone()
            .unwrap_or_else(|| s.label.split('/').next().unwrap_or("").to_string());
        *per_path.entry(key).or_default() += 1;
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "out": out,
                "material": wo.material,
                "network": network,
                "master_fingerprint": master.map(|f| f.to_string()),
                "fingerprint": wo.fingerprint,
                "sources": wo.sources.len(),
                "sources_per_path": per_path,
                "coverage": wo.coverage,
            }))?
        )?;
        return Ok(());
    }
    outln!("material:     {}", wo.material)?;
    outln!("network:      {network}")?;
    if let Some(fp) = master {
        outln!("master fingerprint: {fp}")?;
    }
    outln!("file fingerprint:   {}", wo.fingerprint)?;
    outln!("sources:      {}", wo.sources.len())?;
    for (k, n) in &per_path {
        outln!("  {k:<24} {n}")?;
    }
    if let Some(c) = &wo.coverage {
        outln!(
            "coverage:     gap {} / change gap {} / accounts {}{}",
            c.gap,
            c.change_gap,
            c.accounts,
            if c.deep { " (deep)" } else { "" }
        )?;
        for n in &c.not_covered {
            outln!("  not covered: {n}")?;
        }
        if !c.deep {
            outln!("  (--deep covers more; `material paths` lists the layouts)")?;
        }
    }
    outln!("written:      {}", out.display())?;
    Ok(())
}

fn run_classify(a: &ClassifyArgs, json: bool) -> anyhow::Result<u8> {
    let NetworkArg::Bitcoin(network) = a.input.network else {
        return crate::cmd_eth::material_classify(a.input.input.as_deref(), json);
    };
    let text = read_material(a.input.input.as_deref(), "seized material (input hidden): ")?;
    match classify(&text, network) {
        Ok(m) => {
            let words = match &m {
                Material::Bip39 { words, .. } | Material::ElectrumSeed { words, .. } => {
                    Some(*words)
                }
                _ => None,
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "kind": m.kind_name(),
                        "description": m.describe(),
                        "words": words,
                        "secret": m.is_secret(),
                        "script_hints": m.script_hints(),
                        "network": network,
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
                outln!("script types: {}", m.script_hints().join("; "))?;
            }
            Ok(exit::OK)
        }
        Err(e) => {
            let code = input_error(&e);
            if a.corrections {
                if let Ok(c) = bip39_corrections(&text) {
                    if c.is_empty() {
                        eprintln!("no single-word correction restores a valid bip39 mnemonic");
                    } else {
                        eprintln!("single-word corrections that restore the bip39 checksum (closest spelling first):");
                        for c in c.iter().take(20) {
                            eprintln!(
                                "  word {:>2} -> {} (edit distance {})",
                                c.position,
                                c.replacement.expose_secret(),
                                c.distance
                            );
                        }
                        if c.len() > 20 {
                            eprintln!("  ... {} more", c.len() - 20);
                        }
                    }
                }
            }
            Ok(code)
        }
    }
}
