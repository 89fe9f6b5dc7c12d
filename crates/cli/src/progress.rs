//! A plain-text progress line on stderr, rewritten in place on a terminal, one line per update
//! otherwise; off with `-q` ([`silence`]) or when `CUSTOS_NO_PROGRESS` is set. Shared by the
//! long-running commands (inspect, trace); each turns its own progress events into text. No
//! escape codes are written: a carriage return on a terminal, whole lines elsewhere.

use std::{
    io::{IsTerminal, Write},
    sync::atomic::{AtomicBool, Ordering},
};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Turns progress off for the rest of the process (`-q`).
pub(crate) fn silence() {
    QUIET.store(true, Ordering::Relaxed);
}

/// The progress line.
#[derive(Debug)]
pub(crate) struct ProgressLine {
    on: bool,
    tty: bool,
    last_len: usize,
}

impl ProgressLine {
    /// A progress line on stderr.
    pub(crate) fn new() -> Self {
        ProgressLine {
            on: std::env::var_os("CUSTOS_NO_PROGRESS").is_none() && !QUIET.load(Ordering::Relaxed),
            tty: std::io::stderr().is_terminal(),
            last_len: 0,
        }
    }

    /// Whether updates are shown (so callers can skip formatting them).
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Shows `line`.
    pub(crate) fn show(&mut self, line: &str) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr();
        if self.tty {
            let pad = self.last_len.saturating_sub(line.len());
            let _ = write!(err, "\r{line}{}", " ".repeat(pad));
            self.last_len = line.len();
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the line on a terminal.
    pub(crate) fn finish(&mut self) {
        if self.on && self.tty && self.last_len > 0 {
            let _ = writeln!(std::io::stderr());
        }
    }
}
