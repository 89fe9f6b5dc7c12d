//! A `custos-lab up` (or `class up`) process for end-to-end tests that need the lab as a separate process
//! (as a user runs it), killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `custos-lab up`, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct LabProcess(Child);

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `custos-lab up --scenario SCENARIO --data DATA` from the binary at `bin` on a free
/// port and waits (up to 240 s, the slowest scenario build on a loaded machine) until its
/// control file names the port; returns the process and `127.0.0.1:PORT`.
pub fn start_lab(bin: &Path, scenario: &str, data: &Path) -> (LabProcess, String) {
    let child = Command::new(bin)
        .args(["up", "--scenario", scenario, "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("custos-lab starts");
    let lab = LabProcess(child);
    let control = data.join("control.json");
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(text) = std::fs::read_to_string(&control) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let Some(port) = v["port"].as_u64() {
                    return (lab, format!("127.0.0.1:{port}"));
                }
            }
        }
        assert!(Instant::now() < deadline, "the lab did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `custos-lab class up --students N --scenario SCENARIO --dir DIR` from the binary at
/// `bin` (one lab per student on free ports) and waits (up to 240 s) until its roster
/// `DIR/class.toml` is written, which happens once every lab serves. Killed on drop.
pub fn start_class(bin: &Path, scenario: &str, students: u16, dir: &Path) -> LabProcess {
    let child = Command::new(bin)
        .args(["class", "up", "--scenario", scenario, "--students"])
        .arg(students.to_string())
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("custos-lab class up starts");
    let class = LabProcess(child);
    let roster = dir.join("class.toml");
    let deadline = Instant::now() + Duration::from_secs(240);
    while !roster.is_file() {
        assert!(Instant::now() < deadline, "the class did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    class
}
