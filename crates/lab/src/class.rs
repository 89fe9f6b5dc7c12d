//! A class: the roster an instructor's `custos-lab class up` writes (`class.toml`), each
//! student's material folder and lab, and `class report`, which grades every student's case into
//! one table (text, CSV, HTML).
//!
//! ```toml
//! scenario = "ex-01-passphrase-decoys"   # as given to class up
//! scenario_name = "ex-01-passphrase-decoys"
//! shared = false                         # true: one chain, every student on the scenario itself
//! [[student]]
//! id = "s01"
//! material = "students/s01"              # relative to the class directory
//! data = "labs/s01"                      # the lab's data directory (its ground-truth.toml)
//! port = 40123
//! ```
//!
//! The roster is what makes a student id known: `custos-lab grade --student ID --class DIR`
//! refuses (exit 2) an id that is not on `DIR/class.toml`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// File name of the roster in a class directory.
pub const ROSTER_FILE: &str = "class.toml";

/// One student of a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterStudent {
    /// Student id (`[A-Za-z0-9_-]`, 1–64 characters).
    pub id: String,
    /// The student's material folder, relative to the class directory.
    pub material: String,
    /// The data directory of the lab the student works on, relative to the class directory.
    pub data: String,
    /// Electrum port of that lab on 127.0.0.1.
    pub port: u16,
}

/// `class.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Scenario as given to `class up` (a name in fixtures/lab or a path).
    pub scenario: String,
    /// The scenario's own name.
    pub scenario_name: String,
    /// One shared chain (every student on the scenario itself) instead of one variant each.
    pub shared: bool,
    /// The students.
    #[serde(rename = "student")]
    pub students: Vec<RosterStudent>,
}

impl Roster {
    /// Reads `DIR/class.toml` (bounded read).
    pub fn load(class_dir: &Path) -> Result<Roster, Error> {
        let p = class_dir.join(ROSTER_FILE);
        let text = custos_core::file::read_text(&p, custos_core::file::SCENARIO_FILE)?;
        let r: Roster = toml::from_str(&text).map_err(|e| Error::data_syntax(&p, e))?;
        for s in &r.students {
            crate::variant::check_student_id(&s.id)?;
        }
        Ok(r)
    }

    /// The roster as TOML.
    pub fn to_toml(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::scenario(&self.scenario, e.to_string()))
    }

    /// The student with this id, or an error naming the roster (exit 2).
    pub fn student(&self, id: &str, class_dir: &Path) -> Result<&RosterStudent, Error> {
        self.students.iter().find(|s| s.id == id).ok_or_else(|| {
            Error::scenario(
                id,
                format!(
                    "unknown student: not on the class roster {}",
                    class_dir.join(ROSTER_FILE).display()
                ),
            )
        })
    }

    /// The scenario a student's case is graded against: the variant, or the scenario itself in a
    /// shared class.
    pub fn scenario_of(&self, id: &str) -> Result<crate::Scenario, Error> {
        if self.shared {
            crate::Scenario::resolve(&self.scenario)
        } else {
            crate::variant::variant_scenario(&self.scenario, id)
        }
    }
}

/// Student ids of a class of `n`: `s01`, `s02`, … (three digits from 100 students on).
pub fn student_ids(n: usize) -> Vec<String> {
    let width = if n >= 100 { 3 } else { 2 };
    (1..=n).map(|i| format!("s{i:0width$}")).collect()
}

/// One row of a class report.
#[derive(Debug, Clone)]
pub struct ReportRow {
    /// Student id.
    pub student: String,
    /// `graded`, `ledger-fails`, `other-scenario`, `no case` or `unreadable`.
    pub verdict: String,
    /// Points (0 without a case).
    pub score: u32,
    /// Points possible.
    pub max: u32,
    /// Points per exercise item, in exercise order (empty without a graded case).
    pub items: Vec<u32>,
    /// First reason a point was lost (or why there is no grade).
    pub reason: String,
}

/// A class report: the exercise's item ids and one row per student.
#[derive(Debug, Clone)]
pub struct Report {
    /// Item ids in exercise order (the per-item columns).
    pub items: Vec<String>,
    /// Rows in roster order.
    pub rows: Vec<ReportRow>,
}

fn item_name(id: custos_train::ItemId) -> String {
    serde_json::to_value(id)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The ground truth of a student's lab: the lab's own `ground-truth.toml` in its data directory
/// (written when its chain was built), else the variant built afresh.
fn truth_of(roster: &Roster, s: &RosterStudent, class_dir: &Path) -> Result<String, Error> {
    let saved = class_dir.join(&s.data).join("ground-truth.toml");
    if let Some(t) =
        custos_core::file::read_text_if_exists(&saved, custos_core::file::GROUND_TRUTH)?
    {
        return Ok(t);
    }
    let sc = roster.scenario_of(&s.id)?;
    let lab = crate::Lab::start_scenario(sc, crate::LabConfig::scenario(&roster.scenario))?;
    lab.ground_truth().to_toml()
}

/// Grades every student's case `cases/<id>` (a case directory or export): a student without one
/// gets the row `no case`, an unreadable one the row `unreadable` with the reason.
pub fn report(class_dir: &Path, cases: &Path) -> Result<Report, Error> {
    let roster = Roster::load(class_dir)?;
    let base = crate::Scenario::resolve(&roster.scenario)?;
    let exercise = custos_train::Exercise::load(&base.dir)
        .map_err(|e| Error::scenario(&roster.scenario, e.to_string()))?;
    let items: Vec<String> = exercise.items.iter().map(|i| item_name(i.id)).collect();
    let mut rows = Vec::new();
    for s in &roster.students {
        let case = cases.join(&s.id);
        let row = |verdict: &str, reason: String| ReportRow {
            student: s.id.clone(),
            verdict: verdict.to_string(),
            score: 0,
            max: exercise.max_points(),
            items: Vec::new(),
            reason,
        };
        let record = match custos_train::CaseRecord::load(&case) {
            Ok(r) => r,
            Err(custos_train::Error::Missing { .. }) => {
                rows.push(row("no case", format!("no case at {}", case.display())));
                continue;
            }
            Err(e) => {
                rows.push(row("unreadable", e.to_string()));
                continue;
            }
        };
        let truth_text = truth_of(&roster, s, class_dir)?;
        let truth = custos_train::Truth::from_toml(&truth_text)
            .map_err(|e| Error::scenario(&s.id, e.to_string()))?;
        let sheet = custos_train::grade_record(&record, &truth, &exercise);
        let reason = sheet
            .items
            .iter()
            .find(|i| i.points < i.max)
            .map(|i| format!("{}: {}", item_name(i.id), i.reason))
            .unwrap_or_default();
        rows.push(ReportRow {
            student: s.id.clone(),
            verdict: serde_json::to_value(sheet.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            score: sheet.total,
            max: sheet.max,
            items: sheet.items.iter().map(|i| i.points).collect(),
            reason,
        });
    }
    Ok(Report { items, rows })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl ReportRow {
    fn cells(&self, n_items: usize) -> Vec<String> {
        let mut c = vec![
            self.student.clone(),
            self.verdict.clone(),
            self.score.to_string(),
            self.max.to_string(),
        ];
        for i in 0..n_items {
            c.push(self.items.get(i).map(u32::to_string).unwrap_or_default());
        }
        c.push(self.reason.clone());
        c
    }
}

impl Report {
    fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = ["student", "verdict", "score", "max"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        h.extend(self.items.iter().cloned());
        h.push("reason".into());
        h
    }

    /// CSV: `student,verdict,score,max,<item…>,reason`, one row per student (RFC 4180 quoting).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let lines = std::iter::once(self.header())
            .chain(self.rows.iter().map(|r| r.cells(self.items.len())));
        for line in lines {
            let f: Vec<String> = line.iter().map(|c| csv_field(c)).collect();
            out.push_str(&f.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// A text table for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in std::iter::once(self.header())
            .chain(self.rows.iter().map(|r| r.cells(self.items.len())))
        {
            let _ = writeln!(out, "{}", line.join("  "));
        }
        out
    }

    /// A self-contained HTML page (no scripts, nothing fetched).
    pub fn to_html(&self, title: &str) -> String {
        let mut out = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:sans-serif}}td,th{{border:1px solid #999;padding:2px 6px}}\
             table{{border-collapse:collapse}}</style></head><body><h1>{t}</h1><table>\n<tr>",
            t = html_escape(title)
        );
        for h in self.header() {
            let _ = write!(out, "<th>{}</th>", html_escape(&h));
        }
        out.push_str("</tr>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for c in r.cells(self.items.len()) {
                let _ = write!(out, "<td>{}</td>", html_escape(&c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></body></html>\n");
        out
    }
}

/// A student's material folder, relative to the class directory.
pub fn material_dir(id: &str) -> String {
    format!("students/{id}")
}

/// A student's lab data directory, relative to the class directory; `None`: the one chain of a
/// shared class.
pub fn data_dir(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("labs/{id}"),
        None => "labs/shared".into(),
    }
}
