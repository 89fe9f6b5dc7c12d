//! `custos-signer sign PSBT --material FILE|- --policy POLICY`: verify a PSBT against the
//! registered custody policy, show what it does, and sign every input the seized material (or a
//! keyholder's key) can sign.
//!
//! Order matters: the PSBT is checked *before* any secret is read. A refusal (exit 1) names the
//! input or output at fault. The signed PSBT is written next to the input as
//! `<name>-signed.psbt` (Coldcard's naming) in the input's encoding, never over an existing file.

use std::{
    io::Read,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{anyhow, Context};
use bitcoin::{bip32::Xpriv, psbt::PsbtSighashType, PrivateKey};
use clap::Args;
use custos_core::{inventory::CustodyPolicy, Secret, SecretString};
use custos_keys::{classify, Material};
use custos_tx::{
    custody::Custody,
    psbt_io::{encode, signed_name, write_new},
    sign::{sign_psbt, SigningKeys},
    transport,
    verify::{verify_psbt, VerifyOptions},
    weight::FeeRate,
};

use crate::exit;

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
    /// Output file (default: `<name>-signed.psbt` next to the input). Never overwritten.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only verify and show the summary; read no secret, sign nothing.
    #[arg(long)]
    verify_only: bool,
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .context("cannot read stdin")?;
        Ok(v)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn read_secret(path: Option<&Path>, prompt: &str) -> anyhow::Result<SecretString> {
    match path {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read stdin")?;
            Ok(Secret::new(s))
        }
        Some(p) => {
            let s = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok(Secret::new(s))
        }
        None => {
            let s = rpassword::prompt_password(prompt).context("cannot read from the terminal")?;
            Ok(Secret::new(s))
        }
    }
}

fn passphrase(args: &SignArgs) -> anyhow::Result<Option<SecretString>> {
    if let Some(p) = &args.passphrase_file {
        let mut s = read_secret(Some(p), "")?;
        let t = s.expose_secret_mut();
        if t.ends_with('\n') {
            t.pop();
            if t.ends_with('\r') {
                t.pop();
            }
        }
        return Ok(Some(s));
    }
    if args.passphrase_prompt {
        return Ok(Some(read_secret(None, "passphrase: ")?));
    }
    Ok(None)
}

/// Parses `N` or `N.NNN` sat/vB exactly into a rate in sat/kvB.
pub fn parse_rate(s: &str) -> anyhow::Result<FeeRate> {
    let v = custos_core::amount::parse_decimal(s, 3).map_err(|e| anyhow!("fee rate {s:?}: {e}"))?;
    u64::try_from(v)
        .map(FeeRate)
        .map_err(|_| anyhow!("fee rate {s:?} too large"))
}

/// Turns classified material into signing keys (the adapter between custos-keys and custos-tx).
pub fn signing_keys(
    material: &Material,
    passphrase: Option<&SecretString>,
    network: bitcoin::Network,
) -> anyhow::Result<SigningKeys> {
    let mut keys = SigningKeys::new();
    let master_from_seed =
        |seed: &[u8]| Xpriv::new_master(network, seed).map_err(|e| anyhow!("bip32 master: {e}"));
    match material {
        Material::Bip39 {
            phrase,
            also_electrum,
            ..
        } => {
            let seed = custos_keys::bip39_seed(phrase, passphrase).map_err(|e| anyhow!("{e}"))?;
            keys.add_master(master_from_seed(seed.expose_secret())?);
            if also_electrum.is_some() {
                let seed = custos_keys::electrum::electrum_seed(phrase, passphrase);
                keys.add_master(master_from_seed(seed.expose_secret())?);
            }
        }
        Material::ElectrumSeed { kind, phrase, .. } => {
            if kind.name() == "old" {
                return Err(anyhow!(
                    "signing with old (pre-2.0) electrum seeds is not supported"
                ));
            }
            let seed = custos_keys::electrum::electrum_seed(phrase, passphrase);
            keys.add_master(master_from_seed(seed.expose_secret())?);
        }
        Material::ExtendedPrivate { keys: xs } => {
            for x in xs {
                let xp = Xpriv::from_str(x.xprv.expose_secret()).map_err(|e| {
                    anyhow!("line {}: extended private key does not parse: {e}", x.line)
                })?;
                match &x.origin {
                    Some(o) => keys.add_xpriv_with_origin(xp, o.fingerprint, o.path.clone()),
                    None => keys.add_master(xp),
                }
            }
        }
        Material::Descriptors(ds) => {
            let secp = bitcoin::secp256k1::Secp256k1::new();
            for d in ds {
                let Some(text) = &d.secret else { continue };
                let (_, keymap) =
                    miniscript::Descriptor::<miniscript::DescriptorPublicKey>::parse_descriptor(
                        &secp,
                        text.expose_secret(),
                    )
                    .map_err(|_| {
                        anyhow!(
                            "line {}: descriptor with private keys does not parse",
                            d.line
                        )
                    })?;
                for (_, sk) in keymap {
                    match &sk {
                        miniscript::descriptor::DescriptorSecretKey::Single(s) => {
                            keys.add_private_key(s.key)
                        }
                        miniscript::descriptor::DescriptorSecretKey::XPrv(x) => match &x.origin {
                            Some((fp, path)) => {
                                keys.add_xpriv_with_origin(x.xkey, *fp, path.clone())
                            }
                            None => keys.add_master(x.xkey),
                        },
                        miniscript::descriptor::DescriptorSecretKey::MultiXPrv(x) => {
                            match &x.origin {
                                Some((fp, path)) => {
                                    keys.add_xpriv_with_origin(x.xkey, *fp, path.clone())
                                }
                                None => keys.add_master(x.xkey),
                            }
                        }
                    }
                }
            }
        }
        Material::Wif(ws) => {
            for w in ws {
                let k = PrivateKey::from_wif(w.wif.expose_secret())
                    .map_err(|e| anyhow!("line {}: wif does not parse: {e}", w.line))?;
                keys.add_private_key(k);
            }
        }
        Material::ExtendedPublic { .. } | Material::Addresses(_) => {
            return Err(anyhow!(
                "the material ({}) holds no private key",
                material.kind_name()
            ));
        }
    }
    Ok(keys)
}

/// Runs `custos-signer sign`. Returns the exit code.
pub fn run(args: &SignArgs, json: bool) -> anyhow::Result<u8> {
    // 1. Policy and PSBT: input errors exit 2.
    let policy_text = std::fs::read_to_string(&args.policy)
        .with_context(|| format!("cannot read policy {}", args.policy.display()))?;
    let policy: CustodyPolicy = serde_json::from_str(&policy_text).with_context(|| {
        format!(
            "policy {} is not a custody policy file",
            args.policy.display()
        )
    })?;
    let custody = Custody::from_policy(&policy).map_err(|e| anyhow!("{e}"))?;
    let data = read_input(&args.psbt)?;
    let (mut psbt, encoding) =
        transport::read_psbt(&data).map_err(|e| anyhow!("{}: {e}", args.psbt.display()))?;
    let mut opts = VerifyOptions {
        fee_cap: bitcoin::Amount::from_sat(args.fee_cap_sat),
        fee_rate_cap: parse_rate(&args.fee_cap_rate)?,
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
                println!(
                    "{}",
                    serde_json::json!({"refused": true, "reason": e.to_string()})
                );
            }
            eprintln!("custos-signer: {e}");
            return Ok(exit::REFUSED);
        }
        Err(e) => return Err(anyhow!("{e}")),
    };
    if !json {
        print!("{}", review.to_text());
    }
    if args.verify_only {
        if json {
            println!("{}", serde_json::to_string_pretty(&review)?);
        } else {
            println!(
                "verified: every output pays the custody policy \"{}\"",
                policy.name
            );
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
    let material_text = read_secret(args.material.as_deref(), "seized material: ")?;
    let pass = passphrase(args)?;
    let material =
        classify(&material_text, policy.network).map_err(|e| anyhow!("material: {e}"))?;
    drop(material_text);
    let keys = signing_keys(&material, pass.as_ref(), custody.network)?;
    drop(material);
    // 4. Sign.
    let outcome = sign_psbt(&mut psbt, &keys).map_err(|e| anyhow!("{e}"))?;
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
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "review": review,
                "signed": outcome,
                "out": out.display().to_string(),
            }))?
        );
    } else {
        println!(
            "signed {} input(s) ({} signature(s)); no key for input(s) {:?}",
            outcome.signed_inputs.len(),
            outcome.signatures,
            outcome.unsigned_inputs
        );
        println!("wrote {}", out.display());
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

#[cfg(test)]
mod material_tests {
    //! The adapter from classified seized material to signing keys, on the public test keys of
    //! crates/tx/tests/common (seized master seed 32 × 0x42, WIF secrets 32 × 0x07 / 0x08).
    use super::*;

    fn fixture(name: &str) -> bitcoin::Psbt {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/psbt/interop")
            .join(name);
        custos_tx::psbt_io::parse_any(&std::fs::read(p).expect("fixture")).expect("psbt")
    }

    fn keys_from(text: &str) -> SigningKeys {
        let m = classify(
            &Secret::new(text.to_string()),
            custos_core::Network::Regtest,
        )
        .expect("classify");
        signing_keys(&m, None, bitcoin::Network::Regtest).expect("keys")
    }

    #[test]
    fn account_xprv_with_origin_signs_its_inputs() {
        // [fp/84'/1'/0'] account key of the seized master: signs the 20 p2wpkh inputs.
        let k = keys_from("[2de67592/84'/1'/0']tprv8fnGNKmxXA7Y6kuipdmMTkgKwWvRNb6PR6T3mgmR5QhmT8c9hdNXxtrzqmoYYJhpwGxrFXjCeeYzXGGGcEWToGreAaawPmGgenvg2gB1s5s");
        let mut p = fixture("sweep-p2wpkh-20.psbt");
        let o = sign_psbt(&mut p, &k).expect("sign");
        assert_eq!(o.signatures, 20);
    }

    #[test]
    fn wif_list_signs_only_the_inputs_of_its_keys() {
        let k = keys_from(
            "91e1fpA4xxnUq5jwFxvKkk37nMNPVw1HKf7zGES2gHrV3uSs7pU\ncMrK98iKJu7aYAB4xUAvH8rua5KL8ejTVKJwTke2Ga92T2gMTLvo\n",
        );
        let mut p = fixture("sweep-mixed-wsh.psbt");
        let o = sign_psbt(&mut p, &k).expect("sign");
        // the uncompressed WIF's p2pkh input; the compressed WIF has no input in this sweep.
        assert_eq!(o.signatures, 1);
        assert_eq!(o.unsigned_inputs.len(), 5);
    }

    #[test]
    fn watch_only_material_is_refused() {
        let m = classify(
            &Secret::new(
                "bcrt1qyr23fa7gca60ujew2ekj50y8emjakryqe653h9llw3sjp0ynwwmsd9087j".to_string(),
            ),
            custos_core::Network::Regtest,
        )
        .expect("classify");
        let e = signing_keys(&m, None, bitcoin::Network::Regtest).unwrap_err();
        assert!(e.to_string().contains("no private key"), "{e}");
    }
}
