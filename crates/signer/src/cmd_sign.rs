//! `custos-signer sign PSBT --material FILE|- --policy POLICY`: verify a PSBT against the
//! registered custody policy, show what it does, and sign every input the seized material (or a
//! keyholder's key) can sign.
//!
//! Order matters: the PSBT is checked *before* any secret is read. A refusal (exit 1) names the
//! input or output at fault.
//!
//! An output outside the custody policy is signed for only when (a) it pays the next addresses
//! of a re-custody policy given with `--to-policy` (proven by its derivations, as custody
//! change is), or (b) a disposal order given with `--order` covers it exactly: same address,
//! same amount, within the order's window by this machine's clock (or `--now`), signed with
//! BIP-322 by an authority the policy names, and not used before — for another transaction —
//! according to the PSBT's own record (a `custos` proprietary field the signer adds) or the
//! signer's journal in `--state-dir`. The signed PSBT is written next to the input as
//! `<name>-signed.psbt` (Coldcard's naming) in the input's encoding, never over an existing file.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{anyhow, Context};
use bitcoin::psbt::PsbtSighashType;
use clap::Args;
use custos_core::{file, inventory::CustodyPolicy};
use custos_disposal::{
    order::parse_time,
    record::{self, Journal},
    DisposalOrder,
};
use custos_keys::classify;
use custos_tx::{
    custody::Custody,
    keyring::SigningKeys,
    material::signing_keys,
    psbt_io::{encode, signed_name, write_new, Encoding},
    sign::sign_psbt,
    transport,
    verify::{verify_psbt_with, Destinations, Review, VerifyOptions},
    weight::FeeRate,
};

use crate::exit;
use crate::secrets::{read_material, read_passphrase};

/// `sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The PSBT: binary, base64 or hex file, or a file of BC-UR / BBQr parts (`-` for stdin).
    psbt: PathBuf,
    /// Seized material (mnemonic, xprv, descriptor with private keys, WIF list) or a keyholder's
    /// key: a file, or `-` for stdin. Without it: a no-echo prompt (one line).
    #[arg(long, value_name = "FILE|-")]
    material: Option<PathBuf>,
    /// File holding the BIP39 / Electrum passphrase (one trailing newline removed).
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_prompt")]
    passphrase_file: Option<PathBuf>,
    /// Ask for the passphrase on a no-echo prompt.
    #[arg(long)]
    passphrase_prompt: bool,
    /// Accept an empty `--passphrase-file` as "no passphrase" (otherwise an empty file is an
    /// error: it is more often a mistake than a choice).
    #[arg(long)]
    empty_passphrase: bool,
    /// The registered custody policy (JSON, from the key ceremony). Every output must pay it.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Refuse when the fee is above this many satoshis.
    #[arg(long, value_name = "SAT", default_value_t = custos_tx::verify::DEFAULT_FEE_CAP.to_sat())]
    fee_cap_sat: u64,
    /// Refuse when the fee rate is above this (sat/vB, decimal with up to 3 places).
    #[arg(long, value_name = "SAT_PER_VB", default_value = "1000")]
    fee_cap_rate: String,
    /// Also accept inputs asking for this sighash type (e.g. SIGHASH_ALL|SIGHASH_ANYONECANPAY);
    /// repeatable. Default: only ALL (and DEFAULT for taproot).
    #[arg(long, value_name = "SIGHASH")]
    allow_sighash: Vec<String>,
    /// Accept an nLockTime beyond the PSBT's context (more than 1,000 blocks above the height
    /// its previous transactions and `--tip-height` prove, or more than a day ahead of this
    /// machine's clock), after reviewing it in the summary.
    #[arg(long)]
    allow_locktime: bool,
    /// The current chain tip height, read off the online machine (raises the lock-time context).
    #[arg(long, value_name = "HEIGHT")]
    tip_height: Option<u32>,
    /// Output file (default: `<name>-signed.psbt` next to the input). Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only verify and show the summary; read no secret, sign nothing.
    #[arg(long)]
    verify_only: bool,
    /// A disposal order (signed by an authority of the policy) that lets one output leave
    /// custody: exactly its address and amount, within its window. Repeatable.
    #[arg(long, value_name = "FILE")]
    order: Vec<PathBuf>,
    /// A new custody policy this spend moves funds to (a re-custody): its outputs are proven
    /// by their derivations like custody outputs. Repeatable.
    #[arg(long, value_name = "FILE")]
    to_policy: Vec<PathBuf>,
    /// The time to check order windows against (RFC 3339 UTC, e.g. 2026-11-26T12:00:00Z);
    /// default: this machine's clock.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// The signer's state directory: its journal of used disposal orders
    /// (`used-orders.txt`) is read and appended there.
    #[arg(long, value_name = "DIR", env = "CUSTOS_SIGNER_STATE")]
    state_dir: Option<PathBuf>,
}

/// Reads a custody policy file.
fn read_policy(path: &Path) -> anyhow::Result<(CustodyPolicy, Custody)> {
    let text = file::read_text(path, file::POLICY)?;
    let policy: CustodyPolicy = serde_json::from_str(&text)
        .with_context(|| format!("policy {} is not a custody policy file", path.display()))?;
    let custody = Custody::from_policy(&policy).with_context(|| path.display().to_string())?;
    Ok((policy, custody))
}

/// What outputs may pay besides the policy: re-custody policies and the orders, each order
/// checked (signatures, window, authority) and its earlier uses looked up in the PSBT and the
/// journal.
fn destinations(
    args: &SignArgs,
    policy: &CustodyPolicy,
    psbt: &bitcoin::Psbt,
) -> anyhow::Result<(Destinations, Vec<DisposalOrder>, Option<Journal>)> {
    let mut dest = Destinations::default();
    for p in &args.to_policy {
        let (other, c) = read_policy(p)?;
        if other.network != policy.network {
            return Err(anyhow!(
                "--to-policy {} is for {}, the policy for {}",
                p.display(),
                other.network,
                policy.network
            ));
        }
        dest.recustody.push(c);
    }
    let now = match &args.now {
        Some(t) => parse_time("--now", t)?,
        None => chrono::Utc::now().timestamp(),
    };
    let secp = bitcoin::secp256k1::Secp256k1::verification_only();
    let mut orders = Vec::new();
    for p in &args.order {
        let bytes = file::read_bytes(p, file::ORDER)?;
        let o = DisposalOrder::parse(&bytes, &p.display().to_string())?;
        dest.orders.push(o.permit(&secp, policy, now)?);
        orders.push(o);
    }
    record::check_psbt(psbt, &mut dest.orders);
    let journal = match &args.state_dir {
        Some(d) if !args.order.is_empty() => {
            let j = Journal::open(d)?;
            j.check(psbt.unsigned_tx.compute_txid(), &mut dest.orders);
            Some(j)
        }
        _ => None,
    };
    Ok((dest, orders, journal))
}

fn refused(json: bool, e: &dyn std::fmt::Display) -> anyhow::Result<u8> {
    if json {
        outln!(
            "{}",
            serde_json::json!({"refused": true, "reason": e.to_string()})
        )?;
    }
    eprintln!("custos-signer: REFUSED: {e}");
    Ok(exit::REFUSED)
}

/// Parses `N` or `N.NNN` sat/vB exactly into a rate in sat/kvB.
pub(crate) fn parse_rate(s: &str) -> anyhow::Result<FeeRate> {
    let v = custos_core::amount::parse_decimal(s, 3).map_err(|e| anyhow!("fee rate {s:?}: {e}"))?;
    u64::try_from(v)
        .map(FeeRate)
        .map_err(|_| anyhow!("fee rate {s:?} too large"))
}

/// What `sign` reads before any secret: the policy, the PSBT and what its outputs may pay.
struct Checked {
    policy: CustodyPolicy,
    custody: Custody,
    psbt: bitcoin::Psbt,
    encoding: custos_tx::psbt_io::Encoding,
    opts: VerifyOptions,
    dest: Destinations,
    orders: Vec<DisposalOrder>,
    journal: Option<Journal>,
}

/// Phase 1: policy, PSBT, caps and orders (input errors exit 2).
fn read_inputs(args: &SignArgs) -> anyhow::Result<Checked> {
    let (policy, custody) = read_policy(&args.policy)?;
    let data = file::read_bytes_or_stdin(&args.psbt, file::PSBT)?;
    let (psbt, encoding) =
        transport::read_psbt(&data).with_context(|| args.psbt.display().to_string())?;
    let mut opts = VerifyOptions {
        fee_cap: bitcoin::Amount::from_sat(args.fee_cap_sat),
        fee_rate_cap: parse_rate(&args.fee_cap_rate)?,
        allow_far_lock_time: args.allow_locktime,
        tip_height: args.tip_height,
        ..VerifyOptions::default()
    };
    for s in &args.allow_sighash {
        opts.allowed_sighash
            .push(PsbtSighashType::from_str(s).with_context(|| format!("--allow-sighash {s}"))?);
    }
    let (dest, orders, journal) = destinations(args, &policy, &psbt)?;
    Ok(Checked {
        policy,
        custody,
        psbt,
        encoding,
        opts,
        dest,
        orders,
        journal,
    })
}

/// Phase 2 (text mode): the review and the disposal orders it relies on.
fn print_review(review: &Review, orders: &[DisposalOrder]) -> anyhow::Result<()> {
    out!("{}", review.to_text())?;
    for o in orders
        .iter()
        .filter(|o| review.orders_used.contains(&o.order_id))
    {
        outln!(
            "disposal order {}: case {}, reference {:?}, issuer {:?}, valid {} to {}",
            o.order_id,
            o.case_id,
            o.reference,
            o.issuer,
            o.not_before,
            o.not_after
        )?;
    }
    Ok(())
}

/// `--verify-only`: the result of the check, signing nothing.
fn print_verified(c: &Checked, review: &Review, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(review)?)?;
    } else {
        outln!(
            "verified: every output pays the custody policy \"{}\"{}",
            c.policy.name,
            if review.orders_used.is_empty() && c.dest.recustody.is_empty() {
                ""
            } else {
                ", a re-custody policy given, or an address under a valid disposal order"
            }
        )?;
    }
    Ok(())
}

/// Where the signed PSBT goes: `--out`, or `<name>-signed.psbt` next to the input; never an
/// existing file.
fn output_path(args: &SignArgs) -> anyhow::Result<PathBuf> {
    let out = args.out.clone().unwrap_or_else(|| {
        if args.psbt == Path::new("-") {
            PathBuf::from("stdin-signed.psbt")
        } else {
            signed_name(&args.psbt)
        }
    });
    if out.exists() {
        return Err(anyhow!(
            "{} already exists; not overwriting it",
            out.display()
        ));
    }
    Ok(out)
}

/// Phase 3: the secrets, read only now, turned into signing keys.
fn read_keys(args: &SignArgs, c: &Checked) -> anyhow::Result<SigningKeys> {
    let material_text = read_material(args.material.as_deref(), "seized material: ")?;
    let pass = read_passphrase(
        args.passphrase_file.as_deref(),
        args.passphrase_prompt,
        args.empty_passphrase,
    )?;
    let material = classify(&material_text, c.policy.network).context("material")?;
    drop(material_text);
    Ok(signing_keys(&material, pass.as_ref(), c.custody.network)?)
}

/// Phase 5: records the orders used (in the PSBT and first in the journal) and writes the signed
/// PSBT in the input's encoding (binary, hex, else base64).
fn record_and_write(c: &mut Checked, review: &Review, out: &Path) -> anyhow::Result<()> {
    if !review.orders_used.is_empty() {
        record::record_in_psbt(&mut c.psbt, &review.orders_used);
        match c.journal.as_mut() {
            Some(j) => j.append(c.psbt.unsigned_tx.compute_txid(), &review.orders_used)?,
            None => eprintln!(
                "custos-signer: warning: no --state-dir: this signer keeps no journal of used orders; only the signed psbt records the use"
            ),
        }
    }
    let file_encoding = match c.encoding {
        Encoding::Binary => Encoding::Binary,
        Encoding::Hex => Encoding::Hex,
        _ => Encoding::Base64,
    };
    write_new(out, &encode(&c.psbt, file_encoding))?;
    Ok(())
}

/// Runs `custos-signer sign`. Returns the exit code.
pub(crate) fn run(args: &SignArgs, json: bool) -> anyhow::Result<u8> {
    let mut c = read_inputs(args)?;
    // 2. Verify before touching any secret.
    let review = match verify_psbt_with(&c.psbt, &c.custody, &c.dest, &c.opts) {
        Ok(r) => r,
        Err(e) if e.is_refusal() => return refused(json, &e),
        Err(e) => return Err(e.into()),
    };
    if !json {
        print_review(&review, &c.orders)?;
    }
    if args.verify_only {
        print_verified(&c, &review, json)?;
        return Ok(exit::OK);
    }
    let out = output_path(args)?;
    let keys = read_keys(args, &c)?;
    // 4. Sign. A derived key that is not the PSBT's key is a refusal, not "unsigned".
    let outcome = match sign_psbt(&mut c.psbt, &keys) {
        Ok(o) => o,
        Err(e) if e.is_refusal() => return refused(json, &e),
        Err(e) => return Err(e.into()),
    };
    drop(keys);
    if outcome.signatures == 0 {
        eprintln!("custos-signer: REFUSED: the material holds no key for any input of this psbt; nothing written");
        return Ok(exit::REFUSED);
    }
    record_and_write(&mut c, &review, &out)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "review": review,
                "signed": outcome,
                "out": out.display().to_string(),
            }))?
        )?;
    } else {
        outln!(
            "signed {} input(s) ({} signature(s)); no key for input(s) {:?}",
            outcome.signed_inputs.len(),
            outcome.signatures,
            outcome.unsigned_inputs
        )?;
        outln!("wrote {}", out.display())?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_rate_parses_exactly() {
        assert_eq!(parse_rate("12").unwrap(), FeeRate(12_000));
        assert_eq!(parse_rate("0.1").unwrap(), FeeRate(100));
        assert_eq!(parse_rate("2.345").unwrap(), FeeRate(2_345));
        assert!(parse_rate("1.2345").is_err());
        assert!(parse_rate("-1").is_err());
    }
}
