//! The server under bad input: protocol errors for bad requests, dropped connections for
//! oversized ones, and the other clients keep being served.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use custos_lab::{Lab, LabConfig};
use serde_json::{json, Value};

fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let mut cfg = LabConfig::scenario("seized-basic");
        cfg.data_dir = Some(common::data_dir("bad-input"));
        Lab::start(cfg).expect("lab starts")
    })
}

struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect() -> Raw {
        let s = TcpStream::connect(lab().addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Raw {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        }
    }

    fn send(&mut self, line: &str) -> Value {
        self.w.write_all(line.as_bytes()).unwrap();
        self.w.write_all(b"\n").unwrap();
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        serde_json::from_str(&l).unwrap()
    }
}

fn ping_ok(raw: &mut Raw) {
    let v = raw.send(r#"{"jsonrpc":"2.0","id":7,"method":"server.ping","params":[]}"#);
    assert_eq!(v["id"], json!(7));
    assert!(v["result"].is_null() && v.get("error").is_none());
}

#[test]
fn malformed_json_gets_a_parse_error_and_the_connection_stays() {
    let mut c = Raw::connect();
    let v = c.send("{this is not json");
    assert_eq!(v["error"]["code"], json!(-32700));
    ping_ok(&mut c);
    let v = c.send("[]");
    assert_eq!(v["error"]["code"], json!(-32600));
    let v = c.send(r#"{"id":1,"method":"blockchain.block.header","params":"x"}"#);
    assert_eq!(v["error"]["code"], json!(-32602));
    let v = c.send(r#"{"id":2,"method":"blockchain.scripthash.get_history","params":["zz"]}"#);
    assert_eq!(v["error"]["code"], json!(-32602));
    ping_ok(&mut c);
}

#[test]
fn unknown_method_gets_method_not_found() {
    let mut c = Raw::connect();
    let v = c.send(r#"{"jsonrpc":"2.0","id":"abc","method":"blockchain.nonsense","params":[]}"#);
    assert_eq!(v["id"], json!("abc"));
    assert_eq!(v["error"]["code"], json!(-32601));
    // Within a batch, each element gets its own answer.
    let v = c.send(r#"[{"id":1,"method":"server.ping"},{"id":2,"method":"nope"}]"#);
    assert!(v[0]["result"].is_null());
    assert_eq!(v[1]["error"]["code"], json!(-32601));
}

#[test]
fn request_over_one_mib_drops_that_connection_only() {
    let mut other = Raw::connect();
    let mut c = Raw::connect();
    let big = format!(
        r#"{{"id":1,"method":"server.ping","params":["{}"]}}"#,
        "x".repeat(custos_lab::MAX_REQUEST_BYTES + 10)
    );
    // The server may close while we are still writing; either way we must not get a result.
    let _ = c.w.write_all(big.as_bytes());
    let _ = c.w.write_all(b"\n");
    let mut rest = String::new();
    let _ = c.r.read_to_string(&mut rest);
    if let Some(first) = rest.lines().next() {
        let v: Value = serde_json::from_str(first).unwrap();
        assert_eq!(v["error"]["code"], json!(-32600));
    }
    ping_ok(&mut other);
    ping_ok(&mut Raw::connect());
}

#[test]
fn client_disconnecting_mid_request_does_not_hurt_the_server() {
    for _ in 0..20 {
        let mut s = TcpStream::connect(lab().addr()).unwrap();
        s.write_all(br#"{"id":1,"method":"blockchain.block.hea"#)
            .unwrap();
        drop(s);
    }
    // A client that sends a request and leaves before the answer.
    let mut s = TcpStream::connect(lab().addr()).unwrap();
    s.write_all(b"{\"id\":1,\"method\":\"blockchain.block.headers\",\"params\":[0,2016]}\n")
        .unwrap();
    drop(s);
    ping_ok(&mut Raw::connect());
}

#[test]
fn serves_one_hundred_concurrent_clients() {
    let handles: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Raw::connect();
                for _ in 0..5 {
                    let v = c.send(&format!(
                        r#"{{"id":{i},"method":"blockchain.block.header","params":[{}]}}"#,
                        i % 50
                    ));
                    assert_eq!(v["id"], json!(i));
                    assert_eq!(v["result"].as_str().unwrap().len(), 160);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    ping_ok(&mut Raw::connect());
}

#[test]
fn latency_option_delays_every_response() {
    let mut cfg = LabConfig::scenario("seized-basic");
    cfg.latency_ms = 300;
    let slow = Lab::start(cfg).unwrap();
    let s = TcpStream::connect(slow.addr()).unwrap();
    let mut c = Raw {
        r: BufReader::new(s.try_clone().unwrap()),
        w: s,
    };
    for _ in 0..2 {
        let t = std::time::Instant::now();
        ping_ok_on(&mut c);
        assert!(t.elapsed() >= Duration::from_millis(300));
    }
}

#[test]
fn latency_applies_per_request_not_per_queue_position() {
    // Pipelined requests travel together on a slow link: 20 of them at 200 ms each arrive
    // after about 200 ms, not 20 × 200 ms (which would make --latency-ms useless for batches).
    let mut cfg = LabConfig::scenario("seized-basic");
    cfg.latency_ms = 200;
    let slow = Lab::start(cfg).unwrap();
    let mut s = TcpStream::connect(slow.addr()).unwrap();
    let t = std::time::Instant::now();
    let mut batch = String::new();
    for i in 0..20 {
        batch.push_str(&format!("{{\"id\":{i},\"method\":\"server.ping\"}}\n"));
    }
    s.write_all(batch.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..20 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], i);
    }
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(200 * 10),
        "replies were serialised: {took:?}"
    );
}

fn ping_ok_on(raw: &mut Raw) {
    let v = raw.send(r#"{"id":1,"method":"server.ping"}"#);
    assert!(v["result"].is_null() && v.get("error").is_none());
}
