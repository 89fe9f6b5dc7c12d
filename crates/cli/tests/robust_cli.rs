//! Hostile and careless input end to end (issue 10 items 4–6, issue 15 item 5): files read from
//! outside are bounded (`/dev/zero` exits 2 naming the file and the limit), a missing path or a
//! directory is named as such, no output is overwritten, several outputs are written all or
//! none, and a closed or full stdout exits 3 with a message instead of panicking.

use custos_testkit::{custos_bin, interop, run, signer_next_to_custos};
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

const CHALLENGE: &str = "LAB-9 robustness ceremony";

#[test]
fn dev_zero_inputs_exit_2_naming_the_file_and_the_limit() {
    let cases: &[(&[&str], &str)] = &[
        (&["psbt", "decode", "/dev/zero"], "psbt larger than"),
        (
            &[
                "sweep",
                "build",
                "--inventory",
                "/dev/zero",
                "--custody",
                "/dev/zero",
                "--fee-rate",
                "2",
                "--out-dir",
                "/nonexistent-out",
            ],
            "inventory larger than",
        ),
        (
            &[
                "--network",
                "regtest",
                "inspect",
                "/dev/zero",
                "--server",
                "127.0.0.1:9",
            ],
            "larger than the 16777216-byte limit",
        ),
        (
            &["broadcast", "/dev/zero", "--server", "127.0.0.1:9"],
            "transaction larger than",
        ),
    ];
    for (args, needle) in cases {
        let (code, _, err) = run(custos_bin!().args(*args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("/dev/zero") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn missing_path_and_directory_are_reported_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "inspect",
        "/nonexistent/watch-only.json",
        "--server",
        "127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/nonexistent/watch-only.json: no such file"),
        "{err}"
    );
    assert!(!err.contains("unrecognised material"), "{err}");
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "inspect",
        dir,
        "--server",
        "127.0.0.1:9",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{dir}: is a directory")), "{err}");
    let (code, _, err) = run(custos_bin!().args(["broadcast", dir, "--server", "127.0.0.1:9"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{dir}: is a directory")), "{err}");
    let (code, _, err) = run(custos_bin!().args(["psbt", "decode", "/nonexistent.psbt"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent.psbt: no such file"), "{err}");
}

#[test]
fn inspect_out_never_overwrites_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("inventory.json");
    std::fs::write(&out, b"earlier inventory").unwrap();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "inspect",
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "--server",
        "127.0.0.1:9",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier inventory");
}

#[test]
fn full_stdout_exits_3_with_a_message_not_a_panic() {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = custos_bin!()
        .args(["psbt", "decode"])
        .arg(interop("sweep-mixed-wsh.psbt"))
        .stdout(Stdio::from(f))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot write the result to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Runs `c` with a stdout pipe whose reading end is already closed.
fn run_into_closed_pipe(c: &mut Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = c.stdout(Stdio::from(writer)).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn closed_stdout_exits_3_for_case_log_and_psbt_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "case",
        "new",
        case.to_str().unwrap(),
        "--case-id",
        "ROBUST-1",
        "--examiner",
        "tester",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, err) = run_into_closed_pipe(custos_bin!().args([
        "--json",
        "--case",
        case.to_str().unwrap(),
        "case",
        "log",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stdout") && !err.contains("panicked"), "{err}");
    let (code, err) = run_into_closed_pipe(
        custos_bin!()
            .args(["psbt", "decode"])
            .arg(interop("sweep-mixed-wsh.psbt")),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stdout") && !err.contains("panicked"), "{err}");
}

/// `custos-signer key generate --batch` with fixed entropy; returns the key record path.
fn generate(dir: &Path, i: u8) -> PathBuf {
    let hex: String = (0..32u8)
        .map(|b| {
            format!(
                "{:02x}",
                b.wrapping_mul(11).wrapping_add(i.wrapping_mul(29))
            )
        })
        .collect();
    let m = custos_ceremony::mnemonic::from_entropy(&custos_core::Secret::new(
        hex::decode(&hex).unwrap(),
    ))
    .unwrap();
    let phrase = custos_ceremony::mnemonic::phrase(&m)
        .expose_secret()
        .clone();
    let ent = dir.join(format!("entropy-{i}.hex"));
    std::fs::write(&ent, hex).unwrap();
    let out = dir.join(format!("holder-{i}"));
    let mut child = signer_next_to_custos!()
        .args([
            "--json",
            "key",
            "generate",
            "--batch",
            "--network",
            "regtest",
        ])
        .arg("--entropy-file")
        .arg(&ent)
        .arg("--out-dir")
        .arg(&out)
        .args(["--challenge", CHALLENGE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{phrase}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    PathBuf::from(v["files"][0]["path"].as_str().unwrap())
}

#[test]
fn ceremony_assemble_writes_all_outputs_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let keys: Vec<PathBuf> = (1..=3).map(|i| generate(tmp.path(), i)).collect();
    let out = tmp.path().join("wallet");
    std::fs::create_dir_all(&out).unwrap();
    // An earlier wallet's BSMS record with the same name is in the way.
    std::fs::write(out.join("custody.bsms"), b"earlier record").unwrap();
    let mut c = custos_bin!();
    c.args([
        "--network",
        "regtest",
        "ceremony",
        "assemble",
        "--threshold",
        "2",
        "--name",
        "custody",
        "--challenge",
        CHALLENGE,
    ]);
    c.args(&keys).arg("--out-dir").arg(&out);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("custody.bsms") && err.contains("already exists"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["custody.bsms".to_string()],
        "partial outputs written"
    );
    assert_eq!(
        std::fs::read(out.join("custody.bsms")).unwrap(),
        b"earlier record"
    );
}

#[test]
fn ceremony_assemble_refuses_an_oversized_key_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "ceremony",
        "assemble",
        "--threshold",
        "1",
        "/dev/zero",
        "--out-dir",
        tmp.path().join("o").to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("/dev/zero") && err.contains("key record larger than"),
        "{err}"
    );
    assert!(!tmp.path().join("o").exists());
}
