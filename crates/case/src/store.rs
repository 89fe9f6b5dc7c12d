//! The typed case-store API.

use std::path::{Path, PathBuf};

use custos_core::{
    ids::{CaseId, ExaminerId},
    ledger::{self, ChainFault, Context, Event, EventDraft},
    Network,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{schema, Error, CASE_FILE};

/// Static facts about a case, from its `meta` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseInfo {
    /// Case id.
    pub case_id: String,
    /// Examiner who opened the case.
    pub examiner: String,
    /// Network the case works on.
    pub network: Network,
    /// Creation time (UTC).
    pub created: String,
}

/// An artifact to store with an event.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// What it is (`raw_tx`, `merkle_proof`, `psbt`, `report`, ...).
    pub kind: String,
    /// A human name (file name, txid).
    pub name: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl NewArtifact {
    /// sha256 of the data, hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.data)
    }
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// sha256, hex.
    pub sha256: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The bytes.
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Result of [`Case::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Number of events checked.
    pub events: u64,
    /// Number of artifacts checked.
    pub artifacts: u64,
    /// Hash of the last event.
    pub head: String,
    /// The problems found, first bad seq first.
    pub problems: Vec<Problem>,
    /// Signed checkpoints checked against the chain, and what came after the last countersigned.
    pub checkpoints: crate::checkpoint::CheckpointReport,
}

/// One verification problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The first bad seq (0 for problems not tied to an event).
    pub seq: u64,
    /// Category: `edited`, `deleted`, `reordered`, `inserted`, `bad_sequence`, `head_mismatch`,
    /// `artifact_altered`, `artifact_missing`.
    pub kind: String,
    /// Human-readable description.
    pub message: String,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// An open case.
#[derive(Debug)]
pub struct Case {
    dir: PathBuf,
    path: PathBuf,
    pub(crate) conn: Connection,
    info: CaseInfo,
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn host_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

impl Case {
    /// Creates a new case in `dir` (created if missing; must be empty if present).
    pub fn create(
        dir: &Path,
        case_id: &CaseId,
        examiner: &ExaminerId,
        network: Network,
        command: &str,
    ) -> Result<Case, Error> {
        let path = dir.join(CASE_FILE);
        if dir.exists() {
            if !dir.is_dir() {
                return Err(Error::AlreadyExists {
                    path: dir.to_path_buf(),
                    detail: "a file with that name exists",
                });
            }
            let mut entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            if entries.next().is_some() {
                return Err(Error::AlreadyExists {
                    path: dir.to_path_buf(),
                    detail: if path.exists() {
                        "it already holds a case"
                    } else {
                        "the directory is not empty"
                    },
                });
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // Build the database under a temporary name and rename it into place, so a crash during
        // creation never leaves a half-made case file.
        let tmp = dir.join(format!(".{CASE_FILE}.creating"));
        let db = |source| Error::Db {
            path: path.clone(),
            source,
        };
        let created = ledger::now_utc();
        {
            let conn = Connection::open(&tmp).map_err(db)?;
            conn.execute_batch("PRAGMA journal_mode=DELETE;")
                .map_err(db)?;
            conn.execute_batch(schema::CREATE).map_err(db)?;
            let tx = conn.unchecked_transaction().map_err(db)?;
            for (k, v) in [
                ("format", schema::FORMAT),
                ("schema_version", schema::SCHEMA_VERSION),
                ("case_id", case_id.as_str()),
                ("examiner", examiner.as_str()),
                ("network", network.name()),
                ("created", created.as_str()),
                ("head_seq", "0"),
                ("head_hash", ledger::GENESIS_PREV),
            ] {
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                    params![k, v],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)?;
        }
        std::fs::rename(&tmp, &path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let mut case = Case::open(dir)?;
        case.conn
            .execute_batch("PRAGMA journal_mode=WAL;")
            .map_err(|source| Error::Db {
                path: path.clone(),
                source,
            })?;
        case.append(
            examiner.as_str(),
            command,
            EventDraft::new(
                crate::kinds::CASE_CREATED,
                serde_json::json!({
                    "case_id": case_id.as_str(),
                    "examiner": examiner.as_str(),
                    "network": network.name(),
                    "schema_version": schema::SCHEMA_VERSION,
                }),
            ),
            Vec::new(),
        )?;
        Ok(case)
    }

    /// Opens an existing case directory without modifying it.
    pub fn open(dir: &Path) -> Result<Case, Error> {
        Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_WRITE)
    }

    /// Opens a case with SQLite's read-only flag: every write through this handle fails (the
    /// oversight view uses it). Appends by other processes are seen by later reads.
    pub fn open_read_only(dir: &Path) -> Result<Case, Error> {
        Self::open_with(dir, OpenFlags::SQLITE_OPEN_READ_ONLY)
    }

    fn open_with(dir: &Path, mode: OpenFlags) -> Result<Case, Error> {
        if !dir.exists() {
            return Err(Error::NotFound {
                path: dir.to_path_buf(),
                detail: "the directory does not exist",
            });
        }
        if !dir.is_dir() {
            return Err(Error::NotACase {
                path: dir.to_path_buf(),
                detail: "it is a file, not a case directory".into(),
            });
        }
        let path = dir.join(CASE_FILE);
        if !path.is_file() {
            return Err(Error::NotFound {
                path,
                detail: "the directory holds no case.sqlite (create one with `custos case new`)",
            });
        }
        let corrupt = |source: rusqlite::Error| Error::Corrupt {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(&path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(corrupt)?;
        // Reading the schema fails on a file that is not a database.
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(corrupt)?
            > 0;
        if !has_meta {
            return Err(Error::NotACase {
                path,
                detail: "it is an SQLite database without custos tables".into(),
            });
        }
        let get = |k: &str| -> Result<Option<String>, Error> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
                .optional()
                .map_err(corrupt)
        };
        if get("format")?.as_deref() != Some(schema::FORMAT) {
            return Err(Error::NotACase {
                path,
                detail: "its meta table does not say format = custos-case".into(),
            });
        }
        let need = |k: &'static str| -> Result<String, Error> {
            get(k)?.ok_or_else(|| Error::NotACase {
                path: path.clone(),
                detail: format!("meta key {k:?} is missing"),
            })
        };
        let network_name = need("network")?;
        let info = CaseInfo {
            case_id: need("case_id")?,
            examiner: need("examiner")?,
            network: network_name.parse().map_err(|_| Error::NotACase {
                path: path.clone(),
                detail: format!("meta network {network_name:?} is unknown"),
            })?,
            created: need("created")?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(corrupt)?;
        if !mode.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            conn.execute_batch("PRAGMA synchronous=FULL;")
                .map_err(corrupt)?;
        }
        Ok(Case {
            dir: dir.to_path_buf(),
            path,
            conn,
            info,
        })
    }

    /// Opens a case and checks its id.
    pub fn open_expecting(dir: &Path, case_id: &str) -> Result<Case, Error> {
        let case = Case::open(dir)?;
        if case.info.case_id != case_id {
            return Err(Error::CaseIdMismatch {
                path: case.path.clone(),
                expected: case_id.to_string(),
                found: case.info.case_id,
            });
        }
        Ok(case)
    }

    /// The case facts.
    pub fn info(&self) -> &CaseInfo {
        &self.info
    }

    /// The case directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The case database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |source| Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends an event with its artifacts in one durable transaction and returns it.
    /// `command` must not contain secrets (custos never takes a secret on the command line).
    pub fn append(
        &mut self,
        examiner: &str,
        command: &str,
        draft: EventDraft,
        artifacts: Vec<NewArtifact>,
    ) -> Result<Event, Error> {
        let path = self.path.clone();
        let db = move |source| Error::Db {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let event = append_within(&tx, examiner, command, draft, &artifacts).map_err(&db)?;
        tx.commit().map_err(&db)?;
        tracing::debug!(target: "custos::case", seq = event.seq, kind = %event.kind, "ledger event appended");
        Ok(event)
    }

    /// All events in seq order.
    pub fn events(&self) -> Result<Vec<Event>, Error> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash FROM ledger ORDER BY seq",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], row_to_raw)
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        rows.into_iter().map(|r| r.decode(&self.path)).collect()
    }

    /// The recorded head (seq, hash) from `meta`.
    pub fn head(&self) -> Result<(u64, String), Error> {
        let seq: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key='head_seq'", [], |r| {
                r.get(0)
            })
            .map_err(self.db())?;
        let hash: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key='head_hash'", [], |r| {
                r.get(0)
            })
            .map_err(self.db())?;
        let seq = seq.parse().map_err(|_| Error::NotACase {
            path: self.path.clone(),
            detail: format!("its head record's seq {seq:?} is not a number"),
        })?;
        Ok((seq, hash))
    }

    /// Stores an artifact without an event (for caches); returns its sha256.
    pub fn artifact(&self, sha256: &str) -> Result<Artifact, Error> {
        self.conn
            .query_row(
                "SELECT sha256, kind, name, size, data FROM artifacts WHERE sha256 = ?1",
                [sha256],
                |r| {
                    Ok(Artifact {
                        sha256: r.get(0)?,
                        kind: r.get(1)?,
                        name: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        data: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| Error::ArtifactNotFound {
                path: self.path.clone(),
                sha256: sha256.to_string(),
            })
    }

    /// All artifacts (with data), ordered by hash.
    pub fn artifacts(&self) -> Result<Vec<Artifact>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT sha256, kind, name, size, data FROM artifacts ORDER BY sha256")
            .map_err(self.db())?;
        let v = stmt
            .query_map([], |r| {
                Ok(Artifact {
                    sha256: r.get(0)?,
                    kind: r.get(1)?,
                    name: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    data: r.get(4)?,
                })
            })
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        Ok(v)
    }

    /// Puts a value into the chain-data cache (not part of the ledger; evidence that matters is
    /// stored as artifacts of an event).
    pub fn cache_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cache(ns, key, value) VALUES (?1, ?2, ?3)",
                params![ns, key, value],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Reads a cached value.
    pub fn cache_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.conn
            .query_row(
                "SELECT value FROM cache WHERE ns = ?1 AND key = ?2",
                params![ns, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())
    }

    /// Recomputes the whole chain and every artifact hash. `expect_head` is an anchor kept
    /// outside the database (from an export, a report or a printed log).
    pub fn verify(&self, expect_head: Option<&str>) -> Result<VerifyReport, Error> {
        self.verify_with(expect_head, &[])
    }

    /// [`Case::verify`], also checking every stored checkpoint and the `external` ones (from
    /// checkpoint files kept outside the case, named by the string) against the chain.
    pub fn verify_with(
        &self,
        expect_head: Option<&str>,
        external: &[(String, crate::checkpoint::Checkpoint)],
    ) -> Result<VerifyReport, Error> {
        let events = self.events()?;
        let artifacts = self.artifacts()?;
        let mut problems = Vec::new();
        if let Err(fault) = ledger::verify_chain(&events) {
            problems.push(fault_problem(&fault));
        }
        let head = events
            .last()
            .map(|e| e.hash.clone())
            .unwrap_or_else(|| ledger::GENESIS_PREV.to_string());
        // An empty ledger's head is seq 0 (its first event is seq 1).
        let last_seq = events.last().map_or(0, |e| e.seq);
        if problems.is_empty() {
            let (rec_seq, rec_hash) = self.head()?;
            for (expected, label) in [
                (Some(rec_hash.as_str()), "the case's head record"),
                (expect_head, "--expect-head"),
            ] {
                if let Some(exp) = expected {
                    if exp != head {
                        let fault = ChainFault::HeadMismatch {
                            seq: last_seq.max(rec_seq),
                            expected: exp.to_string(),
                            found: head.clone(),
                        };
                        let mut p = fault_problem(&fault);
                        p.message = format!("{} ({label})", p.message);
                        problems.push(p);
                    }
                }
            }
        }
        // Artifacts: every stored blob must hash to its key; every referenced hash must exist.
        let mut bad_blobs = std::collections::BTreeSet::new();
        for a in &artifacts {
            let actual = sha256_hex(&a.data);
            if actual != a.sha256 || a.size != a.data.len() as u64 {
                bad_blobs.insert(a.sha256.clone());
            }
        }
        let stored: std::collections::BTreeSet<&str> =
            artifacts.iter().map(|a| a.sha256.as_str()).collect();
        for e in &events {
            for sha in &e.artifacts {
                if !stored.contains(sha.as_str()) {
                    problems.push(Problem {
                        seq: e.seq,
                        kind: "artifact_missing".into(),
                        message: format!("seq {}: artifact {sha} it refers to is missing", e.seq),
                    });
                } else if bad_blobs.contains(sha) {
                    problems.push(Problem {
                        seq: e.seq,
                        kind: "artifact_altered".into(),
                        message: format!(
                            "seq {}: artifact {sha} it refers to was altered (its bytes no longer hash to {sha})",
                            e.seq
                        ),
                    });
                }
            }
        }
        for sha in &bad_blobs {
            if !events.iter().any(|e| e.artifacts.contains(sha)) {
                problems.push(Problem {
                    seq: 0,
                    kind: "artifact_altered".into(),
                    message: format!("artifact {sha} was altered (no event refers to it)"),
                });
            }
        }
        let checkpoints = crate::checkpoint::verify(self, &events, external, &mut problems)?;
        problems.sort_by_key(|p| if p.seq == 0 { u64::MAX } else { p.seq });
        Ok(VerifyReport {
            events: events.len() as u64,
            artifacts: artifacts.len() as u64,
            head,
            problems,
            checkpoints,
        })
    }
}

/// Stores `artifacts` and chains `draft` onto the last event inside an open transaction.
pub(crate) fn append_within(
    tx: &Connection,
    examiner: &str,
    command: &str,
    mut draft: EventDraft,
    artifacts: &[NewArtifact],
) -> rusqlite::Result<Event> {
    for a in artifacts {
        let sha = a.sha256();
        tx.execute(
            "INSERT OR IGNORE INTO artifacts(sha256, kind, name, size, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha, a.kind, a.name, a.data.len() as i64, a.data],
        )?;
        if !draft.artifacts.contains(&sha) {
            draft.artifacts.push(sha);
        }
    }
    let last = last_event(tx)?;
    let ctx = Context {
        examiner: examiner.to_string(),
        host: host_name(),
        command: command.to_string(),
        time: ledger::now_utc(),
    };
    let event = ledger::chain_event(last.as_ref(), &ctx, draft);
    insert_event(tx, &event)?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'head_seq'",
        [event.seq.to_string()],
    )?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'head_hash'",
        [&event.hash],
    )?;
    Ok(event)
}

fn fault_problem(f: &ChainFault) -> Problem {
    let kind = serde_json::to_value(f)
        .ok()
        .and_then(|v| v.get("fault").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "chain".into());
    Problem {
        seq: f.seq(),
        kind,
        message: f.to_string(),
    }
}

struct RawRow {
    seq: i64,
    time: String,
    examiner: String,
    host: String,
    command: String,
    kind: String,
    payload: String,
    artifacts: String,
    prev_hash: String,
    hash: String,
}

fn row_to_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        seq: r.get(0)?,
        time: r.get(1)?,
        examiner: r.get(2)?,
        host: r.get(3)?,
        command: r.get(4)?,
        kind: r.get(5)?,
        payload: r.get(6)?,
        artifacts: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

impl RawRow {
    fn decode(self, path: &Path) -> Result<Event, Error> {
        let seq = self.seq as u64;
        let bad = |what, source: serde_json::Error| Error::BadJson {
            path: path.to_path_buf(),
            what,
            seq,
            source,
        };
        Ok(Event {
            seq,
            time: self.time,
            examiner: self.examiner,
            host: self.host,
            command: self.command,
            kind: self.kind,
            payload: serde_json::from_str(&self.payload).map_err(|e| bad("payload", e))?,
            artifacts: serde_json::from_str(&self.artifacts).map_err(|e| bad("artifacts", e))?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

fn last_event(conn: &Connection) -> rusqlite::Result<Option<Event>> {
    let raw = conn
        .query_row(
            "SELECT seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            row_to_raw,
        )
        .optional()?;
    Ok(raw.and_then(|r| r.decode(Path::new("")).ok()))
}

fn insert_event(conn: &Connection, e: &Event) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO ledger(seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.seq as i64,
            e.time,
            e.examiner,
            e.host,
            e.command,
            e.kind,
            ledger::canonical_json(&e.payload),
            serde_json::to_string(&e.artifacts).unwrap_or_else(|_| "[]".into()),
            e.prev_hash,
            e.hash
        ],
    )?;
    Ok(())
}
