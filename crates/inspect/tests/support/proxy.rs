//! A small TCP proxy in front of an Electrum server (the lab) for tests and benchmarks: it
//! forwards newline-delimited JSON-RPC both ways, can rewrite chosen answers (a lying server),
//! and can hold every answer back for a fixed latency counted from the request's arrival, as a
//! network link does (pipelined requests share one round trip).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

/// Rewrites one answer: (method, params, result) -> new result.
pub(crate) type Rewrite = Arc<dyn Fn(&str, &[Value], Value) -> Value + Send + Sync>;

/// Requests in flight: id -> (method, params, arrival).
type Pending = HashMap<String, (String, Vec<Value>, Instant)>;

/// A running proxy.
pub(crate) struct Proxy {
    pub addr: SocketAddr,
}

impl Proxy {
    pub(crate) fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Starts a proxy to `upstream` that rewrites answers with `rewrite` and delays each
    /// answer until `latency` after its request arrived.
    pub(crate) fn start(upstream: SocketAddr, rewrite: Rewrite, latency: Duration) -> Proxy {
        Self::start_flaky(upstream, rewrite, latency, None)
    }

    /// Like [`Proxy::start`], but the first connection is cut after `drop_after` answers.
    pub(crate) fn start_flaky(
        upstream: SocketAddr,
        rewrite: Rewrite,
        latency: Duration,
        drop_after: Option<usize>,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for (n, client) in listener.incoming().enumerate() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let rewrite = rewrite.clone();
                let cut = if n == 0 { drop_after } else { None };
                std::thread::spawn(move || serve(client, server, rewrite, latency, cut));
            }
        });
        Proxy { addr }
    }
}

fn serve(
    client: TcpStream,
    server: TcpStream,
    rewrite: Rewrite,
    latency: Duration,
    cut: Option<usize>,
) {
    let cut_handles = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let mut answered = 0usize;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // id -> (method, params, arrival)
    let pending: Arc<Mutex<Pending>> = Arc::default();
    let (c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let p2 = pending.clone();
    std::thread::spawn(move || {
        let mut r = BufReader::new(c_read);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                let reqs = match &v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for q in reqs {
                    let id = q.get("id").map(|i| i.to_string()).unwrap_or_default();
                    let method = q
                        .get("method")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let params = q
                        .get("params")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    p2.lock()
                        .unwrap()
                        .insert(id, (method, params, Instant::now()));
                }
            }
            if s_write.write_all(line.as_bytes()).is_err() {
                break;
            }
            line.clear();
        }
        let _ = s_write.shutdown(std::net::Shutdown::Both);
    });
    // Answers go through a queue so a delayed answer never delays reading the next one.
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let mut c_write = client;
    std::thread::spawn(move || {
        for (due, line) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if c_write.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        let _ = c_write.shutdown(std::net::Shutdown::Both);
    });
    let mut r = BufReader::new(server);
    let mut line = String::new();
    while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        let mut due = Instant::now();
        let out = match serde_json::from_str::<Value>(line.trim()) {
            Ok(mut v) => {
                let id = v.get("id").map(|i| i.to_string()).unwrap_or_default();
                if let Some((method, params, arrival)) = pending.lock().unwrap().remove(&id) {
                    due = arrival + latency;
                    if let Some(result) = v.get_mut("result") {
                        let old = result.take();
                        *result = rewrite(&method, &params, old);
                    }
                }
                format!("{v}\n")
            }
            Err(_) => line.clone(),
        };
        if tx.send((due, out)).is_err() {
            break;
        }
        line.clear();
        answered += 1;
        if cut == Some(answered) {
            // Let the queued answers go out, then drop the connection.
            std::thread::sleep(latency + Duration::from_millis(20));
            let _ = cut_handles.0.shutdown(std::net::Shutdown::Both);
            let _ = cut_handles.1.shutdown(std::net::Shutdown::Both);
            break;
        }
    }
}

/// A rewrite that changes nothing.
pub(crate) fn honest() -> Rewrite {
    Arc::new(|_, _, v| v)
}
