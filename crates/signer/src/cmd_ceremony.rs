//! `custos-signer ceremony verify FILES --key-record MINE`: the keyholder's check of the
//! assembled custody wallet (BIP129 round 2, signer side). Every file (descriptor text, BSMS
//! round-2 record, custody policy JSON) must describe the same receive descriptor; the
//! keyholder's own key must appear in it exactly once (exact match of fingerprint, path and
//! xpub); the first addresses are derived here, for comparing with the other keyholders and
//! with the coordinator's summary. A BSMS record's stated first address must match. A custody
//! policy's disposal authorities must each carry a proof of possession that verifies. An
//! Ethereum custody policy (`custos-eth-policy-v1`) among the files is checked too: it must name
//! the Safe's owners, threshold and salt (the Safe address is recomputed with CREATE2 and must
//! match), the keyholder's own Ethereum key must be an owner exactly once, and its threshold and
//! owner count must equal the descriptor's K and N. The step is appended to the transcript (file
//! hashes, fingerprint, addresses).
//!
//! Exit: 0 accepted, 1 refused (own key missing or repeated, files disagree, address
//! mismatch, an unproven authority), 2 unreadable or malformed input (including a wrong descriptor checksum).

use std::path::PathBuf;

use anyhow::Context;
use bitcoin::secp256k1::Secp256k1;
use clap::{Args, Subcommand};
use custos_ceremony::assemble::parse_descriptor;
use custos_ceremony::record::{load_key_file, CeremonyKey};
use custos_ceremony::transcript::{self, Entry, TRANSCRIPT_FORMAT};
use custos_ceremony::verify::{check_membership, Membership};
use custos_ceremony::Error as CeremonyError;
use custos_core::inventory::{CustodyPolicy, CUSTODY_POLICY_FORMAT};
use custos_core::Network;
use custos_eth::policy::{EthPolicy, ETH_POLICY_FORMAT};

use crate::exit;
use miniscript::descriptor::{Descriptor, DescriptorPublicKey};

/// Ceremony commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CeremonyCmd {
    /// Check the assembled wallet: own key exactly once, first addresses re-derived.
    Verify(VerifyArgs),
}

/// `ceremony verify` options.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Descriptor file(s), BSMS round-2 record(s), custody policy file(s).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// This keyholder's key record (JSON or BSMS round 1).
    #[arg(long)]
    pub key_record: PathBuf,
    /// Network.
    #[arg(long, default_value = "regtest")]
    pub network: Network,
    /// How many receive addresses to show.
    #[arg(long, default_value_t = 3)]
    pub addresses: u32,
    /// Transcript file (JSON lines); default: next to the key record.
    #[arg(long)]
    pub transcript: Option<PathBuf>,
    /// Who is doing this step.
    #[arg(long, env = "CUSTOS_EXAMINER", default_value = "keyholder")]
    pub who: String,
}

/// Runs a ceremony command; returns the exit code.
pub(crate) fn run(cmd: &CeremonyCmd, json: bool) -> anyhow::Result<u8> {
    match cmd {
        CeremonyCmd::Verify(a) => verify(a, json),
    }
}

/// What one file says about the wallet: its receive descriptor, the first address it states
/// (BSMS) and the network it declares (a custody policy).
struct Described {
    descriptor: Descriptor<DescriptorPublicKey>,
    first_address: Option<String>,
    network: Option<Network>,
}

/// The receive descriptor a file describes, a first address it states (BSMS) and its network.
fn descriptor_of(path: &std::path::Path) -> Result<Described, CeremonyError> {
    let (descriptor, first_address, network) = descriptor_parts(path)?;
    Ok(Described {
        descriptor,
        first_address,
        network,
    })
}

type Parts = (
    Descriptor<DescriptorPublicKey>,
    Option<String>,
    Option<Network>,
);

fn descriptor_parts(path: &std::path::Path) -> Result<Parts, CeremonyError> {
    let file = path.display().to_string();
    let text = custos_core::file::read_text(path, custos_core::file::POLICY)?;
    let t = text.trim_start();
    if t.starts_with("BSMS 1.0") {
        let lines: Vec<&str> = t.lines().map(str::trim).collect();
        if lines.len() < 4 {
            return Err(CeremonyError::malformed(
                &file,
                "bsms descriptor record must have 4 lines",
            ));
        }
        let desc = if lines[1].contains("/**") {
            let first = lines[2]
                .split(',')
                .next()
                .filter(|p| p.starts_with('/'))
                .ok_or_else(|| CeremonyError::malformed(&file, "line 3: no path restriction"))?;
            lines[1].replace("/**", first)
        } else {
            lines[1].to_string()
        };
        return Ok((
            parse_descriptor(&desc, &file)?,
            Some(lines[3].to_string()),
            None,
        ));
    }
    if custos_core::file::is_json_object(t) {
        let p: CustodyPolicy = serde_json::from_str(t)
            .map_err(|e| CeremonyError::malformed(&file, format!("not a custody policy: {e}")))?;
        if p.format != CUSTODY_POLICY_FORMAT {
            return Err(CeremonyError::malformed(
                &file,
                format!("format {:?}", p.format),
            ));
        }
        return Ok((
            parse_descriptor(&p.receive_descriptor, &file)?,
            None,
            Some(p.network),
        ));
    }
    let line = t
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| CeremonyError::malformed(&file, "no descriptor"))?;
    Ok((parse_descriptor(line, &file)?, None, None))
}

/// An Ethereum custody policy file, parsed and checked (Safe address recomputed); `None` for
/// any other file.
fn eth_policy_of(path: &std::path::Path) -> anyhow::Result<Option<EthPolicy>> {
    let text = custos_core::file::read_text(path, custos_core::file::POLICY)?;
    if !custos_core::file::is_json_object(&text) {
        return Ok(None);
    }
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    if v.get("format").and_then(|f| f.as_str()) != Some(ETH_POLICY_FORMAT) {
        return Ok(None);
    }
    EthPolicy::from_json(&text)
        .map(Some)
        .with_context(|| path.display().to_string())
}

/// Checks an Ethereum custody policy against the keyholder's key and the descriptor's K and N;
/// `Err(reason)` is a refusal.
fn check_eth_policy(
    p: &EthPolicy,
    mine: Option<alloy_primitives::Address>,
    k: Option<usize>,
    n: usize,
) -> Result<usize, String> {
    let Some(me) = mine else {
        return Err(
            "the key record carries no ethereum key to find among the safe's owners".into(),
        );
    };
    let Some((owners, threshold)) = &p.owners else {
        return Err(
            "the policy does not name the safe's owners, threshold and salt: its address \
                    cannot be recomputed"
                .into(),
        );
    };
    let hits: Vec<usize> = owners
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == me)
        .map(|(i, _)| i + 1)
        .collect();
    if hits.len() != 1 {
        return Err(format!(
            "own ethereum key {} is an owner {} times (expected once)",
            me.to_checksum(None),
            hits.len()
        ));
    }
    if owners.len() != n || k.map(|k| k as u64) != Some(*threshold) {
        return Err(format!(
            "safe is {threshold} of {} but the descriptor is {} of {n}",
            owners.len(),
            k.map_or("?".to_string(), |k| k.to_string())
        ));
    }
    Ok(hits[0])
}

/// For a custody policy file: why one of its disposal authorities cannot be used (its proof of
/// possession missing or wrong), so a keyholder never accepts a policy naming an unproven one.
fn authority_refusal(path: &std::path::Path) -> anyhow::Result<Option<String>> {
    let text = custos_core::file::read_text(path, custos_core::file::POLICY)?;
    if !custos_core::file::is_json_object(&text) {
        return Ok(None);
    }
    let Ok(p) = serde_json::from_str::<CustodyPolicy>(&text) else {
        return Ok(None); // descriptor_of has already reported what is wrong with it
    };
    let secp = Secp256k1::verification_only();
    Ok(custos_disposal::authority::policy_problems(&secp, &p)
        .into_iter()
        .next()
        .map(|(addr, why)| format!("disposal authority {addr}: {why}")))
}

/// The one wallet the given files describe, and the first addresses they state.
struct Chosen {
    desc: Descriptor<DescriptorPublicKey>,
    first_file: String,
    stated: Vec<(String, String)>,
    /// Ethereum custody policies among the files (file name, policy).
    eth_policies: Vec<(String, EthPolicy)>,
}

/// Reads every descriptor file and checks they describe one wallet on the key record's
/// network. `None`: refused, and the reason already printed.
fn choose_wallet(a: &VerifyArgs, mine: &CeremonyKey) -> anyhow::Result<Option<Chosen>> {
    let mut chosen: Option<(Descriptor<DescriptorPublicKey>, String)> = None;
    let mut stated: Vec<(String, String)> = Vec::new();
    let mut eth_policies: Vec<(String, EthPolicy)> = Vec::new();
    for f in &a.files {
        match eth_policy_of(f) {
            Ok(Some(p)) => {
                eth_policies.push((f.display().to_string(), p));
                continue;
            }
            Ok(None) => {}
            Err(e)
                if e.downcast_ref::<custos_eth::Error>()
                    .is_some_and(|e| matches!(e, custos_eth::Error::Refused { .. })) =>
            {
                eprintln!("custos-signer: refused: {e:#}");
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        let Described {
            descriptor: d,
            first_address: first,
            network,
        } = descriptor_of(f)?;
        let name = f.display().to_string();
        // As `sign` does: a policy for another network than the key record (or `--network`)
        // is another wallet, whatever its descriptor says.
        let expected = mine.network.unwrap_or(a.network);
        if let Some(n) = network.filter(|n| *n != expected || *n != a.network) {
            eprintln!(
                "custos-signer: refused: {name} is a policy for {n}, but the key record and \
                 --network are for {expected} and {}",
                a.network
            );
            return Ok(None);
        }
        if let Some(why) = authority_refusal(f)? {
            eprintln!("custos-signer: refused: {name}: {why}");
            return Ok(None);
        }
        if let Some(addr) = first {
            stated.push((name.clone(), addr));
        }
        match &chosen {
            None => chosen = Some((d, name)),
            Some((c, cname)) => {
                if c.to_string() != d.to_string() {
                    eprintln!(
                        "custos-signer: refused: {name} describes another wallet than {cname}"
                    );
                    return Ok(None);
                }
            }
        }
    }
    let Some((desc, first_file)) = chosen else {
        anyhow::bail!("no descriptor file given");
    };
    Ok(Some(Chosen {
        desc,
        first_file,
        stated,
        eth_policies,
    }))
}

fn verify(a: &VerifyArgs, json: bool) -> anyhow::Result<u8> {
    let secp = Secp256k1::verification_only();
    let mine = load_key_file(&secp, &a.key_record)?;
    let Some(Chosen {
        desc,
        first_file,
        stated,
        eth_policies,
    }) = choose_wallet(a, &mine)?
    else {
        return Ok(exit::REFUSED);
    };
    let membership = match check_membership(
        &desc,
        &first_file,
        mine.fingerprint,
        &mine.path,
        &mine.xpub,
        a.network,
        a.addresses.max(1),
    ) {
        Ok(m) => m,
        Err(e @ CeremonyError::KeyRefused { .. }) => {
            eprintln!("custos-signer: refused: {e}");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    let mut eth_checked = Vec::new();
    for (file, p) in &eth_policies {
        match check_eth_policy(p, mine.eth, membership.threshold, membership.n) {
            Ok(pos) => eth_checked.push(serde_json::json!({
                "file": file, "safe": p.safe.to_checksum(None), "chain_id": p.chain_id,
                "owner_position": pos,
            })),
            Err(reason) => {
                eprintln!("custos-signer: refused: {file}: {reason}");
                return Ok(exit::REFUSED);
            }
        }
    }
    for (file, addr) in &stated {
        if membership.first_addresses.first() != Some(addr) {
            eprintln!(
                "custos-signer: refused: {file} states first address {addr}, derived here: {}",
                membership
                    .first_addresses
                    .first()
                    .map(String::as_str)
                    .unwrap_or("none")
            );
            return Ok(1);
        }
    }
    let transcript_path = record_verified(a, &mine, &desc, &membership, &eth_checked)?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "accepted": true, "key": mine.key_expr(), "descriptor": desc.to_string(),
                "membership": membership, "transcript": transcript_path,
                "eth_safes": eth_checked,
            }))?
        )?;
    } else {
        outln!(
            "accepted: own key {} appears once (position {} of {})",
            mine.origin(),
            membership.position,
            membership.n
        )?;
        if let Some(k) = membership.threshold {
            outln!("policy: {k} of {}", membership.n)?;
        }
        outln!("descriptor: {desc}")?;
        for (i, addr) in membership.first_addresses.iter().enumerate() {
            outln!("receive {i}: {addr}")?;
        }
        for (_, p) in &eth_policies {
            outln!(
                "ethereum safe: {} on chain {} (own key {} is an owner; address recomputed)",
                p.safe.to_checksum(None),
                p.chain_id,
                mine.eth.map(|a| a.to_checksum(None)).unwrap_or_default()
            )?;
        }
        outln!("compare the first address with every other keyholder before funding")?;
    }
    Ok(0)
}

/// Appends the `ceremony.verified` step (hashes of every file read) to the transcript; returns
/// its path.
fn record_verified(
    a: &VerifyArgs,
    mine: &CeremonyKey,
    desc: &Descriptor<DescriptorPublicKey>,
    membership: &Membership,
    eth_checked: &[serde_json::Value],
) -> anyhow::Result<PathBuf> {
    let transcript_path = a.transcript.clone().unwrap_or_else(|| {
        a.key_record
            .parent()
            .map(|p| p.join("ceremony-transcript.jsonl"))
            .unwrap_or_else(|| PathBuf::from("ceremony-transcript.jsonl"))
    });
    let mut files = Vec::new();
    for f in a.files.iter().chain(std::iter::once(&a.key_record)) {
        files.push(transcript::hash_file(f)?);
    }
    transcript::append(
        &transcript_path,
        &Entry {
            format: TRANSCRIPT_FORMAT.into(),
            time: custos_core::ledger::now_utc(),
            who: a.who.clone(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            step: "ceremony.verified".into(),
            fingerprints: vec![mine.fingerprint.to_string()],
            files,
            details: serde_json::json!({
                "descriptor": desc.to_string(), "position": membership.position,
                "n": membership.n, "k": membership.threshold,
                "first_addresses": membership.first_addresses,
                "eth_safes": eth_checked,
            }),
        },
    )
    .context("cannot write the transcript")?;
    Ok(transcript_path)
}
