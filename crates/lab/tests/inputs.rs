//! custos-lab's own inputs are bounded and its errors map to the shared exit codes
//! (`custos_core::exit`): an over-size scenario is an input error (2), a port in use an
//! environment error (3).

mod common;

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_custos-lab");

#[test]
fn oversized_scenario_file_is_refused_with_exit_2_naming_the_file_and_limit() {
    let dir = common::data_dir("inputs-big");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.toml");
    let f = std::fs::File::create(&path).unwrap();
    // Sparse: one byte over the limit without writing 4 MiB.
    f.set_len(custos_core::file::SCENARIO.bytes + 1).unwrap();
    drop(f);
    let out = Command::new(BIN)
        .args(["truth", "--scenario"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("huge.toml"), "{err}");
    assert!(
        err.contains(&format!(
            "scenario file larger than the {}-byte limit",
            custos_core::file::SCENARIO.bytes
        )),
        "{err}"
    );
}

#[test]
fn endless_scenario_stream_is_refused_at_the_limit_with_exit_2() {
    let out = Command::new(BIN)
        .args(["truth", "--scenario", "/dev/zero"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(err.contains("limit"), "{err}");
}

#[test]
fn malformed_scenario_is_an_input_error_with_its_parser_position() {
    let dir = common::data_dir("inputs-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "name = \"x\"\nseed = [not toml\n").unwrap();
    let out = Command::new(BIN)
        .args(["truth", "--scenario"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml"), "{err}");
    assert!(
        err.contains("line 2"),
        "the parser's position is kept as the cause: {err}"
    );
}

#[test]
fn port_in_use_is_an_environment_error_with_exit_3() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["up", "--scenario", "seized-basic", "--port"])
        .arg(port.to_string())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    drop(taken);
}

#[test]
fn truth_never_overwrites_an_existing_transactions_file() {
    let dir = common::data_dir("inputs-truth");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("transactions.jsonl");
    std::fs::write(&path, "keep me\n").unwrap();
    let out = Command::new(BIN)
        .args(["truth", "--scenario", "seized-basic", "--transactions"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me\n");
}
