//! Label files (TagPack YAML, CSV) and label propagation through clusters.

use std::path::PathBuf;

use bitcoin::hashes::Hash;
use bitcoin::{Address, BlockHash, OutPoint, ScriptBuf, Txid, WPubkeyHash};
use custos_core::{Network, Sat};
use custos_trace::graph::{Inclusion, ScriptKind, TxInput, TxOutput};
use custos_trace::heuristics::{cluster, HeuristicSet};
use custos_trace::labels::{
    parse_csv, parse_tagpack, propagate, read_label_file, LabelSet, MAX_LABEL_FILE_BYTES,
};
use custos_trace::{Error, Graph, TxNode};

fn addr_on(n: u32, network: bitcoin::Network) -> String {
    let mut h = [0x22u8; 20];
    h[..4].copy_from_slice(&n.to_be_bytes());
    let spk = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h));
    Address::from_script(&spk, network).unwrap().to_string()
}

fn addr(n: u32) -> String {
    addr_on(n, bitcoin::Network::Regtest)
}

/// (line, field, problem) of a label-file error.
fn where_(e: Error) -> (usize, String, String) {
    match e {
        Error::LabelFile {
            line,
            field,
            problem,
            ..
        } => (line, field, problem),
        other => panic!("expected a label file error, got {other}"),
    }
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lab/tracing-course/labels.yaml")
}

// ---- TagPack ----

#[test]
fn parses_the_lab_tracing_course_tagpack() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let tag_lines = text
        .lines()
        .filter(|l| l.trim_start().starts_with("- address:"))
        .count();
    let pack = parse_tagpack(&text, "labels.yaml", Network::Regtest).unwrap();
    assert_eq!(pack.labels.len(), tag_lines);
    // The lab's tracing-course pack: 19 tags (exchange, shop, casino, mixer, victim addresses).
    assert_eq!(pack.labels.len(), 19);
    assert!(pack.skipped.is_empty());
    assert_eq!(pack.title, "custos-lab tracing-course known entities");
    assert_eq!(pack.is_public, Some(true));
    let exchange = pack
        .labels
        .iter()
        .filter(|l| l.label == "Lab Exchange")
        .count();
    assert_eq!(exchange, 13);
    let shop = pack
        .labels
        .iter()
        .find(|l| l.label == "Coffee Shop")
        .unwrap();
    assert_eq!(shop.category.as_deref(), Some("shop"));
    // Inherited from the header.
    assert!(pack
        .labels
        .iter()
        .all(|l| l.source.as_deref() == Some("custos-lab tracing-course scenario")));
    assert!(pack
        .labels
        .iter()
        .all(|l| l.confidence.as_deref() == Some("ownership")));
    assert_eq!(pack.labels[0].line, 10, "the first tag starts on line 10");
}

#[test]
fn the_fixture_is_refused_for_mainnet() {
    let (line, field, problem) = where_(read_label_file(&fixture(), Network::Bitcoin).unwrap_err());
    assert_eq!((line, field.as_str()), (10, "address"));
    assert!(problem.contains("bitcoin network"), "{problem}");
}

fn pack(tags: &str) -> String {
    format!(
        "title: test pack\ncreator: tests\nsource: header source\ncurrency: BTC\ncategory: exchange\n\
         label: Header Entity\ntags:\n{tags}"
    )
}

#[test]
fn tags_inherit_header_fields_unless_they_override_them() {
    let text = pack(&format!(
        "  - address: {}\n  - address: {}\n    label: Own Entity\n    category: mixer\n    \
         confidence: web_crawl\n    source: tag source\n",
        addr(1),
        addr(2)
    ));
    let pack = parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap();
    let (a, b) = (&pack.labels[0], &pack.labels[1]);
    assert_eq!(
        (a.label.as_str(), a.category.as_deref()),
        ("Header Entity", Some("exchange"))
    );
    assert_eq!(
        (a.source.as_deref(), a.confidence.as_deref()),
        (Some("header source"), None)
    );
    assert_eq!(
        (b.label.as_str(), b.category.as_deref()),
        ("Own Entity", Some("mixer"))
    );
    assert_eq!(
        (b.source.as_deref(), b.confidence.as_deref()),
        (Some("tag source"), Some("web_crawl"))
    );
    assert_eq!((a.line, b.line), (8, 9));
}

#[test]
fn a_tag_without_label_names_its_line_and_the_field() {
    let text = format!(
        "title: t\ncreator: c\nsource: s\ncurrency: BTC\ntags:\n  - address: {}\n    label: A\n  - address: {}\n    category: shop\n",
        addr(1),
        addr(2)
    );
    let (line, field, _) = where_(parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!((line, field.as_str()), (8, "label"));
}

#[test]
fn a_field_of_the_wrong_type_names_its_line() {
    let text = pack(&format!("  - address: {}\n    is_public: maybe\n", addr(1)));
    let (line, field, problem) =
        where_(parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!((line, field.as_str()), (9, "is_public"));
    assert!(problem.contains("true or false"));
}

#[test]
fn a_missing_title_is_refused() {
    let text = format!(
        "creator: c\nsource: s\ncurrency: BTC\nlabel: L\ntags:\n  - address: {}\n",
        addr(1)
    );
    let (_, field, _) = where_(parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!(field, "title");
}

#[test]
fn yaml_syntax_errors_report_the_yaml_line() {
    let text = "title: t\ncreator: c\ntags:\n  - address: x\n    label: [unclosed\n";
    let (line, field, problem) =
        where_(parse_tagpack(text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!(field, "yaml");
    // serde_yaml stops at the end of the input (line 6) and names where the list opened.
    assert_eq!(line, 6, "{problem}");
    assert!(problem.contains("line 5 column 12"), "{problem}");
}

#[test]
fn an_address_of_another_network_is_refused_with_its_line() {
    let text = pack(&format!(
        "  - address: {}\n  - address: {}\n",
        addr(1),
        addr_on(2, bitcoin::Network::Bitcoin)
    ));
    let (line, field, problem) =
        where_(parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!((line, field.as_str()), (9, "address"));
    assert!(problem.contains("regtest"), "{problem}");
}

#[test]
fn a_malformed_address_is_refused_with_its_line() {
    let text = pack("  - label: X\n    address: not-an-address\n");
    let (line, field, _) = where_(parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap_err());
    assert_eq!((line, field.as_str()), (9, "address"));
}

#[test]
fn other_currencies_and_transaction_tags_are_skipped_and_listed() {
    let text = pack(&format!(
        "  - address: {}\n  - address: '0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b'\n    currency: ETH\n  - tx_hash: {}\n",
        addr(1),
        "ab".repeat(32)
    ));
    let pack = parse_tagpack(&text, "p.yaml", Network::Regtest).unwrap();
    assert_eq!(pack.labels.len(), 1);
    let lines: Vec<usize> = pack.skipped.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![9, 11]);
    assert!(pack.skipped[0].reason.contains("ETH"));
}

#[test]
fn files_over_the_size_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(MAX_LABEL_FILE_BYTES + 1).unwrap(); // sparse: nothing is written
    let (line, _, problem) = where_(read_label_file(&path, Network::Regtest).unwrap_err());
    assert_eq!(line, 0);
    assert!(problem.contains("limit"), "{problem}");
}

#[test]
fn unknown_file_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.json");
    std::fs::write(&path, "{}").unwrap();
    let e = read_label_file(&path, Network::Regtest).unwrap_err();
    assert!(e.to_string().contains("labels.json"), "{e}");
}

// ---- CSV ----

#[test]
fn csv_quoting_follows_rfc_4180() {
    let text = format!(
        "address,label,category,source\r\n{},\"Shop, Inc.\",shop,\"said \"\"hi\"\"\"\r\n\r\n\"{}\",\"two\nlines\",,web\n{},Plain,exchange,\n",
        addr(1),
        addr(2),
        addr(3)
    );
    let labels = parse_csv(&text, "l.csv", Network::Regtest).unwrap();
    assert_eq!(labels.len(), 3);
    assert_eq!(labels[0].label, "Shop, Inc.");
    assert_eq!(labels[0].source.as_deref(), Some("said \"hi\""));
    assert_eq!(
        (labels[1].label.as_str(), labels[1].category.as_deref()),
        ("two\nlines", None)
    );
    assert_eq!(labels[1].address, addr(2));
    assert_eq!(labels[2].source, None);
    assert_eq!(
        labels.iter().map(|l| l.line).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
}

#[test]
fn csv_errors_name_line_and_field() {
    let head = "address,label,category\n";
    let cases = [
        (
            format!("{head}{},A,x\n{},\"open,x\n", addr(1), addr(2)),
            3,
            "column 2",
        ),
        (format!("{head}{},A\"b,x\n", addr(1)), 2, "column 2"),
        (format!("{head}{},A,x,extra\n", addr(1)), 2, "row"),
        (format!("{head}{},,x\n", addr(1)), 2, "label"),
        (
            format!(
                "{head}{},A,x\n{},B,y\n",
                addr(1),
                addr_on(2, bitcoin::Network::Testnet)
            ),
            3,
            "address",
        ),
        (
            format!("address,label,kind\n{},A,x\n", addr(1)),
            1,
            "category",
        ),
        (
            format!("address,label,category,owner\n{},A,x,y\n", addr(1)),
            1,
            "owner",
        ),
    ];
    for (text, want_line, want_field) in cases {
        let (line, field, problem) =
            where_(parse_csv(&text, "l.csv", Network::Regtest).unwrap_err());
        assert_eq!(
            (line, field.as_str()),
            (want_line, want_field),
            "{problem}\n{text}"
        );
    }
}

#[test]
fn label_set_loads_csv_files_and_looks_up_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.csv");
    std::fs::write(
        &path,
        format!(
            "address,label,category\n{},A,exchange\n{},A,exchange\n",
            addr(1),
            addr(1)
        ),
    )
    .unwrap();
    let mut set = LabelSet::new();
    assert_eq!(set.load(&path, Network::Regtest).unwrap(), 2);
    assert_eq!(
        set.get(&addr(1)).len(),
        1,
        "the same label twice is kept once"
    );
    assert!(set.get(&addr(2)).is_empty());
}

// ---- propagation ----

fn txid(n: u32) -> Txid {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    Txid::from_byte_array(b)
}

fn ext(n: u32, address: &str) -> TxInput {
    TxInput {
        prevout: OutPoint::new(txid(1000 + n), 0),
        sequence: 0xffff_ffff,
        value: Some(Sat(100_000)),
        address: Some(address.to_string()),
        kind: Some(ScriptKind::P2wpkh),
    }
}

fn spend(id: u32, inputs: Vec<TxInput>, to: &str) -> TxNode {
    TxNode {
        txid: txid(id),
        version: 2,
        lock_time: 0,
        coinbase: false,
        vsize: 200,
        inputs,
        outputs: vec![TxOutput {
            value: Sat(150_000),
            address: to.to_string(),
            kind: ScriptKind::P2wpkh,
            spent_by: None,
        }],
        inclusion: Inclusion::Verified {
            height: id,
            block: BlockHash::all_zeros(),
            time: 0,
        },
    }
}

#[test]
fn labels_propagate_through_a_cluster_marked_with_their_origin() {
    let (a, b, c, d) = (addr(1), addr(2), addr(3), addr(4));
    let mut g = Graph::new();
    g.insert(spend(1, vec![ext(1, &a), ext(2, &b)], &d));
    g.insert(spend(2, vec![ext(3, &b), ext(4, &c)], &d));
    let clustering = cluster(&g, &HeuristicSet::default(), &[]);
    let csv = format!("address,label,category,source\n{a},Lab Exchange,exchange,court order\n{d},Coffee Shop,shop,\n");
    let labels = LabelSet::from_labels(parse_csv(&csv, "l.csv", Network::Regtest).unwrap());
    let applied = propagate(&labels, &clustering);
    let id = clustering.of(&a).unwrap().to_string();

    let on = |x: &str| {
        applied
            .iter()
            .filter(|l| l.address == x)
            .collect::<Vec<_>>()
    };
    let direct = on(&a);
    assert_eq!(direct.len(), 1);
    assert_eq!(
        (
            direct[0].propagated_from.as_deref(),
            direct[0].cluster.as_deref()
        ),
        (None, Some(id.as_str()))
    );
    for other in [&b, &c] {
        let got = on(other);
        assert_eq!(got.len(), 1, "{other}");
        assert_eq!(got[0].label, "Lab Exchange");
        assert_eq!(got[0].propagated_from.as_deref(), Some(a.as_str()));
        assert_eq!(got[0].source.as_deref(), Some("court order"));
        assert_eq!(got[0].cluster.as_deref(), Some(id.as_str()));
    }
    // The shop is paid by the cluster but not part of it: direct label only, no cluster.
    let shop = on(&d);
    assert_eq!(shop.len(), 1);
    assert_eq!(
        (
            shop[0].propagated_from.as_deref(),
            shop[0].cluster.as_deref()
        ),
        (None, None)
    );
    assert_eq!(applied.len(), 4);
}
