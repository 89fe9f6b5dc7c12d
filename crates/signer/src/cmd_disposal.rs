//! `custos-signer disposal`: an authority signs a disposal order on its own offline machine.
//!
//! - `disposal sign-order ORDER --key FILE|-`: shows the order's canonical text, signs it with
//!   BIP-322 (simple, P2WPKH) by the authority's key and writes `<name>-signed.json` (or
//!   `--out`), never over an existing file. Signing an already signed order adds a signature.
//! - `disposal address --key FILE|- --network N`: the authority's address, which the custody
//!   policy's `authorities` lists.
//! - `disposal authority-record --key FILE|- --network N --label L --out FILE`: the authority's
//!   public record with its proof of possession (BIP-322 over the fixed challenge), for `custos
//!   disposal authority add` to write into a custody policy.
//!
//! The key is a WIF private key read from a file, stdin (`-`) or a no-echo prompt — never an
//! argument — and lives only in a zeroizing `Secret`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use custos_core::{file, Network};
use custos_disposal::{
    authority::AuthorityRecord,
    order::{authority_address, authority_key},
    DisposalOrder,
};

use crate::{exit, secrets::read_material};

/// `disposal ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum DisposalCmd {
    /// Sign a disposal order as an authority of the custody policy.
    SignOrder(SignOrderArgs),
    /// Print the authority address of a key (for the custody policy's `authorities`).
    Address(AddressArgs),
    /// Write the authority's public record with its proof of possession.
    AuthorityRecord(RecordArgs),
}

/// `disposal authority-record`.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The authority's WIF private key: a file, or `-` for stdin. Without it: a no-echo prompt.
    #[arg(long, value_name = "FILE|-")]
    key: Option<PathBuf>,
    /// Network of the address.
    #[arg(long)]
    network: Network,
    /// Who the authority is (one line, e.g. "public prosecutor, case desk").
    #[arg(long)]
    label: String,
    /// The record file to write. Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// `disposal sign-order`.
#[derive(Debug, Args)]
pub(crate) struct SignOrderArgs {
    /// The order file (from `custos disposal order new`).
    order: PathBuf,
    /// The authority's WIF private key: a file, or `-` for stdin. Without it: a no-echo prompt.
    #[arg(long, value_name = "FILE|-")]
    key: Option<PathBuf>,
    /// Output file (default: `<name>-signed.json` next to the order). Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `disposal address`.
#[derive(Debug, Args)]
pub(crate) struct AddressArgs {
    /// The authority's WIF private key: a file, or `-` for stdin. Without it: a no-echo prompt.
    #[arg(long, value_name = "FILE|-")]
    key: Option<PathBuf>,
    /// Network of the address.
    #[arg(long)]
    network: Network,
}

/// Runs `custos-signer disposal`.
pub(crate) fn run(cmd: &DisposalCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        DisposalCmd::SignOrder(a) => sign_order(a, json),
        DisposalCmd::Address(a) => address(a, json),
        DisposalCmd::AuthorityRecord(a) => authority_record(a, json),
    }
}

fn signed_name(order: &Path) -> PathBuf {
    let stem = order
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "order".into());
    order.with_file_name(format!("{stem}-signed.json"))
}

fn sign_order(a: &SignOrderArgs, json: bool) -> anyhow::Result<u8> {
    let bytes = file::read_bytes(&a.order, file::ORDER)?;
    let mut order = DisposalOrder::parse(&bytes, &a.order.display().to_string())?;
    let out = a.out.clone().unwrap_or_else(|| signed_name(&a.order));
    if out.exists() {
        return Err(anyhow!(
            "{} already exists; not overwriting it",
            out.display()
        ));
    }
    if !json {
        out!("{}", order.to_text())?;
    }
    let text = read_material(a.key.as_deref(), "authority key (WIF, input hidden): ")?;
    let key = authority_key(text.expose_secret(), order.network)?;
    drop(text);
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let signer = order.sign(&secp, &key)?;
    drop(key);
    file::write_new(&out, &order.to_json()?)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "order_id": order.order_id,
                "signed_by": signer,
                "signatures": order.signatures.len(),
                "out": out.display().to_string(),
            }))?
        )?;
    } else {
        outln!("signed order {} as {signer}", order.order_id)?;
        outln!("wrote {}", out.display())?;
    }
    Ok(exit::OK)
}

fn address(a: &AddressArgs, json: bool) -> anyhow::Result<u8> {
    let text = read_material(a.key.as_deref(), "authority key (WIF, input hidden): ")?;
    let key = authority_key(text.expose_secret(), a.network)?;
    drop(text);
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let addr = authority_address(&secp, &key, a.network);
    if json {
        outln!("{}", serde_json::json!({ "address": addr }))?;
    } else {
        outln!("{addr}")?;
    }
    Ok(exit::OK)
}

fn authority_record(a: &RecordArgs, json: bool) -> anyhow::Result<u8> {
    if a.out.exists() {
        return Err(anyhow!(
            "{} already exists; not overwriting it",
            a.out.display()
        ));
    }
    let text = read_material(a.key.as_deref(), "authority key (WIF, input hidden): ")?;
    let key = authority_key(text.expose_secret(), a.network)?;
    drop(text);
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let record = AuthorityRecord::new(&secp, &key, a.network, &a.label)?;
    drop(key);
    file::write_new(&a.out, &record.to_json()?)?;
    if json {
        outln!(
            "{}",
            serde_json::json!({ "address": record.address, "out": a.out.display().to_string() })
        )?;
    } else {
        outln!("authority {} ({})", record.address, record.label)?;
        outln!("wrote {}", a.out.display())?;
    }
    Ok(exit::OK)
}
