//! `custos valuation`: the reserve price, the value of the holdings in custody and the 110 %
//! performance bond, from quote files in exchange shapes and an ECB FX file (rule
//! `custos-reserve-v1`, docs/valuation.md). Pure arithmetic over files: custos fetches nothing.
//!
//! With `--case`, every quote file and the FX file are stored as artifacts and one
//! `valuation.computed` event records the result (which the report's Valuation section shows).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use chrono::{DateTime, Duration, Utc};
use clap::Args;
use custos_case::{Case, NewArtifact};
use custos_core::{file, inventory::WatchOnly, ledger::EventDraft};
use custos_value::{quote, rule, valuate, Asset, FxTable, Holding, Params, Quote};

use crate::app::{print_json, App, CmdResult, Failure};

/// Ledger event kind of a valuation.
pub(crate) const EVENT_KIND: &str = custos_case::kinds::VALUATION_COMPUTED;

/// A quote or FX file: small text files.
const QUOTE_FILE: file::Limit = file::Limit {
    kind: "quote file",
    bytes: 16 * 1024 * 1024,
};

/// `custos valuation` options.
#[derive(Debug, Args)]
pub(crate) struct ValuationArgs {
    /// Quote file, repeatable: a CSV (venue,pair,bid,ask,last,volume,timestamp), a Kraken Ticker
    /// response saved with `curl -si`, a Coinbase Exchange ticker (as `BTC-EUR=FILE`: the body does
    /// not name its product) or a Bitstamp v2 ticker.
    #[arg(long = "quotes", required = true, value_name = "[PAIR=]FILE")]
    pub quotes: Vec<String>,
    /// FX reference rates: the ECB's eurofxref-daily.xml or eurofxref.csv.
    #[arg(long, value_name = "FILE")]
    pub fx: PathBuf,
    /// Reporting currency (ISO 4217).
    #[arg(long, default_value = "EUR")]
    pub currency: String,
    /// Window of quotes used, ending at --at: e.g. 30m, 1h, 2h, 1d.
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Valuation time, RFC 3339 (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Largest volatility haircut, basis points (1000 = 10 %).
    #[arg(long, default_value_t = 1000)]
    pub haircut_cap_bp: u32,
    /// Oldest FX reference date accepted, in days before --at.
    #[arg(long, default_value_t = 4)]
    pub fx_max_age_days: i64,
    /// BTC held, in sat, when the case holds no custody inventory (overrides it when given).
    #[arg(long, value_name = "SAT")]
    pub amount: Option<u64>,
    /// ETH held, in wei.
    #[arg(long, value_name = "WEI")]
    pub amount_wei: Option<u128>,
}

fn parse_window(s: &str) -> CmdResult<Duration> {
    let t = s.trim();
    let bad = || {
        Failure::input(anyhow!(
            "--window {s:?}: expected a number and a unit (s, m, h, d), e.g. 1h"
        ))
    };
    let (num, unit) = t.split_at(t.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    Ok(match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(bad()),
    })
}

fn strip_descriptor(d: &str) -> String {
    d.split('#').next().unwrap_or(d).trim().replace('\'', "h")
}

/// The BTC in custody according to the latest scan of the custody wallet: a scan of a custody
/// policy (`custos inspect custody-policy.json`: its watch-only sources are marked `custody`),
/// or one whose watch-only sources include the receive or change descriptor of the wallet the
/// case's ceremony assembled.
pub(crate) fn custody_holding(case: &Case) -> CmdResult<Option<(u64, u64)>> {
    let events = case.events()?;
    let custody: Vec<String> = events
        .iter()
        .rev()
        .find(|e| e.kind == custos_case::kinds::CEREMONY_ASSEMBLED)
        .map(|asm| {
            ["receive_descriptor", "change_descriptor"]
                .iter()
                .filter_map(|k| asm.payload.get(*k).and_then(|v| v.as_str()))
                .map(strip_descriptor)
                .collect()
        })
        .unwrap_or_default();
    for ev in events
        .iter()
        .rev()
        .filter(|e| e.kind == crate::cmd_inspect::EVENT_KIND)
    {
        for sha in &ev.artifacts {
            let a = case.artifact(sha)?;
            if a.kind != "watch_only" {
                continue;
            }
            let Ok(w) = serde_json::from_slice::<WatchOnly>(&a.data) else {
                continue;
            };
            let is_custody = |s: &custos_core::inventory::WatchSource| {
                s.catalogue_id.as_deref() == Some("custody")
                    || custody.contains(&strip_descriptor(&s.descriptor))
            };
            if !w.sources.is_empty() && w.sources.iter().all(is_custody) {
                let sat = ev
                    .payload
                    .get("confirmed_sat")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                return Ok(Some((sat, ev.seq)));
            }
        }
    }
    Ok(None)
}

fn read_quotes(args: &ValuationArgs) -> CmdResult<(Vec<Quote>, Vec<NewArtifact>)> {
    let mut quotes = Vec::new();
    let mut artifacts = Vec::new();
    for spec in &args.quotes {
        // `PAIR=FILE` only when the part before '=' reads as a pair (a path may hold '=').
        let (hint, path) = match spec.split_once('=') {
            Some((p, f)) if quote::Pair::parse(p).is_some() => (Some(p), f),
            _ => (None, spec.as_str()),
        };
        let path = Path::new(path);
        let text = file::read_text(path, QUOTE_FILE)?;
        let name = path.display().to_string();
        quotes.extend(quote::parse_file(&name, &text, hint)?);
        artifacts.push(NewArtifact {
            kind: "quote".into(),
            name: file_name(path),
            data: text.into_bytes(),
        });
    }
    Ok((quotes, artifacts))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Runs `custos valuation`.
pub(crate) fn run(app: &App, args: &ValuationArgs) -> CmdResult {
    let mut case = app.open_case()?;
    let at: DateTime<Utc> = match &args.at {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| Failure::input(anyhow!("--at {s:?} is not RFC 3339: {e}")))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let params = Params {
        currency: args.currency.trim().to_ascii_uppercase(),
        at,
        window: parse_window(&args.window)?,
        haircut_cap_bp: args.haircut_cap_bp,
        fx_max_age_days: args.fx_max_age_days,
    };
    let (quotes, mut artifacts) = read_quotes(args)?;
    let fx_text = file::read_text(&args.fx, QUOTE_FILE)?;
    let fx = FxTable::parse(&args.fx.display().to_string(), &fx_text)?;
    artifacts.push(NewArtifact {
        kind: "fx_rates".into(),
        name: file_name(&args.fx),
        data: fx_text.into_bytes(),
    });
    let mut holdings = Vec::new();
    match (args.amount, case.as_ref()) {
        (Some(sat), _) => holdings.push(Holding {
            asset: Asset::Btc,
            units: u128::from(sat),
            source: "--amount".into(),
        }),
        (None, Some(c)) => {
            if let Some((sat, seq)) = custody_holding(c)? {
                holdings.push(Holding {
                    asset: Asset::Btc,
                    units: u128::from(sat),
                    source: format!("custody inventory (ledger seq {seq})"),
                });
            }
        }
        (None, None) => {}
    }
    if let Some(wei) = args.amount_wei {
        holdings.push(Holding {
            asset: Asset::Eth,
            units: wei,
            source: "--amount-wei".into(),
        });
    }
    if holdings.is_empty() {
        return Err(Failure::input(anyhow!(
            "nothing to value: the case holds no scan of the custody wallet (run `custos inspect custody-policy.json`) and no --amount SAT was given"
        )));
    }
    let v = valuate(&quotes, &fx, &holdings, &params)?;
    let result_json = serde_json::to_vec_pretty(&v).map_err(Failure::env)?;
    artifacts.push(NewArtifact {
        kind: "valuation".into(),
        name: "valuation.json".into(),
        data: result_json,
    });
    let files: Vec<serde_json::Value> = artifacts
        .iter()
        .map(|a| serde_json::json!({"kind": a.kind, "name": a.name, "sha256": a.sha256()}))
        .collect();
    let mut payload = serde_json::to_value(&v).map_err(Failure::env)?;
    payload["files"] = serde_json::Value::Array(files);
    let event = app.record(
        case.as_mut(),
        EventDraft::new(EVENT_KIND, payload.clone()),
        artifacts,
    )?;
    if app.json {
        if let Some(e) = event {
            payload["ledger_seq"] = serde_json::json!(e.seq);
        }
        return print_json(&payload);
    }
    print_text(&v)
}

fn print_text(v: &rule::Valuation) -> CmdResult {
    outln!(
        "valuation ({}) in {}: quotes {} .. {}, fx {} of {}",
        v.rule,
        v.currency,
        v.window_from,
        v.window_to,
        v.fx_file,
        v.fx_date
    )?;
    for a in &v.assets {
        outln!("{}:", a.asset.symbol())?;
        for vb in &a.venues {
            outln!(
                "  {:<12} {} quote(s), volume {}, volume-weighted bid {}",
                vb.venue,
                vb.quotes,
                vb.volume,
                vb.weighted_bid
            )?;
        }
        outln!("  lowest venue bid   {} ({})", a.base_bid, a.base_venue)?;
        outln!(
            "  last prices        {} .. {}: spread {} bp, haircut {} bp",
            a.last_min,
            a.last_max,
            a.spread_bp,
            a.haircut_bp
        )?;
        outln!("  reserve price      {} {}", a.reserve_price, v.currency)?;
        if let (Some(h), Some(c), Some(val), Some(b)) =
            (&a.holding, &a.holding_coins, &a.value, &a.bond)
        {
            outln!(
                "  holding            {c} {} ({})",
                a.asset.symbol(),
                h.source
            )?;
            outln!("  value              {val} {}", v.currency)?;
            outln!(
                "  performance bond   {b} {} (110 %, rounded up)",
                v.currency
            )?;
        }
    }
    for x in &v.excluded {
        outln!(
            "excluded: {} {} from {}{} at {}: {}",
            x.venue,
            x.pair,
            x.file,
            x.line.map(|l| format!(" line {l}")).unwrap_or_default(),
            x.time,
            x.reason
        )?;
    }
    Ok(())
}
