//! `custos-signer material ...`: classify seized material and turn it into a watch-only file.
//!
//! Secrets come only from a file, stdin (`--input -`) or a no-echo prompt; never from argv.
//! Nothing secret is printed, with one documented exception: `classify --corrections` prints
//! the single-word corrections of a BIP39 mnemonic whose checksum fails (replacement words
//! from the public word list, at the named positions), because the examiner asked for them.
//! An unknown-word error also names suggested list words (never the word as typed).

use std::{fs::OpenOptions, io::Write, path::PathBuf};

use crate::cmd_eth::NetworkArg;
use crate::secrets::{read_material, read_passphrase};
use clap::{Args, Subcommand};
use custos_keys::{
    bip39_corrections, classify, master_fingerprint, watch_only, Catalogue, Material,
    WatchOnlyOptions,
};

use crate::exit;

/// Material commands.
#[derive(Debug, Subcommand)]
pub enum MaterialCmd {
    /// Turn seized material into a watch-only file (public descriptors with key origins; no
    /// secrets) for `custos inspect` on the online workstation.
    WatchOnly(WatchOnlyArgs),
    /// Say what the material looks like (kind, word count, script types), without any secret.
    Classify(ClassifyArgs),
}

/// Where the material comes from.
#[derive(Debug, Args)]
pub struct InputArgs {
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
pub struct WatchOnlyArgs {
    #[command(flatten)]
    input: InputArgs,
    /// File holding the BIP39/Electrum passphrase (one trailing newline is removed; other
    /// whitespace is part of the passphrase).
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_prompt")]
    passphrase_file: Option<PathBuf>,
    /// Ask for the passphrase on a no-echo prompt.
    #[arg(long)]
    passphrase_prompt: bool,
    /// Accept an empty `--passphrase-file` as "no passphrase" (otherwise an empty file is an
    /// error: it is more often a mistake than a choice).
    #[arg(long)]
    empty_passphrase: bool,
    /// Accounts listed per catalogue path that discovers accounts (0..N).
    #[arg(long, default_value_t = 5)]
    accounts: u32,
    /// Catalogue path ids to use, comma separated, or `all`.
    #[arg(long, default_value = "all")]
    paths: String,
    /// Keys per chain for paths that cannot be ranged publicly (hardened indexes, old
    /// Electrum seeds).
    #[arg(long, default_value_t = 100)]
    hardened_window: u32,
    /// Keystore password file (`--network ethereum` with a keystore; else a no-echo prompt).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Output file (refuses to overwrite).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `material classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    input: InputArgs,
    /// When a BIP39 checksum fails, print the single-word corrections that restore it
    /// (prints candidate seed words: use only where the screen is private).
    #[arg(long)]
    corrections: bool,
}

/// Runs a material command; returns the exit code.
pub fn run(cmd: &MaterialCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        MaterialCmd::WatchOnly(a) => run_watch_only(a, json),
        MaterialCmd::Classify(a) => run_classify(a, json),
    }
}

fn input_error(e: &custos_keys::Error) -> u8 {
    eprintln!("custos-signer: material: {e}");
    exit::INPUT
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
                accounts: a.accounts,
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
    let paths = if a.paths.trim() == "all" {
        None
    } else {
        Some(
            a.paths
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let opts = WatchOnlyOptions {
        accounts: a.accounts,
        paths,
        hardened_window: a.hardened_window,
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
    let mut f = match OpenOptions::new().write(true).create_new(true).open(&a.out) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "custos-signer: material: refusing to overwrite existing file {}",
                a.out.display()
            );
            return Ok(exit::REFUSED);
        }
        Err(e) => {
            eprintln!(
                "custos-signer: material: cannot create {}: {e}",
                a.out.display()
            );
            return Ok(exit::ENV);
        }
    };
    if let Err(e) = f
        .write_all(body.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
    {
        eprintln!(
            "custos-signer: material: cannot write {}: {e}",
            a.out.display()
        );
        return Ok(exit::ENV);
    }
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
                "out": a.out,
                "material": wo.material,
                "network": network,
                "master_fingerprint": master.map(|f| f.to_string()),
                "fingerprint": wo.fingerprint,
                "sources": wo.sources.len(),
                "sources_per_path": per_path,
            }))?
        )?;
    } else {
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
        outln!("written:      {}", a.out.display())?;
    }
    Ok(exit::OK)
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
