//! `custos-lab`: run the training chain.
//!
//! ```text
//! custos-lab up --scenario seized-basic [--port P] [--data DIR] [--latency-ms N] [--automine]
//! custos-lab up --scenario eth-seized        # Ethereum scenario: anvil; prints the RPC URL
//! custos-lab mine N --data DIR              # N <= 1000
//! custos-lab status (--data DIR | --port P) [--json]
//! custos-lab down --data DIR [--timeout-secs S]
//! custos-lab truth --scenario NAME [--variant ID] # prints the scenario's (or a student
//!     [--transactions FILE]                  # variant's) ground-truth.toml, writes transactions.jsonl
//! custos-lab variant --scenario NAME --student ID --out DIR   # a student's own copy
//! custos-lab grade --scenario NAME [--student ID [--class DIR]] [--truth FILE] CASE_DIR_OR_EXPORT [--json] [--html OUT]
//! custos-lab class up --students N --scenario NAME --dir DIR [--shared]
//! custos-lab class report --dir DIR --cases CASES_DIR [--csv OUT] [--html OUT]
//! ```
//! `grade` (custos-train) exits 0 when the case was graded item by item, 1 when it scores zero as
//! a whole (its ledger fails verification, or it is a case of another scenario or variant), 2 for
//! a missing case or export, an unknown scenario or student, an unreadable truth file.
//! Exit codes, through the one mapping of every custos binary (`custos_core::exit`, ADR 0005):
//! 0 ok; 1 a finding or refusal (`down` asked the lab to stop but it has not within the
//! timeout, a transaction or block the chain refused, a failed `demo`); 2 usage or input error
//! (a scenario that is missing, malformed or over its size limit, a data directory holding
//! another scenario); 3 environment error (lab unreachable, port in use, kernel).
//!
//! Every file custos-lab reads from outside (scenario, scenario material, ground truth, its own
//! state files) goes through `custos_core::file`'s bounded readers; the limits are
//! `SCENARIO` (4 MiB), `SCENARIO_FILE` (1 MiB), `GROUND_TRUTH` (64 MiB), `LAB_STATE` (64 KiB)
//! and `LAB_MEMPOOL` (64 MiB).
//!
//! `mine` and `down` call admin methods, which need the token from the lab's control file
//! (`DIR/control.json`, mode 0600): they take `--data DIR`. A lab started without `--data`
//! prints the temporary data directory it uses.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use custos_core::exit::{Classify, ExitClass};

/// `println!` that ends the command with exit 3 and a message (through `?` into the caller's
/// error) instead of a panic when stdout is closed or full.
macro_rules! outln {
    () => {
        custos_core::out::write(format_args!(""), true)?
    };
    ($($arg:tt)*) => {
        custos_core::out::write(format_args!($($arg)*), true)?
    };
}

/// `print!` with the same rule as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        custos_core::out::write(format_args!($($arg)*), false)?
    };
}

mod class_up;
mod demo;
use custos_lab::{control_call, ControlFile, Error, Lab, LabConfig, Scenario, MAX_MINE_PER_CALL};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "custos-lab",
    version,
    about = "Local regtest training chain served over the Electrum protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build (or resume) a scenario's chain and serve it until `down` or Ctrl-C.
    Up(UpArgs),
    /// Mine N blocks on a running lab.
    Mine {
        /// Number of blocks (at most 1000 per call).
        #[arg(value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_MINE_PER_CALL)))]
        n: u32,
        /// Data directory of the running lab (its control file holds the admin token).
        #[arg(long)]
        data: PathBuf,
    },
    /// Show a running lab's tip and mempool.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running lab and wait until it has stopped.
    Down {
        /// Data directory of the running lab (its control file holds the admin token).
        #[arg(long)]
        data: PathBuf,
        /// How long to wait for the lab to stop before reporting failure (exit 1).
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Build a scenario in a temporary directory and print its ground truth (TOML).
    Truth {
        /// Scenario name in fixtures/lab or a path.
        #[arg(long)]
        scenario: String,
        /// The ground truth of this student's variant of the scenario.
        #[arg(long, value_name = "ID")]
        variant: Option<String>,
        /// Also write every non-coinbase transaction of the chain (JSON lines) to this file
        /// (tracing scenarios: `transactions.jsonl`).
        #[arg(long)]
        transactions: Option<PathBuf>,
    },
    /// Run the whole custody path end to end on a fresh lab chain (the README's main command):
    /// seized material, inventory, key ceremony, sweep, offline signing, broadcast, custody
    /// balance, verified case and HTML report.
    Demo(demo::DemoArgs),
    /// Grade a student's case (case directory or `custos case export`) against the exercise of
    /// a scenario: points and a one-line reason per item (custos-train).
    Grade(GradeArgs),
    /// Write a student's own copy of a scenario (scenario.toml, fresh material, handout): other
    /// keys, addresses and amounts, the same story. The ground truth stays with the instructor
    /// (`truth --variant ID`).
    Variant {
        /// Scenario name in fixtures/lab or a path.
        #[arg(long)]
        scenario: String,
        /// Student id (letters, digits, '-', '_'; at most 64).
        #[arg(long)]
        student: String,
        /// New directory to write the copy to (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run a class: one lab per student, and the class report.
    #[command(subcommand)]
    Class(ClassCommand),
}

#[derive(Debug, Subcommand)]
enum ClassCommand {
    /// Write every student's material folder and the roster (class.toml), start one lab per
    /// student on their variant (or one shared chain), print each student's connection line and
    /// serve until Ctrl-C/SIGTERM.
    Up {
        /// Number of students (ids s01, s02, ...).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=200))]
        students: u16,
        /// Exercise scenario name in fixtures/lab or a path.
        #[arg(long)]
        scenario: String,
        /// Class directory (created; must not hold a class already).
        #[arg(long)]
        dir: PathBuf,
        /// One chain for the whole class (every student gets the scenario's own material).
        #[arg(long)]
        shared: bool,
    },
    /// Grade every student's case (CASES/<student-id>, a case directory or export) into one
    /// table; a student without a case gets the row "no case".
    Report {
        /// Class directory (holds class.toml).
        #[arg(long)]
        dir: PathBuf,
        /// Directory of the students' cases, one per student id.
        #[arg(long)]
        cases: PathBuf,
        /// Also write the table as CSV here (never overwritten).
        #[arg(long, value_name = "OUT")]
        csv: Option<PathBuf>,
        /// Also write the table as HTML here (never overwritten).
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct GradeArgs {
    /// Exercise scenario name in fixtures/lab or a path (its exercise.toml lists the items).
    #[arg(long)]
    scenario: String,
    /// Grade against this student's variant of the scenario (the id must be on the class
    /// roster).
    #[arg(long)]
    student: Option<String>,
    /// Class directory whose roster (class.toml) lists the student (default: the current
    /// directory).
    #[arg(long, requires = "student", default_value = ".")]
    class: PathBuf,
    /// Ground truth (TOML from `custos-lab truth`) instead of building the scenario.
    #[arg(long, conflicts_with = "student")]
    truth: Option<PathBuf>,
    /// The student's case directory or case export.
    case: PathBuf,
    /// Print the score sheet as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the score sheet as HTML here (never overwritten).
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
}

/// `custos-lab grade`: read the case first (a missing one fails before any chain is built), then
/// the ground truth, then grade. Errors carry their exit class.
fn grade(a: &GradeArgs) -> Result<ExitCode, (ExitClass, anyhow::Error)> {
    fn fail<E: Classify + std::error::Error + Send + Sync + 'static>(
        e: E,
    ) -> (ExitClass, anyhow::Error) {
        (e.exit_class(), anyhow::Error::from(e))
    }
    let record = custos_train::CaseRecord::load(&a.case).map_err(fail)?;
    let scenario = Scenario::resolve(&a.scenario).map_err(fail)?;
    let exercise = custos_train::Exercise::load(&scenario.dir).map_err(fail)?;
    let truth_text = match (&a.truth, &a.student) {
        (Some(file), _) => {
            custos_core::file::read_text(file, custos_core::file::GROUND_TRUTH).map_err(fail)?
        }
        // A student is known when the class roster lists them; the case is graded against
        // their variant (or the scenario itself in a shared class), built afresh.
        (None, Some(id)) => {
            let roster = custos_lab::class::Roster::load(&a.class).map_err(fail)?;
            if roster.scenario_name != scenario.name {
                return Err((
                    ExitClass::Input,
                    anyhow::anyhow!(
                        "the class roster {} is for scenario {}, not {}",
                        a.class.join(custos_lab::class::ROSTER_FILE).display(),
                        roster.scenario_name,
                        scenario.name
                    ),
                ));
            }
            roster.student(id, &a.class).map_err(fail)?;
            let sc = roster.scenario_of(id).map_err(fail)?;
            let lab = Lab::start_scenario(sc, LabConfig::scenario(&a.scenario)).map_err(fail)?;
            lab.ground_truth().to_toml().map_err(fail)?
        }
        (None, None) => {
            let lab = Lab::start(LabConfig::scenario(&a.scenario)).map_err(fail)?;
            lab.ground_truth().to_toml().map_err(fail)?
        }
    };
    let truth = custos_train::Truth::from_toml(&truth_text).map_err(fail)?;
    let sheet = custos_train::grade_record(&record, &truth, &exercise);
    if let Some(out) = &a.html {
        custos_core::file::write_new(out, sheet.to_html().as_bytes()).map_err(fail)?;
    }
    let text = if a.json {
        sheet.to_json() + "\n"
    } else {
        sheet.to_text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| (ExitClass::Environment, anyhow::Error::from(e)))?;
    Ok(match sheet.verdict {
        custos_train::Verdict::Graded => ExitCode::SUCCESS,
        _ => ExitCode::from(ExitClass::Refusal.code()),
    })
}

#[derive(Debug, Args)]
struct UpArgs {
    /// Scenario name in fixtures/lab or a path.
    #[arg(long)]
    scenario: String,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Keep the chain here so the lab survives a restart.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Delay every response by N ms (slow link, Tor).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Mine a block after every accepted broadcast.
    #[arg(long)]
    automine: bool,
    /// Minimum relay fee in sat per 1000 vB.
    #[arg(long, default_value_t = 100)]
    min_relay_sat_per_kvb: u64,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
struct Target {
    /// Data directory of the running lab (reads its control file).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Port of the running lab on 127.0.0.1.
    #[arg(long)]
    port: Option<u16>,
}

impl Target {
    fn addr(&self) -> Result<SocketAddr, Error> {
        match (&self.data, self.port) {
            (_, Some(p)) => Ok(SocketAddr::from(([127, 0, 0, 1], p))),
            (Some(d), None) => Ok(ControlFile::read(d)?.addr()),
            (None, None) => Err(Error::Control("give --data DIR or --port P".into())),
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

#[allow(unsafe_code)]
mod signals {
    extern "C" fn on_signal(_: libc::c_int) {
        super::STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// SIGINT and SIGTERM set STOP so the lab shuts down cleanly (kernel state flushed).
    pub(super) fn install() {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }
}

/// Whether process `pid` has ended (gone, or a zombie its parent has not reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Prints what `up` started. Whoever started us may close our stdout early: a failed write must
/// not stop the lab, so the result is ignored.
fn announce(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// `custos-lab up` of an Ethereum scenario: anvil until `down` or a signal.
fn up_ethereum(a: &UpArgs) -> Result<ExitCode, Error> {
    signals::install();
    let lab = custos_lab::eth::EthLab::start(&a.scenario)?;
    let t = lab.truth();
    let text = format!(
        "custos-lab: ethereum scenario {} at block {} {}\nethereum rpc: {}\nchain id: {}\n",
        a.scenario,
        t.block_number,
        t.block_hash,
        lab.rpc_url(),
        t.chain_id
    );
    announce(&text);
    lab.wait(&STOP);
    drop(lab);
    eprintln!("custos-lab: stopped");
    Ok(ExitCode::SUCCESS)
}

/// `custos-lab up` of a Bitcoin scenario: the lab chain and its Electrum server until `down` or
/// a signal.
fn up_bitcoin(a: &UpArgs) -> Result<ExitCode, Error> {
    signals::install();
    let cfg = LabConfig {
        scenario: a.scenario.clone(),
        port: a.port,
        data_dir: a.data.clone(),
        latency_ms: a.latency_ms,
        automine: a.automine,
        min_relay_sat_per_kvb: a.min_relay_sat_per_kvb,
        limits: custos_lab::ConnLimits::default(),
    };
    let lab = Lab::start(cfg)?;
    let mut text = format!(
        "custos-lab: scenario {} at height {}\nelectrum server: {}\n",
        a.scenario,
        lab.tip_height(),
        lab.url()
    );
    text.push_str(&format!("data: {}\n", lab.data_dir().display()));
    if let Ok(sc) = Scenario::resolve(&a.scenario) {
        if let Some(h) = sc.handout_text() {
            text.push_str(&format!("\n{h}\n"));
        }
    }
    announce(&text);
    lab.wait(&STOP);
    drop(lab);
    eprintln!("custos-lab: stopped");
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Up(a) if custos_lab::eth::EthScenario::is_ethereum(&a.scenario) => up_ethereum(&a),
        Command::Up(a) => up_bitcoin(&a),
        Command::Mine { n, data } => {
            let r = ControlFile::read(&data)?.admin_call("lab.mine", &[json!(n)])?;
            if let Some(a) = r.as_array() {
                for h in a {
                    outln!("{}", h.as_str().unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { target, json } => {
            let r = control_call(target.addr()?, "lab.status", json!([]))?;
            if json {
                outln!("{r}");
            } else {
                outln!("scenario: {}", r["scenario"].as_str().unwrap_or_default());
                outln!(
                    "tip: {} {}",
                    r["tip_height"],
                    r["tip_hash"].as_str().unwrap_or_default()
                );
                outln!("mempool: {} transactions", r["mempool_txs"]);
                outln!("min relay fee: {} sat/kvB", r["min_relay_sat_per_kvb"]);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Down { data, timeout_secs } => {
            let ctl = ControlFile::read(&data)?;
            // A lab with --latency-ms closes the connection as it stops, before its delayed
            // answer to lab.stop leaves: a lost answer is no failure if the lab then stops.
            let asked = ctl.admin_call("lab.stop", &[]);
            let deadline = Instant::now() + Duration::from_secs(timeout_secs);
            while !process_gone(ctl.pid) {
                if Instant::now() >= deadline {
                    asked?;
                    eprintln!(
                        "custos-lab: lab (pid {}) asked to stop has not stopped within {timeout_secs} s",
                        ctl.pid
                    );
                    return Ok(ExitCode::from(ExitClass::Refusal.code()));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            outln!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Truth { scenario, .. } if custos_lab::eth::EthScenario::is_ethereum(&scenario) => {
            let lab = custos_lab::eth::EthLab::start(&scenario)?;
            out!("{}", lab.truth().to_toml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Truth {
            scenario,
            variant,
            transactions,
        } => {
            let lab = match &variant {
                Some(id) => Lab::start_scenario(
                    custos_lab::variant::variant_scenario(&scenario, id)?,
                    LabConfig::scenario(&scenario),
                )?,
                None => Lab::start(LabConfig::scenario(&scenario))?,
            };
            let truth = lab.ground_truth();
            if let Some(path) = transactions {
                custos_core::file::write_new(&path, truth.transactions_jsonl()?.as_bytes())?;
            }
            out!("{}", truth.to_toml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Variant {
            scenario,
            student,
            out,
        } => {
            let files = custos_lab::variant::write_variant(&scenario, &student, &out)?;
            outln!(
                "variant {scenario}@{student}: {} files in {}",
                files.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Class(ClassCommand::Up {
            students,
            scenario,
            dir,
            shared,
        }) => {
            signals::install();
            class_up::up(usize::from(students), &scenario, &dir, shared, &STOP)
        }
        Command::Class(ClassCommand::Report {
            dir,
            cases,
            csv,
            html,
        }) => class_up::report(&dir, &cases, csv.as_deref(), html.as_deref()),
        // Handled in main (they report through anyhow).
        Command::Demo(_) | Command::Grade(_) => Ok(ExitCode::SUCCESS),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo prints its own steps; the lab's per-transaction log lines would interleave.
    let default_level = if matches!(cli.command, Command::Demo(_) | Command::Grade(_)) {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colour only on a terminal: lab log files get no escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Command::Demo(a) = &cli.command {
        return match demo::run(a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("custos-lab demo: {e:#}");
                ExitCode::from(ExitClass::Refusal.code())
            }
        };
    }
    if let Command::Grade(a) = &cli.command {
        return grade(a).unwrap_or_else(|(class, e)| {
            eprintln!("custos-lab grade: error: {e:#}");
            ExitCode::from(class.code())
        });
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_class().code();
            // `{:#}` prints the cause chain once (the messages do not repeat their sources).
            eprintln!("custos-lab: error: {:#}", anyhow::Error::from(e));
            ExitCode::from(code)
        }
    }
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
