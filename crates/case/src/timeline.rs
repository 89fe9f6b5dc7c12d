//! The disposal timeline: every ledger step from seizure to remittance with its time, actor and
//! duration, the elapsed time from custody to remittance against the 24-hour target, and the
//! balances seized / in custody / disposed — plus the report sections built on it (timeline,
//! valuation, disposal, checkpoints). Pure functions over the ledger events.
//!
//! Event kinds are the constants of [`crate::kinds`], which the commands that write them use
//! too. Milestones (docs/formats.md, "Timeline"):
//! - *seizure*: the case opening (`case.created`);
//! - *custody*: the first `tx.confirmed` after a `sweep.build` — the 24-hour clock starts here;
//! - *remittance*: the first `tx.confirmed` of a `custody.spend` that pays outside custody
//!   (`disposed_sat > 0`), matched by txid.
//!
//! Balances: seized = `confirmed_sat` of the first `inspect.scan`; disposed = the
//! `disposed_sat` of confirmed custody spends; in custody = the latest confirmed sweep's
//! `total_to_custody_sat` less what confirmed custody spends paid out and in fees (a
//! re-custody's output stays in custody).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use custos_core::ledger::Event;
use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::CheckpointReport;
use crate::kinds;
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

/// A step out of custody: a disposal order or authority event, or a custody spend.
fn is_disposal(kind: &str) -> bool {
    kind.starts_with("disposal.") || kind == kinds::CUSTODY_SPEND
}

fn u64_field(p: &Value, k: &str) -> u64 {
    p.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// The custody spends whose transaction a later `tx.confirmed` event shows confirmed, with the
/// index of that confirmation.
fn confirmed_spends(events: &[Event]) -> Vec<(&Event, usize)> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.kind != kinds::CUSTODY_SPEND {
            continue;
        }
        let txid = field(&e.payload, "txid");
        if txid.is_empty() {
            continue;
        }
        let conf = events[i..]
            .iter()
            .position(|x| x.kind == kinds::TX_CONFIRMED && field(&x.payload, "txid") == txid);
        if let Some(j) = conf {
            out.push((e, i + j));
        }
    }
    out
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
        kinds::CASE_CREATED => "case opened (seizure recorded)".into(),
        kinds::INSPECT_SCAN => format!("inspection: {} sat confirmed", field(p, "confirmed_sat")),
        kinds::TRACE_RUN => "trace run".into(),
        kinds::CEREMONY_ASSEMBLED => format!("custody wallet {} assembled", field(p, "name")),
        kinds::SWEEP_BUILD => format!(
            "sweep built: {} sat to custody",
            field(p, "total_to_custody_sat")
        ),
        kinds::PSBT_COMBINE => "signatures combined".into(),
        kinds::PSBT_FINALIZE => format!("transaction {} finalized", field(p, "txid")),
        kinds::TX_BROADCAST => format!("transaction {} broadcast", field(p, "txid")),
        kinds::TX_CONFIRMED => format!(
            "transaction {} confirmed at height {}",
            field(p, "txid"),
            field(p, "height")
        ),
        kinds::VALUATION_COMPUTED => "valuation (reserve price and bond)".into(),
        kinds::DISPOSAL_ORDER_NEW => format!(
            "disposal order {} written: {} sat to {}",
            field(p, "order_id"),
            field(p, "amount_sat"),
            field(p, "destination")
        ),
        kinds::DISPOSAL_ORDER_VERIFY => format!(
            "disposal order {} checked: {}",
            field(p, "order_id"),
            if p.get("valid").and_then(Value::as_bool) == Some(true) {
                "valid".to_string()
            } else {
                format!("not valid ({})", field(p, "problem"))
            }
        ),
        kinds::DISPOSAL_AUTHORITY_ADD => format!(
            "disposal authorities of custody wallet {} written to {}",
            field(p, "policy"),
            field(p, "out")
        ),
        kinds::CUSTODY_SPEND => format!(
            "custody spend {} built: {} sat out of custody, {} sat to a new custody wallet, fee {} sat",
            field(p, "txid"),
            u64_field(p, "disposed_sat"),
            u64_field(p, "recustody_sat"),
            u64_field(p, "fee_sat")
        ),
        kinds::CASE_CHECKPOINT => format!("ledger checkpoint at seq {} signed", field(p, "seq")),
        kinds::CASE_COUNTERSIGNED => {
            format!("checkpoint at seq {} countersigned", field(p, "seq"))
        }
        kinds::CASE_EXPORTED => "case exported".into(),
        k => k.to_string(),
    }
}

/// Builds the timeline of `events` as of `now`.
pub fn build(events: &[Event], now: DateTime<Utc>) -> Timeline {
    let seized_at = events
        .iter()
        .find(|e| e.kind == kinds::CASE_CREATED)
        .map(|e| e.time.clone());
    let first_sweep = events.iter().position(|e| e.kind == kinds::SWEEP_BUILD);
    let custody =
        first_sweep.and_then(|i| events[i..].iter().find(|e| e.kind == kinds::TX_CONFIRMED));
    let custody_at = custody.map(|e| e.time.clone());
    let remitted_at = confirmed_spends(events)
        .into_iter()
        .filter(|(e, _)| u64_field(&e.payload, "disposed_sat") > 0)
        .map(|(_, i)| i)
        .min()
        .map(|i| events[i].time.clone());
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
        .find(|e| e.kind == kinds::INSPECT_SCAN)
        .and_then(|e| e.payload.get("confirmed_sat").and_then(Value::as_u64));
    let spends = confirmed_spends(events);
    let disposed_sat = spends
        .iter()
        .map(|(e, _)| u64_field(&e.payload, "disposed_sat"))
        .fold(0u64, u64::saturating_add);
    let left_custody = spends
        .iter()
        .map(|(e, _)| u64_field(&e.payload, "fee_sat"))
        .fold(disposed_sat, u64::saturating_add);
    // The latest sweep that a confirmation followed.
    let mut to_custody = None;
    for (i, e) in events.iter().enumerate() {
        if e.kind == kinds::SWEEP_BUILD && events[i..].iter().any(|x| x.kind == kinds::TX_CONFIRMED)
        {
            to_custody = e
                .payload
                .get("total_to_custody_sat")
                .and_then(Value::as_u64);
        }
    }
    Balances {
        seized_sat,
        in_custody_sat: to_custody.map(|c| c.saturating_sub(left_custody)),
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
        .find(|e| e.kind == kinds::VALUATION_COMPUTED)?;
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
                    kinds::PSBT_FINALIZE | kinds::TX_BROADCAST | kinds::TX_CONFIRMED
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, time: &str, kind: &str, payload: Value) -> Event {
        Event {
            seq,
            time: time.into(),
            examiner: "tester".into(),
            host: "h".into(),
            command: "custos".into(),
            kind: kind.into(),
            payload,
            artifacts: vec![],
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// Seizure, custody, valuation, order, a re-custody and a disposal spend, their
    /// confirmations — with the kinds the commands write.
    fn path() -> Vec<Event> {
        use serde_json::json;
        vec![
            ev(
                1,
                "2026-11-26T08:00:00.000Z",
                kinds::CASE_CREATED,
                json!({}),
            ),
            ev(
                2,
                "2026-11-26T08:10:00.000Z",
                kinds::INSPECT_SCAN,
                json!({"confirmed_sat": 5_000_000}),
            ),
            ev(
                3,
                "2026-11-26T08:20:00.000Z",
                kinds::SWEEP_BUILD,
                json!({"total_to_custody_sat": 4_990_000}),
            ),
            ev(
                4,
                "2026-11-26T09:00:00.000Z",
                kinds::TX_CONFIRMED,
                json!({"txid": "aa", "height": 101}),
            ),
            ev(
                5,
                "2026-11-26T10:00:00.000Z",
                kinds::VALUATION_COMPUTED,
                json!({}),
            ),
            ev(
                6,
                "2026-11-26T10:05:00.000Z",
                kinds::DISPOSAL_ORDER_NEW,
                json!({"order_id": "ord-1", "amount_sat": 1_500_000, "destination": "bcrt1q"}),
            ),
            ev(
                7,
                "2026-11-26T10:10:00.000Z",
                kinds::CUSTODY_SPEND,
                json!({"txid": "bb", "disposed_sat": 1_500_000, "recustody_sat": 0, "fee_sat": 400}),
            ),
            ev(
                8,
                "2026-11-26T10:20:00.000Z",
                kinds::TX_BROADCAST,
                json!({"txid": "bb"}),
            ),
            // an unrelated confirmation is not the remittance
            ev(
                9,
                "2026-11-26T10:30:00.000Z",
                kinds::TX_CONFIRMED,
                json!({"txid": "cc", "height": 102}),
            ),
            ev(
                10,
                "2026-11-27T11:00:00.000Z",
                kinds::TX_CONFIRMED,
                json!({"txid": "bb", "height": 103}),
            ),
        ]
    }

    #[test]
    fn remittance_is_the_confirmation_of_the_custody_spend_paying_out() {
        let events = path();
        let now = parse_time("2026-11-28T00:00:00Z").unwrap();
        let t = build(&events, now);
        assert_eq!(t.custody_at.as_deref(), Some("2026-11-26T09:00:00.000Z"));
        assert_eq!(t.remitted_at.as_deref(), Some("2026-11-27T11:00:00.000Z"));
        assert_eq!(t.elapsed_secs, Some(26 * 3600));
        assert_eq!(t.status, "over target");
        assert_eq!(
            t.balances,
            Balances {
                seized_sat: Some(5_000_000),
                in_custody_sat: Some(4_990_000 - 1_500_000 - 400),
                disposed_sat: 1_500_000,
            }
        );
        assert_eq!(t.steps[6].label, "custody spend bb built: 1500000 sat out of custody, 0 sat to a new custody wallet, fee 400 sat");
        assert_eq!(t.steps[9].since_previous_secs, Some(24 * 3600 + 30 * 60));
        assert!(t.steps.iter().all(|s| s.since_custody_secs.is_some()));
    }

    #[test]
    fn an_unconfirmed_spend_or_a_recustody_is_no_remittance() {
        let mut events = path();
        events.truncate(9);
        let now = parse_time("2026-11-26T12:00:00Z").unwrap();
        let t = build(&events, now);
        assert_eq!((t.remitted_at, t.status.as_str()), (None, "running"));
        assert_eq!(t.balances.disposed_sat, 0);
        assert_eq!(t.balances.in_custody_sat, Some(4_990_000));
        let mut events = path();
        events[6].payload = serde_json::json!({"txid": "bb", "disposed_sat": 0, "recustody_sat": 4_989_600, "fee_sat": 400});
        let t = build(&events, now);
        assert_eq!(t.remitted_at, None);
        assert_eq!(t.balances.in_custody_sat, Some(4_990_000 - 400));
    }

    #[test]
    fn every_kind_the_timeline_names_is_in_the_shared_list() {
        for e in path() {
            assert!(kinds::ALL.contains(&e.kind.as_str()), "{}", e.kind);
            assert_ne!(label(&e), e.kind, "{} has words", e.kind);
        }
    }
}
