//! `custos case ...`: create, log, verify and export a case.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Subcommand;
use custos_case::{export, Case};
use custos_core::ids::{CaseId, ExaminerId};
use custos_core::ledger::EventDraft;

use crate::app::{print_json, App, CmdResult, Failure};

/// Case commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CaseCmd {
    /// Create a new case directory with an empty ledger (refuses to overwrite).
    New {
        /// Directory to create (must not exist, or be empty).
        dir: PathBuf,
        /// Case id as assigned by the authority (letters, digits, - _ . /).
        #[arg(long)]
        case_id: String,
        /// Examiner opening the case.
        #[arg(long)]
        examiner: String,
    },
    /// Show the ledger (table, or --json).
    Log,
    /// Recompute the hash chain and every artifact hash; exit 1 naming the first bad seq.
    Verify {
        /// Ledger head hash recorded outside the case (from an export, report or printed log).
        #[arg(long)]
        expect_head: Option<String>,
        /// A checkpoint file kept outside the case (written by `checkpoint`/`countersign --out`);
        /// repeatable. Its head must still be in the ledger and its signatures valid.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
    /// Sign the ledger head (seq, head hash, time) with the examiner's key (BIP-322, P2WPKH).
    /// The first checkpoint registers the examiner key and the supervisor keys given.
    Checkpoint {
        /// Key file: one WIF private key or 64 hex digits (`-` for stdin). Never an argument.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Register a supervisor public key (compressed, hex) who may countersign; repeatable.
        #[arg(long = "supervisor-pubkey", value_name = "HEX")]
        supervisor_pubkeys: Vec<String>,
        /// Register another examiner public key (only with an already registered examiner key).
        #[arg(long = "examiner-pubkey", value_name = "HEX")]
        examiner_pubkeys: Vec<String>,
        /// Also write the signed checkpoint to this file (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Countersign a checkpoint (the latest, or --seq) with a supervisor's registered key.
    Countersign {
        /// Key file: one WIF private key or 64 hex digits (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The checkpoint's ledger seq (default: the latest checkpoint).
        #[arg(long)]
        seq: Option<u64>,
        /// Write the countersigned checkpoint to this file for the supervisor to keep (never
        /// overwritten).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Serve the live, read-only oversight view on 127.0.0.1 (token required).
    Serve(crate::serve::ServeArgs),
    /// Export the ledger as JSONL, every artifact, a manifest and the HTML report into OUT.
    Export {
        /// Output directory (must not exist).
        out: PathBuf,
    },
}

/// Runs a case command.
pub(crate) fn run(app: &App, cmd: &CaseCmd) -> CmdResult {
    match cmd {
        CaseCmd::New {
            dir,
            case_id,
            examiner,
        } => new_case(app, dir, case_id, examiner),
        CaseCmd::Log => log(app),
        CaseCmd::Checkpoint {
            key,
            supervisor_pubkeys,
            examiner_pubkeys,
            out,
        } => crate::cmd_checkpoint::checkpoint(
            app,
            key,
            supervisor_pubkeys,
            examiner_pubkeys,
            out.as_deref(),
        ),
        CaseCmd::Countersign { key, seq, out } => {
            crate::cmd_checkpoint::countersign(app, key, *seq, out.as_deref())
        }
        CaseCmd::Serve(a) => crate::serve::run(app, a),
        CaseCmd::Verify {
            expect_head,
            checkpoints,
        } => verify(app, expect_head.as_deref(), checkpoints),
        CaseCmd::Export { out } => export_case(app, out),
    }
}

/// `case new`: creates the case directory and its ledger.
fn new_case(app: &App, dir: &Path, case_id: &str, examiner: &str) -> CmdResult {
    let id = CaseId::new(case_id).map_err(Failure::input)?;
    let ex = ExaminerId::new(examiner).map_err(Failure::input)?;
    let case = Case::create(dir, &id, &ex, app.network, &crate::app::command_line())?;
    let (seq, head) = case.head()?;
    if app.json {
        print_json(&serde_json::json!({
            "case_dir": dir, "case_id": id.as_str(), "network": app.network,
            "head_seq": seq, "head_hash": head,
        }))?;
    } else {
        outln!("created case {} in {} ({})", id, dir.display(), app.network)?;
        outln!("ledger head: seq {seq} {head}")?;
    }
    Ok(())
}

/// `case log`: the ledger as a table (or JSON).
fn log(app: &App) -> CmdResult {
    let case = app.require_case()?;
    let events = case.events()?;
    if app.json {
        return print_json(&events);
    }
    outln!("case {} ({})", case.info().case_id, case.info().network)?;
    outln!(
        "{:>5}  {:<24}  {:<16}  {:<22}  hash",
        "seq",
        "time (UTC)",
        "examiner",
        "kind"
    )?;
    for e in &events {
        outln!(
            "{:>5}  {:<24}  {:<16}  {:<22}  {}",
            e.seq,
            e.time,
            truncate(&e.examiner, 16),
            truncate(&e.kind, 22),
            &e.hash[..16.min(e.hash.len())]
        )?;
    }
    if let Some(last) = events.last() {
        outln!("head: seq {} {}", last.seq, last.hash)?;
    }
    Ok(())
}

/// `case verify`: recomputes the chain and artifacts; a problem is a finding (exit 1).
fn verify(app: &App, expect_head: Option<&str>, checkpoints: &[PathBuf]) -> CmdResult {
    let case = app.require_case()?;
    let external = crate::cmd_checkpoint::read_files(checkpoints)?;
    let report = case.verify_with(expect_head, &external)?;
    if app.json {
        print_json(&report)?;
    } else {
        if report.ok() {
            outln!(
                "ok: {} events and {} artifacts verified; head {}",
                report.events,
                report.artifacts,
                report.head
            )?;
        } else {
            for p in &report.problems {
                outln!("FAIL {}", p.message)?;
            }
        }
        crate::cmd_checkpoint::print_summary(&report.checkpoints)?;
    }
    match report.problems.first() {
        None => Ok(()),
        Some(first) => Err(Failure::finding(anyhow!(
            "case {} failed verification: {}",
            case.path().display(),
            first.message
        ))),
    }
}

/// `case export`: writes the export, then records it (only when the ledger verifies).
fn export_case(app: &App, out: &Path) -> CmdResult {
    let mut case = app.require_case()?;
    let sections = crate::report_sections(&case)?;
    let summary = export::export(&case, out, &sections)?;
    if !summary.verified {
        // The export is written (its report names the problems), but a ledger that
        // fails verification gets nothing appended: a new event would chain onto
        // rows that cannot be trusted and bury the first bad seq under a valid head.
        return Err(Failure::finding(anyhow!(
            "case {} does not verify; exported to {} for examination (see report.html), \
             nothing appended to the ledger",
            case.info().case_id,
            out.display()
        )));
    }
    app.record(
        Some(&mut case),
        EventDraft::new(
            custos_case::kinds::CASE_EXPORTED,
            serde_json::json!({
                "out": out, "events": summary.events, "artifacts": summary.artifacts,
                "head_hash": summary.head, "verified": summary.verified,
                "files": summary.files.iter().map(|(p, h)| serde_json::json!({"path": p, "sha256": h})).collect::<Vec<_>>(),
            }),
        ),
        Vec::new(),
    )?;
    if app.json {
        print_json(&summary)?;
    } else {
        outln!(
            "exported {} events and {} artifacts to {} (head {}, verified)",
            summary.events,
            summary.artifacts,
            out.display(),
            summary.head,
        )?;
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
