//! The valuation rule (`custos-reserve-v1`, written out in docs/valuation.md):
//!
//! 1. A quote is used when its time lies in `[at − window, at]`; older quotes are *stale*,
//!    later ones *future*; a crossed book (bid above ask) and a volume that is zero at 8 decimals
//!    are left out too. Every left-out quote is listed with its reason.
//! 2. Bid and last are converted into the reporting currency, `price × rate(to) / rate(from)`
//!    with ECB rates (units per euro), floored to 8 decimals.
//! 3. Per venue, the volume-weighted bid `Σ(bid × volume) / Σ volume` (volumes floored to 8
//!    decimals), floored to 8 decimals.
//! 4. The base bid is the lowest venue volume-weighted bid.
//! 5. Haircut, in basis points: the spread of last prices over all used quotes,
//!    `ceil((max − min) × 10000 / min)`, capped at `haircut_cap_bp` (default 1000 = 10 %).
//! 6. Reserve price = `floor(base × (10000 − haircut) / 10000)` to the currency's minor unit.
//! 7. Value = `floor(reserve × holding / 10^decimals)` to the minor unit (sat: 10^8, wei: 10^18).
//! 8. Bond = `ceil(value × 110 / 100)` to the minor unit.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::quote::{minor_units, Asset, Quote};
use crate::{time, Dec, Error, FxTable, Round};

/// Name of the rule, recorded with every result.
pub const RULE: &str = "custos-reserve-v1";
/// Price precision of intermediate figures.
pub const PRICE_SCALE: u32 = 8;
/// The performance bond as a percentage of the value.
pub const BOND_PERCENT: i128 = 110;

/// Options of a valuation.
#[derive(Debug, Clone)]
pub struct Params {
    /// Reporting currency (ISO 4217, one the ECB publishes, or EUR).
    pub currency: String,
    /// Valuation time: the end of the window.
    pub at: DateTime<Utc>,
    /// Window length.
    pub window: Duration,
    /// Largest haircut, basis points.
    pub haircut_cap_bp: u32,
    /// Oldest FX reference date accepted, in days before `at` (weekends and holidays have none).
    pub fx_max_age_days: i64,
}

/// What is held of one asset.
#[derive(Debug, Clone, Serialize)]
pub struct Holding {
    /// Asset.
    pub asset: Asset,
    /// Smallest units (sat, wei).
    pub units: u128,
    /// Where the figure comes from (a custody inventory, `--amount`).
    pub source: String,
}

/// A quote left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    /// Venue.
    pub venue: String,
    /// Pair.
    pub pair: String,
    /// File.
    pub file: String,
    /// CSV line.
    pub line: Option<usize>,
    /// Quote time.
    pub time: String,
    /// `stale`, `future`, `crossed`, `no_volume`.
    pub reason: &'static str,
}

/// One venue's contribution.
#[derive(Debug, Clone, Serialize)]
pub struct VenueBid {
    /// Venue.
    pub venue: String,
    /// Quotes used.
    pub quotes: usize,
    /// Σ volume.
    pub volume: Dec,
    /// Volume-weighted bid in the reporting currency.
    pub weighted_bid: Dec,
}

/// The result for one asset.
#[derive(Debug, Clone, Serialize)]
pub struct AssetValue {
    /// Asset.
    pub asset: Asset,
    /// Venues used, by name.
    pub venues: Vec<VenueBid>,
    /// Lowest venue-weighted bid.
    pub base_bid: Dec,
    /// Venue of the base bid.
    pub base_venue: String,
    /// Lowest last price (converted).
    pub last_min: Dec,
    /// Highest last price (converted).
    pub last_max: Dec,
    /// Spread of last prices, basis points, rounded up.
    pub spread_bp: i128,
    /// Haircut applied, basis points.
    pub haircut_bp: i128,
    /// Reserve price per whole coin, minor units of the currency.
    pub reserve_price: Dec,
    /// The holding valued, if any.
    pub holding: Option<Holding>,
    /// The holding in whole coins (exact).
    pub holding_coins: Option<Dec>,
    /// Value of the holding at the reserve price.
    pub value: Option<Dec>,
    /// Performance bond (110 % of the value, rounded up).
    pub bond: Option<Dec>,
}

/// A complete valuation.
#[derive(Debug, Clone, Serialize)]
pub struct Valuation {
    /// [`RULE`].
    pub rule: &'static str,
    /// Reporting currency.
    pub currency: String,
    /// Window start.
    pub window_from: String,
    /// Window end (the valuation time).
    pub window_to: String,
    /// Haircut cap, basis points.
    pub haircut_cap_bp: u32,
    /// FX file and its date.
    pub fx_file: String,
    /// FX reference date.
    pub fx_date: String,
    /// Per asset, in asset order.
    pub assets: Vec<AssetValue>,
    /// Quotes left out.
    pub excluded: Vec<Excluded>,
    /// Quotes used.
    pub used: usize,
}

struct Used {
    venue: String,
    bid: Dec,
    last: Dec,
    volume: Dec,
}

fn exclusion(
    q: &Quote,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<&'static str>, Error> {
    Ok(if q.time < from {
        Some("stale")
    } else if q.time > to {
        Some("future")
    } else if q.bid > q.ask {
        Some("crossed")
    } else if !q.volume.rescale(PRICE_SCALE, Round::Floor)?.is_positive() {
        Some("no_volume")
    } else {
        None
    })
}

/// Applies the rule to `quotes` with `fx`, valuing `holdings`.
pub fn valuate(
    quotes: &[Quote],
    fx: &FxTable,
    holdings: &[Holding],
    p: &Params,
) -> Result<Valuation, Error> {
    let minor = minor_units(&p.currency)
        .ok_or_else(|| Error::Param(format!("unknown reporting currency {:?}", p.currency)))?;
    if p.window <= Duration::zero() {
        return Err(Error::Param("the window must be longer than zero".into()));
    }
    if p.haircut_cap_bp > 10_000 {
        return Err(Error::Param(
            "the haircut cap is at most 10000 bp (100 %)".into(),
        ));
    }
    let at_day = p.at.date_naive();
    let age = (at_day - fx.date).num_days();
    if age > p.fx_max_age_days || age < 0 {
        return Err(Error::StaleFx {
            file: fx.file.clone(),
            date: fx.date.to_string(),
            at: time::fmt(&p.at),
            max_days: p.fx_max_age_days,
        });
    }
    if fx.rate(&p.currency).is_none() {
        return Err(Error::MissingFx {
            file: fx.file.clone(),
            currency: p.currency.clone(),
            needed_for: "the reporting currency".into(),
        });
    }
    let from = p.at - p.window;
    let mut excluded = Vec::new();
    let mut by_asset: BTreeMap<Asset, Vec<Used>> = BTreeMap::new();
    for q in quotes {
        if let Some(reason) = exclusion(q, from, p.at)? {
            excluded.push(Excluded {
                venue: q.venue.clone(),
                pair: q.pair.to_string(),
                file: q.file.clone(),
                line: q.line,
                time: time::fmt(&q.time),
                reason,
            });
            continue;
        }
        let what = format!("{} {} from {}", q.venue, q.pair, q.file);
        let conv = |d: Dec| {
            fx.convert(
                d,
                &q.pair.quote,
                &p.currency,
                PRICE_SCALE,
                Round::Floor,
                &what,
            )
        };
        by_asset.entry(q.pair.base).or_default().push(Used {
            venue: q.venue.clone(),
            bid: conv(q.bid)?,
            last: conv(q.last)?,
            volume: q.volume.rescale(PRICE_SCALE, Round::Floor)?,
        });
    }
    let used = by_asset.values().map(Vec::len).sum();
    for h in holdings {
        if !by_asset.contains_key(&h.asset) {
            return Err(Error::NoFreshQuote {
                asset: h.asset.symbol().into(),
                from: time::fmt(&from),
                to: time::fmt(&p.at),
                excluded: excluded.len(),
            });
        }
    }
    let mut assets = Vec::new();
    for (asset, list) in &by_asset {
        let holding = holdings.iter().find(|h| h.asset == *asset).cloned();
        assets.push(value_asset(*asset, list, holding, p, minor)?);
    }
    Ok(Valuation {
        rule: RULE,
        currency: p.currency.clone(),
        window_from: time::fmt(&from),
        window_to: time::fmt(&p.at),
        haircut_cap_bp: p.haircut_cap_bp,
        fx_file: fx.file.clone(),
        fx_date: fx.date.to_string(),
        assets,
        excluded,
        used,
    })
}

fn value_asset(
    asset: Asset,
    list: &[Used],
    holding: Option<Holding>,
    p: &Params,
    minor: u32,
) -> Result<AssetValue, Error> {
    // Per venue: Σ(bid × volume) and Σ volume, exact at 16 and 8 decimals.
    let mut venues: BTreeMap<&str, (Dec, Dec, usize)> = BTreeMap::new();
    for u in list {
        let e = venues
            .entry(u.venue.as_str())
            .or_insert((Dec::ZERO, Dec::ZERO, 0));
        e.0 =
            e.0.checked_add(u.bid.mul(u.volume, 2 * PRICE_SCALE, Round::Floor)?)?;
        e.1 = e.1.checked_add(u.volume)?;
        e.2 += 1;
    }
    let mut vb = Vec::new();
    for (venue, (num, vol, n)) in venues {
        vb.push(VenueBid {
            venue: venue.to_string(),
            quotes: n,
            volume: vol,
            weighted_bid: num.div(vol, PRICE_SCALE, Round::Floor)?,
        });
    }
    let base = vb
        .iter()
        .min_by(|a, b| a.weighted_bid.cmp(&b.weighted_bid))
        .ok_or(Error::Overflow("empty venue list"))?;
    let (base_bid, base_venue) = (base.weighted_bid, base.venue.clone());
    let last_min = list.iter().map(|u| u.last).min().unwrap_or(Dec::ZERO);
    let last_max = list.iter().map(|u| u.last).max().unwrap_or(Dec::ZERO);
    let spread_bp = last_max
        .checked_sub(last_min)?
        .mul_div(Dec::from_int(10_000), last_min, 0, Round::Ceil)?
        .units();
    let haircut_bp = spread_bp.min(i128::from(p.haircut_cap_bp));
    let reserve_price = base_bid.mul_div(
        Dec::from_int(10_000 - haircut_bp),
        Dec::from_int(10_000),
        minor,
        Round::Floor,
    )?;
    let (mut holding_coins, mut value, mut bond) = (None, None, None);
    if let Some(h) = &holding {
        let units = i128::try_from(h.units).map_err(|_| Error::Overflow("holding"))?;
        let coins = Dec::new(units, asset.decimals())?;
        let v = reserve_price.mul_div(coins, Dec::from_int(1), minor, Round::Floor)?;
        let b = v.mul_div(
            Dec::from_int(BOND_PERCENT),
            Dec::from_int(100),
            minor,
            Round::Ceil,
        )?;
        holding_coins = Some(coins);
        value = Some(v);
        bond = Some(b);
    }
    Ok(AssetValue {
        asset,
        venues: vb,
        base_bid,
        base_venue,
        last_min,
        last_max,
        spread_bp,
        haircut_bp,
        reserve_price,
        holding,
        holding_coins,
        value,
        bond,
    })
}
