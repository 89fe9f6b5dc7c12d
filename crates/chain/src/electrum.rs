//! [`ElectrumSource`]: the Electrum protocol over TCP, TLS (`ssl://`) or SOCKS5 (Tor), every
//! per-script and per-transaction request batched into one round trip, reconnecting with
//! bounded exponential backoff when the connection drops.
//!
//! The connection is opened here (TCP, SOCKS5 in [`crate::socks`], TLS with certificate
//! pinning in [`crate::tls`]) and the protocol spoken by [`crate::rpc`]: every request of a
//! batch written before the first answer is read, answers matched by id, so a batch of any size
//! is one round trip at a constant cost per request. [`BitcoinSource::bundle`] pipelines
//! transactions, proofs, unspent lists and headers in one round trip.

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use bitcoin::{
    block::Header, consensus::deserialize, hashes::Hash, OutPoint, ScriptBuf, TxMerkleNode, Txid,
};
use custos_core::{
    source::{
        BitcoinSource, Bundle, BundleAnswer, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip,
        Unspent, HEADER_BATCH,
    },
    Sat,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    rpc::{self, Answer, Connection, Request, RpcError, ServerError},
    socks::{self, ProxyError},
    tls::{self, Fingerprint, TlsError, TlsStream, TlsTrust},
};

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ElectrumOptions {
    /// SOCKS5 proxy `host:port` (Tor: `127.0.0.1:9050`).
    pub socks5: Option<String>,
    /// Socket timeout.
    pub timeout: Duration,
    /// Attempts per call, the first included, before a dropped connection is reported.
    pub max_attempts: u32,
    /// Wait before the first reconnection; doubled after each further failure.
    pub backoff: Duration,
    /// How an `ssl://` server's certificate is trusted (default: CA roots and host name). There
    /// is no setting that turns the check off.
    pub tls: TlsTrust,
}

impl Default for ElectrumOptions {
    fn default() -> Self {
        ElectrumOptions {
            socks5: None,
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff: Duration::from_millis(250),
            tls: TlsTrust::CaRoots,
        }
    }
}

/// The byte stream under the protocol: plain TCP or TLS, either direct or through SOCKS5.
#[derive(Debug)]
pub enum ElectrumStream {
    /// `tcp://`.
    Plain(TcpStream),
    /// `ssl://`.
    Tls(Box<TlsStream>),
}

impl Read for ElectrumStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            ElectrumStream::Plain(s) => s.read(buf),
            ElectrumStream::Tls(s) => s.read(buf),
        }
    }
}

impl rpc::Socket for ElectrumStream {
    fn socket(&self) -> &TcpStream {
        match self {
            ElectrumStream::Plain(s) => s,
            ElectrumStream::Tls(s) => &s.sock,
        }
    }
}

impl Write for ElectrumStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ElectrumStream::Plain(s) => s.write(buf),
            ElectrumStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ElectrumStream::Plain(s) => s.flush(),
            ElectrumStream::Tls(s) => s.flush(),
        }
    }
}

type Client = Connection<ElectrumStream>;

/// Called with (answers received, answers expected) during a large batch.
pub type ProgressHook = Box<dyn FnMut(usize, usize) + Send>;

/// An Electrum server as a [`BitcoinSource`].
pub struct ElectrumSource {
    url: String,
    opts: ElectrumOptions,
    client: Mutex<Option<Client>>,
    /// The trust for the next TLS connection: after a first use, the fingerprint seen.
    trust: Mutex<TlsTrust>,
    /// Fingerprint of the certificate presented on the latest TLS connection.
    fingerprint: Mutex<Option<Fingerprint>>,
    progress: Mutex<Option<ProgressHook>>,
    round_trips: AtomicU64,
    reconnects: AtomicU64,
}

impl std::fmt::Debug for ElectrumSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectrumSource")
            .field("url", &self.url)
            .field("round_trips", &self.round_trips())
            .finish_non_exhaustive()
    }
}

/// Normalises a server URL: `tcp://host:port`, `ssl://host:port`, or `host:port` (TCP).
pub fn normalize_url(url: &str) -> Result<String, crate::Error> {
    let bad = |detail: &str| crate::Error::Url {
        url: url.to_string(),
        detail: detail.to_string(),
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("tcp".to_string(), url),
    };
    if scheme != "tcp" && scheme != "ssl" {
        return Err(bad("scheme must be tcp:// or ssl://"));
    }
    let rest = rest.trim_end_matches('/');
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(bad("expected host:port"));
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    if port.parse::<u16>().is_err() {
        return Err(bad("port is not a number from 0 to 65535"));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// A panic while one of these locks is held (in a progress hook, say) poisons it. The values
/// behind them are replaced whole (a hook, a fingerprint, the trust setting), so a poisoned one
/// is still consistent and is used as it is; the connection, which a panic may leave
/// mid-answer, is taken through [`ElectrumSource::connection`] instead.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Electrum script hash: SHA-256 of the output script, hex in reversed byte order.
pub fn script_hash(script: &bitcoin::Script) -> String {
    let mut h = bitcoin::hashes::sha256::Hash::hash(script.as_bytes()).to_byte_array();
    h.reverse();
    hex::encode(h)
}

/// `blockchain.headers.subscribe`'s answer.
#[derive(Deserialize)]
struct HeaderNotification {
    height: u64,
    hex: String,
}

/// `blockchain.block.headers`' answer.
#[derive(Deserialize)]
struct HeadersAnswer {
    count: u64,
    hex: String,
}

/// One entry of `blockchain.scripthash.get_history`.
#[derive(Deserialize)]
struct HistoryEntry {
    tx_hash: Txid,
    height: i64,
    #[serde(default)]
    fee: Option<u64>,
}

/// One entry of `blockchain.scripthash.listunspent`.
#[derive(Deserialize)]
struct UnspentEntry {
    tx_hash: Txid,
    tx_pos: u64,
    height: u64,
    value: u64,
}

/// `blockchain.transaction.get_merkle`'s answer.
#[derive(Deserialize)]
struct MerkleAnswer {
    block_height: u64,
    pos: u64,
    merkle: Vec<String>,
}

/// Which part of a bundle a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Tx,
    Proof,
    Unspent,
    Headers,
}

impl ElectrumSource {
    /// Connects to `url` (see [`normalize_url`]).
    pub fn connect(url: &str, opts: ElectrumOptions) -> Result<Self, crate::Error> {
        let url = normalize_url(url)?;
        let s = ElectrumSource {
            url,
            trust: Mutex::new(opts.tls.clone()),
            opts,
            client: Mutex::new(None),
            fingerprint: Mutex::new(None),
            progress: Mutex::new(None),
            round_trips: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        };
        s.call("connect", &[], |_| Ok(()))?;
        s.round_trips.store(0, Ordering::Relaxed);
        s.reconnects.store(0, Ordering::Relaxed);
        Ok(s)
    }

    /// Round trips made so far (each batch counts once).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// Reconnections made so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Reports progress within large batches (answers received, expected) to `hook`.
    pub fn on_progress(&self, hook: ProgressHook) {
        *lock(&self.progress) = Some(hook);
    }

    /// SHA-256 fingerprint of the certificate the server presented (`ssl://` only): what a
    /// case records on first use (see [`tls::remember`]).
    pub fn tls_fingerprint(&self) -> Option<Fingerprint> {
        *lock(&self.fingerprint)
    }

    /// The normalised URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn transport_error(&self, detail: String, retryable: bool) -> SourceError {
        SourceError::Transport {
            server: self.url.clone(),
            detail,
            retryable,
        }
    }

    fn malformed(&self, method: &str, detail: String) -> SourceError {
        SourceError::Malformed {
            server: self.url.clone(),
            method: method.into(),
            detail,
        }
    }

    /// Opens TCP (directly or through the proxy) to the server.
    fn open_tcp(&self, host: &str, port: u16) -> Result<TcpStream, SourceError> {
        let timeout = self.opts.timeout;
        match &self.opts.socks5 {
            None => socks::connect_tcp(tls::server_key(&self.url), timeout)
                .map_err(|e| self.transport_error(e.to_string(), true)),
            Some(proxy) => socks::connect(proxy, host, port, timeout).map_err(|e| match e {
                // The proxy is at fault: the error names it, not the server.
                ProxyError::Proxy {
                    proxy,
                    detail,
                    retryable,
                } => SourceError::Transport {
                    server: format!("socks5 proxy {proxy}"),
                    detail: format!("{detail} (the proxy was to reach {})", self.url),
                    retryable,
                },
                target @ ProxyError::Target { .. } => {
                    self.transport_error(target.to_string(), true)
                }
            }),
        }
    }

    /// Opens the connection (TCP, SOCKS5, TLS as the URL and options say) and negotiates the
    /// protocol version.
    fn new_client(&self) -> Result<Client, SourceError> {
        let key = tls::server_key(&self.url);
        let (host, port) = key
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| self.transport_error("no host:port in the url".into(), false))?;
        let tcp = self.open_tcp(host, port)?;
        let stream = if self.url.starts_with("ssl://") {
            let trust = lock(&self.trust).clone();
            let (tls, fp) = tls::handshake(tcp, host, key, &trust).map_err(|e: TlsError| {
                let retryable = e.is_retryable();
                self.transport_error(e.to_string(), retryable)
            })?;
            *lock(&self.fingerprint) = Some(fp);
            if trust == TlsTrust::FirstUse {
                // Every reconnection must present the certificate first seen.
                *lock(&self.trust) = TlsTrust::Recorded(fp);
            }
            ElectrumStream::Tls(Box::new(tls))
        } else {
            ElectrumStream::Plain(tcp)
        };
        let mut client = Connection::new(stream);
        let version = Request::new("server.version", &[json!("custos"), json!("1.4")]);
        match client.call(version) {
            Ok(Ok(_)) => Ok(client),
            Ok(Err(ServerError(e))) => Err(SourceError::Server {
                server: self.url.clone(),
                method: "server.version".into(),
                detail: e,
            }),
            Err(e) => Err(self.rpc_error("server.version", e)),
        }
    }

    /// Maps a connection failure to a [`SourceError`] saying whether a retry can help.
    fn rpc_error(&self, method: &str, e: RpcError) -> SourceError {
        match e {
            RpcError::Malformed(detail) => self.malformed(method, detail),
            other => self.transport_error(other.to_string(), true),
        }
    }

    /// The connection slot. A panic during a batch poisons it and may have left the stream
    /// mid-answer: the connection is then dropped (the caller reconnects), never reused.
    fn connection(&self) -> std::sync::MutexGuard<'_, Option<Client>> {
        match self.client.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                *guard = None;
                self.client.clear_poison();
                guard
            }
        }
    }

    /// Sends `requests` as one pipelined batch (one round trip), reconnecting with backoff on
    /// a dropped connection, and turns the answers into `T` with `parse`.
    fn call<T>(
        &self,
        method: &str,
        requests: &[Request],
        parse: impl Fn(Vec<Answer>) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let mut attempt = 0u32;
        let mut wait = self.opts.backoff;
        loop {
            attempt += 1;
            let result = (|| {
                let mut guard = self.connection();
                if guard.is_none() {
                    let c = self.new_client()?;
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    *guard = Some(c);
                }
                let c = guard
                    .as_mut()
                    .ok_or_else(|| self.transport_error("no connection".into(), true))?;
                if requests.is_empty() {
                    return Ok(Vec::new());
                }
                self.round_trips.fetch_add(1, Ordering::Relaxed);
                let mut hook = lock(&self.progress);
                let mut report = |done: usize, total: usize| {
                    if let Some(h) = hook.as_mut() {
                        h(done, total);
                    }
                };
                c.batch(requests, &mut report)
                    .map_err(|e| self.rpc_error(method, e))
            })();
            match result {
                Ok(answers) => return parse(answers),
                Err(e) if e.is_retryable() && attempt < self.opts.max_attempts => {
                    tracing::warn!(target: "custos::chain::electrum", server = %self.url, method, attempt, error = %e, "retrying after backoff");
                    *lock(&self.client) = None;
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                Err(SourceError::Transport {
                    server,
                    detail,
                    retryable,
                }) => {
                    *lock(&self.client) = None;
                    return Err(SourceError::Transport {
                        server,
                        detail: if retryable {
                            format!("{detail} (gave up after {attempt} attempts; retrying later may help)")
                        } else {
                            detail
                        },
                        retryable,
                    });
                }
                Err(other) => {
                    // A malformed answer leaves the stream in an unknown state.
                    *lock(&self.client) = None;
                    return Err(other);
                }
            }
        }
    }

    /// One answer's result, or the server's error for it.
    fn result(&self, method: &str, a: Answer) -> Result<Value, SourceError> {
        a.map_err(|ServerError(detail)| SourceError::Server {
            server: self.url.clone(),
            method: method.into(),
            detail,
        })
    }

    /// One answer as `T`.
    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        a: Answer,
    ) -> Result<T, SourceError> {
        let v = self.result(method, a)?;
        serde_json::from_value(v).map_err(|e| self.malformed(method, e.to_string()))
    }

    fn parse_history(&self, a: Answer) -> Result<Vec<HistoryItem>, SourceError> {
        let v: Vec<HistoryEntry> = self.typed(GET_HISTORY, a)?;
        Ok(v.into_iter()
            .map(|i| HistoryItem {
                txid: i.tx_hash,
                height: i.height,
                fee: i.fee,
            })
            .collect())
    }

    fn parse_unspents(&self, a: Answer) -> Result<Vec<Unspent>, SourceError> {
        let v: Vec<UnspentEntry> = self.typed(LIST_UNSPENT, a)?;
        let bad = |d: String| self.malformed(LIST_UNSPENT, d);
        v.into_iter()
            .map(|i| {
                Ok(Unspent {
                    outpoint: OutPoint::new(
                        i.tx_hash,
                        u32::try_from(i.tx_pos)
                            .map_err(|_| bad(format!("output index {}", i.tx_pos)))?,
                    ),
                    height: u32::try_from(i.height)
                        .map_err(|_| bad(format!("height {}", i.height)))?,
                    value: Sat(i.value),
                })
            })
            .collect()
    }

    fn parse_raw_tx(&self, txid: &Txid, a: Answer) -> Result<Vec<u8>, SourceError> {
        let text: String = self.typed(TX_GET, a)?;
        hex::decode(text.trim())
            .map_err(|e| self.malformed(TX_GET, format!("transaction {txid}: not hex: {e}")))
    }

    fn parse_proof(&self, txid: &Txid, a: Answer) -> Result<MerkleProof, SourceError> {
        let bad =
            |detail: String| self.malformed(GET_MERKLE, format!("transaction {txid}: {detail}"));
        let m: MerkleAnswer = self.typed(GET_MERKLE, a)?;
        let branch = m
            .merkle
            .iter()
            .map(|h| {
                let mut b = [0u8; 32];
                hex::decode_to_slice(h, &mut b)
                    .map_err(|e| bad(format!("branch hash {h:?}: {e}")))?;
                // Electrum sends hashes in display (reversed) byte order.
                b.reverse();
                Ok(TxMerkleNode::from_byte_array(b))
            })
            .collect::<Result<Vec<_>, SourceError>>()?;
        Ok(MerkleProof {
            txid: *txid,
            block_height: u32::try_from(m.block_height)
                .map_err(|_| bad(format!("height {}", m.block_height)))?,
            pos: u32::try_from(m.pos).map_err(|_| bad(format!("position {}", m.pos)))?,
            branch,
        })
    }

    /// Headers from one `blockchain.block.headers` answer, refusing more than were asked.
    fn parse_headers(&self, start: u32, count: u32, a: Answer) -> Result<Vec<Header>, SourceError> {
        let r: HeadersAnswer = self.typed(BLOCK_HEADERS, a)?;
        let raw = hex::decode(r.hex.trim())
            .map_err(|e| self.malformed(BLOCK_HEADERS, format!("headers from {start}: {e}")))?;
        if raw.len() % 80 != 0 || u64::try_from(raw.len() / 80).ok() != Some(r.count) {
            return Err(self.malformed(
                BLOCK_HEADERS,
                format!(
                    "headers from {start}: count {} but {} bytes of headers",
                    r.count,
                    raw.len()
                ),
            ));
        }
        if raw.len() / 80 > count as usize {
            return Err(self.malformed(
                BLOCK_HEADERS,
                format!(
                    "asked for {count} headers from {start}, got {}",
                    raw.len() / 80
                ),
            ));
        }
        raw.chunks(80)
            .map(|c| {
                deserialize::<Header>(c)
                    .map_err(|e| self.malformed(BLOCK_HEADERS, format!("header from {start}: {e}")))
            })
            .collect()
    }

    /// Parses one part's answers, all or nothing.
    fn parse_all<T>(
        &self,
        answers: Vec<Answer>,
        each: impl Fn(usize, Answer) -> Result<T, SourceError>,
    ) -> Result<Vec<T>, SourceError> {
        answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| each(i, a))
            .collect()
    }
}

const GET_HISTORY: &str = "blockchain.scripthash.get_history";
const LIST_UNSPENT: &str = "blockchain.scripthash.listunspent";
const TX_GET: &str = "blockchain.transaction.get";
const GET_MERKLE: &str = "blockchain.transaction.get_merkle";
const BLOCK_HEADERS: &str = "blockchain.block.headers";

/// The `(start, count)` requests covering `count` headers from `start`.
fn header_requests(start: u32, count: u32) -> Vec<(u32, u32)> {
    let end = start.saturating_add(count);
    let mut v = Vec::new();
    let mut at = start;
    while at < end {
        let n = (end - at).min(HEADER_BATCH);
        v.push((at, n));
        at += n;
    }
    v
}

/// Parses an Electrum fee value (BTC per kvB as a JSON number) into integer sat/kvB exactly,
/// without floating point: the number's shortest decimal text is scaled by 10^8.
pub fn btc_per_kvb_to_sat(v: &serde_json::Value) -> Option<u64> {
    let text = v.to_string();
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().ok()?),
        None => (text.clone(), 0),
    };
    if mantissa.starts_with('-') {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
    let digits = format!("{int}{frac}");
    // value = digits * 10^(exp - frac.len()); in sat multiply by 10^8.
    let scale = exp + 8 - i32::try_from(frac.len()).ok()?;
    let n: u128 = digits.parse().ok()?;
    let v = if scale >= 0 {
        n.checked_mul(10u128.checked_pow(u32::try_from(scale).ok()?)?)?
    } else {
        let d = 10u128.checked_pow(u32::try_from(-scale).ok()?)?;
        if !n.is_multiple_of(d) {
            // Sub-satoshi fee rates round up: never under-pay a relay floor.
            n / d + 1
        } else {
            n / d
        }
    };
    u64::try_from(v).ok()
}

impl BitcoinSource for ElectrumSource {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn tip(&self) -> Result<Tip, SourceError> {
        let m = "blockchain.headers.subscribe";
        self.call(m, &[Request::new(m, &[])], |mut a| {
            let a = a
                .pop()
                .ok_or_else(|| self.malformed(m, "no answer".into()))?;
            let n: HeaderNotification = self.typed(m, a)?;
            let raw = hex::decode(n.hex.trim()).map_err(|e| self.malformed(m, e.to_string()))?;
            let header: Header =
                deserialize(&raw).map_err(|e| self.malformed(m, format!("header: {e}")))?;
            Ok(Tip {
                height: u32::try_from(n.height)
                    .map_err(|_| self.malformed(m, format!("height {} out of range", n.height)))?,
                header,
            })
        })
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        let reqs = [Request::new(BLOCK_HEADERS, &[json!(start), json!(count)])];
        self.call(BLOCK_HEADERS, &reqs, |mut a| {
            let a = a
                .pop()
                .ok_or_else(|| self.malformed(BLOCK_HEADERS, "no answer".into()))?;
            self.parse_headers(start, count, a)
        })
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        let reqs: Vec<Request> = scripts
            .iter()
            .map(|s| Request::with_str(GET_HISTORY, &script_hash(s)))
            .collect();
        self.call(GET_HISTORY, &reqs, |a| {
            self.parse_all(a, |_, x| self.parse_history(x))
        })
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        let reqs: Vec<Request> = scripts
            .iter()
            .map(|s| Request::with_str(LIST_UNSPENT, &script_hash(s)))
            .collect();
        self.call(LIST_UNSPENT, &reqs, |a| {
            self.parse_all(a, |_, x| self.parse_unspents(x))
        })
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        let reqs: Vec<Request> = txids
            .iter()
            .map(|t| Request::with_str(TX_GET, &t.to_string()))
            .collect();
        self.call(TX_GET, &reqs, |a| {
            self.parse_all(a, |i, x| self.parse_raw_tx(&txids[i], x))
        })
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        let reqs: Vec<Request> = requests
            .iter()
            .map(|(t, h)| Request::new(GET_MERKLE, &[json!(t.to_string()), json!(h)]))
            .collect();
        self.call(GET_MERKLE, &reqs, |a| {
            self.parse_all(a, |i, x| self.parse_proof(&requests[i].0, x))
        })
    }

    fn pipelines_bundles(&self) -> bool {
        true
    }

    /// Every part in one pipelined batch: one round trip.
    fn bundle(&self, b: &Bundle) -> BundleAnswer {
        let mut reqs: Vec<Request> = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        for t in &b.txids {
            reqs.push(Request::with_str(TX_GET, &t.to_string()));
            parts.push(Part::Tx);
        }
        for (t, h) in &b.proofs {
            reqs.push(Request::new(GET_MERKLE, &[json!(t.to_string()), json!(h)]));
            parts.push(Part::Proof);
        }
        for s in &b.unspents {
            reqs.push(Request::with_str(LIST_UNSPENT, &script_hash(s)));
            parts.push(Part::Unspent);
        }
        let header_reqs = b
            .headers
            .map(|(s, c)| header_requests(s, c))
            .unwrap_or_default();
        for (s, c) in &header_reqs {
            reqs.push(Request::new(BLOCK_HEADERS, &[json!(s), json!(c)]));
            parts.push(Part::Headers);
        }
        let answers = match self.call("bundle", &reqs, Ok) {
            Ok(a) => a,
            Err(e) => {
                return BundleAnswer {
                    raw_transactions: Err(e.clone()),
                    merkle_proofs: Err(e.clone()),
                    unspents: Err(e.clone()),
                    headers: Err(e),
                }
            }
        };
        let (mut tx, mut pr, mut un, mut hd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (a, p) in answers.into_iter().zip(parts) {
            match p {
                Part::Tx => tx.push(a),
                Part::Proof => pr.push(a),
                Part::Unspent => un.push(a),
                Part::Headers => hd.push(a),
            }
        }
        let headers = (|| {
            let mut out = Vec::new();
            for (a, (s, c)) in hd.into_iter().zip(&header_reqs) {
                let got = self.parse_headers(*s, *c, a)?;
                let short = got.len() < *c as usize;
                out.extend(got);
                if short {
                    break;
                }
            }
            Ok(out)
        })();
        BundleAnswer {
            raw_transactions: self.parse_all(tx, |i, x| self.parse_raw_tx(&b.txids[i], x)),
            merkle_proofs: self.parse_all(pr, |i, x| self.parse_proof(&b.proofs[i].0, x)),
            unspents: self.parse_all(un, |_, x| self.parse_unspents(x)),
            headers,
        }
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        let m = "blockchain.transaction.broadcast";
        let tx: bitcoin::Transaction = deserialize(raw_tx).map_err(|e| SourceError::Malformed {
            server: "local".into(),
            method: m.into(),
            detail: format!("the transaction to broadcast does not decode: {e}"),
        })?;
        let txid = tx.compute_txid();
        let reqs = [Request::with_str(m, &hex::encode(raw_tx))];
        let answer = self.call(m, &reqs, |mut a| {
            a.pop().ok_or_else(|| self.malformed(m, "no answer".into()))
        })?;
        match answer {
            Ok(v) => {
                let got: Txid = serde_json::from_value(v.clone())
                    .map_err(|_| self.malformed(m, format!("not a txid: {v}")))?;
                if got == txid {
                    Ok(txid)
                } else {
                    Err(self.malformed(
                        m,
                        format!("server answered txid {got} for transaction {txid}"),
                    ))
                }
            }
            Err(ServerError(reason)) => Err(SourceError::Rejected { txid, reason }),
        }
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        let m = "blockchain.relayfee";
        let v = self.call(m, &[Request::new(m, &[])], |mut a| {
            let a = a
                .pop()
                .ok_or_else(|| self.malformed(m, "no answer".into()))?;
            self.result(m, a)
        })?;
        btc_per_kvb_to_sat(&v)
            .map(SatPerKvb)
            .ok_or_else(|| self.malformed(m, format!("not a fee rate: {v}")))
    }

    fn estimate_fee(&self, blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        let m = "blockchain.estimatefee";
        let v = self.call(m, &[Request::new(m, &[json!(blocks)])], |mut a| {
            let a = a
                .pop()
                .ok_or_else(|| self.malformed(m, "no answer".into()))?;
            self.result(m, a)
        })?;
        if v.as_i64().is_some_and(|n| n < 0) || v.as_f64().is_some_and(|f| f.is_sign_negative()) {
            return Ok(None);
        }
        btc_per_kvb_to_sat(&v)
            .map(|s| Some(SatPerKvb(s)))
            .ok_or_else(|| self.malformed(m, format!("not a fee rate: {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_server_urls() {
        assert_eq!(
            normalize_url("127.0.0.1:50001").unwrap(),
            "tcp://127.0.0.1:50001"
        );
        assert_eq!(
            normalize_url("ssl://electrum.example:50002").unwrap(),
            "ssl://electrum.example:50002"
        );
        assert!(normalize_url("http://x:1")
            .unwrap_err()
            .to_string()
            .contains("scheme"));
        assert!(normalize_url("tcp://x").is_err());
        assert!(normalize_url("tcp://x:99999").is_err());
    }

    #[test]
    fn converts_fee_rates_exactly() {
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(btc_per_kvb_to_sat(&j("0.00001")), Some(1000));
        assert_eq!(btc_per_kvb_to_sat(&j("1e-05")), Some(1000));
        assert_eq!(btc_per_kvb_to_sat(&j("0.00012345")), Some(12345));
        assert_eq!(btc_per_kvb_to_sat(&j("1")), Some(100_000_000));
        assert_eq!(btc_per_kvb_to_sat(&j("0.000000001")), Some(1));
        assert_eq!(btc_per_kvb_to_sat(&j("-1")), None);
    }

    #[test]
    fn reports_an_unreachable_server_as_retryable_transport_error() {
        // Bind then drop a listener: the port is free and refuses connections.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = ElectrumOptions {
            timeout: Duration::from_secs(2),
            ..ElectrumOptions::default()
        };
        let err = ElectrumSource::connect(&format!("tcp://127.0.0.1:{port}"), opts).unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains(&port.to_string()));
    }
}
