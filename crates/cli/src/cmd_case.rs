//! `custos case ...`: create, log, verify and export a case.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Subcommand;
use custos_case::{export, Case};
use custos_core::ids::{CaseId, ExaminerId};
use custos_core::ledger::EventDraft;

use crate::app::{print_json, App, CmdResult, Failure};

/// Case commands.
#[derive(Debug, Subcommand)]
pub enum CaseCmd {
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
    },
    /// Export the ledger as JSONL, every artifact, a manifest and the HTML report into OUT.
    Export {
        /// Output directory (must not exist).
        out: PathBuf,
    },
}

/// Runs a case command.
pub fn run(app: &App, cmd: &CaseCmd) -> CmdResult {
    match cmd {
        CaseCmd::New {
            dir,
            case_id,
            examiner,
        } => {
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
        CaseCmd::Log => {
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
        CaseCmd::Verify { expect_head } => {
            let case = app.require_case()?;
            let report = case.verify(expect_head.as_deref())?;
            if app.json {
                print_json(&report)?;
            } else if report.ok() {
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
            if report.ok() {
                Ok(())
            } else {
                let first = &report.problems[0];
                Err(Failure::finding(anyhow!(
                    "case {} failed verification: {}",
                    case.path().display(),
                    first.message
                )))
            }
        }
        CaseCmd::Export { out } => {
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
                    "case.exported",
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
    }
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
