//! [`ElectrumSource`]: the Electrum protocol over TCP, TLS (`ssl://`) or SOCKS5 (Tor), every
//! per-script and per-transaction request batched into one round trip, reconnecting with
//! bounded exponential backoff when the connection drops.
//!
//! The connection is opened here (TCP, SOCKS5 in [`crate::socks`], TLS with certificate
//! pinning in [`crate::tls`]) and handed to electrum-client's `RawClient`, which speaks the
//! protocol; electrum-client's own TLS checks only against CA roots.

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
    source::{BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent},
    Sat,
};
use electrum_client::{raw_client::RawClient, ElectrumApi};

use crate::{
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

type Client = RawClient<ElectrumStream>;

/// An Electrum server as a [`BitcoinSource`].
pub struct ElectrumSource {
    url: String,
    opts: ElectrumOptions,
    client: Mutex<Option<Client>>,
    /// The trust for the next TLS connection: after a first use, the fingerprint seen.
    trust: Mutex<TlsTrust>,
    /// Fingerprint of the certificate presented on the latest TLS connection.
    fingerprint: Mutex<Option<Fingerprint>>,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            round_trips: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        };
        s.call("connect", |_| Ok(()))?;
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
        let client = RawClient::from(stream);
        client
            .protocol_version()
            .map_err(|e| self.classify("server.version", e))?;
        Ok(client)
    }

    /// Maps an electrum-client error to a [`SourceError`] saying whether a retry can help.
    fn classify(&self, method: &str, e: electrum_client::Error) -> SourceError {
        use electrum_client::Error as E;
        let server = self.url.clone();
        match e {
            E::AllAttemptsErrored(mut v) if v.len() == 1 => match v.pop() {
                Some(inner) => self.classify(method, inner),
                None => SourceError::Transport {
                    server,
                    detail: "no attempt made".into(),
                    retryable: true,
                },
            },
            E::Protocol(v) => SourceError::Server {
                server,
                method: method.into(),
                detail: v.to_string(),
            },
            E::JSON(_) | E::Hex(_) | E::Bitcoin(_) | E::InvalidResponse(_) => {
                SourceError::Malformed {
                    server,
                    method: method.into(),
                    detail: e.to_string(),
                }
            }
            E::InvalidDNSNameError(_) | E::MissingDomain | E::CouldNotCreateConnection(_) => {
                SourceError::Transport {
                    server,
                    detail: e.to_string(),
                    retryable: false,
                }
            }
            other => SourceError::Transport {
                server,
                detail: other.to_string(),
                retryable: true,
            },
        }
    }

    /// Runs one request (one round trip), reconnecting with backoff on a dropped connection.
    fn call<T>(
        &self,
        method: &str,
        f: impl Fn(&Client) -> Result<T, electrum_client::Error>,
    ) -> Result<T, SourceError> {
        let mut attempt = 0u32;
        let mut wait = self.opts.backoff;
        loop {
            attempt += 1;
            let result = (|| {
                let mut guard = lock(&self.client);
                if guard.is_none() {
                    let c = self.new_client()?;
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    *guard = Some(c);
                }
                let c = guard
                    .as_ref()
                    .ok_or_else(|| self.transport_error("no connection".into(), true))?;
                self.round_trips.fetch_add(1, Ordering::Relaxed);
                f(c).map_err(|e| self.classify(method, e))
            })();
            match result {
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
                    return Err(SourceError::Transport {
                        server,
                        detail: if retryable {
                            format!("{detail} (gave up after {attempt} attempts; retrying later may help)")
                        } else {
                            detail
                        },
                        retryable,
                    })
                }
                other => return other,
            }
        }
    }
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
        let n = self.call("blockchain.headers.subscribe", |c| {
            c.block_headers_subscribe()
        })?;
        Ok(Tip {
            height: u32::try_from(n.height).map_err(|_| SourceError::Malformed {
                server: self.url.clone(),
                method: "blockchain.headers.subscribe".into(),
                detail: format!("height {} out of range", n.height),
            })?,
            header: n.header,
        })
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        let r = self.call("blockchain.block.headers", |c| {
            c.block_headers(start as usize, count as usize)
        })?;
        if r.headers.len() > count as usize {
            return Err(SourceError::Malformed {
                server: self.url.clone(),
                method: "blockchain.block.headers".into(),
                detail: format!(
                    "asked for {count} headers from {start}, got {}",
                    r.headers.len()
                ),
            });
        }
        Ok(r.headers)
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        if scripts.is_empty() {
            return Ok(Vec::new());
        }
        let r = self.call("blockchain.scripthash.get_history", |c| {
            c.batch_script_get_history(scripts.iter().map(|s| s.as_script()))
        })?;
        Ok(r.into_iter()
            .map(|h| {
                h.into_iter()
                    .map(|i| HistoryItem {
                        txid: i.tx_hash,
                        height: i64::from(i.height),
                        fee: i.fee,
                    })
                    .collect()
            })
            .collect())
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        if scripts.is_empty() {
            return Ok(Vec::new());
        }
        let r = self.call("blockchain.scripthash.listunspent", |c| {
            c.batch_script_list_unspent(scripts.iter().map(|s| s.as_script()))
        })?;
        let bad = |detail: String| SourceError::Malformed {
            server: self.url.clone(),
            method: "blockchain.scripthash.listunspent".into(),
            detail,
        };
        r.into_iter()
            .map(|u| {
                u.into_iter()
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
            })
            .collect()
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        if txids.is_empty() {
            return Ok(Vec::new());
        }
        self.call("blockchain.transaction.get", |c| {
            c.batch_transaction_get_raw(txids.iter())
        })
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let r = self.call("blockchain.transaction.get_merkle", |c| {
            c.batch_transaction_get_merkle(requests.iter().map(|(t, h)| (*t, *h as usize)))
        })?;
        r.into_iter()
            .zip(requests)
            .map(|(m, (txid, _))| {
                let bad = |detail: String| SourceError::Malformed {
                    server: self.url.clone(),
                    method: "blockchain.transaction.get_merkle".into(),
                    detail: format!("transaction {txid}: {detail}"),
                };
                Ok(MerkleProof {
                    txid: *txid,
                    block_height: u32::try_from(m.block_height)
                        .map_err(|_| bad(format!("height {}", m.block_height)))?,
                    pos: u32::try_from(m.pos).map_err(|_| bad(format!("position {}", m.pos)))?,
                    branch: m
                        .merkle
                        .into_iter()
                        .map(|mut b| {
                            // Electrum sends hashes in display (reversed) byte order.
                            b.reverse();
                            TxMerkleNode::from_byte_array(b)
                        })
                        .collect(),
                })
            })
            .collect()
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        let tx: bitcoin::Transaction = deserialize(raw_tx).map_err(|e| SourceError::Malformed {
            server: "local".into(),
            method: "blockchain.transaction.broadcast".into(),
            detail: format!("the transaction to broadcast does not decode: {e}"),
        })?;
        let txid = tx.compute_txid();
        match self.call("blockchain.transaction.broadcast", |c| {
            c.transaction_broadcast_raw(raw_tx)
        }) {
            Ok(got) if got == txid => Ok(txid),
            Ok(got) => Err(SourceError::Malformed {
                server: self.url.clone(),
                method: "blockchain.transaction.broadcast".into(),
                detail: format!("server answered txid {got} for transaction {txid}"),
            }),
            Err(SourceError::Server { detail, .. }) => Err(SourceError::Rejected {
                txid,
                reason: detail,
            }),
            Err(e) => Err(e),
        }
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        let v = self.call("blockchain.relayfee", |c| {
            c.raw_call("blockchain.relayfee", Vec::new())
        })?;
        btc_per_kvb_to_sat(&v)
            .map(SatPerKvb)
            .ok_or_else(|| SourceError::Malformed {
                server: self.url.clone(),
                method: "blockchain.relayfee".into(),
                detail: format!("not a fee rate: {v}"),
            })
    }

    fn estimate_fee(&self, blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        let v = self.call("blockchain.estimatefee", |c| {
            c.raw_call(
                "blockchain.estimatefee",
                vec![electrum_client::Param::Usize(usize::from(blocks))],
            )
        })?;
        if v.as_i64().is_some_and(|n| n < 0) || v.as_f64().is_some_and(|f| f.is_sign_negative()) {
            return Ok(None);
        }
        btc_per_kvb_to_sat(&v)
            .map(|s| Some(SatPerKvb(s)))
            .ok_or_else(|| SourceError::Malformed {
                server: self.url.clone(),
                method: "blockchain.estimatefee".into(),
                detail: format!("not a fee rate: {v}"),
            })
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
