//! An exercise: which items a scenario's grade checks, their points, and the bounds the student
//! must keep (fee rate, custody threshold). Read from `exercise.toml` in the scenario directory.
//!
//! ```toml
//! title = "Sweep to custody with a compromised workstation"
//! fee = { min_sat_per_vb = 2, max_sat_per_vb = 10 }
//! custody = { threshold = 2, keyholders = 3 }
//! [[item]]
//! id = "paths"
//! points = 15
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// File name of an exercise in a scenario directory.
pub const EXERCISE_FILE: &str = "exercise.toml";

/// What one item checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemId {
    /// The case ledger verifies (hash chain and every artifact).
    Ledger,
    /// Every seized wallet was identified as the right kind of material (with its passphrase).
    Material,
    /// Every address of the seized wallets that was ever funded was found.
    Paths,
    /// The inventories' confirmed totals equal the seized total exactly.
    Totals,
    /// Every inventoried coin is SPV-verified, with merkle proofs and headers in the case.
    Spv,
    /// The custody wallet was assembled with the exercise's threshold and keyholders, every key
    /// proven, and the sweep pays that wallet.
    Custody,
    /// Every keyholder verified the assembled wallet on their own signer (transcripts imported).
    Keyholders,
    /// The sweep spends every seized coin or reports it left out (dust).
    Sweep,
    /// Every sweep transaction's fee rate is within the exercise's bounds.
    Fee,
    /// The malicious PSBT was refused on the signer (refusal recorded) and nothing paying outside
    /// custody was signed.
    Refusal,
    /// Every broadcast transaction is confirmed, SPV-checked.
    Confirmed,
    /// A review of a handed-over case (recorded in the reviewer's case) names its altered entry.
    Review,
    /// The student's forward trace (`custos trace forward`, recorded in the case) reached the
    /// labelled exchange deposit the stolen coins were paid to.
    TraceDeposit,
    /// The trace reported every planted CoinJoin on the stolen coins' path.
    TraceCoinjoin,
    /// The trace's exposure to the exchange under the exercise's taint model is exact to the sat.
    TraceTaint,
}

impl ItemId {
    /// Short title for score sheets.
    pub fn title(self) -> &'static str {
        match self {
            ItemId::Ledger => "ledger verifies",
            ItemId::Material => "material classified",
            ItemId::Paths => "every funded path found",
            ItemId::Totals => "totals exact",
            ItemId::Spv => "SPV evidence present",
            ItemId::Custody => "custody wallet assembled correctly",
            ItemId::Keyholders => "custody wallet verified by every keyholder",
            ItemId::Sweep => "sweep complete, dust reported",
            ItemId::Fee => "fees in bounds",
            ItemId::Refusal => "malicious PSBT refused",
            ItemId::Confirmed => "transactions confirmed",
            ItemId::Review => "tampered artifact found",
            ItemId::TraceDeposit => "exchange deposit reached",
            ItemId::TraceCoinjoin => "CoinJoin reported",
            ItemId::TraceTaint => "taint at the exchange exact",
        }
    }
}

/// One graded item and its points.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// What it checks.
    pub id: ItemId,
    /// Points for it.
    pub points: u32,
}

/// Allowed sweep fee rates, sat/vB (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeBounds {
    /// Lowest allowed rate.
    pub min_sat_per_vb: u64,
    /// Highest allowed rate.
    pub max_sat_per_vb: u64,
}

/// The custody wallet the exercise asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodySpec {
    /// Signatures needed.
    pub threshold: u32,
    /// Keyholders (keys).
    pub keyholders: u32,
}

/// What a review must find in the handed-over case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSpec {
    /// Kind of the ledger entry whose artifact was altered (`sweep.build`).
    pub event_kind: String,
    /// Verification problem kind (`artifact_altered`, `edited`, ...).
    pub problem: String,
}

/// What the tracing items expect of the student's trace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// Taint model whose exposure `trace-taint` checks (`poison`, `haircut`, `fifo`, `lifo`,
    /// `tiho`: the names `custos trace --taint` takes).
    pub model: String,
    /// Label category of the deposit (default `exchange`).
    #[serde(default = "default_category")]
    pub category: String,
}

fn default_category() -> String {
    "exchange".into()
}

impl Default for TraceSpec {
    fn default() -> Self {
        TraceSpec {
            model: "haircut".into(),
            category: default_category(),
        }
    }
}

/// An exercise.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// Title shown on the score sheet.
    pub title: String,
    /// Fee bounds (required by the `fee` item).
    #[serde(default)]
    pub fee: Option<FeeBounds>,
    /// Custody wallet (required by the `custody` and `keyholders` items).
    #[serde(default)]
    pub custody: Option<CustodySpec>,
    /// What a review must find (required by the `review` item).
    #[serde(default)]
    pub review: Option<ReviewSpec>,
    /// The trace the tracing items grade (default: the haircut model).
    #[serde(default)]
    pub trace: Option<TraceSpec>,
    /// Items in sheet order.
    #[serde(rename = "item")]
    pub items: Vec<ItemSpec>,
}

impl Exercise {
    /// Parses and checks exercise text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Exercise, Error> {
        let ex: Exercise = toml::from_str(text).map_err(|e| Error::malformed(file, e))?;
        let mut seen = BTreeSet::new();
        for it in &ex.items {
            if !seen.insert(it.id) {
                return Err(Error::malformed(
                    file,
                    format!("item {:?} is listed twice", it.id),
                ));
            }
        }
        if ex.items.is_empty() {
            return Err(Error::malformed(file, "no [[item]]"));
        }
        if seen.contains(&ItemId::Fee) {
            match ex.fee {
                Some(f) if f.min_sat_per_vb <= f.max_sat_per_vb => {}
                Some(_) => {
                    return Err(Error::malformed(
                        file,
                        "fee: min_sat_per_vb > max_sat_per_vb",
                    ))
                }
                None => {
                    return Err(Error::malformed(
                        file,
                        "item fee needs fee = { min_sat_per_vb, max_sat_per_vb }",
                    ))
                }
            }
        }
        if (seen.contains(&ItemId::Custody) || seen.contains(&ItemId::Keyholders))
            && ex.custody.is_none()
        {
            return Err(Error::malformed(
                file,
                "items custody/keyholders need custody = { threshold, keyholders }",
            ));
        }
        if let Some(t) = &ex.trace {
            if !["poison", "haircut", "fifo", "lifo", "tiho"].contains(&t.model.as_str()) {
                return Err(Error::malformed(
                    file,
                    format!("trace: unknown taint model {:?}", t.model),
                ));
            }
        }
        if seen.contains(&ItemId::Review) && ex.review.is_none() {
            return Err(Error::malformed(
                file,
                "item review needs review = { event_kind, problem }",
            ));
        }
        Ok(ex)
    }

    /// Reads `DIR/exercise.toml` of a scenario directory (bounded read).
    pub fn load(scenario_dir: &Path) -> Result<Exercise, Error> {
        let path = scenario_dir.join(EXERCISE_FILE);
        let text = custos_core::file::read_text(&path, custos_core::file::SCENARIO_FILE)?;
        Exercise::from_toml(&text, &path.display().to_string())
    }

    /// Total points.
    pub fn max_points(&self) -> u32 {
        self.items.iter().map(|i| i.points).sum()
    }
}
