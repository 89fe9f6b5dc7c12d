//! Crash safety: a child process appending events is killed with SIGKILL at random points; every
//! time, the case still opens, verifies, and the interrupted event is whole or absent.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use custos_case::{Case, NewArtifact};
use custos_core::{
    ids::{CaseId, ExaminerId},
    ledger::EventDraft,
    Network,
};
use rand::Rng;

const CHILD_ENV: &str = "CUSTOS_CRASH_CHILD_DIR";

/// Not a test on its own: the body the child process runs (re-executed from this test binary).
#[test]
fn crash_child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut case = Case::open(Path::new(&dir)).expect("child opens case");
    let mut i = 0u64;
    loop {
        // Every event carries an artifact and a payload whose size varies, so kills land in
        // different parts of the write.
        let size = 100 + (i as usize * 7919) % 20_000;
        let data: Vec<u8> = (0..size).map(|j| (j as u64 ^ i) as u8).collect();
        let art = NewArtifact {
            kind: "blob".into(),
            name: format!("blob-{i}"),
            data,
        };
        let sha = art.sha256();
        case.append(
            "child",
            "crash-child",
            EventDraft::new(
                "crash.append",
                serde_json::json!({ "i": i, "sha": sha, "pad": "x".repeat(size / 10) }),
            ),
            vec![art],
        )
        .expect("append");
        i += 1;
    }
}

#[test]
fn sigkill_during_append_leaves_a_verifiable_case() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("case");
    Case::create(
        &dir,
        &CaseId::new("CRASH-1").unwrap(),
        &ExaminerId::new("tester").unwrap(),
        Network::Regtest,
        "custos case new",
    )
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut last_seq = 1u64;
    let rounds = 100;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..60)));
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();

        let case =
            Case::open(&dir).unwrap_or_else(|e| panic!("round {round}: case does not open: {e}"));
        let report = case.verify(None).unwrap();
        assert!(report.ok(), "round {round}: {:?}", report.problems);
        let events = case.events().unwrap();
        let last = events.last().unwrap();
        assert!(last.seq >= last_seq, "round {round}: events were lost");
        last_seq = last.seq;
        // The last event is whole: its artifact is present and its payload names it.
        if last.kind == "crash.append" {
            let sha = last.payload["sha"].as_str().unwrap();
            assert_eq!(last.artifacts, vec![sha.to_string()]);
            let a = case.artifact(sha).unwrap();
            assert_eq!(a.data.len() as u64, a.size);
        }
    }
    assert!(last_seq > 1, "the child never managed to append anything");
}
