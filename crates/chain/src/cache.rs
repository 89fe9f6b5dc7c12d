//! [`CachedSource`]: every answer a source gives is stored in the case store's chain-data cache,
//! keyed by the request, so the same scan can be replayed offline (`--offline`) and its SPV
//! checks re-run on the recorded data. The cache is not evidence by itself: the SPV checks run
//! on cached data exactly as on fresh data.

use bitcoin::{
    block::Header,
    consensus::{deserialize, serialize},
    hashes::{sha256, Hash},
    ScriptBuf, Txid,
};
use custos_case::Case;
use custos_core::source::{
    BitcoinSource, HistoryItem, MerkleProof, SatPerKvb, SourceError, Tip, Unspent,
};
use serde::{de::DeserializeOwned, Serialize};

/// Whether a [`CachedSource`] may go online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Ask the inner source, store every answer.
    ReadThrough,
    /// Answer from the cache only.
    Offline,
}

const NS: &str = "electrum";

/// A source that records into (or replays from) a case's chain-data cache.
pub struct CachedSource<'a> {
    inner: Option<&'a dyn BitcoinSource>,
    case: &'a Case,
}

impl std::fmt::Debug for CachedSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSource")
            .field("online", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> CachedSource<'a> {
    /// Records every answer of `inner` into `case`.
    pub fn online(inner: &'a dyn BitcoinSource, case: &'a Case) -> Self {
        CachedSource {
            inner: Some(inner),
            case,
        }
    }

    /// Replays answers from `case` only.
    pub fn offline(case: &'a Case) -> Self {
        CachedSource { inner: None, case }
    }

    /// The mode.
    pub fn mode(&self) -> CacheMode {
        if self.inner.is_some() {
            CacheMode::ReadThrough
        } else {
            CacheMode::Offline
        }
    }

    fn key(method: &str, request: &[u8]) -> String {
        let mut data = method.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(request);
        format!("{method}:{}", sha256::Hash::hash(&data))
    }

    fn cache_err(&self, e: impl std::fmt::Display) -> SourceError {
        SourceError::Transport {
            server: format!("case cache {}", self.case.path().display()),
            detail: e.to_string(),
            retryable: false,
        }
    }

    /// Answers `method` for `request` from the inner source (storing the answer) or, offline,
    /// from the cache.
    fn through<T: Serialize + DeserializeOwned>(
        &self,
        method: &str,
        request: &[u8],
        fetch: impl FnOnce(&dyn BitcoinSource) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let key = Self::key(method, request);
        match self.inner {
            Some(inner) => {
                let v = fetch(inner)?;
                let bytes = serde_json::to_vec(&v).map_err(|e| self.cache_err(e))?;
                self.case
                    .cache_put(NS, &key, &bytes)
                    .map_err(|e| self.cache_err(e))?;
                if method == "tip" {
                    self.case
                        .cache_put(NS, "server", inner.name().as_bytes())
                        .map_err(|e| self.cache_err(e))?;
                }
                Ok(v)
            }
            None => {
                let bytes = self
                    .case
                    .cache_get(NS, &key)
                    .map_err(|e| self.cache_err(e))?
                    .ok_or_else(|| SourceError::Transport {
                        server: self.name(),
                        detail: format!(
                            "no cached answer to {method} for this request; run once online with --case to record it"
                        ),
                        retryable: false,
                    })?;
                serde_json::from_slice(&bytes).map_err(|e| SourceError::Malformed {
                    server: self.name(),
                    method: method.into(),
                    detail: format!("cached answer does not decode: {e}"),
                })
            }
        }
    }
}

fn scripts_key(scripts: &[ScriptBuf]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in scripts {
        v.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
        v.extend_from_slice(s.as_bytes());
    }
    v
}

impl BitcoinSource for CachedSource<'_> {
    fn name(&self) -> String {
        match self.inner {
            Some(i) => i.name(),
            None => {
                let server = self
                    .case
                    .cache_get(NS, "server")
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|| "unknown server".into());
                format!("offline cache of {server}")
            }
        }
    }

    fn tip(&self) -> Result<Tip, SourceError> {
        self.through("tip", b"", |s| s.tip())
    }

    fn headers(&self, start: u32, count: u32) -> Result<Vec<Header>, SourceError> {
        let mut req = start.to_le_bytes().to_vec();
        req.extend_from_slice(&count.to_le_bytes());
        let hex: Vec<String> = self.through("headers", &req, |s| {
            Ok(s.headers(start, count)?
                .iter()
                .map(|h| hex::encode(serialize(h)))
                .collect())
        })?;
        hex.iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|b| deserialize(&b).ok())
                    .ok_or_else(|| SourceError::Malformed {
                        server: self.name(),
                        method: "headers".into(),
                        detail: "cached header does not decode".into(),
                    })
            })
            .collect()
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        self.through("histories", &scripts_key(scripts), |s| s.histories(scripts))
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        self.through("unspents", &scripts_key(scripts), |s| s.unspents(scripts))
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        let req: Vec<u8> = txids.iter().flat_map(|t| t.to_byte_array()).collect();
        let hex: Vec<String> = self.through("raw_transactions", &req, |s| {
            Ok(s.raw_transactions(txids)?.iter().map(hex::encode).collect())
        })?;
        hex.iter()
            .map(|h| {
                hex::decode(h).map_err(|e| SourceError::Malformed {
                    server: self.name(),
                    method: "raw_transactions".into(),
                    detail: format!("cached transaction is not hex: {e}"),
                })
            })
            .collect()
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        let req: Vec<u8> = requests
            .iter()
            .flat_map(|(t, h)| {
                let mut v = t.to_byte_array().to_vec();
                v.extend_from_slice(&h.to_le_bytes());
                v
            })
            .collect();
        self.through("merkle_proofs", &req, |s| s.merkle_proofs(requests))
    }

    fn broadcast(&self, raw_tx: &[u8]) -> Result<Txid, SourceError> {
        match self.inner {
            Some(i) => i.broadcast(raw_tx),
            None => Err(SourceError::Transport {
                server: self.name(),
                detail: "cannot broadcast offline".into(),
                retryable: false,
            }),
        }
    }

    fn relay_fee(&self) -> Result<SatPerKvb, SourceError> {
        self.through("relay_fee", b"", |s| s.relay_fee())
    }

    fn estimate_fee(&self, blocks: u16) -> Result<Option<SatPerKvb>, SourceError> {
        self.through("estimate_fee", &blocks.to_le_bytes(), |s| {
            s.estimate_fee(blocks)
        })
    }
}
