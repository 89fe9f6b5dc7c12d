//! The compact binary form of cached answers (cache format `bin1`, docs/formats.md), and the
//! JSON form written before it (still read). Every length is checked against what is left, so a
//! truncated or edited entry is an error, never a panic or a short answer.
//!
//! `bin1`, all integers little-endian, one record per item of the request, in order:
//! - raw transactions: `u32` length, then the consensus bytes;
//! - histories: `u32` entry count, then per entry the txid (32 bytes, internal order), the
//!   height (`i64`), a fee flag (`u8` 0/1) and, when 1, the fee (`u64`);
//! - merkle proofs: txid (32), block height (`u32`), position (`u32`), branch length (`u32`),
//!   then the branch hashes (32 bytes each);
//! - headers: 80 bytes each (consensus encoding).

use bitcoin::{
    block::Header,
    consensus::{deserialize, serialize},
    hashes::Hash,
    TxMerkleNode, Txid,
};
use custos_core::source::{HistoryItem, MerkleProof};

/// Reads `bin1` records, each length checked.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "entry ends early: {n} bytes wanted, {} left",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    /// A count or length, no larger than the bytes left could hold at `min` bytes each.
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = usize::try_from(self.u32()?).map_err(|e| e.to_string())?;
        if n.saturating_mul(min) > self.bytes.len() {
            return Err(format!(
                "count {n} exceeds the {} bytes left",
                self.bytes.len()
            ));
        }
        Ok(n)
    }

    fn done(&self, items: usize, wanted: usize) -> Result<(), String> {
        if !self.bytes.is_empty() {
            return Err(format!("{} bytes after the last record", self.bytes.len()));
        }
        if items != wanted {
            return Err(format!("{items} records for {wanted} asked"));
        }
        Ok(())
    }
}

/// A length or count as 4 bytes. Everything encoded here came from one server answer, which
/// the RPC reader bounds to `MAX_LINE` (16 MiB), so it fits; a silent `u32::MAX` would corrupt
/// the record instead.
fn u32_len(n: usize) -> [u8; 4] {
    u32::try_from(n)
        .expect("cached data comes from answers of at most 16 MiB")
        .to_le_bytes()
}

/// Raw transactions, `bin1`.
pub(super) fn put_raw(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(txs.iter().map(|t| t.len() + 4).sum());
    for t in txs {
        out.extend_from_slice(&u32_len(t.len()));
        out.extend_from_slice(t);
    }
    out
}

/// Raw transactions from `bin1`, `wanted` of them.
pub(super) fn get_raw(bytes: &[u8], wanted: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut r = Reader { bytes };
    let mut out = Vec::with_capacity(wanted);
    while !r.bytes.is_empty() && out.len() < wanted {
        let n = r.count(1)?;
        out.push(r.take(n)?.to_vec());
    }
    r.done(out.len(), wanted)?;
    Ok(out)
}

/// Script histories, `bin1`.
pub(super) fn put_histories(histories: &[Vec<HistoryItem>]) -> Vec<u8> {
    let mut out = Vec::new();
    for h in histories {
        out.extend_from_slice(&u32_len(h.len()));
        for item in h {
            out.extend_from_slice(item.txid.as_byte_array());
            out.extend_from_slice(&item.height.to_le_bytes());
            match item.fee {
                Some(fee) => {
                    out.push(1);
                    out.extend_from_slice(&fee.to_le_bytes());
                }
                None => out.push(0),
            }
        }
    }
    out
}

/// Script histories from `bin1`, `wanted` of them.
pub(super) fn get_histories(bytes: &[u8], wanted: usize) -> Result<Vec<Vec<HistoryItem>>, String> {
    let mut r = Reader { bytes };
    let mut out = Vec::with_capacity(wanted);
    while !r.bytes.is_empty() && out.len() < wanted {
        let n = r.count(41)?;
        let mut h = Vec::with_capacity(n);
        for _ in 0..n {
            let txid = Txid::from_byte_array(r.array()?);
            let height = i64::from_le_bytes(r.array()?);
            let fee = match r.array::<1>()? {
                [0] => None,
                [1] => Some(u64::from_le_bytes(r.array()?)),
                [f] => return Err(format!("fee flag {f} is neither 0 nor 1")),
            };
            h.push(HistoryItem { txid, height, fee });
        }
        out.push(h);
    }
    r.done(out.len(), wanted)?;
    Ok(out)
}

/// Merkle proofs, `bin1`.
pub(super) fn put_proofs(proofs: &[MerkleProof]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in proofs {
        out.extend_from_slice(p.txid.as_byte_array());
        out.extend_from_slice(&p.block_height.to_le_bytes());
        out.extend_from_slice(&p.pos.to_le_bytes());
        out.extend_from_slice(&u32_len(p.branch.len()));
        for node in &p.branch {
            out.extend_from_slice(node.as_byte_array());
        }
    }
    out
}

/// Merkle proofs from `bin1`, `wanted` of them.
pub(super) fn get_proofs(bytes: &[u8], wanted: usize) -> Result<Vec<MerkleProof>, String> {
    let mut r = Reader { bytes };
    let mut out = Vec::with_capacity(wanted);
    while !r.bytes.is_empty() && out.len() < wanted {
        let txid = Txid::from_byte_array(r.array()?);
        let block_height = r.u32()?;
        let pos = r.u32()?;
        let n = r.count(32)?;
        let mut branch = Vec::with_capacity(n);
        for _ in 0..n {
            branch.push(TxMerkleNode::from_byte_array(r.array()?));
        }
        out.push(MerkleProof {
            txid,
            block_height,
            pos,
            branch,
        });
    }
    r.done(out.len(), wanted)?;
    Ok(out)
}

/// Headers, `bin1`.
pub(super) fn put_headers(headers: &[Header]) -> Vec<u8> {
    headers.iter().flat_map(serialize).collect()
}

/// Headers from `bin1` (as many as the entry holds: a source may send fewer than asked).
pub(super) fn get_headers(bytes: &[u8]) -> Result<Vec<Header>, String> {
    if !bytes.len().is_multiple_of(80) {
        return Err(format!(
            "{} bytes is not a whole number of headers",
            bytes.len()
        ));
    }
    bytes
        .chunks(80)
        .map(|c| deserialize(c).map_err(|e| format!("header does not decode: {e}")))
        .collect()
}

/// Hex strings (the JSON form's transactions and headers) to bytes.
pub(super) fn unhex(items: &[String]) -> Result<Vec<Vec<u8>>, String> {
    items
        .iter()
        .map(|h| hex::decode(h).map_err(|e| format!("cached entry is not hex: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8, height: i64, fee: Option<u64>) -> HistoryItem {
        HistoryItem {
            txid: Txid::from_byte_array([n; 32]),
            height,
            fee,
        }
    }

    #[test]
    fn every_form_reads_back_what_was_written() {
        let raw = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        assert_eq!(get_raw(&put_raw(&raw), 3).unwrap(), raw);
        let hist = vec![
            vec![
                item(1, 5, None),
                item(2, 0, Some(141)),
                item(3, -1, Some(0)),
            ],
            vec![],
        ];
        assert_eq!(get_histories(&put_histories(&hist), 2).unwrap(), hist);
        let proofs = vec![MerkleProof {
            txid: Txid::from_byte_array([4; 32]),
            block_height: 7,
            pos: 3,
            branch: vec![TxMerkleNode::from_byte_array([5; 32]); 3],
        }];
        assert_eq!(get_proofs(&put_proofs(&proofs), 1).unwrap(), proofs);
        let h = crate::spv::genesis_header(bitcoin::Network::Regtest);
        assert_eq!(get_headers(&put_headers(&[h, h])).unwrap(), vec![h, h]);
    }

    #[test]
    fn truncated_padded_or_miscounted_entries_are_refused() {
        let raw = put_raw(&[vec![1, 2, 3], vec![4]]);
        for cut in 0..raw.len() {
            assert!(get_raw(&raw[..cut], 2).is_err(), "cut at {cut}");
        }
        let mut padded = raw.clone();
        padded.push(0);
        assert!(get_raw(&padded, 2).is_err());
        assert!(get_raw(&raw, 3).is_err());
        assert!(get_raw(&raw, 1).is_err());
        let hist = put_histories(&[vec![item(1, 5, Some(3))]]);
        for cut in 0..hist.len() {
            assert!(get_histories(&hist[..cut], 1).is_err(), "cut at {cut}");
        }
        let mut bad_flag = hist;
        bad_flag[4 + 32 + 8] = 2;
        assert!(get_histories(&bad_flag, 1).is_err());
        // A huge count is refused before anything is allocated for it.
        assert!(get_proofs(
            &[0u8; 40]
                .iter()
                .chain(&[255u8; 4])
                .copied()
                .collect::<Vec<_>>(),
            1
        )
        .is_err());
        assert!(get_headers(&[0u8; 81]).is_err());
    }
}
