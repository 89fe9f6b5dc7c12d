//! Signed ledger checkpoints end to end: the examiner signs the head, a registered supervisor
//! countersigns, `case verify` reports what came after; a full rewrite of the ledger with every
//! hash recomputed (which the keyless chain cannot see) fails against the countersigned
//! checkpoint, and, when the rewriter also removes the checkpoints, against the file the
//! supervisor kept. Unregistered keys are refused with exit 1.

use std::path::{Path, PathBuf};
use std::process::Command;

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use custos_core::ledger::{self, Event};
use custos_testkit::custody::quote_file as q;
use custos_testkit::{custos_bin, new_case_by, run};

const EXAMINER_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SUPERVISOR_KEY: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const STRANGER_KEY: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn custos() -> Command {
    custos_bin!()
}

fn pubkey(hex_key: &str) -> String {
    let sk = SecretKey::from_slice(&hex::decode(hex_key).unwrap()).unwrap();
    hex::encode(PublicKey::from_secret_key(&Secp256k1::new(), &sk).serialize())
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    case: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let case = dir.join("case");
        for (name, key) in [
            ("examiner.key", EXAMINER_KEY),
            ("supervisor.key", SUPERVISOR_KEY),
            ("stranger.key", STRANGER_KEY),
        ] {
            std::fs::write(dir.join(name), format!("{key}\n")).unwrap();
        }
        new_case_by(custos(), &case, "CP-1", "alice");
        let f = Fixture {
            _tmp: tmp,
            dir,
            case,
        };
        f.add_event();
        f
    }

    fn cmd(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = custos();
        c.arg("--case").arg(&self.case).args(args);
        run(&mut c)
    }

    /// Appends an ordinary event (a valuation with --amount) from another process.
    fn add_event(&self) {
        let (code, _, err) = self.cmd(&[
            "valuation",
            "--quotes",
            q("venues.csv").to_str().unwrap(),
            "--fx",
            q("ecb-eurofxref-daily.xml").to_str().unwrap(),
            "--at",
            "2026-01-05T10:00:00Z",
            "--amount",
            "100000",
        ]);
        assert_eq!(code, 0, "{err}");
    }

    fn key(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn checkpoint_and_countersign(&self) -> PathBuf {
        let sup = pubkey(SUPERVISOR_KEY);
        let (code, out, err) = self.cmd(&[
            "case",
            "checkpoint",
            "--key",
            &self.key("examiner.key"),
            "--supervisor-pubkey",
            &sup,
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("registered supervisor key"), "{out}");
        let kept = self.dir.join("kept-checkpoint.json");
        let (code, out, err) = self.cmd(&[
            "--examiner",
            "bob",
            "case",
            "countersign",
            "--key",
            &self.key("supervisor.key"),
            "--out",
            kept.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("countersigned by bob"), "{out}");
        kept
    }
}

/// Rewrites the ledger as an attacker with write access would: edits event `seq`'s payload,
/// optionally drops every checkpoint trace, and recomputes every hash and the head record.
fn rewrite_ledger(case: &Path, seq: u64, drop_checkpoints: bool) {
    let conn = rusqlite::Connection::open(case.join("case.sqlite")).unwrap();
    let mut events: Vec<Event> = {
        let mut st = conn
            .prepare("SELECT seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash FROM ledger ORDER BY seq")
            .unwrap();
        st.query_map([], |r| {
            Ok(Event {
                seq: r.get::<_, i64>(0)? as u64,
                time: r.get(1)?,
                examiner: r.get(2)?,
                host: r.get(3)?,
                command: r.get(4)?,
                kind: r.get(5)?,
                payload: serde_json::from_str(&r.get::<_, String>(6)?).unwrap(),
                artifacts: serde_json::from_str(&r.get::<_, String>(7)?).unwrap(),
                prev_hash: r.get(8)?,
                hash: r.get(9)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    if drop_checkpoints {
        events.retain(|e| !e.kind.starts_with("case.checkpoint") && e.kind != "case.countersigned");
        conn.execute_batch("DROP TABLE IF EXISTS checkpoints")
            .unwrap();
    }
    let mut prev = ledger::GENESIS_PREV.to_string();
    for (i, e) in events.iter_mut().enumerate() {
        e.seq = i as u64 + 1;
        if e.seq == seq {
            e.payload["forged"] = serde_json::json!(true);
        }
        e.prev_hash = prev.clone();
        e.hash = ledger::event_hash(e);
        prev = e.hash.clone();
    }
    conn.execute("DELETE FROM ledger", []).unwrap();
    for e in &events {
        conn.execute(
            "INSERT INTO ledger(seq, time, examiner, host, command, kind, payload, artifacts, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            rusqlite::params![e.seq as i64, e.time, e.examiner, e.host, e.command, e.kind,
                ledger::canonical_json(&e.payload), serde_json::to_string(&e.artifacts).unwrap(), e.prev_hash, e.hash],
        )
        .unwrap();
    }
    let last = events.last().unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'head_seq'",
        [last.seq.to_string()],
    )
    .unwrap();
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'head_hash'",
        [&last.hash],
    )
    .unwrap();
}

#[test]
fn verify_reports_events_after_the_last_countersigned_checkpoint() {
    let f = Fixture::new();
    f.checkpoint_and_countersign();
    f.add_event();
    let (code, out, err) = f.cmd(&["case", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    // Head was seq 2 when signed; then the checkpoint (3), countersignature (4) and a valuation (5).
    assert!(
        out.contains("last countersigned checkpoint: seq 2; 3 event(s) after it (seq 3..5)"),
        "{out}"
    );
    let (_, out, _) = f.cmd(&["--json", "case", "verify"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["checkpoints"]["last_countersigned"], 2);
}

#[test]
fn full_rewrite_with_recomputed_hashes_fails_verify_against_countersigned_checkpoint() {
    let f = Fixture::new();
    f.checkpoint_and_countersign();
    rewrite_ledger(&f.case, 2, false);
    let (code, out, err) = f.cmd(&["case", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("the ledger was rewritten at or before seq 2"),
        "{out}"
    );
}

#[test]
fn rewrite_that_also_drops_the_checkpoints_fails_against_the_kept_file() {
    let f = Fixture::new();
    let kept = f.checkpoint_and_countersign();
    rewrite_ledger(&f.case, 2, true);
    // Without an outside anchor the rewritten ledger is self-consistent...
    let (code, out, err) = f.cmd(&["case", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    // ...but not against the checkpoint the supervisor kept.
    let (code, out, err) = f.cmd(&["case", "verify", "--checkpoint", kept.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("differs from the head"), "{out}");
}

#[test]
fn unregistered_keys_are_refused_with_exit_1() {
    let f = Fixture::new();
    // Countersigning needs a checkpoint first.
    let (code, _, err) = f.cmd(&["case", "countersign", "--key", &f.key("supervisor.key")]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = f.cmd(&["case", "checkpoint", "--key", &f.key("examiner.key")]);
    assert_eq!(code, 0, "{err}");
    // No supervisor registered: refused, naming the key.
    let (code, _, err) = f.cmd(&["case", "countersign", "--key", &f.key("stranger.key")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&pubkey(STRANGER_KEY)) && err.contains("not a registered supervisor key"),
        "{err}"
    );
    // A second examiner key is not registered by the first checkpoint.
    let (code, _, err) = f.cmd(&["case", "checkpoint", "--key", &f.key("stranger.key")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a registered examiner key"), "{err}");
}

#[test]
fn key_file_without_a_key_exits_2_without_echoing_it() {
    let f = Fixture::new();
    let bad = f.dir.join("bad.key");
    std::fs::write(&bad, "correct horse battery staple\n").unwrap();
    let (code, out, err) = f.cmd(&["case", "checkpoint", "--key", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(!err.contains("horse") && !out.contains("horse"), "{err}");
    assert!(err.contains("bad.key"), "{err}");
}
