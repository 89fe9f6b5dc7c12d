//! Issue 13, the whole path in one case on the lab, through the real binaries: seizure (case
//! opened) → custody (ceremony, sweep, broadcast, confirmed) → the custody wallet inspected from
//! its policy and valued (`custos valuation` values exactly the custody balance) → an
//! authority written into the policy, a disposal order → `custos custody spend` → two keyholder
//! signers → combined, finalized, broadcast, confirmed. The ledger's kinds are the shared
//! constants (`custos_case::kinds`), and the timeline — in the exported report and in `case
//! serve` — has every step with its time and duration, custody and remittance matched by txid,
//! and the total against the 24-hour target.

use std::path::Path;

use custos_case::kinds;
use custos_lab::{Lab, LabConfig};
use custos_testkit::custody::{
    add_authorities, authority, ceremony, inspect_custody, sample_valuation_args, sweep_seized,
    test_address, Bins,
};
use custos_testkit::serve::serve;
use custos_testkit::{bins, new_case, ok, s};

const NOW: &str = "2026-11-26T12:00:00Z";

/// `custos broadcast FILE` in the case, one block mined, `custos watch` records the
/// confirmation; returns the txid.
fn broadcast_and_confirm(b: &Bins, case: &Path, lab: &Lab, file: &Path) -> String {
    let url = lab.url();
    let txid = b
        .custos_ok(Some(case), &["broadcast", s(file), "--server", &url])
        .trim()
        .to_string();
    lab.mine(1).unwrap();
    b.custos_ok(
        Some(case),
        &[
            "watch",
            &txid,
            "--server",
            &url,
            "--interval",
            "1",
            "--give-up-after",
            "120",
        ],
    );
    txid
}

/// Order written and signed, custody spend built, signed by keyholders 0 and 2, combined and
/// finalized, all recorded in the case; returns the final transaction file and the spend's
/// summary.
#[allow(clippy::too_many_arguments)]
fn dispose(
    b: &Bins,
    d: &Path,
    case: &Path,
    policy: &Path,
    inv: &Path,
    mnemonics: &[&Path],
    key: &Path,
    url: &str,
) -> (std::path::PathBuf, serde_json::Value) {
    let c = Some(case);
    let unsigned = d.join("order.json");
    b.custos_ok(
        c,
        &[
            "disposal",
            "order",
            "new",
            "--amount-sat",
            "1500000",
            "--destination",
            &test_address(0x51),
            "--reference",
            "court order 13/2026",
            "--not-before",
            "2026-11-01T00:00:00Z",
            "--not-after",
            "2026-12-01T00:00:00Z",
            "--issuer",
            "public prosecutor, case desk",
            "--out",
            s(&unsigned),
        ],
    );
    ok(b.signer()
        .args(["disposal", "sign-order", s(&unsigned), "--key", s(key)]));
    let order = d.join("order-signed.json");
    b.custos_ok(
        c,
        &[
            "disposal",
            "order",
            "verify",
            s(&order),
            "--policy",
            s(policy),
            "--now",
            NOW,
        ],
    );
    let psbt = d.join("disposal.psbt");
    let summary: serde_json::Value = serde_json::from_str(&b.custos_ok(
        c,
        &[
            "--json",
            "custody",
            "spend",
            "--custody",
            s(policy),
            "--inventory",
            s(inv),
            "--order",
            s(&order),
            "--fee-rate",
            "2",
            "--server",
            url,
            "--out",
            s(&psbt),
        ],
    ))
    .unwrap();
    let mut signed = Vec::new();
    for (n, m) in mnemonics.iter().enumerate() {
        let copy = d.join(format!("disposal-{n}.psbt"));
        std::fs::copy(&psbt, &copy).unwrap();
        let state = d.join(format!("signer-{n}"));
        std::fs::create_dir_all(&state).unwrap();
        ok(b.signer().args([
            "sign",
            s(&copy),
            "--material",
            s(m),
            "--policy",
            s(policy),
            "--order",
            s(&order),
            "--now",
            NOW,
            "--state-dir",
            s(&state),
        ]));
        signed.push(d.join(format!("disposal-{n}-signed.psbt")));
    }
    let combined = d.join("disposal-combined.psbt");
    b.custos_ok(
        c,
        &[
            "psbt",
            "combine",
            s(&signed[0]),
            s(&signed[1]),
            "--out",
            s(&combined),
        ],
    );
    b.custos_ok(c, &["psbt", "finalize", s(&combined)]);
    (d.join("disposal-combined-final.txn"), summary)
}

fn check_timeline(
    t: &serde_json::Value,
    sweep_txid: &str,
    spend_txid: &str,
    events: &[serde_json::Value],
) {
    let steps = t["steps"].as_array().unwrap();
    assert_eq!(steps.len(), events.len(), "one step per event");
    for (i, st) in steps.iter().enumerate() {
        assert!(!st["time"].as_str().unwrap().is_empty(), "{st}");
        assert!(!st["actor"].as_str().unwrap().is_empty(), "{st}");
        assert_ne!(
            st["label"], st["kind"],
            "every step says what happened: {st}"
        );
        if i > 0 {
            assert!(st["since_previous_secs"].as_i64().unwrap() >= 0, "{st}");
        }
    }
    let confirmed = |txid: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kinds::TX_CONFIRMED && e["payload"]["txid"] == txid)
            .unwrap_or_else(|| panic!("no confirmation of {txid}"))["time"]
            .clone()
    };
    assert_eq!(t["custody_at"], confirmed(sweep_txid));
    assert_eq!(t["remitted_at"], confirmed(spend_txid));
    assert_eq!(t["status"], "within target");
    assert_eq!(t["target_secs"], 86_400);
    assert!(t["elapsed_secs"].as_i64().unwrap() >= 0);
}

#[test]
fn seizure_to_remittance_on_the_lab_records_every_timeline_step_within_24_hours() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let url = lab.url();
    let b = bins!();
    let case = d.join("case");
    new_case(b.custos(), &case, "LAB-13");
    let c = Some(case.as_path());
    let wallet = ceremony(&b, d, "wsh", "custody", 1, c);
    let auth = authority(&b, d, 0x41, "public prosecutor, case desk");
    let policy = add_authorities(&b, &wallet.policy, &[&auth.record], c);
    let swept = sweep_seized(&b, d, &url, &policy, c);
    let sweep_txid = broadcast_and_confirm(&b, &case, &lab, &swept.final_file);

    // Item 4: the custody wallet scanned from its policy, valued at exactly its balance.
    let inv = inspect_custody(&b, d, &url, &policy, "custody", c);
    let mut args = vec!["--json".to_string()];
    args.extend(sample_valuation_args("ecb-eurofxref-daily.xml"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v: serde_json::Value = serde_json::from_str(&b.custos_ok(c, &args)).unwrap();
    let a = &v["assets"][0];
    assert_eq!(a["holding"]["units"], swept.value, "{v}");
    assert!(
        a["holding"]["source"]
            .as_str()
            .unwrap()
            .starts_with("custody inventory"),
        "{v}"
    );
    assert_eq!(a["reserve_price"], "79694.16");
    // value = floor(reserve × sat / 10^8) to the cent (docs/valuation.md, step 7)
    let cents = 7_969_416u128 * u128::from(swept.value) / 100_000_000;
    assert_eq!(
        a["value"],
        format!("{}.{:02}", cents / 100, cents % 100),
        "{v}"
    );

    let m: Vec<&Path> = [0usize, 2]
        .iter()
        .map(|i| wallet.holders[*i].mnemonic.as_path())
        .collect();
    let (final_file, summary) = dispose(&b, d, &case, &policy, &inv, &m, &auth.key, &url);
    assert_eq!(summary["disposed_sat"], 1_500_000);
    let spend_txid = broadcast_and_confirm(&b, &case, &lab, &final_file);
    assert_eq!(summary["txid"], spend_txid.as_str());

    let log: Vec<serde_json::Value> =
        serde_json::from_str(&b.custos_ok(c, &["--json", "case", "log"])).unwrap();
    for e in &log {
        let k = e["kind"].as_str().unwrap();
        assert!(kinds::ALL.contains(&k), "{k} is not a shared kind");
    }
    for k in [
        kinds::CASE_CREATED,
        kinds::CEREMONY_ASSEMBLED,
        kinds::DISPOSAL_AUTHORITY_ADD,
        kinds::INSPECT_SCAN,
        kinds::SWEEP_BUILD,
        kinds::TX_BROADCAST,
        kinds::TX_CONFIRMED,
        kinds::VALUATION_COMPUTED,
        kinds::DISPOSAL_ORDER_NEW,
        kinds::DISPOSAL_ORDER_VERIFY,
        kinds::CUSTODY_SPEND,
        kinds::PSBT_COMBINE,
        kinds::PSBT_FINALIZE,
    ] {
        assert!(log.iter().any(|e| e["kind"] == k), "no {k} event");
    }

    // case serve: the timeline and balances
    let srv = serve(b.custos(), &case);
    let (code, body) = srv.get("/api/state");
    assert_eq!(code, 200, "{body}");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    let t = &st["timeline"];
    check_timeline(t, &sweep_txid, &spend_txid, &log);
    let fee = summary["fee_sat"].as_u64().unwrap();
    assert_eq!(t["balances"]["disposed_sat"], 1_500_000);
    assert_eq!(
        t["balances"]["in_custody_sat"],
        swept.value - 1_500_000 - fee
    );
    drop(srv);

    // the exported report: the same timeline, its 24-hour total, valuation and disposal
    let export = d.join("export");
    b.custos_ok(c, &["case", "export", s(&export)]);
    let html = std::fs::read_to_string(export.join("report.html")).unwrap();
    assert!(
        html.contains("Timeline (24-hour disposal target)"),
        "no timeline"
    );
    assert!(html.contains("against the 24-hour target"), "no total");
    assert!(html.contains("(within target)"), "no status");
    assert!(
        html.contains(t["remitted_at"].as_str().unwrap()),
        "no remittance time"
    );
    assert!(html.contains("<h2>Valuation</h2>") && html.contains("<h2>Disposal</h2>"));
    assert!(html.contains(&format!(
        "custody spend {spend_txid} built: 1500000 sat out of custody"
    )));
}
