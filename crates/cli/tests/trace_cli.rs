//! `custos trace` as a user runs it, against the lab's `tracing-course` chain: the theft traced
//! forward to the exchanges through the peeling chain and the CoinJoin, every planted hop
//! recovered, evidence recorded in the case, an offline replay byte-identical, tampering caught
//! by `case verify`; bad input refused with exit 2; a server going silent mid-trace gives a
//! partial result with exit 1.

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use custos_lab::{fixtures_dir, Lab, LabConfig};
use custos_testkit::{custos_bin, run};
use serde_json::Value;

fn labels() -> String {
    fixtures_dir()
        .join("lab/tracing-course/labels.yaml")
        .to_str()
        .unwrap()
        .to_string()
}

/// The theft: the story's transaction whose note starts with "theft", output 0 (to the thief).
fn theft_outpoint(truth: &custos_lab::GroundTruth) -> String {
    let t = truth
        .transactions
        .iter()
        .find(|t| t.note.starts_with("theft"))
        .expect("the scenario has a theft");
    format!("{}:0", t.txid)
}

#[test]
fn traces_the_theft_forward_records_evidence_replays_offline_and_catches_tampering() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let truth = lab.ground_truth().clone();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    custos_testkit::new_case(custos_bin!(), &case, "TRACE-1");
    let start = theft_outpoint(&truth);
    let out_dir = tmp.path().join("exports");
    let url = lab.url();
    let args = |offline: bool| {
        let mut v = vec![
            "--case".to_string(),
            case.to_str().unwrap().into(),
            "--json".into(),
            "trace".into(),
            "forward".into(),
            start.clone(),
            "--hops".into(),
            "20".into(),
            "--labels".into(),
            labels(),
        ];
        if offline {
            v.push("--offline".into());
        } else {
            v.extend([
                "--server".into(),
                url.clone(),
                "--out-dir".into(),
                out_dir.to_str().unwrap().into(),
            ]);
        }
        v
    };
    let (code, online, err) = run(custos_bin!().args(args(false)));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&online).unwrap();
    assert_eq!(v["format"], "custos-trace-v1");
    assert_eq!(v["trace"]["partial"].as_array().unwrap().len(), 0);

    // Every transaction the thief paid from is in the graph: the planted path is recovered.
    let txs = v["trace"]["graph"]["txs"].as_object().unwrap();
    for t in &truth.transactions {
        if t.from_wallets.iter().any(|w| w == "thief") {
            assert!(
                txs.contains_key(&t.txid),
                "planted hop {} ({}) missing",
                t.txid,
                t.note
            );
        }
    }
    // Every transaction in the graph is proven by SPV.
    for (txid, tx) in txs {
        assert_eq!(tx["inclusion"]["status"], "verified", "{txid}");
    }
    // The peeling chain and the CoinJoin are found, and no cluster spans the CoinJoin's inputs.
    assert!(!v["analysis"]["peels"].as_array().unwrap().is_empty());
    let joins = v["analysis"]["coinjoins"].as_array().unwrap();
    assert!(!joins.is_empty());
    let join_txid = joins[0]["txid"].as_str().unwrap();
    let join_inputs: Vec<String> = txs[join_txid]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap().to_string())
        .collect();
    for c in v["analysis"]["clustering"]["clusters"].as_array().unwrap() {
        let addrs: Vec<&str> = c["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let inside = join_inputs
            .iter()
            .filter(|a| addrs.contains(&a.as_str()))
            .count();
        assert!(inside <= 1, "a cluster merges across the CoinJoin: {c}");
    }
    // Exposure is given under all five models, and the labelled exchange is reached.
    let exposure = v["exposure"].as_array().unwrap();
    assert_eq!(exposure.len(), 5);
    for e in exposure {
        assert!(e["per_category"]["exchange"].as_u64().unwrap() > 0, "{e}");
    }
    // Round trips per hop stay constant (a handful), whatever the frontier.
    let hops = v["trace"]["stats"]["hops"].as_u64().unwrap();
    let trips = v["trace"]["stats"]["round_trips"].as_u64().unwrap();
    assert!(
        trips <= 4 + 4 * (hops + 1),
        "{trips} round trips for {hops} hops"
    );

    // The exports were written, all of them.
    for f in [
        "trace.json",
        "edges.csv",
        "trace.dot",
        "trace.graphml",
        "trace.html",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    // ... and are never overwritten.
    let (code, _, err) = run(custos_bin!().args(args(false)));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exists"), "{err}");

    // The same trace replayed from the case alone gives identical JSON.
    drop(lab);
    let (code, offline, err) = run(custos_bin!().args(args(true)));
    assert_eq!(code, 0, "{err}");
    assert_eq!(offline, online, "offline replay differs");

    // The case verifies; the report has a tracing section; the view renders.
    let c = case.to_str().unwrap();
    let (code, _, err) = run(custos_bin!().args(["--case", c, "case", "verify"]));
    assert_eq!(code, 0, "{err}");
    let view = tmp.path().join("view.html");
    let (code, _, err) = run(custos_bin!().args([
        "--case",
        c,
        "trace",
        "view",
        "--out",
        view.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&view).unwrap().contains("<svg"));
    let export = tmp.path().join("case-export");
    let (code, _, err) =
        run(custos_bin!().args(["--case", c, "case", "export", export.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(export.join("report.html")).unwrap();
    assert!(
        report.contains("Tracing"),
        "no tracing section in the case report"
    );

    // Editing one stored transaction makes `case verify` fail.
    let db = case.join("case.sqlite");
    let edited = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             (h,d)=c.execute(\"select sha256,data from artifacts where kind='raw_tx' limit 1\").fetchone(); \
             d=bytearray(d); d[-1]^=1; \
             c.execute('update artifacts set data=? where sha256=?', (bytes(d),h)); \
             c.commit(); print(h)",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(edited.status.success(), "{edited:?}");
    let (code, _, err) = run(custos_bin!().args(["--case", c, "case", "verify"]));
    assert_eq!(
        code, 1,
        "an edited transaction must fail verification: {err}"
    );
}

#[test]
fn bad_input_is_refused_with_exit_2_and_no_panic() {
    let lab = Lab::start(LabConfig::scenario("seized-basic")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // An unknown txid.
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "trace",
        "forward",
        "00000000000000000000000000000000000000000000000000000000000000aa",
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("00000000000000000000000000000000000000000000000000000000000000aa"),
        "{err}"
    );
    // An address of another network.
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "trace",
        "backward",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regtest address"), "{err}");
    // A malformed label file: line and field named.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "title: t\ncreator: c\nsource: s\ncurrency: BTC\ntags:\n  - address: bcrt1q7ptzv0nc6p6xvx3c0gyj2rwdc8s6rkta68gpde\n    category: exchange\n",
    )
    .unwrap();
    let (code, _, err) = run(custos_bin!().args([
        "--network",
        "regtest",
        "trace",
        "forward",
        "bcrt1q7ptzv0nc6p6xvx3c0gyj2rwdc8s6rkta68gpde",
        "--labels",
        bad.to_str().unwrap(),
        "--server",
        &lab.url(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 6") && err.contains("label"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A proxy in front of the lab that forwards the first `allow` requests, then goes silent
/// (reads and never answers), as a server that hangs mid-trace.
fn silent_after(upstream: std::net::SocketAddr, allow: usize) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let mut back = client.try_clone().unwrap();
                let mut from_server = BufReader::new(server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut line = String::new();
                    while from_server
                        .read_line(&mut line)
                        .map(|n| n > 0)
                        .unwrap_or(false)
                    {
                        if back.write_all(line.as_bytes()).is_err() {
                            break;
                        }
                        line.clear();
                    }
                });
                let mut to_server = server;
                let mut reader = BufReader::new(client);
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    if seen.fetch_add(1, Ordering::SeqCst) < allow {
                        let _ = to_server.write_all(line.as_bytes());
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn a_server_going_silent_mid_trace_gives_a_partial_result_and_exit_1() {
    let lab = Lab::start(LabConfig::scenario("tracing-course")).unwrap();
    let truth = lab.ground_truth().clone();
    // Enough for the handshake, the tip, the headers and the first hops, not for the whole trace.
    let proxy = silent_after(lab.addr(), 12);
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    custos_testkit::new_case(custos_bin!(), &case, "TRACE-2");
    let c = case.to_str().unwrap();
    let out_dir = tmp.path().join("exports");
    let (code, out, err) = run(custos_bin!().args([
        "--case",
        c,
        "--json",
        "trace",
        "forward",
        &theft_outpoint(&truth),
        "--hops",
        "20",
        "--labels",
        &labels(),
        "--server",
        &format!("127.0.0.1:{}", proxy.port()),
        "--timeout",
        "1",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("PARTIAL"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let partial = v["trace"]["partial"].as_array().unwrap();
    assert!(!partial.is_empty());
    assert!(!v["trace"]["graph"]["txs"].as_object().unwrap().is_empty());
    // What the silent server left open is stopped with the failure, never shown as unspent.
    let failed = v["trace"]["stops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reason"] == "source_failed")
        .count();
    assert!(failed > 0, "no source_failed stop: {}", v["trace"]["stops"]);

    // Every output says PARTIAL: the written JSON, the drawing, the graph files, the case report.
    let read = |f: &str| std::fs::read_to_string(out_dir.join(f)).unwrap();
    let written: Value = serde_json::from_str(&read("trace.json")).unwrap();
    assert_eq!(written["trace"]["partial"], v["trace"]["partial"]);
    assert!(read("trace.html").contains("PARTIAL TRACE"));
    assert!(read("trace.dot").contains("PARTIAL"));
    let graphml = read("trace.graphml");
    let first = partial[0].as_str().unwrap();
    let shown = first.split(':').next().unwrap();
    assert!(graphml.contains(shown), "graphml lacks {shown:?}");
    let export = tmp.path().join("case-export");
    let (code, _, err) =
        run(custos_bin!().args(["--case", c, "case", "export", export.to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let report = std::fs::read_to_string(export.join("report.html")).unwrap();
    assert!(
        report.contains("PARTIAL"),
        "the case report hides the partial trace"
    );
}
