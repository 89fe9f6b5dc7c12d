//! `custos-signer sign PSBT --material FILE|- --policy POLICY`: verify a PSBT against the
//! registered custody policy, show what it does, and sign every input the seized material (or a
//! keyholder's key) can sign.
//!
//! Order matters: the PSBT is checked *before* any secret is read. A refusal (exit 1) names the
//! input or output at fault. The signed PSBT is written next to the input as
//! `<name>-signed.psbt` (Coldcard's naming) in the input's encoding, never over an existing file.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{anyhow, Context};
use bitcoin::psbt::PsbtSighashType;
use clap::Args;
use custos_core::{file, inventory::CustodyPolicy};
use custos_keys::classify;
use custos_tx::{
    custody::Custody,
    material::signing_keys,
    psbt_io::{encode, signed_name, write_new},
    sign::sign_psbt,
    transport,
    verify::{verify_psbt, VerifyOptions},
    weight::FeeRate,
};

use crate::exit;
use crate::secrets::{read_material, read_passphrase};

/// `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
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
}

/// Parses `N` or `N.NNN` sat/vB exactly into a rate in sat/kvB.
pub fn parse_rate(s: &str) -> anyhow::Result<FeeRate> {
    let v = custos_core::amount::parse_decimal(s, 3).map_err(|e| anyhow!("fee rate {s:?}: {e}"))?;
    u64::try_from(v)
        .map(FeeRate)
        .map_err(|_| anyhow!("fee rate {s:?} too large"))
}

/// Runs `custos-signer sign`. Returns the exit code.
pub fn run(args: &SignArgs, json: bool) -> anyhow::Result<u8> {
    // 1. Policy and PSBT: input errors exit 2.
    let policy_text = file::read_text(&args.policy, file::POLICY)?;
    let policy: CustodyPolicy = serde_json::from_str(&policy_text).with_context(|| {
        format!(
            "policy {} is not a custody policy file",
            args.policy.display()
        )
    })?;
    let custody = Custody::from_policy(&policy).map_err(|e| anyhow!("{e}"))?;
    let data = file::read_bytes_or_stdin(&args.psbt, file::PSBT)?;
    let (mut psbt, encoding) =
        transport::read_psbt(&data).map_err(|e| anyhow!("{}: {e}", args.psbt.display()))?;
    let mut opts = VerifyOptions {
        fee_cap: bitcoin::Amount::from_sat(args.fee_cap_sat),
        fee_rate_cap: parse_rate(&args.fee_cap_rate)?,
        allow_far_lock_time: args.allow_locktime,
        tip_height: args.tip_height,
        ..VerifyOptions::default()
    };
    for s in &args.allow_sighash {
        opts.allowed_sighash
            .push(PsbtSighashType::from_str(s).map_err(|e| anyhow!("--allow-sighash {s}: {e}"))?);
    }
    // 2. Verify before touching any secret.
    let review = match verify_psbt(&psbt, &custody, &opts) {
        Ok(r) => r,
        Err(e) if e.is_refusal() => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"refused": true, "reason": e.to_string()})
                )?;
            }
            eprintln!("custos-signer: {e}");
            return Ok(exit::REFUSED);
        }
        Err(e) => return Err(anyhow!("{e}")),
    };
    if !json {
        out!("{}", review.to_text())?;
    }
    if args.verify_only {
        if json {
            outln!("{}", serde_json::to_string_pretty(&review)?)?;
        } else {
            outln!(
                "verified: every output pays the custody policy \"{}\"",
                policy.name
            )?;
        }
        return Ok(exit::OK);
    }
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
    // 3. Secrets.
    let material_text = read_material(args.material.as_deref(), "seized material: ")?;
    let pass = read_passphrase(
        args.passphrase_file.as_deref(),
        args.passphrase_prompt,
        args.empty_passphrase,
    )?;
    let material =
        classify(&material_text, policy.network).map_err(|e| anyhow!("material: {e}"))?;
    drop(material_text);
    let keys =
        signing_keys(&material, pass.as_ref(), custody.network).map_err(|e| anyhow!("{e}"))?;
    drop(material);
    // 4. Sign. A derived key that is not the PSBT's key is a refusal, not "unsigned".
    let outcome = match sign_psbt(&mut psbt, &keys) {
        Ok(o) => o,
        Err(e) if e.is_refusal() => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"refused": true, "reason": e.to_string()})
                )?;
            }
            eprintln!("custos-signer: REFUSED: {e}");
            return Ok(exit::REFUSED);
        }
        Err(e) => return Err(anyhow!("{e}")),
    };
    drop(keys);
    if outcome.signatures == 0 {
        eprintln!("custos-signer: REFUSED: the material holds no key for any input of this psbt; nothing written");
        return Ok(exit::REFUSED);
    }
    let file_encoding = match encoding {
        custos_tx::psbt_io::Encoding::Binary => custos_tx::psbt_io::Encoding::Binary,
        custos_tx::psbt_io::Encoding::Hex => custos_tx::psbt_io::Encoding::Hex,
        _ => custos_tx::psbt_io::Encoding::Base64,
    };
    write_new(&out, &encode(&psbt, file_encoding)).map_err(|e| anyhow!("{e}"))?;
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
