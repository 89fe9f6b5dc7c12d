//! Signed ledger checkpoints (`custos-checkpoint-v1`).
//!
//! A checkpoint is the ledger head — `(case, network, seq, head hash, time)` as the canonical
//! text of [`message`] — signed with BIP-322 (simple, P2WPKH on the case's network) by the
//! examiner's key; a supervisor countersigns the same text with theirs. Each signature is kept
//! twice: in the `checkpoints` table (not part of the hash chain) and as a `case.checkpoint` /
//! `case.countersigned` ledger event appended after the head it signs. The supervisor can also
//! keep the checkpoint file written by `custos case countersign --out` outside the case.
//!
//! **Who may sign.** The first checkpoint registers the examiner key that signs it (trust on
//! first use, recorded in that event) and any supervisor keys named with it
//! (`--supervisor-pubkey`); later checkpoints may register more keys, but only when signed by an
//! already-registered examiner key. A countersignature counts only from a registered supervisor
//! key.
//!
//! **What verification catches.** A ledger rewritten from seq `k` with every hash recomputed
//! (the attack the keyless chain cannot see alone) no longer holds, at any checkpointed seq
//! `≥ k`, the head hash that was signed; nobody without the keys can sign the new head. Deleting
//! the table rows or the events leaves the other copy orphaned; deleting both is caught only
//! against a checkpoint file kept outside (`custos case verify --checkpoint FILE`).

use std::collections::BTreeMap;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{Address, CompressedPublicKey};
use custos_ceremony::keys::ZKey;
use custos_core::{ledger::Event, Network, Secret, SecretString};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::store::Problem;
use crate::{Case, Error};

/// Format tag of checkpoint files.
pub const FORMAT: &str = "custos-checkpoint-v1";
/// Ledger event of an examiner's checkpoint signature.
pub const EVENT_CHECKPOINT: &str = crate::kinds::CASE_CHECKPOINT;
/// Ledger event of a supervisor's countersignature.
pub const EVENT_COUNTERSIGN: &str = crate::kinds::CASE_COUNTERSIGNED;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS checkpoints (
    seq       INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    time      TEXT NOT NULL,
    role      TEXT NOT NULL,
    signer    TEXT NOT NULL,
    pubkey    TEXT NOT NULL,
    signature TEXT NOT NULL,
    signed    TEXT NOT NULL,
    PRIMARY KEY (seq, pubkey, role)
) STRICT;";

/// Who signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The examiner who keeps the case.
    Examiner,
    /// The supervisor who countersigns.
    Supervisor,
}

impl Role {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Examiner => "examiner",
            Role::Supervisor => "supervisor",
        }
    }
}

/// One signature over a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSignature {
    /// Role.
    pub role: Role,
    /// Examiner id of the signer.
    pub signer: String,
    /// Compressed public key, hex.
    pub pubkey: String,
    /// The P2WPKH address of the key on the case's network (what BIP-322 signs for).
    pub address: String,
    /// When the signature was made (UTC).
    pub signed: String,
    /// BIP-322 simple signature, base64.
    pub signature: String,
}

/// A checkpoint and its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`FORMAT`].
    pub format: String,
    /// Case id.
    pub case_id: String,
    /// Network.
    pub network: Network,
    /// Ledger height signed.
    pub seq: u64,
    /// Hash of event `seq`.
    pub head_hash: String,
    /// Checkpoint time (UTC).
    pub time: String,
    /// Signatures, examiner first.
    pub signatures: Vec<CheckpointSignature>,
}

impl Checkpoint {
    /// True when a supervisor signature is present.
    pub fn countersigned(&self) -> bool {
        self.signatures.iter().any(|s| s.role == Role::Supervisor)
    }
}

/// The canonical text every signature of a checkpoint covers.
pub fn message(case_id: &str, network: Network, seq: u64, head_hash: &str, time: &str) -> String {
    format!(
        "custos ledger checkpoint v1\ncase: {case_id}\nnetwork: {}\nseq: {seq}\nhead: {head_hash}\ntime: {time}\n",
        network.name()
    )
}

/// Reads a key file: a WIF private key or 64 hex digits, one line.
pub fn parse_key(text: &SecretString, file: &str) -> Result<Secret<ZKey>, Error> {
    let t = text.expose_secret().trim();
    let bad = |detail: &str| Error::BadKeyFile {
        path: file.into(),
        detail: detail.to_string(),
    };
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(t, bytes.as_mut_slice()).map_err(|_| bad("not hex"))?;
        let sk = SecretKey::from_slice(bytes.as_slice())
            .map_err(|_| bad("64 hex digits, but not a valid secp256k1 private key"))?;
        return Ok(Secret::new(ZKey(sk)));
    }
    match bitcoin::PrivateKey::from_wif(t) {
        Ok(mut pk) => {
            let key = Secret::new(ZKey(pk.inner));
            pk.inner.non_secure_erase();
            Ok(key)
        }
        Err(_) => Err(bad("expected one WIF private key or 64 hex digits")),
    }
}

/// The public key and its P2WPKH address on `network`.
pub fn key_identity(key: &Secret<ZKey>, network: Network) -> (String, String) {
    let secp = Secp256k1::signing_only();
    let pk = PublicKey::from_secret_key(&secp, &key.expose_secret().0);
    let cpk = CompressedPublicKey(pk);
    (
        hex::encode(pk.serialize()),
        Address::p2wpkh(&cpk, network.to_bitcoin()).to_string(),
    )
}

fn address_of(pubkey_hex: &str, network: Network) -> Option<Address> {
    let bytes = hex::decode(pubkey_hex).ok()?;
    let cpk = CompressedPublicKey::from_slice(&bytes).ok()?;
    Some(Address::p2wpkh(&cpk, network.to_bitcoin()))
}

/// Why a checkpoint signature does not hold.
#[derive(Debug, thiserror::Error)]
pub enum SignatureFault {
    /// The stored public key is not a compressed secp256k1 key.
    #[error("public key {0} is not a compressed secp256k1 key")]
    BadKey(String),
    /// The stored address is not the key's p2wpkh address.
    #[error("address {address} is not the p2wpkh address of key {pubkey}")]
    WrongAddress {
        /// The address the signature names.
        address: String,
        /// The key it names.
        pubkey: String,
    },
    /// The BIP-322 signature does not verify for the checkpoint's message.
    #[error(transparent)]
    Invalid(#[from] custos_ceremony::Error),
}

/// The process's one verification context.
static SECP: std::sync::LazyLock<Secp256k1<bitcoin::secp256k1::VerifyOnly>> =
    std::sync::LazyLock::new(Secp256k1::verification_only);

/// Checks one signature of `cp`; `Err` says why it fails.
pub fn check_signature(cp: &Checkpoint, sig: &CheckpointSignature) -> Result<(), SignatureFault> {
    let addr = address_of(&sig.pubkey, cp.network)
        .ok_or_else(|| SignatureFault::BadKey(sig.pubkey.clone()))?;
    if addr.to_string() != sig.address {
        return Err(SignatureFault::WrongAddress {
            address: sig.address.clone(),
            pubkey: sig.pubkey.clone(),
        });
    }
    let msg = message(&cp.case_id, cp.network, cp.seq, &cp.head_hash, &cp.time);
    custos_ceremony::bip322::verify_simple(
        &*SECP,
        &addr.as_unchecked().clone(),
        msg.as_bytes(),
        &sig.signature,
    )?;
    Ok(())
}

/// Signs `cp` with `key` as `role`, returning the signature (not yet stored).
pub fn sign(
    cp: &Checkpoint,
    key: &Secret<ZKey>,
    role: Role,
    signer: &str,
) -> Result<CheckpointSignature, Error> {
    let secp = Secp256k1::signing_only();
    let msg = message(&cp.case_id, cp.network, cp.seq, &cp.head_hash, &cp.time);
    let signature = custos_ceremony::bip322::sign_simple_p2wpkh(&secp, key, msg.as_bytes())
        .map_err(|e| Error::Signing(e.to_string()))?;
    let (pubkey, address) = key_identity(key, cp.network);
    Ok(CheckpointSignature {
        role,
        signer: signer.to_string(),
        pubkey,
        address,
        signed: custos_core::ledger::now_utc(),
        signature,
    })
}

fn table_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='checkpoints'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Keys registered per role, from the ledger's checkpoint events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// Examiner keys (hex), in registration order.
    pub examiner: Vec<String>,
    /// Supervisor keys (hex).
    pub supervisor: Vec<String>,
}

impl Registry {
    /// Reads the registry from `events`.
    pub fn from_events(events: &[Event]) -> Registry {
        let mut r = Registry::default();
        for e in events.iter().filter(|e| e.kind == EVENT_CHECKPOINT) {
            let get = |k: &str| -> Vec<String> {
                e.payload
                    .get(k)
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let signer = e
                .payload
                .get("pubkey")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            // Only the first checkpoint registers its own signer; later ones must already be
            // registered to add keys.
            let may_register = r.examiner.is_empty() || r.examiner.iter().any(|k| k == signer);
            if !may_register {
                continue;
            }
            for k in get("register_examiner") {
                if !r.examiner.contains(&k) {
                    r.examiner.push(k);
                }
            }
            for k in get("register_supervisor") {
                if !r.supervisor.contains(&k) {
                    r.supervisor.push(k);
                }
            }
        }
        r
    }

    /// Whether `pubkey` may sign as `role`.
    pub fn allows(&self, role: Role, pubkey: &str) -> bool {
        match role {
            Role::Examiner => self.examiner.iter().any(|k| k == pubkey),
            Role::Supervisor => self.supervisor.iter().any(|k| k == pubkey),
        }
    }
}

impl Case {
    /// Every stored checkpoint, by seq, with its signatures.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, Error> {
        let db = |source| Error::Db {
            path: self.path().to_path_buf(),
            source,
        };
        if !table_exists(&self.conn).map_err(db)? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT seq, head_hash, time, role, signer, pubkey, signature, signed FROM checkpoints ORDER BY seq, role, signed")
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    CheckpointSignature {
                        role: Role::Examiner,
                        signer: r.get(4)?,
                        pubkey: r.get(5)?,
                        address: String::new(),
                        signature: r.get(6)?,
                        signed: r.get(7)?,
                    },
                ))
            })
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        let info = self.info();
        let mut by_key: BTreeMap<(u64, String, String), Checkpoint> = BTreeMap::new();
        for (seq, head, time, role, mut sig) in rows {
            sig.role = if role == "supervisor" {
                Role::Supervisor
            } else {
                Role::Examiner
            };
            sig.address = address_of(&sig.pubkey, info.network)
                .map(|a| a.to_string())
                .unwrap_or_default();
            by_key
                .entry((seq, head.clone(), time.clone()))
                .or_insert_with(|| Checkpoint {
                    format: FORMAT.into(),
                    case_id: info.case_id.clone(),
                    network: info.network,
                    seq,
                    head_hash: head,
                    time,
                    signatures: Vec::new(),
                })
                .signatures
                .push(sig);
        }
        Ok(by_key.into_values().collect())
    }

    /// A new, unsigned checkpoint of the current head.
    pub fn new_checkpoint(&self) -> Result<Checkpoint, Error> {
        let (seq, head_hash) = self.head()?;
        Ok(Checkpoint {
            format: FORMAT.into(),
            case_id: self.info().case_id.clone(),
            network: self.info().network,
            seq,
            head_hash,
            time: custos_core::ledger::now_utc(),
            signatures: Vec::new(),
        })
    }

    /// Stores `sig` over `cp` in the checkpoint table and appends its ledger event, in one
    /// transaction. `extra` is merged into the event payload (key registrations).
    pub fn add_checkpoint_signature(
        &mut self,
        cp: &Checkpoint,
        sig: &CheckpointSignature,
        command: &str,
        extra: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Event, Error> {
        let path = self.path().to_path_buf();
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.execute_batch(TABLE).map_err(db)?;
        let dup: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM checkpoints WHERE seq = ?1 AND pubkey = ?2 AND role = ?3",
                params![cp.seq as i64, sig.pubkey, sig.role.name()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if dup.is_some() {
            return Err(Error::Checkpoint(format!(
                "checkpoint at seq {} already holds a {} signature by key {}",
                cp.seq,
                sig.role.name(),
                sig.pubkey
            )));
        }
        let mut payload = serde_json::json!({
            "seq": cp.seq, "head_hash": cp.head_hash, "time": cp.time,
            "role": sig.role, "signer": sig.signer, "pubkey": sig.pubkey,
            "address": sig.address, "signed": sig.signed, "signature": sig.signature,
        });
        if let Some(obj) = payload.as_object_mut() {
            obj.extend(extra);
        }
        let kind = match sig.role {
            Role::Examiner => EVENT_CHECKPOINT,
            Role::Supervisor => EVENT_COUNTERSIGN,
        };
        // The row and its event are written in one transaction: both or neither.
        tx.execute(
            "INSERT INTO checkpoints(seq, head_hash, time, role, signer, pubkey, signature, signed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![cp.seq as i64, cp.head_hash, cp.time, sig.role.name(), sig.signer, sig.pubkey, sig.signature, sig.signed],
        )
        .map_err(db)?;
        let event = crate::store::append_within(
            &tx,
            &sig.signer,
            command,
            custos_core::ledger::EventDraft::new(kind, payload),
            &[],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(event)
    }
}

/// The outcome of checking the checkpoints against the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// Checkpoints found (table and external files).
    pub checkpoints: Vec<CheckpointStatus>,
    /// Registered keys.
    pub registry: Registry,
    /// Seq of the last checkpoint with a valid examiner and supervisor signature.
    pub last_countersigned: Option<u64>,
    /// Events appended after it (all events when there is none).
    pub events_after_last_countersigned: Vec<u64>,
}

/// One checkpoint's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointStatus {
    /// Where it came from: `case` or a file name.
    pub source: String,
    /// Seq.
    pub seq: u64,
    /// Head hash signed.
    pub head_hash: String,
    /// Checkpoint time.
    pub time: String,
    /// `role signer (pubkey): ok|reason` per signature.
    pub signatures: Vec<String>,
    /// Head matches and every signature is valid and registered.
    pub ok: bool,
    /// Has a valid registered supervisor signature.
    pub countersigned: bool,
}

fn recorded(events: &[Event], cp: &Checkpoint, sig: &CheckpointSignature) -> bool {
    events.iter().any(|e| {
        (e.kind == EVENT_CHECKPOINT || e.kind == EVENT_COUNTERSIGN)
            && e.payload.get("seq").and_then(|v| v.as_u64()) == Some(cp.seq)
            && e.payload.get("head_hash").and_then(|v| v.as_str()) == Some(cp.head_hash.as_str())
            && e.payload.get("signature").and_then(|v| v.as_str()) == Some(sig.signature.as_str())
    })
}

/// Checks stored and `external` checkpoints against `events`; problems are appended to
/// `problems`.
pub fn verify(
    case: &Case,
    events: &[Event],
    external: &[(String, Checkpoint)],
    problems: &mut Vec<Problem>,
) -> Result<CheckpointReport, Error> {
    let registry = Registry::from_events(events);
    let stored = case.checkpoints()?;
    let mut report = CheckpointReport {
        registry: registry.clone(),
        ..CheckpointReport::default()
    };
    let mut all: Vec<(String, &Checkpoint)> =
        stored.iter().map(|c| ("case".to_string(), c)).collect();
    all.extend(external.iter().map(|(n, c)| (n.clone(), c)));
    for (source, cp) in &all {
        let status = check_checkpoint(case, events, &registry, source, cp, problems);
        if status.countersigned {
            report.last_countersigned = report.last_countersigned.max(Some(cp.seq));
        }
        report.checkpoints.push(status);
    }
    check_signatures_held(events, &stored, problems);
    // Without any countersigned checkpoint, every event is after the last one.
    let after = report.last_countersigned;
    report.events_after_last_countersigned = events
        .iter()
        .map(|e| e.seq)
        .filter(|s| after.is_none_or(|a| *s > a))
        .collect();
    Ok(report)
}

/// A problem with checkpoint `cp`, at its seq (at least 1).
fn push_problem(problems: &mut Vec<Problem>, cp: &Checkpoint, kind: &str, message: String) {
    problems.push(Problem {
        seq: cp.seq.max(1),
        kind: kind.into(),
        message,
    });
}

/// One checkpoint: for this case, its head still in the ledger, every signature valid and
/// registered (and, for the case's own, recorded in the ledger).
fn check_checkpoint(
    case: &Case,
    events: &[Event],
    registry: &Registry,
    source: &str,
    cp: &Checkpoint,
    problems: &mut Vec<Problem>,
) -> CheckpointStatus {
    let mut ok = true;
    if cp.case_id != case.info().case_id || cp.network != case.info().network {
        ok = false;
        push_problem(
            problems,
            cp,
            "checkpoint_foreign",
            format!(
                "checkpoint from {source} is for case {} on {}, not this case",
                cp.case_id, cp.network
            ),
        );
    }
    ok &= check_head(events, source, cp, problems);
    let mut lines = Vec::new();
    let mut countersigned = false;
    for sig in &cp.signatures {
        match signature_verdict(events, registry, source, cp, sig) {
            Ok(()) => {
                if sig.role == Role::Supervisor {
                    countersigned = true;
                }
                lines.push(format!(
                    "{} {} ({}): ok",
                    sig.role.name(),
                    sig.signer,
                    sig.pubkey
                ));
            }
            Err(why) => {
                ok = false;
                push_problem(
                    problems,
                    cp,
                    "checkpoint_signature",
                    format!(
                        "checkpoint at seq {} ({source}): {} signature by {}: {why}",
                        cp.seq,
                        sig.role.name(),
                        sig.signer
                    ),
                );
                lines.push(format!(
                    "{} {} ({}): {why}",
                    sig.role.name(),
                    sig.signer,
                    sig.pubkey
                ));
            }
        }
    }
    CheckpointStatus {
        source: source.to_string(),
        seq: cp.seq,
        head_hash: cp.head_hash.clone(),
        time: cp.time.clone(),
        signatures: lines,
        ok,
        countersigned: ok && countersigned,
    }
}

/// The ledger still has the event the checkpoint signed, with the same hash.
fn check_head(
    events: &[Event],
    source: &str,
    cp: &Checkpoint,
    problems: &mut Vec<Problem>,
) -> bool {
    match events.iter().find(|e| e.seq == cp.seq) {
        Some(e) if e.hash == cp.head_hash => true,
        Some(e) => {
            push_problem(
                problems,
                cp,
                "checkpoint_mismatch",
                format!(
                    "seq {}: the ledger's event hash {} differs from the head {} signed in the checkpoint of {} ({source}): the ledger was rewritten at or before seq {}",
                    cp.seq, e.hash, cp.head_hash, cp.time, cp.seq
                ),
            );
            false
        }
        None => {
            push_problem(
                problems,
                cp,
                "checkpoint_mismatch",
                format!(
                    "seq {}: the ledger has no event {} although a checkpoint of {} ({source}) signed it: events were removed",
                    cp.seq, cp.seq, cp.time
                ),
            );
            false
        }
    }
}

/// Why one signature of a checkpoint does not count, if it does not.
fn signature_verdict(
    events: &[Event],
    registry: &Registry,
    source: &str,
    cp: &Checkpoint,
    sig: &CheckpointSignature,
) -> Result<(), String> {
    match check_signature(cp, sig) {
        Err(why) => Err(format!("bad signature: {why}")),
        Ok(()) if !registry.allows(sig.role, &sig.pubkey) => Err(format!(
            "key {} is not registered as a {} key of this case",
            sig.pubkey,
            sig.role.name()
        )),
        Ok(()) if source == "case" && !recorded(events, cp, sig) => {
            Err("no ledger event records this signature".to_string())
        }
        Ok(()) => Ok(()),
    }
}

/// Every signature the ledger records must still be in the checkpoint table.
fn check_signatures_held(events: &[Event], stored: &[Checkpoint], problems: &mut Vec<Problem>) {
    for e in events
        .iter()
        .filter(|e| e.kind == EVENT_CHECKPOINT || e.kind == EVENT_COUNTERSIGN)
    {
        let sig = e
            .payload
            .get("signature")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        // An event without a seq names no checkpoint, so the table cannot hold its signature.
        let seq = e.payload.get("seq").and_then(|v| v.as_u64());
        let held = seq.is_some_and(|seq| {
            stored
                .iter()
                .any(|c| c.seq == seq && c.signatures.iter().any(|s| s.signature == sig))
        });
        if !held {
            let over = seq.map_or_else(|| "no seq".to_string(), |s| format!("seq {s}"));
            problems.push(Problem {
                seq: e.seq,
                kind: "checkpoint_missing".into(),
                message: format!(
                    "seq {}: the ledger records a checkpoint signature over {over} that the checkpoint table no longer holds",
                    e.seq
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> (Checkpoint, CheckpointSignature) {
        let key = Secret::new(ZKey(
            SecretKey::from_slice(&[7u8; 32]).expect("a valid key"),
        ));
        let cp = Checkpoint {
            format: FORMAT.to_string(),
            case_id: "case-1".into(),
            network: Network::Regtest,
            seq: 3,
            head_hash: "ab".repeat(32),
            time: "2026-11-26T12:00:00Z".into(),
            signatures: vec![],
        };
        let sig = sign(&cp, &key, Role::Examiner, "examiner").expect("signs");
        (cp, sig)
    }

    #[test]
    fn each_signature_fault_is_named() {
        let (cp, sig) = signed();
        check_signature(&cp, &sig).expect("the signature holds");

        let mut other = cp.clone();
        other.seq = 4;
        assert!(matches!(
            check_signature(&other, &sig),
            Err(SignatureFault::Invalid(_))
        ));

        let mut wrong = sig.clone();
        wrong.address = key_identity(
            &Secret::new(ZKey(
                SecretKey::from_slice(&[8u8; 32]).expect("a valid key"),
            )),
            cp.network,
        )
        .1;
        let e = check_signature(&cp, &wrong).expect_err("another key's address");
        assert!(matches!(e, SignatureFault::WrongAddress { .. }), "{e}");
        assert!(e.to_string().contains(&wrong.address), "{e}");

        let mut bad = sig;
        bad.pubkey = "02".to_string() + &"00".repeat(32);
        let e = check_signature(&cp, &bad).expect_err("not a curve point");
        assert!(matches!(e, SignatureFault::BadKey(_)), "{e}");
    }
}
