//! The case ledger as pure functions: the event model, its canonical encoding, the hash chain and
//! the diagnosis of a broken chain. Persistence lives in `custos-case`.
//!
//! Each event's hash is `sha256("custos-ledger-v1\n" || canonical_json(event without hash))`,
//! where `canonical_json` sorts object keys recursively and uses no insignificant whitespace, so
//! the hash does not depend on any serde feature switched on elsewhere in the build. The first
//! event links to [`GENESIS_PREV`].
//!
//! A keyless hash chain shows *naive* tampering on its own (an edited, deleted, reordered or
//! inserted row). Someone who rewrites every hash from the tampered row onwards is caught only
//! against an anchor kept outside the database: the head hash printed by `custos case log`,
//! written into every export and report, and checked with `custos case verify --expect-head`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first event.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separator of the event hash.
const DOMAIN: &[u8] = b"custos-ledger-v1\n";

/// One ledger event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// 1-based position in the chain.
    pub seq: u64,
    /// UTC time, RFC 3339 with millisecond precision (`2026-11-25T17:31:53.123Z`).
    pub time: String,
    /// Who ran the command.
    pub examiner: String,
    /// The machine it ran on.
    pub host: String,
    /// The command line, secrets never present (they are read from prompts, files or stdin).
    pub command: String,
    /// Event kind, dotted (`case.created`, `inspect.scan`, `sweep.build`, ...).
    pub kind: String,
    /// Kind-specific JSON payload.
    pub payload: Value,
    /// sha256 (hex) of every artifact the event refers to, in the order given.
    pub artifacts: Vec<String>,
    /// Hash of the previous event ([`GENESIS_PREV`] for seq 1).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// An event before it is chained: what a command wants to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    /// Event kind.
    pub kind: String,
    /// Payload.
    pub payload: Value,
    /// sha256 (hex) of the artifacts it refers to.
    pub artifacts: Vec<String>,
}

impl EventDraft {
    /// A draft with no artifacts.
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        EventDraft {
            kind: kind.into(),
            payload,
            artifacts: Vec::new(),
        }
    }

    /// Adds artifact references.
    pub fn with_artifacts(mut self, artifacts: impl IntoIterator<Item = String>) -> Self {
        self.artifacts.extend(artifacts);
        self
    }
}

/// Who and where an event is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Examiner id.
    pub examiner: String,
    /// Host name.
    pub host: String,
    /// Command line (already checked to hold no secret).
    pub command: String,
    /// UTC time, RFC 3339 (see [`now_utc`]).
    pub time: String,
}

/// Current UTC time in the ledger's format.
pub fn now_utc() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Serialises a JSON value canonically: object keys sorted, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(val) = map.get(*k) {
                    write_canonical(val, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Computes the hash an event must carry (its `hash` field is ignored).
pub fn event_hash(e: &Event) -> String {
    let body = serde_json::json!({
        "seq": e.seq,
        "time": e.time,
        "examiner": e.examiner,
        "host": e.host,
        "command": e.command,
        "kind": e.kind,
        "payload": e.payload,
        "artifacts": e.artifacts,
        "prev_hash": e.prev_hash,
    });
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(canonical_json(&body).as_bytes());
    hex::encode(h.finalize())
}

/// Chains a draft after `prev` (or as the first event when `prev` is `None`).
pub fn chain_event(prev: Option<&Event>, ctx: &Context, draft: EventDraft) -> Event {
    let (seq, prev_hash) = match prev {
        Some(p) => (p.seq + 1, p.hash.clone()),
        None => (1, GENESIS_PREV.to_string()),
    };
    let mut e = Event {
        seq,
        time: ctx.time.clone(),
        examiner: ctx.examiner.clone(),
        host: ctx.host.clone(),
        command: ctx.command.clone(),
        kind: draft.kind,
        payload: draft.payload,
        artifacts: draft.artifacts,
        prev_hash,
        hash: String::new(),
    };
    e.hash = event_hash(&e);
    e
}

/// What is wrong at the first bad position of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum ChainFault {
    /// The row's content no longer matches its hash.
    Edited {
        /// Position.
        seq: u64,
    },
    /// The event with this seq is missing.
    Deleted {
        /// The missing position.
        seq: u64,
    },
    /// The row at `seq` holds the event that was recorded at `original_seq`.
    Reordered {
        /// Position.
        seq: u64,
        /// Where the event belongs.
        original_seq: u64,
    },
    /// A row was inserted at `seq` that was never part of the chain.
    Inserted {
        /// Position.
        seq: u64,
    },
    /// Rows carry a seq out of order or twice.
    BadSequence {
        /// Expected position.
        seq: u64,
        /// What the row says.
        found: u64,
    },
    /// The chain's last event is not the recorded head.
    HeadMismatch {
        /// Last seq in the ledger.
        seq: u64,
        /// What the head record (or `--expect-head`) says.
        expected: String,
        /// The last event's hash.
        found: String,
    },
}

impl ChainFault {
    /// The first bad position.
    pub fn seq(&self) -> u64 {
        match self {
            ChainFault::Edited { seq }
            | ChainFault::Deleted { seq }
            | ChainFault::Reordered { seq, .. }
            | ChainFault::Inserted { seq }
            | ChainFault::BadSequence { seq, .. }
            | ChainFault::HeadMismatch { seq, .. } => *seq,
        }
    }
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::Edited { seq } => write!(f, "seq {seq}: event edited (content does not match its hash)"),
            ChainFault::Deleted { seq } => write!(f, "seq {seq}: event deleted (the chain jumps past it)"),
            ChainFault::Reordered { seq, original_seq } => write!(
                f,
                "seq {seq}: events reordered (this row holds the event recorded as seq {original_seq})"
            ),
            ChainFault::Inserted { seq } => write!(f, "seq {seq}: row inserted (it is not part of the recorded chain)"),
            ChainFault::BadSequence { seq, found } => {
                write!(f, "seq {seq}: row numbered {found} found where {seq} was expected")
            }
            ChainFault::HeadMismatch { seq, expected, found } => write!(
                f,
                "seq {seq}: ledger head {found} differs from the recorded head {expected} (events appended or removed at the end)"
            ),
        }
    }
}

/// Verifies a chain given in stored order (ascending seq). Returns the first fault.
pub fn verify_chain(rows: &[Event]) -> Result<(), ChainFault> {
    for (expected_seq, (i, row)) in (1u64..).zip(rows.iter().enumerate()) {
        if row.seq != expected_seq {
            if row.seq > expected_seq {
                return Err(ChainFault::Deleted { seq: expected_seq });
            }
            return Err(ChainFault::BadSequence {
                seq: expected_seq,
                found: row.seq,
            });
        }
        let prev_hash = if i == 0 {
            GENESIS_PREV
        } else {
            rows[i - 1].hash.as_str()
        };
        let self_ok = event_hash(row) == row.hash;
        let link_ok = row.prev_hash == prev_hash;
        if !(self_ok && link_ok) {
            return Err(diagnose(rows, i, prev_hash));
        }
    }
    Ok(())
}

/// Works out what happened at the first bad index `i`.
fn diagnose(rows: &[Event], i: usize, prev_hash: &str) -> ChainFault {
    let row = &rows[i];
    let seq = row.seq;
    let before_prev = if i >= 2 {
        Some(rows[i - 2].hash.as_str())
    } else if i == 1 {
        Some(GENESIS_PREV)
    } else {
        None
    };
    match original_seq(rows, row) {
        Some(k) if k == seq => {
            // Self-consistent but not linked to its predecessor.
            if before_prev == Some(row.prev_hash.as_str()) {
                // It links past the row before it: that row was inserted.
                return ChainFault::Inserted { seq: seq - 1 };
            }
            if i >= 1 && event_hash(&rows[i - 1]) == rows[i - 1].hash {
                // The row before is self-consistent but is not the one this row was chained
                // to: it was replaced by a forged event.
                return ChainFault::Edited { seq: seq - 1 };
            }
            ChainFault::Inserted { seq }
        }
        Some(k) => {
            if k + 1 == seq && before_prev == Some(row.prev_hash.as_str()) {
                // Everything from here moved one up: the row before was inserted.
                return ChainFault::Inserted { seq: seq - 1 };
            }
            ChainFault::Reordered {
                seq,
                original_seq: k,
            }
        }
        None => {
            // An inserted row that is not even self-consistent: the next row is the original
            // event `seq`, renumbered one up, and links to the row before the insertion.
            if let Some(next) = rows.get(i + 1) {
                let mut shifted = next.clone();
                shifted.seq = seq;
                if event_hash(&shifted) == next.hash && next.prev_hash == prev_hash {
                    return ChainFault::Inserted { seq };
                }
            }
            ChainFault::Edited { seq }
        }
    }
}

/// The seq under which this row's content hashes to its stored hash, if any.
fn original_seq(rows: &[Event], row: &Event) -> Option<u64> {
    if event_hash(row) == row.hash {
        return Some(row.seq);
    }
    let mut candidates: Vec<u64> = Vec::new();
    if row.prev_hash == GENESIS_PREV {
        candidates.push(1);
    }
    if let Some(p) = rows.iter().find(|r| r.hash == row.prev_hash) {
        candidates.push(p.seq + 1);
    }
    candidates.extend(rows.iter().map(|r| r.seq));
    candidates.push(rows.len() as u64 + 1);
    candidates.into_iter().find(|&k| {
        let mut moved = row.clone();
        moved.seq = k;
        k != row.seq && event_hash(&moved) == row.hash
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(t: &str) -> Context {
        Context {
            examiner: "examiner-1".into(),
            host: "ws-01".into(),
            command: "custos case new".into(),
            time: t.into(),
        }
    }

    fn chain(n: usize) -> Vec<Event> {
        let mut v: Vec<Event> = Vec::new();
        for i in 0..n {
            let e = chain_event(
                v.last(),
                &ctx(&format!("2026-11-25T10:00:0{i}.000Z")),
                EventDraft::new("test.event", json!({"i": i, "b": [1, {"z": 1, "a": 2}]})),
            );
            v.push(e);
        }
        v
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(6)), Ok(()));
        assert_eq!(verify_chain(&[]), Ok(()));
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = json!({"b": 1, "a": {"y": [3, {"d": 1, "c": 2}], "x": null}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"x":null,"y":[3,{"c":2,"d":1}]},"b":1}"#
        );
    }

    #[test]
    fn detects_edit() {
        let mut c = chain(6);
        c[2].payload = json!({"i": 99});
        assert_eq!(verify_chain(&c), Err(ChainFault::Edited { seq: 3 }));
    }

    #[test]
    fn detects_deletion() {
        let mut c = chain(6);
        c.remove(3);
        assert_eq!(verify_chain(&c), Err(ChainFault::Deleted { seq: 4 }));
    }

    #[test]
    fn detects_reorder() {
        let mut c = chain(6);
        // swap contents of seq 3 and 4 but keep the seq column
        let (a, b) = (c[2].clone(), c[3].clone());
        c[2] = Event { seq: 3, ..b };
        c[3] = Event { seq: 4, ..a };
        assert_eq!(
            verify_chain(&c),
            Err(ChainFault::Reordered {
                seq: 3,
                original_seq: 4
            })
        );
    }

    #[test]
    fn detects_insertion_with_renumbering() {
        let mut c = chain(6);
        let mut fake = c[2].clone();
        fake.payload = json!({"forged": true});
        c.insert(2, fake);
        for (i, e) in c.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(verify_chain(&c), Err(ChainFault::Inserted { seq: 3 }));
    }

    #[test]
    fn detects_forged_self_consistent_insertion() {
        let mut c = chain(4);
        let forged = chain_event(
            Some(&c[1]),
            &ctx("2026-11-25T11:00:00.000Z"),
            EventDraft::new("x", json!({})),
        );
        // put it at seq 3 in place of the real one, without relinking what follows
        c[2] = forged;
        // the real 4th row no longer links to it: seq 3 was replaced
        assert_eq!(verify_chain(&c), Err(ChainFault::Edited { seq: 3 }));
    }

    #[test]
    fn detects_self_consistent_insertion_with_renumbering() {
        let mut c = chain(5);
        let forged = chain_event(
            Some(&c[1]),
            &ctx("2026-11-25T11:00:00.000Z"),
            EventDraft::new("x", json!({})),
        );
        c.insert(2, forged);
        for (i, e) in c.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        assert_eq!(verify_chain(&c), Err(ChainFault::Inserted { seq: 3 }));
    }

    #[test]
    fn hash_covers_every_field() {
        let base = chain(1).remove(0);
        let variants = [
            Event {
                time: "x".into(),
                ..base.clone()
            },
            Event {
                examiner: "x".into(),
                ..base.clone()
            },
            Event {
                host: "x".into(),
                ..base.clone()
            },
            Event {
                command: "x".into(),
                ..base.clone()
            },
            Event {
                kind: "x".into(),
                ..base.clone()
            },
            Event {
                payload: json!(1),
                ..base.clone()
            },
            Event {
                artifacts: vec!["aa".into()],
                ..base.clone()
            },
            Event {
                prev_hash: "11".into(),
                ..base.clone()
            },
            Event {
                seq: 2,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(event_hash(&v), base.hash, "{v:?}");
        }
    }
}
