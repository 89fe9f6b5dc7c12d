//! The disposal timeline: every ledger step from seizure to remittance with its time, actor and
//! duration, the elapsed time from custody to remittance against the 24-hour target, and the
//! balances seized / in custody / disposed — plus the report sections built on it (timeline,
//! valuation, disposal, checkpoints). Pure functions over the ledger events.
//!
//! Milestones (docs/formats.md, "Timeline"):
//! - *seizure*: the case opening (`case.created`);
//! - *custody*: the first `tx.confirmed` after a `sweep.build` — the 24-hour clock starts here;
//! - *remittance*: a `disposal.remitted` event, else the first `tx.confirmed` after a disposal
//!   or custody-spend event (`disposal.*`, `custody.spend*`).
//!
//! Balances: seized = `confirmed_sat` of the first `inspect.scan`; in custody = the latest
//! confirmed sweep's `total_to_custody_sat` less what was disposed; disposed = the `amount_sat`
//! of disposal / custody-spend events.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use custos_core::ledger::Event;
use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::CheckpointReport;
use crate::report::{escape, table, Section};

/// The disposal target: 24 hours from custody to remittance.
pub const TARGET_SECS: i64 = 24 * 3600;

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Ledger seq.
    pub seq: u64,
    /// Time (UTC).
    pub time: String,
    /// Event kind.
    pub kind: String,
    /// What happened, in words.
    pub label: String,
    /// Who did it.
    pub actor: String,
    /// Seconds since the previous step.
    pub since_previous_secs: Option<i64>,
    /// Seconds since custody began (negative before).
    pub since_custody_secs: Option<i64>,
}

/// Balances in sat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Balances {
    /// Found at the first inspection.
    pub seized_sat: Option<u64>,
    /// Swept into custody and confirmed, less what was disposed.
    pub in_custody_sat: Option<u64>,
    /// Paid out of custody under disposal.
    pub disposed_sat: u64,
}

/// The timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// Every step.
    pub steps: Vec<Step>,
    /// Seizure (case opened).
    pub seized_at: Option<String>,
    /// Custody reached.
    pub custody_at: Option<String>,
    /// Remittance.
    pub remitted_at: Option<String>,
    /// Seconds from custody to remittance (or to `now` while running).
    pub elapsed_secs: Option<i64>,
    /// [`TARGET_SECS`].
    pub target_secs: i64,
    /// `not started`, `running`, `within target`, `over target`.
    pub status: String,
    /// Balances.
    pub balances: Balances,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn is_disposal(kind: &str) -> bool {
    kind.starts_with("disposal.") || kind.starts_with("custody.spend")
}

fn field(p: &Value, k: &str) -> String {
    match p.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Words for an event.
pub fn label(e: &Event) -> String {
    let p = &e.payload;
    match e.kind.as_str() {
        "case.created" => "case opened (seizure recorded)".into(),
        "inspect.scan" => format!("inspection: {} sat confirmed", field(p, "confirmed_sat")),
        "trace.run" => "trace run".into(),
        "ceremony.assembled" => format!("custody wallet {} assembled", field(p, "name")),
        "sweep.build" => format!(
            "sweep built: {} sat to custody",
            field(p, "total_to_custody_sat")
        ),
        "psbt.combine" => "signatures combined".into(),
        "psbt.finalize" => format!("transaction {} finalized", field(p, "txid")),
        "tx.broadcast" => format!("transaction {} broadcast", field(p, "txid")),
        "tx.confirmed" => format!(
            "transaction {} confirmed at height {}",
            field(p, "txid"),
            field(p, "height")
        ),
        "valuation.computed" => "valuation (reserve price and bond)".into(),
        "case.checkpoint" => format!("ledger checkpoint at seq {} signed", field(p, "seq")),
        "case.countersigned" => format!("checkpoint at seq {} countersigned", field(p, "seq")),
        "case.exported" => "case exported".into(),
        k if is_disposal(k) => {
            let amount = field(p, "amount_sat");
            if amount.is_empty() {
                k.to_string()
            } else {
                format!("{k}: {amount} sat")
            }
        }
        k => k.to_string(),
    }
}

/// Builds the timeline of `events` as of `now`.
pub fn build(events: &[Event], now: DateTime<Utc>) -> Timeline {
    let seized_at = events
        .iter()
        .find(|e| e.kind == "case.created")
        .map(|e| e.time.clone());
    let first_sweep = events.iter().position(|e| e.kind == "sweep.build");
    let custody = first_sweep.and_then(|i| events[i..].iter().find(|e| e.kind == "tx.confirmed"));
    let custody_at = custody.map(|e| e.time.clone());
    let first_disposal = events.iter().position(|e| is_disposal(&e.kind));
    let remitted = events
        .iter()
        .find(|e| e.kind == "disposal.remitted")
        .or_else(|| {
            first_disposal.and_then(|i| events[i..].iter().find(|e| e.kind == "tx.confirmed"))
        });
    let remitted_at = remitted.map(|e| e.time.clone());
    let t_custody = custody_at.as_deref().and_then(parse_time);
    let t_end = remitted_at.as_deref().and_then(parse_time);
    let elapsed_secs = t_custody.map(|c| (t_end.unwrap_or(now) - c).num_seconds());
    let status = match (elapsed_secs, &t_end) {
        (None, _) => "not started",
        (Some(s), _) if s > TARGET_SECS => "over target",
        (Some(_), Some(_)) => "within target",
        (Some(_), None) => "running",
    }
    .to_string();
    let mut steps = Vec::new();
    let mut prev: Option<DateTime<Utc>> = None;
    for e in events {
        let t = parse_time(&e.time);
        steps.push(Step {
            seq: e.seq,
            time: e.time.clone(),
            kind: e.kind.clone(),
            label: label(e),
            actor: e.examiner.clone(),
            since_previous_secs: match (prev, t) {
                (Some(a), Some(b)) => Some((b - a).num_seconds()),
                _ => None,
            },
            since_custody_secs: match (t_custody, t) {
                (Some(c), Some(b)) => Some((b - c).num_seconds()),
                _ => None,
            },
        });
        prev = t.or(prev);
    }
    Timeline {
        steps,
        seized_at,
        custody_at,
        remitted_at,
        elapsed_secs,
        target_secs: TARGET_SECS,
        status,
        balances: balances(events),
    }
}

fn balances(events: &[Event]) -> Balances {
    let seized_sat = events
        .iter()
        .find(|e| e.kind == "inspect.scan")
        .and_then(|e| e.payload.get("confirmed_sat").and_then(Value::as_u64));
    let disposed_sat: u64 = events
        .iter()
        .filter(|e| is_disposal(&e.kind) && e.kind != "disposal.order")
        .filter_map(|e| e.payload.get("amount_sat").and_then(Value::as_u64))
        .fold(0u64, u64::saturating_add);
    // The latest sweep that a confirmation followed.
    let mut to_custody = None;
    for (i, e) in events.iter().enumerate() {
        if e.kind == "sweep.build" && events[i..].iter().any(|x| x.kind == "tx.confirmed") {
            to_custody = e
                .payload
                .get("total_to_custody_sat")
                .and_then(Value::as_u64);
        }
    }
    Balances {
        seized_sat,
        in_custody_sat: to_custody.map(|c| c.saturating_sub(disposed_sat)),
        disposed_sat,
    }
}

/// `1 h 05 min 07 s`.
pub fn duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, r) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h} h {m:02} min {r:02} s")
    } else if m > 0 {
        format!("{sign}{m} min {r:02} s")
    } else {
        format!("{sign}{r} s")
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|n| format!("{n} sat")).unwrap_or_else(|| "—".into())
}

/// The "Timeline" report section.
pub fn timeline_section(t: &Timeline) -> Section {
    let mut html = String::new();
    let elapsed = t.elapsed_secs.map(duration).unwrap_or_else(|| "—".into());
    let _ = write!(
        html,
        "<p>From custody to remittance, against the {}-hour target: <b>{}</b> ({}).</p>",
        t.target_secs / 3600,
        escape(&elapsed),
        escape(&t.status)
    );
    html.push_str(&table(
        &["milestone", "time (UTC)"],
        &[
            vec![
                "seizure (case opened)".into(),
                t.seized_at.clone().unwrap_or_default(),
            ],
            vec![
                "custody (first confirmed sweep)".into(),
                t.custody_at.clone().unwrap_or_default(),
            ],
            vec![
                "remittance".into(),
                t.remitted_at.clone().unwrap_or_default(),
            ],
        ],
    ));
    html.push_str(&table(
        &["seized", "in custody", "disposed"],
        &[vec![
            opt(t.balances.seized_sat),
            opt(t.balances.in_custody_sat),
            format!("{} sat", t.balances.disposed_sat),
        ]],
    ));
    let rows: Vec<Vec<String>> = t
        .steps
        .iter()
        .map(|s| {
            vec![
                s.seq.to_string(),
                s.time.clone(),
                s.actor.clone(),
                s.label.clone(),
                s.since_previous_secs.map(duration).unwrap_or_default(),
                s.since_custody_secs.map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    html.push_str(&table(
        &[
            "seq",
            "time (UTC)",
            "actor",
            "step",
            "duration",
            "since custody",
        ],
        &rows,
    ));
    Section {
        title: "Timeline (24-hour disposal target)".into(),
        html,
    }
}

/// The "Valuation" section from the latest `valuation.computed` event.
pub fn valuation_section(events: &[Event]) -> Option<Section> {
    let e = events
        .iter()
        .rev()
        .find(|e| e.kind == "valuation.computed")?;
    let p = &e.payload;
    let cur = field(p, "currency");
    let mut html = format!(
        "<p>Rule <code>{}</code>, recorded at seq {} by {}: quotes from {} to {}, FX {} of {}. \
         Reserve price = lowest venue volume-weighted bid less the volatility haircut; bond = 110 % of the value, rounded up (docs/valuation.md).</p>",
        escape(&field(p, "rule")),
        e.seq,
        escape(&e.examiner),
        escape(&field(p, "window_from")),
        escape(&field(p, "window_to")),
        escape(&field(p, "fx_file")),
        escape(&field(p, "fx_date")),
    );
    let mut rows = Vec::new();
    for a in p
        .get("assets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        rows.push(vec![
            field(a, "asset"),
            format!("{} ({})", field(a, "base_bid"), field(a, "base_venue")),
            format!("{} bp", field(a, "haircut_bp")),
            format!("{} {cur}", field(a, "reserve_price")),
            a.get("holding_coins")
                .map(|_| field(a, "holding_coins"))
                .unwrap_or_default(),
            format!("{} {cur}", field(a, "value")),
            format!("{} {cur}", field(a, "bond")),
        ]);
    }
    html.push_str(&table(
        &[
            "asset",
            "lowest venue bid",
            "haircut",
            "reserve price",
            "holding",
            "value",
            "bond (110 %)",
        ],
        &rows,
    ));
    let excluded: Vec<Vec<String>> = p
        .get("excluded")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|x| {
            vec![
                field(x, "venue"),
                field(x, "pair"),
                field(x, "file"),
                field(x, "time"),
                field(x, "reason"),
            ]
        })
        .collect();
    if !excluded.is_empty() {
        html.push_str("<p>Quotes left out:</p>");
        html.push_str(&table(
            &["venue", "pair", "file", "time", "reason"],
            &excluded,
        ));
    }
    let files: Vec<Vec<String>> = p
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| vec![field(f, "kind"), field(f, "name"), field(f, "sha256")])
        .collect();
    html.push_str(&table(&["input", "file", "sha256 (artifact)"], &files));
    Some(Section {
        title: "Valuation".into(),
        html,
    })
}

/// The "Disposal" section: disposal orders, custody spends and their broadcasts and
/// confirmations, in ledger order.
pub fn disposal_section(events: &[Event]) -> Option<Section> {
    let start = events.iter().position(|e| is_disposal(&e.kind))?;
    let rows: Vec<Vec<String>> = events[start..]
        .iter()
        .filter(|e| {
            is_disposal(&e.kind)
                || matches!(
                    e.kind.as_str(),
                    "psbt.finalize" | "tx.broadcast" | "tx.confirmed"
                )
        })
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.time.clone(),
                e.examiner.clone(),
                e.kind.clone(),
                label(e),
                custos_core::ledger::canonical_json(&e.payload),
            ]
        })
        .collect();
    let mut html = String::from(
        "<p>Every step out of custody recorded in the ledger, from the first disposal or custody-spend event.</p>",
    );
    html.push_str(&table(
        &["seq", "time (UTC)", "actor", "kind", "what", "payload"],
        &rows,
    ));
    Some(Section {
        title: "Disposal".into(),
        html,
    })
}

/// The "Signed checkpoints" section.
pub fn checkpoint_section(r: &CheckpointReport) -> Option<Section> {
    if r.checkpoints.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = r
        .checkpoints
        .iter()
        .map(|c| {
            vec![
                c.seq.to_string(),
                c.head_hash.clone(),
                c.time.clone(),
                c.source.clone(),
                c.signatures.join("; "),
                if c.ok {
                    "verified".into()
                } else {
                    "FAILED".into()
                },
            ]
        })
        .collect();
    let mut html = table(
        &[
            "seq",
            "head hash",
            "time (UTC)",
            "held in",
            "signatures",
            "status",
        ],
        &rows,
    );
    let after = &r.events_after_last_countersigned;
    let _ = write!(
        html,
        "<p>Last countersigned checkpoint: {}. Events after it: {}.</p>",
        r.last_countersigned
            .map(|s| format!("seq {s}"))
            .unwrap_or_else(|| "none".into()),
        match (after.first(), after.last()) {
            (Some(a), Some(b)) => format!("{} (seq {a} to {b})", after.len()),
            _ => "none".into(),
        }
    );
    Some(Section {
        title: "Signed checkpoints".into(),
        html,
    })
}
