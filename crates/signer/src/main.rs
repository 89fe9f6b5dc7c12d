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
use custos_core::exit::{Classify, ExitClass};

#[macro_use]
mod out;
mod cmd_ceremony;
mod cmd_disposal;
mod cmd_eth;
mod cmd_key;
mod cmd_material;
mod cmd_sign;
mod hardening;
mod secrets;

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
    #[command(subcommand)]
    command: Option<Command>,
}

/// Signer commands. Each lives in its own module `cmd_<name>.rs`.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Keyholder keys for the custody ceremony: generate (with dice), import.
    #[command(subcommand)]
    Key(cmd_key::KeyCmd),
    /// Custody ceremony: verify the assembled wallet against my key.
    #[command(subcommand)]
    Ceremony(cmd_ceremony::CeremonyCmd),
    /// Seized material: classify it, turn it into a watch-only file.
    #[command(subcommand)]
    Material(cmd_material::MaterialCmd),
    /// Verify a PSBT against the registered custody policy, then sign it with seized material
    /// or a keyholder's key (writes `<name>-signed.psbt`).
    Sign(cmd_sign::SignArgs),
    /// Ethereum: check and sign an unsigned-transaction set, or a Safe transaction.
    #[command(subcommand)]
    Eth(cmd_eth::EthCmd),
    /// Disposal orders: an authority signs an order (BIP-322), or prints its address.
    #[command(subcommand)]
    Disposal(cmd_disposal::DisposalCmd),
}

/// Exit codes of the signer, taken from the one mapping in [`custos_core::exit`] (ADR 0005).
mod exit {
    use custos_core::exit::ExitClass;
    /// Success.
    pub(crate) const OK: u8 = custos_core::exit::OK;
    /// Refusal: the signer would not sign / verify failed.
    pub(crate) const REFUSED: u8 = ExitClass::Refusal.code();
    /// Usage or input error.
    pub(crate) const INPUT: u8 = ExitClass::Input.code();
    /// Environment error.
    pub(crate) const ENV: u8 = ExitClass::Environment.code();
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Hardens the process, parses the command line, runs the command and maps its outcome to the
/// exit code: the one place where `custos-signer` ends.
fn main() -> ExitCode {
    // Before anything can hold a secret: no core dumps.
    if let Err(e) = hardening::disable_core_dumps() {
        eprintln!("custos-signer: cannot disable core dumps: {e}");
        return ExitCode::from(exit::ENV);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::OK
                }
                _ => exit::INPUT,
            };
            if e.print().is_err() {
                return ExitCode::from(exit::ENV);
            }
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("custos-signer: error: {e:#}");
            ExitCode::from(class_of(&e).code())
        }
    }
}

/// Runs one parsed command. `Ok` carries the code of an outcome the command has already
/// reported (0, or 1 for a refusal it explained).
fn run(cli: Cli) -> anyhow::Result<u8> {
    init_logging(cli.verbose, cli.quiet);
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        Cli::command().print_help()?;
        return Ok(exit::INPUT);
    };
    match command {
        Command::Key(c) => cmd_key::run(&c, cli.json),
        Command::Ceremony(c) => cmd_ceremony::run(&c, cli.json),
        Command::Material(c) => cmd_material::run(&c, cli.json),
        Command::Sign(a) => cmd_sign::run(&a, cli.json),
        Command::Eth(c) => cmd_eth::run(&c, cli.json),
        Command::Disposal(c) => cmd_disposal::run(&c, cli.json),
    }
}

/// The exit class of an error: the first error in its chain that knows its class decides;
/// anything unclassified is an input error (bad arguments, malformed files).
fn class_of(e: &anyhow::Error) -> ExitClass {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<out::StdoutError>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_core::file::FileError>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_disposal::Error>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_disposal::order::TimeError>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_ceremony::Error>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_tx::Error>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_keys::Error>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_eth::Error>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<custos_keys::eth::EthKeyError>() {
            return c.exit_class();
        }
        if let Some(c) = cause.downcast_ref::<std::io::Error>() {
            return c.exit_class();
        }
    }
    ExitClass::Input
}

#[cfg(test)]
mod cli_definition_tests {
    use clap::CommandFactory;

    /// Catches clashing argument names in every subcommand, which clap otherwise reports only
    /// when that subcommand is run.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
