//! The signer on hostile and careless input (issue 10 items 4–6): `/dev/zero` as any input exits
//! 2 naming the file and the limit, an empty passphrase file is an error unless
//! `--empty-passphrase`, a refused `key generate` leaves no directory behind, and a closed stdout
//! exits 3.

use custos_testkit::{interop, run, scratch, signer_bin};
use std::process::{Command, Stdio};

#[test]
fn dev_zero_as_any_input_exits_2_naming_the_file_and_the_limit() {
    let policy = interop("custody-wsh.policy.json");
    let psbt = interop("sweep-mixed-wsh.psbt");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (
            vec![
                "sign".as_ref(),
                "/dev/zero".as_ref(),
                "--policy".as_ref(),
                policy.as_os_str(),
                "--verify-only".as_ref(),
            ],
            "psbt larger than",
        ),
        (
            vec![
                "sign".as_ref(),
                psbt.as_os_str(),
                "--policy".as_ref(),
                "/dev/zero".as_ref(),
                "--verify-only".as_ref(),
            ],
            "policy larger than",
        ),
        (
            vec![
                "material".as_ref(),
                "classify".as_ref(),
                "--input".as_ref(),
                "/dev/zero".as_ref(),
            ],
            "material file larger than",
        ),
        (
            vec![
                "ceremony".as_ref(),
                "verify".as_ref(),
                policy.as_os_str(),
                "--key-record".as_ref(),
                "/dev/zero".as_ref(),
            ],
            "key record larger than",
        ),
    ];
    for (args, needle) in cases {
        let (code, _, err) = run(signer_bin!().args(&args));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("/dev/zero") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn empty_passphrase_file_is_an_error_unless_empty_passphrase() {
    let tmp = scratch("robust", "passphrase");
    let material = tmp.join("m.txt");
    std::fs::write(
        &material,
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about\n",
    )
    .unwrap();
    let empty = tmp.join("pass.txt");
    std::fs::write(&empty, "\n").unwrap();
    let out = tmp.join("wo.json");
    let base = |c: &mut Command| {
        c.args([
            "material",
            "watch-only",
            "--network",
            "regtest",
            "--accounts",
            "1",
        ])
        .arg("--input")
        .arg(&material)
        .arg("--passphrase-file")
        .arg(&empty)
        .arg("--out")
        .arg(&out);
    };
    let mut c = signer_bin!();
    base(&mut c);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is empty") && err.contains("pass.txt"),
        "{err}"
    );
    assert!(!out.exists());
    let mut c = signer_bin!();
    base(&mut c);
    c.arg("--empty-passphrase");
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 0, "{err}");
    assert!(out.exists());
}

#[test]
fn refused_key_generate_leaves_no_directory() {
    let out = scratch("robust", "generate").join("holder");
    // No dice, no entropy file, no terminal: stdin ends before the quiz, nothing is written.
    let (code, _, err) = run(signer_bin!()
        .args([
            "key",
            "generate",
            "--batch",
            "--network",
            "regtest",
            "--challenge",
            "c",
        ])
        .arg("--out-dir")
        .arg(&out));
    assert_ne!(code, 0, "{err}");
    assert!(!out.exists(), "left {out:?} behind: {err}");
}

#[test]
fn closed_stdout_exits_3_with_a_message() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = signer_bin!()
        .arg("sign")
        .arg(interop("sweep-mixed-wsh.psbt"))
        .arg("--policy")
        .arg(interop("custody-wsh.policy.json"))
        .arg("--verify-only")
        .stdout(Stdio::from(writer))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("stdout") && !err.contains("panicked"), "{err}");
}
