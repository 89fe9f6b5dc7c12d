//! `custos trace forward|backward --eth-rpc` on the lab's eth-seized scenario (anvil): the
//! forwarder's internal transfer (seen only in call traces) and the token flows, checked against
//! the lab's ground truth; the exports written all together. Skips without anvil unless
//! `CUSTOS_REQUIRE_LIVE=1`.

use custos_lab::eth::{Anvil, EthLab, EthTxTruth};
use custos_testkit::{custos_bin, run, s, scratch};

fn lab() -> Option<EthLab> {
    custos_testkit::live(Anvil::available(), "anvil (scripts/install-deps.sh)")
        .then(|| EthLab::start("eth-seized").expect("build eth-seized"))
}

fn has(
    v: &serde_json::Value,
    from: &str,
    to: &str,
    asset: &str,
    value: &str,
    internal: bool,
) -> bool {
    v["transfers"].as_array().unwrap().iter().any(|t| {
        t["from"].as_str().unwrap().eq_ignore_ascii_case(from)
            && t["to"].as_str().unwrap().eq_ignore_ascii_case(to)
            && t["asset"].as_str().unwrap().eq_ignore_ascii_case(asset)
            && t["value"].as_str().map(|v| {
                alloy_primitives::U256::from_str_radix(
                    v.trim_start_matches("0x"),
                    if v.starts_with("0x") { 16 } else { 10 },
                )
                .unwrap()
                .to_string()
            }) == Some(value.to_string())
            && t["internal"].as_bool() == Some(internal)
    })
}

#[test]
fn forward_and_backward_show_the_forwarders_internal_transfer_and_token_flows_from_truth() {
    let Some(lab) = lab() else { return };
    let url = lab.rpc_url();
    let t = lab.truth();
    let addr = |id: &str| {
        t.accounts
            .iter()
            .find(|a| a.id == id)
            .unwrap()
            .address
            .clone()
    };
    let seized0 = addr("seized-0");
    let counterparty = addr("counterparty");
    let forward_tx: &EthTxTruth = t.transactions.iter().find(|x| x.what == "forward").unwrap();
    let internal = forward_tx
        .internal
        .iter()
        .find(|i| i.to == counterparty)
        .unwrap();
    let dai = t
        .transactions
        .iter()
        .filter(|x| x.from == seized0)
        .flat_map(|x| x.token_transfers.iter())
        .find(|x| x.to == counterparty)
        .unwrap();
    let dai_contract = &t
        .token(&dai.asset)
        .map(|k| k.address.clone())
        .unwrap_or(dai.asset.clone());

    let dir = scratch("eth-trace", "fwd");
    let out = dir.join("exports");
    let (code, stdout, err) = run(custos_bin!().args([
        "--json",
        "trace",
        "forward",
        &seized0,
        "--eth-rpc",
        &url,
        "--hops",
        "2",
        "--out-dir",
        s(&out),
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        has(
            &v,
            &internal.from,
            &counterparty,
            "ETH",
            &internal.amount,
            true
        ),
        "{stdout}"
    );
    assert!(
        has(
            &v,
            &seized0,
            &counterparty,
            dai_contract,
            &dai.amount,
            false
        ),
        "{stdout}"
    );
    for f in [
        "trace.json",
        "edges.csv",
        "trace.dot",
        "trace.graphml",
        "trace.html",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(out.join("edges.csv")).unwrap();
    assert!(csv.starts_with("block,tx,position,from,to,asset,value,internal\r\n"));

    // Backward from the counterparty finds the forwarder's internal payment and, one hop further,
    // the seized account that paid the forwarder.
    let (code, stdout, err) = run(custos_bin!().args([
        "--json",
        "trace",
        "backward",
        &counterparty,
        "--eth-rpc",
        &url,
        "--hops",
        "2",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        has(
            &v,
            &internal.from,
            &counterparty,
            "ETH",
            &internal.amount,
            true
        ),
        "{stdout}"
    );
    assert!(
        has(
            &v,
            &seized0,
            &forward_tx.to.clone().unwrap(),
            "ETH",
            &forward_tx.value_wei,
            false
        ),
        "{stdout}"
    );

    // A transaction start: the forward transaction alone, internal transfer included.
    let (code, stdout, err) = run(custos_bin!().args([
        "--json",
        "trace",
        "forward",
        &forward_tx.hash,
        "--eth-rpc",
        &url,
        "--hops",
        "0",
    ]));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        has(
            &v,
            &internal.from,
            &counterparty,
            "ETH",
            &internal.amount,
            true
        ),
        "{stdout}"
    );
}
