//! `custos valuation` end to end on the committed sample quotes (fixtures/quotes): the
//! hand-worked figures of docs/valuation.md digit for digit, every input stored as an artifact
//! with one `valuation.computed` event, the report sections, and the refusals (exit 2).

use custos_testkit::custody::{quote_file as q, sample_valuation_args as valuation_args};
use custos_testkit::{custos_bin, new_case_by, run};

fn custos() -> std::process::Command {
    custos_bin!()
}

fn new_case(dir: &std::path::Path) {
    new_case_by(custos(), dir, "VAL-1", "alice");
}

#[test]
fn valuation_prints_hand_worked_figures_and_records_every_input() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    new_case(&case);
    let mut args = vec![
        "--case".to_string(),
        case.display().to_string(),
        "--json".into(),
    ];
    args.extend(valuation_args("ecb-eurofxref-daily.xml"));
    args.extend(["--amount".into(), "150000000".into()]);
    let (code, out, err) = run(custos().args(&args));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let a = &v["assets"][0];
    assert_eq!(a["asset"], "BTC");
    assert_eq!(a["base_bid"], "79950.00000000");
    assert_eq!(a["base_venue"], "bitstamp");
    assert_eq!(a["haircut_bp"], 32);
    assert_eq!(a["reserve_price"], "79694.16");
    assert_eq!(a["value"], "119541.24");
    assert_eq!(a["bond"], "131495.37");
    assert_eq!(v["excluded"][0]["venue"], "oldvenue");
    assert_eq!(v["excluded"][0]["reason"], "stale");

    // One event, with the four quote files, the FX file and the result as artifacts.
    let (_, log, _) =
        run(custos().args(["--case", case.to_str().unwrap(), "--json", "case", "log"]));
    let events: serde_json::Value = serde_json::from_str(&log).unwrap();
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "valuation.computed");
    assert_eq!(last["artifacts"].as_array().unwrap().len(), 6);
    let kraken = std::fs::read(q("kraken-ticker-xbteur.http")).unwrap();
    let sha = custos_core_sha(&kraken);
    assert!(last["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == &sha));

    // The export's report holds the valuation and the timeline.
    let out_dir = tmp.path().join("export");
    let (code, _, err) = run(custos().args([
        "--case",
        case.to_str().unwrap(),
        "case",
        "export",
        out_dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Valuation</h2>"), "no valuation section");
    assert!(html.contains("131495.37 EUR"));
    assert!(html.contains("Timeline (24-hour disposal target)"));
}

fn custos_core_sha(data: &[u8]) -> String {
    use bitcoin::hashes::{sha256, Hash};
    sha256::Hash::hash(data).to_string()
}

#[test]
fn missing_fx_rate_exits_2_naming_the_currency() {
    let mut args = valuation_args("ecb-eurofxref-no-usd.csv");
    args.extend(["--amount".into(), "1".into()]);
    let (code, _, err) = run(custos().args(&args));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no rate for USD") && err.contains("coinbase"),
        "{err}"
    );
}

#[test]
fn negative_price_and_unknown_pair_exit_2() {
    for (file, needle) in [
        ("negative-bid.csv", "bid -80000.00 is not positive"),
        ("unknown-pair.csv", "unknown pair \"DOGE/EUR\""),
    ] {
        let (code, _, err) = run(custos().args([
            "valuation",
            "--quotes",
            q(file).to_str().unwrap(),
            "--fx",
            q("ecb-eurofxref-daily.xml").to_str().unwrap(),
            "--amount",
            "1",
        ]));
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.contains(needle) && err.contains(file), "{file}: {err}");
    }
}

#[test]
fn coinbase_ticker_without_its_pair_exits_2_saying_how_to_name_it() {
    let (code, _, err) = run(custos().args([
        "valuation",
        "--quotes",
        q("coinbase-ticker-btc-usd.json").to_str().unwrap(),
        "--fx",
        q("ecb-eurofxref-daily.xml").to_str().unwrap(),
        "--amount",
        "1",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PAIR=FILE"), "{err}");
}

#[test]
fn nothing_to_value_without_custody_inventory_or_amount_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    new_case(&case);
    let mut args = vec!["--case".to_string(), case.display().to_string()];
    args.extend(valuation_args("ecb-eurofxref-daily.xml"));
    let (code, _, err) = run(custos().args(&args));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--amount"), "{err}");
}
