//! The lab's admin methods (`lab.mine`, `lab.stop`) are for its owner only, `lab.mine` is
//! bounded, and `custos-lab down` returns once the lab has really stopped (issue 10, item 7b).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use custos_lab::{control_call, ControlFile, Lab, LabConfig, MAX_MINE_PER_CALL};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_custos-lab");

fn lab_with_data(name: &str) -> (Lab, ControlFile) {
    let mut cfg = LabConfig::scenario("seized-basic");
    cfg.data_dir = Some(common::data_dir(name));
    let lab = Lab::start(cfg).unwrap();
    let ctl = ControlFile::read(lab.data_dir()).unwrap();
    (lab, ctl)
}

#[test]
fn admin_methods_refuse_a_client_without_the_control_file_token() {
    let (lab, ctl) = lab_with_data("admin-token");
    let mode = std::fs::metadata(ControlFile::path(lab.data_dir()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "control file readable by its owner only"
    );
    let tip = lab.tip_height();

    for params in [json!([1]), json!([]), json!(["00".repeat(32), 1])] {
        let err = control_call(lab.addr(), "lab.mine", params.clone()).unwrap_err();
        assert!(err.to_string().contains("admin method"), "{params}: {err}");
    }
    let err = control_call(lab.addr(), "lab.stop", json!([])).unwrap_err();
    assert!(err.to_string().contains("admin method"), "{err}");
    assert_eq!(lab.tip_height(), tip, "nothing mined without the token");
    // Still serving: lab.stop was refused; the read-only status stays open.
    let st = control_call(lab.addr(), "lab.status", json!([])).unwrap();
    assert_eq!(st["tip_height"].as_u64().unwrap(), u64::from(tip));

    let mined = ctl.admin_call("lab.mine", &[json!(2)]).unwrap();
    assert_eq!(mined.as_array().unwrap().len(), 2);
    assert_eq!(lab.tip_height(), tip + 2);
    // The in-process API is unchanged.
    lab.mine(1).unwrap();
    assert_eq!(lab.tip_height(), tip + 3);
}

#[test]
fn mine_refuses_more_blocks_than_its_bound_per_call() {
    let (lab, ctl) = lab_with_data("admin-bound");
    let tip = lab.tip_height();
    let err = ctl
        .admin_call("lab.mine", &[json!(u32::MAX)])
        .unwrap_err()
        .to_string();
    assert!(err.contains(&MAX_MINE_PER_CALL.to_string()), "{err}");
    assert_eq!(lab.tip_height(), tip);
    // The CLI refuses it before asking the lab: a usage error.
    let out = Command::new(BIN)
        .args(["mine", "1001", "--data"])
        .arg(lab.data_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(lab.tip_height(), tip);
}

#[test]
fn down_returns_only_after_the_lab_process_has_exited() {
    let data = common::data_dir("admin-down");
    let mut child = Command::new(BIN)
        .args(["up", "--scenario", "seized-basic", "--data"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().starts_with("electrum server: ")));
    std::thread::spawn(move || lines.for_each(drop));
    let out = Command::new(BIN)
        .args(["down", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exited = child.try_wait().unwrap();
    assert!(exited.is_some(), "the lab still runs after down returned");
    assert!(exited.unwrap().success());
}

#[test]
fn down_exits_1_when_the_lab_does_not_stop() {
    let data = common::data_dir("admin-stuck");
    std::fs::create_dir_all(&data).unwrap();
    // A "lab" that acknowledges lab.stop but keeps running.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let mut s = s.unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            s.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}\n")
                .unwrap();
        }
    });
    let mut stuck = Command::new("sleep").arg("60").spawn().unwrap();
    let ctl = json!({"port": port, "pid": stuck.id(), "token": "ab".repeat(32)});
    std::fs::write(ControlFile::path(&data), ctl.to_string()).unwrap();
    let out = Command::new(BIN)
        .args(["down", "--timeout-secs", "1", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    stuck.kill().unwrap();
    stuck.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has not stopped"), "{err}");
}
