//! The Electrum server's connection cap and timeouts (issue 10, item 7c): a client beyond the
//! cap is refused politely, a slow-loris client and an idle unsubscribed one are dropped, a
//! subscribed client that merely waits is kept, and other clients are served throughout.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use custos_lab::{ConnLimits, Lab, LabConfig};

const CAP: usize = 4;

fn lab(idle: Duration, partial_line: Duration) -> Lab {
    Lab::start(LabConfig {
        limits: ConnLimits {
            max_conns: CAP,
            idle,
            partial_line,
        },
        ..LabConfig::scenario("seized-basic")
    })
    .unwrap()
}

/// A raw client: one request, one reply line.
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw {
            reader: BufReader::new(s),
        }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        l
    }

    fn call(&mut self, method: &str) -> serde_json::Value {
        let req =
            format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"{method}\",\"params\":[]}}\n");
        self.send(req.as_bytes()).unwrap();
        serde_json::from_str(&self.line()).unwrap()
    }

    /// Whether the server has closed the connection (EOF or reset before the read timeout).
    fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

#[test]
fn a_client_beyond_the_connection_cap_is_refused_while_others_are_served() {
    let lab = lab(Duration::from_secs(600), Duration::from_secs(30));
    // CAP - 1 idle clients and one working client fill the cap (each answered once, so the
    // server has taken it).
    let mut idle: Vec<Raw> = (0..CAP - 1).map(|_| Raw::connect(lab.addr())).collect();
    for c in &mut idle {
        assert!(c.call("server.ping")["error"].is_null());
    }
    let mut worker = Raw::connect(lab.addr());
    assert!(worker.call("server.ping")["error"].is_null());

    let mut extra = Raw::connect(lab.addr());
    let refusal: serde_json::Value = serde_json::from_str(&extra.line()).unwrap();
    let msg = refusal["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("busy") && msg.contains(&CAP.to_string()),
        "{msg}"
    );
    assert!(extra.closed_by_server(), "the extra client is closed");

    let v = worker.call("blockchain.headers.subscribe");
    assert_eq!(
        v["result"]["height"].as_u64().unwrap(),
        u64::from(lab.tip_height()),
        "the working client is still served"
    );
    // A freed slot can be taken again.
    drop(idle.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = Raw::connect(lab.addr());
        if again.call("server.ping")["error"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_slow_loris_client_is_dropped_while_others_are_served() {
    let lab = lab(Duration::from_secs(600), Duration::from_secs(1));
    let mut loris = Raw::connect(lab.addr());
    let mut worker = Raw::connect(lab.addr());
    let started = Instant::now();
    let request = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"server.ping\",\"params\":[]}";
    let mut dropped = false;
    // One byte every 100 ms: the line would take over 5 s, never idle for a read timeout.
    for b in request {
        if loris.send(&[*b]).is_err() {
            dropped = true;
            break;
        }
        assert!(worker.call("server.ping")["error"].is_null());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        dropped || loris.closed_by_server(),
        "slow client still connected"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(worker.call("server.ping")["error"].is_null());
}

#[test]
fn an_idle_client_is_dropped_unless_it_has_subscribed() {
    let lab = lab(Duration::from_secs(1), Duration::from_secs(30));
    let mut idle = Raw::connect(lab.addr());
    assert!(idle.call("server.version")["error"].is_null());
    let mut subscriber = Raw::connect(lab.addr());
    assert!(subscriber.call("blockchain.headers.subscribe")["error"].is_null());

    std::thread::sleep(Duration::from_millis(2_500));
    assert!(idle.closed_by_server(), "idle unsubscribed client dropped");
    // The subscriber waited as long and is still served, notifications included.
    assert!(subscriber.call("server.ping")["error"].is_null());
    lab.mine(1).unwrap();
    let note: serde_json::Value = serde_json::from_str(&subscriber.line()).unwrap();
    assert_eq!(note["method"], "blockchain.headers.subscribe");
}
