//! Shared command context: global options, exit codes, the open case.

use std::path::PathBuf;

use custos_case::{Case, NewArtifact};
use custos_core::{exit::Classify, ledger::Event, ledger::EventDraft, Network};

/// Exit codes (documented in README.md, `custos --help` and ADR 0005), taken from the one
/// mapping in [`custos_core::exit`].
pub(crate) mod exit {
    use custos_core::exit::ExitClass;
    /// Success.
    pub(crate) const OK: u8 = custos_core::exit::OK;
    /// A finding or a refusal (verification failed, policy refused, incomplete scan).
    pub(crate) const FINDING: u8 = ExitClass::Refusal.code();
    /// Usage or input error (bad arguments, malformed file, not a case).
    pub(crate) const INPUT: u8 = ExitClass::Input.code();
    /// Environment or network error (I/O, server unreachable).
    pub(crate) const ENV: u8 = ExitClass::Environment.code();
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    /// Exit code.
    pub code: u8,
    /// The error (its chain is printed).
    pub error: anyhow::Error,
}

impl Failure {
    /// Usage or input error (exit 2).
    pub(crate) fn input(e: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: exit::INPUT,
            error: e.into(),
        }
    }
    /// Environment or network error (exit 3).
    pub(crate) fn env(e: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: exit::ENV,
            error: e.into(),
        }
    }
    /// A finding or refusal (exit 1).
    pub(crate) fn finding(e: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: exit::FINDING,
            error: e.into(),
        }
    }
}

impl Failure {
    /// An error that knows its own class (every library error, the file reader, stdout).
    pub(crate) fn classified<E>(e: E) -> Failure
    where
        E: Classify + std::error::Error + Send + Sync + 'static,
    {
        Failure {
            code: e.exit_class().code(),
            error: e.into(),
        }
    }
}

impl<E> From<E> for Failure
where
    E: Classify + std::error::Error + Send + Sync + 'static,
{
    fn from(e: E) -> Self {
        Failure::classified(e)
    }
}

/// Result of a command.
pub(crate) type CmdResult<T = ()> = Result<T, Failure>;

/// Global options every command sees.
#[derive(Debug, Clone)]
pub(crate) struct App {
    /// `--case DIR`.
    pub case_dir: Option<PathBuf>,
    /// `--case-id`: the case the user means to work on.
    pub expect_case_id: Option<String>,
    /// `--network`.
    pub network: Network,
    /// Whether `--network` was given explicitly (otherwise the case's network wins).
    pub network_explicit: bool,
    /// `--network ethereum` was given.
    pub ethereum: bool,
    /// `--json`.
    pub json: bool,
    /// `--examiner` / `CUSTOS_EXAMINER`: who runs this command (defaults to the case's examiner).
    pub examiner: Option<String>,
}

impl App {
    /// Opens the case if `--case` was given.
    pub(crate) fn open_case(&self) -> CmdResult<Option<Case>> {
        match &self.case_dir {
            None => Ok(None),
            Some(dir) => {
                let case = match &self.expect_case_id {
                    Some(id) => Case::open_expecting(dir, id)?,
                    None => Case::open(dir)?,
                };
                if self.network_explicit && case.info().network != self.network {
                    return Err(Failure::input(anyhow::anyhow!(
                        "case {} works on {}, but --network {} was given",
                        case.info().case_id,
                        case.info().network,
                        self.network
                    )));
                }
                Ok(Some(case))
            }
        }
    }

    /// Opens the case, failing when `--case` was not given.
    pub(crate) fn require_case(&self) -> CmdResult<Case> {
        self.open_case()?.ok_or_else(|| {
            Failure::input(anyhow::anyhow!(
                "this command needs a case: pass --case DIR (or set CUSTOS_CASE)"
            ))
        })
    }

    /// The network in effect: the case's, else `--network`.
    #[allow(dead_code)]
    pub(crate) fn network(&self, case: Option<&Case>) -> Network {
        case.map(|c| c.info().network).unwrap_or(self.network)
    }

    /// Appends a ledger event to the case (if one is open).
    pub(crate) fn record(
        &self,
        case: Option<&mut Case>,
        draft: EventDraft,
        artifacts: Vec<NewArtifact>,
    ) -> CmdResult<Option<Event>> {
        let Some(case) = case else { return Ok(None) };
        let examiner = self
            .examiner
            .clone()
            .unwrap_or_else(|| case.info().examiner.clone());
        let ev = case.append(&examiner, &command_line(), draft, artifacts)?;
        Ok(Some(ev))
    }
}

/// The command line as recorded in the ledger. custos never takes a secret as an argument
/// (secrets come from prompts, files or stdin), so the arguments are recorded as given.
pub(crate) fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let base = if i == 0 {
            std::path::Path::new(a)
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| a.clone())
        } else {
            a.clone()
        };
        if base.is_empty() || base.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            out.push('\'');
            out.push_str(&base.replace('\'', "'\\''"));
            out.push('\'');
        } else {
            out.push_str(&base);
        }
    }
    out
}

/// Prints a JSON value to stdout (pretty).
pub(crate) fn print_json(v: &impl serde::Serialize) -> CmdResult {
    let s = serde_json::to_string_pretty(v).map_err(Failure::env)?;
    outln!("{s}")?;
    Ok(())
}
