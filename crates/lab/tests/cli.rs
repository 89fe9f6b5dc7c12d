//! The `custos-lab` binary: up (with --data), status, mine, down, and resume after a restart.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_custos-lab");

fn up(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["up", "--scenario", "seized-basic", "--data"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("custos-lab: scenario seized-basic at height"),
        "{first}"
    );
    assert!(
        url.starts_with("electrum server: tcp://127.0.0.1:"),
        "{url}"
    );
    // The handout follows.
    assert!(lines.any(|l| l.unwrap().contains("# Scenario: seized-basic")));
    // Keep draining stdout like a terminal would.
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

fn run(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn up_mine_status_down_and_resume() {
    let dir = common::data_dir("cli");
    let (mut child, _) = up(&dir);
    let status: serde_json::Value =
        serde_json::from_str(&run(&["status", "--json"], &dir)).unwrap();
    let h0 = status["tip_height"].as_u64().unwrap();
    let mined = run(&["mine", "3"], &dir);
    assert_eq!(mined.lines().count(), 3);
    let status: serde_json::Value =
        serde_json::from_str(&run(&["status", "--json"], &dir)).unwrap();
    assert_eq!(status["tip_height"].as_u64().unwrap(), h0 + 3);
    run(&["down"], &dir);
    assert!(child.wait().unwrap().success());
    // Resume from the data directory.
    let (mut child, _) = up(&dir);
    let status: serde_json::Value =
        serde_json::from_str(&run(&["status", "--json"], &dir)).unwrap();
    assert_eq!(status["tip_height"].as_u64().unwrap(), h0 + 3);
    run(&["down"], &dir);
    assert!(child.wait().unwrap().success());
}

#[test]
fn unreachable_lab_is_an_environment_error() {
    let dir = common::data_dir("cli-none");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN)
        .args(["status", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = Command::new(BIN)
        .args(["status", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "missing control file is an input error"
    );
}

#[test]
fn a_closed_stdout_ends_truth_with_exit_3_and_a_message_not_a_panic() {
    let mut child = Command::new(BIN)
        .args(["truth", "--scenario", "seized-basic"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the lab has built its chain and written the truth.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("cannot write the result to stdout"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
