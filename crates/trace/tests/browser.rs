//! The HTML view in a real browser: Debian's chromium, headless, renders the page of a small
//! trace (partial, labelled, with a change call) without a console error, and its DOM holds the
//! labels and amounts. A planted script error proves the console check can fail.
//!
//! Skipped (with a message) when chromium is not installed, unless `CUSTOS_REQUIRE_LIVE=1`.
//! Set `CUSTOS_SCREENSHOT_DIR` to keep a copy of the page and its screenshot for a human to look at.

// Skipping an optional check says so on stderr.
#![allow(clippy::print_stderr)]

#[path = "export_fixture.rs"]
mod export_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use custos_trace::export::html;
use export_fixture::{fixture, peel_chain};

/// Chromium at /usr/bin/chromium or on PATH; `None` (after saying so) when the test should skip.
fn chromium() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/bin/chromium");
    let found = if fixed.is_file() {
        Some(fixed)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("chromium"))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        assert!(
            std::env::var("CUSTOS_REQUIRE_LIVE").as_deref() != Ok("1"),
            "chromium not found and CUSTOS_REQUIRE_LIVE=1 (scripts/install-deps.sh installs it)"
        );
        eprintln!("chromium not found: skipping the browser test");
    }
    found
}

/// What one headless run produced.
struct Run {
    stdout: String,
    stderr: String,
}

impl Run {
    /// Console messages and uncaught errors chromium logged (`--enable-logging=stderr`).
    fn console_errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect()
    }
}

/// Runs headless chromium on `page` with `extra` arguments, killing it after two minutes.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait on chromium") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within two minutes on {}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Run {
        stdout: std::fs::read_to_string(&out_path).expect("read stdout"),
        stderr: std::fs::read_to_string(&err_path).expect("read stderr"),
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn chromium_renders_the_trace_view_without_console_errors() {
    let Some(bin) = chromium() else { return };
    let f = fixture("Kraken");
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("trace.html");
    std::fs::write(&page, html(&f.view)).expect("write page");
    let profile = dir.path().join("profile");

    let shot = dir.path().join("trace.png");
    let run = run_chromium(
        &bin,
        &profile,
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(
        run.console_errors().is_empty(),
        "console: {:?}",
        run.console_errors()
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(png_size(&png), (1400, 900));
    // A blank 1400x900 page compresses to a few kilobytes; a drawn graph with text does not.
    assert!(png.len() > 30_000, "screenshot only {} bytes", png.len());
    if let Some(keep) = std::env::var_os("CUSTOS_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&keep).join("trace.png")).expect("copy screenshot");
        std::fs::copy(&page, Path::new(&keep).join("trace.html")).expect("copy page");
    }

    let run = run_chromium(&bin, &profile, &page, &["--dump-dom"]);
    assert!(
        run.console_errors().is_empty(),
        "console: {:?}",
        run.console_errors()
    );
    let dom = &run.stdout;
    for text in [
        "PARTIAL TRACE",
        &format!("{}:1 spent by {}", f.t2, f.spender),
        "Kraken (exchange)",
        "cluster c1",
        "1.50000000",
        "0.49990000",
        "change back to the sender",
        "same script type, non-round amount",
        "80%",
        "trace stopped: exchange deposit",
        "<td>exchange deposit</td>",
    ] {
        assert!(dom.contains(text), "dumped DOM lacks {text}");
    }
    // The inline script ran to its end (it records how many elements it wired up).
    let wired = dom
        .split("data-interactive=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse::<u32>().ok());
    assert!(
        wired.is_some_and(|n| n > 10),
        "script did not finish: {wired:?}"
    );
}

#[test]
fn console_check_catches_a_planted_script_error() {
    let Some(bin) = chromium() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("broken.html");
    let broken = html(&fixture("Kraken").view).replace(
        "</body>",
        "<script>undefinedFunctionPlantedByTheTest();</script></body>",
    );
    std::fs::write(&page, broken).expect("write page");
    let run = run_chromium(&bin, &dir.path().join("profile"), &page, &["--dump-dom"]);
    let errors = run.console_errors();
    assert!(
        errors.iter().any(|l| l.contains("Uncaught ReferenceError")
            && l.contains("undefinedFunctionPlantedByTheTest")),
        "planted error not seen in: {}",
        run.stderr
    );
}

#[test]
fn chromium_renders_a_250_transaction_trace() {
    let Some(bin) = chromium() else { return };
    let view = peel_chain(250);
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("peel.html");
    std::fs::write(&page, html(&view)).expect("write page");
    let shot = dir.path().join("peel.png");
    let profile = dir.path().join("profile");
    let run = run_chromium(
        &bin,
        &profile,
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert!(
        run.console_errors().is_empty(),
        "console: {:?}",
        run.console_errors()
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(png_size(&png), (1400, 900));
    if let Some(keep) = std::env::var_os("CUSTOS_SCREENSHOT_DIR") {
        std::fs::copy(&shot, Path::new(&keep).join("peel.png")).expect("copy screenshot");
    }
    let run = run_chromium(&bin, &profile, &page, &["--dump-dom"]);
    assert!(
        run.console_errors().is_empty(),
        "console: {:?}",
        run.console_errors()
    );
    let last = view.graph.topological().last().copied().expect("non-empty");
    assert!(run.stdout.contains(&format!("transaction {last}")));
    assert!(run.stdout.contains("merchant 245 (merchant)"));
}
