//! `custos case ...` through the real binary: exit codes, messages, nothing modified on bad input.

use custos_tests::{run, stderr, stdout};

fn new_case(dir: &std::path::Path) {
    let d = dir.to_str().unwrap();
    let o = run(
        "custos",
        &[
            "--network",
            "regtest",
            "case",
            "new",
            d,
            "--case-id",
            "E2E-1",
            "--examiner",
            "alice",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn new_log_verify_export_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    new_case(&c);
    let cs = c.to_str().unwrap();
    let o = run("custos", &["--case", cs, "case", "log"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("case.created"));
    let o = run("custos", &["--case", cs, "--json", "case", "log"], None);
    let events: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(events[0]["kind"], "case.created");
    assert!(events[0]["command"].as_str().unwrap().contains("case new"));
    let o = run("custos", &["--case", cs, "case", "verify"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = t.path().join("export");
    let o = run(
        "custos",
        &["--case", cs, "case", "export", out.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("E2E-1")
            && !html.contains("<script")
            && !html.contains("http://")
            && !html.contains("https://")
    );
    let jsonl = std::fs::read_to_string(out.join("ledger.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 1);
    // export is recorded
    let o = run("custos", &["--case", cs, "--json", "case", "log"], None);
    let events: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(events[1]["kind"], "case.exported");
    // exporting again into the same directory is refused
    let o = run(
        "custos",
        &["--case", cs, "case", "export", out.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn case_new_refuses_to_overwrite() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    new_case(&c);
    let before = files(&c);
    let o = run(
        "custos",
        &[
            "case",
            "new",
            c.to_str().unwrap(),
            "--case-id",
            "X",
            "--examiner",
            "bob",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("refusing"), "{}", stderr(&o));
    assert_eq!(files(&c), before);
}

#[test]
fn tampered_case_fails_verify_with_exit_1_naming_the_seq() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    new_case(&c);
    let cs = c.to_str().unwrap();
    let out = t.path().join("export");
    assert_eq!(
        run(
            "custos",
            &["--case", cs, "case", "export", out.to_str().unwrap()],
            None
        )
        .status
        .code(),
        Some(0)
    );
    rusqlite::Connection::open(c.join("case.sqlite"))
        .unwrap()
        .execute("UPDATE ledger SET examiner = 'mallory' WHERE seq = 2", [])
        .unwrap();
    let o = run("custos", &["--case", cs, "case", "verify"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("seq 2"), "{}", stdout(&o));
    assert!(stderr(&o).contains("case.sqlite"), "{}", stderr(&o));
}

#[test]
fn missing_case_directory_exits_2_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("no-such-case");
    let o = run(
        "custos",
        &["--case", c.to_str().unwrap(), "case", "log"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-case"), "{}", stderr(&o));
    assert!(!c.exists());
}

#[test]
fn file_that_is_not_a_case_exits_2_and_is_untouched() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    std::fs::create_dir(&c).unwrap();
    rusqlite::Connection::open(c.join("case.sqlite"))
        .unwrap()
        .execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES ('hello');")
        .unwrap();
    let before = files(&c);
    let o = run(
        "custos",
        &["--case", c.to_str().unwrap(), "case", "verify"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not a custos case"), "{}", stderr(&o));
    assert_eq!(files(&c), before);
}

#[test]
fn corrupt_database_exits_2_and_is_untouched() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    new_case(&c);
    // Overwrite the header page with garbage: SQLite can no longer read the file.
    let p = c.join("case.sqlite");
    let mut bytes = std::fs::read(&p).unwrap();
    for b in bytes.iter_mut().take(100) {
        *b = 0x5a;
    }
    std::fs::write(&p, &bytes).unwrap();
    let before = files(&c);
    let o = run(
        "custos",
        &["--case", c.to_str().unwrap(), "case", "log"],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("case.sqlite") && stderr(&o).contains("corrupt"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(&c), before);
}

#[test]
fn case_id_mismatch_exits_2_naming_both_ids() {
    let t = tempfile::tempdir().unwrap();
    let c = t.path().join("case");
    new_case(&c);
    let before = files(&c);
    let o = run(
        "custos",
        &[
            "--case",
            c.to_str().unwrap(),
            "--expect-case-id",
            "OTHER-9",
            "case",
            "log",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("E2E-1") && e.contains("OTHER-9") && e.contains("case.sqlite"),
        "{e}"
    );
    assert_eq!(files(&c), before);
}

#[test]
fn usage_errors_exit_2() {
    let o = run("custos", &["case", "frobnicate"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = run("custos", &["--network", "ropsten", "case", "log"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn signer_prints_version_and_help() {
    let o = run("custos-signer", &["--version"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("custos-signer "));
    let o = run("custos-signer", &["--help"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("air-gapped"));
}
