//! Tamper detection: each kind of change to a case file is found and named with its first bad seq.

use std::path::Path;

use custos_case::{Case, NewArtifact};
use custos_core::{
    ids::{CaseId, ExaminerId},
    ledger::EventDraft,
    Network,
};
use rusqlite::Connection;

fn make_case(dir: &Path, events: usize) -> Vec<String> {
    let mut case = Case::create(
        dir,
        &CaseId::new("T-1").unwrap(),
        &ExaminerId::new("tester").unwrap(),
        Network::Regtest,
        "custos case new",
    )
    .unwrap();
    let mut shas = Vec::new();
    for i in 0..events {
        let art = NewArtifact {
            kind: "raw_tx".into(),
            name: format!("tx{i}"),
            data: format!("artifact bytes {i}").into_bytes(),
        };
        shas.push(art.sha256());
        case.append(
            "tester",
            "custos test",
            EventDraft::new("test.step", serde_json::json!({ "step": i })),
            vec![art],
        )
        .unwrap();
    }
    shas
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("case.sqlite")).unwrap()
}

fn first_problem(dir: &Path) -> (u64, String, String) {
    let case = Case::open(dir).unwrap();
    let r = case.verify(None).unwrap();
    assert!(!r.ok(), "tampering was not detected");
    let p = &r.problems[0];
    (p.seq, p.kind.clone(), p.message.clone())
}

#[test]
fn intact_case_verifies() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    let r = Case::open(&d).unwrap().verify(None).unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.events, 6);
    assert_eq!(r.artifacts, 5);
}

#[test]
fn detects_edited_event() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    db(&d)
        .execute(
            "UPDATE ledger SET payload = '{\"step\":99}' WHERE seq = 3",
            [],
        )
        .unwrap();
    let (seq, kind, msg) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (3, "edited"), "{msg}");
    assert!(msg.contains("seq 3"), "{msg}");
}

#[test]
fn detects_deleted_event() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    db(&d)
        .execute("DELETE FROM ledger WHERE seq = 4", [])
        .unwrap();
    let (seq, kind, _) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (4, "deleted"));
}

#[test]
fn detects_deleted_last_event_against_head_record() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    db(&d)
        .execute("DELETE FROM ledger WHERE seq = 6", [])
        .unwrap();
    let (seq, kind, _) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (6, "head_mismatch"));
}

#[test]
fn detects_full_rewrite_against_external_anchor() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 3);
    let anchor = Case::open(&d).unwrap().verify(None).unwrap().head;
    // A rewrite that keeps the chain self-consistent: drop the last event and fix the head
    // record. Only the anchor kept outside the database shows it.
    let c = db(&d);
    let prev: String = c
        .query_row("SELECT hash FROM ledger WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM ledger WHERE seq = 4", []).unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'head_hash'",
        [&prev],
    )
    .unwrap();
    c.execute("UPDATE meta SET value = '3' WHERE key = 'head_seq'", [])
        .unwrap();
    let case = Case::open(&d).unwrap();
    assert!(case.verify(None).unwrap().ok());
    let r = case.verify(Some(&anchor)).unwrap();
    assert_eq!(r.problems[0].kind, "head_mismatch");
    assert!(r.problems[0].message.contains("--expect-head"));
}

#[test]
fn detects_reordered_events() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    let c = db(&d);
    // swap every column but seq between rows 3 and 4
    c.execute_batch(
        "UPDATE ledger SET seq = -3 WHERE seq = 3;
         UPDATE ledger SET seq = 3 WHERE seq = 4;
         UPDATE ledger SET seq = 4 WHERE seq = -3;",
    )
    .unwrap();
    let (seq, kind, msg) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (3, "reordered"), "{msg}");
    assert!(msg.contains("recorded as seq 4"), "{msg}");
}

#[test]
fn detects_inserted_event() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    make_case(&d, 5);
    let c = db(&d);
    c.execute_batch(
        "UPDATE ledger SET seq = seq + 1000 WHERE seq >= 3;
         UPDATE ledger SET seq = seq - 999 WHERE seq >= 1000;
         INSERT INTO ledger(seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash)
           SELECT 3, time, 'intruder', host, command, 'test.step', '{\"step\":42}', '[]', prev_hash, hash FROM ledger WHERE seq = 4;",
    )
    .unwrap();
    let (seq, kind, msg) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (3, "inserted"), "{msg}");
}

#[test]
fn detects_altered_artifact() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    let shas = make_case(&d, 5);
    db(&d)
        .execute(
            "UPDATE artifacts SET data = X'00' WHERE sha256 = ?1",
            [&shas[2]],
        )
        .unwrap();
    let (seq, kind, msg) = first_problem(&d);
    // artifact 2 belongs to the event with step 2, which is seq 4 (seq 1 is case.created)
    assert_eq!((seq, kind.as_str()), (4, "artifact_altered"), "{msg}");
    assert!(msg.contains(&shas[2]));
}

#[test]
fn detects_missing_artifact() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("c");
    let shas = make_case(&d, 5);
    db(&d)
        .execute("DELETE FROM artifacts WHERE sha256 = ?1", [&shas[0]])
        .unwrap();
    let (seq, kind, msg) = first_problem(&d);
    assert_eq!((seq, kind.as_str()), (2, "artifact_missing"), "{msg}");
}
