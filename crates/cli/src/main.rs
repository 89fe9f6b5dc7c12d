//! # custos
//!
//! The online workstation CLI. Thin: it parses arguments, calls the custos libraries, prints
//! results to stdout (`--json` on every command that prints one), logs to stderr, and maps
//! errors to exit codes: 0 ok, 1 finding or refusal, 2 usage or input error, 3 environment or
//! network error. Every state-changing command appends a ledger event when a case is open.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use custos_core::Network;

#[macro_use]
mod out;
mod app;
mod cmd_broadcast;
mod cmd_case;
mod cmd_ceremony;
mod cmd_checkpoint;
mod cmd_custody;
mod cmd_disposal;
mod cmd_index;
mod cmd_inspect;
mod cmd_psbt;
mod cmd_sweep;
mod cmd_trace;
mod cmd_valuation;
mod eth;
mod eth_trace;
mod progress;
mod report;
mod serve;

use app::{exit, App, Failure};

/// custos — technical inspection and custody of seized cryptocurrency.
///
/// Exit codes: 0 ok, 1 finding or refusal, 2 usage or input error, 3 environment or network error.
#[derive(Debug, Parser)]
#[command(name = "custos", version, about, long_about)]
struct Cli {
    /// Case directory (created with `custos case new`); every state-changing command is recorded in it.
    #[arg(long, global = true, env = "CUSTOS_CASE")]
    case: Option<PathBuf>,
    /// Refuse to work on any case but this one (guards against opening the wrong case).
    #[arg(long, global = true, env = "CUSTOS_CASE_ID")]
    expect_case_id: Option<String>,
    /// Network: bitcoin, testnet, testnet4, signet, regtest (default: the case's, else bitcoin),
    /// or ethereum (`custos inspect` of Ethereum material; the chain id comes from the node).
    #[arg(long, global = true, env = "CUSTOS_NETWORK")]
    network: Option<eth::NetworkArg>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Examiner running this command (default: the examiner who opened the case).
    #[arg(long, global = true, env = "CUSTOS_EXAMINER")]
    examiner: Option<String>,
    /// More log output on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr (no progress, no warnings).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Custody key ceremony: assemble the k-of-n wallet, import signer transcripts.
    #[command(subcommand)]
    Ceremony(cmd_ceremony::CeremonyCmd),
    /// Case store: new, log, verify, export.
    #[command(subcommand)]
    Case(cmd_case::CaseCmd),
    /// Discovery scan of public material (watch-only file, xpubs, descriptors, addresses), SPV-verified; `inspect report` renders the inventory.
    Inspect(cmd_inspect::InspectArgs),
    /// Broadcast a finalized transaction (hex or file).
    Broadcast(cmd_broadcast::BroadcastArgs),
    /// Wait until a transaction has N confirmations, checked by SPV.
    Watch(cmd_broadcast::WatchArgs),
    /// Sweep to custody: build unsigned PSBTs spending an inventory to the custody policy.
    #[command(subcommand)]
    Sweep(cmd_sweep::SweepCmd),
    /// Trace coins forward (where they went) or backward (where they came from), SPV-checked,
    /// with taint, heuristics, labels and exposure; `trace view` renders the latest trace.
    #[command(subcommand)]
    Trace(cmd_trace::TraceCmd),
    /// Spend from custody: a PSBT paying addresses (under disposal orders) or a new custody policy.
    #[command(subcommand)]
    Custody(cmd_custody::CustodyCmd),
    /// Disposal orders: new, verify, show.
    #[command(subcommand)]
    Disposal(cmd_disposal::DisposalCmd),
    /// PSBT toolbox after Bitcoin Core's RPCs: decode, analyze, combine, finalize, extract; qr.
    #[command(subcommand)]
    Psbt(cmd_psbt::PsbtCmd),
    /// Chain-wide index: export block files to Parquet for the Spark clustering job, import its
    /// cluster table as the chain-wide cluster source of `custos trace`.
    #[command(subcommand)]
    Index(cmd_index::IndexCmd),
    /// Reserve price, value of the holdings in custody and the 110 % performance bond, from
    /// quote files (Kraken, Coinbase, Bitstamp, CSV) and an ECB FX file; exact decimals.
    Valuation(cmd_valuation::ValuationArgs),
    /// Ethereum: sweep seized accounts to the custody Safe (build, broadcast, watch) and
    /// operate that Safe (deploy, propose, execute).
    #[command(subcommand)]
    Eth(eth::EthCmd),
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "error"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTOS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour only on a terminal: no escape codes in redirected logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
    if quiet {
        progress::silence();
    }
}

/// Report sections contributed by every stage that has something to say about the case.
pub(crate) fn report_sections(
    _case: &custos_case::Case,
) -> Result<Vec<custos_case::report::Section>, Failure> {
    #[allow(unused_mut)]
    let mut sections = Vec::new();
    sections.extend(report::what_was_seized_section(_case)?);
    sections.extend(report::custody_path_section(_case)?);
    sections.extend(cmd_inspect::report_section(_case)?);
    sections.extend(eth::inspect::report_section(_case)?);
    sections.extend(cmd_trace::report_section(_case)?);
    sections.extend(oversight_sections(_case)?);
    Ok(sections)
}

/// The timeline against the 24-hour target, valuation, disposal and signed-checkpoint sections.
fn oversight_sections(
    case: &custos_case::Case,
) -> Result<Vec<custos_case::report::Section>, Failure> {
    use custos_case::timeline;
    let events = case.events()?;
    let mut problems = Vec::new();
    let cps = custos_case::checkpoint::verify(case, &events, &[], &mut problems)?;
    let mut out = vec![timeline::timeline_section(&timeline::build(
        &events,
        chrono::Utc::now(),
    ))];
    out.extend(timeline::valuation_section(&events));
    out.extend(timeline::disposal_section(&events));
    out.extend(timeline::checkpoint_section(&cps));
    Ok(out)
}

/// Parses the command line, runs the command and maps its outcome to the exit code: the one
/// place where `custos` ends (ripgrep's `main`/`run`). Classes come from `custos_core::exit`.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => exit::OK,
                _ => exit::INPUT,
            };
            if e.print().is_err() {
                return ExitCode::from(exit::ENV);
            }
            return ExitCode::from(code);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            eprintln!("custos: error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

/// Runs one parsed command.
fn run(cli: &Cli) -> Result<(), Failure> {
    init_logging(cli.verbose, cli.quiet);
    let app = App {
        case_dir: cli.case.clone(),
        expect_case_id: cli.expect_case_id.clone(),
        network: match cli.network {
            Some(eth::NetworkArg::Bitcoin(n)) => n,
            _ => Network::Bitcoin,
        },
        network_explicit: matches!(cli.network, Some(eth::NetworkArg::Bitcoin(_))),
        ethereum: cli.network == Some(eth::NetworkArg::Ethereum),
        json: cli.json,
        examiner: cli.examiner.clone(),
    };
    match &cli.command {
        Command::Ceremony(c) => cmd_ceremony::run(&app, c),
        Command::Case(c) => cmd_case::run(&app, c),
        Command::Inspect(a) => cmd_inspect::run(&app, a),
        Command::Broadcast(a) => cmd_broadcast::run_broadcast(&app, a),
        Command::Watch(a) => cmd_broadcast::run_watch(&app, a),
        Command::Sweep(c) => cmd_sweep::run(&app, c),
        Command::Psbt(c) => cmd_psbt::run(&app, c),
        Command::Custody(c) => cmd_custody::run(&app, c),
        Command::Disposal(c) => cmd_disposal::run(&app, c),
        Command::Trace(c) => cmd_trace::run(&app, c),
        Command::Valuation(a) => cmd_valuation::run(&app, a),
        Command::Eth(c) => eth::run(&app, c),
        Command::Index(c) => cmd_index::run(&app, c),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Catches clashing argument names (e.g. a subcommand flag shadowing a flattened one) for
    /// every subcommand, which clap otherwise reports only when that subcommand is run.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
