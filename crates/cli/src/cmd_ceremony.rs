//! `custos ceremony ...`: assemble the k-of-n custody wallet from the keyholders' key records,
//! and import a signer's ceremony transcript into the case ledger.
//!
//! `assemble` checks every key (proof of possession, network, script type, distinctness, K and
//! N limits — see `custos_ceremony::assemble`), builds the receive and change descriptors with
//! checksums, shows the first receive addresses and writes into `--out-dir`:
//!
//! | file | what |
//! |---|---|
//! | `<name>.descriptor` | receive and change descriptors, one per line, with checksums |
//! | `<name>.bsms` | BSMS 1.0 round-2 descriptor record (BIP129) |
//! | `<name>-coldcard.txt` | Coldcard multisig setup file (not for taproot) |
//! | `<name>-ur.txt` | UR `output-descriptor`, one frame per line (animated when long) |
//! | `<name>-summary.txt` | the registration summary every keyholder compares |
//! | `custody-policy.json` | `custos-custody-policy-v1`: what sweep and signer accept as custody |
//! | `eth-custody-policy.json` | `custos-eth-policy-v1`: the k-of-n Safe v1.4.1 (CREATE2 address, owners, threshold, salt) |
//!
//! The Ethereum policy is written with `--eth-chain-id`; every key record must then carry a
//! proven Ethereum key (records made by `custos-signer key generate`). Its owners are the
//! keys' Ethereum addresses in descriptor order and its threshold is K. `custos eth safe deploy`
//! deploys that Safe; the deployed address must equal the prediction.
//!
//! With `--case`, one `ceremony.assembled` event records who, when, every key (fingerprint,
//! path, xpub, proof status, key-file hash) and every file written (as artifacts). No secret
//! ever reaches this command.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use bitcoin::secp256k1::Secp256k1;
use clap::{Args, Subcommand};
use custos_case::NewArtifact;
use custos_ceremony::assemble::{self, Request};
use custos_ceremony::record::{load_key_file, ProofStatus};
use custos_ceremony::transcript;
use custos_ceremony::ScriptKind;
use custos_core::ledger::EventDraft;

use crate::app::{print_json, App, CmdResult, Failure};

/// Ceremony commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CeremonyCmd {
    /// Assemble the k-of-n custody wallet from key records; write descriptor, BSMS, Coldcard,
    /// UR, summary and the custody policy file.
    Assemble(Box<AssembleArgs>),
    /// Import a signer's ceremony transcript (JSON lines) into the case ledger.
    ImportTranscript {
        /// The transcript file written by custos-signer.
        file: PathBuf,
    },
}

/// `ceremony assemble` options.
#[derive(Debug, Args)]
pub(crate) struct AssembleArgs {
    /// Signatures required (K).
    #[arg(long)]
    pub threshold: usize,
    /// Key record files (custos JSON or BSMS round 1), one per keyholder.
    #[arg(required = true)]
    pub keys: Vec<PathBuf>,
    /// Script type.
    #[arg(long, default_value = "wsh")]
    pub script: ScriptKind,
    /// Wallet name (1-20 printable ASCII; Coldcard shows it).
    #[arg(long, default_value = "custody")]
    pub name: String,
    /// Output directory (created; files in it are never overwritten).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Accept imported keys that carry no proof of possession.
    #[arg(long)]
    pub allow_unproven: bool,
    /// The ceremony challenge every proof must sign (else: all proofs must agree).
    #[arg(long, conflicts_with = "challenge_file")]
    pub challenge: Option<String>,
    /// File holding the ceremony challenge.
    #[arg(long)]
    pub challenge_file: Option<PathBuf>,
    /// Receive addresses to show.
    #[arg(long, default_value_t = 3)]
    pub addresses: u32,
    /// Extra fountain-coded UR frames beyond the pure fragments (animated QR).
    #[arg(long, default_value_t = 0)]
    pub ur_extra_frames: usize,
    /// Show the UR frames as QR codes in the terminal (animated, 200 ms per frame).
    #[arg(long)]
    pub show_qr: bool,
    #[command(flatten)]
    pub eth: EthSafeArgs,
}

/// The Ethereum custody Safe's parameters (`ceremony assemble`).
#[derive(Debug, Args)]
pub(crate) struct EthSafeArgs {
    /// EIP-155 chain id of the custody Safe (1 = mainnet). Given, the Ethereum custody policy
    /// is written too; every key record must then carry a proven Ethereum key.
    #[arg(long)]
    pub eth_chain_id: Option<u64>,
    /// `createProxyWithNonce` salt nonce (decimal).
    #[arg(long, default_value = "0")]
    pub eth_salt_nonce: String,
    /// SafeProxyFactory (default: the canonical v1.4.1 address).
    #[arg(long, value_name = "ADDR")]
    pub eth_safe_factory: Option<String>,
    /// Safe singleton (default: the canonical v1.4.1 `Safe`).
    #[arg(long, value_name = "ADDR")]
    pub eth_safe_singleton: Option<String>,
    /// Fallback handler (default: the canonical v1.4.1 CompatibilityFallbackHandler).
    #[arg(long, value_name = "ADDR")]
    pub eth_fallback_handler: Option<String>,
    /// Largest gas commitment (gas limit × max fee) per transaction the signer accepts, wei.
    #[arg(long, default_value = "10000000000000000")]
    pub eth_max_fee_per_tx_wei: String,
}

impl EthSafeArgs {
    /// The request, or `None` when no Ethereum policy is to be written (no `--eth-chain-id`).
    fn request(
        &self,
        keys: &[custos_ceremony::record::CeremonyKey],
    ) -> Result<Option<custos_ceremony::eth::EthSafeRequest>, Failure> {
        use custos_eth::safe::SafeDeployment;
        let Some(chain_id) = self.eth_chain_id else {
            if keys.iter().all(|k| k.eth.is_some()) {
                tracing::info!(target: "custos::ceremony", "every key has an ethereum key: pass --eth-chain-id to write the ethereum custody policy");
            }
            return Ok(None);
        };
        let num = |s: &str, what: &str| {
            alloy_primitives::U256::from_str_radix(s, 10)
                .map_err(|_| Failure::input(anyhow!("{what} {s:?} is not a decimal integer")))
        };
        let addr = |s: &Option<String>, what: &str, default| match s {
            None => Ok(default),
            Some(a) => custos_keys::eth::parse_address(a, None)
                .map_err(|e| Failure::input(anyhow!("{what}: {e}"))),
        };
        let c = SafeDeployment::CANONICAL_V1_4_1;
        Ok(Some(custos_ceremony::eth::EthSafeRequest {
            chain_id,
            salt_nonce: num(&self.eth_salt_nonce, "--eth-salt-nonce")?,
            deployment: SafeDeployment {
                factory: addr(&self.eth_safe_factory, "--eth-safe-factory", c.factory)?,
                singleton: addr(
                    &self.eth_safe_singleton,
                    "--eth-safe-singleton",
                    c.singleton,
                )?,
                fallback_handler: addr(
                    &self.eth_fallback_handler,
                    "--eth-fallback-handler",
                    c.fallback_handler,
                )?,
            },
            max_fee_per_tx_wei: num(&self.eth_max_fee_per_tx_wei, "--eth-max-fee-per-tx-wei")?,
        }))
    }
}

/// Runs a ceremony command.
pub(crate) fn run(app: &App, cmd: &CeremonyCmd) -> CmdResult {
    match cmd {
        CeremonyCmd::Assemble(a) => assemble_cmd(app, a),
        CeremonyCmd::ImportTranscript { file } => import_transcript(app, file),
    }
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A refused proof, challenge or duplicate key exits 1 (a refusal); I/O 3; other errors 2.
fn ceremony_failure(e: custos_ceremony::Error) -> Failure {
    Failure::classified(e)
}

/// One file `assemble` writes: its ledger artifact kind, its name in `--out-dir`, its content.
type CeremonyOutput = (String, String, Vec<u8>);

/// Each key record's path and bytes (hashed and recorded in the case).
type KeyFiles = Vec<(PathBuf, Vec<u8>)>;

/// The Ethereum Safe policy (`--eth-chain-id`): the file written and the policy it describes.
type EthPolicyPair = (
    custos_eth::policy::EthPolicyFile,
    custos_eth::policy::EthPolicy,
);

fn assemble_cmd(app: &App, a: &AssembleArgs) -> CmdResult {
    let mut case = app.open_case()?;
    let network = app.network(case.as_ref());
    let challenge = read_challenge(a)?;
    let (keys, key_files) = load_keys(a)?;
    let req = Request {
        name: a.name.clone(),
        network,
        script: a.script,
        threshold: a.threshold,
        allow_unproven: a.allow_unproven,
        challenge: challenge.clone(),
    };
    let eth_req = a.eth.request(&keys)?;
    let asm = assemble::assemble(&req, keys).map_err(ceremony_failure)?;
    let eth_policy = eth_req
        .as_ref()
        .map(|r| custos_ceremony::eth::eth_policy(&asm, r))
        .transpose()
        .map_err(ceremony_failure)?;
    let first = asm
        .receive_addresses(a.addresses.max(1))
        .map_err(Failure::input)?;
    let change0 = asm.first_change_address().map_err(Failure::input)?;

    let new_dir = !a.out_dir.exists();
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("cannot create {}", a.out_dir.display()))
        .map_err(Failure::env)?;
    let ur_frames = asm
        .ur_output_descriptor(a.ur_extra_frames)
        .map_err(Failure::input)?;
    let outputs = ceremony_outputs(a, &asm, &ur_frames, &first, eth_policy.as_ref())?;
    write_ceremony_outputs(a, &outputs, new_dir)?;

    let unproven = asm
        .keys
        .iter()
        .filter(|k| k.proof == ProofStatus::Unproven)
        .count();
    let payload = serde_json::json!({
        "name": asm.name, "network": network, "script": asm.script,
        "threshold": asm.threshold, "n": asm.keys.len(), "keys": key_payload(&asm, &key_files),
        "unproven_keys": unproven, "challenge": challenge,
        "receive_descriptor": asm.receive_string(), "change_descriptor": asm.change_string(),
        "first_receive_addresses": first, "first_change_address": change0,
        "files": file_payload(&outputs), "out_dir": a.out_dir,
        "eth_safe": eth_policy.as_ref().map(|(f, _)| serde_json::json!({
            "chain_id": f.chain_id, "safe": f.safe, "safe_setup": f.safe_setup,
        })),
    });
    let event = app.record(
        case.as_mut(),
        EventDraft::new(custos_case::kinds::CEREMONY_ASSEMBLED, payload.clone()),
        ceremony_artifacts(&key_files, &outputs),
    )?;

    if a.show_qr {
        show_frames(&ur_frames)?;
    }
    if app.json {
        let mut out = payload;
        if let Some(e) = event {
            out["ledger_seq"] = serde_json::json!(e.seq);
        }
        out["ur"] = serde_json::json!(ur_frames);
        return print_json(&out);
    }
    let shown = Assembled {
        asm: &asm,
        first: &first,
        change0: &change0,
        eth_policy: eth_policy.as_ref(),
        unproven,
        outputs: &outputs,
    };
    print_assembled(a, &shown, event.as_ref())
}

/// `--challenge`, or the first line of `--challenge-file`, trimmed.
fn read_challenge(a: &AssembleArgs) -> CmdResult<Option<String>> {
    Ok(match (&a.challenge, &a.challenge_file) {
        (Some(c), _) => Some(c.trim().to_string()),
        (None, Some(p)) => Some(
            custos_core::file::read_text(p, custos_core::file::KEY_RECORD)?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    })
}

/// Loads and checks every key record, keeping each file's bytes for the ledger.
fn load_keys(a: &AssembleArgs) -> CmdResult<(Vec<custos_ceremony::record::CeremonyKey>, KeyFiles)> {
    let secp = Secp256k1::verification_only();
    let mut keys = Vec::new();
    let mut key_files = Vec::new();
    for p in &a.keys {
        keys.push(load_key_file(&secp, p).map_err(ceremony_failure)?);
        let bytes = custos_core::file::read_bytes(p, custos_core::file::KEY_RECORD)?;
        key_files.push((p.clone(), bytes));
    }
    Ok((keys, key_files))
}

/// Renders every file `assemble` writes (the Coldcard file is skipped with a warning where the
/// script type has none).
fn ceremony_outputs(
    a: &AssembleArgs,
    asm: &assemble::Assembly,
    ur_frames: &[String],
    first: &[String],
    eth_policy: Option<&EthPolicyPair>,
) -> CmdResult<Vec<CeremonyOutput>> {
    let stem = file_stem(&a.name);
    let bsms = asm.bsms_round2().map_err(Failure::input)?;
    let policy = asm.policy(Some(transcript::sha256_hex(bsms.as_bytes())));
    let mut outputs: Vec<CeremonyOutput> = vec![
        (
            "descriptor".into(),
            format!("{stem}.descriptor"),
            format!("{}\n{}\n", asm.receive_string(), asm.change_string()).into_bytes(),
        ),
        (
            "bsms_descriptor_record".into(),
            format!("{stem}.bsms"),
            bsms.into_bytes(),
        ),
    ];
    match asm.coldcard_text() {
        Ok(t) => outputs.push((
            "coldcard_multisig".into(),
            format!("{stem}-coldcard.txt"),
            t.into_bytes(),
        )),
        Err(e) => tracing::warn!(target: "custos::ceremony", "{e}"),
    }
    outputs.push((
        "ur_output_descriptor".into(),
        format!("{stem}-ur.txt"),
        (ur_frames.join("\n") + "\n").into_bytes(),
    ));
    outputs.push((
        "registration_summary".into(),
        format!("{stem}-summary.txt"),
        asm.summary(first).into_bytes(),
    ));
    outputs.push((
        "custody_policy".into(),
        "custody-policy.json".into(),
        (serde_json::to_string_pretty(&policy).map_err(Failure::env)? + "\n").into_bytes(),
    ));
    if let Some((file, _)) = eth_policy {
        outputs.push((
            "eth_custody_policy".into(),
            "eth-custody-policy.json".into(),
            (serde_json::to_string_pretty(file).map_err(Failure::env)? + "\n").into_bytes(),
        ));
    }
    Ok(outputs)
}

/// Writes every output or none: an existing `.bsms` must not leave a fresh `.descriptor` beside
/// it; a directory this command created is removed again on failure.
fn write_ceremony_outputs(
    a: &AssembleArgs,
    outputs: &[CeremonyOutput],
    new_dir: bool,
) -> CmdResult {
    let files: Vec<(PathBuf, Vec<u8>)> = outputs
        .iter()
        .map(|(_, name, data)| (a.out_dir.join(name), data.clone()))
        .collect();
    if let Err(e) = custos_core::file::write_all_new(&files) {
        if new_dir {
            let _ = std::fs::remove_dir(&a.out_dir);
        }
        return Err(e.into());
    }
    Ok(())
}

/// Each key as recorded in the ledger, with the hash of the file it came from.
fn key_payload(
    asm: &assemble::Assembly,
    key_files: &[(PathBuf, Vec<u8>)],
) -> Vec<serde_json::Value> {
    asm.keys
        .iter()
        .map(|k| {
            let sha = key_files
                .iter()
                .find(|(p, _)| p.display().to_string() == k.source)
                .map(|(_, b)| transcript::sha256_hex(b))
                .unwrap_or_default();
            serde_json::json!({
                "fingerprint": k.fingerprint.to_string(), "path": k.path_string(),
                "xpub": k.xpub.to_string(), "label": k.label, "file": k.source,
                "file_sha256": sha, "proof": k.proof,
                "eth_address": k.eth.map(|a| a.to_checksum(None)),
            })
        })
        .collect()
}

/// Each written file's kind, name and hash, as recorded in the ledger.
fn file_payload(outputs: &[CeremonyOutput]) -> Vec<serde_json::Value> {
    outputs
        .iter()
        .map(|(kind, name, data)| {
            serde_json::json!({"kind": kind, "name": name, "sha256": transcript::sha256_hex(data)})
        })
        .collect()
}

/// The key records and every written file as case artifacts.
fn ceremony_artifacts(
    key_files: &[(PathBuf, Vec<u8>)],
    outputs: &[CeremonyOutput],
) -> Vec<NewArtifact> {
    let mut artifacts: Vec<NewArtifact> = key_files
        .iter()
        .map(|(p, b)| NewArtifact {
            kind: "key_record".into(),
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            data: b.clone(),
        })
        .collect();
    artifacts.extend(outputs.iter().map(|(kind, name, data)| NewArtifact {
        kind: kind.clone(),
        name: name.clone(),
        data: data.clone(),
    }));
    artifacts
}

/// What `assemble` shows a human once everything is written and recorded.
struct Assembled<'a> {
    asm: &'a assemble::Assembly,
    first: &'a [String],
    change0: &'a str,
    eth_policy: Option<&'a EthPolicyPair>,
    unproven: usize,
    outputs: &'a [CeremonyOutput],
}

/// The registration summary, the Safe, warnings, the files written and the ledger event.
fn print_assembled(
    a: &AssembleArgs,
    s: &Assembled<'_>,
    event: Option<&custos_core::ledger::Event>,
) -> CmdResult {
    out!("{}", s.asm.summary(s.first))?;
    outln!("First change address: {}", s.change0)?;
    if let Some((f, p)) = s.eth_policy {
        outln!(
            "Ethereum custody Safe (v1.4.1, {} of {}, chain {}): {}",
            s.asm.threshold,
            s.asm.keys.len(),
            f.chain_id,
            f.safe
        )?;
        if let Some((owners, _)) = &p.owners {
            for o in owners {
                outln!("  owner {}", o.to_checksum(None))?;
            }
        }
    }
    if s.unproven > 0 {
        outln!(
            "WARNING: {} key(s) without proof of possession (--allow-unproven)",
            s.unproven
        )?;
    }
    for (_, name, data) in s.outputs {
        outln!(
            "wrote {} sha256 {}",
            a.out_dir.join(name).display(),
            transcript::sha256_hex(data)
        )?;
    }
    if let Some(e) = event {
        outln!("ledger: seq {} {}", e.seq, e.hash)?;
    }
    outln!(
        "Every keyholder now runs `custos-signer ceremony verify` and compares the first address."
    )?;
    Ok(())
}

fn show_frames(frames: &[String]) -> CmdResult {
    let mut err = std::io::stderr().lock();
    let loops = if frames.len() > 1 { 3 } else { 1 };
    for _ in 0..loops {
        for f in frames {
            let code = qrcode::QrCode::with_error_correction_level(
                f.to_ascii_uppercase(),
                qrcode::EcLevel::L,
            )
            .map_err(|e| Failure::input(anyhow!("qr: {e}")))?;
            let text = code
                .render::<qrcode::render::unicode::Dense1x2>()
                .dark_color(qrcode::render::unicode::Dense1x2::Light)
                .light_color(qrcode::render::unicode::Dense1x2::Dark)
                .build();
            let _ = write!(err, "\x1b[2J\x1b[H{text}\n{f}\n");
            let _ = err.flush();
            if frames.len() > 1 {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
    }
    Ok(())
}

fn import_transcript(app: &App, file: &Path) -> CmdResult {
    let mut case = app.require_case()?;
    let entries = transcript::read(file).map_err(Failure::input)?;
    let bytes = custos_core::file::read_bytes(file, custos_core::file::TRANSCRIPT)?;
    let mut seqs = Vec::new();
    for e in &entries {
        let payload = serde_json::to_value(e).map_err(Failure::env)?;
        // The files' hashes stay in the payload: the files themselves are on the keyholder's
        // media, not in the case store.
        let ev = app.record(
            Some(&mut case),
            EventDraft::new(
                format!("{}{}", custos_case::kinds::SIGNER_STEP_PREFIX, e.step),
                payload,
            ),
            Vec::new(),
        )?;
        if let Some(ev) = ev {
            seqs.push(ev.seq);
        }
    }
    let summary = app.record(
        Some(&mut case),
        EventDraft::new(
            custos_case::kinds::CEREMONY_TRANSCRIPT_IMPORTED,
            serde_json::json!({"file": file, "entries": entries.len(), "sha256": transcript::sha256_hex(&bytes)}),
        ),
        vec![NewArtifact {
            kind: "ceremony_transcript".into(),
            name: file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            data: bytes,
        }],
    )?;
    if app.json {
        return print_json(&serde_json::json!({
            "imported": entries.len(), "seqs": seqs, "summary_seq": summary.map(|e| e.seq),
        }));
    }
    outln!(
        "imported {} transcript entries from {} (ledger seq {:?})",
        entries.len(),
        file.display(),
        seqs
    )?;
    Ok(())
}
