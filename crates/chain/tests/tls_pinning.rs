//! TLS trust and SOCKS5 against servers started here on 127.0.0.1: a TLS server with
//! self-signed certificates made by the `openssl` command (it answers `server.version`, the
//! first call of every Electrum session), and a SOCKS5 proxy (no authentication, CONNECT only).
//! Scans through these against the lab are in the CLI's `tls_cli` test.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use custos_case::Case;
use custos_chain::{
    tls::{self, TlsTrust},
    ElectrumOptions, ElectrumSource, Fingerprint,
};
use custos_core::{
    ids::{CaseId, ExaminerId},
    Network,
};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ServerConfig, ServerConnection, StreamOwned,
};

/// A self-signed certificate for 127.0.0.1, its key, and the SHA-256 fingerprint `openssl`
/// prints for it (an independent computation of what custos pins).
struct Cert {
    chain: Vec<CertificateDer<'static>>,
    key_pem: Vec<u8>,
    openssl_fingerprint: String,
}

fn make_cert(dir: &Path, name: &str) -> Cert {
    let c = custos_testkit::tls::make_cert(dir, name);
    Cert {
        chain: CertificateDer::pem_file_iter(&c.crt)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
        key_pem: std::fs::read(&c.key).unwrap(),
        openssl_fingerprint: c.colons,
    }
}

/// A TLS server presenting `certs[which]` (switchable between connections) that answers
/// `server.version` like an Electrum server.
struct TlsServer {
    port: u16,
    which: Arc<AtomicUsize>,
}

fn start_tls_server(certs: Vec<Cert>) -> TlsServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let which = Arc::new(AtomicUsize::new(0));
    let configs: Vec<Arc<ServerConfig>> = certs
        .iter()
        .map(|c| {
            Arc::new(
                ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    c.chain.clone(),
                    PrivateKeyDer::from_pem_slice(&c.key_pem).unwrap(),
                )
                .unwrap(),
            )
        })
        .collect();
    let w = which.clone();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = configs[w.load(Ordering::SeqCst)].clone();
            thread::spawn(move || serve_electrum_version(config, tcp));
        }
    });
    TlsServer { port, which }
}

fn serve_electrum_version(config: Arc<ServerConfig>, tcp: TcpStream) {
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, tcp);
    let mut line = String::new();
    loop {
        line.clear();
        let mut reader = BufReader::new(&mut tls);
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let req: serde_json::Value = serde_json::from_str(&line).unwrap();
        let reply = if req["method"] == "server.version" {
            serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": ["custos-test", "1.4"]})
        } else {
            serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "unknown method"}})
        };
        if tls
            .write_all(format!("{reply}\n").as_bytes())
            .and_then(|()| tls.flush())
            .is_err()
        {
            return;
        }
    }
}

fn opts(tls: TlsTrust) -> ElectrumOptions {
    ElectrumOptions {
        timeout: Duration::from_secs(5),
        max_attempts: 1,
        tls,
        ..ElectrumOptions::default()
    }
}

fn new_case(dir: &Path) -> Case {
    Case::create(
        &dir.join("case"),
        &CaseId::new("TLS-1").unwrap(),
        &ExaminerId::new("tester").unwrap(),
        Network::Regtest,
        "custos case new",
    )
    .unwrap()
}

#[test]
fn connects_to_a_self_signed_server_with_its_pinned_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "a");
    let pin: Fingerprint = cert.openssl_fingerprint.parse().unwrap();
    assert_eq!(pin, Fingerprint::of_der(cert.chain[0].as_ref()));
    let server = start_tls_server(vec![cert]);
    let url = format!("ssl://127.0.0.1:{}", server.port);
    let src = ElectrumSource::connect(&url, opts(TlsTrust::Pinned(pin))).unwrap();
    assert_eq!(src.tls_fingerprint(), Some(pin));
}

#[test]
fn refuses_a_certificate_other_than_the_pinned_one_naming_both_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (make_cert(dir.path(), "a"), make_cert(dir.path(), "b"));
    let pin: Fingerprint = b.openssl_fingerprint.parse().unwrap();
    let presented: Fingerprint = a.openssl_fingerprint.parse().unwrap();
    let server = start_tls_server(vec![a]);
    let url = format!("ssl://127.0.0.1:{}", server.port);
    let err = ElectrumSource::connect(&url, opts(TlsTrust::Pinned(pin))).unwrap_err();
    let msg = err.to_string();
    assert!(!err.is_retryable(), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{}", server.port)), "{msg}");
    assert!(msg.contains(&pin.to_string()), "{msg}");
    assert!(msg.contains(&presented.to_string()), "{msg}");
}

#[test]
fn ca_check_refuses_a_self_signed_certificate_and_shows_the_fingerprint_to_pin() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "a");
    let presented: Fingerprint = cert.openssl_fingerprint.parse().unwrap();
    let server = start_tls_server(vec![cert]);
    let url = format!("ssl://127.0.0.1:{}", server.port);
    let err = ElectrumSource::connect(&url, opts(TlsTrust::CaRoots)).unwrap_err();
    let msg = err.to_string();
    assert!(!err.is_retryable(), "{msg}");
    assert!(msg.contains("not trusted by the CA roots"), "{msg}");
    assert!(
        msg.contains(&format!("--tls-fingerprint {presented}")),
        "{msg}"
    );
}

#[test]
fn first_use_records_the_certificate_in_the_case_and_refuses_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (make_cert(dir.path(), "a"), make_cert(dir.path(), "b"));
    let (fa, fb): (Fingerprint, Fingerprint) = (
        a.openssl_fingerprint.parse().unwrap(),
        b.openssl_fingerprint.parse().unwrap(),
    );
    let server = start_tls_server(vec![a, b]);
    let url = format!("ssl://127.0.0.1:{}", server.port);
    let case = new_case(dir.path());

    let trust = tls::trust_for(Some(&case), &url, None).unwrap();
    assert_eq!(trust, TlsTrust::FirstUse);
    let src = ElectrumSource::connect(&url, opts(trust)).unwrap();
    let seen = src.tls_fingerprint().unwrap();
    assert_eq!(seen, fa);
    assert!(tls::remember(&case, &url, seen).unwrap());
    assert!(!tls::remember(&case, &url, seen).unwrap(), "written twice");

    // The same certificate connects again on the recorded pin.
    let trust = tls::trust_for(Some(&case), &url, None).unwrap();
    assert_eq!(trust, TlsTrust::Recorded(fa));
    ElectrumSource::connect(&url, opts(trust.clone())).unwrap();

    // The server now presents another certificate.
    server.which.store(1, Ordering::SeqCst);
    let err = ElectrumSource::connect(&url, opts(trust)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "certificate of 127.0.0.1:{} changed: was SHA256 {fa}, now {fb}; if the operator rotated it, pass --tls-fingerprint {fb}",
            server.port
        )),
        "{msg}"
    );
    assert!(!err.is_retryable());

    // The operator confirms the rotation: the given pin wins over the recorded one.
    let trust = tls::trust_for(Some(&case), &url, Some(fb)).unwrap();
    let src = ElectrumSource::connect(&url, opts(trust)).unwrap();
    assert!(tls::remember(&case, &url, src.tls_fingerprint().unwrap()).unwrap());
    assert_eq!(
        tls::trust_for(Some(&case), &url, None).unwrap(),
        TlsTrust::Recorded(fb)
    );
}

#[test]
fn without_a_case_or_a_pin_the_ca_roots_decide() {
    assert_eq!(
        tls::trust_for(None, "ssl://127.0.0.1:1", None).unwrap(),
        TlsTrust::CaRoots
    );
}

#[test]
fn carries_a_pinned_tls_connection_through_a_socks5_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert(dir.path(), "a");
    let pin: Fingerprint = cert.openssl_fingerprint.parse().unwrap();
    let server = start_tls_server(vec![cert]);
    let (proxy, carried) = custos_testkit::socks::start_socks5_proxy();
    let url = format!("ssl://127.0.0.1:{}", server.port);
    let o = ElectrumOptions {
        socks5: Some(format!("127.0.0.1:{proxy}")),
        ..opts(TlsTrust::Pinned(pin))
    };
    let src = ElectrumSource::connect(&url, o).unwrap();
    assert_eq!(src.tls_fingerprint(), Some(pin));
    assert_eq!(carried.load(Ordering::SeqCst), 1);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_dead_proxy_is_named_as_the_fault_not_the_server() {
    let (proxy, server) = (free_port(), free_port());
    let o = ElectrumOptions {
        socks5: Some(format!("127.0.0.1:{proxy}")),
        ..opts(TlsTrust::CaRoots)
    };
    let err = ElectrumSource::connect(&format!("tcp://127.0.0.1:{server}"), o).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "connection to socks5 proxy 127.0.0.1:{proxy} failed"
        )),
        "{msg}"
    );
}

#[test]
fn a_proxy_port_that_is_no_socks5_server_is_named_as_such() {
    // An HTTP-ish server: answers the SOCKS greeting with text.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 3];
            let _ = s.read_exact(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let o = ElectrumOptions {
        socks5: Some(format!("127.0.0.1:{proxy}")),
        ..opts(TlsTrust::CaRoots)
    };
    let err = ElectrumSource::connect(&format!("tcp://127.0.0.1:{}", free_port()), o).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("socks5 proxy 127.0.0.1:{proxy}"))
            && msg.contains("not a SOCKS5 server"),
        "{msg}"
    );
    assert!(!err.is_retryable(), "{msg}");
}

#[test]
fn a_target_the_proxy_cannot_reach_is_named_with_the_proxy() {
    let (proxy, _) = custos_testkit::socks::start_socks5_proxy();
    let server = free_port();
    let o = ElectrumOptions {
        socks5: Some(format!("127.0.0.1:{proxy}")),
        ..opts(TlsTrust::CaRoots)
    };
    let err = ElectrumSource::connect(&format!("tcp://127.0.0.1:{server}"), o).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("connection to tcp://127.0.0.1:{server} failed")),
        "{msg}"
    );
    assert!(msg.contains("connection refused by the server"), "{msg}");
}
