//! # custos-testkit
//!
//! Test support shared by the integration tests of `custos-cli`, `custos-signer` and the
//! end-to-end `custos-tests` crate (as BDK's `testenv`): commands for the real binaries with a
//! clean environment, running them and capturing their output, scratch directories, the
//! fixture paths, a case made through the CLI, a TLS relay with a self-signed certificate in
//! front of a plain Electrum server, a `custos-lab up` process that is killed on drop, a
//! `custos case serve` process with a plain HTTP client, and the custody path through the real
//! binaries (keyholder keys from fixed test entropy, the ceremony, authority records, the sweep
//! of the lab's seized wallet into custody), and the PySpark jobs of `scripts/spark/` in local
//! mode ([`spark`]).
//!
//! Not for: library or binary code. It is a dev-dependency only (`publish = false`); it
//! panics on failure, as test code does, and depends on no custos crate so any test can use
//! it (it drives the custos binaries instead).
//!
//! Features: none.
//!
//! The binaries' paths are known only to the test crate that cargo builds them for
//! (`CARGO_BIN_EXE_<name>`), so the macros [`custos_bin!`], [`signer_bin!`] and
//! [`signer_next_to_custos!`] expand there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod custody;
pub mod lab;
pub mod serve;
pub mod socks;
pub mod spark;
pub mod tls;

/// `custos` with a clean environment: no case, server or examiner from the caller's shell, no
/// progress bar, errors only in the log. `bin` is `env!("CARGO_BIN_EXE_custos")` (see
/// [`custos_bin!`]).
pub fn custos_command(bin: &str) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("CUSTOS_CASE")
        .env_remove("CUSTOS_SERVER")
        .env_remove("CUSTOS_EXAMINER")
        .env("CUSTOS_NO_PROGRESS", "1")
        .env("CUSTOS_LOG", "error");
    c
}

/// `custos-signer` with errors only in the log. `bin` is `env!("CARGO_BIN_EXE_custos-signer")`
/// (see [`signer_bin!`]).
pub fn signer_command(bin: impl AsRef<Path>) -> Command {
    let mut c = Command::new(bin.as_ref());
    c.env("RUST_LOG", "error");
    c
}

/// `custos-signer` from the directory of the `custos` binary at `custos_bin` (it belongs to
/// another package, so cargo does not build it for `custos`'s tests: see [`workspace_bin`]).
pub fn signer_next_to(custos_bin: &str) -> Command {
    let bin = workspace_bin("custos-signer", "custos-signer");
    assert_eq!(
        bin.parent(),
        Path::new(custos_bin).parent(),
        "custos and custos-signer come from one target directory"
    );
    signer_command(bin)
}

/// Set by scripts/test.sh once `cargo build --workspace --all-targets` has built every binary of
/// the workspace: [`workspace_bin`] then takes them as they are.
pub const WORKSPACE_BUILT: &str = "CUSTOS_WORKSPACE_BUILT";

/// The binary `name` of workspace package `package`, next to the calling test's executable
/// (`target/<profile>/`). Cargo builds only the calling package's own binaries for its tests, so
/// another package's is brought up to date with `cargo build -p PACKAGE` first — unless
/// `CUSTOS_WORKSPACE_BUILT=1` says the whole workspace was just built (scripts/test.sh): a nested
/// `cargo build -p` resolves features for that one package, not the workspace, and would rebuild
/// its dependency tree a second time in a cold run. The build runs once per binary and process.
pub fn workspace_bin(name: &str, package: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf();
    if std::env::var(WORKSPACE_BUILT).as_deref() == Ok("1") {
        let bin = dir.join(name);
        assert!(
            bin.is_file(),
            "{WORKSPACE_BUILT}=1 but {} was not built",
            bin.display()
        );
        return bin;
    }
    // Once per binary and test process: the tree does not change while the tests run.
    static BROUGHT_UP: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = BROUGHT_UP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !done.iter().any(|n| n == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", package, "--bin", name])
            .status()
            .unwrap();
        assert!(st.success(), "cannot build {name} of {package}");
        done.push(name.to_string());
    }
    dir.join(name)
}

/// A [`Command`] for the `custos` binary of the calling package's tests.
#[macro_export]
macro_rules! custos_bin {
    () => {
        $crate::custos_command(env!("CARGO_BIN_EXE_custos"))
    };
}

/// A [`Command`] for the `custos-signer` binary of the calling package's tests.
#[macro_export]
macro_rules! signer_bin {
    () => {
        $crate::signer_command(env!("CARGO_BIN_EXE_custos-signer"))
    };
}

/// A [`Command`] for `custos-signer` next to the calling package's `custos` binary.
#[macro_export]
macro_rules! signer_next_to_custos {
    () => {
        $crate::signer_next_to(env!("CARGO_BIN_EXE_custos"))
    };
}

/// Runs a command to its end with no stdin; returns (exit code or -1, stdout, stderr).
pub fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.stdin(Stdio::null()).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs a command, asserts it exits 0 (printing the command and both streams if not), returns
/// its stdout.
pub fn ok(c: &mut Command) -> String {
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{c:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Runs a command with `stdin` written to its standard input (then closed; an empty input
/// when `None`); returns (exit code or -1, stdout, stderr).
pub fn run_in(c: &mut Command, stdin: Option<&str>) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// [`run_in`] with `input` on stdin.
pub fn run_with_stdin(c: &mut Command, input: &str) -> (i32, String, String) {
    run_in(c, Some(input))
}

/// Creates a regtest case at `dir` through `custos case new` (examiner `tester`), asserting
/// success. `custos` is a fresh command from [`custos_bin!`].
pub fn new_case(custos: Command, dir: &Path, case_id: &str) {
    new_case_by(custos, dir, case_id, "tester");
}

/// [`new_case`] with the examiner named.
pub fn new_case_by(mut custos: Command, dir: &Path, case_id: &str, examiner: &str) {
    let (code, _, err) = run(custos.args([
        "--network",
        "regtest",
        "case",
        "new",
        dir.to_str().unwrap(),
        "--case-id",
        case_id,
        "--examiner",
        examiner,
    ]));
    assert_eq!(code, 0, "{err}");
}

/// A fresh, empty directory `custos-<prefix>-<name>-<pid>` in the system's temp directory.
pub fn scratch(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("custos-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The workspace's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A PSBT from `fixtures/psbt/interop/` (made by Bitcoin Core, embit and Electrum).
pub fn interop(name: &str) -> PathBuf {
    fixtures().join("psbt/interop").join(name)
}

/// A live dependency a test needs is missing: a test failure when `CUSTOS_REQUIRE_LIVE=1` (CI,
/// where a live check must never be skipped silently), otherwise the skip said on stderr.
pub fn live_missing(what: &str) {
    assert!(
        std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() != Ok("1"),
        "{what} not available and CUSTOS_REQUIRE_LIVE=1"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{what} not available: skipping");
    }
}

/// `available`, after [`live_missing`] when it is not: `if !live(Anvil::available(), "anvil")`.
pub fn live(available: bool, what: &str) -> bool {
    if !available {
        live_missing(what);
    }
    available
}

/// The program at `path` when it is a file, else `None` after [`live_missing`].
pub fn live_program(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        return Some(p);
    }
    live_missing(path);
    None
}

/// The stdout lines of `python3 -c script args…` (an independent check in Python: embit,
/// bip-utils …), or `None` after [`live_missing`] when python3 or the module the script imports
/// is missing or the script fails.
pub fn python_lines(script: &str, args: &[&str], what: &str) -> Option<Vec<String>> {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output();
    match o {
        Ok(o) if o.status.success() => Some(
            String::from_utf8(o.stdout)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        other => {
            live_missing(&format!("python3 with {what} ({other:?})"));
            None
        }
    }
}

/// A path as `&str` for an argument list.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_exit_code_and_both_streams() {
        let (code, out, err) =
            run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!((code, out.as_str(), err.as_str()), (3, "out\n", "err\n"));
    }

    #[test]
    fn run_in_feeds_stdin_and_closes_it() {
        let (code, out, _) = run_in(&mut Command::new("cat"), Some("seized words"));
        assert_eq!((code, out.as_str()), (0, "seized words"));
    }

    #[test]
    fn scratch_is_fresh_and_interop_fixtures_exist() {
        let d = scratch("testkit", "fresh");
        std::fs::write(d.join("x"), "1").unwrap();
        let d = scratch("testkit", "fresh");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        assert!(fixtures().join("lab").is_dir());
    }
}
