//! [`CachedSource`]: every answer a source gives is stored in the case store's chain-data cache,
//! keyed by the request, so the same scan can be replayed offline (`--offline`) and its SPV
//! checks re-run on the recorded data. The cache is not evidence by itself: the SPV checks run
//! on cached data exactly as on fresh data.
//!
//! Per-item answers (histories, raw transactions, merkle proofs) and headers are stored in a
//! compact binary form ([`codec`], format `bin1`); the JSON form of caches written before it is
//! still replayed, including wide requests an older walker recorded in chunks of 1,000 items.

mod codec;

use bitcoin::{
    block::Header,
    consensus::deserialize,
    hashes::{sha256, Hash},
    ScriptBuf, Txid,
};
use custos_case::Case;
use custos_core::source::{
    bundle_per_part, BitcoinSource, Bundle, BundleAnswer, HistoryItem, MerkleProof, SatPerKvb,
    SourceError, Tip, Unspent, HEADER_BATCH,
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
                let bytes = self.lookup(&key)?.ok_or_else(|| self.miss(method))?;
                self.decode_json(method, &bytes)
            }
        }
    }

    /// The cached entry under `key`, if any.
    fn lookup(&self, key: &str) -> Result<Option<Vec<u8>>, SourceError> {
        self.case.cache_get(NS, key).map_err(|e| self.cache_err(e))
    }

    fn miss(&self, method: &str) -> SourceError {
        SourceError::Transport {
            server: self.name(),
            detail: format!(
                "no cached answer to {method} for this request; run once online with --case to record it"
            ),
            retryable: false,
        }
    }

    fn malformed(&self, method: &str, detail: impl std::fmt::Display) -> SourceError {
        SourceError::Malformed {
            server: self.name(),
            method: method.into(),
            detail: format!("cached answer does not decode: {detail}"),
        }
    }

    fn decode_json<T: DeserializeOwned>(
        &self,
        method: &str,
        bytes: &[u8],
    ) -> Result<T, SourceError> {
        serde_json::from_slice(bytes).map_err(|e| self.malformed(method, e))
    }

    /// A per-item request (`items`, keyed by `request_of`) answered from the inner source and
    /// stored in the binary form, or, offline, replayed: from the binary form, else from the
    /// JSON form of an older cache (`legacy` decodes it), also when that cache recorded the
    /// request in chunks of [`LEGACY_CHUNK`] items.
    fn itemized<I, T>(
        &self,
        method: &str,
        items: &[I],
        request_of: impl Fn(&[I]) -> Vec<u8>,
        codec: (
            impl Fn(&[T]) -> Vec<u8>,
            impl Fn(&[u8], usize) -> Result<Vec<T>, String>,
        ),
        legacy: impl Fn(&Self, &[u8]) -> Result<Vec<T>, SourceError>,
        fetch: impl FnOnce(&dyn BitcoinSource) -> Result<Vec<T>, SourceError>,
    ) -> Result<Vec<T>, SourceError> {
        let (encode, decode) = codec;
        let request = request_of(items);
        let key = Self::key(&format!("{method}/{BINARY}"), &request);
        if let Some(inner) = self.inner {
            let v = fetch(inner)?;
            self.case
                .cache_put(NS, &key, &encode(&v))
                .map_err(|e| self.cache_err(e))?;
            return Ok(v);
        }
        if let Some(bytes) = self.lookup(&key)? {
            return decode(&bytes, items.len()).map_err(|e| self.malformed(method, e));
        }
        if let Some(bytes) = self.lookup(&Self::key(method, &request))? {
            return legacy(self, &bytes);
        }
        if items.len() <= LEGACY_CHUNK {
            return Err(self.miss(method));
        }
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(LEGACY_CHUNK) {
            let bytes = self
                .lookup(&Self::key(method, &request_of(chunk)))?
                .ok_or_else(|| self.miss(method))?;
            out.extend(legacy(self, &bytes)?);
        }
        Ok(out)
    }
}

impl CachedSource<'_> {
    /// Stores each part of a bundle's answer under the key its own call uses (`raw_transactions`,
    /// `merkle_proofs`, `unspents`, and `headers` per batch of [`HEADER_BATCH`]), so an offline
    /// replay answers the bundle part by part. A part that cannot be stored becomes an error.
    fn record_bundle(&self, b: &Bundle, a: &mut BundleAnswer) {
        fn put<T>(
            c: &CachedSource<'_>,
            part: &mut Result<T, SourceError>,
            entries: impl FnOnce(&T) -> Result<Vec<(String, Vec<u8>)>, String>,
        ) {
            let stored = match part {
                Ok(v) => entries(v).and_then(|es| {
                    es.iter()
                        .try_for_each(|(k, bytes)| c.case.cache_put(NS, k, bytes))
                        .map_err(|e| e.to_string())
                }),
                Err(_) => Ok(()),
            };
            if let Err(e) = stored {
                *part = Err(c.cache_err(e));
            }
        }
        let key = |m: &str, req: &[u8]| Self::key(&format!("{m}/{BINARY}"), req);
        if !b.txids.is_empty() {
            put(self, &mut a.raw_transactions, |v| {
                Ok(vec![(
                    key("raw_transactions", &txids_key(&b.txids)),
                    codec::put_raw(v),
                )])
            });
        }
        if !b.proofs.is_empty() {
            put(self, &mut a.merkle_proofs, |v| {
                Ok(vec![(
                    key("merkle_proofs", &proofs_key(&b.proofs)),
                    codec::put_proofs(v),
                )])
            });
        }
        if !b.unspents.is_empty() {
            put(self, &mut a.unspents, |v| {
                let json = serde_json::to_vec(v).map_err(|e| e.to_string())?;
                Ok(vec![(
                    Self::key("unspents", &scripts_key(&b.unspents)),
                    json,
                )])
            });
        }
        if let Some((start, count)) = b.headers {
            put(self, &mut a.headers, |v| {
                Ok(header_batches(start, count, v.len())
                    .into_iter()
                    .map(|(at, n, range)| {
                        let mut req = at.to_le_bytes().to_vec();
                        req.extend_from_slice(&n.to_le_bytes());
                        (key("headers", &req), codec::put_headers(&v[range]))
                    })
                    .collect())
            });
        }
    }
}

/// The `(start, count)` calls a per-part replay makes for `count` headers from `start` (batches
/// of [`HEADER_BATCH`], stopping after a short one), each with the range of the `got` headers
/// it answers.
fn header_batches(start: u32, count: u32, got: usize) -> Vec<(u32, u32, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let end = start.saturating_add(count);
    let mut at = start;
    while at < end {
        let n = (end - at).min(HEADER_BATCH);
        let from = ((at - start) as usize).min(got);
        let to = (from + n as usize).min(got);
        out.push((at, n, from..to));
        if to - from < n as usize {
            break;
        }
        at = at.saturating_add(n);
    }
    out
}

/// Name of the binary cache form (docs/formats.md): answers are stored under
/// `<method>/bin1:<sha256>` keys; the JSON form (`<method>:<sha256>`) of older caches is still
/// read.
const BINARY: &str = "bin1";

/// Items per request the trace walker sent before it handed whole frontiers to the source: an
/// older cache holds wide requests in chunks of this size.
const LEGACY_CHUNK: usize = 1000;

fn txids_key(txids: &[Txid]) -> Vec<u8> {
    txids.iter().flat_map(|t| t.to_byte_array()).collect()
}

fn proofs_key(requests: &[(Txid, u32)]) -> Vec<u8> {
    requests
        .iter()
        .flat_map(|(t, h)| {
            let mut v = t.to_byte_array().to_vec();
            v.extend_from_slice(&h.to_le_bytes());
            v
        })
        .collect()
}

fn scripts_key(scripts: &[ScriptBuf]) -> Vec<u8> {
    let mut v = Vec::new();
    for s in scripts {
        let len = u32::try_from(s.len()).expect("an output script in memory is far below 4 GiB");
        v.extend_from_slice(&len.to_le_bytes());
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
        let key = Self::key(&format!("headers/{BINARY}"), &req);
        if let Some(inner) = self.inner {
            let v = inner.headers(start, count)?;
            self.case
                .cache_put(NS, &key, &codec::put_headers(&v))
                .map_err(|e| self.cache_err(e))?;
            return Ok(v);
        }
        if let Some(bytes) = self.lookup(&key)? {
            return codec::get_headers(&bytes).map_err(|e| self.malformed("headers", e));
        }
        let bytes = self
            .lookup(&Self::key("headers", &req))?
            .ok_or_else(|| self.miss("headers"))?;
        let hex: Vec<String> = self.decode_json("headers", &bytes)?;
        codec::unhex(&hex)
            .and_then(|raw| {
                raw.iter()
                    .map(|b| deserialize(b).map_err(|e| format!("header does not decode: {e}")))
                    .collect()
            })
            .map_err(|e| self.malformed("headers", e))
    }

    fn histories(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<HistoryItem>>, SourceError> {
        self.itemized(
            "histories",
            scripts,
            scripts_key,
            (codec::put_histories, codec::get_histories),
            |c, b| c.decode_json("histories", b),
            |s| s.histories(scripts),
        )
    }

    fn unspents(&self, scripts: &[ScriptBuf]) -> Result<Vec<Vec<Unspent>>, SourceError> {
        self.through("unspents", &scripts_key(scripts), |s| s.unspents(scripts))
    }

    fn raw_transactions(&self, txids: &[Txid]) -> Result<Vec<Vec<u8>>, SourceError> {
        self.itemized(
            "raw_transactions",
            txids,
            txids_key,
            (codec::put_raw, codec::get_raw),
            |c, b| {
                let hex: Vec<String> = c.decode_json("raw_transactions", b)?;
                codec::unhex(&hex).map_err(|e| c.malformed("raw_transactions", e))
            },
            |s| s.raw_transactions(txids),
        )
    }

    fn merkle_proofs(&self, requests: &[(Txid, u32)]) -> Result<Vec<MerkleProof>, SourceError> {
        self.itemized(
            "merkle_proofs",
            requests,
            proofs_key,
            (codec::put_proofs, codec::get_proofs),
            |c, b| c.decode_json("merkle_proofs", b),
            |s| s.merkle_proofs(requests),
        )
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

    fn pipelines_bundles(&self) -> bool {
        self.inner.is_some_and(|i| i.pipelines_bundles())
    }

    /// Online: the inner source's bundle (one round trip on an Electrum server), each part
    /// recorded as its own call would be. Offline: replayed part by part.
    fn bundle(&self, b: &Bundle) -> BundleAnswer {
        match self.inner {
            Some(inner) => {
                let mut a = inner.bundle(b);
                self.record_bundle(b, &mut a);
                a
            }
            None => bundle_per_part(self, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use bitcoin::consensus::serialize;
    use custos_core::ids::{CaseId, ExaminerId};

    use super::*;
    use crate::MemoryChain;

    fn case(dir: &std::path::Path) -> Case {
        Case::create(
            &dir.join("case"),
            &CaseId::new("C-1").unwrap(),
            &ExaminerId::new("tester").unwrap(),
            custos_core::Network::Regtest,
            "cache test",
        )
        .unwrap()
    }

    /// A chain with `n` funding transactions paying script `s`, mined.
    fn chain(n: usize) -> (MemoryChain, Vec<Txid>, ScriptBuf) {
        let mut c = MemoryChain::regtest();
        c.mine();
        let s = ScriptBuf::new_op_return([7u8; 4]);
        let ids = (0..n)
            .map(|i| c.fund(&[(s.clone(), 1000 + i as u64)]).compute_txid())
            .collect();
        c.mine();
        (c, ids, s)
    }

    #[test]
    fn answers_recorded_online_replay_offline_from_the_binary_form() {
        let dir = tempfile::tempdir().unwrap();
        let case = case(dir.path());
        let (c, ids, s) = chain(3);
        let online = CachedSource::online(&c, &case);
        let tip = online.tip().unwrap();
        let headers = online.headers(0, tip.height + 1).unwrap();
        let raw = online.raw_transactions(&ids).unwrap();
        let hist = online.histories(std::slice::from_ref(&s)).unwrap();
        let proofs = online.merkle_proofs(&[(ids[1], 2)]).unwrap();

        let offline = CachedSource::offline(&case);
        assert_eq!(offline.tip().unwrap(), tip);
        assert_eq!(offline.headers(0, tip.height + 1).unwrap(), headers);
        assert_eq!(offline.raw_transactions(&ids).unwrap(), raw);
        assert_eq!(offline.histories(std::slice::from_ref(&s)).unwrap(), hist);
        assert_eq!(offline.merkle_proofs(&[(ids[1], 2)]).unwrap(), proofs);
        // The entries are the binary form, not JSON.
        let key = CachedSource::key("raw_transactions/bin1", &txids_key(&ids));
        assert_eq!(
            case.cache_get(NS, &key).unwrap().unwrap(),
            codec::put_raw(&raw)
        );
        // A request never recorded is a miss that says how to record it.
        let err = offline.raw_transactions(&ids[..1]).unwrap_err();
        assert!(err.to_string().contains("run once online"), "{err}");
    }

    #[test]
    fn a_cache_in_the_older_json_form_still_replays_also_from_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let case = case(dir.path());
        let (c, ids, _) = chain(3);
        let raw = c.raw_transactions(&ids).unwrap();
        let hex: Vec<String> = raw.iter().map(hex::encode).collect();
        // The whole request in the JSON form.
        let key = CachedSource::key("raw_transactions", &txids_key(&ids));
        case.cache_put(NS, &key, &serde_json::to_vec(&hex).unwrap())
            .unwrap();
        let headers = c.headers(0, 2).unwrap();
        let hhex: Vec<String> = headers.iter().map(|h| hex::encode(serialize(h))).collect();
        let mut req = 0u32.to_le_bytes().to_vec();
        req.extend_from_slice(&2u32.to_le_bytes());
        case.cache_put(
            NS,
            &CachedSource::key("headers", &req),
            &serde_json::to_vec(&hhex).unwrap(),
        )
        .unwrap();
        let offline = CachedSource::offline(&case);
        assert_eq!(offline.raw_transactions(&ids).unwrap(), raw);
        assert_eq!(offline.headers(0, 2).unwrap(), headers);

        // A request wider than 1,000 items that an older walker recorded in chunks of 1,000.
        let many: Vec<Txid> = (0..2500u32)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..4].copy_from_slice(&i.to_le_bytes());
                Txid::from_byte_array(b)
            })
            .collect();
        for chunk in many.chunks(LEGACY_CHUNK) {
            let hex: Vec<String> = chunk.iter().map(|t| hex::encode(&t[..4])).collect();
            let key = CachedSource::key("raw_transactions", &txids_key(chunk));
            case.cache_put(NS, &key, &serde_json::to_vec(&hex).unwrap())
                .unwrap();
        }
        let got = offline.raw_transactions(&many).unwrap();
        assert_eq!(got.len(), 2500);
        assert_eq!(got[2499], 2499u32.to_le_bytes().to_vec());
        // One chunk missing: a miss, never a short answer.
        assert!(offline.raw_transactions(&many[..2001]).is_err());
    }

    #[test]
    fn a_bundle_recorded_online_replays_offline_part_by_part() {
        let dir = tempfile::tempdir().unwrap();
        let case = case(dir.path());
        let (c, ids, s) = chain(3);
        // More headers than one batch asks, so the replay's second call is a short one.
        let b = Bundle {
            txids: ids.clone(),
            proofs: vec![(ids[0], 2), (ids[2], 2)],
            unspents: vec![s.clone()],
            headers: Some((1, HEADER_BATCH + 5)),
        };
        let online = CachedSource::online(&c, &case);
        assert!(
            !online.pipelines_bundles(),
            "the memory chain does not pipeline"
        );
        let a = online.bundle(&b);
        let off = CachedSource::offline(&case);
        assert!(!off.pipelines_bundles());
        let r = off.bundle(&b);
        assert_eq!(r.raw_transactions.unwrap(), a.raw_transactions.unwrap());
        assert_eq!(r.merkle_proofs.unwrap(), a.merkle_proofs.unwrap());
        assert_eq!(r.unspents.unwrap(), a.unspents.unwrap());
        let headers = a.headers.unwrap();
        assert_eq!(headers.len(), 2, "headers 1 and 2 of a 3-block chain");
        assert_eq!(r.headers.unwrap(), headers);
        // Each part is also an ordinary per-call entry.
        assert_eq!(off.unspents(std::slice::from_ref(&s)).unwrap().len(), 1);
        assert_eq!(off.raw_transactions(&ids).unwrap().len(), 3);
    }

    #[test]
    fn header_batches_follow_the_per_part_calls() {
        let n = HEADER_BATCH;
        assert_eq!(header_batches(0, 10, 10), vec![(0, 10, 0..10)]);
        assert_eq!(
            header_batches(5, n + 3, n as usize + 3),
            vec![
                (5, n, 0..n as usize),
                (5 + n, 3, n as usize..n as usize + 3)
            ]
        );
        // A short first batch ends the calls, as the replay stops at a short answer.
        assert_eq!(header_batches(0, n + 3, 7), vec![(0, n, 0..7)]);
        assert_eq!(header_batches(0, 5, 0), vec![(0, 5, 0..0)]);
    }

    #[test]
    fn an_edited_binary_entry_is_malformed_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let case = case(dir.path());
        let (c, ids, _) = chain(2);
        CachedSource::online(&c, &case)
            .raw_transactions(&ids)
            .unwrap();
        let key = CachedSource::key("raw_transactions/bin1", &txids_key(&ids));
        let mut bytes = case.cache_get(NS, &key).unwrap().unwrap();
        bytes.truncate(bytes.len() - 1);
        case.cache_put(NS, &key, &bytes).unwrap();
        let err = CachedSource::offline(&case)
            .raw_transactions(&ids)
            .unwrap_err();
        assert!(matches!(err, SourceError::Malformed { .. }), "{err}");
    }
}
