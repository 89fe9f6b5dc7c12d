//! # custos-train
//!
//! The grader of the training labs: it reads a student's case (a case directory or a
//! `custos case export`) — its ledger and artifacts, that is what the student really did — and
//! scores it item by item against the ground truth of the exercise's scenario
//! (`custos-lab truth`): material classified, every funded path found, totals exact, SPV
//! evidence present, custody wallet assembled and verified by every keyholder, sweep complete
//! with the dust reported, fee in bounds, the malicious PSBT refused, transactions confirmed,
//! ledger intact, and the trace findings of a tracing exercise (exchange deposit reached,
//! CoinJoin reported, taint exact under a named model) from the `trace.run` events. The result is a [`ScoreSheet`] with points and a one-line reason per item,
//! rendered as text, JSON or a self-contained HTML page.
//!
//! ```no_run
//! use std::path::Path;
//! let truth = custos_train::Truth::from_toml(&std::fs::read_to_string("ground-truth.toml")?)?;
//! let exercise = custos_train::Exercise::load(Path::new("fixtures/lab/ex-04-compromised-workstation"))?;
//! let sheet = custos_train::grade(Path::new("student-case"), &truth, &exercise)?;
//! println!("{}", sheet.to_text());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A case whose ledger fails verification scores zero with the reason; a case whose inspected
//! addresses are not the scenario's (another scenario, or another student's variant) is named
//! as such and scores zero.
//!
//! Not for: building scenarios or variants (`custos-lab`), running the lab chain, or judging
//! anything the case does not record — a grade is only as good as the ledger it reads. It opens
//! no socket and writes nothing.
//!
//! Features: none.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod checks;
mod error;
mod exercise;
mod record;
mod sheet;
mod trace_checks;
mod truth;

use std::path::Path;

pub use error::Error;
pub use exercise::{
    CustodySpec, Exercise, FeeBounds, ItemId, ItemSpec, ReviewSpec, TraceSpec, EXERCISE_FILE,
};
pub use record::CaseRecord;
pub use sheet::{ItemScore, ScoreSheet, Verdict};
pub use truth::{
    Truth, TruthAddress, TruthCoinJoin, TruthEntity, TruthTracing, TruthUtxo, TruthWallet,
};

/// Grades the case at `case` (a case directory or an export directory) against `truth` for
/// `exercise`. Errors only when the case cannot be read at all (missing, not a case): a case that
/// fails verification or belongs to another scenario is graded — with zero points and the reason.
pub fn grade(case: &Path, truth: &Truth, exercise: &Exercise) -> Result<ScoreSheet, Error> {
    let record = CaseRecord::load(case)?;
    Ok(grade_record(&record, truth, exercise))
}

/// Grades an already loaded case.
pub fn grade_record(record: &CaseRecord, truth: &Truth, exercise: &Exercise) -> ScoreSheet {
    checks::grade(record, truth, exercise)
}
