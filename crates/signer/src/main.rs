//! # custos-signer
//!
//! The binary for the air-gapped signing laptop. It links only offline crates (checked by
//! `scripts/check-airgap.sh` on the tree and on the release binary), disables core dumps before
//! anything else, and reads secrets only from a no-echo prompt, a file or stdin.
//!
//! Exit codes: 0 ok, 1 refusal (the signer would not sign), 2 usage or input error,
//! 3 environment error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use clap::Parser;

mod hardening;

/// custos-signer — offline key generation and signing for custody of seized cryptocurrency.
///
/// Runs on an air-gapped machine. It has no network code at all; data moves in and out as
/// files (or QR codes). Secrets are read from a no-echo prompt, a file or stdin, never from the
/// command line.
#[derive(Debug, Parser)]
#[command(name = "custos-signer", version, about, long_about)]
struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less log output.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
}

fn main() -> ExitCode {
    // Before anything can hold a secret: no core dumps.
    if let Err(e) = hardening::disable_core_dumps() {
        eprintln!("custos-signer: cannot disable core dumps: {e}");
        return ExitCode::from(3);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let _ = (cli.verbose, cli.quiet, cli.json);
    ExitCode::SUCCESS
}
