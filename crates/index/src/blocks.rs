//! Bitcoin Core's block files: `blocks/blk*.dat`, each a sequence of records `magic (4) ‖
//! length (4, little-endian) ‖ block`, written in arrival order (not height order, stale blocks
//! included), XOR-obfuscated with the 8-byte key in `blocks/xor.dat` (Core 28+; absent or zero
//! means no obfuscation) at the byte's absolute file offset. Core pre-allocates the files with
//! raw zero bytes, so eight zero bytes (on disk or after de-obfuscation) end a file's data.
//!
//! [`BlockFiles::scan`] reads only the 80-byte headers (seeking over the bodies) and orders the
//! chain by following previous-block links down from the best tip — the highest block whose
//! ancestry reaches the network's genesis block — so no LevelDB block index is needed.
//! [`BlockFiles::read`] then fetches one block by its location.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bitcoin::block::Header;
use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash};
use custos_core::Network;

use crate::Error;

/// The largest block record accepted (the consensus limit of 4,000,000 weight units bounds a
/// serialised block to 4,000,000 bytes).
pub const MAX_BLOCK_BYTES: u64 = 4_000_000;

/// Where a block's record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLoc {
    /// Index into [`BlockFiles::files`].
    pub file: usize,
    /// Offset of the block's first byte (after magic and length).
    pub offset: u64,
    /// The block's length in bytes.
    pub len: u32,
}

/// A partial record at the end of a blk file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The file.
    pub file: PathBuf,
    /// Where the partial record starts (its magic).
    pub offset: u64,
    /// The length it declares.
    pub declared: u64,
    /// What the file holds after the 8-byte record header.
    pub available: u64,
}

/// The block files of a blocks directory, scanned and ordered.
#[derive(Debug)]
pub struct BlockFiles {
    /// The blk files, in name order.
    pub files: Vec<PathBuf>,
    key: [u8; 8],
    network: Network,
    /// The best chain, index = height.
    pub chain: Vec<(BlockHash, BlockLoc)>,
    /// Blocks in the files that are not on the best chain (stale or orphaned).
    pub stale: usize,
    /// The first partial record found, if any.
    pub truncation: Option<Truncation>,
}

/// One header seen while scanning.
struct Seen {
    prev: BlockHash,
    loc: BlockLoc,
}

impl BlockFiles {
    /// Scans `dir` for `blk*.dat` files of `network` and orders its best chain.
    pub fn scan(dir: &Path, network: Network) -> Result<BlockFiles, Error> {
        let files = blk_files(dir)?;
        let key = xor_key(dir)?;
        let magic = network.to_bitcoin().magic().to_bytes();
        let mut seen: HashMap<BlockHash, Seen> = HashMap::new();
        let mut truncation = None;
        for (n, path) in files.iter().enumerate() {
            let t = scan_file(path, n, key, magic, network, &mut seen)?;
            if truncation.is_none() {
                truncation = t;
            }
        }
        let genesis = bitcoin::constants::genesis_block(network.to_bitcoin()).block_hash();
        let chain = best_chain(&seen, genesis).ok_or_else(|| Error::NoGenesis {
            dir: dir.to_path_buf(),
            network: network.to_string(),
            genesis: genesis.to_string(),
        })?;
        let stale = seen.len() - chain.len();
        Ok(BlockFiles {
            files,
            key,
            network,
            chain,
            stale,
            truncation,
        })
    }

    /// The network the files belong to.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The tip height.
    pub fn tip_height(&self) -> u32 {
        u32::try_from(self.chain.len().saturating_sub(1)).expect("fewer than 2^32 blocks")
    }

    /// Reads and decodes the block at `loc`.
    pub fn read(&self, loc: BlockLoc) -> Result<Block, Error> {
        let path = &self.files[loc.file];
        let mut f = File::open(path).map_err(|e| Error::io(path, "cannot open blk file", e))?;
        f.seek(SeekFrom::Start(loc.offset))
            .map_err(|e| Error::io(path, "cannot seek in blk file", e))?;
        let mut buf = vec![0u8; loc.len as usize];
        f.read_exact(&mut buf)
            .map_err(|e| Error::io(path, "cannot read block", e))?;
        unxor(&mut buf, loc.offset, self.key);
        deserialize(&buf).map_err(|e| Error::BadBlock {
            file: path.clone(),
            offset: loc.offset,
            reason: e.to_string(),
        })
    }
}

/// `blk*.dat` in name order (`blk00000.dat`, `blk00001.dat`, …).
fn blk_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|_| Error::NoBlockFiles {
        dir: dir.to_path_buf(),
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("blk") && n.ends_with(".dat"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::NoBlockFiles {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// The obfuscation key from `xor.dat` (all zero when the file is absent).
fn xor_key(dir: &Path) -> Result<[u8; 8], Error> {
    let path = dir.join("xor.dat");
    let Ok(meta) = std::fs::metadata(&path) else {
        return Ok([0; 8]);
    };
    if meta.len() != 8 {
        return Err(Error::BadXorKey {
            path,
            len: meta.len(),
        });
    }
    let limit = custos_core::file::Limit {
        kind: "obfuscation key",
        bytes: 8,
    };
    let bytes = custos_core::file::read_bytes(&path, limit)?;
    let mut key = [0u8; 8];
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// XORs `buf`, which starts at file offset `offset`, with the key.
fn unxor(buf: &mut [u8], offset: u64, key: [u8; 8]) {
    if key == [0; 8] {
        return;
    }
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[((offset + i as u64) % 8) as usize];
    }
}

/// Reads exactly `buf.len()` bytes, or fewer at the end of the file; returns how many.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Reads one file's record headers into `seen`; returns a partial record at its end, if any.
fn scan_file(
    path: &Path,
    n: usize,
    key: [u8; 8],
    magic: [u8; 4],
    network: Network,
    seen: &mut HashMap<BlockHash, Seen>,
) -> Result<Option<Truncation>, Error> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "cannot open blk file", e))?;
    let size = f
        .metadata()
        .map_err(|e| Error::io(path, "cannot stat blk file", e))?
        .len();
    let mut offset = 0u64;
    let mut head = [0u8; 88];
    loop {
        let got = read_up_to(&mut f, &mut head).map_err(|e| Error::io(path, "cannot read", e))?;
        let mut h = head;
        unxor(&mut h[..got], offset, key);
        // Core pre-allocates blk files with zero bytes written raw (not obfuscated): zeros on
        // disk, or zeros after de-obfuscation, end the file's data.
        let zero = |b: &[u8]| b.iter().all(|x| *x == 0);
        if got < 8 || zero(&head[..8]) || zero(&h[..8]) {
            // 1..7 stray bytes are a partial header.
            if got > 0 && !zero(&head[..got]) && !zero(&h[..got]) {
                return Ok(Some(Truncation {
                    file: path.to_path_buf(),
                    offset,
                    declared: 0,
                    available: got as u64,
                }));
            }
            return Ok(None);
        }
        check_magic(path, offset, &h[..4], magic, network)?;
        let len = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        let available = size.saturating_sub(offset + 8);
        if len > available || len < 80 || got < 88 {
            if !(80..=MAX_BLOCK_BYTES).contains(&len) {
                return Err(Error::BadBlock {
                    file: path.to_path_buf(),
                    offset,
                    reason: format!("record length {len} outside 80..={MAX_BLOCK_BYTES}"),
                });
            }
            return Ok(Some(Truncation {
                file: path.to_path_buf(),
                offset,
                declared: len,
                available,
            }));
        }
        if len > MAX_BLOCK_BYTES {
            return Err(Error::BadBlock {
                file: path.to_path_buf(),
                offset,
                reason: format!("record length {len} over the {MAX_BLOCK_BYTES}-byte limit"),
            });
        }
        let header: Header = deserialize(&h[8..88]).map_err(|e| Error::BadBlock {
            file: path.to_path_buf(),
            offset,
            reason: e.to_string(),
        })?;
        let loc = BlockLoc {
            file: n,
            offset: offset + 8,
            len: u32::try_from(len).expect("bounded by MAX_BLOCK_BYTES"),
        };
        seen.entry(header.block_hash()).or_insert(Seen {
            prev: header.prev_blockhash,
            loc,
        });
        offset += 8 + len;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io(path, "cannot seek in blk file", e))?;
    }
}

/// Refuses a record whose magic is not `magic`, naming the network it belongs to if known.
fn check_magic(
    path: &Path,
    offset: u64,
    found: &[u8],
    magic: [u8; 4],
    network: Network,
) -> Result<(), Error> {
    if found == magic {
        return Ok(());
    }
    let other = [
        bitcoin::Network::Bitcoin,
        bitcoin::Network::Testnet,
        bitcoin::Network::Testnet4,
        bitcoin::Network::Signet,
        bitcoin::Network::Regtest,
    ]
    .into_iter()
    .find(|n| n.magic().to_bytes() == found);
    match other {
        Some(n) => Err(Error::WrongNetwork {
            file: path.to_path_buf(),
            offset,
            found: n.to_string(),
            expected: network.to_string(),
        }),
        None => Err(Error::BadMagic {
            file: path.to_path_buf(),
            offset,
            found: hex::encode(found),
        }),
    }
}

/// The longest chain from `genesis`: heights by walking previous-block links, the highest
/// block wins (on a tie, the one stored first in the files), then the chain from it down to genesis.
fn best_chain(
    seen: &HashMap<BlockHash, Seen>,
    genesis: BlockHash,
) -> Option<Vec<(BlockHash, BlockLoc)>> {
    if !seen.contains_key(&genesis) {
        return None;
    }
    let mut height: HashMap<BlockHash, u32> = HashMap::with_capacity(seen.len());
    height.insert(genesis, 0);
    let mut best = (0u32, genesis, (0usize, 0u64));
    for start in seen.keys() {
        // Walk down until a block of known height (or a missing parent), then number back up.
        let mut path = Vec::new();
        let mut cur = *start;
        let base = loop {
            if let Some(h) = height.get(&cur) {
                break Some(*h);
            }
            path.push(cur);
            match seen.get(&cur) {
                Some(s) if s.prev != BlockHash::all_zeros() => cur = s.prev,
                _ => break None,
            }
        };
        let Some(mut h) = base else { continue };
        for b in path.into_iter().rev() {
            h += 1;
            height.insert(b, h);
            let loc = seen.get(&b).map(|s| (s.loc.file, s.loc.offset))?;
            if h > best.0 || (h == best.0 && loc < best.2) {
                best = (h, b, loc);
            }
        }
    }
    let mut chain = Vec::with_capacity(best.0 as usize + 1);
    let mut cur = best.1;
    loop {
        let s = seen.get(&cur)?;
        chain.push((cur, s.loc));
        if cur == genesis {
            break;
        }
        cur = s.prev;
    }
    chain.reverse();
    Some(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unxor_uses_the_absolute_file_offset() {
        let key = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut buf = [0u8; 4];
        unxor(&mut buf, 6, key);
        assert_eq!(buf, [7, 8, 1, 2]);
    }
}
