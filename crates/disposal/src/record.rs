//! Where a used order is remembered, so that one order pays once.
//!
//! - In the signed PSBT: a global proprietary field (BIP174 `PSBT_GLOBAL_PROPRIETARY`,
//!   identifier `custos`, subtype `0x01`, key data = the order id in UTF-8, value = the 32-byte
//!   txid, internal byte order, of the transaction it was used for). Every keyholder's signer adds
//!   the same field, so combining keeps one. A PSBT that carries an order id recorded for
//!   *another* transaction is refused.
//! - In the signer's state directory: `used-orders.txt`, one line per use, `ORDER_ID TXID`
//!   (hex, as displayed), appended after signing. An order recorded there for another
//!   transaction is refused; signing the same transaction again is allowed.

use std::{
    io::Write,
    path::{Path, PathBuf},
    str::FromStr,
};

use bitcoin::{hashes::Hash, psbt::raw::ProprietaryKey, Psbt, Txid};
use custos_tx::verify::OrderPermit;

use crate::error::{Error, Result};

/// Proprietary identifier of custos fields.
pub const PROPRIETARY_PREFIX: &[u8] = b"custos";
/// Subtype of the "order used for this txid" field.
pub const SUBTYPE_ORDER_USED: u8 = 0x01;
/// File name of the journal in the signer's state directory.
pub const JOURNAL_FILE: &str = "used-orders.txt";

fn key(order_id: &str) -> ProprietaryKey {
    ProprietaryKey {
        prefix: PROPRIETARY_PREFIX.to_vec(),
        subtype: SUBTYPE_ORDER_USED,
        key: order_id.as_bytes().to_vec(),
    }
}

/// The order ids a PSBT records, with the txid each was used for (`None`: a malformed value).
pub fn recorded(psbt: &Psbt) -> Vec<(String, Option<Txid>)> {
    psbt.proprietary
        .iter()
        .filter(|(k, _)| k.prefix == PROPRIETARY_PREFIX && k.subtype == SUBTYPE_ORDER_USED)
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k.key).into_owned(),
                Txid::from_slice(v).ok(),
            )
        })
        .collect()
}

/// Marks every permit the PSBT records as used for another transaction.
pub fn check_psbt(psbt: &Psbt, permits: &mut [OrderPermit]) {
    let txid = psbt.unsigned_tx.compute_txid();
    for (id, used_for) in recorded(psbt) {
        if used_for == Some(txid) {
            continue;
        }
        let what = used_for.map_or_else(|| "a malformed txid".to_string(), |t| t.to_string());
        for p in permits.iter_mut().filter(|p| p.order_id == id) {
            p.problem.get_or_insert(format!(
                "used before: the psbt records it for transaction {what}"
            ));
        }
    }
}

/// Records `order_ids` as used for the PSBT's transaction.
pub fn record_in_psbt(psbt: &mut Psbt, order_ids: &[String]) {
    let txid = psbt.unsigned_tx.compute_txid();
    for id in order_ids {
        psbt.proprietary
            .insert(key(id), txid.to_byte_array().to_vec());
    }
}

/// The signer's used-orders journal.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    entries: Vec<(String, Txid)>,
}

impl Journal {
    /// Opens the journal in `state_dir` (an absent file is an empty journal).
    pub fn open(state_dir: &Path) -> Result<Journal> {
        let path = state_dir.join(JOURNAL_FILE);
        let mut entries = Vec::new();
        if path.exists() {
            let text = custos_core::file::read_text(&path, custos_core::file::JOURNAL)?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let bad = |reason: &str| Error::Journal {
                    path: path.display().to_string(),
                    line: i + 1,
                    reason: reason.into(),
                };
                let (id, txid) = line
                    .split_once(' ')
                    .ok_or_else(|| bad("expected `ORDER_ID TXID`"))?;
                let txid = Txid::from_str(txid.trim()).map_err(|_| bad("not a txid"))?;
                entries.push((id.to_string(), txid));
            }
        }
        Ok(Journal { path, entries })
    }

    /// Marks every permit used here for another transaction than `txid`.
    pub fn check(&self, txid: Txid, permits: &mut [OrderPermit]) {
        for (id, used_for) in &self.entries {
            if *used_for == txid {
                continue;
            }
            for p in permits.iter_mut().filter(|p| &p.order_id == id) {
                p.problem.get_or_insert(format!(
                    "used before: this signer's journal {} records it for transaction {used_for}",
                    self.path.display()
                ));
            }
        }
    }

    /// Appends the uses (and syncs the file).
    pub fn append(&mut self, txid: Txid, order_ids: &[String]) -> Result<()> {
        let new: Vec<&String> = order_ids
            .iter()
            .filter(|id| !self.entries.iter().any(|(e, t)| e == *id && *t == txid))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let io = |source: std::io::Error| {
            Error::File(custos_core::file::FileError::Write {
                path: self.path.clone(),
                source,
            })
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut text = String::new();
        for id in &new {
            text.push_str(&format!("{id} {txid}\n"));
        }
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io)?;
        for id in new {
            self.entries.push((id.clone(), txid));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{absolute::LockTime, transaction::Version, Amount, ScriptBuf, Transaction};

    fn psbt(lock: u32) -> Psbt {
        Psbt::from_unsigned_tx(Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_height(lock).unwrap(),
            input: vec![],
            output: vec![],
        })
        .unwrap()
    }

    fn permit(id: &str) -> OrderPermit {
        OrderPermit {
            order_id: id.into(),
            script_pubkey: ScriptBuf::new(),
            address: String::new(),
            amount: Amount::from_sat(1),
            problem: None,
        }
    }

    #[test]
    fn psbt_record_refuses_the_same_order_for_another_transaction() {
        let mut a = psbt(1);
        record_in_psbt(&mut a, &["ord-1".to_string()]);
        let mut ps = vec![permit("ord-1"), permit("ord-2")];
        check_psbt(&a, &mut ps);
        assert!(ps.iter().all(|p| p.problem.is_none()), "same tx is fine");
        let mut b = psbt(2);
        b.proprietary = a.proprietary.clone();
        check_psbt(&b, &mut ps);
        assert!(ps[0].problem.as_deref().unwrap().contains("used before"));
        assert!(ps[1].problem.is_none());
    }

    #[test]
    fn journal_survives_reopening_and_refuses_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let t1 = psbt(1).unsigned_tx.compute_txid();
        let t2 = psbt(2).unsigned_tx.compute_txid();
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(t1, &["ord-1".to_string()]).unwrap();
        j.append(t1, &["ord-1".to_string()]).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.entries.len(), 1);
        let mut ps = vec![permit("ord-1")];
        j.check(t1, &mut ps);
        assert!(ps[0].problem.is_none());
        j.check(t2, &mut ps);
        assert!(ps[0].problem.as_deref().unwrap().contains("journal"));
        std::fs::write(dir.path().join(JOURNAL_FILE), "garbage\n").unwrap();
        assert!(Journal::open(dir.path()).is_err());
    }
}
