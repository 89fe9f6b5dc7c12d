//! Checking a transaction's bytes against its txid by hashing the received bytes themselves.
//!
//! The same check as [`spv::check_tx_bytes`] (decode, then the txid must be the double SHA-256
//! of the transaction serialized without its witness), with the same errors; but instead of
//! serializing the decoded transaction again into the hash, it hashes the slices of the
//! received bytes that make up that serialization. Decoding accepts only the canonical encoding
//! (minimal compact sizes, every byte consumed), so the transaction serialized again is
//! byte for byte what was received, minus BIP144's marker, flag and witnesses:
//!
//! - bytes as long as the witness-stripped size ([`Transaction::base_size`]) are that
//!   serialization, whole;
//! - bytes in BIP144 form are: version (4 bytes), marker `00` and flag `01`, inputs and outputs
//!   (the base size less 8 bytes), witnesses, lock time (the last 4 bytes).
//!
//! Anything else (not expected after a successful decode) is hashed the general way.
//!
//! [`spv::check_tx_bytes`]: custos_chain::spv::check_tx_bytes

use bitcoin::{
    consensus::deserialize,
    hashes::{sha256d, Hash, HashEngine},
    Transaction, Txid,
};
use custos_chain::SpvError;

/// Decodes `raw` as a transaction and checks that it hashes to `txid`.
pub(super) fn check_tx_bytes(txid: &Txid, raw: &[u8]) -> Result<Transaction, SpvError> {
    let tx: Transaction = deserialize(raw).map_err(|e| SpvError::TxDecode {
        txid: *txid,
        detail: e.to_string(),
    })?;
    let got = txid_of_decoded(raw, &tx);
    if got != *txid {
        return Err(SpvError::TxHashMismatch { txid: *txid, got });
    }
    Ok(tx)
}

/// The txid of `tx`, decoded from exactly `raw`.
fn txid_of_decoded(raw: &[u8], tx: &Transaction) -> Txid {
    let base = tx.base_size();
    if raw.len() == base {
        return Txid::from_raw_hash(sha256d::Hash::hash(raw));
    }
    let segwit_form = raw.len() >= base + 2 && raw.get(4..6) == Some(&[0u8, 1][..]) && base >= 8;
    if !segwit_form {
        return tx.compute_txid();
    }
    let mut engine = sha256d::Hash::engine();
    engine.input(&raw[..4]);
    engine.input(&raw[6..6 + base - 8]);
    engine.input(&raw[raw.len() - 4..]);
    Txid::from_raw_hash(sha256d::Hash::from_engine(engine))
}

#[cfg(test)]
mod tests {
    use bitcoin::{
        absolute::LockTime, consensus::serialize, transaction::Version, Amount, OutPoint,
        ScriptBuf, Sequence, TxIn, TxOut, Witness,
    };
    use custos_chain::spv;

    use super::*;

    fn input(n: u8, witness: &[&[u8]]) -> TxIn {
        TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([n; 32]), u32::from(n)),
            script_sig: if witness.is_empty() {
                ScriptBuf::from_bytes(vec![n; usize::from(n)])
            } else {
                ScriptBuf::new()
            },
            sequence: Sequence(0xffff_fffd),
            witness: Witness::from_slice(witness),
        }
    }

    fn tx(inputs: Vec<TxIn>, outputs: usize) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::from_consensus(101),
            input: inputs,
            output: (0..outputs)
                .map(|i| TxOut {
                    value: Amount::from_sat(1000 + i as u64),
                    script_pubkey: ScriptBuf::from_bytes(vec![0x51; 1 + i * 40]),
                })
                .collect(),
        }
    }

    /// Legacy, segwit, mixed, wide (compact sizes over one byte), and no inputs at all.
    fn cases() -> Vec<Transaction> {
        let sig = [7u8; 72];
        let key = [2u8; 33];
        vec![
            tx(vec![input(1, &[]), input(2, &[])], 2),
            tx(vec![input(3, &[&sig, &key])], 2),
            tx(
                vec![input(4, &[]), input(5, &[&sig, &key]), input(6, &[])],
                3,
            ),
            tx((0..300).map(|i| input((i % 200) as u8, &[])).collect(), 260),
            tx(
                (0..260)
                    .map(|i| input((i % 200) as u8 + 1, &[&sig, &key]))
                    .collect(),
                2,
            ),
            tx(vec![], 1),
        ]
    }

    #[test]
    fn gives_the_same_txid_and_errors_as_the_general_check() {
        for t in cases() {
            let raw = serialize(&t);
            let txid = t.compute_txid();
            assert_eq!(
                check_tx_bytes(&txid, &raw),
                spv::check_tx_bytes(&txid, &raw)
            );
            assert_eq!(check_tx_bytes(&txid, &raw).unwrap(), t);
            // Every single-byte change: the same outcome as the general check (a decode
            // error, a txid mismatch naming the same hash, or — in a witness — the same txid).
            // (About 150 places per transaction, every marker, flag and count byte among them.)
            for at in (0..raw.len()).step_by(raw.len() / 150 + 1).chain(0..8) {
                let mut bad = raw.clone();
                bad[at] ^= 0x40;
                assert_eq!(
                    check_tx_bytes(&txid, &bad),
                    spv::check_tx_bytes(&txid, &bad),
                    "byte {at} of {txid}"
                );
            }
            // Bytes for another transaction, trailing bytes, truncated bytes.
            let other = Txid::from_byte_array([9; 32]);
            assert_eq!(
                check_tx_bytes(&other, &raw),
                spv::check_tx_bytes(&other, &raw)
            );
            let mut long = raw.clone();
            long.push(0);
            assert!(check_tx_bytes(&txid, &long).is_err());
            assert!(check_tx_bytes(&txid, &raw[..raw.len() - 1]).is_err());
        }
    }

    #[test]
    fn hashes_the_witness_stripped_bytes_in_both_forms() {
        for t in cases() {
            let raw = serialize(&t);
            assert_eq!(txid_of_decoded(&raw, &t), t.compute_txid());
            let mut stripped = t.clone();
            stripped.input.iter_mut().for_each(|i| i.witness.clear());
            let legacy = serialize(&stripped);
            if !t.input.is_empty() {
                assert_eq!(legacy.len(), t.base_size());
                assert_eq!(txid_of_decoded(&legacy, &stripped), t.compute_txid());
            }
        }
    }
}
