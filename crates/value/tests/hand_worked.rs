//! The valuation rule on the committed sample quotes, against figures worked by hand (and
//! re-checked with Python's `decimal` module) in docs/valuation.md.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use custos_value::{quote, valuate, Asset, Error, FxTable, Holding, Params, Quote};

fn fixture(name: &str) -> (String, String) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/quotes")
        .join(name);
    (name.to_string(), std::fs::read_to_string(p).unwrap())
}

fn quotes() -> Vec<Quote> {
    let mut all = Vec::new();
    for (name, hint) in [
        ("kraken-ticker-xbteur.http", None),
        ("coinbase-ticker-btc-usd.json", Some("BTC-USD")),
        ("bitstamp-ticker-btceur.json", None),
        ("venues.csv", None),
    ] {
        let (n, t) = fixture(name);
        all.extend(quote::parse_file(&n, &t, hint).unwrap());
    }
    all
}

fn params() -> Params {
    Params {
        currency: "EUR".into(),
        at: DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        window: Duration::hours(1),
        haircut_cap_bp: 1000,
        fx_max_age_days: 4,
    }
}

fn fx() -> FxTable {
    let (n, t) = fixture("ecb-eurofxref-daily.xml");
    FxTable::parse(&n, &t).unwrap()
}

fn btc(units: u128) -> Holding {
    Holding {
        asset: Asset::Btc,
        units,
        source: "test".into(),
    }
}

#[test]
fn reserve_price_value_and_bond_match_the_hand_worked_example() {
    let v = valuate(&quotes(), &fx(), &[btc(150_000_000)], &params()).unwrap();
    assert_eq!(v.used, 5);
    let a = &v.assets[0];
    let venues: Vec<(String, String)> = a
        .venues
        .iter()
        .map(|x| (x.venue.clone(), x.weighted_bid.to_string()))
        .collect();
    assert_eq!(
        venues,
        [
            ("bitpanda".to_string(), "80175.00000000".to_string()),
            ("bitstamp".to_string(), "79950.00000000".to_string()),
            ("coinbase".to_string(), "80092.16589861".to_string()),
            ("kraken".to_string(), "80000.00000000".to_string()),
        ]
    );
    assert_eq!(a.base_venue, "bitstamp");
    assert_eq!(a.spread_bp, 32);
    assert_eq!(a.haircut_bp, 32);
    assert_eq!(a.reserve_price.to_string(), "79694.16");
    assert_eq!(a.value.unwrap().to_string(), "119541.24");
    assert_eq!(a.bond.unwrap().to_string(), "131495.37");
}

#[test]
fn value_rounds_down_and_bond_rounds_up_to_the_cent() {
    let v = valuate(&quotes(), &fx(), &[btc(123_456_789)], &params()).unwrap();
    let a = &v.assets[0];
    // 79694.16 × 1.23456789 = 98387.8509... → 98387.85; × 1.1 = 108226.635 → 108226.64
    assert_eq!(a.value.unwrap().to_string(), "98387.85");
    assert_eq!(a.bond.unwrap().to_string(), "108226.64");
}

#[test]
fn stale_venue_is_excluded_and_listed() {
    let v = valuate(&quotes(), &fx(), &[], &params()).unwrap();
    assert_eq!(v.excluded.len(), 1);
    assert_eq!(v.excluded[0].venue, "oldvenue");
    assert_eq!(v.excluded[0].reason, "stale");
    assert_eq!(v.excluded[0].line, Some(5));
    // With a window wide enough to take it in, the stale venue's 70000 bid sets the base.
    let mut wide = params();
    wide.window = Duration::hours(3);
    let w = valuate(&quotes(), &fx(), &[], &wide).unwrap();
    assert_eq!(w.assets[0].base_venue, "oldvenue");
    assert_eq!(
        w.assets[0].haircut_bp, 1000,
        "the spread 70005..80210 is capped at 10 %"
    );
}

#[test]
fn missing_fx_rate_names_the_currency_and_the_quote() {
    let (n, t) = fixture("ecb-eurofxref-no-usd.csv");
    let fx = FxTable::parse(&n, &t).unwrap();
    let e = valuate(&quotes(), &fx, &[], &params()).unwrap_err();
    match &e {
        Error::MissingFx {
            currency,
            needed_for,
            ..
        } => {
            assert_eq!(currency, "USD");
            assert!(needed_for.contains("coinbase"), "{needed_for}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn holding_without_fresh_quote_is_refused() {
    let mut late = params();
    late.at += Duration::hours(5);
    let e = valuate(&quotes(), &fx(), &[btc(1)], &late).unwrap_err();
    assert!(matches!(e, Error::NoFreshQuote { .. }), "{e}");
}

#[test]
fn fx_older_than_allowed_is_refused() {
    let mut later = params();
    later.at += Duration::days(6);
    later.window = Duration::days(7);
    let e = valuate(&quotes(), &fx(), &[], &later).unwrap_err();
    assert!(matches!(e, Error::StaleFx { .. }), "{e}");
}

#[test]
fn negative_price_and_unknown_pair_are_input_errors() {
    let (n, t) = fixture("negative-bid.csv");
    let e = quote::parse_file(&n, &t, None).unwrap_err();
    assert!(
        e.to_string().contains("negative-bid.csv") && e.to_string().contains("bid -80000.00"),
        "{e}"
    );
    let (n, t) = fixture("unknown-pair.csv");
    let e = quote::parse_file(&n, &t, None).unwrap_err();
    assert!(
        matches!(e, Error::UnknownPair { .. }) && e.to_string().contains("DOGE/EUR"),
        "{e}"
    );
    use custos_core::exit::Classify;
    assert_eq!(e.exit_class().code(), 2);
}
