//! `custos case checkpoint` / `countersign`, and the checkpoint part of `case verify`: signed
//! ledger heads (custos_case::checkpoint; who may sign is documented there and in
//! docs/formats.md).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use custos_case::checkpoint::{self, Checkpoint, CheckpointReport, Registry, Role};
use custos_case::Case;
use custos_core::file;

use crate::app::{print_json, App, CmdResult, Failure};

fn load_key(path: &Path) -> CmdResult<custos_core::Secret<custos_ceremony::keys::ZKey>> {
    let text = file::read_secret_or_stdin(path, file::KEY_RECORD)?;
    Ok(checkpoint::parse_key(&text, &path.display().to_string())?)
}

fn check_pubkeys(keys: &[String]) -> CmdResult<Vec<String>> {
    keys.iter()
        .map(|k| {
            let k = k.trim().to_ascii_lowercase();
            let ok = hex::decode(&k)
                .ok()
                .and_then(|b| bitcoin::secp256k1::PublicKey::from_slice(&b).ok())
                .is_some_and(|_| k.len() == 66);
            if ok {
                Ok(k)
            } else {
                Err(Failure::input(anyhow!(
                    "public key {k:?} is not a compressed secp256k1 key (66 hex digits)"
                )))
            }
        })
        .collect()
}

fn write_file(out: Option<&Path>, cp: &Checkpoint) -> CmdResult {
    if let Some(p) = out {
        let bytes = serde_json::to_vec_pretty(cp).map_err(Failure::env)?;
        file::write_new(p, &bytes)?;
    }
    Ok(())
}

fn signer_name(app: &App, case: &Case, fallback: Option<&str>) -> String {
    app.examiner
        .clone()
        .or_else(|| fallback.map(str::to_string))
        .unwrap_or_else(|| case.info().examiner.clone())
}

fn refuse_unverified(case: &Case) -> CmdResult {
    let r = case.verify(None)?;
    if let Some(p) = r.problems.first() {
        return Err(Failure::finding(anyhow!(
            "case {} does not verify ({}); nothing signed",
            case.info().case_id,
            p.message
        )));
    }
    Ok(())
}

/// `custos case checkpoint`.
pub(crate) fn checkpoint(
    app: &App,
    key_path: &Path,
    supervisors: &[String],
    examiners: &[String],
    out: Option<&Path>,
) -> CmdResult {
    let mut case = app.require_case()?;
    let key = load_key(key_path)?;
    let supervisors = check_pubkeys(supervisors)?;
    let mut examiners = check_pubkeys(examiners)?;
    refuse_unverified(&case)?;
    let registry = Registry::from_events(&case.events()?);
    let mut cp = case.new_checkpoint()?;
    let signer = signer_name(app, &case, None);
    let sig = checkpoint::sign(&cp, &key, Role::Examiner, &signer)?;
    if registry.examiner.is_empty() {
        examiners.insert(0, sig.pubkey.clone());
    } else if !registry.allows(Role::Examiner, &sig.pubkey) {
        return Err(Failure::finding(anyhow!(
            "key {} is not a registered examiner key of case {} (registered: {})",
            sig.pubkey,
            case.info().case_id,
            registry.examiner.join(", ")
        )));
    }
    let mut extra = serde_json::Map::new();
    extra.insert("register_examiner".into(), serde_json::json!(examiners));
    extra.insert("register_supervisor".into(), serde_json::json!(supervisors));
    let event = case.add_checkpoint_signature(&cp, &sig, &crate::app::command_line(), extra)?;
    cp.signatures.push(sig.clone());
    write_file(out, &cp)?;
    if app.json {
        return print_json(&serde_json::json!({
            "checkpoint": cp, "ledger_seq": event.seq,
            "registered_examiner": examiners, "registered_supervisor": supervisors,
        }));
    }
    outln!(
        "checkpoint of case {} at seq {} (head {}) signed by {} ({}), recorded as seq {}",
        cp.case_id,
        cp.seq,
        cp.head_hash,
        sig.signer,
        sig.pubkey,
        event.seq
    )?;
    for k in &examiners {
        outln!("registered examiner key {k}")?;
    }
    for k in &supervisors {
        outln!("registered supervisor key {k}")?;
    }
    Ok(())
}

/// `custos case countersign`.
pub(crate) fn countersign(
    app: &App,
    key_path: &Path,
    seq: Option<u64>,
    out: Option<&Path>,
) -> CmdResult {
    let mut case = app.require_case()?;
    let key = load_key(key_path)?;
    refuse_unverified(&case)?;
    let all = case.checkpoints()?;
    let mut cp = match seq {
        Some(s) => all.into_iter().find(|c| c.seq == s),
        None => all.into_iter().last(),
    }
    .ok_or_else(|| {
        Failure::finding(anyhow!(
            "case {} has no checkpoint{} to countersign (run `custos case checkpoint` first)",
            case.info().case_id,
            seq.map(|s| format!(" at seq {s}")).unwrap_or_default()
        ))
    })?;
    let events = case.events()?;
    let registry = Registry::from_events(&events);
    let (pubkey, _) = checkpoint::key_identity(&key, case.info().network);
    if !registry.allows(Role::Supervisor, &pubkey) {
        return Err(Failure::finding(anyhow!(
            "key {pubkey} is not a registered supervisor key of case {} (register it with `custos case checkpoint --supervisor-pubkey {pubkey}`)",
            case.info().case_id
        )));
    }
    // Countersign only what the examiner signed and the ledger still holds.
    let examiner_ok = cp.signatures.iter().any(|s| {
        s.role == Role::Examiner
            && registry.allows(Role::Examiner, &s.pubkey)
            && checkpoint::check_signature(&cp, s).is_ok()
    });
    if !examiner_ok {
        return Err(Failure::finding(anyhow!(
            "checkpoint at seq {} carries no valid signature of a registered examiner key; not countersigned",
            cp.seq
        )));
    }
    if events
        .iter()
        .find(|e| e.seq == cp.seq)
        .map(|e| e.hash.as_str())
        != Some(cp.head_hash.as_str())
    {
        return Err(Failure::finding(anyhow!(
            "checkpoint at seq {} signed head {}, which the ledger no longer holds; not countersigned",
            cp.seq,
            cp.head_hash
        )));
    }
    let signer = signer_name(app, &case, Some("supervisor"));
    let sig = checkpoint::sign(&cp, &key, Role::Supervisor, &signer)?;
    let event = case.add_checkpoint_signature(
        &cp,
        &sig,
        &crate::app::command_line(),
        serde_json::Map::new(),
    )?;
    cp.signatures.push(sig.clone());
    write_file(out, &cp)?;
    if app.json {
        return print_json(&serde_json::json!({"checkpoint": cp, "ledger_seq": event.seq}));
    }
    outln!(
        "checkpoint of case {} at seq {} (head {}) countersigned by {} ({}), recorded as seq {}",
        cp.case_id,
        cp.seq,
        cp.head_hash,
        sig.signer,
        sig.pubkey,
        event.seq
    )?;
    Ok(())
}

/// Reads checkpoint files given to `case verify --checkpoint`.
pub(crate) fn read_files(paths: &[PathBuf]) -> CmdResult<Vec<(String, Checkpoint)>> {
    let mut out = Vec::new();
    for p in paths {
        let text = file::read_text(p, file::POLICY)?;
        let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Failure::input(anyhow!(
                "checkpoint file {}: not a checkpoint: {e}",
                p.display()
            ))
        })?;
        if cp.format != checkpoint::FORMAT {
            return Err(Failure::input(anyhow!(
                "checkpoint file {}: format {:?}, expected {}",
                p.display(),
                cp.format,
                checkpoint::FORMAT
            )));
        }
        out.push((p.display().to_string(), cp));
    }
    Ok(out)
}

/// The checkpoint lines of `case verify`.
pub(crate) fn print_summary(r: &CheckpointReport) -> CmdResult {
    for c in &r.checkpoints {
        outln!(
            "checkpoint seq {} ({}) {}: {}",
            c.seq,
            c.source,
            if c.ok { "ok" } else { "FAILED" },
            c.signatures.join("; ")
        )?;
    }
    match r.last_countersigned {
        Some(s) => outln!(
            "last countersigned checkpoint: seq {s}; {} event(s) after it{}",
            r.events_after_last_countersigned.len(),
            match (
                r.events_after_last_countersigned.first(),
                r.events_after_last_countersigned.last()
            ) {
                (Some(a), Some(b)) => format!(" (seq {a}..{b})"),
                _ => String::new(),
            }
        )?,
        None => outln!(
            "no countersigned checkpoint: {} event(s) not covered by a supervisor's signature",
            r.events_after_last_countersigned.len()
        )?,
    }
    Ok(())
}
