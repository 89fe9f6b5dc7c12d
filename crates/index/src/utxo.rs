//! The unspent-output map the export resolves inputs with, in bounded memory.
//!
//! Coins live in a hash map until its estimated size passes the cap; then the whole map is
//! written to disk as a *sorted run* (fixed 57-byte records sorted by outpoint, addresses in a
//! side heap file) and emptied. A run keeps in memory only a sparse index (every 256th key, 36
//! bytes per 256 coins) and a spent bitmap (1 bit per coin). A lookup tries the map, then each
//! run newest first: one binary search over the sparse index and one read of at most 256
//! records. Memory is therefore bounded by the cap plus ~1.2 bits per spilled coin
//! (mainnet's ~180 M coins spilled over the life of an export: ~30 MB), and each run costs one
//! open file. Runs are never merged: an export of the whole chain with a small cap makes many
//! runs and lookups slow down with their number (a merge of runs is future work, see
//! docs/scale-out.md).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bitcoin::hashes::Hash;
use bitcoin::OutPoint;

use crate::Error;

/// A spendable output as the inputs table needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    /// Value in sat.
    pub value: u64,
    /// Script type code (see [`crate::tables::script_type_name`]).
    pub kind: u8,
    /// Address, or `script:<hex>`.
    pub address: String,
}

const KEY: usize = 36;
const REC: usize = KEY + 8 + 1 + 8 + 4;
const SPARSE: usize = 256;
/// Estimated bytes per in-memory entry besides the address text (key, value, hash map slot,
/// string header).
const ENTRY_OVERHEAD: usize = 96;

fn key_of(op: &OutPoint) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k[..32].copy_from_slice(op.txid.as_byte_array());
    k[32..].copy_from_slice(&op.vout.to_be_bytes());
    k
}

/// One spilled run.
struct Run {
    path: PathBuf,
    file: File,
    heap: File,
    count: usize,
    sparse: Vec<[u8; KEY]>,
    spent: Vec<u64>,
}

/// The unspent-output map.
pub struct UtxoMap {
    mem: HashMap<[u8; KEY], Coin>,
    mem_bytes: usize,
    cap_bytes: usize,
    dir: PathBuf,
    runs: Vec<Run>,
}

impl std::fmt::Debug for UtxoMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtxoMap")
            .field("in_memory", &self.mem.len())
            .field("runs", &self.runs.len())
            .field("cap_bytes", &self.cap_bytes)
            .finish()
    }
}

/// Counts of the map at some moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UtxoStats {
    /// Unspent coins.
    pub count: u64,
    /// Their value in sat.
    pub value: u64,
    /// Runs written to disk so far.
    pub runs: usize,
}

impl UtxoMap {
    /// An empty map keeping about `cap_bytes` in memory and spilling runs into `dir`
    /// (created when the first run is written).
    pub fn new(cap_bytes: usize, dir: PathBuf) -> UtxoMap {
        UtxoMap {
            mem: HashMap::new(),
            mem_bytes: 0,
            cap_bytes,
            dir,
            runs: Vec::new(),
        }
    }

    /// Adds a coin; spills when the map passes its cap.
    pub fn insert(&mut self, op: &OutPoint, coin: Coin) -> Result<(), Error> {
        self.mem_bytes += ENTRY_OVERHEAD + coin.address.len();
        self.mem.insert(key_of(op), coin);
        if self.mem_bytes > self.cap_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Removes and returns the coin `op`, if it is unspent.
    pub fn spend(&mut self, op: &OutPoint) -> Result<Option<Coin>, Error> {
        let key = key_of(op);
        if let Some(c) = self.mem.remove(&key) {
            self.mem_bytes = self
                .mem_bytes
                .saturating_sub(ENTRY_OVERHEAD + c.address.len());
            return Ok(Some(c));
        }
        for run in self.runs.iter_mut().rev() {
            if let Some(c) = run.take(&key)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Unspent count and value (reads every run once).
    pub fn stats(&self) -> Result<UtxoStats, Error> {
        let mut s = UtxoStats {
            runs: self.runs.len(),
            ..UtxoStats::default()
        };
        for c in self.mem.values() {
            s.count += 1;
            s.value += c.value;
        }
        for run in &self.runs {
            run.for_each_unspent(|value| {
                s.count += 1;
                s.value += value;
            })?;
        }
        Ok(s)
    }

    /// Writes the in-memory coins as a sorted run and empties the map.
    fn spill(&mut self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(&self.dir, "cannot create the spill directory", e))?;
        let n = self.runs.len();
        let path = self.dir.join(format!("run-{n:05}.rec"));
        let heap_path = self.dir.join(format!("run-{n:05}.heap"));
        let mut entries: Vec<([u8; KEY], Coin)> = self.mem.drain().collect();
        self.mem_bytes = 0;
        entries.sort_unstable_by_key(|a| a.0);
        let mut w = BufWriter::new(create(&path)?);
        let mut hw = BufWriter::new(create(&heap_path)?);
        let mut sparse = Vec::with_capacity(entries.len() / SPARSE + 1);
        let mut heap_off = 0u64;
        for (i, (k, c)) in entries.iter().enumerate() {
            if i % SPARSE == 0 {
                sparse.push(*k);
            }
            let len = u32::try_from(c.address.len()).expect("an address label is far below 4 GiB");
            let mut rec = [0u8; REC];
            rec[..KEY].copy_from_slice(k);
            rec[KEY..KEY + 8].copy_from_slice(&c.value.to_le_bytes());
            rec[KEY + 8] = c.kind;
            rec[KEY + 9..KEY + 17].copy_from_slice(&heap_off.to_le_bytes());
            rec[KEY + 17..].copy_from_slice(&len.to_le_bytes());
            w.write_all(&rec)
                .and_then(|_| hw.write_all(c.address.as_bytes()))
                .map_err(|e| Error::io(&path, "cannot write a spill run", e))?;
            heap_off += u64::from(len);
        }
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&path, "cannot write a spill run", e.into_error()))?;
        let heap = hw
            .into_inner()
            .map_err(|e| Error::io(&heap_path, "cannot write a spill run", e.into_error()))?;
        tracing::debug!(target: "custos::index::utxo", run = n, coins = entries.len(), "spilled");
        self.runs.push(Run {
            path,
            file,
            heap,
            count: entries.len(),
            sparse,
            spent: vec![0u64; entries.len().div_ceil(64)],
        });
        Ok(())
    }
}

fn create(path: &Path) -> Result<File, Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, "cannot create a spill run", e))
}

impl Run {
    /// Finds `key`, marks it spent and returns it.
    fn take(&mut self, key: &[u8; KEY]) -> Result<Option<Coin>, Error> {
        let block = match self.sparse.binary_search(key) {
            Ok(b) => b,
            Err(0) => return Ok(None),
            Err(b) => b - 1,
        };
        let first = block * SPARSE;
        let n = SPARSE.min(self.count - first);
        let mut buf = vec![0u8; n * REC];
        self.file
            .read_exact_at(&mut buf, (first * REC) as u64)
            .map_err(|e| Error::io(&self.path, "cannot read a spill run", e))?;
        let at = |i: usize| &buf[i * REC..i * REC + KEY];
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if at(mid) < &key[..] {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo;
        if i == n || at(i) != &key[..] {
            return Ok(None);
        }
        let idx = first + i;
        if self.spent[idx / 64] & (1 << (idx % 64)) != 0 {
            return Ok(None);
        }
        self.spent[idx / 64] |= 1 << (idx % 64);
        let rec = &buf[i * REC..(i + 1) * REC];
        let (value, kind, off, len) = decode(rec);
        let mut addr = vec![0u8; len];
        self.heap
            .read_exact_at(&mut addr, off)
            .map_err(|e| Error::io(&self.path, "cannot read a spill run", e))?;
        let address = String::from_utf8(addr).map_err(|_| Error::BadManifest {
            path: self.path.clone(),
            reason: "spill run holds a non-utf-8 address".to_string(),
        })?;
        Ok(Some(Coin {
            value,
            kind,
            address,
        }))
    }

    /// Calls `f` with the value of every unspent record.
    fn for_each_unspent(&self, mut f: impl FnMut(u64)) -> Result<(), Error> {
        let mut buf = vec![0u8; SPARSE * REC];
        for block in 0..self.sparse.len() {
            let first = block * SPARSE;
            let n = SPARSE.min(self.count - first);
            self.file
                .read_exact_at(&mut buf[..n * REC], (first * REC) as u64)
                .map_err(|e| Error::io(&self.path, "cannot read a spill run", e))?;
            for i in 0..n {
                let idx = first + i;
                if self.spent[idx / 64] & (1 << (idx % 64)) == 0 {
                    f(decode(&buf[i * REC..(i + 1) * REC]).0);
                }
            }
        }
        Ok(())
    }
}

fn decode(rec: &[u8]) -> (u64, u8, u64, usize) {
    let mut v = [0u8; 8];
    v.copy_from_slice(&rec[KEY..KEY + 8]);
    let mut o = [0u8; 8];
    o.copy_from_slice(&rec[KEY + 9..KEY + 17]);
    let mut l = [0u8; 4];
    l.copy_from_slice(&rec[KEY + 17..]);
    (
        u64::from_le_bytes(v),
        rec[KEY + 8],
        u64::from_le_bytes(o),
        u32::from_le_bytes(l) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Txid;

    fn op(i: u32) -> OutPoint {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_le_bytes());
        OutPoint::new(Txid::from_byte_array(b), i % 3)
    }

    #[test]
    fn spilled_runs_answer_like_the_in_memory_map() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut small = UtxoMap::new(2_000, dir.path().join("spill"));
        let mut big = UtxoMap::new(usize::MAX, dir.path().join("none"));
        for i in 0..3_000u32 {
            let c = Coin {
                value: u64::from(i) * 7,
                kind: (i % 5) as u8,
                address: format!("addr{i}"),
            };
            small.insert(&op(i), c.clone()).expect("insert");
            big.insert(&op(i), c).expect("insert");
        }
        assert!(small.stats().expect("stats").runs > 10);
        for i in (0..3_000u32).step_by(3) {
            let a = small.spend(&op(i)).expect("spend");
            assert_eq!(a, big.spend(&op(i)).expect("spend"));
            assert!(a.is_some());
            assert_eq!(small.spend(&op(i)).expect("spend again"), None);
        }
        assert_eq!(small.spend(&op(99_999)).expect("missing"), None);
        let (s, b) = (small.stats().expect("s"), big.stats().expect("b"));
        assert_eq!((s.count, s.value), (b.count, b.value));
        assert_eq!(s.count, 2_000);
    }
}
