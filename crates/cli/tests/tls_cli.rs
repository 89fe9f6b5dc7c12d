//! `custos inspect` against the lab behind TLS and SOCKS5, as a user meets public Electrum
//! servers: a TLS relay (Python's `ssl` module) with a self-signed certificate made here by the
//! `openssl` command in front of the lab; a pinned fingerprint connects and scans, another
//! fingerprint is refused with exit 3 naming both, a case pins the certificate on first use and
//! refuses a changed one; a SOCKS5 proxy (custos-testkit's) carries a scan, and a dead proxy is named.

use std::{net::TcpListener, path::Path, sync::atomic::Ordering};

use custos_lab::{Lab, LabConfig};
use custos_testkit::tls::{make_cert, start_relay};
use custos_testkit::{custos_bin, run};

/// `custos --json inspect XPUB --server URL EXTRA…` (with `--case` when given).
fn inspect(case: Option<&Path>, url: &str, extra: &[&str]) -> (i32, String, String) {
    let xpub = custos_lab::fixtures_dir().join("lab/seized-mixed/xpub.txt");
    let mut c = custos_bin!();
    match case {
        Some(dir) => c.arg("--case").arg(dir),
        None => c.args(["--network", "regtest"]),
    };
    c.arg("--json")
        .arg("inspect")
        .arg(xpub)
        .args(["--server", url, "--timeout", "5"])
        .args(extra);
    run(&mut c)
}

/// The scan found exactly the lab's balance of the watched wallet.
fn assert_scanned(lab: &Lab, out: &str) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap();
    let want = lab.ground_truth().wallet("watch").unwrap().balance_sat;
    let got = v["inventory"]["confirmed"].as_u64().unwrap()
        + v["inventory"]["unconfirmed"].as_u64().unwrap();
    assert_eq!(got, want);
}

#[test]
fn scans_the_lab_over_tls_with_the_pinned_fingerprint_and_refuses_another_with_exit_3() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (make_cert(tmp.path(), "a"), make_cert(tmp.path(), "b"));
    let relay = start_relay(&a, lab.addr().port(), 0);
    let url = format!("ssl://127.0.0.1:{}", relay.port);

    // openssl's colon-separated form is accepted.
    let (code, out, err) = inspect(None, &url, &["--tls-fingerprint", &a.colons]);
    assert_eq!(code, 0, "{err}");
    assert_scanned(&lab, &out);

    let (code, out, err) = inspect(None, &url, &["--tls-fingerprint", &b.hex]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "the certificate of 127.0.0.1:{} has SHA256 fingerprint {}, not the {} given with --tls-fingerprint",
            relay.port, a.hex, b.hex
        )),
        "{err}"
    );

    // No pin, no case: the CA check refuses and shows what to pin.
    let (code, _, err) = inspect(None, &url, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not trusted by the CA roots"), "{err}");
    assert!(
        err.contains(&format!("--tls-fingerprint {}", a.hex)),
        "{err}"
    );
}

#[test]
fn pins_the_certificate_on_first_use_in_the_case_and_refuses_a_changed_one() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let case = tmp.path().join("case");
    custos_testkit::new_case(custos_bin!(), &case, "TLS-1");
    let (a, b) = (make_cert(tmp.path(), "a"), make_cert(tmp.path(), "b"));
    let relay = start_relay(&a, lab.addr().port(), 0);
    let port = relay.port;
    let url = format!("ssl://127.0.0.1:{port}");

    let (code, out, err) = inspect(Some(&case), &url, &[]);
    assert_eq!(code, 0, "first use: {err}");
    assert_scanned(&lab, &out);
    let (code, _, err) = inspect(Some(&case), &url, &[]);
    assert_eq!(code, 0, "same certificate: {err}");

    // The server comes back on the same port with another certificate.
    drop(relay);
    let _relay = start_relay(&b, lab.addr().port(), port);
    let (code, out, err) = inspect(Some(&case), &url, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "certificate of 127.0.0.1:{port} changed: was SHA256 {}, now {}; if the operator rotated it, pass --tls-fingerprint {}",
            a.hex, b.hex, b.hex
        )),
        "{err}"
    );

    // The operator confirms the rotation once; the case then holds the new certificate.
    let (code, _, err) = inspect(Some(&case), &url, &["--tls-fingerprint", &b.hex]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = inspect(Some(&case), &url, &[]);
    assert_eq!(code, 0, "{err}");
    assert_scanned(&lab, &out);
}

#[test]
fn scans_through_a_socks5_proxy_and_names_a_dead_proxy_as_the_fault() {
    let lab = Lab::start(LabConfig::scenario("seized-mixed")).unwrap();
    let (proxy, carried) = custos_testkit::socks::start_socks5_proxy();
    let (code, out, err) = inspect(
        None,
        &lab.url(),
        &["--socks5", &format!("127.0.0.1:{proxy}")],
    );
    assert_eq!(code, 0, "{err}");
    assert_scanned(&lab, &out);
    assert!(carried.load(Ordering::SeqCst) >= 1);

    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, err) = inspect(
        None,
        &lab.url(),
        &["--socks5", &format!("127.0.0.1:{dead}")],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "connection to socks5 proxy 127.0.0.1:{dead} failed"
        )),
        "{err}"
    );
    assert!(
        !err.contains(&format!("connection to {} failed", lab.url())),
        "blames the server: {err}"
    );
}
