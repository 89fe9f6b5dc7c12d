//! The score sheet and its three renderings: text, JSON and a self-contained HTML page.

use serde::Serialize;

use crate::exercise::{Exercise, ItemId};
use crate::record::CaseRecord;
use crate::truth::Truth;

/// How the case was graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Item by item.
    Graded,
    /// The ledger (or an artifact) fails verification: zero.
    LedgerFails,
    /// The case belongs to another scenario or another student's variant: zero.
    OtherScenario,
}

/// One item's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemScore {
    /// Item.
    pub id: ItemId,
    /// Its title.
    pub title: String,
    /// Points given.
    pub points: u32,
    /// Points possible.
    pub max: u32,
    /// One line: why.
    pub reason: String,
}

/// A graded case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreSheet {
    /// Scenario (or variant) graded against.
    pub scenario: String,
    /// Exercise title.
    pub exercise: String,
    /// The case's id.
    pub case_id: String,
    /// Where the case was read from.
    pub case: String,
    /// How it was graded.
    pub verdict: Verdict,
    /// Items in exercise order.
    pub items: Vec<ItemScore>,
    /// Points given.
    pub total: u32,
    /// Points possible.
    pub max: u32,
}

impl ScoreSheet {
    pub(crate) fn new(rec: &CaseRecord, truth: &Truth, ex: &Exercise) -> ScoreSheet {
        ScoreSheet {
            scenario: truth.scenario.clone(),
            exercise: ex.title.clone(),
            case_id: rec.case_id.clone(),
            case: rec.source.display().to_string(),
            verdict: Verdict::Graded,
            items: Vec::new(),
            total: 0,
            max: ex.max_points(),
        }
    }

    /// Scores every item of the exercise zero with `reason` (the whole case is rejected).
    pub(crate) fn zero(&mut self, verdict: Verdict, reason: &str, ex: &Exercise) {
        self.verdict = verdict;
        self.total = 0;
        self.items = ex
            .items
            .iter()
            .map(|i| ItemScore {
                id: i.id,
                title: i.id.title().to_string(),
                points: 0,
                max: i.points,
                reason: reason.to_string(),
            })
            .collect();
    }

    /// Percent of the points, rounded down (integer arithmetic).
    pub fn percent(&self) -> u32 {
        if self.max == 0 {
            return 0;
        }
        u32::try_from(u64::from(self.total) * 100 / u64::from(self.max)).unwrap_or(100)
    }

    /// The item with this id.
    pub fn item(&self, id: ItemId) -> Option<&ItemScore> {
        self.items.iter().find(|i| i.id == id)
    }

    /// Plain text, one line per item.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "score sheet: {} — scenario {}\ncase {} ({})\n",
            self.exercise, self.scenario, self.case_id, self.case
        );
        for i in &self.items {
            out.push_str(&format!(
                "  {:>3}/{:<3} {:<44} {}\n",
                i.points, i.max, i.title, i.reason
            ));
        }
        out.push_str(&format!(
            "total: {}/{} ({} %)\n",
            self.total,
            self.max,
            self.percent()
        ));
        out
    }

    /// JSON (pretty).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["percent"] = serde_json::json!(self.percent());
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// A self-contained HTML page (no scripts, no external assets).
    pub fn to_html(&self) -> String {
        use custos_case::report::escape;
        let rows: Vec<Vec<String>> = self
            .items
            .iter()
            .map(|i| {
                vec![
                    i.title.clone(),
                    format!("{}/{}", i.points, i.max),
                    i.reason.clone(),
                ]
            })
            .collect();
        let table = custos_case::report::table(&["item", "points", "reason"], &rows);
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>score sheet {case}</title>\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}</style></head>\
<body><h1>Score sheet</h1><p>exercise: {ex}<br>scenario: {sc}<br>case: {case} ({path})</p>{table}\
<p><strong>total: {t}/{m} ({p} %)</strong></p></body></html>\n",
            case = escape(&self.case_id),
            ex = escape(&self.exercise),
            sc = escape(&self.scenario),
            path = escape(&self.case),
            t = self.total,
            m = self.max,
            p = self.percent(),
        )
    }
}
