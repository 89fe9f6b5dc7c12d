//! End-to-end tests for custos: they run the real `custos`, `custos-signer` and `custos-lab`
//! binaries (built by cargo for this workspace; `scripts/test.sh` builds them before testing)
//! against the lab chain. The tests live in `tests/tests/`; this library holds their helpers.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// Path of a workspace binary next to the running test executable (`target/<profile>/NAME`).
///
/// # Panics
/// When the binary has not been built (run `cargo build --workspace --bins` first).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/<test>  ->  target/debug/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "binary {} not built; run `cargo build --workspace --bins` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Runs a binary with arguments and optional stdin; returns its output.
pub fn run(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(bin(name));
    cmd.args(args)
        .env_remove("CUSTOS_CASE")
        .env_remove("CUSTOS_NETWORK")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(data) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(data)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
