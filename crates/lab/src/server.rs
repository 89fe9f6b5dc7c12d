//! The Electrum protocol server (protocol 1.4 plus what Electrum 4.x sends) over plain TCP on
//! 127.0.0.1: newline-delimited JSON-RPC, batches, error objects, subscriptions with
//! notifications on new blocks and mempool changes, a 1 MiB request limit, optional injected
//! latency, and the lab's admin methods (`lab.*`) for the `custos-lab` CLI.
//!
//! One thread per connection (std only). A bad request gets a JSON-RPC error; an oversized or
//! broken connection is dropped; the other connections keep being served.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::{Transaction, Txid};
use serde_json::{json, Value};

use crate::chain::{header_branch, merkle_branch, ScriptHash};
use crate::lab::Inner;
use crate::Error;

/// Largest request line accepted (bytes, without the newline).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Headers returned at most by one `blockchain.block.headers` call.
pub const MAX_HEADERS: u32 = 2016;
const PROTOCOL: &str = "1.4";
const SERVER: &str = concat!("custos-lab ", env!("CARGO_PKG_VERSION"));

/// A JSON-RPC error to send back.
#[derive(Debug)]
pub(crate) struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn params(m: impl Into<String>) -> Self {
        RpcError {
            code: -32602,
            message: m.into(),
        }
    }
    pub(crate) fn app(m: impl Into<String>) -> Self {
        RpcError {
            code: 1,
            message: m.into(),
        }
    }
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    writer: Mutex<TcpStream>,
    headers: AtomicBool,
    last_tip: AtomicU64,
    scripts: Mutex<HashMap<ScriptHash, Option<String>>>,
    alive: AtomicBool,
}

impl Conn {
    fn send(&self, line: &str) -> bool {
        let Ok(mut w) = self.writer.lock() else {
            return false;
        };
        // One write per message: the reply and its newline in a single segment.
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let ok = w.write_all(&buf).is_ok();
        if !ok {
            self.alive.store(false, Ordering::SeqCst);
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
        ok
    }

    fn shutdown(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Electrum's hex form of a script hash (byte-reversed).
pub fn scripthash_hex(sh: &ScriptHash) -> String {
    let mut r = *sh;
    r.reverse();
    hex::encode(r)
}

fn parse_scripthash(v: Option<&Value>) -> Result<ScriptHash, RpcError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::params("missing scripthash"))?;
    let mut b = hex::decode(s).map_err(|_| RpcError::params(format!("bad scripthash {s}")))?;
    if b.len() != 32 {
        return Err(RpcError::params(format!("bad scripthash {s}")));
    }
    b.reverse();
    let mut out = [0u8; 32];
    out.copy_from_slice(&b);
    Ok(out)
}

fn parse_txid(v: Option<&Value>) -> Result<Txid, RpcError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::params("missing tx hash"))?;
    s.parse::<Txid>()
        .map_err(|_| RpcError::params(format!("bad tx hash {s}")))
}

fn parse_u32(v: Option<&Value>, what: &str) -> Result<u32, RpcError> {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| RpcError::params(format!("{what} must be a non-negative integer")))
}

fn opt_u32(v: Option<&Value>, what: &str) -> Result<u32, RpcError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(x) => parse_u32(Some(x), what),
    }
}

/// sat/kvB as a BTC/kB JSON number, formatted exactly from the integer.
pub(crate) fn btc_per_kb(sat_per_kvb: u64) -> Value {
    let s = custos_core::Sat(sat_per_kvb).to_btc_string();
    serde_json::from_str(&s).unwrap_or(Value::Null)
}

fn hash_hex(h: &sha256d::Hash) -> String {
    // Block and merkle hashes are shown byte-reversed, like txids.
    bitcoin::BlockHash::from_raw_hash(*h).to_string()
}

/// Electrum status hash of a history (None when empty).
pub fn status_hash(history: &[(Txid, i64)]) -> Option<String> {
    if history.is_empty() {
        return None;
    }
    let mut s = String::new();
    for (t, h) in history {
        s.push_str(&format!("{t}:{h}:"));
    }
    Some(hex::encode(
        sha256::Hash::hash(s.as_bytes()).to_byte_array(),
    ))
}

impl Inner {
    /// History of a script: confirmed ascending, then mempool (height 0 or -1) with fees.
    pub(crate) fn history(&self, sh: &ScriptHash) -> Vec<(Txid, i64, Option<u64>)> {
        let Ok(st) = self.state.read() else {
            return Vec::new();
        };
        let mut out: Vec<(Txid, i64, Option<u64>)> = st
            .index
            .history
            .get(sh)
            .map(|h| {
                h.iter()
                    .map(|(height, t)| (*t, i64::from(*height), None))
                    .collect()
            })
            .unwrap_or_default();
        for (t, e) in st.mempool.touching(sh) {
            out.push((t, if e.unconfirmed_parent { -1 } else { 0 }, Some(e.fee)));
        }
        out
    }

    fn status(&self, sh: &ScriptHash) -> Option<String> {
        let h: Vec<(Txid, i64)> = self
            .history(sh)
            .into_iter()
            .map(|(t, h, _)| (t, h))
            .collect();
        status_hash(&h)
    }

    fn header_hex(&self, height: u32) -> Option<String> {
        let st = self.state.read().ok()?;
        let h = st.index.headers.get(usize::try_from(height).ok()?)?;
        Some(hex::encode(serialize(h)))
    }

    fn cp_proof(&self, height: u32, cp: u32) -> Result<Value, RpcError> {
        let st = self.state.read().map_err(|_| RpcError::app("lock"))?;
        if cp < height || cp > st.index.tip_height() {
            return Err(RpcError::params(format!(
                "header height {height} must be <= cp_height {cp} <= tip {}",
                st.index.tip_height()
            )));
        }
        let hashes: Vec<sha256d::Hash> = st.index.headers[..=cp as usize]
            .iter()
            .map(|h| h.block_hash().to_raw_hash())
            .collect();
        let (branch, root) = header_branch(&hashes, height as usize);
        Ok(json!({
            "branch": branch.iter().map(hash_hex).collect::<Vec<_>>(),
            "root": hash_hex(&root),
        }))
    }

    /// Answers one request (without latency; the caller adds it).
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        conn: Option<&Arc<Conn>>,
        method: &str,
        p: &[Value],
    ) -> Result<Value, RpcError> {
        match method {
            "server.version" => Ok(json!([SERVER, PROTOCOL])),
            "server.banner" => Ok(json!(format!(
                "custos-lab training chain (regtest), scenario {}",
                self.scenario_name
            ))),
            "server.donation_address" => Ok(json!("")),
            "server.peers.subscribe" => Ok(json!([])),
            "server.ping" => Ok(Value::Null),
            "server.features" => {
                let genesis = self.header_hash_hex(0).unwrap_or_default();
                Ok(json!({
                    "genesis_hash": genesis,
                    "hosts": {},
                    "protocol_max": PROTOCOL,
                    "protocol_min": PROTOCOL,
                    "pruning": null,
                    "server_version": SERVER,
                    "hash_function": "sha256",
                }))
            }
            "blockchain.headers.subscribe" => {
                if let Some(c) = conn {
                    c.headers.store(true, Ordering::SeqCst);
                    c.last_tip.store(u64::from(self.tip()), Ordering::SeqCst);
                }
                let tip = self.tip();
                Ok(json!({"hex": self.header_hex(tip), "height": tip}))
            }
            "blockchain.block.header" => {
                let height = parse_u32(p.first(), "height")?;
                let cp = opt_u32(p.get(1), "cp_height")?;
                let hex = self
                    .header_hex(height)
                    .ok_or_else(|| RpcError::params(format!("height {height} out of range")))?;
                if cp == 0 {
                    Ok(json!(hex))
                } else {
                    let mut proof = self.cp_proof(height, cp)?;
                    proof["header"] = json!(hex);
                    Ok(proof)
                }
            }
            "blockchain.block.headers" => {
                let start = parse_u32(p.first(), "start_height")?;
                let count = parse_u32(p.get(1), "count")?.min(MAX_HEADERS);
                let cp = opt_u32(p.get(2), "cp_height")?;
                let st = self.state.read().map_err(|_| RpcError::app("lock"))?;
                let tip = st.index.tip_height();
                let mut hex = String::new();
                let mut n = 0u32;
                if start <= tip {
                    let end = tip.min(start.saturating_add(count).saturating_sub(1));
                    if count > 0 {
                        for h in start..=end {
                            hex.push_str(&hex::encode(serialize(&st.index.headers[h as usize])));
                            n += 1;
                        }
                    }
                }
                drop(st);
                let mut v = json!({"count": n, "hex": hex, "max": MAX_HEADERS});
                if cp > 0 && n > 0 {
                    let last = start + n - 1;
                    let proof = self.cp_proof(last, cp)?;
                    v["branch"] = proof["branch"].clone();
                    v["root"] = proof["root"].clone();
                }
                Ok(v)
            }
            "blockchain.estimatefee" => {
                parse_u32(p.first(), "number")?;
                Ok(btc_per_kb(self.estimate_sat_per_kvb()))
            }
            "blockchain.relayfee" => Ok(btc_per_kb(self.min_relay())),
            "mempool.get_info" => {
                let r = btc_per_kb(self.min_relay());
                Ok(json!({"mempoolminfee": r, "minrelaytxfee": r, "incrementalrelayfee": r}))
            }
            "mempool.get_fee_histogram" => {
                let st = self.state.read().map_err(|_| RpcError::app("lock"))?;
                Ok(json!(st
                    .mempool
                    .fee_histogram()
                    .into_iter()
                    .map(|(r, v)| json!([r, v]))
                    .collect::<Vec<_>>()))
            }
            "blockchain.scripthash.get_balance" => {
                let sh = parse_scripthash(p.first())?;
                let (c, u) = self.balance(&sh);
                Ok(json!({"confirmed": c, "unconfirmed": u}))
            }
            "blockchain.scripthash.get_history" => {
                let sh = parse_scripthash(p.first())?;
                Ok(history_json(&self.history(&sh)))
            }
            "blockchain.scripthash.get_mempool" => {
                let sh = parse_scripthash(p.first())?;
                let h: Vec<_> = self
                    .history(&sh)
                    .into_iter()
                    .filter(|(_, h, _)| *h <= 0)
                    .collect();
                Ok(history_json(&h))
            }
            "blockchain.scripthash.listunspent" => {
                let sh = parse_scripthash(p.first())?;
                Ok(json!(self
                    .unspent(&sh)
                    .into_iter()
                    .map(|(op, height, value)| json!({
                        "tx_hash": op.txid.to_string(),
                        "tx_pos": op.vout,
                        "height": height,
                        "value": value,
                    }))
                    .collect::<Vec<_>>()))
            }
            "blockchain.scripthash.subscribe" => {
                let sh = parse_scripthash(p.first())?;
                let status = self.status(&sh);
                if let Some(c) = conn {
                    if let Ok(mut s) = c.scripts.lock() {
                        s.insert(sh, status.clone());
                    }
                }
                Ok(json!(status))
            }
            "blockchain.scripthash.unsubscribe" => {
                let sh = parse_scripthash(p.first())?;
                let was = conn
                    .and_then(|c| c.scripts.lock().ok().map(|mut s| s.remove(&sh).is_some()))
                    .unwrap_or(false);
                Ok(json!(was))
            }
            "blockchain.transaction.get" => {
                let txid = parse_txid(p.first())?;
                if p.get(1).and_then(Value::as_bool) == Some(true) {
                    return Err(RpcError::params(
                        "verbose transactions are not supported by the lab",
                    ));
                }
                let raw = self.raw_tx(&txid).ok_or_else(|| {
                    RpcError::app(format!("no such mempool or blockchain transaction: {txid}"))
                })?;
                Ok(json!(hex::encode(raw)))
            }
            "blockchain.transaction.get_merkle" => {
                let txid = parse_txid(p.first())?;
                let height = parse_u32(p.get(1), "height")?;
                let (pos, branch) = self.merkle(&txid, height)?;
                Ok(json!({
                    "block_height": height,
                    "merkle": branch.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    "pos": pos,
                }))
            }
            "blockchain.transaction.id_from_pos" => {
                let height = parse_u32(p.first(), "height")?;
                let pos = parse_u32(p.get(1), "tx_pos")?;
                let want_merkle = p.get(2).and_then(Value::as_bool).unwrap_or(false);
                let st = self.state.read().map_err(|_| RpcError::app("lock"))?;
                let txids = st
                    .index
                    .block_txids
                    .get(height as usize)
                    .ok_or_else(|| RpcError::params(format!("no block at height {height}")))?;
                let txid = *txids.get(pos as usize).ok_or_else(|| {
                    RpcError::params(format!("no tx at position {pos} in block {height}"))
                })?;
                if want_merkle {
                    let branch = merkle_branch(txids, pos as usize);
                    Ok(json!({
                        "tx_hash": txid.to_string(),
                        "merkle": branch.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
                    }))
                } else {
                    Ok(json!(txid.to_string()))
                }
            }
            "blockchain.transaction.broadcast" => {
                let s = p
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| RpcError::params("missing raw transaction"))?;
                let raw =
                    hex::decode(s).map_err(|_| RpcError::params("raw transaction is not hex"))?;
                let tx: Transaction = deserialize(&raw)
                    .map_err(|e| RpcError::app(format!("TX decode failed: {e}")))?;
                let txid = self
                    .submit_tx(tx)
                    .map_err(|e| RpcError::app(e.to_string()))?;
                Ok(json!(txid.to_string()))
            }
            // Admin methods for the custos-lab CLI (the server listens on 127.0.0.1 only).
            "lab.status" => Ok(self.status_json()),
            "lab.mine" => {
                let n = opt_u32(p.first(), "count")?.max(1);
                let hashes = self.mine(n).map_err(|e| RpcError::app(e.to_string()))?;
                Ok(json!(hashes
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()))
            }
            "lab.stop" => {
                self.stop.store(true, Ordering::SeqCst);
                Ok(json!(true))
            }
            _ => Err(RpcError {
                code: -32601,
                message: format!("unknown method {method}"),
            }),
        }
    }

    /// Sends notifications for what changed since each connection last heard.
    pub(crate) fn notify(&self) {
        let conns: Vec<Arc<Conn>> = match self.conns.lock() {
            Ok(mut c) => {
                c.retain(|c| c.alive.load(Ordering::SeqCst));
                c.clone()
            }
            Err(_) => return,
        };
        let tip = self.tip();
        for c in conns {
            if c.headers.load(Ordering::SeqCst)
                && c.last_tip.swap(u64::from(tip), Ordering::SeqCst) != u64::from(tip)
            {
                let msg = json!({
                    "jsonrpc": "2.0",
                    "method": "blockchain.headers.subscribe",
                    "params": [{"hex": self.header_hex(tip), "height": tip}],
                });
                c.send(&msg.to_string());
            }
            let keys: Vec<(ScriptHash, Option<String>)> = match c.scripts.lock() {
                Ok(s) => s.iter().map(|(k, v)| (*k, v.clone())).collect(),
                Err(_) => continue,
            };
            for (sh, old) in keys {
                let new = self.status(&sh);
                if new != old {
                    if let Ok(mut s) = c.scripts.lock() {
                        s.insert(sh, new.clone());
                    }
                    let msg = json!({
                        "jsonrpc": "2.0",
                        "method": "blockchain.scripthash.subscribe",
                        "params": [scripthash_hex(&sh), new],
                    });
                    c.send(&msg.to_string());
                }
            }
        }
    }
}

fn history_json(h: &[(Txid, i64, Option<u64>)]) -> Value {
    json!(h
        .iter()
        .map(|(t, height, fee)| {
            let mut v = json!({"tx_hash": t.to_string(), "height": height});
            if let Some(f) = fee {
                v["fee"] = json!(f);
            }
            v
        })
        .collect::<Vec<_>>())
}

fn response(id: Value, r: Result<Value, RpcError>) -> Value {
    match r {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}})
        }
    }
}

fn handle_one(inner: &Arc<Inner>, conn: &Arc<Conn>, req: &Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return response(
            id,
            Err(RpcError {
                code: -32600,
                message: "invalid request".into(),
            }),
        );
    };
    let params: Vec<Value> = match req.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return response(id, Err(RpcError::params("params must be an array")));
        }
    };
    tracing::debug!(target: "custos_lab::server", method, "request");
    response(id, inner.dispatch(Some(conn), method, &params))
}

/// Handles one line; returns the reply line.
fn handle_line(inner: &Arc<Inner>, conn: &Arc<Conn>, line: &[u8]) -> Option<String> {
    let parsed: Result<Value, _> = serde_json::from_slice(line);
    let reply = match parsed {
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}})
        }
        Ok(Value::Array(reqs)) => {
            if reqs.is_empty() {
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "empty batch"}})
            } else {
                Value::Array(reqs.iter().map(|r| handle_one(inner, conn, r)).collect())
            }
        }
        Ok(req @ Value::Object(_)) => handle_one(inner, conn, &req),
        Ok(_) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "invalid request"}})
        }
    };
    Some(reply.to_string())
}

/// Reads newline-delimited requests until EOF, error, an oversized line or stop.
/// With `--latency-ms`, replies leave through this writer thread: each one is sent `latency`
/// after its request arrived, like on a real slow link where pipelined requests travel together
/// (sleeping before each reply in turn would make a batch of N cost N × latency).
fn delayed_writer(conn: Arc<Conn>) -> std::sync::mpsc::Sender<(std::time::Instant, String)> {
    let (tx, rx) = std::sync::mpsc::channel::<(std::time::Instant, String)>();
    std::thread::spawn(move || {
        for (due, reply) in rx {
            let now = std::time::Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if !conn.send(&reply) {
                break;
            }
        }
    });
    tx
}

fn serve_conn(inner: Arc<Inner>, conn: Arc<Conn>, stream: TcpStream) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line: Vec<u8> = Vec::new();
    let delayed = (!inner.latency.is_zero()).then(|| delayed_writer(conn.clone()));
    loop {
        if inner.stop.load(Ordering::SeqCst) || !conn.alive.load(Ordering::SeqCst) {
            break;
        }
        let buf = match reader.fill_buf() {
            Ok([]) => break, // EOF (a partial request is dropped)
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_REQUEST_BYTES {
            let msg = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": format!("request larger than {MAX_REQUEST_BYTES} bytes")}});
            conn.send(&msg.to_string());
            break;
        }
        line.extend_from_slice(chunk);
        let consumed = found.map(|i| i + 1).unwrap_or(chunk.len());
        reader.consume(consumed);
        if found.is_none() {
            continue;
        }
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            let arrived = std::time::Instant::now();
            if let Some(reply) = handle_line(&inner, &conn, trimmed) {
                match &delayed {
                    Some(tx) => {
                        if tx.send((arrived + inner.latency, reply)).is_err() {
                            break;
                        }
                    }
                    None => {
                        if !conn.send(&reply) {
                            break;
                        }
                    }
                }
            }
        }
        line.clear();
    }
    conn.shutdown();
}

/// Accepts connections until the lab stops.
pub(crate) fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    for stream in listener.incoming() {
        if inner.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let Ok(writer) = stream.try_clone() else {
            continue;
        };
        let conn = Arc::new(Conn {
            writer: Mutex::new(writer),
            headers: AtomicBool::new(false),
            last_tip: AtomicU64::new(0),
            scripts: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        if let Ok(mut c) = inner.conns.lock() {
            c.retain(|c| c.alive.load(Ordering::SeqCst));
            c.push(conn.clone());
        }
        let i2 = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("lab-conn".into())
            .spawn(move || serve_conn(i2, conn, stream));
        if let Err(e) = spawned {
            tracing::warn!("cannot spawn connection thread: {e}");
        }
    }
    if let Ok(c) = inner.conns.lock() {
        for conn in c.iter() {
            conn.shutdown();
        }
    }
}

/// Calls a method on a running lab (used by the CLI's `mine`, `status`, `down`).
pub fn call(addr: std::net::SocketAddr, method: &str, params: Value) -> Result<Value, Error> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| Error::Control(format!("cannot reach lab at {addr}: {e}")))?;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    s.write_all(format!("{req}\n").as_bytes())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let v: Value = serde_json::from_str(&line)
        .map_err(|e| Error::Control(format!("bad answer from lab: {e}")))?;
    if let Some(e) = v.get("error") {
        return Err(Error::Control(format!("{method}: {}", e["message"])));
    }
    Ok(v.get("result").cloned().unwrap_or(Value::Null))
}
