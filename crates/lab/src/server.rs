//! The Electrum protocol server (protocol 1.4 plus what Electrum 4.x sends) over plain TCP on
//! 127.0.0.1: newline-delimited JSON-RPC, batches, error objects, subscriptions with
//! notifications on new blocks and mempool changes, a 1 MiB request limit, optional injected
//! latency, and the lab's admin methods (`lab.*`) for the `custos-lab` CLI.
//!
//! Protocol mapping only: each method has a handler that parses its parameters, asks the
//! node's chain state (which answers with domain values) and writes the JSON answer.
//!
//! One thread per connection (std only), at most `ConnLimits::max_conns` of them: a client
//! beyond the cap gets a JSON-RPC error line and is closed. A bad request gets a JSON-RPC
//! error; an oversized or broken connection is dropped; a request line not completed within
//! `partial_line` (a slow-loris client) is dropped; the other connections keep being served.
//!
//! Idle clients: a connection with no subscription that sends nothing for `idle` is closed. A
//! subscribed client (headers or a script hash) is never closed for being idle — Electrum
//! wallets subscribe and then wait, for hours, for notifications. Such a client holds one of
//! the capped slots until it closes; if its peer has gone away, the next notification written
//! to it fails and frees the slot. (No TCP keepalive: std cannot set it without `unsafe` or
//! another dependency, and the cap already bounds what idle subscribers can hold.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::{Duration, Instant};

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{BlockHash, Transaction, TxMerkleNode, Txid};
use custos_core::source::HistoryItem;
use serde_json::{json, Value};

use crate::chain::{ChainState, ElectrumScriptHash};
use crate::node::{ChainListener, Node};
use crate::Error;

/// Largest request line accepted (bytes, without the newline).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Headers returned at most by one `blockchain.block.headers` call.
pub const MAX_HEADERS: u32 = 2016;
/// How many connections the server keeps and how long it waits for slow or idle clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections served at once; a client beyond them is refused (default 128: a classroom
    /// of wallets, each holding one or two connections, on one lab).
    pub max_conns: usize,
    /// A connection without subscriptions that sends nothing this long is closed (10 min).
    pub idle: Duration,
    /// A request line not completed this long after its first byte is dropped (30 s).
    pub partial_line: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_conns: 128,
            idle: Duration::from_secs(600),
            partial_line: Duration::from_secs(30),
        }
    }
}

impl ConnLimits {
    /// How often a waiting connection thread wakes to check its deadlines and the stop flag.
    fn tick(&self) -> Duration {
        (self.idle.min(self.partial_line) / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// Blocks mined at most by one `lab.mine` call (the chain is locked while it mines).
pub const MAX_MINE_PER_CALL: u32 = 1_000;
const PROTOCOL: &str = "1.4";
/// JSON-RPC error code of an admin method called without the lab's token.
pub const ADMIN_REFUSED: i64 = -32001;
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

    fn app(m: impl Into<String>) -> Self {
        RpcError {
            code: 1,
            message: m.into(),
        }
    }
}

impl From<Error> for RpcError {
    fn from(e: Error) -> Self {
        RpcError::app(e.to_string())
    }
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Conn {
    writer: Mutex<TcpStream>,
    headers: AtomicBool,
    last_tip: AtomicU64,
    scripts: Mutex<HashMap<ElectrumScriptHash, Option<String>>>,
    alive: AtomicBool,
}

impl Conn {
    fn send(&self, line: &str) -> bool {
        // One write per message: the reply and its newline in a single segment.
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.send_lines(&buf)
    }

    /// Writes newline-terminated messages in one write.
    fn send_lines(&self, buf: &[u8]) -> bool {
        let Ok(mut w) = self.writer.lock() else {
            return false;
        };
        let ok = w.write_all(buf).is_ok();
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
pub fn scripthash_hex(sh: &ElectrumScriptHash) -> String {
    sh.to_electrum_hex()
}

fn parse_scripthash(v: Option<&Value>) -> Result<ElectrumScriptHash, RpcError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::params("missing scripthash"))?;
    ElectrumScriptHash::from_electrum_hex(s)
        .ok_or_else(|| RpcError::params(format!("bad scripthash {s}")))
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
    serde_json::from_str(&s).expect("a decimal BTC amount is a JSON number")
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

fn history_json(h: &[HistoryItem]) -> Value {
    json!(h
        .iter()
        .map(|i| {
            let mut v = json!({"tx_hash": i.txid.to_string(), "height": i.height});
            if let Some(f) = i.fee {
                v["fee"] = json!(f);
            }
            v
        })
        .collect::<Vec<_>>())
}

fn hashes_json<T: ToString>(h: &[T]) -> Value {
    json!(h.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn branch_json(branch: &[TxMerkleNode]) -> Value {
    hashes_json(branch)
}

/// The Electrum server of a running lab: its connections and their subscriptions.
#[derive(Debug)]
pub(crate) struct Server {
    node: Arc<Node>,
    conns: Mutex<Vec<Arc<Conn>>>,
    stop: AtomicBool,
    latency: Duration,
    limits: ConnLimits,
    /// Connections being served.
    active: AtomicUsize,
    /// Required as the first parameter of the admin methods (`lab.mine`, `lab.stop`).
    admin_token: String,
}

impl ChainListener for Server {
    fn chain_changed(&self) {
        self.notify();
    }
}

impl Server {
    /// A server over `node`, registered to be told of its changes.
    pub(crate) fn new(
        node: Arc<Node>,
        latency: Duration,
        limits: ConnLimits,
        admin_token: String,
    ) -> Arc<Server> {
        let server = Arc::new(Server {
            node,
            conns: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            latency,
            limits,
            active: AtomicUsize::new(0),
            admin_token,
        });
        let weak = Arc::downgrade(&server);
        server.node.set_listener(weak);
        server
    }

    /// Asks the server to stop (the accept loop ends at its next connection).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked (by `lab.stop` or the `Lab` handle).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn state(&self) -> Result<RwLockReadGuard<'_, ChainState>, RpcError> {
        Ok(self.node.read()?)
    }

    fn status_of(&self, sh: &ElectrumScriptHash) -> Result<Option<String>, Error> {
        let h: Vec<(Txid, i64)> = self
            .node
            .read()?
            .history(sh)
            .into_iter()
            .map(|i| (i.txid, i.height))
            .collect();
        Ok(status_hash(&h))
    }

    fn header_hex(&self, height: u32) -> Result<Option<String>, Error> {
        Ok(self
            .node
            .read()?
            .index
            .header(height)
            .map(|h| hex::encode(serialize(h))))
    }

    /// Answers one request (without latency; the caller adds it).
    fn dispatch(
        &self,
        conn: Option<&Arc<Conn>>,
        method: &str,
        p: &[Value],
    ) -> Result<Value, RpcError> {
        match method {
            "server.version" => Ok(json!([SERVER, PROTOCOL])),
            "server.banner" => Ok(json!(format!(
                "custos-lab training chain (regtest), scenario {}",
                self.node.scenario_name()
            ))),
            "server.donation_address" => Ok(json!("")),
            "server.peers.subscribe" => Ok(json!([])),
            "server.ping" => Ok(Value::Null),
            "server.features" => self.features(),
            "blockchain.headers.subscribe" => self.headers_subscribe(conn),
            "blockchain.block.header" => self.block_header(p),
            "blockchain.block.headers" => self.block_headers(p),
            "blockchain.estimatefee" => {
                parse_u32(p.first(), "number")?;
                Ok(btc_per_kb(self.node.estimate_sat_per_kvb()?))
            }
            "blockchain.relayfee" => Ok(btc_per_kb(self.node.min_relay()?)),
            "mempool.get_info" => {
                let r = btc_per_kb(self.node.min_relay()?);
                Ok(json!({"mempoolminfee": r, "minrelaytxfee": r, "incrementalrelayfee": r}))
            }
            "mempool.get_fee_histogram" => self.fee_histogram(),
            "blockchain.scripthash.get_balance" => self.get_balance(p),
            "blockchain.scripthash.get_history" => self.get_history(p, false),
            "blockchain.scripthash.get_mempool" => self.get_history(p, true),
            "blockchain.scripthash.listunspent" => self.listunspent(p),
            "blockchain.scripthash.subscribe" => self.scripthash_subscribe(conn, p),
            "blockchain.scripthash.unsubscribe" => Ok(scripthash_unsubscribe(conn, p)?),
            "blockchain.transaction.get" => self.transaction_get(p),
            "blockchain.transaction.get_merkle" => self.get_merkle(p),
            "blockchain.transaction.id_from_pos" => self.id_from_pos(p),
            "blockchain.transaction.broadcast" => self.broadcast(p),
            // The lab's own methods for the custos-lab CLI. `lab.status` is read-only and open
            // (it tells what `blockchain.headers.subscribe` and `server.banner` tell); the admin
            // methods change the chain or stop the lab and need the control file's token.
            "lab.status" => Ok(json!(self.node.status()?)),
            "lab.mine" => {
                self.check_token(method, p.first())?;
                let n = opt_u32(p.get(1), "count")?.max(1);
                if n > MAX_MINE_PER_CALL {
                    return Err(RpcError::params(format!(
                        "count {n} above {MAX_MINE_PER_CALL} blocks per call"
                    )));
                }
                Ok(hashes_json(&self.node.mine(n)?))
            }
            "lab.stop" => {
                self.check_token(method, p.first())?;
                self.stop();
                Ok(json!(true))
            }
            _ => Err(RpcError {
                code: -32601,
                message: format!("unknown method {method}"),
            }),
        }
    }

    /// Refuses an admin method unless its first parameter is the lab's token. The comparison
    /// takes the same time wherever the first difference is.
    fn check_token(&self, method: &str, given: Option<&Value>) -> Result<(), RpcError> {
        let given = given.and_then(Value::as_str).unwrap_or_default().as_bytes();
        let want = self.admin_token.as_bytes();
        let same = given.len() == want.len()
            && given
                .iter()
                .zip(want)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same && !want.is_empty() {
            return Ok(());
        }
        Err(RpcError {
            code: ADMIN_REFUSED,
            message: format!(
                "{method} is an admin method: its first parameter must be the token from the \
                 lab's control file"
            ),
        })
    }

    fn features(&self) -> Result<Value, RpcError> {
        let genesis = self
            .state()?
            .index
            .header(0)
            .map(|h| h.block_hash().to_string())
            .expect("the lab's chain always holds its genesis block");
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

    fn headers_subscribe(&self, conn: Option<&Arc<Conn>>) -> Result<Value, RpcError> {
        let tip = self.node.tip_height()?;
        if let Some(c) = conn {
            c.headers.store(true, Ordering::SeqCst);
            c.last_tip.store(u64::from(tip), Ordering::SeqCst);
        }
        Ok(json!({"hex": self.header_hex(tip)?, "height": tip}))
    }

    /// Branch and root of a checkpoint proof as JSON.
    fn cp_proof(&self, height: u32, cp: u32) -> Result<Value, RpcError> {
        let st = self.state()?;
        let (branch, root) = st.checkpoint_proof(height, cp).ok_or_else(|| {
            RpcError::params(format!(
                "header height {height} must be <= cp_height {cp} <= tip {}",
                st.index.tip_height()
            ))
        })?;
        Ok(json!({
            "branch": hashes_json::<BlockHash>(&branch),
            "root": root.to_string(),
        }))
    }

    fn block_header(&self, p: &[Value]) -> Result<Value, RpcError> {
        let height = parse_u32(p.first(), "height")?;
        let cp = opt_u32(p.get(1), "cp_height")?;
        let hex = self
            .header_hex(height)?
            .ok_or_else(|| RpcError::params(format!("height {height} out of range")))?;
        if cp == 0 {
            return Ok(json!(hex));
        }
        let mut proof = self.cp_proof(height, cp)?;
        proof["header"] = json!(hex);
        Ok(proof)
    }

    fn block_headers(&self, p: &[Value]) -> Result<Value, RpcError> {
        let start = parse_u32(p.first(), "start_height")?;
        let count = parse_u32(p.get(1), "count")?.min(MAX_HEADERS);
        let cp = opt_u32(p.get(2), "cp_height")?;
        let headers = self.state()?.headers(start, count);
        let hex: String = headers.iter().map(|h| hex::encode(serialize(h))).collect();
        let n = u32::try_from(headers.len()).expect("at most MAX_HEADERS headers");
        let mut v = json!({"count": n, "hex": hex, "max": MAX_HEADERS});
        if cp > 0 && n > 0 {
            let proof = self.cp_proof(start + n - 1, cp)?;
            v["branch"] = proof["branch"].clone();
            v["root"] = proof["root"].clone();
        }
        Ok(v)
    }

    fn fee_histogram(&self) -> Result<Value, RpcError> {
        let buckets = self.state()?.mempool.fee_histogram();
        Ok(json!(buckets
            .into_iter()
            .map(|(r, v)| json!([r, v]))
            .collect::<Vec<_>>()))
    }

    fn get_balance(&self, p: &[Value]) -> Result<Value, RpcError> {
        let sh = parse_scripthash(p.first())?;
        let b = self.state()?.balance(&sh);
        Ok(json!({"confirmed": b.confirmed, "unconfirmed": b.unconfirmed}))
    }

    fn get_history(&self, p: &[Value], mempool_only: bool) -> Result<Value, RpcError> {
        let sh = parse_scripthash(p.first())?;
        let mut h = self.state()?.history(&sh);
        if mempool_only {
            h.retain(|i| i.height <= 0);
        }
        Ok(history_json(&h))
    }

    fn listunspent(&self, p: &[Value]) -> Result<Value, RpcError> {
        let sh = parse_scripthash(p.first())?;
        let list = self.state()?.list_unspent(&sh);
        Ok(json!(list
            .into_iter()
            .map(|u| json!({
                "tx_hash": u.outpoint.txid.to_string(),
                "tx_pos": u.outpoint.vout,
                "height": u.height,
                "value": u.value.0,
            }))
            .collect::<Vec<_>>()))
    }

    fn scripthash_subscribe(
        &self,
        conn: Option<&Arc<Conn>>,
        p: &[Value],
    ) -> Result<Value, RpcError> {
        let sh = parse_scripthash(p.first())?;
        let status = self.status_of(&sh)?;
        if let Some(c) = conn {
            if let Ok(mut s) = c.scripts.lock() {
                s.insert(sh, status.clone());
            }
        }
        Ok(json!(status))
    }

    fn transaction_get(&self, p: &[Value]) -> Result<Value, RpcError> {
        let txid = parse_txid(p.first())?;
        if p.get(1).and_then(Value::as_bool) == Some(true) {
            return Err(RpcError::params(
                "verbose transactions are not supported by the lab",
            ));
        }
        let raw = self.state()?.raw_tx(&txid).ok_or_else(|| {
            RpcError::app(format!("no such mempool or blockchain transaction: {txid}"))
        })?;
        Ok(json!(hex::encode(raw)))
    }

    fn get_merkle(&self, p: &[Value]) -> Result<Value, RpcError> {
        let txid = parse_txid(p.first())?;
        let height = parse_u32(p.get(1), "height")?;
        let proof = self
            .state()?
            .merkle_proof(&txid, height)
            .map_err(|e| RpcError::app(e.to_string()))?;
        Ok(json!({
            "block_height": height,
            "merkle": branch_json(&proof.branch),
            "pos": proof.pos,
        }))
    }

    fn id_from_pos(&self, p: &[Value]) -> Result<Value, RpcError> {
        let height = parse_u32(p.first(), "height")?;
        let pos = parse_u32(p.get(1), "tx_pos")?;
        let want_merkle = p.get(2).and_then(Value::as_bool).unwrap_or(false);
        let (txid, branch) = self
            .state()?
            .tx_at(height, pos)
            .map_err(|e| RpcError::params(e.to_string()))?;
        if want_merkle {
            Ok(json!({
                "tx_hash": txid.to_string(),
                "merkle": branch_json(&branch),
            }))
        } else {
            Ok(json!(txid.to_string()))
        }
    }

    fn broadcast(&self, p: &[Value]) -> Result<Value, RpcError> {
        let s = p
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::params("missing raw transaction"))?;
        let raw = hex::decode(s).map_err(|_| RpcError::params("raw transaction is not hex"))?;
        let tx: Transaction =
            deserialize(&raw).map_err(|e| RpcError::app(format!("TX decode failed: {e}")))?;
        let txid = self.node.submit_tx(tx)?;
        Ok(json!(txid.to_string()))
    }

    /// Sends notifications for what changed since each connection last heard.
    fn notify(&self) {
        let conns: Vec<Arc<Conn>> = match self.conns.lock() {
            Ok(mut c) => {
                c.retain(|c| c.alive.load(Ordering::SeqCst));
                c.clone()
            }
            Err(_) => return,
        };
        let tip = match self.node.tip_height() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(target: "custos_lab::server", "no notifications: {e}");
                return;
            }
        };
        for c in conns {
            if let Err(e) = self.notify_conn(&c, tip) {
                tracing::error!(target: "custos_lab::server", "notification failed: {e}");
                return;
            }
        }
    }

    /// Notifies one connection of a new tip and of each subscribed script whose status moved.
    fn notify_conn(&self, c: &Conn, tip: u32) -> Result<(), Error> {
        if c.headers.load(Ordering::SeqCst)
            && c.last_tip.swap(u64::from(tip), Ordering::SeqCst) != u64::from(tip)
        {
            let msg = json!({
                "jsonrpc": "2.0",
                "method": "blockchain.headers.subscribe",
                "params": [{"hex": self.header_hex(tip)?, "height": tip}],
            });
            c.send(&msg.to_string());
        }
        let keys: Vec<(ElectrumScriptHash, Option<String>)> = match c.scripts.lock() {
            Ok(s) => s.iter().map(|(k, v)| (*k, v.clone())).collect(),
            Err(_) => return Ok(()),
        };
        for (sh, old) in keys {
            let new = self.status_of(&sh)?;
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
        Ok(())
    }
}

fn scripthash_unsubscribe(conn: Option<&Arc<Conn>>, p: &[Value]) -> Result<Value, RpcError> {
    let sh = parse_scripthash(p.first())?;
    let was = conn
        .and_then(|c| c.scripts.lock().ok().map(|mut s| s.remove(&sh).is_some()))
        .unwrap_or(false);
    Ok(json!(was))
}

fn response(id: Value, r: Result<Value, RpcError>) -> Value {
    match r {
        Ok(v) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message}})
        }
    }
}

fn handle_one(server: &Server, conn: &Arc<Conn>, req: &Value) -> Value {
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
    response(id, server.dispatch(Some(conn), method, &params))
}
/// Handles one line; returns the reply line.
fn handle_line(server: &Server, conn: &Arc<Conn>, line: &[u8]) -> Option<String> {
    let parsed: Result<Value, _> = serde_json::from_slice(line);
    let reply = match parsed {
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}})
        }
        Ok(Value::Array(reqs)) => {
            if reqs.is_empty() {
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "empty batch"}})
            } else {
                Value::Array(reqs.iter().map(|r| handle_one(server, conn, r)).collect())
            }
        }
        Ok(req @ Value::Object(_)) => handle_one(server, conn, &req),
        Ok(_) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "invalid request"}})
        }
    };
    Some(reply.to_string())
}

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

impl Conn {
    /// Whether the client subscribed to anything (then it is never closed for being idle).
    fn subscribed(&self) -> bool {
        self.headers.load(Ordering::SeqCst) || self.scripts.lock().map_or(true, |s| !s.is_empty())
    }
}

/// Why a connection's deadline has passed, if it has.
fn overdue(
    server: &Server,
    conn: &Conn,
    partial_since: Option<Instant>,
    last_request: Instant,
) -> Option<&'static str> {
    let limits = &server.limits;
    match partial_since {
        Some(t) if t.elapsed() > limits.partial_line => Some("request line not completed in time"),
        Some(_) => None,
        None if last_request.elapsed() > limits.idle && !conn.subscribed() => {
            Some("idle without subscriptions")
        }
        None => None,
    }
}

/// Replies held back while more requests of a pipelined batch are already read are written
/// together once this many bytes are waiting (or no complete request is left to answer).
const COALESCE_BYTES: usize = 64 * 1024;

/// Answers one complete request line into `out` (written by the caller), or through the delayed
/// writer; false when the connection should end.
fn answer(
    server: &Server,
    conn: &Arc<Conn>,
    delayed: Option<&std::sync::mpsc::Sender<(Instant, String)>>,
    line: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return true;
    }
    let arrived = Instant::now();
    let Some(reply) = handle_line(server, conn, trimmed) else {
        return true;
    };
    match delayed {
        Some(tx) => tx.send((arrived + server.latency, reply)).is_ok(),
        None => {
            out.extend_from_slice(reply.as_bytes());
            out.push(b'\n');
            true
        }
    }
}

/// Reads newline-delimited requests until EOF, error, an oversized line, a passed deadline
/// (see `ConnLimits`) or stop. The socket's read timeout is the limits' tick, so the loop
/// wakes to check its deadlines even when the client sends nothing. Replies to requests that
/// arrived together (a pipelined batch) leave together: they are written when no complete
/// request is left in the read buffer or [`COALESCE_BYTES`] are waiting — one write for many
/// replies instead of one each, and never held while the loop could block.
fn serve_conn(server: Arc<Server>, conn: Arc<Conn>, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(server.limits.tick()));
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line: Vec<u8> = Vec::new();
    let delayed = (!server.latency.is_zero()).then(|| delayed_writer(conn.clone()));
    let mut last_request = Instant::now();
    let mut partial_since: Option<Instant> = None;
    let mut out: Vec<u8> = Vec::new();
    loop {
        if !out.is_empty() && (out.len() >= COALESCE_BYTES || !reader.buffer().contains(&b'\n')) {
            if !conn.send_lines(&out) {
                break;
            }
            out.clear();
        }
        if server.stopped() || !conn.alive.load(Ordering::SeqCst) {
            break;
        }
        if let Some(why) = overdue(&server, &conn, partial_since, last_request) {
            tracing::debug!(target: "custos_lab::server", why, "connection closed");
            break;
        }
        let buf = match reader.fill_buf() {
            Ok([]) => break, // EOF (a partial request is dropped)
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_REQUEST_BYTES {
            let msg = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": format!("request larger than {MAX_REQUEST_BYTES} bytes")}});
            out.extend_from_slice(msg.to_string().as_bytes());
            out.push(b'\n');
            break;
        }
        if partial_since.is_none() && !(chunk.is_empty() && found.is_some()) {
            partial_since = Some(Instant::now());
        }
        line.extend_from_slice(chunk);
        let consumed = found.map(|i| i + 1).unwrap_or(chunk.len());
        reader.consume(consumed);
        if found.is_none() {
            continue;
        }
        if !answer(&server, &conn, delayed.as_ref(), &line, &mut out) {
            break;
        }
        line.clear();
        partial_since = None;
        last_request = Instant::now();
    }
    if !out.is_empty() {
        conn.send_lines(&out);
    }
    conn.shutdown();
}

/// Counts a connection as served until dropped.
struct Slot(Arc<Server>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells a client beyond the cap why it is closed, and closes it.
fn refuse(mut stream: TcpStream, max: usize) {
    let msg = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": format!("server busy: {max} connections open, the lab's limit; try again later")}});
    let _ = stream.write_all(format!("{msg}\n").as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Accepts connections until the lab stops.
pub(crate) fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    for stream in listener.incoming() {
        if server.stopped() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let max = server.limits.max_conns;
        if server.active.load(Ordering::SeqCst) >= max {
            tracing::warn!(target: "custos_lab::server", max, "connection refused: limit reached");
            refuse(stream, max);
            continue;
        }
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
        if let Ok(mut c) = server.conns.lock() {
            c.retain(|c| c.alive.load(Ordering::SeqCst));
            c.push(conn.clone());
        }
        server.active.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(server.clone());
        let s2 = server.clone();
        let spawned = std::thread::Builder::new()
            .name("lab-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve_conn(s2, conn, stream);
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot spawn connection thread: {e}");
        }
    }
    if let Ok(c) = server.conns.lock() {
        for conn in c.iter() {
            conn.shutdown();
        }
    }
}

/// Calls a method on a running lab (used by the CLI's `mine`, `status`, `down`).
pub fn call(addr: std::net::SocketAddr, method: &str, params: Value) -> Result<Value, Error> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|source| Error::Unreachable { addr, source })?;
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
    v.get("result")
        .cloned()
        .ok_or_else(|| Error::Control(format!("{method}: answer without result or error")))
}
